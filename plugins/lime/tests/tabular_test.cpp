// lime.tabular through the SDK's mock host: recovery of a linear model, lime's condition texts, the
// samplers' distributions, selection modes, labels and top_labels, determinism, thread and batching
// invariance, refusals and the conformance kit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/sdk/random.hpp"
#include "loupe/testing/conformance.hpp"
#include "tabular_explainer.hpp"
#include "tabular_stats.hpp"

extern "C" const LoupePluginEntryFn loupe_plugin_entry_v1;

namespace {

using loupe::testing::MockColumn;
using loupe::testing::MockDataset;
using loupe::testing::MockHost;
using loupe::testing::MockModel;
using loupe::testing::MockRunOptions;
using loupe::testing::MockRunResult;

const LoupeExplainerVTable& Tabular() {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  EXPECT_NE(info, nullptr) << error;
  const LoupeExplainerVTable* tabular = loupe::testing::FindExplainer(*info, "lime.tabular");
  EXPECT_NE(tabular, nullptr);
  return *tabular;
}

std::string Indexed(const char* prefix, std::int64_t index) {
  return std::string(prefix).append(std::to_string(index));
}

// Feature j ~ normal(means[j], stds[j]).
MockDataset NormalData(std::int64_t rows, const std::vector<double>& means, const std::vector<double>& stds,
                       std::uint64_t seed = 1) {
  MockDataset data;
  for (std::size_t j = 0; j < means.size(); ++j) {
    loupe::sdk::Rng rng(seed, j, 0);
    std::vector<double> values;
    for (std::int64_t i = 0; i < rows; ++i) values.push_back(means[j] + stds[j] * rng.Normal());
    data.features.push_back(MockColumn::Numeric(Indexed("x", static_cast<std::int64_t>(j)), values));
  }
  return data;
}

MockModel Linear(const std::vector<double>& c, double c0) {
  const auto width = static_cast<std::int64_t>(c.size());
  return MockModel::Regressor({"y"}, [c, c0, width](const double* rows, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) {
      double y = c0;
      for (std::int64_t j = 0; j < width; ++j) y += c[static_cast<std::size_t>(j)] * rows[i * width + j];
      out[i] = y;
    }
  });
}

MockModel Logistic(const std::vector<double>& w, double c) {
  const auto width = static_cast<std::int64_t>(w.size());
  return MockModel::Classifier(
      {"no", "yes"},
      [w, c, width](const double* rows, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) {
          double z = c;
          for (std::int64_t j = 0; j < width; ++j) z += w[static_cast<std::size_t>(j)] * rows[i * width + j];
          const double p = 1.0 / (1.0 + std::exp(-z));
          out[2 * i] = 1.0 - p;
          out[2 * i + 1] = p;
        }
      },
      {"margin"},
      [w, c, width](const double* rows, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) {
          double z = c;
          for (std::int64_t j = 0; j < width; ++j) z += w[static_cast<std::size_t>(j)] * rows[i * width + j];
          out[i] = z;
        }
      });
}

MockRunResult RunLime(const MockDataset& data, const MockModel& model, nlohmann::json params,
                      std::vector<std::int64_t> rows, int threads = 1) {
  MockRunOptions options;
  options.params = std::move(params);
  options.rows = std::move(rows);
  options.seed = 11;
  options.threads = threads;
  return MockHost(data, model).Run(Tabular(), options);
}

double PopulationStd(const std::vector<double>& v) {
  double mean = 0;
  for (const double x : v) mean += x / static_cast<double>(v.size());
  double ss = 0;
  for (const double x : v) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / static_cast<double>(v.size()));
}

TEST(LimeTabular, LinearModelWithoutDiscretizationRecoversCoefficientsTimesStd) {
  const std::vector<double> c = {1.5, -2.0, 0.25, 3.0};
  const MockDataset data = NormalData(400, {10, -3, 0, 100}, {2, 0.5, 7, 30});
  const MockRunResult run = RunLime(data, Linear(c, 4.0),
                                    {{"discretize_continuous", false},
                                     {"kernel_width", 1e6},
                                     {"feature_selection", "none"},
                                     {"num_samples", 5000}},
                                    {3, 17});
  ASSERT_TRUE(run.ok()) << run.error;
  for (std::size_t r = 0; r < 2; ++r) {
    for (std::size_t j = 0; j < c.size(); ++j) {
      const double expected = c[j] * PopulationStd(data.features[j].values);
      EXPECT_NEAR(run.json["values"][r][0][j].get<double>(), expected, 2e-3 * std::fabs(expected))
          << "feature " << j;
    }
    EXPECT_NEAR(run.json["score"][r][0].get<double>(), 1.0, 1e-6);
    const double prediction = run.json["prediction"][r][0].get<double>();
    EXPECT_NEAR(run.json["local_pred"][r][0].get<double>(), prediction, 1e-4 * std::fabs(prediction));
    EXPECT_EQ(run.json["base_values"][r][0], run.json["intercept"][r][0]);
  }
  // A narrow kernel around the instance still sees a linear function: same weights.
  const MockRunResult around = RunLime(
      data, Linear(c, 4.0),
      {{"discretize_continuous", false}, {"sample_around_instance", true}, {"feature_selection", "none"}},
      {3});
  ASSERT_TRUE(around.ok()) << around.error;
  for (std::size_t j = 0; j < c.size(); ++j) {
    const double expected = c[j] * PopulationStd(data.features[j].values);
    EXPECT_NEAR(around.json["values"][0][0][j].get<double>(), expected, 1e-2 * std::fabs(expected))
        << "feature " << j;
  }
}

