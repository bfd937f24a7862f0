// The effects explainers through the SDK's mock host on functions with known answers: the partial dependence
// and ICE of an additive model in closed form, the ALE of additive models (the centred component: Apley &
// Zhu's additivity property), permutation importance of an unused feature (exactly zero), plus batching,
// thread invariance, seeds, refusals and the conformance kit.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "credit_fixture.hpp"

namespace {

using effects_test::AllRows;
using effects_test::Explainer;
using effects_test::Flatten;
using loupe::testing::MockColumn;
using loupe::testing::MockDataset;
using loupe::testing::MockHost;
using loupe::testing::MockModel;
using loupe::testing::MockRunOptions;
using loupe::testing::MockRunResult;
using nlohmann::json;

constexpr double kLevelEffect[3] = {0.5, -1.25, 2.0};

// 200 rows: x0 skewed on [0, 4], x1 correlated with x0, c a level that depends on x0; y noisy.
MockDataset AdditiveData() {
  MockDataset data;
  std::vector<double> x0, x1, c, y;
  for (int i = 0; i < 200; ++i) {
    const double u = (i * 37 % 200) / 200.0;
    x0.push_back(4 * u * u);
    x1.push_back(std::round((u + 0.3 * std::sin(i)) * 100) / 10);
    c.push_back(static_cast<double>((i * 7 + static_cast<int>(u * 3)) % 3));
    y.push_back(static_cast<double>(i % 2));
  }
  data.features = {MockColumn::Numeric("x0", x0), MockColumn::Numeric("x1", x1),
                   MockColumn::Categorical("c", {"a", "b", "d"}, c)};
  data.others = {MockColumn::Categorical("y", {"no", "yes"}, y)};
  data.target = "y";
  return data;
}

// f = x0^2 + 3 sin(x1) + effect[c], a regressor.
MockModel AdditiveModel() {
  return MockModel::Regressor({"f"}, [](const double* x, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) {
      const double* row = x + 3 * i;
      out[i] = row[0] * row[0] + 3 * std::sin(row[1]) + kLevelEffect[static_cast<int>(row[2])];
    }
  });
}

// A classifier that ignores x1: P(yes) = sigmoid(x0 - 1 + effect[c]).
MockModel ClassifierIgnoringX1() {
  auto probabilities = [](const double* x, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) {
      const double p = 1 / (1 + std::exp(-(x[3 * i] - 1 + kLevelEffect[static_cast<int>(x[3 * i + 2])])));
      out[2 * i] = 1 - p;
      out[2 * i + 1] = p;
    }
  };
  return MockModel::Classifier({"no", "yes"}, probabilities, {"logit"}, nullptr);
}

MockRunResult RunStep(const std::string& explainer, json params, int threads = 1,
                      MockModel model = AdditiveModel(), std::uint64_t seed = 3,
                      MockDataset data = AdditiveData()) {
  MockRunOptions options;
  options.params = std::move(params);
  options.rows = AllRows(data);
  options.threads = threads;
  options.seed = seed;
  return MockHost(std::move(data), std::move(model)).Run(Explainer(explainer), options);
}

TEST(PartialDependence, AdditiveModelHasTheClosedFormAverageAndIce) {
  const MockDataset data = AdditiveData();
  const MockRunResult result =
      RunStep("effects.partial_dependence", {{"features", {"x0", "c"}}, {"kind", "both"}});
  ASSERT_TRUE(result.ok()) << result.error;
  const auto& x0 = data.features[0].values;
  const auto& x1 = data.features[1].values;
  const auto& c = data.features[2].values;
  double rest_mean = 0, square_mean = 0;
  for (std::size_t r = 0; r < x0.size(); ++r) {
    rest_mean += (3 * std::sin(x1[r]) + kLevelEffect[static_cast<int>(c[r])]) / 200;
    square_mean += x0[r] * x0[r] / 200;
  }
  const auto grid = result.json["feature_sets"][0]["axes"][0]["values"].get<std::vector<double>>();
  ASSERT_EQ(grid.size(), 100u);
  for (std::size_t g = 0; g < grid.size(); ++g) {
    EXPECT_NEAR(result.json["average"]["0"][0][g].get<double>(), grid[g] * grid[g] + rest_mean, 1e-12);
    for (std::size_t r = 0; r < x0.size(); r += 37) {
      EXPECT_NEAR(result.json["individual"]["0"][0][r][g].get<double>(),
                  grid[g] * grid[g] + 3 * std::sin(x1[r]) + kLevelEffect[static_cast<int>(c[r])], 1e-12);
    }
  }
  // The categorical feature's grid is its levels, labelled by name.
  const json& levels = result.json["feature_sets"][1]["axes"][0];
  EXPECT_EQ(levels["labels"], json({"a", "b", "d"}));
  EXPECT_TRUE(levels["categorical"].get<bool>());
  EXPECT_TRUE(levels["deciles"].empty());
  double sin_mean = 0;
  for (const double v : x1) sin_mean += 3 * std::sin(v) / 200;
  for (int l = 0; l < 3; ++l)
    EXPECT_NEAR(result.json["average"]["1"][0][l].get<double>(), square_mean + sin_mean + kLevelEffect[l],
                1e-12);
}

