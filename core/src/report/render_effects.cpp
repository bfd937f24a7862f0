// The effects plugin's kinds (docs/architecture.md §5 "Output files"):
//  - partial_dependence: feature_sets[S] = {features, axes[] = {feature, categorical, values, labels,
//    deciles}}, average.<s>[O][G1](,G2), individual.<s>[O][R][G1](,G2), output_names, shown_output;
//  - accumulated_local_effects: features[] = {feature, categorical, values, labels, counts, deciles},
//    ale.<i>[O][V], pairs[] = {features, values[2], labels[2], counts, empty_cells}, ale2.<p>[O][V1][V2],
//    output_names, shown_output;
//  - permutation_importance: feature_names[U], members, importances_mean[U], importances_std[U],
//    importances[U][R], scoring, baseline_score, sample_weight, subsample_rows.
// Numeric effects are line charts with the data's deciles as a rug (as scikit-learn's
// PartialDependenceDisplay draws them), categorical effects bars, two-way grids heatmaps, importances bars
// with ±1 standard deviation whiskers. Everything is inline SVG: the report stays self-contained.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "report/charts.hpp"
#include "report/html_util.hpp"
#include "report/renderers.hpp"

namespace loupe::report {
namespace {

constexpr std::size_t kMaxIceLines = 50;
constexpr std::size_t kMaxImportanceBars = 30;
constexpr double kChartWidth = 540, kChartHeight = 250;
constexpr double kLeft = 64, kRight = 16, kTop = 12, kBottom = 40;

struct Series {
  std::vector<double> x, y;
  std::string stroke;
  double width = 1;
  double opacity = 1;
};

std::string Polyline(const Series& series, const Scale& sx, const Scale& sy) {
  std::string points;
  for (std::size_t i = 0; i < series.x.size() && i < series.y.size(); ++i) {
    if (!std::isfinite(series.x[i]) || !std::isfinite(series.y[i])) continue;
    points += Px(sx(series.x[i])) + "," + Px(sy(series.y[i])) + " ";
  }
  return "<polyline points=\"" + points + "\" fill=\"none\" stroke=\"" + series.stroke +
         "\" stroke-width=\"" + Num(series.width, 3) + "\" stroke-opacity=\"" + Num(series.opacity, 3) +
         "\"/>";
}

// Lines over a shared numeric x axis, the last series drawn on top; `rug` ticks along the x axis.
std::string LineChart(const std::vector<Series>& series, const std::vector<double>& rug,
                      const std::string& x_label, const std::string& y_label, const std::string& title) {
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const Series& s : series) {
    for (double v : s.x)
      if (std::isfinite(v)) x_lo = std::min(x_lo, v), x_hi = std::max(x_hi, v);
    for (double v : s.y)
      if (std::isfinite(v)) y_lo = std::min(y_lo, v), y_hi = std::max(y_hi, v);
  }
  if (!std::isfinite(x_lo) || !std::isfinite(y_lo))
    return "<p class=\"muted\">No finite values to draw.</p>\n";
  if (y_hi == y_lo) y_hi = y_lo + 1e-9;
  const double pad = (y_hi - y_lo) * 0.05;
  const Scale sx{x_lo, x_hi, kLeft, kChartWidth - kRight};
  const Scale sy{y_lo - pad, y_hi + pad, kChartHeight - kBottom, kTop};
  std::string svg = SvgOpen(kChartWidth, kChartHeight, title);
  for (double tick : NiceTicks(sy.domain_lo, sy.domain_hi, 5)) {
    svg += SvgLine(kLeft - 4, sy(tick), kLeft, sy(tick)) +
           SvgText(kLeft - 6, sy(tick) + 4, Num(tick, 3), "end", "tick");
  }
  svg += SvgLine(kLeft, kTop, kLeft, kChartHeight - kBottom) + SvgAxis(sx, kChartHeight - kBottom);
  for (double value : rug) {
    if (std::isfinite(value) && value >= x_lo && value <= x_hi)
      svg += "<line x1=\"" + Px(sx(value)) + "\" y1=\"" + Px(kChartHeight - kBottom - 8) + "\" x2=\"" +
             Px(sx(value)) + "\" y2=\"" + Px(kChartHeight - kBottom) + "\" stroke=\"#333\"><title>decile " +
             Num(value, 4) + "</title></line>";
  }
  for (const Series& s : series) svg += Polyline(s, sx, sy);
  svg += SvgText((kLeft + kChartWidth - kRight) / 2, kChartHeight - 4, x_label, "middle", "muted");
  svg += SvgText(4, kTop + 2, y_label, "start", "muted");
  return svg + "</svg>\n";
}

std::vector<double> Numbers(const nlohmann::json* array) {
  std::vector<double> out;
  if (array == nullptr) return out;
  for (const auto& v : *array) out.push_back(NumberOf(v).value_or(std::nan("")));
  return out;
}

std::vector<std::string> Texts(const nlohmann::json* array) {
  std::vector<std::string> out;
  if (array == nullptr) return out;
  for (const auto& v : *array) out.push_back(DisplayText(v));
  return out;
}

// The output a chart shows, and a sentence naming it.
std::size_t ShownOutput(const nlohmann::json& body, std::size_t n_outputs) {
  const auto shown = static_cast<std::size_t>(std::max(0.0, NumberMember(body, "shown_output").value_or(0)));
  return shown < n_outputs ? shown : 0;
}

std::string OutputSentence(const nlohmann::json& body, std::size_t output) {
  const std::vector<std::string> names = Texts(ArrayMember(body, "output_names"));
  if (output >= names.size()) return "";
  return "<p class=\"muted\">Model output shown: <b>" + HtmlEscape(names[output]) + "</b>" +
         (names.size() > 1 ? " (the JSON file has every output)" : "") + ".</p>\n";
}

// One level per bar: a categorical feature's effect.
std::string LevelBars(const std::vector<std::string>& labels, const double* values,
                      const std::string& title) {
  std::vector<Bar> bars;
  for (std::size_t i = 0; i < labels.size(); ++i) bars.push_back(Bar{labels[i], values[i], "", {}, ""});
  return HorizontalBarChart(bars, {title});
}

// Tick labels of a grid axis: level names for categoricals, 4 significant digits for numeric grids.
std::vector<std::string> AxisLabels(const nlohmann::json& axis) {
  const nlohmann::json* categorical = Member(axis, "categorical");
  if (categorical != nullptr && categorical->is_boolean() && categorical->get<bool>())
    return Texts(ArrayMember(axis, "labels"));
  std::vector<std::string> labels;
  for (const double value : Numbers(ArrayMember(axis, "values"))) labels.push_back(Num(value, 4));
  return labels;
}

// A two-way grid as a heatmap: rows the first feature's values, columns the second's.
std::string GridHeatmap(const nlohmann::json& axis0, const nlohmann::json& axis1, const double* values,
                        const std::string& title) {
  const std::vector<std::string> rows = AxisLabels(axis0);
  const std::vector<std::string> cols = AxisLabels(axis1);
  if (rows.empty() || cols.empty()) return "";
  const std::size_t n = rows.size() * cols.size();
  const auto [lo, hi] = std::minmax_element(values, values + n);
  const double span = *hi - *lo;
  const double cell_w = std::max(3.0, std::min(40.0, 420.0 / static_cast<double>(cols.size())));
  const double cell_h = std::max(3.0, std::min(22.0, 300.0 / static_cast<double>(rows.size())));
  const double left = 90, top = 8;
  const double width = left + cell_w * static_cast<double>(cols.size()) + 10;
  const double height = top + cell_h * static_cast<double>(rows.size()) + 40;
  std::string svg = SvgOpen(width, height, title);
  // Enough room between tick labels: about 16 px between rows and 56 px between columns.
  const auto row_step = static_cast<std::size_t>(std::max(1.0, std::ceil(16 / cell_h)));
  const auto col_step = static_cast<std::size_t>(std::max(1.0, std::ceil(56 / cell_w)));
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < cols.size(); ++c) {
      const double v = values[r * cols.size() + c];
      svg += SvgRect(left + cell_w * static_cast<double>(c), top + cell_h * static_cast<double>(r), cell_w,
                     cell_h, HeatColour(span > 0 ? (v - *lo) / span : 0.5),
                     TextMember(axis0, "feature") + " = " + rows[r] + ", " + TextMember(axis1, "feature") +
                         " = " + cols[c] + ": " + Num(v, 4));
    }
    if (r % row_step == 0)
      svg += SvgText(left - 4, top + cell_h * (static_cast<double>(r) + 0.5) + 4, rows[r], "end", "tick");
  }
  for (std::size_t c = 0; c < cols.size(); c += col_step)
    svg += SvgText(left + cell_w * (static_cast<double>(c) + 0.5), height - 24, cols[c], "middle", "tick");
  svg += SvgText(left, height - 6,
                 TextMember(axis0, "feature") + " (rows) × " + TextMember(axis1, "feature") +
                     " (columns); from " + Num(*lo, 4) + " (light) to " + Num(*hi, 4) + " (dark)",
                 "start", "muted");
  return svg + "</svg>\n";
}

