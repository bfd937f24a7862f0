// The HTTP/1.1 server (server.hpp). With client.cpp, the only code that includes Boost.Beast and Asio
// (docs/architecture.md §1).
#include "http/server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#if LOUPE_WITH_TLS
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#endif

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace loupe::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

class Server::Impl {
 public:
  Impl(const ServerOptions& options_in, Handler& handler_in)
      : options(options_in),
        handler(handler_in),
        acceptor(asio::make_strand(ioc)),
        explain_pool(static_cast<std::size_t>(std::max(1, options.slow_slots))) {}

  Status Listen();
  Status LoadTls();
  void Accept();
  void Run(int threads);
  void Shutdown(std::chrono::milliseconds grace);
  void Wait();

  // An explanation's cancellation flag while it is admitted, so a shutdown can cancel it.
  void Register(const std::shared_ptr<std::atomic<bool>>& flag);
  void Unregister(const std::shared_ptr<std::atomic<bool>>& flag);

  const ServerOptions options;
  Handler& handler;
  asio::io_context ioc;
  tcp::acceptor acceptor;  // on its own strand: accept handlers and the shutdown's close never overlap
  asio::thread_pool explain_pool;
  std::vector<std::thread> threads;
  std::atomic<int> admitted{0};  // explanations queued or running, not yet answered
  std::atomic<int> writing{0};   // responses being written
  std::atomic<bool> stopping{false};
  std::uint16_t bound_port = 0;
#if LOUPE_WITH_TLS
  std::unique_ptr<asio::ssl::context> tls;  // set when options.tls_cert_file is
#endif

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::set<std::shared_ptr<std::atomic<bool>>> in_flight_;
  bool shutdown_started_ = false, stopped_ = false;
};

namespace {

// One connection: reads requests one after the other (HTTP/1.1 keep-alive) and answers each, inline or
// on an explanation slot. Every handler runs on the connection's strand.
// `Stream` is beast::tcp_stream, or (TLS) beast::ssl_stream over one, whose handshake comes first.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  Session(tcp::socket socket, Server::Impl& server) requires(!kTls)
      : stream_(std::move(socket)), server_(server), deadline_(stream_.get_executor()) {
    NameRemote();
  }
#if LOUPE_WITH_TLS
  Session(tcp::socket socket, asio::ssl::context& context, Server::Impl& server) requires(kTls)
      : stream_(std::move(socket), context), server_(server), deadline_(stream_.get_executor()) {
    NameRemote();
  }
#endif

  void Start() {
#if LOUPE_WITH_TLS  // asio::ssl is not even declared without OpenSSL's headers (the demo's build)
    if constexpr (kTls) {
      Lowest().expires_after(std::chrono::milliseconds(server_.options.idle_timeout_ms));
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->ReadHeader();
                              });
      return;
    }
