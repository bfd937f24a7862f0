#include "labels.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "loupe/sdk/error.hpp"

namespace loupe::lime {
namespace {

using loupe::sdk::InvalidArgument;

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

std::int64_t LabelIndex(const nlohmann::json& item, const std::vector<std::string>& names,
                        const std::string& known) {
  if (item.is_number_integer()) {
    const auto index = item.get<std::int64_t>();
    if (index < 0 || index >= static_cast<std::int64_t>(names.size())) {
      throw InvalidArgument("parameter 'labels' holds output index " + std::to_string(index) +
                            " but the model has " + std::to_string(names.size()) + " outputs (" + known +
                            ")");
    }
    return index;
  }
  if (item.is_string()) {
    const auto it = std::find(names.begin(), names.end(), item.get<std::string>());
    if (it == names.end()) {
      throw InvalidArgument("parameter 'labels' holds \"" + item.get<std::string>() +
                            "\", which is not an output of the model (" + known + ")");
    }
    return it - names.begin();
  }
  throw InvalidArgument("parameter 'labels' must list output names or indices, found " +
                        loupe::sdk::DescribeJson(item));
}

std::vector<std::int64_t> FixedLabels(const nlohmann::json& labels, const std::vector<std::string>& names) {
  nlohmann::json given = labels.is_array() ? labels : nlohmann::json::array({labels});
  if (given.empty())
    throw InvalidArgument("parameter 'labels' must name at least one model output, found an empty list");
  std::string known;
  for (const auto& name : names) known += (known.empty() ? "" : ", ") + name;
  std::vector<std::int64_t> fixed;
  for (const auto& item : given) {
    const std::int64_t index = LabelIndex(item, names, known);
    if (std::find(fixed.begin(), fixed.end(), index) != fixed.end()) {
      throw InvalidArgument("parameter 'labels' names output '" + names[static_cast<std::size_t>(index)] +
                            "' twice");
    }
    fixed.push_back(index);
  }
  return fixed;
}

}  // namespace

LabelRequest ResolveLabels(const loupe::sdk::Host& host, const std::vector<std::string>& output_names) {
  const loupe::sdk::Params& params = host.Params();
  const auto n_outputs = static_cast<std::int64_t>(output_names.size());
  LabelRequest request;
  if (params.Has("top_labels")) {
    if (params.Has("labels")) {
      throw InvalidArgument(
          "parameters 'labels' and 'top_labels' are both set; set one of them (top_labels picks each "
          "row's labels by prediction)");
    }
    request.top = params.Get<std::int64_t>("top_labels");
    if (request.top < 1 || request.top > n_outputs) {
      throw InvalidArgument("parameter 'top_labels' must be between 1 and the model's " +
                            std::to_string(n_outputs) + " outputs, found " + std::to_string(request.top));
    }
    return request;
  }
  if (params.Has("labels")) {
    request.fixed = FixedLabels(params.Get<nlohmann::json>("labels"), output_names);
  } else {
    request.fixed.resize(static_cast<std::size_t>(n_outputs));
    std::iota(request.fixed.begin(), request.fixed.end(), 0);
  }
  return request;
}

std::vector<std::int64_t> TopLabels(const double* prediction, std::int64_t n_outputs, std::int64_t k) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n_outputs));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [prediction](std::int64_t a, std::int64_t b) {
    if (prediction[a] != prediction[b]) return prediction[a] > prediction[b];
    return a > b;
  });
  order.resize(static_cast<std::size_t>(std::min(k, n_outputs)));
  return order;
}

std::vector<std::int64_t> RowLabels(const LabelRequest& request, const double* prediction,
                                    std::int64_t n_outputs) {
  return request.top > 0 ? TopLabels(prediction, n_outputs, request.top) : request.fixed;
}

