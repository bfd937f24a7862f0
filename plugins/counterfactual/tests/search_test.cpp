// counterfactual.search through the SDK's mock host, on logistic models written out in the tests so that
// validity is re-checked by calling the model here, constraints are checked feature by feature, and the
// closest counterfactual is compared with the analytic projection onto the decision boundary.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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
using nlohmann::json;

const LoupeExplainerVTable& Search() {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  return *loupe::testing::FindExplainer(*info, "counterfactual.search");
}

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// A logistic classifier with classes {bad, good}: P(good) = sigmoid(bias + Σ weight_j x_j), where a
// categorical feature contributes weight_j times its level code.
MockModel Logistic(std::vector<double> weights, double bias) {
  const auto f = static_cast<std::int64_t>(weights.size());
  return MockModel::Classifier(
      {"bad", "good"},
      [weights, bias, f](const double* rows, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) {
          double z = bias;
          for (std::int64_t j = 0; j < f; ++j) z += weights[static_cast<std::size_t>(j)] * rows[i * f + j];
          out[2 * i] = 1 - Sigmoid(z);
          out[2 * i + 1] = Sigmoid(z);
        }
      },
      {"logit"}, nullptr);
}

double MedianOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

double Mad(const std::vector<double>& v) {
  const double median = MedianOf(v);
  std::vector<double> deviations;
  for (const double x : v) deviations.push_back(std::fabs(x - median));
  return MedianOf(deviations);
}

// Three continuous features with very different spreads: a ~ N(0, 1), b ~ N(0, 5²), c ~ N(0, 0.1²).
// Row 0 is (-0.5, -2, 0).
MockDataset Spreads() {
  std::vector<double> a{-0.5}, b{-2.0}, c{0.0};
  for (std::uint64_t i = 1; i < 400; ++i) {
    loupe::sdk::Rng rng(7, i, 0);
    a.push_back(rng.Normal());
    b.push_back(5 * rng.Normal());
    c.push_back(0.1 * rng.Normal());
  }
  MockDataset data;
  data.features = {MockColumn::Numeric("a", a), MockColumn::Numeric("b", b), MockColumn::Numeric("c", c)};
  return data;
}

// A credit-like table: Income, Age, Debt (integers), Records, Marital, Home (categorical).
MockDataset Credit() {
  std::vector<double> income, age, debt, records, marital, home;
  for (std::uint64_t i = 0; i < 300; ++i) {
    loupe::sdk::Rng rng(11, i, 0);
    income.push_back(static_cast<double>(60 + rng.Below(200)));
    age.push_back(static_cast<double>(20 + rng.Below(50)));
    debt.push_back(static_cast<double>(rng.Below(40) * 50));
    records.push_back(static_cast<double>(rng.Below(2)));
    marital.push_back(static_cast<double>(rng.Below(3)));
    home.push_back(static_cast<double>(rng.Below(3)));
  }
  MockDataset data;
  data.features = {MockColumn::Numeric("Income", income),
                   MockColumn::Numeric("Age", age),
                   MockColumn::Numeric("Debt", debt),
                   MockColumn::Categorical("Records", {"no", "yes"}, records),
                   MockColumn::Categorical("Marital", {"married", "single", "widow"}, marital),
                   MockColumn::Categorical("Home", {"owner", "parents", "rent"}, home)};
  return data;
}

// P(good) rises with income and age, falls with debt, with records and with renting.
MockModel CreditModel() { return Logistic({0.03, 0.04, -0.002, -1.5, 0.3, -0.6}, -5.5); }

MockRunResult RunSearch(const MockDataset& data, const MockModel& model, json params,
                        std::vector<std::int64_t> rows, int threads = 1, std::uint64_t seed = 5) {
  MockRunOptions options;
  options.params = std::move(params);
  options.rows = std::move(rows);
  options.threads = threads;
  options.seed = seed;
  return MockHost(data, model).Run(Search(), options);
}

std::vector<std::int64_t> Range(std::int64_t n) {
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < n; ++i) rows.push_back(i);
  return rows;
}

