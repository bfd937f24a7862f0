// attention.* (kind attention_maps): tokens[R][T], attentions[R][L][H][T][T], rollout[R][T][T], optional
// flow[R][T][T]. Every field but `tokens` may be missing; what is there is drawn.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "report/charts.hpp"
#include "report/html_util.hpp"
#include "report/renderers.hpp"

namespace loupe::report {
namespace {

using Matrix = std::vector<std::vector<double>>;

constexpr std::size_t kMaxAttentionRows = 10;
constexpr std::size_t kMaxCellsPerRow = 40000;    // beyond, heads are averaged per layer
constexpr std::size_t kMaxCellsPerStep = 150000;  // beyond, later rows get no layer heatmaps (file size)
constexpr std::size_t kMaxHeatmapTokens = 128;    // longer sequences get bars only

// json as a T×T matrix, or nullopt when it is not one.
std::optional<Matrix> ReadSquare(const nlohmann::json& json, std::size_t t) {
  if (!json.is_array() || json.size() != t) return std::nullopt;
  Matrix m(t);
  for (std::size_t q = 0; q < t; ++q) {
    if (!json[q].is_array() || json[q].size() != t) return std::nullopt;
    for (const auto& w : json[q]) m[q].push_back(NumberOf(w).value_or(std::nan("")));
  }
  return m;
}

// body[field][r] as a T×T matrix, or nullopt.
std::optional<Matrix> RowMatrix(const nlohmann::json& body, const char* field, std::size_t r, std::size_t t) {
  const nlohmann::json* all = ArrayMember(body, field);
  if (all == nullptr || r >= all->size()) return std::nullopt;
  return ReadSquare((*all)[r], t);
}

std::string TokenBars(const std::vector<std::string>& tokens, const Matrix& m, const std::string& what) {
  std::vector<Bar> bars;
  for (std::size_t k = 0; k < tokens.size(); ++k) {
    bars.push_back(Bar{std::to_string(k) + " " + tokens[k], m[0][k], "", std::nullopt, ""});
  }
  BarChartOptions options{what};
  options.label_width = 140;
  options.plot_width = 360;
  return TokenHighlights(tokens, m[0], "", /*signed_weights=*/false) + HorizontalBarChart(bars, options);
}

std::string AggregateSection(const std::vector<std::string>& tokens, const Matrix& m,
                             const std::string& name) {
  std::string html = "<h4>" + name + ": how much of the first token (" + HtmlEscape(tokens[0]) +
                     ") comes from each input token</h4>\n" +
                     TokenBars(tokens, m, name + " from the first token");
  if (tokens.size() > kMaxHeatmapTokens) return html;
  return html + "<details><summary>" + name + " between every pair of tokens</summary>" +
         Heatmap(tokens, m, name + " heatmap") + "</details>\n";
}

Matrix HeadMean(const nlohmann::json& heads, std::size_t t) {
  Matrix mean(t, std::vector<double>(t, 0.0));
  std::size_t count = 0;
  for (const nlohmann::json& head : heads) {
    const std::optional<Matrix> m = ReadSquare(head, t);
    if (!m) continue;
    ++count;
    for (std::size_t q = 0; q < t; ++q) {
      for (std::size_t k = 0; k < t; ++k) mean[q][k] += (*m)[q][k];
    }
  }
  for (auto& row : mean) {
    for (double& w : row) w /= std::max<std::size_t>(count, 1);
  }
  return mean;
}

// The name of entry i of `attentions[r]` (layers) or of a layer (heads): the explanation's `labels_field`
// (e.g. head_labels ["mean"]), else its `index_field` (the selected layer or head numbers), else i.
std::string IndexName(const nlohmann::json& body, const char* labels_field, const char* index_field,
                      std::size_t i) {
  for (const char* field : {labels_field, index_field}) {
    const nlohmann::json* names = field != nullptr ? ArrayMember(body, field) : nullptr;
    if (names != nullptr && i < names->size()) return DisplayText((*names)[i]);
  }
  return std::to_string(i);
}

// One heatmap per (layer, head) behind a selector, or per layer (mean of heads) when that is too much.
// `cell_budget` is what is left of kMaxCellsPerStep; the heatmaps drawn are taken from it.
std::string LayerHeads(const nlohmann::json& body, const std::vector<std::string>& tokens,
                       const nlohmann::json& layers, const std::string& group, std::size_t& cell_budget) {
  std::size_t heads_total = 0;
  for (const auto& layer : layers) heads_total += layer.is_array() ? layer.size() : 0;
  const std::size_t t = tokens.size();
  const bool every_head = heads_total * t * t <= kMaxCellsPerRow;
  const std::size_t cells = (every_head ? heads_total + layers.size() : layers.size()) * t * t;
  if (t > kMaxHeatmapTokens || cells > cell_budget) {
    return "<p class=\"muted\">The attention heatmaps of this row are left out to keep the report small "
           "(too many tokens or heads); they are in the step's JSON.</p>\n";
  }
  cell_budget -= cells;
  std::vector<std::pair<std::string, std::string>> options;
  std::vector<std::string> panels;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    if (!layers[l].is_array()) continue;
    const std::string layer = "layer " + IndexName(body, nullptr, "layers", l);
    if (layers[l].size() > 1) {
      options.push_back({std::to_string(l) + "-mean", layer + ", mean of heads"});
      panels.push_back(Heatmap(tokens, HeadMean(layers[l], t), layer + " mean attention"));
    }
    for (std::size_t h = 0; (every_head || layers[l].size() == 1) && h < layers[l].size(); ++h) {
      const std::optional<Matrix> m = ReadSquare(layers[l][h], t);
      if (!m) continue;
      const std::string head = "head " + IndexName(body, "head_labels", "heads", h);
      options.push_back({std::to_string(l) + "-" + std::to_string(h), layer + ", " + head});
      panels.push_back(Heatmap(tokens, *m, layer + " " + head + " attention"));
    }
  }
  if (options.empty()) return "";
  std::string html = "<h4>Attention of each layer and head (rows: query token, columns: key token)</h4>\n" +
                     SwitchSelect(group, "show", options);
  for (std::size_t i = 0; i < panels.size(); ++i) {
    html += PanelOpen(group, options[i].first, i == 0) + panels[i] + "</div>\n";
  }
  if (!every_head)
    html += "<p class=\"muted\">Too many heads to draw each one; layers show the mean of their heads.</p>\n";
  return html;
}

// `importance[r]`: one weight per token (the explainer's summary, e.g. read through the model's pooling).
std::string Importance(const nlohmann::json& body, const std::vector<std::string>& tokens, std::size_t r) {
  const nlohmann::json* importance = ArrayMember(body, "importance");
  if (importance == nullptr || r >= importance->size() || !(*importance)[r].is_array() ||
      (*importance)[r].size() != tokens.size()) {
    return "";
  }
  std::vector<double> weights;
  std::vector<Bar> bars;
  for (std::size_t k = 0; k < tokens.size(); ++k) {
    weights.push_back(NumberOf((*importance)[r][k]).value_or(std::nan("")));
    bars.push_back(Bar{std::to_string(k) + " " + tokens[k], weights.back(), "", std::nullopt, ""});
  }
  BarChartOptions options{"token importance"};
  options.label_width = 140;
  options.plot_width = 360;
  return "<h4>Token importance</h4>\n" + TokenHighlights(tokens, weights, "", /*signed_weights=*/false) +
         HorizontalBarChart(bars, options);
}

std::string RowPanel(const nlohmann::json& body, const nlohmann::json& row_tokens, std::size_t r,
                     const std::string& id, std::size_t& cell_budget) {
  std::vector<std::string> tokens;
  for (const auto& token : row_tokens) tokens.push_back(DisplayText(token));
  if (tokens.empty()) return "<p class=\"muted\">No tokens.</p>\n";
  const std::size_t t = tokens.size();
  std::string html = Importance(body, tokens, r);
  if (const auto rollout = RowMatrix(body, "rollout", r, t))
    html += AggregateSection(tokens, *rollout, "Rollout");
  if (const auto flow = RowMatrix(body, "flow", r, t)) html += AggregateSection(tokens, *flow, "Flow");
  const nlohmann::json* attentions = ArrayMember(body, "attentions");
  if (attentions != nullptr && r < attentions->size() && (*attentions)[r].is_array()) {
    html += LayerHeads(body, tokens, (*attentions)[r], id + "-r" + std::to_string(r) + "-head", cell_budget);
  }
  if (html.empty()) html = TokenHighlights(tokens, std::vector<double>(t, 0.0), "", false);
  return html;
}

// A [L][H] matrix of numbers (nullopt cells for null), or nullopt when `json` is not one.
std::optional<Matrix> ReadLayerHead(const nlohmann::json& json) {
  if (!json.is_array() || json.empty()) return std::nullopt;
  Matrix m;
  for (const auto& layer : json) {
    if (!layer.is_array()) return std::nullopt;
    m.emplace_back();
    for (const auto& v : layer) {
      if (!v.is_number() && !v.is_null()) return std::nullopt;
      m.back().push_back(NumberOf(v).value_or(std::nan("")));
    }
  }
  return m;
}

// One layer × head table, cells shaded by value within the table.
std::string LayerHeadTable(const nlohmann::json& body, const std::string& name, const Matrix& m) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& row : m) {
    for (double v : row) {
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  std::string html =
      "<table class=\"heads\"><caption>" + HtmlEscape(name) + "</caption><tr><th>layer \\ head</th>";
  const std::size_t heads = m.empty() ? 0 : m.front().size();
  for (std::size_t h = 0; h < heads; ++h)
    html += "<th>" + HtmlEscape(IndexName(body, nullptr, "heads", h)) + "</th>";
  html += "</tr>";
  for (std::size_t l = 0; l < m.size(); ++l) {
    html += "<tr><th>" + HtmlEscape(IndexName(body, nullptr, "layers", l)) + "</th>";
    for (double v : m[l]) {
      const double t = hi > lo && std::isfinite(v) ? (v - lo) / (hi - lo) : 0.0;
      html += "<td style=\"background:" + HeatColour(0.75 * t) + (t > 0.7 ? ";color:#fff" : "") + "\">" +
              (std::isfinite(v) ? Num(v, 3) : "–") + "</td>";
    }
    html += "</tr>";
  }
  return html + "</table>\n";
}

// attention.heads: `statistics.<name>` = [L][H] (rows aggregated) per statistic.
std::string HeadStatistics(const nlohmann::json& body) {
  const nlohmann::json* statistics = Member(body, "statistics");
  if (statistics == nullptr || !statistics->is_object()) return "";
  std::string tables;
  for (const auto& [name, value] : statistics->items()) {
    if (const auto m = ReadLayerHead(value)) tables += LayerHeadTable(body, name, *m);
  }
  if (tables.empty()) return "";
  return "<h4>Statistics of each layer and head (aggregated over the rows: " +
         HtmlEscape(TextMember(body, "aggregate", "?")) + ")</h4>\n<div class=\"scroll head-tables\">" +
         tables + "</div>\n";
}

}  // namespace

