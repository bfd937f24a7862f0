// TreeEnsembleClassifier / TreeEnsembleRegressor: reading the node lists into per-tree arrays (checked:
// every child exists, every tree is a tree) and evaluating them (see tree_ensemble_op.hpp).
#include "onnx/tree_ensemble_op.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace loupe::onnx {

namespace {

Result<NodeMode> ParseMode(const Node& node, const std::string& mode) {
  static const std::map<std::string, NodeMode> kModes = {
      {"BRANCH_LEQ", NodeMode::kLeq}, {"BRANCH_LT", NodeMode::kLt}, {"BRANCH_GTE", NodeMode::kGte},
      {"BRANCH_GT", NodeMode::kGt},   {"BRANCH_EQ", NodeMode::kEq}, {"BRANCH_NEQ", NodeMode::kNeq},
      {"LEAF", NodeMode::kLeaf}};
  const auto it = kModes.find(mode);
  if (it == kModes.end()) {
    return NodeError(node, "node mode '" + mode +
                               "' is not one of BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT, BRANCH_EQ, "
                               "BRANCH_NEQ, LEAF.");
  }
  return it->second;
}

Result<PostTransform> ParsePostTransform(const Node& node) {
  const std::string name = StringAttr(node, "post_transform", "NONE");
  if (name == "NONE") return PostTransform::kNone;
  if (name == "LOGISTIC") return PostTransform::kLogistic;
  if (name == "SOFTMAX") return PostTransform::kSoftmax;
  if (name == "SOFTMAX_ZERO") return PostTransform::kSoftmaxZero;
  if (name == "PROBIT") return PostTransform::kProbit;
  return NodeError(node, "post_transform '" + name +
                             "' is not supported (NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT are).");
}

// Both node lists and weight lists are keyed by (tree id, node id).
using NodeKey = std::pair<std::int64_t, std::int64_t>;

struct NodeLists {
  std::vector<std::int64_t> tree_ids, node_ids, feature_ids, true_ids, false_ids, tracks_true;
  std::vector<float> values;
  std::vector<std::string> modes;
};

Status CheckLengths(const Node& node, const NodeLists& l) {
  const std::size_t n = l.node_ids.size();
  if (l.tree_ids.size() != n || l.feature_ids.size() != n || l.true_ids.size() != n ||
      l.false_ids.size() != n || l.values.size() != n || l.modes.size() != n ||
      (!l.tracks_true.empty() && l.tracks_true.size() != n)) {
    return NodeError(node, "the nodes_* attributes have different lengths (" + std::to_string(n) +
                               " node ids, " + std::to_string(l.tree_ids.size()) + " tree ids, " +
                               std::to_string(l.values.size()) + " values, " +
                               std::to_string(l.modes.size()) + " modes).");
  }
  if (n == 0) return NodeError(node, "the ensemble has no nodes.");
  return Status::Ok();
}

// Checks that every node of `tree` is reached at most once from the root (a tree, not a graph with cycles).
Status CheckIsTree(const Node& node, const EnsembleTree& tree, std::size_t index) {
  std::vector<std::uint8_t> seen(tree.mode.size(), 0);
  std::vector<std::int32_t> stack = {0};
  while (!stack.empty()) {
    const std::int32_t n = stack.back();
    stack.pop_back();
    if (seen[static_cast<std::size_t>(n)]++) {
      return NodeError(node,
                       "tree " + std::to_string(index) + " reaches one of its nodes twice (not a tree).");
    }
    if (tree.mode[static_cast<std::size_t>(n)] != NodeMode::kLeaf) {
      stack.push_back(tree.true_child[static_cast<std::size_t>(n)]);
      stack.push_back(tree.false_child[static_cast<std::size_t>(n)]);
    }
  }
  return Status::Ok();
}

Status BuildTrees(const Node& node, const NodeLists& l, TreeEnsembleData& data,
                  std::map<NodeKey, std::pair<std::size_t, std::int32_t>>& where) {
  std::map<std::int64_t, std::size_t> tree_index;
  for (std::size_t k = 0; k < l.node_ids.size(); ++k) {
    const auto [it, added] = tree_index.emplace(l.tree_ids[k], data.trees.size());
    if (added) data.trees.emplace_back();
    EnsembleTree& tree = data.trees[it->second];
    const auto local = static_cast<std::int32_t>(tree.mode.size());
    if (!where.emplace(NodeKey{l.tree_ids[k], l.node_ids[k]}, std::pair{it->second, local}).second) {
      return NodeError(node, "tree " + std::to_string(l.tree_ids[k]) + " declares node " +
                                 std::to_string(l.node_ids[k]) + " twice.");
    }
    LOUPE_ASSIGN_OR_RETURN(const NodeMode mode, ParseMode(node, l.modes[k]));
    tree.mode.push_back(mode);
    tree.feature.push_back(static_cast<std::int32_t>(l.feature_ids[k]));
    tree.threshold.push_back(l.values[k]);
    tree.missing_tracks_true.push_back(
        l.tracks_true.empty() ? 0 : static_cast<std::uint8_t>(l.tracks_true[k] != 0));
    if (mode != NodeMode::kLeaf) {
      if (l.feature_ids[k] < 0)
        return NodeError(node,
                         "a split reads the negative feature " + std::to_string(l.feature_ids[k]) + ".");
      data.n_features = std::max<std::int64_t>(data.n_features, l.feature_ids[k] + 1);
    }
  }
  // Children, now that every node has its local index. The root is the tree's first listed node.
  for (std::size_t k = 0; k < l.node_ids.size(); ++k) {
    const auto [t, local] = where.at({l.tree_ids[k], l.node_ids[k]});
    EnsembleTree& tree = data.trees[t];
    std::int32_t children[2] = {-1, -1};
    if (tree.mode[static_cast<std::size_t>(local)] != NodeMode::kLeaf) {
      const std::int64_t ids[2] = {l.true_ids[k], l.false_ids[k]};
      for (int c = 0; c < 2; ++c) {
        const auto child = where.find({l.tree_ids[k], ids[c]});
        if (child == where.end()) {
          return NodeError(node, "node " + std::to_string(l.node_ids[k]) + " of tree " +
                                     std::to_string(l.tree_ids[k]) + " points to node " +
                                     std::to_string(ids[c]) + ", which the tree does not have.");
        }
        children[c] = child->second.second;
      }
    }
    tree.true_child.resize(tree.mode.size(), -1);
    tree.false_child.resize(tree.mode.size(), -1);
    tree.true_child[static_cast<std::size_t>(local)] = children[0];
    tree.false_child[static_cast<std::size_t>(local)] = children[1];
  }
  for (std::size_t t = 0; t < data.trees.size(); ++t)
    LOUPE_RETURN_IF_ERROR(CheckIsTree(node, data.trees[t], t));
  for (EnsembleTree& tree : data.trees) {
    for (std::size_t k = 0; k < tree.mode.size(); ++k) {
      tree.packed.push_back({tree.threshold[k], tree.feature[k], tree.true_child[k], tree.false_child[k],
                             tree.mode[k], tree.missing_tracks_true[k]});
    }
  }
  return Status::Ok();
}

// Leaf weights (class_* or target_*) into each tree's per-node weight lists.
Status BuildWeights(const Node& node, const std::string& prefix, TreeEnsembleData& data,
                    const std::map<NodeKey, std::pair<std::size_t, std::int32_t>>& where) {
  const auto tree_ids = IntsAttr(node, prefix + "treeids");
  const auto node_ids = IntsAttr(node, prefix + "nodeids");
  const auto ids = IntsAttr(node, prefix + "ids");
  const auto weights = FloatsAttr(node, prefix + "weights");
  if (tree_ids.size() != node_ids.size() || ids.size() != node_ids.size() ||
      weights.size() != node_ids.size()) {
    return NodeError(node, "the " + prefix + "* attributes have different lengths.");
  }
  std::vector<std::vector<std::vector<std::pair<std::int32_t, double>>>> per_node(data.trees.size());
  for (std::size_t t = 0; t < data.trees.size(); ++t) per_node[t].resize(data.trees[t].mode.size());
  for (std::size_t k = 0; k < node_ids.size(); ++k) {
    const auto it = where.find({tree_ids[k], node_ids[k]});
    if (it == where.end()) {
      return NodeError(node, "a leaf weight names node " + std::to_string(node_ids[k]) + " of tree " +
                                 std::to_string(tree_ids[k]) + ", which does not exist.");
    }
    if (ids[k] < 0 || ids[k] >= data.n_scores) {
      return NodeError(node, "a leaf weight adds to " + prefix.substr(0, prefix.size() - 1) + " " +
                                 std::to_string(ids[k]) + ", outside 0 to " +
                                 std::to_string(data.n_scores - 1) + ".");
    }
    per_node[it->second.first][static_cast<std::size_t>(it->second.second)].emplace_back(
        static_cast<std::int32_t>(ids[k]), weights[k]);
    data.weights_non_negative = data.weights_non_negative && weights[k] >= 0.0f;
  }
  for (std::size_t t = 0; t < data.trees.size(); ++t) {
    EnsembleTree& tree = data.trees[t];
    tree.weight_offset.push_back(0);
    for (const auto& list : per_node[t]) {
      for (const auto& [target, weight] : list) {
        tree.weight_target.push_back(target);
        tree.weight.push_back(weight);
      }
      tree.weight_offset.push_back(static_cast<std::int64_t>(tree.weight.size()));
    }
  }
  return Status::Ok();
}

Status ReadScoresLayout(const Node& node, TreeEnsembleData& data) {
  if (data.classifier) {
    data.int_labels = IntsAttr(node, "classlabels_int64s");
    data.string_labels = StringsAttr(node, "classlabels_strings");
    data.n_outputs = static_cast<std::int64_t>(std::max(data.int_labels.size(), data.string_labels.size()));
    if (data.n_outputs == 0)
      return NodeError(node, "a classifier needs classlabels_int64s or classlabels_strings.");
    const auto class_ids = IntsAttr(node, "class_ids");
    data.binary_one_score = data.n_outputs == 2 && std::all_of(class_ids.begin(), class_ids.end(),
                                                               [](std::int64_t c) { return c == 0; });
    data.n_scores = data.binary_one_score ? 1 : data.n_outputs;
  } else {
    data.n_outputs = data.n_scores = IntAttr(node, "n_targets", 1);
    const std::string aggregate = StringAttr(node, "aggregate_function", "SUM");
    if (aggregate == "SUM")
      data.aggregate = TreeEnsembleData::Aggregate::kSum;
    else if (aggregate == "AVERAGE")
      data.aggregate = TreeEnsembleData::Aggregate::kAverage;
    else if (aggregate == "MIN")
      data.aggregate = TreeEnsembleData::Aggregate::kMin;
    else if (aggregate == "MAX")
      data.aggregate = TreeEnsembleData::Aggregate::kMax;
    else
      return NodeError(node, "aggregate_function '" + aggregate + "' is not SUM, AVERAGE, MIN or MAX.");
  }
  std::vector<float> base = FloatsAttr(node, "base_values");
  if (base.empty()) base = FloatsAttr(node, "base_values_as_tensor");
  if (!base.empty() && static_cast<std::int64_t>(base.size()) != data.n_scores) {
    return NodeError(node, "base_values holds " + std::to_string(base.size()) + " values for " +
                               std::to_string(data.n_scores) + " scores.");
  }
  data.base_values.assign(static_cast<std::size_t>(data.n_scores), 0.0);
  for (std::size_t k = 0; k < base.size(); ++k) data.base_values[k] = base[k];
  return Status::Ok();
}

Result<TreeEnsembleData> ReadEnsemble(const Node& node, bool classifier) {
  TreeEnsembleData data;
  data.classifier = classifier;
  NodeLists l;
  l.tree_ids = IntsAttr(node, "nodes_treeids");
  l.node_ids = IntsAttr(node, "nodes_nodeids");
  l.feature_ids = IntsAttr(node, "nodes_featureids");
  l.true_ids = IntsAttr(node, "nodes_truenodeids");
  l.false_ids = IntsAttr(node, "nodes_falsenodeids");
  l.tracks_true = IntsAttr(node, "nodes_missing_value_tracks_true");
  l.values = FloatsAttr(node, "nodes_values");
  if (l.values.empty()) l.values = FloatsAttr(node, "nodes_values_as_tensor");
  l.modes = StringsAttr(node, "nodes_modes");
  LOUPE_RETURN_IF_ERROR(CheckLengths(node, l));
  LOUPE_ASSIGN_OR_RETURN(data.post_transform, ParsePostTransform(node));
  LOUPE_RETURN_IF_ERROR(ReadScoresLayout(node, data));
  if (data.binary_one_score && data.post_transform == PostTransform::kProbit) {
    return NodeError(node,
                     "post_transform PROBIT on the binary one-score form is not supported (ONNX Runtime "
                     "reports one column there instead of two probabilities).");
  }
  std::map<NodeKey, std::pair<std::size_t, std::int32_t>> where;
  LOUPE_RETURN_IF_ERROR(BuildTrees(node, l, data, where));
  const std::string prefix = classifier ? "class_" : "target_";
  LOUPE_RETURN_IF_ERROR(BuildWeights(node, prefix, data, where));
  return data;
}

template <typename T>
bool Condition(NodeMode mode, T x, T threshold) {
  switch (mode) {
    case NodeMode::kLeq:
      return x <= threshold;
    case NodeMode::kLt:
      return x < threshold;
    case NodeMode::kGte:
      return x >= threshold;
    case NodeMode::kGt:
      return x > threshold;
    case NodeMode::kEq:
      return x == threshold;
    case NodeMode::kNeq:
      return x != threshold;
    case NodeMode::kLeaf:
      break;
  }
  return false;
}

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

void SoftmaxInPlace(double* v, std::int64_t n, bool keep_zeros) {
  double top = -std::numeric_limits<double>::infinity();
  for (std::int64_t k = 0; k < n; ++k) {
    if (!(keep_zeros && v[k] == 0.0)) top = std::max(top, v[k]);
  }
  double sum = 0.0;
  for (std::int64_t k = 0; k < n; ++k) {
    v[k] = keep_zeros && v[k] == 0.0 ? 0.0 : std::exp(v[k] - top);
    sum += v[k];
  }
  for (std::int64_t k = 0; k < n; ++k) v[k] = sum > 0.0 ? v[k] / sum : 0.0;
}

class TreeEnsembleKernel final : public Kernel {
 public:
  TreeEnsembleKernel(const Node& node, TreeEnsembleData data) : node_(node), data_(std::move(data)) {}
  const TreeEnsembleData& data() const { return data_; }

