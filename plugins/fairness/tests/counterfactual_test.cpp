// fairness.counterfactual through the SDK's mock host: flips and swaps on small tables whose model is
// written out, so every flip, score change and top row is computed by hand; intersectional and numeric
// sensitive features; missing values; refusals; batching and thread invariance; the conformance kit.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
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

const LoupeExplainerVTable& Counterfactual() {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  return *loupe::testing::FindExplainer(*info, "fairness.counterfactual");
}

// A binary classifier over features [g, x] with P("1") = p(g code, x).
MockModel Binary(double (*p)(double g, double x)) {
  return MockModel::Classifier(
      {"0", "1"},
      [p](const double* rows, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) {
          const double p1 = p(rows[2 * i], rows[2 * i + 1]);
          out[2 * i] = 1 - p1;
          out[2 * i + 1] = p1;
        }
      },
      {"margin"}, nullptr);
}

// P("1") = x, times 1.5 for group B: moving to B raises the score by x/2, moving to A lowers it by x/3.
double BoostB(double g, double x) { return g == 1 ? 1.5 * x : x; }

// Features: g (categorical A/B), x. Rows 0-3 in A, 4-6 in B.
MockDataset FlipTable() {
  MockDataset data;
  data.features = {MockColumn::Categorical("g", {"A", "B"}, {0, 0, 0, 0, 1, 1, 1}),
                   MockColumn::Numeric("x", {0.2, 0.3, 0.4, 0.6, 0.2, 0.36, 0.5})};
  data.others = {MockColumn::Categorical("y", {"0", "1"}, {0, 1, 0, 1, 0, 1, 1})};
  data.target = "y";
  data.positive_label = "1";
  data.sensitive = {"g"};
  return data;
}

MockRunResult RunProbe(const MockDataset& data, const MockModel& model, json params, int threads = 1) {
  MockRunOptions options;
  options.params = std::move(params);
  for (std::int64_t i = 0; i < data.rows(); ++i) options.rows.push_back(i);
  options.threads = threads;
  options.seed = 3;
  return MockHost(data, model).Run(Counterfactual(), options);
}

double D(const json& value) { return value.get<double>(); }

