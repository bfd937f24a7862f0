// The only translation unit that includes Boost.Beast and Asio (http_server.hpp says why).
#include "serve/http_server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace loupe::serve {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

class HttpServer::Impl {
 public:
  explicit Impl(Service& service_in)
      : service(service_in),
        limits(service_in.config().limits),
        acceptor(ioc),
        explain_pool(static_cast<std::size_t>(limits.max_concurrent_explanations)) {}

  Status Listen();
  void Accept();
  void Run(int threads);
  void Shutdown(std::chrono::milliseconds grace);
  void Wait();

  // An explanation's cancellation flag while it is admitted, so a shutdown can cancel it.
  void Register(const std::shared_ptr<std::atomic<bool>>& flag);
  void Unregister(const std::shared_ptr<std::atomic<bool>>& flag);
  void AccessLog(const HttpRequest& request, const std::string& remote, int status, double seconds,
                 std::size_t bytes_out);

  Service& service;
  const ServeLimits& limits;
  asio::io_context ioc;
  tcp::acceptor acceptor;
  asio::thread_pool explain_pool;
  std::vector<std::thread> threads;
  std::atomic<int> admitted{0};  // explanations queued or running, not yet answered
  std::atomic<int> writing{0};   // responses being written
  std::atomic<bool> stopping{false};
  std::uint16_t bound_port = 0;

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::set<std::shared_ptr<std::atomic<bool>>> in_flight_;
  bool shutdown_started_ = false, stopped_ = false;
  std::mutex log_mutex_;
};

namespace {

// One connection: reads requests one after the other (HTTP/1.1 keep-alive) and answers each, inline or
// on an explanation slot. Every handler runs on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl& server)
      : stream_(std::move(socket)), server_(server), deadline_(stream_.get_executor()) {
    beast::error_code ec;
    const tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = peer.address().to_string() + ":" + std::to_string(peer.port());
  }