TEST(PartialDependence, TwoWayGridIsTheCartesianProductFirstAxisSlowest) {
  const MockRunResult result =
      RunStep("effects.partial_dependence",
              {{"features", json::array({json::array({"x0", "c"})})}, {"grid_resolution", 5}});
  ASSERT_TRUE(result.ok()) << result.error;
  const auto grid = result.json["feature_sets"][0]["axes"][0]["values"].get<std::vector<double>>();
  const json& average = result.json["average"]["0"][0];
  ASSERT_EQ(average.size(), 5u);
  ASSERT_EQ(average[0].size(), 3u);
  // Additive: PD(a, l) - PD(a, 0) - PD(0, l) + PD(0, 0) = 0, and the x0 step is the square's.
  for (std::size_t a = 0; a < 5; ++a) {
    for (std::size_t l = 0; l < 3; ++l) {
      const double interaction = average[a][l].get<double>() - average[a][0].get<double>() -
                                 average[0][l].get<double>() + average[0][0].get<double>();
      EXPECT_NEAR(interaction, 0.0, 1e-12);
    }
    EXPECT_NEAR(average[a][0].get<double>() - average[0][0].get<double>(),
                grid[a] * grid[a] - grid[0] * grid[0], 1e-12);
  }
}

TEST(PartialDependence, CentredCurvesStartAtZero) {
  const MockRunResult result =
      RunStep("effects.partial_dependence", {{"features", {"x1"}}, {"kind", "both"}, {"centered", true}});
  ASSERT_TRUE(result.ok()) << result.error;
  for (const auto& curve : result.json["individual"]["0"][0]) EXPECT_EQ(curve[0].get<double>(), 0.0);
  EXPECT_EQ(result.json["average"]["0"][0][0].get<double>(), 0.0);
  EXPECT_FALSE(result.json.contains("average") && result.json["average"].contains("1"));
}

TEST(PartialDependence, BatchesWholeGridPointsIntoLargeModelCalls) {
  const MockRunResult result = RunStep("effects.partial_dependence", {{"features", {"x0"}}});
  ASSERT_TRUE(result.ok()) << result.error;
  // 100 grid points x 200 rows; 40 points (8000 rows) per call.
  EXPECT_EQ(result.predict_rows, 20000);
  EXPECT_EQ(result.predict_calls, 3);
  EXPECT_LE(result.max_batch_rows, 8192);
}

TEST(PartialDependence, SameBitsOnOneAndTwoThreads) {
  const json params = {{"features", json::array({"x0", json::array({"x1", "c"})})}, {"kind", "both"}};
  const MockRunResult one = RunStep("effects.partial_dependence", params, 1);
  const MockRunResult two = RunStep("effects.partial_dependence", params, 2);
  ASSERT_TRUE(one.ok() && two.ok()) << one.error << two.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
}

TEST(PartialDependence, RefusesUnknownFeaturesAndBadPercentiles) {
  MockRunResult result = RunStep("effects.partial_dependence", {{"features", {"nope"}}});
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.error.find("'nope'"), std::string::npos) << result.error;
  result = RunStep("effects.partial_dependence", {{"percentiles", {0.9, 0.1}}});
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.error.find("percentiles"), std::string::npos) << result.error;
  result = RunStep("effects.partial_dependence", {{"features", json::array({json::array({"x0", "x0"})})}});
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.error.find("itself"), std::string::npos) << result.error;
}