// The counterfactual's values as model inputs: numbers parsed, levels turned back into codes.
std::vector<double> Decode(const json& values, const MockDataset& data) {
  std::vector<double> row;
  for (std::size_t j = 0; j < data.features.size(); ++j) {
    const MockColumn& column = data.features[j];
    const std::string text = values[j].get<std::string>();
    if (column.type == LOUPE_FEATURE_CATEGORICAL) {
      row.push_back(static_cast<double>(std::find(column.levels.begin(), column.levels.end(), text) -
                                        column.levels.begin()));
    } else {
      row.push_back(std::stod(text));
    }
  }
  return row;
}

double PredictGood(const MockModel& model, const std::vector<double>& row) {
  double out[2];
  model.predict(row.data(), 1, out);
  return out[1];
}

TEST(CounterfactualSearch, ClosestMatchesTheAnalyticProjectionOnALogisticModel) {
  // Under the MAD-weighted L1 distance the cheapest way across w·x + bias = 0 puts the whole change on the
  // feature with the largest |w_j| × MAD_j (cost |margin| / (|w_j| MAD_j)); here that is b, while the
  // largest |w_j| / MAD_j would be c (whose required change is also outside its observed range).
  const MockDataset data = Spreads();
  const std::vector<double> w{1.0, 0.5, 4.0};
  const MockModel model = Logistic(w, 0.0);
  std::vector<double> mad;
  for (const auto& column : data.features) mad.push_back(Mad(column.values));
  std::size_t best = 0;
  for (std::size_t j = 1; j < w.size(); ++j) {
    if (std::fabs(w[j]) * mad[j] > std::fabs(w[best]) * mad[best]) best = j;
  }
  ASSERT_EQ(best, 1u);
  const double margin = -0.5 * w[0] - 2.0 * w[1];  // -1.5
  const double analytic_b = -2.0 - margin / w[1];  // 1.0
  const double analytic_distance = std::fabs(margin / w[1]) / mad[1];

  const auto run = RunSearch(data, model, {{"n", 3}}, {0});
  ASSERT_TRUE(run.ok()) << run.error;
  const json& row = run.json["rows"][0];
  ASSERT_EQ(row["status"], "found") << row["message"];
  const json& closest = row["counterfactuals"][0];
  ASSERT_EQ(closest["changes"].size(), 1u) << closest["sentence"];
  EXPECT_EQ(closest["changes"][0]["feature"], "b");
  const double b = Decode(closest["values"], data)[1];
  EXPECT_GE(b, analytic_b - 1e-9);                             // valid: on the good side of the boundary
  EXPECT_LE(b - analytic_b, 0.01 * std::fabs(margin / w[1]));  // within 1% of the change
  EXPECT_NEAR(closest["distance"].get<double>(), analytic_distance, 0.01 * analytic_distance);
  for (const json& cf : row["counterfactuals"]) {
    EXPECT_GE(cf["distance"].get<double>(), closest["distance"].get<double>());
  }
}

TEST(CounterfactualSearch, EveryCounterfactualIsValidOnRePredictionAndRespectsEveryConstraint) {
  const MockDataset data = Credit();
  const MockModel model = CreditModel();
  const json params = {{"n", 4},
                       {"desired", "good"},
                       {"immutable", {"Age", "Marital"}},
                       {"ranges", {{"Income", {60, 220}}}},
                       {"monotone", {{"Debt", "decrease"}}},
                       {"allowed_levels", {{"Home", {"owner", "rent"}}}}};
  const auto run = RunSearch(data, model, params, Range(40), 2);
  ASSERT_TRUE(run.ok()) << run.error;
  std::int64_t checked = 0, already = 0;
  for (const json& row : run.json["rows"]) {
    const std::int64_t r = row["row"].get<std::int64_t>();
    std::vector<double> original;
    for (const auto& column : data.features) original.push_back(column.values[static_cast<std::size_t>(r)]);
    if (row["status"] == "already_desired") {
      EXPECT_GE(PredictGood(model, original), 0.5);
      ++already;
      continue;
    }
    EXPECT_LT(PredictGood(model, original), 0.5);
    EXPECT_LE(row["counterfactuals"].size(), 4u);
    for (const json& cf : row["counterfactuals"]) {
      const std::vector<double> values = Decode(cf["values"], data);
      EXPECT_GE(PredictGood(model, values), 0.5) << cf["sentence"];
      EXPECT_EQ(values[1], original[1]) << "Age is immutable: " << cf["sentence"];
      EXPECT_EQ(values[4], original[4]) << "Marital is immutable: " << cf["sentence"];
      if (values[0] != original[0]) {
        EXPECT_GE(values[0], 60);
        EXPECT_LE(values[0], 220);
      }
      EXPECT_LE(values[2], original[2]) << "Debt may only decrease: " << cf["sentence"];
      if (values[5] != original[5]) {
        EXPECT_NE(values[5], 1.0) << "Home may not become parents";
      }
      std::size_t changed = 0;
      for (std::size_t j = 0; j < values.size(); ++j) changed += values[j] != original[j] ? 1 : 0;
      EXPECT_EQ(cf["changes"].size(), changed);
      EXPECT_EQ(cf["n_changed"].get<std::size_t>(), changed);
      EXPECT_NE(cf["sentence"].get<std::string>().find("would change the decision to good (p = "),
                std::string::npos);
      ++checked;
    }
  }
  EXPECT_GT(checked, 40);
  EXPECT_LT(already, 40);
}

