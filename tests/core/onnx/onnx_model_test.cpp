// ONNX models (core/src/onnx, model/onnx_model.cpp) against the frameworks that made them: scikit-learn
// trees, pipelines and linear models converted by tests/fixtures/onnx/make_onnx_fixtures.py, and a
// PyTorch MLP exported with torch.onnx.export. Also the tree_ensemble capability (equal to the model's own
// margins, and shap.tree equal to the real shap's TreeExplainer), the refusals (one sentence, exit code 2),
// reentrancy, and the generated operator table in docs.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loupe/core/dataset.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"
#include "loupe/core/tree_ensemble.hpp"
#include "onnx/graph.hpp"
#include "onnx/ops.hpp"

namespace loupe {
namespace {

const std::filesystem::path kFixtures = std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/onnx";
const std::filesystem::path kData = LOUPE_TEST_DATA_DIR;
// breast_cancer.csv's first 150 rows with cells blanked, for the XGBoost fixture (an absolute path, which
// `kData / path` keeps).
const std::string kMissingCsv = (kFixtures / "breast_cancer_missing.csv").string();

// Every test but the docs check needs a build with ONNX support (LOUPE_WITH_ONNX).
class OnnxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!onnx::OnnxSupported()) GTEST_SKIP() << "this build has no ONNX support (libonnx-dev missing)";
  }
};
using OnnxModels = OnnxTest;
using OnnxTreeEnsemble = OnnxTest;
using OnnxRefusals = OnnxTest;

nlohmann::json ReadJson(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::shared_ptr<const Model> Load(const std::string& name) {
  auto model = LoadModel(kFixtures / (name + ".onnx"));
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? *model : nullptr;
}

// The first `rows` rows of a data file as the model's inputs, f64 [rows, inputs], read by column name.
Tensor Inputs(const Model& model, const std::string& data, std::int64_t rows) {
  auto dataset = ReadCsv(kData / data);
  EXPECT_TRUE(dataset.ok()) << dataset.status().message();
  const auto& inputs = model.Info().inputs;
  Tensor x(DType::kF64, {rows, static_cast<std::int64_t>(inputs.size())});
  for (std::size_t j = 0; j < inputs.size(); ++j) {
    const Column* column = dataset->Find(inputs[j].name);
    EXPECT_NE(column, nullptr) << inputs[j].name;
    for (std::int64_t r = 0; r < rows; ++r) {
      x.data<double>()[r * static_cast<std::int64_t>(inputs.size()) + static_cast<std::int64_t>(j)] =
          column->values()[static_cast<std::size_t>(r)];
    }
  }
  return x;
}

// float32 outputs against the framework's float64 (<name>_reference.json) and ONNX Runtime's float32
// (<name>_ort.json, ort_reference.js): 1e-5 relative to the value's size (one float32 step of a regression
// value near 150 is 1.5e-5).
void ExpectMatchesOutputs(const std::string& name, const std::string& data,
                          const std::string& reference_file);

void ExpectMatchesReference(const std::string& name, const std::string& data) {
  ExpectMatchesOutputs(name, data, name + "_reference.json");
  ExpectMatchesOutputs(name, data, name + "_ort.json");
}

void ExpectMatchesOutputs(const std::string& name, const std::string& data,
                          const std::string& reference_file) {
  SCOPED_TRACE(reference_file);
  const auto model = Load(name);
  ASSERT_NE(model, nullptr);
  const nlohmann::json reference = ReadJson(kFixtures / reference_file);
  const auto& expected = reference["outputs"];
  const auto rows = static_cast<std::int64_t>(expected.size());
  const Tensor x = Inputs(*model, data, rows);
  auto predicted = model->Predict(x.view(), model->Info().default_space());
  ASSERT_TRUE(predicted.ok()) << predicted.status().message();
  const auto n_out = static_cast<std::int64_t>(expected[0].size());
  ASSERT_EQ(predicted->dim(1), n_out);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t o = 0; o < n_out; ++o) {
      const double want = expected[static_cast<std::size_t>(r)][static_cast<std::size_t>(o)].get<double>();
      EXPECT_NEAR(predicted->data<double>()[r * n_out + o], want, 1e-5 * std::max(1.0, std::abs(want)))
          << "row " << r << " output " << o;
    }
  }
}