// One feature set of a partial_dependence result.
std::string PartialDependenceSet(const Explanation& e, const nlohmann::json& set, std::size_t s,
                                 std::size_t output) {
  const nlohmann::json* axes = ArrayMember(set, "axes");
  if (axes == nullptr || axes->empty()) throw std::invalid_argument("a feature set has no 'axes'");
  const std::string key = std::to_string(s);
  const std::optional<F64Array> average = e.Array("average." + key);
  const std::optional<F64Array> individual = e.Array("individual." + key);
  std::string names;
  for (const auto& axis : *axes) names += (names.empty() ? "" : " × ") + TextMember(axis, "feature");
  std::string html = "<h4>" + HtmlEscape(names) + "</h4>\n";
  const nlohmann::json& axis0 = (*axes)[0];
  const std::vector<double> grid = Numbers(ArrayMember(axis0, "values"));
  const std::size_t g = grid.size();
  if (axes->size() == 2) {
    const std::size_t g1 = Numbers(ArrayMember((*axes)[1], "values")).size();
    if (!average || average->ndim() != 3 || average->dim(1) != static_cast<std::int64_t>(g) ||
        average->dim(2) != static_cast<std::int64_t>(g1)) {
      return html +
             "<p class=\"muted\">Two-way grids are drawn from the average (kind average or both).</p>\n";
    }
    return html + GridHeatmap(axis0, (*axes)[1], average->data() + output * g * g1,
                              "partial dependence of " + names);
  }
  const bool categorical = Member(axis0, "categorical") != nullptr && axis0["categorical"].is_boolean() &&
                           axis0["categorical"].get<bool>();
  if (categorical) {
    if (!average || average->ndim() != 2 || average->dim(1) != static_cast<std::int64_t>(g))
      return html + "<p class=\"muted\">Categorical features are drawn from the average.</p>\n";
    return html + LevelBars(Texts(ArrayMember(axis0, "labels")), average->data() + output * g,
                            "partial dependence of " + names + " by level");
  }
  std::vector<Series> series;
  std::size_t ice_lines = 0, rows = 0;
  if (individual && individual->ndim() == 3 && individual->dim(2) == static_cast<std::int64_t>(g)) {
    rows = static_cast<std::size_t>(individual->dim(1));
    for (std::size_t r : EvenSample(rows, kMaxIceLines)) {
      const double* curve = individual->data() + (output * rows + r) * g;
      series.push_back(Series{grid, std::vector<double>(curve, curve + g), "#1e6fd9", 0.8, 0.25});
      ++ice_lines;
    }
  }
  if (average && average->ndim() == 2 && average->dim(1) == static_cast<std::int64_t>(g)) {
    const double* curve = average->data() + output * g;
    series.push_back(Series{grid, std::vector<double>(curve, curve + g), "#ff7f0e", 2.5, 1});
  }
  if (series.empty()) throw std::invalid_argument("feature set " + key + " has no curve matching its grid");
  html += LineChart(series, Numbers(ArrayMember(axis0, "deciles")), TextMember(axis0, "feature"),
                    "partial dependence", "partial dependence of " + names);
  if (ice_lines > 0) {
    html += "<p class=\"muted\">Thin blue lines: ICE curves of " + std::to_string(ice_lines) + " of " +
            std::to_string(rows) + " rows" + (ice_lines < rows ? ", evenly spaced" : "") +
            (average ? "; orange: their average (the partial dependence)" : "") +
            ". Ticks: the feature's deciles.</p>\n";
  }
  return html;
}

}  // namespace

