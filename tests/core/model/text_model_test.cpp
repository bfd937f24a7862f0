// Text models against PyTorch (tests/fixtures/text/train_text_models.py): class probabilities of the
// transformer, LSTM + attention pooling and LSTM + transformer models, per-layer per-head attention
// probabilities, attention-pooling weights, and one-sentence errors for bad model files.
#include "model/text_model.hpp"

#include <gtest/gtest.h>

#include "nn/ops.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#include "loupe/core/attention.hpp"

namespace loupe::model {
namespace {

const std::filesystem::path kTextModelFixtures =
    std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/text";

nlohmann::json Reference() {
  std::ifstream in(kTextModelFixtures / "reference.json");
  return nlohmann::json::parse(in);
}

std::vector<float> ReadF32(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

Result<std::shared_ptr<const Model>> LoadText(const std::filesystem::path& file) {
  config::YamlParseOutcome parsed = config::LoadYamlFile(file);
  if (!parsed.diagnostics.empty()) return InvalidArgument(parsed.diagnostics.front().ToString());
  return LoadTextModel(*parsed.document, file);
}

// Writes `yaml` next to the fixtures' vocabulary and weights and loads it.
Status LoadError(const std::string& name, const std::string& yaml) {
  const std::filesystem::path file = kTextModelFixtures / ("bad_" + name + ".yaml");
  {
    std::ofstream out(file);
    out << yaml;
  }
  Result<std::shared_ptr<const Model>> model = LoadText(file);
  std::filesystem::remove(file);
  return model.ok() ? Status::Ok() : model.status();
}

std::vector<std::string> FixtureTexts(const nlohmann::json& ref) {
  return ref["texts"].get<std::vector<std::string>>();
}

void ExpectProbabilities(const std::string& model_name) {
  const nlohmann::json ref = Reference();
  auto model = LoadText(kTextModelFixtures / (model_name + ".yaml"));
  ASSERT_TRUE(model.ok()) << model.status().message();
  const auto* text = (*model)->text_model();
  ASSERT_NE(text, nullptr);
  Result<Tensor> p = text->PredictText(FixtureTexts(ref), OutputSpace::kProbability);
  ASSERT_TRUE(p.ok()) << p.status().message();
  const auto& expected = ref[model_name];
  ASSERT_EQ(p->dim(0), static_cast<std::int64_t>(expected.size()));
  ASSERT_EQ(p->dim(1), 8);
  for (std::int64_t r = 0; r < p->dim(0); ++r) {
    for (std::int64_t c = 0; c < 8; ++c) {
      EXPECT_NEAR(p->data<double>()[r * 8 + c], expected[r][c].get<double>(), 1e-5)
          << "text " << r << " class " << c;
    }
  }
  // Raw outputs are the logits: their softmax is the probabilities.
  Result<Tensor> raw = text->PredictText({FixtureTexts(ref)[0]}, OutputSpace::kRaw);
  ASSERT_TRUE(raw.ok());
  double max = raw->data<double>()[0], sum = 0;
  for (int c = 0; c < 8; ++c) max = std::max(max, raw->data<double>()[c]);
  for (int c = 0; c < 8; ++c) sum += std::exp(raw->data<double>()[c] - max);
  EXPECT_NEAR(std::exp(raw->data<double>()[0] - max) / sum, expected[0][0].get<double>(), 1e-5);
}

TEST(TextModelTest, TransformerEqualsPyTorch) { ExpectProbabilities("transformer"); }

// bf16 projections (AVX512-BF16/AMX where the CPU has them, f32 otherwise) stay within the documented
// tolerance of PyTorch's f32 probabilities: 2e-2, as for the dense models.
TEST(TextModelTest, TransformerInBf16StaysNearPyTorch) {
  std::ifstream in(kTextModelFixtures / "transformer.yaml");
  std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  yaml += "precision: bf16\n";
  const std::filesystem::path file = kTextModelFixtures / "bf16_transformer.yaml";
  std::ofstream(file) << yaml;
  auto model = LoadText(file);
  std::filesystem::remove(file);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const nlohmann::json ref = Reference();
  const auto* text = (*model)->text_model();
  Result<Tensor> p = text->PredictText(FixtureTexts(ref), OutputSpace::kProbability);
  ASSERT_TRUE(p.ok()) << p.status().message();
  double worst = 0;
  for (std::int64_t i = 0; i < p->size(); ++i) {
    worst = std::max(worst, std::fabs(p->data<double>()[i] - ref["transformer"][i / 8][i % 8].get<double>()));
  }
  EXPECT_LT(worst, 2e-2);
  // On a CPU with bf16 the projections really ran in bf16: the result differs from the f32 model's.
  if (nn::Bf16Supported()) {
    auto f32 = LoadText(kTextModelFixtures / "transformer.yaml");
    ASSERT_TRUE(f32.ok());
    const auto* f32_text = (*f32)->text_model();
    Result<Tensor> q = f32_text->PredictText(FixtureTexts(ref), OutputSpace::kProbability);
    ASSERT_TRUE(q.ok());
    double difference = 0;
    for (std::int64_t i = 0; i < p->size(); ++i) {
      difference = std::max(difference, std::fabs(p->data<double>()[i] - q->data<double>()[i]));
    }
    EXPECT_GT(difference, 0.0);
  }
  const Status refused =
      LoadError("precision",
                "format: loupe.model/v1\nname: t\ntask: classification\nclasses: [a, b]\n"
                "input: {name: text, type: text}\ntokenizer: {type: whitespace, vocab: vocab.txt}\n"
                "weights: transformer.safetensors\nprecision: f16\nlayers: [{type: softmax}]\n");
  EXPECT_NE(refused.message().find(":8:12: precision of a text model must be f32 or bf16, found 'f16'."),
            std::string::npos)
      << refused.message();
}
TEST(TextModelTest, LstmWithAttentionPoolingEqualsPyTorch) { ExpectProbabilities("lstm"); }
TEST(TextModelTest, StackedLstmAndClsTransformerEqualsPyTorch) { ExpectProbabilities("tiny"); }

void ExpectAttention(const std::string& model_name, std::int64_t layers) {
  const nlohmann::json ref = Reference();
  auto model = LoadText(kTextModelFixtures / (model_name + ".yaml"));
  ASSERT_TRUE(model.ok()) << model.status().message();
  const auto* source = (*model)->attention_source();
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->AttentionLayers(), layers);
  EXPECT_EQ(source->AttentionHeads(), 2);
  const auto which = ref["attention_texts"].get<std::vector<std::size_t>>();
  std::vector<std::string> texts;
  for (std::size_t i : which) texts.push_back(ref["texts"][i].get<std::string>());
  Result<std::vector<AttentionMaps>> maps = source->Attention(texts);
  ASSERT_TRUE(maps.ok()) << maps.status().message();
  const std::vector<float> expected = ReadF32(kTextModelFixtures / (model_name + "_attention.bin"));
  std::size_t offset = 0;
  for (std::size_t i = 0; i < which.size(); ++i) {
    const AttentionMaps& m = (*maps)[i];
    EXPECT_EQ(m.tokens.tokens, ref["tokens"][which[i]].get<std::vector<std::string>>());
    ASSERT_EQ(m.probabilities.size(),
              static_cast<std::size_t>(layers * 2 * m.tokens.size() * m.tokens.size()));
    ASSERT_LE(offset + m.probabilities.size(), expected.size());
    for (std::size_t k = 0; k < m.probabilities.size(); ++k) {
      ASSERT_NEAR(m.probabilities[k], expected[offset + k], 1e-5) << "text " << which[i] << " value " << k;
    }
    offset += m.probabilities.size();
  }
  EXPECT_EQ(offset, expected.size());
}

TEST(TextModelTest, TransformerAttentionEqualsPyTorchPerLayerAndHead) { ExpectAttention("transformer", 2); }
TEST(TextModelTest, HybridAttentionEqualsPyTorch) { ExpectAttention("tiny", 1); }

TEST(TextModelTest, AttentionPoolingWeightsEqualPyTorch) {
  const nlohmann::json ref = Reference();
  auto model = LoadText(kTextModelFixtures / "lstm.yaml");
  ASSERT_TRUE(model.ok()) << model.status().message();
  const auto* source = (*model)->attention_source();
  ASSERT_NE(source, nullptr);
  EXPECT_TRUE(source->HasPooling());
  EXPECT_EQ(source->AttentionLayers(), 0);
  Result<std::vector<AttentionMaps>> maps = source->Attention(FixtureTexts(ref));
  ASSERT_TRUE(maps.ok()) << maps.status().message();
  for (std::size_t i = 0; i < maps->size(); ++i) {
    const auto expected = ref["lstm_pooling"][i].get<std::vector<double>>();
    ASSERT_EQ((*maps)[i].pooling.size(), expected.size());
    for (std::size_t k = 0; k < expected.size(); ++k) EXPECT_NEAR((*maps)[i].pooling[k], expected[k], 1e-5);
  }
}

TEST(TextModelTest, PredictOnHandlesIsRefusedWithASentence) {
  auto model = LoadText(kTextModelFixtures / "lstm.yaml");
  ASSERT_TRUE(model.ok());
  const Tensor batch(DType::kF64, {1, 1});
  Result<Tensor> p = (*model)->Predict(batch.view(), OutputSpace::kProbability);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(),
            "model 'lstm' reads text: its input 'text' holds row numbers of a dataset's text column, which "
            "only the "
            "host can resolve; evaluate it through a FeatureModel or the model's text capability.");
}

const char* kHead = R"(format: loupe.model/v1
name: bad
task: classification
classes: [a, b, c, d, e, f, g, h]
input: {name: text, type: text}
)";

