// Sequence layers of loupe.model/v1 (docs/architecture.md §5), registered with the loader as kinds (see
// layer_registry.hpp): `embedding`, `positional_embedding` (learned, added per position),
// `transformer_encoder` (PyTorch nn.TransformerEncoderLayer), `lstm` (PyTorch nn.LSTM) and `pool` (cls, mean,
// last, attention). Weights follow PyTorch state_dict names under the layer's `name:` prefix. All compute
// goes through nn/ops.hpp in f32. The attention layers can be probed (attention recorded, heads masked)
// for the text model's attention, hidden-state and head-mask capabilities.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "loupe/core/text_probes.hpp"
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
  // As Forward, and with `attention` writes the attention probabilities: [n, heads, t, t] for
  // self-attention (softmax after the key padding mask, per head), [n, t] for attention pooling (0 at
  // padding). With `head_mask` ([n, heads], self-attention only) the probabilities of head h of row r
  // are multiplied by head_mask[r * heads + h] before they weight the values; the recorded ones are not.
  virtual Status ForwardProbed(const Activations& in, Activations& out, std::vector<float>* attention,
                               const float* head_mask) const = 0;
};

// What a layer's taped forward pass keeps for its backward pass: the layer's own intermediate tensors, in
// an order only that layer knows.
struct LayerTape {
  std::vector<std::vector<float>> saved;
};

// The data gradient of a sequence layer between the embedding and the head (positional_embedding,
// transformer_encoder, lstm, pool), for the text model's "text_gradient" capability
// (loupe/core/text_gradient.hpp). ForwardTaped computes Forward's output (no probes) and fills `tape`;
// Backward turns dy, the gradient of that output, into dx, the gradient of `in`'s values, with padding
// steps masked exactly as the forward masks them (their dx is 0). Both are reentrant; the backward passes
// run on oneDNN's backward primitives (nn/backward.hpp).
class DifferentiableLayer {
 public:
  virtual ~DifferentiableLayer() = default;
  virtual Status ForwardTaped(const Activations& in, Activations& out, LayerTape& tape) const = 0;
  virtual Status Backward(const Activations& in, const Activations& out, const LayerTape& tape,
                          const std::vector<float>& dy, std::vector<float>& dx) const = 0;
};

// A first layer other than `embedding` whose output the text gradient differentiates: the Hugging Face
// embeddings (word + position + token type, then LayerNorm; hf_encoder.cpp), whose output depends on the
// position, so the pad baseline is a [t, width] tensor rather than one row.
class EmbeddingOutputLayer {
 public:
  virtual ~EmbeddingOutputLayer() = default;
  // The layer's name in the original model ("bert.embeddings"), for results and messages.
  virtual const std::string& LayerName() const = 0;
  // The output for a text of `t` tokens that are all the padding token `pad`, as the original framework
  // computes it for such an input (Captum's pad baseline): [t, width] into `out`.
  virtual Status PaddingOutput(std::int64_t pad, std::int64_t t, std::vector<float>& out) const = 0;
};

// The layer's gradient, or nullptr for a layer of another kind.
const DifferentiableLayer* AsDifferentiable(const Layer& layer);

// The embedding table of an `embedding` layer ([vocab, width] row-major) and its width; nullptr when
// `layer` is not one.
const std::vector<float>* EmbeddingTable(const Layer& layer, std::int64_t& width);

// "transformer_encoder" or "lstm" for the layers whose outputs are hidden states of the tokens, else
// nullptr.
const char* SequenceLayerKind(const Layer& layer);

// How a pool layer pools; false when `layer` is not a pool layer.
bool PoolingOf(const Layer& layer, Pooling& pooling);

// A transformer encoder layer assembled by a loader other than the YAML one (the Hugging Face encoders of
// hf_encoder.cpp): the same layer as `transformer_encoder`, with its weights already read. in_proj holds
// the query, key and value projections stacked as rows [3 * d, d] (PyTorch's in_proj_weight); norm1
// follows the attention block and norm2 the feed-forward block (before them with norm_first).
struct TransformerEncoderParts {
  std::int64_t d = 0, heads = 0;
  bool norm_first = false;
  nn::Activation activation = nn::Activation::kRelu;
  float eps = 1e-5f;
  nn::Precision precision = nn::Precision::kF32;  // of the four dense projections
};
struct TransformerEncoderWeights {
  nn::DenseLayer in_proj, out_proj, linear1, linear2;
  std::vector<float> norm1_gamma, norm1_beta, norm2_gamma, norm2_beta;
};
std::unique_ptr<AttentionLayer> MakeTransformerEncoderLayer(const TransformerEncoderParts& parts,
                                                            TransformerEncoderWeights weights);
// A `pool` layer in cls mode over sequences of `width` (the vector of each row's first token).
std::unique_ptr<Layer> MakeClsPool(std::int64_t width);

// The registry entries; the same functions RegisterTextKinds adds.
Result<std::unique_ptr<Layer>> MakeEmbedding(const LayerContext& context);
Result<std::unique_ptr<Layer>> MakePositionalEmbedding(const LayerContext& context);
Result<std::unique_ptr<Layer>> MakeTransformerEncoder(const LayerContext& context);
Result<std::unique_ptr<Layer>> MakeLstm(const LayerContext& context);
Result<std::unique_ptr<Layer>> MakePool(const LayerContext& context);

}  // namespace loupe::model
