// shap.exact through the SDK's mock host: the Shapley axioms, closed forms, an independent brute force
// over all permutations, groups, output spaces, refusals, batching, progress and the conformance kit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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
using Row = std::vector<double>;
using RowFn = std::function<double(const double* x)>;

const LoupeExplainerVTable& Exact() {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  EXPECT_NE(info, nullptr) << error;
  const LoupeExplainerVTable* exact = loupe::testing::FindExplainer(*info, "shap.exact");
  EXPECT_NE(exact, nullptr);
  return *exact;
}

// "x3" for 3. (operator+ on a literal and a temporary trips GCC 12's false -Wrestrict, PR 105651.)
std::string Indexed(const char* prefix, std::int64_t index) {
  return std::string(prefix).append(std::to_string(index));
}

// `rows` x `features` standard normal values named x0, x1, ...
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

// A one-output regressor computing `f` on each row of `width` features.
MockModel Regressor(std::int64_t width, RowFn f) {
  return MockModel::Regressor({"y"}, [width, f](const double* rows, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(rows + i * width);
  });
}

Row DataRow(const MockDataset& data, std::int64_t row) {
  Row x;
  for (const auto& column : data.features) x.push_back(column.values[static_cast<std::size_t>(row)]);
  return x;
}

MockRunResult RunExact(const MockDataset& data, const MockModel& model, nlohmann::json params,
                       std::vector<std::int64_t> rows, int threads = 1) {
  MockRunOptions options;
  options.params = std::move(params);
  options.rows = std::move(rows);
  options.seed = 7;
  options.threads = threads;
  return MockHost(data, model).Run(Exact(), options);
}

double Phi(const MockRunResult& run, std::size_t row, std::size_t output, std::size_t feature) {
  return run.json["values"][row][output][feature].get<double>();
}
double Base(const MockRunResult& run, std::size_t row, std::size_t output) {
  return run.json["base_values"][row][output].get<double>();
}

