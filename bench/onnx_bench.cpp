// One configuration of the ONNX benchmark (bench/onnx_vs_ort.py runs it beside ONNX Runtime):
//
//   onnx_bench MODEL.onnx BATCH THREADS [TOKENS]
//
// loads MODEL with Loupe's ONNX session (core/src/onnx) and times running BATCH rows through it to the
// first float graph output: a float input [BATCH, F] of seeded uniform values in [-2, 2), or, when the first
// input holds integers, token ids [BATCH, TOKENS] drawn from [4, 100). THREADS threads split the rows as
// Loupe's host does (each run of the session is single-threaded, docs/architecture.md §4; the threads
// persist from batch to batch, as TBB's workers do), so batch 1 gains nothing from a second thread. Prints
// one JSON line: seconds per batch (the median of repeated batches after a warm-up batch), the process's CPU
// seconds (user + system, all threads) per batch over the timed batches, and the repetitions timed.
#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "onnx/graph.hpp"
#include "onnx/session.hpp"

namespace {

using loupe::onnx::DataType;
using loupe::onnx::Value;

// Rows [begin, end) of the batch, in the first input's type; other inputs (attention_mask) are ones.
std::vector<Value> Feeds(const loupe::onnx::Graph& graph, const Value& all, std::int64_t begin,
                         std::int64_t end) {
  const std::int64_t width = all.shape[1];
  Value part = Value::Zeros(all.type, {end - begin, width});
  if (all.type == DataType::kFloat)
    std::copy(all.f.begin() + begin * width, all.f.begin() + end * width, part.f.begin());
  else
    std::copy(all.i.begin() + begin * width, all.i.begin() + end * width, part.i.begin());
  std::vector<Value> feeds = {std::move(part)};
  for (std::size_t k = 1; k < graph.inputs.size(); ++k) {
    Value ones = Value::Zeros(graph.inputs[k].type, {end - begin, width});
    std::fill(ones.i.begin(), ones.i.end(), 1);
    std::fill(ones.f.begin(), ones.f.end(), 1.0f);
    feeds.push_back(std::move(ones));
  }
  return feeds;
}

// Runs each part of the batch on its own thread: the calling thread takes part 0 and persistent helper
// threads the others, as the host's TBB workers do (they live for the process, so the per-thread buffers
// of onnx/value.hpp stay warm from batch to batch).
class SplitRunner {
 public:
  SplitRunner(const loupe::onnx::Session& session, const std::vector<std::vector<Value>>& parts,
              std::string output)
      : session_(session),
        parts_(parts),
        output_(std::move(output)),
        ok_(parts.size(), 1),
        start_(static_cast<std::ptrdiff_t>(parts.size())),
        done_(static_cast<std::ptrdiff_t>(parts.size())) {
    for (std::size_t p = 1; p < parts.size(); ++p) {
      helpers_.emplace_back([this, p] {
        while (true) {
          start_.arrive_and_wait();
          if (stop_) return;
          RunPart(p);
          done_.arrive_and_wait();
        }
      });
    }
  }
  ~SplitRunner() {
    stop_ = true;
    start_.arrive_and_wait();
    for (std::thread& t : helpers_) t.join();
  }

  bool Run() {
    start_.arrive_and_wait();
    RunPart(0);
    done_.arrive_and_wait();
    return std::all_of(ok_.begin(), ok_.end(), [](char c) { return c != 0; });
  }

 private:
  void RunPart(std::size_t p) { ok_[p] = session_.Run(parts_[p], {output_}).ok(); }

  const loupe::onnx::Session& session_;
  const std::vector<std::vector<Value>>& parts_;
  std::string output_;
  std::vector<char> ok_;
  std::barrier<> start_, done_;
  bool stop_ = false;
  std::vector<std::thread> helpers_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: onnx_bench MODEL.onnx BATCH THREADS [TOKENS]\n");
    return 2;
  }
  const std::int64_t batch = std::stoll(argv[2]);
  const int threads = std::stoi(argv[3]);
  const std::int64_t tokens = argc == 5 ? std::stoll(argv[4]) : 32;
  auto graph = loupe::onnx::ReadGraph(argv[1]);
  if (!graph.ok()) {
    std::fprintf(stderr, "%s\n", graph.status().message().c_str());
    return 1;
  }
  std::string output;
  for (const auto& out : graph->outputs) {
    if (output.empty() && out.is_tensor && out.type == DataType::kFloat) output = out.name;
  }
  const loupe::onnx::ValueInfo input = graph->inputs.front();
  auto session = loupe::onnx::Session::Create(std::move(*graph));
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().message().c_str());
    return 1;
  }
  std::mt19937_64 random(42);
  Value all;
  if (input.type == DataType::kFloat) {
    std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
    all = Value::Zeros(DataType::kFloat, {batch, input.shape[1]});
    for (float& v : all.f) v = uniform(random);
  } else {
    std::uniform_int_distribution<std::int64_t> ids(4, 99);
    all = Value::Zeros(DataType::kInt64, {batch, tokens});
    for (std::int64_t& v : all.i) v = ids(random);
  }
  const int parts = static_cast<int>(std::min<std::int64_t>(threads, batch));
  std::vector<std::vector<Value>> split;
  for (int p = 0; p < parts; ++p)
    split.push_back(Feeds((*session)->graph(), all, batch * p / parts, batch * (p + 1) / parts));
  SplitRunner runner(**session, split, output);
  if (!runner.Run()) {  // warm-up: oneDNN primitives, per-thread buffers
    std::fprintf(stderr, "the session failed on the batch\n");
    return 1;
  }
  const auto cpu_now = [] {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  };
  std::vector<double> seconds;
  const double cpu_start = cpu_now();
  const auto start = std::chrono::steady_clock::now();
  while (seconds.size() < 3 ||
         (seconds.size() < 2000 &&
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 1.5)) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!runner.Run()) return 1;
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double cpu = (cpu_now() - cpu_start) / static_cast<double>(seconds.size());
  std::sort(seconds.begin(), seconds.end());
  std::printf("{\"seconds\": %.9f, \"cpu_seconds\": %.9f, \"repeats\": %zu}\n", seconds[seconds.size() / 2],
              cpu, seconds.size());
  return 0;
}
