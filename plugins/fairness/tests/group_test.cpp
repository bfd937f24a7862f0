// fairness.group through the SDK's mock host: the hand table end to end, weights, edge cases (no
// positives, one group, empty intersections, zero weights), refusals, bootstrap determinism, multiclass,
// verdicts, batching, consistency and the conformance kit.
#include <gtest/gtest.h>

#include <array>
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

const LoupeExplainerVTable& Group() {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  return *loupe::testing::FindExplainer(*info, "fairness.group");
}

// A binary model whose P("1") is the feature column `score` (column 0).
MockModel ScoreModel() {
  return MockModel::Classifier(
      {"0", "1"},
      [](const double* x, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) {
          out[2 * i] = 1 - x[2 * i];
          out[2 * i + 1] = x[2 * i];
        }
      },
      {"margin"}, nullptr);
}

// Rows (group, y, y_pred); features [score, position].
MockDataset Table(const std::vector<std::array<int, 3>>& rows, std::vector<std::string> groups = {"A", "B"}) {
  MockDataset data;
  std::vector<double> score, position, y, g;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    g.push_back(rows[i][0]);
    y.push_back(rows[i][1]);
    score.push_back(rows[i][2] ? 0.9 : 0.2);
    position.push_back(static_cast<double>(i));
  }
  data.features = {MockColumn::Numeric("score", score), MockColumn::Numeric("position", position)};
  data.others = {MockColumn::Categorical("y", {"0", "1"}, y),
                 MockColumn::Categorical("g", std::move(groups), g)};
  data.target = "y";
  data.positive_label = "1";
  data.sensitive = {"g"};
  return data;
}

// The 9-row hand table of metrics_test.cpp: A privileged, B not.
MockDataset HandTable() {
  return Table(
      {{0, 1, 1}, {0, 1, 1}, {0, 1, 0}, {0, 0, 1}, {0, 0, 0}, {1, 1, 1}, {1, 1, 0}, {1, 0, 0}, {1, 0, 0}});
}

MockRunResult RunGroup(const MockDataset& data, json params, int threads = 1,
                       MockModel model = ScoreModel()) {
  MockRunOptions options;
  options.params = std::move(params);
  for (std::int64_t i = 0; i < data.rows(); ++i) options.rows.push_back(i);
  options.threads = threads;
  options.seed = 11;
  return MockHost(data, std::move(model)).Run(Group(), options);
}

double Metric(const MockRunResult& run, const char* block, const char* name) {
  const json& v = run.json["metrics"][block][name];
  return (v.is_object() ? v["value"] : v).get<double>();
}

