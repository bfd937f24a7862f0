// shap.summary (kind shap_summary): importance[O][F], order[O][F], features[F] = {name, importance[O],
// data[R], phi[O][R]}.
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "report/charts.hpp"
#include "report/html_util.hpp"
#include "report/renderers.hpp"

namespace loupe::report {
namespace {

// The order of features for output o: the explanation's `order[o]`, else as listed.
std::vector<std::size_t> FeatureOrder(const nlohmann::json& body, std::size_t o, std::size_t count) {
  std::vector<std::size_t> order;
  const nlohmann::json* orders = ArrayMember(body, "order");
  if (orders != nullptr && o < orders->size() && (*orders)[o].is_array()) {
    for (const auto& index : (*orders)[o]) {
      if (index.is_number_integer() && index.get<std::int64_t>() >= 0 && index.get<std::size_t>() < count) {
        order.push_back(index.get<std::size_t>());
      }
    }
  }
  if (order.size() != count) {
    order.clear();
    for (std::size_t f = 0; f < count; ++f) order.push_back(f);
  }
  return order;
}

double Importance(const nlohmann::json& feature, std::size_t o) {
  const nlohmann::json* importance = ArrayMember(feature, "importance");
  if (importance == nullptr || o >= importance->size()) return std::nan("");
  return NumberOf((*importance)[o]).value_or(std::nan(""));
}

// The beeswarm line of one feature; `rows` (the data row numbers) label the tooltips when given.
SwarmFeature SwarmOf(const nlohmann::json& feature, std::size_t o, const nlohmann::json* rows) {
  SwarmFeature swarm{TextMember(feature, "name"), {}, {}, {}};
  const nlohmann::json* phi = ArrayMember(feature, "phi");
  const nlohmann::json* data = ArrayMember(feature, "data");
  if (phi == nullptr || o >= phi->size() || !(*phi)[o].is_array()) return swarm;
  const nlohmann::json& values = (*phi)[o];
  for (std::size_t r : EvenSample(values.size(), kMaxSwarmRows)) {
    swarm.phi.push_back(NumberOf(values[r]).value_or(std::nan("")));
    const nlohmann::json* value = data != nullptr && r < data->size() ? &(*data)[r] : nullptr;
    swarm.value.push_back(value != nullptr ? NumberOf(*value) : std::nullopt);
    const std::string row =
        rows != nullptr && r < rows->size() ? "row " + DisplayText((*rows)[r]) + ": " : "";
    swarm.value_text.push_back(row + (value != nullptr ? DisplayText(*value) : "NA"));
  }
  return swarm;
}

std::string OutputPanel(const nlohmann::json& body, const nlohmann::json& features,
                        const std::vector<std::size_t>& order, std::size_t o) {
  std::vector<Bar> bars;
  std::vector<SwarmFeature> swarm;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const nlohmann::json& feature = features[order[i]];
    if (i < kMaxBarFeatures)
      bars.push_back(Bar{TextMember(feature, "name"), Importance(feature, o), "", {}, ""});
    if (i < kMaxSwarmFeatures) swarm.push_back(SwarmOf(feature, o, ArrayMember(body, "rows")));
  }
  std::string html = "<h4>Global importance: mean |attribution|</h4>\n" +
                     HorizontalBarChart(bars, {"mean absolute attribution per feature"});
  html += "<h4>Summary (beeswarm): one dot per row and feature</h4>\n" +
          BeeswarmChart(swarm, "attribution of every row, by feature, coloured by the feature's value");
  return html;
}

}  // namespace

void RenderShapSummary(const Explanation& e, const std::string& id, std::string& html) {
  const JsonBody json_body(e);
  const nlohmann::json& body = json_body.get();
  const nlohmann::json* features = ArrayMember(body, "features");
  if (features == nullptr) throw std::invalid_argument("a shap_summary needs a 'features' array");
  std::vector<std::string> outputs;
  if (const nlohmann::json* names = ArrayMember(body, "output_names")) {
    for (const auto& name : *names) outputs.push_back(DisplayText(name));
  }
  if (outputs.empty()) outputs.push_back("0");
  const std::size_t rows = ArrayMember(body, "rows") ? body["rows"].size() : 0;
  html += "<p>Summary of step <code>" + HtmlEscape(TextMember(body, "source_step", "?")) + "</code> over " +
          std::to_string(rows) + " rows" +
          (rows > kMaxSwarmRows
               ? "; the beeswarms show " + std::to_string(kMaxSwarmRows) + " of them, evenly spaced"
               : "") +
          ".</p>\n";
  if (outputs.size() > 1) {
    std::vector<std::pair<std::string, std::string>> options;
    for (std::size_t o = 0; o < outputs.size(); ++o) options.push_back({std::to_string(o), outputs[o]});
    html += SwitchSelect(id + "-out", "model output", options);
  }
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    html += PanelOpen(id + "-out", std::to_string(o), o == 0) + "<h3>Output " + HtmlEscape(outputs[o]) +
            "</h3>\n";
    html += OutputPanel(body, *features, FeatureOrder(body, o, features->size()), o) + "</div>\n";
  }
}

}  // namespace loupe::report
