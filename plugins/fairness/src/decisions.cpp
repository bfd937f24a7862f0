#include "decisions.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "loupe/sdk/error.hpp"

namespace loupe::fairness {

ClassSetup ResolveClasses(const loupe::sdk::Host& host, const loupe::sdk::DatasetInfo& data) {
  const loupe::sdk::ModelInfo model = host.ModelInfo();
  if (!model.IsClassifier() || model.output_names.size() < 2) {
    throw loupe::sdk::Unsupported(
        "fairness metrics need a classifier with one probability per class, found model '" + model.name +
        "' with " + std::to_string(model.output_names.size()) +
        (model.IsClassifier() ? " output(s)" : " output(s) of a regressor"));
  }
  ClassSetup setup;
  setup.classes = model.output_names;
  std::string wanted;
  std::string source;
  if (host.Params().Has("favorable")) {
    wanted = host.Params().Get<std::string>("favorable");
    source = "parameter 'favorable'";
  } else if (!data.positive_label.empty()) {
    wanted = data.positive_label;
    source = "the pipeline's positive label";
  }
  if (wanted.empty()) {
    setup.favorable = 1;
    return setup;
  }
  const auto it = std::find(setup.classes.begin(), setup.classes.end(), wanted);
  if (it == setup.classes.end()) {
    std::string classes;
    for (const auto& name : setup.classes) classes += (classes.empty() ? "'" : ", '") + name + "'";
    throw loupe::sdk::InvalidArgument(source + " must be one of the model's classes (" + classes +
                                      "), found '" + wanted + "'");
  }
  setup.favorable = static_cast<std::int32_t>(it - setup.classes.begin());
  return setup;
}

std::vector<std::string> SensitiveColumns(const loupe::sdk::Host& host, const loupe::sdk::DatasetInfo& data) {
  std::vector<std::string> columns = host.Params().Has("sensitive")
                                         ? host.Params().Get<std::vector<std::string>>("sensitive")
                                         : data.sensitive;
  if (columns.empty()) {
    throw loupe::sdk::InvalidArgument(
        "parameter 'sensitive' must name at least one column, found none (and the pipeline's data declares "
        "no "
        "sensitive columns)");
  }
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (std::find(columns.begin(), columns.begin() + static_cast<std::ptrdiff_t>(i), columns[i]) !=
        columns.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw loupe::sdk::InvalidArgument("parameter 'sensitive' lists column '" + columns[i] + "' twice");
    }
  }
  return columns;
}

std::vector<double> PredictRows(const loupe::sdk::Host& host, const loupe::sdk::Matrix& x,
                                const std::vector<std::int64_t>& rows, std::int64_t n_outputs) {
  const auto n = static_cast<std::int64_t>(rows.size());
  const std::int64_t d = x.cols();
  std::vector<double> out(static_cast<std::size_t>(n * n_outputs));
  host.ParallelFor(0, n, kPredictBatch, [&](std::int64_t begin, std::int64_t end) {
    host.ThrowIfCancelled();
    std::vector<double> batch(static_cast<std::size_t>((end - begin) * d));
    for (std::int64_t i = begin; i < end; ++i) {
      const double* row = x.Row(rows[static_cast<std::size_t>(i)]);
      std::copy(row, row + d, batch.begin() + (i - begin) * d);
    }
    host.Predict(batch.data(), end - begin, d, LOUPE_OUTPUT_PROBABILITY, out.data() + begin * n_outputs,
                 (end - begin) * n_outputs);
    for (std::int64_t k = begin * n_outputs; k < end * n_outputs; ++k) {
      if (std::isnan(out[static_cast<std::size_t>(k)])) {
        throw loupe::sdk::Error(LOUPE_ERROR_MODEL,
                                "the model returned NaN as a probability for data row " +
                                    std::to_string(rows[static_cast<std::size_t>(k / n_outputs)]));
      }
    }
  });
  return out;
}

std::int32_t Decide(const double* probabilities, const ClassSetup& setup, double threshold) {
  if (setup.binary()) {
    return probabilities[setup.favorable] >= threshold ? setup.favorable : 1 - setup.favorable;
  }
  const auto c = static_cast<std::int64_t>(setup.classes.size());
  return static_cast<std::int32_t>(std::max_element(probabilities, probabilities + c) - probabilities);
}

loupe::sdk::Param FavorableParam() {
  return loupe::sdk::Param::String("favorable")
      .Role(LOUPE_PARAM_ROLE_LABEL)
      .Doc("The favourable class label (default: the pipeline's positive label, else the second class).");
}

loupe::sdk::Param ThresholdParam() {
  return loupe::sdk::Param::Float("threshold")
      .Default(0.5)
      .Min(0)
      .Max(1)
      .Doc("Binary models: a row is favourable when the favourable class's probability is at least this.");
}

void WriteDecisionRule(const loupe::sdk::ResultBuilder& result, const std::vector<std::string>& sensitive,
                       const ClassSetup& setup, double threshold) {
  result.SetStrings("sensitive", sensitive);
  result.SetStrings("classes", setup.classes);
  result.SetString("favorable", setup.classes[static_cast<std::size_t>(setup.favorable)]);
  result.SetString("decision", setup.binary() ? "threshold" : "argmax");
  if (setup.binary()) result.SetNumber("threshold", threshold);
}

}  // namespace loupe::fairness
