// ONNX models with string inputs (skl2onnx's style: one input per column, strings for categories): the
// credit pipeline of tests/fixtures/onnx/make_onnx_fixtures.py (ColumnTransformer of SimpleImputer +
// StandardScaler and OneHotEncoder, then GradientBoostingClassifier) equals scikit-learn and ONNX Runtime,
// and shap.kernel and lime.tabular explain it through a pipeline whose CSV holds the string columns. Also
// the encoders and PROBIT on hand-made graphs.
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"
#include "onnx/graph.hpp"
#include "onnx/ops.hpp"
#include "onnx/session.hpp"
#include "onnx/tree_ensemble_op.hpp"

namespace loupe::onnx_categorical_test {

const std::filesystem::path kCategoricalFixtures =
    std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/onnx";
const std::filesystem::path kCreditData = std::filesystem::path(LOUPE_TEST_DATA_DIR) / "credit_data.csv";

class OnnxCategorical : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!onnx::OnnxSupported()) GTEST_SKIP() << "this build has no ONNX support (libonnx-dev missing)";
  }
};

nlohmann::json ReadCategoricalJson(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST_F(OnnxCategorical, StringInputsAreCategoricalWithTheEncodersCategories) {
  auto model = LoadModel(kCategoricalFixtures / "credit_pipeline.onnx");
  ASSERT_TRUE(model.ok()) << model.status().message();
  const ModelInfo& info = (*model)->Info();
  ASSERT_EQ(info.inputs.size(), 13u);
  EXPECT_EQ(info.inputs[0].name, "Seniority");
  EXPECT_EQ(info.inputs[0].type, ColumnType::kNumeric);
  EXPECT_EQ(info.inputs[1].name, "Home");
  EXPECT_EQ(info.inputs[1].type, ColumnType::kCategorical);
  EXPECT_EQ(info.inputs[1].levels,
            (std::vector<std::string>{"ignore", "other", "owner", "parents", "priv", "rent"}));
  EXPECT_EQ(info.output_names, (std::vector<std::string>{"bad", "good"}));
  EXPECT_EQ((*model)->tree_ensemble(), nullptr);  // the trees read encoded columns, not the inputs
}

// Through FeatureModel, as explainers see it: the CSV's levels mapped onto the model's by name, NA
// numbers imputed by the graph, NA categories fed as unknown (zeros).
TEST_F(OnnxCategorical, CreditPipelineEqualsScikitLearnAndOnnxRuntime) {
  auto model = LoadModel(kCategoricalFixtures / "credit_pipeline.onnx");
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto dataset = ReadCsv(kCreditData);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  std::vector<std::string> names;
  for (const ModelInput& input : (*model)->Info().inputs) names.push_back(input.name);
  auto features = FeatureModel::Create(*model, *dataset, names);
  ASSERT_TRUE(features.ok()) << features.status().message();
  auto x = dataset->Matrix(names);
  ASSERT_TRUE(x.ok()) << x.status().message();
  auto p = (*features)->Predict(*x, OutputSpace::kProbability);
  ASSERT_TRUE(p.ok()) << p.status().message();
  for (const char* file : {"credit_pipeline_reference.json", "credit_pipeline_ort.json"}) {
    const nlohmann::json reference = ReadCategoricalJson(kCategoricalFixtures / file);
    const auto& outputs = reference["outputs"];
    for (std::size_t r = 0; r < outputs.size(); ++r) {
      for (std::size_t k = 0; k < 2; ++k)
        EXPECT_NEAR(p->data<double>()[r * 2 + k], outputs[r][k].get<double>(), 1e-5) << file << " row " << r;
    }
  }
}

// shap.kernel and lime.tabular through a whole in-process pipeline on the CSV with its string columns:
// Kernel SHAP's values add up to the model's probabilities (its efficiency constraint), and lime fits.
TEST_F(OnnxCategorical, ShapKernelAndLimeExplainTheCreditPipeline) {
  const std::filesystem::path plugins = LOUPE_PLUGIN_DIR;
  const std::filesystem::path shap = plugins / "libloupe_shap.so", lime = plugins / "libloupe_lime.so";
  if (!std::filesystem::exists(shap) || !std::filesystem::exists(lime)) GTEST_SKIP() << "plugins not built";
  const std::filesystem::path out = std::filesystem::temp_directory_path() / "loupe_onnx_credit";
  const std::string text =
      "version: 1\nname: onnx-credit\nseed: 3\ndata: {path: " + kCreditData.string() +
      ", target: Status, positive: good}\nmodel: {type: onnx, path: " +
      (kCategoricalFixtures / "credit_pipeline.onnx").string() +
      "}\nsteps:\n  - id: kernel\n    explainer: shap.kernel\n    rows: \"0:3\"\n"
      "    params: {background: \"0:20\", nsamples: 600}\n"
      "  - id: lime\n    explainer: lime.tabular\n    rows: \"0:3\"\n    params: {num_samples: 600}\n"
      "output: {dir: " +
      out.string() + ", formats: [json]}\n";
  ParseOutcome parsed = ParsePipelineText(text, out / "pipeline.yaml");
  ASSERT_TRUE(parsed.spec.has_value()) << (parsed.diagnostics.empty() ? "" : parsed.diagnostics[0].message);
  PluginRegistry registry;
  ASSERT_TRUE(registry.Load(shap).ok());
  ASSERT_TRUE(registry.Load(lime).ok());
  PipelineCheck check = ValidatePipeline(*parsed.spec, registry);
  ASSERT_TRUE(check.diagnostics.empty()) << check.diagnostics[0].message;
  RunOptions options;
  options.model = check.model;
  options.quiet = true;
  const RunReport report = RunPipeline(*parsed.spec, registry, options);
  ASSERT_TRUE(report.status.ok()) << report.status.message() << " " << report.steps[0].message;

  const nlohmann::json kernel = ReadCategoricalJson(out / "kernel.json");
  const nlohmann::json reference =
      ReadCategoricalJson(kCategoricalFixtures / "credit_pipeline_reference.json");
  ASSERT_EQ(kernel["values"].size(), 3u);
  for (std::size_t r = 0; r < 3; ++r) {
    for (std::size_t o = 0; o < 2; ++o) {
      double sum = kernel["base_values"][r][o].get<double>();
      for (const auto& v : kernel["values"][r][o]) sum += v.get<double>();
      EXPECT_NEAR(sum, reference["outputs"][r][o].get<double>(), 1e-5) << "row " << r << " output " << o;
    }
  }
  const nlohmann::json lime_result = ReadCategoricalJson(out / "lime.json");
  EXPECT_EQ(lime_result["values"].size(), 3u) << lime_result.dump().substr(0, 400);
  std::filesystem::remove_all(out);
}

// ---- The encoders and PROBIT on hand-made graphs, against values worked out by hand ------------------

onnx::Node MlNode(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs) {
  onnx::Node node;
  node.name = op + "_test";
  node.op_type = op;
  node.domain = onnx::kMlDomain;
  node.inputs = std::move(inputs);
  node.outputs = std::move(outputs);
  return node;
}

onnx::Attribute Strings(std::vector<std::string> values) {
  onnx::Attribute a;
  a.kind = onnx::Attribute::Kind::kStrings;
  a.strings = std::move(values);
  return a;
}
onnx::Attribute Ints(std::vector<std::int64_t> values) {
  onnx::Attribute a;
  a.kind = onnx::Attribute::Kind::kInts;
  a.ints = std::move(values);
  return a;
}
onnx::Attribute Int(std::int64_t value) {
  onnx::Attribute a;
  a.kind = onnx::Attribute::Kind::kInt;
  a.i = value;
  return a;
}

Result<onnx::Value> RunOne(const onnx::Node& node, const onnx::Value& x) {
  const onnx::OpSchema* op = onnx::FindOp(node.domain, node.op_type);
  if (op == nullptr) return InvalidArgument("no op " + node.op_type);
  LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<onnx::Kernel> kernel, op->make({node, 2, {nullptr}}));
  std::vector<onnx::Value> out(1);
  LOUPE_RETURN_IF_ERROR(kernel->Run({&x}, out, {}));
  return out[0];
}

