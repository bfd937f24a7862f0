// Times attention rollout and attention flow for one sequence of T = 32, 64, 128, 256 tokens with 6
// layers x 8 heads of random softmax attention, single-threaded (the plugin runs output positions of a
// sequence on the host's threads, so the explainer divides these by the thread count). Prints the figures;
// it never fails on time (timings on shared machines vary up to 2x). With --dump DIR it also writes, per T,
// DIR/adjusted_T.f64 (the residual-adjusted layers, [6][T][T] little-endian doubles) and DIR/maxflow_T.f64
// (the maximum flow of every (output, input) pair before row normalisation, [T][T]), which
// compare_networkx.py checks against networkx and times it on.
//
//   loupe_attention_bench [max_tokens] [--dump DIR]      # default 256
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "attention_math.hpp"
#include "max_flow.hpp"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<float> RandomAttention(std::int64_t layers, std::int64_t heads, std::int64_t t,
                                   std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 2.0);
  std::vector<float> a(static_cast<std::size_t>(layers * heads * t * t));
  for (std::int64_t row = 0; row < layers * heads * t; ++row) {
    double sum = 0.0;
    std::vector<double> e(static_cast<std::size_t>(t));
    for (auto& v : e) sum += v = std::exp(normal(rng));
    for (std::int64_t k = 0; k < t; ++k)
      a[static_cast<std::size_t>(row * t + k)] = static_cast<float>(e[static_cast<std::size_t>(k)] / sum);
  }
  return a;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Processor time of this process, which other work on a shared machine inflates less than wall time.
double CpuSeconds(std::clock_t since) { return static_cast<double>(std::clock() - since) / CLOCKS_PER_SEC; }

bool WriteDoubles(const std::string& path, const std::vector<double>& values) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return false;
  const bool ok = std::fwrite(values.data(), sizeof(double), values.size(), file) == values.size();
  return std::fclose(file) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace loupe::attention;
  const std::int64_t max_tokens = argc > 1 ? std::atoll(argv[1]) : 256;
  const std::string dump = argc > 3 && std::string(argv[2]) == "--dump" ? argv[3] : "";
  const std::int64_t layers = 6, heads = 8;
  std::vector<std::int64_t> all_layers, all_heads;
  for (std::int64_t i = 0; i < layers; ++i) all_layers.push_back(i);
  for (std::int64_t i = 0; i < heads; ++i) all_heads.push_back(i);
  std::printf("%8s %12s %12s %12s %12s %18s\n", "tokens", "rollout_ms", "rollout_cpu", "flow_ms",
              "flow_cpu_ms", "flow_cpu_per_pair_us");
  for (std::int64_t t = 32; t <= max_tokens; t *= 2) {
    const std::vector<float> attention = RandomAttention(layers, heads, t, 1);
    Clock::time_point start = Clock::now();
    std::clock_t cpu = std::clock();
    std::vector<double> adjusted =
        CombineHeads(attention.data(), heads, t, all_layers, all_heads, Aggregate::kMean);
    AddResidual(adjusted, layers, t);
    const std::vector<double> rollout = Rollout(adjusted, layers, t);
    const double rollout_s = Seconds(start), rollout_cpu = CpuSeconds(cpu);
    start = Clock::now();
    cpu = std::clock();
    std::vector<double> flow = AttentionFlow(adjusted, layers, t);
    const double flow_s = Seconds(start), flow_cpu = CpuSeconds(cpu);
    std::printf("%8lld %12.3f %12.3f %12.1f %12.1f %18.2f   (checksum %.6f %.6f)\n",
                static_cast<long long>(t), rollout_s * 1e3, rollout_cpu * 1e3, flow_s * 1e3, flow_cpu * 1e3,
                flow_cpu * 1e6 / static_cast<double>(t * t), rollout[0], flow[0]);
    std::fflush(stdout);
    if (!dump.empty()) {  // untimed: the same flows as AttentionFlow, before normalisation
      const FlowCertificate certificate(adjusted, layers, t);
      LayeredMaxFlow solver(adjusted, layers, t);
      std::vector<double> maxflow(static_cast<std::size_t>(t * t));
      for (std::int64_t q = 0; q < t; ++q) {
        for (std::int64_t k = 0; k < t; ++k) {
          maxflow[static_cast<std::size_t>(q * t + k)] =
              certificate.Proves(q, k) ? certificate.Bound(q, k) : solver.MaxFlow(q, k);
        }
      }
      if (!WriteDoubles(dump + "/adjusted_" + std::to_string(t) + ".f64", adjusted) ||
          !WriteDoubles(dump + "/maxflow_" + std::to_string(t) + ".f64", maxflow)) {
        std::fprintf(stderr, "loupe_attention_bench: cannot write to directory %s\n", dump.c_str());
        return 1;
      }
    }
  }
  return 0;
}