#endif
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::ReadHeader, this->shared_from_this()));
  }

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void NameRemote() {
    beast::error_code ec;
    const tcp::endpoint peer = Lowest().socket().remote_endpoint(ec);
    if (!ec) remote_ = peer.address().to_string() + ":" + std::to_string(peer.port());
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->body_limit(static_cast<std::uint64_t>(server_.options.max_body_bytes));
    parser_->header_limit(16 * 1024);
    request_ = Request{};
    // One deadline for the whole request, header and body: a client that trickles bytes is cut off too.
    Lowest().expires_after(std::chrono::milliseconds(server_.options.idle_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, this->shared_from_this()));
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
                     beast::bind_front_handler(&Session::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) return TooLarge();
    if (ec) return Close();
    Lowest().expires_never();
    auto& message = parser_->get();
    request_.body = std::move(message.body());
    request_.authorization = std::string(message[http::field::authorization]);
    keep_alive_ = message.keep_alive();
    if (server_.handler.IsSlow(request_)) return Explain();
    Reply(server_.handler.Handle(request_, nullptr));
  }

  void TooLarge() {
    keep_alive_ = false;            // the body was not read: the connection cannot carry another request
    if (request_.method.empty()) {  // refused from its Content-Length, as soon as the header was read
      started_ = Clock::now();
      request_.method = std::string(parser_->get().method_string());
      request_.target = std::string(parser_->get().target());
    }
    Reply(ErrorResponse(413, "the request body is larger than this server's limit of " +
                                 std::to_string(server_.options.max_body_bytes) + " bytes."));
  }

  // Admits the explanation (or answers 429 / 503) and runs it on the explanation pool; its answer comes
  // back to this strand in FinishExplanation.
  void Explain() {
    if (server_.stopping) {
      keep_alive_ = false;
      return Reply(ErrorResponse(503, "the server is shutting down."));
    }
    const int capacity = server_.options.slow_slots + server_.options.queue_length;
    if (server_.admitted.fetch_add(1) >= capacity) {
      server_.admitted.fetch_sub(1);
      Response busy = ErrorResponse(
          429, "every " + server_.options.slow_work + " slot and queue place is taken; retry later.");
      busy.headers.emplace_back("Retry-After", std::to_string(server_.options.retry_after_s));
      return Reply(std::move(busy));
    }
    cancelled_ = std::make_shared<std::atomic<bool>>(false);
    deadline_hit_ = client_gone_ = false;
    explaining_ = true;
    ++generation_;
    server_.Register(cancelled_);
    server_.handler.SlowWorkChanged(1, 0);
    deadline_.expires_after(std::chrono::milliseconds(server_.options.deadline_ms));
    deadline_.async_wait([self = this->shared_from_this(), flag = cancelled_](beast::error_code ec) {
      if (ec) return;
      self->deadline_hit_ = true;
      flag->store(true);
    });
    WatchDisconnect();
    asio::post(server_.explain_pool, [self = this->shared_from_this(), flag = cancelled_] {
      Handler& handler = self->server_.handler;
      handler.SlowWorkChanged(-1, 1);
      Response response = flag->load() ? ErrorResponse(503, "the " + self->server_.options.slow_work +
                                                                " was cancelled before it started.")
                                       : handler.Handle(self->request_, flag.get());
      handler.SlowWorkChanged(0, -1);
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
    Lowest().socket().async_wait(tcp::socket::wait_read, [self = this->shared_from_this(),
                                                          generation = generation_](beast::error_code ec) {
      if (ec || generation != self->generation_ || !self->explaining_) return;
      char byte;
      const ssize_t peeked =
          ::recv(self->Lowest().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (peeked > 0) return;
      if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return self->WatchDisconnect();
      self->client_gone_ = true;
      self->cancelled_->store(true);
    });
  }

  // Answers (or, for a gone client, closes) and only then releases the explanation's place, so that a
  // shutdown waiting for the places to empty finds the answer already being written.
  void FinishExplanation(Response response) {
    explaining_ = false;
    deadline_.cancel();
    beast::error_code ignored;
    Lowest().socket().cancel(ignored);  // the disconnect watch
    const std::shared_ptr<std::atomic<bool>> flag = std::move(cancelled_);
    if (client_gone_) {
      Record(499, 0);  // nginx's "client closed request": counted, never answered
      Close();
    } else {
      if (deadline_hit_ && response.status == 503) {
        response =
            ErrorResponse(504, "the " + server_.options.slow_work + " ran past the request deadline of " +
                                   std::to_string(server_.options.deadline_ms) + " ms and was cancelled.");
      }
      Reply(std::move(response));
    }
    server_.Unregister(flag);
  }

  void Record(int status, std::size_t bytes_out) {
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    server_.handler.Answered(request_, remote_, status, seconds, bytes_out);
  }

  void Reply(Response response) {
    auto message =
        std::make_shared<http::response<http::string_body>>(static_cast<http::status>(response.status), 11);
    message->set(http::field::server, server_.options.server_header);
    message->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) message->set(name, value);
    message->body() = std::move(response.body);
    message->keep_alive(keep_alive_ && !server_.stopping);
    message->prepare_payload();
    Record(response.status, message->body().size());
    ++server_.writing;
    Lowest().expires_after(std::chrono::milliseconds(server_.options.idle_timeout_ms));
    http::async_write(stream_, *message,
                      [self = this->shared_from_this(), message](beast::error_code ec, std::size_t) {
                        --self->server_.writing;
                        if (ec || !message->keep_alive()) return self->Close();
                        self->ReadHeader();
                      });
  }

  void Close() {
    if (explaining_) return;  // FinishExplanation closes once the explanation is back
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Lowest().socket().close(ignored);
  }

  Stream stream_;
  Server::Impl& server_;
  asio::steady_timer deadline_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Request request_;
  std::string remote_;
  Clock::time_point started_ = Clock::now();
  bool keep_alive_ = true;
  // The running explanation's state; touched only on this strand (cancelled_ also by the pool).
  std::shared_ptr<std::atomic<bool>> cancelled_;
  bool explaining_ = false, deadline_hit_ = false, client_gone_ = false;
  std::uint64_t generation_ = 0;
};

}  // namespace

