// An HTTP/1.1 server (Boost.Beast on Asio, in server.cpp alone: docs/architecture.md §1 "one room per
// dependency"). It knows nothing of models: a Handler answers each request, and the server decides on
// which thread.
//
// Threads: `threads` connection threads run the sockets and answer inline every request the handler does
// not call slow. Slow requests (`loupe serve`'s explanations) run on a pool of `slow_slots` threads behind
// a queue of `queue_length`; a request that finds both full is answered 429 with Retry-After at once. A
// slow request is cancelled (its `cancelled` flag) when its deadline passes (504), when its client
// disconnects (no answer; reported as 499), or when a shutdown's grace period ends.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "http/message.hpp"
#include "loupe/core/status.hpp"

namespace loupe::http {

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;                 // 0: any free port
  int threads = 2;                        // connection threads
  std::int64_t max_body_bytes = 1 << 20;  // a larger body is refused with 413 before it is read
  std::int64_t deadline_ms = 30000;       // a slow request still running then is cancelled: 504
  std::int64_t idle_timeout_ms = 30000;   // a client must send its whole request within this time
  int slow_slots = 2;
  int queue_length = 16;
  int retry_after_s = 1;
  std::string slow_work = "explanation";  // what a slow request is called in the server's sentences
  std::string server_header = "loupe";
  // TLS (when built in: TlsAvailable() in client.hpp): PEM files of the certificate chain and its private
  // key; empty: plain HTTP.
  std::string tls_cert_file, tls_key_file;
};

// What the server calls. Every method may be called from several threads at once.
class Handler {
 public:
  virtual ~Handler() = default;
  // Answers one request. `cancelled` (null for inline requests) turns true when the request must stop:
  // the answer is then replaced when the server knows why (a deadline: 504; a gone client: none).
  virtual Response Handle(const Request& request, const std::atomic<bool>* cancelled) = 0;
  // Whether the request runs on a slow slot rather than on its connection thread.
  virtual bool IsSlow(const Request& request) const = 0;
  // After each request is answered (or, with status 499, dropped because its client left).
  virtual void Answered(const Request& request, const std::string& remote, int status, double seconds,
                        std::size_t bytes_out) = 0;
  // Slow requests waiting for a slot and running, when they change.
  virtual void SlowWorkChanged(int queued_delta, int running_delta) = 0;
  // Once, when a shutdown begins (`loupe serve` turns its readiness probe 503).
  virtual void ShutdownStarted() = 0;
};

class Server {
 public:
  // Binds options.address:port and starts serving on its threads; fails with a sentence naming the
  // address when it cannot bind. `handler` must outlive the server.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options, Handler& handler);
  ~Server();

  std::uint16_t port() const;  // the bound port (the one the OS chose when the options say 0)

  // Graceful shutdown: stops accepting, lets running and queued slow requests finish within `grace`,
  // cancels those still running then, and returns once every thread has stopped. Safe from any thread but
  // the server's own; idempotent.
  void Shutdown(std::chrono::milliseconds grace);
  // Blocks until Shutdown has finished (from another thread).
  void Wait();

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace loupe::http