TEST(CounterfactualSearch, ImpossibleConstraintsGiveNoneFoundWithinBudgetForThatRowOnly) {
  const MockDataset data = Credit();
  // Only Income matters, and Income may not rise: no counterfactual can exist for a row predicted bad.
  const MockModel model = Logistic({0.05, 0, 0, 0, 0, 0}, -8.0);
  const json params = {{"monotone", {{"Income", "decrease"}}}, {"max_evaluations", 2000}};
  const auto run = RunSearch(data, model, params, Range(30));
  ASSERT_TRUE(run.ok()) << run.error;
  std::int64_t impossible = 0;
  for (const json& row : run.json["rows"]) {
    if (row["desired"] == "good") {
      ++impossible;
      EXPECT_EQ(row["status"], "none_found");
      EXPECT_EQ(row["message"].get<std::string>().rfind("none found within budget", 0), 0u) << row["message"];
      EXPECT_TRUE(row["counterfactuals"].empty());
      EXPECT_LE(row["model_evaluations"].get<std::int64_t>(), 2000);
    } else {
      EXPECT_EQ(row["status"], "found") << row["message"];  // bad is reachable by lowering Income
    }
  }
  EXPECT_GT(impossible, 0);
}

TEST(CounterfactualSearch, FewerThanNSaysWhyInASentence) {
  const MockDataset data = Credit();
  // Only Records matters: every row with records gets exactly one minimal counterfactual (Records yes → no);
  // every other valid candidate changes Records and more, so fewer than n = 4 are returned, with the reason.
  const MockModel model = Logistic({0, 0, 0, -6, 0, 0}, 3.0);
  const auto run =
      RunSearch(data, model, {{"n", 4}, {"desired", "good"}, {"max_evaluations", 3000}}, Range(20));
  ASSERT_TRUE(run.ok()) << run.error;
  std::int64_t short_rows = 0;
  for (const json& row : run.json["rows"]) {
    if (row["status"] == "already_desired") continue;
    ASSERT_EQ(row["status"], "found") << row["message"];
    ASSERT_EQ(row["counterfactuals"].size(), 1u);
    EXPECT_EQ(
        row["counterfactuals"][0]["sentence"].get<std::string>().rfind("Records yes → no would change", 0),
        0u);
    EXPECT_EQ(
        row["message"].get<std::string>().rfind("only 1 of the n = 4 counterfactuals asked for reach good: "
                                                "every other valid candidate the search kept repeats one of "
                                                "these or makes all of its changes and more",
                                                0),
        0u)
        << row["message"];
    ++short_rows;
  }
  EXPECT_GT(short_rows, 0);
  EXPECT_EQ(run.json["quality"]["rows_with_fewer_than_n"].get<double>(), static_cast<double>(short_rows));
}

TEST(CounterfactualSearch, EveryFeatureImmutableSaysNothingMayChange) {
  const MockDataset data = Credit();
  const json params = {{"immutable", {"Income", "Age", "Debt", "Records", "Marital", "Home"}}};
  const auto run = RunSearch(data, CreditModel(), params, Range(5));
  ASSERT_TRUE(run.ok()) << run.error;
  for (const json& row : run.json["rows"]) {
    if (row["status"] == "already_desired") continue;
    EXPECT_EQ(row["status"], "none_found");
    EXPECT_NE(row["message"].get<std::string>().find("no feature of this row free to change"),
              std::string::npos);
  }
}

