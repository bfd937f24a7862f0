// The plain request and response that cross between the HTTP layer (core/src/http: the server and the
// client, the only code that includes Boost.Beast and Asio, docs/architecture.md §1) and the code that
// answers or sends them (core/src/serve, the remote model). No Boost here.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace loupe::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // the path with its query, as sent
  std::string body;
  std::string authorization;  // the Authorization header, "" when absent
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type and Content-Length

  // The value of header `name` (compared without case), "" when absent.
  std::string Header(const std::string& name) const;
};

// The JSON error body both of `loupe serve`'s protocols use: {"error": "sentence"}.
Response ErrorResponse(int status, const std::string& message);

}  // namespace loupe::http
