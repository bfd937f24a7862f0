#include "report/html_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace loupe::report {
namespace {

const char* const kStyle = R"(<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:960px;color:#222}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .75rem;border-bottom:1px solid #eee;text-align:left}
.ok{color:#176b2c}.failed{color:#b3261e}.skipped{color:#8a6d00}.muted{color:#666;font-size:.9rem}
svg text{font-size:12px;font-family:system-ui,sans-serif}
</style>)";

std::string Format(double value, const char* format = "%.4g") {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

void RenderRunSummary(std::ostringstream& html, const nlohmann::json& run) {
  html << "<h1>Loupe report: " << HtmlEscape(run.value("pipeline", "")) << "</h1>\n<table>";
  html << "<tr><th>pipeline file</th><td>" << HtmlEscape(run.value("file", "")) << "</td></tr>";
  if (run.contains("data")) {
    html << "<tr><th>data</th><td>" << HtmlEscape(run["data"].value("path", "")) << " ("
         << run["data"].value("rows", 0) << " rows)</td></tr>";
  }
  if (run.contains("model"))
    html << "<tr><th>model</th><td>" << HtmlEscape(run["model"].value("name", "")) << "</td></tr>";
  html << "<tr><th>seed</th><td>" << run.value("seed", 0) << "</td></tr>";
  html << "<tr><th>Loupe</th><td>" << HtmlEscape(run["versions"].value("loupe", "")) << " (plugin ABI "
       << HtmlEscape(run["versions"].value("plugin_abi", "")) << ")</td></tr></table>\n";
  html << "<h2>Steps</h2>\n<table><tr><th>step</th><th>status</th><th>time</th><th>message</th></tr>";
  for (const auto& step : run.value("steps", nlohmann::json::array())) {
    const std::string status = step.value("status", "");
    html << "<tr><td>" << HtmlEscape(step.value("id", "")) << "</td><td class=\"" << HtmlEscape(status)
         << "\">" << HtmlEscape(status) << "</td><td>" << Format(step.value("elapsed_ms", 0.0), "%.0f")
         << " ms</td><td>" << HtmlEscape(step.value("message", "")) << "</td></tr>";
  }
  html << "</table>\n";
}

// Global importance: mean |attribution| per feature for each output, as horizontal bars.
void RenderAttribution(std::ostringstream& html, const Explanation& e) {
  const auto& names = e.body["feature_names"];
  const auto& outputs = e.body["output_names"];
  const auto& values = e.body["values"];
  const std::size_t rows = values.size();
  html << "<p class=\"muted\">" << rows << " rows explained";
  for (const auto& [key, value] : e.quality.items()) {
    if (value.is_number()) html << "; " << HtmlEscape(key) << " " << Format(value.get<double>());
  }
  html << "</p>\n";
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    std::vector<std::pair<double, std::string>> importance;
    for (std::size_t f = 0; f < names.size(); ++f) {
      double sum = 0;
      for (std::size_t r = 0; r < rows; ++r) {
        const auto& v = values[r][o][f];
        if (v.is_number()) sum += std::fabs(v.get<double>());
      }
      importance.emplace_back(rows ? sum / static_cast<double>(rows) : 0.0, names[f].get<std::string>());
    }
    std::stable_sort(importance.begin(), importance.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    const double top = importance.empty() || importance.front().first <= 0 ? 1 : importance.front().first;
    const int bar_height = 18, label_width = 160, bar_width = 600;
    html << "<h3>mean |attribution| for output " << HtmlEscape(outputs[o].get<std::string>()) << "</h3>\n";
    html << "<svg width=\"" << label_width + bar_width + 80 << "\" height=\""
         << bar_height * importance.size() + 4 << "\" role=\"img\">";
    for (std::size_t i = 0; i < importance.size(); ++i) {
      const double width = bar_width * importance[i].first / top;
      const std::size_t y = i * bar_height;
      html << "<text x=\"" << label_width - 6 << "\" y=\"" << y + 13 << "\" text-anchor=\"end\">"
           << HtmlEscape(importance[i].second) << "</text><rect x=\"" << label_width << "\" y=\"" << y + 2
           << "\" width=\"" << Format(width, "%.1f") << "\" height=\"" << bar_height - 4
           << "\" fill=\"#1e6fd9\"/><text x=\"" << Format(label_width + width + 4, "%.1f") << "\" y=\""
           << y + 13 << "\">" << Format(importance[i].first) << "</text>";
    }
    html << "</svg>\n";
  }
}

}  // namespace

std::string HtmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderHtmlReport(const nlohmann::json& run, const std::vector<const Explanation*>& explanations) {
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Loupe: "
       << HtmlEscape(run.value("pipeline", "")) << "</title>" << kStyle << "</head><body>\n";
  RenderRunSummary(html, run);
  for (const Explanation* e : explanations) {
    html << "<h2>" << HtmlEscape(e->step) << " <span class=\"muted\">" << HtmlEscape(e->explainer) << " ("
         << HtmlEscape(e->plugin_name) << " " << HtmlEscape(e->plugin_version) << ")</span></h2>\n";
    if (e->kind == "feature_attribution") {
      RenderAttribution(html, *e);
    } else {
      html << "<p class=\"muted\">A " << HtmlEscape(e->kind) << "; see " << HtmlEscape(e->step)
           << ".json for its contents.</p>\n";
    }
  }
  html << "</body></html>\n";
  return html.str();
}

}  // namespace loupe::report
