// ONNX text models (model/onnx_model.cpp, OnnxLoadOptions): a PyTorch transformer (nn.TransformerEncoder,
// whose nn.MultiheadAttention torch.onnx.export writes as MatMul / Softmax / Reshape / Transpose nodes)
// exported at opsets 14 and 17 by tests/fixtures/onnx/make_onnx_fixtures.py, read with its tokenizer.json and
// the attention softmax tensors named as a pipeline's model.attention names them. Its probabilities and
// attention equal PyTorch's and ONNX Runtime's, and attention.rollout through the attention plugin equals
// rollout computed in the fixture script from PyTorch's nn.MultiheadAttention weights. Also model.features.
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loupe/core/attention.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"
#include "model/onnx_model.hpp"
#include "onnx/graph.hpp"

namespace loupe::onnx_text_test {

const std::filesystem::path kTextFixtures = std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/onnx";
const std::filesystem::path kTextData = LOUPE_TEST_DATA_DIR;

class OnnxTextModels : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (!onnx::OnnxSupported()) GTEST_SKIP() << "this build has no ONNX support (libonnx-dev missing)";
  }
  std::filesystem::path ModelPath() const {
    return kTextFixtures / ("text_transformer_opset" + std::to_string(GetParam()) + ".onnx");
  }
};

nlohmann::json ReadTextJson(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

const nlohmann::json& TextReference() {
  static const nlohmann::json reference = ReadTextJson(kTextFixtures / "text_transformer_reference.json");
  return reference;
}

std::vector<std::string> ReferenceTexts() { return TextReference()["texts"].get<std::vector<std::string>>(); }

OnnxLoadOptions TextOptions() {
  OnnxLoadOptions options;
  options.tokenizer = kTextFixtures / "text_tokenizer.json";
  options.attention = TextReference()["attention_tensors"].get<std::vector<std::string>>();
  return options;
}

std::shared_ptr<const Model> LoadText(const std::filesystem::path& path, const OnnxLoadOptions& options) {
  auto model = LoadOnnxModel(path, options);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? *model : nullptr;
}

// The plugin's rollout (plugins/attention/src/attention_math.cpp), for comparing with the reference: heads
// averaged, the identity added, rows renormalised, multiplied from the first layer up.
std::vector<double> RolloutOf(const AttentionMaps& maps) {
  const std::int64_t t = maps.tokens.size();
  std::vector<double> rollout(static_cast<std::size_t>(t * t), 0.0);
  for (std::int64_t i = 0; i < t; ++i) rollout[static_cast<std::size_t>(i * t + i)] = 1.0;
  for (std::int64_t l = 0; l < maps.layers; ++l) {
    std::vector<double> adjusted(static_cast<std::size_t>(t * t), 0.0);
    for (std::int64_t h = 0; h < maps.heads; ++h) {
      for (std::int64_t k = 0; k < t * t; ++k) {
        adjusted[static_cast<std::size_t>(k)] +=
            maps.probabilities[static_cast<std::size_t>((l * maps.heads + h) * t * t + k)] /
            static_cast<double>(maps.heads);
      }
    }
    for (std::int64_t q = 0; q < t; ++q) {
      adjusted[static_cast<std::size_t>(q * t + q)] += 1.0;
      double sum = 0.0;
      for (std::int64_t k = 0; k < t; ++k) sum += adjusted[static_cast<std::size_t>(q * t + k)];
      for (std::int64_t k = 0; k < t; ++k) adjusted[static_cast<std::size_t>(q * t + k)] /= sum;
    }
    std::vector<double> next(static_cast<std::size_t>(t * t), 0.0);
    for (std::int64_t q = 0; q < t; ++q) {
      for (std::int64_t m = 0; m < t; ++m) {
        for (std::int64_t k = 0; k < t; ++k) {
          next[static_cast<std::size_t>(q * t + k)] +=
              adjusted[static_cast<std::size_t>(q * t + m)] * rollout[static_cast<std::size_t>(m * t + k)];
        }
      }
    }
    rollout.swap(next);
  }
  return rollout;
}

TEST_P(OnnxTextModels, DescribesOneTextInputClassesAndAttention) {
  const auto model = LoadText(ModelPath(), TextOptions());
  ASSERT_NE(model, nullptr);
  const ModelInfo& info = model->Info();
  ASSERT_EQ(info.inputs.size(), 1u);
  EXPECT_EQ(info.inputs[0].name, "text");
  EXPECT_EQ(info.inputs[0].type, ColumnType::kText);
  EXPECT_EQ(info.task, Task::kClassification);
  EXPECT_EQ(info.output_names, TextReference()["classes"].get<std::vector<std::string>>());
  ASSERT_NE(model->text_model(), nullptr);
  ASSERT_NE(model->attention_source(), nullptr);
  EXPECT_EQ(model->attention_source()->AttentionLayers(), 2);
  EXPECT_EQ(model->attention_source()->AttentionHeads(), 2);
  // Without model.attention it is a text model without the attention capability.
  OnnxLoadOptions plain = TextOptions();
  plain.attention.clear();
  plain.features = {"saying"};
  const auto without = LoadText(ModelPath(), plain);
  ASSERT_NE(without, nullptr);
  EXPECT_EQ(without->attention_source(), nullptr);
  EXPECT_EQ(without->Info().inputs[0].name, "saying");
  // Without a tokenizer the token ids are an input Loupe cannot fill, and the refusal says what to give.
  const auto untokenized = LoadOnnxModel(ModelPath(), {});
  ASSERT_FALSE(untokenized.ok());
  EXPECT_NE(
      untokenized.status().message().find(
          "or token ids [N, T] of a text model given its tokenizer.json (model.tokenizer, loupe predict "
          "--tokenizer)."),
      std::string::npos)
      << untokenized.status().message();
  // LoadModel takes the same keys (what loupe serve, loupe predict and the Python package call).
  const OnnxLoadOptions keys = TextOptions();
  const auto loaded =
      LoadModel(ModelPath(), "auto",
                {.features = {"saying"}, .attention = keys.attention, .tokenizer = keys.tokenizer});
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ASSERT_NE((*loaded)->attention_source(), nullptr);
  EXPECT_EQ((*loaded)->attention_source()->AttentionLayers(), 2);
  EXPECT_EQ((*loaded)->Info().inputs[0].name, "saying");
}

TEST_P(OnnxTextModels, TokenIdsEqualTheFixtureScripts) {
  const auto model = LoadText(ModelPath(), TextOptions());
  ASSERT_NE(model, nullptr);
  const std::vector<std::string> texts = ReferenceTexts();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto tokens = model->text_model()->Tokenize(texts[i]);
    ASSERT_TRUE(tokens.ok());
    EXPECT_EQ(tokens->ids, TextReference()["ids"][i].get<std::vector<std::int64_t>>()) << texts[i];
  }
}

