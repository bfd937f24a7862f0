#include "tree_text.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <sstream>

#include "loupe/sdk/attribution.hpp"

namespace loupe::surrogate {
namespace {

using loupe::sdk::FormatNumber;

// What the path to a node says about one feature.
struct Constraint {
  double low = -std::numeric_limits<double>::infinity();  // x > low
  double high = std::numeric_limits<double>::infinity();  // x <= high
  std::vector<std::uint8_t> allowed;                      // categorical: levels still possible
  enum class Missing { kUnsaid, kAllowed, kExcluded, kOnly } missing = Missing::kUnsaid;
};

// Up to four significant digits, trailing zeros dropped: 0.7341 -> "0.7341", 120 -> "120".
std::string Short(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.4g", value);
  return buffer;
}

std::string LevelSet(const loupe::sdk::FeatureInfo& feature, const std::vector<std::uint8_t>& allowed) {
  std::vector<std::string> names;
  for (std::size_t code = 0; code < allowed.size(); ++code) {
    if (allowed[code])
      names.push_back(code < feature.levels.size() ? feature.levels[code] : FormatNumber(code));
  }
  if (names.size() == 1) return feature.name + " = " + names[0];
  std::string text = feature.name + " in {";
  for (std::size_t i = 0; i < names.size(); ++i) text += (i ? ", " : "") + names[i];
  return text + "}";
}

std::string Describe(const loupe::sdk::FeatureInfo& feature, const Constraint& c) {
  const std::string& name = feature.name;
  if (c.missing == Constraint::Missing::kOnly) return name + " is missing";
  std::string text;
  if (feature.IsCategorical()) {
    if (!c.allowed.empty()) text = LevelSet(feature, c.allowed);
  } else {
    const bool has_low = std::isfinite(c.low), has_high = std::isfinite(c.high);
    if (has_low && has_high) {
      text = FormatNumber(c.low) + " < " + name + " <= " + FormatNumber(c.high);
    } else if (has_low) {
      text = name + " > " + FormatNumber(c.low);
    } else if (has_high) {
      text = name + " <= " + FormatNumber(c.high);
    }
  }
  if (text.empty()) return c.missing == Constraint::Missing::kExcluded ? name + " is not missing" : "";
  if (c.missing == Constraint::Missing::kAllowed) return "(" + text + " or " + name + " is missing)";
  return text;
}

}  // namespace

std::string Conditions(const Tree& tree, std::int64_t id, const TreeVocabulary& words) {
  std::vector<std::int64_t> path;
  for (std::int64_t at = id; at >= 0; at = tree.nodes[static_cast<std::size_t>(at)].parent)
    path.push_back(at);
  std::reverse(path.begin(), path.end());
  std::vector<std::int32_t> order;
  std::map<std::int32_t, Constraint> constraints;
  for (std::size_t step = 0; step + 1 < path.size(); ++step) {
    const Node& node = tree.nodes[static_cast<std::size_t>(path[step])];
    const bool left = path[step + 1] == node.left;
    const auto& feature = words.features[static_cast<std::size_t>(node.feature)];
    auto [it, fresh] = constraints.try_emplace(node.feature);
    if (fresh) order.push_back(node.feature);
    Constraint& c = it->second;
    switch (node.kind) {
      case SplitKind::kNumeric:
        if (left) {
          c.high = std::min(c.high, node.threshold);
        } else {
          c.low = std::max(c.low, node.threshold);
        }
        break;
      case SplitKind::kCategorical:
        if (c.allowed.empty()) c.allowed.assign(std::max(feature.levels.size(), node.left_levels.size()), 1);
        for (std::size_t code = 0; code < c.allowed.size(); ++code) {
          const bool goes_left = code < node.left_levels.size() && node.left_levels[code];
          if (goes_left != left) c.allowed[code] = 0;
        }
        break;
      case SplitKind::kMissing:
        break;
    }
    if (node.kind == SplitKind::kMissing) {
      c.missing = left ? Constraint::Missing::kExcluded : Constraint::Missing::kOnly;
    } else if (node.saw_missing && c.missing != Constraint::Missing::kOnly) {
      const bool missing_here = node.missing_left == left;
      if (!missing_here) {
        c.missing = Constraint::Missing::kExcluded;
      } else if (c.missing != Constraint::Missing::kExcluded) {
        c.missing = Constraint::Missing::kAllowed;
      }
    }
  }
  std::string text;
  for (const std::int32_t f : order) {
    const std::string part = Describe(words.features[static_cast<std::size_t>(f)], constraints[f]);
    if (part.empty()) continue;
    text += (text.empty() ? "" : " AND ") + part;
  }
  return text.empty() ? "all rows" : text;
}

std::string Outcome(const Tree& tree, std::int64_t id, const TreeVocabulary& words) {
  const Node& node = tree.nodes[static_cast<std::size_t>(id)];
  const std::string rows = std::to_string(node.samples) + (node.samples == 1 ? " row" : " rows");
  if (tree.n_classes == 0) return Short(node.value[0]) + " (" + rows + ")";
  const auto k = static_cast<std::size_t>(tree.Prediction(id));
  const double share = node.weighted_samples > 0 ? node.value[k] / node.weighted_samples : 0.0;
  return words.classes[k] + " (" + std::to_string(static_cast<int>(std::lround(100.0 * share))) + "% of " +
         rows + ")";
}

std::string Rule(const Tree& tree, std::int64_t leaf, const TreeVocabulary& words) {
  return Conditions(tree, leaf, words) + " \u2192 " + Outcome(tree, leaf, words);
}

nlohmann::json PredictionJson(const Tree& tree, std::int64_t id, const TreeVocabulary& words) {
  if (tree.n_classes == 0) return tree.nodes[static_cast<std::size_t>(id)].value[0];
  return words.classes[static_cast<std::size_t>(tree.Prediction(id))];
}

nlohmann::json NodesJson(const Tree& tree, const TreeVocabulary& words) {
  nlohmann::json nodes = nlohmann::json::array();
  for (std::size_t i = 0; i < tree.nodes.size(); ++i) {
    const Node& node = tree.nodes[i];
    const auto id = static_cast<std::int64_t>(i);
    nlohmann::json out = {{"id", id},
                          {"depth", node.depth},
                          {"parent", node.parent >= 0 ? nlohmann::json(node.parent) : nlohmann::json()},
                          {"samples", node.samples},
                          {"weighted_samples", node.weighted_samples},
                          {"impurity", node.impurity},
                          {"prediction", PredictionJson(tree, id, words)}};
    if (tree.n_classes == 0) {
      out["value"] = node.value[0];
    } else {
      nlohmann::json fractions = nlohmann::json::array();
      for (const double w : node.value)
        fractions.push_back(node.weighted_samples > 0 ? w / node.weighted_samples : 0.0);
      out["value"] = fractions;
    }
    if (node.IsLeaf()) {
      out["feature"] = nullptr;
      out["children"] = nlohmann::json::array();
      out["rule"] = Rule(tree, id, words);
    } else {
      const auto& feature = words.features[static_cast<std::size_t>(node.feature)];
      out["feature"] = feature.name;
      out["feature_index"] = node.feature;
      out["children"] = {node.left, node.right};
      out["missing"] = node.missing_left ? "left" : "right";
      switch (node.kind) {
        case SplitKind::kNumeric:
          out["split"] = "numeric";
          out["threshold"] = node.threshold;
          break;
        case SplitKind::kCategorical: {
          out["split"] = "categorical";
          nlohmann::json categories = nlohmann::json::array();
          for (std::size_t code = 0; code < node.left_levels.size(); ++code) {
            if (node.left_levels[code]) categories.push_back(feature.levels[code]);
          }
          out["categories"] = categories;
          break;
        }
        case SplitKind::kMissing:
          out["split"] = "missing";
          out["threshold"] = nullptr;
          break;
      }
    }
    nodes.push_back(std::move(out));
  }
  return nodes;
}

std::string Dot(const Tree& tree, const TreeVocabulary& words) {
  auto escape = [](const std::string& text) {
    std::string out;
    for (const char ch : text) {
      if (ch == '"') out += '\\';  // labels carry DOT's own \n escapes, so only quotes are escaped
      out += ch;
    }
    return out;
  };
  std::ostringstream dot;
  dot << "digraph Tree {\n"
      << "node [shape=box, style=\"rounded\", fontname=\"helvetica\"] ;\n"
      << "edge [fontname=\"helvetica\"] ;\n";
  for (std::size_t i = 0; i < tree.nodes.size(); ++i) {
    const Node& node = tree.nodes[i];
    const auto id = static_cast<std::int64_t>(i);
    std::string label;
    if (!node.IsLeaf()) {
      const auto& feature = words.features[static_cast<std::size_t>(node.feature)];
      if (node.kind == SplitKind::kNumeric) {
        label = feature.name + " <= " + FormatNumber(node.threshold);
      } else if (node.kind == SplitKind::kCategorical) {
        label = LevelSet(feature, node.left_levels);
      } else {
        label = feature.name + " is not missing";
      }
      if (node.saw_missing && node.kind != SplitKind::kMissing) {
        label += std::string("\\nmissing \u2192 ") + (node.missing_left ? "True" : "False");
      }
      label += "\\n";
    }
    label += words.criterion + " = " + Short(node.impurity) + "\\nsamples = " + std::to_string(node.samples);
    if (tree.n_classes == 0) {
      label += "\\nvalue = " + Short(node.value[0]);
    } else {
      label += "\\nvalue = [";
      for (std::size_t k = 0; k < node.value.size(); ++k) label += (k ? ", " : "") + Short(node.value[k]);
      label += "]\\nclass = " + words.classes[static_cast<std::size_t>(tree.Prediction(id))];
    }
    dot << id << " [label=\"" << escape(label) << "\"] ;\n";
    if (node.parent >= 0) {
      dot << node.parent << " -> " << id;
      if (node.parent == 0) {
        const bool left = tree.nodes[0].left == id;
        dot << " [labeldistance=2.5, labelangle=" << (left ? "45" : "-45") << ", headlabel=\""
            << (left ? "True" : "False") << "\"]";
      }
      dot << " ;\n";
    }
  }
  dot << "}\n";
  return dot.str();
}

}  // namespace loupe::surrogate
