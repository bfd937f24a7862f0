// effects.partial_dependence — partial dependence (PD) and individual conditional expectation (ICE) curves,
// as sklearn.inspection.partial_dependence (method "brute") defines them. See README.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::effects {

// One axis of a partial-dependence grid.
struct GridAxis {
  std::int64_t column = 0;          // in the feature matrix
  bool categorical = false;         // the unique values (levels) rather than a percentile grid
  std::vector<double> values;       // the grid values (categorical: level codes)
  std::vector<std::string> labels;  // the values as text (level names for categoricals)
  std::vector<double> deciles;      // the rug: deciles of the feature over the rows (numeric only)
};

// scikit-learn's _grid_from_X for one feature: the unique values when the feature is categorical or has
// fewer than `resolution` of them, else `resolution` evenly spaced points between the mquantiles at
// `lo` and `hi`. Missing values are left out. Throws Error when the percentiles are too close.
GridAxis BuildAxis(const loupe::sdk::Matrix& x, const std::vector<std::int64_t>& rows, std::int64_t column,
                   const loupe::sdk::FeatureInfo& feature, bool categorical, double lo, double hi,
                   std::int64_t resolution);

// The curves of one feature set over `rows`: individual[O][R][G] and average[O][G], G the product of the
// axes' sizes (the first axis slowest, as sklearn's cartesian grid). One model call per chunk of grid
// points, each of about kBatchRows rows. `individual` is filled only when `keep_individual` or `centered`
// (an average alone does not need the R curves in memory).
struct Curves {
  std::vector<double> individual;
  std::vector<double> average;
};
Curves ComputeCurves(const loupe::sdk::Host& host, const loupe::sdk::Matrix& x,
                     const std::vector<std::int64_t>& rows, const std::vector<GridAxis>& axes,
                     LoupeOutputSpace space, std::int64_t n_outputs, bool centered, bool keep_individual);

class PartialDependence final : public loupe::sdk::Explainer {
 public:
  explicit PartialDependence(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  static loupe::sdk::ExplainerDef Definition();

 private:
  std::vector<std::vector<std::string>> feature_sets_;  // empty: every feature, one at a time
  std::string curves_;                                  // average | individual | both
  std::int64_t grid_resolution_ = 100;
  double percentile_lo_ = 0.05, percentile_hi_ = 0.95;
  std::vector<std::string> categorical_;  // treated as categorical besides the data's categoricals
  bool centered_ = false;
};

}  // namespace loupe::effects
