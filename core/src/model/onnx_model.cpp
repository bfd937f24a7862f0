// The Model over an ONNX session (see onnx_model.hpp): reading the inputs and outputs a graph declares,
// predicting in chunks, describing tree ensembles as the "tree_ensemble" capability, and differentiating
// networks (onnx/backward.hpp) as the "gradient" and "text_gradient" capabilities.
#include "model/onnx_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "loupe/core/attention.hpp"
#include "loupe/core/gradient.hpp"
#include "loupe/core/text_gradient.hpp"
#include "loupe/core/tree_ensemble.hpp"
#include "model/tokenizer.hpp"
#include "onnx/backward.hpp"
#include "onnx/session.hpp"
#include "onnx/tree_ensemble_op.hpp"

namespace loupe {

namespace {

using onnx::DataType;

// Rows per session run: as the native networks' chunk, so that a batch gives the same bits however the
// caller splits it into multiples of this.
constexpr std::int64_t kChunkRows = 2048;

Status Refuse(const std::filesystem::path& path, const std::string& what) {
  return InvalidArgument("ONNX model '" + path.string() + "': " + what);
}

// How the model's f64 columns become the graph's inputs.
struct InputLayout {
  bool matrix = false;                // one [N, F] tensor, else one [N, 1] tensor per column
  std::vector<DataType> types;        // per graph input: kFloat or kDouble
  std::vector<bool> column_is_rank1;  // column inputs declared [N]
  std::vector<ModelInput> inputs;
};

Result<std::vector<std::string>> MetadataList(const onnx::Graph& graph, const std::string& key) {
  const auto it = graph.metadata.find(key);
  if (it == graph.metadata.end()) return std::vector<std::string>();
  const nlohmann::json list = nlohmann::json::parse(it->second, nullptr, false);
  if (!list.is_array() ||
      !std::all_of(list.begin(), list.end(), [](const auto& v) { return v.is_string(); })) {
    return Refuse(graph.source, "metadata_props '" + key + "' is not a JSON list of strings.");
  }
  return list.get<std::vector<std::string>>();
}

bool IsNumberType(DataType type) { return type == DataType::kFloat || type == DataType::kDouble; }

// The levels of a string input: the categories of the OneHotEncoder (cats_strings) or LabelEncoder
// (keys_strings, or opset 1's classes_strings) reading it, as skl2onnx writes a categorical column.
Result<std::vector<std::string>> CategoriesOf(const onnx::Graph& graph, const std::string& input) {
  for (const onnx::Node& node : graph.nodes) {
    if (node.domain != onnx::kMlDomain || node.inputs.empty() || node.inputs[0] != input) continue;
    if (node.op_type == "OneHotEncoder") return onnx::StringsAttr(node, "cats_strings");
    if (node.op_type == "LabelEncoder") {
      std::vector<std::string> keys = onnx::StringsAttr(node, "keys_strings");
      return keys.empty() ? onnx::StringsAttr(node, "classes_strings") : keys;
    }
  }
  return Refuse(graph.source, "string input '" + input +
                                  "' is read by no OneHotEncoder or LabelEncoder, so its categories are "
                                  "unknown; Loupe reads a string input as a categorical column.");
}

Result<InputLayout> ReadInputs(const onnx::Graph& graph) {
  InputLayout layout;
  if (graph.inputs.empty()) return Refuse(graph.source, "the graph has no inputs.");
  for (const onnx::ValueInfo& input : graph.inputs) {
    const bool string = input.type == DataType::kString;
    if (!input.is_tensor || !(IsNumberType(input.type) || onnx::IsIntegral(input.type) || string)) {
      return Refuse(graph.source, "input '" + input.name + "' is a " + onnx::DataTypeName(input.type) +
                                      " tensor; Loupe feeds ONNX models float, double or string tensors.");
    }
    layout.types.push_back(string                            ? DataType::kString
                           : input.type == DataType::kDouble ? DataType::kDouble
                                                             : DataType::kFloat);
  }
  const onnx::ValueInfo& first = graph.inputs.front();
  if (graph.inputs.size() == 1 && first.shape.size() == 2 && first.shape[1] > 1 &&
      first.type != DataType::kString) {
    layout.matrix = true;
    LOUPE_ASSIGN_OR_RETURN(std::vector<std::string> names, MetadataList(graph, "feature_names"));
    const std::int64_t width = first.shape[1];
    if (!names.empty() && static_cast<std::int64_t>(names.size()) != width) {
      return Refuse(graph.source, "metadata_props 'feature_names' names " + std::to_string(names.size()) +
                                      " features, but input '" + first.name + "' has " +
                                      std::to_string(width) + ".");
    }
    for (std::int64_t f = 0; f < width; ++f) {
      ModelInput column;
      column.name = names.empty() ? "f" + std::to_string(f) : names[static_cast<std::size_t>(f)];
      layout.inputs.push_back(std::move(column));
    }
    return layout;
  }
  for (const onnx::ValueInfo& input : graph.inputs) {
    const bool column = input.shape.size() == 1 || (input.shape.size() == 2 && input.shape[1] == 1);
    if (input.has_shape && !column) {
      // An integer [N, T] input of unknown width is how exported text models take their token ids.
      const bool token_ids = onnx::IsIntegral(input.type) && input.shape.size() == 2 && input.shape[1] < 0;
      return Refuse(graph.source,
                    "input '" + input.name + "' has shape " + onnx::ShapeText(input.shape) +
                        "; Loupe reads one [N, F] input or one [N, 1] input per column" +
                        (token_ids ? ", or token ids [N, T] of a text model given its "
                                     "tokenizer.json (model.tokenizer, loupe predict --tokenizer)."
                                   : "."));
    }
    layout.column_is_rank1.push_back(input.shape.size() == 1);
    ModelInput model_input;
    model_input.name = input.name;
    if (input.type == DataType::kString) {
      model_input.type = ColumnType::kCategorical;
      LOUPE_ASSIGN_OR_RETURN(model_input.levels, CategoriesOf(graph, input.name));
    }
    layout.inputs.push_back(std::move(model_input));
  }
  return layout;
}

// model.features: the inputs renamed, in order.
Status RenameInputs(const onnx::Graph& graph, const std::vector<std::string>& features, InputLayout& layout) {
  if (features.empty()) return Status::Ok();
  if (features.size() != layout.inputs.size()) {
    return Refuse(graph.source, "model.features names " + std::to_string(features.size()) +
                                    " features, but the model reads " + std::to_string(layout.inputs.size()) +
                                    " columns.");
  }
  for (std::size_t k = 0; k < features.size(); ++k) layout.inputs[k].name = features[k];
  return Status::Ok();
}

// Which tensor is the model's output, what it means, and where its raw form comes from.
struct OutputLayout {
  std::string tensor;
  std::string raw_tensor;
  bool raw_from_context = false;  // classifier nodes: the same tensor with RunContext::raw_scores
  Task task = Task::kRegression;
  std::vector<std::string> labels;
};

bool IsClassifierOp(const onnx::Node& node) {
  return node.domain == onnx::kMlDomain &&
         (node.op_type == "TreeEnsembleClassifier" || node.op_type == "LinearClassifier");
}

std::vector<std::string> ClassifierLabels(const onnx::Node& node) {
  std::vector<std::string> labels;
  for (const char* key : {"classlabels_int64s", "classlabels_ints"}) {
    for (const std::int64_t label : onnx::IntsAttr(node, key)) labels.push_back(std::to_string(label));
  }
  for (const std::string& label : onnx::StringsAttr(node, "classlabels_strings")) labels.push_back(label);
  return labels;
}

Result<OutputLayout> ReadOutputs(const onnx::Session& session) {
  const onnx::Graph& graph = session.graph();
  OutputLayout layout;
  for (const onnx::ValueInfo& output : graph.outputs) {
    std::string tensor = output.name;
    const onnx::Node* producer = session.Producer(tensor);
    if (producer != nullptr && producer->op_type == "ZipMap")
      tensor = producer->inputs[0];
    else if (!output.is_tensor || !IsNumberType(output.type))
      continue;  // labels
    layout.tensor = tensor;
    break;
  }
  if (layout.tensor.empty()) return Refuse(graph.source, "no graph output is a float tensor or a ZipMap.");
  layout.raw_tensor = layout.tensor;
  const onnx::Node* producer = session.Producer(layout.tensor);
  // Pass-through nodes between the scores and the output (Identity, Cast) keep the meaning.
  while (producer != nullptr && (producer->op_type == "Identity" || producer->op_type == "Cast")) {
    producer = session.Producer(producer->inputs[0]);
  }
  LOUPE_ASSIGN_OR_RETURN(std::vector<std::string> metadata_labels, MetadataList(graph, "class_labels"));
  if (producer != nullptr && IsClassifierOp(*producer)) {
    layout.task = Task::kClassification;
    layout.labels = ClassifierLabels(*producer);
    layout.raw_from_context = true;
  } else if (producer != nullptr && producer->op_type == "Softmax") {
    layout.task = Task::kClassification;
    layout.labels = metadata_labels;
    layout.raw_tensor = producer->inputs[0];
  } else if (!metadata_labels.empty()) {
    layout.task = Task::kClassification;  // probabilities made another way: the metadata says so
    layout.labels = metadata_labels;
  }
  return layout;
}

// The width of a [N, K] or [N] output tensor.
std::int64_t Width(const onnx::Value& v) {
  return v.shape.size() >= 2 ? v.size() / std::max<std::int64_t>(v.shape[0], 1) : 1;
}

class OnnxModel final : public Model, public GradientModel {
 public:
  OnnxModel(ModelInfo info, std::unique_ptr<onnx::Session> session, InputLayout inputs, OutputLayout outputs)
      : info_(std::move(info)),
        session_(std::move(session)),
        inputs_(std::move(inputs)),
        outputs_(std::move(outputs)) {}

