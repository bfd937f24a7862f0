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
// when a leaf has more than `max_features` of them or, when `covers` is set, a zero (or non-finite)
// fraction.
bool PlanNode(const Tree& tree, std::int32_t index, int max_features, bool covers, RootPath* path,
              Walk* walk) {
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
    const double fraction = covers ? tree.nodes[static_cast<std::size_t>(child)].cover / node.cover : 1.0;
    path->zeros[slot] = incoming * fraction;
    if (!(path->zeros[slot] > 0.0) || !std::isfinite(path->zeros[slot])) return false;
    if (!PlanNode(tree, child, max_features, covers, path, walk)) return false;
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

// The k - 1 bit mask of `mask` without bit i (the bits above i move down by one).
std::uint32_t WithoutBit(std::uint32_t mask, int i) {
  const std::uint32_t low = (std::uint32_t{1} << i) - 1U;
  return (mask & low) | ((mask >> 1) & ~low);
}

// (a-1)! b! / (a+b)! (x side, a >= 1) and a! (b-1)! / (a+b)! (reference side, b >= 1), as 1 / (a C(a+b, a))
// and 1 / (b C(a+b, a)); [a][b] at a * (n + 1) + b for a, b <= n.
void InterventionalWeights(int n, std::vector<double>* x_side, std::vector<double>* r_side) {
  const auto size = static_cast<std::size_t>((n + 1) * (n + 1));
  x_side->assign(size, 0.0);
  r_side->assign(size, 0.0);
  for (int a = 0; a <= n; ++a) {
    for (int b = 0; a + b <= n; ++b) {
      double binomial = 1.0;
      for (int k = 1; k <= a; ++k) binomial = binomial * (b + k) / k;
      const auto at = static_cast<std::size_t>(a * (n + 1) + b);
      if (a > 0) (*x_side)[at] = 1.0 / (a * binomial);
      if (b > 0) (*r_side)[at] = 1.0 / (b * binomial);
    }
  }
}

}  // namespace

FastTreeShap::FastTreeShap(const TreeModel& model, FastTreeShapLimits limits)
    : FastTreeShap(model, FastTreeShapOptions{limits, false, {}, 0}) {}

std::int64_t FastTreeShap::PlainEntries(const Leaf& leaf) const {
  return leaf.direct ? std::int64_t{leaf.k} << leaf.k : std::int64_t{1} << leaf.k;
}

std::int64_t FastTreeShap::LeafEntries(const Leaf& leaf) const {
  const int k = leaf.k;
  std::int64_t entries = PlainEntries(leaf);
  if (options_.interactions && k > 0) entries += std::int64_t{k} << (k - 1);
  return entries;
}

FastTreeShap::FastTreeShap(const TreeModel& model, FastTreeShapOptions options)
    : model_(model), options_(std::move(options)) {
  const FastTreeShapLimits& limits = options_.limits;
  const auto background = static_cast<std::int64_t>(options_.background.size());
  std::int64_t entries = 0;
  trees_.resize(model.trees().size());
  for (std::size_t t = 0; t < trees_.size(); ++t) {
    FastTree& plan = trees_[t];
    bool planned = Plan(model.trees()[t], false, &plan);
    if (planned && !interventional() && Entries(&plan) > kDirectTreeEntries) {
      plan = FastTree{};
      planned = Plan(model.trees()[t], true, &plan);
    }
    if (!planned) {
      plan = FastTree{};
      continue;
    }
    const std::int64_t size = Entries(&plan);
    if (entries + size > limits.max_table_entries) {
      plan = FastTree{};
      continue;
    }
    if (interventional()) {
      // Tabulating: one pass per background row, then per leaf every pair of masks the background has;
      // the recursion: a pass per explained and background row that visits up to every node.
      const auto nodes = static_cast<double>(plan.preorder.size());
      double build = static_cast<double>(background) * nodes;
      for (const Leaf& leaf : plan.leaves) {
        const double masks = std::ldexp(1.0, leaf.k);
        build += masks * std::min(masks, static_cast<double>(background)) * leaf.k;
      }
      const double recursion =
          static_cast<double>(options_.explained_rows) * static_cast<double>(background) * nodes;
      if (build > recursion && build > 4.0e6) {
        plan = FastTree{};
        continue;
      }
    }
    for (Leaf& leaf : plan.leaves) leaf.table += entries;
    for (Pair& pair : plan.pairs) pair.table += entries;
    entries += size;
  }
  table_.assign(static_cast<std::size_t>(entries), 0.0);
}

