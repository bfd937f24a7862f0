// shap.summary: the global view of a feature_attribution step this step `needs`, as shap's summary and
// beeswarm plots draw it. Output kind "shap_summary" with fields
//   feature_names [F], output_names [O], rows [R]   copied from the attribution
//   importance [O][F]   mean |phi| over the rows (shap's global importance, the bar plot)
//   order [O][F]        feature indices by decreasing importance (ties by index)
//   features [F]        per feature {name, importance [O], data [R], phi [O][R]}: the (value, phi) pairs of a
//                       beeswarm; data holds the attribution's displayed values (numbers as text, category
//                       levels)
// The first input whose kind is feature_attribution is summarised; a step without one is refused.
#pragma once

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::shap {

inline constexpr const char* kShapSummary = "shap_summary";

class SummaryExplainer final : public loupe::sdk::Explainer {
 public:
  explicit SummaryExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  // The explainer's description for LOUPE_PLUGIN: name, summary, kind, parameters.
  static loupe::sdk::ExplainerDef Definition();
};

}  // namespace loupe::shap
