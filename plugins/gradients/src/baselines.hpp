// The `baselines` parameter of grad.integrated_gradients and grad.deeplift: the reference input, in the
// pipeline's raw feature space (the values every Loupe explainer explains), as one value per feature.
//   "zeros"                 every feature 0 (Captum's default baseline), categoricals level code 0
//   "mean"                  every numeric feature's mean over the data's rows (missing values skipped)
//   {"rows": SELECTION}     the mean of the selected rows ("a:b", a list, a count sampled with the step
//                           seed); one row gives that row itself, categoricals included
//   {"values": {NAME: V}}   per-feature values; features not named are 0
// A categorical feature has no path between levels: gradient methods hold it at the explained row's level
// (kHold below) whatever the baseline says; DeepLIFT compares levels exactly and uses the baseline's level
// where it has one.
#pragma once

#include <cmath>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/sdk/host.hpp"

namespace loupe::gradients {

// A baseline value meaning "the explained row's own value".
inline const double kHold = std::nan("");

// The baseline of `baselines` over the feature matrix `x` (throws sdk::Error naming the parameter).
std::vector<double> ResolveBaseline(const sdk::Host& host, const nlohmann::json& baselines,
                                    const sdk::DatasetInfo& data, const sdk::Matrix& x);

// `row` with every feature the baseline says: numeric features from `baseline` (kHold keeps the row's),
// categoricals from `baseline` only when `categorical_levels` (DeepLIFT), else the row's.
void BaselineFor(const double* row, const std::vector<double>& baseline, const sdk::DatasetInfo& data,
                 bool categorical_levels, double* out);

}  // namespace loupe::gradients
