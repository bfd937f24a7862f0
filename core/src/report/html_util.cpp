#include "report/html_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace loupe::report {

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

std::string Num(double value, int significant) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "∞" : "−∞";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*g", significant, value);
  return buffer;
}

std::string Num(const std::optional<double>& value, int significant) {
  return value ? Num(*value, significant) : "–";
}

std::string Px(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.1f", std::isfinite(value) ? value : 0.0);
  return buffer;
}

std::string Percent(double fraction) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.1f%%", 100.0 * fraction);
  return buffer;
}

std::optional<double> NumberOf(const nlohmann::json& value) {
  if (!value.is_number()) return std::nullopt;
  return value.get<double>();
}

const nlohmann::json* Member(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

const nlohmann::json* ArrayMember(const nlohmann::json& object, const char* key) {
  const nlohmann::json* member = Member(object, key);
  return member != nullptr && member->is_array() ? member : nullptr;
}

std::optional<double> NumberMember(const nlohmann::json& object, const char* key) {
  const nlohmann::json* member = Member(object, key);
  return member != nullptr ? NumberOf(*member) : std::nullopt;
}

std::string TextMember(const nlohmann::json& object, const char* key, const std::string& fallback) {
  const nlohmann::json* member = Member(object, key);
  if (member == nullptr || member->is_null()) return fallback;
  return DisplayText(*member);
}

std::string DisplayText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "NA";
  if (value.is_number_float()) return Num(value.get<double>(), 6);
  return value.dump();
}

double Scale::operator()(double value) const {
  const double span = domain_hi - domain_lo;
  if (span == 0 || !std::isfinite(span)) return (pixel_lo + pixel_hi) / 2;
  return pixel_lo + (value - domain_lo) / span * (pixel_hi - pixel_lo);
}

std::vector<double> NiceTicks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) return {lo};
  const double raw_step = (hi - lo) / std::max(target, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw_step)));
  double step = magnitude;  // the 1, 2, 5 or 10 times magnitude nearest to raw_step (in ratio)
  for (double factor : {2.0, 5.0, 10.0}) {
    if (std::fabs(std::log(factor * magnitude / raw_step)) < std::fabs(std::log(step / raw_step))) {
      step = factor * magnitude;
    }
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string SvgOpen(double width, double height, const std::string& label) {
  return "<svg width=\"" + Px(width) + "\" height=\"" + Px(height) + "\" viewBox=\"0 0 " + Px(width) + " " +
         Px(height) + "\" role=\"img\" aria-label=\"" + HtmlEscape(label) + "\">";
}

std::string SvgText(double x, double y, const std::string& text, const char* anchor,
                    const std::string& css_class) {
  std::string out = "<text x=\"" + Px(x) + "\" y=\"" + Px(y) + "\"";
  if (std::string(anchor) != "start") out += std::string(" text-anchor=\"") + anchor + "\"";
  if (!css_class.empty()) out += " class=\"" + css_class + "\"";
  return out + ">" + HtmlEscape(text) + "</text>";
}

std::string SvgRect(double x, double y, double width, double height, const std::string& fill,
                    const std::string& title) {
  std::string out = "<rect x=\"" + Px(x) + "\" y=\"" + Px(y) + "\" width=\"" + Px(std::max(width, 0.0)) +
                    "\" height=\"" + Px(std::max(height, 0.0)) + "\" fill=\"" + fill + "\"";
  if (title.empty()) return out + "/>";
  return out + "><title>" + HtmlEscape(title) + "</title></rect>";
}

std::string SvgLine(double x1, double y1, double x2, double y2, const std::string& css_class) {
  return "<line x1=\"" + Px(x1) + "\" y1=\"" + Px(y1) + "\" x2=\"" + Px(x2) + "\" y2=\"" + Px(y2) +
         "\" class=\"" + css_class + "\"/>";
}

std::string SvgAxis(const Scale& x, double y, int ticks) {
  std::string out = SvgLine(x.pixel_lo, y, x.pixel_hi, y);
  for (double tick : NiceTicks(x.domain_lo, x.domain_hi, ticks)) {
    const double px = x(tick);
    out += SvgLine(px, y, px, y + 4) + SvgText(px, y + 16, Num(tick, 3), "middle", "tick");
  }
  return out;
}

namespace {

struct Rgb {
  double r, g, b;
};

std::string Mix(Rgb from, Rgb to, double t) {
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0);
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", static_cast<int>(from.r + (to.r - from.r) * t + 0.5),
                static_cast<int>(from.g + (to.g - from.g) * t + 0.5),
                static_cast<int>(from.b + (to.b - from.b) * t + 0.5));
  return buffer;
}

constexpr Rgb kBlue{0, 139, 251}, kPurple{125, 70, 200}, kRed{255, 0, 81}, kWhite{255, 255, 255},
    kHeat{8, 69, 148};

}  // namespace

std::string FeatureValueColour(double t) {
  return t < 0.5 ? Mix(kBlue, kPurple, t * 2) : Mix(kPurple, kRed, (t - 0.5) * 2);
}

std::string HeatColour(double t) { return Mix(kWhite, kHeat, t); }

std::string DivergingColour(double t) { return t < 0 ? Mix(kWhite, kBlue, -t) : Mix(kWhite, kRed, t); }

std::string SwitchSelect(const std::string& group, const std::string& label,
                         const std::vector<std::pair<std::string, std::string>>& options) {
  std::string out =
      "<label class=\"switch\">" + HtmlEscape(label) + " <select data-switch=\"" + HtmlEscape(group) + "\">";
  for (const auto& [key, text] : options) {
    out += "<option value=\"" + HtmlEscape(key) + "\">" + HtmlEscape(text) + "</option>";
  }
  return out + "</select></label>\n";
}

std::string PanelOpen(const std::string& group, const std::string& key, bool first) {
  return "<div class=\"panel\" data-group=\"" + HtmlEscape(group) + "\" data-key=\"" + HtmlEscape(key) +
         "\"" + (first ? "" : " hidden") + ">";
}

}  // namespace loupe::report
