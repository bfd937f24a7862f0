// The "text_gradient" model capability (docs/architecture.md §3): derivatives of a text network's outputs
// with respect to the output of its embedding layer, for layer attributions on the tokens (Captum's
// LayerIntegratedGradients on the embedding layer, saliency and input × gradient per token). A model that
// offers it returns a TextGradientModel from Model::text_gradient_model(); the host hands it to plugins as
// the C struct LoupeTextGradient of loupe_plugin.h (v1.4).
//
// The differentiated layer is the model's first one: for loupe.model/v1 networks the token embedding
// (before positions are added), for Hugging Face encoders the embeddings module after its LayerNorm
// (word + position + token type; Captum's `model.bert.embeddings`). Its output for a text of T tokens is
// [T, width]. The rest of the network runs on values the caller
// chooses for that output (an interpolation between a baseline and the text's embeddings), with each
// row's length masking its padding exactly as the forward pass does, so a padding step's gradient is 0.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "loupe/core/attention.hpp"
#include "loupe/core/model.hpp"

namespace loupe {

// One text as the embedding layer sees it: its tokens and the layer's output for them.
struct TokenEmbeddings {
  TokenizedText tokens;
  std::vector<float> values;  // [tokens.size(), width] row-major
};

class TextGradientModel {
 public:
  virtual ~TextGradientModel() = default;

  // The width of the embedding layer's output.
  virtual std::int64_t EmbeddingWidth() const = 0;
  // The embedding layer's name (its state_dict prefix), for messages and results.
  virtual const std::string& EmbeddingLayerName() const = 0;
  // The embedding of the tokenizer's padding token ([PAD], <pad>): Captum's usual baseline for a token.
  // Empty when the tokenizer has none or when the layer's output depends on the position (Hugging Face
  // embeddings): PadEmbeddings gives the baseline of a whole text then.
  virtual const std::vector<float>& PadEmbedding() const = 0;
  // The embedding layer's output for a text of `t` padding tokens, [t, width] row-major (the pad
  // baseline); an error when the tokenizer has no padding token. Reentrant.
  virtual Result<std::vector<float>> PadEmbeddings(std::int64_t t) const = 0;
  // Empty when the model can be differentiated; otherwise one sentence saying why not (a model whose
  // forward pass runs in bf16 while the backward pass is f32 would give attributions inconsistent with its
  // own outputs). The host offers the capability only when this is empty.
  virtual std::string Refusal() const { return {}; }

  // Tokenizes `texts` and runs the embedding layer on them. Reentrant.
  virtual Result<std::vector<TokenEmbeddings>> Embed(const std::vector<std::string>& texts) const = 0;

  // Runs the layers after the embedding on `values` (f32 [n, t, width]; row r's steps at or past
  // lengths[r] are padding, 1 ≤ lengths[r] ≤ t) and differentiates: gradients[r, s, j] =
  // ∂(Σ_o weights[r, o] · f_o) / ∂values[r, s, j] (f32 [n, t, width], 0 at padding), where f_o are the
  // outputs in `space` and weights is f64 [n, outputs(space)]. `outputs`, when not empty, receives f
  // (f64 [n, outputs(space)]) from the same pass. Computed in f32 on oneDNN's backward primitives;
  // reentrant, and the same call gives the same bits on any thread.
  virtual Status LayerGradient(std::span<const float> values, std::int64_t n, std::int64_t t,
                               std::span<const std::int64_t> lengths, OutputSpace space,
                               std::span<const double> weights, std::span<float> gradients,
                               std::span<double> outputs) const = 0;
};

}  // namespace loupe