TEST(Ale, NumericEffectOfAnAdditiveModelIsItsCentredComponent) {
  for (const char* name : {"x0", "x1"}) {
    SCOPED_TRACE(name);
    const MockRunResult result = RunStep("effects.ale", {{"features", {name}}, {"bins", 12}});
    ASSERT_TRUE(result.ok()) << result.error;
    const json& feature = result.json["features"][0];
    const auto z = feature["values"].get<std::vector<double>>();
    const auto counts = feature["counts"].get<std::vector<double>>();
    const auto ale = Flatten(result.json["ale"]["0"]);
    auto component = [&](double v) { return std::string(name) == "x0" ? v * v : 3 * std::sin(v); };
    ASSERT_EQ(ale.size(), z.size());
    ASSERT_EQ(counts.size(), z.size() - 1);
    double centre = 0, total = 0;
    for (std::size_t k = 0; k < z.size(); ++k) {
      EXPECT_NEAR(ale[k] - ale[0], component(z[k]) - component(z[0]), 1e-12);
      if (k > 0) {
        centre += counts[k - 1] * (ale[k - 1] + ale[k]) / 2;
        total += counts[k - 1];
      }
    }
    EXPECT_NEAR(centre, 0.0, 1e-12);  // centred: the rows' mean effect (bin midpoints) is zero
    EXPECT_EQ(total, 200);
  }
}

TEST(Ale, CategoricalEffectOfAnAdditiveModelIsTheCentredLevelEffect) {
  const MockDataset data = AdditiveData();
  const MockRunResult result = RunStep("effects.ale", {{"features", {"c"}}});
  ASSERT_TRUE(result.ok()) << result.error;
  const json& feature = result.json["features"][0];
  const auto order = feature["values"].get<std::vector<double>>();
  const auto counts = feature["counts"].get<std::vector<double>>();
  const auto ale = Flatten(result.json["ale"]["0"]);
  double mean_effect = 0;
  for (const double code : data.features[2].values) mean_effect += kLevelEffect[static_cast<int>(code)] / 200;
  ASSERT_EQ(order.size(), 3u);
  for (std::size_t p = 0; p < 3; ++p)
    EXPECT_NEAR(ale[p], kLevelEffect[static_cast<int>(order[p])] - mean_effect, 1e-12);
  EXPECT_EQ(counts[0] + counts[1] + counts[2], 200);
}

// 400 rows of a product design: x1 in 8 values and x2 in 5 values, every combination 10 times, so the
// features are independent and every cell holds rows.
MockDataset ProductDesign() {
  MockDataset data;
  std::vector<double> x1, x2, c;
  for (int repeat = 0; repeat < 10; ++repeat) {
    for (int a = 0; a < 8; ++a) {
      for (int b = 0; b < 5; ++b) {
        x1.push_back(0.5 * a * a - 1);
        x2.push_back(3.0 + 0.7 * b);
        c.push_back(static_cast<double>((a + b + repeat) % 3));
      }
    }
  }
  data.features = {MockColumn::Numeric("x1", x1), MockColumn::Numeric("x2", x2),
                   MockColumn::Categorical("c", {"a", "b", "d"}, c)};
  return data;
}

// f = k x1 x2 + x1^2 + 3 sin(x2) + effect[c]: a pure interaction k x1 x2 plus additive terms.
MockModel InteractionModel(double k) {
  return MockModel::Regressor({"f"}, [k](const double* x, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) {
      const double* row = x + 3 * i;
      out[i] = k * row[0] * row[1] + row[0] * row[0] + 3 * std::sin(row[1]) +
               kLevelEffect[static_cast<int>(row[2])];
    }
  });
}