  void SetInfo(ModelInfo info) { info_ = std::move(info); }
  void SetTrees(TreeEnsembleView view) { trees_ = std::make_unique<TreeEnsembleCapability>(std::move(view)); }

  const ModelInfo& Info() const override { return info_; }
  const TreeEnsembleCapability* tree_ensemble() const override { return trees_.get(); }
  const GradientModel* gradient_model() const override { return gradients_[0] ? this : nullptr; }
  std::string GradientRefusal() const override { return gradient_refusal_; }

  // The "gradient" capability (onnx/backward.hpp): offered when every input is a float tensor and both
  // output tensors can be differentiated with respect to them; otherwise GradientRefusal() says why.
  void PrepareGradient(const std::filesystem::path& path, bool bf16) {
    const onnx::Graph& graph = session_->graph();
    const auto refuse = [&](const std::string& why) {
      gradient_refusal_ = "ONNX model '" + path.string() + "' offers no gradient: " + why;
    };
    if (bf16) {
      return refuse(
          "its dense layers run in bf16 (model.precision: bf16), and gradients of an f32 backward "
          "pass would not be those of its outputs.");
    }
    for (std::size_t k = 0; k < graph.inputs.size(); ++k) {
      if (inputs_.types[k] != DataType::kFloat || graph.inputs[k].type != DataType::kFloat) {
        return refuse("input '" + graph.inputs[k].name + "' is a " +
                      onnx::DataTypeName(graph.inputs[k].type) +
                      " tensor; Loupe differentiates float inputs only.");
      }
    }
    std::vector<std::string> wrt;
    for (const onnx::ValueInfo& input : graph.inputs) wrt.push_back(input.name);
    for (int space = 0; space < 2; ++space) {
      auto program =
          onnx::GradientProgram::Create(*session_, wrt, space == 0 ? outputs_.tensor : outputs_.raw_tensor);
      if (!program.ok()) {
        gradient_refusal_ = program.status().message();
        gradients_[0].reset();
        return;
      }
      gradients_[space] = std::move(program).value();
    }
    if (outputs_.raw_from_context) {  // not reached: classifier nodes have no backward
      gradients_[0].reset();
      return refuse("its raw scores come from an ONNX-ML classifier node, which has no backward in Loupe.");
    }
  }

  // --- GradientModel ---
  Status Gradient(const TensorView& batch, OutputSpace space, std::span<const double> weights,
                  std::span<double> gradients) const override {
    const auto width = static_cast<std::int64_t>(info_.inputs.size());
    if (batch.ndim() != 2 || batch.dim(1) != width || batch.dtype() != DType::kF64) {
      return InvalidArgument("model '" + info_.name + "' takes f64 [n, " + std::to_string(width) +
                             "], found " + DTypeName(batch.dtype()) + " " + ShapeToString(batch.shape()) +
                             ".");
    }
    const std::int64_t n = batch.dim(0);
    const auto n_out = static_cast<std::int64_t>(info_.OutputNames(space).size());
    if (static_cast<std::int64_t>(weights.size()) != n * n_out ||
        static_cast<std::int64_t>(gradients.size()) != n * width) {
      return InvalidArgument("model '" + info_.name + "': gradients of " + std::to_string(n) + " rows take " +
                             std::to_string(n * n_out) + " output weights and " + std::to_string(n * width) +
                             " gradient values, but " + std::to_string(weights.size()) + " and " +
                             std::to_string(gradients.size()) + " were given.");
    }
    const onnx::GradientProgram& program = *gradients_[space == OutputSpace::kRaw ? 1 : 0];
    for (std::int64_t begin = 0; begin < n; begin += kChunkRows) {
      const std::int64_t rows = std::min(kChunkRows, n - begin);
      const double* x = batch.data<double>() + begin * width;
      const auto seed = [&](const onnx::Value& y) -> Result<onnx::Value> {
        if (y.size() != rows * n_out) {
          return ModelError("model '" + info_.name + "' computed " + onnx::ShapeText(y.shape) + " for " +
                            std::to_string(rows) + " rows and " + std::to_string(n_out) + " outputs.");
        }
        std::vector<float> w(weights.begin() + begin * n_out, weights.begin() + (begin + rows) * n_out);
        return onnx::Value::Floats(y.shape, std::move(w));
      };
      LOUPE_ASSIGN_OR_RETURN(const onnx::GradientProgram::Pass pass, program.Run(Feeds(x, rows), seed));
      double* to = gradients.data() + begin * width;
      if (inputs_.matrix) {
        std::copy(pass.gradient[0].d.begin(), pass.gradient[0].d.end(), to);
        continue;
      }
      for (std::int64_t c = 0; c < width; ++c) {
        for (std::int64_t r = 0; r < rows; ++r)
          to[r * width + c] = pass.gradient[static_cast<std::size_t>(c)].d[static_cast<std::size_t>(r)];
      }
    }
    return Status::Ok();
  }

