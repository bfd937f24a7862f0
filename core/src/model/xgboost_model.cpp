#include "model/xgboost_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "loupe/core/tree_ensemble.hpp"
#include "model/predict_buffers.hpp"

namespace loupe {
namespace {

using nlohmann::json;

constexpr std::int64_t kMaxClasses = std::int64_t{1} << 16;
constexpr const char* kSupportedObjectives =
    "binary:logistic, reg:squarederror, multi:softprob or multi:softmax";

// XGBoost writes non-finite floats as the bare tokens NaN, Infinity and -Infinity, which JSON lacks.
// Outside strings, NaN becomes null and the infinities the strings "Infinity" and "-Infinity"; Numbers()
// reads them back.
std::string ReplaceNonFiniteTokens(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (text.compare(i, 3, "NaN") == 0) {
      out += "null";
      i += 2;
      continue;
    } else if (text.compare(i, 8, "Infinity") == 0 || text.compare(i, 9, "-Infinity") == 0) {
      const bool negative = c == '-';
      out += negative ? "\"-Infinity\"" : "\"Infinity\"";
      i += negative ? 8 : 7;
      continue;
    }
    out += c;
  }
  return out;
}

std::string Describe(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array of " + std::to_string(value.size()) + " entries";
    case json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      return "'" + (s.size() > 60 ? s.substr(0, 57) + "..." : s) + "'";
    }
    default:
      return value.dump();
  }
}

// A JSON value with its JSON pointer, for error sentences.
struct Node {
  const json* value;
  std::string pointer;
};

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  Status Error(const std::string& pointer, const std::string& message) const {
    return InvalidArgument(file_ + ": " + (pointer.empty() ? "/" : pointer) + ": " + message);
  }
  Status Expected(const Node& node, const std::string& what) const {
    return Error(node.pointer, "expected " + what + ", found " + Describe(*node.value) + ".");
  }

  Result<Node> Get(const Node& parent, const std::string& key) const {
    if (!parent.value->is_object()) return Expected(parent, "an object with the field '" + key + "'");
    const auto it = parent.value->find(key);
    if (it == parent.value->end()) {
      return Error(parent.pointer, "expected the field '" + key + "', found none.");
    }
    return Node{&*it, parent.pointer + "/" + key};
  }
  std::optional<Node> Find(const Node& parent, const std::string& key) const {
    if (!parent.value->is_object()) return std::nullopt;
    const auto it = parent.value->find(key);
    if (it == parent.value->end()) return std::nullopt;
    return Node{&*it, parent.pointer + "/" + key};
  }
  static Node At(const Node& array, std::size_t i) {
    return Node{&(*array.value)[i], array.pointer + "/" + std::to_string(i)};
  }

  Result<std::string> String(const Node& node) const {
    if (!node.value->is_string()) return Expected(node, "a string");
    return node.value->get<std::string>();
  }
  // XGBoost stores its parameters as strings ("5E-1", "3"); plain numbers are accepted too.
  Result<double> NumberParameter(const Node& node) const {
    if (node.value->is_number()) return node.value->get<double>();
    if (node.value->is_string()) {
      std::string text = node.value->get<std::string>();
      if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
        text = text.substr(1, text.size() - 2);
      char* end = nullptr;
      const double value = std::strtod(text.c_str(), &end);
      if (!text.empty() && end == text.c_str() + text.size()) return value;
    }
    return Expected(node, "a number");
  }
  Result<std::int64_t> IntParameter(const Node& node) const {
    LOUPE_ASSIGN_OR_RETURN(const double value, NumberParameter(node));
    if (value != std::floor(value) || std::abs(value) > 1e15) return Expected(node, "an integer");
    return static_cast<std::int64_t>(value);
  }

  // An array of `size` numbers (any size when size < 0); null reads as NaN.
  Result<std::vector<double>> Numbers(const Node& node, std::int64_t size,
                                      const std::string& size_reason) const {
    LOUPE_RETURN_IF_ERROR(CheckArray(node, size, size_reason));
    std::vector<double> out;
    out.reserve(node.value->size());
    for (std::size_t i = 0; i < node.value->size(); ++i) {
      const json& v = (*node.value)[i];
      if (v.is_null()) {
        out.push_back(std::nan(""));
      } else if (v.is_string() && (v == "Infinity" || v == "-Infinity")) {
        out.push_back(v == "Infinity" ? HUGE_VAL : -HUGE_VAL);
      } else if (v.is_number()) {
        out.push_back(v.get<double>());
      } else {
        return Expected(At(node, i), "a number");
      }
    }
    return out;
  }
  Result<std::vector<std::int64_t>> Ints(const Node& node, std::int64_t size,
                                         const std::string& size_reason) const {
    LOUPE_RETURN_IF_ERROR(CheckArray(node, size, size_reason));
    std::vector<std::int64_t> out;
    out.reserve(node.value->size());
    for (std::size_t i = 0; i < node.value->size(); ++i) {
      const json& v = (*node.value)[i];
      if (!v.is_number_integer()) return Expected(At(node, i), "an integer");
      out.push_back(v.get<std::int64_t>());
    }
    return out;
  }

 private:
  Status CheckArray(const Node& node, std::int64_t size, const std::string& size_reason) const {
    if (!node.value->is_array()) return Expected(node, "an array");
    if (size >= 0 && static_cast<std::int64_t>(node.value->size()) != size) {
      return Error(node.pointer, "expected " + std::to_string(size) + " entries (" + size_reason +
                                     "), found " + std::to_string(node.value->size()) + ".");
    }
    return Status::Ok();
  }

  std::string file_;
};