void RenderPartialDependence(const Explanation& e, const std::string&, std::string& html) {
  const nlohmann::json* sets = ArrayMember(e.body, "feature_sets");
  if (sets == nullptr) throw std::invalid_argument("a partial_dependence result needs 'feature_sets'");
  const std::size_t output = ShownOutput(e.body, Texts(ArrayMember(e.body, "output_names")).size());
  const bool centred = Member(e.body, "centered") != nullptr && e.body["centered"].is_boolean() &&
                       e.body["centered"].get<bool>();
  html +=
      "<p>How the model's prediction moves, on average over the rows, when the feature is set to each grid "
      "value (scikit-learn's partial_dependence)" +
      std::string(centred ? "; curves centred at their first grid value" : "") + ".</p>\n";
  html += OutputSentence(e.body, output);
  for (std::size_t s = 0; s < sets->size(); ++s) html += PartialDependenceSet(e, (*sets)[s], s, output);
}

void RenderAccumulatedLocalEffects(const Explanation& e, const std::string&, std::string& html) {
  const nlohmann::json* features = ArrayMember(e.body, "features");
  if (features == nullptr)
    throw std::invalid_argument("an accumulated_local_effects result needs 'features'");
  const std::size_t output = ShownOutput(e.body, Texts(ArrayMember(e.body, "output_names")).size());
  html +=
      "<p>Accumulated local effects (Apley &amp; Zhu 2020): the centred effect of each feature, built from "
      "prediction differences within small intervals of the data, so correlated features do not leak "
      "into it.</p>\n" +
      OutputSentence(e.body, output);
  for (std::size_t i = 0; i < features->size(); ++i) {
    const nlohmann::json& feature = (*features)[i];
    const std::string name = TextMember(feature, "feature");
    const std::optional<F64Array> ale = e.Array("ale." + std::to_string(i));
    const std::vector<double> values = Numbers(ArrayMember(feature, "values"));
    html += "<h4>" + HtmlEscape(name) + "</h4>\n";
    if (!ale || ale->ndim() != 2 || ale->dim(1) != static_cast<std::int64_t>(values.size())) {
      html += "<p class=\"muted\">No effect array matches this feature's values.</p>\n";
      continue;
    }
    const double* curve = ale->data() + output * values.size();
    if (feature.contains("categorical") && feature["categorical"].is_boolean() &&
        feature["categorical"].get<bool>()) {
      html += LevelBars(Texts(ArrayMember(feature, "labels")), curve, "ALE of " + name + " by level") +
              "<p class=\"muted\">Levels in the order ALEPlot gives them (by similarity of the other "
              "features).</p>\n";
    } else {
      html +=
          LineChart({Series{values, std::vector<double>(curve, curve + values.size()), "#2ca02c", 2.5, 1}},
                    Numbers(ArrayMember(feature, "deciles")), name, "accumulated local effect",
                    "accumulated local effect of " + name);
    }
  }
  const nlohmann::json* pairs = ArrayMember(e.body, "pairs");
  for (std::size_t p = 0; pairs != nullptr && p < pairs->size(); ++p) {
    const nlohmann::json& pair = (*pairs)[p];
    const std::vector<std::string> names = Texts(ArrayMember(pair, "features"));
    const nlohmann::json* values = ArrayMember(pair, "values");
    if (names.size() != 2 || values == nullptr || values->size() != 2) continue;
    const nlohmann::json axis0 = {{"feature", names[0]}, {"categorical", false}, {"values", (*values)[0]}};
    const nlohmann::json axis1 = {{"feature", names[1]}, {"categorical", false}, {"values", (*values)[1]}};
    const std::size_t g0 = Numbers(&(*values)[0]).size(), g1 = Numbers(&(*values)[1]).size();
    const std::optional<F64Array> ale2 = e.Array("ale2." + std::to_string(p));
    html += "<h4>" + HtmlEscape(names[0] + " × " + names[1]) + " (second order)</h4>\n";
    if (!ale2 || ale2->ndim() != 3 || ale2->dim(1) != static_cast<std::int64_t>(g0) ||
        ale2->dim(2) != static_cast<std::int64_t>(g1)) {
      html += "<p class=\"muted\">No second-order effect array matches this pair's edges.</p>\n";
      continue;
    }
    html += GridHeatmap(axis0, axis1, ale2->data() + output * g0 * g1,
                        "second-order ALE of " + names[0] + " and " + names[1]);
    const auto empty = static_cast<long long>(NumberMember(pair, "empty_cells").value_or(0));
    html +=
        "<p class=\"muted\">The interaction alone: what the pair adds beyond each feature's own "
        "effect, at the quantile edges of both" +
        (empty > 0 ? "; " + std::to_string(empty) + " cells without rows took their nearest cell's value"
                   : std::string()) +
        ".</p>\n";
  }
}

