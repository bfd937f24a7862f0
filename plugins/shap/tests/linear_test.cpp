// shap.linear through the SDK's mock host: the closed form on a logistic regression's margin, agreement
// with shap.exact, groups, refusal of non-linear models, probabilities and categoricals, and the
// conformance kit.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/sdk/random.hpp"
#include "loupe/testing/conformance.hpp"

extern "C" const LoupePluginEntryFn loupe_plugin_entry_v1;

namespace {

using loupe::testing::MockColumn;
using loupe::testing::MockDataset;
using loupe::testing::MockHost;
using loupe::testing::MockModel;
using loupe::testing::MockRunOptions;
using loupe::testing::MockRunResult;

const LoupeExplainerVTable& ShapExplainer(const char* name) {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  EXPECT_NE(info, nullptr) << error;
  const LoupeExplainerVTable* explainer = loupe::testing::FindExplainer(*info, name);
  EXPECT_NE(explainer, nullptr) << name;
  return *explainer;
}

MockDataset ShiftedNormalData(std::int64_t rows, std::int64_t features, std::uint64_t seed) {
  MockDataset data;
  for (std::int64_t j = 0; j < features; ++j) {
    loupe::sdk::Rng rng(seed, static_cast<std::uint64_t>(j), 0);
    std::vector<double> values;
    for (std::int64_t i = 0; i < rows; ++i) values.push_back(3.0 * rng.Normal() + static_cast<double>(j));
    data.features.push_back(MockColumn::Numeric(std::string("x").append(std::to_string(j)), values));
  }
  return data;
}

// Logistic regression: raw margin z = w.x + c, probabilities [1 - s(z), s(z)].
MockModel LogisticRegression(const std::vector<double>& w, double c) {
  const auto width = static_cast<std::int64_t>(w.size());
  auto margin = [w, c](const double* x) {
    double z = c;
    for (std::size_t i = 0; i < w.size(); ++i) z += w[i] * x[i];
    return z;
  };
  return MockModel::Classifier(
      {"no", "yes"},
      [margin, width](const double* rows, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) {
          const double p = 1.0 / (1.0 + std::exp(-margin(rows + i * width)));
          out[2 * i] = 1.0 - p;
          out[2 * i + 1] = p;
        }
      },
      {"margin"},
      [margin, width](const double* rows, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = margin(rows + i * width);
      });
}

MockRunResult RunLinearShap(const char* explainer, const MockDataset& data, const MockModel& model,
                            nlohmann::json params, std::vector<std::int64_t> rows) {
  MockRunOptions options;
  options.params = std::move(params);
  options.rows = std::move(rows);
  options.seed = 3;
  return MockHost(data, model).Run(ShapExplainer(explainer), options);
}

const std::vector<double> kWeights = {1.25, -0.5, 0.0, 2.0, -3.5};

TEST(ShapLinear, LogisticMarginEqualsTheClosedForm) {
  const MockDataset data = ShiftedNormalData(50, 5, 21);
  const MockRunResult run = RunLinearShap("shap.linear", data, LogisticRegression(kWeights, 0.75),
                                          {{"background", "0:30"}}, {30, 31, 40});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_EQ(run.json["output_names"], nlohmann::json({"margin"}));
  for (std::size_t r = 0; r < 3; ++r) {
    const std::size_t row = std::vector<std::size_t>{30, 31, 40}[r];
    double base = 0.75;
    for (std::size_t i = 0; i < 5; ++i) {
      double mean = 0;
      for (std::size_t b = 0; b < 30; ++b) mean += data.features[i].values[b] / 30.0;
      base += kWeights[i] * mean;
      EXPECT_NEAR(run.json["values"][r][0][i].get<double>(),
                  kWeights[i] * (data.features[i].values[row] - mean), 1e-10);
    }
    EXPECT_NEAR(run.json["base_values"][r][0].get<double>(), base, 1e-10);
  }
  for (std::size_t i = 0; i < 5; ++i)
    EXPECT_NEAR(run.json["coefficients"][0][i].get<double>(), kWeights[i], 1e-12);
  EXPECT_NEAR(run.json["intercepts"][0].get<double>(), 0.75, 1e-10);
  EXPECT_LT(run.json["quality"]["additivity_residual"].get<double>(), 1e-10);
  EXPECT_EQ(run.json["quality"]["model_evaluations"].get<double>(), 6.0 + 3 + 30);
}

