// shap.permutation through the SDK mock host: efficiency, agreement with shap.exact within standard errors,
// additive models, one player, determinism, thread invariance, batching, refusals and the conformance kit.
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
double Sum(const MockRunResult& run, std::size_t row, std::size_t output, std::size_t m) {
  double total = run.json["base_values"][row][output].get<double>();
  for (std::size_t i = 0; i < m; ++i) total += Phi(run, row, output, i);
  return total;
}

TEST(ShapPermutation, EfficiencyHoldsPerRowAndOutput) {
  const MockDataset data = NormalData(40, 10, 21);
  const MockModel model = NonlinearClassifier(10, Wide);
  const MockRunResult run =
      RunShap("shap.permutation", data, model, {{"background", "0:15"}, {"max_evals", 100}}, {30, 31, 32});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_LT(run.json["quality"]["additivity_residual"].get<double>(), 1e-10);
  for (std::size_t r = 0; r < 3; ++r) {
    const std::vector<double> x = [&] {
      std::vector<double> row;
      for (const auto& c : data.features) row.push_back(c.values[30 + r]);
      return row;
    }();
    const double p = 1.0 / (1.0 + std::exp(-Wide(x.data())));
    EXPECT_NEAR(Sum(run, r, 1, 10), p, 1e-10);
    EXPECT_NEAR(Sum(run, r, 0, 10), 1.0 - p, 1e-10);
  }
  // (100 - 2) / 18 = 5 pairs: 2 + 10 * 9 = 92 coalitions per row over 15 background rows, plus f(x).
  EXPECT_EQ(run.json["quality"]["permutations"].get<double>(), 10.0);
  EXPECT_EQ(run.json["quality"]["model_evaluations"].get<double>(), 3.0 * 92 * 15 + 3);
  EXPECT_EQ(run.predict_rows, 3 * 92 * 15 + 3);
}

TEST(ShapPermutation, ManyPermutationsAgreeWithExactWithinThreeStandardErrors) {
  const MockDataset data = NormalData(60, 6, 22);
  const MockModel model = Regressor(6, Nonlinear);
  const std::vector<std::int64_t> rows = {50, 51, 52, 53};
  const MockRunResult exact = RunShap("shap.exact", data, model, {{"background", "0:20"}}, rows);
  const MockRunResult sampled =
      RunShap("shap.permutation", data, model, {{"background", "0:20"}, {"max_evals", 2002}}, rows);
  ASSERT_TRUE(exact.ok() && sampled.ok()) << exact.error << sampled.error;
  double largest_error = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    EXPECT_NEAR(sampled.json["base_values"][r][0].get<double>(),
                exact.json["base_values"][r][0].get<double>(), 1e-12);
    for (std::size_t i = 0; i < 6; ++i) {
      const double se = sampled.json["error_std"][r][0][i].get<double>();
      largest_error = std::max(largest_error, se);
      EXPECT_LE(std::fabs(Phi(sampled, r, 0, i) - Phi(exact, r, 0, i)), 3.0 * se + 1e-12) << r << " " << i;
    }
  }
  EXPECT_GT(largest_error, 0.0);
  EXPECT_EQ(sampled.json["quality"]["standard_error"].get<double>(), largest_error);
  // Fewer permutations give a larger standard error.
  const MockRunResult few =
      RunShap("shap.permutation", data, model, {{"background", "0:20"}, {"max_evals", 42}}, rows);
  ASSERT_TRUE(few.ok()) << few.error;
  EXPECT_GT(few.json["quality"]["standard_error"].get<double>(), largest_error);
}

TEST(ShapPermutation, AdditiveModelIsExactAndOnePlayerTakesTheWholeDifference) {
  const MockDataset data = NormalData(30, 4, 23);
  const MockModel model =
      Regressor(4, [](const double* x) { return 2 * x[0] - x[1] + std::sin(x[2]) + x[3] * x[3]; });
  const MockRunResult exact = RunShap("shap.exact", data, model, {{"background", "0:10"}}, {20, 21});
  const MockRunResult sampled =
      RunShap("shap.permutation", data, model, {{"background", "0:10"}, {"max_evals", 8}}, {20, 21});
  ASSERT_TRUE(exact.ok() && sampled.ok()) << exact.error << sampled.error;
  EXPECT_LT(MaxDifference(exact, sampled), 1e-12);
  EXPECT_LT(sampled.json["quality"]["standard_error"].get<double>(), 1e-12);
  const MockDataset one = NormalData(20, 1, 24);
  const MockRunResult single =
      RunShap("shap.permutation", one, Regressor(1, [](const double* x) { return std::exp(x[0]); }),
              {{"background", "0:10"}}, {12});
  ASSERT_TRUE(single.ok()) << single.error;
  double mean = 0;
  for (std::size_t b = 0; b < 10; ++b) mean += std::exp(one.features[0].values[b]) / 10.0;
  EXPECT_NEAR(Phi(single, 0, 0, 0), std::exp(one.features[0].values[12]) - mean, 1e-12);
}