  const std::string& DeepLiftRefusal() const override { return deeplift_refusal_; }
  Status DeepLift(const TensorView&, const TensorView&, OutputSpace, std::span<const double>,
                  std::span<double>) const override {
    return InvalidArgument(deeplift_refusal_);
  }

  Result<Tensor> Predict(const TensorView& batch, OutputSpace space) const override {
    return PredictThroughInto(batch, space);
  }

  Status PredictInto(const TensorView& batch, OutputSpace space, std::span<double> out) const override {
    const auto width = static_cast<std::int64_t>(info_.inputs.size());
    if (batch.ndim() != 2 || batch.dim(1) != width || batch.dtype() != DType::kF64) {
      return InvalidArgument("model '" + info_.name + "' takes f64 [n, " + std::to_string(width) +
                             "], found " + DTypeName(batch.dtype()) + " " + ShapeToString(batch.shape()) +
                             ".");
    }
    const std::int64_t n = batch.dim(0);
    const auto n_out = static_cast<std::int64_t>(info_.OutputNames(space).size());
    if (static_cast<std::int64_t>(out.size()) != n * n_out) {
      return InvalidArgument("model '" + info_.name + "' writes " + std::to_string(n * n_out) +
                             " outputs for " + std::to_string(n) + " rows, but the output buffer holds " +
                             std::to_string(out.size()) + ".");
    }
    for (std::int64_t begin = 0; begin < n; begin += kChunkRows) {
      const std::int64_t rows = std::min(kChunkRows, n - begin);
      LOUPE_ASSIGN_OR_RETURN(const onnx::Value y, RunRows(batch.data<double>() + begin * width, rows, space));
      if (y.size() != rows * n_out) {
        return ModelError("model '" + info_.name + "' computed " + onnx::ShapeText(y.shape) + " for " +
                          std::to_string(rows) + " rows and " + std::to_string(n_out) + " outputs.");
      }
      double* to = out.data() + begin * n_out;
      for (std::int64_t k = 0; k < y.size(); ++k) to[k] = onnx::NumberAt(y, k);
    }
    return Status::Ok();
  }

  // Runs `rows` rows (f64, the model's inputs) and returns the output tensor of `space`.
  Result<onnx::Value> RunRows(const double* x, std::int64_t rows, OutputSpace space) const {
    const std::vector<onnx::Value> feeds = Feeds(x, rows);
    const bool raw = space == OutputSpace::kRaw;
    onnx::RunContext context;
    context.raw_scores = raw && outputs_.raw_from_context;
    const std::string& tensor = raw ? outputs_.raw_tensor : outputs_.tensor;
    LOUPE_ASSIGN_OR_RETURN(std::vector<onnx::Value> results, session_->Run(feeds, {tensor}, context));
    return std::move(results[0]);
  }

  // The graph inputs of `rows` rows of x (f64, the model's inputs).
  std::vector<onnx::Value> Feeds(const double* x, std::int64_t rows) const {
    const auto width = static_cast<std::int64_t>(info_.inputs.size());
    std::vector<onnx::Value> feeds;
    if (inputs_.matrix) {
      feeds.push_back(Feed(inputs_.types[0], {rows, width}, x, rows, width, 0));
    } else {
      for (std::int64_t c = 0; c < width; ++c) {
        const bool rank1 = inputs_.column_is_rank1[static_cast<std::size_t>(c)];
        std::vector<std::int64_t> shape =
            rank1 ? std::vector<std::int64_t>{rows} : std::vector<std::int64_t>{rows, 1};
        const auto column = static_cast<std::size_t>(c);
        feeds.push_back(inputs_.types[column] == DataType::kString
                            ? FeedLevels(info_.inputs[column].levels, std::move(shape), x, rows, width, c)
                            : Feed(inputs_.types[column], std::move(shape), x, rows, width, c));
      }
    }
    return feeds;
  }

  const onnx::Session& session() const { return *session_; }
  const InputLayout& input_layout() const { return inputs_; }
  const OutputLayout& output_layout() const { return outputs_; }

 private:
  // Columns [first, first + cols of the shape) of `rows` rows of x (stride `width`) as a float or double
  // tensor.
  static onnx::Value Feed(DataType type, std::vector<std::int64_t> shape, const double* x, std::int64_t rows,
                          std::int64_t width, std::int64_t first) {
    onnx::Value v = onnx::Value::Zeros(type, std::move(shape));
    const std::int64_t cols = v.size() / std::max<std::int64_t>(rows, 1);
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t c = 0; c < cols; ++c) {
        const double value = x[r * width + first + c];
        const auto at = static_cast<std::size_t>(r * cols + c);
        if (type == DataType::kDouble)
          v.d[at] = value;
        else
          v.f[at] = static_cast<float>(value);
      }
    }
    return v;
  }

  // Column `column` of `rows` rows of x, level codes, as the level strings; a missing or unknown level
  // (NaN) is fed as the empty string, which an encoder with zeros = 1 turns into zeros.
  static onnx::Value FeedLevels(const std::vector<std::string>& levels, std::vector<std::int64_t> shape,
                                const double* x, std::int64_t rows, std::int64_t width, std::int64_t column) {
    onnx::Value v = onnx::Value::Zeros(DataType::kString, std::move(shape));
    for (std::int64_t r = 0; r < rows; ++r) {
      const double code = x[r * width + column];
      const bool known = code >= 0.0 && code < static_cast<double>(levels.size());
      if (known) v.s[static_cast<std::size_t>(r)] = levels[static_cast<std::size_t>(code)];
    }
    return v;
  }

  ModelInfo info_;
  std::unique_ptr<onnx::Session> session_;
  InputLayout inputs_;
  OutputLayout outputs_;
  std::unique_ptr<TreeEnsembleCapability> trees_;
  // Per output space (probability, raw): the backward program; none when gradient_refusal_ says why.
  std::unique_ptr<onnx::GradientProgram> gradients_[2];
  std::string gradient_refusal_;
  std::string deeplift_refusal_ =
      "DeepLIFT's rescale rule is implemented for Loupe's own networks "
      "(loupe.model/v1), not for ONNX models.";
};

// ---- The tree_ensemble capability -----------------------------------------------------------------------