// Probabilities of all texts in one call (grouped by token count inside) against PyTorch (float64 of its
// float32) and ONNX Runtime, to 1e-5.
TEST_P(OnnxTextModels, ProbabilitiesEqualPyTorchAndOnnxRuntime) {
  const auto model = LoadText(ModelPath(), TextOptions());
  ASSERT_NE(model, nullptr);
  const std::vector<std::string> texts = ReferenceTexts();
  auto predicted = model->text_model()->PredictText(texts, OutputSpace::kProbability);
  ASSERT_TRUE(predicted.ok()) << predicted.status().message();
  const nlohmann::json ort =
      ReadTextJson(kTextFixtures / ("text_transformer_opset" + std::to_string(GetParam()) + "_ort.json"));
  const auto width = static_cast<std::size_t>(predicted->dim(1));
  for (std::size_t i = 0; i < texts.size(); ++i) {
    for (std::size_t k = 0; k < width; ++k) {
      const double value = predicted->data<double>()[i * width + k];
      EXPECT_NEAR(value, TextReference()["outputs"][i][k].get<double>(), 1e-5) << "text " << i;
      EXPECT_NEAR(value, ort["runs"][i]["probabilities"][k].get<double>(), 1e-5) << "text " << i;
    }
  }
  // The raw space is the Softmax's input: its softmax gives the probabilities back.
  auto raw = model->text_model()->PredictText(texts, OutputSpace::kRaw);
  ASSERT_TRUE(raw.ok()) << raw.status().message();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    double sum = 0.0;
    for (std::size_t k = 0; k < width; ++k) sum += std::exp(raw->data<double>()[i * width + k]);
    EXPECT_NEAR(std::exp(raw->data<double>()[i * width]) / sum, predicted->data<double>()[i * width], 1e-6);
  }
}

