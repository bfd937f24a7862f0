// What both explainers of the plugin learn from the data before they search: per feature, its median and
// MAD (the scale of distances, Wachter et al. 2017), its observed range, and the grid its values lie on
// (integers, two decimals, ...) so that proposed values look like the data's and print cleanly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loupe/sdk/host.hpp"

namespace loupe::counterfactual {

struct FeatureStats {
  bool categorical = false;
  std::int64_t n_levels = 0;  // categorical: number of level codes
  double median = 0;
  double mad = 0;    // median absolute deviation from the median (unscaled, as DiCE and Wachter et al.)
  double scale = 1;  // the distance unit: the MAD; the standard deviation when the MAD is 0; else 1
  double min = 0, max = 0;  // observed range over the non-missing values
  double step = 0;          // grid of the observed values (1: integers, 0.01: two decimals); 0: none found
};

// The median of `values` (NaN when empty); reorders the vector.
double Median(std::vector<double>& values);

// Stats of every column of `x` over its non-missing values (all data rows).
std::vector<FeatureStats> ComputeFeatureStats(const loupe::sdk::DatasetInfo& data,
                                              const loupe::sdk::Matrix& x);

// `value` moved onto the feature's grid, rounding away from `origin`: a change keeps its direction and is
// at least one grid step. Features without a grid keep `value`.
double SnapAwayFrom(const FeatureStats& stats, double origin, double value);

// A value for people: the level for a categorical, the grid's decimals for a numeric, "NA" when missing.
std::string DisplayValue(const loupe::sdk::FeatureInfo& feature, const FeatureStats& stats, double value);

}  // namespace loupe::counterfactual
