// shap.tree through the SDK's mock host, against XGBoost's own pred_contribs / pred_interactions
// (tests/fixtures/xgboost, made by make_xgboost_fixtures.py), against shap.exact for the interventional
// values, plus refusals, determinism and the conformance kit.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fast_tree_shap.hpp"
#include "loupe/c/loupe_plugin.h"
#include "loupe/testing/conformance.hpp"
#include "tree_model.hpp"
#include "xgboost_fixture.hpp"

extern "C" const LoupePluginEntryFn loupe_plugin_entry_v1;

namespace {

using loupe::shap::testing::CsvDataset;
using loupe::shap::testing::ReadJsonWithNaN;
using loupe::shap::testing::XgbEnsemble;
using loupe::shap::testing::XgbModel;
using loupe::testing::MockDataset;
using loupe::testing::MockHost;
using loupe::testing::MockModel;
using loupe::testing::MockRunOptions;
using loupe::testing::MockRunResult;

const std::string kFixtures = LOUPE_XGBOOST_FIXTURES;
const std::string kData = LOUPE_TEST_DATA;

const LoupeExplainerVTable& Explainer(const char* name) {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  EXPECT_NE(info, nullptr) << error;
  const LoupeExplainerVTable* explainer = loupe::testing::FindExplainer(*info, name);
  EXPECT_NE(explainer, nullptr) << name;
  return *explainer;
}

std::vector<std::int64_t> Range(std::int64_t n) {
  std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) rows[static_cast<std::size_t>(i)] = i;
  return rows;
}

// A fixture: the model as a capability, the data in a column order of its own (plus an unused column),
// the mock model and XGBoost's reference outputs.
struct Fixture {
  std::shared_ptr<const XgbEnsemble> ensemble;
  MockDataset data;
  MockModel model;
  nlohmann::json reference;

  // Position of data column `name` in the model's features (-1: the model does not have it).
  std::int64_t ModelIndex(const std::string& name) const {
    const auto& names = ensemble->feature_names();
    const auto at = std::find(names.begin(), names.end(), name);
    return at == names.end() ? -1 : at - names.begin();
  }
};

const std::vector<std::string> kCreditCategorical = {"Home", "Marital", "Records", "Job"};

Fixture Credit() {
  Fixture f;
  f.ensemble = std::make_shared<const XgbEnsemble>(kFixtures + "/credit_xgb.json");
  f.data = CsvDataset(kData + "/credit_data.csv",
                      {"Price", "Home", "noise", "Seniority", "Time", "Age", "Marital", "Records", "Job",
                       "Expenses", "Income", "Assets", "Debt", "Amount"},
                      kCreditCategorical);
  f.model = XgbModel(f.ensemble, f.data);
  f.reference = ReadJsonWithNaN(kFixtures + "/credit_xgb_reference.json");
  return f;
}

Fixture Diabetes(const std::string& name) {
  Fixture f;
  f.ensemble = std::make_shared<const XgbEnsemble>(kFixtures + "/" + name + ".json");
  f.data = CsvDataset(kData + "/diabetes.csv",
                      {"s6", "bmi", "age", "sex", "noise", "bp", "s1", "s2", "s3", "s4", "s5"}, {});
  f.model = XgbModel(f.ensemble, f.data);
  f.reference = ReadJsonWithNaN(kFixtures + "/" + name + "_reference.json");
  return f;
}

MockRunResult RunStep(const MockDataset& data, const MockModel& model, const char* explainer,
                      nlohmann::json params, std::vector<std::int64_t> rows, int threads = 2) {
  MockRunOptions options;
  options.params = std::move(params);
  options.rows = std::move(rows);
  options.seed = 5;
  options.threads = threads;
  return MockHost(data, model).Run(Explainer(explainer), options);
}

// |a - b| within `tolerance`, relative to |b| when that is above 1 (XGBoost computes in float32).
void ExpectClose(double actual, double expected, double tolerance, const std::string& where) {
  EXPECT_NEAR(actual, expected, tolerance * std::max(1.0, std::fabs(expected))) << where;
}

// shap.tree (path-dependent) on the first rows equals pred_contribs: every feature's value, zero for the
// unused column, the bias as base value, and Σφ + base equal to the model's margin.
void ExpectPredContribs(const Fixture& f, std::int64_t n_rows) {
  const MockRunResult run = RunStep(f.data, f.model, "shap.tree", nlohmann::json::object(), Range(n_rows));
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_EQ(run.json["feature_perturbation"], "tree_path_dependent");
  const std::int64_t k = f.ensemble->n_outputs();
  const auto n_model = static_cast<std::size_t>(f.ensemble->feature_names().size());
  ASSERT_EQ(run.json["values"].size(), static_cast<std::size_t>(n_rows));
  ASSERT_EQ(run.json["values"][0].size(), static_cast<std::size_t>(k));
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const auto& contribs = f.reference["contribs"][static_cast<std::size_t>(r)];
    for (std::int64_t o = 0; o < k; ++o) {
      const auto& ref = contribs[static_cast<std::size_t>(o)];
      const std::string at = "row " + std::to_string(r) + " output " + std::to_string(o);
      ExpectClose(run.json["base_values"][r][o].get<double>(), ref[n_model].get<double>(), 1e-5,
                  at + " bias");
      for (std::size_t c = 0; c < f.data.features.size(); ++c) {
        const double phi = run.json["values"][r][o][c].get<double>();
        const std::int64_t m = f.ModelIndex(f.data.features[c].name);
        if (m < 0) {
          EXPECT_EQ(phi, 0.0) << at << " unused column " << f.data.features[c].name;
        } else {
          ExpectClose(phi, ref[static_cast<std::size_t>(m)].get<double>(), 1e-5,
                      at + " " + f.data.features[c].name);
        }
      }
    }
  }
  EXPECT_LT(run.json["quality"]["additivity_residual"].get<double>(), 1e-9);
  EXPECT_EQ(run.predict_calls, 1);  // the margins for the residual: one batched call
  EXPECT_EQ(run.predict_rows, n_rows);
}

TEST(ShapTreeFixtures, EvaluatorReproducesXgboostMargins) {
  // The test's own reading of the fixtures must give XGBoost's margins before anything is compared.
  for (const Fixture& f : {Credit(), Diabetes("diabetes_xgb"), Diabetes("diabetes3_xgb")}) {
    const std::int64_t k = f.ensemble->n_outputs();
    std::vector<double> rows;
    for (std::int64_t r = 0; r < 300; ++r) {
      for (const auto& column : f.data.features) rows.push_back(column.values[static_cast<std::size_t>(r)]);
    }
    std::vector<double> margin(static_cast<std::size_t>(300 * k));
    f.model.predict_raw ? f.model.predict_raw(rows.data(), 300, margin.data())
                        : f.model.predict(rows.data(), 300, margin.data());
    for (std::int64_t r = 0; r < 300; ++r) {
      for (std::int64_t o = 0; o < k; ++o) {
        ExpectClose(margin[static_cast<std::size_t>(r * k + o)], f.reference["margin"][r][o].get<double>(),
                    1e-5, f.ensemble->objective() + " row " + std::to_string(r));
      }
    }
  }
}

