#include "model/native_model.hpp"

#include <cmath>
#include <sstream>

#include "config/yaml_document.hpp"

namespace loupe {
namespace {

using nlohmann::json;

struct InputEncoding {
  ModelInput input;
  bool has_impute = false;
  double impute = 0;
  double mean = 0, scale = 1;  // standardize: (x - mean) / scale
};

enum class LayerKind { kLinear, kRelu, kTanh, kSigmoid, kSoftmax };

struct Layer {
  LayerKind kind = LayerKind::kLinear;
  std::int64_t in = 0, out = 0;
  std::vector<double> weight;  // [out, in], PyTorch nn.Linear layout
  std::vector<double> bias;    // [out]
};

class NativeModel final : public Model {
 public:
  NativeModel(ModelInfo info, std::vector<InputEncoding> inputs, std::vector<Layer> layers,
              std::int64_t encoded_width)
      : info_(std::move(info)), inputs_(std::move(inputs)), layers_(std::move(layers)),
        encoded_width_(encoded_width) {}

  const ModelInfo& Info() const override { return info_; }

  Result<Tensor> Predict(const TensorView& batch, OutputSpace space) const override {
    const auto n_inputs = static_cast<std::int64_t>(inputs_.size());
    if (batch.ndim() != 2 || batch.dim(1) != n_inputs) {
      return InvalidArgument("model '" + info_.name + "' expects a batch of shape [n, " +
                             std::to_string(n_inputs) + "], found " + ShapeToString(batch.shape()) + ".");
    }
    const std::int64_t n = batch.dim(0);
    const std::size_t n_out = info_.OutputNames(space).size();
    Tensor result(DType::kF64, {n, static_cast<std::int64_t>(n_out)});
    std::vector<double> encoded(static_cast<std::size_t>(encoded_width_)), a, b;
    for (std::int64_t row = 0; row < n; ++row) {
      LOUPE_RETURN_IF_ERROR(Encode(batch.data<double>() + row * n_inputs, row, encoded));
      a = encoded;
      const bool classification = info_.task == Task::kClassification;
      const std::size_t last_hidden = classification ? layers_.size() - 1 : layers_.size();
      for (std::size_t l = 0; l < last_hidden; ++l) {
        Apply(layers_[l], a, b);
        std::swap(a, b);
      }
      double* out = result.data<double>() + row * static_cast<std::int64_t>(n_out);
      if (!classification || space == OutputSpace::kRaw) {
        std::copy(a.begin(), a.end(), out);
      } else if (layers_.back().kind == LayerKind::kSigmoid) {
        const double p = 1.0 / (1.0 + std::exp(-a[0]));
        out[0] = 1.0 - p;
        out[1] = p;
      } else {
        Apply(layers_.back(), a, b);
        std::copy(b.begin(), b.end(), out);
      }
    }
    return result;
  }

 private:
  Status Encode(const double* raw, std::int64_t row, std::vector<double>& encoded) const {
    std::size_t k = 0;
    for (const InputEncoding& enc : inputs_) {
      double x = raw[&enc - inputs_.data()];
      if (enc.input.type == ColumnType::kCategorical) {
        for (std::size_t level = 0; level < enc.input.levels.size(); ++level) {
          encoded[k++] = (!std::isnan(x) && static_cast<std::size_t>(x) == level) ? 1.0 : 0.0;
        }
        continue;
      }
      if (std::isnan(x)) {
        if (!enc.has_impute) {
          return ModelError("input '" + enc.input.name + "' is missing in batch row " + std::to_string(row) +
                            " and model '" + info_.name + "' has no impute value for it.");
        }
        x = enc.impute;
      }
      encoded[k++] = (x - enc.mean) / enc.scale;
    }
    return Status::Ok();
  }

  static void Apply(const Layer& layer, const std::vector<double>& in, std::vector<double>& out) {
    switch (layer.kind) {
      case LayerKind::kLinear:
        out.assign(static_cast<std::size_t>(layer.out), 0.0);
        for (std::int64_t o = 0; o < layer.out; ++o) {
          double sum = layer.bias.empty() ? 0.0 : layer.bias[static_cast<std::size_t>(o)];
          const double* w = layer.weight.data() + o * layer.in;
          for (std::int64_t i = 0; i < layer.in; ++i) sum += w[i] * in[static_cast<std::size_t>(i)];
          out[static_cast<std::size_t>(o)] = sum;
        }
        return;
      case LayerKind::kRelu:
        out = in;
        for (double& v : out) v = v > 0 ? v : 0;
        return;
      case LayerKind::kTanh:
        out = in;
        for (double& v : out) v = std::tanh(v);
        return;
      case LayerKind::kSigmoid:
        out = in;
        for (double& v : out) v = 1.0 / (1.0 + std::exp(-v));
        return;
      case LayerKind::kSoftmax: {
        out = in;
        double max = out.empty() ? 0 : out[0];
        for (double v : out) max = std::max(max, v);
        double sum = 0;
        for (double& v : out) sum += (v = std::exp(v - max));
        for (double& v : out) v /= sum;
        return;
      }
    }
  }

