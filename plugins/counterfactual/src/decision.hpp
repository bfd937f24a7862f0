// The decision a counterfactual must reach and the label an anchor must keep, read from the model's
// outputs. Classifiers: the class is the argmax of the probabilities (the first on ties); a counterfactual
// for class d is valid when p[d] >= threshold (binary models, as fairness.group's rule) or when d is the
// argmax and p[d] >= threshold (multiclass). Regressors: valid when the prediction lies in desired_range.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loupe/sdk/host.hpp"

namespace loupe::counterfactual {

class DecisionRule {
 public:
  // Reads `desired` ("opposite" or a class name), `threshold` and `desired_range` for counterfactual.search.
  static DecisionRule ForCounterfactuals(const loupe::sdk::Host& host);
  // A classifier's argmax rule for counterfactual.anchors (refuses regressors).
  static DecisionRule ForAnchors(const loupe::sdk::Host& host, const std::string& explainer);
  // A rule built directly (tests, benchmarks): a classifier with `classes` (desired -1: opposite).
  static DecisionRule Classifier(std::vector<std::string> classes, std::int32_t desired, double threshold);

  bool classifier() const { return classifier_; }
  std::int64_t n_outputs() const { return static_cast<std::int64_t>(outputs_.size()); }
  const std::vector<std::string>& outputs() const { return outputs_; }
  double threshold() const { return threshold_; }
  double range_lo() const { return range_lo_; }
  double range_hi() const { return range_hi_; }
  bool desired_is_opposite() const { return desired_ < 0; }

  // The class of one row's outputs: argmax, first on ties (classifiers only).
  std::int32_t Class(const double* outputs) const;
  // The class a counterfactual of a row with these outputs must reach (-1 for regressors).
  std::int32_t DesiredFor(const double* outputs) const;
  // Whether outputs reach `desired` (a class index; ignored for regressors).
  bool Valid(const double* outputs, std::int32_t desired) const;
  // "good (p = 0.58)" or "12.3": the decision and the score that shows it.
  std::string Describe(const double* outputs, std::int32_t desired) const;
  // One sentence stating the rule, for the report.
  std::string Sentence() const;

 private:
  bool classifier_ = true;
  std::vector<std::string> outputs_;
  std::int32_t desired_ = -1;  // -1: the other class of a binary model
  double threshold_ = 0.5;
  double range_lo_ = 0, range_hi_ = 0;
};

}  // namespace loupe::counterfactual
