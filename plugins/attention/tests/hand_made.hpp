// Hand-made text models for the attention plugin's tests: attention tensors, pooling weights, hidden
// states and a head-masked "model" written by the test, served to the explainers through the mock host's
// capability_structs exactly as the Loupe host serves a real model's.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "loupe/c/loupe_plugin.h"
#include "loupe/testing/mock_host.hpp"

namespace loupe::attention::testing {

struct HandMadeRow {
  std::vector<std::string> tokens;
  std::vector<std::int64_t> word_index;
  std::vector<std::string> words;
  std::vector<float> attention;            // [L][H][T][T]
  std::vector<float> pooling;              // [T] or empty
  std::vector<std::vector<float>> states;  // [S][T * width]
  std::vector<float> pooled;
};

// What the capabilities serve; one per test, set before the run (read-only during it).
struct HandMade {
  std::int64_t layers = 0, heads = 0;
  std::int32_t pooling = LOUPE_POOLING_CLS;
  bool has_pooling = false;
  std::vector<HandMadeRow> rows;  // by data row
  std::vector<std::int64_t> widths;
  std::vector<std::string> state_names;
  std::int64_t pooled_width = 0;
  // Head-masked model: output o of row r under mask m = base[r][o] + sum_{l,h} (1 - m[l][h]) *
  // effect[l][h][o].
  std::vector<std::vector<double>> base;
  std::vector<std::vector<double>> effect;  // [l * H + h][o]
  std::int64_t masked_calls = 0;
};

inline HandMade& Current() {
  static HandMade current;
  return current;
}

inline LoupeStatus ComputeAttention(LoupeHost*, const std::int64_t* rows, std::int64_t n,
                                    LoupeAttentionSink sink, void* ctx) {
  const HandMade& m = Current();
  for (std::int64_t i = 0; i < n; ++i) {
    const HandMadeRow& r = m.rows[static_cast<std::size_t>(rows[i])];
    std::vector<const char*> tokens, words;
    for (const auto& t : r.tokens) tokens.push_back(t.c_str());
    for (const auto& w : r.words) words.push_back(w.c_str());
    const LoupeStatus s = sink(
        ctx, i, rows[i], tokens.data(), r.word_index.data(), static_cast<std::int64_t>(tokens.size()),
        words.data(), static_cast<std::int64_t>(words.size()),
        r.attention.empty() ? nullptr : r.attention.data(), r.pooling.empty() ? nullptr : r.pooling.data());
    if (s != LOUPE_OK) return s;
  }
  return LOUPE_OK;
}

inline LoupeStatus ComputeHidden(LoupeHost*, const std::int64_t* rows, std::int64_t n,
                                 LoupeHiddenStatesSink sink, void* ctx) {
  const HandMade& m = Current();
  for (std::int64_t i = 0; i < n; ++i) {
    const HandMadeRow& r = m.rows[static_cast<std::size_t>(rows[i])];
    std::vector<const char*> tokens, words;
    for (const auto& t : r.tokens) tokens.push_back(t.c_str());
    for (const auto& w : r.words) words.push_back(w.c_str());
    std::vector<const float*> states;
    for (const auto& s : r.states) states.push_back(s.data());
    const LoupeStatus s =
        sink(ctx, i, rows[i], tokens.data(), r.word_index.data(), static_cast<std::int64_t>(tokens.size()),
             words.data(), static_cast<std::int64_t>(words.size()), states.data(), r.pooled.data());
    if (s != LOUPE_OK) return s;
  }
  return LOUPE_OK;
}

inline LoupeStatus PredictMasked(LoupeHost*, const std::int64_t* rows, std::int64_t n_rows,
                                 const float* masks, std::int64_t n_masks, LoupeOutputSpace, double* out,
                                 std::int64_t capacity) {
  HandMade& m = Current();
  const std::int64_t lh = m.layers * m.heads;
  const auto n_out = static_cast<std::int64_t>(m.base[0].size());
  if (capacity < n_masks * n_rows * n_out) return LOUPE_ERROR_INVALID_ARGUMENT;
  for (std::int64_t k = 0; k < n_masks; ++k) {
    for (std::int64_t i = 0; i < n_rows; ++i) {
      for (std::int64_t o = 0; o < n_out; ++o) {
        double y = m.base[static_cast<std::size_t>(rows[i])][static_cast<std::size_t>(o)];
        for (std::int64_t j = 0; j < lh; ++j)
          y += (1.0 - masks[k * lh + j]) * m.effect[static_cast<std::size_t>(j)][static_cast<std::size_t>(o)];
        out[(k * n_rows + i) * n_out + o] = y;
      }
    }
  }
  return LOUPE_OK;
}

// The C structs the mock model hands out, rebuilt from Current().
struct Capabilities {
  LoupeAttentionSource attention{};
  LoupeHiddenStates hidden{};
  LoupeHeadMask mask{};
  std::vector<const char*> names;