void RenderPermutationImportance(const Explanation& e, const std::string&, std::string& html) {
  const std::vector<std::string> names = Texts(ArrayMember(e.body, "feature_names"));
  const std::optional<F64Array> mean = e.Array("importances_mean");
  const std::optional<F64Array> std_dev = e.Array("importances_std");
  if (names.empty() || !mean || mean->size() != static_cast<std::int64_t>(names.size()))
    throw std::invalid_argument(
        "a permutation_importance result needs 'feature_names' and 'importances_mean'");
  std::vector<std::size_t> order(names.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return mean->data()[a] > mean->data()[b]; });
  std::vector<Bar> bars;
  for (std::size_t i = 0; i < order.size() && i < kMaxImportanceBars; ++i) {
    const std::size_t u = order[i];
    const double m = mean->data()[u];
    const double sd = std_dev && std_dev->size() == mean->size() ? std_dev->data()[u] : 0.0;
    bars.push_back(Bar{names[u], m, kNeutralColour, std::make_pair(m - sd, m + sd),
                       names[u] + ": " + Num(m, 4) + " ± " + Num(sd, 3)});
  }
  html += "<p>Drop in <b>" + HtmlEscape(TextMember(e.body, "scoring", "the score")) + "</b> (baseline " +
          Num(NumberMember(e.body, "baseline_score"), 4) +
          ") when each feature is shuffled across the rows, mean over " +
          HtmlEscape(TextMember(e.body, "n_repeats", "?")) +
          " shuffles; whiskers: ±1 standard deviation.</p>\n";
  const std::string weight = TextMember(e.body, "sample_weight", "");
  const nlohmann::json* subsample = ArrayMember(e.body, "subsample_rows");
  if (!weight.empty() || (subsample != nullptr && !subsample->empty())) {
    html += "<p class=\"muted\">" +
            (weight.empty() ? std::string() : "Every score weighted by column " + HtmlEscape(weight) + ". ") +
            (subsample == nullptr || subsample->empty()
                 ? std::string()
                 : "Shuffled scores on a subsample of " + std::to_string(subsample->size()) +
                       " rows (max_samples); the baseline on every row, as scikit-learn.") +
            "</p>\n";
  }
  html += HorizontalBarChart(bars, {"permutation importance per feature"});
  if (names.size() > kMaxImportanceBars)
    html += "<p class=\"muted\">The " + std::to_string(kMaxImportanceBars) + " most important of " +
            std::to_string(names.size()) + " are drawn.</p>\n";
}

}  // namespace loupe::report