TEST(ShapTree, CreditClassifierEqualsPredContribs) { ExpectPredContribs(Credit(), 300); }
TEST(ShapTree, DiabetesRegressorEqualsPredContribs) { ExpectPredContribs(Diabetes("diabetes_xgb"), 300); }
TEST(ShapTree, ThreeClassModelEqualsPredContribs) { ExpectPredContribs(Diabetes("diabetes3_xgb"), 300); }

void ExpectPredInteractions(const Fixture& f) {
  const std::int64_t n_rows = f.reference["interaction_rows"].get<std::int64_t>();
  const MockRunResult run = RunStep(f.data, f.model, "shap.tree", {{"interactions", true}}, Range(n_rows));
  ASSERT_TRUE(run.ok()) << run.error;
  const std::int64_t k = f.ensemble->n_outputs();
  const std::size_t n_data = f.data.features.size();
  ASSERT_EQ(run.json["interaction_values"].size(), static_cast<std::size_t>(n_rows));
  for (std::int64_t r = 0; r < n_rows; ++r) {
    for (std::int64_t o = 0; o < k; ++o) {
      const auto& ref = f.reference["interactions"][r][o];
      const auto& block = run.json["interaction_values"][r][o];
      ASSERT_EQ(block.size(), n_data);
      for (std::size_t i = 0; i < n_data; ++i) {
        // XGBoost forms each entry as a float32 difference of conditioned contributions of the size of the
        // feature's SHAP value, so the tolerance is relative to that size when it is above 1.
        const double scale = std::max(1.0, std::fabs(run.json["values"][r][o][i].get<double>()));
        double row_sum = 0;
        for (std::size_t j = 0; j < n_data; ++j) {
          const double value = block[i][j].get<double>();
          row_sum += value;
          const std::int64_t mi = f.ModelIndex(f.data.features[i].name),
                             mj = f.ModelIndex(f.data.features[j].name);
          const std::string at = "row " + std::to_string(r) + " output " + std::to_string(o) + " (" +
                                 f.data.features[i].name + ", " + f.data.features[j].name + ")";
          if (mi < 0 || mj < 0) {
            EXPECT_EQ(value, 0.0) << at;
          } else {
            EXPECT_NEAR(value, ref[static_cast<std::size_t>(mi)][static_cast<std::size_t>(mj)].get<double>(),
                        1e-5 * scale)
                << at;
          }
        }
        // Each row of the interaction matrix adds up to the feature's SHAP value.
        EXPECT_NEAR(row_sum, run.json["values"][r][o][i].get<double>(), 1e-9);
      }
    }
  }
}

TEST(ShapTree, CreditInteractionsEqualPredInteractions) { ExpectPredInteractions(Credit()); }
TEST(ShapTree, DiabetesInteractionsEqualPredInteractions) {
  ExpectPredInteractions(Diabetes("diabetes_xgb"));
}
TEST(ShapTree, ThreeClassInteractionsEqualPredInteractions) {
  ExpectPredInteractions(Diabetes("diabetes3_xgb"));
}

TEST(ShapTree, MissingValuesFollowTheDefaultDirections) {
  Fixture f;
  f.ensemble = std::make_shared<const XgbEnsemble>(kFixtures + "/credit_xgb.json");
  f.data = CsvDataset(kFixtures + "/credit_missing.csv",
                      {"Job", "Seniority", "Home", "Time", "Age", "Marital", "Records", "Expenses", "Income",
                       "Assets", "Debt", "Amount", "Price"},
                      kCreditCategorical);
  f.model = XgbModel(f.ensemble, f.data);
  const nlohmann::json reference = ReadJsonWithNaN(kFixtures + "/credit_missing_reference.json");
  const MockRunResult run = RunStep(f.data, f.model, "shap.tree", nlohmann::json::object(), Range(40));
  ASSERT_TRUE(run.ok()) << run.error;
  for (std::size_t r = 0; r < 40; ++r) {
    double total = run.json["base_values"][r][0].get<double>();
    for (const auto& phi : run.json["values"][r][0]) total += phi.get<double>();
    ExpectClose(total, reference["margin"][r][0].get<double>(), 1e-5, "row " + std::to_string(r));
  }
  EXPECT_LT(run.json["quality"]["additivity_residual"].get<double>(), 1e-9);
}

TEST(ShapTree, InterventionalEqualsShapExactOnTheCreditModel) {
  // Exact interventional Shapley values of the margin over a background are what TreeSHAP interventional
  // computes; shap.exact enumerates all 2^14 coalitions of the same game through the model.
  const Fixture f = Credit();
  const std::vector<std::int64_t> rows = {0, 7, 301};
  const MockRunResult tree = RunStep(f.data, f.model, "shap.tree", {{"background", "100:106"}}, rows);
  const MockRunResult exact =
      RunStep(f.data, f.model, "shap.exact", {{"background", "100:106"}, {"output", "raw"}}, rows);
  ASSERT_TRUE(tree.ok()) << tree.error;
  ASSERT_TRUE(exact.ok()) << exact.error;
  EXPECT_EQ(tree.json["feature_perturbation"], "interventional");
  EXPECT_EQ(tree.json["quality"]["background_rows"].get<double>(), 6.0);
  EXPECT_EQ(tree.json["feature_names"], exact.json["feature_names"]);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    EXPECT_NEAR(tree.json["base_values"][r][0].get<double>(), exact.json["base_values"][r][0].get<double>(),
                1e-9);
    for (std::size_t c = 0; c < f.data.features.size(); ++c) {
      EXPECT_NEAR(tree.json["values"][r][0][c].get<double>(), exact.json["values"][r][0][c].get<double>(),
                  1e-9)
          << "row " << rows[r] << " " << f.data.features[c].name;
    }
  }
  EXPECT_LT(tree.json["quality"]["additivity_residual"].get<double>(), 1e-9);
  // Interventional and path-dependent values are different games.
  const MockRunResult path = RunStep(f.data, f.model, "shap.tree", nlohmann::json::object(), rows);
  ASSERT_TRUE(path.ok()) << path.error;
  EXPECT_GT(
      std::fabs(path.json["values"][0][0][0].get<double>() - tree.json["values"][0][0][0].get<double>()) +
          std::fabs(path.json["base_values"][0][0].get<double>() -
                    tree.json["base_values"][0][0].get<double>()),
      1e-6);
}

