// Sequence layers of loupe.model/v1 (DESIGN.md §5), registered with the loader as kinds (see
// layer_registry.hpp): `embedding`, `positional_embedding` (learned, added per position),
// `transformer_encoder` (PyTorch nn.TransformerEncoderLayer), `lstm` (PyTorch nn.LSTM) and `pool` (cls, mean,
// last, attention). Weights follow PyTorch state_dict names under the layer's `name:` prefix. All compute
// goes through nn/ops.hpp in f32.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "model/layer_registry.hpp"

namespace loupe::model {

// A layer whose attention can be observed. The text model asks its layers for their attention while it
// runs them (AttentionSource); Forward is the same computation without recording.
class AttentionLayer : public Layer {
 public:
  // Self-attention heads per row; 0 for attention pooling.
  virtual std::int64_t heads() const = 0;
  // False for a layer of this class that has nothing to record (a pool in cls, mean or last mode).
  virtual bool records() const { return true; }
  // As Forward, and writes the attention probabilities: [n, heads, t, t] for self-attention (softmax
  // after the key padding mask, per head), [n, t] for attention pooling (0 at padding).
  virtual Status ForwardRecording(const Activations& in, Activations& out,
                                  std::vector<float>& attention) const = 0;
};

// The registry entries; the same functions RegisterTextKinds adds.
Result<std::unique_ptr<Layer>> MakeEmbedding(const LayerContext& context);
Result<std::unique_ptr<Layer>> MakePositionalEmbedding(const LayerContext& context);
Result<std::unique_ptr<Layer>> MakeTransformerEncoder(const LayerContext& context);
Result<std::unique_ptr<Layer>> MakeLstm(const LayerContext& context);
Result<std::unique_ptr<Layer>> MakePool(const LayerContext& context);

}  // namespace loupe::model