  Status Run(const std::vector<const Value*>& inputs, std::vector<Value>& outputs,
             const RunContext& context) const override {
    LOUPE_RETURN_IF_ERROR(RequireInput(node_, inputs, 0));
    const Value& x = *inputs[0];
    const std::int64_t n = x.shape.empty() ? 1 : x.shape[0];
    const std::int64_t width = x.shape.size() == 2 ? x.shape[1] : (x.shape.size() == 1 ? x.shape[0] : -1);
    const std::int64_t rows = x.shape.size() == 1 ? 1 : n;
    if (width < data_.n_features) {
      return NodeError(node_, "the input " + ShapeText(x.shape) + " has " + std::to_string(width) +
                                  " features, but the trees split on feature " +
                                  std::to_string(data_.n_features - 1) + ".");
    }
    const bool raw = context.raw_scores;
    const std::int64_t columns = raw ? data_.n_scores : data_.n_outputs;
    Value scores = Value::Zeros(DataType::kFloat, {rows, columns});
    std::vector<double> row_scores(static_cast<std::size_t>(data_.n_scores));
    std::vector<double> transformed(static_cast<std::size_t>(data_.n_outputs));
    std::vector<std::int64_t> best(static_cast<std::size_t>(rows));
    std::vector<double> as_double, block_scores;
    constexpr std::int64_t kBlockRows = 32;
    for (std::int64_t r = 0; r < rows; ++r) {
      if (x.type == DataType::kFloat) {
        // A block of rows at a time; each row's scores are then read from the block's.
        const std::int64_t in_block = r % kBlockRows;
        if (in_block == 0) {
          const std::int64_t count = std::min(kBlockRows, rows - r);
          block_scores.resize(static_cast<std::size_t>(count * data_.n_scores));
          data_.ScoresOfBlock(x.f.data() + r * width, count, width, block_scores.data());
        }
        std::copy_n(block_scores.data() + in_block * data_.n_scores, data_.n_scores, row_scores.data());
      } else {
        as_double.resize(static_cast<std::size_t>(width));
        for (std::int64_t c = 0; c < width; ++c)
          as_double[static_cast<std::size_t>(c)] = NumberAt(x, r * width + c);
        data_.Scores(as_double.data(), row_scores.data());
      }
      data_.Transform(row_scores.data(), transformed.data());
      const double* shown = raw ? row_scores.data() : transformed.data();
      for (std::int64_t c = 0; c < columns; ++c)
        scores.f[static_cast<std::size_t>(r * columns + c)] = static_cast<float>(shown[c]);
      best[static_cast<std::size_t>(r)] =
          std::max_element(transformed.begin(), transformed.end()) - transformed.begin();
    }
    if (!data_.classifier) {
      outputs[0] = std::move(scores);
      return Status::Ok();
    }
    outputs[0] = Labels(best);
    if (outputs.size() > 1) outputs[1] = std::move(scores);
    return Status::Ok();
  }

