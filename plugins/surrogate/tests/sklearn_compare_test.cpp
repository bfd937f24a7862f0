// surrogate.tree against scikit-learn 1.2.1: the same splits, thresholds (1e-12), leaf values, impurities,
// sample counts, importances and predictions as DecisionTreeClassifier / DecisionTreeRegressor fitted on
// the same real data (fixtures/make_sklearn_trees.py). The mock model predicts exactly the labels or
// values sklearn was fitted on, so the surrogate learns the same target.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
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

const nlohmann::json& Fixtures() {
  static const nlohmann::json fixtures = [] {
    std::ifstream in(std::string(LOUPE_SURROGATE_FIXTURES) + "/sklearn_trees.json");
    EXPECT_TRUE(in.good()) << "missing fixtures/sklearn_trees.json";
    return nlohmann::json::parse(in);
  }();
  return fixtures;
}

const LoupeExplainerVTable& SurrogateTree() {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  return *loupe::testing::FindExplainer(*info, "surrogate.tree");
}

double Tolerance(double reference, double relative) { return relative * std::max(1.0, std::fabs(reference)); }

class SklearnCompare : public ::testing::TestWithParam<std::size_t> {};

TEST_P(SklearnCompare, SameTreeAsScikitLearn) {
  const nlohmann::json& c = Fixtures()["cases"][GetParam()];
  SCOPED_TRACE(c["name"].get<std::string>());
  const nlohmann::json& dataset = Fixtures()["datasets"][c["dataset"].get<std::string>()];
  const auto names = dataset["feature_names"].get<std::vector<std::string>>();
  const auto rows = dataset["X"].get<std::vector<std::vector<double>>>();
  const std::size_t width = names.size();
  MockDataset data;
  for (std::size_t f = 0; f < width; ++f) {
    std::vector<double> column;
    for (const auto& row : rows) column.push_back(row[f]);
    data.features.push_back(MockColumn::Numeric(names[f], column));
  }
  if (!c["sample_weight"].is_null())
    data.others.push_back(MockColumn::Numeric("w", c["sample_weight"].get<std::vector<double>>()));

  // The model: each data row's sklearn label (one-hot probabilities) or value, looked up by content.
  const bool classification = c["task"] == "classification";
  const auto classes = c["classes"].get<std::vector<std::string>>();
  std::map<std::vector<double>, double> label_of;
  for (std::size_t i = 0; i < rows.size(); ++i) label_of[rows[i]] = c["y"][i].get<double>();
  const auto n_out = static_cast<std::int64_t>(classification ? classes.size() : 1);
  auto predict = [=](const double* x, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) {
      const double y = label_of.at(std::vector<double>(x + i * width, x + (i + 1) * width));
      if (!classification) {
        out[i] = y;
        continue;
      }
      for (std::int64_t k = 0; k < n_out; ++k)
        out[i * n_out + k] = k == static_cast<std::int64_t>(y) ? 1.0 : 0.0;
    }
  };
  const MockModel model = classification ? MockModel::Classifier(classes, predict, classes, predict)
                                         : MockModel::Regressor({"y"}, predict);

  MockRunOptions run;
  run.params = c["params"];
  run.params["holdout"] = 0.0;
  run.params["paths_for"] = "all";
  if (!c["sample_weight"].is_null()) run.params["sample_weight"] = "w";
  run.threads = 2;
  const auto result = MockHost(data, model).Run(SurrogateTree(), run);
  ASSERT_TRUE(result.ok()) << result.error;

  const nlohmann::json& nodes = result.json["nodes"];
  const nlohmann::json& t = c["tree"];
  ASSERT_EQ(nodes.size(), t["feature"].size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    SCOPED_TRACE("node " + std::to_string(i));
    const nlohmann::json& node = nodes[i];
    EXPECT_EQ(node["samples"].get<std::int64_t>(), t["n_node_samples"][i].get<std::int64_t>());
    EXPECT_NEAR(node["weighted_samples"].get<double>(), t["weighted_n_node_samples"][i].get<double>(),
                Tolerance(t["weighted_n_node_samples"][i].get<double>(), 1e-12));
    EXPECT_NEAR(node["impurity"].get<double>(), t["impurity"][i].get<double>(),
                Tolerance(t["impurity"][i].get<double>(), 1e-9));
    const std::int64_t left = t["children_left"][i];
    if (left < 0) {
      EXPECT_TRUE(node["children"].empty());
      if (classification) {
        for (std::size_t k = 0; k < classes.size(); ++k) {
          EXPECT_NEAR(node["value"][k].get<double>(), t["value"][i][k].get<double>(), 1e-12);
        }
      } else {
        EXPECT_NEAR(node["value"].get<double>(), t["value"][i][0].get<double>(),
                    Tolerance(t["value"][i][0].get<double>(), 1e-12));
      }
      continue;
    }
    ASSERT_EQ(node["children"].size(), 2u);
    EXPECT_EQ(node["children"][0].get<std::int64_t>(), left);
    EXPECT_EQ(node["children"][1].get<std::int64_t>(), t["children_right"][i].get<std::int64_t>());
    EXPECT_EQ(node["feature_index"].get<std::int64_t>(), t["feature"][i].get<std::int64_t>());
    EXPECT_EQ(node["split"], "numeric");
    EXPECT_NEAR(node["threshold"].get<double>(), t["threshold"][i].get<double>(), 1e-12);
  }
  const auto importances = result.json["feature_importances"].get<std::vector<double>>();
  ASSERT_EQ(importances.size(), width);
  for (std::size_t f = 0; f < width; ++f)
    EXPECT_NEAR(importances[f], c["feature_importances"][f].get<double>(), 1e-9);

  const nlohmann::json& paths = result.json["paths"];
  ASSERT_EQ(paths.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double expected = c["predictions"][i].get<double>();
    if (classification) {
      EXPECT_EQ(paths[i]["surrogate"], std::to_string(static_cast<int>(expected))) << "row " << i;
    } else {
      EXPECT_NEAR(paths[i]["surrogate"].get<double>(), expected, Tolerance(expected, 1e-12)) << "row " << i;
    }
  }
  // The tree reproduces the labels it was fitted on exactly where sklearn's does.
  EXPECT_EQ(result.json["fidelity"]["holdout"], nullptr);
}

std::string CaseName(const ::testing::TestParamInfo<std::size_t>& info) {
  return Fixtures()["cases"][info.param]["name"].get<std::string>();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SklearnCompare, ::testing::Range<std::size_t>(0, 8), CaseName);

TEST(SklearnFixtures, AllCasesAreCovered) { EXPECT_EQ(Fixtures()["cases"].size(), 8u); }

}  // namespace