// TLS 1.2 or later with the certificate chain and private key of the options (PEM files).
Status Server::Impl::LoadTls() {
  if (options.tls_cert_file.empty()) return {};
#if LOUPE_WITH_TLS
  tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  beast::error_code ec;
  tls->use_certificate_chain_file(options.tls_cert_file, ec);
  if (ec)
    return IoError("cannot read the TLS certificate '" + options.tls_cert_file + "': " + ec.message() + ".");
  tls->use_private_key_file(options.tls_key_file, asio::ssl::context::pem, ec);
  if (ec) return IoError("cannot read the TLS key '" + options.tls_key_file + "': " + ec.message() + ".");
  return {};
#else
  return Unsupported(
      "the configuration asks for TLS, but this build of Loupe has no TLS support (built "
      "without libssl-dev).");
#endif
}

Status Server::Impl::Listen() {
  LOUPE_RETURN_IF_ERROR(LoadTls());
  const std::string where = options.address + ":" + std::to_string(options.port);
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (ec) return InvalidArgument("listen.address '" + options.address + "' is not an IP address.");
  const tcp::endpoint endpoint(address, options.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return IoError("cannot listen on " + where + ": " + ec.message() + ".");
  bound_port = acceptor.local_endpoint().port();
  return {};
}

void Server::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!stopping && acceptor.is_open()) Accept();
      return;
    }
#if LOUPE_WITH_TLS
    if (tls) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(std::move(socket), *tls, *this)
          ->Start();
      return Accept();
    }
#endif
    std::make_shared<Session<beast::tcp_stream>>(std::move(socket), *this)->Start();
    Accept();
  });
}

void Server::Impl::Run(int thread_count) {
  Accept();
  for (int i = 0; i < thread_count; ++i) threads.emplace_back([this] { ioc.run(); });
}

void Server::Impl::Register(const std::shared_ptr<std::atomic<bool>>& flag) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_flight_.insert(flag);
  if (stopping && shutdown_started_) flag->store(true);
}

void Server::Impl::Unregister(const std::shared_ptr<std::atomic<bool>>& flag) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    in_flight_.erase(flag);
    --admitted;
  }
  changed_.notify_all();
}

// Stop accepting; let admitted explanations finish within `grace`; cancel the rest and wait for them to
// return; let the answers be written (at most a second); then stop the connection threads.
void Server::Impl::Shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping.exchange(true)) return;
  }
  handler.ShutdownStarted();
  asio::post(acceptor.get_executor(), [this] {  // the strand the accept handlers run on
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

void Server::Impl::Wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return stopped_; });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, Handler& handler) {
  auto impl = std::make_unique<Impl>(options, handler);
  LOUPE_RETURN_IF_ERROR(impl->Listen());
  impl->Run(std::max(1, options.threads));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::uint16_t Server::port() const { return impl_->bound_port; }

void Server::Shutdown(std::chrono::milliseconds grace) { impl_->Shutdown(grace); }

void Server::Wait() { impl_->Wait(); }

}  // namespace loupe::http
