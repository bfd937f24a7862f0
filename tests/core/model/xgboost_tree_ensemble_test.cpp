// The "tree_ensemble" capability of XGBoost models: the C++ view and its C mirror describe the trees of
// the JSON file exactly (structure, covers, categorical sets), evaluating the C struct the way its header
// documents reproduces XGBoost's margins, and the node means give XGBoost's pred_contribs bias.
#include <algorithm>
#include <bit>
#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/tree_ensemble.hpp"

namespace loupe {
namespace {

using nlohmann::json;

const std::filesystem::path kEnsembleFixtures =
    std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/xgboost";

json ReadEnsembleJson(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  for (std::size_t at = s.find("NaN"); at != std::string::npos; at = s.find("NaN", at))
    s.replace(at, 3, "null");
  return json::parse(s);
}

// Evaluates the C struct exactly as loupe_plugin.h documents it, using nothing else: what a plugin does.
double CMargin(const LoupeTreeEnsemble& e, const double* x, int output) {
  double margin = e.base_margin[output];
  for (int64_t t = 0; t < e.n_trees; ++t) {
    const LoupeTree& tree = *e.trees[t];
    if (tree.output != output) continue;
    int32_t node = 0;
    while (!tree.is_leaf[node]) {
      const double v = x[tree.feature[node]];
      bool left;
      if (std::isnan(v)) {
        left = tree.default_left[node] != 0;
      } else if (tree.is_categorical[node]) {
        bool listed = false;
        if (v >= 0 && v < 16777216.0) {
          const auto code = static_cast<int32_t>(v);
          for (int64_t k = tree.category_offsets[node]; k < tree.category_offsets[node + 1]; ++k) {
            listed = listed || tree.categories[k] == code;
          }
        }
        left = !listed;
      } else {
        left = e.split_rule == LOUPE_TREE_SPLIT_LESS ? v < tree.threshold[node] : v <= tree.threshold[node];
      }
      node = left ? tree.left[node] : tree.right[node];
    }
    margin += tree.value[node];
  }
  return margin;
}

struct Case {
  const char* model;
  const char* data;
  int outputs;
};

class TreeEnsembleCapabilityTest : public ::testing::TestWithParam<Case> {};

TEST_P(TreeEnsembleCapabilityTest, ViewMatchesTheFileAndXGBoost) {
  const Case c = GetParam();
  auto loaded = LoadModel(kEnsembleFixtures / (std::string(c.model) + ".json"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const std::shared_ptr<const Model> model = *loaded;
  const TreeEnsembleCapability* capability = model->tree_ensemble();
  ASSERT_NE(capability, nullptr);
  const TreeEnsembleView* view = &capability->view();
  const LoupeTreeEnsemble* ce = &capability->c_view();
  EXPECT_EQ(model->attention_source(), nullptr);

  // Structure: every tree of the file, node for node.
  const json file = ReadEnsembleJson(kEnsembleFixtures / (std::string(c.model) + ".json"));
  const json& trees = file["learner"]["gradient_booster"]["model"]["trees"];
  ASSERT_EQ(view->trees.size(), trees.size());
  EXPECT_EQ(ce->struct_size, sizeof(LoupeTreeEnsemble));
  EXPECT_EQ(ce->n_trees, static_cast<int64_t>(trees.size()));
  EXPECT_EQ(ce->n_outputs, c.outputs);
  EXPECT_EQ(ce->split_rule, LOUPE_TREE_SPLIT_LESS);
  EXPECT_EQ(ce->n_features, static_cast<int64_t>(model->Info().inputs.size()));
  std::size_t categorical_nodes = 0, file_categorical_nodes = 0;
  for (std::size_t t = 0; t < trees.size(); ++t) {
    const Tree& tree = view->trees[t];
    const json& jt = trees[t];
    const LoupeTree& ct = *ce->trees[t];
    ASSERT_EQ(tree.size(), std::stoi(jt["tree_param"]["num_nodes"].get<std::string>()));
    EXPECT_EQ(ct.struct_size, sizeof(LoupeTree));
    EXPECT_EQ(ct.n_nodes, tree.size());
    EXPECT_EQ(ct.output, file["learner"]["gradient_booster"]["model"]["tree_info"][t].get<int>());
    EXPECT_EQ(ct.left, tree.left.data());
    EXPECT_EQ(ct.cover, tree.cover.data());
    file_categorical_nodes += jt["categories_nodes"].size();
    for (std::int32_t n = 0; n < tree.size(); ++n) {
      const auto u = static_cast<std::size_t>(n);
      EXPECT_EQ(tree.left[u], jt["left_children"][u].get<int>());
      EXPECT_FLOAT_EQ(static_cast<float>(tree.cover[u]), jt["sum_hessian"][u].get<float>());
      if (tree.is_leaf[u]) continue;
      EXPECT_EQ(tree.feature[u], jt["split_indices"][u].get<int>());
      EXPECT_EQ(tree.default_left[u], jt["default_left"][u].get<int>());
      // XGBoost's covers add up: a split's cover is its children's.
      EXPECT_NEAR(tree.cover[u],
                  tree.cover[static_cast<std::size_t>(tree.left[u])] +
                      tree.cover[static_cast<std::size_t>(tree.right[u])],
                  1e-4 * tree.cover[u]);
      categorical_nodes += tree.is_categorical[u];
    }
  }
  EXPECT_EQ(categorical_nodes, file_categorical_nodes);

  // Margins: the C struct evaluated by the documented rule, the C++ view and XGBoost agree.
  const json reference = ReadEnsembleJson(kEnsembleFixtures / (std::string(c.model) + "_reference.json"));
  std::vector<std::string> names;
  CsvOptions options;
  for (const ModelInput& input : model->Info().inputs) {
    names.push_back(input.name);
    if (input.type == ColumnType::kCategorical) options.categorical.push_back(input.name);
  }
  auto data = ReadCsv(std::filesystem::path(LOUPE_TEST_DATA_DIR) / c.data, options);
  ASSERT_TRUE(data.ok()) << data.status().message();
  auto feature_model = FeatureModel::Create(model, *data, names);
  ASSERT_TRUE(feature_model.ok()) << feature_model.status().message();
  auto matrix = data->Matrix(names);
  ASSERT_TRUE(matrix.ok());
  const std::int64_t rows = reference["rows"];
  const auto f = static_cast<std::int64_t>(names.size());
  // Data codes -> model codes, as the host's FeatureModel maps them (identity up to level order).
  std::vector<double> x(static_cast<std::size_t>(f));
  std::vector<double> margins(static_cast<std::size_t>(c.outputs));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < f; ++j) {
      double v = matrix->data<double>()[r * f + j];
      const ModelInput& input = model->Info().inputs[static_cast<std::size_t>(j)];
      if (input.type == ColumnType::kCategorical && !std::isnan(v)) {
        const std::string& level = data->Find(input.name)->schema().levels[static_cast<std::size_t>(v)];
        v = static_cast<double>(std::find(input.levels.begin(), input.levels.end(), level) -
                                input.levels.begin());
      }
      x[static_cast<std::size_t>(j)] = v;
    }
    view->Margins(x.data(), margins.data());
    for (int o = 0; o < c.outputs; ++o) {
      const double expected = reference["margin"][r][o];
      const double tolerance = 1e-5 * std::max(1.0, std::abs(expected));
      EXPECT_NEAR(CMargin(*ce, x.data(), o), expected, tolerance) << "row " << r << " output " << o;
      EXPECT_NEAR(margins[static_cast<std::size_t>(o)], expected, tolerance)
          << "row " << r << " output " << o;
    }
  }

  // Path-dependent TreeSHAP's expectation: base margin + every tree's root mean = XGBoost's bias term.
  for (int o = 0; o < c.outputs; ++o) {
    double expectation = ce->base_margin[o];
    for (const Tree& tree : view->trees) expectation += tree.output == o ? tree.value[0] : 0.0;
    const double bias = reference["contribs"][0][o].back();
    EXPECT_NEAR(expectation, bias, 1e-5 * std::max(1.0, std::abs(bias))) << "output " << o;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TreeEnsembleCapabilityTest,
                         ::testing::Values(Case{"credit_xgb", "credit_data.csv", 1},
                                           Case{"diabetes_xgb", "diabetes.csv", 1},
                                           Case{"diabetes3_xgb", "diabetes.csv", 3}),
                         [](const auto& info) { return std::string(info.param.model); });

TEST(TreeEnsembleCapabilityTest, CreditFeaturesCarryNamesAndLevels) {
  auto model = LoadModel(kEnsembleFixtures / "credit_xgb.json");
  ASSERT_TRUE(model.ok()) << model.status().message();
  ASSERT_NE((*model)->tree_ensemble(), nullptr);
  const LoupeTreeEnsemble* ce = &(*model)->tree_ensemble()->c_view();
  EXPECT_EQ(ce->link, LOUPE_TREE_LINK_LOGISTIC);
  EXPECT_LE(ce->max_depth, 4);
  EXPECT_GE(ce->max_depth, 1);
  // base_score 0.2815447 becomes the margin offset logit(base_score), computed in f32 as XGBoost does.
  EXPECT_NEAR(ce->base_margin[0], std::log(0.2815447 / (1 - 0.2815447)), 1e-6);
  ASSERT_EQ(ce->n_features, 13);
  EXPECT_STREQ(ce->features[0].name, "Seniority");
  EXPECT_EQ(ce->features[0].type, LOUPE_FEATURE_NUMERIC);
  EXPECT_EQ(ce->features[0].levels, nullptr);
  EXPECT_STREQ(ce->features[1].name, "Home");
  EXPECT_EQ(ce->features[1].type, LOUPE_FEATURE_CATEGORICAL);
  ASSERT_EQ(ce->features[1].n_levels, 6);
  EXPECT_STREQ(ce->features[1].levels[5], "rent");
  EXPECT_EQ(ce->features[1].struct_size, sizeof(LoupeColumnInfo));
  // Category sets are sorted and inside the feature's levels; one-hot splits list one category.
  int one_hot = 0;
  for (int64_t t = 0; t < ce->n_trees; ++t) {
    const LoupeTree& tree = *ce->trees[t];
    EXPECT_EQ(tree.category_offsets[0], 0);
    for (int64_t n = 0; n < tree.n_nodes; ++n) {
      const int64_t begin = tree.category_offsets[n], end = tree.category_offsets[n + 1];
      ASSERT_LE(begin, end);
      if (!tree.is_categorical[n]) {
        EXPECT_EQ(begin, end);
        continue;
      }
      EXPECT_TRUE(std::isnan(tree.threshold[n]));
      one_hot += end - begin == 1;
      for (int64_t k = begin; k < end; ++k) {
        EXPECT_LT(tree.categories[k], ce->features[tree.feature[n]].n_levels);
        if (k > begin) {
          EXPECT_LT(tree.categories[k - 1], tree.categories[k]);
        }
      }
    }
  }
  EXPECT_EQ(one_hot, 35);  // counted in credit_xgb.json (Records and Job: max_cat_to_onehot 4)
}

TEST(TreeEnsembleCapabilityTest, NativeModelsHaveNoTrees) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto path = dir / "loupe-no-trees.yaml";
  std::ofstream(path)
      << "format: loupe.model/v1\nname: m\ntask: regression\ninputs: [{name: x, type: numeric}]\n"
         "layers:\n  - {type: linear, in_features: 1, out_features: 1, weight: [[1.0]], bias: [0]}\n";
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_EQ((*model)->tree_ensemble(), nullptr);
  std::filesystem::remove(path);
}

// The f64 bound of an f32 split honours XGBoost's comparison float(x) < t for every double x.
TEST(LessThanFloatBoundTest, AgreesWithSinglePrecisionComparison) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> thresholds = {0.0f,
                                   -0.0f,
                                   1.0f,
                                   -1.0f,
                                   0.1f,
                                   -0.1f,
                                   1.5f,
                                   3.0f,
                                   1e-40f,
                                   -1e-40f,
                                   std::numeric_limits<float>::denorm_min(),
                                   std::numeric_limits<float>::max(),
                                   -std::numeric_limits<float>::max(),
                                   std::numeric_limits<float>::min(),
                                   inf};
  std::mt19937 rng(5);
  std::uniform_int_distribution<std::uint32_t> bits;
  for (int i = 0; i < 2000; ++i) {
    const float t = std::bit_cast<float>(bits(rng));
    if (std::isfinite(t)) thresholds.push_back(t);
  }
  for (const float t : thresholds) {
    const double d = LessThanFloatBound(t);
    const float below = std::nextafter(t, -inf);
    const double probes[] = {
        d,
        std::nextafter(d, -INFINITY),
        std::nextafter(d, INFINITY),
        static_cast<double>(t),
        static_cast<double>(below),
        std::isfinite(below) ? (static_cast<double>(below) + static_cast<double>(t)) / 2 : d,
        std::nextafter(static_cast<double>(t), -INFINITY)};
    for (const double x : probes) {
      if (std::isnan(x)) continue;
      EXPECT_EQ(x < d, static_cast<float>(x) < t) << std::hexfloat << "t=" << t << " x=" << x << " d=" << d;
    }
  }
  EXPECT_TRUE(std::isnan(LessThanFloatBound(std::nanf(""))));
}

}  // namespace
}  // namespace loupe