MockDataset AgeHome() {
  MockDataset data;
  std::vector<double> age, home;
  for (int i = 1; i <= 20; ++i) {
    age.push_back(i);
    home.push_back(i % 3);
  }
  data.features.push_back(MockColumn::Numeric("Age", age));
  data.features.push_back(MockColumn::Categorical("Home", {"own", "rent", "other"}, home));
  return data;
}

// Gaussian elimination with partial pivoting (the test's own solver).
std::vector<double> Solve(std::vector<std::vector<double>> a, std::vector<double> b) {
  const std::size_t n = b.size();
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t pivot = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[pivot][c])) pivot = r;
    std::swap(a[c], a[pivot]);
    std::swap(b[c], b[pivot]);
    for (std::size_t r = c + 1; r < n; ++r) {
      const double f = a[r][c] / a[c][c];
      for (std::size_t j = c; j < n; ++j) a[r][j] -= f * a[c][j];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(n);
  for (std::size_t c = n; c-- > 0;) {
    double s = b[c];
    for (std::size_t j = c + 1; j < n; ++j) s -= a[c][j] * x[j];
    x[c] = s / a[c][c];
  }
  return x;
}

TEST(LimeTabular, AgreesWithADirectImplementationOfLimesFormulas) {
  // The same neighbourhood (same stats, same RNG stream), then lime's formulas written out directly:
  // d = |local_i - local_0|, w_i = sqrt(exp(-d^2 / kw^2)), Ridge(alpha 1) with an intercept through the
  // (M + 1) normal equations, weighted R^2, local_pred at row 0.
  MockDataset data = NormalData(150, {1, -2, 0}, {1, 3, 0.5}, 21);
  std::vector<double> codes;
  for (int i = 0; i < 150; ++i) codes.push_back(i % 5 == 0 ? 2 : (i % 2));
  data.features.push_back(MockColumn::Categorical("kind", {"a", "b", "c"}, codes));
  const std::int64_t m = 4, n = 400, row = 17;
  auto f = [](const double* x) { return std::sin(x[0]) * x[1] + x[2] * x[2] + (x[3] == 2 ? 1.5 : 0.0); };
  const MockModel model =
      MockModel::Regressor({"y"}, [f, m](const double* rows, std::int64_t count, double* out) {
        for (std::int64_t i = 0; i < count; ++i) out[i] = f(rows + i * m);
      });
  for (const bool discretize : {true, false}) {
    const double kernel_width = discretize ? 1.5 : 0.9;
    const MockRunResult run = RunLime(data, model,
                                      {{"num_samples", n},
                                       {"feature_selection", "none"},
                                       {"kernel_width", kernel_width},
                                       {"discretize_continuous", discretize}},
                                      {row});
    ASSERT_TRUE(run.ok()) << run.error;

    std::vector<double> matrix;
    for (std::int64_t i = 0; i < 150; ++i) {
      for (std::int64_t j = 0; j < m; ++j)
        matrix.push_back(data.features[static_cast<std::size_t>(j)].values[static_cast<std::size_t>(i)]);
    }
    const loupe::sdk::Matrix x(matrix, 150, m);
    loupe::sdk::DatasetInfo info;
    for (const auto& column : data.features)
      info.features.push_back({column.name, column.type, column.levels, 0});
    std::vector<std::int64_t> all;
    for (std::int64_t i = 0; i < 150; ++i) all.push_back(i);
    const auto stats =
        loupe::lime::ComputeStats(x, all, info, discretize, loupe::lime::Discretizer::kQuartile);
    std::vector<double> local(static_cast<std::size_t>(n * m)), inverse(static_cast<std::size_t>(n * m));
    loupe::sdk::Rng rng(11, row, loupe::lime::kSampleStream);
    loupe::lime::SampleNeighbourhood(stats, x.Row(row), n, false, rng, local.data(), inverse.data());

    std::vector<std::vector<double>> a(m + 1, std::vector<double>(m + 1, 0.0));
    std::vector<double> b(m + 1, 0.0), y(n), w(n);
    for (std::int64_t i = 0; i < n; ++i) {
      double d2 = 0;
      for (std::int64_t j = 0; j < m; ++j) d2 += std::pow(local[i * m + j] - local[j], 2);
      w[i] = std::sqrt(std::exp(-d2 / (kernel_width * kernel_width)));
      y[i] = f(&inverse[i * m]);
      std::vector<double> z = {1.0};
      for (std::int64_t j = 0; j < m; ++j) z.push_back(local[i * m + j]);
      for (std::int64_t r = 0; r <= m; ++r) {
        b[r] += w[i] * z[r] * y[i];
        for (std::int64_t c = 0; c <= m; ++c) a[r][c] += w[i] * z[r] * z[c];
      }
    }
    for (std::int64_t r = 1; r <= m; ++r) a[r][r] += 1.0;
    const std::vector<double> solution = Solve(a, b);
    for (std::int64_t j = 0; j < m; ++j) {
      EXPECT_NEAR(run.json["values"][0][0][j].get<double>(), solution[j + 1], 1e-9)
          << "feature " << j << " discretize " << discretize;
    }
    EXPECT_NEAR(run.json["intercept"][0][0].get<double>(), solution[0], 1e-9);
    double ws = 0, mean = 0, ssr = 0, sst = 0, local_pred = solution[0];
    for (std::int64_t j = 0; j < m; ++j) local_pred += solution[j + 1] * local[j];
    for (std::int64_t i = 0; i < n; ++i) {
      ws += w[i];
      mean += w[i] * y[i];
    }
    mean /= ws;
    for (std::int64_t i = 0; i < n; ++i) {
      double fit = solution[0];
      for (std::int64_t j = 0; j < m; ++j) fit += solution[j + 1] * local[i * m + j];
      ssr += w[i] * (y[i] - fit) * (y[i] - fit);
      sst += w[i] * (y[i] - mean) * (y[i] - mean);
    }
    EXPECT_NEAR(run.json["score"][0][0].get<double>(), 1.0 - ssr / sst, 1e-9);
    EXPECT_NEAR(run.json["local_pred"][0][0].get<double>(), local_pred, 1e-9);
    EXPECT_EQ(run.json["prediction"][0][0].get<double>(), f(x.Row(row)));
  }
}

