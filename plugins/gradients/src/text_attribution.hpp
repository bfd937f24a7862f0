// What the text explainers of the plugin share (grad.layer_integrated_gradients, and grad.saliency and
// grad.input_x_gradient on a text model): the model's "text_gradient" capability (loupe_plugin.h v1.5,
// pad_embeddings v1.6) as they call it, and the feature_attribution they write — words as features
// (word_0.., as lime.text), with the tokens, per-token values and word indices the report highlights.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::gradients::text {

// One explained text as the embedding layer sees it.
struct EmbeddedText {
  std::vector<std::string> tokens, words;
  std::vector<std::int64_t> word_index;
  std::vector<float> embeddings;  // [T, width]
  std::int64_t size() const { return static_cast<std::int64_t>(tokens.size()); }
};

// One text's attributions: per output its tokens' and words' values and the output it explains.
struct TokenAttribution {
  std::vector<double> token_values;  // [O][T]
  std::vector<double> word_values;   // [O][W]
  std::vector<double> base_values;   // [O]: f(baseline) for path methods, f(x) otherwise
};

// The capability, or nullptr when the model does not offer it.
const LoupeTextGradient* TextGradientOrNull(const sdk::Host& host);
// The capability; throws sdk::Unsupported naming the models that have it when the model does not.
const LoupeTextGradient& TextGradientOf(const sdk::Host& host, const std::string& explainer);

// Whether the host hands out pad_embeddings (v1.6: struct_size covers it).
bool HasPadEmbeddings(const LoupeTextGradient& capability);
// The embedding layer's output for T padding tokens [T, width]: pad_embeddings when the host has it, else
// pad_embedding at every position. Throws sdk::Error when the model has no padding token.
std::vector<float> PadBaseline(const sdk::Host& host, const LoupeTextGradient& capability, std::int64_t T);

// The texts of `rows`, tokenized and embedded by the model.
std::vector<EmbeddedText> EmbedRows(const sdk::Host& host, const LoupeTextGradient& capability,
                                    const std::vector<std::int64_t>& rows);

// One layer_gradient call: `values` [n, t, width] (no padding: every row t tokens), weights [n, O];
// gradients [n, t, width] out; `outputs` [n, O] when not null.
void Differentiate(const sdk::Host& host, const LoupeTextGradient& capability, LoupeOutputSpace space,
                   const std::vector<float>& values, std::int64_t n, std::int64_t t,
                   const std::vector<double>& weights, std::vector<float>& gradients, double* outputs);

// Per token: Σ_j reduce(a[s, j]) over the embedding dimension; per word: the sum of its tokens.
// `cells` is one output's [T, width] attribution.
void SumTokens(const EmbeddedText& text, const double* cells, std::int64_t width, double* token_values,
               double* word_values);

// Writes the feature_attribution (values per word) with `tokens`, `token_values` [row][output][token],
// `word_index`, `words` and `layer`.
void WriteTokenAttribution(const sdk::ResultBuilder& result, const sdk::OutputSelection& output,
                           const std::vector<std::int64_t>& rows, const std::vector<EmbeddedText>& texts,
                           const std::vector<TokenAttribution>& explained,
                           const LoupeTextGradient& capability);

}  // namespace loupe::gradients::text