  ModelInfo info_;
  std::vector<InputEncoding> inputs_;
  std::vector<Layer> layers_;
  std::int64_t encoded_width_;
};

// Reads a model document, collecting the first error as "FILE:LINE:COL: message".
class ModelReader {
 public:
  explicit ModelReader(const config::YamlDocument& doc) : doc_(doc) {}

  Status Error(const std::string& pointer, const std::string& message) const {
    return InvalidArgument(Diagnostic{doc_.At(pointer), message}.ToString());
  }
  // An error about a key itself (an unknown key), placed at the key rather than its value.
  Status KeyError(const std::string& pointer, const std::string& message) const {
    return InvalidArgument(Diagnostic{doc_.KeyAt(pointer), message}.ToString());
  }
  const json* Find(const std::string& pointer) const {
    const json::json_pointer p(pointer);
    return doc_.value.contains(p) ? &doc_.value.at(p) : nullptr;
  }
  Result<std::string> String(const std::string& pointer, const std::string& what) const {
    const json* v = Find(pointer);
    if (v == nullptr) return Error(Parent(pointer), "the model has no '" + what + "'.");
    if (!v->is_string()) return Error(pointer, "'" + what + "' must be a string, found " + v->dump() + ".");
    return v->get<std::string>();
  }
  Result<double> Number(const std::string& pointer, const std::string& what) const {
    const json* v = Find(pointer);
    if (v == nullptr) return Error(Parent(pointer), "'" + what + "' is missing.");
    if (!v->is_number()) return Error(pointer, "'" + what + "' must be a number, found " + v->dump() + ".");
    return v->get<double>();
  }
  Result<std::vector<std::string>> Strings(const std::string& pointer, const std::string& what) const {
    const json* v = Find(pointer);
    if (v == nullptr) return Error(Parent(pointer), "'" + what + "' is missing.");
    std::vector<std::string> out;
    if (v->is_array()) {
      for (const json& item : *v) {
        if (!item.is_string() && !item.is_number()) break;
        out.push_back(item.is_string() ? item.get<std::string>() : item.dump());
      }
      if (out.size() == v->size()) return out;
    }
    return Error(pointer, "'" + what + "' must be a list of names, found " + v->dump() + ".");
  }
  // A numeric array of exactly `shape`, flattened row-major.
  Result<std::vector<double>> Array(const std::string& pointer, const std::string& what,
                                    const Shape& shape) const {
    const json* v = Find(pointer);
    if (v == nullptr) return Error(Parent(pointer), "'" + what + "' is missing.");
    std::vector<double> flat;
    if (!FlattenExact(*v, shape, 0, flat)) {
      return Error(pointer, what + " has shape " + ShapeToString(ShapeOf(*v)) + ", expected " +
                                ShapeToString(shape) + ".");
    }
    return flat;
  }

  static std::string Parent(const std::string& pointer) {
    const auto slash = pointer.rfind('/');
    return slash == std::string::npos ? "" : pointer.substr(0, slash);
  }

 private:
  static bool FlattenExact(const json& v, const Shape& shape, std::size_t depth, std::vector<double>& flat) {
    if (depth == shape.size()) {
      if (!v.is_number()) return false;
      flat.push_back(v.get<double>());
      return true;
    }
    if (!v.is_array() || static_cast<std::int64_t>(v.size()) != shape[depth]) return false;
    for (const json& item : v) {
      if (!FlattenExact(item, shape, depth + 1, flat)) return false;
    }
    return true;
  }
  // The shape along the first elements (what a person would call the array's shape).
  static Shape ShapeOf(const json& v) {
    Shape shape;
    for (const json* node = &v; node->is_array(); node = &node->front()) {
      shape.push_back(static_cast<std::int64_t>(node->size()));
      if (node->empty()) break;
    }
    return shape;
  }

