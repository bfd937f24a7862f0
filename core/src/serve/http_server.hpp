// The HTTP/1.1 server of `loupe serve` (docs/serve.md): the generic server of core/src/http (the one room
// of Boost.Beast and Asio, docs/architecture.md §1) answering through a Service. This layer adds what is
// `loupe serve`'s own: which requests are slow (explanations), the metrics, the access log and the
// readiness probe.
//
// Threads: `threads` connection threads run the sockets and answer every request but explanations
// inline (metadata, health, predictions: microseconds each). Explanations run on their own pool of
// limits.max_concurrent_explanations threads, behind a queue of limits.queue_length; a request that finds
// both full is answered 429 with Retry-After at once. An explanation is cancelled (ExplainRequest::
// cancelled) when its deadline passes (504), when its client disconnects (no answer), or when a shutdown's
// grace period ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "loupe/core/status.hpp"
#include "serve/service.hpp"

namespace loupe::serve {

class HttpServer {
 public:
  // Binds config().address:port of `service` and starts serving on its threads; fails with a sentence
  // naming the address when it cannot bind. `service` must outlive the server.
  static Result<std::unique_ptr<HttpServer>> Start(Service& service);
  ~HttpServer();

  std::uint16_t port() const;  // the bound port (the one the OS chose when the config says 0)

  // Graceful shutdown: stops accepting, answers /v2/health/ready with 503, lets running and queued
  // explanations finish within `grace`, cancels those still running then, and returns once every thread
  // has stopped. Safe from any thread but the server's own; idempotent.
  void Shutdown(std::chrono::milliseconds grace);
  // Blocks until Shutdown has finished (from another thread, or a signal handler thread).
  void Wait();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace loupe::serve
