// XGBoost models: predictions equal XGBoost 1.7.4's own (fixtures from
// tests/fixtures/xgboost/make_xgboost_fixtures.py), missing values and categorical splits follow
// XGBoost's rules, and bad files are refused with one sentence each.
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"

namespace loupe {
namespace {

using nlohmann::json;

const std::filesystem::path kXgboostFixtures =
    std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/xgboost";
const std::filesystem::path kXgboostData = LOUPE_TEST_DATA_DIR;

json ReadJson(const std::filesystem::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::shared_ptr<const Model> Load(const std::filesystem::path& path) {
  auto model = LoadModel(path);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? *model : nullptr;
}

// The model's inputs read from a CSV by name, through the same mapping as pipelines (FeatureModel).
struct XgbInputs {
  std::shared_ptr<const FeatureModel> model;
  Tensor matrix;
};

// A void helper so that its ASSERTs stop the test: call it through ASSERT_NO_FATAL_FAILURE.
void ReadInputs(const std::shared_ptr<const Model>& model, const std::filesystem::path& csv, XgbInputs* out) {
  std::vector<std::string> names;
  CsvOptions options;
  for (const ModelInput& input : model->Info().inputs) {
    names.push_back(input.name);
    if (input.type == ColumnType::kCategorical) options.categorical.push_back(input.name);
  }
  auto data = ReadCsv(csv, options);
  ASSERT_TRUE(data.ok()) << data.status().message();
  auto feature_model = FeatureModel::Create(model, *data, names);
  ASSERT_TRUE(feature_model.ok()) << feature_model.status().message();
  auto matrix = data->Matrix(names);
  ASSERT_TRUE(matrix.ok()) << matrix.status().message();
  *out = {*feature_model, std::move(*matrix)};
}

Tensor Predict(const XgbInputs& inputs, std::int64_t rows, OutputSpace space) {
  auto out = inputs.model->Predict(inputs.matrix.view().Rows(0, rows), space);
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out.ok() ? std::move(*out) : Tensor();
}

// XGBoost predicts in f32; Loupe sums the same f32 leaf values in f64. Margins agree to 1e-5 relative to
// their size (regression margins are ~150, whose f32 spacing is 1.5e-5).
double Tolerance(double reference) { return 1e-5 * std::max(1.0, std::abs(reference)); }

TEST(XGBoostModelTest, CreditClassifierEqualsXGBoost) {
  const auto model = Load(kXgboostFixtures / "credit_xgb.json");
  ASSERT_NE(model, nullptr);
  const ModelInfo& info = model->Info();
  EXPECT_EQ(info.name, "credit_xgb");
  EXPECT_EQ(info.task, Task::kClassification);
  EXPECT_EQ(info.output_names, (std::vector<std::string>{"good", "bad"}));
  EXPECT_EQ(info.raw_output_names, (std::vector<std::string>{"bad"}));
  ASSERT_EQ(info.inputs.size(), 13u);
  EXPECT_EQ(info.inputs[1].name, "Home");
  EXPECT_EQ(info.inputs[1].type, ColumnType::kCategorical);
  EXPECT_EQ(info.inputs[1].levels,
            (std::vector<std::string>{"ignore", "other", "owner", "parents", "priv", "rent"}));
  EXPECT_EQ(info.inputs[0].type, ColumnType::kNumeric);

  const json reference = ReadJson(kXgboostFixtures / "credit_xgb_reference.json");
  XgbInputs inputs;
  ASSERT_NO_FATAL_FAILURE(ReadInputs(model, kXgboostData / "credit_data.csv", &inputs));
  const std::int64_t n = reference["rows"];
  const Tensor raw = Predict(inputs, n, OutputSpace::kRaw);
  const Tensor prob = Predict(inputs, n, OutputSpace::kProbability);
  ASSERT_EQ(raw.shape(), (Shape{n, 1}));
  ASSERT_EQ(prob.shape(), (Shape{n, 2}));
  double worst = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    const double margin = reference["margin"][r][0];
    const double p = reference["prediction"][r][0];
    EXPECT_NEAR(raw.data<double>()[r], margin, 1e-5) << "row " << r;
    EXPECT_NEAR(prob.data<double>()[2 * r + 1], p, 1e-5) << "row " << r;
    EXPECT_DOUBLE_EQ(prob.data<double>()[2 * r] + prob.data<double>()[2 * r + 1], 1.0);
    worst = std::max(worst, std::abs(raw.data<double>()[r] - margin));
  }
  RecordProperty("max_margin_error", std::to_string(worst));
}

TEST(XGBoostModelTest, DiabetesRegressorEqualsXGBoost) {
  const auto model = Load(kXgboostFixtures / "diabetes_xgb.json");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->Info().task, Task::kRegression);
  EXPECT_EQ(model->Info().output_names, (std::vector<std::string>{"value"}));
  EXPECT_EQ(model->Info().inputs[2].name, "bmi");
  const json reference = ReadJson(kXgboostFixtures / "diabetes_xgb_reference.json");
  XgbInputs inputs;
  ASSERT_NO_FATAL_FAILURE(ReadInputs(model, kXgboostData / "diabetes.csv", &inputs));
  const std::int64_t n = reference["rows"];
  const Tensor value = Predict(inputs, n, OutputSpace::kRaw);
  for (std::int64_t r = 0; r < n; ++r) {
    const double expected = reference["prediction"][r][0];
    EXPECT_NEAR(value.data<double>()[r], expected, Tolerance(expected)) << "row " << r;
  }
  auto no_probabilities = model->Predict(inputs.matrix.view().Rows(0, 1), OutputSpace::kProbability);
  ASSERT_FALSE(no_probabilities.ok());
  EXPECT_EQ(no_probabilities.status().message(),
            "model 'diabetes_xgb' is a regressor and has no probability outputs.");
}

TEST(XGBoostModelTest, MultiClassSoftprobEqualsXGBoost) {
  const auto model = Load(kXgboostFixtures / "diabetes3_xgb.json");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->Info().output_names, (std::vector<std::string>{"low", "mid", "high"}));
  EXPECT_EQ(model->Info().raw_output_names, (std::vector<std::string>{"low", "mid", "high"}));
  const json reference = ReadJson(kXgboostFixtures / "diabetes3_xgb_reference.json");
  XgbInputs inputs;
  ASSERT_NO_FATAL_FAILURE(ReadInputs(model, kXgboostData / "diabetes.csv", &inputs));
  const std::int64_t n = reference["rows"];
  const Tensor raw = Predict(inputs, n, OutputSpace::kRaw);
  const Tensor prob = Predict(inputs, n, OutputSpace::kProbability);
  ASSERT_EQ(prob.shape(), (Shape{n, 3}));
  for (std::int64_t r = 0; r < n; ++r) {
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(raw.data<double>()[3 * r + c], reference["margin"][r][c].get<double>(), 1e-5)
          << r << "," << c;
      EXPECT_NEAR(prob.data<double>()[3 * r + c], reference["prediction"][r][c].get<double>(), 1e-5)
          << r << "," << c;
    }
  }
}