// Whether `tensor` is the model's inputs in order: the matrix input, or a Concat (axis 1) of the column
// inputs, through Cast and Identity nodes.
bool IsModelInputs(const onnx::Session& session, const InputLayout& layout, std::string tensor) {
  const onnx::Graph& graph = session.graph();
  for (const onnx::Node* p = session.Producer(tensor); p != nullptr; p = session.Producer(tensor)) {
    if (p->op_type == "Cast" || p->op_type == "Identity") {
      tensor = p->inputs[0];
      continue;
    }
    if (p->op_type != "Concat" || layout.matrix || onnx::IntAttr(*p, "axis", 0) != 1 ||
        p->inputs.size() != graph.inputs.size()) {
      return false;
    }
    for (std::size_t k = 0; k < graph.inputs.size(); ++k) {
      if (p->inputs[k] != graph.inputs[k].name) return false;
    }
    return true;
  }
  return layout.matrix && tensor == graph.inputs[0].name;
}

std::optional<TreeLink> LinkOf(const onnx::TreeEnsembleData& data) {
  using onnx::PostTransform;
  if (!data.classifier) {
    if (data.post_transform != PostTransform::kNone) return std::nullopt;
    if (data.aggregate != onnx::TreeEnsembleData::Aggregate::kSum &&
        data.aggregate != onnx::TreeEnsembleData::Aggregate::kAverage) {
      return std::nullopt;
    }
    return TreeLink::kIdentity;
  }
  if (data.binary_one_score) {
    return data.post_transform == PostTransform::kLogistic ? std::optional(TreeLink::kLogistic)
                                                           : std::nullopt;
  }
  if (data.post_transform == PostTransform::kNone) return TreeLink::kIdentity;
  if (data.post_transform == PostTransform::kSoftmax) return TreeLink::kSoftmax;
  return std::nullopt;
}

// One view tree per (ONNX tree, score) pair that has leaf weights for that score. Every split becomes
// "x < d goes left" with d chosen so that an f64 input takes the decision the float32 comparison takes.
std::optional<Tree> ViewTree(const onnx::EnsembleTree& source, int output, double leaf_scale,
                             bool double_input) {
  using onnx::NodeMode;
  Tree tree;
  tree.output = output;
  const std::size_t n = source.mode.size();
  tree.left.assign(n, -1);
  tree.right.assign(n, -1);
  tree.feature.assign(n, -1);
  tree.threshold.assign(n, std::numeric_limits<double>::quiet_NaN());
  tree.default_left.assign(n, 0);
  tree.is_leaf.assign(n, 0);
  tree.is_categorical.assign(n, 0);
  tree.value.assign(n, 0.0);
  tree.cover.assign(n, 0.0);  // ONNX stores no covers
  tree.category_offsets.assign(n + 1, 0);
  bool has_weight = false;
  for (std::size_t k = 0; k < n; ++k) {
    const NodeMode mode = source.mode[k];
    if (mode == NodeMode::kLeaf) {
      tree.is_leaf[k] = 1;
      for (std::int64_t w = source.weight_offset[k]; w < source.weight_offset[k + 1]; ++w) {
        if (source.weight_target[static_cast<std::size_t>(w)] != output) continue;
        tree.value[k] += source.weight[static_cast<std::size_t>(w)] * leaf_scale;
        has_weight = true;
      }
      continue;
    }
    if (mode == NodeMode::kEq || mode == NodeMode::kNeq) return std::nullopt;
    const float t = source.threshold[k];
    // LEQ and GT compare with "x <= t" (true for LEQ), LT and GTE with "x < t" (true for LT).
    const bool or_equal = mode == NodeMode::kLeq || mode == NodeMode::kGt;
    const bool true_is_left = mode == NodeMode::kLeq || mode == NodeMode::kLt;
    if (double_input) {
      const double td = t;
      tree.threshold[k] = or_equal ? std::nextafter(td, std::numeric_limits<double>::infinity()) : td;
    } else {
      tree.threshold[k] =
          LessThanFloatBound(or_equal ? std::nextafter(t, std::numeric_limits<float>::infinity()) : t);
    }
    tree.feature[k] = source.feature[k];
    tree.left[k] = true_is_left ? source.true_child[k] : source.false_child[k];
    tree.right[k] = true_is_left ? source.false_child[k] : source.true_child[k];
    const bool missing_true = source.missing_tracks_true[k] != 0;
    tree.default_left[k] = missing_true == true_is_left ? 1 : 0;
  }
  if (!has_weight) return std::nullopt;
  // Depth of the deepest leaf, iteratively.
  std::vector<std::pair<std::int32_t, int>> stack = {{0, 0}};
  while (!stack.empty()) {
    const auto [node, depth] = stack.back();
    stack.pop_back();
    tree.max_depth = std::max(tree.max_depth, depth);
    if (!tree.is_leaf[static_cast<std::size_t>(node)]) {
      stack.push_back({tree.left[static_cast<std::size_t>(node)], depth + 1});
      stack.push_back({tree.right[static_cast<std::size_t>(node)], depth + 1});
    }
  }
  FillNodeMeans(tree);
  return tree;
}

std::optional<TreeEnsembleView> TreeView(const OnnxModel& model) {
  const onnx::Session& session = model.session();
  const onnx::Node* node = session.Producer(model.output_layout().tensor);
  const onnx::Kernel* kernel = session.ProducerKernel(model.output_layout().tensor);
  if (node == nullptr || kernel == nullptr) return std::nullopt;
  const onnx::TreeEnsembleData* data = onnx::TreeEnsembleOf(*kernel);
  if (data == nullptr || !IsModelInputs(session, model.input_layout(), node->inputs[0])) return std::nullopt;
  const std::optional<TreeLink> link = LinkOf(*data);
  if (!link) return std::nullopt;
  TreeEnsembleView view;
  view.split_rule = SplitRule::kLess;
  view.link = *link;
  view.base_margin = data->base_values;
  view.features = model.Info().inputs;
  const bool average = !data->classifier && data->aggregate == onnx::TreeEnsembleData::Aggregate::kAverage;
  const double scale = average ? 1.0 / static_cast<double>(data->trees.size()) : 1.0;
  const bool double_input = model.input_layout().types[0] == DataType::kDouble;
  for (const onnx::EnsembleTree& source : data->trees) {
    for (std::int64_t output = 0; output < data->n_scores; ++output) {
      std::optional<Tree> tree = ViewTree(source, static_cast<int>(output), scale, double_input);
      const bool unsupported_split =
          std::any_of(source.mode.begin(), source.mode.end(),
                      [](onnx::NodeMode m) { return m == onnx::NodeMode::kEq || m == onnx::NodeMode::kNeq; });
      if (unsupported_split) return std::nullopt;
      if (tree) view.trees.push_back(std::move(*tree));
    }
  }
  return view;
}

// ---- Loading --------------------------------------------------------------------------------------------

