// Embedding Loupe in a C++ application: load a model and its data, load the explainer plugins, explain a
// few rows with exact Shapley values and read the explanation — the same calls `loupe run` makes for one
// step, through the public headers of core/include/loupe/core.
//
//   explain_credit DATA.csv MODEL.yaml [ROWS]      e.g. explain_credit credit_data.csv credit_logreg.yaml 3
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>

#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/plugin.hpp"

namespace {

int Fail(const loupe::Status& status) {
  std::fprintf(stderr, "explain_credit: %s\n", status.message().c_str());
  return 1;
}

// An explainer's parameters as a pipeline would pass them: ours, then every default, each value checked
// against the explainer's own spec (type, bounds, choices).
loupe::Result<nlohmann::json> Parameters(const loupe::ExplainerDescriptor& explainer, nlohmann::json params) {
  for (const loupe::ParamSpec& spec : explainer.params) {
    if (!params.contains(spec.name) && spec.default_value) params[spec.name] = *spec.default_value;
    if (params.contains(spec.name)) LOUPE_RETURN_IF_ERROR(loupe::CheckParamValue(spec, params[spec.name]));
  }
  return params;
}

// The model's input columns; categorical ones are read as such from the CSV.
loupe::CsvOptions CsvOptionsFor(const loupe::Model& model, std::vector<std::string>& features) {
  loupe::CsvOptions csv;
  for (const loupe::ModelInput& input : model.Info().inputs) {
    features.push_back(input.name);
    if (input.type == loupe::ColumnType::kCategorical) csv.categorical.push_back(input.name);
  }
  return csv;
}

std::string Text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

void PrintRow(const nlohmann::json& e, std::size_t r, std::size_t output) {
  const nlohmann::json& phi = e["values"][r][output];
  std::vector<std::size_t> order(phi.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::fabs(phi[a].get<double>()) > std::fabs(phi[b].get<double>());
  });
  double sum = e["base_values"][r][output].get<double>();
  for (const auto& v : phi) sum += v.get<double>();
  std::printf("row %lld: P(%s) = %.4f = base %.4f + attributions; largest:\n", e["rows"][r].get<long long>(),
              e["output_names"][output].get<std::string>().c_str(), sum,
              e["base_values"][r][output].get<double>());
  for (std::size_t i = 0; i < 3 && i < order.size(); ++i) {
    std::printf("  %-10s = %-10s %+.4f\n", Text(e["feature_names"][order[i]]).c_str(),
                Text(e["data"][r][order[i]]).c_str(), phi[order[i]].get<double>());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: explain_credit DATA.csv MODEL.yaml [ROWS]\n");
    return 2;
  }
  const int rows = argc > 3 ? std::max(1, std::atoi(argv[3])) : 3;

  // 1. The model and the data it reads (columns by name).
  loupe::Result<std::shared_ptr<const loupe::Model>> model = loupe::LoadModel(argv[2]);
  if (!model.ok()) return Fail(model.status());
  std::vector<std::string> features;
  loupe::Result<loupe::Dataset> data = loupe::ReadCsv(argv[1], CsvOptionsFor(**model, features));
  if (!data.ok()) return Fail(data.status());
  auto feature_model = loupe::FeatureModel::Create(*model, *data, features);
  if (!feature_model.ok()) return Fail(feature_model.status());
  loupe::Result<loupe::Tensor> matrix = data->Matrix(features);
  if (!matrix.ok()) return Fail(matrix.status());

  // 2. The plugins: the built-in folder next to this program (build/lib/loupe/plugins in the build tree),
  //    then LOUPE_PLUGIN_PATH.
  loupe::PluginRegistry plugins;
  for (const auto& dir : loupe::PluginSearchPath({})) {
    for (const loupe::Status& failure : plugins.LoadDirectory(dir)) Fail(failure);
  }
  const loupe::LoadedExplainer* shap = plugins.Find("shap.exact");
  if (shap == nullptr) return Fail(loupe::NotFound("the shap plugin was not found; set LOUPE_PLUGIN_PATH."));

  // 3. One explanation request: which rows, which parameters, which seed.
  loupe::ExplainRequest request;
  request.step_id = "embedded";
  request.dataset = &*data;
  request.feature_names = features;
  request.features = std::make_shared<const loupe::Tensor>(std::move(*matrix));
  request.model = *feature_model;
  request.seed = 42;
  for (int r = 0; r < rows; ++r) request.rows.push_back(r);
  loupe::Result<nlohmann::json> params =
      Parameters(shap->descriptor(), {{"background", 50}, {"output", "probability"}});
  if (!params.ok()) return Fail(params.status());
  request.params = *params;

  // 4. Explain, and read the result: the same JSON document `loupe run` writes to DIR/<step>.json.
  loupe::Result<loupe::Explanation> explanation = shap->Explain(request);
  if (!explanation.ok()) return Fail(explanation.status());
  const nlohmann::json document = explanation->ToJson();
  std::printf("%s (plugin %s %s): %zu rows, %zu features, additivity residual %.3g\n",
              Text(document["explainer"]).c_str(), Text(document["plugin"]["name"]).c_str(),
              Text(document["plugin"]["version"]).c_str(), document["rows"].size(),
              document["feature_names"].size(), document["quality"].value("additivity_residual", NAN));
  for (std::size_t r = 0; r < document["rows"].size(); ++r) PrintRow(document, r, 0);
  return 0;
}
