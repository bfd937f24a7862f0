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
#include "shap_test_support.hpp"

namespace {

using namespace shap_test_support;  // NOLINT(google-build-using-namespace)

MockRunResult RunSummary(const MockDataset& data, const MockModel& model,
                         std::vector<loupe::testing::MockInput> inputs, int threads = 1) {
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
      EXPECT_GE(importance[run.json["order"][o][k - 1].get<std::size_t>()],
                importance[run.json["order"][o][k].get<std::size_t>()]);
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
  const MockRunResult other =
      RunSummary(data, model, {{"tree", "surrogate_tree", {{"nodes", nlohmann::json::array()}}}});
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
  const MockRunResult exact =
      RunShap("shap.exact", c.dataset, c.model, {{"background", "0:10"}}, {20, 21, 22});
  ASSERT_TRUE(exact.ok()) << exact.error;
  c.inputs = {{"shap", "feature_attribution", exact.json}};
  c.rows = {};
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "shap.summary", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

}  // namespace