  void Start() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::ReadHeader, shared_from_this()));
  }

 private:
  void ReadHeader() {
    parser_.emplace();
    parser_->body_limit(static_cast<std::uint64_t>(server_.limits.max_body_bytes));
    parser_->header_limit(16 * 1024);
    request_ = HttpRequest{};
    // One deadline for the whole request, header and body: a client that trickles bytes is cut off too.
    stream_.expires_after(std::chrono::milliseconds(server_.limits.idle_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) return TooLarge();
    if (ec) return Close();
    started_ = Clock::now();
    const auto& header = parser_->get();
    request_.method = std::string(header.method_string());
    request_.target = std::string(header.target());
    if (beast::iequals(header[http::field::expect], "100-continue")) {
      http::response<http::empty_body> proceed{http::status::continue_, header.version()};
      http::write(stream_, proceed, ec);
      if (ec) return Close();
    }
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) return TooLarge();
    if (ec) return Close();
    stream_.expires_never();
    auto& message = parser_->get();
    request_.body = std::move(message.body());
    request_.authorization = std::string(message[http::field::authorization]);
    keep_alive_ = message.keep_alive();
    if (Service::IsExplanation(request_)) return Explain();
    Reply(server_.service.Handle(request_));
  }

  void TooLarge() {
    keep_alive_ = false;            // the body was not read: the connection cannot carry another request
    if (request_.method.empty()) {  // refused from its Content-Length, as soon as the header was read
      started_ = Clock::now();
      request_.method = std::string(parser_->get().method_string());
      request_.target = std::string(parser_->get().target());
    }
    Reply(ErrorResponse(413, "the request body is larger than this server's limit of " +
                                 std::to_string(server_.limits.max_body_bytes) + " bytes."));
  }

  // Admits the explanation (or answers 429 / 503) and runs it on the explanation pool; its answer comes
  // back to this strand in FinishExplanation.
  void Explain() {
    if (server_.stopping) {
      keep_alive_ = false;
      return Reply(ErrorResponse(503, "the server is shutting down."));
    }
    const int capacity = server_.limits.max_concurrent_explanations + server_.limits.queue_length;
    if (server_.admitted.fetch_add(1) >= capacity) {
      server_.admitted.fetch_sub(1);
      HttpResponse busy = ErrorResponse(429, "every explanation slot and queue place is taken; retry later.");
      busy.headers.emplace_back("Retry-After", std::to_string(server_.limits.retry_after_s));
      return Reply(std::move(busy));
    }
    cancelled_ = std::make_shared<std::atomic<bool>>(false);
    deadline_hit_ = client_gone_ = false;
    explaining_ = true;
    ++generation_;
    server_.Register(cancelled_);
    ++server_.service.metrics().queued;
    deadline_.expires_after(std::chrono::milliseconds(server_.limits.deadline_ms));
    deadline_.async_wait([self = shared_from_this(), flag = cancelled_](beast::error_code ec) {
      if (ec) return;
      self->deadline_hit_ = true;
      flag->store(true);
    });
    WatchDisconnect();
    asio::post(server_.explain_pool, [self = shared_from_this(), flag = cancelled_] {
      Metrics& metrics = self->server_.service.metrics();
      --metrics.queued;
      ++metrics.running;
      HttpResponse response = flag->load()
                                  ? ErrorResponse(503, "the explanation was cancelled before it started.")
                                  : self->server_.service.Handle(self->request_, flag.get());
      --metrics.running;
      asio::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->FinishExplanation(std::move(response));
      });
    });
  }

  // While an explanation runs, the socket is watched: end of file (or a reset) means the client closed
  // it, and the explanation is cancelled. Asio may report a readiness that a read already consumed, so
  // the socket is peeked without blocking: nothing to read yet re-arms the watch, and bytes of a
  // pipelined request end it (they are left for the next read).
  void WatchDisconnect() {
    stream_.socket().async_wait(
        tcp::socket::wait_read, [self = shared_from_this(), generation = generation_](beast::error_code ec) {
          if (ec || generation != self->generation_ || !self->explaining_) return;
          char byte;
          const ssize_t peeked =
              ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
          if (peeked > 0) return;
          if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return self->WatchDisconnect();
          self->client_gone_ = true;
          self->cancelled_->store(true);
        });
  }

  // Answers (or, for a gone client, closes) and only then releases the explanation's place, so that a
  // shutdown waiting for the places to empty finds the answer already being written.
  void FinishExplanation(HttpResponse response) {
    explaining_ = false;
    deadline_.cancel();
    beast::error_code ignored;
    stream_.socket().cancel(ignored);  // the disconnect watch
    const std::shared_ptr<std::atomic<bool>> flag = std::move(cancelled_);
    if (client_gone_) {
      Record(499, 0);  // nginx's "client closed request": counted, never answered
      Close();
    } else {
      if (deadline_hit_ && response.status == 503) {
        response =
            ErrorResponse(504, "the explanation ran past the request deadline of " +
                                   std::to_string(server_.limits.deadline_ms) + " ms and was cancelled.");
      }
      Reply(std::move(response));
    }
    server_.Unregister(flag);
  }

  void Record(int status, std::size_t bytes_out) {
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    server_.service.metrics().RecordRequest(Service::RouteOf(request_), status, seconds);
    server_.AccessLog(request_, remote_, status, seconds, bytes_out);
  }

  void Reply(HttpResponse response) {
    auto message =
        std::make_shared<http::response<http::string_body>>(static_cast<http::status>(response.status), 11);
    message->set(http::field::server, "loupe/" LOUPE_VERSION);
    message->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) message->set(name, value);
    message->body() = std::move(response.body);
    message->keep_alive(keep_alive_ && !server_.stopping);
    message->prepare_payload();
    Record(response.status, message->body().size());
    ++server_.writing;
    stream_.expires_after(std::chrono::milliseconds(server_.limits.idle_timeout_ms));
    http::async_write(stream_, *message,
                      [self = shared_from_this(), message](beast::error_code ec, std::size_t) {
                        --self->server_.writing;
                        if (ec || !message->keep_alive()) return self->Close();
                        self->ReadHeader();
                      });
  }

  void Close() {
    if (explaining_) return;  // FinishExplanation closes once the explanation is back
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& server_;
  asio::steady_timer deadline_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest request_;
  std::string remote_;
  Clock::time_point started_ = Clock::now();
  bool keep_alive_ = true;
  // The running explanation's state; touched only on this strand (cancelled_ also by the pool).
  std::shared_ptr<std::atomic<bool>> cancelled_;
  bool explaining_ = false, deadline_hit_ = false, client_gone_ = false;
  std::uint64_t generation_ = 0;
};

}  // namespace

