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
  std::vector<std::string> feature_names;  // F
  std::vector<std::string> output_names;   // O
  std::vector<std::int64_t> rows;          // R data row indices
  std::vector<double> base_values;         // [R][O] row-major
  std::vector<double> values;              // [R][O][F] row-major
  TextRows data;                           // [R][F] the feature values as text (FormatValue)

  std::size_t R() const { return rows.size(); }
  std::size_t O() const { return output_names.size(); }
  std::size_t F() const { return feature_names.size(); }

  // Where to write `values` ([R][O][F]) so that they live in the host from the start: a large result
  // then never holds them twice. Set feature_names, output_names and rows first; `values` stays empty and
  // Write leaves the host's copy alone. (Built for ABI minor < 2, this sizes `values` and returns it.)
  double* ValuesInHost(const ResultBuilder& result) {
#if LOUPE_PLUGIN_ABI_MINOR >= 2
    values.clear();
    has_values_in_host_ = true;
    return result.NewTensor("values", {Extent(R()), Extent(O()), Extent(F())});
#else
    (void)result;
    values.assign(R() * O() * F(), 0.0);
    return values.data();
#endif
  }

  // Sends `block`, the next rows of `data`, to the host now instead of holding them until Write: a large
  // result then never holds its text twice (here and in the host). Blocks come in row order and every
  // row of `data` is sent either so or by Write; call from one thread.
  void SendDataRows(const ResultBuilder& result, const TextRows& block) {
    if (block.empty()) return;
    CheckSize("data[row]", block.Width(), F());
#if LOUPE_PLUGIN_ABI_MINOR >= 2
    if (data_rows_sent_ == 0) {
      result.SetTextArray("data", block, F());
    } else {
      result.AppendTextRows("data", block);
    }
    data_rows_sent_ += block.size();
#else
    for (std::size_t r = 0; r < block.size(); ++r) {  // no streaming before ABI v1.2: kept for Write
      std::vector<std::string> row;
      for (std::size_t c = 0; c < block.Width(); ++c) row.emplace_back(block.At(r, c));
      data.push_back(row);
    }
#endif
  }

  // Checks that the sizes agree and writes feature_names, output_names, rows, base_values, values, data.
  void Write(const ResultBuilder& result) const& {
    CheckSizes();
    WriteSmallFields(result);
    WriteData(result);
    if (!has_values_in_host_)
      result.SetTensor("values", {Extent(R()), Extent(O()), Extent(F())}, values.data());
    result.SetTensor("base_values", {Extent(R()), Extent(O())}, base_values.data());
  }
  // The same, freeing each large field as soon as the host holds its copy (the host copies what it is
  // given): `std::move(attribution).Write(result)` keeps the peak of a large result near one copy.
  void Write(const ResultBuilder& result) && {
    CheckSizes();
    WriteSmallFields(result);
    WriteData(result);
    data = TextRows();
    if (!has_values_in_host_)
      result.SetTensor("values", {Extent(R()), Extent(O()), Extent(F())}, values.data());
    std::vector<double>().swap(values);
    result.SetTensor("base_values", {Extent(R()), Extent(O())}, base_values.data());
    std::vector<double>().swap(base_values);
  }

 private:
  void CheckSizes() const {
    CheckSize("base_values", base_values.size(), R() * O());
    if (!has_values_in_host_) CheckSize("values", values.size(), R() * O() * F());
    CheckSize("data", data_rows_sent_ + data.size(), R());
    if (!data.empty()) CheckSize("data[row]", data.Width(), F());
  }
  // The rows of `data` SendDataRows has not sent.
  void WriteData(const ResultBuilder& result) const {
#if LOUPE_PLUGIN_ABI_MINOR >= 2
    if (data_rows_sent_ > 0) {
      if (!data.empty()) result.AppendTextRows("data", data);
      return;
    }
#endif
    result.SetTextArray("data", data, F());
  }
  void WriteSmallFields(const ResultBuilder& result) const {
    result.SetStrings("feature_names", feature_names);
    result.SetStrings("output_names", output_names);
    result.SetTensor("rows", {Extent(R())}, rows.data());  // typed: a million rows as JSON cost ~50 MB
  }
  static std::int64_t Extent(std::size_t n) { return static_cast<std::int64_t>(n); }
  std::size_t data_rows_sent_ = 0;
  bool has_values_in_host_ = false;  // ValuesInHost made `values` in the host

  static void CheckSize(const char* field, std::size_t found, std::size_t expected) {
    if (found != expected) {
      throw Internal(std::string("feature_attribution field '") + field + "' must hold " +
                     std::to_string(expected) + " entries, found " + std::to_string(found));
    }
  }
};

}  // namespace loupe::sdk
