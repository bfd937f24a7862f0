#include "scoring.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "loupe/sdk/error.hpp"

namespace loupe::effects {

Scoring ParseScoring(const std::string& name) {
  if (name == "accuracy") return Scoring::kAccuracy;
  if (name == "roc_auc") return Scoring::kRocAuc;
  if (name == "neg_log_loss") return Scoring::kNegLogLoss;
  if (name == "r2") return Scoring::kR2;
  throw loupe::sdk::InvalidArgument(
      "parameter 'scoring' must be \"accuracy\", \"roc_auc\", \"neg_log_loss\" or \"r2\", found \"" + name +
      "\"");
}

const char* ScoringName(Scoring scoring) {
  switch (scoring) {
    case Scoring::kAccuracy:
      return "accuracy";
    case Scoring::kRocAuc:
      return "roc_auc";
    case Scoring::kNegLogLoss:
      return "neg_log_loss";
    case Scoring::kR2:
      return "r2";
  }
  return "?";
}

namespace {

// The weight of row i: w[i], or 1 without weights.
double WeightOf(const std::vector<double>& w, std::size_t i) { return w.empty() ? 1.0 : w[i]; }

// The total weight of `n` rows; Error when it is not positive (every weight 0).
double TotalWeight(const std::vector<double>& w, std::size_t n) {
  if (w.empty()) return static_cast<double>(n);
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  if (!(total > 0)) {
    throw loupe::sdk::InvalidArgument("the sample weights of the scored rows add up to " +
                                      std::to_string(total) + ", and a score needs a positive total");
  }
  return total;
}

}  // namespace

double Accuracy(const std::vector<double>& y, const double* probabilities, std::int64_t n_classes,
                const std::vector<double>& w) {
  double correct = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double* p = probabilities + static_cast<std::int64_t>(i) * n_classes;
    const auto predicted = static_cast<double>(std::max_element(p, p + n_classes) - p);
    if (predicted == y[i]) correct += WeightOf(w, i);
  }
  return correct / TotalWeight(w, y.size());
}

namespace {

// The weighted Mann–Whitney statistic: over tie groups in increasing score, each positive weight counts
// the negative weight below it plus half the negative weight tied with it.
double WeightedRocAuc(const std::vector<double>& y, std::int64_t positive, const double* scores,
                      std::int64_t stride, const std::vector<std::size_t>& order,
                      const std::vector<double>& w) {
  const std::size_t n = y.size();
  double pairs = 0, positive_weight = 0, negative_below = 0;
  for (std::size_t begin = 0; begin < n;) {
    std::size_t end = begin + 1;
    const double value = scores[static_cast<std::int64_t>(order[begin]) * stride];
    while (end < n && scores[static_cast<std::int64_t>(order[end]) * stride] == value) ++end;
    double group_positive = 0, group_negative = 0;
    for (std::size_t i = begin; i < end; ++i)
      (y[order[i]] == static_cast<double>(positive) ? group_positive : group_negative) += w[order[i]];
    pairs += group_positive * (negative_below + 0.5 * group_negative);
    positive_weight += group_positive;
    negative_below += group_negative;
    begin = end;
  }
  if (!(positive_weight > 0) || !(negative_below > 0)) {
    throw loupe::sdk::InvalidArgument(
        "scoring \"roc_auc\" needs rows of both classes with positive weight, and the step's rows have "
        "weight in one class only");
  }
  return pairs / (positive_weight * negative_below);
}

}  // namespace

double RocAuc(const std::vector<double>& y, std::int64_t positive, const double* scores, std::int64_t stride,
              const std::vector<double>& w) {
  const std::size_t n = y.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return scores[static_cast<std::int64_t>(a) * stride] < scores[static_cast<std::int64_t>(b) * stride];
  });
  if (!w.empty()) return WeightedRocAuc(y, positive, scores, stride, order, w);
  // Sum of the (tie-averaged, 1-based) ranks of the positives.
  double positive_ranks = 0;
  double n_positive = 0;
  for (std::size_t begin = 0; begin < n;) {
    std::size_t end = begin + 1;
    const double value = scores[static_cast<std::int64_t>(order[begin]) * stride];
    while (end < n && scores[static_cast<std::int64_t>(order[end]) * stride] == value) ++end;
    const double rank = 0.5 * static_cast<double>(begin + 1 + end);
    for (std::size_t i = begin; i < end; ++i) {
      if (y[order[i]] == static_cast<double>(positive)) {
        positive_ranks += rank;
        n_positive += 1;
      }
    }
    begin = end;
  }
  const double n_negative = static_cast<double>(n) - n_positive;
  if (n_positive == 0 || n_negative == 0) {
    throw loupe::sdk::InvalidArgument(
        "scoring \"roc_auc\" needs rows of both classes, and the step's rows hold only one");
  }
  return (positive_ranks - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative);
}

double NegLogLoss(const std::vector<double>& y, const double* probabilities, std::int64_t n_classes,
                  const std::vector<double>& w) {
  constexpr double kEps = std::numeric_limits<double>::epsilon();
  double total = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double* p = probabilities + static_cast<std::int64_t>(i) * n_classes;
    double sum = 0;
    for (std::int64_t k = 0; k < n_classes; ++k) sum += std::clamp(p[k], kEps, 1 - kEps);
    const double truth = std::clamp(p[static_cast<std::int64_t>(y[i])], kEps, 1 - kEps) / sum;
    total += -std::log(truth) * WeightOf(w, i);
  }
  return -total / TotalWeight(w, y.size());
}

double R2(const std::vector<double>& y, const double* predicted, std::int64_t stride,
          const std::vector<double>& w) {
  double weighted_sum = 0;
  for (std::size_t i = 0; i < y.size(); ++i) weighted_sum += WeightOf(w, i) * y[i];
  const double mean = weighted_sum / TotalWeight(w, y.size());
  double residual = 0, total = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double error = y[i] - predicted[static_cast<std::int64_t>(i) * stride];
    residual += WeightOf(w, i) * error * error;
    total += WeightOf(w, i) * (y[i] - mean) * (y[i] - mean);
  }
  if (total == 0) return residual == 0 ? 1.0 : 0.0;
  return 1.0 - residual / total;
}

double Score(Scoring scoring, const Truth& truth, const double* predicted, std::int64_t n_outputs) {
  switch (scoring) {
    case Scoring::kAccuracy:
      return Accuracy(truth.y, predicted, n_outputs, truth.weight);
    case Scoring::kRocAuc:
      return RocAuc(truth.y, truth.positive, predicted + truth.positive, n_outputs, truth.weight);
    case Scoring::kNegLogLoss:
      return NegLogLoss(truth.y, predicted, n_outputs, truth.weight);
    case Scoring::kR2:
      return R2(truth.y, predicted, n_outputs, truth.weight);
  }
  return std::nan("");
}

}  // namespace loupe::effects