enum class Objective { kBinaryLogistic, kSquaredError, kSoftprob };

struct Parsed {
  Objective objective = Objective::kSquaredError;
  std::int64_t n_classes = 0;
  double base_score = 0.5;
  std::vector<ModelInput> inputs;
  std::vector<std::string> classes;                        // from loupe_classes, may be empty
  std::map<std::string, std::vector<std::string>> levels;  // from loupe_levels
};

Result<std::vector<std::string>> StringList(const Reader& reader, const Node& node, const json& value) {
  if (!value.is_array()) return reader.Expected(node, "a JSON list of strings");
  std::vector<std::string> out;
  for (const json& v : value) {
    if (!v.is_string()) return reader.Expected(node, "a JSON list of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

// learner.attributes: the optional loupe_classes and loupe_levels texts.
Status ReadAttributes(const Reader& reader, const Node& learner, Parsed& parsed) {
  const std::optional<Node> attributes = reader.Find(learner, "attributes");
  if (!attributes) return Status::Ok();
  if (const auto classes = reader.Find(*attributes, "loupe_classes")) {
    LOUPE_ASSIGN_OR_RETURN(const std::string text, reader.String(*classes));
    const json value = json::parse(text, nullptr, false);
    LOUPE_ASSIGN_OR_RETURN(parsed.classes, StringList(reader, *classes, value));
  }
  if (const auto levels = reader.Find(*attributes, "loupe_levels")) {
    LOUPE_ASSIGN_OR_RETURN(const std::string text, reader.String(*levels));
    const json value = json::parse(text, nullptr, false);
    if (!value.is_object())
      return reader.Expected(*levels, "a JSON object of feature name -> list of levels");
    for (const auto& [name, list] : value.items()) {
      LOUPE_ASSIGN_OR_RETURN(parsed.levels[name], StringList(reader, *levels, list));
    }
  }
  return Status::Ok();
}

Status ReadObjective(const Reader& reader, const Node& learner, Parsed& parsed) {
  LOUPE_ASSIGN_OR_RETURN(const Node objective, reader.Get(learner, "objective"));
  LOUPE_ASSIGN_OR_RETURN(const Node name_node, reader.Get(objective, "name"));
  LOUPE_ASSIGN_OR_RETURN(const std::string name, reader.String(name_node));
  LOUPE_ASSIGN_OR_RETURN(const Node param, reader.Get(learner, "learner_model_param"));
  LOUPE_ASSIGN_OR_RETURN(const Node base_score, reader.Get(param, "base_score"));
  LOUPE_ASSIGN_OR_RETURN(parsed.base_score, reader.NumberParameter(base_score));
  LOUPE_ASSIGN_OR_RETURN(const Node num_class, reader.Get(param, "num_class"));
  LOUPE_ASSIGN_OR_RETURN(const std::int64_t n_class, reader.IntParameter(num_class));
  if (const auto num_target = reader.Find(param, "num_target")) {
    LOUPE_ASSIGN_OR_RETURN(const std::int64_t n_target, reader.IntParameter(*num_target));
    if (n_target > 1) return reader.Expected(*num_target, "1 (Loupe reads single-target models)");
  }
  if (name == "binary:logistic") {
    parsed.objective = Objective::kBinaryLogistic;
    parsed.n_classes = 2;
    if (!(parsed.base_score > 0 && parsed.base_score < 1)) {
      return reader.Expected(base_score, "a probability strictly between 0 and 1 for binary:logistic");
    }
  } else if (name == "reg:squarederror") {
    parsed.objective = Objective::kSquaredError;
  } else if (name == "multi:softprob" || name == "multi:softmax") {
    parsed.objective = Objective::kSoftprob;
    // The bound keeps a corrupt count from allocating per-class outputs by the billion.
    if (n_class < 2 || n_class > kMaxClasses) {
      return reader.Expected(num_class, "from 2 to " + std::to_string(kMaxClasses) + " classes for " + name);
    }
    parsed.n_classes = n_class;
  } else {
    return reader.Expected(name_node, std::string("one of the objectives ") + kSupportedObjectives);
  }
  if (!parsed.classes.empty() && static_cast<std::int64_t>(parsed.classes.size()) != parsed.n_classes) {
    return reader.Error("/learner/attributes/loupe_classes", "expected " + std::to_string(parsed.n_classes) +
                                                                 " class labels for " + name + ", found " +
                                                                 std::to_string(parsed.classes.size()) + ".");
  }
  return Status::Ok();
}

Status ReadFeatures(const Reader& reader, const Node& learner, Parsed& parsed) {
  LOUPE_ASSIGN_OR_RETURN(const Node param, reader.Get(learner, "learner_model_param"));
  LOUPE_ASSIGN_OR_RETURN(const Node num_feature, reader.Get(param, "num_feature"));
  LOUPE_ASSIGN_OR_RETURN(const std::int64_t n, reader.IntParameter(num_feature));
  if (n < 1 || n > (std::int64_t{1} << 24))
    return reader.Expected(num_feature, "a feature count of at least 1");
  parsed.inputs.resize(static_cast<std::size_t>(n));
  for (std::int64_t f = 0; f < n; ++f) {
    std::string& name = parsed.inputs[static_cast<std::size_t>(f)].name;
    name = 'f';
    name += std::to_string(f);  // XGBoost's names for unnamed features: f0, f1, ...
  }
  const std::string reason = "learner_model_param.num_feature";
  if (const auto names = reader.Find(learner, "feature_names"); names && !names->value->empty()) {
    if (!names->value->is_array() || static_cast<std::int64_t>(names->value->size()) != n) {
      return reader.Expected(*names, std::to_string(n) + " feature names (" + reason + ")");
    }
    for (std::size_t f = 0; f < names->value->size(); ++f) {
      LOUPE_ASSIGN_OR_RETURN(parsed.inputs[f].name, reader.String(Reader::At(*names, f)));
    }
  }
  if (const auto types = reader.Find(learner, "feature_types"); types && !types->value->empty()) {
    if (!types->value->is_array() || static_cast<std::int64_t>(types->value->size()) != n) {
      return reader.Expected(*types, std::to_string(n) + " feature types (" + reason + ")");
    }
    for (std::size_t f = 0; f < types->value->size(); ++f) {
      const Node type_node = Reader::At(*types, f);
      LOUPE_ASSIGN_OR_RETURN(const std::string type, reader.String(type_node));
      if (type == "c") {
        parsed.inputs[f].type = ColumnType::kCategorical;
      } else if (type != "q" && type != "float" && type != "int" && type != "i") {
        return reader.Expected(type_node, "a feature type q, float, int, i or c");
      }
    }
  }
  for (const auto& [name, levels] : parsed.levels) {
    const auto it = std::find_if(parsed.inputs.begin(), parsed.inputs.end(),
                                 [&name = name](const ModelInput& input) { return input.name == name; });
    if (it == parsed.inputs.end() || it->type != ColumnType::kCategorical) {
      return reader.Error("/learner/attributes/loupe_levels",
                          "expected levels for categorical features only, found levels for '" + name + "'.");
    }
    it->levels = levels;
  }
  return Status::Ok();
}

// The per-node arrays of one tree (learner.gradient_booster...trees[t]), each checked to hold
// tree_param.num_nodes entries, with the nodes they came from for error sentences.
struct TreeArrays {
  std::int64_t n = 0;  // tree_param.num_nodes
  Node left_node, right_node, index_node;
  std::optional<Node> split_type_node;
  std::vector<std::int64_t> left, right, split_index, default_left, split_type;
  std::vector<double> condition, hessian;
};

Result<TreeArrays> ReadTreeArrays(const Reader& reader, const Node& node) {
  TreeArrays a;
  LOUPE_ASSIGN_OR_RETURN(const Node tree_param, reader.Get(node, "tree_param"));
  LOUPE_ASSIGN_OR_RETURN(const Node num_nodes_node, reader.Get(tree_param, "num_nodes"));
  LOUPE_ASSIGN_OR_RETURN(a.n, reader.IntParameter(num_nodes_node));
  if (a.n < 1 || a.n > (std::int64_t{1} << 30))
    return reader.Expected(num_nodes_node, "a node count of at least 1");
  if (const auto leaf_vector = reader.Find(tree_param, "size_leaf_vector")) {
    LOUPE_ASSIGN_OR_RETURN(const std::int64_t size, reader.IntParameter(*leaf_vector));
    if (size > 1) return reader.Expected(*leaf_vector, "0 or 1 (Loupe reads scalar leaves)");
  }
  const std::string reason = "tree_param.num_nodes";
  auto field = [&](const char* key) { return reader.Get(node, key); };
  LOUPE_ASSIGN_OR_RETURN(a.left_node, field("left_children"));
  LOUPE_ASSIGN_OR_RETURN(a.right_node, field("right_children"));
  LOUPE_ASSIGN_OR_RETURN(a.index_node, field("split_indices"));
  LOUPE_ASSIGN_OR_RETURN(const Node condition_node, field("split_conditions"));
  LOUPE_ASSIGN_OR_RETURN(const Node default_node, field("default_left"));
  LOUPE_ASSIGN_OR_RETURN(const Node hessian_node, field("sum_hessian"));
  LOUPE_ASSIGN_OR_RETURN(a.left, reader.Ints(a.left_node, a.n, reason));
  LOUPE_ASSIGN_OR_RETURN(a.right, reader.Ints(a.right_node, a.n, reason));
  LOUPE_ASSIGN_OR_RETURN(a.split_index, reader.Ints(a.index_node, a.n, reason));
  LOUPE_ASSIGN_OR_RETURN(a.condition, reader.Numbers(condition_node, a.n, reason));
  LOUPE_ASSIGN_OR_RETURN(a.default_left, reader.Ints(default_node, a.n, reason));
  LOUPE_ASSIGN_OR_RETURN(a.hessian, reader.Numbers(hessian_node, a.n, reason));
  a.split_type.assign(static_cast<std::size_t>(a.n), 0);
  a.split_type_node = reader.Find(node, "split_type");
  if (a.split_type_node) {
    LOUPE_ASSIGN_OR_RETURN(a.split_type, reader.Ints(*a.split_type_node, a.n, reason));
  }
  return a;
}

// A tree of `n` leaves with value 0: the walk below turns the nodes it reaches into what they are.
Tree UnwalkedTree(const TreeArrays& a) {
  Tree tree;
  const auto un = static_cast<std::size_t>(a.n);
  tree.left.assign(un, -1);
  tree.right.assign(un, -1);
  tree.feature.assign(un, -1);
  tree.threshold.assign(un, std::nan(""));
  tree.default_left.assign(un, 0);
  tree.is_leaf.assign(un, 1);
  tree.is_categorical.assign(un, 0);
  tree.value.assign(un, 0.0);
  tree.cover.assign(a.hessian.begin(), a.hessian.end());
  tree.category_offsets.assign(un + 1, 0);
  return tree;
}

// Checks inner node `u`'s split (feature index, split type against the feature's type) and copies it.
Status ReadSplit(const Reader& reader, const TreeArrays& a, const std::vector<ModelInput>& inputs,
                 std::size_t u, Tree& tree) {
  const auto n_features = static_cast<std::int64_t>(inputs.size());
  if (a.split_index[u] < 0 || a.split_index[u] >= n_features) {
    return reader.Expected(
        Reader::At(a.index_node, u),
        "a feature index below " + std::to_string(n_features) + " (learner_model_param.num_feature)");
  }
  if (a.split_type[u] != 0 && a.split_type[u] != 1) {
    return reader.Expected(Reader::At(*a.split_type_node, u), "0 (numeric split) or 1 (categorical split)");
  }
  const ModelInput& feature = inputs[static_cast<std::size_t>(a.split_index[u])];
  if (a.split_type[u] == 1 && feature.type != ColumnType::kCategorical) {
    return reader.Expected(Reader::At(*a.split_type_node, u),
                           "0 because feature '" + feature.name + "' is numeric in learner.feature_types");
  }
  tree.left[u] = static_cast<std::int32_t>(a.left[u]);
  tree.right[u] = static_cast<std::int32_t>(a.right[u]);
  tree.feature[u] = static_cast<std::int32_t>(a.split_index[u]);
  tree.default_left[u] = a.default_left[u] != 0 ? 1 : 0;
  tree.is_leaf[u] = 0;
  tree.is_categorical[u] = a.split_type[u] == 1 ? 1 : 0;
  if (a.split_type[u] == 0) tree.threshold[u] = LessThanFloatBound(static_cast<float>(a.condition[u]));
  return Status::Ok();
}

// Walks the tree from the root: every reachable node is visited once, children lie inside the tree,
// leaves take their values and inner nodes their splits.
Status WalkFromRoot(const Reader& reader, const TreeArrays& a, const std::vector<ModelInput>& inputs,
                    Tree& tree) {
  std::vector<std::uint8_t> seen(static_cast<std::size_t>(a.n), 0);
  std::vector<std::pair<std::int64_t, int>> stack = {{0, 0}};
  seen[0] = 1;
  while (!stack.empty()) {
    const auto [i, depth] = stack.back();
    stack.pop_back();
    const auto u = static_cast<std::size_t>(i);
    tree.max_depth = std::max(tree.max_depth, depth);
    if (a.left[u] == -1 || a.right[u] == -1) {
      if (a.left[u] != a.right[u]) {
        const bool left_is_leaf = a.left[u] == -1;
        const Node child = Reader::At(left_is_leaf ? a.right_node : a.left_node, u);
        return reader.Expected(child, std::string("-1 like ") + (left_is_leaf ? "left" : "right") +
                                          "_children/" + std::to_string(i) + " (a leaf has no children)");
      }
      tree.value[u] = static_cast<float>(a.condition[u]);  // XGBoost keeps a leaf's value in split_conditions
      continue;
    }
    for (const auto& [children, children_node] :
         {std::pair{&a.left, &a.left_node}, std::pair{&a.right, &a.right_node}}) {
      const std::int64_t child = (*children)[u];
      if (child < 1 || child >= a.n) {
        return reader.Expected(Reader::At(*children_node, u),
                               "-1 or a node index from 1 to " + std::to_string(a.n - 1));
      }
      if (seen[static_cast<std::size_t>(child)]) {
        return reader.Expected(Reader::At(*children_node, u), "a node no other split leads to (a tree)");
      }
      seen[static_cast<std::size_t>(child)] = 1;
      stack.push_back({child, depth + 1});
    }
    LOUPE_RETURN_IF_ERROR(ReadSplit(reader, a, inputs, u, tree));
  }
  return Status::Ok();
}

// Categorical splits: categories_nodes[k] sends categories[segments[k] .. + sizes[k]) right. Returns
// each node's sorted category set (empty for the others).
Result<std::vector<std::vector<std::int32_t>>> ReadCategorySets(const Reader& reader, const Node& node,
                                                                const TreeArrays& a) {
  std::vector<std::vector<std::int32_t>> sets(static_cast<std::size_t>(a.n));
  if (std::none_of(a.split_type.begin(), a.split_type.end(), [](std::int64_t t) { return t == 1; })) {
    return sets;
  }
  auto field = [&](const char* key) { return reader.Get(node, key); };
  LOUPE_ASSIGN_OR_RETURN(const Node categories_node, field("categories"));
  LOUPE_ASSIGN_OR_RETURN(const Node nodes_node, field("categories_nodes"));
  LOUPE_ASSIGN_OR_RETURN(const Node segments_node, field("categories_segments"));
  LOUPE_ASSIGN_OR_RETURN(const Node sizes_node, field("categories_sizes"));
  LOUPE_ASSIGN_OR_RETURN(const auto categories, reader.Ints(categories_node, -1, ""));
  LOUPE_ASSIGN_OR_RETURN(const auto nodes, reader.Ints(nodes_node, -1, ""));
  const auto n_split = static_cast<std::int64_t>(nodes.size());
  const std::string split_reason = "one per entry of categories_nodes";
  LOUPE_ASSIGN_OR_RETURN(const auto segments, reader.Ints(segments_node, n_split, split_reason));
  LOUPE_ASSIGN_OR_RETURN(const auto sizes, reader.Ints(sizes_node, n_split, split_reason));
  for (std::size_t k = 0; k < nodes.size(); ++k) {
    if (nodes[k] < 0 || nodes[k] >= a.n || a.split_type[static_cast<std::size_t>(nodes[k])] != 1) {
      return reader.Expected(Reader::At(nodes_node, k), "the index of a node whose split_type is 1");
    }
    const auto total = static_cast<std::int64_t>(categories.size());
    if (segments[k] < 0 || sizes[k] < 0 || segments[k] > total || sizes[k] > total - segments[k]) {
      return reader.Expected(Reader::At(sizes_node, k), "a segment inside categories (" +
                                                            std::to_string(total) + " entries) starting at " +
                                                            std::to_string(segments[k]));
    }
    auto& set = sets[static_cast<std::size_t>(nodes[k])];
    for (std::int64_t c = segments[k]; c < segments[k] + sizes[k]; ++c) {
      const std::int64_t code = categories[static_cast<std::size_t>(c)];
      if (code < 0 || code >= (std::int64_t{1} << 24)) {
        return reader.Expected(Reader::At(categories_node, static_cast<std::size_t>(c)),
                               "a category code from 0 to 16777215");
      }
      set.push_back(static_cast<std::int32_t>(code));
    }
    std::sort(set.begin(), set.end());
  }
  return sets;
}

// One tree of learner.gradient_booster...trees, validated: array sizes, indices, a proper tree.
Result<Tree> ReadTree(const Reader& reader, const Node& node, const std::vector<ModelInput>& inputs) {
  LOUPE_ASSIGN_OR_RETURN(const TreeArrays arrays, ReadTreeArrays(reader, node));
  Tree tree = UnwalkedTree(arrays);
  LOUPE_RETURN_IF_ERROR(WalkFromRoot(reader, arrays, inputs, tree));
  LOUPE_ASSIGN_OR_RETURN(const auto sets, ReadCategorySets(reader, node, arrays));
  for (std::size_t u = 0; u < sets.size(); ++u) {
    tree.category_offsets[u + 1] = tree.category_offsets[u] + static_cast<std::int64_t>(sets[u].size());
    tree.categories.insert(tree.categories.end(), sets[u].begin(), sets[u].end());
  }
  return tree;
}

class XGBoostModel final : public Model {
 public:
  XGBoostModel(ModelInfo info, TreeEnsembleView view)
      : info_(std::move(info)), trees_(std::make_unique<TreeEnsembleCapability>(std::move(view))) {}

  const ModelInfo& Info() const override { return info_; }

  Result<Tensor> Predict(const TensorView& batch, OutputSpace space) const override {
    return PredictThroughInto(batch, space);
  }

  // Row by row into `result`; the margins of a row live in per-thread scratch.
  Status PredictInto(const TensorView& batch, OutputSpace space, std::span<double> result) const override {
    const TreeEnsembleView& view = trees_->view();
    const auto n_inputs = static_cast<std::int64_t>(info_.inputs.size());
    if (batch.ndim() != 2 || batch.dim(1) != n_inputs || batch.dtype() != DType::kF64) {
      return InvalidArgument("model '" + info_.name + "' expects a batch of f64 [n, " +
                             std::to_string(n_inputs) + "], found " + DTypeName(batch.dtype()) + " " +
                             ShapeToString(batch.shape()) + ".");
    }
    if (space == OutputSpace::kProbability && info_.task != Task::kClassification) {
      return InvalidArgument("model '" + info_.name + "' is a regressor and has no probability outputs.");
    }
    const std::int64_t n = batch.dim(0);
    LOUPE_RETURN_IF_ERROR(model::CheckOutputBuffer(info_, n, space, result.size()));
    const auto n_out = static_cast<std::int64_t>(info_.OutputNames(space).size());
    const std::size_t k = view.n_outputs();
    model::Scratch<std::vector<double>> margin_scratch;
    std::vector<double>& margins = *margin_scratch;
    margins.resize(k);
    const double* in = batch.data<double>();
    double* out = result.data();
    for (std::int64_t row = 0; row < n; ++row) {
      view.Margins(in + row * n_inputs, margins.data());
      double* o = out + row * n_out;
      if (space == OutputSpace::kRaw || view.link == TreeLink::kIdentity) {
        std::copy(margins.begin(), margins.end(), o);
      } else if (view.link == TreeLink::kLogistic) {
        const double p = 1.0 / (1.0 + std::exp(-margins[0]));
        o[0] = 1.0 - p;
        o[1] = p;
      } else {
        const double top = *std::max_element(margins.begin(), margins.end());
        double sum = 0;
        for (std::size_t c = 0; c < k; ++c) sum += (o[c] = std::exp(margins[c] - top));
        for (std::size_t c = 0; c < k; ++c) o[c] /= sum;
      }
    }
    return Status::Ok();
  }

  const TreeEnsembleCapability* tree_ensemble() const override { return trees_.get(); }

 private:
  ModelInfo info_;
  std::unique_ptr<TreeEnsembleCapability> trees_;
};

Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot read the model file '" + path.string() + "'.");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Result<std::shared_ptr<const Model>> LoadXGBoostModel(const std::filesystem::path& path) {
  const std::string file = path.string();
  LOUPE_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  json document;
  try {
    document = json::parse(ReplaceNonFiniteTokens(text));
  } catch (const json::parse_error& e) {
    return InvalidArgument(file +
                           ": expected the JSON of XGBoost's Booster.save_model, found text that is not " +
                           "JSON (syntax error at byte " + std::to_string(e.byte) + ").");
  } catch (const json::out_of_range&) {  // a number beyond double's range, say 1e999
    return InvalidArgument(file + ": expected the JSON of XGBoost's Booster.save_model, found a number " +
                           "too large for a double.");
  }
  const Reader reader(file);
  const Node root{&document, ""};
  LOUPE_ASSIGN_OR_RETURN(const Node learner, reader.Get(root, "learner"));
  Parsed parsed;
  LOUPE_RETURN_IF_ERROR(ReadAttributes(reader, learner, parsed));
  LOUPE_RETURN_IF_ERROR(ReadObjective(reader, learner, parsed));
  LOUPE_RETURN_IF_ERROR(ReadFeatures(reader, learner, parsed));

  LOUPE_ASSIGN_OR_RETURN(const Node booster, reader.Get(learner, "gradient_booster"));
  LOUPE_ASSIGN_OR_RETURN(const Node booster_name_node, reader.Get(booster, "name"));
  LOUPE_ASSIGN_OR_RETURN(const std::string booster_name, reader.String(booster_name_node));
  Node gbtree = booster;
  if (booster_name == "dart") {
    LOUPE_ASSIGN_OR_RETURN(gbtree, reader.Get(booster, "gbtree"));
  } else if (booster_name != "gbtree") {
    return reader.Expected(booster_name_node, "the booster gbtree or dart (Loupe explains tree models)");
  }
  LOUPE_ASSIGN_OR_RETURN(const Node model, reader.Get(gbtree, "model"));
  LOUPE_ASSIGN_OR_RETURN(const Node trees_node, reader.Get(model, "trees"));
  if (!trees_node.value->is_array()) return reader.Expected(trees_node, "an array of trees");
  const auto n_trees = static_cast<std::int64_t>(trees_node.value->size());
  if (const auto param = reader.Find(model, "gbtree_model_param")) {
    LOUPE_ASSIGN_OR_RETURN(const Node num_trees, reader.Get(*param, "num_trees"));
    LOUPE_ASSIGN_OR_RETURN(const std::int64_t declared, reader.IntParameter(num_trees));
    if (declared != n_trees) {
      return reader.Error(trees_node.pointer, "expected " + std::to_string(declared) +
                                                  " trees (gbtree_model_param.num_trees), found " +
                                                  std::to_string(n_trees) + ".");
    }
  }
  LOUPE_ASSIGN_OR_RETURN(const Node tree_info_node, reader.Get(model, "tree_info"));
  LOUPE_ASSIGN_OR_RETURN(const auto tree_info, reader.Ints(tree_info_node, n_trees, "one per tree"));
  std::vector<double> weights(static_cast<std::size_t>(n_trees), 1.0);
  if (booster_name == "dart") {
    LOUPE_ASSIGN_OR_RETURN(const Node weight_node, reader.Get(booster, "weight_drop"));
    LOUPE_ASSIGN_OR_RETURN(weights, reader.Numbers(weight_node, n_trees, "one per tree"));
  }

  TreeEnsembleView view;
  const std::int64_t n_outputs = parsed.objective == Objective::kSoftprob ? parsed.n_classes : 1;
  // XGBoost 1.7 turns base_score into the margin offset in f32 (ObjFunction::ProbToMargin).
  const auto base_score = static_cast<float>(parsed.base_score);
  const float offset =
      parsed.objective == Objective::kBinaryLogistic ? -std::log(1.0f / base_score - 1.0f) : base_score;
  view.base_margin.assign(static_cast<std::size_t>(n_outputs), offset);
  view.link = parsed.objective == Objective::kBinaryLogistic ? TreeLink::kLogistic
              : parsed.objective == Objective::kSoftprob     ? TreeLink::kSoftmax
                                                             : TreeLink::kIdentity;
  std::vector<std::int32_t> max_code(parsed.inputs.size(), -1);
  for (std::int64_t t = 0; t < n_trees; ++t) {
    const Node tree_node = Reader::At(trees_node, static_cast<std::size_t>(t));
    LOUPE_ASSIGN_OR_RETURN(Tree tree, ReadTree(reader, tree_node, parsed.inputs));
    const std::int64_t output = tree_info[static_cast<std::size_t>(t)];
    if (output < 0 || output >= n_outputs) {
      return reader.Expected(Reader::At(tree_info_node, static_cast<std::size_t>(t)),
                             "an output index below " + std::to_string(n_outputs));
    }
    tree.output = static_cast<int>(output);
    const double weight = weights[static_cast<std::size_t>(t)];
    for (std::int32_t i = 0; i < tree.size(); ++i) {
      const auto u = static_cast<std::size_t>(i);
      if (tree.is_leaf[u]) tree.value[u] *= static_cast<float>(weight);
      if (tree.is_categorical[u] && tree.category_offsets[u + 1] > tree.category_offsets[u]) {
        auto& code = max_code[static_cast<std::size_t>(tree.feature[u])];
        code = std::max(code, tree.categories[static_cast<std::size_t>(tree.category_offsets[u + 1] - 1)]);
      }
    }
    FillNodeMeans(tree);
    view.trees.push_back(std::move(tree));
  }
  for (std::size_t f = 0; f < parsed.inputs.size(); ++f) {
    ModelInput& input = parsed.inputs[f];
    if (input.type != ColumnType::kCategorical || parsed.levels.count(input.name)) continue;
    for (std::int32_t code = 0; code <= max_code[f]; ++code) input.levels.push_back(std::to_string(code));
  }

  ModelInfo info;
  info.name = path.stem().string();
  info.inputs = parsed.inputs;
  if (parsed.objective == Objective::kSquaredError) {
    info.task = Task::kRegression;
    info.output_names = info.raw_output_names = {"value"};
  } else {
    info.task = Task::kClassification;
    std::vector<std::string> classes = parsed.classes;
    if (classes.empty()) {  // XGBoost does not store labels: name the classes by index
      for (std::int64_t c = 0; c < parsed.n_classes; ++c) classes.push_back(std::to_string(c));
    }
    info.output_names = classes;
    info.raw_output_names =
        parsed.objective == Objective::kBinaryLogistic ? std::vector<std::string>{classes[1]} : classes;
  }
  view.features = parsed.inputs;
  return std::shared_ptr<const Model>(std::make_shared<XGBoostModel>(std::move(info), std::move(view)));
}

}  // namespace loupe
