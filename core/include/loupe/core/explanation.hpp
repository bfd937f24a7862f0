// Explanation: the result of one pipeline step (DESIGN.md §3, §5 "Output files").
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "loupe/core/status.hpp"

namespace loupe {

inline constexpr const char* kExplanationSchema = "loupe.explanation/v1";

struct Explanation {
  std::string kind;       // feature_attribution | surrogate_tree | attention_maps | fairness_report | ...
  std::string step;       // the step id
  std::string explainer;  // "plugin.explainer"
  std::string plugin_name;
  std::string plugin_version;
  nlohmann::json params = nlohmann::json::object();  // canonical params (defaults filled in)
  std::uint64_t seed = 0;
  double elapsed_ms = 0;
  nlohmann::json quality = nlohmann::json::object();  // additivity residual, sampling error, fidelity...
  nlohmann::json body = nlohmann::json::object();     // kind-specific fields (values, nodes, ...)

  // The loupe.explanation/v1 document: provenance fields, "quality" and the body's fields side by side.
  nlohmann::json ToJson() const;
  static Result<Explanation> FromJson(const nlohmann::json& document);
};

// Checks the kind-specific fields DESIGN.md §5 promises (shapes of values/base_values/data for
// feature_attribution, ...). Returns a sentence naming the first field that is wrong.
Status ValidateExplanation(const Explanation& explanation);

}  // namespace loupe