  void Build() {
    const HandMade& m = Current();
    attention.struct_size = sizeof(attention);
    attention.has_pooling = m.has_pooling ? 1 : 0;
    attention.n_layers = m.layers;
    attention.n_heads = m.heads;
    attention.compute = &ComputeAttention;
    attention.pooling = m.pooling;
    names.clear();
    for (const auto& n : m.state_names) names.push_back(n.c_str());
    hidden.struct_size = sizeof(hidden);
    hidden.pooling = m.pooling;
    hidden.n_states = static_cast<std::int64_t>(m.widths.size());
    hidden.widths = m.widths.data();
    hidden.names = names.data();
    hidden.pooled_width = m.pooled_width;
    hidden.compute = &ComputeHidden;
    mask.struct_size = sizeof(mask);
    mask.n_layers = m.layers;
    mask.n_heads = m.heads;
    mask.predict_rows = &PredictMasked;
  }
};

inline Capabilities& Caps() {
  static Capabilities caps;
  return caps;
}

// A dataset of `n` texts (the text feature holds row handles) and a two-class mock model with the
// capabilities named in `capabilities`.
inline loupe::testing::MockDataset TextData(std::int64_t n) {
  loupe::testing::MockDataset data;
  loupe::testing::MockColumn text;
  text.name = "text";
  text.type = LOUPE_FEATURE_TEXT;
  for (std::int64_t i = 0; i < n; ++i) text.values.push_back(static_cast<double>(i));
  data.features.push_back(text);
  return data;
}

inline loupe::testing::MockModel TextModel(const std::vector<std::string>& capabilities) {
  auto constant = [](const double*, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < 2 * n; ++i) out[i] = 0.5;
  };
  loupe::testing::MockModel model =
      loupe::testing::MockModel::Classifier({"a", "b"}, constant, {"a", "b"}, constant);
  model.name = "handmade";
  Caps().Build();
  for (const auto& c : capabilities) {
    model.capabilities.push_back(c);
    if (c == LOUPE_ATTENTION_CAPABILITY) model.capability_structs[c] = &Caps().attention;
    if (c == LOUPE_HIDDEN_STATES_CAPABILITY) model.capability_structs[c] = &Caps().hidden;
    if (c == LOUPE_HEAD_MASK_CAPABILITY) model.capability_structs[c] = &Caps().mask;
  }
  return model;
}

// Softmax rows with logits ~ normal(0, spread): spread 0 is uniform, large spreads are peaked.
inline std::vector<float> RandomAttention(std::int64_t layers, std::int64_t heads, std::int64_t t,
                                          double spread, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<float> a(static_cast<std::size_t>(layers * heads * t * t));
  for (std::int64_t row = 0; row < layers * heads * t; ++row) {
    std::vector<double> logits(static_cast<std::size_t>(t));
    double sum = 0.0;
    for (auto& v : logits) {
      v = std::exp(spread * normal(rng));
      sum += v;
    }
    for (std::int64_t k = 0; k < t; ++k)
      a[static_cast<std::size_t>(row * t + k)] =
          static_cast<float>(logits[static_cast<std::size_t>(k)] / sum);
  }
  return a;
}

// A row of `t` tokens: [CLS] w1 ... [SEP], one word per inner token.
inline HandMadeRow Row(std::int64_t t) {
  HandMadeRow r;
  for (std::int64_t k = 0; k < t; ++k) {
    const bool special = k == 0 || k == t - 1;
    const std::string word = std::string("w").append(std::to_string(k));
    r.tokens.push_back(k == 0 ? "[CLS]" : k == t - 1 ? "[SEP]" : word);
    r.word_index.push_back(special ? -1 : k - 1);
    if (!special) r.words.push_back(word);
  }
  return r;
}

}  // namespace loupe::attention::testing