 private:
  Value Labels(const std::vector<std::int64_t>& best) const {
    const auto rows = static_cast<std::int64_t>(best.size());
    if (!data_.string_labels.empty()) {
      std::vector<std::string> labels;
      for (const std::int64_t b : best) labels.push_back(data_.string_labels[static_cast<std::size_t>(b)]);
      return Value::Strings({rows}, std::move(labels));
    }
    std::vector<std::int64_t> labels;
    for (const std::int64_t b : best) labels.push_back(data_.int_labels[static_cast<std::size_t>(b)]);
    return Value::Ints({rows}, std::move(labels));
  }

  Node node_;
  TreeEnsembleData data_;
};

template <bool kClassifier>
Result<std::unique_ptr<Kernel>> MakeTreeEnsemble(const KernelBuild& build) {
  LOUPE_ASSIGN_OR_RETURN(TreeEnsembleData data, ReadEnsemble(build.node, kClassifier));
  return std::unique_ptr<Kernel>(std::make_unique<TreeEnsembleKernel>(build.node, std::move(data)));
}

}  // namespace

template <typename T>
std::int32_t TreeEnsembleData::Leaf(const EnsembleTree& tree, const T* row) const {
  if (!tree.packed.empty()) {
    const EnsembleTree::Packed* nodes = tree.packed.data();
    std::int32_t n = 0;
    for (;;) {
      const EnsembleTree::Packed& node = nodes[n];
      if (node.mode == NodeMode::kLeaf) return n;
      const T x = row[node.feature];
      const bool go_true = (std::isnan(x) && node.missing_tracks_true != 0) ||
                           Condition<T>(node.mode, x, static_cast<T>(node.threshold));
      n = go_true ? node.true_child : node.false_child;
    }
  }
  std::int32_t n = 0;
  while (tree.mode[static_cast<std::size_t>(n)] != NodeMode::kLeaf) {
    const auto at = static_cast<std::size_t>(n);
    const T x = row[tree.feature[at]];
    // A NaN goes true when its track says so; otherwise the IEEE comparison decides, which is false for
    // every mode but BRANCH_NEQ (NaN != t), as ONNX Runtime evaluates it.
    const bool go_true = (std::isnan(x) && tree.missing_tracks_true[at] != 0) ||
                         Condition<T>(tree.mode[at], x, static_cast<T>(tree.threshold[at]));
    n = go_true ? tree.true_child[at] : tree.false_child[at];
  }
  return n;
}

