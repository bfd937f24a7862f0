// surrogate.tree through the SDK's mock host: recovery of a known tree with a categorical split, fidelity
// checked by hand, accuracy against true labels, decision paths, missing values in rules, augmentation,
// batching, refusals and the conformance kit.
#include <gtest/gtest.h>

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

const LoupeExplainerVTable& TreeVTable() {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  return *loupe::testing::FindExplainer(*info, "surrogate.tree");
}

MockRunResult RunTree(const MockDataset& data, const MockModel& model, nlohmann::json params,
                      std::vector<std::int64_t> rows = {}, int threads = 1) {
  MockRunOptions options;
  options.params = std::move(params);
  options.rows = std::move(rows);
  options.seed = 5;
  options.threads = threads;
  return MockHost(data, model).Run(TreeVTable(), options);
}

// A classifier over rows of `width` features whose class (0..k-1) is `f(row)`, as one-hot probabilities.
MockModel ClassifierOf(std::vector<std::string> classes, std::int64_t width,
                       std::function<int(const double*)> f) {
  const auto k = static_cast<std::int64_t>(classes.size());
  auto predict = [=](const double* x, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) {
      const int c = f(x + i * width);
      for (std::int64_t j = 0; j < k; ++j) out[i * k + j] = j == c ? 0.9 : 0.1 / static_cast<double>(k - 1);
    }
  };
  return MockModel::Classifier(classes, predict, classes, predict);
}

// Income on a 0.5 grid, Age integers, Job categorical; the model is a known depth-2 tree.
MockDataset CreditLike(std::int64_t n, double missing_share = 0.0) {
  MockDataset data;
  std::vector<double> income, age, job;
  loupe::sdk::Rng rng(77, 0, 0);
  for (std::int64_t i = 0; i < n; ++i) {
    income.push_back(rng.Uniform() < missing_share ? NAN : 0.5 * static_cast<double>(rng.Below(400)));
    age.push_back(static_cast<double>(18 + rng.Below(60)));
    const double u = rng.Uniform();  // fixed 45%, freelance 10%, partime 35%, others 10%
    job.push_back(u < 0.45 ? 0 : u < 0.55 ? 1 : u < 0.9 ? 2 : 3);
  }
  data.features = {MockColumn::Numeric("Income", income), MockColumn::Numeric("Age", age),
                   MockColumn::Categorical("Job", {"fixed", "freelance", "partime", "others"}, job)};
  return data;
}

// good when Income > 120 (or missing) and Job in {fixed, partime}, or Income <= 120 and Age > 70; bad
// otherwise. Greedy CART finds it: the Income split is by far the most informative.
int KnownTree(const double* x) {
  if (std::isnan(x[0]) || x[0] > 120) return (x[2] == 0 || x[2] == 2) ? 0 : 1;
  return x[1] > 70 ? 0 : 1;
}

TEST(SurrogateTree, RecoversAKnownTreeExactly) {
  const MockDataset data = CreditLike(3000);
  const MockRunResult run = RunTree(data, ClassifierOf({"good", "bad"}, 3, KnownTree), {{"holdout", 0.25}});
  ASSERT_TRUE(run.ok()) << run.error;
  const nlohmann::json& nodes = run.json["nodes"];
  ASSERT_EQ(nodes.size(), 7u) << nodes.dump();
  EXPECT_EQ(nodes[0]["feature"], "Income");
  EXPECT_EQ(nodes[0]["threshold"].get<double>(), 120.25);  // midpoint of 120 and 120.5
  // Preorder: 1 = Income <= 120.25 (Age split), 4 = Income > 120.25 (Job split).
  EXPECT_EQ(nodes[1]["feature"], "Age");
  EXPECT_EQ(nodes[1]["threshold"].get<double>(), 70.5);
  EXPECT_EQ(nodes[4]["feature"], "Job");
  EXPECT_EQ(nodes[4]["split"], "categorical");
  const auto left_jobs = nodes[4]["categories"].get<std::vector<std::string>>();
  EXPECT_TRUE((left_jobs == std::vector<std::string>{"fixed", "partime"}) ||
              (left_jobs == std::vector<std::string>{"freelance", "others"}))
      << nodes[4].dump();
  for (const auto& node : nodes) {
    if (node["children"].empty()) {
      EXPECT_EQ(node["impurity"].get<double>(), 0.0);
    }
  }
  EXPECT_EQ(run.json["fidelity"]["holdout"]["accuracy"].get<double>(), 1.0);
  EXPECT_EQ(run.json["fidelity"]["holdout"]["rows"].get<std::int64_t>(), 750);
  EXPECT_EQ(run.json["fidelity"]["train"]["macro_f1"].get<double>(), 1.0);
  EXPECT_EQ(run.json["quality"]["fidelity"].get<double>(), 1.0);
  EXPECT_EQ(run.json["rules"].size(), 4u);
  bool found = false;
  for (const auto& rule : run.json["rules"]) {
    const std::string text = rule.get<std::string>();
    found = found || (text.find("Income > 120.25 AND Job in {fixed, partime} \u2192 good (100% of ") == 0);
  }
  EXPECT_TRUE(found) << run.json["rules"].dump();
  const auto importances = run.json["feature_importances"].get<std::vector<double>>();
  EXPECT_NEAR(importances[0] + importances[1] + importances[2], 1.0, 1e-12);
  EXPECT_GT(importances[2], 0.0);
  EXPECT_NE(run.json["dot"].get<std::string>().find(
                "0 -> 1 [labeldistance=2.5, labelangle=45, headlabel=\"True\"]"),
            std::string::npos);
}

