#include "config/messages.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

#include "loupe/sdk/detail/edit_distance.hpp"

namespace loupe::config {
namespace {

constexpr std::size_t kMaxValueTextLength = 60;

// Non-finite numbers have no JSON text (nlohmann prints them as null); use YAML's spelling instead.
std::string NonFiniteText(double number) {
  if (std::isnan(number)) return ".nan";
  return number > 0 ? ".inf" : "-.inf";
}

}  // namespace

int EditDistance(const std::string& a, const std::string& b) {
  return static_cast<int>(sdk::detail::EditDistance(a, b));
}

std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  int best_distance = std::numeric_limits<int>::max();
  for (const std::string& candidate : candidates) {
    const int distance = EditDistance(word, candidate);
    const int limit = std::max<int>(2, static_cast<int>(std::max(word.size(), candidate.size()) / 3));
    const int shorter = static_cast<int>(std::min(word.size(), candidate.size()));
    if (distance <= limit && distance < shorter && distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string JoinNames(const std::vector<std::string>& names, const std::string& separator) {
  std::string joined;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) joined += separator;
    joined += names[i];
  }
  return joined;
}

std::string SuggestionSuffix(const std::string& word, const std::vector<std::string>& candidates) {
  if (candidates.empty()) return "";
  const std::string match = ClosestMatch(word, candidates);
  if (!match.empty()) return "; did you mean '" + match + "'?";
  return "; expected one of: " + JoinNames(candidates);
}

std::string ValueText(const nlohmann::json& value) {
  std::string text;
  if (value.is_number_float() && !std::isfinite(value.get<double>())) {
    text = NonFiniteText(value.get<double>());
  } else {
    text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (text.size() > kMaxValueTextLength) text = text.substr(0, kMaxValueTextLength - 3) + "...";
  return text;
}

std::string RenameSubject(const std::string& message, const std::string& from, const std::string& to) {
  if (message.rfind(from, 0) == 0) return to + message.substr(from.size());
  return to + ": " + message;
}

std::string Sentence(std::string message) {
  return !message.empty() && message.back() == '?' ? message : message + ".";
}

std::string NumberText(double number) {
  if (!std::isfinite(number)) return NonFiniteText(number);
  // Whole numbers read better in full (100000, not the shortest form 1e+05) up to where doubles stay exact.
  constexpr double kLargestExactWhole = 1e15;
  if (number == std::trunc(number) && std::fabs(number) < kLargestExactWhole) {
    return std::to_string(static_cast<std::int64_t>(number));
  }
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), number);
  return std::string(buffer, result.ptr);
}

}  // namespace loupe::config
