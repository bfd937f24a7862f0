#include "loupe/core/tree_ensemble.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace loupe {

namespace {

// XGBoost refuses category codes from 2^24 up (floats above it are not all integers).
constexpr float kMaxCategoryCode = 16777216.0f;

}  // namespace

double LessThanFloatBound(float t) {
  if (std::isnan(t)) return std::numeric_limits<double>::quiet_NaN();
  if (t == -std::numeric_limits<float>::infinity()) return -std::numeric_limits<double>::infinity();
  // Doubles between the float p just below t and t round to whichever of the two is nearer; a double
  // exactly halfway rounds to the one with an even significand. 2^128 stands for the float infinities.
  const float p = std::nextafter(t, -std::numeric_limits<float>::infinity());
  const double beyond = std::ldexp(1.0, 128);
  const double tv = std::isinf(t) ? beyond : static_cast<double>(t);
  const double pv = std::isinf(p) ? -beyond : static_cast<double>(p);
  const double mid = pv + (tv - pv) / 2;  // exact: t and p are one float step apart
  const bool p_even = std::isinf(p) || (std::bit_cast<std::uint32_t>(p) & 1u) == 0;
  // A tie rounding to p is "less than t": move the bound just above the tie.
  return p_even ? std::nextafter(mid, std::numeric_limits<double>::infinity()) : mid;
}

bool Tree::GoesLeft(std::int32_t node, double x, SplitRule rule) const {
  const auto n = static_cast<std::size_t>(node);
  if (std::isnan(x)) return default_left[n] != 0;
  if (is_categorical[n]) {
    const auto f = static_cast<float>(x);
    if (!(f >= 0.0f && f < kMaxCategoryCode)) return true;  // not a category code: never in the set
    const auto code = static_cast<std::int32_t>(f);
    const auto begin = categories.begin() + category_offsets[n];
    const auto end = categories.begin() + category_offsets[n + 1];
    return !std::binary_search(begin, end, code);
  }
  return rule == SplitRule::kLess ? x < threshold[n] : x <= threshold[n];
}

std::int32_t Tree::Leaf(const double* row, SplitRule rule) const {
  std::int32_t node = 0;
  while (!is_leaf[static_cast<std::size_t>(node)]) {
    const auto n = static_cast<std::size_t>(node);
    node = GoesLeft(node, row[feature[n]], rule) ? left[n] : right[n];
  }
  return node;
}

int TreeEnsembleView::max_depth() const {
  int depth = 0;
  for (const Tree& tree : trees) depth = std::max(depth, tree.max_depth);
  return depth;
}

void TreeEnsembleView::Margins(const double* row, double* margins) const {
  std::copy(base_margin.begin(), base_margin.end(), margins);
  for (const Tree& tree : trees) {
    margins[tree.output] += tree.value[static_cast<std::size_t>(tree.Leaf(row, split_rule))];
  }
}

void FillNodeMeans(Tree& tree) {
  // Post-order over the nodes reachable from the root, without recursion.
  std::vector<std::pair<std::int32_t, bool>> stack = {{0, false}};
  while (!stack.empty()) {
    const auto [node, children_done] = stack.back();
    stack.pop_back();
    const auto n = static_cast<std::size_t>(node);
    if (tree.is_leaf[n]) continue;
    if (!children_done) {
      stack.push_back({node, true});
      stack.push_back({tree.left[n], false});
      stack.push_back({tree.right[n], false});
      continue;
    }
    const auto l = static_cast<std::size_t>(tree.left[n]);
    const auto r = static_cast<std::size_t>(tree.right[n]);
    const double weighted = tree.value[l] * tree.cover[l] + tree.value[r] * tree.cover[r];
    // XGBoost divides by the node's own cover; a node without cover (never trained on) gets the plain
    // mean so that the expectation stays finite.
    const double cover = tree.cover[n] > 0 ? tree.cover[n] : tree.cover[l] + tree.cover[r];
    tree.value[n] = cover > 0 ? weighted / cover : (tree.value[l] + tree.value[r]) / 2;
  }
}

TreeEnsembleCapability::TreeEnsembleCapability(TreeEnsembleView view) : view_(std::move(view)) {
  c_trees_.reserve(view_.trees.size());
  for (const Tree& tree : view_.trees) {
    LoupeTree c{};
    c.struct_size = sizeof(LoupeTree);
    c.output = tree.output;
    c.n_nodes = tree.size();
    c.max_depth = tree.max_depth;
    c.left = tree.left.data();
    c.right = tree.right.data();
    c.feature = tree.feature.data();
    c.threshold = tree.threshold.data();
    c.default_left = tree.default_left.data();
    c.is_leaf = tree.is_leaf.data();
    c.is_categorical = tree.is_categorical.data();
    c.value = tree.value.data();
    c.cover = tree.cover.data();
    c.category_offsets = tree.category_offsets.data();
    c.categories = tree.categories.data();
    c_trees_.push_back(c);
  }
  for (const LoupeTree& c : c_trees_) c_tree_pointers_.push_back(&c);
  c_levels_.resize(view_.features.size());
  for (std::size_t f = 0; f < view_.features.size(); ++f) {
    const ModelInput& input = view_.features[f];
    for (const std::string& level : input.levels) c_levels_[f].push_back(level.c_str());
    LoupeColumnInfo c{};
    c.struct_size = sizeof(LoupeColumnInfo);
    c.type = input.type == ColumnType::kCategorical ? LOUPE_FEATURE_CATEGORICAL : LOUPE_FEATURE_NUMERIC;
    c.name = input.name.c_str();
    c.levels = input.type == ColumnType::kCategorical ? c_levels_[f].data() : nullptr;
    c.n_levels = static_cast<std::int64_t>(input.levels.size());
    c.n_missing = 0;
    c_features_.push_back(c);
  }
  c_ensemble_.struct_size = sizeof(LoupeTreeEnsemble);
  c_ensemble_.split_rule =
      view_.split_rule == SplitRule::kLess ? LOUPE_TREE_SPLIT_LESS : LOUPE_TREE_SPLIT_LESS_EQUAL;
  c_ensemble_.link = view_.link == TreeLink::kIdentity   ? LOUPE_TREE_LINK_IDENTITY
                     : view_.link == TreeLink::kLogistic ? LOUPE_TREE_LINK_LOGISTIC
                                                         : LOUPE_TREE_LINK_SOFTMAX;
  c_ensemble_.max_depth = view_.max_depth();
  c_ensemble_.n_outputs = static_cast<std::int64_t>(view_.base_margin.size());
  c_ensemble_.base_margin = view_.base_margin.data();
  c_ensemble_.n_features = static_cast<std::int64_t>(c_features_.size());
  c_ensemble_.features = c_features_.data();
  c_ensemble_.n_trees = static_cast<std::int64_t>(c_tree_pointers_.size());
  c_ensemble_.trees = c_tree_pointers_.data();
}

}  // namespace loupe