// Sets the offsets of the tree's tables relative to the tree and returns their size.
std::int64_t FastTreeShap::Entries(FastTree* plan) const {
  std::int64_t size = 0;
  for (Leaf& leaf : plan->leaves) {
    leaf.table = size;
    size += LeafEntries(leaf);
  }
  for (Pair& pair : plan->pairs) {
    pair.table = size;
    size += std::int64_t{2} * PlainEntries(plan->leaves[static_cast<std::size_t>(pair.left)]);
  }
  return size;
}

bool FastTreeShap::Plan(const Tree& tree, bool compact, FastTree* plan) const {
  const FastTreeShapLimits& limits = options_.limits;
  if (limits.max_path_features < 0 || limits.max_path_features > 30) return false;  // masks are 32 bits
  const std::size_t n = tree.nodes.size();
  Walk walk{
      std::vector<std::int32_t>(n, 0), std::vector<char>(n, 0), std::vector<std::int32_t>(n, -1), {}, {}};
  RootPath path;
  if (!PlanNode(tree, 0, limits.max_path_features, !interventional(), &path, &walk)) return false;
  plan->fast = true;
  plan->preorder = std::move(walk.preorder);
  plan->nodes.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const TreeNode& node = tree.nodes[i];
    Node& flat = plan->nodes[i];
    flat.leaf = walk.leaf_of[i];
    if (node.leaf) continue;
    flat.threshold = node.threshold;
    flat.column = node.column;
    flat.left = node.left;
    flat.right = node.right;
    flat.bit = 1U << walk.slots[i];
    flat.first_split = walk.first_split[i] != 0;
    flat.default_left = node.default_left;
    flat.categorical = node.categorical;
    if (node.categorical) {
      flat.small = std::all_of(node.categories_begin, node.categories_end,
                               [](std::int32_t code) { return code >= 0 && code < 64; });
      for (const std::int32_t* code = node.categories_begin; flat.small && code != node.categories_end;
           ++code)
        flat.codes |= std::uint64_t{1} << *code;
    }
  }
  for (const RootPath& leaf_path : walk.leaves) {
    const auto k = static_cast<std::int32_t>(leaf_path.columns.size());
    // The table offset, relative to the tree, is set by the constructor.
    const bool direct = interventional() || (!compact && k <= kDirectPathFeatures);
    plan->leaves.push_back(Leaf{0, static_cast<std::int32_t>(plan->columns.size()), k, 0.0, direct});
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
  // Pairs: inner nodes whose children are both leaves (the two share their path features).
  std::vector<char> under_pair(n, 0);
  for (const std::int32_t index : plan->preorder) {
    Node& node = plan->nodes[static_cast<std::size_t>(index)];
    if (node.leaf >= 0) continue;
    const std::int32_t left = plan->nodes[static_cast<std::size_t>(node.left)].leaf;
    const std::int32_t right = plan->nodes[static_cast<std::size_t>(node.right)].leaf;
    if (left < 0 || right < 0 || !Paired(plan->leaves[static_cast<std::size_t>(left)])) continue;
    node.pair = static_cast<std::int32_t>(plan->pairs.size());
    plan->pairs.push_back(Pair{0, left, right});
    under_pair[static_cast<std::size_t>(node.left)] = 1;
    under_pair[static_cast<std::size_t>(node.right)] = 1;
  }
  for (const std::int32_t index : plan->preorder) {
    const Node& node = plan->nodes[static_cast<std::size_t>(index)];
    if (node.leaf >= 0) {
      plan->leaf_nodes.push_back(index);
      if (under_pair[static_cast<std::size_t>(index)] == 0) plan->lone_leaves.push_back(index);
    } else {
      plan->splits.push_back(index);
      (node.pair >= 0 ? plan->pair_nodes : plan->unpaired_splits).push_back(index);
    }
  }
  return true;
}

