// Least-angle regression (Efron et al. 2004) as scikit-learn's lars_path, computed from the normal
// equations (Gram = X^T X, Xy = X^T y), which is all LARS needs: shap.kernel's `l1_reg` selection and
// lime's `lasso_path` feature selection both run this one path.
#pragma once

#include <cstdint>
#include <vector>

namespace loupe::plugin_common {

struct LarsPath {
  std::vector<double> alphas;              // per knot: max |X^T residual| / n_samples, decreasing
  std::vector<std::vector<double>> coefs;  // per knot: the coefficients, starting from all zeros
  std::vector<std::int64_t> active;        // features in order of entry (dropped ones removed)
};

// lars_path(X, y, method="lar" or "lasso", alpha_min=0, max_iter) from Gram [p][p] and Xy [p] of a design
// with n_samples rows (n_samples scales the alphas). The lasso variant drops a feature whose coefficient
// crosses zero. The path stops, as scikit-learn's, when alpha reaches machine epsilon, every feature is
// active or max_iter steps are taken; and, when min_correlation is positive, when no correlation with the
// residual exceeds it (lime passes a level relative to max |Xy|, so that a constant column, whose
// correlation is rounding noise, never enters).
LarsPath ComputeLarsPath(const std::vector<double>& gram, const std::vector<double>& xy, std::int64_t p,
                         std::int64_t n_samples, bool lasso, std::int64_t max_iter,
                         double min_correlation = 0.0);

}  // namespace loupe::plugin_common