// Runs one row of zeros through the graph: a kernel that finds shapes disagreeing refuses the model now
// (exit 2) rather than at the first prediction. Returns the widths of the output and raw tensors.
Result<std::pair<std::int64_t, std::int64_t>> DryRun(const OnnxModel& model,
                                                     const std::filesystem::path& path) {
  const std::vector<double> zeros(model.Info().inputs.size(), 0.0);
  auto output = model.RunRows(zeros.data(), 1, OutputSpace::kProbability);
  if (!output.ok()) return Refuse(path, output.status().message());
  auto raw = model.RunRows(zeros.data(), 1, OutputSpace::kRaw);
  if (!raw.ok()) return Refuse(path, raw.status().message());
  return std::pair{Width(*output), Width(*raw)};
}

Result<ModelInfo> Describe(const std::filesystem::path& path, const InputLayout& inputs,
                           const OutputLayout& outputs, std::int64_t width, std::int64_t raw_width) {
  ModelInfo info;
  info.name = path.stem().string();
  info.inputs = inputs.inputs;
  info.task = outputs.task;
  if (outputs.task == Task::kRegression) {
    for (std::int64_t k = 0; k < width; ++k)
      info.output_names.push_back(width == 1 ? "value" : "value" + std::to_string(k));
    info.raw_output_names = info.output_names;
    return info;
  }
  std::vector<std::string> labels = outputs.labels;
  if (labels.empty()) {
    for (std::int64_t k = 0; k < width; ++k) labels.push_back(std::to_string(k));
  }
  if (static_cast<std::int64_t>(labels.size()) != width) {
    return Refuse(path, "the classifier has " + std::to_string(labels.size()) + " class labels but gives " +
                            std::to_string(width) + " probabilities per row.");
  }
  info.output_names = labels;
  if (raw_width == width)
    info.raw_output_names = labels;
  else if (raw_width == 1 && width == 2)
    info.raw_output_names = {labels[1]};  // a binary margin
  else
    return Refuse(path, "the classifier gives " + std::to_string(raw_width) + " raw scores for " +
                            std::to_string(width) + " classes.");
  return info;
}

// ---- Text models ----------------------------------------------------------------------------------------

// How texts become the graph's inputs, and which tensors hold the attention probabilities.
struct TextLayout {
  DataType ids_type = DataType::kInt64;
  std::vector<std::string>
      extra_inputs;  // per graph input after the ids: "attention_mask" or "token_type_ids"
  std::vector<DataType> extra_types;
  std::vector<std::string> attention;  // tensors, one per self-attention layer
};

Result<TextLayout> ReadTextInputs(const onnx::Session& session, const std::vector<std::string>& attention) {
  const onnx::Graph& graph = session.graph();
  TextLayout layout;
  if (graph.inputs.empty()) return Refuse(graph.source, "the graph has no inputs.");
  const onnx::ValueInfo& ids = graph.inputs.front();
  if (!ids.is_tensor || !onnx::IsIntegral(ids.type) || (ids.has_shape && ids.shape.size() != 2)) {
    return Refuse(graph.source, "input '" + ids.name + "' is a " + onnx::DataTypeName(ids.type) +
                                    " tensor of " + std::to_string(ids.shape.size()) +
                                    " dimensions; a text model's first input holds token ids, int64 [N, T].");
  }
  layout.ids_type = ids.type;
  for (std::size_t k = 1; k < graph.inputs.size(); ++k) {
    const onnx::ValueInfo& input = graph.inputs[k];
    if (input.name != "attention_mask" && input.name != "token_type_ids") {
      return Refuse(graph.source, "input '" + input.name +
                                      "' is neither attention_mask nor token_type_ids, the inputs a text "
                                      "model takes after its token ids.");
    }
    layout.extra_inputs.push_back(input.name);
    layout.extra_types.push_back(input.type);
  }
  // A name is a tensor, or a node whose first output is the tensor.
  for (const std::string& name : attention) {
    std::string tensor = name;
    if (session.Producer(name) == nullptr) {
      for (const onnx::Node& node : graph.nodes) {
        if (node.name == name && !node.outputs.empty()) tensor = node.outputs[0];
      }
    }
    if (session.Producer(tensor) == nullptr) {
      return Refuse(graph.source, "model.attention names '" + name +
                                      "', which is neither a tensor computed from the inputs nor a node.");
    }
    layout.attention.push_back(tensor);
  }
  return layout;
}

// A graph over token ids with a tokenizer: the "text" capability, and "attention" when the pipeline names
// the attention tensors. Texts are run in groups of equal token count, so no padding enters the network.
class OnnxTextModel final : public Model, public TextModel, public AttentionSource, public TextGradientModel {
 public:
  OnnxTextModel(std::string source, std::unique_ptr<onnx::Session> session, model::Tokenizer tokenizer,
                TextLayout inputs, OutputLayout outputs)
      : source_(std::move(source)),
        session_(std::move(session)),
        tokenizer_(std::move(tokenizer)),
        inputs_(std::move(inputs)),
        outputs_(std::move(outputs)) {}

  void SetInfo(ModelInfo info) { info_ = std::move(info); }
  void SetHeads(std::int64_t heads) { heads_ = heads; }

  const ModelInfo& Info() const override { return info_; }
  const TextModel* text_model() const override { return this; }
  const AttentionSource* attention_source() const override {
    return inputs_.attention.empty() ? nullptr : this;
  }
  const TextGradientModel* text_gradient_model() const override { return gradients_[0] ? this : nullptr; }
  std::string GradientRefusal() const override { return gradient_refusal_; }

  // The "text_gradient" capability (onnx/backward.hpp): the differentiated layer is the output of the
  // embedding Gather (a constant float table [V, width] indexed by the token ids, the word embeddings before
  // positions are added, as for the native transformer). Offered when the token ids feed nothing else but
  // Shape nodes (the rest of the network then runs on any values given for that output) and every node
  // between it and the output tensors has a backward; otherwise GradientRefusal() says why.
  void PrepareTextGradient(const std::filesystem::path& path, bool bf16) {
    const onnx::Graph& graph = session_->graph();
    const auto refuse = [&](const std::string& why) {
      gradient_refusal_ = "ONNX model '" + path.string() + "' offers no text gradient: " + why;
    };
    if (bf16) return refuse("its dense layers run in bf16 (model.precision: bf16).");
    const std::string& ids = graph.inputs.front().name;
    const onnx::Node* gather = nullptr;
    for (const onnx::Node& node : graph.nodes) {
      if (std::find(node.inputs.begin(), node.inputs.end(), ids) == node.inputs.end()) continue;
      if (node.domain.empty() && node.op_type == "Shape") continue;
      const onnx::Value* table = node.inputs.size() == 2 ? session_->ConstantValue(node.inputs[0]) : nullptr;
      const bool embedding = node.domain.empty() && node.op_type == "Gather" && node.inputs[1] == ids &&
                             onnx::IntAttr(node, "axis", 0) == 0 && table != nullptr && table->is_float() &&
                             table->shape.size() == 2;
      if (!embedding || gather != nullptr) {
        return refuse("node '" + node.name + "' (op " + node.op_type + ") reads the token ids '" + ids +
                      "', and Loupe differentiates through one embedding Gather of a constant table only.");
      }
      gather = &node;
    }
    if (gather == nullptr) return refuse("no Gather of a constant embedding table reads the token ids.");
    table_ = session_->ConstantValue(gather->inputs[0]);
    embedding_tensor_ = gather->outputs[0];
    embedding_name_ = gather->inputs[0];
    width_ = table_->shape[1];
    const std::int64_t pad = tokenizer_.pad_id();
    if (pad >= 0 && pad < table_->shape[0]) {
      pad_embedding_.assign(table_->f.begin() + pad * width_, table_->f.begin() + (pad + 1) * width_);
    }
    for (int space = 0; space < 2; ++space) {
      auto program = onnx::GradientProgram::Create(*session_, {embedding_tensor_},
                                                   space == 0 ? outputs_.tensor : outputs_.raw_tensor);
      if (!program.ok()) {
        gradient_refusal_ = program.status().message();
        gradients_[0].reset();
        return;
      }
      gradients_[space] = std::move(program).value();
    }
  }