Status HttpServer::Impl::Listen() {
  const std::string where = service.config().address + ":" + std::to_string(service.config().port);
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(service.config().address, ec);
  if (ec) return InvalidArgument("listen.address '" + service.config().address + "' is not an IP address.");
  const tcp::endpoint endpoint(address, service.config().port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return IoError("cannot listen on " + where + ": " + ec.message() + ".");
  bound_port = acceptor.local_endpoint().port();
  return {};
}

void HttpServer::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!stopping && acceptor.is_open()) Accept();
      return;
    }
    std::make_shared<Session>(std::move(socket), *this)->Start();
    Accept();
  });
}

void HttpServer::Impl::Run(int thread_count) {
  Accept();
  for (int i = 0; i < thread_count; ++i) threads.emplace_back([this] { ioc.run(); });
}

void HttpServer::Impl::Register(const std::shared_ptr<std::atomic<bool>>& flag) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_flight_.insert(flag);
  if (stopping && shutdown_started_) flag->store(true);
}

void HttpServer::Impl::Unregister(const std::shared_ptr<std::atomic<bool>>& flag) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    in_flight_.erase(flag);
    --admitted;
  }
  changed_.notify_all();
}

// Stop accepting; let admitted explanations finish within `grace`; cancel the rest and wait for them to
// return; let the answers be written (at most a second); then stop the connection threads.
void HttpServer::Impl::Shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping.exchange(true)) return;
  }
  service.SetReady(false);
  asio::post(ioc, [this] {
    beast::error_code ignored;
    acceptor.close(ignored);
  });
  std::unique_lock<std::mutex> lock(mutex_);
  if (!changed_.wait_for(lock, grace, [this] { return admitted.load() == 0; })) {
    shutdown_started_ = true;
    for (const auto& flag : in_flight_) flag->store(true);
    changed_.wait_for(lock, std::chrono::seconds(30), [this] { return admitted.load() == 0; });
  }
  lock.unlock();
  const auto flush_until = Clock::now() + std::chrono::seconds(1);
  while (writing.load() > 0 && Clock::now() < flush_until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ioc.stop();
  for (std::thread& thread : threads) thread.join();
  explain_pool.join();
  {
    std::lock_guard<std::mutex> stopped_lock(mutex_);
    stopped_ = true;
  }
  changed_.notify_all();
}

void HttpServer::Impl::Wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return stopped_; });
}

// One JSON line per answered request on stderr: never the body, never the Authorization header.
void HttpServer::Impl::AccessLog(const HttpRequest& request, const std::string& remote, int status,
                                 double seconds, std::size_t bytes_out) {
  if (!service.config().access_log) return;
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

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(Service& service) {
  auto impl = std::make_unique<Impl>(service);
  LOUPE_RETURN_IF_ERROR(impl->Listen());
  impl->Run(service.config().threads);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::uint16_t HttpServer::port() const { return impl_->bound_port; }

void HttpServer::Shutdown(std::chrono::milliseconds grace) { impl_->Shutdown(grace); }

void HttpServer::Wait() { impl_->Wait(); }

}  // namespace loupe::serve
