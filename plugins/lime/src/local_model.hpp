// The local surrogate of lime: weighted ridge regression with an intercept (scikit-learn's Ridge with
// sample_weight: weighted centering, then (Xc' W Xc + alpha I) coef = Xc' W yc) and lime's feature
// selection modes, computed from weighted sufficient statistics so that selection costs no pass over the
// samples.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace loupe::lime {

// lime's default num_features: the features (words) kept in the local model.
inline constexpr std::int64_t kDefaultNumFeatures = 10;

// Weighted centered statistics of the local design matrix X [n][k] (shared by every explained label).
struct LocalDesign {
  std::int64_t k = 0;
  double weight_sum = 0;
  std::vector<double> x_mean;  // [k] weighted column means
  std::vector<double> gram;    // [k][k] sum_i w_i (x_i - mean)(x_i - mean)'
};

// Weighted centered statistics of one label y [n] against the design.
struct LocalTarget {
  double y_mean = 0;
  std::vector<double> xty;  // [k] sum_i w_i (x_i - mean) (y_i - y_mean)
  double yty = 0;           // sum_i w_i (y_i - y_mean)^2
};

LocalDesign SummarizeDesign(const double* x, std::int64_t n, std::int64_t k, const double* w);
LocalTarget SummarizeTarget(const LocalDesign& design, const double* x, std::int64_t n, const double* y,
                            const double* w);

// A ridge model on a subset of the columns.
struct RidgeModel {
  std::vector<std::int64_t> features;  // column indices, in selection order
  std::vector<double> coef;            // one per entry of `features`
  double intercept = 0;
};

// Weighted ridge with intercept on `features`. alpha = 0 gives the minimum-norm least-squares solution
// (a singular system, e.g. a constant column, is handled like an SVD solver would).
RidgeModel FitRidge(const LocalDesign& design, const LocalTarget& target,
                    const std::vector<std::int64_t>& features, double alpha);

// Weighted R^2 of `model` computed from the statistics (used to rank candidate subsets).
double StatisticsScore(const LocalDesign& design, const LocalTarget& target, const RidgeModel& model);

// The model's prediction for one row of the design matrix (all k columns).
double PredictRow(const RidgeModel& model, const double* row);

// Weighted R^2 on the samples, scikit-learn's r2_score with sample_weight: 1 - SSR/SST; when SST is 0,
// 1 if SSR is 0 too and 0 otherwise.
double WeightedR2(const RidgeModel& model, const double* x, std::int64_t n, std::int64_t k, const double* y,
                  const double* w);

enum class Selection { kAuto, kForward, kHighestWeights, kLassoPath, kNone };

// lime's feature selection (lime_base.LimeBase.feature_selection):
//  - none: every column, in order;
//  - forward_selection: greedily add the column whose alpha-0 ridge with the chosen ones has the highest
//    weighted R^2 (the first such column on ties), num_features times;
//  - highest_weights: ridge(alpha 0.01) on every column, the num_features columns with the largest
//    |coef_j * first_row_j| (stable: the lower index first on ties);
//  - lasso_path: the LARS-lasso path of the weighted centered data (LassoPath); the last point of the
//    path with at most num_features non-zero coefficients gives the columns (ascending);
//  - auto: forward_selection when num_features <= 6, highest_weights otherwise.
// `first_row` is row 0 of the design matrix (the explained instance).
std::vector<std::int64_t> SelectFeatures(const LocalDesign& design, const LocalTarget& target,
                                         const double* first_row, Selection selection,
                                         std::int64_t num_features);

// One label of lime_base.LimeBase.explain_instance_with_data: feature selection, then the weighted
// Ridge(alpha=1) with an intercept on the selected columns, its weighted R^2 on the samples and its
// prediction at row 0 (the explained instance).
struct LabelFit {
  std::int64_t output = 0;      // the model output explained (set by the caller)
  std::vector<double> weights;  // [k] ridge weights, 0 for the columns not selected
  std::vector<std::pair<std::int64_t, double>>
      ranked;  // (column, weight) of the selected columns, |weight| desc
  double intercept = 0;
  double score = 0;
  double local_pred = 0;
};

// Fits one label y [n] on the design matrix x [n][k] with kernel weights w [n].
LabelFit FitLabel(const LocalDesign& design, const double* x, std::int64_t n, const double* y,
                  const double* w, Selection selection, std::int64_t num_features);

// The LARS-lasso regularization path (Efron et al. 2004, with the lasso modification: a coefficient that
// reaches zero leaves the active set) of the weighted centered data, computed from its Gram matrix and
// X'y by the LARS path shared with shap (plugin_common/lars_path.hpp), as scikit-learn's
// lars_path(method="lasso") does: the coefficient vectors at every breakpoint, the first being all zeros.
std::vector<std::vector<double>> LassoPath(const LocalDesign& design, const LocalTarget& target);

}  // namespace loupe::lime