template <typename T>
void TreeEnsembleData::Scores(const T* row, double* scores) const {
  ScoresOfBlock(row, 1, 0, scores);
}

template <typename T>
void TreeEnsembleData::ScoresOfBlock(const T* rows, std::int64_t n, std::int64_t width,
                                     double* scores) const {
  const bool extreme = aggregate == Aggregate::kMin || aggregate == Aggregate::kMax;
  std::vector<std::uint8_t> touched(extreme ? static_cast<std::size_t>(n * n_scores) : 0, 0);
  std::fill(scores, scores + n * n_scores, 0.0);
  for (const EnsembleTree& tree : trees) {
    for (std::int64_t r = 0; r < n; ++r) {
      const auto leaf = static_cast<std::size_t>(Leaf(tree, rows + r * width));
      for (std::int64_t k = tree.weight_offset[leaf]; k < tree.weight_offset[leaf + 1]; ++k) {
        const auto target =
            static_cast<std::size_t>(r * n_scores + tree.weight_target[static_cast<std::size_t>(k)]);
        const double w = tree.weight[static_cast<std::size_t>(k)];
        if (!extreme) {
          scores[target] += w;
        } else {
          const bool better = aggregate == Aggregate::kMin ? w < scores[target] : w > scores[target];
          if (!touched[target] || better) scores[target] = w;
          touched[target] = 1;
        }
      }
    }
  }
  for (std::int64_t k = 0; k < n * n_scores; ++k) {
    if (aggregate == Aggregate::kAverage) scores[k] /= static_cast<double>(trees.size());
    scores[k] += base_values[static_cast<std::size_t>(k % n_scores)];
  }
}

