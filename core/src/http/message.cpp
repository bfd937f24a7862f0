#include "http/message.hpp"

#include <strings.h>

#include <nlohmann/json.hpp>

namespace loupe::http {

std::string Response::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && ::strncasecmp(key.c_str(), name.c_str(), key.size()) == 0) return value;
  }
  return "";
}

Response ErrorResponse(int status, const std::string& message) {
  Response response;
  response.status = status;
  response.body =
      nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

}  // namespace loupe::http
