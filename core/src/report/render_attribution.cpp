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

constexpr std::size_t kMaxWaterfallRows = 50;
constexpr std::size_t kWaterfallFeatures = 9;

// The attribution of a step, checked for shape (ValidateExplanation) before it is read. The numbers are
// read in place from the typed arrays (or converted once from JSON, for a file read back by `loupe
// report`); the per-row text of `rows` and `data` is read only for the rows a chart draws.
struct Attribution {
  Attribution(const Explanation& e, F64Array base_values, F64Array phi_values)
      : explanation(e), base(std::move(base_values)), phi(std::move(phi_values)) {}

  std::size_t Rows() const { return static_cast<std::size_t>(phi.dim(0)); }
  double Phi(std::size_t r, std::size_t o, std::size_t f) const {
    return phi.data()[(r * outputs.size() + o) * features.size() + f];
  }
  double Base(std::size_t r, std::size_t o) const { return base.data()[r * outputs.size() + o]; }
  // The data row number of explained row `r`.
  std::string RowLabel(std::size_t r) const {
    if (typed_rows) return CellText(*typed_rows, integer_rows, r);
    return DisplayText(explanation.body["rows"][r]);
  }
  // Feature `f` of row `r` as the data shows it, and as a number when it is one.
  std::string DataText(std::size_t r, std::size_t f) const {
    if (text_data != nullptr)
      return std::string(text_data->at(static_cast<std::int64_t>(r * features.size() + f)));
    if (typed_data) return CellText(*typed_data, integer_data, r * features.size() + f);
    return DisplayText(explanation.body["data"][r][f]);
  }
  std::optional<double> DataNumber(std::size_t r, std::size_t f) const;

  const Explanation& explanation;
  std::vector<std::string> features, outputs;
  F64Array base;  // [R][O]
  F64Array phi;   // [R][O][F]
  // `rows` and `data` when a plugin set them as typed arrays (read back from a file, they are JSON).
  std::optional<F64Array> typed_rows, typed_data;
  const TextArray* text_data = nullptr;  // `data` as a string array (FeatureAttribution sends it so)
  bool integer_rows = false, integer_data = false;

