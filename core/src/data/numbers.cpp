#include "data/numbers.hpp"

#include <charconv>
#include <cmath>
#include <system_error>

namespace loupe::data {
namespace {

std::string_view TrimBlanks(std::string_view text) {
  while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsBlank(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace

std::optional<double> ParseNumber(std::string_view text) {
  text = TrimBlanks(text);
  // std::from_chars rejects a leading '+', which spreadsheets and R write.
  if (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);
    if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
  }
  if (text.empty()) return std::nullopt;
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value, std::chars_format::general);
  if (error != std::errc() || stop != end || std::isnan(value)) return std::nullopt;
  return value;
}

std::string FormatNumber(double value) {
  // The longest shortest-round-trip double is 24 characters ("-2.2250738585072014e-308"), so 32 always
  // suffice and to_chars cannot fail.
  char buffer[32];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

}  // namespace loupe::data
