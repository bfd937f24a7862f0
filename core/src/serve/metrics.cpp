#include "serve/metrics.hpp"

#include <algorithm>
#include <sstream>

namespace loupe::serve {

namespace {

// A label value with Prometheus' escapes (backslash, quote, newline).
std::string Label(const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == '"') escaped += '\\';
    escaped += c == '\n' ? 'n' : c;
  }
  return escaped;
}

}  // namespace

void Metrics::RecordRequest(const std::string& route, int status, double seconds) {
  const auto bucket = std::lower_bound(kBuckets.begin(), kBuckets.end(), seconds) - kBuckets.begin();
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
  Histogram& histogram = latency_[route];
  if (static_cast<std::size_t>(bucket) < kBuckets.size()) ++histogram.counts[bucket];
  ++histogram.total;
  histogram.sum += seconds;
}

std::string Metrics::Render(
    const std::vector<std::pair<std::string, std::uint64_t>>& model_evaluations) const {
  std::ostringstream out;
  out.precision(9);
  std::lock_guard<std::mutex> lock(mutex_);
  out << "# HELP loupe_http_requests_total HTTP requests answered, by route and status code.\n"
      << "# TYPE loupe_http_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    out << "loupe_http_requests_total{route=\"" << Label(key.first) << "\",code=\"" << key.second << "\"} "
        << count << "\n";
  }
  out << "# HELP loupe_http_request_duration_seconds Time from a request's arrival to its response.\n"
      << "# TYPE loupe_http_request_duration_seconds histogram\n";
  for (const auto& [route, histogram] : latency_) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += histogram.counts[i];
      out << "loupe_http_request_duration_seconds_bucket{route=\"" << Label(route) << "\",le=\""
          << kBuckets[i] << "\"} " << cumulative << "\n";
    }
    out << "loupe_http_request_duration_seconds_bucket{route=\"" << Label(route) << "\",le=\"+Inf\"} "
        << histogram.total << "\n"
        << "loupe_http_request_duration_seconds_sum{route=\"" << Label(route) << "\"} " << histogram.sum
        << "\n"
        << "loupe_http_request_duration_seconds_count{route=\"" << Label(route) << "\"} " << histogram.total
        << "\n";
  }
  out << "# HELP loupe_explanations_queued Explanations admitted and waiting for a slot.\n"
      << "# TYPE loupe_explanations_queued gauge\n"
      << "loupe_explanations_queued " << queued.load() << "\n"
      << "# HELP loupe_explanations_running Explanations running.\n"
      << "# TYPE loupe_explanations_running gauge\n"
      << "loupe_explanations_running " << running.load() << "\n"
      << "# HELP loupe_model_evaluations_total Rows each model evaluated (predictions and explanations).\n"
      << "# TYPE loupe_model_evaluations_total counter\n";
  for (const auto& [model, rows] : model_evaluations)
    out << "loupe_model_evaluations_total{model=\"" << Label(model) << "\"} " << rows << "\n";
  return out.str();
}

}  // namespace loupe::serve
