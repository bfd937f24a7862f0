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
    Fill(c, "/tests/data/breast_cancer.csv", options, "/tests/fixtures/models/breast_cancer_mlp.yaml",
         "lime.tabular", {{"num_samples", 5000}}, 8);
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

void BM_LimeTabularBreastCancer(benchmark::State& state) { RunCase(state, Tabular()); }
BENCHMARK(BM_LimeTabularBreastCancer)
    ->Arg(1)
    ->Arg(2)
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_LimeTextTransformer(benchmark::State& state) { RunCase(state, Text()); }
BENCHMARK(BM_LimeTextTransformer)
    ->Arg(1)
    ->Arg(2)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintTable();
  benchmark::Shutdown();
  return 0;
}
