#include "partial_dependence.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <utility>

#include "effects_common.hpp"
#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/common_params.hpp"
#include "loupe/sdk/error.hpp"
#include "plugin_common/scratch_vector.hpp"

namespace loupe::effects {
namespace {

using loupe::plugin_common::ScratchVector;
using loupe::sdk::DescribeJson;
using loupe::sdk::FormatNumber;
using loupe::sdk::Host;
using loupe::sdk::InvalidArgument;
using loupe::sdk::Matrix;
using loupe::sdk::Param;

// `features`: a list whose items are a feature name (a one-way curve) or a list of two names (a two-way
// interaction grid).
std::vector<std::vector<std::string>> ParseFeatureSets(const nlohmann::json& features) {
  std::vector<std::vector<std::string>> sets;
  if (features.is_null()) return sets;
  if (features.is_string()) return {{features.get<std::string>()}};
  if (!features.is_array() || features.empty()) {
    throw InvalidArgument(
        "parameter 'features' must be a non-empty list of feature names or pairs of names, found " +
        DescribeJson(features));
  }
  for (const auto& item : features) {
    std::vector<std::string> set;
    if (item.is_string()) {
      set.push_back(item.get<std::string>());
    } else if (item.is_array() && (item.size() == 1 || item.size() == 2) &&
               std::all_of(item.begin(), item.end(), [](const auto& v) { return v.is_string(); })) {
      for (const auto& name : item) set.push_back(name.get<std::string>());
    } else {
      throw InvalidArgument("parameter 'features' must list feature names or pairs of names, found " +
                            DescribeJson(item));
    }
    if (set.size() == 2 && set[0] == set[1]) {
      throw InvalidArgument("parameter 'features' pairs feature '" + set[0] + "' with itself");
    }
    sets.push_back(std::move(set));
  }
  return sets;
}

std::pair<double, double> ParsePercentiles(const nlohmann::json& value) {
  if (!value.is_array() || value.size() != 2 || !value[0].is_number() || !value[1].is_number()) {
    throw InvalidArgument("parameter 'percentiles' must be a list of two numbers in [0, 1], found " +
                          DescribeJson(value));
  }
  const double lo = value[0].get<double>(), hi = value[1].get<double>();
  if (!(lo >= 0 && hi <= 1)) {
    throw InvalidArgument("parameter 'percentiles' values must be in [0, 1], found [" + FormatNumber(lo) +
                          ", " + FormatNumber(hi) + "]");
  }
  if (!(lo < hi)) {
    throw InvalidArgument(
        "parameter 'percentiles' must be increasing (the first strictly below the second), "
        "found [" +
        FormatNumber(lo) + ", " + FormatNumber(hi) + "]");
  }
  return {lo, hi};
}

// The values of grid point g, one per axis (the first axis slowest).
void GridPointValues(const std::vector<GridAxis>& axes, std::int64_t g, double* point) {
  std::int64_t rest = g;
  for (std::size_t a = axes.size(); a-- > 0;) {
    const auto size = static_cast<std::int64_t>(axes[a].values.size());
    point[a] = axes[a].values[static_cast<std::size_t>(rest % size)];
    rest /= size;
  }
}

// Writes grid point g into `out`: a copy of the step's rows (`base`, [R, width]) with the axes' columns set
// to the point's values (the first axis slowest).
void FillGridPoint(const std::vector<double>& base, std::int64_t width, const std::vector<GridAxis>& axes,
                   std::int64_t g, double* out) {
  double point[2] = {0, 0};
  GridPointValues(axes, g, point);
  std::copy(base.begin(), base.end(), out);
  const auto n_rows = static_cast<std::int64_t>(base.size()) / width;
  for (std::size_t a = 0; a < axes.size(); ++a) {
    double* cell = out + axes[a].column;
    for (std::int64_t r = 0; r < n_rows; ++r, cell += width) *cell = point[a];
  }
}

// Grid points per chunk: chunks of about `chunk_rows` rows, of equal size (one per thread when there are
// few), whatever the thread count.
std::int64_t PointsPerChunk(std::int64_t n_points, std::int64_t n_rows, std::int64_t chunk_rows) {
  const std::int64_t chunks = std::max<std::int64_t>(1, (n_points * n_rows + chunk_rows - 1) / chunk_rows);
  return (n_points + chunks - 1) / chunks;
}

// The mean of output k over a grid point's rows ([rows][outputs]): four running sums over the rows in
// order (r mod 4), then added, so that the additions do not wait on each other. The same bits whatever
// the chunking, since a point's rows are always summed together.
double MeanOfRows(const double* point, std::int64_t n_rows, std::int64_t n_outputs, std::int64_t k) {
  double lanes[4] = {0, 0, 0, 0};
  std::int64_t r = 0;
  for (; r + 4 <= n_rows; r += 4) {
    for (std::int64_t lane = 0; lane < 4; ++lane) lanes[lane] += point[(r + lane) * n_outputs + k];
  }
  for (; r < n_rows; ++r) lanes[r % 4] += point[r * n_outputs + k];
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) / static_cast<double>(n_rows);
}

// Grid points [begin, end) through the "row_variants" capability: every row of `base` with the axes'
// columns set to the point's values, into `out` ([points][rows][outputs], as a materialised batch).
void PredictGridVariants(const Host& host, const LoupeRowVariants& variants, const std::vector<double>& base,
                         std::int64_t width, const std::vector<GridAxis>& axes, std::int64_t begin,
                         std::int64_t end, LoupeOutputSpace space, double* out, std::int64_t capacity) {
  const auto n_axes = static_cast<std::int64_t>(axes.size());
  const ScratchVector<std::int64_t> offsets(static_cast<std::size_t>(end - begin + 1));
  const ScratchVector<std::int64_t> columns(static_cast<std::size_t>((end - begin) * n_axes));
  const ScratchVector<double> values(static_cast<std::size_t>((end - begin) * n_axes));
  offsets.data()[0] = 0;
  for (std::int64_t g = begin; g < end; ++g) {
    const std::int64_t v = g - begin;
    GridPointValues(axes, g, values.data() + v * n_axes);
    for (std::int64_t a = 0; a < n_axes; ++a)
      columns.data()[v * n_axes + a] = axes[static_cast<std::size_t>(a)].column;
    offsets.data()[v + 1] = (v + 1) * n_axes;
  }
  const std::int64_t n_rows = static_cast<std::int64_t>(base.size()) / width;
  host.PredictRowVariants(variants, base.data(), n_rows, width, end - begin, offsets.data(), columns.data(),
                          values.data(), space, out, capacity);
}

nlohmann::json AxisJson(const GridAxis& axis, const loupe::sdk::FeatureInfo& feature) {
  return {{"feature", feature.name},
          {"categorical", axis.categorical},
          {"values", axis.values},
          {"labels", axis.labels},
          {"deciles", axis.deciles}};
}

}  // namespace

