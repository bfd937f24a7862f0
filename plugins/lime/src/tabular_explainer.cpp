#include "tabular_explainer.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "labels.hpp"
#include "local_model.hpp"
#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/common_params.hpp"
#include "loupe/sdk/error.hpp"
#include "plugin_common/scratch_vector.hpp"
#include "tabular_stats.hpp"

namespace loupe::lime {

using plugin_common::ScratchVector;
namespace {

using loupe::sdk::Host;
using loupe::sdk::InvalidArgument;
using loupe::sdk::Matrix;

struct TabularConfig {
  loupe::sdk::DatasetInfo data;
  loupe::sdk::OutputSelection output;
  LabelRequest labels;
  std::int64_t num_samples = 5000;
  std::int64_t num_features = kDefaultNumFeatures;
  double kernel_width = 0;
  bool discretize = true;
  Discretizer discretizer = Discretizer::kQuartile;
  bool sample_around_instance = false;
  Selection selection = Selection::kAuto;
};

TabularConfig ConfigureTabular(const Host& host) {
  const loupe::sdk::Params& params = host.Params();
  TabularConfig config;
  config.data = host.Dataset();
  const std::int64_t m = config.data.n_features();
  if (m == 0)
    throw loupe::sdk::Unsupported("lime.tabular needs at least one feature, found none in the step's data");
  config.output = loupe::sdk::SelectOutput(host);
  config.labels = ResolveLabels(host, config.output.names);

  config.num_samples = params.GetOr<std::int64_t>("num_samples", 5000);
  if (config.num_samples < 2) {
    throw InvalidArgument(
        "parameter 'num_samples' must be at least 2 (the instance and one perturbation), found " +
        std::to_string(config.num_samples));
  }
  if (params.Has("num_features")) {
    config.num_features = params.Get<std::int64_t>("num_features");
    if (config.num_features < 1 || config.num_features > m) {
      throw InvalidArgument("parameter 'num_features' must be between 1 and the step's " + std::to_string(m) +
                            " features, found " + std::to_string(config.num_features));
    }
  } else {
    config.num_features = std::min(kDefaultNumFeatures, m);
  }
  if (params.Has("kernel_width")) {
    config.kernel_width = params.Get<double>("kernel_width");
    if (!(config.kernel_width > 0)) {
      throw InvalidArgument("parameter 'kernel_width' must be a positive number, found " +
                            loupe::sdk::FormatNumber(config.kernel_width));
    }
  } else {
    config.kernel_width = 0.75 * std::sqrt(static_cast<double>(m));
  }
  config.discretize = params.GetOr<bool>("discretize_continuous", true);
  const std::string discretizer = params.GetOr<std::string>("discretizer", "quartile");
  if (discretizer == "quartile") {
    config.discretizer = Discretizer::kQuartile;
  } else if (discretizer == "decile") {
    config.discretizer = Discretizer::kDecile;
  } else if (discretizer == "entropy") {
    config.discretizer = Discretizer::kEntropy;
    if (config.discretize && config.data.target.empty()) {
      throw InvalidArgument(
          "parameter 'discretizer' is \"entropy\", which needs the training labels, but the data has no "
          "target column (set data.target)");
    }
  } else {
    throw InvalidArgument(
        "parameter 'discretizer' must be \"quartile\", \"decile\" or \"entropy\", found \"" + discretizer +
        "\"");
  }
  config.sample_around_instance = params.GetOr<bool>("sample_around_instance", false);
  config.selection = ReadSelection(host);
  const std::string metric = params.GetOr<std::string>("distance_metric", "euclidean");
  if (metric != "euclidean") {
    throw InvalidArgument("parameter 'distance_metric' must be \"euclidean\", found \"" + metric + "\"");
  }
  return config;
}

std::vector<std::int64_t> ResolveTraining(const Host& host, std::int64_t n_rows) {
  nlohmann::json selection = host.Params().GetOr<nlohmann::json>("background", "all");
  if (selection.is_number_integer() && selection.get<std::int64_t>() >= n_rows) selection = "all";
  std::vector<std::int64_t> rows = host.ResolveRows(selection, kBackgroundStream, "background");
  if (rows.empty()) {
    throw InvalidArgument("parameter 'background' must select at least one training row, found " +
                          loupe::sdk::DescribeJson(selection) + " on data of " + std::to_string(n_rows) +
                          " rows");
  }
  return rows;
}

void CheckRows(const Matrix& x, const std::vector<std::int64_t>& rows, const loupe::sdk::DatasetInfo& data) {
  for (const std::int64_t row : rows) {
    for (std::int64_t j = 0; j < x.cols(); ++j) {
      if (std::isnan(x(row, j))) {
        throw InvalidArgument("lime.tabular cannot explain row " + std::to_string(row) + ": its feature '" +
                              data.features[static_cast<std::size_t>(j)].name + "' is missing");
      }
    }
  }
}

// The kernel sqrt(exp(-d^2 / width^2)) of each row's squared distance d^2 to row 0 (summed over the columns
// in order). Four rows at a time, each its own sum: four independent chains of additions instead of one,
// with the same sums. With discretized or categorical features d^2 is a small integer (the number of
// indicators that differ), so its kernel value is computed once and reused: the same function of the same
// number, so the same bits.
void KernelWeights(const double* local, std::int64_t n, std::int64_t m, double width, double* weights) {
  const double width_sq = width * width;
  constexpr int kCached = 64;
  double cached[kCached];
  bool known[kCached] = {};
  const auto kernel = [&](double d2) {
    if (d2 >= 0.0 && d2 < kCached && d2 == std::floor(d2)) {
      const auto index = static_cast<int>(d2);
      if (!known[index]) {
        cached[index] = std::sqrt(std::exp(-d2 / width_sq));
        known[index] = true;
      }
      return cached[index];
    }
    return std::sqrt(std::exp(-d2 / width_sq));
  };
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const double* x = local + i * m;
    double d0 = 0, d1 = 0, d2 = 0, d3 = 0;
    for (std::int64_t j = 0; j < m; ++j) {
      const double a = x[j] - local[j], b = x[m + j] - local[j], c = x[2 * m + j] - local[j],
                   d = x[3 * m + j] - local[j];
      d0 += a * a;
      d1 += b * b;
      d2 += c * c;
      d3 += d * d;
    }
    weights[i] = kernel(d0);
    weights[i + 1] = kernel(d1);
    weights[i + 2] = kernel(d2);
    weights[i + 3] = kernel(d3);
  }
  for (; i < n; ++i) {
    double d2 = 0;
    for (std::int64_t j = 0; j < m; ++j) {
      const double diff = local[i * m + j] - local[j];
      d2 += diff * diff;
    }
    weights[i] = kernel(d2);
  }
}

RowFits ExplainRow(const Host& host, const TabularConfig& config, const TrainingStats& stats, const double* x,
                   std::int64_t row, std::int64_t n_outputs) {
  const std::int64_t n = config.num_samples;
  const auto m = static_cast<std::int64_t>(stats.features.size());
  // Per-thread scratch: these are MBs per row (docs/architecture.md §4).
  ScratchVector<double> local(static_cast<std::size_t>(n * m));
  ScratchVector<double> inverse(static_cast<std::size_t>(n * m));
  loupe::sdk::Rng rng = host.Rng(static_cast<std::uint64_t>(row), kSampleStream);
  SampleNeighbourhood(stats, x, n, config.sample_around_instance, rng, local.data(), inverse.data());

  ScratchVector<double> out(static_cast<std::size_t>(n * n_outputs));
  host.Predict(inverse.data(), n, m, config.output.space, out.data(), n * n_outputs);

  ScratchVector<double> weights(static_cast<std::size_t>(n));
  KernelWeights(local.data(), n, m, config.kernel_width, weights.data());
  const LocalDesign design = SummarizeDesign(local.data(), n, m, weights.data());

  RowFits fits;
  fits.prediction.assign(out->begin(), out->begin() + n_outputs);
  ScratchVector<double> y(static_cast<std::size_t>(n));
  for (const std::int64_t output : RowLabels(config.labels, fits.prediction.data(), n_outputs)) {
    for (std::int64_t i = 0; i < n; ++i)
      y[static_cast<std::size_t>(i)] = out[static_cast<std::size_t>(i * n_outputs + output)];
    LabelFit fit =
        FitLabel(design, local.data(), n, y.data(), weights.data(), config.selection, config.num_features);
    fit.output = output;
    fits.labels.push_back(std::move(fit));
  }
  return fits;
}

// lime's as_list() per row and reported output: {feature, condition, weight} by |weight|, or null when the
// row did not explain the output.
nlohmann::json Conditions(const TabularConfig& config, const TrainingStats& stats, const RowFits& row,
                          const std::vector<std::int64_t>& outputs, const double* instance) {
  nlohmann::json per_output = nlohmann::json::array();
  for (const std::int64_t output : outputs) {
    const LabelFit* fit = FindFit(row, output);
    if (fit == nullptr) {
      per_output.push_back(nullptr);
      continue;
    }
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [feature, weight] : fit->ranked) {
      list.push_back({{"feature", config.data.features[static_cast<std::size_t>(feature)].name},
                      {"condition", Condition(stats, config.data, feature, instance)},
                      {"weight", weight}});
    }
    per_output.push_back(std::move(list));
  }
  return per_output;
}

}  // namespace

