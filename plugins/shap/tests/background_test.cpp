// `background: {kmeans: K}` (shap.kmeans) and `max_batch_rows` through the explainers of the coalition
// game: weights summing to 1, centres made of data values and valid levels, K = n equal to the plain
// background, determinism, and results that do not depend on the batch bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shap_test_support.hpp"

namespace {

using namespace shap_test_support;  // NOLINT(google-build-using-namespace)

// Three tight, well separated clusters of 12, 24 and 36 rows in (x0, x1) plus a categorical column.
MockDataset ClusteredData() {
  MockDataset data;
  std::vector<double> x0, x1, color;
  const double centres[3] = {0.0, 100.0, 200.0};
  const int sizes[3] = {12, 24, 36};
  loupe::sdk::Rng rng(5, 0, 0);
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < sizes[c]; ++i) {
      x0.push_back(centres[c] + rng.Normal());
      x1.push_back(-centres[c] + rng.Normal());
      color.push_back(static_cast<double>((c + i) % 3));
    }
  }
  data.features.push_back(MockColumn::Numeric("x0", x0));
  data.features.push_back(MockColumn::Numeric("x1", x1));
  data.features.push_back(MockColumn::Categorical("color", {"red", "green", "blue"}, color));
  return data;
}

// A regressor that remembers the rows of its first Predict call.
struct Recorder {
  std::mutex mutex;
  bool captured = false;
  std::vector<std::vector<double>> first_call;
};

MockModel RecordingRegressor(std::int64_t width, RowFn f, std::shared_ptr<Recorder> recorder) {
  return MockModel::Regressor({"y"}, [width, f, recorder](const double* rows, std::int64_t n, double* out) {
    std::lock_guard<std::mutex> lock(recorder->mutex);
    for (std::int64_t i = 0; i < n; ++i) {
      if (!recorder->captured) recorder->first_call.emplace_back(rows + i * width, rows + (i + 1) * width);
      out[i] = f(rows + i * width);
    }
    recorder->captured = true;
  });
}

TEST(ShapKMeansBackground, WeightsSumToOneAndFollowClusterSizes) {
  const MockDataset data = ClusteredData();
  const MockRunResult ones = RunShap("shap.exact", data, Regressor(3, [](const double*) { return 1.0; }),
                                     {{"background", {{"kmeans", 3}}}}, {0});
  ASSERT_TRUE(ones.ok()) << ones.error;
  EXPECT_NEAR(ones.json["base_values"][0][0].get<double>(), 1.0, 1e-12);
  EXPECT_EQ(ones.json["quality"]["background_rows"].get<double>(), 3.0);
  // Base value = weighted mean of x0 over the snapped centres: about (12 * 0 + 24 * 100 + 36 * 200) / 72.
  const MockRunResult mean = RunShap("shap.exact", data, Regressor(3, [](const double* x) { return x[0]; }),
                                     {{"background", {{"kmeans", 3}}}}, {0});
  ASSERT_TRUE(mean.ok()) << mean.error;
  EXPECT_NEAR(mean.json["base_values"][0][0].get<double>(), (24.0 * 100 + 36.0 * 200) / 72.0, 1.0);
}

TEST(ShapKMeansBackground, CentresAreDataValuesAndValidLevels) {
  const MockDataset data = ClusteredData();
  auto recorder = std::make_shared<Recorder>();
  const MockRunResult run = RunShap("shap.exact", data,
                                    RecordingRegressor(
                                        3, [](const double* x) { return x[0] * x[1]; }, recorder),
                                    {{"background", {{"kmeans", 5}}}}, {3});
  ASSERT_TRUE(run.ok()) << run.error;
  // The first unit is the empty coalition of the explained row: its rows are the centres themselves.
  ASSERT_GE(recorder->first_call.size(), 5u);
  std::set<std::vector<double>> centres(recorder->first_call.begin(), recorder->first_call.begin() + 5);
  EXPECT_EQ(centres.size(), 5u);
  for (const auto& centre : centres) {
    for (std::size_t j = 0; j < 3; ++j) {
      const auto& column = data.features[j].values;
      EXPECT_NE(std::find(column.begin(), column.end(), centre[j]), column.end()) << "feature " << j;
    }
    EXPECT_TRUE(centre[2] == 0.0 || centre[2] == 1.0 || centre[2] == 2.0) << centre[2];
  }
}

TEST(ShapKMeansBackground, KEqualToRowCountEqualsThePlainBackground) {
  const MockDataset data = NormalData(30, 4, 21);
  const MockModel model = Regressor(4, [](const double* x) { return x[0] * x[1] + std::sin(x[2]) * x[3]; });
  for (const char* explainer : {"shap.exact", "shap.kernel", "shap.permutation"}) {
    const MockRunResult plain = RunShap(explainer, data, model, {{"background", "0:30"}}, {3, 17});
    const MockRunResult centres =
        RunShap(explainer, data, model, {{"background", {{"kmeans", 30}}}}, {3, 17});
    ASSERT_TRUE(plain.ok() && centres.ok()) << plain.error << centres.error;
    EXPECT_LT(MaxDifference(plain, centres), 1e-12) << explainer;
    EXPECT_NEAR(plain.json["base_values"][0][0].get<double>(),
                centres.json["base_values"][0][0].get<double>(), 1e-12);
  }
}