// x = 0..9; the model says A for x <= 4 and for x = 9, B for 5..8. A stump splits at 4.5.
TEST(SurrogateTree, FidelityMatchesAHandComputation) {
  MockDataset data;
  data.features = {MockColumn::Numeric("x", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})};
  const auto model =
      ClassifierOf({"A", "B"}, 1, [](const double* x) { return x[0] <= 4 || x[0] == 9 ? 0 : 1; });
  const MockRunResult run = RunTree(data, model, {{"holdout", 0.0}, {"max_depth", 1}});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_EQ(run.json["nodes"][0]["threshold"].get<double>(), 4.5);
  // Tree: A A A A A | B B B B B; model: A A A A A | B B B B A.
  EXPECT_DOUBLE_EQ(run.json["fidelity"]["train"]["accuracy"].get<double>(), 0.9);
  // F1(A) = 2*5/(6+5) = 10/11, F1(B) = 2*4/(4+5) = 8/9.
  EXPECT_DOUBLE_EQ(run.json["fidelity"]["train"]["macro_f1"].get<double>(), (10.0 / 11.0 + 8.0 / 9.0) / 2.0);
  EXPECT_TRUE(run.json["fidelity"]["holdout"].is_null());
  EXPECT_EQ(run.json["rules"][1], "x > 4.5 \u2192 B (80% of 5 rows)");

  // Regression on the same data: y = x^2, R² of the stump by hand.
  const auto squares = MockModel::Regressor({"y"}, [](const double* x, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] * x[i];
  });
  const MockRunResult reg = RunTree(data, squares, {{"holdout", 0.0}, {"max_depth", 1}});
  ASSERT_TRUE(reg.ok()) << reg.error;
  // Stumps for x^2: splitting 0..5 | 6..9 leaves the least squared error (means 55/6 and 230/4).
  EXPECT_EQ(reg.json["nodes"][0]["threshold"].get<double>(), 5.5);
  double res = 0, ss_tot = 0;
  for (int x = 0; x < 10; ++x) {
    const double fit = x <= 5 ? 55.0 / 6.0 : 230.0 / 4.0;
    res += (x * x - fit) * (x * x - fit);
    ss_tot += (x * x - 28.5) * (x * x - 28.5);
  }
  EXPECT_NEAR(reg.json["fidelity"]["train"]["r2"].get<double>(), 1.0 - res / ss_tot, 1e-12);
  EXPECT_EQ(reg.json["target"]["kind"], "score");
}