TabularExplainer::TabularExplainer(const Host& host) {
  const TabularConfig config = ConfigureTabular(host);
  ResolveTraining(host, config.data.n_rows);
}

void TabularExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const TabularConfig config = ConfigureTabular(host);
  const Matrix x = host.Features();
  const std::vector<std::int64_t> rows = host.StepRows();
  const std::vector<std::int64_t> training = ResolveTraining(host, config.data.n_rows);
  CheckRows(x, rows, config.data);
  std::vector<double> targets;
  if (config.discretize && config.discretizer == Discretizer::kEntropy)
    targets = host.Column(config.data.target).values;
  const TrainingStats stats =
      ComputeStats(x, training, config.data, config.discretize, config.discretizer, &targets);
  const std::int64_t n_outputs = host.OutputCount(config.output.space);
  const auto r = static_cast<std::int64_t>(rows.size());
  const auto m = x.cols();

  std::vector<RowFits> explained(static_cast<std::size_t>(r));
  std::atomic<std::uint64_t> done{0};
  host.ParallelFor(0, r, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      host.ThrowIfCancelled();
      const std::int64_t row = rows[static_cast<std::size_t>(i)];
      explained[static_cast<std::size_t>(i)] = ExplainRow(host, config, stats, x.Row(row), row, n_outputs);
      host.Progress(++done, static_cast<std::uint64_t>(r));
    }
  });

  const std::vector<std::int64_t> outputs = ReportedOutputs(config.labels, explained);
  loupe::sdk::FeatureAttribution attribution;
  attribution.feature_names = config.data.FeatureNames();
  attribution.rows = rows;
  nlohmann::json conditions = nlohmann::json::array();
  for (std::int64_t i = 0; i < r; ++i) {
    const double* instance = x.Row(rows[static_cast<std::size_t>(i)]);
    std::vector<std::string> data;
    for (std::int64_t j = 0; j < m; ++j) {
      data.push_back(loupe::sdk::FormatValue(config.data.features[static_cast<std::size_t>(j)], instance[j]));
    }
    attribution.data.push_back(std::move(data));
    conditions.push_back(
        Conditions(config, stats, explained[static_cast<std::size_t>(i)], outputs, instance));
  }
  WriteLabelFields(result, config.labels, config.output.names, outputs, explained, &attribution);
  result.SetJson("conditions", conditions);
  result.SetNumber("quality.model_evaluations", static_cast<double>(r * config.num_samples));
  result.SetNumber("quality.training_rows", static_cast<double>(training.size()));
  result.SetNumber("quality.kernel_width", config.kernel_width);
  result.SetNumber("quality.num_features", static_cast<double>(config.num_features));
  result.SetNumber("quality.min_score", MinScore(explained));
}

