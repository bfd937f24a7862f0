// Helpers shared by the shap plugin's tests: the plugin's explainers found through its entry, seeded
// normal data, mock regressors and classifiers, one-call runs through the SDK's mock host, and readers of
// the attributions they return.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/sdk/random.hpp"
#include "loupe/testing/conformance.hpp"

extern "C" const LoupePluginEntryFn loupe_plugin_entry_v1;

namespace shap_test_support {

using loupe::testing::MockColumn;
using loupe::testing::MockDataset;
using loupe::testing::MockHost;
using loupe::testing::MockModel;
using loupe::testing::MockRunOptions;
using loupe::testing::MockRunResult;
using RowFn = std::function<double(const double* x)>;

inline const LoupeExplainerVTable& Explainer(const char* name) {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  EXPECT_NE(info, nullptr) << error;
  const LoupeExplainerVTable* explainer = loupe::testing::FindExplainer(*info, name);
  EXPECT_NE(explainer, nullptr) << name;
  return *explainer;
}

inline std::string Indexed(const char* prefix, std::int64_t index) {
  return std::string(prefix).append(std::to_string(index));
}

inline MockDataset NormalData(std::int64_t rows, std::int64_t features, std::uint64_t seed = 1) {
  MockDataset data;
  for (std::int64_t j = 0; j < features; ++j) {
    loupe::sdk::Rng rng(seed, static_cast<std::uint64_t>(j), 0);
    std::vector<double> values;
    for (std::int64_t i = 0; i < rows; ++i) values.push_back(rng.Normal());
    data.features.push_back(MockColumn::Numeric(Indexed("x", j), values));
  }
  return data;
}

inline MockModel Regressor(std::int64_t width, RowFn f) {
  return MockModel::Regressor({"y"}, [width, f](const double* rows, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(rows + i * width);
  });
}

// Two softmax probabilities of a nonlinear score, and the score as the raw output.
inline MockModel NonlinearClassifier(std::int64_t width, RowFn score) {
  return MockModel::Classifier(
      {"no", "yes"},
      [width, score](const double* rows, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) {
          const double p = 1.0 / (1.0 + std::exp(-score(rows + i * width)));
          out[2 * i] = 1.0 - p;
          out[2 * i + 1] = p;
        }
      },
      {"margin"},
      [width, score](const double* rows, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = score(rows + i * width);
      });
}

inline MockRunResult RunShap(const char* explainer, const MockDataset& data, const MockModel& model,
                             nlohmann::json params, std::vector<std::int64_t> rows, int threads = 1,
                             std::uint64_t seed = 7) {
  MockRunOptions options;
  options.params = std::move(params);
  options.rows = std::move(rows);
  options.seed = seed;
  options.threads = threads;
  return MockHost(data, model).Run(Explainer(explainer), options);
}

inline double Phi(const MockRunResult& run, std::size_t row, std::size_t output, std::size_t feature) {
  return run.json["values"][row][output][feature].get<double>();
}

inline double Nonlinear(const double* x) {
  return x[0] * x[1] * x[2] + std::exp(0.3 * x[3]) * x[4] + std::max(x[0], x[4]) + std::sin(x[1] * x[5]);
}

inline double Wide(const double* x) {  // 10 features, interactions of several orders
  return Nonlinear(x) + 0.5 * x[6] * x[7] - std::tanh(x[8] + x[9] * x[2]) + 0.8 * x[9];
}

inline double MaxDifference(const MockRunResult& a, const MockRunResult& b) {
  double worst = 0;
  for (std::size_t r = 0; r < a.json["values"].size(); ++r) {
    for (std::size_t o = 0; o < a.json["values"][r].size(); ++o) {
      for (std::size_t i = 0; i < a.json["values"][r][o].size(); ++i)
        worst = std::max(worst, std::fabs(Phi(a, r, o, i) - Phi(b, r, o, i)));
    }
  }
  return worst;
}

}  // namespace shap_test_support
