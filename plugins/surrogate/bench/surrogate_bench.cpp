// CART fit time (the surrogate's tree: gini, max_depth 10) on 100,000 x 30 synthetic rows, on 1 and 2
// threads, and the 2-thread / 1-thread speed-up measured in the same run. The labels are the predicted
// class of a fixed model (a logistic score with interactions), as surrogate.tree learns a model's
// predictions. Features are rounded to float32, so scikit-learn (which fits on float32) sees the same data.
//
//   loupe_surrogate_bench [--csv=PATH] [--benchmark_...]
//
// Times are wall-clock; the CPU column is the whole process's CPU time (all threads), which tells
// contention on a shared machine (CPU well below threads x wall time) from a lack of parallelism.
// --csv=PATH also writes the data (columns x0..x29, y) for bench/compare_sklearn.py, which runs this
// program and times sklearn's DecisionTreeClassifier on the same rows.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cart.hpp"
#include "loupe/sdk/random.hpp"

namespace {

using loupe::surrogate::CartParams;
using loupe::surrogate::Criterion;
using loupe::surrogate::FitCart;
using loupe::surrogate::ParallelRunner;
using loupe::surrogate::TrainingSet;
using loupe::surrogate::Tree;

constexpr std::int64_t kRows = 100000;
constexpr std::int64_t kFeatures = 30;
constexpr std::uint64_t kSeed = 20261128;

// Row i: 24 standard normals, 6 uniform integers 0..9 (coarse features with many ties), each rounded to
// float32; the label is the class the fixed model predicts, score > 0.
TrainingSet Synthetic() {
  TrainingSet data;
  data.n = kRows;
  data.columns.assign(kFeatures, std::vector<double>(static_cast<std::size_t>(kRows)));
  data.n_levels.assign(kFeatures, 0);
  data.y.resize(static_cast<std::size_t>(kRows));
  data.weight.assign(static_cast<std::size_t>(kRows), 1.0);
  data.n_classes = 2;
  std::vector<double> x(kFeatures);
  for (std::int64_t i = 0; i < kRows; ++i) {
    loupe::sdk::Rng rng(kSeed, static_cast<std::uint64_t>(i), 0);
    for (std::int64_t j = 0; j < kFeatures; ++j) {
      const double v = j < 24 ? rng.Normal() : static_cast<double>(rng.Below(10));
      x[static_cast<std::size_t>(j)] = static_cast<double>(static_cast<float>(v));
      data.columns[static_cast<std::size_t>(j)][static_cast<std::size_t>(i)] = x[static_cast<std::size_t>(j)];
    }
    double score = 0.8 * x[0] * x[1] - 0.5 * (x[2] * x[2] - 1) + std::sin(2 * x[3]) + 0.3 * (x[24] - 4.5);
    for (std::int64_t j = 4; j < 24; ++j)
      score += (static_cast<double>(j % 5) - 2) * 0.25 * x[static_cast<std::size_t>(j)];
    data.y[static_cast<std::size_t>(i)] = score > 0 ? 1.0 : 0.0;
  }
  return data;
}

const TrainingSet& Data() {
  static const TrainingSet data = Synthetic();
  return data;
}

// Runs the chunks of [begin, end) (fixed by grain, as the host's parallel_for) on `threads` threads.
ParallelRunner ThreadRunner(int threads) {
  return [threads](std::int64_t begin, std::int64_t end, std::int64_t grain,
                   const std::function<void(std::int64_t, std::int64_t)>& body) {
    if (grain <= 0) grain = std::max<std::int64_t>(1, end - begin);
    const std::int64_t chunks = (end - begin + grain - 1) / grain;
    if (threads <= 1 || chunks <= 1) {
      loupe::surrogate::SerialRunner(begin, end, grain, body);
      return;
    }
    std::atomic<std::int64_t> next{0};
    std::mutex mutex;
    std::exception_ptr failure;
    auto work = [&] {
      for (std::int64_t c = next++; c < chunks; c = next++) {
        try {
          body(begin + c * grain, std::min(end, begin + (c + 1) * grain));
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex);
          if (!failure) failure = std::current_exception();
        }
      }
    };
    std::vector<std::thread> helpers;
    for (int t = 1; t < threads && t < chunks; ++t) helpers.emplace_back(work);
    work();
    for (auto& helper : helpers) helper.join();
    if (failure) std::rethrow_exception(failure);
  };
}

CartParams Params() {
  CartParams params;
  params.criterion = Criterion::kGini;
  params.max_depth = 10;
  return params;
}

// Nodes of the 1-thread fit, to check that 2 threads grow the same tree.
std::vector<std::string> Fingerprint(const Tree& tree) {
  std::vector<std::string> out;
  char line[160];
  for (const auto& node : tree.nodes) {
    std::snprintf(line, sizeof(line), "%lld %d %.17g %lld", static_cast<long long>(node.left), node.feature,
                  node.threshold, static_cast<long long>(node.samples));
    out.emplace_back(line);
  }
  return out;
}

void BM_CartFit(benchmark::State& state) {
  const TrainingSet& data = Data();
  const auto threads = static_cast<int>(state.range(0));
  const ParallelRunner runner = ThreadRunner(threads);
  Tree tree;
  for (auto _ : state) {
    tree = FitCart(data, Params(), runner);
    benchmark::DoNotOptimize(tree.nodes.data());
  }
  const Tree reference = FitCart(data, Params(), loupe::surrogate::SerialRunner);
  if (threads > 1 && Fingerprint(tree) != Fingerprint(reference)) {
    state.SkipWithError("the tree grown on several threads differs from the serial one");
  }
  state.counters["leaves"] = static_cast<double>(tree.LeafCount());
  state.counters["depth"] = static_cast<double>(tree.Depth());
  state.counters["rows/s"] = benchmark::Counter(
      static_cast<double>(kRows) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_CartFit)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Iterations(2);

// The console output plus each run's mean real time, for the speed-up line.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && !run.error_occurred) {
        times_[run.benchmark_name()] = run.GetAdjustedRealTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  const std::map<std::string, double>& times() const { return times_; }

 private:
  std::map<std::string, double> times_;
};

bool WriteCsv(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return false;
  const TrainingSet& data = Data();
  for (std::int64_t j = 0; j < kFeatures; ++j) std::fprintf(file, "x%lld,", static_cast<long long>(j));
  std::fprintf(file, "y\n");
  for (std::int64_t i = 0; i < kRows; ++i) {
    for (std::int64_t j = 0; j < kFeatures; ++j) {
      // 9 significant digits read back as the same float32.
      std::fprintf(file, "%.9g,", data.columns[static_cast<std::size_t>(j)][static_cast<std::size_t>(i)]);
    }
    std::fprintf(file, "%d\n", static_cast<int>(data.y[static_cast<std::size_t>(i)]));
  }
  return std::fclose(file) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string csv;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--csv=", 0) == 0) {
      csv = arg.substr(6);
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!csv.empty() && !WriteCsv(csv)) {
    std::fprintf(stderr, "could not write the data to '%s'\n", csv.c_str());
    return 1;
  }
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  double one = 0, two = 0;
  for (const auto& [name, time] : reporter.times()) {
    if (name.rfind("BM_CartFit/threads:1/", 0) == 0) one = time;
    if (name.rfind("BM_CartFit/threads:2/", 0) == 0) two = time;
  }
  if (one > 0 && two > 0) {
    std::printf("speed-up 2 threads / 1 thread: %.2fx (%.0f ms / %.0f ms)\n", one / two, one, two);
  }
  benchmark::Shutdown();
  return 0;
}