TEST(CounterfactualSearch, SameSeedSameBitsOnOneAndTwoThreads) {
  const MockDataset data = Credit();
  const json params = {{"n", 3}, {"max_evaluations", 3000}};
  const auto one = RunSearch(data, CreditModel(), params, Range(12), 1);
  const auto two = RunSearch(data, CreditModel(), params, Range(12), 2);
  ASSERT_TRUE(one.ok() && two.ok()) << one.error << two.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
  // A row's result depends only on (seed, row): explaining it alone gives the same counterfactuals.
  const auto alone = RunSearch(data, CreditModel(), params, {7}, 1);
  EXPECT_EQ(alone.json["rows"][0].dump(), one.json["rows"][7].dump());
}

TEST(CounterfactualSearch, StaysWithinTheBudgetAndBatchesItsModelCalls) {
  const MockDataset data = Credit();
  const json params = {{"max_evaluations", 1500}, {"batch_size", 250}};
  const auto run = RunSearch(data, CreditModel(), params, Range(10));
  ASSERT_TRUE(run.ok()) << run.error;
  std::int64_t total = 10;  // the rows' own predictions
  for (const json& row : run.json["rows"]) {
    EXPECT_LE(row["model_evaluations"].get<std::int64_t>(), 1500 + 4);  // the budget plus the re-check of n
    total += row["model_evaluations"].get<std::int64_t>();
  }
  EXPECT_EQ(run.predict_rows, total);
  EXPECT_EQ(run.json["quality"]["model_evaluations"].get<std::int64_t>(), total);
  EXPECT_LE(run.max_batch_rows, 250);
  EXPECT_GT(run.predict_rows / run.predict_calls, 20);  // batches, not row by row
}

TEST(CounterfactualSearch, RegressorsReachTheDesiredRange) {
  const MockDataset data = Spreads();
  const MockModel model = MockModel::Regressor({"y"}, [](const double* rows, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = rows[3 * i] + 0.2 * rows[3 * i + 1];
  });
  const auto run = RunSearch(data, model, {{"desired_range", {1.0, 2.0}}}, {0, 1, 2});
  ASSERT_TRUE(run.ok()) << run.error;
  for (const json& row : run.json["rows"]) {
    for (const json& cf : row["counterfactuals"]) {
      const std::vector<double> v = Decode(cf["values"], data);
      const double y = v[0] + 0.2 * v[1];
      EXPECT_GE(y, 1.0);
      EXPECT_LE(y, 2.0);
    }
  }
}

TEST(CounterfactualSearch, RefusesConstraintsNamingNoFeatureOrLevel) {
  const MockDataset data = Credit();
  const auto unknown = RunSearch(data, CreditModel(), {{"immutable", {"Agee"}}}, {0});
  EXPECT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error.find("'Agee', which is not a feature"), std::string::npos) << unknown.error;
  const auto level = RunSearch(data, CreditModel(), {{"allowed_levels", {{"Home", {"castle"}}}}}, {0});
  EXPECT_NE(level.error.find("'castle', which is not a level of feature 'Home'"), std::string::npos)
      << level.error;
  const auto direction = RunSearch(data, CreditModel(), {{"monotone", {{"Debt", "down"}}}}, {0});
  EXPECT_NE(direction.error.find("\"increase\" or \"decrease\""), std::string::npos) << direction.error;
  const auto desired = RunSearch(data, CreditModel(), {{"desired", "great"}}, {0});
  EXPECT_NE(desired.error.find("'great', which is not a class"), std::string::npos) << desired.error;
  const MockModel regressor = MockModel::Regressor(
      {"y"}, [](const double*, std::int64_t n, double* out) { std::fill(out, out + n, 0.0); });
  const auto range = RunSearch(data, regressor, json::object(), {0});
  EXPECT_NE(range.error.find("needs parameter 'desired_range'"), std::string::npos) << range.error;
}

TEST(CounterfactualSearch, PassesTheConformanceKit) {
  loupe::testing::ConformanceCase c;
  c.dataset = Credit();
  c.model = CreditModel();
  c.params = {{"max_evaluations", 500}, {"immutable", {"Age"}}};
  c.rows = {0, 1, 2, 3};
  c.bad_params = {{{{"immutable", {"Agee"}}}, "immutable"}, {{{"ranges", {{"Income", {3, 1}}}}}, "ranges"}};
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "counterfactual.search", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

}  // namespace
