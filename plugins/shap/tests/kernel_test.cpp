// shap.kernel through the SDK's mock host: full enumeration equal to shap.exact, efficiency, symmetry,
// dummy, the linear closed form from sampled coalitions, sampled accuracy, determinism, thread
// invariance, refusals and the conformance kit.
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

TEST(ShapKernel, FullEnumerationEqualsExactShapley) {
  const MockDataset data = NormalData(40, 6, 3);
  const std::vector<std::int64_t> rows = {30, 31, 32, 33};
  for (const auto& model : {Regressor(6, Nonlinear), NonlinearClassifier(6, Nonlinear)}) {
    const MockRunResult exact = RunShap("shap.exact", data, model, {{"background", "0:15"}}, rows);
    ASSERT_TRUE(exact.ok()) << exact.error;
    // Default nsamples (2M + 2048) is capped at 2^M - 2 = 62; and so is an explicit larger budget.
    for (const nlohmann::json& nsamples :
         {nlohmann::json(nullptr), nlohmann::json(62), nlohmann::json(5000)}) {
      nlohmann::json params = {{"background", "0:15"}};
      if (!nsamples.is_null()) params["nsamples"] = nsamples;
      const MockRunResult kernel = RunShap("shap.kernel", data, model, params, rows);
      ASSERT_TRUE(kernel.ok()) << kernel.error;
      EXPECT_LT(MaxDifference(kernel, exact), 1e-6) << nsamples.dump();
      EXPECT_EQ(kernel.json["base_values"], exact.json["base_values"]);
      EXPECT_EQ(kernel.json["quality"]["coalitions"].get<double>(), 4.0 * 62);
      EXPECT_EQ(kernel.json["quality"]["model_evaluations"].get<double>(), (4.0 * 62 + 1) * 15 + 4);
    }
  }
}

TEST(ShapKernel, FullEnumerationOfGroupsWithEvenAndOddPlayerCounts) {
  const MockDataset data = NormalData(30, 6, 4);
  const MockModel model = Regressor(6, Nonlinear);
  const std::vector<nlohmann::json> all_groups = {
      {{"a", {"x0", "x5"}}, {"b", {"x1"}}, {"c", {"x2", "x3"}}, {"d", {"x4"}}},
      {{"a", {"x0", "x5"}}, {"b", {"x1", "x4"}}, {"c", {"x2", "x3"}}},
      {{"a", {"x0"}}, {"b", {"x1"}}, {"c", {"x2"}}, {"d", {"x3"}}, {"e", {"x4", "x5"}}},
  };
  for (const auto& groups : all_groups) {
    const nlohmann::json params = {{"background", 9}, {"groups", groups}};
    const MockRunResult exact = RunShap("shap.exact", data, model, params, {20, 25});
    const MockRunResult kernel = RunShap("shap.kernel", data, model, params, {20, 25});
    ASSERT_TRUE(kernel.ok()) << kernel.error;
    EXPECT_EQ(kernel.json["feature_names"], exact.json["feature_names"]);
    EXPECT_EQ(kernel.json["groups"], exact.json["groups"]);
    EXPECT_LT(MaxDifference(kernel, exact), 1e-6) << groups.dump();
  }
}

TEST(ShapKernel, EfficiencyHoldsExactlyWhenSampling) {
  const MockDataset data = NormalData(60, 12, 5);
  const RowFn f = [](const double* x) { return Wide(x) + x[10] * x[11] * x[0]; };
  const MockRunResult run = RunShap("shap.kernel", data, NonlinearClassifier(12, f),
                                    {{"background", "0:20"}, {"nsamples", 300}}, {40, 41, 42});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_LT(run.json["quality"]["additivity_residual"].get<double>(), 1e-10);
  EXPECT_EQ(run.json["quality"]["coalitions"].get<double>(), 3.0 * 300);
  EXPECT_EQ(run.json["quality"]["pseudo_inverse_rows"].get<double>(), 0.0);
  for (std::size_t r = 0; r < 3; ++r) {
    for (std::size_t o = 0; o < 2; ++o) {
      double total = run.json["base_values"][r][o].get<double>();
      for (std::size_t i = 0; i < 12; ++i) total += Phi(run, r, o, i);
      double fx = 0;
      std::vector<double> x;
      for (const auto& c : data.features) x.push_back(c.values[40 + r]);
      const double p = 1.0 / (1.0 + std::exp(-f(x.data())));
      fx = o == 1 ? p : 1.0 - p;
      EXPECT_NEAR(total, fx, 1e-10);
    }
  }
}

