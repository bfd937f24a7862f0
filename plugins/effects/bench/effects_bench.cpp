// Time of effects.partial_dependence, effects.permutation_importance and effects.ale on the demo's
// logistic-regression credit model (the weights of tests/fixtures/fixtures.json, evaluated in C++ as the
// fixture's forward pass) over its 400 credit rows tiled 10 times (4,000 rows), run through the SDK's mock
// host on 1 and 2 threads. bench/compare_sklearn.py runs this program and times scikit-learn's
// partial_dependence and permutation_importance on the same model and rows in the same run.
//
//   loupe_effects_bench [--benchmark_...]
//
//  - partial_dependence: Income and Age, grid_resolution 100, kind average (800,000 model rows);
//  - permutation_importance: neg_log_loss, n_repeats 5, the 13 features (264,000 model rows);
//  - ale: Income and Age, 40 bins (16,000 model rows).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/testing/conformance.hpp"

extern "C" const LoupePluginEntryFn loupe_plugin_entry_v1;

namespace {

using loupe::testing::MockColumn;
using loupe::testing::MockDataset;
using loupe::testing::MockHost;
using loupe::testing::MockModel;
using loupe::testing::MockRunOptions;
using nlohmann::json;

constexpr int kTiles = 10;

const json& Fixtures() {
  static const json fixtures = [] {
    std::ifstream in(std::string(LOUPE_EFFECTS_FIXTURES) + "/fixtures.json");
    return json::parse(in);
  }();
  return fixtures;
}

// The forward pass with the weights unpacked once: per feature either (weight, mean, std) or the first
// weight of its one-hot block.
struct Logreg {
  std::vector<bool> categorical;
  std::vector<std::size_t> offset;
  std::vector<double> weight, mean, std;
  double bias = 0;

  Logreg() {
    const json& f = Fixtures();
    weight = f["model"]["weight"].get<std::vector<double>>();
    bias = f["model"]["bias"].get<double>();
    std::size_t w = 0;
    for (std::size_t j = 0; j < f["feature_names"].size(); ++j) {
      categorical.push_back(f["categorical"][j].get<bool>());
      offset.push_back(w);
      mean.push_back(categorical.back() ? 0.0 : f["model"]["mean"][j].get<double>());
      std.push_back(categorical.back() ? 1.0 : f["model"]["std"][j].get<double>());
      w += categorical.back() ? f["levels"][j].size() : 1;
    }
  }
  double Logit(const double* x) const {
    double z = bias;
    for (std::size_t j = 0; j < categorical.size(); ++j)
      z += categorical[j] ? weight[offset[j] + static_cast<std::size_t>(x[j])]
                          : weight[offset[j]] * (x[j] - mean[j]) / std[j];
    return z;
  }
};

MockModel Model() {
  static const Logreg logreg;
  const std::size_t width = logreg.categorical.size();
  return MockModel::Classifier(
      {"bad", "good"},
      [width](const double* x, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) {
          const double p = 1.0 / (1.0 + std::exp(-logreg.Logit(x + static_cast<std::size_t>(i) * width)));
          out[2 * i] = 1.0 - p;
          out[2 * i + 1] = p;
        }
      },
      {"logit"}, nullptr);
}

MockDataset Data() {
  const json& f = Fixtures();
  const auto names = f["feature_names"].get<std::vector<std::string>>();
  const auto rows = f["X"].get<std::vector<std::vector<double>>>();
  MockDataset data;
  for (std::size_t j = 0; j < names.size(); ++j) {
    std::vector<double> column;
    for (int t = 0; t < kTiles; ++t)
      for (const auto& row : rows) column.push_back(row[j]);
    if (f["categorical"][j].get<bool>()) {
      data.features.push_back(
          MockColumn::Categorical(names[j], f["levels"][j].get<std::vector<std::string>>(), column));
    } else {
      data.features.push_back(MockColumn::Numeric(names[j], column));
    }
  }
  std::vector<double> status;
  for (int t = 0; t < kTiles; ++t)
    for (const auto& label : f["y"]) status.push_back(label == "bad" ? 0.0 : 1.0);
  data.others.push_back(MockColumn::Categorical("Status", {"bad", "good"}, status));
  data.target = "Status";
  return data;
}

const LoupeExplainerVTable& Explainer(const std::string& name) {
  char error[256] = "";
  return *loupe::testing::FindExplainer(
      *loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error)), name);
}

void RunExplainer(benchmark::State& state, const std::string& name, const json& params) {
  const MockDataset data = Data();
  MockHost host(data, Model());
  MockRunOptions options;
  options.params = params;
  for (std::int64_t i = 0; i < data.rows(); ++i) options.rows.push_back(i);
  options.threads = static_cast<int>(state.range(0));
  options.seed = 1;
  std::int64_t rows = 0;
  for (auto _ : state) {
    const loupe::testing::MockRunResult result = host.Run(Explainer(name), options);
    if (!result.ok()) {
      state.SkipWithError(result.error.c_str());
      return;
    }
    rows = result.predict_rows;
  }
  state.counters["model_rows"] = static_cast<double>(rows);
  state.counters["rows_per_s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_PartialDependence(benchmark::State& state) {
  RunExplainer(state, "effects.partial_dependence",
               {{"features", {"Income", "Age"}},
                {"grid_resolution", 100},
                {"kind", "average"},
                {"output", "probability"}});
}
void BM_PermutationImportance(benchmark::State& state) {
  RunExplainer(state, "effects.permutation_importance", {{"scoring", "neg_log_loss"}, {"n_repeats", 5}});
}
void BM_Ale(benchmark::State& state) {
  RunExplainer(state, "effects.ale",
               {{"features", {"Income", "Age"}}, {"bins", 40}, {"output", "probability"}});
}

BENCHMARK(BM_PartialDependence)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_PermutationImportance)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Ale)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