bool HasNote(const MockRunResult& run, const std::string& text) {
  for (const auto& note : run.json["notes"]) {
    if (note.get<std::string>().find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(FairnessGroup, HandTableThroughTheHost) {
  const auto run = RunGroup(HandTable(), {{"privileged", "A"}});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_EQ(run.json["favorable"], "1");
  ASSERT_EQ(run.json["groups"].size(), 2u);
  EXPECT_EQ(run.json["groups"][0]["name"], "g=A");
  EXPECT_EQ(run.json["groups"][0]["attributes"]["g"], "A");
  EXPECT_EQ(run.json["groups"][0]["privileged"], true);
  EXPECT_DOUBLE_EQ(run.json["groups"][0]["selection_rate"].get<double>(), 0.6);
  EXPECT_DOUBLE_EQ(run.json["groups"][1]["tpr"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(run.json["groups"][0]["mean_score"].get<double>(), (3 * 0.9 + 2 * 0.2) / 5);
  EXPECT_NEAR(Metric(run, "aif360", "disparate_impact"), 0.25 / 0.6, 1e-15);
  EXPECT_NEAR(Metric(run, "aif360", "statistical_parity_difference"), -0.35, 1e-15);
  EXPECT_NEAR(Metric(run, "fairlearn", "demographic_parity_difference"), 0.35, 1e-15);
  EXPECT_EQ(run.json["unprivileged_groups"], json::array({"g=B"}));
  // Default bounds: the four-fifths rule fails (0.42 < 0.8).
  ASSERT_EQ(run.json["verdicts"].size(), 2u);
  EXPECT_EQ(run.json["verdicts"][0]["metric"], "aif360.disparate_impact");
  EXPECT_EQ(run.json["verdicts"][0]["pass"], false);
  EXPECT_EQ(run.json["passed"], false);
  EXPECT_EQ(run.predict_calls, 1);
}

TEST(FairnessGroup, ConsistencyByHand) {
  // position 0,1,2,10,11,12 with score constant: distances come from `position` alone.
  MockDataset data = Table({{0, 1, 1}, {0, 1, 1}, {0, 0, 0}, {1, 0, 0}, {1, 0, 0}, {1, 1, 1}});
  data.features[1].values = {0, 1, 2, 10, 11, 12};
  data.features[0].values = {0.9, 0.9, 0.2, 0.2, 0.2, 0.9};
  // y_pred = 1 1 0 0 0 1; k = 3 -> |1-2/3| |1-2/3| |0-2/3| |0-1/3| |0-1/3| |1-1/3| = 8/3 in total.
  const auto run = RunGroup(data, {{"n_neighbors", 3}});
  ASSERT_TRUE(run.ok()) << run.error;
  // Distances also see the score column (0.7 apart), which does not change any neighbour set here.
  EXPECT_NEAR(Metric(run, "aif360", "consistency"), 1 - (8.0 / 3) / 6, 1e-15);
}

TEST(FairnessGroup, WeightsScaleFreeAndZeroWeightEqualsDropping) {
  MockDataset data = HandTable();
  data.others.push_back(MockColumn::Numeric("w", std::vector<double>(9, 3.0)));
  const auto plain = RunGroup(HandTable(), {{"privileged", "A"}});
  const auto scaled = RunGroup(data, {{"privileged", "A"}, {"sample_weight", "w"}});
  ASSERT_TRUE(scaled.ok()) << scaled.error;
  EXPECT_NEAR(Metric(scaled, "aif360", "disparate_impact"), Metric(plain, "aif360", "disparate_impact"),
              1e-15);
  EXPECT_DOUBLE_EQ(scaled.json["groups"][0]["weighted_n"].get<double>(), 15.0);

  data.others.back().values[3] = 0;  // row 3 (A: y 0, y_pred 1) weighs nothing
  const auto zero = RunGroup(data, {{"privileged", "A"}, {"sample_weight", "w"}});
  const auto dropped = RunGroup(
      Table({{0, 1, 1}, {0, 1, 1}, {0, 1, 0}, {0, 0, 0}, {1, 1, 1}, {1, 1, 0}, {1, 0, 0}, {1, 0, 0}}),
      {{"privileged", "A"}});
  for (const char* name : {"statistical_parity_difference", "disparate_impact", "average_odds_difference",
                           "conditional_demographic_disparity"}) {
    EXPECT_NEAR(Metric(zero, "aif360", name), Metric(dropped, "aif360", name), 1e-15) << name;
  }
  EXPECT_NEAR(Metric(zero, "fairlearn", "equalized_odds_difference"),
              Metric(dropped, "fairlearn", "equalized_odds_difference"), 1e-15);
}

TEST(FairnessGroup, GroupWithoutPositivesIsUndefinedNotNaN) {
  const auto run =
      RunGroup(Table({{0, 1, 1}, {0, 0, 0}, {0, 1, 0}, {1, 0, 1}, {1, 0, 0}}), {{"privileged", "A"}});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_TRUE(run.json["groups"][1]["tpr"].is_null());
  EXPECT_TRUE(run.json["metrics"]["aif360"]["equal_opportunity_difference"].is_null());
  EXPECT_TRUE(HasNote(run, "group 'g=B' has no favourable true labels"));
  EXPECT_TRUE(HasNote(run, "aif360.equal_opportunity_difference is null"));
}

TEST(FairnessGroup, SingleGroupAndZeroWeightGroup) {
  const auto one = RunGroup(Table({{0, 1, 1}, {0, 0, 0}, {0, 1, 0}}), {{"privileged", "A"}});
  ASSERT_TRUE(one.ok()) << one.error;
  EXPECT_EQ(Metric(one, "fairlearn", "demographic_parity_difference"), 0.0);
  EXPECT_TRUE(one.json["metrics"]["aif360"]["disparate_impact"].is_null());
  EXPECT_TRUE(HasNote(one, "no row belongs to an unprivileged group"));
  EXPECT_TRUE(HasNote(one, "only one group"));

  MockDataset data = HandTable();
  std::vector<double> w(9, 1.0);
  for (int i = 5; i < 9; ++i) w[static_cast<std::size_t>(i)] = 0;
  data.others.push_back(MockColumn::Numeric("w", w));
  const auto zero = RunGroup(data, {{"sample_weight", "w"}});
  ASSERT_TRUE(zero.ok()) << zero.error;
  EXPECT_TRUE(zero.json["groups"][1]["selection_rate"].is_null());
  EXPECT_EQ(zero.json["groups"][1]["n"], 4);
  EXPECT_TRUE(HasNote(zero, "its rows all have weight 0"));
}

TEST(FairnessGroup, IntersectionsAndBins) {
  MockDataset data = HandTable();
  data.others.push_back(MockColumn::Numeric("age", {20, 25, 35, 50, 70, 22, 33, 44, 55}));
  data.others.push_back(MockColumn::Categorical("s", {"x", "y"}, {0, 0, 0, 0, 0, 1, 1, 1, 1}));
  const auto run = RunGroup(data, {{"sensitive", {"g", "s"}}, {"privileged", {{"g", "A"}}}});
  ASSERT_TRUE(run.ok()) << run.error;
  ASSERT_EQ(run.json["groups"].size(), 2u);  // (A, x) and (B, y); (A, y) and (B, x) are empty
  EXPECT_EQ(run.json["groups"][1]["name"], "g=B, s=y");
  EXPECT_TRUE(HasNote(run, "intersections without rows are not groups: 'g=A, s=y', 'g=B, s=x'"));

  const auto binned =
      RunGroup(data, {{"sensitive", {"age"}}, {"bins", {{"age", {18, 30, 60}}}}, {"privileged", "(30, 60]"}});
  ASSERT_TRUE(binned.ok()) << binned.error;
  ASSERT_EQ(binned.json["groups"].size(), 2u);
  EXPECT_EQ(binned.json["groups"][0]["name"], "age=(18, 30]");
  EXPECT_EQ(binned.json["groups"][0]["n"], 3);
  EXPECT_EQ(binned.json["quality"]["rows_left_out"], 1);  // 70 is outside every bin
}

TEST(FairnessGroup, RefusesBadConfigurationsWithOneSentence) {
  const MockDataset data = HandTable();
  struct Case {
    json params;
    std::string mentions;
  };
  for (const Case& c : std::vector<Case>{
           {{{"favorable", "maybe"}}, "parameter 'favorable'"},
           {{{"privileged", "C"}}, "value 'C' of column 'g'"},
           {{{"privileged", {{"h", "A"}}}}, "column 'h'"},
           {{{"sensitive", {"nope"}}}, "'nope'"},
           {{{"bins", {{"g", {0, 1}}}}}, "categorical"},
           {{{"bins", {{"g", {1, 0}}}}}, "parameter 'bins'"},
           {{{"bounds", {{"aif360.nothing", {{"min", 1}}}}}}, "aif360.nothing"},
           {{{"bounds", {{"disparate_impact", {0.8, 1.25}}}}}, "parameter 'bounds'"},
           {{{"ci", {0.9, 0.1}}}, "parameter 'ci'"},
           {{{"sample_weight", "g"}}, "parameter 'sample_weight'"},
       }) {
    const auto run = RunGroup(data, c.params);
    EXPECT_FALSE(run.ok()) << c.params.dump();
    EXPECT_FALSE(run.rejected_by_host) << run.error;
    EXPECT_NE(run.error.find(c.mentions), std::string::npos) << run.error;
    EXPECT_EQ(run.error.find('\n'), std::string::npos);
  }
  MockDataset no_target = data;
  no_target.target.clear();
  EXPECT_NE(RunGroup(no_target, json::object()).error.find("target"), std::string::npos);
}

TEST(FairnessGroup, BootstrapIsSeededAndThreadInvariant) {
  MockDataset data = HandTable();
  for (int copy = 0; copy < 20; ++copy) {  // 189 rows: 21 copies of the hand table
    for (auto* column : {&data.features[0], &data.features[1], &data.others[0], &data.others[1]}) {
      column->values.insert(column->values.end(), column->values.begin(), column->values.begin() + 9);
    }
  }
  const json params = {{"privileged", "A"}, {"n_boot", 200}};
  const auto one = RunGroup(data, params, 1);
  const auto two = RunGroup(data, params, 2);
  ASSERT_TRUE(one.ok()) << one.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
  const json& di = one.json["metrics"]["aif360"]["disparate_impact"];
  ASSERT_TRUE(di.is_object());
  EXPECT_LT(di["ci"][0].get<double>(), di["value"].get<double>());
  EXPECT_GT(di["ci"][1].get<double>(), di["value"].get<double>());
  EXPECT_TRUE(one.json["verdicts"][0].contains("ci_pass"));
  MockRunOptions other;
  other.params = params;
  for (std::int64_t i = 0; i < data.rows(); ++i) other.rows.push_back(i);
  other.seed = 12;
  const auto reseeded = MockHost(data, ScoreModel()).Run(Group(), other);
  EXPECT_NE(reseeded.json["metrics"]["aif360"]["disparate_impact"]["ci"].dump(), di["ci"].dump());
}

// The counts are tallied per block of 16,384 rows and the blocks added up: more than two blocks of
// weighted rows with a missing label here and there must give the counts a plain loop over the rows gives,
// on 1 and 2 threads alike.
TEST(FairnessGroup, CountsAcrossPredictBlocksEqualARowLoop) {
  const std::vector<std::array<int, 3>> hand = {{0, 1, 1}, {0, 1, 1}, {0, 1, 0}, {0, 0, 1}, {0, 0, 0},
                                                {1, 1, 1}, {1, 1, 0}, {1, 0, 0}, {1, 0, 0}};
  std::vector<std::array<int, 3>> rows;
  while (rows.size() < 3 * 16384 + 100) rows.push_back(hand[rows.size() % hand.size()]);
  MockDataset data = Table(rows);
  std::vector<double> weight(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) weight[i] = 0.25 + static_cast<double>((i * 7919) % 13);
  data.others.push_back(MockColumn::Numeric("w", weight));
  for (std::size_t i = 5; i < rows.size(); i += 1001) data.others[0].values[i] = NAN;  // missing labels
  // Expected per group: weighted selected / weighted rows, weighted tp / weighted positives, weighted mean
  // score, row counts.
  std::array<double, 2> selected{}, total{}, tp{}, positives{}, score{}, n{};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (std::isnan(data.others[0].values[i])) continue;
    const auto g = static_cast<std::size_t>(rows[i][0]);
    total[g] += weight[i];
    n[g] += 1;
    score[g] += weight[i] * (rows[i][2] ? 0.9 : 0.2);
    if (rows[i][2]) selected[g] += weight[i];
    if (rows[i][1]) positives[g] += weight[i];
    if (rows[i][1] && rows[i][2]) tp[g] += weight[i];
  }
  const json params = {{"privileged", "A"}, {"sample_weight", "w"}, {"n_boot", 20}};
  const auto one = RunGroup(data, params, 1);
  const auto two = RunGroup(data, params, 2);
  ASSERT_TRUE(one.ok()) << one.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
  EXPECT_EQ(one.predict_calls, 4);
  for (std::size_t g = 0; g < 2; ++g) {
    const json& group = one.json["groups"][g];
    EXPECT_EQ(group["n"].get<double>(), n[g]);
    EXPECT_NEAR(group["weighted_n"].get<double>(), total[g], 1e-9 * total[g]);
    EXPECT_NEAR(group["selection_rate"].get<double>(), selected[g] / total[g], 1e-12);
    EXPECT_NEAR(group["tpr"].get<double>(), tp[g] / positives[g], 1e-12);
    EXPECT_NEAR(group["mean_score"].get<double>(), score[g] / total[g], 1e-12);
  }
}

TEST(FairnessGroup, UnweightedCountsAcrossBlocksWithRowsLeftOut) {
  const std::vector<std::array<int, 3>> hand = {{0, 1, 1}, {0, 1, 1}, {0, 1, 0}, {0, 0, 1}, {0, 0, 0},
                                                {1, 1, 1}, {1, 1, 0}, {1, 0, 0}, {1, 0, 0}, {2, 1, 1}};
  std::vector<std::array<int, 3>> rows;
  while (rows.size() < 3 * 16384 + 77) rows.push_back(hand[rows.size() % hand.size()]);
  MockDataset data = Table(rows);
  // The sensitive column as numbers (groups by distinct value, in numeric order: 10 < 20 < 30).
  std::vector<double> g(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) g[i] = 10.0 * static_cast<double>(3 - rows[i][0]);
  for (std::size_t i = 3; i < rows.size(); i += 997) g[i] = NAN;                       // no group
  for (std::size_t i = 7; i < rows.size(); i += 1013) data.others[0].values[i] = NAN;  // no label
  data.others[1] = MockColumn::Numeric("g", g);
  std::array<double, 3> selected{}, tp{}, positives{}, score{}, n{};  // by group 10, 20, 30
  std::int64_t no_group = 0, no_label = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (std::isnan(g[i])) {
      ++no_group;
      continue;
    }
    if (std::isnan(data.others[0].values[i])) {
      ++no_label;
      continue;
    }
    const auto k = static_cast<std::size_t>(g[i] / 10.0) - 1;
    n[k] += 1;
    score[k] += rows[i][2] ? 0.9 : 0.2;
    selected[k] += rows[i][2];
    positives[k] += rows[i][1];
    tp[k] += rows[i][1] && rows[i][2];
  }
  const json params = {{"privileged", 30}};
  const auto one = RunGroup(data, params, 1);
  const auto two = RunGroup(data, params, 2);
  ASSERT_TRUE(one.ok()) << one.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
  ASSERT_EQ(one.json["groups"].size(), 3u);
  EXPECT_EQ(one.json["groups"][0]["name"], "g=10");
  EXPECT_EQ(one.json["groups"][2]["name"], "g=30");
  EXPECT_EQ(one.json["groups"][2]["privileged"], true);
  for (std::size_t k = 0; k < 3; ++k) {
    const json& group = one.json["groups"][k];
    EXPECT_EQ(group["n"].get<double>(), n[k]);
    EXPECT_EQ(group["selection_rate"].get<double>(), selected[k] / n[k]);
    EXPECT_EQ(group["tpr"].get<double>(), tp[k] / positives[k]);
    EXPECT_NEAR(group["mean_score"].get<double>(), score[k] / n[k], 1e-12);
  }
  EXPECT_TRUE(HasNote(one, std::to_string(no_group) + " rows are left out: a sensitive value is missing"));
  EXPECT_TRUE(HasNote(one, std::to_string(no_label) + " rows are left out: the target 'y' is missing"));
}

TEST(FairnessGroup, MulticlassIsOneVsRest) {
  MockDataset data = HandTable();
  data.others[0] = MockColumn::Categorical("y", {"a", "b", "c"}, {0, 1, 2, 0, 1, 2, 0, 1, 2});
  data.positive_label = "b";
  // argmax: class = position % 3 for rows 0..5, then 0.
  auto model = MockModel::Classifier(
      {"a", "b", "c"},
      [](const double* x, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) {
          const int k = x[2 * i + 1] < 6 ? static_cast<int>(x[2 * i + 1]) % 3 : 0;
          for (int c = 0; c < 3; ++c) out[3 * i + c] = c == k ? 0.6 : 0.2;
        }
      },
      {"a", "b", "c"}, nullptr);
  const auto run = RunGroup(data, json::object(), 1, model);
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_EQ(run.json["decision"], "argmax");
  EXPECT_EQ(run.json["favorable"], "b");
  ASSERT_EQ(run.json["one_vs_rest"].size(), 3u);
  EXPECT_EQ(run.json["one_vs_rest"]["b"]["metrics"], run.json["metrics"]);
  // Class "a" decisions: rows 0, 3, 6, 7, 8 -> group A (rows 0-4) selects 2 of 5, B (5-8) 3 of 4.
  EXPECT_DOUBLE_EQ(run.json["one_vs_rest"]["a"]["groups"][0]["selection_rate"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(run.json["one_vs_rest"]["a"]["groups"][1]["selection_rate"].get<double>(), 0.75);
}

TEST(FairnessGroup, PassesTheConformanceKit) {
  loupe::testing::ConformanceCase c;
  c.dataset = HandTable();
  c.model = ScoreModel();
  c.params = {{"privileged", "A"}, {"n_boot", 50}};
  for (std::int64_t i = 0; i < 9; ++i) c.rows.push_back(i);
  c.bad_params = {{{{"favorable", "2"}}, "favorable"},
                  {{{"privileged", "Z"}}, "privileged"},
                  {{{"bins", {{"g", {0, 1}}}}}, "bins"}};
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "fairness.group", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

}  // namespace