TEST(SurrogateTree, AccuracyAgainstTrueLabels) {
  MockDataset data = CreditLike(400);
  std::vector<double> status;
  for (std::int64_t i = 0; i < 400; ++i) {
    const double row[3] = {data.features[0].values[i], data.features[1].values[i],
                           data.features[2].values[i]};
    status.push_back(i % 10 == 0 ? 1 - KnownTree(row) : KnownTree(row));  // the model is wrong on 10% of rows
  }
  data.others.push_back(MockColumn::Categorical("Status", {"good", "bad"}, status));
  data.target = "Status";
  data.positive_label = "bad";
  const MockRunResult run = RunTree(data, ClassifierOf({"good", "bad"}, 3, KnownTree), {{"holdout", 0.0}});
  ASSERT_TRUE(run.ok()) << run.error;
  const nlohmann::json& truth = run.json["truth"];
  EXPECT_EQ(truth["target"], "Status");
  EXPECT_DOUBLE_EQ(truth["train"]["model"]["accuracy"].get<double>(), 0.9);
  EXPECT_DOUBLE_EQ(truth["train"]["surrogate"]["accuracy"].get<double>(), 0.9);

  // A score surrogate of P(bad) (the positive label) is compared with Status == bad at 0.5.
  const MockRunResult score =
      RunTree(data, ClassifierOf({"good", "bad"}, 3, KnownTree), {{"holdout", 0.0}, {"target", "score"}});
  ASSERT_TRUE(score.ok()) << score.error;
  EXPECT_EQ(score.json["target"]["output"], "bad");
  EXPECT_EQ(score.json["truth"]["positive"], "bad");
  EXPECT_DOUBLE_EQ(score.json["truth"]["train"]["surrogate"]["accuracy"].get<double>(), 0.9);
}

TEST(SurrogateTree, DecisionPathsForTheChosenRows) {
  const MockDataset data = CreditLike(200);
  const auto model = ClassifierOf({"good", "bad"}, 3, KnownTree);
  std::vector<std::int64_t> every(200);
  for (std::int64_t i = 0; i < 200; ++i) every[i] = i;
  // A global step's default rows are every row: no paths unless asked.
  const MockRunResult all = RunTree(data, model, nlohmann::json::object(), every);
  ASSERT_TRUE(all.ok()) << all.error;
  EXPECT_TRUE(all.json["paths"].empty());
  // The step's own `rows:` name the rows.
  const MockRunResult some = RunTree(data, model, nlohmann::json::object(), {3, 17});
  ASSERT_TRUE(some.ok()) << some.error;
  ASSERT_EQ(some.json["paths"].size(), 2u);
  for (const auto& path : some.json["paths"]) {
    const std::int64_t row = path["row"];
    const double x[3] = {data.features[0].values[row], data.features[1].values[row],
                         data.features[2].values[row]};
    EXPECT_EQ(path["model"], KnownTree(x) == 0 ? "good" : "bad");
    EXPECT_EQ(path["nodes"][0], 0);
    const std::int64_t leaf = path["leaf"];
    EXPECT_EQ(path["nodes"].back().get<std::int64_t>(), leaf);
    EXPECT_EQ(path["rule"], some.json["nodes"][leaf]["rule"]);
    EXPECT_EQ(path["agrees"], path["surrogate"] == path["model"]);
  }
  // `paths_for` overrides the step's rows.
  const MockRunResult chosen = RunTree(data, model, {{"paths_for", nlohmann::json::array({5})}}, every);
  ASSERT_TRUE(chosen.ok()) << chosen.error;
  ASSERT_EQ(chosen.json["paths"].size(), 1u);
  EXPECT_EQ(chosen.json["paths"][0]["row"], 5);
}

TEST(SurrogateTree, MissingValuesAppearInRules) {
  const MockDataset data = CreditLike(2000, 0.2);
  const MockRunResult run = RunTree(data, ClassifierOf({"good", "bad"}, 3, KnownTree), {{"holdout", 0.0}});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_EQ(run.json["nodes"][0]["feature"], "Income");
  EXPECT_EQ(run.json["nodes"][0]["missing"], "right");  // missing Income behaves like a high income
  EXPECT_EQ(run.json["fidelity"]["train"]["accuracy"].get<double>(), 1.0);
  bool mentions = false;
  for (const auto& rule : run.json["rules"])
    mentions = mentions || rule.get<std::string>().find("Income is missing") != std::string::npos;
  EXPECT_TRUE(mentions) << run.json["rules"].dump();
}