TEST(FairnessCounterfactual, FlipByHand) {
  const auto run = RunProbe(FlipTable(), Binary(BoostB), {{"top_k", 3}});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_EQ(run.json["mode"], "flip");
  ASSERT_EQ(run.json["groups"].size(), 2u);
  // A: scores 0.2 0.3 0.4 0.6 -> decisions 0 0 0 1; as B: 0.3 0.45 0.6 0.9 -> 0 0 1 1. Row 2 flips up.
  const json& a = run.json["groups"][0];
  EXPECT_EQ(a["name"], "g=A");
  EXPECT_EQ(a["n"], 4);
  EXPECT_EQ(a["counterfactuals"], 4);
  EXPECT_EQ(a["flips"], 1);
  EXPECT_DOUBLE_EQ(D(a["flip_rate"]), 0.25);
  EXPECT_EQ(a["flips_to_favorable"], 1);
  EXPECT_EQ(a["flips_from_favorable"], 0);
  EXPECT_DOUBLE_EQ(D(a["selection_rate"]), 0.25);
  EXPECT_DOUBLE_EQ(D(a["counterfactual_selection_rate"]), 0.5);
  EXPECT_NEAR(D(a["mean_abs_score_change"]), (0.1 + 0.15 + 0.2 + 0.3) / 4, 1e-12);
  EXPECT_NEAR(D(a["mean_score_change"]), (0.1 + 0.15 + 0.2 + 0.3) / 4, 1e-12);
  EXPECT_NEAR(D(a["max_abs_score_change"]), 0.3, 1e-12);
  EXPECT_EQ(a["rows_flipped"], 1);
  ASSERT_EQ(a["to"].size(), 1u);
  EXPECT_EQ(a["to"][0]["name"], "g=B");
  EXPECT_EQ(a["to"][0]["flips"], 1);
  // B: scores 0.3 0.54 0.75 -> 0 1 1; as A: 0.2 0.36 0.5 -> 0 0 1. Row 5 flips down.
  const json& b = run.json["groups"][1];
  EXPECT_EQ(b["flips"], 1);
  EXPECT_EQ(b["flips_from_favorable"], 1);
  EXPECT_NEAR(D(b["flip_rate"]), 1.0 / 3, 1e-15);
  EXPECT_NEAR(D(b["mean_abs_score_change"]), (0.1 + 0.18 + 0.25) / 3, 1e-12);
  EXPECT_NEAR(D(b["mean_score_change"]), -(0.1 + 0.18 + 0.25) / 3, 1e-12);
  EXPECT_NEAR(D(b["max_abs_score_change"]), 0.25, 1e-12);
  const json& all = run.json["overall"];
  EXPECT_EQ(all["counterfactuals"], 7);
  EXPECT_NEAR(D(all["flip_rate"]), 2.0 / 7, 1e-15);
  EXPECT_NEAR(D(all["mean_abs_score_change"]), (0.75 + 0.53) / 7, 1e-12);
  EXPECT_NEAR(D(all["max_abs_score_change"]), 0.3, 1e-12);
  EXPECT_NEAR(D(all["row_flip_rate"]), 2.0 / 7, 1e-15);
  // Top 3 by |change|: row 3 (0.3), row 6 (0.25), row 2 (0.2).
  const json& top = run.json["top_rows"];
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0]["row"], 3);
  EXPECT_EQ(top[0]["group"], "g=A");
  EXPECT_EQ(top[0]["counterfactual_group"], "g=B");
  EXPECT_NEAR(D(top[0]["score"]), 0.6, 1e-15);
  EXPECT_NEAR(D(top[0]["counterfactual_score"]), 0.9, 1e-12);
  EXPECT_EQ(top[0]["flipped"], false);
  EXPECT_EQ(top[1]["row"], 6);
  EXPECT_NEAR(D(top[1]["score_change"]), -0.25, 1e-12);
  EXPECT_EQ(top[2]["row"], 2);
  EXPECT_EQ(top[2]["flipped"], true);
  EXPECT_EQ(top[2]["decision"], "0");
  EXPECT_EQ(top[2]["counterfactual_decision"], "1");
  EXPECT_EQ(run.json["quality"]["model_evaluations"], 14);
  EXPECT_EQ(run.predict_calls, 1);
}

TEST(FairnessCounterfactual, ThresholdAndFavorableChangeTheDecisionRule) {
  // threshold 0.35: A 0 0 1 1 -> as B 0 1 1 1 (row 1 flips); B 0 1 1 -> as A 0 1 1 (none).
  const auto run = RunProbe(FlipTable(), Binary(BoostB), {{"threshold", 0.35}});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_EQ(run.json["groups"][0]["flips"], 1);
  EXPECT_EQ(run.json["groups"][1]["flips"], 0);
  // favorable "0": the score is P("0") = 1 - P("1"), so every change changes sign.
  const auto zero = RunProbe(FlipTable(), Binary(BoostB), {{"favorable", "0"}});
  ASSERT_TRUE(zero.ok()) << zero.error;
  EXPECT_EQ(zero.json["favorable"], "0");
  EXPECT_NEAR(D(zero.json["groups"][0]["mean_score_change"]), -(0.1 + 0.15 + 0.2 + 0.3) / 4, 1e-12);
  // P("0") >= 0.5: A decisions 0 0 0 1 (as labels "0"=favourable: rows 0-2), as B row 2 leaves.
  EXPECT_EQ(zero.json["groups"][0]["flips_from_favorable"], 1);
}

// P("1") by group alone: A 0.25, B 0.5, C 0.75 (exact in binary).
double ByGroup(double g, double) { return 0.25 + 0.25 * g; }