GridAxis BuildAxis(const Matrix& x, const std::vector<std::int64_t>& rows, std::int64_t column,
                   const loupe::sdk::FeatureInfo& feature, bool categorical, double lo, double hi,
                   std::int64_t resolution) {
  GridAxis axis;
  axis.column = column;
  axis.categorical = categorical || feature.IsCategorical();
  const std::vector<double> sorted = SortedFinite(x, rows, column);
  if (sorted.empty()) {
    throw InvalidArgument("feature '" + feature.name +
                          "' is missing on every row of the step, so it has no "
                          "partial-dependence grid");
  }
  std::vector<double> uniques = Unique(sorted);
  if (axis.categorical || static_cast<std::int64_t>(uniques.size()) < resolution) {
    axis.values = std::move(uniques);
  } else {
    const double start = MQuantile(sorted, lo), stop = MQuantile(sorted, hi);
    if (AllClose(start, stop)) {
      throw InvalidArgument("the percentiles of feature '" + feature.name +
                            "' are too close to each other (" + FormatNumber(start) + " and " +
                            FormatNumber(stop) + ") to build a grid; choose percentiles further apart");
    }
    axis.values = Linspace(start, stop, resolution);
  }
  for (const double value : axis.values) axis.labels.push_back(loupe::sdk::FormatValue(feature, value));
  if (!feature.IsCategorical()) axis.deciles = Deciles(sorted);
  return axis;
}

