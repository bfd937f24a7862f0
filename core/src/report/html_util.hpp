// Small building blocks of the HTML report: escaping, number formatting, tolerant JSON reading, SVG
// primitives, linear scales and colour ramps. Everything returns or appends plain strings; there is no
// template engine.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace loupe::report {

// Escapes text for HTML element content and attribute values.
std::string HtmlEscape(const std::string& text);

// A number for people: `%.4g` by default; "–" for a missing value.
std::string Num(double value, int significant = 4);
std::string Num(const std::optional<double>& value, int significant = 4);
// A coordinate for SVG attributes (one decimal).
std::string Px(double value);
// A fraction as a percentage ("12.3%").
std::string Percent(double fraction);

// ---- tolerant JSON reading: explanations come from plugins and may miss optional fields ----

// The number in `value`, or nullopt for null, a string or anything else.
std::optional<double> NumberOf(const nlohmann::json& value);
// The member `key` of an object, or nullptr when `object` is not an object or has no such member.
const nlohmann::json* Member(const nlohmann::json& object, const char* key);
// The member `key` when it is an array, else nullptr.
const nlohmann::json* ArrayMember(const nlohmann::json& object, const char* key);
// A number member, or nullopt.
std::optional<double> NumberMember(const nlohmann::json& object, const char* key);
// A string member (numbers and booleans are printed), or `fallback`.
std::string TextMember(const nlohmann::json& object, const char* key, const std::string& fallback = "");
// Any JSON value as display text: strings as they are, null as "NA", others dumped.
std::string DisplayText(const nlohmann::json& value);

// ---- SVG ----

// Maps [domain_lo, domain_hi] linearly onto [pixel_lo, pixel_hi].
struct Scale {
  double domain_lo = 0, domain_hi = 1, pixel_lo = 0, pixel_hi = 1;
  double operator()(double value) const;
};

// About `target` round tick values covering [lo, hi] (1, 2, 5 × 10^k steps).
std::vector<double> NiceTicks(double lo, double hi, int target = 5);

std::string SvgOpen(double width, double height, const std::string& label);
std::string SvgText(double x, double y, const std::string& text, const char* anchor = "start",
                    const std::string& css_class = "");
// A rectangle with a tooltip (`title`, escaped here) when non-empty.
std::string SvgRect(double x, double y, double width, double height, const std::string& fill,
                    const std::string& title = "");
std::string SvgLine(double x1, double y1, double x2, double y2, const std::string& css_class = "axis");
// A horizontal axis at `y` with ticks and labels under it.
std::string SvgAxis(const Scale& x, double y, int ticks = 5);

// Colours: attribution sign (shap's red for "pushes the output up", blue for "down").
inline constexpr const char* kPositiveColour = "#ff0051";
inline constexpr const char* kNegativeColour = "#008bfb";
inline constexpr const char* kNeutralColour = "#1e6fd9";
// shap's feature-value ramp from blue (t = 0, low) to red (t = 1, high).
std::string FeatureValueColour(double t);
// White (0) to a strong colour (1) for heatmaps of weights in [0, 1].
std::string HeatColour(double t);
// Diverging: blue (-1) through white (0) to red (+1).
std::string DivergingColour(double t);

// ---- interactive switches (the report's only script shows one panel of a group at a time) ----

// A <select> that shows the panel of `group` whose key is chosen; `options` are (key, label) pairs.
std::string SwitchSelect(const std::string& group, const std::string& label,
                         const std::vector<std::pair<std::string, std::string>>& options);
// Opens a panel of a switch group; all but the first are hidden until chosen.
std::string PanelOpen(const std::string& group, const std::string& key, bool first);

}  // namespace loupe::report
