// Model evaluations and wall time per counterfactual found (counterfactual.search) and per anchor
// (counterfactual.anchors), on a credit-sized synthetic table: 4,455 rows, 10 numeric features (integers,
// skewed) and 3 categorical ones, explained by a logistic model with one weight per numeric feature and per
// level, as Loupe's credit_logreg. The searches run as the explainers run them, one row at a time with the
// row's own Rng; the model is a plain C++ function, so the time is the search's own overhead plus a cheap
// model (real models make evaluations dominate further).
//
//   loupe_counterfactual_bench [--benchmark_...]
//
// Counters: evals_per_cf / evals_per_anchor (model evaluations per result), us_per_cf / us_per_anchor
// (wall microseconds per result), found (rows with a result / rows searched).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "anchor_search.hpp"
#include "cf_search.hpp"
#include "feature_space.hpp"
#include "loupe/sdk/random.hpp"

namespace {

using namespace loupe::counterfactual;

constexpr std::int64_t kRows = 4455;
constexpr std::int64_t kNumeric = 10;
constexpr std::int64_t kLevels = 4;
constexpr std::int64_t kFeatures = kNumeric + 3;
constexpr std::uint64_t kSeed = 20261205;

struct Table {
  loupe::sdk::DatasetInfo info;
  std::vector<double> values;
  loupe::sdk::Matrix x;
  std::vector<double> weights;  // numeric weights, then kLevels per categorical feature
};

Table MakeTable() {
  Table table;
  for (std::int64_t j = 0; j < kFeatures; ++j) {
    loupe::sdk::FeatureInfo feature;
    feature.name = "f" + std::to_string(j);
    if (j >= kNumeric) {
      feature.type = LOUPE_FEATURE_CATEGORICAL;
      feature.levels = {"a", "b", "c", "d"};
    }
    table.info.features.push_back(feature);
  }
  table.info.n_rows = kRows;
  for (std::int64_t i = 0; i < kRows; ++i) {
    loupe::sdk::Rng rng(kSeed, static_cast<std::uint64_t>(i), 0);
    for (std::int64_t j = 0; j < kNumeric; ++j)
      table.values.push_back(std::round(std::exp(3 + rng.Normal())));
    for (std::int64_t j = kNumeric; j < kFeatures; ++j)
      table.values.push_back(static_cast<double>(rng.Below(kLevels)));
  }
  table.x = loupe::sdk::Matrix(table.values.data(), kRows, kFeatures);
  loupe::sdk::Rng rng(kSeed, 0, 1);
  for (std::int64_t j = 0; j < kNumeric + 3 * kLevels; ++j) table.weights.push_back(0.03 * rng.Normal());
  return table;
}

const Table& SharedTable() {
  static const Table table = MakeTable();
  return table;
}

Evaluate LogisticModel(const Table& table) {
  return [&table](const double* rows, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) {
      const double* r = rows + i * kFeatures;
      double z = -0.2;
      for (std::int64_t j = 0; j < kNumeric; ++j)
        z += table.weights[static_cast<std::size_t>(j)] * (r[j] - 20);
      for (std::int64_t c = 0; c < 3; ++c) {
        z += 20 * table.weights[static_cast<std::size_t>(kNumeric + c * kLevels +
                                                         static_cast<std::int64_t>(r[kNumeric + c]))];
      }
      out[2 * i + 1] = 1 / (1 + std::exp(-z));
      out[2 * i] = 1 - out[2 * i + 1];
    }
  };
}

void BM_CounterfactualSearch(benchmark::State& state) {
  const Table& table = SharedTable();
  const std::vector<FeatureStats> stats = ComputeFeatureStats(table.info, table.x);
  std::vector<FeatureRule> rules(stats.size());
  for (std::size_t j = 0; j < stats.size(); ++j) {
    rules[j].lo = stats[j].min;
    rules[j].hi = stats[j].max;
    rules[j].allowed_levels.assign(static_cast<std::size_t>(stats[j].n_levels), 1);
  }
  rules[0].may_change = false;  // an "Age"
  rules[1].direction = 1;       // a "Seniority"
  SearchSettings settings;
  settings.n = state.range(0);
  settings.max_evaluations = 10000;
  const CounterfactualSearch search(stats, rules, DecisionRule::Classifier({"bad", "good"}, 1, 0.5),
                                    settings);
  const Evaluate model = LogisticModel(table);
  std::int64_t evaluations = 0, found = 0, rows = 0, cfs = 0;
  double seconds = 0;
  for (auto _ : state) {
    for (std::int64_t r = 0; r < 50; ++r) {
      const double* row = table.x.Row(r);
      double outputs[2];
      model(row, 1, outputs);
      loupe::sdk::Rng rng(kSeed, static_cast<std::uint64_t>(r), 1);
      const auto start = std::chrono::steady_clock::now();
      const SearchOutcome outcome = search.Run(row, outputs, rng, model);
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (outcome.status == SearchStatus::kAlreadyDesired) continue;
      ++rows;
      evaluations += outcome.evaluations + outcome.recheck_evaluations;
      cfs += static_cast<std::int64_t>(outcome.counterfactuals.size());
      found += outcome.counterfactuals.empty() ? 0 : 1;
    }
  }
  state.counters["evals_per_cf"] = static_cast<double>(evaluations) / static_cast<double>(cfs);
  state.counters["us_per_cf"] = 1e6 * seconds / static_cast<double>(cfs);
  state.counters["found"] = static_cast<double>(found) / static_cast<double>(rows);
}
BENCHMARK(BM_CounterfactualSearch)->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond);

void BM_Anchors(benchmark::State& state) {
  const Table& table = SharedTable();
  const std::vector<FeatureStats> stats = ComputeFeatureStats(table.info, table.x);
  const Discretizer discretizer(table.info, table.x, {25, 50, 75}, stats);
  std::vector<std::int64_t> coverage_rows;
  loupe::sdk::Rng coverage_rng(kSeed, 0, 3);
  for (int i = 0; i < 10000; ++i)
    coverage_rows.push_back(static_cast<std::int64_t>(coverage_rng.Below(kRows)));
  const AnchorSearch search(discretizer, table.x, coverage_rows,
                            DecisionRule::Classifier({"bad", "good"}, -1, 0.5), AnchorSettings{});
  const Evaluate model = LogisticModel(table);
  std::int64_t evaluations = 0, anchors = 0, found = 0;
  double seconds = 0;
  for (auto _ : state) {
    for (std::int64_t r = 0; r < 10; ++r) {
      const double* row = table.x.Row(r);
      double outputs[2];
      model(row, 1, outputs);
      loupe::sdk::Rng rng(kSeed, static_cast<std::uint64_t>(r), 2);
      const auto start = std::chrono::steady_clock::now();
      const Anchor anchor = search.Run(row, search.decision().Class(outputs), rng, model);
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      evaluations += anchor.evaluations;
      ++anchors;
      found += anchor.success ? 1 : 0;
    }
  }
  state.counters["evals_per_anchor"] = static_cast<double>(evaluations) / static_cast<double>(anchors);
  state.counters["us_per_anchor"] = 1e6 * seconds / static_cast<double>(anchors);
  state.counters["found"] = static_cast<double>(found) / static_cast<double>(anchors);
}
BENCHMARK(BM_Anchors)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
