// Probes into a text model's computation (loupe/core/attention.hpp explains how text reaches a model):
// the "hidden_states" capability (every token's vector after every sequence layer) and the "head_mask"
// capability (evaluate texts with attention heads masked), which the attention plugin uses for
// attention.hidden and for the ablation of attention.heads. Their C forms are LoupeHiddenStates and
// LoupeHeadMask in loupe_plugin.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "loupe/core/attention.hpp"
#include "loupe/core/status.hpp"
#include "loupe/core/tensor.hpp"

namespace loupe {

// The names plugins ask for the C forms of Model::hidden_state_source() and Model::head_masked_model() by.
inline constexpr std::string_view kHiddenStatesCapability = "hidden_states";  // Model::hidden_state_source()
inline constexpr std::string_view kHeadMaskCapability = "head_mask";          // Model::head_masked_model()

// How a text model turns its last sequence of token vectors into one vector.
enum class Pooling { kUnknown, kCls, kMean, kLast, kAttention };

// The hidden states of one text over its T valid tokens (padding excluded).
struct HiddenStates {
  TokenizedText tokens;
  std::vector<std::vector<float>> states;  // [S][T * widths[s]], row-major per token
  std::vector<float> pooled;               // what the pooling layer makes of the last state
};

// Capability "hidden_states". State 0 is the input of the first sequence layer (embeddings, positions
// added); state s >= 1 is the output of the s-th sequence layer (transformer_encoder or lstm).
class HiddenStateSource {
 public:
  virtual ~HiddenStateSource() = default;
  virtual Pooling PoolingMode() const = 0;
  virtual const std::vector<std::string>& StateNames() const = 0;    // [S]
  virtual const std::vector<std::int64_t>& StateWidths() const = 0;  // [S]
  virtual std::int64_t PooledWidth() const = 0;
  // One HiddenStates per text, in order. Reentrant.
  virtual Result<std::vector<HiddenStates>> Hidden(const std::vector<std::string>& texts) const = 0;
};

// Capability "head_mask": a transformer text model evaluated with the attention probabilities of each
// head multiplied by a mask value (0 removes the head), like Hugging Face's `head_mask`.
class HeadMaskedModel {
 public:
  virtual ~HeadMaskedModel() = default;
  virtual std::int64_t MaskLayers() const = 0;  // the self-attention layers, as AttentionSource counts them
  virtual std::int64_t MaskHeads() const = 0;
  // Evaluates texts[i] with masks[i * L * H .. (i + 1) * L * H) ([L][H] per text); returns f64
  // [texts.size(), outputs(space)]. Reentrant.
  virtual Result<Tensor> PredictMasked(const std::vector<std::string>& texts, const std::vector<float>& masks,
                                       OutputSpace space) const = 0;
};

}  // namespace loupe
