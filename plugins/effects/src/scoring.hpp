// The scores of effects.permutation_importance, each as scikit-learn's scorer of the same name computes it
// (greater is better): accuracy, roc_auc (binary), neg_log_loss and r2.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loupe::effects {

enum class Scoring { kAccuracy, kRocAuc, kNegLogLoss, kR2 };

// The scoring named `name` ("accuracy", "roc_auc", "neg_log_loss", "r2"); Error naming the parameter.
Scoring ParseScoring(const std::string& name);
const char* ScoringName(Scoring scoring);

// The truth of one evaluation: class indices (into the model's outputs) for classifiers, values for
// regressors; `positive` is the class roc_auc scores; `weight` the rows' sample weights (empty: all 1).
struct Truth {
  std::vector<double> y;
  std::vector<double> weight;
  std::int64_t n_classes = 0;  // 0 for a regressor
  std::int64_t positive = 1;
};

// The score of predictions `predicted` ([n, n_outputs], probabilities for classifiers) against `truth`.
double Score(Scoring scoring, const Truth& truth, const double* predicted, std::int64_t n_outputs);

// Each score takes optional sample weights `w` (one per row, empty: every row weighs 1), as scikit-learn's
// metrics take `sample_weight`.
//
// Fraction of rows whose most probable class (the lowest index on a tie, as numpy's argmax) is the truth;
// weighted: the weight of those rows over the total weight.
double Accuracy(const std::vector<double>& y, const double* probabilities, std::int64_t n_classes,
                const std::vector<double>& w = {});
// Area under the ROC curve of `scores` for the rows where y == positive: the Mann–Whitney statistic with
// ties counted one half, which equals scikit-learn's trapezoidal area; weighted: each (positive, negative)
// pair counts w_pos * w_neg, which equals the trapezoidal area of the weighted ROC curve.
double RocAuc(const std::vector<double>& y, std::int64_t positive, const double* scores, std::int64_t stride,
              const std::vector<double>& w = {});
// Minus sklearn.metrics.log_loss: probabilities clipped to [eps, 1 - eps] (eps of f64), rows renormalised;
// weighted: the weighted mean of the rows' losses.
double NegLogLoss(const std::vector<double>& y, const double* probabilities, std::int64_t n_classes,
                  const std::vector<double>& w = {});
// The coefficient of determination, 1 - SS_res / SS_tot (1 when both are 0, 0 when only SS_tot is, as
// sklearn.metrics.r2_score); weighted: both sums weighted, around the weighted mean.
double R2(const std::vector<double>& y, const double* predicted, std::int64_t stride,
          const std::vector<double>& w = {});

}  // namespace loupe::effects
