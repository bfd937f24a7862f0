// Helpers shared by explainers of kind "feature_attribution" (docs/architecture.md §5):
//  - SelectOutput: the common `output` parameter (probability | raw; absent: the model's default space);
//  - FormatNumber / FormatValue: the strings of the `data` field (levels for categoricals, shortest
//    round-trip numbers, "NA" for missing);
//  - FeatureAttribution: the fields of the kind, checked for consistent shapes and written in one call.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/sdk/error.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::sdk {

// The output kind name these helpers produce.
inline constexpr const char* kFeatureAttribution = "feature_attribution";

// Which outputs of the model an explainer explains.
struct OutputSelection {
  LoupeOutputSpace space = LOUPE_OUTPUT_DEFAULT;  // what to pass to Host::Predict
  std::vector<std::string> names;                 // the explained outputs, in model order
};

// Reads the enum parameter `param` ("probability" or "raw"; absent or null: the model's default space,
// probabilities for classifiers and values for regressors). "probability" on a regressor is an
// INVALID_ARGUMENT error naming the parameter.
inline OutputSelection SelectOutput(const Host& host, const std::string& param = "output") {
  const ModelInfo model = host.ModelInfo();
  OutputSelection selection;
  const std::string choice = host.Params().GetOr<std::string>(param, "");
  if (choice.empty()) {
    selection.space = LOUPE_OUTPUT_DEFAULT;
    selection.names = model.output_names;
  } else if (choice == "probability") {
    if (!model.IsClassifier()) {
      throw InvalidArgument("parameter '" + param + "' is \"probability\" but model '" + model.name +
                            "' is a regressor without probabilities; use \"raw\" or leave it unset");
    }
    selection.space = LOUPE_OUTPUT_PROBABILITY;
    selection.names = model.OutputNames(LOUPE_OUTPUT_PROBABILITY);
  } else if (choice == "raw") {
    selection.space = LOUPE_OUTPUT_RAW;
    selection.names = model.OutputNames(LOUPE_OUTPUT_RAW);
  } else {
    throw InvalidArgument("parameter '" + param + "' must be \"probability\" or \"raw\", found \"" + choice +
                          "\"");
  }
  if (selection.names.empty()) {
    throw Unsupported("model '" + model.name + "' has no outputs in the space chosen by parameter '" + param +
                      "'");
  }
  return selection;
}

// The shortest decimal text that reads back as exactly `value` ("0.1", "35", "1e-300"); "NA" for NaN.
inline std::string FormatNumber(double value) {
  if (std::isnan(value)) return "NA";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (result.ec != std::errc()) throw Internal("cannot format the number " + std::to_string(value));
  return std::string(buffer, result.ptr);
}

// A feature value as the `data` field shows it: the level name for a categorical code, the shortest
// round-trip number otherwise, "NA" when missing.
inline std::string FormatValue(const FeatureInfo& feature, double value) {
  if (std::isnan(value)) return "NA";
  if (feature.IsCategorical()) {
    const double code = std::floor(value);
    if (code == value && code >= 0 && code < static_cast<double>(feature.levels.size())) {
      return feature.levels[static_cast<std::size_t>(code)];
    }
    throw Internal("feature '" + feature.name + "' holds " + FormatNumber(value) +
                   ", which is not a level code below " + std::to_string(feature.levels.size()));
  }
  return FormatNumber(value);
}

// The fields of a feature_attribution explanation. Fill every member, then Write().
struct FeatureAttribution {
  std::vector<std::string> feature_names;      // F
  std::vector<std::string> output_names;       // O
  std::vector<std::int64_t> rows;              // R data row indices
  std::vector<double> base_values;             // [R][O] row-major
  std::vector<double> values;                  // [R][O][F] row-major
  std::vector<std::vector<std::string>> data;  // [R][F]

  std::size_t R() const { return rows.size(); }
  std::size_t O() const { return output_names.size(); }
  std::size_t F() const { return feature_names.size(); }

  // Checks that the sizes agree and writes feature_names, output_names, rows, base_values, values, data.
  void Write(const ResultBuilder& result) const {
    CheckSize("base_values", base_values.size(), R() * O());
    CheckSize("values", values.size(), R() * O() * F());
    CheckSize("data", data.size(), R());
    for (const auto& row : data) CheckSize("data[row]", row.size(), F());
    result.SetStrings("feature_names", feature_names);
    result.SetStrings("output_names", output_names);
    result.SetJson("rows", nlohmann::json(rows));
    const auto r = static_cast<std::int64_t>(R());
    const auto o = static_cast<std::int64_t>(O());
    const auto f = static_cast<std::int64_t>(F());
    result.SetTensor("base_values", {r, o}, base_values.data());
    result.SetTensor("values", {r, o, f}, values.data());
    result.SetJsonText("data", DataJson());
  }

  // `data` as the JSON text nlohmann::json(data).dump() gives, without building that tree (one node per
  // cell: gigabytes for a million rows).
  std::string DataJson() const {
    std::string text = "[";
    for (std::size_t r = 0; r < data.size(); ++r) {
      text += r > 0 ? ",[" : "[";
      for (std::size_t f = 0; f < data[r].size(); ++f) {
        if (f > 0) text += ',';
        text += nlohmann::json(data[r][f]).dump();
      }
      text += ']';
    }
    return text + "]";
  }

 private:
  static void CheckSize(const char* field, std::size_t found, std::size_t expected) {
    if (found != expected) {
      throw Internal(std::string("feature_attribution field '") + field + "' must hold " +
                     std::to_string(expected) + " entries, found " + std::to_string(found));
    }
  }
};

}  // namespace loupe::sdk
