#include "tree_model.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "loupe/sdk/error.hpp"

namespace loupe::shap {
namespace {

using loupe::sdk::InvalidArgument;
using loupe::sdk::Unsupported;

std::string Describe(const LoupeColumnInfo& column) {
  return column.name != nullptr ? column.name : "(unnamed)";
}

void Malformed(std::int64_t tree, const std::string& what) {
  throw InvalidArgument("the model's tree_ensemble description is malformed: tree " + std::to_string(tree) +
                        " " + what);
}

// Adds a feature to the path with the given fractions (Algorithm 2's EXTEND).
void ExtendPath(PathElement* path, int depth, double zero_fraction, double one_fraction,
                std::int32_t column) {
  path[depth] = PathElement{column, zero_fraction, one_fraction, depth == 0 ? 1.0 : 0.0};
  for (int i = depth - 1; i >= 0; --i) {
    path[i + 1].weight += one_fraction * path[i].weight * (i + 1) / static_cast<double>(depth + 1);
    path[i].weight = zero_fraction * path[i].weight * (depth - i) / static_cast<double>(depth + 1);
  }
}

// Removes element `index` from the path (Algorithm 2's UNWIND).
void UnwindPath(PathElement* path, int depth, int index) {
  const double one = path[index].one_fraction;
  const double zero = path[index].zero_fraction;
  double next = path[depth].weight;
  for (int i = depth - 1; i >= 0; --i) {
    if (one != 0.0) {
      const double kept = path[i].weight;
      path[i].weight = next * (depth + 1) / (static_cast<double>(i + 1) * one);
      next = kept - path[i].weight * zero * (depth - i) / static_cast<double>(depth + 1);
    } else {
      path[i].weight = path[i].weight * (depth + 1) / (zero * (depth - i));
    }
  }
  for (int i = index; i < depth; ++i) {
    path[i].column = path[i + 1].column;
    path[i].zero_fraction = path[i + 1].zero_fraction;
    path[i].one_fraction = path[i + 1].one_fraction;
  }
}

// The total weight of the path once element `index` is unwound, without changing the path.
double UnwoundPathSum(const PathElement* path, int depth, int index) {
  const double one = path[index].one_fraction;
  const double zero = path[index].zero_fraction;
  double next = path[depth].weight;
  double total = 0.0;
  for (int i = depth - 1; i >= 0; --i) {
    if (one != 0.0) {
      const double part = next * (depth + 1) / (static_cast<double>(i + 1) * one);
      total += part;
      next = path[i].weight - part * zero * (depth - i) / static_cast<double>(depth + 1);
    } else {
      total += path[i].weight * (depth + 1) / (zero * (depth - i));
    }
  }
  return total;
}

// Model inputs -> data columns, by name (-1: not in the data); categorical codes by level name, per data
// column: level_maps[column][data level] = the model's code, -1 for a level the model does not know.
std::vector<std::int32_t> MapInputsToColumns(const LoupeTreeEnsemble& ensemble,
                                             const loupe::sdk::DatasetInfo& data,
                                             std::vector<std::vector<std::int32_t>>* level_maps) {
  std::vector<std::int32_t> column_of(static_cast<std::size_t>(ensemble.n_features), -1);
  level_maps->resize(static_cast<std::size_t>(data.n_features()));
  for (std::int64_t f = 0; f < ensemble.n_features; ++f) {
    const LoupeColumnInfo& input = ensemble.features[f];
    const std::int64_t column = data.FeatureIndex(Describe(input));
    if (column < 0) continue;  // an error only if a split uses it (checked below)
    column_of[static_cast<std::size_t>(f)] = static_cast<std::int32_t>(column);
    const auto& feature = data.features[static_cast<std::size_t>(column)];
    if (input.type == LOUPE_FEATURE_CATEGORICAL && feature.IsCategorical() && input.levels != nullptr) {
      std::map<std::string, std::int32_t> model_code;
      for (std::int64_t l = 0; l < input.n_levels; ++l) {
        if (input.levels[l] != nullptr) model_code.emplace(input.levels[l], static_cast<std::int32_t>(l));
      }
      auto& map = (*level_maps)[static_cast<std::size_t>(column)];
      for (const auto& level : feature.levels) {
        const auto found = model_code.find(level);
        map.push_back(found != model_code.end() ? found->second : -1);
      }
    }
  }
  return column_of;
}

// Tree t of the ensemble, checked node by node, with its splits mapped to data columns.
Tree ReadTree(const LoupeTreeEnsemble& ensemble, std::int64_t t, const std::vector<std::int32_t>& column_of) {
  const LoupeTree* source = ensemble.trees[t];
  if (source == nullptr) Malformed(t, "is missing");
  if (source->struct_size < sizeof(LoupeTree)) Malformed(t, "has a struct_size below sizeof(LoupeTree)");
  if (source->output < 0 || source->output >= ensemble.n_outputs) {
    Malformed(
        t, "adds to output " + std::to_string(source->output) + " of " + std::to_string(ensemble.n_outputs));
  }
  if (source->n_nodes < 1 || source->left == nullptr || source->right == nullptr ||
      source->feature == nullptr || source->threshold == nullptr || source->default_left == nullptr ||
      source->is_leaf == nullptr || source->is_categorical == nullptr || source->value == nullptr ||
      source->cover == nullptr || source->category_offsets == nullptr) {
    Malformed(t, "lacks nodes or one of its per-node arrays");
  }
  Tree tree;
  tree.output = source->output;
  tree.nodes.resize(static_cast<std::size_t>(source->n_nodes));
  // Depth-first over the reachable nodes; a node seen twice means the arrays do not form a tree.
  std::vector<char> seen(static_cast<std::size_t>(source->n_nodes), 0);
  std::vector<std::pair<std::int32_t, std::int32_t>> stack = {{0, 0}};
  while (!stack.empty()) {
    const auto [index, depth] = stack.back();
    stack.pop_back();
    if (seen[static_cast<std::size_t>(index)] != 0)
      Malformed(t, "reaches node " + std::to_string(index) + " twice");
    seen[static_cast<std::size_t>(index)] = 1;
    tree.depth = std::max(tree.depth, depth);
    TreeNode& node = tree.nodes[static_cast<std::size_t>(index)];
    node.cover = source->cover[index];
    node.value = source->value[index];
    node.leaf = source->is_leaf[index] != 0;
    if (node.leaf) continue;
    const std::int32_t left = source->left[index], right = source->right[index],
                       input = source->feature[index];
    if (left < 0 || left >= source->n_nodes || right < 0 || right >= source->n_nodes) {
      Malformed(t, "has children out of range at node " + std::to_string(index));
    }
    if (input < 0 || input >= ensemble.n_features) {
      Malformed(t, "splits on input " + std::to_string(input) + " at node " + std::to_string(index));
    }
    const std::int32_t column = column_of[static_cast<std::size_t>(input)];
    if (column < 0) {
      throw InvalidArgument("the tree model splits on its input '" + Describe(ensemble.features[input]) +
                            "', which is not a feature of the step's data");
    }
    node.left = left;
    node.right = right;
    node.column = column;
    node.threshold = source->threshold[index];
    node.default_left = source->default_left[index] != 0;
    node.categorical = source->is_categorical[index] != 0;
    if (node.categorical) {
      const std::int64_t begin = source->category_offsets[index], end = source->category_offsets[index + 1];
      if (begin > end || (end > begin && source->categories == nullptr)) {
        Malformed(t, "has bad category offsets at node " + std::to_string(index));
      }
      node.categories_begin = source->categories + begin;
      node.categories_end = source->categories + end;
    }
    tree.columns.push_back(column);
    stack.emplace_back(right, depth + 1);
    stack.emplace_back(left, depth + 1);
  }
  std::sort(tree.columns.begin(), tree.columns.end());
  tree.columns.erase(std::unique(tree.columns.begin(), tree.columns.end()), tree.columns.end());
  return tree;
}

// The tree's expected value over its covers, bottom-up: children have been visited when their parent is
// finished (post-order). Clears covers_positive when a cover is missing or not positive.
void ComputeExpectation(Tree& tree) {
  std::vector<double> mean(tree.nodes.size(), 0.0);
  std::vector<std::pair<std::int32_t, bool>> stack = {{0, false}};
  while (!stack.empty()) {
    const auto [index, expanded] = stack.back();
    stack.pop_back();
    const TreeNode& node = tree.nodes[static_cast<std::size_t>(index)];
    if (node.leaf) {
      mean[static_cast<std::size_t>(index)] = node.value;
    } else if (!expanded) {
      stack.emplace_back(index, true);
      stack.emplace_back(node.right, false);
      stack.emplace_back(node.left, false);
    } else {
      const TreeNode& left = tree.nodes[static_cast<std::size_t>(node.left)];
      const TreeNode& right = tree.nodes[static_cast<std::size_t>(node.right)];
      if (!(node.cover > 0.0) || !(left.cover >= 0.0) || !(right.cover >= 0.0)) {
        tree.covers_positive = false;
        mean[static_cast<std::size_t>(index)] = node.value;
      } else {
        mean[static_cast<std::size_t>(index)] = (mean[static_cast<std::size_t>(node.left)] * left.cover +
                                                 mean[static_cast<std::size_t>(node.right)] * right.cover) /
                                                node.cover;
      }
    }
  }
  tree.expectation = mean[0];
}

// The Shapley weight tables of path-dependent TreeSHAP up to max_depth:
// weight_x[a][b] = (a-1)! b! / (a+b)!, weight_r[a][b] = a! (b-1)! / (a+b)!.
void BuildWeightTables(int max_depth, std::vector<std::vector<double>>* weight_x,
                       std::vector<std::vector<double>>* weight_r) {
  const int n = max_depth + 1;
  weight_x->assign(static_cast<std::size_t>(n + 1),
                   std::vector<double>(static_cast<std::size_t>(n + 1), 0.0));
  *weight_r = *weight_x;
  for (int a = 0; a <= n; ++a) {
    for (int b = 0; a + b <= n; ++b) {
      // C(a + b, a) built as a product of ratios, exact for the small depths of tree models.
      double binomial = 1.0;
      for (int k = 1; k <= a; ++k) binomial = binomial * (b + k) / k;
      if (a > 0) (*weight_x)[static_cast<std::size_t>(a)][static_cast<std::size_t>(b)] = 1.0 / (a * binomial);
      if (b > 0) (*weight_r)[static_cast<std::size_t>(a)][static_cast<std::size_t>(b)] = 1.0 / (b * binomial);
    }
  }
}

}  // namespace

TreeModel::TreeModel(const LoupeTreeEnsemble& ensemble, const loupe::sdk::DatasetInfo& data)
    : n_columns_(data.n_features()), split_rule_(ensemble.split_rule) {
  if (ensemble.struct_size < sizeof(LoupeTreeEnsemble)) {
    throw Unsupported(
        "the model's tree_ensemble description is older than this plugin understands (struct_size " +
        std::to_string(ensemble.struct_size) + ")");
  }
  if (split_rule_ != LOUPE_TREE_SPLIT_LESS && split_rule_ != LOUPE_TREE_SPLIT_LESS_EQUAL) {
    throw InvalidArgument("the model's tree_ensemble description has an unknown split rule " +
                          std::to_string(split_rule_));
  }
  if (ensemble.n_outputs < 1 || ensemble.base_margin == nullptr || ensemble.n_trees < 0 ||
      (ensemble.n_trees > 0 && ensemble.trees == nullptr) || ensemble.n_features < 0 ||
      (ensemble.n_features > 0 && ensemble.features == nullptr)) {
    throw InvalidArgument(
        "the model's tree_ensemble description is malformed: it needs n_outputs >= 1, base_margin, "
        "features and trees");
  }
  base_margin_.assign(ensemble.base_margin, ensemble.base_margin + ensemble.n_outputs);

  const std::vector<std::int32_t> column_of = MapInputsToColumns(ensemble, data, &level_maps_);
  for (std::int64_t t = 0; t < ensemble.n_trees; ++t) {
    trees_.push_back(ReadTree(ensemble, t, column_of));
    max_depth_ = std::max(max_depth_, trees_.back().depth);
  }
  for (Tree& tree : trees_) ComputeExpectation(tree);
  BuildWeightTables(max_depth_, &weight_x_, &weight_r_);
}

std::vector<double> TreeModel::ExpectedMargin() const {
  std::vector<double> margin = base_margin_;
  for (const Tree& tree : trees_) margin[static_cast<std::size_t>(tree.output)] += tree.expectation;
  return margin;
}

std::int64_t TreeModel::TreeWithoutCovers() const {
  for (std::size_t t = 0; t < trees_.size(); ++t) {
    if (!trees_[t].covers_positive) return static_cast<std::int64_t>(t);
  }
  return -1;
}

double TreeModel::Value(const TreeNode& node, const double* row) const { return ValueOf(node.column, row); }

double TreeModel::ValueOf(std::int32_t column, const double* row) const {
  const double value = row[column];
  if (std::isnan(value)) return value;
  const auto& map = level_maps_[static_cast<std::size_t>(column)];
  if (map.empty()) return value;
  const double code = std::trunc(value);
  if (code < 0 || code >= static_cast<double>(map.size())) return std::nan("");
  const std::int32_t mapped = map[static_cast<std::size_t>(code)];
  return mapped < 0 ? std::nan("") : static_cast<double>(mapped);
}

void TreeModel::MapRow(const double* row, double* out) const {
  for (std::int64_t c = 0; c < n_columns_; ++c) out[c] = ValueOf(static_cast<std::int32_t>(c), row);
}

std::int32_t TreeModel::Next(const TreeNode& node, const double* row) const {
  return NextFor(node, Value(node, row));
}

std::int32_t TreeModel::NextFor(const TreeNode& node, double value) const {
  if (std::isnan(value)) return node.default_left ? node.left : node.right;
  if (node.categorical) {
    const double code = std::trunc(value);
    const bool listed =
        code >= 0 && code < 16777216.0 &&
        std::binary_search(node.categories_begin, node.categories_end, static_cast<std::int32_t>(code));
    return listed ? node.right : node.left;
  }
  const bool left = split_rule_ == LOUPE_TREE_SPLIT_LESS ? value < node.threshold : value <= node.threshold;
  return left ? node.left : node.right;
}

void TreeModel::Margin(const double* row, double* margin) const {
  std::copy(base_margin_.begin(), base_margin_.end(), margin);
  for (const Tree& tree : trees_) {
    const TreeNode* node = &tree.nodes[0];
    while (!node->leaf) node = &tree.nodes[static_cast<std::size_t>(Next(*node, row))];
    margin[tree.output] += node->value;
  }
}

std::size_t TreeModel::PathBufferSize() const {
  const auto d = static_cast<std::size_t>(max_depth_);
  return (d + 3) * (d + 4) / 2;
}

void TreeModel::PathDependent(const Tree& tree, const double* row, int condition,
                              std::int32_t condition_column, PathElement* path, double* phi) const {
  path[0] = PathElement{-1, 1.0, 1.0, 1.0};
  PathRecurse(tree, row, 0, path, 0, 1.0, 1.0, -1, 1.0, condition, condition_column, phi);
}

void TreeModel::PathRecurse(const Tree& tree, const double* row, std::int32_t index, PathElement* parent,
                            int depth, double zero_fraction, double one_fraction, std::int32_t parent_column,
                            double condition_fraction, int condition, std::int32_t condition_column,
                            double* phi) const {
  if (condition_fraction == 0.0) return;
  // A branch no training row reached (a child of cover 0) that the row does not take either: every path
  // weight below would be 0, and UNWIND would divide by its zero fraction. Its contribution is exactly 0.
  if (zero_fraction == 0.0 && one_fraction == 0.0) return;
  PathElement* path = parent + depth + 1;
  std::copy(parent, parent + depth + 1, path);
  if (condition == 0 || condition_column != parent_column) {
    ExtendPath(path, depth, zero_fraction, one_fraction, parent_column);
  }
  const TreeNode& node = tree.nodes[static_cast<std::size_t>(index)];
  if (node.leaf) {
    for (int i = 1; i <= depth; ++i) {
      const double weight = UnwoundPathSum(path, depth, i);
      phi[path[i].column] +=
          weight * (path[i].one_fraction - path[i].zero_fraction) * node.value * condition_fraction;
    }
    return;
  }
  const std::int32_t hot = Next(node, row);
  const std::int32_t cold = hot == node.left ? node.right : node.left;
  const double hot_zero = tree.nodes[static_cast<std::size_t>(hot)].cover / node.cover;
  const double cold_zero = tree.nodes[static_cast<std::size_t>(cold)].cover / node.cover;
  double incoming_zero = 1.0, incoming_one = 1.0;
  // A feature already on the path is unwound and its fractions carried into this split.
  int k = 0;
  while (k <= depth && path[k].column != node.column) ++k;
  if (k <= depth) {
    incoming_zero = path[k].zero_fraction;
    incoming_one = path[k].one_fraction;
    UnwindPath(path, depth, k);
    --depth;
  }
  double hot_condition = condition_fraction, cold_condition = condition_fraction;
  if (condition != 0 && node.column == condition_column) {
    if (condition > 0) {
      cold_condition = 0.0;
    } else {
      hot_condition *= hot_zero;
      cold_condition *= cold_zero;
    }
    --depth;  // the conditioned feature is never added to the path
  }
  PathRecurse(tree, row, hot, path, depth + 1, hot_zero * incoming_zero, incoming_one, node.column,
              hot_condition, condition, condition_column, phi);
  PathRecurse(tree, row, cold, path, depth + 1, cold_zero * incoming_zero, 0.0, node.column, cold_condition,
              condition, condition_column, phi);
}

void TreeModel::Interventional(const Tree& tree, const double* row, const double* reference,
                               std::int8_t* state, std::vector<std::int32_t>* stack, double* phi) const {
  stack->clear();
  InterventionalRecurse(tree, row, reference, 0, 0, 0, state, stack, phi);
}

// state[column]: 0 not yet split on along this path, 1 follows the explained row (in S), 2 follows the
// reference (outside S). `stack` lists the columns with a non-zero state.
void TreeModel::InterventionalRecurse(const Tree& tree, const double* row, const double* reference,
                                      std::int32_t index, int n_x, int n_r, std::int8_t* state,
                                      std::vector<std::int32_t>* stack, double* phi) const {
  const TreeNode& node = tree.nodes[static_cast<std::size_t>(index)];
  if (node.leaf) {
    if (n_x + n_r == 0) return;  // the same leaf for every coalition: no attribution
    const double up = node.value * weight_x_[static_cast<std::size_t>(n_x)][static_cast<std::size_t>(n_r)];
    const double down = node.value * weight_r_[static_cast<std::size_t>(n_x)][static_cast<std::size_t>(n_r)];
    for (const std::int32_t column : *stack) phi[column] += state[column] == 1 ? up : -down;
    return;
  }
  const std::int8_t seen = state[node.column];
  const std::int32_t x_child = seen == 2 ? -1 : Next(node, row);
  const std::int32_t r_child = seen == 1 ? -1 : Next(node, reference);
  if (seen == 1) {
    InterventionalRecurse(tree, row, reference, x_child, n_x, n_r, state, stack, phi);
  } else if (seen == 2) {
    InterventionalRecurse(tree, row, reference, r_child, n_x, n_r, state, stack, phi);
  } else if (x_child == r_child) {
    InterventionalRecurse(tree, row, reference, x_child, n_x, n_r, state, stack, phi);
  } else {
    stack->push_back(node.column);
    state[node.column] = 1;
    InterventionalRecurse(tree, row, reference, x_child, n_x + 1, n_r, state, stack, phi);
    state[node.column] = 2;
    InterventionalRecurse(tree, row, reference, r_child, n_x, n_r + 1, state, stack, phi);
    state[node.column] = 0;
    stack->pop_back();
  }
}

}  // namespace loupe::shap
