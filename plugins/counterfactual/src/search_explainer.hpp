// counterfactual.search: diverse, sparse, feasible counterfactual explanations for the step's rows (Wachter
// et al. 2017; Mothilal et al. 2020, DiCE). Output kind `counterfactual_explanations`; README.md lists
// every field. The search itself is in cf_search.hpp.
#pragma once

#include <cstdint>
#include <vector>

#include "cf_search.hpp"
#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::counterfactual {

inline constexpr const char* kCounterfactualExplanations = "counterfactual_explanations";

// The constraints of parameters `immutable`, `ranges`, `monotone` and `allowed_levels`, one rule per
// feature (unconstrained: the observed range, either direction, every level). Throws naming the parameter.
std::vector<FeatureRule> ReadConstraints(const loupe::sdk::Params& params,
                                         const loupe::sdk::DatasetInfo& data,
                                         const std::vector<FeatureStats>& stats);

// The model's default outputs [rows.size(), n_outputs] for `rows` of `x`, one call per 4096 rows, in
// parallel.
std::vector<double> PredictStepRows(const loupe::sdk::Host& host, const loupe::sdk::Matrix& x,
                                    const std::vector<std::int64_t>& rows, std::int64_t n_outputs);

class SearchExplainer final : public loupe::sdk::Explainer {
 public:
  explicit SearchExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  static loupe::sdk::ExplainerDef Definition();

 private:
  SearchSettings settings_;
};

}  // namespace loupe::counterfactual