// Independent brute force: the average marginal contribution over all M! player orders, with
// v(S) = mean over background rows b of f(x on S, b elsewhere), players given as column lists.
std::vector<double> BruteForceShapley(const MockDataset& data, const RowFn& f, const Row& x,
                                      const std::vector<std::int64_t>& background,
                                      const std::vector<std::vector<std::int64_t>>& players) {
  const std::size_t m = players.size();
  auto value = [&](const std::vector<bool>& in) {
    double sum = 0;
    for (const std::int64_t b : background) {
      Row z = DataRow(data, b);
      for (std::size_t p = 0; p < m; ++p) {
        if (in[p]) {
          for (const std::int64_t c : players[p])
            z[static_cast<std::size_t>(c)] = x[static_cast<std::size_t>(c)];
        }
      }
      sum += f(z.data());
    }
    return sum / static_cast<double>(background.size());
  };
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> phi(m, 0.0);
  double permutations = 0;
  do {
    std::vector<bool> in(m, false);
    double before = value(in);
    for (const std::size_t p : order) {
      in[p] = true;
      const double after = value(in);
      phi[p] += after - before;
      before = after;
    }
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  for (double& v : phi) v /= permutations;
  return phi;
}

double Nonlinear(const double* x) {
  return x[0] * x[1] * x[2] + std::exp(0.3 * x[3]) * x[4] + std::max(x[0], x[4]) + std::sin(x[1] * x[3]);
}

TEST(ShapExact, EfficiencySumsToPredictionMinusExpectation) {
  const MockDataset data = NormalData(30, 5);
  const MockRunResult run =
      RunExact(data, Regressor(5, Nonlinear), {{"background", "0:12"}}, {20, 21, 22, 23});
  ASSERT_TRUE(run.ok()) << run.error;
  double expectation = 0;
  for (std::int64_t b = 0; b < 12; ++b) expectation += Nonlinear(DataRow(data, b).data()) / 12.0;
  for (std::size_t r = 0; r < 4; ++r) {
    const double fx = Nonlinear(DataRow(data, 20 + static_cast<std::int64_t>(r)).data());
    double total = 0;
    for (std::size_t i = 0; i < 5; ++i) total += Phi(run, r, 0, i);
    EXPECT_NEAR(total, fx - expectation, 1e-12);
    EXPECT_NEAR(Base(run, r, 0), expectation, 1e-12);
  }
  EXPECT_LT(run.json["quality"]["additivity_residual"].get<double>(), 1e-12);
  EXPECT_EQ(run.json["quality"]["model_evaluations"].get<double>(), 4.0 * 32 * 12 + 4);
}

TEST(ShapExact, SymmetricFeaturesGetEqualValues) {
  MockDataset data = NormalData(20, 4);
  data.features[1].values = data.features[0].values;  // x1 is a copy of x0 everywhere
  const RowFn f = [](const double* x) { return x[0] * x[1] + 2 * x[0] + 2 * x[1] + x[2] * x[3]; };
  const MockRunResult run = RunExact(data, Regressor(4, f), {{"background", "0:10"}}, {10, 11, 12});
  ASSERT_TRUE(run.ok()) << run.error;
  for (std::size_t r = 0; r < 3; ++r) {
    EXPECT_NEAR(Phi(run, r, 0, 0), Phi(run, r, 0, 1), 1e-13);
    EXPECT_NE(Phi(run, r, 0, 0), 0.0);
  }
}

TEST(ShapExact, IgnoredFeatureGetsExactlyZero) {
  const MockDataset data = NormalData(20, 4);
  const RowFn f = [](const double* x) { return std::tanh(x[0] * x[1]) + x[2] * x[2]; };  // ignores x3
  const MockRunResult run = RunExact(data, Regressor(4, f), {{"background", 8}}, {0, 5, 9});
  ASSERT_TRUE(run.ok()) << run.error;
  for (std::size_t r = 0; r < 3; ++r) EXPECT_EQ(Phi(run, r, 0, 3), 0.0);
}

TEST(ShapExact, LinearModelMatchesClosedForm) {
  const MockDataset data = NormalData(40, 6);
  const std::vector<double> w = {1.5, -2.0, 0.25, 3.0, -0.5, 0.0};
  const RowFn f = [w](const double* x) {
    double y = 0.75;
    for (std::size_t i = 0; i < w.size(); ++i) y += w[i] * x[i];
    return y;
  };
  const MockRunResult run = RunExact(data, Regressor(6, f), {{"background", "10:35"}}, {0, 1, 2, 3});
  ASSERT_TRUE(run.ok()) << run.error;
  for (std::size_t r = 0; r < 4; ++r) {
    const Row x = DataRow(data, static_cast<std::int64_t>(r));
    for (std::size_t i = 0; i < 6; ++i) {
      double mean = 0;
      for (std::int64_t b = 10; b < 35; ++b)
        mean += data.features[i].values[static_cast<std::size_t>(b)] / 25.0;
      EXPECT_NEAR(Phi(run, r, 0, i), w[i] * (x[i] - mean), 1e-12) << "row " << r << " feature " << i;
    }
  }
}

TEST(ShapExact, AgreesWithBruteForceOverAllPermutations) {
  const MockDataset data = NormalData(25, 5, 3);
  const std::vector<std::int64_t> background = {0, 3, 4, 8, 11, 15, 19};
  const MockRunResult run = RunExact(data, Regressor(5, Nonlinear), {{"background", background}}, {1, 22});
  ASSERT_TRUE(run.ok()) << run.error;
  for (std::size_t r = 0; r < 2; ++r) {
    const Row x = DataRow(data, r == 0 ? 1 : 22);
    const auto expected = BruteForceShapley(data, Nonlinear, x, background, {{0}, {1}, {2}, {3}, {4}});
    for (std::size_t i = 0; i < 5; ++i) EXPECT_NEAR(Phi(run, r, 0, i), expected[i], 1e-12) << "feature " << i;
  }
}

TEST(ShapExact, GroupsArePlayers) {
  const MockDataset data = NormalData(20, 5, 5);
  const nlohmann::json groups = {{"tail", {"x4", "x3"}}, {"head", {"x1", "x0"}}, {"mid", {"x2"}}};
  const MockRunResult run =
      RunExact(data, Regressor(5, Nonlinear), {{"background", "0:9"}, {"groups", groups}}, {12});
  ASSERT_TRUE(run.ok()) << run.error;
  // Ordered by first column: head (x0), mid (x2), tail (x3).
  EXPECT_EQ(run.json["feature_names"], nlohmann::json({"head", "mid", "tail"}));
  const auto expected = BruteForceShapley(data, Nonlinear, DataRow(data, 12), {0, 1, 2, 3, 4, 5, 6, 7, 8},
                                          {{1, 0}, {2}, {4, 3}});
  for (std::size_t g = 0; g < 3; ++g) EXPECT_NEAR(Phi(run, 0, 0, g), expected[g], 1e-12);
  const std::string head = run.json["data"][0][0].get<std::string>();
  EXPECT_EQ(head.rfind("x1=", 0), 0u) << head;
  EXPECT_NE(head.find("; x0="), std::string::npos) << head;
  EXPECT_EQ(run.json["groups"]["tail"], nlohmann::json({"x4", "x3"}));
}

TEST(ShapExact, GroupsMustPartitionTheFeatures) {
  const MockDataset data = NormalData(10, 3);
  const MockModel model = Regressor(3, [](const double* x) { return x[0] + x[1] + x[2]; });
  const std::vector<nlohmann::json> bad = {
      {{"a", {"x0", "x1"}}},                                        // x2 in no group
      {{"a", {"x0", "x1"}}, {"b", {"x1", "x2"}}},                   // x1 twice
      {{"a", {"x0", "x1", "x2", "nope"}}},                          // unknown feature
      {{"a", nlohmann::json::array()}, {"b", {"x0", "x1", "x2"}}},  // empty group
      nlohmann::json::array({"x0"}),                                // not a mapping
  };
  for (const auto& groups : bad) {
    const MockRunResult run = RunExact(data, model, {{"background", "0:5"}, {"groups", groups}}, {0});
    EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT) << groups.dump();
    EXPECT_EQ(run.failed_in, "create");
    EXPECT_NE(run.error.find("parameter 'groups'"), std::string::npos) << run.error;
  }
}