TEST(Ale, SecondOrderEffectOfAPureInteractionIsTheCentredProduct) {
  // With independent features and every cell filled, the second-order ALE of k x1 x2 (first-order effects
  // removed, centred) is k (z1 - c1)(z2 - c2) at the edges, c the count-weighted mean of a feature's bin
  // midpoints; the additive terms contribute nothing.
  for (const double k : {0.0, 1.0, -2.5}) {
    SCOPED_TRACE(k);
    const MockDataset data = ProductDesign();
    const MockRunResult result = RunStep(
        "effects.ale", {{"features", json::array()}, {"pairs", json::array({json::array({"x1", "x2"})})}}, 1,
        InteractionModel(k), 3, data);
    ASSERT_TRUE(result.ok()) << result.error;
    const json& pair = result.json["pairs"][0];
    const auto z1 = pair["values"][0].get<std::vector<double>>();
    const auto z2 = pair["values"][1].get<std::vector<double>>();
    const auto counts = Flatten(pair["counts"]);
    EXPECT_EQ(pair["empty_cells"], 0);
    ASSERT_EQ(z1.size(), 8u);  // the 8 values: the minimum joins the first bin
    ASSERT_EQ(z2.size(), 5u);
    const std::size_t k1 = z1.size() - 1, k2 = z2.size() - 1;
    std::vector<double> n1(k1, 0.0), n2(k2, 0.0);
    for (std::size_t a = 0; a < k1; ++a)
      for (std::size_t b = 0; b < k2; ++b) {
        n1[a] += counts[a * k2 + b];
        n2[b] += counts[a * k2 + b];
      }
    double c1 = 0, c2 = 0;
    for (std::size_t a = 0; a < k1; ++a) c1 += n1[a] * (z1[a] + z1[a + 1]) / 2 / 400;
    for (std::size_t b = 0; b < k2; ++b) c2 += n2[b] * (z2[b] + z2[b + 1]) / 2 / 400;
    const auto ale = Flatten(result.json["ale2"]["0"]);
    ASSERT_EQ(ale.size(), z1.size() * z2.size());
    for (std::size_t a = 0; a < z1.size(); ++a)
      for (std::size_t b = 0; b < z2.size(); ++b)
        EXPECT_NEAR(ale[a * z2.size() + b], k * (z1[a] - c1) * (z2[b] - c2), 1e-9) << a << ", " << b;
  }
}

TEST(Ale, SecondOrderEffectOfAnAdditiveModelIsZeroAndPairsAreChecked) {
  const MockRunResult result =
      RunStep("effects.ale",
              {{"features", {"x0"}}, {"pairs", json::array({json::array({"x0", "x1"})})}, {"bins", 10}});
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.json["features"].size(), 1u);
  for (const double value : Flatten(result.json["ale2"]["0"])) EXPECT_NEAR(value, 0.0, 1e-9);
  EXPECT_EQ(result.predict_rows, 2 * 200 + 4 * 200);  // first-order: 2 per row; the pair: 4 per row
  const auto error = [](const json& params) {
    const MockRunResult refused = RunStep("effects.ale", params);
    EXPECT_FALSE(refused.ok()) << params.dump();
    return refused.error;
  };
  EXPECT_NE(error({{"pairs", json::array({json::array({"x0", "c"})})}}).find("categorical feature 'c'"),
            std::string::npos);
  EXPECT_NE(error({{"pairs", json::array({json::array({"x0", "x0"})})}}).find("with itself"),
            std::string::npos);
  EXPECT_NE(error({{"pairs", json::array({"x0"})}}).find("pairs of two"), std::string::npos);
  EXPECT_NE(error({{"pairs", json::array({json::array({"x0", "zz"})})}}).find("zz"), std::string::npos);
  EXPECT_NE(error({{"features", json::array()}}).find("no effect"), std::string::npos);
}

TEST(Ale, SameBitsOnOneAndTwoThreadsAndFewModelCalls) {
  const MockRunResult one = RunStep("effects.ale", json::object(), 1);
  const MockRunResult two = RunStep("effects.ale", json::object(), 2);
  ASSERT_TRUE(one.ok() && two.ok()) << one.error << two.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
  EXPECT_EQ(one.predict_calls, 3);  // one batch per feature
}

TEST(PermutationImportance, UnusedFeatureHasExactlyZeroImportance) {
  const MockRunResult result =
      RunStep("effects.permutation_importance", {{"scoring", "neg_log_loss"}}, 2, ClassifierIgnoringX1());
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.json["feature_names"], json({"x0", "x1", "c"}));
  EXPECT_EQ(result.json["importances_mean"][1].get<double>(), 0.0);
  EXPECT_EQ(result.json["importances_std"][1].get<double>(), 0.0);
  EXPECT_GT(result.json["importances_mean"][0].get<double>(), 0.0);
  EXPECT_EQ(result.json["importances"][0].size(), 5u);
}

