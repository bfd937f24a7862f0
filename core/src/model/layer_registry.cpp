#include "model/layer_registry.hpp"

#include <mutex>

#include "config/messages.hpp"

namespace loupe::model {

using nlohmann::json;

std::string ActivationShape::ToString() const {
  if (ids) return "[n, t] token ids";
  return (sequence ? "[n, t, " : "[n, ") + std::to_string(width) + "]";
}

void Activations::Resize(std::int64_t rows, std::int64_t steps, std::int64_t features) {
  n = rows;
  t = steps;
  width = features;
  values.assign(static_cast<std::size_t>(rows * std::max<std::int64_t>(steps, 1) * features), 0.0f);
}

Status ErrorAt(const config::YamlDocument& doc, const std::string& pointer, const std::string& message) {
  return InvalidArgument(Diagnostic{doc.At(pointer), message}.ToString());
}

namespace {

const json* FindNode(const config::YamlDocument& doc, const std::string& pointer) {
  const json::json_pointer p(pointer);
  return doc.value.contains(p) ? &doc.value.at(p) : nullptr;
}

std::string Joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

}  // namespace

LayerContext::LayerContext(const config::YamlDocument& doc, std::string pointer, std::size_t index,
                           ActivationShape input, const SafetensorsFile* weights, nn::Precision precision,
                           std::filesystem::path model_dir)
    : doc_(doc),
      pointer_(std::move(pointer)),
      index_(index),
      input_(input),
      weights_(weights),
      precision_(precision),
      model_dir_(std::move(model_dir)) {
  const json& n = node();
  if (n.is_object() && n.contains("type") && n["type"].is_string()) type_ = n["type"].get<std::string>();
  if (n.is_object() && n.contains("name")) {
    // nn.Sequential's state_dict prefixes are numbers ("0.weight"), which YAML reads as integers.
    const json& name = n["name"];
    if (name.is_string()) name_ = name.get<std::string>();
    if (name.is_number_unsigned()) name_ = name.dump();
  }
}

const json& LayerContext::node() const { return doc_.value.at(json::json_pointer(pointer_)); }

std::string LayerContext::Where() const {
  return "layer " + std::to_string(index_) + " (" + type_ + (name_.empty() ? "" : " " + name_) + ")";
}

Status LayerContext::Error(const std::string& key, const std::string& message) const {
  const std::string at = key.empty() ? pointer_ : pointer_ + "/" + key;
  return ErrorAt(doc_, FindNode(doc_, at) != nullptr ? at : pointer_, Where() + ": " + message);
}

Status LayerContext::CheckKeys(std::initializer_list<const char*> allowed) const {
  for (const auto& [key, value] : node().items()) {
    bool known = key == "type" || key == "name";
    std::string list = "type, name";
    for (const char* a : allowed) {
      known = known || key == a;
      list += ", " + std::string(a);
    }
    if (!known) {
      return InvalidArgument(
          Diagnostic{doc_.KeyAt(pointer_ + "/" + key),
                     Where() + ": unknown key '" + key + "'; expected one of: " + list + "."}
              .ToString());
    }
  }
  return Status::Ok();
}

bool LayerContext::Has(const std::string& key) const { return node().contains(key); }

Result<double> LayerContext::Number(const std::string& key, double fallback) const {
  if (!Has(key)) return fallback;
  const json& v = node()[key];
  if (!v.is_number())
    return Error(key, "'" + key + "' must be a number, found " + config::ValueText(v) + ".");
  return v.get<double>();
}

Result<bool> LayerContext::Bool(const std::string& key, bool fallback) const {
  if (!Has(key)) return fallback;
  const json& v = node()[key];
  if (!v.is_boolean())
    return Error(key, "'" + key + "' must be true or false, found " + config::ValueText(v) + ".");
  return v.get<bool>();
}

Result<std::string> LayerContext::String(const std::string& key, const std::string& fallback) const {
  if (!Has(key)) return fallback;
  const json& v = node()[key];
  if (!v.is_string())
    return Error(key, "'" + key + "' must be a string, found " + config::ValueText(v) + ".");
  return v.get<std::string>();
}

bool LayerContext::HasWeight(const std::string& suffix) const {
  return weights_ != nullptr && !name_.empty() && weights_->Find(name_ + "." + suffix) != nullptr;
}

Result<Shape> LayerContext::WeightShape(const std::string& suffix) const {
  if (weights_ == nullptr) {
    return Error("name", "the model has no 'weights' file to read '" + name_ + "." + suffix + "' from.");
  }
  if (name_.empty()) return Error("", "the layer needs a 'name': the state_dict prefix of its weights.");
  const SafeTensorInfo* info = weights_->Find(name_ + "." + suffix);
  if (info == nullptr) {
    return Error("name", "'" + weights_->file() + "' has no tensor '" + name_ + "." + suffix + "'.");
  }
  return info->shape;
}

Result<std::vector<float>> LayerContext::Weight(const std::string& suffix, const Shape& expected) const {
  LOUPE_ASSIGN_OR_RETURN(const Shape shape, WeightShape(suffix));
  bool matches = shape.size() == expected.size();
  Shape shown = expected;
  for (std::size_t d = 0; d < expected.size(); ++d) {
    if (expected[d] < 0 && d < shape.size()) shown[d] = shape[d];  // "any size" shows as found
    matches = matches && d < shape.size() && (expected[d] < 0 || expected[d] == shape[d]);
  }
  if (!matches) {
    return Error("name",
                 suffix + " has shape " + ShapeToString(shape) + ", expected " + ShapeToString(shown) + ".");
  }
  const SafeTensorInfo* info = weights_->Find(name_ + "." + suffix);
  if (!info->floating()) {
    return Error("name", suffix + " '" + info->name + "' has dtype " + SafeDTypeName(info->dtype) +
                             ", expected a floating-point dtype (F32, F16, BF16 or F64).");
  }
  return weights_->Floats(info->name);
}

InputContext::InputContext(const config::YamlDocument& doc, std::string pointer, std::size_t index,
                           std::filesystem::path model_dir)
    : doc_(doc), pointer_(std::move(pointer)), index_(index), model_dir_(std::move(model_dir)) {}

const json& InputContext::node() const { return doc_.value.at(json::json_pointer(pointer_)); }

Status InputContext::Error(const std::string& key, const std::string& message) const {
  const std::string at = key.empty() ? pointer_ : pointer_ + "/" + key;
  return ErrorAt(doc_, FindNode(doc_, at) != nullptr ? at : pointer_,
                 "input " + std::to_string(index_) + ": " + message);
}

const LayerFactory* KindRegistry::FindLayer(const std::string& type) const {
  const auto it = layers_.find(type);
  return it == layers_.end() ? nullptr : &it->second;
}

const InputFactory* KindRegistry::FindInput(const std::string& type) const {
  const auto it = inputs_.find(type);
  return it == inputs_.end() ? nullptr : &it->second;
}

std::string KindRegistry::LayerTypes() const {
  std::vector<std::string> names;
  for (const auto& [name, factory] : layers_) names.push_back(name);
  return Joined(names);
}

std::string KindRegistry::InputTypes() const {
  std::vector<std::string> names{"numeric", "categorical"};  // built into the tabular preprocessing
  for (const auto& [name, factory] : inputs_) names.push_back(name);
  return Joined(names);
}

const KindRegistry& Kinds() {
  static const KindRegistry registry = [] {
    KindRegistry r;
    RegisterDenseKinds(r);
    RegisterTextKinds(r);
    return r;
  }();
  return registry;
}

}  // namespace loupe::model
