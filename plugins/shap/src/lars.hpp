// The feature selection behind shap.kernel's `l1_reg`: LassoLarsIC's information-criterion selection and
// the first features to enter the LAR path, on the LARS path shared with lime (plugin_common/lars_path.hpp).
//
// Both work on the normal equations (Gram = X^T X, Xy = X^T y), which is all LARS needs; shap.kernel's
// augmented design has many more rows (2K) than columns (M).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plugin_common/lars_path.hpp"

namespace loupe::shap {

using loupe::plugin_common::ComputeLarsPath;
using loupe::plugin_common::LarsPath;

enum class InformationCriterion { kAic, kBic };

// The features LassoLarsIC(criterion) keeps (nonzero coefficients, ascending) when fitted, with an
// intercept, to the rows x[n][p] (row-major) after scaling each column by its standard deviation (shap's
// StandardScaler(with_mean=False) before LassoLarsIC). The noise variance is estimated from the OLS fit, as
// scikit-learn does; when n <= p + 1 it cannot be and every feature is kept.
std::vector<std::int64_t> SelectLassoLarsIC(const std::vector<double>& x, const std::vector<double>& y,
                                            std::int64_t n, std::int64_t p, InformationCriterion criterion);

// The first k features to enter lars_path(x, y, method="lar", max_iter=k) (no intercept, no scaling),
// in order of entry: shap's "num_features(k)".
std::vector<std::int64_t> SelectFirstLars(const std::vector<double>& x, const std::vector<double>& y,
                                          std::int64_t n, std::int64_t p, std::int64_t k);

}  // namespace loupe::shap