TEST_P(OnnxTextModels, AttentionAndRolloutEqualPyTorchsMultiheadAttention) {
  const auto model = LoadText(ModelPath(), TextOptions());
  ASSERT_NE(model, nullptr);
  const std::vector<std::string> texts = ReferenceTexts();
  auto maps = model->attention_source()->Attention(texts);
  ASSERT_TRUE(maps.ok()) << maps.status().message();
  const nlohmann::json ort =
      ReadTextJson(kTextFixtures / ("text_transformer_opset" + std::to_string(GetParam()) + "_ort.json"));
  const auto tensors = TextReference()["attention_tensors"].get<std::vector<std::string>>();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const AttentionMaps& m = (*maps)[i];
    const std::int64_t t = m.tokens.size();
    ASSERT_EQ(t, static_cast<std::int64_t>(TextReference()["ids"][i].size()));
    ASSERT_EQ(m.probabilities.size(), static_cast<std::size_t>(2 * 2 * t * t));
    for (std::int64_t l = 0; l < 2; ++l) {
      const auto& expected = TextReference()["attention"][i][static_cast<std::size_t>(l)];
      const auto& from_ort = ort["runs"][i][tensors[static_cast<std::size_t>(l)]];
      for (std::int64_t h = 0; h < 2; ++h) {
        for (std::int64_t q = 0; q < t; ++q) {
          for (std::int64_t k = 0; k < t; ++k) {
            const float value = m.probabilities[static_cast<std::size_t>(((l * 2 + h) * t + q) * t + k)];
            EXPECT_NEAR(value,
                        expected[static_cast<std::size_t>(h)][static_cast<std::size_t>(q)]
                                [static_cast<std::size_t>(k)]
                                    .get<double>(),
                        1e-5);
            EXPECT_NEAR(value, from_ort[static_cast<std::size_t>((h * t + q) * t + k)].get<double>(), 1e-5);
          }
        }
      }
    }
    const std::vector<double> rollout = RolloutOf(m);
    for (std::int64_t k = 0; k < t * t; ++k) {
      EXPECT_NEAR(
          rollout[static_cast<std::size_t>(k)],
          TextReference()["rollout"][i][static_cast<std::size_t>(k / t)][static_cast<std::size_t>(k % t)]
              .get<double>(),
          1e-5);
    }
  }
}

TEST_P(OnnxTextModels, AttentionIsNamedByNodeAsWellAsByTensor) {
  OnnxLoadOptions options = TextOptions();
  options.attention = {"/encoder/layers.0/self_attn/Softmax", "/encoder/layers.1/self_attn/Softmax"};
  const auto by_node = LoadText(ModelPath(), options);
  const auto by_tensor = LoadText(ModelPath(), TextOptions());
  ASSERT_NE(by_node, nullptr);
  ASSERT_NE(by_tensor, nullptr);
  auto a = by_node->attention_source()->Attention({"The computer crashed again."});
  auto b = by_tensor->attention_source()->Attention({"The computer crashed again."});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)[0].probabilities, (*b)[0].probabilities);
}

// attention.rollout through the attention plugin, in a whole in-process pipeline run whose model mapping
// has tokenizer and attention keys, equals the fixture script's rollout from PyTorch's weights.
TEST_P(OnnxTextModels, RolloutThroughAPipelineEqualsPyTorchs) {
  const std::filesystem::path plugin = std::filesystem::path(LOUPE_PLUGIN_DIR) / "libloupe_attention.so";
  if (!std::filesystem::exists(plugin)) GTEST_SKIP() << "the attention plugin is not built: " << plugin;
  const std::vector<int> rows = TextReference()["rows"].get<std::vector<int>>();
  const std::filesystem::path out =
      std::filesystem::temp_directory_path() / ("loupe_onnx_rollout_" + std::to_string(GetParam()));
  const auto tensors = TextReference()["attention_tensors"].get<std::vector<std::string>>();
  const std::string text =
      "version: 1\nname: onnx-rollout\ndata: {path: " + (kTextData / "fortunes_topics.csv").string() +
      ", target: topic, text: [text]}\nmodel:\n  type: onnx\n  path: " + ModelPath().string() +
      "\n  tokenizer: " + (kTextFixtures / "text_tokenizer.json").string() + "\n  attention: ['" +
      tensors[0] + "', '" + tensors[1] +
      "']\nsteps:\n  - id: rollout\n    explainer: attention.rollout\n    rows: " +
      nlohmann::json(rows).dump() + "\noutput: {dir: " + out.string() + ", formats: [json]}\n";
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
  const nlohmann::json explanation = ReadTextJson(out / "rollout.json");
  const auto& rollout = explanation["rollout"];
  ASSERT_EQ(rollout.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& expected = TextReference()["rollout"][i];
    ASSERT_EQ(rollout[i].size(), expected.size());
    for (std::size_t q = 0; q < expected.size(); ++q) {
      for (std::size_t k = 0; k < expected.size(); ++k)
        EXPECT_NEAR(rollout[i][q][k].get<double>(), expected[q][k].get<double>(), 1e-5);
    }
  }
  std::filesystem::remove_all(out);
}