TEST(ShapKernel, SymmetryAndDummy) {
  MockDataset data = NormalData(30, 5, 6);
  data.features[1].values = data.features[0].values;  // x1 is a copy of x0
  const RowFn f = [](const double* x) {
    return x[0] * x[1] + 2 * x[0] + 2 * x[1] + std::sin(x[2] * x[3]);
  };  // ignores x4
  const MockRunResult run =
      RunShap("shap.kernel", data, Regressor(5, f), {{"background", "0:12"}}, {20, 21, 22});
  ASSERT_TRUE(run.ok()) << run.error;
  for (std::size_t r = 0; r < 3; ++r) {
    EXPECT_NEAR(Phi(run, r, 0, 0), Phi(run, r, 0, 1), 1e-10);
    EXPECT_GT(std::fabs(Phi(run, r, 0, 0)), 1e-3);
    EXPECT_NEAR(Phi(run, r, 0, 4), 0.0, 1e-10);
  }
}

TEST(ShapKernel, FeatureEqualToEveryBackgroundRowIsNotAPlayer) {
  MockDataset data = NormalData(30, 4, 8);
  data.features[2].values.assign(30, 1.5);  // constant: never varies against the background
  const RowFn f = [](const double* x) { return x[0] * x[2] + x[1] * x[3]; };
  const MockRunResult run =
      RunShap("shap.kernel", data, Regressor(4, f), {{"background", "0:10"}, {"nsamples", 4}}, {20, 21});
  ASSERT_TRUE(run.ok()) << run.error;
  for (std::size_t r = 0; r < 2; ++r) EXPECT_EQ(Phi(run, r, 0, 2), 0.0);
  // Three varying players: 2^3 - 2 = 6 coalitions, but nsamples caps them at 4 per row.
  EXPECT_EQ(run.json["quality"]["coalitions"].get<double>(), 2.0 * 4);
  EXPECT_LT(run.json["quality"]["additivity_residual"].get<double>(), 1e-12);
}

TEST(ShapKernel, LinearModelIsExactFromSampledCoalitions) {
  const std::int64_t m = 30;
  const MockDataset data = NormalData(50, m, 9);
  std::vector<double> w;
  for (std::int64_t i = 0; i < m; ++i) w.push_back(0.1 * static_cast<double>(i % 7) - 0.3);
  const RowFn f = [w](const double* x) {
    double y = 0.25;
    for (std::size_t i = 0; i < w.size(); ++i) y += w[i] * x[i];
    return y;
  };
  const MockRunResult run =
      RunShap("shap.kernel", data, Regressor(m, f), {{"background", "0:20"}, {"nsamples", 400}}, {40, 45});
  ASSERT_TRUE(run.ok()) << run.error;
  for (std::size_t r = 0; r < 2; ++r) {
    for (std::size_t i = 0; i < static_cast<std::size_t>(m); ++i) {
      double mean = 0;
      for (std::size_t b = 0; b < 20; ++b) mean += data.features[i].values[b] / 20.0;
      const double xi = data.features[i].values[r == 0 ? 40 : 45];
      EXPECT_NEAR(Phi(run, r, 0, i), w[i] * (xi - mean), 1e-9) << "feature " << i;
    }
  }
}

TEST(ShapKernel, SampledEstimatesApproachExactValues) {
  const MockDataset data = NormalData(60, 10, 10);
  const MockModel model = Regressor(10, Wide);
  const std::vector<std::int64_t> rows = {50, 51, 52, 53, 54};
  const MockRunResult exact = RunShap("shap.exact", data, model, {{"background", "0:25"}}, rows);
  ASSERT_TRUE(exact.ok()) << exact.error;
  double scale = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t i = 0; i < 10; ++i) scale = std::max(scale, std::fabs(Phi(exact, r, 0, i)));
  }
  const MockRunResult small =
      RunShap("shap.kernel", data, model, {{"background", "0:25"}, {"nsamples", 60}}, rows);
  const MockRunResult large =
      RunShap("shap.kernel", data, model, {{"background", "0:25"}, {"nsamples", 700}}, rows);
  ASSERT_TRUE(small.ok() && large.ok()) << small.error << large.error;
  const double small_error = MaxDifference(small, exact), large_error = MaxDifference(large, exact);
  EXPECT_GT(small_error, 0.0);
  EXPECT_LT(large_error, 0.02 * scale) << "scale " << scale;
  EXPECT_LT(large_error, small_error);
}