void TreeEnsembleData::Transform(const double* scores, double* out) const {
  if (binary_one_score) {
    const double s = scores[0];
    const bool complement = post_transform == PostTransform::kNone && weights_non_negative;
    out[0] = complement ? 1.0 - s : -s;
    out[1] = s;
  } else {
    std::copy(scores, scores + n_outputs, out);
  }
  switch (post_transform) {
    case PostTransform::kNone:
      break;
    case PostTransform::kLogistic:
      for (std::int64_t k = 0; k < n_outputs; ++k) out[k] = Sigmoid(out[k]);
      break;
    case PostTransform::kSoftmax:
      SoftmaxInPlace(out, n_outputs, false);
      break;
    case PostTransform::kSoftmaxZero:
      SoftmaxInPlace(out, n_outputs, true);
      break;
    case PostTransform::kProbit:
      for (std::int64_t k = 0; k < n_outputs; ++k) out[k] = ProbitAsOnnxRuntime(static_cast<float>(out[k]));
      break;
  }
}

float ProbitAsOnnxRuntime(float p) {
  constexpr float kA = 0.147f;
  constexpr float kPi = 3.14159f;  // the runtime's constant
  const float x = 2.0f * p - 1.0f;
  const float sign = x < 0.0f ? -1.0f : 1.0f;
  const float log = std::log((1.0f - x) * (1.0f + x));
  const float v = 2.0f / (kPi * kA) + 0.5f * log;
  const float erfinv = sign * std::sqrt(-v + std::sqrt(v * v - log / kA));
  return 1.41421356f * erfinv;
}