// A logistic classifier: raw margin z = w.x + c, probabilities [1 - s(z), s(z)].
MockModel Logistic(const std::vector<double>& w, double c) {
  const auto width = static_cast<std::int64_t>(w.size());
  auto margin = [w, c](const double* x) {
    double z = c;
    for (std::size_t i = 0; i < w.size(); ++i) z += w[i] * x[i];
    return z;
  };
  return MockModel::Classifier(
      {"no", "yes"},
      [margin, width](const double* rows, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) {
          const double p = 1.0 / (1.0 + std::exp(-margin(rows + i * width)));
          out[2 * i] = 1.0 - p;
          out[2 * i + 1] = p;
        }
      },
      {"margin"},
      [margin, width](const double* rows, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = margin(rows + i * width);
      });
}

TEST(ShapExact, ProbabilityByDefaultForClassifiersAndRawOnRequest) {
  const MockDataset data = NormalData(30, 4, 9);
  const std::vector<double> w = {1.0, -0.5, 2.0, 0.3};
  const MockModel model = Logistic(w, -0.2);

  const MockRunResult probability = RunExact(data, model, {{"background", "0:15"}}, {20, 21});
  ASSERT_TRUE(probability.ok()) << probability.error;
  EXPECT_EQ(probability.json["output_names"], nlohmann::json({"no", "yes"}));
  EXPECT_LT(probability.json["quality"]["additivity_residual"].get<double>(), 1e-12);
  for (std::size_t i = 0; i < 4; ++i)
    EXPECT_NEAR(Phi(probability, 0, 0, i), -Phi(probability, 0, 1, i), 1e-12);
  const MockRunResult explicit_probability =
      RunExact(data, model, {{"background", "0:15"}, {"output", "probability"}}, {20, 21});
  EXPECT_EQ(explicit_probability.json.dump(), probability.json.dump());

  const MockRunResult raw = RunExact(data, model, {{"background", "0:15"}, {"output", "raw"}}, {20, 21});
  ASSERT_TRUE(raw.ok()) << raw.error;
  EXPECT_EQ(raw.json["output_names"], nlohmann::json({"margin"}));
  const Row x = DataRow(data, 20);
  for (std::size_t i = 0; i < 4; ++i) {
    double mean = 0;
    for (std::int64_t b = 0; b < 15; ++b) mean += data.features[i].values[static_cast<std::size_t>(b)] / 15.0;
    EXPECT_NEAR(Phi(raw, 0, 0, i), w[i] * (x[i] - mean), 1e-12);
  }
}