 private:
  static std::string CellText(const F64Array& numbers, bool integer, std::size_t i) {
    const double value = numbers.data()[i];
    if (integer) return std::to_string(static_cast<std::int64_t>(value));
    return DisplayText(std::isfinite(value) ? nlohmann::json(value) : nlohmann::json());
  }
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

std::optional<double> Attribution::DataNumber(std::size_t r, std::size_t f) const {
  if (typed_data) {
    const double value = typed_data->data()[r * features.size() + f];
    return std::isfinite(value) ? std::optional<double>(value) : std::nullopt;
  }
  if (text_data != nullptr) return ParseNumber(DataText(r, f));
  return ParseNumber(explanation.body["data"][r][f]);
}

double NumberOrNaN(const nlohmann::json& value) {
  return value.is_number() ? value.get<double>() : std::nan("");
}

Attribution ReadAttribution(const Explanation& e) {
  if (Status s = ValidateExplanation(e); !s.ok()) throw std::invalid_argument(s.message());
  std::optional<F64Array> base = e.Array("base_values");
  std::optional<F64Array> phi = e.Array("values");
  if (!base || !phi) throw std::invalid_argument("'values' and 'base_values' must be arrays of numbers");
  Attribution a(e, std::move(*base), std::move(*phi));
  const nlohmann::json* features = ArrayMember(e.body, "feature_names");
  const nlohmann::json* outputs = ArrayMember(e.body, "output_names");
  if (features == nullptr || outputs == nullptr) {
    throw std::invalid_argument("'feature_names' and 'output_names' must be lists of names");
  }
  for (const auto& name : *features) a.features.push_back(DisplayText(name));
  for (const auto& name : *outputs) a.outputs.push_back(DisplayText(name));
  const auto is_integer = [](const Tensor* t) {
    return t->dtype() != DType::kF64 && t->dtype() != DType::kF32;
  };
  if (const Tensor* rows = e.TypedArray("rows")) {
    a.typed_rows = e.Array("rows");
    a.integer_rows = is_integer(rows);
  }
  if (const Tensor* data = e.TypedArray("data")) {
    a.typed_data = e.Array("data");
    a.integer_data = is_integer(data);
  }
  a.text_data = e.Text("data");
  return a;
}

// Mean |phi| per feature for output `o`.
std::vector<double> MeanAbs(const Attribution& a, std::size_t o) {
  std::vector<double> importance(a.features.size(), 0.0);
  for (std::size_t r = 0; r < a.Rows(); ++r) {
    for (std::size_t f = 0; f < importance.size(); ++f) {
      if (std::isfinite(a.Phi(r, o, f))) importance[f] += std::fabs(a.Phi(r, o, f));
    }
  }
  for (double& v : importance) v /= std::max<std::size_t>(a.Rows(), 1);
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
      "<h4>Global importance: mean |attribution| over " + std::to_string(a.Rows()) + " rows</h4>\n";
  html += HorizontalBarChart(bars, {"mean absolute attribution per feature"});
  if (order.size() > kMaxBarFeatures) {
    html += "<p class=\"muted\">The " + std::to_string(kMaxBarFeatures) + " most important of " +
            std::to_string(order.size()) + " features.</p>\n";
  }
  return html;
}

std::string Beeswarm(const Attribution& a, std::size_t o) {
  const std::vector<std::size_t> order = OrderByDecreasing(MeanAbs(a, o));
  const std::vector<std::size_t> rows = EvenSample(a.Rows(), kMaxSwarmRows);
  std::vector<SwarmFeature> features;
  for (std::size_t i = 0; i < order.size() && i < kMaxSwarmFeatures; ++i) {
    SwarmFeature feature{a.features[order[i]], {}, {}, {}};
    for (std::size_t r : rows) {
      feature.phi.push_back(a.Phi(r, o, order[i]));
      feature.value.push_back(a.DataNumber(r, order[i]));
      feature.value_text.push_back("row " + a.RowLabel(r) + ": " + a.DataText(r, order[i]));
    }
    features.push_back(std::move(feature));
  }
  std::string html = "<h4>Summary (beeswarm): one dot per row and feature</h4>\n";
  html += BeeswarmChart(features, "attribution of every row, by feature, coloured by the feature's value");
  if (rows.size() < a.Rows()) {
    html += "<p class=\"muted\">" + std::to_string(rows.size()) + " of the " + std::to_string(a.Rows()) +
            " rows, evenly spaced.</p>\n";
  }
  return html;
}

std::string Waterfall(const Attribution& a, std::size_t r, std::size_t o) {
  std::vector<double> magnitude;
  for (std::size_t f = 0; f < a.features.size(); ++f) {
    magnitude.push_back(std::isfinite(a.Phi(r, o, f)) ? std::fabs(a.Phi(r, o, f)) : 0.0);
  }
  const std::vector<std::size_t> order = OrderByDecreasing(magnitude);
  std::vector<WaterfallStep> steps;
  double rest = 0;
  std::size_t rest_count = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const double phi = std::isfinite(a.Phi(r, o, order[i])) ? a.Phi(r, o, order[i]) : 0.0;
    if (i < kWaterfallFeatures || order.size() == kWaterfallFeatures + 1) {
      steps.push_back({a.features[order[i]] + " = " + a.DataText(r, order[i]), phi});
    } else {
      rest += phi;
      ++rest_count;
    }
  }
  if (rest_count > 0) steps.push_back({std::to_string(rest_count) + " other features", rest});
  return WaterfallChart(a.Base(r, o), steps, "waterfall of row " + a.RowLabel(r));
}

std::string Waterfalls(const Attribution& a, std::size_t o, const std::string& group) {
  const std::size_t rows = std::min(a.Rows(), kMaxWaterfallRows);
  std::vector<std::pair<std::string, std::string>> options;
  for (std::size_t r = 0; r < rows; ++r) options.push_back({std::to_string(r), "row " + a.RowLabel(r)});
  std::string html = "<h4>Per row: from the base value E[f(x)] to the prediction f(x)</h4>\n";
  html += SwitchSelect(group, "data row", options);
  for (std::size_t r = 0; r < rows; ++r) {
    html += PanelOpen(group, std::to_string(r), r == 0) + Waterfall(a, r, o) + "</div>\n";
  }
  if (rows < a.Rows()) {
    html += "<p class=\"muted\">Waterfalls of the first " + std::to_string(rows) + " of " +
            std::to_string(a.Rows()) + " rows; every row is in the step's JSON.</p>\n";
  }
  return html;
}