TEST_P(OnnxTextModels, RefusesUnknownAttentionTensorsAndAttentionWithoutTokenizer) {
  OnnxLoadOptions options = TextOptions();
  options.attention = {"/encoder/layers.0/self_attn/Softmax_output_0", "no_such_tensor"};
  auto unknown = LoadOnnxModel(ModelPath(), options);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'no_such_tensor'"), std::string::npos)
      << unknown.status().message();
  EXPECT_EQ(ExitCodeFor(unknown.status().code()), 2);
  // A tensor that is not a [.., T, T] map: the logits.
  options.attention = {"/head/Gemm_output_0"};
  auto not_square = LoadOnnxModel(ModelPath(), options);
  ASSERT_FALSE(not_square.ok());
  EXPECT_NE(not_square.status().message().find("expected float"), std::string::npos)
      << not_square.status().message();
  OnnxLoadOptions no_tokenizer;
  no_tokenizer.attention = TextOptions().attention;
  auto refused = LoadOnnxModel(ModelPath(), no_tokenizer);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("model.tokenizer"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Opsets, OnnxTextModels, ::testing::Values(14, 17),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return "opset" + std::to_string(info.param);
                         });

// The pipeline keys of ONNX models are refused, with their position, on other model types.
TEST(OnnxPipelineKeys, ApplyToOnnxModelsOnly) {
  const std::string text =
      "version: 1\nname: keys\ndata: {path: d.csv}\nmodel:\n  type: native\n  path: m.yaml\n"
      "  attention: [a]\n  tokenizer: t.json\nsteps:\n  - id: s\n    explainer: shap.exact\n";
  ParseOutcome parsed = ParsePipelineText(text, "keys.yaml");
  ASSERT_EQ(parsed.diagnostics.size(), 2u);
  EXPECT_EQ(parsed.diagnostics[0].message, "model.attention applies to onnx models only (type: onnx)");
  EXPECT_EQ(parsed.diagnostics[0].pos.line, 7);
  EXPECT_EQ(parsed.diagnostics[1].message, "model.tokenizer applies to onnx models only (type: onnx)");
  const std::string onnx_text =
      "version: 1\nname: keys\ndata: {path: d.csv}\nmodel:\n  type: onnx\n  path: m.onnx\n"
      "  features: [text]\n  attention: [a, b]\n  tokenizer: t.json\nsteps:\n  - id: s\n"
      "    explainer: attention.rollout\n";
  ParseOutcome onnx_parsed = ParsePipelineText(onnx_text, "/tmp/keys.yaml");
  ASSERT_TRUE(onnx_parsed.spec.has_value());
  EXPECT_EQ(onnx_parsed.spec->model.features, (std::vector<std::string>{"text"}));
  EXPECT_EQ(onnx_parsed.spec->model.attention, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(onnx_parsed.spec->model.tokenizer, std::filesystem::path("/tmp/t.json"));
}

// model.features renames a tabular model's inputs (and must name each of them).
TEST(OnnxFeatures, RenameTheInputsOrAreRefused) {
  if (!onnx::OnnxSupported()) GTEST_SKIP() << "this build has no ONNX support (libonnx-dev missing)";
  std::vector<std::string> names;
  for (int k = 0; k < 30; ++k) names.push_back("x" + std::to_string(k));
  auto renamed = LoadOnnxModel(kTextFixtures / "breast_cancer_mlp.onnx", {.features = names});
  ASSERT_TRUE(renamed.ok()) << renamed.status().message();
  EXPECT_EQ((*renamed)->Info().inputs[29].name, "x29");
  names.pop_back();
  auto refused = LoadOnnxModel(kTextFixtures / "breast_cancer_mlp.onnx", {.features = names});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("model.features names 29 features"), std::string::npos)
      << refused.status().message();
}

}  // namespace loupe::onnx_text_test
