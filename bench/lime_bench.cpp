// lime.tabular and lime.text through the real host: time per explained row and the share of it spent in
// the model (Predict / PredictText), measured by wrapping the model in a timing decorator.
//  - tabular: breast_cancer.csv (M = 30) with the native MLP breast_cancer_mlp.yaml, num_samples 5000;
//  - text: fortunes_topics.csv with the transformer of tests/fixtures/text, num_samples 5000.
// The lime plugin is loaded from the build's plugin folder (../lib/loupe/plugins next to this program,
// or LOUPE_PLUGIN_PATH). Each benchmark runs with 1 and 2 TBB threads; the Predict fraction is the model
// time summed over threads divided by (wall time x threads).
#include <benchmark/benchmark.h>
#include <tbb/global_control.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "explainer_bench_support.hpp"

namespace {

using namespace loupe::bench;

Case& Tabular() {
  static Case c;
  static const bool ready = [] {
    loupe::CsvOptions options;
    options.target = "target";
    Fill(c, "/tests/data/breast_cancer.csv", options, "/tests/fixtures/models/breast_cancer_mlp.yaml", "lime.tabular",
         {{"num_samples", 5000}}, 8);
    return true;
  }();
  (void)ready;
  return c;
}

Case& Text() {
  static Case c;
  static const bool ready = [] {
    loupe::CsvOptions options;
    options.text = {"text"};
    options.target = "topic";
    Fill(c, "/tests/data/fortunes_topics.csv", options, "/tests/fixtures/text/transformer.yaml", "lime.text",
         {{"num_samples", 5000}}, 4);
    return true;
  }();
  (void)ready;
  return c;
}

// Runs the case's step once per iteration on `threads` threads; reports ms per row and the model's share.
void RunCase(benchmark::State& state, Case& c) {
  const auto threads = static_cast<int>(state.range(0));
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  std::int64_t wall = 0, model = 0;
  for (auto _ : state) {
    c.model->TakeNanos();
    const auto start = Clock::now();
    auto explanation = c.explainer->Explain(c.request);
    wall += NanosSince(start);
    model += c.model->TakeNanos();
    if (!explanation.ok()) {
      state.SkipWithError(explanation.status().message().c_str());
      return;
    }
    benchmark::DoNotOptimize(explanation);
  }
  const double rows = static_cast<double>(c.request.rows.size()) * static_cast<double>(state.iterations());
  state.counters["ms_per_row"] = static_cast<double>(wall) / 1e6 / rows;
  state.counters["predict_fraction"] = static_cast<double>(model) / (static_cast<double>(wall) * threads);
}

void BM_LimeTabularBreastCancer(benchmark::State& state) { RunCase(state, Tabular()); }
BENCHMARK(BM_LimeTabularBreastCancer)->Arg(1)->Arg(2)->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LimeTextTransformer(benchmark::State& state) { RunCase(state, Text()); }
BENCHMARK(BM_LimeTextTransformer)->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Prints each run's per-row time and Predict fraction as a table after the usual output.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const auto row = run.counters.find("ms_per_row");
      const auto fraction = run.counters.find("predict_fraction");
      if (row != run.counters.end() && fraction != run.counters.end()) {
        lines_[run.benchmark_name()] = {row->second.value, fraction->second.value};
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void Print() const {
    std::printf("\n%-48s %12s %18s\n", "benchmark/threads", "ms per row", "Predict fraction");
    for (const auto& [name, figures] : lines_) std::printf("%-48s %12.1f %18.3f\n", name.c_str(), figures.first, figures.second);
  }

 private:
  std::map<std::string, std::pair<double, double>> lines_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.Print();
  benchmark::Shutdown();
  return 0;
}