// `row` in the model's codes (TreeModel::MapRow). The row's child keeps (at the feature's first split: gains)
// the feature's bit in the mask, the other child drops it; so a leaf's mask holds the path features whose
// every split the row follows.
// Whether `row` (in the model's codes) goes to the left child of inner node `index`.
inline bool FastTreeShap::GoesLeft(const Tree& tree, const Node& node, std::int32_t index,
                                   const double* row) const {
  const double value = row[node.column];
  if (!node.categorical) {
    if (std::isnan(value)) return node.default_left;
    return model_.less_equal() ? value <= node.threshold : value < node.threshold;
  }
  if (!node.small) return model_.NextFor(tree.nodes[static_cast<std::size_t>(index)], value) == node.left;
  // TreeModel::NextFor: a listed code goes right; a code outside 0..63 is not listed.
  const double code = std::trunc(value);
  const bool listed = code >= 0.0 && code < 64.0 && ((node.codes >> static_cast<int>(code)) & 1U) != 0;
  return std::isnan(value) ? node.default_left : !listed;
}

template <typename Visit, typename VisitPair>
void FastTreeShap::Pass(const Tree& tree, const FastTree& plan, const double* row, std::uint32_t* masks,
                        bool paired, Visit&& visit, VisitPair&& visit_pair) const {
  masks[0] = 0U;
  for (const std::int32_t index : paired ? plan.unpaired_splits : plan.splits) {
    const Node& node = plan.nodes[static_cast<std::size_t>(index)];
    const std::uint32_t mask = masks[index];
    const bool left = GoesLeft(tree, node, index, row);
    const std::int32_t hot = left ? node.left : node.right;
    const std::int32_t cold = left ? node.right : node.left;
    masks[hot] = node.first_split ? mask | node.bit : mask;
    masks[cold] = node.first_split ? mask : mask & ~node.bit;
  }
  if (paired) {
    for (const std::int32_t index : plan.pair_nodes) {
      const Node& node = plan.nodes[static_cast<std::size_t>(index)];
      visit_pair(plan.pairs[static_cast<std::size_t>(node.pair)], masks[index],
                 GoesLeft(tree, node, index, row));
    }
  }
  for (const std::int32_t index : paired ? plan.lone_leaves : plan.leaf_nodes)
    visit(plan.leaves[static_cast<std::size_t>(plan.nodes[static_cast<std::size_t>(index)].leaf)],
          masks[index]);
}

// The entries of a pair at (mask m of the split, direction): the hot leaf's entries at its mask plus the
// cold leaf's at its own (the masks the pass would give them).
void FastTreeShap::FillPairs(const FastTree& plan) {
  for (std::size_t n = 0; n < plan.nodes.size(); ++n) {
    const Node& node = plan.nodes[n];
    if (node.leaf >= 0 || node.pair < 0) continue;
    const Pair& pair = plan.pairs[static_cast<std::size_t>(node.pair)];
    const Leaf& left = plan.leaves[static_cast<std::size_t>(pair.left)];
    const Leaf& right = plan.leaves[static_cast<std::size_t>(pair.right)];
    const auto k = static_cast<std::size_t>(left.k);
    const std::uint32_t masks = 1U << left.k;
    for (std::uint32_t m = 0; m < masks; ++m) {
      const std::uint32_t hot = node.first_split ? m | node.bit : m;
      const std::uint32_t cold = node.first_split ? m : m & ~node.bit;
      for (const bool goes_left : {false, true}) {
        const double* to = table_.data() + (goes_left ? left : right).table + hot * k;
        const double* other = table_.data() + (goes_left ? right : left).table + cold * k;
        double* entry = table_.data() + pair.table + (std::size_t{m} * 2 + (goes_left ? 1 : 0)) * k;
        for (std::size_t j = 0; j < k; ++j) entry[j] = to[j] + other[j];
      }
    }
  }
}

void FastTreeShap::AddPair(const FastTree& plan, const Pair& pair, std::uint32_t mask, bool left,
                           double* phi) const {
  const Leaf& leaf = plan.leaves[static_cast<std::size_t>(pair.left)];
  const double* entry =
      table_.data() + pair.table + (static_cast<std::int64_t>(mask) * 2 + (left ? 1 : 0)) * leaf.k;
  const std::int32_t* columns = plan.columns.data() + leaf.features;
  for (std::int32_t j = 0; j < leaf.k; ++j) phi[columns[j]] += entry[j];
}