TEST(ShapTree, InterventionalEqualsShapExactForAThreeClassModel) {
  const Fixture f = Diabetes("diabetes3_xgb");
  const MockRunResult tree =
      RunStep(f.data, f.model, "shap.tree", {{"background", {3, 50, 77, 120}}}, {9, 200});
  const MockRunResult exact =
      RunStep(f.data, f.model, "shap.exact", {{"background", {3, 50, 77, 120}}, {"output", "raw"}}, {9, 200});
  ASSERT_TRUE(tree.ok()) << tree.error;
  ASSERT_TRUE(exact.ok()) << exact.error;
  EXPECT_EQ(tree.json["output_names"], exact.json["output_names"]);
  for (std::size_t r = 0; r < 2; ++r) {
    for (std::size_t o = 0; o < 3; ++o) {
      EXPECT_NEAR(tree.json["base_values"][r][o].get<double>(), exact.json["base_values"][r][o].get<double>(),
                  1e-9);
      for (std::size_t c = 0; c < f.data.features.size(); ++c) {
        EXPECT_NEAR(tree.json["values"][r][o][c].get<double>(), exact.json["values"][r][o][c].get<double>(),
                    1e-9);
      }
    }
  }
}

TEST(ShapTree, RefusesProbabilityNamingRaw) {
  const Fixture f = Credit();
  for (const nlohmann::json& params : {nlohmann::json{{"output", "probability"}},
                                       nlohmann::json{{"output", "probability"}, {"background", 10}}}) {
    const MockRunResult run = RunStep(f.data, f.model, "shap.tree", params, {0});
    EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(run.failed_in, "create");
    EXPECT_NE(run.error.find("parameter 'output'"), std::string::npos) << run.error;
    EXPECT_NE(run.error.find("output: raw"), std::string::npos) << run.error;
  }
}

TEST(ShapTree, RefusesInteractionsWithABackground) {
  const Fixture f = Diabetes("diabetes_xgb");
  const MockRunResult run =
      RunStep(f.data, f.model, "shap.tree", {{"interactions", true}, {"background", "0:10"}}, {0});
  EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(run.error.find("parameter 'interactions'"), std::string::npos) << run.error;
  EXPECT_NE(run.error.find("path-dependent"), std::string::npos) << run.error;
}

TEST(ShapTree, RefusesAModelWithoutTrees) {
  const Fixture f = Diabetes("diabetes_xgb");
  const MockModel plain = XgbModel(f.ensemble, f.data, /*with_capability=*/false);
  const MockRunResult run = RunStep(f.data, plain, "shap.tree", nlohmann::json::object(), {0});
  EXPECT_EQ(run.status, LOUPE_ERROR_UNSUPPORTED);
  EXPECT_EQ(run.failed_in, "create");
  EXPECT_NE(run.error.find("tree_ensemble"), std::string::npos) << run.error;
  EXPECT_NE(run.error.find("shap.exact"), std::string::npos) << run.error;
}

TEST(ShapTree, RefusesAModelSplittingOnAFeatureTheDataLacks) {
  Fixture f = Diabetes("diabetes_xgb");
  f.data.features.erase(f.data.features.begin() + 1);  // bmi
  const MockRunResult run = RunStep(f.data, XgbModel(f.ensemble, Diabetes("diabetes_xgb").data), "shap.tree",
                                    nlohmann::json::object(), {0});
  EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(run.error.find("'bmi'"), std::string::npos) << run.error;
}

TEST(ShapTree, IdenticalBitsOnOneAndThreeThreads) {
  const Fixture f = Credit();
  for (const nlohmann::json& params : {nlohmann::json::object(), nlohmann::json{{"background", 20}},
                                       nlohmann::json{{"interactions", true}}}) {
    const MockRunResult one = RunStep(f.data, f.model, "shap.tree", params, Range(70), 1);
    const MockRunResult three = RunStep(f.data, f.model, "shap.tree", params, Range(70), 3);
    ASSERT_TRUE(one.ok()) << one.error;
    EXPECT_EQ(one.json.dump(), three.json.dump()) << params.dump();
    EXPECT_GE(one.progress_reports, 1);
  }
}

// FastTreeSHAP v2's tables (fast_tree_shap.hpp) against Algorithm 2 (TreeModel::PathDependent), straight
// on the TreeModel of a fixture: the feature matrix row-major, phi[O][F] of each of the first `n_rows` rows.
struct CoreCase {
  loupe::sdk::DatasetInfo info;
  std::vector<double> x;
  std::int64_t f = 0;
};

CoreCase Core(const MockDataset& data) {
  CoreCase c;
  c.info.n_rows = data.rows();
  for (const auto& column : data.features)
    c.info.features.push_back({column.name, column.type, column.levels, 0});
  c.f = data.cols();
  c.x.resize(static_cast<std::size_t>(c.info.n_rows * c.f));
  for (std::int64_t j = 0; j < c.f; ++j) {
    for (std::int64_t i = 0; i < c.info.n_rows; ++i) {
      c.x[static_cast<std::size_t>(i * c.f + j)] =
          data.features[static_cast<std::size_t>(j)].values[static_cast<std::size_t>(i)];
    }
  }
  return c;
}

std::vector<double> Algorithm2(const loupe::shap::TreeModel& model, const CoreCase& c, std::int64_t n_rows) {
  const std::int64_t per_row = model.n_outputs() * c.f;
  std::vector<double> phi(static_cast<std::size_t>(n_rows * per_row), 0.0);
  std::vector<loupe::shap::PathElement> path(model.PathBufferSize());
  for (std::int64_t i = 0; i < n_rows; ++i) {
    for (const auto& tree : model.trees()) {
      model.PathDependent(tree, c.x.data() + i * c.f, 0, -1, path.data(),
                          phi.data() + i * per_row + tree.output * c.f);
    }
  }
  return phi;
}

std::vector<double> Tabulated(const loupe::shap::FastTreeShap& fast, const loupe::shap::TreeModel& model,
                              const CoreCase& c, std::int64_t n_rows) {
  const std::int64_t per_row = model.n_outputs() * c.f;
  std::vector<double> phi(static_cast<std::size_t>(n_rows * per_row), 0.0);
  loupe::shap::FastTreeShap::Scratch scratch = fast.MakeScratch();
  for (std::int64_t i = 0; i < n_rows; ++i)
    fast.Row(c.x.data() + i * c.f, &scratch, phi.data() + i * per_row);
  return phi;
}

