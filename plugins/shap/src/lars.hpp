// Least-angle regression (Efron et al. 2004) as scikit-learn's lars_path, and LassoLarsIC's information-
// criterion selection: the feature selection behind shap.kernel's `l1_reg`.
//
// Both work on the normal equations (Gram = X^T X, Xy = X^T y), which is all LARS needs; shap.kernel's
// augmented design has many more rows (2K) than columns (M).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loupe::shap {

struct LarsPath {
  std::vector<double> alphas;              // per knot: max |X^T residual| / n_samples, decreasing
  std::vector<std::vector<double>> coefs;  // per knot: the coefficients, starting from all zeros
  std::vector<std::int64_t> active;        // features in order of entry (dropped ones removed)
};

// lars_path(X, y, method="lar" or "lasso", alpha_min=0, max_iter) from Gram [p][p] and Xy [p] of a design
// with n_samples rows. The lasso variant drops a feature whose coefficient crosses zero.
LarsPath ComputeLarsPath(const std::vector<double>& gram, const std::vector<double>& xy, std::int64_t p,
                         std::int64_t n_samples, bool lasso, std::int64_t max_iter);

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