void FastTreeShap::BuildTables(std::int64_t begin, std::int64_t end) {
  std::vector<double> poly, zeros, values;
  for (std::int64_t t = begin; t < end; ++t) {
    const FastTree& plan = trees_[static_cast<std::size_t>(t)];
    if (!plan.fast) continue;
    if (interventional()) {
      FillInterventional(plan, static_cast<std::size_t>(t), &poly);
      FillPairs(plan);
      continue;
    }
    for (const Leaf& leaf : plan.leaves) {
      const double* leaf_zeros = plan.zeros.data() + leaf.features;
      double* table = table_.data() + leaf.table;
      if (leaf.direct) {
        // What AddLeaf adds for each mask, per path feature.
        const auto masks = std::size_t{1} << leaf.k;
        const auto k = static_cast<std::size_t>(leaf.k);
        const double* ratios = plan.ratios.data() + leaf.features;
        values.resize(masks);
        FillLeafTable(leaf_zeros, leaf.k, leaf.value, &poly, values.data());
        for (std::size_t mask = 0; mask < masks; ++mask) {
          for (std::size_t j = 0; j < k; ++j) {
            const std::size_t bit = std::size_t{1} << j;
            table[mask * k + j] = (mask & bit) != 0 ? ratios[j] * values[mask ^ bit] : -values[mask];
          }
        }
      } else {
        FillLeafTable(leaf_zeros, leaf.k, leaf.value, &poly, table);
      }
      if (!options_.interactions || leaf.k == 0) continue;
      // Per path feature i, the table of the leaf without i, of value 1.
      table += PlainEntries(leaf);
      for (int i = 0; i < leaf.k; ++i) {
        zeros.assign(leaf_zeros, leaf_zeros + leaf.k);
        zeros.erase(zeros.begin() + i);
        FillLeafTable(zeros.data(), leaf.k - 1, 1.0, &poly, table);
        table += std::int64_t{1} << (leaf.k - 1);
      }
    }
    FillPairs(plan);
  }
}

// The background rows counted per leaf and mask, then per mask H of the explained row the mean over
// the background of the leaf's Shapley values (see the header); `counts` is scratch.
void FastTreeShap::FillInterventional(const FastTree& plan, std::size_t tree, std::vector<double>* counts) {
  const Tree& model_tree = model_.trees()[tree];
  std::vector<std::int64_t> offset(plan.leaves.size() + 1, 0);
  int deepest = 0;
  for (std::size_t l = 0; l < plan.leaves.size(); ++l) {
    offset[l + 1] = offset[l] + (std::int64_t{1} << plan.leaves[l].k);
    deepest = std::max(deepest, plan.leaves[l].k);
  }
  counts->assign(static_cast<std::size_t>(offset.back()), 0.0);
  std::vector<std::uint32_t> masks(plan.nodes.size());
  std::vector<double> mapped(static_cast<std::size_t>(model_.n_columns()));
  for (const double* reference : options_.background) {
    model_.MapRow(reference, mapped.data());
    ForEachLeaf(model_tree, plan, mapped.data(), masks.data(), [&](const Leaf& leaf, std::uint32_t mask) {
      const auto l = static_cast<std::size_t>(&leaf - plan.leaves.data());
      (*counts)[static_cast<std::size_t>(offset[l] + mask)] += 1.0;
    });
  }
  std::vector<double> x_side, r_side;
  InterventionalWeights(deepest, &x_side, &r_side);
  const double rows = static_cast<double>(options_.background.size());
  std::vector<std::uint32_t> seen;
  for (std::size_t l = 0; l < plan.leaves.size(); ++l) {
    const Leaf& leaf = plan.leaves[l];
    const int k = leaf.k;
    const std::uint32_t full = (std::uint32_t{1} << k) - 1U;
    const double* count = counts->data() + offset[l];
    double* table = table_.data() + leaf.table;
    seen.clear();  // the masks of the background at this leaf, ascending
    for (std::uint32_t g = 0; g <= full; ++g) {
      if (count[g] != 0.0) seen.push_back(g);
    }
    for (std::uint32_t h = 0; h <= full; ++h) {
      double* entry = table + static_cast<std::size_t>(h) * static_cast<std::size_t>(k);
      for (const std::uint32_t g : seen) {
        // The leaf is reachable only when every path feature follows x or r; A = H \ H_r must be in S,
        // B = H_r \ H outside it.
        if ((h | g) != full) continue;
        const std::uint32_t in = h & ~g, out = g & ~h;
        const int a = std::popcount(in), b = std::popcount(out);
        if (a + b == 0) continue;
        const auto at = static_cast<std::size_t>(a * (deepest + 1) + b);
        const double up = count[g] * x_side[at], down = count[g] * r_side[at];
        for (int j = 0; j < k; ++j) {
          if (((in >> j) & 1U) != 0) entry[j] += up;
          if (((out >> j) & 1U) != 0) entry[j] -= down;
        }
      }
      for (int j = 0; j < k; ++j) entry[j] = entry[j] * leaf.value / rows;
    }
  }
}

