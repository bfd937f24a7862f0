#include "report/charts.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "report/html_util.hpp"

namespace loupe::report {
namespace {

constexpr double kRowHeight = 20;
constexpr double kAxisHeight = 24;
constexpr std::size_t kMaxLabel = 42;

// Long labels are cut with an ellipsis; the full text stays in the tooltip.
std::string ShortLabel(const std::string& label) {
  if (label.size() <= kMaxLabel) return label;
  std::size_t cut = kMaxLabel - 1;
  while (cut > 0 && (static_cast<unsigned char>(label[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
  return label.substr(0, cut) + "…";
}

std::string SignColour(double value) { return value >= 0 ? kPositiveColour : kNegativeColour; }

std::string SignedNum(double value) {
  std::string text = Num(value, 3);
  if (value >= 0) text.insert(text.begin(), '+');
  return text;
}

Scale BarDomain(const std::vector<Bar>& bars, const BarChartOptions& options) {
  double lo = 0, hi = 0;
  for (const Bar& bar : bars) {
    if (!std::isfinite(bar.value)) continue;
    lo = std::min(lo, bar.value);
    hi = std::max(hi, bar.value);
    if (bar.interval) {
      lo = std::min(lo, bar.interval->first);
      hi = std::max(hi, bar.interval->second);
    }
  }
  if (options.reference) {
    lo = std::min(lo, *options.reference);
    hi = std::max(hi, *options.reference);
  }
  if (lo == hi) hi = lo + 1;
  return Scale{options.domain_lo.value_or(lo), options.domain_hi.value_or(hi), options.label_width,
               options.label_width + options.plot_width};
}

std::string Whisker(const Scale& x, const std::pair<double, double>& interval, double y) {
  const double lo = x(interval.first), hi = x(interval.second);
  return SvgLine(lo, y, hi, y, "whisker") + SvgLine(lo, y - 4, lo, y + 4, "whisker") +
         SvgLine(hi, y - 4, hi, y + 4, "whisker");
}

}  // namespace

std::string HorizontalBarChart(const std::vector<Bar>& bars, const BarChartOptions& options) {
  const Scale x = BarDomain(bars, options);
  const double height = bars.size() * kRowHeight + kAxisHeight + 6;
  std::string svg = SvgOpen(options.label_width + options.plot_width + 80, height, options.title);
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const Bar& bar = bars[i];
    const double y = i * kRowHeight + 2;
    const double value = std::isfinite(bar.value) ? bar.value : 0.0;
    const std::string colour = !bar.colour.empty() ? bar.colour
                               : x.domain_lo < 0   ? SignColour(value)
                                                   : std::string(kNeutralColour);
    const std::string tooltip = bar.tooltip.empty() ? bar.label + ": " + Num(bar.value, 6) : bar.tooltip;
    svg += SvgText(options.label_width - 6, y + 12, ShortLabel(bar.label), "end");
    svg +=
        SvgRect(x(std::min(0.0, value)), y + 2, std::fabs(x(value) - x(0)), kRowHeight - 6, colour, tooltip);
    double value_x = x(std::max(0.0, value));
    if (bar.interval) {
      svg += Whisker(x, *bar.interval, y + kRowHeight / 2 - 1);
      value_x = std::max(value_x, x(bar.interval->second));
    }
    svg += SvgText(value_x + 4, y + 12, std::isfinite(bar.value) ? Num(bar.value, 3) : "undefined", "start",
                   "value");
  }
  const double axis_y = bars.size() * kRowHeight + 4;
  if (x.domain_lo < 0) svg += SvgLine(x(0), 0, x(0), axis_y, "zero");
  if (options.reference) svg += SvgLine(x(*options.reference), 0, x(*options.reference), axis_y, "reference");
  svg += SvgAxis(x, axis_y);
  return svg + "</svg>\n";
}

std::string WaterfallChart(double base, const std::vector<WaterfallStep>& steps, const std::string& title) {
  // Row i (top = largest) spans [start_i, start_i + delta_i]; the sum runs from base at the bottom.
  std::vector<double> start(steps.size());
  double running = base, lo = base, hi = base;
  for (std::size_t i = steps.size(); i-- > 0;) {
    start[i] = running;
    running += steps[i].delta;
    lo = std::min(lo, running);
    hi = std::max(hi, running);
  }
  const double prediction = running;
  const double pad = (hi - lo) * 0.08 + 1e-12;
  const double label_width = 220, plot_width = 440, top = 22;
  const Scale x{lo - pad, hi + pad, label_width, label_width + plot_width};
  const double bottom = top + steps.size() * kRowHeight;
  std::string svg = SvgOpen(label_width + plot_width + 70, bottom + kAxisHeight + 22, title);
  svg += SvgLine(x(prediction), 14, x(prediction), top, "reference") +
         SvgText(x(prediction), 10, "f(x) = " + Num(prediction, 4), "middle", "value");
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const double y = top + i * kRowHeight;
    const double from = start[i], to = start[i] + steps[i].delta;
    svg += SvgText(label_width - 6, y + 13, ShortLabel(steps[i].label), "end");
    svg += SvgRect(x(std::min(from, to)), y + 3, std::max(std::fabs(x(to) - x(from)), 1.0), kRowHeight - 6,
                   SignColour(steps[i].delta), steps[i].label + ": " + SignedNum(steps[i].delta));
    const double text_x = x(std::max(from, to)) + 4;
    svg += SvgText(text_x, y + 13, SignedNum(steps[i].delta), "start", "value");
    if (i + 1 < steps.size())
      svg += SvgLine(x(to), y + kRowHeight - 3, x(to), y + kRowHeight + 3, "connector");
  }
  svg += SvgLine(x(base), top, x(base), bottom + 4, "reference");
  svg += SvgAxis(x, bottom + 4);
  svg += SvgText(x(base), bottom + kAxisHeight + 16, "E[f(x)] = " + Num(base, 4), "middle", "value");
  return svg + "</svg>\n";
}

namespace {

// The 5th and 95th percentiles of the finite values (shap colours by these, so outliers do not wash out
// the colour scale).
std::pair<double, double> ColourRange(const std::vector<std::optional<double>>& values) {
  std::vector<double> finite;
  for (const auto& v : values) {
    if (v && std::isfinite(*v)) finite.push_back(*v);
  }
  if (finite.empty()) return {0, 1};
  std::sort(finite.begin(), finite.end());
  const auto at = [&](double q) { return finite[static_cast<std::size_t>(q * (finite.size() - 1) + 0.5)]; };
  return {at(0.05), at(0.95)};
}

std::string SwarmLegend(double x, double y, double height) {
  std::string svg;
  const int steps = 10;
  for (int i = 0; i < steps; ++i) {
    svg += SvgRect(x, y + height * (steps - 1 - i) / steps, 8, height / steps + 0.5,
                   FeatureValueColour((i + 0.5) / steps));
  }
  return svg + SvgText(x + 12, y + 8, "high", "start", "tick") +
         SvgText(x + 12, y + height, "low", "start", "tick") +
         SvgText(x + 4, y + height + 14, "feature value", "middle", "tick");
}

}  // namespace

std::vector<std::size_t> EvenSample(std::size_t n, std::size_t limit) {
  std::vector<std::size_t> sample;
  const std::size_t count = std::min(n, limit);
  for (std::size_t i = 0; i < count; ++i) sample.push_back(i * n / count);
  return sample;
}

std::string BeeswarmChart(const std::vector<SwarmFeature>& features, const std::string& title) {
  double lo = 0, hi = 0;
  for (const SwarmFeature& f : features) {
    for (double v : f.phi) {
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  const double pad = (hi - lo) * 0.04 + 1e-12, label_width = 160, plot_width = 480, row = 26;
  const Scale x{lo - pad, hi + pad, label_width, label_width + plot_width};
  const double axis_y = std::max(features.size() * row + 4, 84.0);
  std::string svg = SvgOpen(label_width + plot_width + 90, axis_y + kAxisHeight + 16, title);
  svg += SvgLine(x(0), 0, x(0), axis_y, "zero");
  for (std::size_t i = 0; i < features.size(); ++i) {
    const SwarmFeature& f = features[i];
    const double centre = i * row + row / 2;
    svg += SvgText(label_width - 8, centre + 4, ShortLabel(f.name), "end");
    const auto [colour_lo, colour_hi] = ColourRange(f.value);
    std::map<long, int> pile;  // dots per 3-pixel bucket, to pile crowded dots up and down
    for (std::size_t r = 0; r < f.phi.size(); ++r) {
      if (!std::isfinite(f.phi[r])) continue;
      const double cx = x(f.phi[r]);
      const int n = pile[std::lround(cx / 3)]++;
      const double offset = std::min(((n + 1) / 2) * 2.2, row / 2 - 3) * (n % 2 ? -1 : 1);
      const std::optional<double> value = r < f.value.size() ? f.value[r] : std::nullopt;
      const std::string colour =
          value ? FeatureValueColour(colour_hi > colour_lo ? (*value - colour_lo) / (colour_hi - colour_lo)
                                                           : 0.5)
                : std::string("#999999");
      const std::string text = r < f.value_text.size() ? f.value_text[r] : "";
      svg += "<circle cx=\"" + Px(cx) + "\" cy=\"" + Px(centre + offset) + "\" r=\"2.6\" fill=\"" + colour +
             "\"><title>" + HtmlEscape(f.name + " = " + text + ": " + SignedNum(f.phi[r])) +
             "</title></circle>";
    }
  }
  svg += SvgAxis(x, axis_y);
  svg += SvgText((x.pixel_lo + x.pixel_hi) / 2, axis_y + kAxisHeight + 12,
                 "attribution (impact on the output)", "middle", "tick");
  svg += SwarmLegend(label_width + plot_width + 30, 4, std::clamp(axis_y - 20, 60.0, 120.0));
  return svg + "</svg>\n";
}

std::string TokenHighlights(const std::vector<std::string>& tokens, const std::vector<double>& weights,
                            const std::string& row_label, bool signed_weights) {
  double largest = 0;
  for (double w : weights) {
    if (std::isfinite(w)) largest = std::max(largest, std::fabs(w));
  }
  std::string html = "<p class=\"tokens\">";
  if (!row_label.empty()) html += "<span class=\"row-label\">" + HtmlEscape(row_label) + "</span> ";
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    const double w = t < weights.size() && std::isfinite(weights[t]) ? weights[t] : 0.0;
    const double scaled = largest > 0 ? w / largest : 0.0;
    const std::string style =
        signed_weights
            ? "background:" + DivergingColour(scaled) + (std::fabs(scaled) > 0.6 ? ";color:#fff" : "")
            : "background:" + HeatColour(scaled) + (scaled > 0.55 ? ";color:#fff" : "");
    html += "<span style=\"" + style + "\" title=\"" + HtmlEscape(tokens[t] + ": " + Num(w, 4)) + "\">" +
            HtmlEscape(tokens[t]) + "</span> ";
  }
  return html + "</p>\n";
}

std::string Heatmap(const std::vector<std::string>& tokens, const std::vector<std::vector<double>>& weights,
                    const std::string& title) {
  const std::size_t n = tokens.size();
  const double cell = std::clamp(420.0 / std::max<std::size_t>(n, 1), 6.0, 40.0), margin = 90;
  double largest = 0;
  for (const auto& row : weights) {
    for (double w : row) {
      if (std::isfinite(w)) largest = std::max(largest, w);
    }
  }
  std::string svg = SvgOpen(margin + cell * n + 10, margin + cell * n + 10, title);
  for (std::size_t i = 0; i < n; ++i) {
    const double position = margin + cell * i + cell / 2 + 4;
    svg += SvgText(margin - 4, position, ShortLabel(tokens[i]), "end", "tick");
    svg += "<text x=\"" + Px(position) + "\" y=\"" + Px(margin - 4) +
           "\" class=\"tick\" transform=\"rotate(-60 " + Px(position) + " " + Px(margin - 4) + ")\">" +
           HtmlEscape(ShortLabel(tokens[i])) + "</text>";
  }
  for (std::size_t q = 0; q < n && q < weights.size(); ++q) {
    for (std::size_t k = 0; k < n && k < weights[q].size(); ++k) {
      const double w = weights[q][k];
      const double t = largest > 0 && std::isfinite(w) ? w / largest : 0.0;
      svg += SvgRect(margin + cell * k, margin + cell * q, cell, cell, HeatColour(t),
                     tokens[q] + " → " + tokens[k] + ": " + Num(w, 4));
      if (cell >= 30) {
        svg += SvgText(margin + cell * (k + 0.5), margin + cell * q + cell / 2 + 4, Num(w, 2), "middle",
                       t > 0.55 ? "cell light" : "cell");
      }
    }
  }
  return svg + "</svg>\n";
}

}  // namespace loupe::report