TEST(PermutationImportance, SameSeedSameBitsOnAnyThreadCountAndOtherSeedsDiffer) {
  const json params = {{"scoring", "accuracy"}, {"n_repeats", 7}};
  const MockRunResult one = RunStep("effects.permutation_importance", params, 1, ClassifierIgnoringX1(), 9);
  const MockRunResult two = RunStep("effects.permutation_importance", params, 2, ClassifierIgnoringX1(), 9);
  const MockRunResult other =
      RunStep("effects.permutation_importance", params, 2, ClassifierIgnoringX1(), 10);
  ASSERT_TRUE(one.ok() && two.ok() && other.ok());
  EXPECT_EQ(one.json.dump(), two.json.dump());
  EXPECT_NE(one.json["importances"].dump(), other.json["importances"].dump());
}

TEST(PermutationImportance, BatchesWholeRepeatsIntoLargeModelCalls) {
  const MockRunResult result =
      RunStep("effects.permutation_importance", {{"n_repeats", 10}}, 1, ClassifierIgnoringX1());
  ASSERT_TRUE(result.ok()) << result.error;
  // The baseline, then 3 features x 10 repeats x 200 rows in calls of 40 repeats (8000 rows).
  EXPECT_EQ(result.predict_rows, 200 + 6000);
  EXPECT_EQ(result.predict_calls, 2);
}

TEST(PermutationImportance, RefusesWithoutTargetMismatchedScoringOrBadPermutations) {
  MockDataset no_target = AdditiveData();
  no_target.target.clear();
  MockRunResult result =
      RunStep("effects.permutation_importance", json::object(), 1, AdditiveModel(), 3, no_target);
  EXPECT_EQ(result.status, LOUPE_ERROR_UNSUPPORTED);
  EXPECT_NE(result.error.find("target"), std::string::npos) << result.error;
  result = RunStep("effects.permutation_importance", {{"scoring", "accuracy"}}, 1, AdditiveModel());
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.error.find("regressor"), std::string::npos) << result.error;
  result = RunStep("effects.permutation_importance", {{"n_repeats", 1}, {"permutations", {{0, 0}}}}, 1,
                   ClassifierIgnoringX1());
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.error.find("permutations"), std::string::npos) << result.error;
  result = RunStep("effects.permutation_importance", {{"groups", {{"g", {"x0"}}, {"h", {"x0", "c"}}}}}, 1,
                   ClassifierIgnoringX1());
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.error.find("more than one group"), std::string::npos) << result.error;
}

TEST(PermutationImportance, MaxSamplesDrawsOneSeededSubsampleForEveryFeature) {
  const json params = {{"scoring", "accuracy"}, {"n_repeats", 4}, {"max_samples", 0.25}};
  const MockRunResult one = RunStep("effects.permutation_importance", params, 1, ClassifierIgnoringX1(), 9);
  const MockRunResult two = RunStep("effects.permutation_importance", params, 2, ClassifierIgnoringX1(), 9);
  ASSERT_TRUE(one.ok() && two.ok()) << one.error << two.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
  EXPECT_EQ(one.json["max_samples"].get<double>(), 50);  // floor(0.25 * 200)
  const auto rows = one.json["subsample_rows"].get<std::vector<std::int64_t>>();
  ASSERT_EQ(rows.size(), 50u);
  EXPECT_EQ(std::set<std::int64_t>(rows.begin(), rows.end()).size(), 50u);  // without replacement
  // The baseline on the 200 rows, then 3 features x 4 repeats on the 50 subsampled rows.
  EXPECT_EQ(one.predict_rows, 200 + 3 * 4 * 50);
  // x1 is unused, so its shuffles change nothing; its importance is the baseline (all 200 rows, as
  // scikit-learn) minus the score of the subsample, the same in every repeat.
  EXPECT_EQ(one.json["importances_std"][1].get<double>(), 0.0);
  const MockRunResult count = RunStep("effects.permutation_importance",
                                      {{"n_repeats", 4}, {"max_samples", 50}}, 1, ClassifierIgnoringX1(), 9);
  ASSERT_TRUE(count.ok()) << count.error;
  EXPECT_EQ(count.json["subsample_rows"], one.json["subsample_rows"]);  // 50 rows either way, same draw
}