bool FastTreeShap::IsCompact(std::int64_t tree) const {
  const FastTree& plan = trees_[static_cast<std::size_t>(tree)];
  return plan.fast &&
         std::none_of(plan.leaves.begin(), plan.leaves.end(), [](const Leaf& leaf) { return leaf.direct; });
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
  const auto f = static_cast<std::size_t>(model_.n_columns());
  scratch.on.resize(f);
  scratch.off.resize(f);
  scratch.sum.resize(f);
  scratch.state.assign(f, 0);
  scratch.mapped.resize(f);
  return scratch;
}

void FastTreeShap::Row(const double* row, Scratch* scratch, double* phi) const {
  Rows(&row, 1, scratch, phi);
}

// Tree by tree over the block of rows, so that a tree's nodes and tables serve every row of the block
// while they are in cache; each row still adds the trees in their order (the bits of Row).
void FastTreeShap::Rows(const double* const* rows, std::int64_t n, Scratch* scratch, double* phi) const {
  const std::int64_t f = model_.n_columns();
  const std::int64_t per_row = model_.n_outputs() * f;
  scratch->mapped.resize(static_cast<std::size_t>(n * f));
  for (std::int64_t i = 0; i < n; ++i) model_.MapRow(rows[i], scratch->mapped.data() + i * f);
  const double background = static_cast<double>(options_.background.size());
  for (std::size_t t = 0; t < trees_.size(); ++t) {
    const Tree& tree = model_.trees()[t];
    const FastTree& plan = trees_[t];
    for (std::int64_t i = 0; i < n; ++i) {
      double* out = phi + i * per_row + tree.output * f;
      if (plan.fast) {
        Pass(
            tree, plan, scratch->mapped.data() + i * f, scratch->masks.data(), true,
            [&](const Leaf& leaf, std::uint32_t mask) { AddLeaf(plan, leaf, mask, out); },
            [&](const Pair& pair, std::uint32_t mask, bool left) { AddPair(plan, pair, mask, left, out); });
      } else if (!interventional()) {
        model_.PathDependent(tree, rows[i], 0, -1, scratch->path.data(), out);
      } else {
        for (const std::int32_t column : tree.columns) scratch->sum[static_cast<std::size_t>(column)] = 0.0;
        for (const double* reference : options_.background) {
          model_.Interventional(tree, rows[i], reference, scratch->state.data(), &scratch->stack,
                                scratch->sum.data());
        }
        for (const std::int32_t column : tree.columns)
          out[column] += scratch->sum[static_cast<std::size_t>(column)] / background;
      }
    }
  }
}

