// shap.summary through the SDK mock host, fed a shap.exact explanation as its needed input: importance,
// order, beeswarm pairs, refusals and the conformance kit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
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
using RowFn = std::function<double(const double* x)>;

const LoupeExplainerVTable& Explainer(const char* name) {
  char error[256] = "";
  const LoupePluginInfo* info = loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  EXPECT_NE(info, nullptr) << error;
  const LoupeExplainerVTable* explainer = loupe::testing::FindExplainer(*info, name);
  EXPECT_NE(explainer, nullptr) << name;
  return *explainer;
}

std::string Indexed(const char* prefix, std::int64_t index) { return std::string(prefix).append(std::to_string(index)); }

MockDataset NormalData(std::int64_t rows, std::int64_t features, std::uint64_t seed = 1) {
  MockDataset data;
  for (std::int64_t j = 0; j < features; ++j) {
    loupe::sdk::Rng rng(seed, static_cast<std::uint64_t>(j), 0);
    std::vector<double> values;
    for (std::int64_t i = 0; i < rows; ++i) values.push_back(rng.Normal());
    data.features.push_back(MockColumn::Numeric(Indexed("x", j), values));
  }
  return data;
}

MockModel Regressor(std::int64_t width, RowFn f) {
  return MockModel::Regressor({"y"}, [width, f](const double* rows, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(rows + i * width);
  });
}

// Two softmax probabilities of a nonlinear score, and the score as the raw output.
MockModel NonlinearClassifier(std::int64_t width, RowFn score) {
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

MockRunResult RunShap(const char* explainer, const MockDataset& data, const MockModel& model, nlohmann::json params,
                  std::vector<std::int64_t> rows, int threads = 1, std::uint64_t seed = 7) {
  MockRunOptions options;
  options.params = std::move(params);
  options.rows = std::move(rows);
  options.seed = seed;
  options.threads = threads;
  return MockHost(data, model).Run(Explainer(explainer), options);
}

double Phi(const MockRunResult& run, std::size_t row, std::size_t output, std::size_t feature) {
  return run.json["values"][row][output][feature].get<double>();
}

double Nonlinear(const double* x) {
  return x[0] * x[1] * x[2] + std::exp(0.3 * x[3]) * x[4] + std::max(x[0], x[4]) + std::sin(x[1] * x[5]);
}

MockRunResult RunSummary(const MockDataset& data, const MockModel& model, std::vector<loupe::testing::MockInput> inputs,
                         int threads = 1) {
  MockRunOptions options;
  options.rows = {};
  options.seed = 7;
  options.threads = threads;
  options.inputs = std::move(inputs);
  return MockHost(data, model).Run(Explainer("shap.summary"), options);
}

TEST(ShapSummary, MeanAbsoluteImportanceSortedWithBeeswarmPairs) {
  const MockDataset data = NormalData(40, 6, 31);
  const MockModel model = NonlinearClassifier(6, Nonlinear);
  const std::vector<std::int64_t> rows = {20, 21, 22, 23, 24};
  const MockRunResult exact = RunShap("shap.exact", data, model, {{"background", "0:10"}}, rows);
  ASSERT_TRUE(exact.ok()) << exact.error;
  const MockRunResult run = RunSummary(data, model, {{"shap", "feature_attribution", exact.json}});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_EQ(run.json["feature_names"], exact.json["feature_names"]);
  EXPECT_EQ(run.json["output_names"], exact.json["output_names"]);
  EXPECT_EQ(run.json["source_step"], "shap");
  for (std::size_t o = 0; o < 2; ++o) {
    std::vector<double> importance(6, 0.0);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      for (std::size_t i = 0; i < 6; ++i) importance[i] += std::fabs(Phi(exact, r, o, i)) / 5.0;
    }
    for (std::size_t i = 0; i < 6; ++i) {
      EXPECT_NEAR(run.json["importance"][o][i].get<double>(), importance[i], 1e-15);
      EXPECT_NEAR(run.json["features"][i]["importance"][o].get<double>(), importance[i], 1e-15);
    }
    for (std::size_t k = 1; k < 6; ++k) {
      EXPECT_GE(importance[run.json["order"][o][k - 1].get<std::size_t>()], importance[run.json["order"][o][k].get<std::size_t>()]);
    }
  }
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(run.json["features"][i]["name"], exact.json["feature_names"][i]);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      EXPECT_EQ(run.json["features"][i]["data"][r], exact.json["data"][r][i]);
      EXPECT_EQ(run.json["features"][i]["phi"][1][r].get<double>(), Phi(exact, r, 1, i));
    }
  }
}

TEST(ShapSummary, RefusesAStepWithoutAFeatureAttribution) {
  const MockDataset data = NormalData(20, 3, 32);
  const MockModel model = Regressor(3, [](const double* x) { return x[0] + x[1] * x[2]; });
  const MockRunResult none = RunSummary(data, model, {});
  EXPECT_EQ(none.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(none.error.find("feature_attribution step named in 'needs'"), std::string::npos) << none.error;
  const MockRunResult other = RunSummary(data, model, {{"tree", "surrogate_tree", {{"nodes", nlohmann::json::array()}}}});
  EXPECT_EQ(other.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(other.error.find("tree (surrogate_tree)"), std::string::npos) << other.error;
  const MockRunResult broken = RunSummary(data, model, {{"shap", "feature_attribution", {{"values", 1}}}});
  EXPECT_EQ(broken.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(broken.error.find("shap.summary needs the array"), std::string::npos) << broken.error;
}

TEST(ShapSummary, PassesTheConformanceKit) {
  loupe::testing::ConformanceCase c;
  c.dataset = NormalData(30, 4, 33);
  c.model = Regressor(4, [](const double* x) { return x[0] * x[1] - x[2] + std::sin(x[3]); });
  const MockRunResult exact = RunShap("shap.exact", c.dataset, c.model, {{"background", "0:10"}}, {20, 21, 22});
  ASSERT_TRUE(exact.ok()) << exact.error;
  c.inputs = {{"shap", "feature_attribution", exact.json}};
  c.rows = {};
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "shap.summary", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

}  // namespace
