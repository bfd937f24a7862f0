// The foundation's native model: loading loupe.model/v1 files, predicting, and refusing bad ones.
#include <unistd.h>

#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"

namespace loupe {
namespace {

class NativeModelTest : public ::testing::Test {
 protected:
  std::filesystem::path Write(const std::string& name, const std::string& text) {
    const auto dir = std::filesystem::temp_directory_path() / ("loupe-model-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / name) << text;
    return dir / name;
  }
  // A classifier over a numeric and a categorical input, with `layers` as its layer list.
  std::string Classifier(const std::string& layers) {
    return "format: loupe.model/v1\nname: m\ntask: classification\nclasses: [no, yes]\ninputs:\n"
           "  - {name: age, type: numeric, impute: 30, standardize: {mean: 40, std: 10}}\n"
           "  - {name: home, type: categorical, levels: [own, rent]}\n"
           "layers:\n" +
           layers;
  }
  std::string LoadError(const std::string& text) {
    const auto path = Write("bad.yaml", text);
    auto model = LoadModel(path);
    EXPECT_FALSE(model.ok());
    const std::string message = model.status().message();
    return message.substr(message.find("bad.yaml"));
  }
};

TEST_F(NativeModelTest, LogisticRegressionPredictsProbabilitiesAndLogits) {
  auto model = LoadModel(Write(
      "m.yaml",
      Classifier(
          "  - {type: linear, in_features: 3, out_features: 1, weight: [[2.0, 0.5, -1.0]], bias: [0.25]}\n"
          "  - {type: sigmoid}\n")));
  ASSERT_TRUE(model.ok()) << model.status().message();
  const ModelInfo& info = (*model)->Info();
  EXPECT_EQ(info.output_names, (std::vector<std::string>{"no", "yes"}));
  EXPECT_EQ(info.raw_output_names, (std::vector<std::string>{"yes"}));
  // Rows: (age 50, own), (missing age -> 30, rent), (age 40, unknown level code 7 -> all zeros).
  const Tensor batch = Tensor::FromVector<double>({50, 0, std::nan(""), 1, 40, 7}, {3, 2});
  auto raw = (*model)->Predict(batch, OutputSpace::kRaw);
  auto prob = (*model)->Predict(batch, OutputSpace::kProbability);
  ASSERT_TRUE(raw.ok() && prob.ok());
  const double logits[3] = {2.0 * 1 + 0.5 + 0.25, 2.0 * -1 - 1.0 + 0.25, 0.25};
  for (int r = 0; r < 3; ++r) {
    EXPECT_DOUBLE_EQ(raw->data<double>()[r], logits[r]);
    const double p = 1 / (1 + std::exp(-logits[r]));
    EXPECT_DOUBLE_EQ(prob->data<double>()[2 * r + 1], p);
    EXPECT_DOUBLE_EQ(prob->data<double>()[2 * r], 1 - p);
  }
}

TEST_F(NativeModelTest, SoftmaxMlpGivesOneProbabilityPerClass) {
  auto model = LoadModel(
      Write("mlp.yaml",
            "format: loupe.model/v1\nname: mlp\ntask: classification\nclasses: [a, b, c]\n"
            "inputs: [{name: x, type: numeric}]\nlayers:\n"
            "  - {type: linear, in_features: 1, out_features: 2, weight: [[1.0], [-1.0]], bias: [0, 0]}\n"
            "  - {type: relu}\n"
            "  - {type: linear, in_features: 2, out_features: 3, weight: [[1, 0], [0, 1], [1, 1]]}\n"
            "  - {type: softmax}\n"));
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto prob = (*model)->Predict(Tensor::FromVector<double>({2.0}, {1, 1}), OutputSpace::kProbability);
  ASSERT_TRUE(prob.ok());
  // hidden = relu([2, -2]) = [2, 0]; logits = [2, 0, 2].
  const double z = 2 * std::exp(2.0) + 1;
  EXPECT_DOUBLE_EQ(prob->data<double>()[0], std::exp(2.0) / z);
  EXPECT_DOUBLE_EQ(prob->data<double>()[1], 1 / z);
  EXPECT_DOUBLE_EQ(prob->data<double>()[2], std::exp(2.0) / z);
}

TEST_F(NativeModelTest, MissingValueWithoutImputeIsAModelError) {
  auto model = LoadModel(
      Write("m2.yaml",
            "format: loupe.model/v1\nname: r\ntask: regression\ninputs: [{name: x, type: numeric}]\n"
            "layers: [{type: linear, in_features: 1, out_features: 1, weight: [[1.0]]}]\n"));
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto out = (*model)->Predict(Tensor::FromVector<double>({1, std::nan("")}, {2, 1}), OutputSpace::kRaw);
  EXPECT_EQ(out.status().code(), StatusCode::kModelError);
  EXPECT_EQ(out.status().message(),
            "input 'x' is missing in batch row 1 and model 'r' has no impute value for it.");
}

TEST_F(NativeModelTest, BadModelsAreRefusedWithThePositionOfTheProblem) {
  EXPECT_EQ(LoadError(Classifier("  - {type: linear, in_features: 3, out_features: 1, weight: [[1, 2]]}\n"
                                 "  - {type: sigmoid}\n")),
            "bad.yaml:9:61: layer 0 (linear) weight has shape [1, 2], expected [1, 3].");
  EXPECT_EQ(
      LoadError(Classifier("  - {type: linear, in_features: 4, out_features: 1, weight: [[1, 2, 3, 4]]}\n")),
      "bad.yaml:9:33: layer 0 (linear) takes 4 features but receives 3.");
  EXPECT_EQ(LoadError(Classifier("  - {type: linear, in_features: 3, out_features: 1}\n")),
            "bad.yaml:9:5: 'layer 0 (linear) weight' is missing.");
  EXPECT_EQ(LoadError(Classifier("  - {type: linear, in_features: 3, out_features: 1.65e19}\n")),
            "bad.yaml:9:50: 'layer 0 out_features' must be a whole number of at least 1, found "
            "1.65e+19.");
  EXPECT_EQ(
      LoadError(Classifier("  - {type: convolution}\n")),
      "bad.yaml:9:12: unknown layer type 'convolution'; expected linear, relu, tanh, sigmoid or softmax.");
  EXPECT_EQ(
      LoadError(Classifier("  - {type: linear, in_features: 3, out_features: 1, weight: [[1, 2, 3]]}\n")),
      "bad.yaml:9:5: a classifier must end in sigmoid over 1 output (2 classes) or softmax over one output "
      "per class; the last layer gives 1 outputs for 2 classes.");
  EXPECT_EQ(LoadError("format: loupe.model/v2\n"),
            "bad.yaml:1:9: unsupported model format 'loupe.model/v2'; expected loupe.model/v1.");
  EXPECT_EQ(LoadError(Classifier("  - {type: sigmoid, units: 3}\n")),
            "bad.yaml:9:21: unknown key 'units' in layer 0; expected one of: type.");
  EXPECT_EQ(LoadError("format: loupe.model/v1\nname: m\ntask: clustering\n"),
            "bad.yaml:3:7: task must be classification or regression, found 'clustering'.");
}

TEST_F(NativeModelTest, MissingFileAndXgboostAreClearErrors) {
  auto missing = LoadModel("/nonexistent/model.yaml");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "model file '/nonexistent/model.yaml' does not exist.");
  const auto xgb_path = Write("xgb.json", "{\"learner\": {}}");
  auto xgb =
      LoadModel(xgb_path);  // detected as XGBoost JSON; tests/core/model/xgboost_*_test.cpp cover the rest
  EXPECT_EQ(xgb.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(xgb.status().message(),
            xgb_path.string() + ": /learner: expected the field 'objective', found none.");
}

TEST_F(NativeModelTest, FeatureModelMapsDatasetLevelsOntoTheModelsLevels) {
  auto model = LoadModel(Write("m3.yaml", Classifier("  - {type: linear, in_features: 3, out_features: 1, "
                                                     "weight: [[0.0, 1.0, 2.0]]}\n  - {type: sigmoid}\n")));
  ASSERT_TRUE(model.ok());
  // The data knows a level the model does not ("lease") and sorts its levels differently.
  auto data = ParseCsv("age,home\n40,rent\n40,own\n40,lease\n", "d.csv");
  ASSERT_TRUE(data.ok()) << data.status().message();
  auto fm = FeatureModel::Create(*model, *data, {"home", "age"});
  ASSERT_TRUE(fm.ok()) << fm.status().message();
  auto matrix = data->Matrix({"home", "age"});
  ASSERT_TRUE(matrix.ok());
  auto raw = (*fm)->Predict(matrix->view(), OutputSpace::kRaw);
  ASSERT_TRUE(raw.ok()) << raw.status().message();
  EXPECT_DOUBLE_EQ(raw->data<double>()[0], 2.0);  // rent
  EXPECT_DOUBLE_EQ(raw->data<double>()[1], 1.0);  // own
  EXPECT_DOUBLE_EQ(raw->data<double>()[2], 0.0);  // lease: unknown to the model, all zeros
  auto numeric_home = ParseCsv("age,home\n40,1\n", "n.csv");
  ASSERT_TRUE(numeric_home.ok());
  auto refused = FeatureModel::Create(*model, *numeric_home, {"age", "home"});
  EXPECT_EQ(refused.status().message(),
            "column 'home' of 'n.csv' is numeric but model 'm' takes it as categorical; list it under "
            "data.categorical.");
}

// Data whose levels are the model's, in the model's order, reach the model unmapped: with the features in
// the model's order FeatureModel skips the gather, in another it copies the columns. A code past the
// levels is then still no level, as NaN is, exactly as through a mapping.
TEST_F(NativeModelTest, FeatureModelPassesLevelsInTheModelsOrderThroughUnmapped) {
  auto model = LoadModel(Write("m4.yaml", Classifier("  - {type: linear, in_features: 3, out_features: 1, "
                                                     "weight: [[0.0, 1.0, 2.0]], bias: [0.5]}\n"
                                                     "  - {type: sigmoid}\n")));
  ASSERT_TRUE(model.ok());
  auto data = ParseCsv("age,home\n40,own\n40,rent\n", "same.csv");
  ASSERT_TRUE(data.ok()) << data.status().message();
  const double nan = std::nan("");  // own, rent, past the levels, missing:
  const std::vector<double> age_home = {40, 0, 40, 1, 40, 2, 40, nan},
                            home_age = {0, 40, 1, 40, 2, 40, nan, 40};
  for (const bool model_order : {true, false}) {
    const std::vector<std::string> features =
        model_order ? std::vector<std::string>{"age", "home"} : std::vector<std::string>{"home", "age"};
    auto fm = FeatureModel::Create(*model, *data, features);
    ASSERT_TRUE(fm.ok()) << fm.status().message();
    const std::vector<double>& rows = model_order ? age_home : home_age;
    auto raw = (*fm)->Predict(TensorView(rows.data(), DType::kF64, {4, 2}), OutputSpace::kRaw);
    ASSERT_TRUE(raw.ok()) << raw.status().message();
    EXPECT_DOUBLE_EQ(raw->data<double>()[0], 1.5) << model_order;
    EXPECT_DOUBLE_EQ(raw->data<double>()[1], 2.5) << model_order;
    EXPECT_DOUBLE_EQ(raw->data<double>()[2], 0.5) << model_order;
    EXPECT_DOUBLE_EQ(raw->data<double>()[3], 0.5) << model_order;
  }
}

}  // namespace
}  // namespace loupe
