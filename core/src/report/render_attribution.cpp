// feature_attribution (shap.*; lime goes to render_lime.cpp): global importance, beeswarm, waterfalls.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "report/charts.hpp"
#include "report/html_util.hpp"
#include "report/renderers.hpp"

namespace loupe::report {
namespace {

constexpr std::size_t kMaxBarFeatures = 20;
constexpr std::size_t kMaxSwarmFeatures = 15;
constexpr std::size_t kMaxSwarmRows = 1000;
constexpr std::size_t kMaxWaterfallRows = 50;
constexpr std::size_t kWaterfallFeatures = 9;

// The attribution arrays, checked for shape (ValidateExplanation) before they are read.
struct Attribution {
  std::vector<std::string> features, outputs;
  std::vector<std::string> row_labels;                          // data row numbers
  std::vector<std::vector<double>> base;                        // [R][O]
  std::vector<std::vector<std::vector<double>>> phi;            // [R][O][F]
  std::vector<std::vector<std::string>> data_text;              // [R][F]
  std::vector<std::vector<std::optional<double>>> data_number;  // [R][F], nullopt when not numeric
};

std::optional<double> ParseNumber(const nlohmann::json& value) {
  if (value.is_number()) return value.get<double>();
  if (!value.is_string()) return std::nullopt;
  const std::string text = value.get<std::string>();
  char* end = nullptr;
  const double parsed = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(parsed)) return std::nullopt;
  return parsed;
}

double NumberOrNaN(const nlohmann::json& value) {
  return value.is_number() ? value.get<double>() : std::nan("");
}

Attribution ReadAttribution(const Explanation& e) {
  if (Status s = ValidateExplanation(e); !s.ok()) throw std::invalid_argument(s.message());
  const nlohmann::json& body = e.body;
  Attribution a;
  for (const auto& name : body["feature_names"]) a.features.push_back(DisplayText(name));
  for (const auto& name : body["output_names"]) a.outputs.push_back(DisplayText(name));
  for (std::size_t r = 0; r < body["rows"].size(); ++r) {
    a.row_labels.push_back(DisplayText(body["rows"][r]));
    std::vector<double> base;
    for (const auto& b : body["base_values"][r]) base.push_back(NumberOrNaN(b));
    a.base.push_back(std::move(base));
    std::vector<std::vector<double>> per_output;
    for (const auto& output : body["values"][r]) {
      std::vector<double> phi;
      for (const auto& v : output) phi.push_back(NumberOrNaN(v));
      per_output.push_back(std::move(phi));
    }
    a.phi.push_back(std::move(per_output));
    std::vector<std::string> text;
    std::vector<std::optional<double>> number;
    for (const auto& v : body["data"][r]) {
      text.push_back(DisplayText(v));
      number.push_back(ParseNumber(v));
    }
    a.data_text.push_back(std::move(text));
    a.data_number.push_back(std::move(number));
  }
  return a;
}

// Mean |phi| per feature for output `o`.
std::vector<double> MeanAbs(const Attribution& a, std::size_t o) {
  std::vector<double> importance(a.features.size(), 0.0);
  for (const auto& row : a.phi) {
    for (std::size_t f = 0; f < importance.size(); ++f) {
      if (std::isfinite(row[o][f])) importance[f] += std::fabs(row[o][f]);
    }
  }
  for (double& v : importance) v /= std::max<std::size_t>(a.phi.size(), 1);
  return importance;
}

// Feature indices by decreasing weight, ties by index.
std::vector<std::size_t> OrderByDecreasing(const std::vector<double>& weight) {
  std::vector<std::size_t> order(weight.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return weight[x] > weight[y]; });
  return order;
}

std::string GlobalBar(const Attribution& a, std::size_t o) {
  const std::vector<double> importance = MeanAbs(a, o);
  const std::vector<std::size_t> order = OrderByDecreasing(importance);
  std::vector<Bar> bars;
  for (std::size_t i = 0; i < order.size() && i < kMaxBarFeatures; ++i) {
    bars.push_back(Bar{a.features[order[i]], importance[order[i]], "", std::nullopt, ""});
  }
  std::string html =
      "<h4>Global importance: mean |attribution| over " + std::to_string(a.phi.size()) + " rows</h4>\n";
  html += HorizontalBarChart(bars, {"mean absolute attribution per feature"});
  if (order.size() > kMaxBarFeatures) {
    html += "<p class=\"muted\">The " + std::to_string(kMaxBarFeatures) + " most important of " +
            std::to_string(order.size()) + " features.</p>\n";
  }
  return html;
}

std::string Beeswarm(const Attribution& a, std::size_t o) {
  const std::vector<std::size_t> order = OrderByDecreasing(MeanAbs(a, o));
  const std::vector<std::size_t> rows = EvenSample(a.phi.size(), kMaxSwarmRows);
  std::vector<SwarmFeature> features;
  for (std::size_t i = 0; i < order.size() && i < kMaxSwarmFeatures; ++i) {
    SwarmFeature feature{a.features[order[i]], {}, {}, {}};
    for (std::size_t r : rows) {
      feature.phi.push_back(a.phi[r][o][order[i]]);
      feature.value.push_back(a.data_number[r][order[i]]);
      feature.value_text.push_back("row " + a.row_labels[r] + ": " + a.data_text[r][order[i]]);
    }
    features.push_back(std::move(feature));
  }
  std::string html = "<h4>Summary (beeswarm): one dot per row and feature</h4>\n";
  html += BeeswarmChart(features, "attribution of every row, by feature, coloured by the feature's value");
  if (rows.size() < a.phi.size()) {
    html += "<p class=\"muted\">" + std::to_string(rows.size()) + " of the " + std::to_string(a.phi.size()) +
            " rows, evenly spaced.</p>\n";
  }
  return html;
}