void ExpectAllClose(const std::vector<double>& actual, const std::vector<double>& expected, double tolerance,
                    const std::string& where) {
  ASSERT_EQ(actual.size(), expected.size()) << where;
  for (std::size_t i = 0; i < actual.size(); ++i)
    ExpectClose(actual[i], expected[i], tolerance, where + " at " + std::to_string(i));
}

TEST(ShapTree, LeafTablesAgreeWithAlgorithm2OnTheFixtures) {
  for (const auto& [name, fixture] : {std::pair<std::string, Fixture>{"credit", Credit()},
                                      {"diabetes_xgb", Diabetes("diabetes_xgb")},
                                      {"diabetes3_xgb", Diabetes("diabetes3_xgb")}}) {
    const CoreCase c = Core(fixture.data);
    const loupe::shap::TreeModel model(*fixture.ensemble->capability(), c.info);
    loupe::shap::FastTreeShap fast(model);
    fast.BuildAllTables();
    EXPECT_EQ(fast.n_fast_trees(), static_cast<std::int64_t>(model.trees().size())) << name;
    EXPECT_FALSE(fast.IsCompact(0)) << name;  // shallow trees: values per mask, sibling leaves paired
    const std::int64_t n_rows = std::min<std::int64_t>(300, c.info.n_rows);
    ExpectAllClose(Tabulated(fast, model, c, n_rows), Algorithm2(model, c, n_rows), 1e-9, name);
  }
}

TEST(ShapTree, LeafTablesFallBackToAlgorithm2BeyondTheirLimits) {
  const Fixture fixture = Credit();
  const CoreCase c = Core(fixture.data);
  const loupe::shap::TreeModel model(*fixture.ensemble->capability(), c.info);
  const std::vector<double> expected = Algorithm2(model, c, 100);
  // No room for any table: every tree runs Algorithm 2, with the same bits.
  loupe::shap::FastTreeShap none(model, loupe::shap::FastTreeShapLimits{12, 0});
  none.BuildAllTables();
  EXPECT_EQ(none.n_fast_trees(), 0);
  EXPECT_EQ(Tabulated(none, model, c, 100), expected);
  // Too few path features allowed: likewise.
  loupe::shap::FastTreeShap shallow(model, loupe::shap::FastTreeShapLimits{0, std::int64_t{1} << 20});
  shallow.BuildAllTables();
  EXPECT_EQ(shallow.n_fast_trees(), 0);
  EXPECT_EQ(Tabulated(shallow, model, c, 100), expected);
  // Room for part of the ensemble: tables for the first trees, Algorithm 2 for the rest.
  loupe::shap::FastTreeShap all(model);
  loupe::shap::FastTreeShap part(model, loupe::shap::FastTreeShapLimits{12, 2000});
  part.BuildAllTables();
  EXPECT_GT(part.n_fast_trees(), 0);
  EXPECT_LT(part.n_fast_trees(), all.n_fast_trees());
  ExpectAllClose(Tabulated(part, model, c, 100), expected, 1e-9, "part");
}

// A hand-built ensemble over x0..x3 with the LESS_EQUAL rule, a tree that splits on x0 twice on one path,
// uneven covers and a tree that is a single leaf, checked against the path-dependent game computed by brute
// force over all 4! feature orders: v(S) follows x at splits on features of S and averages the children by
// cover elsewhere.
struct HandTree {
  std::vector<std::int32_t> left, right, feature;
  std::vector<double> threshold, value, cover;
  std::vector<std::uint8_t> default_left, is_leaf, is_categorical;
  std::vector<std::int64_t> offsets;
  LoupeTree tree{};

  void Finish(std::int32_t depth) {
    is_categorical.assign(left.size(), 0);
    offsets.assign(left.size() + 1, 0);
    for (std::size_t k = 0; k < left.size(); ++k) is_leaf.push_back(left[k] < 0 ? 1 : 0);
    tree.struct_size = sizeof(LoupeTree);
    tree.n_nodes = static_cast<std::int64_t>(left.size());
    tree.max_depth = depth;
    tree.left = left.data();
    tree.right = right.data();
    tree.feature = feature.data();
    tree.threshold = threshold.data();
    tree.default_left = default_left.data();
    tree.is_leaf = is_leaf.data();
    tree.is_categorical = is_categorical.data();
    tree.value = value.data();
    tree.cover = cover.data();
    tree.category_offsets = offsets.data();
    tree.categories = nullptr;
  }
};

double CoverGame(const HandTree& t, std::int32_t node, const double* x, const std::vector<bool>& in) {
  const auto k = static_cast<std::size_t>(node);
  if (t.left[k] < 0) return t.value[k];
  const auto l = static_cast<std::size_t>(t.left[k]), r = static_cast<std::size_t>(t.right[k]);
  if (in[static_cast<std::size_t>(t.feature[k])]) {
    const double v = x[t.feature[k]];
    const bool go_left = std::isnan(v) ? t.default_left[k] != 0 : v <= t.threshold[k];
    return CoverGame(t, go_left ? t.left[k] : t.right[k], x, in);
  }
  return (t.cover[l] * CoverGame(t, t.left[k], x, in) + t.cover[r] * CoverGame(t, t.right[k], x, in)) /
         t.cover[k];
}