template std::int32_t TreeEnsembleData::Leaf<float>(const EnsembleTree&, const float*) const;
template std::int32_t TreeEnsembleData::Leaf<double>(const EnsembleTree&, const double*) const;
template void TreeEnsembleData::Scores<float>(const float*, double*) const;
template void TreeEnsembleData::Scores<double>(const double*, double*) const;
template void TreeEnsembleData::ScoresOfBlock<float>(const float*, std::int64_t, std::int64_t, double*) const;

const TreeEnsembleData* TreeEnsembleOf(const Kernel& kernel) {
  const auto* ensemble = dynamic_cast<const TreeEnsembleKernel*>(&kernel);
  return ensemble == nullptr ? nullptr : &ensemble->data();
}

void AddTreeEnsembleOps(std::vector<OpSchema>& ops) {
  ops.push_back({kMlDomain, "TreeEnsembleClassifier",
                 "all node modes, missing_value_tracks_true, base_values, post_transform NONE / LOGISTIC / "
                 "SOFTMAX / SOFTMAX_ZERO / PROBIT, int64 or string labels; offers `tree_ensemble`",
                 &MakeTreeEnsemble<true>});
  ops.push_back(
      {kMlDomain, "TreeEnsembleRegressor",
       "all node modes, missing_value_tracks_true, base_values, aggregate SUM / AVERAGE / MIN / MAX, "
       "post_transform as the classifier's; offers `tree_ensemble` (SUM or AVERAGE, NONE)",
       &MakeTreeEnsemble<false>});
}

}  // namespace loupe::onnx