Curves ComputeCurves(const Host& host, const Matrix& x, const std::vector<std::int64_t>& rows,
                     const std::vector<GridAxis>& axes, LoupeOutputSpace space, std::int64_t n_outputs,
                     bool centered, bool keep_individual) {
  const auto n_rows = static_cast<std::int64_t>(rows.size());
  const std::int64_t width = x.cols();
  std::int64_t n_points = 1;
  for (const auto& axis : axes) n_points *= static_cast<std::int64_t>(axis.values.size());
  // Centring needs each curve's first point, which another chunk computes: keep the curves then.
  keep_individual = keep_individual || centered;
  Curves curves;
  if (keep_individual) curves.individual.assign(static_cast<std::size_t>(n_outputs * n_rows * n_points), 0.0);
  curves.average.assign(static_cast<std::size_t>(n_outputs * n_points), 0.0);
  const std::vector<double> base = GatherRows(x, rows);  // contiguous: each grid point is one block copy
  // A model with a linear first layer evaluates a grid point from the rows' first-layer pre-activations
  // plus one weight column per axis (the "row_variants" capability): several grid points per call, since
  // the call computes the rows' first layer once. Otherwise whole grid points per chunk, about kBatchRows
  // rows each, materialised: one model call per chunk. A point's values do not depend on the chunking.
  const LoupeRowVariants* variants = host.Capability<LoupeRowVariants>();
  const std::int64_t points_per_chunk =
      PointsPerChunk(n_points, n_rows, variants != nullptr ? kVariantRows : kBatchRows);
  std::atomic<std::uint64_t> done{0};
  host.ParallelFor(0, n_points, points_per_chunk, [&](std::int64_t begin, std::int64_t end) {
    host.ThrowIfCancelled();
    const std::int64_t batch_rows = (end - begin) * n_rows;
    // Per-thread buffers: a chunk allocates (and page-faults) nothing once its thread has seen one.
    const ScratchVector<double> predicted(static_cast<std::size_t>(batch_rows * n_outputs));
    if (variants != nullptr) {
      PredictGridVariants(host, *variants, base, width, axes, begin, end, space, predicted.data(),
                          batch_rows * n_outputs);
    } else {
      const ScratchVector<double> batch(static_cast<std::size_t>(batch_rows * width));
      for (std::int64_t g = begin; g < end; ++g)
        FillGridPoint(base, width, axes, g, batch.data() + (g - begin) * n_rows * width);
      host.Predict(batch.data(), batch_rows, width, space, predicted.data(), batch_rows * n_outputs);
    }
    for (std::int64_t g = begin; g < end; ++g) {
      const double* point = predicted.data() + (g - begin) * n_rows * n_outputs;
      for (std::int64_t k = 0; k < n_outputs; ++k) {
        curves.average[static_cast<std::size_t>(k * n_points + g)] = MeanOfRows(point, n_rows, n_outputs, k);
        if (!keep_individual) continue;
        for (std::int64_t r = 0; r < n_rows; ++r)
          curves.individual[static_cast<std::size_t>((k * n_rows + r) * n_points + g)] =
              point[r * n_outputs + k];
      }
    }
    host.Progress(done += static_cast<std::uint64_t>(end - begin), static_cast<std::uint64_t>(n_points));
  });
  if (!centered) return curves;
  // Centred ICE (scikit-learn's PartialDependenceDisplay(centered=True)): every curve minus its value at
  // the first grid point, and the average of those, summed in row order.
  std::fill(curves.average.begin(), curves.average.end(), 0.0);
  for (std::int64_t k = 0; k < n_outputs; ++k) {
    double* average = curves.average.data() + k * n_points;
    for (std::int64_t r = 0; r < n_rows; ++r) {
      double* curve = curves.individual.data() + (k * n_rows + r) * n_points;
      const double first = curve[0];
      for (std::int64_t g = 0; g < n_points; ++g) {
        curve[g] -= first;
        average[g] += curve[g];
      }
    }
    for (std::int64_t g = 0; g < n_points; ++g) average[g] /= static_cast<double>(n_rows);
  }
  return curves;
}

PartialDependence::PartialDependence(const Host& host) {
  const loupe::sdk::Params& params = host.Params();
  feature_sets_ = ParseFeatureSets(params.GetOr<nlohmann::json>("features", nullptr));
  curves_ = params.GetOr<std::string>("kind", "average");
  grid_resolution_ = params.GetOr<std::int64_t>("grid_resolution", 100);
  if (grid_resolution_ <= 1) {
    throw InvalidArgument("parameter 'grid_resolution' must be greater than 1, found " +
                          std::to_string(grid_resolution_));
  }
  std::tie(percentile_lo_, percentile_hi_) =
      ParsePercentiles(params.GetOr<nlohmann::json>("percentiles", nlohmann::json::array({0.05, 0.95})));
  categorical_ = params.GetOr<std::vector<std::string>>("categorical_features", {});
  centered_ = params.GetOr<bool>("centered", false);
}

