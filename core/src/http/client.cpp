// The HTTP/1.1 client (client.hpp). With server.cpp, the only code that includes Boost.Beast and Asio
// (docs/architecture.md §1).
//
// Each pooled connection owns its io_context and is used by one thread at a time: an exchange starts the
// asynchronous operations of Beast and runs that io_context until they finish, so the stream's timer
// (tcp_stream::expires_after) bounds every step, which Beast's blocking calls cannot.
#include "http/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#if LOUPE_WITH_TLS
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#endif

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace loupe::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

Result<Url> Url::Parse(const std::string& text) {
  Url url;
  const std::size_t scheme_end = text.find("://");
  if (scheme_end == std::string::npos)
    return InvalidArgument("'" + text + "' is not a URL of the form http://HOST:PORT/PATH.");
  url.scheme = text.substr(0, scheme_end);
  if (url.scheme != "http" && url.scheme != "https")
    return InvalidArgument("'" + text + "' is not an http:// or https:// URL.");
  if (url.scheme == "https" && !TlsAvailable())
    return Unsupported("'" + text + "' is an https:// URL, but this build of Loupe has no TLS support.");
  url.port = url.scheme == "https" ? 443 : 80;
  const std::size_t host_begin = scheme_end + 3;
  const std::size_t path_begin = std::min(text.find('/', host_begin), text.size());
  const std::string authority = text.substr(host_begin, path_begin - host_begin);
  url.path = path_begin < text.size() ? text.substr(path_begin) : "/";
  const std::size_t colon = authority.rfind(':');
  url.host = authority.substr(0, colon);
  if (colon != std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    unsigned value = 0;
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (error != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      return InvalidArgument("'" + text + "' has the port '" + port + "', which is not from 1 to 65535.");
    url.port = static_cast<std::uint16_t>(value);
  }
  if (url.host.empty()) return InvalidArgument("'" + text + "' names no host.");
  return url;
}

bool TlsAvailable() { return LOUPE_WITH_TLS != 0; }

// In a named namespace, not an anonymous one: Client::Impl holds Connections, and GCC warns
// (-Wsubobject-linkage) when a class with external linkage has a member of an internal type.
namespace client_detail {

// One connection: plain, or (https) TLS over the same kind of TCP stream.
struct Connection {
  asio::io_context ioc;
  beast::tcp_stream plain{ioc};
#if LOUPE_WITH_TLS
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::tcp_stream& stream() { return tls ? beast::get_lowest_layer(*tls) : plain; }
  // Calls `use` with the stream requests are written to and read from.
  template <typename Use>
  void With(Use use) {
    if (tls) return use(*tls);
    use(plain);
  }
#else
  beast::tcp_stream& stream() { return plain; }
  template <typename Use>
  void With(Use use) {
    use(plain);
  }
#endif
  beast::flat_buffer buffer;
  bool open = false;
};

// Runs the asynchronous operation `start` (which stores its error code) on the connection's own
// io_context until it finishes or the stream's timer fires.
template <typename Start>
beast::error_code RunBounded(Connection& connection, std::int64_t timeout_ms, Start start) {
  beast::error_code result = asio::error::would_block;
  connection.stream().expires_after(std::chrono::milliseconds(timeout_ms));
  start(result);
  connection.ioc.restart();
  connection.ioc.run();
  return result;
}

}  // namespace client_detail

class Client::Impl {
 public:
  Impl(Url server_in, ClientOptions options_in) : server(std::move(server_in)), options(options_in) {}

  Result<Response> Send(const std::string& method, const std::string& target, const std::string& body,
                        const std::string& content_type);

 private:
  std::unique_ptr<client_detail::Connection> Lease();
  void Return(std::unique_ptr<client_detail::Connection> connection);
  Status Connect(client_detail::Connection& connection);
  Result<Response> Exchange(client_detail::Connection& connection,
                            const bhttp::request<bhttp::string_body>& request);
  std::string Unanswered(const beast::error_code& ec) const;
#if LOUPE_WITH_TLS
  Status Handshake(client_detail::Connection& connection);
#endif

 public:
  Url server;
  ClientOptions options;
#if LOUPE_WITH_TLS
  std::unique_ptr<asio::ssl::context> tls;  // https: the peer is verified against these CAs and its name
#endif

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<client_detail::Connection>> idle_;
  int leased_ = 0;
};

std::unique_ptr<client_detail::Connection> Client::Impl::Lease() {
  std::unique_lock<std::mutex> lock(mutex_);
  released_.wait(lock, [this] { return leased_ < std::max(1, options.connections); });
  ++leased_;
  if (idle_.empty()) return std::make_unique<client_detail::Connection>();
  std::unique_ptr<client_detail::Connection> connection = std::move(idle_.back());
  idle_.pop_back();
  return connection;
}

void Client::Impl::Return(std::unique_ptr<client_detail::Connection> connection) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --leased_;
    if (connection->open) idle_.push_back(std::move(connection));
  }
  released_.notify_one();
}

