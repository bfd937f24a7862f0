// Reading tokenizer.json objects: typed fields with one-sentence errors that name the object
// ("tokenizer.json: normalizer.normalizers[1]: ...").
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "loupe/core/status.hpp"
#include "model/hf_regex.hpp"

namespace loupe::model::hf {

Status JsonError(const std::string& where, const std::string& message);
// The "type" string of a component object.
Result<std::string> TypeOf(const nlohmann::json& config, const std::string& where);
Status UnsupportedType(const std::string& where, const std::string& type, const std::string& supported);

// A field that may be absent or null (then `fallback`).
Result<bool> OptionalBool(const nlohmann::json& config, const char* key, bool fallback,
                          const std::string& where);
Result<std::int64_t> OptionalInt(const nlohmann::json& config, const char* key, std::int64_t fallback,
                                 const std::string& where);
Result<std::string> OptionalString(const nlohmann::json& config, const char* key, const std::string& fallback,
                                   const std::string& where);
Result<std::string> RequiredString(const nlohmann::json& config, const char* key, const std::string& where);
Result<const nlohmann::json*> RequiredArray(const nlohmann::json& config, const char* key,
                                            const std::string& where);
// The "pattern" field: {"String": "..."} (matched literally) or {"Regex": "..."}.
Result<Regex> PatternOf(const nlohmann::json& config, const std::string& where);

}  // namespace loupe::model::hf
