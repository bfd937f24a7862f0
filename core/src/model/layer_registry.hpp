// The extension point of the loupe.model/v1 loader (docs/architecture.md §5): layer kinds and input kinds are
// looked up by their YAML `type:` in a registry, so new kinds (text inputs, embeddings, LSTM, transformer
// encoders, pooling) live in their own files and native_model.cpp stays about the model as a whole.
//
// How to add kinds from your own file (core/src/model/text_*.cpp, say):
//   1. Implement Layer (and/or InputEncoder) and a factory per kind taking a LayerContext (InputContext).
//   2. Define `void RegisterTextKinds(KindRegistry& registry)` (declared below), calling
//      registry.AddLayer("lstm", &MakeLstm) and registry.AddInput("text", &MakeTextInput) for each kind.
//   3. Add the one line `RegisterTextKinds(registry);` to Kinds() in layer_registry.cpp. Kinds() calls
//      every Register*Kinds function once, on first use. They are called explicitly rather than through
//      static initialisers because the model code is a static library: an object file nothing refers to
//      would be dropped by the linker together with its registrars.
//
// Data flows between layers as Activations: f32, either [n, width] or sequences [n, t, width] with the
// valid length of each row (right padding). Before an embedding a sequence may carry token ids instead
// of values (width 0). A layer sees its input shape at build time (LayerContext::input) and declares its
// output shape; the loader checks the chain, so Forward only ever receives what its factory accepted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/yaml_document.hpp"
#include "loupe/core/model.hpp"
#include "model/safetensors.hpp"
#include "nn/ops.hpp"

namespace loupe::model {

// The shape of activations between layers, known at load time (n and t vary per batch).
struct ActivationShape {
  bool sequence = false;  // [n, t, width] rather than [n, width]
  bool ids = false;       // sequence of token ids (Activations::ids), before an embedding
  std::int64_t width = 0;

  std::string ToString() const;  // "[n, 16]", "[n, t, 64]", "[n, t] token ids"
};

struct Activations {
  std::int64_t n = 0;
  std::int64_t t = 0;  // sequence steps; 0 for [n, width]
  std::int64_t width = 0;
  std::vector<float> values;          // [n, width] or [n, t, width], row-major
  std::vector<std::int64_t> ids;      // [n, t] token ids when the shape says ids
  std::vector<std::int64_t> lengths;  // sequences: row i's steps [0, lengths[i]) are real, the rest padding

  bool sequence() const { return t > 0; }
  bool IsPadding(std::int64_t row, std::int64_t step) const {
    return step >= lengths[static_cast<std::size_t>(row)];
  }
  // Sets the shape and sizes `values` (zeros), keeping `lengths` and `ids` as they are.
  void Resize(std::int64_t rows, std::int64_t steps, std::int64_t features);
};

class Network;

class Layer {
 public:
  virtual ~Layer() = default;
  virtual ActivationShape output() const = 0;
  // Reentrant: called from many threads at once (docs/architecture.md §4). `out` is a different object than
  // `in`.
  virtual Status Forward(const Activations& in, Activations& out) const = 0;
  // Called once after the whole model is built, before it is shared: the network this layer is layer
  // `index` of. A capability that re-runs the model (attention maps) keeps the reference.
  virtual void Attach(const Network& network, std::size_t index) {
    (void)network;
    (void)index;
  }
};

// The model a layer belongs to, as far as its capabilities need it.
class Network {
 public:
  virtual ~Network() = default;
  // Encodes a model batch (f64 [n, inputs], see Model::Predict) and runs layers [0, end) on it.
  virtual Status Run(const TensorView& batch, std::size_t end, Activations& out) const = 0;
  virtual const ModelInfo& Info() const = 0;
};

// What a factory gets: the layer's YAML mapping, its position for messages, the incoming shape and the
// model's weights. Messages come out as "FILE:LINE:COL: layer 2 (linear net.4): ...".
class LayerContext {
 public:
  LayerContext(const config::YamlDocument& doc, std::string pointer, std::size_t index, ActivationShape input,
               const SafetensorsFile* weights, nn::Precision precision, std::filesystem::path model_dir);

  const nlohmann::json& node() const;  // the layer's mapping
  const std::string& pointer() const { return pointer_; }
  std::size_t index() const { return index_; }
  const std::string& type() const { return type_; }
  const std::string& name() const { return name_; }  // the state_dict prefix; empty when absent
  const ActivationShape& input() const { return input_; }
  nn::Precision precision() const { return precision_; }
  const std::filesystem::path& model_dir() const { return model_dir_; }
  const SafetensorsFile* weights() const { return weights_; }
  // "layer 2 (linear net.4)", or "layer 2 (relu)" without a name.
  std::string Where() const;

