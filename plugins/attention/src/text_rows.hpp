// What every attention explainer shares: checking that the step explains a text model with attention,
// reading the attention (and hidden states) of the step's rows through the model's C capabilities in
// parallel batches, the `layers` / `heads` selections, and the per-row JSON fields (rows, tokens, words).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::attention {

// One explained row: its tokens and the attention the model paid over them.
struct RowAttention {
  std::int64_t row = 0;
  std::vector<std::string> tokens;       // [T] as the vocabulary spells them
  std::vector<std::int64_t> word_index;  // [T] index into `words`, -1 for [CLS] / [SEP]
  std::vector<std::string> words;        // the text's whitespace-separated words
  std::vector<float> attention;          // [L][H][T][T]; empty when the model has no self-attention
  std::vector<float> pooling;            // [T] attention-pooling weights; empty without them

  std::int64_t size() const { return static_cast<std::int64_t>(tokens.size()); }
};

// What the model's "attention" capability describes.
struct AttentionShape {
  std::int64_t layers = 0, heads = 0;
  bool has_pooling = false;
  std::int32_t pooling = 0;  // LOUPE_POOLING_*
};

// Throws one sentence when the step's data has no text feature or the model has no attention.
// `explainer` names the explainer in the sentence.
AttentionShape RequireAttention(const loupe::sdk::Host& host, const std::string& explainer);

// Throws one sentence when the step's data has no text feature.
void RequireTextData(const loupe::sdk::Host& host, const std::string& explainer);

// The attention of `rows`, in order, computed in batches of kRowBatch rows on the host's threads.
std::vector<RowAttention> ReadAttention(const loupe::sdk::Host& host, const std::vector<std::int64_t>& rows);

constexpr std::int64_t kRowBatch = 64;

// One explained row's hidden states.
struct RowHidden {
  std::int64_t row = 0;
  std::vector<std::string> tokens;
  std::vector<std::int64_t> word_index;
  std::vector<std::string> words;
  std::vector<std::vector<float>> states;  // [S][T * width_s]
  std::vector<float> pooled;               // [pooled_width]
};

struct HiddenShape {
  std::vector<std::string> names;
  std::vector<std::int64_t> widths;
  std::int64_t pooled_width = 0;
  std::int32_t pooling = 0;
};

// The model's "hidden_states" capability (one sentence naming the model when it has none) and the
// hidden states of `rows`, in order.
HiddenShape RequireHiddenStates(const loupe::sdk::Host& host, const std::string& explainer);
std::vector<RowHidden> ReadHiddenStates(const loupe::sdk::Host& host, const std::vector<std::int64_t>& rows);

// Resolves a `layers` or `heads` parameter ("all", an index, or a list of indices; negative indices count
// from the end) against `count` items; throws one sentence naming the parameter.
std::vector<std::int64_t> SelectIndices(const nlohmann::json& selection, std::int64_t count,
                                        const std::string& parameter, const std::string& what);

// The weights with which each position reaches the model's pooled output: one-hot at [CLS] (cls, and
// when unknown), uniform (mean), one-hot at the last token (last) or the attention-pooling weights.
std::vector<double> PoolingWeights(std::int32_t pooling, const RowAttention& row);

// "cls", "mean", "last", "attention" or "unknown".
std::string PoolingName(std::int32_t pooling);

// Writes rows[R], tokens[R][T], word_index[R][T] and words[R][W].
void WriteTokens(const loupe::sdk::ResultBuilder& result, const std::vector<RowAttention>& rows);

// Nested JSON arrays of doubles: a [n][m] matrix, or a vector.
nlohmann::json MatrixJson(const double* data, std::int64_t n, std::int64_t m);
nlohmann::json VectorJson(const std::vector<double>& values);

}  // namespace loupe::attention
