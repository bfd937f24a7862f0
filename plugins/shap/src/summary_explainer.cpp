#include "summary_explainer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/error.hpp"

namespace loupe::shap {
namespace {

using loupe::sdk::Host;

// The first needed explanation of kind feature_attribution, or a refusal naming what was found.
loupe::sdk::InputExplanation Attribution(const Host& host) {
  std::string found;
  for (std::int64_t i = 0; i < host.InputCount(); ++i) {
    loupe::sdk::InputExplanation input = host.Input(i);
    if (input.kind == loupe::sdk::kFeatureAttribution) return input;
    found += (found.empty() ? "" : ", ") + input.step + " (" + input.kind + ")";
  }
  throw loupe::sdk::InvalidArgument(
      "shap.summary summarises a feature_attribution step named in 'needs', and this step's inputs are " +
      (found.empty() ? std::string("none") : found));
}

// A field of the attribution document, refused with a sentence when missing or of the wrong shape.
const nlohmann::json& Field(const nlohmann::json& doc, const char* name, const std::string& step) {
  if (!doc.contains(name) || !doc[name].is_array()) {
    throw loupe::sdk::InvalidArgument("shap.summary needs the array '" + std::string(name) +
                                      "' in the feature_attribution of step '" + step + "', which has none");
  }
  return doc[name];
}

}  // namespace

SummaryExplainer::SummaryExplainer(const Host&) {}

void SummaryExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const loupe::sdk::InputExplanation input = Attribution(host);
  const nlohmann::json& features = Field(input.json, "feature_names", input.step);
  const nlohmann::json& outputs = Field(input.json, "output_names", input.step);
  const nlohmann::json& rows = Field(input.json, "rows", input.step);
  const nlohmann::json& values = Field(input.json, "values", input.step);
  const nlohmann::json& data = Field(input.json, "data", input.step);
  const std::size_t f = features.size(), o = outputs.size(), r = rows.size();
  bool shaped = values.size() == r && data.size() == r;
  for (std::size_t row = 0; shaped && row < r; ++row) {
    shaped =
        data[row].is_array() && data[row].size() == f && values[row].is_array() && values[row].size() == o;
    for (std::size_t out = 0; shaped && out < o; ++out)
      shaped = values[row][out].is_array() && values[row][out].size() == f;
  }
  if (!shaped) {
    throw loupe::sdk::InvalidArgument("shap.summary found values or data of step '" + input.step +
                                      "' that do not match its rows, outputs and features");
  }

  // phi[O][F][R] in double; importance = mean |phi| over rows.
  std::vector<double> phi(o * f * r);
  std::vector<double> importance(o * f, 0.0);
  for (std::size_t row = 0; row < r; ++row) {
    for (std::size_t out = 0; out < o; ++out) {
      for (std::size_t j = 0; j < f; ++j) {
        const double v = values[row][out][j].get<double>();
        phi[(out * f + j) * r + row] = v;
        importance[out * f + j] += std::fabs(v);
      }
    }
  }
  if (r > 0) {
    for (double& v : importance) v /= static_cast<double>(r);
  }

  nlohmann::json importance_json = nlohmann::json::array(), order_json = nlohmann::json::array();
  for (std::size_t out = 0; out < o; ++out) {
    std::vector<std::size_t> order(f);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return importance[out * f + a] > importance[out * f + b];
    });
    importance_json.push_back(
        std::vector<double>(importance.begin() + static_cast<std::ptrdiff_t>(out * f),
                            importance.begin() + static_cast<std::ptrdiff_t>((out + 1) * f)));
    order_json.push_back(order);
  }
  nlohmann::json per_feature = nlohmann::json::array();
  for (std::size_t j = 0; j < f; ++j) {
    nlohmann::json feature = {{"name", features[j]}};
    nlohmann::json column = nlohmann::json::array(), feature_importance = nlohmann::json::array(),
                   feature_phi = nlohmann::json::array();
    for (std::size_t row = 0; row < r; ++row) column.push_back(data[row][j]);
    for (std::size_t out = 0; out < o; ++out) {
      feature_importance.push_back(importance[out * f + j]);
      const auto begin = phi.begin() + static_cast<std::ptrdiff_t>((out * f + j) * r);
      feature_phi.push_back(std::vector<double>(begin, begin + static_cast<std::ptrdiff_t>(r)));
    }
    feature["importance"] = std::move(feature_importance);
    feature["data"] = std::move(column);
    feature["phi"] = std::move(feature_phi);
    per_feature.push_back(std::move(feature));
  }
  result.SetJson("feature_names", features);
  result.SetJson("output_names", outputs);
  result.SetJson("rows", rows);
  result.SetJson("importance", importance_json);
  result.SetJson("order", order_json);
  result.SetJson("features", per_feature);
  result.SetJson("source_step", input.step);
}

loupe::sdk::ExplainerDef SummaryExplainer::Definition() {
  return loupe::sdk::ExplainerDef::Of<SummaryExplainer>("shap.summary")
      .Summary(
          "Global importance (mean |phi| per feature and output, sorted) and per-feature (value, phi) pairs "
          "for a beeswarm, from a feature_attribution step named in 'needs'.")
      .Kind(kShapSummary)
      .Scope(LOUPE_SCOPE_GLOBAL)
      .Parameters({});
}

}  // namespace loupe::shap
