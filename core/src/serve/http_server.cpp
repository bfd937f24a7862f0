// `loupe serve`'s side of the HTTP server: a Service behind http::Server (no Boost here).
#include "serve/http_server.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "http/server.hpp"

namespace loupe::serve {

// Adapts the Service to the generic server: explanations are the slow requests; every answer is counted
// in the metrics and written to the access log.
class HttpServer::Impl : public http::Handler {
 public:
  explicit Impl(Service& service) : service_(service) {}

  http::Response Handle(const http::Request& request, const std::atomic<bool>* cancelled) override {
    return service_.Handle(request, cancelled);
  }
  bool IsSlow(const http::Request& request) const override { return Service::IsExplanation(request); }
  void Answered(const http::Request& request, const std::string& remote, int status, double seconds,
                std::size_t bytes_out) override {
    service_.metrics().RecordRequest(Service::RouteOf(request), status, seconds);
    AccessLog(request, remote, status, seconds, bytes_out);
  }
  void SlowWorkChanged(int queued_delta, int running_delta) override {
    service_.metrics().queued += queued_delta;
    service_.metrics().running += running_delta;
  }
  void ShutdownStarted() override { service_.SetReady(false); }

  static http::ServerOptions OptionsOf(const ServeConfig& config) {
    http::ServerOptions options;
    options.address = config.address;
    options.port = config.port;
    options.threads = config.threads;
    options.max_body_bytes = config.limits.max_body_bytes;
    options.deadline_ms = config.limits.deadline_ms;
    options.idle_timeout_ms = config.limits.idle_timeout_ms;
    options.slow_slots = config.limits.max_concurrent_explanations;
    options.queue_length = config.limits.queue_length;
    options.retry_after_s = config.limits.retry_after_s;
    options.slow_work = "explanation";
    options.server_header = "loupe/" LOUPE_VERSION;
    options.tls_cert_file = config.tls_cert.string();
    options.tls_key_file = config.tls_key.string();
    return options;
  }

  std::unique_ptr<http::Server> server;

 private:
  // One JSON line per answered request on stderr: never the body, never the Authorization header.
  void AccessLog(const http::Request& request, const std::string& remote, int status, double seconds,
                 std::size_t bytes_out) {
    if (!service_.config().access_log) return;
    char time_text[32];
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    std::strftime(time_text, sizeof time_text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    const nlohmann::json line = {{"time", time_text},
                                 {"remote", remote},
                                 {"method", request.method},
                                 {"path", request.target.substr(0, request.target.find('?'))},
                                 {"route", Service::RouteOf(request)},
                                 {"status", status},
                                 {"ms", std::round(seconds * 1e6) / 1e3},
                                 {"bytes_in", request.body.size()},
                                 {"bytes_out", bytes_out}};
    const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::lock_guard<std::mutex> lock(log_mutex_);
    std::fwrite(text.data(), 1, text.size(), stderr);
  }

  Service& service_;
  std::mutex log_mutex_;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(Service& service) {
  auto impl = std::make_unique<Impl>(service);
  LOUPE_ASSIGN_OR_RETURN(impl->server, http::Server::Start(Impl::OptionsOf(service.config()), *impl));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::uint16_t HttpServer::port() const { return impl_->server->port(); }

void HttpServer::Shutdown(std::chrono::milliseconds grace) { impl_->server->Shutdown(grace); }

void HttpServer::Wait() { impl_->server->Wait(); }

}  // namespace loupe::serve