TEST(SurrogateTree, AugmentsWithSeededRowsInLargeBatches) {
  const MockDataset data = CreditLike(500);
  const auto model = ClassifierOf({"good", "bad"}, 3, KnownTree);
  const MockRunResult one = RunTree(data, model, {{"augment", 20000}}, {}, 1);
  const MockRunResult two = RunTree(data, model, {{"augment", 20000}}, {}, 2);
  ASSERT_TRUE(one.ok()) << one.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
  EXPECT_EQ(one.json["quality"]["augmented_rows"].get<double>(), 20000.0);
  EXPECT_EQ(one.predict_rows, 20500);
  EXPECT_LE(one.predict_calls, 5);  // 20,400 training rows in 3 batches, 100 holdout rows in 1
  EXPECT_EQ(one.json["fidelity"]["holdout"]["accuracy"].get<double>(), 1.0);
}

TEST(SurrogateTree, RefusesWithOneSentenceNamingTheParameter) {
  const MockDataset data = CreditLike(100);
  const auto classifier = ClassifierOf({"good", "bad"}, 3, KnownTree);
  const struct {
    nlohmann::json params;
    std::string mentions;
  } cases[] = {
      {{{"criterion", "squared_error"}}, "parameter 'criterion' must be \"gini\" or \"entropy\""},
      {{{"target", "score"}, {"criterion", "gini"}}, "parameter 'criterion' must be \"squared_error\""},
      {{{"holdout", 1.0}}, "parameter 'holdout' must be a fraction in [0, 1), found 1"},
      {{{"min_samples_leaf", 2.5}}, "parameter 'min_samples_leaf'"},
      {{{"min_samples_split", 1}}, "parameter 'min_samples_split'"},
      {{{"sample_weight", "nope"}},
       "parameter 'sample_weight' must name a column of the data, found \"nope\""},
      {{{"target", "score"}, {"score_output", "ugly"}},
       "parameter 'score_output' must name one of the model's outputs"},
  };
  for (const auto& c : cases) {
    const MockRunResult run = RunTree(data, classifier, c.params);
    EXPECT_FALSE(run.ok()) << c.params.dump();
    EXPECT_FALSE(run.rejected_by_host) << run.error;
    EXPECT_NE(run.error.find(c.mentions), std::string::npos) << run.error;
  }
  const auto regressor = MockModel::Regressor({"y"}, [](const double*, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = 1.0;
  });
  const MockRunResult run = RunTree(data, regressor, {{"target", "class"}});
  EXPECT_NE(run.error.find("parameter 'target' must be \"score\" or \"auto\""), std::string::npos)
      << run.error;
}

TEST(SurrogateTree, SampleWeightsChangeTheTree) {
  MockDataset data;
  data.features = {MockColumn::Numeric("x", {0, 1, 2, 3, 4, 5, 6, 7})};
  data.others = {MockColumn::Numeric("w", {1, 1, 1, 1, 1, 1, 1, 50})};
  // Class B at x = 0, 1 and 7: unweighted the stump isolates {0, 1} (weighted gini 0.208 vs 0.357 for
  // 6.5); with x = 7 weighing 50 it isolates x = 7 (0.050 vs 0.159).
  const auto model =
      ClassifierOf({"A", "B"}, 1, [](const double* x) { return x[0] <= 1 || x[0] == 7 ? 1 : 0; });
  const MockRunResult plain = RunTree(data, model, {{"holdout", 0.0}, {"max_depth", 1}});
  const MockRunResult weighted =
      RunTree(data, model, {{"holdout", 0.0}, {"max_depth", 1}, {"sample_weight", "w"}});
  ASSERT_TRUE(plain.ok() && weighted.ok()) << plain.error << weighted.error;
  EXPECT_EQ(weighted.json["nodes"][0]["threshold"].get<double>(), 6.5);
  EXPECT_EQ(plain.json["nodes"][0]["threshold"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(weighted.json["nodes"][0]["weighted_samples"].get<double>(), 57.0);
}

TEST(SurrogateTree, PassesTheConformanceKit) {
  loupe::testing::ConformanceCase c;
  c.dataset = CreditLike(300, 0.1);
  c.model = ClassifierOf({"good", "bad"}, 3, KnownTree);
  c.params = {{"max_depth", 4}, {"augment", 500}};
  c.rows = {0, 1, 2};
  c.bad_params = {{{{"criterion", "squared_error"}}, "criterion"},
                  {{{"holdout", 1.0}}, "holdout"},
                  {{{"min_samples_leaf", 0.0}}, "min_samples_leaf"},
                  {{{"paths_for", "900:905"}}, "paths_for"}};
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "surrogate.tree", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

}  // namespace
