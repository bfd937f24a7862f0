// An HTTP/1.1 client for calling model servers (the remote model, core/src/model/remote_model.hpp).
// Boost.Beast and Asio stay in client.cpp (docs/architecture.md §1 "one room per dependency").
//
// Reentrant: one Client serves many threads at once (Model::Predict runs on TBB tasks). It keeps a small
// pool of keep-alive connections, at most `connections` open at a time; a caller waits for a free one.
// Every exchange has a timeout; 429 and 503 answers are retried with exponential backoff (or after the
// server's Retry-After, when it gives one), and a kept-alive connection the server has closed meanwhile
// is reopened once, silently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "http/message.hpp"
#include "loupe/core/status.hpp"

namespace loupe::http {

// http://HOST[:PORT]/PATH (https:// when TLS is built in).
struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;
  std::uint16_t port = 80;
  std::string path;  // starts with '/'

  // Refuses anything else with a sentence naming the text.
  static Result<Url> Parse(const std::string& text);
  std::string HostPort() const { return host + ":" + std::to_string(port); }
  std::string ToString() const { return scheme + "://" + HostPort() + path; }
};

struct ClientOptions {
  int connections = 4;                  // open connections at most
  std::int64_t timeout_ms = 30000;      // per exchange: connect, send and receive
  int retries = 4;                      // extra attempts after a 429 or 503 answer
  std::int64_t backoff_ms = 100;        // the first retry's wait; doubled for each next one
  std::int64_t max_backoff_ms = 10000;  // no wait longer than this, Retry-After included
  std::string ca_file;                  // https: PEM certificates of CAs to trust besides the system's
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> Create(const Url& server, const ClientOptions& options);
  ~Client();

  // Sends one request to the server (`target` is the path and query) and returns its answer, whatever the
  // status, once the retries are spent. Fails, with a sentence naming host:port, only when there is no
  // answer: the host cannot be reached, or it did not answer within the timeout.
  Result<Response> Send(const std::string& method, const std::string& target, const std::string& body,
                        const std::string& content_type = "application/json") const;

  class Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether this build speaks TLS (https:// urls, serve.yaml's `tls`).
bool TlsAvailable();

}  // namespace loupe::http
