#include "effects_common.hpp"

#include <algorithm>
#include <cmath>

#include "loupe/sdk/error.hpp"

namespace loupe::effects {

using loupe::sdk::InvalidArgument;

std::int64_t FeatureColumn(const loupe::sdk::DatasetInfo& data, const std::string& name,
                           const std::string& param) {
  const std::int64_t col = data.FeatureIndex(name);
  if (col < 0) {
    std::string names;
    for (const auto& feature : data.features) names += (names.empty() ? "" : ", ") + feature.name;
    throw InvalidArgument("parameter '" + param + "' names feature '" + name +
                          "', which is not one of the pipeline's features (" + names + ")");
  }
  return col;
}

std::vector<double> SortedFinite(const loupe::sdk::Matrix& x, const std::vector<std::int64_t>& rows,
                                 std::int64_t col) {
  std::vector<double> values;
  values.reserve(rows.size());
  for (const std::int64_t r : rows) {
    const double value = x(r, col);
    if (!std::isnan(value)) values.push_back(value);
  }
  std::sort(values.begin(), values.end());
  return values;
}

std::vector<double> Unique(const std::vector<double>& sorted) {
  std::vector<double> out;
  for (const double value : sorted) {
    if (out.empty() || out.back() != value) out.push_back(value);
  }
  return out;
}

double MQuantile(const std::vector<double>& sorted, double p) {
  const auto n = static_cast<std::int64_t>(sorted.size());
  if (n == 1) return sorted[0];
  constexpr double kAlpha = 0.4, kBeta = 0.4;
  const double m = kAlpha + p * (1.0 - kAlpha - kBeta);
  const double aleph = static_cast<double>(n) * p + m;
  const auto k = static_cast<std::int64_t>(std::floor(std::clamp(aleph, 1.0, static_cast<double>(n - 1))));
  const double gamma = std::clamp(aleph - static_cast<double>(k), 0.0, 1.0);
  return (1.0 - gamma) * sorted[static_cast<std::size_t>(k - 1)] +
         gamma * sorted[static_cast<std::size_t>(k)];
}

std::vector<double> Linspace(double start, double stop, std::int64_t num) {
  std::vector<double> out(static_cast<std::size_t>(num));
  if (num == 1) {
    out[0] = start;
    return out;
  }
  const double step = (stop - start) / static_cast<double>(num - 1);
  for (std::int64_t i = 0; i < num; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<double>(i) * step + start;
  out.back() = stop;
  return out;
}

bool AllClose(double a, double b) { return std::fabs(a - b) <= 1e-8 + 1e-5 * std::fabs(b); }

std::vector<double> Deciles(const std::vector<double>& sorted) {
  std::vector<double> out;
  if (sorted.empty()) return out;
  for (int i = 0; i < 9; ++i) out.push_back(MQuantile(sorted, 0.1 + static_cast<double>(i) * 0.1));
  return out;
}

std::int64_t ShownOutput(const loupe::sdk::DatasetInfo& data, const loupe::sdk::ModelInfo& model,
                         const std::vector<std::string>& names) {
  for (std::size_t k = 0; k < names.size(); ++k) {
    if (!data.positive_label.empty() && names[k] == data.positive_label) return static_cast<std::int64_t>(k);
  }
  return model.IsClassifier() && !names.empty() ? static_cast<std::int64_t>(names.size()) - 1 : 0;
}

std::vector<double> PredictAll(const loupe::sdk::Host& host, const std::vector<double>& rows, std::int64_t n,
                               std::int64_t width, LoupeOutputSpace space, std::int64_t n_outputs) {
  std::vector<double> out(static_cast<std::size_t>(n * n_outputs));
  host.ParallelFor(0, n, kBatchRows, [&](std::int64_t begin, std::int64_t end) {
    host.ThrowIfCancelled();
    host.Predict(rows.data() + begin * width, end - begin, width, space, out.data() + begin * n_outputs,
                 (end - begin) * n_outputs);
  });
  return out;
}

std::vector<double> GatherRows(const loupe::sdk::Matrix& x, const std::vector<std::int64_t>& rows) {
  std::vector<double> out;
  out.reserve(rows.size() * static_cast<std::size_t>(x.cols()));
  for (const std::int64_t r : rows) out.insert(out.end(), x.Row(r), x.Row(r) + x.cols());
  return out;
}

std::vector<std::int64_t> NonEmptyStepRows(const loupe::sdk::Host& host, const std::string& explainer) {
  std::vector<std::int64_t> rows = host.StepRows();
  if (rows.empty()) throw InvalidArgument(explainer + " needs at least one row, and the step selects none");
  return rows;
}

}  // namespace loupe::effects