TEST(ShapKernel, DeterministicPerSeedAndIdenticalOnOneAndTwoThreads) {
  const MockDataset data = NormalData(60, 10, 12);
  const MockModel model = NonlinearClassifier(10, Wide);
  const nlohmann::json params = {{"background", 30}, {"nsamples", 200}};
  const std::vector<std::int64_t> rows = {0, 1, 2, 3, 4, 5, 6};
  const MockRunResult one = RunShap("shap.kernel", data, model, params, rows, 1);
  const MockRunResult two = RunShap("shap.kernel", data, model, params, rows, 2);
  const MockRunResult again = RunShap("shap.kernel", data, model, params, rows, 2);
  ASSERT_TRUE(one.ok()) << one.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
  EXPECT_EQ(two.json.dump(), again.json.dump());
  const MockRunResult other_seed = RunShap("shap.kernel", data, model, params, rows, 1, 8);
  ASSERT_TRUE(other_seed.ok()) << other_seed.error;
  EXPECT_NE(one.json["values"].dump(), other_seed.json["values"].dump());
}

TEST(ShapKernel, BatchesModelCallsAndReportsProgressPerRow) {
  const MockDataset data = NormalData(60, 8);
  const MockModel model = Regressor(8, [](const double* x) { return x[0] * x[7] + x[3]; });
  const MockRunResult run =
      RunShap("shap.kernel", data, model, {{"background", "0:50"}, {"nsamples", 100}}, {50, 51, 52, 53}, 2);
  ASSERT_TRUE(run.ok()) << run.error;
  const std::int64_t perturbed = (4 * 100 + 1) * 50;
  EXPECT_EQ(run.predict_rows, perturbed + 4);
  EXPECT_GE(run.max_batch_rows, 4096);
  EXPECT_LE(run.predict_calls, perturbed / 4096 + 3);
  EXPECT_EQ(run.progress_reports, 4);
}

TEST(ShapKernel, RefusesBadParameters) {
  const MockDataset data = NormalData(20, 4);
  const MockModel model = Regressor(4, [](const double* x) { return x[0] + x[1] * x[2] + x[3]; });
  for (const std::int64_t nsamples : {std::int64_t{0}, std::int64_t{-3}, std::int64_t{1} << 23}) {
    const MockRunResult run = RunShap("shap.kernel", data, model, {{"nsamples", nsamples}}, {0});
    EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT) << nsamples;
    EXPECT_EQ(run.failed_in, "create");
    EXPECT_NE(run.error.find("parameter 'nsamples'"), std::string::npos) << run.error;
  }
  const MockRunResult outside = RunShap("shap.kernel", data, model, {{"background", {1, 2, 400}}}, {0});
  EXPECT_EQ(outside.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(outside.error.find("background"), std::string::npos) << outside.error;
  for (const nlohmann::json& l1_reg :
       {nlohmann::json("lasso"), nlohmann::json("num_features(0)"), nlohmann::json("num_features(x)"),
        nlohmann::json(0.01), nlohmann::json(true)}) {
    const MockRunResult l1 = RunShap("shap.kernel", data, model, {{"l1_reg", l1_reg}}, {0});
    EXPECT_EQ(l1.status, LOUPE_ERROR_INVALID_ARGUMENT) << l1_reg.dump();
    EXPECT_NE(l1.error.find("parameter 'l1_reg'"), std::string::npos) << l1.error;
  }
  for (const double tolerance : {0.0, -1.0}) {
    const MockRunResult run = RunShap("shap.kernel", data, model, {{"tolerance", tolerance}}, {0});
    EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT) << tolerance;
    EXPECT_NE(run.error.find("parameter 'tolerance'"), std::string::npos) << run.error;
  }
}