TEST(ShapPermutation, DeterministicPerSeedAndIdenticalOnOneAndTwoThreads) {
  const MockDataset data = NormalData(60, 10, 25);
  const MockModel model = NonlinearClassifier(10, Wide);
  const nlohmann::json params = {{"background", 30}, {"max_evals", 120}};
  const std::vector<std::int64_t> rows = {0, 1, 2, 3, 4, 5, 6};
  const MockRunResult one = RunShap("shap.permutation", data, model, params, rows, 1);
  const MockRunResult two = RunShap("shap.permutation", data, model, params, rows, 2);
  const MockRunResult again = RunShap("shap.permutation", data, model, params, rows, 2);
  ASSERT_TRUE(one.ok()) << one.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
  EXPECT_EQ(two.json.dump(), again.json.dump());
  const MockRunResult other_seed = RunShap("shap.permutation", data, model, params, rows, 1, 8);
  ASSERT_TRUE(other_seed.ok()) << other_seed.error;
  EXPECT_NE(one.json["values"].dump(), other_seed.json["values"].dump());
  // A row's permutations depend on its data row only, not on which other rows are explained.
  const MockRunResult alone = RunShap("shap.permutation", data, model, params, {3}, 1);
  ASSERT_TRUE(alone.ok()) << alone.error;
  EXPECT_EQ(alone.json["values"][0].dump(), one.json["values"][3].dump());
}

TEST(ShapPermutation, BatchesModelCallsAndReportsProgressPerRow) {
  const MockDataset data = NormalData(60, 8, 26);
  const MockModel model = Regressor(8, [](const double* x) { return x[0] * x[7] + x[3]; });
  const MockRunResult run = RunShap("shap.permutation", data, model,
                                    {{"background", "0:50"}, {"max_evals", 500}}, {50, 51, 52, 53}, 2);
  ASSERT_TRUE(run.ok()) << run.error;
  const std::int64_t units = 2 + 2 * (498 / 14) * 7;  // 35 pairs
  const std::int64_t perturbed = 4 * units * 50;
  EXPECT_EQ(run.predict_rows, perturbed + 4);
  EXPECT_GE(run.max_batch_rows, 4096);
  EXPECT_LE(run.predict_calls, perturbed / 4096 + 6);
  EXPECT_EQ(run.progress_reports, 4);
}

TEST(ShapPermutation, RefusesBadMaxEvalsWithASentence) {
  const MockDataset data = NormalData(20, 4, 27);
  const MockModel model = Regressor(4, [](const double* x) { return x[0] + x[1] * x[2] + x[3]; });
  for (const std::int64_t max_evals :
       {std::int64_t{0}, std::int64_t{-3}, std::int64_t{7}, std::int64_t{1} << 23}) {
    const MockRunResult run = RunShap("shap.permutation", data, model, {{"max_evals", max_evals}}, {0});
    EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT) << max_evals;
    EXPECT_EQ(run.failed_in, "create");
    EXPECT_NE(run.error.find("parameter 'max_evals' must be between 8 and"), std::string::npos) << run.error;
  }
  EXPECT_TRUE(RunShap("shap.permutation", data, model, {{"max_evals", 8}}, {0}).ok());
}

TEST(ShapPermutation, PassesTheConformanceKit) {
  loupe::testing::ConformanceCase c;
  c.dataset = NormalData(40, 7, 28);
  c.dataset.features.push_back(
      MockColumn::Categorical("color", {"red", "green"}, std::vector<double>(40, 1)));
  for (std::size_t i = 0; i < 40; i += 3) c.dataset.features[7].values[i] = 0;
  c.model = NonlinearClassifier(
      8, [](const double* x) { return x[0] * x[1] - x[2] + std::sin(x[3] * x[7]) + x[6]; });
  c.params = {{"background", 12}, {"max_evals", 60}};
  c.rows = {0, 7, 33};
  c.threads = 2;
  c.bad_params = {
      {{{"max_evals", 3}}, "max_evals"},
      {{{"groups", {{"a", {"x0"}}}}}, "groups"},
      {{{"background", "35:30"}}, "background"},
      {{{"background", {1, 2, 400}}}, "background"},
  };
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "shap.permutation", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

}  // namespace