std::string Waterfall(const Attribution& a, std::size_t r, std::size_t o) {
  std::vector<double> magnitude;
  for (double v : a.phi[r][o]) magnitude.push_back(std::isfinite(v) ? std::fabs(v) : 0.0);
  const std::vector<std::size_t> order = OrderByDecreasing(magnitude);
  std::vector<WaterfallStep> steps;
  double rest = 0;
  std::size_t rest_count = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const double phi = std::isfinite(a.phi[r][o][order[i]]) ? a.phi[r][o][order[i]] : 0.0;
    if (i < kWaterfallFeatures || order.size() == kWaterfallFeatures + 1) {
      steps.push_back({a.features[order[i]] + " = " + a.data_text[r][order[i]], phi});
    } else {
      rest += phi;
      ++rest_count;
    }
  }
  if (rest_count > 0) steps.push_back({std::to_string(rest_count) + " other features", rest});
  return WaterfallChart(a.base[r][o], steps, "waterfall of row " + a.row_labels[r]);
}

std::string Waterfalls(const Attribution& a, std::size_t o, const std::string& group) {
  const std::size_t rows = std::min(a.phi.size(), kMaxWaterfallRows);
  std::vector<std::pair<std::string, std::string>> options;
  for (std::size_t r = 0; r < rows; ++r) options.push_back({std::to_string(r), "row " + a.row_labels[r]});
  std::string html = "<h4>Per row: from the base value E[f(x)] to the prediction f(x)</h4>\n";
  html += SwitchSelect(group, "data row", options);
  for (std::size_t r = 0; r < rows; ++r) {
    html += PanelOpen(group, std::to_string(r), r == 0) + Waterfall(a, r, o) + "</div>\n";
  }
  if (rows < a.phi.size()) {
    html += "<p class=\"muted\">Waterfalls of the first " + std::to_string(rows) + " of " +
            std::to_string(a.phi.size()) + " rows; every row is in the step's JSON.</p>\n";
  }
  return html;
}

// Text rows: `tokens[R][T]` with per-token attributions `token_values[R][O][T]` (or `values[R][O][T]`
// when the values are per token), drawn as coloured text.
std::string TextRows(const nlohmann::json& body, const std::vector<std::string>& row_labels, std::size_t o) {
  const nlohmann::json* tokens = ArrayMember(body, "tokens");
  if (tokens == nullptr) return "";
  const nlohmann::json* weights = ArrayMember(body, "token_values");
  if (weights == nullptr) weights = ArrayMember(body, "values");
  std::string html;
  for (std::size_t r = 0; r < tokens->size() && r < kMaxWaterfallRows; ++r) {
    const nlohmann::json& row_tokens = (*tokens)[r];
    if (!row_tokens.is_array() || weights == nullptr || r >= weights->size()) continue;
    const nlohmann::json& per_output = (*weights)[r];
    if (!per_output.is_array() || o >= per_output.size() || !per_output[o].is_array() ||
        per_output[o].size() != row_tokens.size()) {
      continue;
    }
    std::vector<std::string> text;
    std::vector<double> w;
    for (std::size_t t = 0; t < row_tokens.size(); ++t) {
      text.push_back(DisplayText(row_tokens[t]));
      w.push_back(NumberOrNaN(per_output[o][t]));
    }
    html += TokenHighlights(text, w, r < row_labels.size() ? "row " + row_labels[r] + ":" : "");
  }
  if (html.empty()) return "";
  return "<h4>Tokens coloured by attribution (red raises the output, blue lowers it)</h4>\n" + html;
}

std::string OutputPanel(const Explanation& e, const Attribution& a, std::size_t o, const std::string& id) {
  std::string html = GlobalBar(a, o);
  if (a.phi.size() >= 2) html += Beeswarm(a, o);
  html += TextRows(e.body, a.row_labels, o);
  if (!a.phi.empty()) html += Waterfalls(a, o, id + "-o" + std::to_string(o) + "-row");
  return html;
}

}  // namespace

void RenderFeatureAttribution(const Explanation& e, const std::string& id, std::string& html) {
  if (Member(e.body, "conditions") != nullptr || Member(e.body, "as_list") != nullptr) {
    return RenderLime(e, id, html);
  }
  const Attribution a = ReadAttribution(e);
  html += "<p>" + std::to_string(a.phi.size()) + " rows explained, " + std::to_string(a.features.size()) +
          " features, " + std::to_string(a.outputs.size()) +
          " outputs. Red pushes the output up, blue down.</p>\n";
  if (a.outputs.size() > 1) {
    std::vector<std::pair<std::string, std::string>> options;
    for (std::size_t o = 0; o < a.outputs.size(); ++o) options.push_back({std::to_string(o), a.outputs[o]});
    html += SwitchSelect(id + "-out", "model output", options);
  }
  for (std::size_t o = 0; o < a.outputs.size(); ++o) {
    html += PanelOpen(id + "-out", std::to_string(o), o == 0);
    html += "<h3>Output " + HtmlEscape(a.outputs[o]) + "</h3>\n" + OutputPanel(e, a, o, id) + "</div>\n";
  }
}

}  // namespace loupe::report
