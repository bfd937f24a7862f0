// What `loupe serve` answers, as plain C++ on a request and a response (docs/serve.md): KServe v1
// (/v1/models...), the Open Inference Protocol v2 (/v2/...), /metrics, bearer tokens. No sockets here:
// serve/http_server.hpp carries these structs over HTTP/1.1 and decides on which thread each runs, so
// the routes and their answers are tested without a network.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "loupe/core/plugin.hpp"
#include "serve/metrics.hpp"
#include "serve/serve_config.hpp"
#include "serve/served_model.hpp"

namespace loupe::serve {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // the path with its query, as sent
  std::string body;
  std::string authorization;  // the Authorization header, "" when absent
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type and Content-Length
};

// The JSON error body both protocols use: {"error": "sentence"}.
HttpResponse ErrorResponse(int status, const std::string& message);

class Service {
 public:
  // Loads every model of `config` against the plugins of `registry`; each problem is a positioned
  // sentence in `diagnostics`, and nullptr comes back.
  static std::unique_ptr<Service> Create(ServeConfig config, std::shared_ptr<const PluginRegistry> registry,
                                         std::vector<Diagnostic>& diagnostics);

  const ServeConfig& config() const { return config_; }
  Metrics& metrics() { return metrics_; }

  // The route a request matches, as a template for metrics and logs ("/v1/models/{name}:explain"), or
  // "unmatched". Never holds a model's name, so the metrics' label set stays bounded.
  static std::string RouteOf(const HttpRequest& request);
  // Whether the request is an explanation, which the server runs on an explanation slot (the limits'
  // max_concurrent_explanations and queue_length) rather than on a connection thread.
  static bool IsExplanation(const HttpRequest& request);

  // Answers one request. `cancelled` (may be null) stops an explanation at its next check: then the
  // answer is 503, which the server replaces when it knows why (a deadline: 504; a gone client: none).
  HttpResponse Handle(const HttpRequest& request, const std::atomic<bool>* cancelled = nullptr) const;

  // /v2/health/ready answers 503 once this is false (the server sets it when it starts shutting down).
  void SetReady(bool ready) { ready_.store(ready); }

 private:
  Service() = default;
  // 401 without a bearer token, 403 with a wrong one; nullopt when the request may go on.
  std::optional<HttpResponse> Authenticate(const HttpRequest& request) const;
  const ServedModel* FindModel(const std::string& name) const;

  HttpResponse ListModels() const;
  HttpResponse V1ModelStatus(const ServedModel& model) const;
  // The rows of a v1 body ({"instances": [...]}) into `rows`, or the 400 answer that refuses the body.
  std::optional<HttpResponse> ReadV1Rows(const ServedModel& model, const std::string& body,
                                         Tensor& rows) const;
  HttpResponse V1Predict(const ServedModel& model, const std::string& body) const;
  HttpResponse V1Explain(const ServedModel& model, const std::string& body,
                         const std::atomic<bool>* cancelled) const;
  HttpResponse V2Metadata(const ServedModel& model) const;
  HttpResponse V2Infer(const ServedModel& model, const std::string& body) const;
  HttpResponse RenderMetrics() const;
  HttpResponse Route(const HttpRequest& request, const std::atomic<bool>* cancelled) const;

  ServeConfig config_;
  std::shared_ptr<const PluginRegistry> registry_;  // keeps the explainers' libraries loaded
  std::map<std::string, std::shared_ptr<const ServedModel>> models_;
  mutable Metrics metrics_;
  std::atomic<bool> ready_{true};
};

}  // namespace loupe::serve
