// The dense layer kinds of loupe.model/v1 with weights from a safetensors file (PyTorch state_dict names):
// `linear` (name → <name>.weight [out, in], optional <name>.bias [out]), `relu`, `gelu` (approximate:
// none|tanh), `tanh`, `sigmoid`, `softmax` (last axis), `layer_norm` (name → .weight/.bias, eps), `dropout`
// and `flatten` (no-ops for [n, width]). They run on the nn ops (f32, or bf16 matmuls); DenseSpec is also
// what the double-precision reference path of native_model.cpp computes from.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "model/layer_registry.hpp"

namespace loupe::model {

enum class DenseKind { kLinear, kRelu, kGelu, kGeluTanh, kTanh, kSigmoid, kSoftmax, kLayerNorm, kIdentity };

struct DenseSpec {
  DenseKind kind = DenseKind::kIdentity;
  std::int64_t in = 0, out = 0;     // widths before and after the layer
  std::vector<float> weight, bias;  // linear: [out, in], [out] or empty; layer_norm: gamma, beta [width]
  double eps = 1e-5;                // layer_norm
};

// True for the types ReadDenseSpec understands.
bool IsDenseType(const std::string& type);
// Reads and validates one dense layer against the incoming shape and the weights file.
Result<DenseSpec> ReadDenseSpec(const LayerContext& context);
// The nn-backed layer computing `spec` on `shape` ([n, width] or [n, t, width]).
std::unique_ptr<Layer> MakeDenseLayer(DenseSpec spec, const ActivationShape& shape, nn::Precision precision);

// The `gradient` capability's view of a layer MakeDenseLayer made (loupe/core/gradient.hpp): its kind,
// and for a linear layer its nn weights, for a layer norm its spec.
struct DenseLayerView {
  DenseKind kind = DenseKind::kIdentity;
  const nn::DenseLayer* linear = nullptr;
  const DenseSpec* spec = nullptr;
};
// The dense layer behind `layer`, or nullopt when another kind made it (text layers, LSTMs).
std::optional<DenseLayerView> AsDenseLayer(const Layer& layer);
// The data gradient through one dense layer on `rows` rows: dx [rows, in_width] from dy [rows, out_width],
// given the layer's input `x` and output `y` (the forward activations). oneDNN backward primitives
// (nn/backward.hpp). `dx` may alias `dy` only for elementwise kinds.
Status DenseLayerBackward(const DenseLayerView& layer, const float* x, const float* y, std::int64_t rows,
                          std::int64_t in_width, std::int64_t out_width, const float* dy, float* dx);

}  // namespace loupe::model
