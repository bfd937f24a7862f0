// What `loupe serve` answers, as plain C++ on a request and a response (docs/serve.md): KServe v1
// (/v1/models...), the Open Inference Protocol v2 (/v2/...), /metrics, bearer tokens. No sockets here:
// serve/http_server.hpp carries these structs over HTTP/1.1 (through http/server.hpp) and decides on which
// thread each runs, so the routes and their answers are tested without a network.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "http/message.hpp"
#include "loupe/core/plugin.hpp"
#include "serve/jobs.hpp"
#include "serve/metrics.hpp"
#include "serve/serve_config.hpp"
#include "serve/served_model.hpp"

namespace loupe::serve {

// The plain request and response of the HTTP layer (http/message.hpp), under the names this layer used
// before it moved there.
using HttpRequest = http::Request;
using HttpResponse = http::Response;
using http::ErrorResponse;  // {"error": "sentence"}

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
                                         ServedModel::EncodedRows& rows) const;
  HttpResponse V1Predict(const ServedModel& model, const std::string& body) const;
  HttpResponse V1Explain(const ServedModel& model, const std::string& body,
                         const std::atomic<bool>* cancelled) const;
  HttpResponse V2Metadata(const ServedModel& model) const;
  HttpResponse V2Infer(const ServedModel& model, const std::string& body) const;
  HttpResponse RenderMetrics() const;
  HttpResponse Runs(const HttpRequest& request, const std::string& route, const std::string& id,
                    const std::string& step) const;
  HttpResponse Route(const HttpRequest& request, const std::atomic<bool>* cancelled) const;

  ServeConfig config_;
  std::shared_ptr<const PluginRegistry> registry_;  // keeps the explainers' libraries loaded
  std::map<std::string, std::shared_ptr<const ServedModel>> models_;
  std::unique_ptr<JobManager> jobs_;  // null when serve.yaml has no jobs.dir
  mutable Metrics metrics_;
  std::atomic<bool> ready_{true};
};

}  // namespace loupe::serve
