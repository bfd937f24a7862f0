// lime.text: LimeTextExplainer.explain_instance of lime 0.2 with its defaults (Ribeiro et al. 2016).
//
// The model must offer the host's "text" capability (LoupeTextModel). Per explained row: its words
// (tokenize_rows), joined by single spaces, are the text; IndexedText cuts it like lime's IndexedString
// (r'\W+', separators kept). d = its features (distinct words, or positions with bow: false). Sample 0 is
// the text itself; each other sample removes (or masks) a uniformly drawn number 1..d of distinct
// features chosen uniformly. All num_samples texts of a row go to predict_texts in batches of batch_size
// (unset: one call). Distance = cosine distance of the binary presence vectors to all-ones times 100,
// kernel sqrt(exp(-d^2 / w^2)) with w = kernel_width (25); per explained label, feature selection and a
// weighted Ridge(alpha 1, intercept) (local_model.hpp). Rows run in parallel; each row's draws come from
// Host::Rng(row, kTextSampleStream), so results are bit-identical for any thread count and batch size.
// Output: see plugins/lime/README.md ("lime.text").
#pragma once

#include <cstdint>

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::lime {

inline constexpr std::uint64_t kTextSampleStream = 0x4C494D4554585430ULL;  // "LIMETXT0"

class TextExplainer final : public loupe::sdk::Explainer {
 public:
  // Checks the model's text capability and every parameter; throws loupe::sdk::Error if one is bad.
  explicit TextExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  static loupe::sdk::ExplainerDef Definition();
};

}  // namespace loupe::lime
