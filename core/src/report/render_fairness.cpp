// fairness.group (kind fairness_report) and fairness.counterfactual (kind counterfactual_report).
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "report/charts.hpp"
#include "report/html_util.hpp"
#include "report/renderers.hpp"

namespace loupe::report {
namespace {

// The 95% Wilson score interval of a proportion observed on `n` rows; nullopt when n is not positive.
std::optional<std::pair<double, double>> WilsonInterval(double proportion, double n) {
  if (!(n > 0) || !std::isfinite(proportion)) return std::nullopt;
  const double z = 1.959963984540054, z2 = z * z;
  const double centre = (proportion + z2 / (2 * n)) / (1 + z2 / n);
  const double half = z / (1 + z2 / n) * std::sqrt(proportion * (1 - proportion) / n + z2 / (4 * n * n));
  return std::make_pair(std::max(0.0, centre - half), std::min(1.0, centre + half));
}

// The sensitive attributes as "Marital × Age" (a JSON list of names), else as written.
std::string Attributes(const nlohmann::json& body) {
  const nlohmann::json* sensitive = ArrayMember(body, "sensitive");
  if (sensitive == nullptr) return TextMember(body, "sensitive", "?");
  std::string text;
  for (const auto& name : *sensitive) text += (text.empty() ? "" : " × ") + DisplayText(name);
  return text;
}

std::string GroupLabel(const nlohmann::json& group) {
  std::string label = TextMember(group, "name", "?");
  const nlohmann::json* privileged = Member(group, "privileged");
  if (privileged != nullptr && privileged->is_boolean() && privileged->get<bool>()) label += " (privileged)";
  return label;
}

// A rate of every group as bars with Wilson intervals; `denominator` gives each group's count for it.
template <typename Denominator>
std::string RateChart(const nlohmann::json& groups, const char* rate, const std::string& title,
                      Denominator denominator, std::optional<double> reference = std::nullopt) {
  std::vector<Bar> bars;
  for (const nlohmann::json& group : groups) {
    const std::optional<double> value = NumberMember(group, rate);
    const double n = denominator(group);
    Bar bar{GroupLabel(group), value.value_or(std::nan("")), "", std::nullopt, ""};
    if (value) bar.interval = WilsonInterval(*value, n);
    bar.tooltip = bar.label + ": " + (value ? Num(*value, 4) : std::string("undefined")) + " on " +
                  Num(n, 6) + " rows" +
                  (bar.interval ? ", 95% interval [" + Num(bar.interval->first, 3) + ", " +
                                      Num(bar.interval->second, 3) + "]"
                                : "");
    bars.push_back(std::move(bar));
  }
  BarChartOptions options{title};
  options.domain_lo = 0;
  options.domain_hi = 1;
  options.reference = reference;
  return "<h4>" + HtmlEscape(title) + "</h4>\n" + HorizontalBarChart(bars, options);
}

double GroupCount(const nlohmann::json& group) {
  return NumberMember(group, "weighted_n").value_or(NumberMember(group, "n").value_or(0));
}
double Positives(const nlohmann::json& group) {
  return GroupCount(group) * NumberMember(group, "base_rate").value_or(std::nan(""));
}
double Negatives(const nlohmann::json& group) {
  return GroupCount(group) * (1 - NumberMember(group, "base_rate").value_or(std::nan("")));
}

// "≥ 0.8", "≤ 1.25" or "[0.8, 1.25]".
std::string Bounds(const nlohmann::json& verdict) {
  const std::optional<double> lo = NumberMember(verdict, "min"), hi = NumberMember(verdict, "max");
  if (lo && hi) return "[" + Num(*lo) + ", " + Num(*hi) + "]";
  if (lo) return "≥ " + Num(*lo);
  if (hi) return "≤ " + Num(*hi);
  return "–";
}

std::string Verdicts(const nlohmann::json& body) {
  const nlohmann::json* verdicts = ArrayMember(body, "verdicts");
  if (verdicts == nullptr || verdicts->empty()) return "";
  std::string html =
      "<h4>Verdicts</h4>\n<table class=\"verdicts\"><tr><th>metric</th><th>value</th><th>bounds</th>"
      "<th>verdict</th><th>interval inside the bounds</th></tr>";
  for (const nlohmann::json& v : *verdicts) {
    const nlohmann::json* pass = Member(v, "pass");
    const bool defined = pass != nullptr && pass->is_boolean();
    const bool passed = defined && pass->get<bool>();
    const nlohmann::json* ci_pass = Member(v, "ci_pass");
    const std::string ci =
        ci_pass == nullptr || !ci_pass->is_boolean() ? "–" : (ci_pass->get<bool>() ? "yes" : "no");
    html += "<tr><td>" + HtmlEscape(TextMember(v, "metric")) + "</td><td>" + Num(NumberMember(v, "value")) +
            "</td><td>" + Bounds(v) + "</td><td class=\"" + (defined ? (passed ? "pass" : "fail") : "muted") +
            "\">" + (defined ? (passed ? "PASS" : "FAIL") : "undefined") + "</td><td>" + ci + "</td></tr>";
  }
  return html + "</table>\n";
}

std::string MetricValue(const nlohmann::json& value) {
  if (value.is_object()) {
    std::string text = Num(NumberMember(value, "value"));
    const nlohmann::json* ci = ArrayMember(value, "ci");
    if (ci != nullptr && ci->size() == 2) {
      text += "</td><td>[" + Num(NumberOf((*ci)[0])) + ", " + Num(NumberOf((*ci)[1])) + "]";
    } else {
      text += "</td><td>";
    }
    return text;
  }
  return Num(NumberOf(value)) + "</td><td>";
}

std::string MetricTables(const nlohmann::json& body) {
  const nlohmann::json* metrics = Member(body, "metrics");
  if (metrics == nullptr || !metrics->is_object()) return "";
  std::string html = "<h4>Metrics</h4>\n";
  for (const auto& [family, entries] : metrics->items()) {
    if (!entries.is_object()) continue;
    html += std::string("<details") + (family == "loupe" ? " open" : "") + "><summary>" + HtmlEscape(family) +
            " (" + std::to_string(entries.size()) +
            " metrics)</summary>\n<table><tr><th>metric</th><th>value</th>"
            "<th>bootstrap interval</th></tr>";
    for (const auto& [name, value] : entries.items()) {
      html += "<tr><td>" + HtmlEscape(name) + "</td><td>" + MetricValue(value) + "</td></tr>";
    }
    html += "</table></details>\n";
  }
  return html;
}

std::string Notes(const nlohmann::json& body) {
  const nlohmann::json* notes = ArrayMember(body, "notes");
  if (notes == nullptr || notes->empty()) return "";
  std::string html = "<details><summary>Notes (" + std::to_string(notes->size()) + ")</summary><ul>";
  for (const auto& note : *notes) html += "<li>" + HtmlEscape(DisplayText(note)) + "</li>";
  return html + "</ul></details>\n";
}

std::string GroupTable(const nlohmann::json& groups, const std::vector<const char*>& columns) {
  std::string html = "<div class=\"scroll\"><table><tr><th>group</th>";
  for (const char* c : columns) {
    std::string header = c;
    std::replace(header.begin(), header.end(), '_', ' ');
    html += "<th>" + header + "</th>";
  }
  html += "</tr>";
  for (const nlohmann::json& group : groups) {
    html += "<tr><td>" + HtmlEscape(GroupLabel(group)) + "</td>";
    for (const char* c : columns) html += "<td>" + Num(NumberMember(group, c)) + "</td>";
    html += "</tr>";
  }
  return html + "</table></div>\n";
}

std::string Overall(const nlohmann::json& body) {
  const nlohmann::json* passed = Member(body, "passed");
  std::string html = "<p>Groups by " + HtmlEscape(Attributes(body)) + "; favourable outcome <code>" +
                     HtmlEscape(TextMember(body, "favorable", "?")) + "</code>";
  if (const auto threshold = NumberMember(body, "threshold")) html += " (score ≥ " + Num(*threshold) + ")";
  html += ".";
  if (passed != nullptr && passed->is_boolean()) {
    html += std::string(" Overall: <strong class=\"") +
            (passed->get<bool>() ? "pass\">PASS" : "fail\">FAIL") + "</strong>.";
  }
  return html + "</p>\n";
}

}  // namespace

void RenderFairnessReport(const Explanation& e, const std::string&, std::string& html) {
  const JsonBody json_body(e);
  const nlohmann::json& body = json_body.get();
  const nlohmann::json* groups = ArrayMember(body, "groups");
  if (groups == nullptr) throw std::invalid_argument("a fairness_report needs a 'groups' array");
  html += Overall(body) + Verdicts(body);
  html += "<p class=\"muted\">Whiskers: 95% Wilson intervals from each group's row count.</p>\n";
  html += RateChart(*groups, "selection_rate", "Selection rate P(decision = favourable)", GroupCount,
                    std::nullopt);
  html += RateChart(*groups, "tpr", "True positive rate", Positives);
  html += RateChart(*groups, "fpr", "False positive rate", Negatives);
  html += "<h4>Groups</h4>\n" + GroupTable(*groups, {"n", "base_rate", "selection_rate", "tpr", "fpr", "ppv",
                                                     "accuracy", "mean_score"});
  html += MetricTables(body) + Notes(body);
}

namespace {

std::string TopRows(const nlohmann::json& body) {
  const nlohmann::json* rows = ArrayMember(body, "top_rows");
  if (rows == nullptr || rows->empty()) return "";
  std::string html =
      "<h4>Rows whose score changes most</h4>\n<table><tr><th>row</th><th>group</th>"
      "<th>as group</th><th>score</th><th>counterfactual score</th><th>change</th>"
      "<th>decision flips</th></tr>";
  for (const nlohmann::json& row : *rows) {
    const nlohmann::json* flipped = Member(row, "flipped");
    const bool flips = flipped != nullptr && flipped->is_boolean() && flipped->get<bool>();
    html += "<tr><td>" + HtmlEscape(TextMember(row, "row")) + "</td><td>" +
            HtmlEscape(TextMember(row, "group")) + "</td><td>" +
            HtmlEscape(TextMember(row, "counterfactual_group")) + "</td><td>" +
            Num(NumberMember(row, "score")) + "</td><td>" + Num(NumberMember(row, "counterfactual_score")) +
            "</td><td>" + Num(NumberMember(row, "score_change")) + "</td><td class=\"" +
            (flips ? "fail\">yes" : "pass\">no") + "</td></tr>";
  }
  return html + "</table>\n";
}

std::string ScoreChangeChart(const nlohmann::json& groups) {
  std::vector<Bar> bars;
  for (const nlohmann::json& group : groups) {
    bars.push_back(Bar{GroupLabel(group), NumberMember(group, "mean_score_change").value_or(std::nan("")), "",
                       std::nullopt, ""});
  }
  return "<h4>Mean score change when the attribute is changed (counterfactual − original)</h4>\n" +
         HorizontalBarChart(bars, {"mean score change per group"});
}

double Counterfactuals(const nlohmann::json& group) {
  return NumberMember(group, "counterfactuals").value_or(0);
}

// With two groups every row has one counterfactual, and the pair flip rate repeats the row flip rate.
bool PairsDifferFromRows(const nlohmann::json& groups) {
  for (const nlohmann::json& group : groups) {
    if (Counterfactuals(group) != NumberMember(group, "n").value_or(0)) return true;
  }
  return false;
}

}  // namespace

void RenderCounterfactualReport(const Explanation& e, const std::string&, std::string& html) {
  const JsonBody json_body(e);
  const nlohmann::json& body = json_body.get();
  const nlohmann::json* groups = ArrayMember(body, "groups");
  if (groups == nullptr) throw std::invalid_argument("a counterfactual_report needs a 'groups' array");
  html += "<p>Every row re-predicted with " + HtmlEscape(Attributes(body)) +
          " set to each other group's value (mode " + HtmlEscape(TextMember(body, "mode", "?")) +
          "), every other feature unchanged. A flip is a changed decision.";
  if (const nlohmann::json* overall = Member(body, "overall")) {
    html += " Overall: " + Percent(NumberMember(*overall, "row_flip_rate").value_or(std::nan(""))) +
            " of rows flip under at least one counterfactual; " +
            Percent(NumberMember(*overall, "flip_rate").value_or(std::nan(""))) +
            " of (row, group) pairs flip.";
  }
  html +=
      "</p>\n<p class=\"muted\">Whiskers: 95% Wilson intervals from each group's row or pair count.</p>\n";
  html += RateChart(*groups, "row_flip_rate", "Rows whose decision flips, by original group", GroupCount);
  if (PairsDifferFromRows(*groups)) {
    html +=
        RateChart(*groups, "flip_rate", "Flip rate over (row, counterfactual group) pairs", Counterfactuals);
  }
  html += ScoreChangeChart(*groups);
  html += "<h4>Groups</h4>\n" + GroupTable(*groups, {"n", "selection_rate", "counterfactual_selection_rate",
                                                     "row_flip_rate", "flip_rate", "flips_to_favorable",
                                                     "flips_from_favorable", "mean_abs_score_change"});
  html += TopRows(body) + Notes(body);
}

}  // namespace loupe::report