TEST(ShapLinear, EqualsExactShapleyOnAGroupedLinearModel) {
  const MockDataset data = ShiftedNormalData(40, 5, 22);
  const nlohmann::json params = {
      {"background", 15}, {"output", "raw"}, {"groups", {{"a", {"x0", "x3"}}, {"b", {"x1", "x2", "x4"}}}}};
  const MockRunResult linear =
      RunLinearShap("shap.linear", data, LogisticRegression(kWeights, -1.0), params, {1, 2, 3});
  const MockRunResult exact =
      RunLinearShap("shap.exact", data, LogisticRegression(kWeights, -1.0), params, {1, 2, 3});
  ASSERT_TRUE(linear.ok() && exact.ok()) << linear.error << exact.error;
  EXPECT_EQ(linear.json["feature_names"], exact.json["feature_names"]);
  for (std::size_t r = 0; r < 3; ++r) {
    for (std::size_t g = 0; g < 2; ++g) {
      EXPECT_NEAR(linear.json["values"][r][0][g].get<double>(), exact.json["values"][r][0][g].get<double>(),
                  1e-10);
    }
  }
}

TEST(ShapLinear, RefusesNonLinearModelsProbabilitiesAndCategoricals) {
  const MockDataset data = ShiftedNormalData(30, 5, 23);
  const MockRunResult probability =
      RunLinearShap("shap.linear", data, LogisticRegression(kWeights, 0.0), {{"output", "probability"}}, {0});
  EXPECT_EQ(probability.status, LOUPE_ERROR_UNSUPPORTED);
  EXPECT_NE(probability.error.find("linear in its features"), std::string::npos) << probability.error;
  EXPECT_NE(probability.error.find("output: raw"), std::string::npos) << probability.error;

  const MockModel quadratic =
      MockModel::Regressor({"y"}, [](const double* rows, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = rows[i * 5] + 1e-3 * rows[i * 5 + 1] * rows[i * 5 + 2];
      });
  const MockRunResult nonlinear =
      RunLinearShap("shap.linear", data, quadratic, nlohmann::json::object(), {0});
  EXPECT_EQ(nonlinear.status, LOUPE_ERROR_UNSUPPORTED);
  EXPECT_NE(nonlinear.error.find("shap.kernel"), std::string::npos) << nonlinear.error;

  MockDataset categorical = ShiftedNormalData(30, 4, 24);
  categorical.features.push_back(
      MockColumn::Categorical("color", {"red", "green"}, std::vector<double>(30, 1)));
  const MockRunResult refused = RunLinearShap("shap.linear", categorical, LogisticRegression(kWeights, 0.0),
                                              nlohmann::json::object(), {0});
  EXPECT_EQ(refused.status, LOUPE_ERROR_UNSUPPORTED);
  EXPECT_EQ(refused.failed_in, "create");
  EXPECT_NE(refused.error.find("'color'"), std::string::npos) << refused.error;
}

TEST(ShapLinear, PassesTheConformanceKit) {
  loupe::testing::ConformanceCase c;
  c.dataset = ShiftedNormalData(40, 5, 25);
  c.model = LogisticRegression(kWeights, 0.2);
  c.params = {{"background", 12}};
  c.rows = {0, 7, 33};
  c.threads = 2;
  c.bad_params = {
      {{{"output", "probability"}}, "linear"},
      {{{"groups", {{"a", {"x0"}}}}}, "groups"},
      {{{"background", {1, 2, 400}}}, "background"},
  };
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "shap.linear", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

}  // namespace
