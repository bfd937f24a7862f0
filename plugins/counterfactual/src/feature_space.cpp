#include "feature_space.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "loupe/sdk/attribution.hpp"

namespace loupe::counterfactual {
namespace {

constexpr int kMaxDecimals = 6;
constexpr std::size_t kGridProbeValues = 2000;  // values checked when guessing a feature's grid

// The coarsest grid 10^-d (d = 0..kMaxDecimals) every probed value lies on; 0 when none does.
double GuessStep(const std::vector<double>& values) {
  const std::size_t n = std::min(values.size(), kGridProbeValues);
  for (int decimals = 0; decimals <= kMaxDecimals; ++decimals) {
    const double scale = std::pow(10.0, decimals);
    bool on_grid = true;
    for (std::size_t i = 0; i < n && on_grid; ++i) {
      const double scaled = values[i] * scale;
      on_grid = std::fabs(scaled - std::round(scaled)) <= 1e-6 * std::max(1.0, std::fabs(scaled));
    }
    if (on_grid) return 1.0 / scale;
  }
  return 0.0;
}

double StandardDeviation(const std::vector<double>& values) {
  if (values.size() < 2) return 0.0;
  double mean = 0;
  for (const double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double squares = 0;
  for (const double v : values) squares += (v - mean) * (v - mean);
  return std::sqrt(squares / static_cast<double>(values.size() - 1));
}

}  // namespace

double Median(std::vector<double>& values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  const std::size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lower + upper);
}

std::vector<FeatureStats> ComputeFeatureStats(const loupe::sdk::DatasetInfo& data,
                                              const loupe::sdk::Matrix& x) {
  std::vector<FeatureStats> all(static_cast<std::size_t>(x.cols()));
  for (std::int64_t j = 0; j < x.cols(); ++j) {
    FeatureStats& stats = all[static_cast<std::size_t>(j)];
    const loupe::sdk::FeatureInfo& feature = data.features[static_cast<std::size_t>(j)];
    stats.categorical = feature.IsCategorical();
    stats.n_levels = static_cast<std::int64_t>(feature.levels.size());
    std::vector<double> values;
    values.reserve(static_cast<std::size_t>(x.rows()));
    for (std::int64_t i = 0; i < x.rows(); ++i) {
      if (!std::isnan(x(i, j))) values.push_back(x(i, j));
    }
    if (values.empty() || stats.categorical) continue;
    stats.min = *std::min_element(values.begin(), values.end());
    stats.max = *std::max_element(values.begin(), values.end());
    stats.step = GuessStep(values);
    const double sd = StandardDeviation(values);
    stats.median = Median(values);
    for (double& v : values) v = std::fabs(v - stats.median);
    stats.mad = Median(values);
    stats.scale = stats.mad > 0 ? stats.mad : (sd > 0 ? sd : 1.0);
  }
  return all;
}

double SnapAwayFrom(const FeatureStats& stats, double origin, double value) {
  if (stats.step <= 0 || value == origin) return value;
  const double steps = (value - origin) / stats.step;
  const double whole = steps > 0 ? std::ceil(steps - 1e-9) : std::floor(steps + 1e-9);
  // Re-anchor on the grid itself so that an origin off the grid still lands on grid values.
  const double snapped = std::round((origin + whole * stats.step) / stats.step) * stats.step;
  return snapped == origin ? origin + (steps > 0 ? stats.step : -stats.step) : snapped;
}

std::string DisplayValue(const loupe::sdk::FeatureInfo& feature, const FeatureStats& stats, double value) {
  if (std::isnan(value) || feature.IsCategorical()) return loupe::sdk::FormatValue(feature, value);
  char buffer[64];
  if (stats.step > 0) {
    const int decimals = std::clamp(static_cast<int>(std::lround(-std::log10(stats.step))), 0, kMaxDecimals);
    std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.4g", value);
  }
  return buffer;
}

}  // namespace loupe::counterfactual