std::string Client::Impl::Unanswered(const beast::error_code& ec) const {
  if (ec == beast::error::timeout)
    return server.HostPort() + " did not answer within " + std::to_string(options.timeout_ms) + " ms.";
  return "the connection to " + server.HostPort() + " failed: " + ec.message() + ".";
}

Status Client::Impl::Connect(client_detail::Connection& connection) {
  beast::error_code ec;
  tcp::resolver resolver(connection.ioc);
  const tcp::resolver::results_type endpoints =
      resolver.resolve(server.host, std::to_string(server.port), ec);
  if (ec) return IoError("cannot resolve the host of " + server.HostPort() + ": " + ec.message() + ".");
#if LOUPE_WITH_TLS
  connection.tls.reset();
  if (tls) connection.tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(connection.ioc, *tls);
#endif
  ec = client_detail::RunBounded(connection, options.timeout_ms, [&](beast::error_code& result) {
    connection.stream().async_connect(
        endpoints, [&result](beast::error_code done, const tcp::endpoint&) { result = done; });
  });
  if (ec == beast::error::timeout) {
    return IoError("cannot connect to " + server.HostPort() + " within " +
                   std::to_string(options.timeout_ms) + " ms.");
  }
  if (ec) return IoError("cannot connect to " + server.HostPort() + ": " + ec.message() + ".");
  connection.stream().socket().set_option(tcp::no_delay(true), ec);
#if LOUPE_WITH_TLS
  if (connection.tls) LOUPE_RETURN_IF_ERROR(Handshake(connection));
#endif
  connection.open = true;
  connection.buffer.clear();
  return Status::Ok();
}

#if LOUPE_WITH_TLS
// The TLS handshake on a connected socket: the server's name goes out (SNI) and its certificate must be
// valid for that name and signed by a trusted CA.
Status Client::Impl::Handshake(client_detail::Connection& connection) {
  if (!SSL_set_tlsext_host_name(connection.tls->native_handle(), server.host.c_str()))
    return IoError("cannot set the TLS server name for " + server.HostPort() + ".");
  connection.tls->set_verify_callback(asio::ssl::host_name_verification(server.host));
  const beast::error_code ec =
      client_detail::RunBounded(connection, options.timeout_ms, [&](beast::error_code& result) {
        connection.tls->async_handshake(asio::ssl::stream_base::client,
                                        [&result](beast::error_code done) { result = done; });
      });
  if (ec) return IoError("the TLS handshake with " + server.HostPort() + " failed: " + ec.message() + ".");
  return Status::Ok();
}
#endif

