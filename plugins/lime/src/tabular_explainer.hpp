// lime.tabular: LimeTabularExplainer.explain_instance of lime 0.2 with its defaults (Ribeiro et al. 2016).
//
// Per explained row: num_samples neighbourhood rows (row 0 = the instance; see tabular_stats.hpp), all
// evaluated in one Host::Predict call; distances d = euclidean distance of the local representation to
// the instance's; kernel weights sqrt(exp(-d^2 / w^2)) with w = kernel_width (default 0.75 sqrt(M));
// per explained output (`labels`, or each row's `top_labels`: labels.hpp), feature selection
// (local_model.hpp) and a weighted Ridge(alpha 1, intercept) on the selected columns. Output:
// feature_attribution (the ridge weights, 0 for unselected features; base_values = intercept) plus
// `conditions`, `intercept`, `score`, `local_pred`, `prediction` (and `top_labels` when asked).
// Rows run in parallel; each row's draws come from Host::Rng(row, kSampleStream), so results are
// bit-identical for any thread count.
#pragma once

#include <cstdint>

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::lime {

inline constexpr std::uint64_t kSampleStream = 0x4C494D4554414230ULL;      // "LIMETAB0"
inline constexpr std::uint64_t kBackgroundStream = 0x4C494D4542474E44ULL;  // "LIMEBGND"

class TabularExplainer final : public loupe::sdk::Explainer {
 public:
  // Checks every parameter against the step's data and model; throws loupe::sdk::Error if one is bad.
  explicit TabularExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  static loupe::sdk::ExplainerDef Definition();
};

}  // namespace loupe::lime