  // --- TextGradientModel ---
  std::int64_t EmbeddingWidth() const override { return width_; }
  const std::string& EmbeddingLayerName() const override { return embedding_name_; }
  const std::vector<float>& PadEmbedding() const override { return pad_embedding_; }
  Result<std::vector<float>> PadEmbeddings(std::int64_t t) const override {
    if (pad_embedding_.empty())
      return InvalidArgument("model '" + info_.name + "' has no padding token for a pad baseline.");
    std::vector<float> values;
    for (std::int64_t s = 0; s < t; ++s)
      values.insert(values.end(), pad_embedding_.begin(), pad_embedding_.end());
    return values;
  }

  Result<std::vector<TokenEmbeddings>> Embed(const std::vector<std::string>& texts) const override {
    std::vector<TokenEmbeddings> embedded(texts.size());
    for (std::size_t k = 0; k < texts.size(); ++k) {
      TokenEmbeddings& e = embedded[k];
      e.tokens = tokenizer_.Tokenize(texts[k]);
      e.values.reserve(static_cast<std::size_t>(e.tokens.size() * width_));
      for (const std::int64_t id : e.tokens.ids) {
        if (id < 0 || id >= table_->shape[0]) {
          return InvalidArgument("model '" + info_.name + "': token id " + std::to_string(id) +
                                 " is outside the embedding table '" + embedding_name_ + "'.");
        }
        e.values.insert(e.values.end(), table_->f.begin() + id * width_,
                        table_->f.begin() + (id + 1) * width_);
      }
    }
    return embedded;
  }

  Status LayerGradient(std::span<const float> values, std::int64_t n, std::int64_t t,
                       std::span<const std::int64_t> lengths, OutputSpace space,
                       std::span<const double> weights, std::span<float> gradients,
                       std::span<double> outputs) const override {
    const auto n_out = static_cast<std::int64_t>(info_.OutputNames(space).size());
    const std::int64_t per_row = t * width_;
    if (static_cast<std::int64_t>(values.size()) != n * per_row ||
        static_cast<std::int64_t>(gradients.size()) != n * per_row ||
        static_cast<std::int64_t>(lengths.size()) != n ||
        static_cast<std::int64_t>(weights.size()) != n * n_out ||
        (!outputs.empty() && static_cast<std::int64_t>(outputs.size()) != n * n_out)) {
      return InvalidArgument("model '" + info_.name + "': the layer gradient of " + std::to_string(n) +
                             " rows of " + std::to_string(t) + " steps takes values and gradients of " +
                             std::to_string(n * per_row) + " floats, " + std::to_string(n) + " lengths and " +
                             std::to_string(n * n_out) + " weights.");
    }
    std::map<std::int64_t, std::vector<std::int64_t>> groups;  // rows by length, so no padding enters
    for (std::int64_t r = 0; r < n; ++r) {
      const std::int64_t length = lengths[static_cast<std::size_t>(r)];
      if (length < 1 || length > t) {
        return InvalidArgument("model '" + info_.name + "': row " + std::to_string(r) + " has length " +
                               std::to_string(length) + ", outside [1, " + std::to_string(t) + "].");
      }
      groups[length].push_back(r);
    }
    std::fill(gradients.begin(), gradients.end(), 0.0f);
    const onnx::GradientProgram& program = *gradients_[space == OutputSpace::kRaw ? 1 : 0];
    for (const auto& group : groups) {
      // Not a structured binding: the seed lambda below captures `members` (Clang 14 refuses bindings).
      const std::int64_t length = group.first;
      const std::vector<std::int64_t>& members = group.second;
      for (std::size_t begin = 0; begin < members.size(); begin += static_cast<std::size_t>(kChunkRows)) {
        const std::size_t end = std::min(members.size(), begin + static_cast<std::size_t>(kChunkRows));
        const auto rows = static_cast<std::int64_t>(end - begin);
        std::vector<float> given;
        given.reserve(static_cast<std::size_t>(rows * length * width_));
        for (std::size_t k = begin; k < end; ++k) {
          const float* from = values.data() + members[k] * per_row;
          given.insert(given.end(), from, from + length * width_);
        }
        // Token ids of 0: the Gather's output is replaced by the given values, and Shape nodes read only
        // the ids' shape.
        std::vector<TokenizedText> dummy(1);
        dummy[0].ids.assign(static_cast<std::size_t>(length), 0);
        const std::vector<std::size_t> same(static_cast<std::size_t>(rows), 0);
        const std::vector<onnx::Value> overrides = {
            onnx::Value::Floats({rows, length, width_}, std::move(given))};
        const auto seed = [&](const onnx::Value& y) -> Result<onnx::Value> {
          if (y.size() != rows * n_out) {
            return ModelError("model '" + info_.name + "' computed " + onnx::ShapeText(y.shape) + " for " +
                              std::to_string(rows) + " texts and " + std::to_string(n_out) + " outputs.");
          }
          std::vector<float> w;
          for (std::size_t k = begin; k < end; ++k) {
            for (std::int64_t o = 0; o < n_out; ++o)
              w.push_back(static_cast<float>(weights[static_cast<std::size_t>(members[k] * n_out + o)]));
          }
          return onnx::Value::Floats(y.shape, std::move(w));
        };
        LOUPE_ASSIGN_OR_RETURN(const onnx::GradientProgram::Pass pass,
                               program.Run(Feeds(dummy, same, length), seed, overrides));
        for (std::size_t k = begin; k < end; ++k) {
          const auto local = static_cast<std::int64_t>(k - begin);
          const double* from = pass.gradient[0].d.data() + local * length * width_;
          float* to = gradients.data() + members[k] * per_row;
          for (std::int64_t e = 0; e < length * width_; ++e) to[e] = static_cast<float>(from[e]);
          if (outputs.empty()) continue;
          for (std::int64_t o = 0; o < n_out; ++o) {
            outputs[static_cast<std::size_t>(members[k] * n_out + o)] =
                onnx::NumberAt(pass.output, local * n_out + o);
          }
        }
      }
    }
    return Status::Ok();
  }