// A model of 12 features with known Shapley values: exact enumeration gives them.
double Twelve(const double* x) { return Wide(x) + x[10] * x[11] * x[0]; }

TEST(ShapKernel, ExactValuesLieWithinThreeStandardErrors) {
  const MockDataset data = NormalData(60, 12, 31);
  const MockModel model = Regressor(12, Twelve);
  const std::vector<std::int64_t> rows = {40, 41, 42, 43};
  const MockRunResult exact = RunShap("shap.exact", data, model, {{"background", "0:20"}}, rows);
  ASSERT_TRUE(exact.ok()) << exact.error;
  for (const std::int64_t nsamples : {400, 1500}) {
    const MockRunResult run =
        RunShap("shap.kernel", data, model,
                {{"background", "0:20"}, {"nsamples", nsamples}, {"l1_reg", "off"}}, rows);
    ASSERT_TRUE(run.ok()) << run.error;
    double squared_error = 0, squared_se = 0;
    int beyond_three = 0;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      for (std::size_t i = 0; i < 12; ++i) {
        const double se = run.json["error_std"][r][0][i].get<double>();
        const double error = Phi(run, r, 0, i) - Phi(exact, r, 0, i);
        EXPECT_GT(se, 0.0);
        EXPECT_LE(std::fabs(error), 5 * se) << "row " << r << " feature " << i << " nsamples " << nsamples;
        beyond_three += std::fabs(error) > 3 * se ? 1 : 0;
        squared_error += error * error;
        squared_se += se * se;
      }
    }
    // A normal error exceeds 3 SE with probability 0.27%: of these 48 values, at most one may.
    EXPECT_LE(beyond_three, 1) << nsamples;
    // The errors are of the size the standard errors announce, neither far smaller nor far larger.
    const double ratio = std::sqrt(squared_error / squared_se);
    EXPECT_GT(ratio, 0.3) << nsamples;
    EXPECT_LT(ratio, 2.0) << nsamples;
    EXPECT_NEAR(
        run.json["quality"]["standard_error"].get<double>(),
        [&] {
          double largest = 0;
          for (const auto& row : run.json["error_std"])
            for (const auto& se : row[0]) largest = std::max(largest, se.get<double>());
          return largest;
        }(),
        0.0);
  }
}

TEST(ShapKernel, FullEnumerationHasZeroStandardError) {
  const MockDataset data = NormalData(30, 6, 32);  // Nonlinear reads six features
  const MockRunResult run =
      RunShap("shap.kernel", data, Regressor(6, Nonlinear), {{"background", "0:10"}}, {20});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_EQ(run.json["quality"]["standard_error"].get<double>(), 0.0);
}

TEST(ShapKernel, ToleranceStopsSamplingEarly) {
  const MockDataset data = NormalData(60, 12, 33);
  const MockModel model = Regressor(12, Twelve);
  const std::vector<std::int64_t> rows = {40, 41, 42};
  const nlohmann::json base = {{"background", "0:20"}, {"nsamples", 3000}, {"l1_reg", "off"}};
  const MockRunResult full = RunShap("shap.kernel", data, model, base, rows);
  ASSERT_TRUE(full.ok()) << full.error;
  const double full_se = full.json["quality"]["standard_error"].get<double>();
  nlohmann::json params = base;
  params["tolerance"] = 2.5 * full_se;
  const MockRunResult early = RunShap("shap.kernel", data, model, params, rows, 1);
  const MockRunResult early2 = RunShap("shap.kernel", data, model, params, rows, 2);
  ASSERT_TRUE(early.ok() && early2.ok()) << early.error << early2.error;
  EXPECT_EQ(early.json.dump(), early2.json.dump());
  EXPECT_LT(early.json["quality"]["coalitions"].get<double>(),
            full.json["quality"]["coalitions"].get<double>());
  EXPECT_LT(early.json["quality"]["model_evaluations"].get<double>(),
            full.json["quality"]["model_evaluations"].get<double>());
  EXPECT_LE(early.json["quality"]["standard_error"].get<double>(), 2.5 * full_se);
  EXPECT_GT(early.json["quality"]["standard_error"].get<double>(), full_se);
  EXPECT_LT(early.json["quality"]["additivity_residual"].get<double>(), 1e-10);
  EXPECT_EQ(early.progress_reports, 3);
  // An unreachable tolerance draws everything: the same values as without one.
  params["tolerance"] = 1e-300;
  const MockRunResult all = RunShap("shap.kernel", data, model, params, rows);
  ASSERT_TRUE(all.ok()) << all.error;
  EXPECT_EQ(all.json["values"].dump(), full.json["values"].dump());
  EXPECT_EQ(all.json["quality"]["coalitions"], full.json["quality"]["coalitions"]);
}