std::vector<std::int64_t> ReportedOutputs(const LabelRequest& request, const std::vector<RowFits>& rows) {
  if (request.top == 0) return request.fixed;
  std::vector<std::int64_t> outputs;
  for (const RowFits& row : rows) {
    for (const LabelFit& fit : row.labels) outputs.push_back(fit.output);
  }
  std::sort(outputs.begin(), outputs.end());
  outputs.erase(std::unique(outputs.begin(), outputs.end()), outputs.end());
  return outputs;
}

const LabelFit* FindFit(const RowFits& row, std::int64_t output) {
  for (const LabelFit& fit : row.labels) {
    if (fit.output == output) return &fit;
  }
  return nullptr;
}

void WriteLabelFields(const loupe::sdk::ResultBuilder& result, const LabelRequest& request,
                      const std::vector<std::string>& names, const std::vector<std::int64_t>& outputs,
                      const std::vector<RowFits>& rows, loupe::sdk::FeatureAttribution* attribution) {
  const std::size_t f = attribution->F();
  std::vector<double> intercept, score, local_pred, prediction;
  attribution->output_names.clear();
  for (const std::int64_t output : outputs)
    attribution->output_names.push_back(names[static_cast<std::size_t>(output)]);
  for (const RowFits& row : rows) {
    for (const std::int64_t output : outputs) {
      const LabelFit* fit = FindFit(row, output);
      for (std::size_t j = 0; j < f; ++j) {
        attribution->values.push_back(fit != nullptr && j < fit->weights.size() ? fit->weights[j] : kMissing);
      }
      intercept.push_back(fit != nullptr ? fit->intercept : kMissing);
      score.push_back(fit != nullptr ? fit->score : kMissing);
      local_pred.push_back(fit != nullptr ? fit->local_pred : kMissing);
      prediction.push_back(row.prediction[static_cast<std::size_t>(output)]);
    }
  }
  attribution->base_values = intercept;
  attribution->Write(result);
  const std::vector<std::int64_t> shape = {static_cast<std::int64_t>(rows.size()),
                                           static_cast<std::int64_t>(outputs.size())};
  result.SetTensor("intercept", shape, intercept.data());
  result.SetTensor("score", shape, score.data());
  result.SetTensor("local_pred", shape, local_pred.data());
  result.SetTensor("prediction", shape, prediction.data());
  if (request.top == 0) return;
  nlohmann::json top = nlohmann::json::array();
  for (const RowFits& row : rows) {
    nlohmann::json labels = nlohmann::json::array();
    for (const LabelFit& fit : row.labels) labels.push_back(names[static_cast<std::size_t>(fit.output)]);
    top.push_back(std::move(labels));
  }
  result.SetJson("top_labels", top);
}

double MinScore(const std::vector<RowFits>& rows) {
  double min_score = 1.0;
  for (const RowFits& row : rows) {
    for (const LabelFit& fit : row.labels) min_score = std::min(min_score, fit.score);
  }
  return min_score;
}

loupe::sdk::Param FeatureSelectionParam(const std::string& unit) {
  return loupe::sdk::Param::Enum("feature_selection",
                                 {"auto", "forward_selection", "highest_weights", "lasso_path", "none"})
      .Default("auto")
      .Doc("How the num_features " + unit + " are chosen; auto: forward_selection up to 6 " + unit +
           ", else highest_weights.");
}

Selection ReadSelection(const loupe::sdk::Host& host) {
  const std::string selection = host.Params().GetOr<std::string>("feature_selection", "auto");
  if (selection == "auto") return Selection::kAuto;
  if (selection == "forward_selection") return Selection::kForward;
  if (selection == "highest_weights") return Selection::kHighestWeights;
  if (selection == "lasso_path") return Selection::kLassoPath;
  if (selection == "none") return Selection::kNone;
  throw InvalidArgument(
      "parameter 'feature_selection' must be auto, forward_selection, highest_weights, lasso_path or none, "
      "found \"" +
      selection + "\"");
}

}  // namespace loupe::lime
