// Charts shared by the per-kind renderers, drawn as inline SVG strings.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace loupe::report {

// How much of an attribution the summary charts show (shap.summary and per-step attributions alike): the
// most important features as bars and as beeswarm lines, and at most this many rows per beeswarm.
inline constexpr std::size_t kMaxBarFeatures = 20;
inline constexpr std::size_t kMaxSwarmFeatures = 15;
inline constexpr std::size_t kMaxSwarmRows = 1000;

struct Bar {
  std::string label;
  double value = 0;
  std::string colour;                                 // empty: by sign (signed charts) or the neutral blue
  std::optional<std::pair<double, double>> interval;  // drawn as a whisker
  std::string tooltip;                                // empty: label and value
};

struct BarChartOptions {
  BarChartOptions(std::string aria_label) : title(std::move(aria_label)) {}  // NOLINT: implicit on purpose
  std::string title;                                                         // aria label
  double label_width = 220;  // pixels left of the bars for the labels
  double plot_width = 460;
  std::optional<double> domain_lo, domain_hi;  // default: from the values (and 0)
  std::optional<double> reference;             // a dashed vertical line (e.g. 0.8 for four-fifths)
};

// Horizontal bars, one per entry, from zero; negative values extend left of the zero line.
std::string HorizontalBarChart(const std::vector<Bar>& bars, const BarChartOptions& options);

// One waterfall step: a feature moving the running total by `delta`.
struct WaterfallStep {
  std::string label;
  double delta = 0;
};
// shap's waterfall: from `base` (E[f(x)]) through each step (in the given order) to base + sum.
std::string WaterfallChart(double base, const std::vector<WaterfallStep>& steps, const std::string& title);

// One feature of a beeswarm: its attributions over rows and the feature values that colour them
// (nullopt: not numeric, drawn grey).
struct SwarmFeature {
  std::string name;
  std::vector<double> phi;
  std::vector<std::optional<double>> value;
  std::vector<std::string> value_text;  // shown in tooltips
};
// At most `limit` indices of [0, n), evenly spaced (every index when n <= limit), for charts of many rows.
std::vector<std::size_t> EvenSample(std::size_t n, std::size_t limit);

// shap's beeswarm summary: one line per feature, dots at x = phi, piled up where they crowd, coloured
// from blue (low feature value) to red (high).
std::string BeeswarmChart(const std::vector<SwarmFeature>& features, const std::string& title);

// Tokens as inline text, each with a background coloured by its weight scaled by the largest |weight|:
// red positive and blue negative when `signed_weights`, else white to dark blue (attention); tooltips
// give the numbers. `row_label` (when not empty) precedes the tokens.
std::string TokenHighlights(const std::vector<std::string>& tokens, const std::vector<double>& weights,
                            const std::string& row_label = "", bool signed_weights = true);

// A T×T heatmap of weights in [0, 1] (rows: queries, columns: keys) with the tokens along both axes.
std::string Heatmap(const std::vector<std::string>& tokens, const std::vector<std::vector<double>>& weights,
                    const std::string& title);

}  // namespace loupe::report