TEST_F(OnnxModels, RandomForestClassifierEqualsScikitLearn) {
  ExpectMatchesReference("breast_cancer_rf", "breast_cancer.csv");
}
TEST_F(OnnxModels, GradientBoostingClassifierEqualsScikitLearn) {
  ExpectMatchesReference("breast_cancer_gb", "breast_cancer.csv");
}
TEST_F(OnnxModels, GradientBoostingRegressorEqualsScikitLearn) {
  ExpectMatchesReference("diabetes_gbr", "diabetes.csv");
}
TEST_F(OnnxModels, EveryBranchModeTakesScikitLearnsDecisions) {
  ExpectMatchesReference("diabetes_gbr_modes", "diabetes.csv");
}
TEST_F(OnnxModels, ColumnInputsImputerScalerNormalizerExtractorLinearEqualNumpy) {
  ExpectMatchesReference("diabetes_pipeline", "diabetes.csv");
}
TEST_F(OnnxModels, ScalerLinearClassifierEqualsLogisticRegression) {
  ExpectMatchesReference("breast_cancer_logreg", "breast_cancer.csv");
}
// Slice, Split, MatMul of runtime tensors, Softmax, Where, Greater, ReduceMean / ReduceMax,
// LayerNormalization, Erf, Transpose, Reshape, Concat and the shape arithmetic of an opset-17 export.
TEST_F(OnnxModels, TorchExportedAttentionStyleOpsEqualPyTorch) {
  ExpectMatchesReference("breast_cancer_ops", "breast_cancer.csv");
}
TEST_F(OnnxModels, TorchExportedMlpEqualsPyTorch) {
  ExpectMatchesReference("breast_cancer_mlp", "breast_cancer.csv");
}

TEST_F(OnnxModels, ExtraTreesClassifierEqualsScikitLearn) {
  ExpectMatchesReference("breast_cancer_extra_trees", "breast_cancer.csv");
}
// An XGBoost booster trained with missing values, converted as onnxmltools does (BRANCH_LT, missing
// values tracking `yes`): NaN cells take XGBoost's default directions.
TEST_F(OnnxModels, XGBoostBoosterWithMissingValuesEqualsXGBoost) {
  ExpectMatchesReference("breast_cancer_xgb", (kFixtures / "breast_cancer_missing.csv").string());
}

// BRANCH_EQ, BRANCH_NEQ, missing values tracking true and false on a hand-written regressor: equal to the
// fixture script's direct evaluation and to ONNX Runtime (NaN != t is true, as IEEE and the runtime say);
// such a model predicts but offers no tree_ensemble capability (the view has no equality splits).
TEST_F(OnnxTreeEnsemble, EqualityModesAndMissingTracksEqualOnnxRuntime) {
  const auto model = Load("hand_modes");
  ASSERT_NE(model, nullptr);
  const nlohmann::json reference = ReadJson(kFixtures / "hand_modes_reference.json");
  const nlohmann::json ort = ReadJson(kFixtures / "hand_modes_ort.json");
  const auto rows = static_cast<std::int64_t>(reference["inputs"].size());
  Tensor x(DType::kF64, {rows, 3});
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < 3; ++c) {
      const auto& cell = reference["inputs"][static_cast<std::size_t>(r)][static_cast<std::size_t>(c)];
      x.data<double>()[r * 3 + c] = cell.is_null() ? std::nan("") : cell.get<double>();
    }
  }
  auto y = model->Predict(x.view(), OutputSpace::kRaw);
  ASSERT_TRUE(y.ok()) << y.status().message();
  for (std::int64_t r = 0; r < rows; ++r) {
    EXPECT_EQ(y->data<double>()[r], reference["outputs"][static_cast<std::size_t>(r)][0].get<double>()) << r;
    EXPECT_EQ(y->data<double>()[r], ort["outputs"][static_cast<std::size_t>(r)][0].get<double>()) << r;
  }
  EXPECT_EQ(model->tree_ensemble(), nullptr);
}

// post_transform PROBIT follows ONNX Runtime's approximation of erfinv.
TEST_F(OnnxModels, ProbitRegressorEqualsOnnxRuntime) {
  ExpectMatchesOutputs("breast_cancer_probit", "breast_cancer.csv", "breast_cancer_probit_ort.json");
}