// Additive in x0, x3, x7 (Shapley value g_i(x_i) - mean g_i), negligible elsewhere.
double Sparse(const double* x) {
  double small = 0;
  for (int i = 0; i < 12; ++i) small += 1e-3 * x[i];
  return 3 * std::sin(x[0]) + 2 * x[3] * x[3] - 1.5 * x[7] + small;
}

TEST(ShapKernel, L1NumFeaturesKeepsTheLarsPathsFirstFeatures) {
  const MockDataset data = NormalData(60, 12, 34);
  const MockModel model = Regressor(12, Sparse);
  const std::vector<std::int64_t> rows = {40, 41};
  const MockRunResult exact = RunShap("shap.exact", data, model, {{"background", "0:20"}}, rows);
  const MockRunResult run =
      RunShap("shap.kernel", data, model,
              {{"background", "0:20"}, {"nsamples", 500}, {"l1_reg", "num_features(3)"}}, rows);
  ASSERT_TRUE(run.ok() && exact.ok()) << run.error << exact.error;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t i = 0; i < 12; ++i) {
      if (i == 0 || i == 3 || i == 7) {
        EXPECT_NEAR(Phi(run, r, 0, i), Phi(exact, r, 0, i), 0.02) << "row " << r << " feature " << i;
      } else {
        EXPECT_EQ(Phi(run, r, 0, i), 0.0) << "row " << r << " feature " << i;
      }
    }
  }
  EXPECT_LT(run.json["quality"]["additivity_residual"].get<double>(), 1e-10);
}

TEST(ShapKernel, L1AutoSelectsOnlyBelowTwentyPercentOfTheSpace) {
  const MockDataset data = NormalData(60, 12, 35);
  // An interaction leaves residuals, so the negligible features are not worth their AIC penalty.
  const MockModel model = Regressor(12, [](const double* x) { return Sparse(x) + x[0] * x[3]; });
  const std::vector<std::int64_t> rows = {40, 41};
  auto zeros = [](const MockRunResult& run) {
    int count = 0;
    for (const auto& row : run.json["values"])
      for (const auto& v : row[0]) count += v.get<double>() == 0.0 ? 1 : 0;
    return count;
  };
  // 300 of 4094 coalitions (7%): AIC selection drops some of the negligible features.
  const MockRunResult sparse_auto =
      RunShap("shap.kernel", data, model, {{"background", "0:20"}, {"nsamples", 300}}, rows);
  const MockRunResult sparse_aic = RunShap(
      "shap.kernel", data, model, {{"background", "0:20"}, {"nsamples", 300}, {"l1_reg", "aic"}}, rows);
  const MockRunResult sparse_off = RunShap(
      "shap.kernel", data, model, {{"background", "0:20"}, {"nsamples", 300}, {"l1_reg", false}}, rows);
  ASSERT_TRUE(sparse_auto.ok() && sparse_aic.ok() && sparse_off.ok())
      << sparse_auto.error << sparse_aic.error;
  EXPECT_GT(zeros(sparse_auto), 0);
  EXPECT_EQ(sparse_auto.json["values"], sparse_aic.json["values"]);
  EXPECT_EQ(zeros(sparse_off), 0);
  const MockRunResult bic = RunShap("shap.kernel", data, model,
                                    {{"background", "0:20"}, {"nsamples", 300}, {"l1_reg", "bic"}}, rows);
  ASSERT_TRUE(bic.ok()) << bic.error;
  EXPECT_GE(zeros(bic), zeros(sparse_aic));  // log(n) > 2 penalises each feature more
  // 1000 of 4094 (24%): auto leaves every feature in.
  const MockRunResult dense_auto =
      RunShap("shap.kernel", data, model, {{"background", "0:20"}, {"nsamples", 1000}}, rows);
  ASSERT_TRUE(dense_auto.ok()) << dense_auto.error;
  EXPECT_EQ(zeros(dense_auto), 0);
}