TEST(ShapTree, PathDependentMatchesTheCoverGameByBruteForce) {
  HandTree a;  // x0 <= 0 ? (x1 <= 0.5 ? (x0 <= -1 ? 1 : 2) : 3) : (x2 <= 0 ? 4 : (x0 <= 1 ? 5 : 6))
  a.left = {1, 3, 5, 7, -1, -1, 9, -1, -1, -1, -1};
  a.right = {2, 4, 6, 8, -1, -1, 10, -1, -1, -1, -1};
  a.feature = {0, 1, 2, 0, -1, -1, 0, -1, -1, -1, -1};
  a.threshold = {0.0, 0.5, 0.0, -1.0, NAN, NAN, 1.0, NAN, NAN, NAN, NAN};
  a.value = {0, 0, 0, 0, 3.0, 4.0, 0, 1.0, 2.0, 5.0, 6.0};
  a.cover = {100, 60, 40, 45, 15, 10, 30, 20, 25, 12, 18};
  a.default_left = {1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0};
  a.Finish(3);
  HandTree b;  // a single leaf
  b.left = {-1};
  b.right = {-1};
  b.feature = {-1};
  b.threshold = {NAN};
  b.value = {0.25};
  b.cover = {100};
  b.default_left = {0};
  b.Finish(0);
  // Inner values: cover-weighted means of the children, as the capability documents.
  for (std::size_t k = a.left.size(); k-- > 0;) {
    if (a.left[k] < 0) continue;
    const auto l = static_cast<std::size_t>(a.left[k]), r = static_cast<std::size_t>(a.right[k]);
    a.value[k] = (a.cover[l] * a.value[l] + a.cover[r] * a.value[r]) / a.cover[k];
  }
  const std::vector<std::string> names = {"x0", "x1", "x2", "x3"};
  std::vector<LoupeColumnInfo> columns;
  for (const auto& name : names)
    columns.push_back(
        LoupeColumnInfo{sizeof(LoupeColumnInfo), LOUPE_FEATURE_NUMERIC, name.c_str(), nullptr, 0, 0});
  const double base_margin = 0.5;
  const LoupeTree* trees[] = {&a.tree, &b.tree};
  LoupeTreeEnsemble ensemble{};
  ensemble.struct_size = sizeof(ensemble);
  ensemble.split_rule = LOUPE_TREE_SPLIT_LESS_EQUAL;
  ensemble.link = LOUPE_TREE_LINK_IDENTITY;
  ensemble.max_depth = 3;
  ensemble.n_outputs = 1;
  ensemble.base_margin = &base_margin;
  ensemble.n_features = 4;
  ensemble.features = columns.data();
  ensemble.n_trees = 2;
  ensemble.trees = trees;

  MockDataset data;  // rows on the thresholds (<= goes left), a missing value, and ordinary rows
  data.features.push_back(loupe::testing::MockColumn::Numeric("x3", {7, 7, 7, 7, 7}));
  data.features.push_back(loupe::testing::MockColumn::Numeric("x0", {0.0, -1.0, 1.0, NAN, 2.5}));
  data.features.push_back(loupe::testing::MockColumn::Numeric("x2", {0.0, 3.0, -2.0, 0.5, 0.0}));
  data.features.push_back(loupe::testing::MockColumn::Numeric("x1", {0.5, 0.7, NAN, 0.1, 0.6}));
  auto to_model = [](const double* row) { return std::vector<double>{row[1], row[3], row[2], row[0]}; };
  MockModel model = MockModel::Regressor({"y"}, [&](const double* rows, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) {
      const std::vector<double> x = to_model(rows + i * 4);
      out[i] = base_margin + CoverGame(a, 0, x.data(), {true, true, true, true}) + 0.25;
    }
  });
  model.capabilities = {LOUPE_TREE_ENSEMBLE_CAPABILITY};
  model.capability_structs[LOUPE_TREE_ENSEMBLE_CAPABILITY] = &ensemble;
  const MockRunResult run = RunStep(data, model, "shap.tree", nlohmann::json::object(), Range(5));
  ASSERT_TRUE(run.ok()) << run.error;
  const std::vector<std::size_t> data_column = {1, 3, 2, 0};  // model feature -> data column
  for (std::size_t r = 0; r < 5; ++r) {
    std::vector<double> row;
    for (const auto& column : data.features) row.push_back(column.values[r]);
    const std::vector<double> x = to_model(row.data());
    std::vector<std::size_t> order = {0, 1, 2, 3};
    std::vector<double> phi(4, 0.0);
    int orders = 0;
    do {
      std::vector<bool> in(4, false);
      double before = CoverGame(a, 0, x.data(), in);
      for (const std::size_t p : order) {
        in[p] = true;
        const double after = CoverGame(a, 0, x.data(), in);
        phi[p] += after - before;
        before = after;
      }
      ++orders;
    } while (std::next_permutation(order.begin(), order.end()));
    for (std::size_t p = 0; p < 4; ++p) {
      EXPECT_NEAR(run.json["values"][r][0][data_column[p]].get<double>(), phi[p] / orders, 1e-12)
          << "row " << r << " x" << p;
    }
    EXPECT_EQ(run.json["values"][r][0][0].get<double>(), 0.0);  // x3: no split
    EXPECT_NEAR(run.json["base_values"][r][0].get<double>(), base_margin + a.value[0] + 0.25, 1e-12);
  }
  EXPECT_LT(run.json["quality"]["additivity_residual"].get<double>(), 1e-12);
}

// A child of cover 0 makes a path fraction 0, which the tables cannot divide by: that tree (only) keeps
// Algorithm 2, which skips the unseen branch when the row does not take it.
TEST(ShapTree, LeafTablesLeaveATreeWithAZeroCoverChildToAlgorithm2) {
  HandTree zero;  // x0 <= 0 ? (x1 <= 0 ? 1 : 2) : 3, the right child never seen in training
  zero.left = {1, 3, -1, -1, -1};
  zero.right = {2, 4, -1, -1, -1};
  zero.feature = {0, 1, -1, -1, -1};
  zero.threshold = {0.0, 0.0, NAN, NAN, NAN};
  zero.value = {1.6, 1.6, 3.0, 1.0, 2.0};
  zero.cover = {10, 10, 0, 4, 6};
  zero.default_left = {1, 1, 0, 0, 0};
  zero.Finish(2);
  HandTree plain;  // x1 <= 0 ? 1 : 2
  plain.left = {1, -1, -1};
  plain.right = {2, -1, -1};
  plain.feature = {1, -1, -1};
  plain.threshold = {0.0, NAN, NAN};
  plain.value = {1.6, 1.0, 2.0};
  plain.cover = {10, 4, 6};
  plain.default_left = {0, 0, 0};
  plain.Finish(1);
  const std::vector<std::string> names = {"x0", "x1"};
  std::vector<LoupeColumnInfo> columns;
  for (const auto& name : names)
    columns.push_back(
        LoupeColumnInfo{sizeof(LoupeColumnInfo), LOUPE_FEATURE_NUMERIC, name.c_str(), nullptr, 0, 0});
  const double base_margin = 0.0;
  const LoupeTree* trees[] = {&zero.tree, &plain.tree};
  LoupeTreeEnsemble ensemble{};
  ensemble.struct_size = sizeof(ensemble);
  ensemble.split_rule = LOUPE_TREE_SPLIT_LESS_EQUAL;
  ensemble.link = LOUPE_TREE_LINK_IDENTITY;
  ensemble.max_depth = 2;
  ensemble.n_outputs = 1;
  ensemble.base_margin = &base_margin;
  ensemble.n_features = 2;
  ensemble.features = columns.data();
  ensemble.n_trees = 2;
  ensemble.trees = trees;
  MockDataset data;
  data.features.push_back(loupe::testing::MockColumn::Numeric("x0", {-1.0, 1.0, NAN, 0.0}));
  data.features.push_back(loupe::testing::MockColumn::Numeric("x1", {1.0, -1.0, 0.5, NAN}));
  const CoreCase c = Core(data);
  const loupe::shap::TreeModel model(ensemble, c.info);
  loupe::shap::FastTreeShap fast(model);
  fast.BuildAllTables();
  EXPECT_FALSE(fast.IsFast(0));
  EXPECT_TRUE(fast.IsFast(1));
  // Both paths equal the path-dependent game by brute force (two feature orders), where the unseen child
  // weighs 0 unless the row goes there; no NaN although a cover fraction is 0.
  const std::vector<double> actual = Tabulated(fast, model, c, 4), expected = Algorithm2(model, c, 4);
  ASSERT_EQ(actual.size(), expected.size());
  for (std::int64_t r = 0; r < 4; ++r) {
    const double x[] = {c.x[static_cast<std::size_t>(r * 2)], c.x[static_cast<std::size_t>(r * 2 + 1)]};
    auto v = [&](bool with_x0, bool with_x1) {
      const std::vector<bool> in = {with_x0, with_x1};
      return CoverGame(zero, 0, x, in) + CoverGame(plain, 0, x, in);
    };
    const double phi0 = ((v(true, false) - v(false, false)) + (v(true, true) - v(false, true))) / 2.0;
    const double phi1 = ((v(false, true) - v(false, false)) + (v(true, true) - v(true, false))) / 2.0;
    for (const auto& [index, want] : {std::pair<std::size_t, double>{0, phi0}, {1, phi1}}) {
      const std::size_t i = static_cast<std::size_t>(r * 2) + index;
      EXPECT_NEAR(expected[i], want, 1e-12) << "Algorithm 2, row " << r << " x" << index;
      EXPECT_NEAR(actual[i], want, 1e-12) << "fallback, row " << r << " x" << index;
    }
  }
}

