// shap.kernel and shap.exact through the real host on the breast_cancer MLP (tests/fixtures/models/
// breast_cancer_mlp.yaml on tests/data/breast_cancer.csv): time per explained row and the share of it spent
// inside the model's Predict, measured by wrapping the model in a timing decorator.
//  - shap.kernel, background 100, nsamples 2048, M = 30 (every feature a player; with the default
//    l1_reg "auto", which selects by AIC here, and with l1_reg off) and M = 10;
//  - shap.exact, background 100, M = 10.
// M = 10 is a `groups` merge: the data's 30 features are 10 measurements (radius, texture, ...) each as
// "mean X", "X error" and "worst X"; each measurement's three columns form one player. (Fixing 20 features
// at the explained row's values would change the game, not just its size, so groups it is.) With M = 10,
// nsamples 2048 is capped at 2^10 - 2 = 1022 coalitions, every one of them: shap.kernel then does the
// same model work as shap.exact (1024 coalitions) plus a regression.
// The shap plugin is loaded from the build's plugin folder (../lib/loupe/plugins next to this program, or
// LOUPE_PLUGIN_PATH). Each case runs with 1 and 2 TBB threads; the Predict fraction is the model time
// summed over threads divided by (wall time x threads). Ratios are printed from figures of the same run.
#include <benchmark/benchmark.h>
#include <tbb/global_control.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "explainer_bench_support.hpp"

namespace {

using namespace loupe::bench;

constexpr std::int64_t kRows = 2;  // explained rows per iteration

// The 10 measurements of breast_cancer.csv, each "mean X", "X error" and "worst X", as `groups`.
nlohmann::json MeasurementGroups() {
  nlohmann::json groups = nlohmann::json::object();
  for (const char* name : {"radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
                           "concave points", "symmetry", "fractal dimension"}) {
    const std::string x = name;
    groups[x] = {"mean " + x, x + " error", "worst " + x};
  }
  return groups;
}

// `l1_reg` "auto" runs AIC selection for M = 30 (2048 coalitions are far below 20% of 2^30); `l1_off`
// measures the same case without it.
Case& BreastCancer(const std::string& explainer, bool grouped, bool l1_off = false) {
  static std::map<std::string, std::unique_ptr<Case>> cases;
  const std::string key = explainer + (grouped ? "/10" : "/30") + (l1_off ? "/l1_off" : "");
  auto& slot = cases[key];
  if (!slot) {
    slot = std::make_unique<Case>();
    loupe::CsvOptions options;
    options.target = "target";
    nlohmann::json params = {{"background", 100}};
    if (explainer == "shap.kernel") params["nsamples"] = 2048;
    if (grouped) params["groups"] = MeasurementGroups();
    if (l1_off) params["l1_reg"] = "off";
    Fill(*slot, "/tests/data/breast_cancer.csv", options, "/tests/fixtures/models/breast_cancer_mlp.yaml",
         explainer, params, kRows);
  }
  return *slot;
}

void BM_KernelM30(benchmark::State& state) { RunCase(state, BreastCancer("shap.kernel", false)); }
BENCHMARK(BM_KernelM30)->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_KernelM30NoL1(benchmark::State& state) { RunCase(state, BreastCancer("shap.kernel", false, true)); }
BENCHMARK(BM_KernelM30NoL1)->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_KernelM10(benchmark::State& state) { RunCase(state, BreastCancer("shap.kernel", true)); }
BENCHMARK(BM_KernelM10)->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ExactM10(benchmark::State& state) { RunCase(state, BreastCancer("shap.exact", true)); }
BENCHMARK(BM_ExactM10)->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// The ratios between this run's cases.
void PrintRatios(const SummaryReporter& reporter) {
  auto ratio = [&](const char* what, const std::string& a, const std::string& b) {
    if (reporter.Ms(a) > 0 && reporter.Ms(b) > 0)
      std::printf("%-56s %8.2f\n", what, reporter.Ms(a) / reporter.Ms(b));
  };
  std::printf("\nratios (same run):\n");
  ratio("kernel M=30 / kernel M=10, 1 thread", "BM_KernelM30/1/iterations:1/real_time",
        "BM_KernelM10/1/iterations:1/real_time");
  ratio("kernel M=30 l1_reg auto (AIC) / l1_reg off, 1 thread", "BM_KernelM30/1/iterations:1/real_time",
        "BM_KernelM30NoL1/1/iterations:1/real_time");
  ratio("kernel M=10 / exact M=10, 1 thread", "BM_KernelM10/1/iterations:1/real_time",
        "BM_ExactM10/1/iterations:1/real_time");
  ratio("kernel M=30, 1 thread / 2 threads", "BM_KernelM30/1/iterations:1/real_time",
        "BM_KernelM30/2/iterations:1/real_time");
  ratio("exact M=10, 1 thread / 2 threads", "BM_ExactM10/1/iterations:1/real_time",
        "BM_ExactM10/2/iterations:1/real_time");
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintTable();
  PrintRatios(reporter);
  benchmark::Shutdown();
  return 0;
}
