// my_plugin.sensitivity — local sensitivity of each model output to each numeric feature, by central
// finite differences: values[r][o][f] = (f(x + h e_f) - f(x - h e_f)) / (2 h), with h = `step` times the
// feature's standard deviation over the data (or `step` when the feature is constant). Categorical
// features have no derivative and get 0. base_values[r][o] = f(x).
//
// It shows the whole SDK in a hundred lines: parameters, output space, batched and parallel model calls,
// progress, cancellation and the feature_attribution result.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "loupe/sdk/plugin.hpp"

namespace {

using loupe::sdk::Host;

constexpr std::int64_t kBatchRows = 4096;  // model rows per Predict call

class Sensitivity final : public loupe::sdk::Explainer {
 public:
  // create(): check everything that can be checked before the step runs.
  explicit Sensitivity(const Host& host) { loupe::sdk::SelectOutput(host); }

  void Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const override {
    const loupe::sdk::DatasetInfo data = host.Dataset();
    const loupe::sdk::OutputSelection output = loupe::sdk::SelectOutput(host);
    const loupe::sdk::Matrix x = host.Features();
    const std::vector<std::int64_t> rows = host.StepRows();
    const std::vector<double> steps = Steps(data, x, host.Params().Get<double>("step"));
    const auto r = static_cast<std::int64_t>(rows.size());
    const auto o = static_cast<std::int64_t>(output.names.size());
    const std::int64_t f = x.cols();

    loupe::sdk::FeatureAttribution attribution;
    attribution.feature_names = data.FeatureNames();
    attribution.output_names = output.names;
    attribution.rows = rows;
    attribution.base_values.resize(static_cast<std::size_t>(r * o));
    attribution.values.resize(static_cast<std::size_t>(r * o * f));
    // Each explained row needs 1 + 2F model rows; each chunk of rows is one model call.
    const std::int64_t grain = std::max<std::int64_t>(1, kBatchRows / (1 + 2 * f));
    host.ParallelFor(0, r, grain, [&](std::int64_t begin, std::int64_t end) {
      host.ThrowIfCancelled();
      std::vector<double> batch;
      for (std::int64_t i = begin; i < end; ++i) AppendPerturbed(x.Row(rows[i]), f, steps, &batch);
      const std::vector<double> y = host.Predict(batch.data(), (end - begin) * (1 + 2 * f), output.space);
      for (std::int64_t i = begin; i < end; ++i) {
        const double* yi = y.data() + (i - begin) * (1 + 2 * f) * o;
        for (std::int64_t k = 0; k < o; ++k) {
          attribution.base_values[i * o + k] = yi[k];
          for (std::int64_t j = 0; j < f; ++j) {
            const double up = yi[(1 + 2 * j) * o + k], down = yi[(2 + 2 * j) * o + k];
            attribution.values[(i * o + k) * f + j] = steps[j] > 0 ? (up - down) / (2 * steps[j]) : 0.0;
          }
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
    result.SetNumber("quality.model_evaluations", static_cast<double>(r * (1 + 2 * f)));
  }

 private:
  // h per feature: step * standard deviation (step when constant); 0 for categoricals.
  static std::vector<double> Steps(const loupe::sdk::DatasetInfo& data, const loupe::sdk::Matrix& x,
                                   double step) {
    std::vector<double> steps;
    for (std::int64_t j = 0; j < x.cols(); ++j) {
      if (data.features[j].IsCategorical()) {
        steps.push_back(0.0);
        continue;
      }
      double sum = 0, squares = 0, n = 0;
      for (std::int64_t i = 0; i < x.rows(); ++i) {
        if (std::isnan(x(i, j))) continue;
        sum += x(i, j);
        squares += x(i, j) * x(i, j);
        ++n;
      }
      const double variance = n > 1 ? std::max(0.0, (squares - sum * sum / n) / (n - 1)) : 0.0;
      steps.push_back(variance > 0 ? step * std::sqrt(variance) : step);
    }
    return steps;
  }

  // Appends x, then x + h e_j and x - h e_j for every feature j.
  static void AppendPerturbed(const double* row, std::int64_t f, const std::vector<double>& steps,
                              std::vector<double>* batch) {
    batch->insert(batch->end(), row, row + f);
    for (std::int64_t j = 0; j < f; ++j) {
      for (const double sign : {1.0, -1.0}) {
        const std::size_t start = batch->size();
        batch->insert(batch->end(), row, row + f);
        (*batch)[start + j] += sign * steps[j];
      }
    }
  }
};

}  // namespace

LOUPE_PLUGIN(
    "my_plugin", MY_PLUGIN_VERSION, "An example plugin: finite-difference sensitivities.",
    loupe::sdk::ExplainerDef::Of<Sensitivity>("my_plugin.sensitivity")
        .Summary("Derivative of each output with respect to each numeric feature, by central differences.")
        .Kind(loupe::sdk::kFeatureAttribution)
        .Scope(LOUPE_SCOPE_LOCAL)
        .Parameters({
            loupe::sdk::Param::Float("step").Default(1e-3).Min(1e-12).Max(1.0).Doc(
                "Finite-difference step as a fraction of each feature's standard deviation."),
            loupe::sdk::Param::Enum("output", {"probability", "raw"})
                .Doc("Model outputs to explain; unset, the model's default space."),
        }));
