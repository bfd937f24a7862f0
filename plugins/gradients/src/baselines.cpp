#include "baselines.hpp"

namespace loupe::gradients {
namespace {

// RNG stream of a sampled `rows` selection, apart from the noise streams of the explainers.
constexpr std::uint64_t kBaselineRowsStream = 0x6261736Cu;  // "basl"

std::vector<double> MeanOfRows(const std::vector<std::int64_t>& rows, const sdk::DatasetInfo& data,
                               const sdk::Matrix& x) {
  const std::int64_t f = x.cols();
  std::vector<double> mean(static_cast<std::size_t>(f), kHold);
  for (std::int64_t j = 0; j < f; ++j) {
    if (rows.size() == 1) {
      mean[static_cast<std::size_t>(j)] = x(rows[0], j);
      continue;
    }
    if (data.features[static_cast<std::size_t>(j)].IsCategorical()) continue;  // no mean level: hold
    double sum = 0.0, count = 0.0;
    for (const std::int64_t row : rows) {
      if (std::isnan(x(row, j))) continue;
      sum += x(row, j);
      count += 1.0;
    }
    if (count > 0) mean[static_cast<std::size_t>(j)] = sum / count;
  }
  return mean;
}

[[noreturn]] void Refuse(const nlohmann::json& baselines) {
  throw sdk::InvalidArgument(
      "parameter 'baselines' must be \"zeros\", \"mean\", {\"rows\": SELECTION} or {\"values\": {FEATURE: "
      "NUMBER}}, found " +
      baselines.dump());
}

}  // namespace

std::vector<double> ResolveBaseline(const sdk::Host& host, const nlohmann::json& baselines,
                                    const sdk::DatasetInfo& data, const sdk::Matrix& x) {
  const auto f = static_cast<std::size_t>(x.cols());
  if (baselines == "zeros") return std::vector<double>(f, 0.0);
  if (baselines == "mean") {
    std::vector<std::int64_t> all(static_cast<std::size_t>(x.rows()));
    for (std::int64_t i = 0; i < x.rows(); ++i) all[static_cast<std::size_t>(i)] = i;
    if (all.size() == 1) all.push_back(0);  // a mean, not "that row"
    return MeanOfRows(all, data, x);
  }
  if (!baselines.is_object() || baselines.size() != 1) Refuse(baselines);
  if (baselines.contains("rows")) {
    const std::vector<std::int64_t> rows =
        host.ResolveRows(baselines["rows"], kBaselineRowsStream, "baselines.rows");
    if (rows.empty()) throw sdk::InvalidArgument("parameter 'baselines.rows' selects no row");
    return MeanOfRows(rows, data, x);
  }
  if (!baselines.contains("values") || !baselines["values"].is_object()) Refuse(baselines);
  std::vector<double> values(f, 0.0);
  for (const auto& [name, value] : baselines["values"].items()) {
    std::size_t j = 0;
    while (j < f && data.features[j].name != name) ++j;
    if (j == f)
      throw sdk::InvalidArgument("parameter 'baselines.values' names '" + name + "', which is not a feature");
    if (!value.is_number()) {
      throw sdk::InvalidArgument("parameter 'baselines.values." + name + "' must be a number, found " +
                                 value.dump());
    }
    values[j] = value.get<double>();
  }
  return values;
}

void BaselineFor(const double* row, const std::vector<double>& baseline, const sdk::DatasetInfo& data,
                 bool categorical_levels, double* out) {
  for (std::size_t j = 0; j < baseline.size(); ++j) {
    const bool hold = std::isnan(baseline[j]) || (data.features[j].IsCategorical() && !categorical_levels);
    out[j] = hold ? row[j] : baseline[j];
  }
}

}  // namespace loupe::gradients