TEST_F(OnnxModels, DescribesInputsOutputsAndLabels) {
  const auto rf = Load("breast_cancer_rf");
  ASSERT_NE(rf, nullptr);
  EXPECT_EQ(rf->Info().task, Task::kClassification);
  EXPECT_EQ(rf->Info().inputs.size(), 30u);
  EXPECT_EQ(rf->Info().inputs[0].name, "mean radius");
  EXPECT_EQ(rf->Info().output_names, (std::vector<std::string>{"0", "1"}));
  const auto gb = Load("breast_cancer_gb");
  ASSERT_NE(gb, nullptr);
  EXPECT_EQ(gb->Info().output_names, (std::vector<std::string>{"malignant", "benign"}));
  EXPECT_EQ(gb->Info().raw_output_names, (std::vector<std::string>{"benign"}));  // one margin
  const auto pipeline = Load("diabetes_pipeline");
  ASSERT_NE(pipeline, nullptr);
  EXPECT_EQ(pipeline->Info().task, Task::kRegression);
  EXPECT_EQ(pipeline->Info().inputs.size(), 10u);  // one graph input per column
  EXPECT_EQ(pipeline->Info().inputs[2].name, "bmi");
  EXPECT_EQ(pipeline->Info().output_names, (std::vector<std::string>{"value"}));
}

TEST_F(OnnxModels, RawOutputsAreTheScoresBeforeTheTransform) {
  const auto gb = Load("breast_cancer_gb");
  const auto mlp = Load("breast_cancer_mlp");
  ASSERT_NE(gb, nullptr);
  ASSERT_NE(mlp, nullptr);
  for (const auto& model : {gb, mlp}) {
    const Tensor x = Inputs(*model, "breast_cancer.csv", 20);
    auto p = model->Predict(x.view(), OutputSpace::kProbability);
    auto raw = model->Predict(x.view(), OutputSpace::kRaw);
    ASSERT_TRUE(p.ok() && raw.ok());
    for (std::int64_t r = 0; r < 20; ++r) {
      const double* logits = raw->data<double>() + r * raw->dim(1);
      // Binary margin: sigmoid; two logits: softmax.
      const double p1 = raw->dim(1) == 1 ? 1.0 / (1.0 + std::exp(-logits[0]))
                                         : 1.0 / (1.0 + std::exp(logits[0] - logits[1]));
      EXPECT_NEAR(p->data<double>()[r * 2 + 1], p1, 1e-6);
    }
  }
}

// The capability describes the same function the model computes: its margins equal the raw outputs.
TEST_F(OnnxTreeEnsemble, ViewMarginsEqualTheModelsRawOutputs) {
  for (const auto& [name, data] :
       std::vector<std::pair<std::string, std::string>>{{"breast_cancer_rf", "breast_cancer.csv"},
                                                        {"breast_cancer_gb", "breast_cancer.csv"},
                                                        {"diabetes_gbr", "diabetes.csv"},
                                                        {"diabetes_gbr_modes", "diabetes.csv"},
                                                        {"breast_cancer_extra_trees", "breast_cancer.csv"},
                                                        {"breast_cancer_xgb", kMissingCsv}}) {
    SCOPED_TRACE(name);
    const auto model = Load(name);
    ASSERT_NE(model, nullptr);
    ASSERT_NE(model->tree_ensemble(), nullptr);
    const TreeEnsembleView& view = model->tree_ensemble()->view();
    const Tensor x = Inputs(*model, data, 100);
    auto raw = model->Predict(x.view(), OutputSpace::kRaw);
    ASSERT_TRUE(raw.ok());
    const auto n_out = static_cast<std::int64_t>(view.n_outputs());
    ASSERT_EQ(raw->dim(1), n_out);
    std::vector<double> margins(static_cast<std::size_t>(n_out));
    for (std::int64_t r = 0; r < 100; ++r) {
      view.Margins(x.data<double>() + r * x.dim(1), margins.data());
      for (std::int64_t o = 0; o < n_out; ++o) {
        const double model_margin = raw->data<double>()[r * n_out + o];
        EXPECT_NEAR(margins[static_cast<std::size_t>(o)], model_margin,
                    1e-6 * std::max(1.0, std::abs(model_margin)));
      }
    }
  }
}

TEST_F(OnnxTreeEnsemble, LinearModelsAndNetworksOfferNoTrees) {
  EXPECT_EQ(Load("breast_cancer_logreg")->tree_ensemble(), nullptr);
  EXPECT_EQ(Load("breast_cancer_mlp")->tree_ensemble(), nullptr);
}

