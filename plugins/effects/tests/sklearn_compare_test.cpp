// The effects explainers against scikit-learn 1.2.1 and a reference ALE written from the paper, on the demo's
// logistic-regression credit model and 400 real rows (fixtures/make_fixtures.py): the same grids, partial
// dependence and ICE to 1e-9, the same permutation importances on the same permutations to 1e-9, seeded
// importances in agreement with scikit-learn's in distribution, and the same ALE to 1e-9.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "credit_fixture.hpp"

namespace {

using effects_test::AllRows;
using effects_test::CreditData;
using effects_test::CreditModel;
using effects_test::Explainer;
using effects_test::Fixtures;
using effects_test::Flatten;
using loupe::testing::MockHost;
using loupe::testing::MockRunOptions;
using loupe::testing::MockRunResult;
using nlohmann::json;

constexpr double kTolerance = 1e-9;

void ExpectNear(const std::vector<double>& actual, const std::vector<double>& expected,
                const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (std::size_t i = 0; i < actual.size(); ++i)
    ASSERT_NEAR(actual[i], expected[i], kTolerance) << what << " [" << i << "]";
}

// Entry `o` of the outer dimension of a flattened [O][...] array.
std::vector<double> OutputSlice(const json& array, std::size_t o) { return Flatten(array[o]); }

MockRunResult RunOnCredit(const std::string& explainer, json params, int threads = 1,
                          loupe::testing::MockModel model = CreditModel(),
                          loupe::testing::MockDataset data = CreditData()) {
  MockRunOptions options;
  options.params = std::move(params);
  options.rows = AllRows(data);
  options.threads = threads;
  options.seed = 5;
  return MockHost(std::move(data), std::move(model)).Run(Explainer(explainer), options);
}

class PartialDependenceCase : public ::testing::TestWithParam<std::size_t> {};

TEST_P(PartialDependenceCase, EqualsScikitLearn) {
  const json& c = Fixtures()["partial_dependence"][GetParam()];
  SCOPED_TRACE(c["name"].get<std::string>());
  const json features = c["features"].size() == 1 ? c["features"] : json::array({c["features"]});
  const json params = {{"features", features},
                       {"kind", c["kind"]},
                       {"grid_resolution", c["grid_resolution"]},
                       {"percentiles", c["percentiles"]},
                       {"output", "probability"}};
  const MockRunResult result = RunOnCredit("effects.partial_dependence", params, 2);
  ASSERT_TRUE(result.ok()) << result.error;
  const json& axes = result.json["feature_sets"][0]["axes"];
  ASSERT_EQ(axes.size(), c["values"].size());
  for (std::size_t a = 0; a < axes.size(); ++a)
    ExpectNear(axes[a]["values"].get<std::vector<double>>(), c["values"][a].get<std::vector<double>>(),
               "grid");
  // scikit-learn reports a binary classifier's positive class, P(good): Loupe's output 1.
  if (c.contains("average")) {
    ExpectNear(OutputSlice(result.json["average"]["0"], 1), c["average"].get<std::vector<double>>(),
               "average");
  }
  if (c.contains("individual")) {
    ExpectNear(OutputSlice(result.json["individual"]["0"], 1), Flatten(c["individual"]), "individual");
    json centred = params;
    centred["centered"] = true;
    const MockRunResult centred_result = RunOnCredit("effects.partial_dependence", centred);
    ASSERT_TRUE(centred_result.ok()) << centred_result.error;
    ExpectNear(OutputSlice(centred_result.json["average"]["0"], 1),
               c["centered_average"].get<std::vector<double>>(), "centred average");
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PartialDependenceCase,
                         ::testing::Range<std::size_t>(0, Fixtures()["partial_dependence"].size()));

// A "row_variants" capability (loupe_plugin.h v1.4) for the mock: it materialises each variant and
// evaluates the fixture's model, so that the test checks the plugin's side of the call (the changes of a
// one- or two-way grid point, the output layout); the host's first-layer path has its own tests
// (tests/core/model/row_variants_test.cpp, tests/core/plugin/row_variants_host_test.cpp).
std::atomic<int> materialising_variants_calls{0};
LoupeStatus MaterialisingVariants(LoupeHost* /*host*/, const LoupeTensorView* base, std::int64_t n_variants,
                                  const std::int64_t* offsets, const std::int64_t* columns,
                                  const double* values, LoupeOutputSpace space, double* out,
                                  std::int64_t capacity) {
  ++materialising_variants_calls;
  const std::int64_t n = base->shape[0], width = base->shape[1];
  const std::int64_t n_out = space == LOUPE_OUTPUT_RAW ? 1 : 2;
  if (capacity < n_variants * n * n_out) return LOUPE_ERROR_INVALID_ARGUMENT;
  std::vector<double> row(static_cast<std::size_t>(width));
  for (std::int64_t v = 0; v < n_variants; ++v) {
    for (std::int64_t r = 0; r < n; ++r) {
      const double* from = static_cast<const double*>(base->data) + r * width;
      std::copy(from, from + width, row.begin());
      for (std::int64_t k = offsets[v]; k < offsets[v + 1]; ++k)
        row[static_cast<std::size_t>(columns[k])] = values[k];
      const double logit = effects_test::CreditLogit(row.data());
      double* cell = out + (v * n + r) * n_out;
      if (n_out == 1) {
        cell[0] = logit;
      } else {
        cell[1] = 1.0 / (1.0 + std::exp(-logit));
        cell[0] = 1.0 - cell[1];
      }
    }
  }
  return LOUPE_OK;
}

TEST_P(PartialDependenceCase, EqualsScikitLearnThroughTheRowVariantsCapability) {
  static const LoupeRowVariants variants{sizeof(LoupeRowVariants), 0, &MaterialisingVariants};
  const json& c = Fixtures()["partial_dependence"][GetParam()];
  SCOPED_TRACE(c["name"].get<std::string>());
  loupe::testing::MockModel model = CreditModel();
  model.capabilities = {LOUPE_ROW_VARIANTS_CAPABILITY};
  model.capability_structs[LOUPE_ROW_VARIANTS_CAPABILITY] = &variants;
  const json features = c["features"].size() == 1 ? c["features"] : json::array({c["features"]});
  const json params = {{"features", features},
                       {"kind", c["kind"]},
                       {"grid_resolution", c["grid_resolution"]},
                       {"percentiles", c["percentiles"]},
                       {"output", "probability"}};
  const int calls_before = materialising_variants_calls.load();
  const MockRunResult result = RunOnCredit("effects.partial_dependence", params, 2, model);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_GT(materialising_variants_calls.load(), calls_before);
  if (c.contains("average")) {
    ExpectNear(OutputSlice(result.json["average"]["0"], 1), c["average"].get<std::vector<double>>(),
               "average");
  }
  if (c.contains("individual")) {
    ExpectNear(OutputSlice(result.json["individual"]["0"], 1), Flatten(c["individual"]), "individual");
  }
}

class PermutationImportanceCase : public ::testing::TestWithParam<std::size_t> {};

TEST_P(PermutationImportanceCase, EqualsScikitLearnOnTheSamePermutations) {
  const json& c = Fixtures()["permutation_importance"][GetParam()];
  SCOPED_TRACE(c["name"].get<std::string>());
  loupe::testing::MockDataset data = CreditData();
  loupe::testing::MockModel model = CreditModel();
  if (c["task"] == "regression") {
    data.others.push_back(
        loupe::testing::MockColumn::Numeric("y", c["y_regression"].get<std::vector<double>>()));
    data.target = "y";
    model = effects_test::CreditLogitRegressor();
  }
  json params = {
      {"scoring", c["scoring"]}, {"n_repeats", c["n_repeats"]}, {"permutations", c["permutations"]}};
  // sample_weight and max_samples: the weights as a data column, the subsample scikit-learn drew given.
  if (c.contains("sample_weight") && !c["sample_weight"].is_null()) {
    data.others.push_back(
        loupe::testing::MockColumn::Numeric("w", c["sample_weight"].get<std::vector<double>>()));
    params["sample_weight"] = "w";
  }
  if (c.contains("max_samples")) params["max_samples"] = c["max_samples"];
  if (c.contains("subsample") && !c["subsample"].is_null()) params["subsample"] = c["subsample"];
  const MockRunResult result = RunOnCredit("effects.permutation_importance", params, 2, model, data);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.json["feature_names"], Fixtures()["feature_names"]);
  ExpectNear(Flatten(result.json["importances"]), Flatten(c["importances"]), "importances");
  ExpectNear(Flatten(result.json["importances_mean"]), Flatten(c["importances_mean"]), "mean");
  ExpectNear(Flatten(result.json["importances_std"]), Flatten(c["importances_std"]), "std");
  if (!c["baseline"].is_null()) {
    EXPECT_NEAR(result.json["baseline_score"].get<double>(), c["baseline"].get<double>(), kTolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PermutationImportanceCase,
                         ::testing::Range<std::size_t>(0, Fixtures()["permutation_importance"].size()));

TEST(PermutationImportance, RocAucDoesNotDependOnWhichClassIsPositive) {
  const json& c = Fixtures()["permutation_importance"][1];
  ASSERT_EQ(c["scoring"], "roc_auc");
  loupe::testing::MockDataset data = CreditData();
  data.positive_label = "bad";  // scikit-learn scores P(good) against "good"; Loupe now P(bad) against "bad"
  const json params = {{"scoring", "roc_auc"}, {"n_repeats", 5}, {"permutations", c["permutations"]}};
  const MockRunResult result = RunOnCredit("effects.permutation_importance", params, 1, CreditModel(), data);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.json["positive"], "bad");
  ExpectNear(Flatten(result.json["importances"]), Flatten(c["importances"]), "importances");
}

TEST(PermutationImportance, GroupsEqualTheReferenceOnTheSamePermutations) {
  const json& g = Fixtures()["grouped_importance"];
  const json params = {{"groups", g["groups"]},
                       {"features", json::array()},
                       {"n_repeats", 4},
                       {"permutations", g["permutations"]}};
  const MockRunResult result = RunOnCredit("effects.permutation_importance", params, 2);
  ASSERT_TRUE(result.ok()) << result.error;
  const auto names = result.json["feature_names"].get<std::vector<std::string>>();
  ASSERT_EQ(names, (std::vector<std::string>{"household", "loan"}));
  for (std::size_t u = 0; u < names.size(); ++u) {
    const json& expected = g["results"][names[u]];
    EXPECT_NEAR(result.json["importances_mean"][u].get<double>(), expected["mean"].get<double>(), kTolerance);
    EXPECT_NEAR(result.json["importances_std"][u].get<double>(), expected["std"].get<double>(), kTolerance);
    ExpectNear(Flatten(result.json["importances"][u]), Flatten(expected["importances"]), names[u]);
  }
}

// Seeded shuffles differ from numpy's, so the seeded importances can only agree in distribution: each
// feature's mean over 30 repeats within 4 standard errors of scikit-learn's mean over its own 30.
TEST(PermutationImportance, SeededMeansAgreeWithScikitLearnInDistribution) {
  const json& s = Fixtures()["permutation_statistics"];
  const json params = {{"scoring", s["scoring"]}, {"n_repeats", s["n_repeats"]}};
  const MockRunResult result = RunOnCredit("effects.permutation_importance", params, 2);
  ASSERT_TRUE(result.ok()) << result.error;
  const double n = s["n_repeats"].get<double>();
  for (std::size_t f = 0; f < s["importances_mean"].size(); ++f) {
    const double ours = result.json["importances_mean"][f].get<double>();
    const double theirs = s["importances_mean"][f].get<double>();
    const double sd_ours = result.json["importances_std"][f].get<double>();
    const double sd_theirs = s["importances_std"][f].get<double>();
    const double standard_error = std::sqrt((sd_ours * sd_ours + sd_theirs * sd_theirs) / n);
    EXPECT_LE(std::fabs(ours - theirs), 4 * standard_error + 1e-12) << "feature " << f;
    EXPECT_GT(sd_ours, 0.0) << "feature " << f;
  }
}

class AleCase : public ::testing::TestWithParam<std::size_t> {};

TEST_P(AleCase, EqualsTheReferenceImplementation) {
  const json& c = Fixtures()["ale"][GetParam()];
  SCOPED_TRACE(c["feature"].get<std::string>());
  json params = {{"features", {c["feature"]}}, {"output", "probability"}};
  if (c.contains("bins")) params["bins"] = c["bins"];
  const MockRunResult result = RunOnCredit("effects.ale", params, 2);
  ASSERT_TRUE(result.ok()) << result.error;
  const json& feature = result.json["features"][0];
  const std::vector<double> ale = OutputSlice(result.json["ale"]["0"], 1);
  const auto values = feature["values"].get<std::vector<double>>();
  const auto expected_values = c["values"].get<std::vector<double>>();
  if (!c["categorical"].get<bool>()) {
    ExpectNear(values, expected_values, "edges");
    ExpectNear(feature["counts"].get<std::vector<double>>(), c["counts"].get<std::vector<double>>(),
               "counts");
    ExpectNear(ale, c["ale"].get<std::vector<double>>(), "ale");
    return;
  }
  // Categorical: the same order up to reversal (MDS leaves the sign open), the same effect per level.
  std::vector<double> reversed(expected_values.rbegin(), expected_values.rend());
  EXPECT_TRUE(values == expected_values || values == reversed);
  std::map<double, double> expected_by_level;
  for (std::size_t i = 0; i < expected_values.size(); ++i)
    expected_by_level[expected_values[i]] = c["ale"][i].get<double>();
  for (std::size_t i = 0; i < values.size(); ++i)
    EXPECT_NEAR(ale[i], expected_by_level.at(values[i]), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AleCase, ::testing::Range<std::size_t>(0, Fixtures()["ale"].size()));

class AlePairCase : public ::testing::TestWithParam<std::size_t> {};

// Second-order ALE against make_fixtures.py's ale_reference_pair (written from Apley & Zhu §2.3 and
// ALEPlot), including a pair (Income, Debt) with many empty cells filled by their nearest neighbours.
TEST_P(AlePairCase, EqualsTheReferenceImplementation) {
  const json& c = Fixtures()["ale_pairs"][GetParam()];
  SCOPED_TRACE(c["features"].dump());
  const json params = {{"features", json::array()},
                       {"pairs", json::array({c["features"]})},
                       {"bins", c["bins"]},
                       {"output", "probability"}};
  const MockRunResult result = RunOnCredit("effects.ale", params, 2);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_TRUE(result.json["features"].empty());
  const json& pair = result.json["pairs"][0];
  EXPECT_EQ(pair["features"], c["features"]);
  ExpectNear(pair["values"][0].get<std::vector<double>>(), c["values"][0].get<std::vector<double>>(),
             "edges 1");
  ExpectNear(pair["values"][1].get<std::vector<double>>(), c["values"][1].get<std::vector<double>>(),
             "edges 2");
  ExpectNear(Flatten(pair["counts"]), Flatten(c["counts"]), "counts");
  EXPECT_EQ(pair["empty_cells"], c["empty_cells"]);
  ExpectNear(OutputSlice(result.json["ale2"]["0"], 1), Flatten(c["ale"]), "second-order ale");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AlePairCase,
                         ::testing::Range<std::size_t>(0, Fixtures()["ale_pairs"].size()));

}  // namespace