loupe::sdk::ExplainerDef TabularExplainer::Definition() {
  using loupe::sdk::Param;
  return loupe::sdk::ExplainerDef::Of<TabularExplainer>("lime.tabular")
      .Summary(
          "LIME: a weighted ridge fitted to the model on perturbations around each row, with lime's "
          "defaults.")
      .Kind(loupe::sdk::kFeatureAttribution)
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters({
          Param::Int("num_samples")
              .Default(5000)
              .Doc("Neighbourhood size per explained row, the row itself included (at least 2)."),
          Param::Int("num_features")
              .Doc("Features kept in the local model; unset: 10, or every feature when the data has fewer."),
          Param::Float("kernel_width")
              .Doc("Width w of the kernel sqrt(exp(-d^2/w^2)) on the distance d to the row; unset: "
                   "0.75*sqrt(M)."),
          Param::Bool("discretize_continuous")
              .Default(true)
              .Doc("Discretize numeric features into bins and explain with \"same bin as the row\" "
                   "indicators."),
          Param::Enum("discretizer", {"quartile", "decile", "entropy"})
              .Default("quartile")
              .Doc("Bins of the numeric features: training quartiles, deciles, or the splits of a depth-3 "
                   "entropy tree "
                   "on the target (needs data.target)."),
          Param::Bool("sample_around_instance")
              .Default(false)
              .Doc("Without discretization, draw numeric features around the row instead of around the "
                   "training mean."),
          FeatureSelectionParam("features"),
          loupe::sdk::LabelsParam(),
          loupe::sdk::TopLabelsParam(),
          Param::Enum("distance_metric", {"euclidean"})
              .Default("euclidean")
              .Doc("Distance between the scaled neighbourhood rows and the row."),
          Param::Rows("background")
              .Doc("Training rows for the statistics (means, stds, bins, category frequencies); unset: every "
                   "row."),
          loupe::sdk::OutputParam(),
      });
}

}  // namespace loupe::lime
