// The dense layer kinds of loupe.model/v1 with weights from a safetensors file (PyTorch state_dict names):
// `linear` (name → <name>.weight [out, in], optional <name>.bias [out]), `relu`, `gelu` (approximate:
// none|tanh), `tanh`, `sigmoid`, `softmax` (last axis), `layer_norm` (name → .weight/.bias, eps), `dropout`
// and `flatten` (no-ops for [n, width]). They run on the nn ops (f32, or bf16 matmuls); DenseSpec is also
// what the double-precision reference path of native_model.cpp computes from.
#pragma once

#include <memory>
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

}  // namespace loupe::model
