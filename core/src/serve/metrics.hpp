// The service's Prometheus metrics (docs/serve.md "Operations"): requests by route and status code, a
// latency histogram per route, the explanations waiting and running, and the rows each model evaluated.
// Rendered in the Prometheus text exposition format 0.0.4. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace loupe::serve {

class Metrics {
 public:
  // Latency buckets in seconds (upper bounds; +Inf is implied).
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    5};

  void RecordRequest(const std::string& route, int status, double seconds);
  std::atomic<int> queued{0};   // explanations admitted and waiting for a slot
  std::atomic<int> running{0};  // explanations running

  // `model_evaluations` gives (model name, rows evaluated) at render time.
  std::string Render(const std::vector<std::pair<std::string, std::uint64_t>>& model_evaluations) const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> counts{};  // per bucket, not cumulative
    std::uint64_t total = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;  // (route, status) -> count
  std::map<std::string, Histogram> latency_;                       // route -> histogram
};

}  // namespace loupe::serve
