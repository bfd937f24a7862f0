// A self-contained HTML report of a run: inline CSS, inline SVG charts and one small script that switches
// between rows, outputs and heads. Nothing is fetched from the network; the file opens offline.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/core/explanation.hpp"
#include "loupe/core/report.hpp"
#include "loupe/core/status.hpp"
#include "report/html_util.hpp"

namespace loupe::report {

// `run` is the run.json document; `explanations` the successful steps' results, in step order.
std::string RenderHtmlReport(const nlohmann::json& run, const std::vector<const Explanation*>& explanations);

}  // namespace loupe::report