// The interaction tables against XGBoost's conditional passes (the fallback: no room for any table), and
// the interventional tables against the recursion per background row, on every fixture; then a budget
// that tabulates only part of the ensemble.
std::vector<double> CoreInteractions(const loupe::shap::FastTreeShap& fast,
                                     const loupe::shap::TreeModel& model, const CoreCase& c,
                                     std::int64_t n_rows) {
  const std::int64_t per_row = model.n_outputs() * c.f;
  std::vector<double> phi(static_cast<std::size_t>(per_row), 0.0), out;
  std::vector<double> block(static_cast<std::size_t>(per_row * c.f), 0.0);
  loupe::shap::FastTreeShap::Scratch scratch = fast.MakeScratch();
  for (std::int64_t i = 0; i < n_rows; ++i) {
    std::fill(phi.begin(), phi.end(), 0.0);
    std::fill(block.begin(), block.end(), 0.0);
    fast.RowInteractions(c.x.data() + i * c.f, &scratch, phi.data(), block.data());
    out.insert(out.end(), phi.begin(), phi.end());
    out.insert(out.end(), block.begin(), block.end());
  }
  return out;
}

std::vector<double> CoreInterventional(const loupe::shap::FastTreeShap& fast,
                                       const loupe::shap::TreeModel& model, const CoreCase& c,
                                       std::int64_t n_rows) {
  const std::int64_t per_row = model.n_outputs() * c.f;
  std::vector<double> phi(static_cast<std::size_t>(n_rows * per_row), 0.0);
  loupe::shap::FastTreeShap::Scratch scratch = fast.MakeScratch();
  for (std::int64_t i = 0; i < n_rows; ++i)
    fast.RowInterventional(c.x.data() + i * c.f, &scratch, phi.data() + i * per_row);
  return phi;
}

loupe::shap::FastTreeShapOptions InteractionOptions(loupe::shap::FastTreeShapLimits limits) {
  loupe::shap::FastTreeShapOptions options;
  options.limits = limits;
  options.interactions = true;
  return options;
}

loupe::shap::FastTreeShapOptions InterventionalOptions(const CoreCase& c,
                                                       loupe::shap::FastTreeShapLimits limits,
                                                       std::int64_t first, std::int64_t count) {
  loupe::shap::FastTreeShapOptions options;
  options.limits = limits;
  for (std::int64_t r = first; r < first + count; ++r) options.background.push_back(c.x.data() + r * c.f);
  options.explained_rows = 1000;
  return options;
}

TEST(ShapTree, InteractionAndInterventionalTablesAgreeWithTheirFallbacksOnTheFixtures) {
  const loupe::shap::FastTreeShapLimits none{12, 0};
  for (const auto& [name, fixture] : {std::pair<std::string, Fixture>{"credit", Credit()},
                                      {"diabetes_xgb", Diabetes("diabetes_xgb")},
                                      {"diabetes3_xgb", Diabetes("diabetes3_xgb")}}) {
    const CoreCase c = Core(fixture.data);
    const loupe::shap::TreeModel model(*fixture.ensemble->capability(), c.info);
    const auto trees = static_cast<std::int64_t>(model.trees().size());
    loupe::shap::FastTreeShap fast(model, InteractionOptions({}));
    fast.BuildAllTables();
    loupe::shap::FastTreeShap slow(model, InteractionOptions(none));
    slow.BuildAllTables();
    EXPECT_EQ(fast.n_fast_trees(), trees) << name;
    EXPECT_EQ(slow.n_fast_trees(), 0) << name;
    ExpectAllClose(CoreInteractions(fast, model, c, 60), CoreInteractions(slow, model, c, 60), 1e-9,
                   name + " interactions");

    loupe::shap::FastTreeShap tables(model, InterventionalOptions(c, {}, 100, 30));
    tables.BuildAllTables();
    loupe::shap::FastTreeShap recursion(model, InterventionalOptions(c, none, 100, 30));
    recursion.BuildAllTables();
    EXPECT_EQ(tables.n_fast_trees(), trees) << name;
    EXPECT_EQ(recursion.n_fast_trees(), 0) << name;
    ExpectAllClose(CoreInterventional(tables, model, c, 60), CoreInterventional(recursion, model, c, 60),
                   1e-9, name + " interventional");
  }
  const Fixture fixture = Credit();
  const CoreCase c = Core(fixture.data);
  const loupe::shap::TreeModel model(*fixture.ensemble->capability(), c.info);
  loupe::shap::FastTreeShap part(model, InteractionOptions({12, 3000}));
  part.BuildAllTables();
  loupe::shap::FastTreeShap slow(model, InteractionOptions(none));
  slow.BuildAllTables();
  EXPECT_GT(part.n_fast_trees(), 0);
  EXPECT_LT(part.n_fast_trees(), static_cast<std::int64_t>(model.trees().size()));
  ExpectAllClose(CoreInteractions(part, model, c, 40), CoreInteractions(slow, model, c, 40), 1e-9, "part");
  loupe::shap::FastTreeShap some(model, InterventionalOptions(c, {12, 5000}, 0, 10));
  some.BuildAllTables();
  loupe::shap::FastTreeShap recursion(model, InterventionalOptions(c, none, 0, 10));
  recursion.BuildAllTables();
  EXPECT_GT(some.n_fast_trees(), 0);
  EXPECT_LT(some.n_fast_trees(), static_cast<std::int64_t>(model.trees().size()));
  ExpectAllClose(CoreInterventional(some, model, c, 40), CoreInterventional(recursion, model, c, 40), 1e-9,
                 "some");
}

