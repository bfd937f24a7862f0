// occlusion.ablation — how much each output drops when one feature is "removed": replaced by its
// background mean (numeric) or mode (categorical).
//   base_values[r][o] = f(x)
//   values[r][o][i]   = f(x) - f(x with feature i replaced by its reference value)
// Missing values are ignored when computing a reference; a feature missing in every background row keeps
// NaN as its reference, which the model sees as missing.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "loupe/sdk/plugin.hpp"

namespace {

using loupe::sdk::Host;

constexpr std::int64_t kBatchRows = 4096;            // model rows per Predict call
constexpr std::uint64_t kBackgroundStream = 0x4f43;  // RNG stream of a sampled background ("OC")

// The mean (numeric) or most frequent code (categorical, ties to the lowest code) of each feature over
// the background rows, skipping missing values.
std::vector<double> References(const loupe::sdk::DatasetInfo& data, const loupe::sdk::Matrix& x,
                               const std::vector<std::int64_t>& background) {
  std::vector<double> references;
  for (std::int64_t j = 0; j < x.cols(); ++j) {
    double sum = 0, count = 0;
    std::map<double, std::int64_t> frequency;
    for (const std::int64_t b : background) {
      const double value = x(b, j);
      if (std::isnan(value)) continue;
      sum += value;
      ++count;
      ++frequency[value];
    }
    double reference = NAN;
    if (count > 0 && data.features[j].IsCategorical()) {
      reference = std::max_element(frequency.begin(), frequency.end(), [](const auto& a, const auto& b) {
                    return a.second < b.second;  // first maximum = lowest code among ties
                  })->first;
    } else if (count > 0) {
      reference = sum / count;
    }
    references.push_back(reference);
  }
  return references;
}

// The background rows: `background` resolved by the host; a count of at least the data's rows is all.
std::vector<std::int64_t> Background(const Host& host, std::int64_t n_rows) {
  nlohmann::json selection = host.Params().Get<nlohmann::json>("background");
  if (selection.is_number_integer() && selection.get<std::int64_t>() >= n_rows) selection = "all";
  std::vector<std::int64_t> rows = host.ResolveRows(selection, kBackgroundStream, "background");
  if (rows.empty()) {
    throw loupe::sdk::InvalidArgument("parameter 'background' must select at least one row, found " +
                                      loupe::sdk::DescribeJson(selection));
  }
  return rows;
}

class Ablation final : public loupe::sdk::Explainer {
 public:
  explicit Ablation(const Host& host) {
    loupe::sdk::SelectOutput(host);
    Background(host, host.Dataset().n_rows);
  }

  void Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const override {
    const loupe::sdk::DatasetInfo data = host.Dataset();
    const loupe::sdk::OutputSelection output = loupe::sdk::SelectOutput(host);
    const loupe::sdk::Matrix x = host.Features();
    const std::vector<std::int64_t> rows = host.StepRows();
    const std::vector<double> references = References(data, x, Background(host, data.n_rows));
    const auto r = static_cast<std::int64_t>(rows.size());
    const auto o = static_cast<std::int64_t>(output.names.size());
    const std::int64_t f = x.cols();

    loupe::sdk::FeatureAttribution attribution;
    attribution.feature_names = data.FeatureNames();
    attribution.output_names = output.names;
    attribution.rows = rows;
    attribution.base_values.resize(static_cast<std::size_t>(r * o));
    attribution.values.resize(static_cast<std::size_t>(r * o * f));
    // Each explained row needs 1 + F model rows: itself, then one per ablated feature.
    const std::int64_t grain = std::max<std::int64_t>(1, kBatchRows / (1 + f));
    host.ParallelFor(0, r, grain, [&](std::int64_t begin, std::int64_t end) {
      host.ThrowIfCancelled();
      std::vector<double> batch;
      for (std::int64_t i = begin; i < end; ++i) AppendAblated(x.Row(rows[i]), references, &batch);
      const std::vector<double> y = host.Predict(batch.data(), (end - begin) * (1 + f), output.space);
      for (std::int64_t i = begin; i < end; ++i) {
        const double* yi = y.data() + (i - begin) * (1 + f) * o;
        for (std::int64_t k = 0; k < o; ++k) {
          attribution.base_values[i * o + k] = yi[k];
          for (std::int64_t j = 0; j < f; ++j)
            attribution.values[(i * o + k) * f + j] = yi[k] - yi[(1 + j) * o + k];
        }
      }
      host.Progress(static_cast<std::uint64_t>(end), static_cast<std::uint64_t>(r));
    });
    for (const std::int64_t row : rows) {
      std::vector<std::string> shown;
      for (std::int64_t j = 0; j < f; ++j)
        shown.push_back(loupe::sdk::FormatValue(data.features[j], x(row, j)));
      attribution.data.push_back(shown);
    }
    attribution.Write(result);
    result.SetNumber("quality.model_evaluations", static_cast<double>(r * (1 + f)));
  }

 private:
  // Appends x, then x with feature j replaced by its reference, for every j.
  static void AppendAblated(const double* row, const std::vector<double>& references,
                            std::vector<double>* batch) {
    const auto f = static_cast<std::int64_t>(references.size());
    batch->insert(batch->end(), row, row + f);
    for (std::int64_t j = 0; j < f; ++j) {
      const std::size_t start = batch->size();
      batch->insert(batch->end(), row, row + f);
      (*batch)[start + j] = references[j];
    }
  }
};

}  // namespace

LOUPE_PLUGIN(
    "occlusion", OCCLUSION_VERSION, "Occlusion (feature ablation) attributions for tabular models.",
    loupe::sdk::ExplainerDef::Of<Ablation>("occlusion.ablation")
        .Summary("Drop in each output when one feature is replaced by its background mean or mode.")
        .Kind(loupe::sdk::kFeatureAttribution)
        .Scope(LOUPE_SCOPE_LOCAL)
        .Parameters({
            loupe::sdk::Param::Rows("background")
                .Default(100)
                .Doc("Rows whose mean or mode replaces a feature: \"a:b\", a list, or a count sampled "
                     "with the step seed (all rows when the data has fewer)."),
            loupe::sdk::Param::Enum("output", {"probability", "raw"})
                .Doc("Model outputs to explain; unset, the model's default space."),
        }));