TEST(LimeTabular, ConditionsUseLimesQuartileTexts) {
  // numpy.percentile(1..20, [25, 50, 75]) = 5.75, 10.5, 15.25.
  const MockDataset data = AgeHome();
  const MockModel model = Linear({1.0, 10.0}, 0.0);
  const MockRunResult run =
      RunLime(data, model, {{"feature_selection", "none"}, {"num_samples", 500}}, {2, 7, 13, 19});
  ASSERT_TRUE(run.ok()) << run.error;
  const std::vector<std::string> ages = {"Age <= 5.75", "5.75 < Age <= 10.50", "10.50 < Age <= 15.25",
                                         "Age > 15.25"};
  const std::vector<std::string> homes = {"Home=own", "Home=other", "Home=other", "Home=other"};
  for (std::size_t r = 0; r < 4; ++r) {
    std::map<std::string, std::string> by_feature;
    for (const auto& item : run.json["conditions"][r][0]) by_feature[item["feature"]] = item["condition"];
    EXPECT_EQ(by_feature["Age"], ages[r]);
    EXPECT_EQ(by_feature["Home"], homes[r]);
    // Ordered by |weight|, and the weights are those of `values`.
    const auto& list = run.json["conditions"][r][0];
    ASSERT_EQ(list.size(), 2u);
    EXPECT_GE(std::fabs(list[0]["weight"].get<double>()), std::fabs(list[1]["weight"].get<double>()));
    const std::size_t first = list[0]["feature"] == "Age" ? 0 : 1;
    EXPECT_EQ(list[0]["weight"], run.json["values"][r][0][first]);
  }
  EXPECT_EQ(run.json["data"][1], nlohmann::json({"8", "other"}));
  // Deciles: numpy.percentile(1..20, 10) = 2.9, 20 -> 4.8.
  const MockRunResult deciles = RunLime(
      data, model, {{"feature_selection", "none"}, {"num_samples", 300}, {"discretizer", "decile"}}, {2});
  ASSERT_TRUE(deciles.ok()) << deciles.error;
  std::map<std::string, std::string> by_feature;
  for (const auto& item : deciles.json["conditions"][0][0]) by_feature[item["feature"]] = item["condition"];
  EXPECT_EQ(by_feature["Age"], "2.90 < Age <= 4.80");
}

TEST(LimeTabular, StatisticsAndPercentilesFollowNumpy) {
  EXPECT_EQ(loupe::lime::Percentile({1, 2, 3, 4}, 25), 1.75);
  EXPECT_EQ(loupe::lime::Percentile({1, 2, 3, 4}, 50), 2.5);
  EXPECT_EQ(loupe::lime::Percentile({5}, 75), 5.0);
  EXPECT_EQ(loupe::lime::Fixed2(28.0), "28.00");
  EXPECT_EQ(loupe::lime::Fixed2(-0.125), "-0.12");  // printf rounds the binary value half-even, like Python
}

// scikit-learn 1.2.1: DecisionTreeClassifier(criterion="entropy", max_depth=3).fit(x, y), sorted internal
// thresholds (what lime's EntropyDiscretizer uses as edges).
const std::vector<double> kEntropyX = {
    57.89, 44.37, 40.96, 21.37, 37.23, 39.17, 39.17, 33.73, 39.56, 35.23, 26.86, 48.85, 48.81, 57.1,  40.5,
    35.95, 34.55, 24.54, 49.82, 28.99, 28.15, 37.94, 54.86, 42.37, 29.76, 32.87, 46.25, 38.39, 32.31, 37.7,
    47.45, 59.76, 27.56, 33.74, 31.96, 15.81, 30.76, 29.76, 51.24, 38.68, 23.77, 46.47, 36.44, 22.57, 34.03,
    34.11, 31.26, 40.3,  17.52, 37.32, 50.13, 48.53, 51.08, 51.19, 54.88, 28.82, 48.46, 21.39, 33.97, 20.86};
const std::vector<double> kEntropyY = {2, 2, 1, 0, 1, 1, 1, 1, 1, 2, 0, 2, 2, 2, 1, 1, 1, 0, 1, 0,
                                       0, 1, 2, 1, 0, 0, 2, 1, 0, 1, 1, 2, 0, 1, 0, 0, 0, 0, 2, 2,
                                       0, 1, 1, 0, 1, 1, 0, 1, 0, 1, 2, 2, 2, 2, 2, 0, 2, 0, 1, 0};
const std::vector<double> kEntropyEdges = {33.29999923706055, 43.369998931884766, 47.954999923706055,
                                           49.97500038146973};