TEST(FairnessCounterfactual, SwapBetweenThreeGroupsByHand) {
  MockDataset data;
  data.features = {MockColumn::Categorical("g", {"A", "B", "C"}, {0, 0, 1, 2}),
                   MockColumn::Numeric("x", {0, 0, 0, 0})};
  data.sensitive = {"g"};
  const auto run = RunProbe(data, Binary(ByGroup), {{"top_k", 2}});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_EQ(run.json["mode"], "swap");
  // Decisions A 0, B 1, C 1. A -> B flip +0.25, A -> C flip +0.5 (two rows); B -> A flip -0.25,
  // B -> C +0.25; C -> A flip -0.5, C -> B -0.25.
  const json& g = run.json["groups"];
  EXPECT_EQ(g[0]["counterfactuals"], 4);
  EXPECT_EQ(g[0]["flips"], 4);
  EXPECT_DOUBLE_EQ(D(g[0]["mean_abs_score_change"]), 0.375);
  EXPECT_DOUBLE_EQ(D(g[0]["max_abs_score_change"]), 0.5);
  ASSERT_EQ(g[0]["to"].size(), 2u);
  EXPECT_EQ(g[0]["to"][1]["name"], "g=C");
  EXPECT_DOUBLE_EQ(D(g[0]["to"][1]["mean_score_change"]), 0.5);
  EXPECT_DOUBLE_EQ(D(g[1]["flip_rate"]), 0.5);
  EXPECT_EQ(g[1]["to"][0]["name"], "g=A");
  EXPECT_EQ(g[1]["to"][0]["flips"], 1);
  EXPECT_EQ(g[1]["to"][1]["flips"], 0);
  EXPECT_DOUBLE_EQ(D(g[2]["flip_rate"]), 0.5);
  EXPECT_EQ(g[2]["flips_from_favorable"], 1);
  const json& all = run.json["overall"];
  EXPECT_EQ(all["counterfactuals"], 8);
  EXPECT_DOUBLE_EQ(D(all["flip_rate"]), 0.75);
  EXPECT_DOUBLE_EQ(D(all["mean_abs_score_change"]), 2.75 / 8);
  EXPECT_DOUBLE_EQ(D(all["row_flip_rate"]), 1.0);
  // |change| 0.5 for rows 0, 1 (A -> C) and 3 (C -> A): ties go to the lower row.
  ASSERT_EQ(run.json["top_rows"].size(), 2u);
  EXPECT_EQ(run.json["top_rows"][0]["row"], 0);
  EXPECT_EQ(run.json["top_rows"][0]["counterfactual_group"], "g=C");
  EXPECT_EQ(run.json["top_rows"][1]["row"], 1);
  EXPECT_EQ(run.json["quality"]["counterfactuals"], 8);
}

// Features [g, s]: P("1") = 0.2 + 0.35 [g = B] + 0.4 [s = 1].
double Additive(double g, double s) { return 0.2 + 0.35 * g + 0.4 * s; }

TEST(FairnessCounterfactual, IntersectionsUseObservedCombinationsOnly) {
  MockDataset data;
  data.features = {MockColumn::Categorical("g", {"A", "B"}, {0, 0, 1, 0}),
                   MockColumn::Numeric("s", {0, 1, 0, NAN})};
  const auto run = RunProbe(data, Binary(Additive), {{"sensitive", {"g", "s"}}});
  ASSERT_TRUE(run.ok()) << run.error;
  // Groups (A,0) 0.2, (A,1) 0.6, (B,0) 0.55; (B,1) has no row, so 0.95 is never a counterfactual score.
  ASSERT_EQ(run.json["groups"].size(), 3u);
  EXPECT_EQ(run.json["groups"][1]["name"], "g=A, s=1");
  EXPECT_EQ(run.json["groups"][1]["attributes"]["s"], "1");
  EXPECT_EQ(run.json["overall"]["counterfactuals"], 6);
  EXPECT_NEAR(D(run.json["overall"]["max_abs_score_change"]), 0.4, 1e-12);
  // (A,0) -> (A,1) flip +0.4, -> (B,0) flip +0.35; (A,1) -> (A,0) flip -0.4, -> (B,0) no flip -0.05;
  // (B,0) -> (A,0) flip -0.35, -> (A,1) no flip +0.05.
  EXPECT_EQ(run.json["overall"]["flips"], 4);
  EXPECT_NEAR(D(run.json["overall"]["mean_abs_score_change"]), (0.4 + 0.35 + 0.4 + 0.05 + 0.35 + 0.05) / 6,
              1e-12);
  EXPECT_EQ(run.json["quality"]["rows_left_out"], 1);  // row 3's s is missing
  bool noted = false;
  for (const auto& note : run.json["notes"]) {
    noted = noted || note.get<std::string>().find("'g=B, s=1'") != std::string::npos;
  }
  EXPECT_TRUE(noted);
}