  Result<Tensor> Predict(const TensorView& batch, OutputSpace space) const override {
    (void)batch;
    (void)space;
    return InvalidArgument("model '" + info_.name + "' reads text: its input '" + info_.inputs[0].name +
                           "' holds row numbers of a dataset's text column, which only the host can resolve; "
                           "evaluate it through a FeatureModel or the model's text capability.");
  }

  // --- TextModel ---
  Result<TokenizedText> Tokenize(std::string_view text) const override { return tokenizer_.Tokenize(text); }

  Result<Tensor> PredictText(const std::vector<std::string>& texts, OutputSpace space) const override {
    const bool raw = space == OutputSpace::kRaw;
    const std::string& tensor = raw ? outputs_.raw_tensor : outputs_.tensor;
    const auto n_out = static_cast<std::int64_t>(info_.OutputNames(space).size());
    Tensor result(DType::kF64, {static_cast<std::int64_t>(texts.size()), n_out});
    onnx::RunContext context;
    context.raw_scores = raw && outputs_.raw_from_context;
    auto write = [&](const std::vector<std::size_t>& rows, std::int64_t, std::vector<onnx::Value>& values) {
      const onnx::Value& y = values[0];
      if (y.size() != static_cast<std::int64_t>(rows.size()) * n_out) {
        return ModelError("model '" + info_.name + "' computed " + onnx::ShapeText(y.shape) + " for " +
                          std::to_string(rows.size()) + " texts and " + std::to_string(n_out) + " outputs.");
      }
      for (std::size_t r = 0; r < rows.size(); ++r) {
        double* to = result.data<double>() + static_cast<std::int64_t>(rows[r]) * n_out;
        for (std::int64_t k = 0; k < n_out; ++k)
          to[k] = onnx::NumberAt(y, static_cast<std::int64_t>(r) * n_out + k);
      }
      return Status::Ok();
    };
    LOUPE_RETURN_IF_ERROR(RunGroups(texts, {tensor}, context, nullptr, write));
    return result;
  }

  // --- AttentionSource ---
  std::int64_t AttentionLayers() const override {
    return static_cast<std::int64_t>(inputs_.attention.size());
  }
  std::int64_t AttentionHeads() const override { return heads_; }
  bool HasPooling() const override { return false; }

  Result<std::vector<AttentionMaps>> Attention(const std::vector<std::string>& texts) const override {
    std::vector<AttentionMaps> maps(texts.size());
    std::vector<TokenizedText> tokens;
    auto write = [&](const std::vector<std::size_t>& rows, std::int64_t t, std::vector<onnx::Value>& values) {
      for (std::size_t r = 0; r < rows.size(); ++r) {
        AttentionMaps& m = maps[rows[r]];
        m.tokens = std::move(tokens[rows[r]]);
        m.layers = AttentionLayers();
        m.heads = heads_;
        m.probabilities.reserve(static_cast<std::size_t>(m.layers * m.heads * t * t));
      }
      for (std::size_t l = 0; l < values.size(); ++l) {
        const onnx::Value& a = values[l];
        const auto n = static_cast<std::int64_t>(rows.size());
        if (!a.is_float() || a.size() != n * heads_ * t * t) {
          return ModelError("model '" + info_.name + "': attention tensor '" + inputs_.attention[l] +
                            "' is " + onnx::DataTypeName(a.type) + " " + onnx::ShapeText(a.shape) + " for " +
                            std::to_string(n) + " texts of " + std::to_string(t) + " tokens; expected [" +
                            std::to_string(n) + ", " + std::to_string(heads_) + ", T, T] probabilities.");
        }
        for (std::size_t r = 0; r < rows.size(); ++r) {
          const float* from = a.f.data() + static_cast<std::int64_t>(r) * heads_ * t * t;
          maps[rows[r]].probabilities.insert(maps[rows[r]].probabilities.end(), from, from + heads_ * t * t);
        }
      }
      return Status::Ok();
    };
    LOUPE_RETURN_IF_ERROR(RunGroups(texts, inputs_.attention, onnx::RunContext{}, &tokens, write));
    return maps;
  }

  // The heads of the attention tensors for one text of `t` tokens (the load-time check).
  Result<std::int64_t> CountHeads() const {
    std::int64_t heads = 0;
    auto count = [&](const std::vector<std::size_t>&, std::int64_t t, std::vector<onnx::Value>& values) {
      for (std::size_t l = 0; l < values.size(); ++l) {
        const onnx::Value& a = values[l];
        const std::int64_t h = t > 0 ? a.size() / (t * t) : 0;
        const bool square =
            a.shape.size() >= 3 && a.shape[a.shape.size() - 1] == t && a.shape[a.shape.size() - 2] == t;
        if (!a.is_float() || !square || h * t * t != a.size() || (l > 0 && h != heads)) {
          return Refuse(source_, "attention tensor '" + inputs_.attention[l] + "' is " +
                                     onnx::DataTypeName(a.type) + " " + onnx::ShapeText(a.shape) +
                                     " for one text of " + std::to_string(t) +
                                     " tokens; expected float [1, H, " + std::to_string(t) + ", " +
                                     std::to_string(t) + "] or [H, " + std::to_string(t) + ", " +
                                     std::to_string(t) + "] with the same H in every layer.");
        }
        heads = h;
      }
      return Status::Ok();
    };
    LOUPE_RETURN_IF_ERROR(RunGroups({"a b c"}, inputs_.attention, onnx::RunContext{}, nullptr, count));
    return heads;
  }

  // Widths of the output and raw tensors for one text (the load-time dry run, which also finds shapes
  // that disagree).
  Result<std::pair<std::int64_t, std::int64_t>> OutputWidths() const {
    std::vector<std::int64_t> widths;
    auto read = [&](const std::vector<std::size_t>&, std::int64_t, std::vector<onnx::Value>& values) {
      widths.push_back(Width(values[0]));
      return Status::Ok();
    };
    onnx::RunContext raw;
    raw.raw_scores = outputs_.raw_from_context;
    LOUPE_RETURN_IF_ERROR(RunGroups({"a b c"}, {outputs_.tensor}, onnx::RunContext{}, nullptr, read));
    LOUPE_RETURN_IF_ERROR(RunGroups({"a b c"}, {outputs_.raw_tensor}, raw, nullptr, read));
    return std::pair{widths[0], widths[1]};
  }