void RenderAttentionMaps(const Explanation& e, const std::string& id, std::string& html) {
  const JsonBody json_body(e);
  const nlohmann::json& body = json_body.get();
  const nlohmann::json* tokens = ArrayMember(body, "tokens");
  if (tokens == nullptr) throw std::invalid_argument("an attention_maps result needs a 'tokens' array");
  const nlohmann::json* rows = ArrayMember(body, "rows");
  const std::size_t count = std::min(tokens->size(), kMaxAttentionRows);
  if (Member(body, "attentions") || Member(body, "rollout") || Member(body, "flow")) {
    html +=
        "<p>Attention weights read from the model. Rollout (Abnar &amp; Zuidema 2020) multiplies the layers' "
        "head-averaged attention, with the residual connection, from the input up; flow treats them as "
        "capacities of a max-flow. Darker cells and longer bars: more attention.</p>\n";
  }
  html += HeadStatistics(body);
  std::vector<std::pair<std::string, std::string>> options;
  for (std::size_t r = 0; r < count; ++r) {
    const std::string label =
        rows != nullptr && r < rows->size() ? DisplayText((*rows)[r]) : std::to_string(r);
    options.push_back({std::to_string(r), "row " + label});
  }
  html += SwitchSelect(id + "-row", "data row", options);
  std::size_t cell_budget = kMaxCellsPerStep;
  for (std::size_t r = 0; r < count; ++r) {
    const nlohmann::json& row_tokens = (*tokens)[r];
    html += PanelOpen(id + "-row", std::to_string(r), r == 0) +
            (row_tokens.is_array() ? RowPanel(body, row_tokens, r, id, cell_budget)
                                   : "<p class=\"muted\">No tokens.</p>\n") +
            "</div>\n";
  }
  if (count < tokens->size()) {
    html += "<p class=\"muted\">The first " + std::to_string(count) + " of " +
            std::to_string(tokens->size()) + " rows; every row is in the step's JSON.</p>\n";
  }
}

}  // namespace loupe::report
