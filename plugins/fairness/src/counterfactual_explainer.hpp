// fairness.counterfactual: a model-based probe of how much a classifier's decisions depend on the sensitive
// attribute. Every step row is re-predicted with the sensitive column(s) set to every other group's value
// (a flip for a binary attribute, a swap between groups otherwise), all else unchanged, and the report
// gives, per original group, per (original, counterfactual) pair of groups and overall: the flip rate of
// the decision (fairness.group's rule: threshold for binary models, argmax otherwise), the mean and max
// absolute change of the favourable class's probability, and the rows that change most.
//
// The sensitive columns must be features of the model's matrix (otherwise the model cannot see them and
// there is nothing to probe). Output kind `counterfactual_report`; see README.md for every field.
#pragma once

#include <cstdint>

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::fairness {

class CounterfactualExplainer final : public loupe::sdk::Explainer {
 public:
  explicit CounterfactualExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  static loupe::sdk::ExplainerDef Definition();

 private:
  double threshold_;
  std::int64_t top_k_;
};

}  // namespace loupe::fairness
