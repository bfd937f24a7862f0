// fairness.group: group fairness metrics of a classifier's decisions on the pipeline's data, with AIF360's
// and fairlearn's conventions side by side, bootstrap confidence intervals and pass/fail verdicts.
//
// Decisions: for a binary classifier, the favourable class's probability thresholded at `threshold`
// (favourable when p >= threshold); for more classes, the argmax, and every metric is reported one-vs-rest
// per class. True labels come from the data's target column, groups from the `sensitive` columns (several
// give intersectional groups). See README.md for every output field.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::fairness {

// A user bound on one metric ("aif360.disparate_impact" >= 0.8): NaN = no bound on that side.
struct Bound {
  std::string metric;  // "block.name"
  double min, max;
};

// Reads the `bounds` parameter ({"block.name": {"min": a, "max": b}} or {"block.name": [a, b]}).
std::vector<Bound> ParseBounds(const nlohmann::json& bounds);

class GroupExplainer final : public loupe::sdk::Explainer {
 public:
  explicit GroupExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  static loupe::sdk::ExplainerDef Definition();

 private:
  double threshold_;
  std::int64_t n_boot_;
  std::array<double, 2> ci_;
  bool equalized_odds_mean_;
  std::vector<Bound> bounds_;
  std::int64_t n_neighbors_;
  bool standardize_;
  std::int64_t consistency_max_rows_;
  double concentration_;
};

}  // namespace loupe::fairness