// One request and its answer on `connection` (opened first when it is not). A connection that was
// already open may have been closed by the server while idle: its first failure reopens it once.
Result<Response> Client::Impl::Exchange(client_detail::Connection& connection,
                                        const bhttp::request<bhttp::string_body>& request) {
  for (int attempt = 0;; ++attempt) {
    const bool reused = connection.open;
    if (!connection.open) LOUPE_RETURN_IF_ERROR(Connect(connection));
    beast::error_code ec =
        client_detail::RunBounded(connection, options.timeout_ms, [&](beast::error_code& result) {
          connection.With([&](auto& stream) {
            bhttp::async_write(stream, request,
                               [&result](beast::error_code done, std::size_t) { result = done; });
          });
        });
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(std::uint64_t{1} << 30);
    if (!ec) {
      ec = client_detail::RunBounded(connection, options.timeout_ms, [&](beast::error_code& result) {
        connection.With([&](auto& stream) {
          bhttp::async_read(stream, connection.buffer, parser,
                            [&result](beast::error_code done, std::size_t) { result = done; });
        });
      });
    }
    if (ec) {
      beast::error_code ignored;
      connection.stream().socket().close(ignored);
      connection.open = false;
      if (reused && attempt == 0 && ec != beast::error::timeout) continue;
      return IoError(Unanswered(ec));
    }
    bhttp::response<bhttp::string_body> message = parser.release();
    if (!message.keep_alive()) {
      beast::error_code ignored;
      connection.stream().socket().close(ignored);
      connection.open = false;
    }
    Response response;
    response.status = static_cast<int>(message.result_int());
    response.content_type = std::string(message[bhttp::field::content_type]);
    for (const auto& field : message)
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    response.body = std::move(message.body());
    return response;
  }
}

namespace {

// The wait before retry number `retry` (0 first): the server's Retry-After in seconds when it gives one,
// else backoff_ms doubled per retry; never above max_backoff_ms.
std::chrono::milliseconds RetryDelay(const Response& response, int retry, const ClientOptions& options) {
  std::int64_t wait_ms = options.backoff_ms << std::min(retry, 20);
  const std::string retry_after = response.Header("Retry-After");
  std::int64_t seconds = 0;
  const auto [end, error] =
      std::from_chars(retry_after.data(), retry_after.data() + retry_after.size(), seconds);
  if (!retry_after.empty() && error == std::errc() && end == retry_after.data() + retry_after.size())
    wait_ms = seconds * 1000;
  return std::chrono::milliseconds(std::clamp<std::int64_t>(wait_ms, 0, options.max_backoff_ms));
}

}  // namespace

Result<Response> Client::Impl::Send(const std::string& method, const std::string& target,
                                    const std::string& body, const std::string& content_type) {
  bhttp::request<bhttp::string_body> request(bhttp::string_to_verb(method), target, 11);
  request.set(bhttp::field::host, server.host);
  request.set(bhttp::field::user_agent, "loupe/" LOUPE_VERSION);
  if (!body.empty() || method == "POST") {
    request.set(bhttp::field::content_type, content_type);
    request.body() = body;
  }
  request.keep_alive(true);
  request.prepare_payload();
  for (int retry = 0;; ++retry) {
    std::unique_ptr<client_detail::Connection> connection = Lease();
    Result<Response> response = Exchange(*connection, request);
    Return(std::move(connection));
    if (!response.ok()) return response;
    const bool busy = response->status == 429 || response->status == 503;
    if (!busy || retry >= options.retries) return response;
    std::this_thread::sleep_for(RetryDelay(*response, retry, options));
  }
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Create(const Url& server, const ClientOptions& options) {
  if (server.scheme == "https" && !TlsAvailable())
    return Unsupported("this build of Loupe has no TLS support, so it cannot call " + server.ToString() +
                       ".");
  auto impl = std::make_unique<Impl>(server, options);
#if LOUPE_WITH_TLS
  if (server.scheme == "https") {
    impl->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    impl->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1);
    impl->tls->set_verify_mode(asio::ssl::verify_peer);
    beast::error_code ec;
    impl->tls->set_default_verify_paths(ec);
    if (!options.ca_file.empty()) {
      impl->tls->load_verify_file(options.ca_file, ec);
      if (ec)
        return IoError("cannot read the CA certificates '" + options.ca_file + "': " + ec.message() + ".");
    }
  }
#endif
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<Response> Client::Send(const std::string& method, const std::string& target, const std::string& body,
                              const std::string& content_type) const {
  return impl_->Send(method, target, body, content_type);
}

}  // namespace loupe::http
