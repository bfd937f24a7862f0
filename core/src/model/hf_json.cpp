#include "model/hf_json.hpp"

namespace loupe::model::hf {

using nlohmann::json;

Status JsonError(const std::string& where, const std::string& message) {
  return InvalidArgument(where + ": " + message);
}

Result<std::string> TypeOf(const json& config, const std::string& where) {
  if (!config.is_object())
    return JsonError(where, "expected an object, found " + std::string(config.type_name()) + ".");
  const auto it = config.find("type");
  if (it == config.end() || !it->is_string()) return JsonError(where, "the object has no \"type\" string.");
  return it->get<std::string>();
}

Status UnsupportedType(const std::string& where, const std::string& type, const std::string& supported) {
  return JsonError(where, "type '" + type + "' is not supported; expected one of: " + supported + ".");
}

Result<bool> OptionalBool(const json& config, const char* key, bool fallback, const std::string& where) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return JsonError(where, std::string("\"") + key + "\" must be true or false.");
  return it->get<bool>();
}

Result<std::int64_t> OptionalInt(const json& config, const char* key, std::int64_t fallback,
                                 const std::string& where) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  if (!it->is_number_integer())
    return JsonError(where, std::string("\"") + key + "\" must be a whole number.");
  return it->get<std::int64_t>();
}

Result<std::string> OptionalString(const json& config, const char* key, const std::string& fallback,
                                   const std::string& where) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  if (!it->is_string()) return JsonError(where, std::string("\"") + key + "\" must be a string.");
  return it->get<std::string>();
}

Result<std::string> RequiredString(const json& config, const char* key, const std::string& where) {
  const auto it = config.find(key);
  if (it == config.end() || !it->is_string())
    return JsonError(where, std::string("needs a string \"") + key + "\".");
  return it->get<std::string>();
}

Result<const json*> RequiredArray(const json& config, const char* key, const std::string& where) {
  const auto it = config.find(key);
  if (it == config.end() || !it->is_array())
    return JsonError(where, std::string("needs a list \"") + key + "\".");
  return &*it;
}

Result<Regex> PatternOf(const json& config, const std::string& where) {
  const auto it = config.find("pattern");
  if (it == config.end() || !it->is_object()) {
    return JsonError(where, "needs a \"pattern\" object ({\"String\": ...} or {\"Regex\": ...}).");
  }
  const auto literal = it->find("String");
  const auto regex = it->find("Regex");
  const bool is_literal = literal != it->end() && literal->is_string();
  if (!is_literal && (regex == it->end() || !regex->is_string())) {
    return JsonError(where, "\"pattern\" must hold a \"String\" or a \"Regex\" string.");
  }
  Result<Regex> compiled =
      is_literal ? Regex::Literal(literal->get<std::string>()) : Regex::Compile(regex->get<std::string>());
  if (!compiled.ok()) return JsonError(where, compiled.status().message());
  return compiled;
}

}  // namespace loupe::model::hf
