// counterfactual.anchors through the SDK's mock host: a planted rule recovered exactly, the precision of
// every returned anchor checked on fresh data drawn from the same generator (a one-sided test at 99.9%
// confidence), coverage against its binomial spread, the KL bounds, determinism and refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "anchor_search.hpp"
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

const LoupeExplainerVTable& Anchors() {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  return *loupe::testing::FindExplainer(*info, "counterfactual.anchors");
}

// Independent features: x0..x3 uniform on [0, 1), c uniform over {A, B, C}. `seed` picks the draw, so the
// tests take fresh data from the same distribution with another seed.
MockDataset Generated(std::uint64_t seed, std::int64_t n) {
  std::vector<std::vector<double>> x(4);
  std::vector<double> c;
  for (std::int64_t i = 0; i < n; ++i) {
    loupe::sdk::Rng rng(seed, static_cast<std::uint64_t>(i), 0);
    for (auto& column : x) column.push_back(rng.Uniform());
    c.push_back(static_cast<double>(rng.Below(3)));
  }
  MockDataset data;
  data.features = {MockColumn::Numeric("x0", x[0]), MockColumn::Numeric("x1", x[1]),
                   MockColumn::Numeric("x2", x[2]), MockColumn::Numeric("x3", x[3]),
                   MockColumn::Categorical("c", {"A", "B", "C"}, c)};
  return data;
}

// numpy.percentile (linear), as the explainer's discretiser.
double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p / 100 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

using Rule = std::function<bool(const double* row)>;

MockModel RuleModel(Rule yes) {
  return MockModel::Classifier(
      {"no", "yes"},
      [yes](const double* rows, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) {
          const bool y = yes(rows + 5 * i);
          out[2 * i] = y ? 0.1 : 0.9;
          out[2 * i + 1] = y ? 0.9 : 0.1;
        }
      },
      {"logit"}, nullptr);
}

MockRunResult RunAnchors(const MockDataset& data, const MockModel& model, std::vector<std::int64_t> rows,
                         int threads = 1, json params = json::object()) {
  MockRunOptions options;
  options.rows = std::move(rows);
  options.threads = threads;
  options.seed = 9;
  options.params = std::move(params);
  return MockHost(data, model).Run(Anchors(), options);
}

// Whether `row` satisfies every condition of an anchor, read from the result: the explained row's bin of each
// anchored feature, with the cut points the result reports.
bool Satisfies(const double* row, const double* explained, const json& anchor, const json& cut_points,
               const MockDataset& data) {
  for (const json& name : anchor["features"]) {
    const auto j =
        static_cast<std::size_t>(std::find_if(data.features.begin(), data.features.end(),
                                              [&](const MockColumn& c) { return c.name == name; }) -
                                 data.features.begin());
    if (data.features[j].type == LOUPE_FEATURE_CATEGORICAL) {
      if (row[j] != explained[j]) return false;
      continue;
    }
    const std::vector<double> cuts = cut_points[name.get<std::string>()].get<std::vector<double>>();
    const auto bin = [&](double v) { return std::lower_bound(cuts.begin(), cuts.end(), v) - cuts.begin(); };
    if (bin(row[j]) != bin(explained[j])) return false;
  }
  return true;
}

std::vector<double> RowOf(const MockDataset& data, std::int64_t r) {
  std::vector<double> row;
  for (const auto& column : data.features) row.push_back(column.values[static_cast<std::size_t>(r)]);
  return row;
}

TEST(CounterfactualAnchors, RecoversAPlantedRule) {
  const MockDataset data = Generated(21, 2000);
  const double q3 = Percentile(data.features[0].values, 75);
  const MockModel model = RuleModel([q3](const double* r) { return r[0] > q3 && r[4] == 0; });
  std::int64_t yes_row = -1;
  for (std::int64_t i = 0; i < data.rows() && yes_row < 0; ++i) {
    if (RowOf(data, i)[0] > q3 && RowOf(data, i)[4] == 0) yes_row = i;
  }
  ASSERT_GE(yes_row, 0);
  const auto run = RunAnchors(data, model, {yes_row});
  ASSERT_TRUE(run.ok()) << run.error;
  const json& anchor = run.json["rows"][0];
  EXPECT_EQ(anchor["prediction"], "yes");
  EXPECT_TRUE(anchor["success"].get<bool>());
  const auto features = anchor["features"].get<std::vector<std::string>>();
  EXPECT_EQ(std::set<std::string>(features.begin(), features.end()), (std::set<std::string>{"x0", "c"}))
      << anchor["sentence"];
  EXPECT_EQ(anchor["precision"].get<double>(), 1.0);
  EXPECT_NE(anchor["sentence"].get<std::string>().find("THEN the model predicts yes"), std::string::npos);
  EXPECT_NE(anchor["sentence"].get<std::string>().find("c = A"), std::string::npos);
  // Coverage of {x0 in its top quartile, c = A} is about 1/4 × 1/3, within 4 binomial standard deviations.
  const double expected = 0.25 / 3;
  EXPECT_NEAR(anchor["coverage"].get<double>(), expected,
              4 * std::sqrt(expected * (1 - expected) / 10000) + 0.01);
}