// shap.tree (interventional, the fixture's background rows) on the converted models equals
// shap.TreeExplainer on the scikit-learn models, through a whole in-process pipeline run.
void ExpectShapTreeEqualsTreeExplainer(const std::string& name, const std::string& data,
                                       const std::string& target) {
  SCOPED_TRACE(name);
  const std::filesystem::path plugin = std::filesystem::path(LOUPE_PLUGIN_DIR) / "libloupe_shap.so";
  if (!std::filesystem::exists(plugin)) GTEST_SKIP() << "the shap plugin is not built: " << plugin;
  const nlohmann::json reference = ReadJson(kFixtures / (name + "_reference.json"));
  const auto n_rows = reference["shap_rows"].size();
  const std::filesystem::path out = std::filesystem::temp_directory_path() / ("loupe_onnx_shap_" + name);
  const std::string text = "version: 1\nname: onnx-shap\ndata: {path: " + (kData / data).string() +
                           ", target: " + target +
                           "}\nmodel: {type: onnx, path: " + (kFixtures / (name + ".onnx")).string() +
                           "}\nsteps:\n  - id: tree\n    explainer: shap.tree\n"
                           "    rows: \"0:" +
                           std::to_string(n_rows) + "\"\n    params: {background: \"" +
                           reference["background"].get<std::string>() + "\"}\noutput: {dir: " + out.string() +
                           ", formats: [json]}\n";
  ParseOutcome parsed = ParsePipelineText(text, out / "pipeline.yaml");
  ASSERT_TRUE(parsed.spec.has_value()) << (parsed.diagnostics.empty() ? "" : parsed.diagnostics[0].message);
  PluginRegistry registry;
  ASSERT_TRUE(registry.Load(plugin).ok());
  PipelineCheck check = ValidatePipeline(*parsed.spec, registry);
  ASSERT_TRUE(check.diagnostics.empty()) << check.diagnostics[0].message;
  RunOptions options;
  options.model = check.model;
  options.quiet = true;
  const RunReport report = RunPipeline(*parsed.spec, registry, options);
  ASSERT_TRUE(report.status.ok()) << report.status.message() << " " << report.steps[0].message;
  const nlohmann::json explanation = ReadJson(out / "tree.json");
  const auto& values = explanation["values"];
  const auto& expected = reference["shap_values"];
  ASSERT_EQ(values.size(), expected.size());
  for (std::size_t r = 0; r < values.size(); ++r) {
    ASSERT_EQ(values[r].size(), expected[r].size());
    for (std::size_t o = 0; o < values[r].size(); ++o) {
      for (std::size_t f = 0; f < values[r][o].size(); ++f) {
        EXPECT_NEAR(values[r][o][f].get<double>(), expected[r][o][f].get<double>(), 1e-6)
            << "row " << r << " output " << o << " feature " << f;
      }
      EXPECT_NEAR(explanation["base_values"][r][o].get<double>(),
                  reference["expected_value"][o].get<double>(), 1e-6);
    }
  }
  std::filesystem::remove_all(out);
}

TEST_F(OnnxTreeEnsemble, ShapTreeOnARandomForestEqualsTreeExplainer) {
  ExpectShapTreeEqualsTreeExplainer("breast_cancer_rf", "breast_cancer.csv", "target");
}
TEST_F(OnnxTreeEnsemble, ShapTreeOnAGradientBoostingClassifierEqualsTreeExplainer) {
  ExpectShapTreeEqualsTreeExplainer("breast_cancer_gb", "breast_cancer.csv", "target");
}
TEST_F(OnnxTreeEnsemble, ShapTreeOnExtraTreesEqualsTreeExplainer) {
  ExpectShapTreeEqualsTreeExplainer("breast_cancer_extra_trees", "breast_cancer.csv", "target");
}
TEST_F(OnnxTreeEnsemble, ShapTreeOnAConvertedXGBoostBoosterEqualsTreeExplainer) {
  ExpectShapTreeEqualsTreeExplainer("breast_cancer_xgb", kMissingCsv, "target");
}
TEST_F(OnnxTreeEnsemble, ShapTreeOnAGradientBoostingRegressorEqualsTreeExplainer) {
  ExpectShapTreeEqualsTreeExplainer("diabetes_gbr", "diabetes.csv", "target");
}

// ---- Refusals: one sentence each, a status that exits 2 ----------------------------------------------

