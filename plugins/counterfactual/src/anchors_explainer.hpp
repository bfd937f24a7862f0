// counterfactual.anchors: Anchors (Ribeiro et al. 2018) for the step's rows, as Alibi's AnchorTabular:
// rules of quartile bins and levels that keep the model's decision with precision >= threshold, with their
// coverage. Output kind `anchors`; README.md lists every field. The search is in anchor_search.hpp.
#pragma once

#include "anchor_search.hpp"
#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::counterfactual {

inline constexpr const char* kAnchors = "anchors";

class AnchorsExplainer final : public loupe::sdk::Explainer {
 public:
  explicit AnchorsExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  static loupe::sdk::ExplainerDef Definition();

 private:
  AnchorSettings settings_;
  std::int64_t coverage_samples_ = 10000;
  std::vector<double> percentiles_;
};

}  // namespace loupe::counterfactual
