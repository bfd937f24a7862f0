// The credit fixture of make_fixtures.py as a mock dataset and the logistic-regression model it wraps for
// scikit-learn, evaluated here from the same weights (fixtures.json).
#pragma once

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/testing/conformance.hpp"

extern "C" const LoupePluginEntryFn loupe_plugin_entry_v1;

namespace effects_test {

inline const nlohmann::json& Fixtures() {
  static const nlohmann::json fixtures = [] {
    std::ifstream in(std::string(LOUPE_EFFECTS_FIXTURES) + "/fixtures.json");
    EXPECT_TRUE(in.good()) << "missing fixtures/fixtures.json";
    return nlohmann::json::parse(in);
  }();
  return fixtures;
}

inline const LoupeExplainerVTable& Explainer(const std::string& name) {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  return *loupe::testing::FindExplainer(*info, name);
}

// The 400 credit rows, categoricals coded by the model's levels; `target` the Status column.
inline loupe::testing::MockDataset CreditData() {
  const nlohmann::json& f = Fixtures();
  const auto names = f["feature_names"].get<std::vector<std::string>>();
  const auto rows = f["X"].get<std::vector<std::vector<double>>>();
  loupe::testing::MockDataset data;
  for (std::size_t j = 0; j < names.size(); ++j) {
    std::vector<double> column;
    for (const auto& row : rows) column.push_back(row[j]);
    if (f["categorical"][j].get<bool>()) {
      data.features.push_back(loupe::testing::MockColumn::Categorical(
          names[j], f["levels"][j].get<std::vector<std::string>>(), column));
    } else {
      data.features.push_back(loupe::testing::MockColumn::Numeric(names[j], column));
    }
  }
  std::vector<double> status;
  for (const auto& label : f["y"]) status.push_back(label == "bad" ? 0.0 : 1.0);
  data.others.push_back(loupe::testing::MockColumn::Categorical("Status", {"bad", "good"}, status));
  data.target = "Status";
  return data;
}

// The logit of make_fixtures.py's forward pass (standardised numerics, one-hot categoricals).
inline double CreditLogit(const double* x) {
  const nlohmann::json& f = Fixtures();
  static const auto weight = f["model"]["weight"].get<std::vector<double>>();
  static const double bias = f["model"]["bias"].get<double>();
  static const std::size_t width = f["feature_names"].size();
  double z = 0;
  std::size_t w = 0;
  for (std::size_t j = 0; j < width; ++j) {
    if (f["categorical"][j].get<bool>()) {
      const std::size_t n_levels = f["levels"][j].size();
      z += weight[w + static_cast<std::size_t>(x[j])];
      w += n_levels;
    } else {
      z += weight[w++] * (x[j] - f["model"]["mean"][j].get<double>()) / f["model"]["std"][j].get<double>();
    }
  }
  return z + bias;
}

// [P(bad), P(good)] as the wrapper's predict_proba.
inline loupe::testing::MockModel CreditModel() {
  const std::size_t width = Fixtures()["feature_names"].size();
  auto probabilities = [width](const double* x, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) {
      const double p = 1.0 / (1.0 + std::exp(-CreditLogit(x + static_cast<std::size_t>(i) * width)));
      out[2 * i] = 1.0 - p;
      out[2 * i + 1] = p;
    }
  };
  auto logits = [width](const double* x, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = CreditLogit(x + static_cast<std::size_t>(i) * width);
  };
  return loupe::testing::MockModel::Classifier({"bad", "good"}, probabilities, {"logit"}, logits);
}

// The same logit as a regressor (the fixture's r2 case).
inline loupe::testing::MockModel CreditLogitRegressor() {
  const std::size_t width = Fixtures()["feature_names"].size();
  return loupe::testing::MockModel::Regressor(
      {"logit"}, [width](const double* x, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = CreditLogit(x + static_cast<std::size_t>(i) * width);
      });
}

inline std::vector<std::int64_t> AllRows(const loupe::testing::MockDataset& data) {
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < data.rows(); ++i) rows.push_back(i);
  return rows;
}

inline std::vector<double> Flatten(const nlohmann::json& value) {
  std::vector<double> out;
  if (value.is_array()) {
    for (const auto& item : value) {
      const auto inner = Flatten(item);
      out.insert(out.end(), inner.begin(), inner.end());
    }
  } else {
    out.push_back(value.is_null() ? std::nan("") : value.get<double>());
  }
  return out;
}

}  // namespace effects_test
