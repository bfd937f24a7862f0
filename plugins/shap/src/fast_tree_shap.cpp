#include "fast_tree_shap.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>

namespace loupe::shap {
namespace {

// The distinct features of the root path to the current node and their cover fractions z_j.
struct RootPath {
  std::vector<std::int32_t> columns;
  std::vector<double> zeros;
};

// What planning a tree collects, per node (indexed like tree.nodes) and per leaf (in pre-order).
struct Walk {
  std::vector<std::int32_t> slots;     // inner nodes: the number of their feature on the root path
  std::vector<char> first_split;       // inner nodes: the root path meets their feature first here
  std::vector<std::int32_t> leaf_of;   // leaves: their index in `leaves`; -1 elsewhere
  std::vector<RootPath> leaves;        // per leaf, its path features and fractions
  std::vector<std::int32_t> preorder;  // the reachable nodes, parents first
};

// Numbers the nodes' features along their root paths and records every leaf's path features; false
// when a leaf has more than `max_features` of them or a zero (or non-finite) fraction.
bool PlanNode(const Tree& tree, std::int32_t index, int max_features, RootPath* path, Walk* walk) {
  walk->preorder.push_back(index);
  const TreeNode& node = tree.nodes[static_cast<std::size_t>(index)];
  if (node.leaf) {
    walk->leaf_of[static_cast<std::size_t>(index)] = static_cast<std::int32_t>(walk->leaves.size());
    walk->leaves.push_back(*path);
    return true;
  }
  const auto seen = std::find(path->columns.begin(), path->columns.end(), node.column);
  const auto slot = static_cast<std::size_t>(seen - path->columns.begin());
  const bool first = seen == path->columns.end();
  if (first && static_cast<int>(path->columns.size()) >= max_features) return false;
  walk->slots[static_cast<std::size_t>(index)] = static_cast<std::int32_t>(slot);
  walk->first_split[static_cast<std::size_t>(index)] = first ? 1 : 0;
  if (first) {
    path->columns.push_back(node.column);
    path->zeros.push_back(1.0);
  }
  const double incoming = path->zeros[slot];
  for (const std::int32_t child : {node.left, node.right}) {
    const double fraction = tree.nodes[static_cast<std::size_t>(child)].cover / node.cover;
    path->zeros[slot] = incoming * fraction;
    if (!(path->zeros[slot] > 0.0) || !std::isfinite(path->zeros[slot])) return false;
    if (!PlanNode(tree, child, max_features, path, walk)) return false;
  }
  path->zeros[slot] = incoming;
  if (first) {
    path->columns.pop_back();
    path->zeros.pop_back();
  }
  return true;
}

// Fills table[G] = T(G) for the 2^k subsets G of a leaf's path features (see the header). The
// elementary symmetric polynomials e_m of {z_i : i in G} come from G without its lowest feature:
// e(G) = e(G \ {j}) * (1 + z_j x); `poly` is scratch of 2^k (k+1) doubles.
void FillLeafTable(const double* zeros, int k, double value, std::vector<double>* poly, double* table) {
  const auto row = static_cast<std::size_t>(k + 1);
  const std::size_t subsets = std::size_t{1} << k;
  poly->assign(subsets * row, 0.0);
  // w(s) = s! (k-s-1)! / k! = 1 / (k C(k-1, s)); w(k) = 0 (only the full set has |S| = k, and its T is
  // never read: no feature lies outside it).
  std::vector<double> weight(row, 0.0);
  for (int s = 0; s < k; ++s) {
    double binomial = 1.0;  // C(k-1, s)
    for (int i = 1; i <= s; ++i) binomial = binomial * (k - s - 1 + i) / i;
    weight[static_cast<std::size_t>(s)] = 1.0 / (k * binomial);
  }
  for (std::size_t g = 0; g < subsets; ++g) {
    double* e = poly->data() + g * row;
    if (g == 0) {
      e[0] = 1.0;
    } else {
      const int j = std::countr_zero(g);
      const double* without = poly->data() + (g & (g - 1)) * row;
      e[0] = without[0];
      for (std::size_t m = 1; m < row; ++m) e[m] = without[m] + zeros[j] * without[m - 1];
    }
    const int size = std::popcount(g);
    double sum = 0.0;  // C(G)
    for (int m = 0; m <= size; ++m) sum += weight[static_cast<std::size_t>(size - m)] * e[m];
    double outside = 1.0;
    for (int i = 0; i < k; ++i) {
      if (((g >> i) & 1U) == 0) outside *= zeros[i];
    }
    table[g] = value * outside * sum;
  }
}

}  // namespace

FastTreeShap::FastTreeShap(const TreeModel& model, FastTreeShapLimits limits)
    : model_(model), limits_(limits) {
  std::int64_t entries = 0;
  trees_.resize(model.trees().size());
  for (std::size_t t = 0; t < trees_.size(); ++t) {
    FastTree& plan = trees_[t];
    if (!Plan(model.trees()[t], &plan)) {
      plan = FastTree{};
      continue;
    }
    std::int64_t size = 0;
    for (const Leaf& leaf : plan.leaves) size += std::int64_t{1} << leaf.k;
    if (entries + size > limits_.max_table_entries) {
      plan = FastTree{};
      continue;
    }
    for (Leaf& leaf : plan.leaves) leaf.table += entries;
    entries += size;
  }
  table_.assign(static_cast<std::size_t>(entries), 0.0);
}

bool FastTreeShap::Plan(const Tree& tree, FastTree* plan) const {
  if (limits_.max_path_features < 0 || limits_.max_path_features > 30) return false;  // masks are 32 bits
  const std::size_t n = tree.nodes.size();
  Walk walk{
      std::vector<std::int32_t>(n, 0), std::vector<char>(n, 0), std::vector<std::int32_t>(n, -1), {}, {}};
  RootPath path;
  if (!PlanNode(tree, 0, limits_.max_path_features, &path, &walk)) return false;
  plan->fast = true;
  plan->preorder = std::move(walk.preorder);
  plan->nodes.resize(n);
  for (std::size_t i = 0; i < n; ++i)
    plan->nodes[i] = Node{walk.leaf_of[i], walk.slots[i], walk.first_split[i] != 0};
  std::int64_t table = 0;  // relative to the tree; the constructor adds the tree's offset
  for (const RootPath& leaf_path : walk.leaves) {
    const auto k = static_cast<std::int32_t>(leaf_path.columns.size());
    plan->leaves.push_back(Leaf{table, static_cast<std::int32_t>(plan->columns.size()), k, 0.0});
    table += std::int64_t{1} << k;
    for (std::int32_t j = 0; j < k; ++j) {
      const double z = leaf_path.zeros[static_cast<std::size_t>(j)];
      plan->columns.push_back(leaf_path.columns[static_cast<std::size_t>(j)]);
      plan->zeros.push_back(z);
      plan->ratios.push_back((1.0 - z) / z);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (walk.leaf_of[i] >= 0)
      plan->leaves[static_cast<std::size_t>(walk.leaf_of[i])].value = tree.nodes[i].value;
  }
  return true;
}

void FastTreeShap::BuildTables(std::int64_t begin, std::int64_t end) {
  std::vector<double> poly;
  for (std::int64_t t = begin; t < end; ++t) {
    const FastTree& plan = trees_[static_cast<std::size_t>(t)];
    if (!plan.fast) continue;
    for (const Leaf& leaf : plan.leaves) {
      FillLeafTable(plan.zeros.data() + leaf.features, leaf.k, leaf.value, &poly, table_.data() + leaf.table);
    }
  }
}

std::int64_t FastTreeShap::n_fast_trees() const {
  return std::count_if(trees_.begin(), trees_.end(), [](const FastTree& plan) { return plan.fast; });
}

FastTreeShap::Scratch FastTreeShap::MakeScratch() const {
  Scratch scratch;
  scratch.path.resize(model_.PathBufferSize());
  std::size_t nodes = 0;
  for (const Tree& tree : model_.trees()) nodes = std::max(nodes, tree.nodes.size());
  scratch.masks.resize(nodes);
  return scratch;
}

void FastTreeShap::Row(const double* row, Scratch* scratch, double* phi) const {
  const std::int64_t f = model_.n_columns();
  for (std::size_t t = 0; t < trees_.size(); ++t) {
    const Tree& tree = model_.trees()[t];
    double* out = phi + tree.output * f;
    if (trees_[t].fast) {
      AddTree(tree, trees_[t], row, scratch, out);
    } else {
      model_.PathDependent(tree, row, 0, -1, scratch->path.data(), out);
    }
  }
}

// One pass over the nodes in pre-order: the row's child keeps (at the feature's first split: gains) the
// feature's bit in the mask, the other child drops it; each leaf then reads its table at its mask.
void FastTreeShap::AddTree(const Tree& tree, const FastTree& plan, const double* row, Scratch* scratch,
                           double* phi) const {
  std::uint32_t* masks = scratch->masks.data();
  masks[0] = 0U;
  for (const std::int32_t index : plan.preorder) {
    const Node& node = plan.nodes[static_cast<std::size_t>(index)];
    const std::uint32_t mask = masks[index];
    if (node.leaf >= 0) {
      AddLeaf(plan, plan.leaves[static_cast<std::size_t>(node.leaf)], mask, phi);
      continue;
    }
    const TreeNode& split = tree.nodes[static_cast<std::size_t>(index)];
    const std::int32_t hot = model_.Next(split, row);
    const std::int32_t cold = hot == split.left ? split.right : split.left;
    const std::uint32_t bit = 1U << node.slot;
    masks[hot] = node.first_split ? mask | bit : mask;
    masks[cold] = node.first_split ? mask : mask & ~bit;
  }
}

// phi_j += (1 - z_j) / z_j * T(mask \ {j}) for the leaf's path features j in the mask, -T(mask) for the
// others.
void FastTreeShap::AddLeaf(const FastTree& plan, const Leaf& leaf, std::uint32_t mask, double* phi) const {
  const double* table = table_.data() + leaf.table;
  const std::int32_t* columns = plan.columns.data() + leaf.features;
  const double* ratios = plan.ratios.data() + leaf.features;
  const double outside = -table[mask];
  for (std::int32_t j = 0; j < leaf.k; ++j) {
    // Both candidates are computed so that the choice is a select rather than a branch on row data.
    const std::uint32_t bit = 1U << j;
    const double agreeing = ratios[j] * table[mask ^ bit];
    phi[columns[j]] += (mask & bit) != 0 ? agreeing : outside;
  }
}

}  // namespace loupe::shap