 private:
  // Tokenizes `texts`, groups them by token count (in increasing count, rows in order: the same groups on
  // every run) and runs each group in chunks of kChunkRows, handing `consume` the rows, their token count
  // and the `wanted` tensors. `tokens`, when given, receives every text's tokens before the first run.
  template <typename Consume>
  Status RunGroups(const std::vector<std::string>& texts, const std::vector<std::string>& wanted,
                   const onnx::RunContext& context, std::vector<TokenizedText>* tokens,
                   Consume&& consume) const {
    std::vector<TokenizedText> tokenized(texts.size());
    std::map<std::int64_t, std::vector<std::size_t>> groups;
    for (std::size_t k = 0; k < texts.size(); ++k) {
      tokenized[k] = tokenizer_.Tokenize(texts[k]);
      if (tokenized[k].size() == 0) {
        return InvalidArgument("model '" + info_.name + "': text " + std::to_string(k) +
                               " has no tokens, and the network needs at least one.");
      }
      groups[tokenized[k].size()].push_back(k);
    }
    if (tokens != nullptr) *tokens = tokenized;
    for (const auto& [t, members] : groups) {
      for (std::size_t begin = 0; begin < members.size(); begin += static_cast<std::size_t>(kChunkRows)) {
        const std::size_t end = std::min(members.size(), begin + static_cast<std::size_t>(kChunkRows));
        const std::vector<std::size_t> rows(members.begin() + static_cast<std::ptrdiff_t>(begin),
                                            members.begin() + static_cast<std::ptrdiff_t>(end));
        LOUPE_ASSIGN_OR_RETURN(std::vector<onnx::Value> values,
                               session_->Run(Feeds(tokenized, rows, t), wanted, context));
        LOUPE_RETURN_IF_ERROR(consume(rows, t, values));
      }
    }
    return Status::Ok();
  }

  std::vector<onnx::Value> Feeds(const std::vector<TokenizedText>& tokenized,
                                 const std::vector<std::size_t>& rows, std::int64_t t) const {
    const auto n = static_cast<std::int64_t>(rows.size());
    std::vector<std::int64_t> ids;
    ids.reserve(static_cast<std::size_t>(n * t));
    for (const std::size_t r : rows) ids.insert(ids.end(), tokenized[r].ids.begin(), tokenized[r].ids.end());
    std::vector<onnx::Value> feeds;
    feeds.push_back(onnx::Value::Ints({n, t}, std::move(ids), inputs_.ids_type));
    for (std::size_t k = 0; k < inputs_.extra_inputs.size(); ++k) {
      onnx::Value v = onnx::Value::Zeros(inputs_.extra_types[k], {n, t});
      if (inputs_.extra_inputs[k] == "attention_mask") {
        std::fill(v.f.begin(), v.f.end(), 1.0f);
        std::fill(v.d.begin(), v.d.end(), 1.0);
        std::fill(v.i.begin(), v.i.end(), 1);
      }
      feeds.push_back(std::move(v));
    }
    return feeds;
  }

  std::string source_;
  ModelInfo info_;
  std::unique_ptr<onnx::Session> session_;
  model::Tokenizer tokenizer_;
  TextLayout inputs_;
  OutputLayout outputs_;
  std::int64_t heads_ = 0;
  // text_gradient: per output space (probability, raw) the backward program from the embedding Gather's
  // output; none when gradient_refusal_ says why.
  std::unique_ptr<onnx::GradientProgram> gradients_[2];
  std::string gradient_refusal_;
  const onnx::Value* table_ = nullptr;  // the embedding table [V, width] (a session constant)
  std::string embedding_tensor_, embedding_name_;
  std::int64_t width_ = 0;
  std::vector<float> pad_embedding_;
};

onnx::SessionOptions SessionOptionsOf(const OnnxLoadOptions& options) {
  return {.precision = options.bf16 ? nn::Precision::kBF16 : nn::Precision::kF32};
}

Result<std::shared_ptr<const Model>> LoadOnnxTextModel(const std::filesystem::path& path, onnx::Graph graph,
                                                       const OnnxLoadOptions& options) {
  if (options.features.size() > 1) {
    return Refuse(path, "a text model reads one text column, but model.features names " +
                            std::to_string(options.features.size()) + ".");
  }
  auto tokenizer = model::Tokenizer::FromHuggingFace(options.tokenizer, std::nullopt);
  if (!tokenizer.ok()) return Refuse(path, "model.tokenizer: " + tokenizer.status().message());
  LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<onnx::Session> session,
                         onnx::Session::Create(std::move(graph), SessionOptionsOf(options)));
  LOUPE_ASSIGN_OR_RETURN(TextLayout inputs, ReadTextInputs(*session, options.attention));
  LOUPE_ASSIGN_OR_RETURN(const OutputLayout outputs, ReadOutputs(*session));
  auto text_model = std::make_shared<OnnxTextModel>(path.string(), std::move(session), std::move(*tokenizer),
                                                    std::move(inputs), outputs);
  ModelInput input;
  input.name = options.features.empty() ? "text" : options.features[0];
  input.type = ColumnType::kText;
  InputLayout described_inputs;
  described_inputs.inputs = {input};
  ModelInfo provisional;
  provisional.name = path.stem().string();
  provisional.inputs = {input};
  text_model->SetInfo(provisional);
  auto widths = text_model->OutputWidths();
  if (!widths.ok()) return Refuse(path, widths.status().message());
  LOUPE_ASSIGN_OR_RETURN(ModelInfo info,
                         Describe(path, described_inputs, outputs, widths->first, widths->second));
  text_model->SetInfo(std::move(info));
  if (!options.attention.empty()) {
    LOUPE_ASSIGN_OR_RETURN(const std::int64_t heads, text_model->CountHeads());
    text_model->SetHeads(heads);
  }
  text_model->PrepareTextGradient(path, options.bf16);
  return std::shared_ptr<const Model>(std::move(text_model));
}

}  // namespace

Result<std::shared_ptr<const Model>> LoadOnnxModel(const std::filesystem::path& path,
                                                   const OnnxLoadOptions& options) {
  LOUPE_ASSIGN_OR_RETURN(onnx::Graph graph, onnx::ReadGraph(path));
  if (!options.tokenizer.empty()) return LoadOnnxTextModel(path, std::move(graph), options);
  if (!options.attention.empty()) {
    return Refuse(path, "model.attention needs model.tokenizer: attention maps are read for texts.");
  }
  LOUPE_ASSIGN_OR_RETURN(InputLayout inputs, ReadInputs(graph));
  LOUPE_RETURN_IF_ERROR(RenameInputs(graph, options.features, inputs));
  LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<onnx::Session> session,
                         onnx::Session::Create(std::move(graph), SessionOptionsOf(options)));
  LOUPE_ASSIGN_OR_RETURN(const OutputLayout outputs, ReadOutputs(*session));
  // The output names come from the dry run's widths: the model starts with its inputs only and is
  // completed before anyone else sees it.
  ModelInfo provisional;
  provisional.name = path.stem().string();
  provisional.inputs = inputs.inputs;
  auto described = std::make_shared<OnnxModel>(std::move(provisional), std::move(session), inputs, outputs);
  LOUPE_ASSIGN_OR_RETURN(const auto widths, DryRun(*described, path));
  LOUPE_ASSIGN_OR_RETURN(ModelInfo info, Describe(path, inputs, outputs, widths.first, widths.second));
  described->SetInfo(std::move(info));
  described->PrepareGradient(path, options.bf16);
  if (std::optional<TreeEnsembleView> view = TreeView(*described)) described->SetTrees(std::move(*view));
  return std::shared_ptr<const Model>(std::move(described));
}

}  // namespace loupe