TEST(ShapKernel, OneVaryingPlayerTakesTheWholeDifference) {
  const MockDataset data = NormalData(20, 1, 14);
  const MockRunResult run =
      RunShap("shap.kernel", data, Regressor(1, [](const double* x) { return std::exp(x[0]); }),
              {{"background", "0:10"}}, {12, 13});
  ASSERT_TRUE(run.ok()) << run.error;
  for (std::size_t r = 0; r < 2; ++r) {
    double mean = 0;
    for (std::size_t b = 0; b < 10; ++b) mean += std::exp(data.features[0].values[b]) / 10.0;
    EXPECT_NEAR(run.json["base_values"][r][0].get<double>(), mean, 1e-12);
    EXPECT_NEAR(Phi(run, r, 0, 0), std::exp(data.features[0].values[12 + r]) - mean, 1e-12);
  }
  EXPECT_EQ(run.json["quality"]["coalitions"].get<double>(), 0.0);
}

TEST(ShapKernel, SmallBudgetsMergeDuplicatesAndFallBackToThePseudoInverse) {
  const MockDataset data = NormalData(40, 8, 15);
  const MockModel model = Regressor(8, [](const double* x) { return Nonlinear(x) + x[6] - x[7] * x[0]; });
  // M = 4 with 10 coalitions: no size is enumerated, the 10 are drawn from 14 with repeats merged.
  const MockDataset four = NormalData(40, 4, 16);
  const MockModel model4 = Regressor(4, [](const double* x) { return x[0] * x[1] + std::sin(x[2]) * x[3]; });
  const MockRunResult merged =
      RunShap("shap.kernel", four, model4, {{"background", "0:10"}, {"nsamples", 10}}, {20, 21, 22, 23});
  ASSERT_TRUE(merged.ok()) << merged.error;
  EXPECT_EQ(merged.json["quality"]["coalitions"].get<double>(), 4.0 * 10);
  EXPECT_LT(merged.json["quality"]["additivity_residual"].get<double>(), 1e-12);
  // M = 8 with 3 coalitions: 7 unknowns from 3 equations, singular normal equations.
  const MockRunResult singular =
      RunShap("shap.kernel", data, model, {{"background", "0:10"}, {"nsamples", 3}}, {20, 21});
  ASSERT_TRUE(singular.ok()) << singular.error;
  EXPECT_EQ(singular.json["quality"]["pseudo_inverse_rows"].get<double>(), 2.0);
  EXPECT_LT(singular.json["quality"]["additivity_residual"].get<double>(), 1e-12);
  ASSERT_FALSE(singular.logs.empty());
  EXPECT_NE(singular.logs.back().find("pseudo-inverse"), std::string::npos) << singular.logs.back();
  for (std::size_t i = 0; i < 8; ++i) EXPECT_TRUE(std::isfinite(Phi(singular, 0, 0, i)));
}

TEST(ShapKernel, PassesTheConformanceKit) {
  loupe::testing::ConformanceCase c;
  c.dataset = NormalData(40, 7, 13);
  c.dataset.features.push_back(
      MockColumn::Categorical("color", {"red", "green"}, std::vector<double>(40, 1)));
  for (std::size_t i = 0; i < 40; i += 3) c.dataset.features[7].values[i] = 0;
  c.model = NonlinearClassifier(
      8, [](const double* x) { return x[0] * x[1] - x[2] + std::sin(x[3] * x[7]) + x[6]; });
  c.params = {{"background", 12}, {"nsamples", 90}};
  c.rows = {0, 7, 33};
  c.threads = 2;
  c.bad_params = {
      {{{"nsamples", 0}}, "nsamples"},
      {{{"groups", {{"a", {"x0"}}}}}, "groups"},
      {{{"background", "35:30"}}, "background"},
      {{{"background", {1, 2, 400}}}, "background"},
  };
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "shap.kernel", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

}  // namespace