  const config::YamlDocument& doc_;
};

Status CheckKeys(const ModelReader& reader, const json& object, const std::string& pointer,
                 std::initializer_list<const char*> allowed, const std::string& where) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    std::string list;
    for (const char* a : allowed) {
      known = known || key == a;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    if (!known) {
      return reader.KeyError(pointer + "/" + key,
                             "unknown key '" + key + "' in " + where + "; expected one of: " + list + ".");
    }
  }
  return Status::Ok();
}

Result<InputEncoding> ReadInput(const ModelReader& reader, const std::string& p, std::size_t index) {
  const json& node = *reader.Find(p);
  const std::string where = "input " + std::to_string(index);
  if (!node.is_object()) return reader.Error(p, where + " must be a mapping with name and type.");
  LOUPE_RETURN_IF_ERROR(
      CheckKeys(reader, node, p, {"name", "type", "levels", "impute", "standardize"}, where));
  InputEncoding enc;
  LOUPE_ASSIGN_OR_RETURN(enc.input.name, reader.String(p + "/name", where + " name"));
  LOUPE_ASSIGN_OR_RETURN(const std::string type, reader.String(p + "/type", where + " type"));
  if (type == "categorical") {
    enc.input.type = ColumnType::kCategorical;
    LOUPE_ASSIGN_OR_RETURN(enc.input.levels, reader.Strings(p + "/levels", "levels of '" + enc.input.name + "'"));
    return enc;
  }
  if (type != "numeric") {
    return reader.Error(p + "/type", "input '" + enc.input.name + "' has type '" + type +
                                         "'; expected numeric or categorical.");
  }
  if (reader.Find(p + "/impute") != nullptr) {
    enc.has_impute = true;
    LOUPE_ASSIGN_OR_RETURN(enc.impute, reader.Number(p + "/impute", "impute of '" + enc.input.name + "'"));
  }
  if (reader.Find(p + "/standardize") != nullptr) {
    LOUPE_ASSIGN_OR_RETURN(enc.mean, reader.Number(p + "/standardize/mean", "standardize.mean"));
    LOUPE_ASSIGN_OR_RETURN(enc.scale, reader.Number(p + "/standardize/std", "standardize.std"));
    if (!(enc.scale > 0)) return reader.Error(p + "/standardize/std", "standardize.std must be positive.");
  }
  return enc;
}

Result<Layer> ReadLayer(const ModelReader& reader, const std::string& p, std::size_t index, std::int64_t width) {
  const json& node = *reader.Find(p);
  const std::string where = "layer " + std::to_string(index);
  if (!node.is_object()) return reader.Error(p, where + " must be a mapping with a type.");
  LOUPE_ASSIGN_OR_RETURN(const std::string type, reader.String(p + "/type", where + " type"));
  Layer layer;
  layer.in = layer.out = width;
  if (type == "linear") {
    LOUPE_RETURN_IF_ERROR(
        CheckKeys(reader, node, p, {"type", "in_features", "out_features", "weight", "bias"}, where));
    LOUPE_ASSIGN_OR_RETURN(const double in, reader.Number(p + "/in_features", where + " in_features"));
    LOUPE_ASSIGN_OR_RETURN(const double out, reader.Number(p + "/out_features", where + " out_features"));
    layer.in = static_cast<std::int64_t>(in);
    layer.out = static_cast<std::int64_t>(out);
    if (layer.in != width) {
      return reader.Error(p + "/in_features", where + " (linear) takes " + std::to_string(layer.in) +
                                                  " features but receives " + std::to_string(width) + ".");
    }
    LOUPE_ASSIGN_OR_RETURN(layer.weight,
                           reader.Array(p + "/weight", where + " (linear) weight", {layer.out, layer.in}));
    if (reader.Find(p + "/bias") != nullptr) {
      LOUPE_ASSIGN_OR_RETURN(layer.bias, reader.Array(p + "/bias", where + " (linear) bias", {layer.out}));
    }
    return layer;
  }
  LOUPE_RETURN_IF_ERROR(CheckKeys(reader, node, p, {"type"}, where));
  if (type == "relu") layer.kind = LayerKind::kRelu;
  else if (type == "tanh") layer.kind = LayerKind::kTanh;
  else if (type == "sigmoid") layer.kind = LayerKind::kSigmoid;
  else if (type == "softmax") layer.kind = LayerKind::kSoftmax;
  else {
    return reader.Error(p + "/type", "unknown layer type '" + type +
                                         "'; expected linear, relu, tanh, sigmoid or softmax.");
  }
  return layer;
}

Result<std::shared_ptr<const Model>> BuildModel(const config::YamlDocument& doc) {
  const ModelReader reader(doc);
  if (!doc.value.is_object()) return reader.Error("", "a loupe.model/v1 file must be a mapping.");
  LOUPE_RETURN_IF_ERROR(CheckKeys(reader, doc.value, "",
                                  {"format", "name", "task", "classes", "outputs", "inputs", "layers"}, "the model"));
  LOUPE_ASSIGN_OR_RETURN(const std::string format, reader.String("/format", "format"));
  if (format != "loupe.model/v1") {
    return reader.Error("/format", "unsupported model format '" + format + "'; expected loupe.model/v1.");
  }
  ModelInfo info;
  LOUPE_ASSIGN_OR_RETURN(info.name, reader.String("/name", "name"));
  LOUPE_ASSIGN_OR_RETURN(const std::string task, reader.String("/task", "task"));
  if (task != "classification" && task != "regression") {
    return reader.Error("/task", "task must be classification or regression, found '" + task + "'.");
  }
  info.task = task == "classification" ? Task::kClassification : Task::kRegression;

  const json* inputs = reader.Find("/inputs");
  if (inputs == nullptr || !inputs->is_array() || inputs->empty()) {
    return reader.Error(inputs ? "/inputs" : "", "the model needs a non-empty list of 'inputs'.");
  }
  std::vector<InputEncoding> encodings;
  std::int64_t width = 0;
  for (std::size_t i = 0; i < inputs->size(); ++i) {
    LOUPE_ASSIGN_OR_RETURN(InputEncoding enc, ReadInput(reader, "/inputs/" + std::to_string(i), i));
    width += enc.input.type == ColumnType::kCategorical ? static_cast<std::int64_t>(enc.input.levels.size()) : 1;
    info.inputs.push_back(enc.input);
    encodings.push_back(std::move(enc));
  }
  const std::int64_t encoded_width = width;

  const json* layers_node = reader.Find("/layers");
  if (layers_node == nullptr || !layers_node->is_array() || layers_node->empty()) {
    return reader.Error(layers_node ? "/layers" : "", "the model needs a non-empty list of 'layers'.");
  }
  std::vector<Layer> layers;
  for (std::size_t i = 0; i < layers_node->size(); ++i) {
    LOUPE_ASSIGN_OR_RETURN(Layer layer, ReadLayer(reader, "/layers/" + std::to_string(i), i, width));
    width = layer.out;
    layers.push_back(std::move(layer));
  }

  const std::string last = "/layers/" + std::to_string(layers.size() - 1);
  if (info.task == Task::kClassification) {
    LOUPE_ASSIGN_OR_RETURN(const std::vector<std::string> classes, reader.Strings("/classes", "classes"));
    const LayerKind final_kind = layers.back().kind;
    const bool binary = final_kind == LayerKind::kSigmoid && width == 1 && classes.size() == 2;
    const bool multi = final_kind == LayerKind::kSoftmax && width == static_cast<std::int64_t>(classes.size());
    if (!binary && !multi) {
      return reader.Error(last, "a classifier must end in sigmoid over 1 output (2 classes) or softmax over one "
                                "output per class; the last layer gives " + std::to_string(width) +
                                " outputs for " + std::to_string(classes.size()) + " classes.");
    }
    info.output_names = classes;
    info.raw_output_names = binary ? std::vector<std::string>{classes[1]} : classes;
  } else {
    if (width != 1) return reader.Error(last, "a regressor must end with 1 output, found " + std::to_string(width) + ".");
    info.output_names = {"value"};
    if (reader.Find("/outputs") != nullptr) {
      LOUPE_ASSIGN_OR_RETURN(info.output_names, reader.Strings("/outputs", "outputs"));
    }
    info.raw_output_names = info.output_names;
  }
  return std::shared_ptr<const Model>(
      std::make_shared<NativeModel>(std::move(info), std::move(encodings), std::move(layers), encoded_width));
}

}  // namespace

Result<std::shared_ptr<const Model>> LoadNativeModel(const std::filesystem::path& path) {
  config::YamlParseOutcome parsed = config::LoadYamlFile(path);
  if (!parsed.diagnostics.empty()) return InvalidArgument(parsed.diagnostics.front().ToString());
  return BuildModel(*parsed.document);
}

}  // namespace loupe