// Fresh-sample check: for each returned anchor, rows of an independent draw of the same generator that
// satisfy it estimate its precision; with m such rows, a one-sided Hoeffding bound puts the true precision
// above p̂ − sqrt(ln(1000) / (2m)) with 99.9% confidence, so the test fails when an anchor's precision is
// below `required` beyond that margin.
void ExpectFreshPrecision(const MockDataset& data, const MockModel& model, const json& result,
                          double required, std::int64_t* checked) {
  const MockDataset fresh = Generated(777, 40000);
  for (const json& anchor : result["rows"]) {
    if (!anchor["success"].get<bool>()) continue;
    const std::vector<double> explained = RowOf(data, anchor["row"].get<std::int64_t>());
    double label_out[2];
    model.predict(explained.data(), 1, label_out);
    const bool label = label_out[1] > label_out[0];
    std::int64_t covered = 0, same = 0;
    for (std::int64_t i = 0; i < fresh.rows(); ++i) {
      const std::vector<double> row = RowOf(fresh, i);
      if (!Satisfies(row.data(), explained.data(), anchor, result["cut_points"], data)) continue;
      double out[2];
      model.predict(row.data(), 1, out);
      ++covered;
      same += (out[1] > out[0]) == label ? 1 : 0;
    }
    ASSERT_GT(covered, 100) << anchor["sentence"];
    const double precision = static_cast<double>(same) / static_cast<double>(covered);
    const double margin = std::sqrt(std::log(1000.0) / (2.0 * static_cast<double>(covered)));
    EXPECT_GE(precision + margin, required) << anchor["sentence"] << " fresh precision " << precision;
    ++*checked;
  }
}

TEST(CounterfactualAnchors, EveryAnchorOfADeterministicRuleHoldsOnFreshSamples) {
  const MockDataset data = Generated(21, 2000);
  const double q3 = Percentile(data.features[0].values, 75);
  const double q1 = Percentile(data.features[1].values, 25);
  const MockModel model =
      RuleModel([q3, q1](const double* r) { return (r[0] > q3 && r[4] == 0) || r[1] <= q1; });
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < 16; ++i) rows.push_back(i * 37);
  const auto run = RunAnchors(data, model, rows, 2);
  ASSERT_TRUE(run.ok()) << run.error;
  std::int64_t checked = 0;
  ExpectFreshPrecision(data, model, run.json, 0.95, &checked);  // the threshold itself
  EXPECT_GE(checked, 12);
}

TEST(CounterfactualAnchors, EveryAnchorOfANoisyModelHoldsOnFreshSamplesWithinAlibisMargin) {
  // A smooth logistic score, thresholded: precision near the boundary is never exactly 1, and anchor_beam
  // accepts an anchor whose lower bound clears threshold − epsilon_stop (0.90).
  const MockDataset data = Generated(21, 2000);
  const MockModel model = RuleModel(
      [](const double* r) { return 3 * r[0] + 2 * r[1] - 1.5 * r[2] + (r[4] == 1 ? 1.0 : 0.0) > 2.0; });
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < 12; ++i) rows.push_back(i * 53);
  const auto run = RunAnchors(data, model, rows, 2);
  ASSERT_TRUE(run.ok()) << run.error;
  std::int64_t checked = 0;
  ExpectFreshPrecision(data, model, run.json, 0.90, &checked);
  EXPECT_GE(checked, 6);
}

TEST(CounterfactualAnchors, SameSeedSameBitsOnOneAndTwoThreads) {
  const MockDataset data = Generated(21, 1000);
  const MockModel model = RuleModel([](const double* r) { return r[0] + r[1] > 1.0; });
  const auto one = RunAnchors(data, model, {0, 1, 2, 3, 4, 5}, 1);
  const auto two = RunAnchors(data, model, {0, 1, 2, 3, 4, 5}, 2);
  ASSERT_TRUE(one.ok() && two.ok()) << one.error << two.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
}

TEST(CounterfactualAnchors, KlBoundsBracketTheMeanAndShrinkWithSamples) {
  using loupe::counterfactual::KlLowerBound;
  using loupe::counterfactual::KlUpperBound;
  const double beta = std::log(1 / 0.1);
  EXPECT_LT(KlLowerBound(0.9, beta / 100), 0.9);
  EXPECT_GT(KlUpperBound(0.9, beta / 100), 0.9);
  EXPECT_GT(KlLowerBound(0.9, beta / 10000), KlLowerBound(0.9, beta / 100));
  // The bound solves n · kl(p̂, q) = beta: check the divergence at the returned lower bound.
  const double q = KlLowerBound(0.9, beta / 100);
  const double kl = 0.9 * std::log(0.9 / q) + 0.1 * std::log(0.1 / (1 - q));
  EXPECT_NEAR(kl, beta / 100, 1e-4);
}

TEST(CounterfactualAnchors, RefusesARegressor) {
  const MockDataset data = Generated(21, 50);
  const MockModel regressor = MockModel::Regressor(
      {"y"}, [](const double*, std::int64_t n, double* out) { std::fill(out, out + n, 0.0); });
  const auto run = RunAnchors(data, regressor, {0});
  EXPECT_FALSE(run.ok());
  EXPECT_NE(run.error.find("explains a classifier's decisions"), std::string::npos) << run.error;
}

TEST(CounterfactualAnchors, PassesTheConformanceKit) {
  loupe::testing::ConformanceCase c;
  c.dataset = Generated(21, 500);
  c.model = RuleModel([](const double* r) { return r[0] > 0.5; });
  c.rows = {0, 1, 2};
  c.bad_params = {{{{"disc_perc", {0, 50}}}, "disc_perc"}};
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "counterfactual.anchors", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

}  // namespace
