// counterfactual.search (kind counterfactual_explanations): per row, a table of the original values and each
// counterfactual, the changed cells highlighted, and each counterfactual as a sentence.
// counterfactual.anchors (kind anchors): per row, the anchor as a rule with its precision and coverage.
#include <cmath>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "report/html_util.hpp"
#include "report/renderers.hpp"

namespace loupe::report {
namespace {

constexpr std::size_t kMaxCounterfactualRows = 50;
constexpr const char* kChangedCell = " style=\"background:#fff3c4;font-weight:600\"";

// A value as the JSON holds it (exact numbers as text, levels), shortened for reading.
std::string Shown(const nlohmann::json& value) {
  const std::string text = DisplayText(value);
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  if (!text.empty() && end != nullptr && *end == '\0') return Num(number, 6);
  return text;
}

std::string Text(const nlohmann::json* array, std::size_t j) {
  return array != nullptr && j < array->size() ? Shown((*array)[j]) : "";
}

bool Differs(const nlohmann::json* a, const nlohmann::json* b, std::size_t j) {
  return a != nullptr && b != nullptr && j < a->size() && j < b->size() && (*a)[j] != (*b)[j];
}

// The features changed by at least one counterfactual of the row, in feature order.
std::vector<std::size_t> ChangedFeatures(const nlohmann::json* original, const nlohmann::json& cfs) {
  std::set<std::size_t> changed;
  for (const nlohmann::json& cf : cfs) {
    const nlohmann::json* values = ArrayMember(cf, "values");
    for (std::size_t j = 0; original != nullptr && j < original->size(); ++j) {
      if (Differs(original, values, j)) changed.insert(j);
    }
  }
  return std::vector<std::size_t>(changed.begin(), changed.end());
}

std::string CounterfactualTable(const nlohmann::json& row, const nlohmann::json& names,
                                const nlohmann::json& cfs) {
  const nlohmann::json* original = ArrayMember(row, "values");
  const std::vector<std::size_t> changed = ChangedFeatures(original, cfs);
  std::string html = "<div class=\"scroll\"><table><tr><th>feature</th><th>original</th>";
  for (std::size_t k = 0; k < cfs.size(); ++k)
    html += "<th>counterfactual " + std::to_string(k + 1) + "</th>";
  html += "</tr>";
  for (const std::size_t j : changed) {
    const std::string name = j < names.size() ? DisplayText(names[j]) : std::to_string(j);
    html += "<tr><td>" + HtmlEscape(name) + "</td><td>" + HtmlEscape(Text(original, j)) + "</td>";
    for (const nlohmann::json& cf : cfs) {
      const nlohmann::json* values = ArrayMember(cf, "values");
      const bool differs = Differs(original, values, j);
      html += std::string("<td") + (differs ? kChangedCell : "") + ">" +
              HtmlEscape(differs ? Text(values, j) : "·") + "</td>";
    }
    html += "</tr>";
  }
  html += "<tr><td>decision</td><td>" + HtmlEscape(TextMember(row, "prediction")) + "</td>";
  for (const nlohmann::json& cf : cfs) html += "<td>" + HtmlEscape(TextMember(cf, "decision")) + "</td>";
  html += "</tr><tr><td>distance (MADs)</td><td>0</td>";
  for (const nlohmann::json& cf : cfs) html += "<td>" + Num(NumberMember(cf, "distance"), 3) + "</td>";
  const std::size_t unchanged = original != nullptr ? original->size() - changed.size() : 0;
  html += "</tr></table></div>\n<p class=\"muted\">· unchanged. " + std::to_string(unchanged) +
          " other feature(s) are the same in every counterfactual.</p>\n";
  return html;
}

std::string CounterfactualRow(const nlohmann::json& row, const nlohmann::json& names) {
  std::string html = "<h4>Row " + HtmlEscape(TextMember(row, "row")) + ": " +
                     HtmlEscape(TextMember(row, "prediction")) + " <span class=\"sub\">desired " +
                     HtmlEscape(TextMember(row, "desired")) + " · " +
                     HtmlEscape(TextMember(row, "model_evaluations")) + " model evaluations</span></h4>\n";
  const std::string status = TextMember(row, "status");
  const nlohmann::json* cfs = ArrayMember(row, "counterfactuals");
  if (status != "found" || cfs == nullptr || cfs->empty()) {
    const char* css = status == "already_desired" ? "muted" : "fail";
    return html + "<p class=\"" + css + "\">" + HtmlEscape(TextMember(row, "message")) + "</p>\n";
  }
  html += CounterfactualTable(row, names, *cfs) + "<ul>";
  for (const nlohmann::json& cf : *cfs) html += "<li>" + HtmlEscape(TextMember(cf, "sentence")) + "</li>";
  html += "</ul>\n";
  const std::string message = TextMember(row, "message");
  if (message.rfind("only ", 0) == 0) html += "<p class=\"muted\">" + HtmlEscape(message) + ".</p>\n";
  if (cfs->size() > 1) {
    html += "<p class=\"muted\">Diversity: mean pairwise distance " + Num(NumberMember(row, "diversity"), 3) +
            ", mean fraction of features that differ " + Num(NumberMember(row, "count_diversity"), 3) +
            ".</p>\n";
  }
  return html;
}

std::string ConstraintSummary(const nlohmann::json& body) {
  const nlohmann::json* constraints = Member(body, "constraints");
  if (constraints == nullptr || !constraints->is_object()) return "";
  std::string parts;
  for (const auto& [key, value] : constraints->items()) {
    if (value.empty()) continue;
    parts += (parts.empty() ? "" : "; ") + key + " " + value.dump();
  }
  return parts.empty() ? "No constraints beyond each feature's observed range."
                       : "Constraints: " + parts + ".";
}

}  // namespace

void RenderCounterfactualExplanations(const Explanation& e, const std::string&, std::string& html) {
  const JsonBody json_body(e);
  const nlohmann::json& body = json_body.get();
  const nlohmann::json* rows = ArrayMember(body, "rows");
  if (rows == nullptr)
    throw std::invalid_argument("a counterfactual_explanations result needs a 'rows' array");
  const nlohmann::json* names = ArrayMember(body, "feature_names");
  const nlohmann::json no_names = nlohmann::json::array();
  html +=
      "<p>Counterfactual explanations: for each row, the smallest feasible changes found that give the "
      "desired decision; " +
      HtmlEscape(TextMember(body, "decision_rule")) +
      ". Changed values are highlighted.</p>\n<p class=\"muted\">" + HtmlEscape(ConstraintSummary(body)) +
      "</p>\n";
  // Rows that already have the desired decision are listed in one line, not one section each.
  std::string already;
  std::size_t shown = 0, left_out = 0;
  for (const nlohmann::json& row : *rows) {
    if (TextMember(row, "status") == "already_desired") {
      already += (already.empty() ? "" : ", ") + TextMember(row, "row");
    } else if (shown < kMaxCounterfactualRows) {
      html += CounterfactualRow(row, names != nullptr ? *names : no_names);
      ++shown;
    } else {
      ++left_out;
    }
  }
  if (left_out > 0) {
    html += "<p class=\"muted\">" + std::to_string(left_out) + " more rows are in " + HtmlEscape(e.step) +
            ".json.</p>\n";
  }
  if (!already.empty()) {
    html +=
        "<p class=\"muted\">Rows that already have the desired decision: " + HtmlEscape(already) + ".</p>\n";
  }
}

void RenderAnchors(const Explanation& e, const std::string&, std::string& html) {
  const JsonBody json_body(e);
  const nlohmann::json& body = json_body.get();
  const nlohmann::json* rows = ArrayMember(body, "rows");
  if (rows == nullptr) throw std::invalid_argument("an anchors result needs a 'rows' array");
  html +=
      "<p>Anchors: for each row, conditions under which the model keeps its decision with precision at "
      "least " +
      Num(NumberMember(body, "threshold"), 3) +
      " (the fraction of samples satisfying the rule that get the same decision); coverage is the fraction "
      "of the data the rule applies to.</p>\n<div class=\"scroll\"><table><tr><th>row</th><th>prediction</th>"
      "<th>anchor</th><th>precision</th><th>coverage</th></tr>";
  std::size_t shown = 0;
  for (const nlohmann::json& row : *rows) {
    if (shown++ == kMaxCounterfactualRows) break;
    std::string rule;
    if (const nlohmann::json* conditions = ArrayMember(row, "anchor")) {
      for (const nlohmann::json& condition : *conditions) {
        rule += (rule.empty() ? "" : " <b>AND</b> ") + HtmlEscape(DisplayText(condition));
      }
    }
    const nlohmann::json* success = Member(row, "success");
    const bool met = success != nullptr && success->is_boolean() && success->get<bool>();
    if (rule.empty()) rule = "<i>(any input)</i>";
    html += "<tr><td>" + HtmlEscape(TextMember(row, "row")) + "</td><td>" +
            HtmlEscape(TextMember(row, "prediction")) + "</td><td>IF " + rule +
            (met ? "" : " <span class=\"fail\">(threshold not reached)</span>") + "</td><td class=\"" +
            (met ? "pass" : "fail") + "\">" + Num(NumberMember(row, "precision"), 3) + "</td><td>" +
            Percent(NumberMember(row, "coverage").value_or(std::nan(""))) + "</td></tr>";
  }
  html += "</table></div>\n";
  if (rows->size() > kMaxCounterfactualRows) {
    html += "<p class=\"muted\">" + std::to_string(rows->size() - kMaxCounterfactualRows) +
            " more rows are in " + HtmlEscape(e.step) + ".json.</p>\n";
  }
}

}  // namespace loupe::report