TEST(ShapExact, RefusesProbabilityOnARegressor) {
  const MockDataset data = NormalData(10, 2);
  const MockRunResult run =
      RunExact(data, Regressor(2, [](const double* x) { return x[0]; }), {{"output", "probability"}}, {0});
  EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(run.error.find("parameter 'output'"), std::string::npos) << run.error;
  EXPECT_NE(run.error.find("regressor"), std::string::npos) << run.error;
}

TEST(ShapExact, RefusesMoreThanTwentyPlayersButAcceptsThemGrouped) {
  const MockDataset data = NormalData(6, 21);
  const MockModel model = Regressor(21, [](const double* x) { return std::accumulate(x, x + 21, 0.0); });
  const MockRunResult wide = RunExact(data, model, {{"background", "0:3"}}, {5});
  EXPECT_EQ(wide.status, LOUPE_ERROR_UNSUPPORTED);
  EXPECT_EQ(wide.failed_in, "create");
  EXPECT_NE(wide.error.find("2^M"), std::string::npos) << wide.error;
  EXPECT_NE(wide.error.find("M = 21"), std::string::npos) << wide.error;
  EXPECT_NE(wide.error.find("shap.permutation"), std::string::npos) << wide.error;
  EXPECT_NE(wide.error.find("shap.kernel"), std::string::npos) << wide.error;

  nlohmann::json groups = nlohmann::json::object();
  for (int j = 0; j < 21; ++j) groups[Indexed("g", j % 3)].push_back(Indexed("x", j));
  const MockRunResult grouped = RunExact(data, model, {{"background", "0:3"}, {"groups", groups}}, {5});
  ASSERT_TRUE(grouped.ok()) << grouped.error;
  EXPECT_EQ(grouped.json["feature_names"].size(), 3u);
}

TEST(ShapExact, BackgroundCountAboveTheDataUsesEveryRow) {
  const MockDataset data = NormalData(30, 3);
  const MockModel model = Regressor(3, [](const double* x) { return x[0] * x[1] - x[2]; });
  const MockRunResult all = RunExact(data, model, nlohmann::json::object(), {0});  // default 100 > 30 rows
  ASSERT_TRUE(all.ok()) << all.error;
  EXPECT_EQ(all.params["background"], 100);
  EXPECT_EQ(all.json["quality"]["background_rows"].get<double>(), 30.0);
  double mean = 0;
  for (std::int64_t b = 0; b < 30; ++b)
    mean += (DataRow(data, b)[0] * DataRow(data, b)[1] - DataRow(data, b)[2]) / 30;
  EXPECT_NEAR(Base(all, 0, 0), mean, 1e-12);

  const MockRunResult sample = RunExact(data, model, {{"background", 5}}, {0});
  ASSERT_TRUE(sample.ok()) << sample.error;
  EXPECT_EQ(sample.json["quality"]["background_rows"].get<double>(), 5.0);
}

TEST(ShapExact, BatchesModelCallsAndReportsProgressPerRow) {
  const MockDataset data = NormalData(60, 8);
  const MockModel model = Regressor(8, [](const double* x) { return x[0] * x[7] + x[3]; });
  const MockRunResult run = RunExact(data, model, {{"background", "0:50"}}, {50, 51, 52, 53}, 2);
  ASSERT_TRUE(run.ok()) << run.error;
  const std::int64_t perturbed = 4 * 256 * 50;
  EXPECT_EQ(run.predict_rows, perturbed + 4);
  EXPECT_GE(run.max_batch_rows, 4096);
  EXPECT_LE(run.predict_calls, perturbed / 4096 + 2);
  EXPECT_EQ(run.progress_reports, 4);
}