TEST(XGBoostModelTest, DartTreeWeightsAreApplied) {
  const auto model = Load(kXgboostFixtures / "diabetes_dart.json");
  ASSERT_NE(model, nullptr);
  const json reference = ReadJson(kXgboostFixtures / "diabetes_dart_reference.json");
  XgbInputs inputs;
  ASSERT_NO_FATAL_FAILURE(ReadInputs(model, kXgboostData / "diabetes.csv", &inputs));
  const auto n = static_cast<std::int64_t>(reference["margin"].size());
  const Tensor value = Predict(inputs, n, OutputSpace::kRaw);
  for (std::int64_t r = 0; r < n; ++r) {
    const double expected = reference["margin"][r][0];
    EXPECT_NEAR(value.data<double>()[r], expected, Tolerance(expected)) << "row " << r;
  }
}

TEST(XGBoostModelTest, MissingValuesFollowTheDefaultDirections) {
  const auto model = Load(kXgboostFixtures / "credit_xgb.json");
  ASSERT_NE(model, nullptr);
  const json reference = ReadJson(kXgboostFixtures / "credit_missing_reference.json");
  XgbInputs blanked;
  ASSERT_NO_FATAL_FAILURE(ReadInputs(model, kXgboostFixtures / "credit_missing.csv", &blanked));
  XgbInputs complete;
  ASSERT_NO_FATAL_FAILURE(ReadInputs(model, kXgboostData / "credit_data.csv", &complete));
  const std::int64_t n = blanked.matrix.dim(0);
  ASSERT_EQ(n, 40);
  const Tensor raw = Predict(blanked, n, OutputSpace::kRaw);
  const Tensor original = Predict(complete, n, OutputSpace::kRaw);
  int changed = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    EXPECT_NEAR(raw.data<double>()[r], reference["margin"][r][0].get<double>(), 1e-5) << "row " << r;
    changed += std::abs(raw.data<double>()[r] - original.data<double>()[r]) > 1e-3;
  }
  EXPECT_GT(changed, 20) << "the blanked cells should change most predictions";
}