void PartialDependence::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const loupe::sdk::DatasetInfo data = host.Dataset();
  const Matrix x = host.Features();
  const loupe::sdk::OutputSelection selection = loupe::sdk::SelectOutput(host, "output");
  const auto n_outputs = static_cast<std::int64_t>(selection.names.size());
  const std::vector<std::int64_t> rows = NonEmptyStepRows(host, "effects.partial_dependence");
  const auto n_rows = static_cast<std::int64_t>(rows.size());
  for (const auto& name : categorical_) FeatureColumn(data, name, "categorical_features");
  std::vector<std::vector<std::string>> sets = feature_sets_;
  if (sets.empty()) {
    for (const auto& feature : data.features) sets.push_back({feature.name});
  }

  nlohmann::json sets_json = nlohmann::json::array();
  for (std::size_t s = 0; s < sets.size(); ++s) {
    std::vector<GridAxis> axes;
    nlohmann::json axes_json = nlohmann::json::array();
    std::vector<std::int64_t> shape = {n_outputs};
    for (const auto& name : sets[s]) {
      const std::int64_t column = FeatureColumn(data, name, "features");
      const bool listed = std::find(categorical_.begin(), categorical_.end(), name) != categorical_.end();
      const auto& feature = data.features[static_cast<std::size_t>(column)];
      axes.push_back(
          BuildAxis(x, rows, column, feature, listed, percentile_lo_, percentile_hi_, grid_resolution_));
      axes_json.push_back(AxisJson(axes.back(), feature));
      shape.push_back(static_cast<std::int64_t>(axes.back().values.size()));
    }
    const Curves curves =
        ComputeCurves(host, x, rows, axes, selection.space, n_outputs, centered_, curves_ != "average");
    sets_json.push_back({{"features", sets[s]}, {"axes", axes_json}});
    const std::string key = std::to_string(s);
    if (curves_ != "individual") result.SetTensor("average." + key, shape, curves.average.data());
    if (curves_ != "average") {
      std::vector<std::int64_t> individual_shape = shape;
      individual_shape.insert(individual_shape.begin() + 1, n_rows);
      result.SetTensor("individual." + key, individual_shape, curves.individual.data());
    }
  }
  result.SetJson("feature_sets", sets_json);
  result.SetStrings("output_names", selection.names);
  result.SetNumber("shown_output", static_cast<double>(ShownOutput(data, host.ModelInfo(), selection.names)));
  result.SetJson("rows", rows);
  result.SetString("curves", curves_);
  result.SetJson("centered", centered_);
  result.SetNumber("quality.rows", static_cast<double>(n_rows));
  std::int64_t evaluations = 0;
  for (const auto& set : sets_json) {
    std::int64_t points = n_rows;
    for (const auto& axis : set["axes"]) points *= static_cast<std::int64_t>(axis["values"].size());
    evaluations += points;
  }
  result.SetNumber("quality.model_evaluations", static_cast<double>(evaluations));
}

loupe::sdk::ExplainerDef PartialDependence::Definition() {
  return loupe::sdk::ExplainerDef::Of<PartialDependence>("effects.partial_dependence")
      .Summary(
          "Partial dependence and ICE curves over a grid of one feature or a pair, as scikit-learn's "
          "partial_dependence.")
      .Kind("partial_dependence")
      .Scope(LOUPE_SCOPE_GLOBAL)
      .Parameters({
          Param::Json("features")
              .Doc("Feature names (one-way curves) or pairs of names (two-way grids), e.g. [Income, [Age, "
                   "Income]]; unset: every feature, one-way."),
          Param::Enum("kind", {"average", "individual", "both"})
              .Default("average")
              .Doc("The partial dependence averaged over the rows, the ICE curve of every row, or both."),
          Param::Int("grid_resolution")
              .Default(100)
              .Min(2)
              .Doc("Grid points per numeric feature; a feature with fewer unique values uses those values."),
          Param::Json("percentiles")
              .Default(nlohmann::json::array({0.05, 0.95}))
              .Doc("The two percentiles (scipy's mquantiles) that bound a numeric feature's grid."),
          Param::StringList("categorical_features")
              .Doc("Numeric features to treat as categorical (their unique values as the grid); the data's "
                   "categorical features always are."),
          Param::Bool("centered")
              .Default(false)
              .Doc("Subtract each curve's value at the first grid point (centred ICE), and average those."),
          loupe::sdk::OutputParam(),
      });
}

}  // namespace loupe::effects
