// A self-contained HTML report of a run (inline CSS and SVG; no scripts, no network).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/core/explanation.hpp"

namespace loupe::report {

// `run` is the run.json document; `explanations` the successful steps' results.
std::string RenderHtmlReport(const nlohmann::json& run, const std::vector<const Explanation*>& explanations);

// Escapes text for HTML element content and attribute values.
std::string HtmlEscape(const std::string& text);

}  // namespace loupe::report