// A one-tree regressor over a numeric x and a categorical c (codes 0..3); WriteTiny writes the categorical
// node's split condition as XGBoost does, the bare token NaN:
//   node 0: x < 1.5 (missing goes left) ? node 1 : leaf 2 (10)
//   node 1: c in {1, 3} (missing goes right) ? leaf 4 (2) : leaf 3 (1)
json TinyModel() {
  return json::parse(R"({
    "learner": {
      "attributes": {},
      "feature_names": ["x", "c"],
      "feature_types": ["float", "c"],
      "gradient_booster": {
        "model": {
          "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "1", "size_leaf_vector": "0"},
          "tree_info": [0],
          "trees": [{
            "base_weights": [0, 0, 10, 1, 2],
            "categories": [1, 3], "categories_nodes": [1], "categories_segments": [0], "categories_sizes": [2],
            "default_left": [1, 0, 0, 0, 0],
            "id": 0,
            "left_children": [1, 3, -1, -1, -1],
            "loss_changes": [1, 1, 0, 0, 0],
            "parents": [2147483647, 0, 0, 1, 1],
            "right_children": [2, 4, -1, -1, -1],
            "split_conditions": [1.5, null, 10, 1, 2],
            "split_indices": [0, 1, 0, 0, 0],
            "split_type": [0, 1, 0, 0, 0],
            "sum_hessian": [10, 6, 4, 3, 3],
            "tree_param": {"num_deleted": "0", "num_feature": "2", "num_nodes": "5", "size_leaf_vector": "0"}
          }]
        },
        "name": "gbtree"
      },
      "learner_model_param": {"base_score": "5E-1", "num_class": "0", "num_feature": "2", "num_target": "1"},
      "objective": {"name": "reg:squarederror", "reg_loss_param": {"scale_pos_weight": "1"}}
    },
    "version": [1, 7, 4]
  })");
}