// The hand-built tree of PathDependentMatchesTheCoverGameByBruteForce (a feature split twice on one path,
// missing values, rows on the thresholds) through shap.tree, against brute force over all coalitions of
// the four features: the SHAP interaction values of the cover game, sum over S of
// |S|! (M - |S| - 2)! / (2 (M - 1)!) (v(S+i+j) - v(S+i) - v(S+j) + v(S)), and the interventional values
// of v(S) = mean over the background rows r of f(x on S, r elsewhere).
TEST(ShapTree, InteractionAndInterventionalValuesMatchTheirGamesByBruteForce) {
  HandTree a;  // x0 <= 0 ? (x1 <= 0.5 ? (x0 <= -1 ? 1 : 2) : 3) : (x2 <= 0 ? 4 : (x0 <= 1 ? 5 : 6))
  a.left = {1, 3, 5, 7, -1, -1, 9, -1, -1, -1, -1};
  a.right = {2, 4, 6, 8, -1, -1, 10, -1, -1, -1, -1};
  a.feature = {0, 1, 2, 0, -1, -1, 0, -1, -1, -1, -1};
  a.threshold = {0.0, 0.5, 0.0, -1.0, NAN, NAN, 1.0, NAN, NAN, NAN, NAN};
  a.value = {0, 0, 0, 0, 3.0, 4.0, 0, 1.0, 2.0, 5.0, 6.0};
  a.cover = {100, 60, 40, 45, 15, 10, 30, 20, 25, 12, 18};
  a.default_left = {1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0};
  a.Finish(3);
  for (std::size_t k = a.left.size(); k-- > 0;) {
    if (a.left[k] < 0) continue;
    const auto l = static_cast<std::size_t>(a.left[k]), r = static_cast<std::size_t>(a.right[k]);
    a.value[k] = (a.cover[l] * a.value[l] + a.cover[r] * a.value[r]) / a.cover[k];
  }
  const std::vector<std::string> names = {"x0", "x1", "x2", "x3"};
  std::vector<LoupeColumnInfo> columns;
  for (const auto& name : names)
    columns.push_back(
        LoupeColumnInfo{sizeof(LoupeColumnInfo), LOUPE_FEATURE_NUMERIC, name.c_str(), nullptr, 0, 0});
  const double base_margin = 0.5;
  const LoupeTree* trees[] = {&a.tree};
  LoupeTreeEnsemble ensemble{};
  ensemble.struct_size = sizeof(ensemble);
  ensemble.split_rule = LOUPE_TREE_SPLIT_LESS_EQUAL;
  ensemble.link = LOUPE_TREE_LINK_IDENTITY;
  ensemble.max_depth = 3;
  ensemble.n_outputs = 1;
  ensemble.base_margin = &base_margin;
  ensemble.n_features = 4;
  ensemble.features = columns.data();
  ensemble.n_trees = 1;
  ensemble.trees = trees;
  MockDataset data;  // data columns x3, x0, x2, x1
  data.features.push_back(loupe::testing::MockColumn::Numeric("x3", {7, 7, 7, 7, 7, 7}));
  data.features.push_back(loupe::testing::MockColumn::Numeric("x0", {0.0, -1.0, 1.0, NAN, 2.5, -3.0}));
  data.features.push_back(loupe::testing::MockColumn::Numeric("x2", {0.0, 3.0, -2.0, 0.5, 0.0, 1.0}));
  data.features.push_back(loupe::testing::MockColumn::Numeric("x1", {0.5, 0.7, NAN, 0.1, 0.6, 0.2}));
  auto to_model = [](const double* row) { return std::vector<double>{row[1], row[3], row[2], row[0]}; };
  MockModel model = MockModel::Regressor({"y"}, [&](const double* rows, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) {
      const std::vector<double> x = to_model(rows + i * 4);
      out[i] = base_margin + CoverGame(a, 0, x.data(), {true, true, true, true});
    }
  });
  model.capabilities = {LOUPE_TREE_ENSEMBLE_CAPABILITY};
  model.capability_structs[LOUPE_TREE_ENSEMBLE_CAPABILITY] = &ensemble;
  const MockRunResult pairs = RunStep(data, model, "shap.tree", {{"interactions", true}}, Range(6));
  const MockRunResult inter = RunStep(data, model, "shap.tree", {{"background", "0:6"}}, Range(6));
  ASSERT_TRUE(pairs.ok()) << pairs.error;
  ASSERT_TRUE(inter.ok()) << inter.error;
  std::vector<std::vector<double>> x;  // model order
  for (std::size_t r = 0; r < 6; ++r) {
    std::vector<double> row;
    for (const auto& column : data.features) row.push_back(column.values[r]);
    x.push_back(to_model(row.data()));
  }
  const std::vector<std::size_t> data_column = {1, 3, 2, 0};  // model feature -> data column
  const double factorial[] = {1, 1, 2, 6, 24};
  for (std::size_t r = 0; r < 6; ++r) {
    auto cover = [&](unsigned s) {
      std::vector<bool> in(4);
      for (unsigned p = 0; p < 4; ++p) in[p] = ((s >> p) & 1U) != 0;
      return CoverGame(a, 0, x[r].data(), in);
    };
    auto mixed = [&](unsigned s) {  // mean over the background of f(x on S, r elsewhere)
      double total = 0.0;
      for (std::size_t b = 0; b < 6; ++b) {
        std::vector<double> z = x[b];
        for (unsigned p = 0; p < 4; ++p) {
          if (((s >> p) & 1U) != 0) z[p] = x[r][p];
        }
        total += CoverGame(a, 0, z.data(), {true, true, true, true});
      }
      return total / 6.0;
    };
    for (unsigned i = 0; i < 4; ++i) {
      double shapley = 0.0, off_diagonal = 0.0;
      for (unsigned s = 0; s < 16; ++s) {
        if (((s >> i) & 1U) != 0) continue;
        const int size = std::popcount(s);
        shapley += factorial[size] * factorial[3 - size] / factorial[4] * (mixed(s | (1U << i)) - mixed(s));
      }
      const std::string at = "row " + std::to_string(r) + " x" + std::to_string(i);
      EXPECT_NEAR(inter.json["values"][r][0][data_column[i]].get<double>(), shapley, 1e-12) << at;
      for (unsigned j = 0; j < 4; ++j) {
        if (j == i) continue;
        double phi = 0.0;
        for (unsigned s = 0; s < 16; ++s) {
          if (((s >> i) & 1U) != 0 || ((s >> j) & 1U) != 0) continue;
          const int size = std::popcount(s);
          const unsigned si = s | (1U << i), sj = s | (1U << j);
          phi += factorial[size] * factorial[2 - size] / (2.0 * factorial[3]) *
                 (cover(si | sj) - cover(si) - cover(sj) + cover(s));
        }
        off_diagonal += phi;
        EXPECT_NEAR(pairs.json["interaction_values"][r][0][data_column[i]][data_column[j]].get<double>(), phi,
                    1e-12)
            << at << " with x" << j;
      }
      EXPECT_NEAR(pairs.json["interaction_values"][r][0][data_column[i]][data_column[i]].get<double>(),
                  pairs.json["values"][r][0][data_column[i]].get<double>() - off_diagonal, 1e-12)
          << at;
    }
  }
  EXPECT_LT(inter.json["quality"]["additivity_residual"].get<double>(), 1e-12);
}