TEST(OnnxEncoders, OneHotEncoderStringsIntsZerosAndUnknowns) {
  onnx::Node node = MlNode("OneHotEncoder", {"x"}, {"y"});
  node.attributes["cats_strings"] = Strings({"a", "b", "c"});
  auto y = RunOne(node, onnx::Value::Strings({3, 1}, {"b", "zz", "c"}));
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(y->shape, (std::vector<std::int64_t>{3, 1, 3}));
  EXPECT_EQ(y->f, (std::vector<float>{0, 1, 0, 0, 0, 0, 0, 0, 1}));
  node.attributes["zeros"] = Int(0);
  EXPECT_FALSE(RunOne(node, onnx::Value::Strings({1}, {"zz"})).ok());
  onnx::Node ints = MlNode("OneHotEncoder", {"x"}, {"y"});
  ints.attributes["cats_int64s"] = Ints({4, 7});
  auto z = RunOne(ints, onnx::Value::Floats({2}, {7.9f, 4.0f}));  // numbers truncated to int64
  ASSERT_TRUE(z.ok()) << z.status().message();
  EXPECT_EQ(z->f, (std::vector<float>{0, 1, 1, 0}));
}

TEST(OnnxEncoders, LabelEncoderBothWaysWithDefaults) {
  onnx::Node to_int = MlNode("LabelEncoder", {"x"}, {"y"});
  to_int.attributes["keys_strings"] = Strings({"low", "high"});
  to_int.attributes["values_int64s"] = Ints({0, 1});
  to_int.attributes["default_int64"] = Int(-7);
  auto y = RunOne(to_int, onnx::Value::Strings({3}, {"high", "mid", "low"}));
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(y->i, (std::vector<std::int64_t>{1, -7, 0}));
  onnx::Node to_string = MlNode("LabelEncoder", {"x"}, {"y"});
  to_string.attributes["keys_int64s"] = Ints({0, 1});
  to_string.attributes["values_strings"] = Strings({"no", "yes"});
  auto s = RunOne(to_string, onnx::Value::Ints({3}, {1, 5, 0}));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->s, (std::vector<std::string>{"yes", "_Unused", "no"}));
  onnx::Node opset1 = MlNode("LabelEncoder", {"x"}, {"y"});  // classes_strings: string → index
  opset1.attributes["classes_strings"] = Strings({"cat", "dog"});
  auto c = RunOne(opset1, onnx::Value::Strings({2}, {"dog", "emu"}));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->i, (std::vector<std::int64_t>{1, -1}));
}

TEST(OnnxEncoders, ProbitFollowsOnnxRuntimesApproximation) {
  EXPECT_NEAR(onnx::ProbitAsOnnxRuntime(0.5f), 0.0f, 1e-6);
  // Within the approximation's 2e-3 of the exact probit (Φ⁻¹(0.975) = 1.959964, Φ⁻¹(0.1) = −1.281552).
  EXPECT_NEAR(onnx::ProbitAsOnnxRuntime(0.975f), 1.959964f, 2e-3);
  EXPECT_NEAR(onnx::ProbitAsOnnxRuntime(0.1f), -1.281552f, 2e-3);
  EXPECT_NE(onnx::ProbitAsOnnxRuntime(0.975f), 1.959964f);  // and not the exact value
}

}  // namespace loupe::onnx_categorical_test