class XGBoostFileTest : public ::testing::Test {
 protected:
  std::filesystem::path Write(const std::string& name, const std::string& text) {
    const auto dir = std::filesystem::temp_directory_path() / ("loupe-xgb-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / name) << text;
    return dir / name;
  }
  // The tiny model as XGBoost writes it (NaN as a bare token), after `edit`.
  std::filesystem::path WriteTiny(const std::function<void(json&)>& edit,
                                  const std::string& name = "m.json") {
    json model = TinyModel();
    edit(model);
    std::string text = model.dump();
    const std::string null_condition = "\"split_conditions\":[1.5,null";
    const auto at = text.find(null_condition);
    if (at != std::string::npos) text.replace(at, null_condition.size(), "\"split_conditions\":[1.5,NaN");
    return Write(name, text);
  }
  std::string LoadError(const std::filesystem::path& path, const std::string& type = "auto") {
    auto model = LoadModel(path, type);
    EXPECT_FALSE(model.ok());
    return model.ok() ? "" : model.status().message();
  }
  static json& Tree(json& model) { return model["learner"]["gradient_booster"]["model"]["trees"][0]; }
};

TEST_F(XGBoostFileTest, NumericCategoricalAndMissingRouting) {
  auto model = LoadModel(WriteTiny([](json&) {}));
  ASSERT_TRUE(model.ok()) << model.status().message();
  const ModelInfo& info = (*model)->Info();
  EXPECT_EQ(info.inputs[1].type, ColumnType::kCategorical);
  EXPECT_EQ(info.inputs[1].levels,
            (std::vector<std::string>{"0", "1", "2", "3"}));  // codes up to the largest split
  const double nan = std::nan("");
  // Rows (x, c) and their leaves: 0.5 + {1, 2, 10}.
  const std::vector<std::pair<std::vector<double>, double>> cases = {
      {{0, 1}, 2.5},     // x < 1.5, c in {1, 3}: right
      {{0, 0}, 1.5},     // c not in the set: left
      {{0, 3}, 2.5},     //
      {{0, 3.7}, 2.5},   // codes truncate toward zero, as XGBoost's cast
      {{0, 7}, 1.5},     // a code no split lists: left
      {{0, -1}, 1.5},    // not a code: left, not the default direction
      {{0, nan}, 2.5},   // missing c: default right
      {{nan, 0}, 1.5},   // missing x: default left
      {{1.5, 1}, 10.5},  // x == threshold: not less, right
      {{1.4999999, 1}, 2.5}, {{2, nan}, 10.5},
  };
  for (const auto& [row, expected] : cases) {
    auto out = (*model)->Predict(Tensor::FromVector<double>(row, {1, 2}).view(), OutputSpace::kRaw);
    ASSERT_TRUE(out.ok());
    EXPECT_DOUBLE_EQ(out->data<double>()[0], expected) << "x=" << row[0] << " c=" << row[1];
  }
}

TEST_F(XGBoostFileTest, SplitsCompareInSinglePrecisionLikeXGBoost) {
  // 0.1f is 0.100000001490116...; XGBoost compares float(x) < 0.1f, so the double 0.1 (which rounds to
  // 0.1f) is not less. The double halfway between 0.1f and the float below it rounds to the even one of
  // the two, the float below (0.1f's significand is odd): it is less, and so is everything under it.
  auto model = LoadModel(WriteTiny([](json& m) { Tree(m)["split_conditions"][0] = 0.1f; }));
  ASSERT_TRUE(model.ok()) << model.status().message();
  const double boundary = (static_cast<double>(std::nextafter(0.1f, 0.0f)) + static_cast<double>(0.1f)) / 2;
  const std::vector<std::pair<double, double>> cases = {
      {0.1, 10.5}, {0.100000001490116, 10.5}, {std::nextafter(boundary, 1.0), 10.5}, {boundary, 1.5}};
  for (const auto& [x, expected] : cases) {
    auto out = (*model)->Predict(Tensor::FromVector<double>({x, 0}, {1, 2}).view(), OutputSpace::kRaw);
    ASSERT_TRUE(out.ok());
    EXPECT_DOUBLE_EQ(out->data<double>()[0], expected) << std::hexfloat << x;
  }
}

TEST_F(XGBoostFileTest, NonFiniteTokensAreRead) {
  // XGBoost writes an infinite split condition as the bare token Infinity: every x whose f32 value is
  // finite goes left; 1e300 becomes +inf in f32 and goes right.
  std::string text = TinyModel().dump();
  const std::string conditions = "\"split_conditions\":[1.5,null";
  text.replace(text.find(conditions), conditions.size(), "\"split_conditions\":[Infinity,NaN");
  auto model = LoadModel(Write("infinity.json", text));
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto out =
      (*model)->Predict(Tensor::FromVector<double>({1e30, 0, 1e300, 0}, {2, 2}).view(), OutputSpace::kRaw);
  ASSERT_TRUE(out.ok());
  EXPECT_DOUBLE_EQ(out->data<double>()[0], 1.5);
  EXPECT_DOUBLE_EQ(out->data<double>()[1], 10.5);
}

TEST_F(XGBoostFileTest, ConcurrentPredictionsAreIdentical) {
  const auto model = Load(kXgboostFixtures / "credit_xgb.json");
  ASSERT_NE(model, nullptr);
  XgbInputs inputs;
  ASSERT_NO_FATAL_FAILURE(ReadInputs(model, kXgboostData / "credit_data.csv", &inputs));
  const Tensor expected = Predict(inputs, inputs.matrix.dim(0), OutputSpace::kProbability);
  std::vector<Tensor> results(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back(
        [&, t] { results[t] = Predict(inputs, inputs.matrix.dim(0), OutputSpace::kProbability); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const Tensor& result : results) {
    ASSERT_EQ(result.shape(), expected.shape());
    EXPECT_EQ(std::memcmp(result.data<double>(), expected.data<double>(), expected.size() * sizeof(double)),
              0);
  }
}

TEST_F(XGBoostFileTest, TextThatIsNotJsonIsRefused) {
  const auto path = Write("notjson.json", "booster[0]:\n0:[f0<1.5] yes=1,no=2\n");
  EXPECT_EQ(LoadError(path),
            path.string() +
                ": expected the JSON of XGBoost's Booster.save_model, found text that is not JSON "
                "(syntax error at byte 1).");
  const auto truncated = Write("truncated.json", TinyModel().dump().substr(0, 120));
  EXPECT_EQ(
      LoadError(truncated, "xgboost"),
      truncated.string() +
          ": expected the JSON of XGBoost's Booster.save_model, found text that is not JSON (syntax error at "
          "byte 121).");
}

TEST_F(XGBoostFileTest, UnsupportedObjectiveIsRefused) {
  const auto path = WriteTiny([](json& m) { m["learner"]["objective"]["name"] = "reg:gamma"; });
  EXPECT_EQ(LoadError(path), path.string() +
                                 ": /learner/objective/name: expected one of the objectives binary:logistic, "
                                 "reg:squarederror, multi:softprob or multi:softmax, found 'reg:gamma'.");
}

TEST_F(XGBoostFileTest, LinearBoosterIsRefused) {
  const auto path = WriteTiny([](json& m) { m["learner"]["gradient_booster"] = {{"name", "gblinear"}}; });
  EXPECT_EQ(LoadError(path),
            path.string() +
                ": /learner/gradient_booster/name: expected the booster gbtree or dart (Loupe "
                "explains tree models), found 'gblinear'.");
}

TEST_F(XGBoostFileTest, TruncatedTreeArrayIsRefused) {
  const auto path = WriteTiny([](json& m) { Tree(m)["right_children"].erase(4); });
  EXPECT_EQ(LoadError(path),
            path.string() +
                ": /learner/gradient_booster/model/trees/0/right_children: expected 5 entries "
                "(tree_param.num_nodes), found 4.");
}

TEST_F(XGBoostFileTest, ChildIndexOutOfRangeIsRefused) {
  const auto path = WriteTiny([](json& m) { Tree(m)["left_children"][1] = 9; });
  EXPECT_EQ(LoadError(path),
            path.string() +
                ": /learner/gradient_booster/model/trees/0/left_children/1: expected -1 or a node "
                "index from 1 to 4, found 9.");
}

TEST_F(XGBoostFileTest, NodeReachedTwiceIsRefused) {
  const auto path = WriteTiny([](json& m) { Tree(m)["left_children"][1] = 2; });
  EXPECT_EQ(LoadError(path),
            path.string() +
                ": /learner/gradient_booster/model/trees/0/left_children/1: expected a node no "
                "other split leads to (a tree), found 2.");
}

TEST_F(XGBoostFileTest, HalfLeafIsRefused) {
  const auto path = WriteTiny([](json& m) { Tree(m)["right_children"][1] = -1; });
  EXPECT_EQ(LoadError(path),
            path.string() +
                ": /learner/gradient_booster/model/trees/0/left_children/1: expected -1 like "
                "right_children/1 (a leaf has no children), found 3.");
}

TEST_F(XGBoostFileTest, FeatureIndexOutOfRangeIsRefused) {
  const auto path = WriteTiny([](json& m) { Tree(m)["split_indices"][0] = 2; });
  EXPECT_EQ(LoadError(path),
            path.string() +
                ": /learner/gradient_booster/model/trees/0/split_indices/0: expected a feature "
                "index below 2 (learner_model_param.num_feature), found 2.");
}

TEST_F(XGBoostFileTest, MissingFieldIsNamedWithItsParent) {
  const auto path = WriteTiny([](json& m) { Tree(m).erase("sum_hessian"); });
  EXPECT_EQ(LoadError(path),
            path.string() +
                ": /learner/gradient_booster/model/trees/0: expected the field 'sum_hessian', found none.");
}

TEST_F(XGBoostFileTest, CategoricalSplitOnANumericFeatureIsRefused) {
  const auto path = WriteTiny([](json& m) { m["learner"]["feature_types"][1] = "q"; });
  EXPECT_EQ(LoadError(path), path.string() +
                                 ": /learner/gradient_booster/model/trees/0/split_type/1: expected 0 because "
                                 "feature 'c' is numeric in learner.feature_types, found 1.");
}

TEST_F(XGBoostFileTest, ClassLabelsMustMatchTheClassCount) {
  const auto path = WriteTiny([](json& m) {
    m["learner"]["objective"]["name"] = "binary:logistic";
    m["learner"]["attributes"]["loupe_classes"] = R"(["no", "maybe", "yes"])";
  });
  EXPECT_EQ(LoadError(path), path.string() +
                                 ": /learner/attributes/loupe_classes: expected 2 class labels for "
                                 "binary:logistic, found 3.");
}

TEST_F(XGBoostFileTest, BinaryMarginStartsAtTheLogitOfBaseScore) {
  auto model = LoadModel(WriteTiny([](json& m) {
    m["learner"]["objective"]["name"] = "binary:logistic";
    m["learner"]["learner_model_param"]["base_score"] = "2E-1";
  }));
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_EQ((*model)->Info().output_names, (std::vector<std::string>{"0", "1"}));
  auto out = (*model)->Predict(Tensor::FromVector<double>({0, 0}, {1, 2}).view(), OutputSpace::kRaw);
  ASSERT_TRUE(out.ok());
  EXPECT_NEAR(out->data<double>()[0], std::log(0.2 / 0.8) + 1.0, 1e-6);
}

}  // namespace
}  // namespace loupe