TEST(LimeTabular, EntropyDiscretizerMatchesScikitLearnsTree) {
  std::vector<std::pair<double, double>> pairs;
  for (std::size_t i = 0; i < kEntropyX.size(); ++i) pairs.emplace_back(kEntropyX[i], kEntropyY[i]);
  EXPECT_EQ(loupe::lime::EntropyEdges(pairs), kEntropyEdges);
  // One class only: no split, the median is the edge.
  EXPECT_EQ(loupe::lime::EntropyEdges({{1, 0}, {2, 0}, {4, 0}, {9, 0}}), std::vector<double>({3.0}));

  MockDataset data;
  data.features.push_back(MockColumn::Numeric("x", kEntropyX));
  data.others.push_back(MockColumn::Categorical("risk", {"low", "mid", "high"}, kEntropyY));
  data.target = "risk";
  const MockModel model = Linear({0.1}, 0.0);
  const MockRunResult run =
      RunLime(data, model, {{"discretizer", "entropy"}, {"num_samples", 300}}, {0, 1, 2, 35});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_EQ(run.json["conditions"][0][0][0]["condition"], "x > 49.98");
  EXPECT_EQ(run.json["conditions"][1][0][0]["condition"], "43.37 < x <= 47.95");
  EXPECT_EQ(run.json["conditions"][2][0][0]["condition"], "33.30 < x <= 43.37");
  EXPECT_EQ(run.json["conditions"][3][0][0]["condition"], "x <= 33.30");
}

TEST(LimeTabular, SamplersDrawBinsAndCategoriesByTrainingFrequency) {
  // Age: a skewed numeric feature; Home: categories with frequencies 0.6 / 0.3 / 0.1.
  const std::int64_t rows = 1000;
  std::vector<double> matrix;
  loupe::sdk::Rng data_rng(5, 0, 0);
  for (std::int64_t i = 0; i < rows; ++i) {
    matrix.push_back(std::exp(data_rng.Normal()));
    matrix.push_back(i % 10 < 6 ? 0.0 : (i % 10 < 9 ? 1.0 : 2.0));
  }
  const loupe::sdk::Matrix x(matrix, rows, 2);
  loupe::sdk::DatasetInfo info;
  info.n_rows = rows;
  info.features.push_back({"Age", LOUPE_FEATURE_NUMERIC, {}, 0});
  info.features.push_back({"Home", LOUPE_FEATURE_CATEGORICAL, {"own", "rent", "other"}, 0});
  std::vector<std::int64_t> all(rows);
  for (std::int64_t i = 0; i < rows; ++i) all[static_cast<std::size_t>(i)] = i;
  const auto stats = loupe::lime::ComputeStats(x, all, info, true, loupe::lime::Discretizer::kQuartile);
  const auto& age = stats.features[0];
  ASSERT_EQ(age.edges.size(), 3u);
  EXPECT_EQ(age.values, std::vector<double>({0, 1, 2, 3}));

  const std::int64_t n = 40000;
  std::vector<double> local(static_cast<std::size_t>(n * 2)), inverse(static_cast<std::size_t>(n * 2));
  const double instance[2] = {matrix[0], 1.0};
  loupe::sdk::Rng rng(9, 3, 1);
  loupe::lime::SampleNeighbourhood(stats, instance, n, false, rng, local.data(), inverse.data());
  EXPECT_EQ(inverse[0], instance[0]);
  EXPECT_EQ(inverse[1], 1.0);
  EXPECT_EQ(local[0], 1.0);
  EXPECT_EQ(local[1], 1.0);
  std::vector<double> bin_count(4, 0), home_count(3, 0);
  const std::int64_t instance_bin = age.Bin(instance[0]);
  for (std::int64_t i = 1; i < n; ++i) {
    const double v = inverse[static_cast<std::size_t>(i * 2)];
    const std::int64_t bin = age.Bin(v);
    bin_count[static_cast<std::size_t>(bin)] += 1;
    ASSERT_GE(v, age.bin_min[static_cast<std::size_t>(bin)]);
    ASSERT_LE(v, age.bin_max[static_cast<std::size_t>(bin)]);
    EXPECT_EQ(local[static_cast<std::size_t>(i * 2)], bin == instance_bin ? 1.0 : 0.0);
    const double home = inverse[static_cast<std::size_t>(i * 2 + 1)];
    home_count[static_cast<std::size_t>(home)] += 1;
    EXPECT_EQ(local[static_cast<std::size_t>(i * 2 + 1)], home == 1.0 ? 1.0 : 0.0);
  }
  const double draws = static_cast<double>(n - 1);
  for (int b = 0; b < 4; ++b)
    EXPECT_NEAR(bin_count[static_cast<std::size_t>(b)] / draws, 0.25, 0.01) << "bin " << b;
  EXPECT_NEAR(home_count[0] / draws, 0.6, 0.01);
  EXPECT_NEAR(home_count[1] / draws, 0.3, 0.01);
  EXPECT_NEAR(home_count[2] / draws, 0.1, 0.01);
  // Inside a bin the values follow the bin's truncated normal: their mean is near the bin's training mean.
  std::vector<double> sum(4, 0);
  for (std::int64_t i = 1; i < n; ++i) {
    const double v = inverse[static_cast<std::size_t>(i * 2)];
    sum[static_cast<std::size_t>(age.Bin(v))] += v;
  }
  for (std::size_t b = 0; b < 3; ++b) {  // the last bin is long-tailed; its truncation shifts the mean
    EXPECT_NEAR(sum[b] / bin_count[b], age.bin_mean[b], 0.1 * (age.bin_max[b] - age.bin_min[b]))
        << "bin " << b;
  }

  // Without discretization: normal(mean, std) in the inputs, (v - mean) / std in the local representation.
  const auto plain = loupe::lime::ComputeStats(x, all, info, false, loupe::lime::Discretizer::kQuartile);
  loupe::sdk::Rng rng2(9, 3, 1);
  loupe::lime::SampleNeighbourhood(plain, instance, n, false, rng2, local.data(), inverse.data());
  double mean = 0, sq = 0;
  for (std::int64_t i = 1; i < n; ++i) {
    const double z = local[static_cast<std::size_t>(i * 2)];
    EXPECT_NEAR(z,
                (inverse[static_cast<std::size_t>(i * 2)] - plain.features[0].mean) / plain.features[0].scale,
                1e-12);
    mean += z / draws;
    sq += z * z / draws;
  }
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(sq, 1.0, 0.03);
}