TEST(TextModelTest, BadModelsFailWithOneSentence) {
  const std::string file = (kTextModelFixtures / "bad_").string();
  EXPECT_EQ(
      LoadError("tok", std::string(kHead) +
                           "tokenizer: {type: sentencepiece, vocab: vocab.txt}\nweights: lstm.safetensors\n"
                           "layers:\n  - {type: embedding, name: emb}\n")
          .message(),
      file +
          "tok.yaml:6:19: unknown tokenizer type 'sentencepiece'; expected whitespace, wordpiece or "
          "huggingface.");
  const std::string tokenizer =
      "tokenizer: {type: whitespace, vocab: vocab.txt}\nweights: lstm.safetensors\n";
  EXPECT_EQ(
      LoadError("missing", std::string(kHead) + tokenizer +
                               "layers:\n  - {type: embedding, name: emb}\n  - {type: lstm, name: rnn}\n")
          .message(),
      file + "missing.yaml:10:24: layer 1 (lstm rnn): '" +
          (kTextModelFixtures / "lstm.safetensors").string() + "' has no tensor 'rnn.weight_hh_l0'.");
  EXPECT_EQ(LoadError("shape", std::string(kHead) + tokenizer +
                                   "layers:\n  - {type: embedding, name: emb}\n"
                                   "  - {type: lstm, name: lstm, num_layers: 1, bidirectional: true}\n"
                                   "  - {type: pool, mode: attention, name: head}\n")
                .message(),
            file + "shape.yaml:11:41: layer 2 (pool head): weight has shape [8, 48], expected [1, 48].");
  const std::string unknown = file + "layer.yaml:10:12: unknown layer type 'convolution'; expected one of: ";
  const std::string message =
      LoadError("layer", std::string(kHead) + tokenizer +
                             "layers:\n  - {type: embedding, name: emb}\n  - {type: convolution, name: c}\n")
          .message();
  EXPECT_EQ(message.substr(0, unknown.size()), unknown);
  EXPECT_NE(message.find("transformer_encoder"), std::string::npos) << message;
}

}  // namespace
}  // namespace loupe::model
