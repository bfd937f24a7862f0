#include "loupe/core/explanation.hpp"

#include <string>

namespace loupe {
namespace {

const char* const kProvenanceKeys[] = {"schema", "kind", "step",       "explainer", "plugin",
                                       "params", "seed", "elapsed_ms", "quality"};

bool IsProvenanceKey(const std::string& key) {
  for (const char* k : kProvenanceKeys) {
    if (key == k) return true;
  }
  return false;
}

// Length of `value` when it is an array, else -1.
long ArrayLength(const nlohmann::json& value) {
  return value.is_array() ? static_cast<long>(value.size()) : -1;
}

Status CheckMatrix(const nlohmann::json& body, const char* field, long rows, long cols) {
  const auto it = body.find(field);
  if (it == body.end()) return InvalidArgument(std::string("the explanation has no '") + field + "' field.");
  if (ArrayLength(*it) != rows) {
    return InvalidArgument(std::string("'") + field + "' must have " + std::to_string(rows) +
                           " rows, found " + std::to_string(ArrayLength(*it)) + ".");
  }
  for (long r = 0; r < rows; ++r) {
    if (ArrayLength((*it)[r]) != cols) {
      return InvalidArgument(std::string("'") + field + "[" + std::to_string(r) + "]' must have " +
                             std::to_string(cols) + " entries, found " +
                             std::to_string(ArrayLength((*it)[r])) + ".");
    }
  }
  return Status::Ok();
}

Status ValidateFeatureAttribution(const nlohmann::json& body) {
  for (const char* field : {"feature_names", "output_names", "rows"}) {
    if (ArrayLength(body.value(field, nlohmann::json())) < 0) {
      return InvalidArgument(std::string("a feature_attribution needs a '") + field + "' array.");
    }
  }
  const long features = ArrayLength(body["feature_names"]);
  const long outputs = ArrayLength(body["output_names"]);
  const long rows = ArrayLength(body["rows"]);
  LOUPE_RETURN_IF_ERROR(CheckMatrix(body, "base_values", rows, outputs));
  LOUPE_RETURN_IF_ERROR(CheckMatrix(body, "data", rows, features));
  if (ArrayLength(body.value("values", nlohmann::json())) != rows) {
    return InvalidArgument("'values' must have one entry per explained row (" + std::to_string(rows) + ").");
  }
  for (long r = 0; r < rows; ++r) {
    const nlohmann::json& per_row = body["values"][r];
    if (ArrayLength(per_row) != outputs) {
      return InvalidArgument("'values[" + std::to_string(r) + "]' must have " + std::to_string(outputs) +
                             " outputs, found " + std::to_string(ArrayLength(per_row)) + ".");
    }
    for (long o = 0; o < outputs; ++o) {
      if (ArrayLength(per_row[o]) != features) {
        return InvalidArgument("'values[" + std::to_string(r) + "][" + std::to_string(o) + "]' must have " +
                               std::to_string(features) + " features, found " +
                               std::to_string(ArrayLength(per_row[o])) + ".");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

nlohmann::json Explanation::ToJson() const {
  nlohmann::json document = nlohmann::json::object();
  document["schema"] = kExplanationSchema;
  document["kind"] = kind;
  document["step"] = step;
  document["explainer"] = explainer;
  document["plugin"] = {{"name", plugin_name}, {"version", plugin_version}};
  document["params"] = params;
  document["seed"] = seed;
  document["elapsed_ms"] = elapsed_ms;
  document["quality"] = quality;
  for (const auto& [key, value] : body.items()) {
    if (!IsProvenanceKey(key)) document[key] = value;
  }
  return document;
}

Result<Explanation> Explanation::FromJson(const nlohmann::json& document) {
  if (!document.is_object()) return InvalidArgument("an explanation must be a JSON object.");
  if (document.value("schema", "") != kExplanationSchema) {
    return InvalidArgument(std::string("an explanation must have \"schema\": \"") + kExplanationSchema +
                           "\", found " + document.value("schema", nlohmann::json()).dump() + ".");
  }
  Explanation e;
  try {
    e.kind = document.at("kind").get<std::string>();
    e.step = document.value("step", "");
    e.explainer = document.value("explainer", "");
    if (const auto plugin = document.find("plugin"); plugin != document.end() && plugin->is_object()) {
      e.plugin_name = plugin->value("name", "");
      e.plugin_version = plugin->value("version", "");
    }
    e.params = document.value("params", nlohmann::json::object());
    e.seed = document.value("seed", std::uint64_t{0});
    e.elapsed_ms = document.value("elapsed_ms", 0.0);
    e.quality = document.value("quality", nlohmann::json::object());
  } catch (const nlohmann::json::exception& error) {
    return InvalidArgument(std::string("malformed explanation: ") + error.what() + ".");
  }
  for (const auto& [key, value] : document.items()) {
    if (!IsProvenanceKey(key)) e.body[key] = value;
  }
  return e;
}

Status ValidateExplanation(const Explanation& explanation) {
  if (explanation.kind.empty()) return InvalidArgument("the explanation has no kind.");
  if (explanation.kind == "feature_attribution") return ValidateFeatureAttribution(explanation.body);
  return Status::Ok();
}

}  // namespace loupe