TEST(LimeTabular, FeatureSelectionKeepsNumFeatures) {
  const MockDataset data = NormalData(200, {0, 0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, 4);
  const MockModel model = Linear({5, -4, 3, 0.1, 0.2, -0.1, 0.15, 0.05}, 1.0);
  for (const std::string mode : {"auto", "forward_selection", "highest_weights"}) {
    const MockRunResult run = RunLime(data, model,
                                      {{"feature_selection", mode},
                                       {"num_features", 3},
                                       {"discretize_continuous", false},
                                       {"num_samples", 2000}},
                                      {5});
    ASSERT_TRUE(run.ok()) << run.error;
    int nonzero = 0;
    for (const auto& v : run.json["values"][0][0]) nonzero += v.get<double>() != 0.0 ? 1 : 0;
    EXPECT_EQ(nonzero, 3) << mode;
    EXPECT_EQ(run.json["conditions"][0][0].size(), 3u);
    // The strongest effects are x0, x1, x2.
    if (mode != "highest_weights") {
      for (std::size_t j : {0u, 1u, 2u})
        EXPECT_NE(run.json["values"][0][0][j].get<double>(), 0.0) << mode << " x" << j;
    }
  }
  const MockRunResult none = RunLime(data, model, {{"feature_selection", "none"}, {"num_samples", 500}}, {5});
  ASSERT_TRUE(none.ok()) << none.error;
  EXPECT_EQ(none.json["conditions"][0][0].size(), 8u);
  // Default num_features: 10, capped at M; M = 8 here, so all features are kept.
  const MockRunResult defaults = RunLime(data, model, {{"num_samples", 500}}, {5});
  ASSERT_TRUE(defaults.ok()) << defaults.error;
  EXPECT_EQ(defaults.json["conditions"][0][0].size(), 8u);
  EXPECT_NEAR(defaults.json["quality"]["kernel_width"].get<double>(), 0.75 * std::sqrt(8.0), 1e-15);
}

TEST(LimeTabular, ClassifierExplainsEveryClassOrTheLabelsAsked) {
  const MockDataset data = NormalData(100, {0, 1, 2}, {1, 2, 1}, 6);
  const MockModel model = Logistic({1.0, -0.5, 2.0}, 0.2);
  const MockRunResult all = RunLime(data, model, {{"num_samples", 800}}, {0, 1});
  ASSERT_TRUE(all.ok()) << all.error;
  EXPECT_EQ(all.json["output_names"], nlohmann::json({"no", "yes"}));
  // The two probabilities sum to 1, so the local models are mirror images.
  for (std::size_t j = 0; j < 3; ++j) {
    EXPECT_NEAR(all.json["values"][0][0][j].get<double>(), -all.json["values"][0][1][j].get<double>(), 1e-9);
  }
  const MockRunResult yes = RunLime(data, model, {{"num_samples", 800}, {"labels", {"yes"}}}, {0, 1});
  ASSERT_TRUE(yes.ok()) << yes.error;
  EXPECT_EQ(yes.json["output_names"], nlohmann::json({"yes"}));
  EXPECT_EQ(yes.json["values"][1][0], all.json["values"][1][1]);
  const MockRunResult index = RunLime(data, model, {{"num_samples", 800}, {"labels", {1}}}, {0, 1});
  ASSERT_TRUE(index.ok()) << index.error;
  EXPECT_EQ(index.json["values"], yes.json["values"]);
  const MockRunResult raw = RunLime(data, model, {{"num_samples", 800}, {"output", "raw"}}, {0});
  ASSERT_TRUE(raw.ok()) << raw.error;
  EXPECT_EQ(raw.json["output_names"], nlohmann::json({"margin"}));
}

TEST(LimeTabular, TopLabelsExplainEachRowsMostLikelyClass) {
  const MockDataset data = NormalData(100, {0, 0}, {1, 1}, 9);
  const MockModel model = Logistic({3.0, -1.0}, 0.0);
  // Rows whose most likely class differs: P(yes) = sigmoid(3 x0 - x1).
  std::int64_t yes_row = -1, no_row = -1;
  for (std::int64_t i = 0; i < 100 && (yes_row < 0 || no_row < 0); ++i) {
    const double z = 3.0 * data.features[0].values[static_cast<std::size_t>(i)] -
                     data.features[1].values[static_cast<std::size_t>(i)];
    if (z > 1.0 && yes_row < 0) yes_row = i;
    if (z < -1.0 && no_row < 0) no_row = i;
  }
  ASSERT_GE(yes_row, 0);
  ASSERT_GE(no_row, 0);
  const MockRunResult top =
      RunLime(data, model, {{"num_samples", 600}, {"top_labels", 1}}, {yes_row, no_row});
  ASSERT_TRUE(top.ok()) << top.error;
  EXPECT_EQ(top.json["output_names"], nlohmann::json({"no", "yes"}));
  EXPECT_EQ(top.json["top_labels"], nlohmann::json({{"yes"}, {"no"}}));
  EXPECT_TRUE(top.json["values"][0][0][0].is_null());  // the "yes" row did not explain "no"
  EXPECT_TRUE(top.json["conditions"][0][0].is_null());
  EXPECT_TRUE(top.json["score"][1][1].is_null());
  EXPECT_FALSE(top.json["prediction"][0][0].is_null());  // the model's prediction is always reported
  const MockRunResult yes = RunLime(data, model, {{"num_samples", 600}, {"labels", {"yes"}}}, {yes_row});
  ASSERT_TRUE(yes.ok()) << yes.error;
  EXPECT_EQ(yes.json["values"][0][0], top.json["values"][0][1]);
  EXPECT_EQ(yes.json["conditions"][0][0], top.json["conditions"][0][1]);
  const MockRunResult both = RunLime(data, model, {{"num_samples", 600}, {"top_labels", 2}}, {no_row});
  ASSERT_TRUE(both.ok()) << both.error;
  EXPECT_EQ(both.json["top_labels"], nlohmann::json::array({nlohmann::json::array({"no", "yes"})}));
  const MockRunResult refused = RunLime(data, model, {{"top_labels", 3}}, {0});
  EXPECT_EQ(refused.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(refused.error.find("top_labels"), std::string::npos) << refused.error;
}

TEST(LimeTabular, OnePredictCallPerRowAndIdenticalBitsForAnyThreadsOrRowSet) {
  const MockDataset data = NormalData(120, {0, 5, -2, 1, 0}, {1, 2, 3, 0.5, 1}, 8);
  MockDataset mixed = data;
  std::vector<double> codes;
  for (int i = 0; i < 120; ++i) codes.push_back(i % 4 == 0 ? 1 : 0);
  mixed.features.push_back(MockColumn::Categorical("flag", {"a", "b"}, codes));
  const MockModel model = Linear({1, -1, 0.5, 2, std::sqrt(2.0), 3}, 0.5);
  const nlohmann::json params = {{"num_samples", 1500}};
  const MockRunResult one = RunLime(mixed, model, params, {0, 9, 33, 71}, 1);
  const MockRunResult two = RunLime(mixed, model, params, {0, 9, 33, 71}, 2);
  ASSERT_TRUE(one.ok()) << one.error;
  EXPECT_EQ(one.predict_calls, 4);
  EXPECT_EQ(one.max_batch_rows, 1500);
  EXPECT_EQ(one.json.dump(), two.json.dump());
  const MockRunResult alone = RunLime(mixed, model, params, {33}, 2);
  ASSERT_TRUE(alone.ok()) << alone.error;
  EXPECT_EQ(alone.json["values"][0].dump(), one.json["values"][2].dump());
  EXPECT_EQ(alone.json["conditions"][0].dump(), one.json["conditions"][2].dump());
  // Another seed draws another neighbourhood.
  MockRunOptions options;
  options.params = params;
  options.rows = {33};
  options.seed = 12;
  const MockRunResult reseeded = MockHost(mixed, model).Run(Tabular(), options);
  ASSERT_TRUE(reseeded.ok()) << reseeded.error;
  EXPECT_NE(reseeded.json["values"].dump(), alone.json["values"].dump());
}

TEST(LimeTabular, BadParametersGetOneSentenceEach) {
  const MockDataset data = NormalData(50, {0, 1, 2}, {1, 1, 1}, 2);
  const MockModel model = Logistic({1.0, -1.0, 0.5}, 0.0);
  const std::vector<std::pair<nlohmann::json, std::string>> cases = {
      {{{"num_samples", 0}}, "num_samples"},
      {{{"num_samples", 1}}, "num_samples"},
      {{{"num_features", 4}}, "num_features"},
      {{{"num_features", 0}}, "num_features"},
      {{{"kernel_width", 0.0}}, "kernel_width"},
      {{{"kernel_width", -1.0}}, "kernel_width"},
      {{{"labels", {"maybe"}}}, "maybe"},
      {{{"labels", {2}}}, "labels"},
      {{{"labels", nlohmann::json::array()}}, "labels"},
      {{{"labels", {1, "yes"}}}, "twice"},
      {{{"background", "10:10"}}, "background"},
  };
  for (const auto& [params, mentions] : cases) {
    const MockRunResult run = RunLime(data, model, params, {0});
    EXPECT_FALSE(run.ok()) << params.dump();
    EXPECT_FALSE(run.rejected_by_host) << params.dump();
    EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT) << params.dump();
    EXPECT_NE(run.error.find(mentions), std::string::npos) << run.error;
    EXPECT_EQ(run.error.find('\n'), std::string::npos) << run.error;
  }
  const MockRunResult entropy = RunLime(data, model, {{"discretizer", "entropy"}}, {0});
  EXPECT_EQ(entropy.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(entropy.error.find("target"), std::string::npos) << entropy.error;
  EXPECT_TRUE(RunLime(data, model, {{"discretizer", "lloyd"}}, {0}).rejected_by_host);
  MockDataset missing = data;
  missing.features[1].values[4] = NAN;
  const MockRunResult row = RunLime(missing, model, nlohmann::json::object(), {4});
  EXPECT_EQ(row.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(row.error.find("x1"), std::string::npos) << row.error;
}

TEST(LimeTabular, PassesTheConformanceKit) {
  loupe::testing::ConformanceCase c;
  c.dataset = NormalData(60, {0, 1, 2, 3}, {1, 2, 0.5, 1}, 13);
  std::vector<double> codes;
  for (int i = 0; i < 60; ++i) codes.push_back(i % 3 == 0 ? 0 : 1);
  c.dataset.features.push_back(MockColumn::Categorical("color", {"red", "green"}, codes));
  c.model = Logistic({0.5, -1.0, 0.25, 2.0, 1.0}, 0.1);
  c.params = {{"num_samples", 700}, {"num_features", 3}};
  c.rows = {0, 7, 33, 59};
  c.threads = 2;
  c.bad_params = {
      {{{"num_samples", 0}}, "num_samples"},     {{{"num_features", 6}}, "num_features"},
      {{{"kernel_width", 0}}, "kernel_width"},   {{{"labels", {"blue"}}}, "labels"},
      {{{"background", "35:30"}}, "background"},
  };
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "lime.tabular", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

// The ziggurat's values are standard normal: Kolmogorov-Smirnov distance to the normal CDF below the 1%
// critical value, the moments of a normal, the tail beyond the ziggurat's base (kR = 3.654, its own
// sampling path) as often as 2 (1 - Phi(3.654)) = 2.58e-4 predicts, and the same values from the same stream.
TEST(LimeTabular, ZigguratNormalsAreStandardNormal) {
  constexpr int kDraws = 400000;
  loupe::sdk::Rng rng(11, 5, 3);
  std::vector<double> values(kDraws);
  for (double& v : values) v = loupe::lime::StandardNormal(rng);
  loupe::sdk::Rng again(11, 5, 3);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(loupe::lime::StandardNormal(again), values[static_cast<std::size_t>(i)]);
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
  int tail = 0;
  for (const double v : values) {
    m1 += v / kDraws;
    m2 += v * v / kDraws;
    m3 += v * v * v / kDraws;
    m4 += v * v * v * v / kDraws;
    if (std::fabs(v) > 3.6541528853610088) ++tail;
  }
  // Standard errors at n = 400000: mean 0.0016, E[z^2] 0.0022, E[z^3] 0.0039, E[z^4] 0.015.
  EXPECT_NEAR(m1, 0.0, 0.008);
  EXPECT_NEAR(m2, 1.0, 0.011);
  EXPECT_NEAR(m3, 0.0, 0.02);
  EXPECT_NEAR(m4, 3.0, 0.08);
  EXPECT_NEAR(tail, 2.58e-4 * kDraws, 5 * std::sqrt(2.58e-4 * kDraws));  // 103 +- 51
  std::sort(values.begin(), values.end());
  double distance = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double cdf = 0.5 * std::erfc(-values[static_cast<std::size_t>(i)] / std::sqrt(2.0));
    distance = std::max({distance, std::fabs(cdf - static_cast<double>(i) / kDraws),
                         std::fabs(cdf - static_cast<double>(i + 1) / kDraws)});
  }
  EXPECT_LT(distance, 1.63 / std::sqrt(static_cast<double>(kDraws)));
}

// One bin of a hand-made discretized feature: the sampler's truncated normal of (mean, std) on [low, high].
loupe::lime::FeatureStats OneBin(double mean, double std, double low, double high) {
  loupe::lime::FeatureStats feature;
  feature.kind = loupe::lime::FeatureStats::Kind::kDiscretized;
  feature.values = {0.0};
  feature.cumulative = {1};
  feature.draws = {{mean, std, low, high, 0.0}};
  return feature;
}

// Draws of both sampler paths (the AVX2 path, where the CPU has it, and the portable one), which must be
// the same bits.
void SampleBothPaths(const loupe::lime::TrainingStats& stats, const double* instance, std::int64_t n,
                     bool around, std::vector<double>* local, std::vector<double>* inverse) {
  const auto m = static_cast<std::int64_t>(stats.features.size());
  local->assign(static_cast<std::size_t>(n * m), 0.0);
  inverse->assign(static_cast<std::size_t>(n * m), 0.0);
  std::vector<double> local2(local->size(), 0.0), inverse2(inverse->size(), 0.0);
  loupe::sdk::Rng rng(21, 4, loupe::lime::kSampleStream), rng2(21, 4, loupe::lime::kSampleStream);
  loupe::lime::SampleNeighbourhood(stats, instance, n, around, rng, local->data(), inverse->data(),
                                   loupe::lime::SamplerPath::kFastest);
  loupe::lime::SampleNeighbourhood(stats, instance, n, around, rng2, local2.data(), inverse2.data(),
                                   loupe::lime::SamplerPath::kPortable);
  ASSERT_EQ(local2, *local);
  ASSERT_EQ(inverse2, *inverse);
  EXPECT_EQ(rng.NextU64(), rng2.NextU64());
}

// The AVX2 sampler and the portable one give the same bits, whatever the CPU: quartile bins (held in
// registers) and decile bins (gathered), bins without width, categorical and continuous features, a last
// block and a last group of lanes cut short (n - 1 = 2002 rows), the ziggurat's rare path (~1% of the
// proposals), a bin whose proposals almost always fail (the fallback after 1000 of them), and totals near
// 2^32 (the rare step of Lemire's pick) and above it (the 64-bit pick).
TEST(LimeTabular, SamplerPathsGiveTheSameBits) {
  const std::int64_t rows = 400;
  std::vector<double> matrix;
  loupe::sdk::Rng data_rng(8, 1, 0);
  for (std::int64_t i = 0; i < rows; ++i) {
    matrix.push_back(std::exp(data_rng.Normal()));           // skewed
    matrix.push_back(i % 5 == 0 ? data_rng.Normal() : 0.0);  // mostly 0: bins without width
    matrix.push_back(static_cast<double>(i % 3));            // categorical
    matrix.push_back(data_rng.Normal() * 3.0 + 1.0);
  }
  const loupe::sdk::Matrix x(matrix, rows, 4);
  loupe::sdk::DatasetInfo info;
  info.n_rows = rows;
  info.features.push_back({"Skewed", LOUPE_FEATURE_NUMERIC, {}, 0});
  info.features.push_back({"Zeros", LOUPE_FEATURE_NUMERIC, {}, 0});
  info.features.push_back({"Home", LOUPE_FEATURE_CATEGORICAL, {"own", "rent", "other"}, 0});
  info.features.push_back({"Normal", LOUPE_FEATURE_NUMERIC, {}, 0});
  std::vector<std::int64_t> all(rows);
  for (std::int64_t i = 0; i < rows; ++i) all[static_cast<std::size_t>(i)] = i;
  const std::int64_t n = 2003;
  std::vector<double> local, inverse;
  for (const auto discretizer : {loupe::lime::Discretizer::kQuartile, loupe::lime::Discretizer::kDecile}) {
    loupe::lime::TrainingStats stats = loupe::lime::ComputeStats(x, all, info, true, discretizer);
    stats.features.push_back(OneBin(0.0, 1.0, 9.0, 9.5));  // accepted with probability ~1e-19
    loupe::lime::FeatureStats near = OneBin(0.0, 1.0, -1.0, 1.0);
    near.values = {0.0, 1.0};
    near.cumulative = {0x80000000ULL + 12345, 0xFFFFFFFFULL};
    near.draws.push_back({5.0, 0.5, 4.0, 6.0, 1.0});
    stats.features.push_back(near);
    near.cumulative = {0x80000000ULL, 0x100000005ULL};
    stats.features.push_back(near);
    const double instance[7] = {matrix[0], 0.0, 1.0, matrix[3], 9.2, 0.0, 5.0};
    SCOPED_TRACE(discretizer == loupe::lime::Discretizer::kQuartile ? "quartile" : "decile");
    SampleBothPaths(stats, instance, n, false, &local, &inverse);
    // The fallback's values are uniform within the bin; the near-2^32 totals draw both bins.
    double ones = 0;
    for (std::int64_t i = 1; i < n; ++i) {
      const double v = inverse[static_cast<std::size_t>(i * 7 + 4)];
      ASSERT_GE(v, 9.0);
      ASSERT_LE(v, 9.5);
      ones += local[static_cast<std::size_t>(i * 7 + 5)];
    }
    EXPECT_NEAR(ones / static_cast<double>(n - 1), 0.5, 0.05);
  }
  const loupe::lime::TrainingStats plain =
      loupe::lime::ComputeStats(x, all, info, false, loupe::lime::Discretizer::kQuartile);
  SampleBothPaths(plain, matrix.data(), n, false, &local, &inverse);
  SampleBothPaths(plain, matrix.data(), n, true, &local, &inverse);
}

// The values drawn inside a bin follow the bin's truncated normal: Kolmogorov-Smirnov distance to the
// exact truncated CDF below the 1% critical value, for a central bin, a narrow one, one-sided ones (the mean
// at an edge), a long-tailed one and one far from its mean, on both sampler paths.
TEST(LimeTabular, BinValuesFollowTheExactTruncatedNormal) {
  struct Shape {
    double mean, std, low, high;
  };
  const std::vector<Shape> shapes = {{0.0, 1.0, -1.7, 1.7}, {2.0, 1.0, 1.95, 2.05}, {0.0, 1.0, 0.0, 3.0},
                                     {0.0, 2.0, -6.0, 0.0}, {1.0, 0.5, 0.5, 16.0},  {0.0, 1.0, -0.2, 4.0},
                                     {0.0, 1.0, 1.5, 2.5}};
  loupe::lime::TrainingStats stats;
  for (const Shape& s : shapes) stats.features.push_back(OneBin(s.mean, s.std, s.low, s.high));
  const auto m = static_cast<std::int64_t>(shapes.size());
  const std::int64_t n = 20001;
  std::vector<double> instance(static_cast<std::size_t>(m), 0.0), local, inverse;
  SampleBothPaths(stats, instance.data(), n, false, &local, &inverse);
  const auto phi = [](double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); };
  for (std::int64_t j = 0; j < m; ++j) {
    const Shape& s = shapes[static_cast<std::size_t>(j)];
    std::vector<double> values;
    for (std::int64_t i = 1; i < n; ++i) values.push_back(inverse[static_cast<std::size_t>(i * m + j)]);
    std::sort(values.begin(), values.end());
    ASSERT_GE(values.front(), s.low);
    ASSERT_LE(values.back(), s.high);
    const double lo = phi((s.low - s.mean) / s.std), mass = phi((s.high - s.mean) / s.std) - lo;
    const auto count = static_cast<double>(values.size());
    double distance = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double cdf = (phi((values[i] - s.mean) / s.std) - lo) / mass;
      distance = std::max({distance, std::fabs(cdf - static_cast<double>(i) / count),
                           std::fabs(cdf - static_cast<double>(i + 1) / count)});
    }
    EXPECT_LT(distance, 1.63 / std::sqrt(count)) << "bin " << j;
  }
}

}  // namespace