TEST(ShapExact, DataShowsLevelsShortestNumbersAndNA) {
  MockDataset data;
  data.features.push_back(MockColumn::Numeric("income", {0.1, 2500, NAN, 1e-300}));
  data.features.push_back(MockColumn::Categorical("home", {"own", "rent", "other"}, {2, 0, 1, NAN}));
  const MockModel model = Regressor(
      2, [](const double* x) { return (std::isnan(x[0]) ? 0.0 : x[0]) + (std::isnan(x[1]) ? -1.0 : x[1]); });
  const MockRunResult run = RunExact(data, model, {{"background", "all"}}, {0, 1, 2, 3});
  ASSERT_TRUE(run.ok()) << run.error;
  using nlohmann::json;
  EXPECT_EQ(run.json["data"], json::array({json::array({"0.1", "other"}), json::array({"2500", "own"}),
                                           json::array({"NA", "rent"}), json::array({"1e-300", "NA"})}));
  EXPECT_EQ(run.json["rows"], nlohmann::json({0, 1, 2, 3}));
  EXPECT_EQ(run.json["feature_names"], nlohmann::json({"income", "home"}));
}

TEST(ShapExact, StopsWhenCancelled) {
  const MockDataset data = NormalData(20, 4);
  const MockModel model = Regressor(4, [](const double* x) { return x[0]; });
  MockRunOptions options;
  options.params = {{"background", "0:10"}};
  options.rows = {10, 11, 12, 13, 14};
  options.cancel_after_progress = 0;
  const MockRunResult run = MockHost(data, model).Run(Exact(), options);
  EXPECT_EQ(run.status, LOUPE_ERROR_CANCELLED);
  EXPECT_EQ(run.failed_in, "explain");
  EXPECT_EQ(run.predict_calls, 0);
}

TEST(ShapExact, IdenticalBitsOnOneAndFourThreads) {
  const MockDataset data = NormalData(80, 9, 11);
  const MockModel model = Regressor(9, [](const double* x) { return Nonlinear(x) + x[5] * x[6] * x[8]; });
  const MockRunResult one = RunExact(data, model, {{"background", 40}}, {0, 1, 2}, 1);
  const MockRunResult four = RunExact(data, model, {{"background", 40}}, {0, 1, 2}, 4);
  ASSERT_TRUE(one.ok()) << one.error;
  EXPECT_EQ(one.json.dump(), four.json.dump());
}

TEST(ShapExact, PassesTheConformanceKit) {
  loupe::testing::ConformanceCase c;
  c.dataset = NormalData(40, 4, 13);
  c.dataset.features.push_back(
      MockColumn::Categorical("color", {"red", "green"}, std::vector<double>(40, 1)));
  for (std::size_t i = 0; i < 40; i += 3) c.dataset.features[4].values[i] = 0;
  c.model = Logistic({0.5, -1.0, 0.25, 2.0, 1.0}, 0.1);
  c.params = {{"background", 12}};
  c.rows = {0, 7, 33};
  c.threads = 3;
  c.bad_params = {
      {{{"groups", {{"a", {"x0"}}}}}, "groups"},
      {{{"groups", {{"a", {"x0", "x1", "x2", "x3", "color", "x9"}}}}}, "x9"},
      {{{"background", "35:30"}}, "background"},
      {{{"background", {1, 2, 400}}}, "background"},
  };
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "shap.exact", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

TEST(ShapExact, ConformanceKitCatchesAnAcceptedBadParameter) {
  // The kit must be able to fail: a configuration shap.exact accepts is reported as "accepted".
  loupe::testing::ConformanceCase c;
  c.dataset = NormalData(10, 2);
  c.model = Regressor(2, [](const double* x) { return x[0] - x[1]; });
  c.rows = {0};
  c.bad_params = {{{{"background", "0:5"}}, ""}, {{{"nsamples", 3}}, ""}};
  const auto failures = loupe::testing::CheckRefusesBadParams(Exact(), c);
  ASSERT_EQ(failures.size(), 2u) << loupe::testing::FormatFailures(failures);
  EXPECT_NE(failures[0].find("accepted"), std::string::npos);
  EXPECT_NE(failures[1].find("spec check"), std::string::npos);
}

}  // namespace