  // An error at the node `key` of this layer (or at the layer when the key is absent). The message is
  // prefixed with Where() + ": " — pass only the rest ("weight has shape [8, 16], expected [8, 32].").
  Status Error(const std::string& key, const std::string& message) const;
  // Rejects keys outside `allowed` ("type" and "name" are always allowed).
  Status CheckKeys(std::initializer_list<const char*> allowed) const;
  // Optional scalar keys with their defaults; wrong types are errors.
  Result<double> Number(const std::string& key, double fallback) const;
  Result<bool> Bool(const std::string& key, bool fallback) const;
  Result<std::string> String(const std::string& key, const std::string& fallback) const;
  bool Has(const std::string& key) const;

  // The tensor `<name>.<suffix>` of the weights file as f32, which must have shape `expected`
  // (a −1 entry accepts any size there). Errors: no weights file, no name, missing tensor, shape.
  Result<std::vector<float>> Weight(const std::string& suffix, const Shape& expected) const;
  // The shape of `<name>.<suffix>`, or an error when it is missing.
  Result<Shape> WeightShape(const std::string& suffix) const;
  // True when the weights file has `<name>.<suffix>`.
  bool HasWeight(const std::string& suffix) const;

 private:
  const config::YamlDocument& doc_;
  std::string pointer_;
  std::size_t index_;
  std::string type_, name_;
  ActivationShape input_;
  const SafetensorsFile* weights_;
  nn::Precision precision_;
  std::filesystem::path model_dir_;
};

// An input kind: turns one column of a model batch into the network's input.
class InputEncoder {
 public:
  virtual ~InputEncoder() = default;
  virtual const ModelInput& input() const = 0;
  // A tabular input contributes `width` columns to [n, width]; a sequence input (text) must be the
  // model's only input and produces the whole sequence.
  virtual ActivationShape output() const = 0;
  // Encodes column `column` of `batch` (f64 [n, inputs]). Tabular: writes columns [offset, offset + width)
  // of `out`, already sized [n, total width]. Sequence: sizes and fills `out` itself.
  virtual Status Encode(const TensorView& batch, std::int64_t column, std::int64_t offset,
                        Activations& out) const = 0;
};

class InputContext {
 public:
  InputContext(const config::YamlDocument& doc, std::string pointer, std::size_t index,
               std::filesystem::path model_dir);
  const nlohmann::json& node() const;
  const std::string& pointer() const { return pointer_; }
  std::size_t index() const { return index_; }
  const std::filesystem::path& model_dir() const { return model_dir_; }
  Status Error(const std::string& key, const std::string& message) const;

 private:
  const config::YamlDocument& doc_;
  std::string pointer_;
  std::size_t index_;
  std::filesystem::path model_dir_;
};

using LayerFactory = std::function<Result<std::unique_ptr<Layer>>(const LayerContext&)>;
using InputFactory = std::function<Result<std::unique_ptr<InputEncoder>>(const InputContext&)>;

class KindRegistry {
 public:
  void AddLayer(const std::string& type, LayerFactory factory) { layers_[type] = std::move(factory); }
  void AddInput(const std::string& type, InputFactory factory) { inputs_[type] = std::move(factory); }
  const LayerFactory* FindLayer(const std::string& type) const;
  const InputFactory* FindInput(const std::string& type) const;
  // "dropout, flatten, gelu, ..." for "expected one of" messages.
  std::string LayerTypes() const;
  std::string InputTypes() const;

 private:
  std::map<std::string, LayerFactory> layers_;
  std::map<std::string, InputFactory> inputs_;
};

// Every registered kind, built once (thread-safe).
const KindRegistry& Kinds();

// Registration functions, one per group of files; Kinds() calls each that is defined.
void RegisterDenseKinds(KindRegistry& registry);  // model/dense_layers.cpp: linear, activations, norms
void RegisterTextKinds(KindRegistry& registry);   // model/text_*.cpp: text inputs, sequence layers

// InvalidArgument with `message` placed at the YAML node `pointer` of `doc` (FILE:LINE:COL: message), for
// the loaders of every kind.
Status ErrorAt(const config::YamlDocument& doc, const std::string& pointer, const std::string& message);

}  // namespace loupe::model
