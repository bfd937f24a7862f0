// surrogate.tree (kind surrogate_tree): the tree as a diagram, its fidelity, rules and decision paths.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>

#include "report/charts.hpp"
#include "report/html_util.hpp"
#include "report/renderers.hpp"

namespace loupe::report {
namespace {

constexpr std::size_t kMaxDrawnLeaves = 64;
constexpr std::size_t kMaxPaths = 25;
constexpr double kBoxWidth = 156, kBoxHeight = 58, kSlot = 166, kLevel = 96, kMargin = 10;
constexpr double kPageWidth = 960;  // the report's text column (body max-width 1000px less padding)
const char* const kClassColours[] = {"#1e6fd9", "#e8710a", "#2ca02c", "#9467bd", "#8c564b", "#d62728"};

struct TreeNode {
  const nlohmann::json* json = nullptr;
  std::vector<std::size_t> children;
  double x = 0;
  int depth = 0;
};

// Nodes indexed by id; children must be valid ids.
std::map<std::size_t, TreeNode> ReadNodes(const nlohmann::json& nodes) {
  std::map<std::size_t, TreeNode> tree;
  for (const nlohmann::json& node : nodes) {
    const nlohmann::json* id = Member(node, "id");
    if (id == nullptr || !id->is_number_integer() || id->get<std::int64_t>() < 0) {
      throw std::invalid_argument("a surrogate tree node has no id (a number from 0)");
    }
    TreeNode& entry = tree[id->get<std::size_t>()];
    entry.json = &node;
    if (const nlohmann::json* children = ArrayMember(node, "children")) {
      for (const auto& child : *children) {
        if (!child.is_number_integer() || child.get<std::int64_t>() < 0) {
          throw std::invalid_argument("a surrogate tree node has a child that is not a node id");
        }
        entry.children.push_back(child.get<std::size_t>());
      }
    }
  }
  for (const auto& [id, node] : tree) {
    for (std::size_t child : node.children) {
      if (!tree.count(child) || child == id)
        throw std::invalid_argument("a surrogate tree node has a bad child id");
    }
  }
  return tree;
}

// Leaves get consecutive slots left to right; a split sits above the middle of its children.
void Layout(std::map<std::size_t, TreeNode>& tree, std::size_t id, int depth, double& next_slot) {
  TreeNode& node = tree.at(id);
  node.depth = depth;
  if (depth > 64) throw std::invalid_argument("the surrogate tree is deeper than 64 levels or has a cycle");
  if (node.children.empty()) {
    node.x = next_slot++;
    return;
  }
  double sum = 0;
  for (std::size_t child : node.children) {
    Layout(tree, child, depth + 1, next_slot);
    sum += tree.at(child).x;
  }
  node.x = sum / node.children.size();
}

std::string SplitText(const nlohmann::json& node) {
  const std::string feature = TextMember(node, "feature");
  const std::string split = TextMember(node, "split", "numeric");
  if (split == "missing") return feature + " is not missing";
  if (const nlohmann::json* categories = ArrayMember(node, "categories")) {
    std::string levels;
    for (const auto& level : *categories) levels += (levels.empty() ? "" : ", ") + DisplayText(level);
    return feature + " in {" + levels + "}";
  }
  return feature + " <= " + Num(NumberMember(node, "threshold"), 6);
}

// The predicted class's index and share of a classification node, from its class fractions.
std::pair<std::size_t, double> Majority(const nlohmann::json& value) {
  std::size_t best = 0;
  double share = -1;
  for (std::size_t k = 0; k < value.size(); ++k) {
    const double v = NumberOf(value[k]).value_or(0);
    if (v > share) best = k, share = v;
  }
  return {best, share};
}

struct Colouring {
  double value_lo = 0, value_hi = 1;  // regression trees: the range of leaf values
};

std::string NodeFill(const nlohmann::json& node, const Colouring& colouring) {
  const nlohmann::json* value = Member(node, "value");
  if (value == nullptr) return "#eeeeee";
  if (value->is_array() && !value->empty()) {
    const auto [k, share] = Majority(*value);
    const double floor = 1.0 / value->size();
    const double strength = floor < 1 ? (share - floor) / (1 - floor) : 1;
    const std::string colour = kClassColours[k % std::size(kClassColours)];
    return colour + "\" fill-opacity=\"" + Num(0.12 + 0.6 * std::clamp(strength, 0.0, 1.0), 3);
  }
  const double v = NumberOf(*value).value_or(0);
  const double span = colouring.value_hi - colouring.value_lo;
  return HeatColour(span > 0 ? 0.1 + 0.6 * (v - colouring.value_lo) / span : 0.4);
}

std::string PredictionText(const nlohmann::json& node) {
  const nlohmann::json* value = Member(node, "value");
  const std::string prediction = TextMember(node, "prediction");
  if (value != nullptr && value->is_array() && !value->empty()) {
    return "→ " + prediction + " (" + Percent(Majority(*value).second) + ")";
  }
  return "→ " + (value != nullptr ? Num(NumberOf(*value), 4) : prediction);
}

std::string NodeBox(const TreeNode& node, const Colouring& colouring) {
  const nlohmann::json& json = *node.json;
  const double cx = kMargin + node.x * kSlot + kBoxWidth / 2, top = kMargin + node.depth * kLevel;
  const bool leaf = node.children.empty();
  std::string title = leaf ? TextMember(json, "rule") : SplitText(json);
  title +=
      "\nsamples " + TextMember(json, "samples") + ", impurity " + Num(NumberMember(json, "impurity"), 4);
  if (!leaf) title += "\nmissing values go " + TextMember(json, "missing", "?");
  std::string svg = "<g class=\"node\"><title>" + HtmlEscape(title) + "</title><rect x=\"" +
                    Px(cx - kBoxWidth / 2) + "\" y=\"" + Px(top) + "\" width=\"" + Px(kBoxWidth) +
                    "\" height=\"" + Px(kBoxHeight) + "\" rx=\"5\" fill=\"" + NodeFill(json, colouring) +
                    "\" stroke=\"#666\"/>";
  svg += SvgText(cx, top + 16, leaf ? "leaf " + TextMember(json, "id") : SplitText(json), "middle",
                 leaf ? "muted" : "split");
  svg += SvgText(cx, top + 32, "samples = " + TextMember(json, "samples"), "middle");
  svg += SvgText(cx, top + 48, PredictionText(json), "middle");
  return svg + "</g>";
}

std::string Edges(const std::map<std::size_t, TreeNode>& tree) {
  std::string svg;
  for (const auto& [id, node] : tree) {
    const double x1 = kMargin + node.x * kSlot + kBoxWidth / 2,
                 y1 = kMargin + node.depth * kLevel + kBoxHeight;
    for (std::size_t i = 0; i < node.children.size(); ++i) {
      const TreeNode& child = tree.at(node.children[i]);
      const double x2 = kMargin + child.x * kSlot + kBoxWidth / 2, y2 = kMargin + child.depth * kLevel;
      svg += SvgLine(x1, y1, x2, y2, "edge");
      const char* label = node.children.size() == 2 ? (i == 0 ? "yes" : "no") : "";
      svg +=
          SvgText((x1 + x2) / 2 + (i == 0 ? -8 : 8), (y1 + y2) / 2, label, i == 0 ? "end" : "start", "tick");
    }
  }
  return svg;
}

Colouring LeafRange(const std::map<std::size_t, TreeNode>& tree) {
  Colouring c{INFINITY, -INFINITY};
  for (const auto& [id, node] : tree) {
    const auto v = NumberMember(*node.json, "value");
    if (v) c.value_lo = std::min(c.value_lo, *v), c.value_hi = std::max(c.value_hi, *v);
  }
  return c;
}

// A tree wider than the report's column scrolls sideways inside its box (.tree-scroll); say so, and offer
// to scale it to the column instead (a CSS-only switch, so it works without scripts).
std::string WideTreeControls(double width) {
  if (width <= kPageWidth) return "";
  return "<p class=\"muted tree-hint\">This tree is " + Num(width, 5) +
         " px wide, wider than the page. It opens at its root: scroll sideways inside its box to see the "
         "rest, or <label class=\"fit\"><input type=\"checkbox\" class=\"fit-toggle\"> fit it to the page "
         "width</label>.</p>\n";
}

std::string TreeDiagram(const nlohmann::json& nodes) {
  std::map<std::size_t, TreeNode> tree = ReadNodes(nodes);
  if (tree.empty() || !tree.count(0)) return "<p class=\"muted\">The tree has no root node (id 0).</p>\n";
  double leaves = 0;
  Layout(tree, 0, 0, leaves);
  if (leaves > kMaxDrawnLeaves) {
    return "<p class=\"muted\">The tree has " + Num(leaves, 6) +
           " leaves, too many to draw; its rules are below "
           "and its Graphviz source is the step's <code>dot</code> field.</p>\n";
  }
  int depth = 0;
  for (const auto& [id, node] : tree) depth = std::max(depth, node.depth);
  const Colouring colouring = LeafRange(tree);
  const double width = 2 * kMargin + (leaves - 1) * kSlot + kBoxWidth;
  std::string svg = WideTreeControls(width) + "<div class=\"scroll tree-scroll\">" +
                    SvgOpen(width, 2 * kMargin + depth * kLevel + kBoxHeight, "surrogate decision tree") +
                    Edges(tree);
  for (const auto& [id, node] : tree) {
    if (node.json != nullptr) svg += NodeBox(node, colouring);
  }
  return svg +
         "</svg></div>\n<p class=\"muted\">Left branch (“yes”): the condition holds. Hover a node for its "
         "rule and impurity.</p>\n";
}

std::string FidelityTable(const nlohmann::json& body) {
  std::string html = "<table><tr><th>fidelity to the model</th><th>measure</th><th>value</th></tr>";
  bool any = false;
  for (const char* part : {"train", "holdout"}) {
    const nlohmann::json* figures = Member(*Member(body, "fidelity"), part);
    if (figures == nullptr || !figures->is_object()) continue;
    for (const auto& [measure, value] : figures->items()) {
      if (!value.is_number()) continue;
      any = true;
      html += std::string("<tr><td>") + part + "</td><td>" + HtmlEscape(measure) + "</td><td>" +
              Num(value.get<double>(), 4) + "</td></tr>";
    }
  }
  return any ? html + "</table>\n" : "";
}

std::string Rules(const nlohmann::json& body) {
  const nlohmann::json* rules = ArrayMember(body, "rules");
  if (rules == nullptr || rules->empty()) return "";
  std::string html = "<h4>Rules (one per leaf)</h4>\n<ol class=\"rules\">";
  for (const auto& rule : *rules) html += "<li><code>" + HtmlEscape(DisplayText(rule)) + "</code></li>";
  return html + "</ol>\n";
}

std::string Paths(const nlohmann::json& body) {
  const nlohmann::json* paths = ArrayMember(body, "paths");
  if (paths == nullptr || paths->empty()) return "";
  std::string html =
      "<h4>Decision paths of rows</h4>\n<table><tr><th>row</th><th>rule</th><th>surrogate</th>"
      "<th>model</th><th>agrees</th></tr>";
  for (std::size_t i = 0; i < paths->size() && i < kMaxPaths; ++i) {
    const nlohmann::json& p = (*paths)[i];
    const nlohmann::json* agrees = Member(p, "agrees");
    std::string agreement = "–";
    if (agrees != nullptr && agrees->is_boolean()) {
      agreement = agrees->get<bool>() ? "<span class=\"pass\">yes</span>" : "<span class=\"fail\">no</span>";
    } else if (const auto difference = NumberMember(p, "difference")) {
      agreement = "difference " + Num(*difference, 3);
    }
    html += "<tr><td>" + HtmlEscape(TextMember(p, "row")) + "</td><td><code>" +
            HtmlEscape(TextMember(p, "rule")) + "</code></td><td>" + HtmlEscape(TextMember(p, "surrogate")) +
            "</td><td>" + HtmlEscape(TextMember(p, "model")) + "</td><td>" + agreement + "</td></tr>";
  }
  html += "</table>\n";
  if (paths->size() > kMaxPaths) {
    html += "<p class=\"muted\">The first " + std::to_string(kMaxPaths) + " of " +
            std::to_string(paths->size()) + " rows' paths; every path is in the step's JSON.</p>\n";
  }
  return html;
}

std::string Importances(const nlohmann::json& body) {
  const nlohmann::json* names = ArrayMember(body, "feature_names");
  const nlohmann::json* importances = ArrayMember(body, "feature_importances");
  if (names == nullptr || importances == nullptr || names->size() != importances->size()) return "";
  std::vector<Bar> bars;
  for (std::size_t f = 0; f < names->size(); ++f) {
    const double v = NumberOf((*importances)[f]).value_or(0);
    if (v > 0) bars.push_back(Bar{DisplayText((*names)[f]), v, "", std::nullopt, ""});
  }
  std::stable_sort(bars.begin(), bars.end(), [](const Bar& a, const Bar& b) { return a.value > b.value; });
  if (bars.empty()) return "";
  return "<h4>Features the tree splits on (normalised impurity decrease)</h4>\n" +
         HorizontalBarChart(bars, {"surrogate feature importances"});
}

}  // namespace

void RenderSurrogateTree(const Explanation& e, const std::string&, std::string& html) {
  const JsonBody json_body(e);  // feature_importances is a typed array
  const nlohmann::json& body = json_body.get();
  const nlohmann::json* nodes = ArrayMember(body, "nodes");
  if (nodes == nullptr) throw std::invalid_argument("a surrogate_tree needs a 'nodes' array");
  html += "<p>A decision tree trained to mimic the model's predictions";
  if (const nlohmann::json* criterion = Member(body, "criterion"))
    html += " (" + HtmlEscape(DisplayText(*criterion)) + ")";
  html +=
      ": read its paths as rules the model approximately follows, as far as the fidelity below says.</p>\n";
  if (Member(body, "fidelity") != nullptr) html += FidelityTable(body);
  html += TreeDiagram(*nodes) + Rules(body) + Importances(body) + Paths(body);
}

}  // namespace loupe::report
