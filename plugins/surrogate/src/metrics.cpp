#include "metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace loupe::surrogate {

double Accuracy(const std::vector<std::int32_t>& truth, const std::vector<std::int32_t>& predicted) {
  if (truth.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::int64_t right = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) right += truth[i] >= 0 && truth[i] == predicted[i] ? 1 : 0;
  return static_cast<double>(right) / static_cast<double>(truth.size());
}

double MacroF1(const std::vector<std::int32_t>& truth, const std::vector<std::int32_t>& predicted) {
  if (truth.empty()) return std::numeric_limits<double>::quiet_NaN();
  struct Counts {
    std::int64_t true_positive = 0, true_count = 0, predicted_count = 0;
  };
  std::map<std::int32_t, Counts> labels;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] >= 0) labels[truth[i]].true_count += 1;
    if (predicted[i] >= 0) labels[predicted[i]].predicted_count += 1;
    if (truth[i] >= 0 && truth[i] == predicted[i]) labels[truth[i]].true_positive += 1;
  }
  if (labels.empty()) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0.0;
  for (const auto& [label, c] : labels) {
    const std::int64_t denominator = c.true_count + c.predicted_count;
    sum +=
        denominator > 0 ? 2.0 * static_cast<double>(c.true_positive) / static_cast<double>(denominator) : 0.0;
  }
  return sum / static_cast<double>(labels.size());
}

double R2(const std::vector<double>& truth, const std::vector<double>& predicted) {
  if (truth.empty()) return std::numeric_limits<double>::quiet_NaN();
  double mean = 0.0;
  for (const double t : truth) mean += t;
  mean /= static_cast<double>(truth.size());
  double residual = 0.0, total = 0.0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    residual += (truth[i] - predicted[i]) * (truth[i] - predicted[i]);
    total += (truth[i] - mean) * (truth[i] - mean);
  }
  if (total == 0.0) return residual == 0.0 ? 1.0 : 0.0;
  return 1.0 - residual / total;
}

}  // namespace loupe::surrogate