// The per-token weights of row `r` for output `o`: `token_values[r][o]` (JSON, ragged across rows),
// else the row's attributions when `values` is per token; empty when there are none of `tokens` length.
std::vector<double> TokenWeights(const Attribution& a, std::size_t r, std::size_t o, std::size_t tokens) {
  std::vector<double> w;
  if (const nlohmann::json* weights = ArrayMember(a.explanation.body, "token_values")) {
    if (r >= weights->size()) return w;
    const nlohmann::json& per_output = (*weights)[r];
    if (!per_output.is_array() || o >= per_output.size() || !per_output[o].is_array() ||
        per_output[o].size() != tokens) {
      return w;
    }
    for (const auto& v : per_output[o]) w.push_back(NumberOrNaN(v));
    return w;
  }
  if (a.features.size() != tokens || r >= a.Rows()) return w;
  for (std::size_t t = 0; t < tokens; ++t) w.push_back(a.Phi(r, o, t));
  return w;
}

// Text rows: `tokens[R][T]` with per-token attributions `token_values[R][O][T]` (or `values[R][O][T]`
// when the values are per token), drawn as coloured text.
std::string TextRows(const nlohmann::json& body, const Attribution& a, std::size_t o) {
  const nlohmann::json* tokens = ArrayMember(body, "tokens");
  if (tokens == nullptr) return "";
  std::string html;
  for (std::size_t r = 0; r < tokens->size() && r < kMaxWaterfallRows; ++r) {
    const nlohmann::json& row_tokens = (*tokens)[r];
    if (!row_tokens.is_array()) continue;
    const std::vector<double> w = TokenWeights(a, r, o, row_tokens.size());
    if (w.empty() && !row_tokens.empty()) continue;
    if (w.size() != row_tokens.size()) continue;
    std::vector<std::string> text;
    for (const auto& token : row_tokens) text.push_back(DisplayText(token));
    html += TokenHighlights(text, w, r < a.Rows() ? "row " + a.RowLabel(r) + ":" : "");
  }
  if (html.empty()) return "";
  return "<h4>Tokens coloured by attribution (red raises the output, blue lowers it)</h4>\n" + html;
}

std::string OutputPanel(const Explanation& e, const Attribution& a, std::size_t o, const std::string& id) {
  // Text rows' features are word positions (word_0, word_1, ...) holding a different word in every row: a
  // mean over rows per position means nothing, so text rows get their coloured tokens instead.
  const bool text_rows = ArrayMember(e.body, "tokens") != nullptr;
  std::string html = text_rows ? "" : GlobalBar(a, o);
  if (a.Rows() >= 2 && !text_rows) html += Beeswarm(a, o);
  html += TextRows(e.body, a, o);
  if (a.Rows() > 0) html += Waterfalls(a, o, id + "-o" + std::to_string(o) + "-row");
  return html;
}

}  // namespace

void RenderFeatureAttribution(const Explanation& e, const std::string& id, std::string& html) {
  if (Member(e.body, "conditions") != nullptr || Member(e.body, "as_list") != nullptr) {
    return RenderLime(e, id, html);
  }
  const Attribution a = ReadAttribution(e);
  // A streamed step's sample (html_report.cpp): the rows explained are the step's, the charts the sample's.
  const std::int64_t explained = e.body.value("report_rows_of", static_cast<std::int64_t>(a.Rows()));
  html +=
      "<p>" + std::to_string(explained) + " rows explained" +
      (explained != static_cast<std::int64_t>(a.Rows()) ? " (" + std::to_string(a.Rows()) + " drawn below)"
                                                        : std::string()) +
      ", " + std::to_string(a.features.size()) + " features, " + std::to_string(a.outputs.size()) +
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