TEST(PermutationImportance, IntegerSampleWeightsEqualRepeatedRows) {
  // Weight 2 on a row counts it twice: the weighted baseline equals the unweighted one on a table that
  // holds every weight-2 row twice.
  MockDataset weighted = AdditiveData();
  MockDataset repeated = AdditiveData();
  std::vector<double> w;
  for (int i = 0; i < 200; ++i) w.push_back(i % 3 == 0 ? 2.0 : 1.0);
  weighted.others.push_back(MockColumn::Numeric("w", w));
  for (auto* column :
       {&repeated.features[0], &repeated.features[1], &repeated.features[2], &repeated.others[0]})
    for (int i = 0; i < 200; i += 3) column->values.push_back(column->values[static_cast<std::size_t>(i)]);
  for (const std::string scoring : {"accuracy", "neg_log_loss", "roc_auc"}) {
    const MockRunResult a = RunStep("effects.permutation_importance",
                                    {{"scoring", scoring}, {"n_repeats", 1}, {"sample_weight", "w"}}, 1,
                                    ClassifierIgnoringX1(), 3, weighted);
    const MockRunResult b =
        RunStep("effects.permutation_importance", {{"scoring", scoring}, {"n_repeats", 1}}, 1,
                ClassifierIgnoringX1(), 3, repeated);
    ASSERT_TRUE(a.ok() && b.ok()) << a.error << b.error;
    EXPECT_NEAR(a.json["baseline_score"].get<double>(), b.json["baseline_score"].get<double>(), 1e-12)
        << scoring;
    EXPECT_EQ(a.json["sample_weight"], "w");
  }
}

TEST(PermutationImportance, RefusesBadMaxSamplesSubsamplesAndWeights) {
  const auto error = [](const json& params, MockDataset data = AdditiveData()) {
    const MockRunResult result =
        RunStep("effects.permutation_importance", params, 1, ClassifierIgnoringX1(), 3, std::move(data));
    EXPECT_FALSE(result.ok()) << params.dump();
    return result.error;
  };
  EXPECT_NE(error({{"max_samples", 0}}).find("at least 1"), std::string::npos);
  EXPECT_NE(error({{"max_samples", 1.5}}).find("(0, 1]"), std::string::npos);
  EXPECT_NE(error({{"max_samples", 201}}).find("[1, 200]"), std::string::npos);
  EXPECT_NE(error({{"max_samples", 0.001}}).find("at least one"), std::string::npos);
  EXPECT_NE(error({{"subsample", {1, 2}}}).find("needs 'max_samples'"), std::string::npos);
  EXPECT_NE(error({{"max_samples", 2}, {"subsample", {1, 1}}}).find("distinct"), std::string::npos);
  EXPECT_NE(error({{"sample_weight", "nope"}}).find("not a column"), std::string::npos);
  MockDataset negative = AdditiveData();
  std::vector<double> w(200, 1.0);
  w[17] = -1;
  negative.others.push_back(MockColumn::Numeric("w", w));
  EXPECT_NE(error({{"sample_weight", "w"}}, negative).find("negative weight -1 at row 17"),
            std::string::npos);
}

loupe::testing::ConformanceCase Case(json params, MockModel model) {
  loupe::testing::ConformanceCase c;
  c.dataset = AdditiveData();
  c.model = std::move(model);
  c.params = std::move(params);
  c.rows = AllRows(c.dataset);
  return c;
}

TEST(Effects, EveryExplainerPassesTheConformanceKit) {
  loupe::testing::ConformanceCase pd = Case({{"features", {"x0"}}, {"grid_resolution", 10}}, AdditiveModel());
  pd.bad_params = {{{{"features", {"zz"}}}, "features"}, {{{"percentiles", {0.5}}}, "percentiles"}};
  auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "effects.partial_dependence", pd);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);

  loupe::testing::ConformanceCase ale = Case({{"bins", 8}}, AdditiveModel());
  ale.bad_params = {{{{"features", {"zz"}}}, "features"}};
  failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "effects.ale", ale);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);

  loupe::testing::ConformanceCase pi = Case({{"n_repeats", 3}}, ClassifierIgnoringX1());
  pi.bad_params = {{{{"scoring", "r2"}}, "scoring"}, {{{"features", {"zz"}}}, "features"}};
  failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "effects.permutation_importance", pi);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

}  // namespace
