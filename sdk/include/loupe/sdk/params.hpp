// loupe::sdk::Params — typed access to a step's parameters.
//
// The host validates a step's parameters against the explainer's spec and fills in defaults before it
// calls create(), then hands them over as one canonical JSON object (LoupeHostApi::params_json).
// Params wraps that object:
//
//   const auto nsamples = host.Params().Get<std::int64_t>("nsamples");
//   if (host.Params().Has("groups")) { auto groups = host.Params().Get<nlohmann::json>("groups"); }
//
// Get<T> throws loupe::sdk::Error (LOUPE_ERROR_INVALID_ARGUMENT) naming the parameter when it is absent
// or has another type, so an explainer never reads a half-valid configuration.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/sdk/error.hpp"

namespace loupe::sdk {

// A short human description of a JSON value for error messages: `the string "abc"`, `3.5`, `a list`.
inline std::string DescribeJson(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "an object";
    case nlohmann::json::value_t::array:
      return "a list of " + std::to_string(value.size());
    case nlohmann::json::value_t::string: {
      std::string text = value.get<std::string>();
      if (text.size() > 40) text = text.substr(0, 37) + "...";
      return "the string \"" + text + "\"";
    }
    default:
      return value.dump();
  }
}

class Params {
 public:
  Params() : json_(nlohmann::json::object()) {}
  // `object` must be a JSON object (the host's params_json).
  explicit Params(nlohmann::json object) : json_(std::move(object)) {
    if (!json_.is_object()) {
      throw Internal("the host's parameters must be a JSON object, found " + DescribeJson(json_));
    }
  }
  // Parses the host's params_json text; a NULL or empty text means "no parameters".
  static Params Parse(const char* text) {
    if (text == nullptr || *text == '\0') return Params();
    nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) throw Internal("the host's parameters are not valid JSON");
    return Params(std::move(parsed));
  }

  // True when the parameter is present and not null.
  bool Has(const std::string& name) const {
    const auto it = json_.find(name);
    return it != json_.end() && !it->is_null();
  }

  // The parameter as T: bool, std::int64_t (or another integer type), double, std::string,
  // std::vector<std::string> or nlohmann::json. Throws Error naming the parameter when it is absent or
  // mistyped (a double must be finite; an integer given as 3.0 is accepted as 3).
  template <typename T>
  T Get(const std::string& name) const {
    if (!Has(name)) {
      throw InvalidArgument("parameter '" + name + "' is required but was not given");
    }
    return Convert<T>(name, json_.at(name));
  }

  // The parameter as T, or `fallback` when it is absent or null.
  template <typename T>
  T GetOr(const std::string& name, T fallback) const {
    return Has(name) ? Get<T>(name) : std::move(fallback);
  }

  // The whole canonical parameter object.
  const nlohmann::json& Json() const { return json_; }

 private:
  template <typename T>
  static T Convert(const std::string& name, const nlohmann::json& value) {
    if constexpr (std::is_same_v<T, nlohmann::json>) {
      return value;
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!value.is_boolean()) throw Mistyped(name, "true or false", value);
      return value.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (value.is_number_integer()) return static_cast<T>(value.get<std::int64_t>());
      if (value.is_number_float()) {
        const double number = value.get<double>();
        if (std::isfinite(number) && number == std::floor(number) && std::fabs(number) < 9.0e15) {
          return static_cast<T>(number);
        }
      }
      throw Mistyped(name, "an integer", value);
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!value.is_number() || !std::isfinite(value.get<double>())) {
        throw Mistyped(name, "a finite number", value);
      }
      return static_cast<T>(value.get<double>());
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!value.is_string()) throw Mistyped(name, "a string", value);
      return value.get<std::string>();
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      if (value.is_string()) return {value.get<std::string>()};  // YAML `x` for `[x]`
      if (!value.is_array()) throw Mistyped(name, "a list of strings", value);
      std::vector<std::string> items;
      for (const auto& item : value) {
        if (!item.is_string()) throw Mistyped(name, "a list of strings", item);
        items.push_back(item.get<std::string>());
      }
      return items;
    } else {
      static_assert(std::is_same_v<T, void>,
                    "Params::Get supports bool, integers, floating point, std::string, "
                    "std::vector<std::string> and nlohmann::json");
    }
  }

  static Error Mistyped(const std::string& name, const char* expected, const nlohmann::json& found) {
    return InvalidArgument("parameter '" + name + "' must be " + expected + ", found " + DescribeJson(found));
  }

  nlohmann::json json_;
};

}  // namespace loupe::sdk