void FastTreeShap::RowInteractions(const double* row, Scratch* scratch, double* phi,
                                   double* interactions) const {
  model_.MapRow(row, scratch->mapped.data());
  const double* mapped = scratch->mapped.data();
  const std::int64_t f = model_.n_columns();
  for (std::size_t t = 0; t < trees_.size(); ++t) {
    const Tree& tree = model_.trees()[t];
    const FastTree& plan = trees_[t];
    double* out = phi + tree.output * f;
    double* block = interactions + tree.output * f * f;
    if (plan.fast) {
      ForEachLeaf(tree, plan, mapped, scratch->masks.data(), [&](const Leaf& leaf, std::uint32_t mask) {
        AddLeaf(plan, leaf, mask, out);
        AddLeafInteractions(plan, leaf, mask, f, block);
      });
      continue;
    }
    // Interaction of i and j: half the difference of j's values with i fixed on and with i fixed off,
    // summed over the trees that split on i (elsewhere the two agree).
    model_.PathDependent(tree, row, 0, -1, scratch->path.data(), out);
    for (const std::int32_t i : tree.columns) {
      std::fill(scratch->on.begin(), scratch->on.end(), 0.0);
      std::fill(scratch->off.begin(), scratch->off.end(), 0.0);
      model_.PathDependent(tree, row, 1, i, scratch->path.data(), scratch->on.data());
      model_.PathDependent(tree, row, -1, i, scratch->path.data(), scratch->off.data());
      for (std::int64_t j = 0; j < f; ++j) {
        const auto at = static_cast<std::size_t>(j);
        block[i * f + j] += (scratch->on[at] - scratch->off[at]) / 2.0;
      }
    }
  }
  // The diagonal keeps the rest of phi_i.
  for (std::int64_t o = 0; o < model_.n_outputs(); ++o) {
    double* block = interactions + o * f * f;
    for (std::int64_t i = 0; i < f; ++i) {
      double others = 0.0;
      for (std::int64_t j = 0; j < f; ++j) {
        if (j != i) others += block[i * f + j];
      }
      block[i * f + i] = phi[o * f + i] - others;
    }
  }
}

void FastTreeShap::RowInterventional(const double* row, Scratch* scratch, double* phi) const {
  Rows(&row, 1, scratch, phi);
}

// phi_j += (1 - z_j) / z_j * T(mask \ {j}) for the leaf's path features j in the mask, -T(mask) for the
// others (precomputed per mask for the direct layout).
void FastTreeShap::AddLeaf(const FastTree& plan, const Leaf& leaf, std::uint32_t mask, double* phi) const {
  if (leaf.direct) {
    AddDirect(plan, leaf, mask, phi);
    return;
  }
  const double* table = table_.data() + leaf.table;
  const std::int32_t* columns = plan.columns.data() + leaf.features;
  const double* ratios = plan.ratios.data() + leaf.features;
  const double outside = -table[mask];
  for (std::int32_t j = 0; j < leaf.k; ++j) {
    // Both candidates are computed so that the choice is an index rather than a branch on row data.
    const std::uint32_t bit = 1U << j;
    const double candidates[2] = {outside, ratios[j] * table[mask ^ bit]};
    phi[columns[j]] += candidates[(mask >> j) & 1U];
  }
}

void FastTreeShap::AddDirect(const FastTree& plan, const Leaf& leaf, std::uint32_t mask, double* phi) const {
  const double* entry = table_.data() + leaf.table + static_cast<std::int64_t>(mask) * leaf.k;
  const std::int32_t* columns = plan.columns.data() + leaf.features;
  for (std::int32_t j = 0; j < leaf.k; ++j) phi[columns[j]] += entry[j];
}

// block[i][j] += value * (1[i in mask] - z_i) / 2 * (the values above of the leaf without i, value 1).
void FastTreeShap::AddLeafInteractions(const FastTree& plan, const Leaf& leaf, std::uint32_t mask,
                                       std::int64_t f, double* block) const {
  const int k = leaf.k;
  if (k < 2) return;  // a single path feature interacts with none
  const std::int64_t half = std::int64_t{1} << (k - 1);
  const double* tables = table_.data() + leaf.table + PlainEntries(leaf);
  const std::int32_t* columns = plan.columns.data() + leaf.features;
  const double* zeros = plan.zeros.data() + leaf.features;
  const double* ratios = plan.ratios.data() + leaf.features;
  for (int i = 0; i < k; ++i) {
    const double on = ((mask >> i) & 1U) != 0 ? 1.0 : 0.0;
    const double scale = leaf.value * (on - zeros[i]) / 2.0;
    const double* table = tables + i * half;
    const std::uint32_t rest = WithoutBit(mask, i);
    const double outside = -table[rest];
    double* line = block + static_cast<std::int64_t>(columns[i]) * f;
    for (int m = 0; m + 1 < k; ++m) {
      const int j = m < i ? m : m + 1;
      const std::uint32_t bit = 1U << m;
      const double agreeing = ratios[j] * table[rest ^ bit];
      line[columns[j]] += scale * ((rest & bit) != 0 ? agreeing : outside);
    }
  }
}

}  // namespace loupe::shap
