// lime.tabular: per explained row and output, the weighted conditions of the local ridge model.
#include <cstdint>
#include <map>
#include <stdexcept>

#include "report/charts.hpp"
#include "report/html_util.hpp"
#include "report/renderers.hpp"

namespace loupe::report {
namespace {

constexpr std::size_t kMaxLimeRows = 50;

// body[field][r][o] as a number, or nullopt when any level is missing.
std::optional<double> Cell(const nlohmann::json& body, const char* field, std::size_t r, std::size_t o) {
  const nlohmann::json* matrix = ArrayMember(body, field);
  if (matrix == nullptr || r >= matrix->size() || !(*matrix)[r].is_array() || o >= (*matrix)[r].size()) {
    return std::nullopt;
  }
  return NumberOf((*matrix)[r][o]);
}

std::string Caption(const nlohmann::json& body, std::size_t r, std::size_t o) {
  std::string caption = "model prediction " + Num(Cell(body, "prediction", r, o)) + " · local prediction " +
                        Num(Cell(body, "local_pred", r, o)) + " (intercept " +
                        Num(Cell(body, "base_values", r, o)) + " + the weights of the conditions that hold)";
  if (Member(body, "as_list") != nullptr)
    caption.replace(caption.find("conditions that hold"), 20, "words present");
  caption += " · score (weighted R² of the local model) " + Num(Cell(body, "score", r, o), 3);
  return "<p class=\"muted\">" + HtmlEscape(caption) + "</p>\n";
}

// The weighted conditions of lime.tabular (`conditions`: {condition, weight}) or the weighted words of
// lime.text (`as_list`: {word, weight}), in the order lime lists them.
std::string ConditionChart(const nlohmann::json& conditions, const std::string& output) {
  std::vector<Bar> bars;
  for (const nlohmann::json& c : conditions) {
    const double weight = NumberMember(c, "weight").value_or(0.0);
    const std::string condition = TextMember(c, "condition", TextMember(c, "word", TextMember(c, "feature")));
    bars.push_back(Bar{condition, weight, "", std::nullopt, condition + ": weight " + Num(weight, 6)});
  }
  return HorizontalBarChart(bars, {"LIME weights for output " + output});
}

// lime.text: the row's words in text order (from `words[r]` = {word, positions}), each coloured by its
// weight in `as_list` (0 when the local model did not select it).
std::string ColouredText(const nlohmann::json& body, std::size_t r, const nlohmann::json& as_list) {
  const nlohmann::json* words = ArrayMember(body, "words");
  if (words == nullptr || r >= words->size() || !(*words)[r].is_array()) return "";
  std::map<std::string, double> weight_of;
  for (const nlohmann::json& entry : as_list)
    weight_of[TextMember(entry, "word")] = NumberMember(entry, "weight").value_or(0);
  std::map<std::int64_t, std::string> by_position;
  for (const nlohmann::json& word : (*words)[r]) {
    if (const nlohmann::json* positions = ArrayMember(word, "positions")) {
      for (const auto& p : *positions) {
        if (p.is_number_integer()) by_position[p.get<std::int64_t>()] = TextMember(word, "word");
      }
    }
  }
  std::vector<std::string> tokens;
  std::vector<double> weights;
  for (const auto& [position, word] : by_position) {
    tokens.push_back(word);
    weights.push_back(weight_of.count(word) ? weight_of[word] : 0.0);
  }
  return tokens.empty() ? "" : TokenHighlights(tokens, weights);
}

std::string RowPanel(const nlohmann::json& body, const char* field, const std::vector<std::string>& outputs,
                     std::size_t r) {
  std::string html;
  const nlohmann::json& per_output = body[field][r];
  for (std::size_t o = 0; o < outputs.size() && per_output.is_array() && o < per_output.size(); ++o) {
    const nlohmann::json& conditions = per_output[o];
    if (!conditions.is_array() || conditions.empty()) continue;
    html += "<h4>Output " + HtmlEscape(outputs[o]) + "</h4>\n" + Caption(body, r, o) +
            ColouredText(body, r, conditions) + ConditionChart(conditions, outputs[o]);
  }
  return html.empty() ? "<p class=\"muted\">No conditions for this row.</p>\n" : html;
}

}  // namespace

void RenderLime(const Explanation& e, const std::string& id, std::string& html) {
  const JsonBody json_body(e);
  const nlohmann::json& body = json_body.get();
  const char* field = ArrayMember(body, "conditions") != nullptr ? "conditions" : "as_list";
  const nlohmann::json* conditions = ArrayMember(body, field);
  if (conditions == nullptr)
    throw std::invalid_argument("a LIME result needs a 'conditions' or 'as_list' array");
  std::vector<std::string> outputs;
  if (const nlohmann::json* names = ArrayMember(body, "output_names")) {
    for (const auto& name : *names) outputs.push_back(DisplayText(name));
  }
  const nlohmann::json* rows = ArrayMember(body, "rows");
  const std::size_t count = std::min(conditions->size(), kMaxLimeRows);
  html += std::string("<p>The local linear model LIME fitted around each row: a bar per ") +
          (field == std::string("as_list") ? "word" : "condition") +
          ", its weight in the model's output (red raises it, blue lowers it).</p>\n";
  std::vector<std::pair<std::string, std::string>> options;
  for (std::size_t r = 0; r < count; ++r) {
    const std::string label =
        rows != nullptr && r < rows->size() ? DisplayText((*rows)[r]) : std::to_string(r);
    options.push_back({std::to_string(r), "row " + label});
  }
  const std::string group = id + "-row";
  html += SwitchSelect(group, "data row", options);
  for (std::size_t r = 0; r < count; ++r) {
    html += PanelOpen(group, std::to_string(r), r == 0) + RowPanel(body, field, outputs, r) + "</div>\n";
  }
  if (count < conditions->size()) {
    html += "<p class=\"muted\">The first " + std::to_string(count) + " of " +
            std::to_string(conditions->size()) + " rows; every row is in the step's JSON.</p>\n";
  }
}

}  // namespace loupe::report
