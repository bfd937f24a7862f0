// fairness.group on synthetic rows through the mock host: group metrics alone, and with 1,000 bootstrap
// replicates. Reports rows/s. Consistency is switched off (it is an all-pairs search, capped by
// consistency_max_rows). Run: loupe_fairness_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/sdk/random.hpp"
#include "loupe/testing/conformance.hpp"

extern "C" const LoupePluginEntryFn loupe_plugin_entry_v1;

namespace {

using loupe::testing::MockColumn;
using loupe::testing::MockDataset;
using loupe::testing::MockModel;

// n rows: a score feature, a 4-level group, a label correlated with the score.
MockDataset Synthetic(std::int64_t n) {
  std::vector<double> score(static_cast<std::size_t>(n)), group(score.size()), label(score.size());
  for (std::int64_t i = 0; i < n; ++i) {
    loupe::sdk::Rng rng(5, static_cast<std::uint64_t>(i), 0);
    const auto g = static_cast<double>(rng.Below(4));
    const double s = 0.15 * g + 0.55 * rng.Uniform();
    score[static_cast<std::size_t>(i)] = s;
    group[static_cast<std::size_t>(i)] = g;
    label[static_cast<std::size_t>(i)] = rng.Uniform() < s ? 1 : 0;
  }
  MockDataset data;
  data.features = {MockColumn::Numeric("score", score)};
  data.others = {MockColumn::Categorical("y", {"0", "1"}, label),
                 MockColumn::Categorical("g", {"a", "b", "c", "d"}, group)};
  data.target = "y";
  data.sensitive = {"g"};
  return data;
}

void BM_FairnessGroup(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const std::int64_t n_boot = state.range(1);
  const MockModel model = MockModel::Classifier(
      {"0", "1"},
      [](const double* x, std::int64_t rows, double* out) {
        for (std::int64_t i = 0; i < rows; ++i) {
          out[2 * i] = 1 - x[i];
          out[2 * i + 1] = x[i];
        }
      },
      {"margin"}, nullptr);
  const loupe::testing::MockHost host(Synthetic(n), model);
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  const LoupeExplainerVTable& group = *loupe::testing::FindExplainer(*info, "fairness.group");
  loupe::testing::MockRunOptions options;
  options.params = {{"privileged", "a"}, {"n_boot", n_boot}, {"consistency_max_rows", 0}};
  options.rows.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) options.rows[static_cast<std::size_t>(i)] = i;
  options.threads = 2;
  for (auto _ : state) {
    const auto run = host.Run(group, options);
    if (!run.ok()) state.SkipWithError(run.error.c_str());
    benchmark::DoNotOptimize(run.json);
  }
  state.counters["rows/s"] = benchmark::Counter(
      static_cast<double>(n) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_FairnessGroup)
    ->Args({1000000, 0})
    ->Args({1000000, 1000})
    ->Args({10000000, 0})
    ->Args({10000000, 1000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

}  // namespace

BENCHMARK_MAIN();