TEST(ShapKMeansBackground, DeterministicAndIdenticalOnOneAndTwoThreads) {
  const MockDataset data = NormalData(300, 6, 22);
  const MockModel model = Regressor(6, Nonlinear);
  const nlohmann::json params = {{"background", {{"kmeans", 8}}}};
  const MockRunResult one = RunShap("shap.exact", data, model, params, {0, 1, 2}, 1);
  const MockRunResult two = RunShap("shap.exact", data, model, params, {0, 1, 2}, 2);
  ASSERT_TRUE(one.ok() && two.ok()) << one.error << two.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
  EXPECT_EQ(one.json["quality"]["background_rows"].get<double>(), 8.0);
  EXPECT_LT(one.json["quality"]["additivity_residual"].get<double>(), 1e-10);
}

TEST(ShapKMeansBackground, WorksForKernelPermutationAndLinear) {
  const MockDataset data = NormalData(80, 6, 23);
  const MockModel model = Regressor(6, Nonlinear);
  const nlohmann::json params = {{"background", {{"kmeans", 6}}}};
  for (const char* explainer : {"shap.kernel", "shap.permutation"}) {
    const MockRunResult run = RunShap(explainer, data, model, params, {1, 2});
    ASSERT_TRUE(run.ok()) << explainer << ": " << run.error;
    EXPECT_LT(run.json["quality"]["additivity_residual"].get<double>(), 1e-9) << explainer;
  }
  const MockModel linear = Regressor(6, [](const double* x) { return 1.0 + 2.0 * x[0] - x[3] + 0.5 * x[5]; });
  const MockRunResult exact = RunShap("shap.exact", data, linear, params, {1, 2});
  const MockRunResult run = RunShap("shap.linear", data, linear, params, {1, 2});
  ASSERT_TRUE(run.ok() && exact.ok()) << run.error << exact.error;
  EXPECT_LT(MaxDifference(run, exact), 1e-9);
  EXPECT_NEAR(run.json["base_values"][0][0].get<double>(), exact.json["base_values"][0][0].get<double>(),
              1e-9);
}

TEST(ShapKMeansBackground, RefusesBadObjects) {
  const MockDataset data = NormalData(20, 3);
  const MockModel model = Regressor(3, [](const double* x) { return x[0] + x[1] * x[2]; });
  for (const nlohmann::json& background : {nlohmann::json{{"kmeans", 0}}, nlohmann::json{{"kmeans", 21}},
                                           nlohmann::json{{"kmeans", "5"}}, nlohmann::json{{"centres", 5}}}) {
    const MockRunResult run = RunShap("shap.exact", data, model, {{"background", background}}, {0});
    EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT) << background.dump();
    EXPECT_EQ(run.failed_in, "create");
    EXPECT_NE(run.error.find("parameter 'background'"), std::string::npos) << run.error;
  }
}

TEST(ShapMaxBatchRows, ResultsAreBitIdenticalForEveryBudget) {
  const MockDataset data = NormalData(60, 6, 24);
  const MockModel model = NonlinearClassifier(6, Nonlinear);
  for (const char* explainer : {"shap.exact", "shap.kernel", "shap.permutation"}) {
    std::string reference;
    for (const std::int64_t budget :
         {std::int64_t{7}, std::int64_t{64}, std::int64_t{1000}, std::int64_t{100000}}) {
      const MockRunResult run =
          RunShap(explainer, data, model, {{"background", 40}, {"max_batch_rows", budget}}, {50, 51, 52}, 2);
      ASSERT_TRUE(run.ok()) << explainer << ": " << run.error;
      EXPECT_LE(run.max_batch_rows, budget) << explainer;
      if (reference.empty()) reference = run.json["values"].dump() + run.json["base_values"].dump();
      EXPECT_EQ(run.json["values"].dump() + run.json["base_values"].dump(), reference)
          << explainer << " " << budget;
    }
  }
}

TEST(ShapMaxBatchRows, RefusesOutOfRangeBudgets) {
  const MockDataset data = NormalData(20, 3);
  const MockModel model = Regressor(3, [](const double* x) { return x[0] + x[1] * x[2]; });
  for (const std::int64_t budget : {std::int64_t{0}, std::int64_t{1} << 25}) {
    const MockRunResult run = RunShap("shap.kernel", data, model, {{"max_batch_rows", budget}}, {0});
    EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT) << budget;
    EXPECT_NE(run.error.find("parameter 'max_batch_rows'"), std::string::npos) << run.error;
  }
}

}  // namespace