void ExpectRefused(const std::filesystem::path& path, const std::vector<std::string>& fragments) {
  SCOPED_TRACE(path.string());
  auto model = LoadModel(path);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(ExitCodeFor(model.status().code()), 2);
  const std::string& message = model.status().message();
  for (const std::string& fragment : fragments)
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  EXPECT_EQ(message.back(), '.');
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

TEST_F(OnnxRefusals, UnsupportedOperatorNamesOpNodeDomainOpsetAndTheSupportedList) {
  ExpectRefused(kFixtures / "refuse_unsupported_op.onnx",
                {"Celu", "'odd_activation'", "ai.onnx", "opset 13", "supported: ai.onnx: Abs, Add",
                 "TreeEnsembleClassifier"});
}
TEST_F(OnnxRefusals, IrVersionOutOfRange) {
  ExpectRefused(kFixtures / "refuse_ir_version.onnx", {"IR version 3", "7 to 9"});
}
TEST_F(OnnxRefusals, OpsetOutOfRange) {
  ExpectRefused(kFixtures / "refuse_opset.onnx", {"opset 9", "11 to 20"});
}
TEST_F(OnnxRefusals, ShapesThatDisagree) {
  ExpectRefused(kFixtures / "refuse_shapes.onnx", {"'dense' (Gemm)", "shapes disagree"});
}
TEST_F(OnnxRefusals, ExternalDataWithoutItsFile) {
  ExpectRefused(kFixtures / "refuse_external_data.onnx", {"missing_weights.bin", "not beside the model"});
}
TEST_F(OnnxRefusals, TruncatedProtobuf) {
  std::ifstream in(kFixtures / "breast_cancer_rf.onnx", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::filesystem::path truncated = std::filesystem::temp_directory_path() / "loupe_truncated.onnx";
  std::ofstream(truncated, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  ExpectRefused(truncated, {"not a complete ONNX protobuf", "truncated"});
  std::filesystem::remove(truncated);
}

// ---- Reentrancy and docs -------------------------------------------------------------------------------

TEST_F(OnnxModels, ConcurrentPredictEqualsSequentialBitForBit) {
  for (const std::string name : {"breast_cancer_mlp", "breast_cancer_rf"}) {
    const auto model = Load(name);
    ASSERT_NE(model, nullptr);
    const Tensor x = Inputs(*model, "breast_cancer.csv", 300);
    auto sequential = model->Predict(x.view(), OutputSpace::kProbability);
    ASSERT_TRUE(sequential.ok());
    std::vector<Tensor> results(4);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < results.size(); ++t) {
      threads.emplace_back([&, t] {
        for (int repeat = 0; repeat < 5; ++repeat)
          results[t] = *model->Predict(x.view(), OutputSpace::kProbability);
      });
    }
    for (auto& thread : threads) thread.join();
    for (const Tensor& result : results) {
      ASSERT_EQ(result.size(), sequential->size());
      EXPECT_EQ(std::memcmp(result.data<double>(), sequential->data<double>(),
                            sizeof(double) * static_cast<std::size_t>(result.size())),
                0);
    }
  }
}

// docs/onnx_operators.md is generated from the registry: regenerate with LOUPE_UPDATE_DOCS=1.
TEST(OnnxDocs, OperatorTableMatchesTheRegistry) {
  const std::filesystem::path doc = std::filesystem::path(LOUPE_SOURCE_DIR) / "docs/onnx_operators.md";
  const std::string header =
      "# ONNX operators Loupe executes\n\n"
      "Generated from the operator registry (core/src/onnx/ops.hpp) by tests/core/onnx/onnx_model_test.cpp\n"
      "(`LOUPE_UPDATE_DOCS=1 build/bin/loupe_onnx_tests --gtest_filter=OnnxDocs.*`); do not edit by hand.\n"
      "IR versions " +
      std::to_string(onnx::kMinIrVersion) + " to " + std::to_string(onnx::kMaxIrVersion) + ", opsets " +
      std::to_string(onnx::kMinOpset) + " to " + std::to_string(onnx::kMaxOpset) +
      " of the default domain, 1 to " + std::to_string(onnx::kMaxMlOpset) +
      " of ai.onnx.ml. See docs/onnx.md.\n\n";
  const std::string generated = header + onnx::OpsMarkdown();
  if (std::getenv("LOUPE_UPDATE_DOCS") != nullptr) std::ofstream(doc) << generated;
  std::ifstream in(doc);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), generated) << "regenerate docs/onnx_operators.md (see the test's comment)";
}

}  // namespace
}  // namespace loupe