// Deep trees: complete trees of depth 8 over the diabetes columns, so leaves have up to 8 path features.
// A tree whose direct tables would pass kDirectTreeEntries keeps T per mask (the compact layout) for
// every leaf; either way the values equal Algorithm 2's and the interaction values the conditional passes'.
TEST(ShapTree, DeepTreesKeepCompactTablesThatAgreeWithAlgorithm2) {
  const Fixture fixture = Diabetes("diabetes_xgb");
  const CoreCase c = Core(fixture.data);
  std::vector<std::string> names;
  std::vector<std::int32_t> data_column;
  for (std::size_t j = 0; j < fixture.data.features.size(); ++j) {
    if (fixture.data.features[j].name == "noise") continue;
    names.push_back(fixture.data.features[j].name);
    data_column.push_back(static_cast<std::int32_t>(j));
  }
  std::vector<LoupeColumnInfo> columns;
  for (const auto& name : names)
    columns.push_back(
        LoupeColumnInfo{sizeof(LoupeColumnInfo), LOUPE_FEATURE_NUMERIC, name.c_str(), nullptr, 0, 0});
  std::uint64_t state = 12345;
  auto next = [&state](std::uint64_t n) {  // a fixed LCG: the same trees on every platform
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % n;
  };
  constexpr int kDepth = 8;
  std::vector<HandTree> trees(3);
  for (HandTree& t : trees) {
    const std::int32_t n = (2 << kDepth) - 1, inner = (1 << kDepth) - 1;
    for (std::int32_t i = 0; i < n; ++i) {
      const bool leaf = i >= inner;
      const auto feature = static_cast<std::int32_t>(next(names.size()));
      const auto row = static_cast<std::int64_t>(next(static_cast<std::uint64_t>(c.info.n_rows)));
      t.left.push_back(leaf ? -1 : 2 * i + 1);
      t.right.push_back(leaf ? -1 : 2 * i + 2);
      t.feature.push_back(leaf ? -1 : feature);
      t.threshold.push_back(leaf ? NAN : c.x[static_cast<std::size_t>(row * c.f + data_column[feature])]);
      t.value.push_back(leaf ? static_cast<double>(next(1000)) / 1000.0 - 0.5 : 0.0);
      t.cover.push_back(leaf ? 1.0 + static_cast<double>(next(90)) / 10.0 : 0.0);
      t.default_left.push_back(static_cast<std::uint8_t>(next(2)));
    }
    for (std::int32_t i = inner - 1; i >= 0; --i) {
      const auto k = static_cast<std::size_t>(i);
      t.cover[k] = t.cover[2 * k + 1] + t.cover[2 * k + 2];
      t.value[k] =
          (t.cover[2 * k + 1] * t.value[2 * k + 1] + t.cover[2 * k + 2] * t.value[2 * k + 2]) / t.cover[k];
    }
    t.Finish(kDepth);
  }
  const double base_margin = 0.0;
  std::vector<const LoupeTree*> pointers;
  for (const HandTree& t : trees) pointers.push_back(&t.tree);
  LoupeTreeEnsemble ensemble{};
  ensemble.struct_size = sizeof(ensemble);
  ensemble.split_rule = LOUPE_TREE_SPLIT_LESS;
  ensemble.link = LOUPE_TREE_LINK_IDENTITY;
  ensemble.max_depth = kDepth;
  ensemble.n_outputs = 1;
  ensemble.base_margin = &base_margin;
  ensemble.n_features = static_cast<std::int64_t>(columns.size());
  ensemble.features = columns.data();
  ensemble.n_trees = static_cast<std::int64_t>(pointers.size());
  ensemble.trees = pointers.data();
  const loupe::shap::TreeModel model(ensemble, c.info);
  loupe::shap::FastTreeShap fast(model);
  fast.BuildAllTables();
  EXPECT_EQ(fast.n_fast_trees(), 3);
  for (std::int64_t t = 0; t < 3; ++t) EXPECT_TRUE(fast.IsCompact(t)) << t;
  ExpectAllClose(Tabulated(fast, model, c, 50), Algorithm2(model, c, 50), 1e-9, "depth 8");
  loupe::shap::FastTreeShap pairs(model, InteractionOptions({}));
  pairs.BuildAllTables();
  loupe::shap::FastTreeShap slow(model, InteractionOptions({12, 0}));
  slow.BuildAllTables();
  EXPECT_EQ(pairs.n_fast_trees(), 3);
  ExpectAllClose(CoreInteractions(pairs, model, c, 20), CoreInteractions(slow, model, c, 20), 1e-9,
                 "depth 8 interactions");
  loupe::shap::FastTreeShap tables(model, InterventionalOptions(c, {}, 100, 20));
  tables.BuildAllTables();
  loupe::shap::FastTreeShap recursion(model, InterventionalOptions(c, {12, 0}, 100, 20));
  recursion.BuildAllTables();
  EXPECT_EQ(tables.n_fast_trees(), 3);
  ExpectAllClose(CoreInterventional(tables, model, c, 20), CoreInterventional(recursion, model, c, 20), 1e-9,
                 "depth 8 interventional");
}

TEST(ShapTree, PassesTheConformanceKit) {
  const Fixture f = Credit();
  loupe::testing::ConformanceCase c;
  c.dataset = f.data;
  c.model = f.model;
  c.params = {{"interactions", true}};
  c.rows = {0, 9, 4000};
  c.threads = 3;
  c.bad_params = {
      {{{"output", "probability"}}, "output"},
      {{{"interactions", true}, {"background", 10}}, "interactions"},
      {{{"background", "35:30"}}, "background"},
      {{{"background", {1, 2, 99999}}}, "background"},
  };
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "shap.tree", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

}  // namespace