TEST(FairnessCounterfactual, RefusesWithOneSentence) {
  MockDataset not_feature = FlipTable();
  not_feature.others.push_back(MockColumn::Categorical("h", {"u", "v"}, {0, 1, 0, 1, 0, 1, 0}));
  MockDataset one_group = FlipTable();
  one_group.features[0].values = {0, 0, 0, 0, 0, 0, 0};
  std::vector<double> wide;
  for (int i = 0; i < 21; ++i) wide.push_back(i);
  MockDataset wide_data;
  wide_data.features = {MockColumn::Numeric("g", wide), MockColumn::Numeric("x", wide)};
  struct Case {
    MockDataset data;
    json params;
    std::string mentions;
  };
  for (const Case& c : std::vector<Case>{
           {not_feature, {{"sensitive", {"h"}}}, "not a feature of the model's input matrix"},
           {not_feature, {{"sensitive", {"nope"}}}, "'nope'"},
           {one_group, json::object(), "only 'g=A'"},
           {wide_data, {{"sensitive", {"g"}}}, "21 distinct values"},
           {FlipTable(), {{"favorable", "maybe"}}, "parameter 'favorable'"},
       }) {
    const auto run = RunProbe(c.data, Binary(BoostB), c.params);
    EXPECT_FALSE(run.ok()) << c.params.dump();
    EXPECT_FALSE(run.rejected_by_host) << run.error;
    EXPECT_NE(run.error.find(c.mentions), std::string::npos) << run.error;
    EXPECT_EQ(run.error.find('\n'), std::string::npos) << run.error;
  }
  MockDataset no_sensitive = FlipTable();
  no_sensitive.sensitive.clear();
  EXPECT_NE(RunProbe(no_sensitive, Binary(BoostB), json::object()).error.find("parameter 'sensitive'"),
            std::string::npos);
}

TEST(FairnessCounterfactual, BatchesAndIsThreadInvariant) {
  // 20,000 rows x 2 groups = 40,000 evaluations = 3 Predict calls of at most 16,384 rows.
  MockDataset data;
  std::vector<double> g, x;
  for (int i = 0; i < 20000; ++i) {
    g.push_back(i % 3 == 0 ? 1 : 0);
    x.push_back((i % 97) / 97.0);
  }
  data.features = {MockColumn::Categorical("g", {"A", "B"}, g), MockColumn::Numeric("x", x)};
  data.sensitive = {"g"};
  const auto one = RunProbe(data, Binary(BoostB), {{"top_k", 5}}, 1);
  const auto two = RunProbe(data, Binary(BoostB), {{"top_k", 5}}, 2);
  ASSERT_TRUE(one.ok()) << one.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
  EXPECT_EQ(one.predict_calls, 3);
  EXPECT_EQ(one.max_batch_rows, 16384);
  EXPECT_EQ(one.predict_rows, 40000);
  // The largest |change| is x/2 at x = 96/97, in both directions (A -> B: x to 1.5x; B -> A: 1.5x to x):
  // rows 96 (B, 96 % 3 == 0) and 193 (A) tie, and the lower row comes first.
  EXPECT_EQ(one.json["top_rows"][0]["row"], 96);
  EXPECT_EQ(one.json["top_rows"][0]["group"], "g=B");
  EXPECT_EQ(one.json["top_rows"][1]["row"], 193);
  EXPECT_EQ(one.json["top_rows"][1]["counterfactual_group"], "g=B");
}

TEST(FairnessCounterfactual, PassesTheConformanceKit) {
  loupe::testing::ConformanceCase c;
  c.dataset = FlipTable();
  c.model = Binary(BoostB);
  c.params = {{"top_k", 3}};
  for (std::int64_t i = 0; i < 7; ++i) c.rows.push_back(i);
  c.bad_params = {{{{"favorable", "2"}}, "favorable"}, {{{"sensitive", {"y"}}}, "sensitive"}};
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "fairness.counterfactual", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

}  // namespace
