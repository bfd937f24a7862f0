// `model: {type: huggingface}`: the save_pretrained directories of tests/fixtures/hf_models (tiny BERT,
// DistilBERT and RoBERTa sequence classifiers with random weights, made by make_fixtures.py there) against
// PyTorch re-implementations of Hugging Face's modeling code. The six texts run as one padded batch on
// both sides; token ids are Tokenizers.js's. Probabilities, logits, per-layer per-head attention and
// head-masked probabilities must agree to 1e-5.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "loupe/core/attention.hpp"
#include "loupe/core/text_probes.hpp"
#include "model/hf_encoder.hpp"

namespace loupe::model {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(LOUPE_SOURCE_DIR) / "tests/fixtures/hf_models";
constexpr double kTolerance = 1e-5;

const json& Expected() {
  static const json expected = [] {
    std::ifstream in(kFixtures / "expected.json");
    return json::parse(in);
  }();
  return expected;
}

std::shared_ptr<const Model> Load(const std::string& name) {
  Result<std::shared_ptr<const Model>> model = LoadModel(kFixtures / name, "auto");
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? *model : nullptr;
}

std::vector<std::string> Texts(const json& reference) {
  return reference["texts"].get<std::vector<std::string>>();
}

void ExpectRowsNear(const Tensor& actual, const json& expected, const std::string& what) {
  ASSERT_EQ(actual.dim(0), static_cast<std::int64_t>(expected.size())) << what;
  for (std::size_t r = 0; r < expected.size(); ++r) {
    ASSERT_EQ(actual.dim(1), static_cast<std::int64_t>(expected[r].size())) << what;
    for (std::size_t o = 0; o < expected[r].size(); ++o) {
      EXPECT_NEAR(actual.data<double>()[r * expected[r].size() + o], expected[r][o].get<double>(), kTolerance)
          << what << " row " << r << " output " << o;
    }
  }
}

class HuggingFaceModel : public testing::TestWithParam<std::string> {
 protected:
  const json& reference() const { return Expected()[GetParam()]; }
};

TEST_P(HuggingFaceModel, NamesItsOutputsByConfigId2Label) {
  const auto model = Load(GetParam());
  ASSERT_TRUE(model);
  std::ifstream in(kFixtures / GetParam() / "config.json");
  const json config = json::parse(in);
  std::vector<std::string> labels;
  for (std::size_t i = 0; i < config["id2label"].size(); ++i)
    labels.push_back(config["id2label"][std::to_string(i)].get<std::string>());
  EXPECT_EQ(model->Info().task, Task::kClassification);
  EXPECT_EQ(model->Info().output_names, labels);
  EXPECT_EQ(model->Info().raw_output_names, labels);
  ASSERT_EQ(model->Info().inputs.size(), 1u);
  EXPECT_EQ(model->Info().inputs[0].name, "text");
}

TEST_P(HuggingFaceModel, TokenizesAsTokenizersJs) {
  const auto model = Load(GetParam());
  ASSERT_TRUE(model);
  const std::vector<std::string> texts = Texts(reference());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const TokenizedText tokens = model->text_model()->Tokenize(texts[i]).value();
    EXPECT_EQ(tokens.ids, reference()["ids"][i].get<std::vector<std::int64_t>>()) << texts[i];
  }
}

TEST_P(HuggingFaceModel, ProbabilitiesAndLogitsEqualPyTorchsOnAPaddedBatch) {
  const auto model = Load(GetParam());
  ASSERT_TRUE(model);
  const std::vector<std::string> texts = Texts(reference());
  ExpectRowsNear(model->text_model()->PredictText(texts, OutputSpace::kProbability).value(),
                 reference()["probabilities"], "probabilities");
  ExpectRowsNear(model->text_model()->PredictText(texts, OutputSpace::kRaw).value(), reference()["logits"],
                 "logits");
}

TEST_P(HuggingFaceModel, AttentionOfEveryLayerAndHeadEqualsPyTorchs) {
  const auto model = Load(GetParam());
  ASSERT_TRUE(model && model->attention_source());
  const std::vector<std::string> texts = Texts(reference());
  const std::vector<AttentionMaps> maps = model->attention_source()->Attention(texts).value();
  ASSERT_EQ(maps.size(), texts.size());
  for (std::size_t r = 0; r < texts.size(); ++r) {
    const json& layers = reference()["attentions"][r];
    const AttentionMaps& m = maps[r];
    ASSERT_EQ(m.layers, static_cast<std::int64_t>(layers.size()));
    ASSERT_EQ(m.heads, static_cast<std::int64_t>(layers[0].size()));
    const std::int64_t t = m.tokens.size();
    ASSERT_EQ(t, static_cast<std::int64_t>(layers[0][0].size()));
    for (std::int64_t l = 0; l < m.layers; ++l) {
      for (std::int64_t h = 0; h < m.heads; ++h) {
        for (std::int64_t q = 0; q < t; ++q) {
          for (std::int64_t k = 0; k < t; ++k) {
            EXPECT_NEAR(m.probabilities[static_cast<std::size_t>(((l * m.heads + h) * t + q) * t + k)],
                        layers[l][h][q][k].get<double>(), kTolerance)
                << "text " << r << " layer " << l << " head " << h << " query " << q << " key " << k;
          }
        }
      }
    }
  }
}

TEST_P(HuggingFaceModel, HeadMasksActAsHuggingFacesHeadMask) {
  const auto model = Load(GetParam());
  ASSERT_TRUE(model && model->head_masked_model());
  const HeadMaskedModel& masked = *model->head_masked_model();
  const std::vector<std::string> texts = Texts(reference());
  const std::int64_t layers = masked.MaskLayers(), heads = masked.MaskHeads();
  std::vector<float> per_text(static_cast<std::size_t>(layers * heads), 1.0f);
  for (const json& pair : reference()["masked_heads"])
    per_text[static_cast<std::size_t>(pair[0].get<std::int64_t>() * heads + pair[1].get<std::int64_t>())] =
        0.0f;
  std::vector<float> masks;
  for (std::size_t i = 0; i < texts.size(); ++i) masks.insert(masks.end(), per_text.begin(), per_text.end());
  ExpectRowsNear(masked.PredictMasked(texts, masks, OutputSpace::kProbability).value(),
                 reference()["masked_probabilities"], "masked probabilities");
}

TEST_P(HuggingFaceModel, ExposesEmbeddingsAndEveryLayersHiddenStatesAndClsPooling) {
  const auto model = Load(GetParam());
  ASSERT_TRUE(model && model->hidden_state_source());
  const HiddenStateSource& source = *model->hidden_state_source();
  const auto layers = static_cast<std::size_t>(reference()["attentions"][0].size());
  ASSERT_EQ(source.StateNames().size(), layers + 1);
  EXPECT_EQ(source.StateNames()[0], "embeddings");
  EXPECT_EQ(source.PoolingMode(), Pooling::kCls);
  const std::vector<HiddenStates> hidden = source.Hidden({Texts(reference())[0]}).value();
  ASSERT_EQ(hidden.size(), 1u);
  EXPECT_EQ(hidden[0].states.size(), layers + 1);
  // cls pooling: the pooled vector is the last layer's state of the first token.
  const std::vector<float>& last = hidden[0].states.back();
  ASSERT_EQ(static_cast<std::int64_t>(hidden[0].pooled.size()), source.PooledWidth());
  for (std::int64_t j = 0; j < source.PooledWidth(); ++j) EXPECT_EQ(hidden[0].pooled[j], last[j]);
}

// Through LoadModel, as a pipeline's `precision: bf16` asks for it.
TEST_P(HuggingFaceModel, RunsInBf16WhenAskedAndStaysAProbability) {
  Result<std::shared_ptr<const Model>> model =
      LoadModel(kFixtures / GetParam(), "huggingface", {.bf16 = true});
  ASSERT_TRUE(model.ok()) << model.status().message();
  const std::vector<std::string> texts = Texts(reference());
  const Tensor p = (*model)->text_model()->PredictText(texts, OutputSpace::kProbability).value();
  const json& expected = reference()["probabilities"];
  double largest_difference = 0;
  for (std::int64_t r = 0; r < p.dim(0); ++r) {
    double sum = 0;
    for (std::int64_t o = 0; o < p.dim(1); ++o) {
      const double value = p.data<double>()[r * p.dim(1) + o];
      sum += value;
      largest_difference = std::max(largest_difference, std::abs(value - expected[r][o].get<double>()));
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
  if (nn::Bf16Supported()) {
    EXPECT_GT(largest_difference, 0.0) << "bf16 gave f32's bits: the precision did not reach the encoder";
    EXPECT_LT(largest_difference, 0.05) << "bf16 rounding should move a probability by far less";
  } else {
    ExpectRowsNear(p, expected, "f32 fallback");
  }
}

TEST(HuggingFaceModelOptions, Bf16IsRefusedForAModelFileThatStatesItsOwnPrecision) {
  const Result<std::shared_ptr<const Model>> model =
      LoadModel(std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/models/credit_mlp.yaml", "native",
                {.bf16 = true});
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("bf16 applies to huggingface models"), std::string::npos)
      << model.status().message();
}

// A pipeline's model.features names the one text column a huggingface model reads (default `text`); the
// onnx-only keys are refused, and so is any of them for a model file that names its own inputs.
TEST(HuggingFaceModelOptions, FeaturesNameTheTextColumnAndOnnxKeysAreRefused) {
  const fs::path bert = fs::path(LOUPE_SOURCE_DIR) / "examples/text_classifier/bert";
  const auto plain = LoadModel(bert, "auto");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ((*plain)->Info().inputs.at(0).name, "text");
  const auto named = LoadModel(bert, "huggingface", {.features = {"review"}});
  ASSERT_TRUE(named.ok()) << named.status().message();
  ASSERT_EQ((*named)->Info().inputs.size(), 1u);
  EXPECT_EQ((*named)->Info().inputs[0].name, "review");
  EXPECT_EQ((*named)->Info().inputs[0].type, ColumnType::kText);
  const auto tokenizer = LoadModel(bert, "auto", {.tokenizer = bert / "tokenizer.json"});
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(
      tokenizer.status().message(),
      "model '" + bert.string() +
          "': a huggingface model takes its tokenizer and attention from its directory and reads one text "
          "column, so it takes no tokenizer, no attention and at most one feature.");
  const fs::path native = fs::path(LOUPE_SOURCE_DIR) / "tests/fixtures/models/credit_mlp.yaml";
  const auto refused = LoadModel(native, "auto", {.features = {"Income"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            "model '" + native.string() +
                "': features, attention and tokenizer apply to onnx and huggingface models; a loupe.model/v1 "
                "file or an XGBoost model names its own inputs.");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HuggingFaceModel, testing::Values("bert", "distilbert", "roberta"));

// examples/text_classifier/bert, trained by train_bert.py there, which printed PyTorch's probability of the
// predicted topic for these five sayings (to 4 decimals).
TEST(HuggingFaceExample, TheTrainedBertPredictsTheExampleSayingsAsPyTorchDid) {
  const auto model = LoadModel(fs::path(LOUPE_SOURCE_DIR) / "examples/text_classifier/bert", "auto").value();
  const std::vector<std::pair<std::string, std::pair<std::string, double>>> cases = {
      {"10.0 times 0.1 is hardly ever 1.0.", {"science", 0.9956}},
      {"Actually, my goal is to have a sandwich named after me.", {"food", 0.9913}},
      {"A woman was in love with fourteen soldiers. It was clearly platoonic.", {"love", 0.9954}},
      {"Better to use medicines at the outset than at the last moment.", {"medicine", 0.9012}},
      {"A small town that cannot support one lawyer can always support two.", {"law", 0.9953}}};
  std::vector<std::string> texts;
  for (const auto& c : cases) texts.push_back(c.first);
  const Tensor p = model->text_model()->PredictText(texts, OutputSpace::kProbability).value();
  const std::vector<std::string>& names = model->Info().output_names;
  for (std::size_t r = 0; r < cases.size(); ++r) {
    const double* row = p.data<double>() + r * names.size();
    const std::size_t best = std::max_element(row, row + names.size()) - row;
    EXPECT_EQ(names[best], cases[r].second.first) << texts[r];
    EXPECT_NEAR(row[best], cases[r].second.second, 6e-5) << texts[r];
  }
}

// --- errors: one sentence naming the file and the field or tensor
// -------------------------------------------

class HuggingFaceModelErrors : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("loupe_hf_errors_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::copy(kFixtures / "bert", dir_, fs::copy_options::recursive);
    std::ifstream in(dir_ / "config.json");
    config_ = json::parse(in);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string LoadError() {
    std::ofstream(dir_ / "config.json") << config_.dump(2);
    Result<std::shared_ptr<const Model>> model = LoadModel(dir_, "huggingface");
    EXPECT_FALSE(model.ok());
    return model.ok() ? "" : model.status().message();
  }

  fs::path dir_;
  json config_;
};

TEST_F(HuggingFaceModelErrors, RefusesAnActivationItDoesNotRunNamingTheField) {
  config_["hidden_act"] = "swish";
  EXPECT_EQ(LoadError(),
            "config.json: hidden_act is 'swish', which Loupe does not run; use gelu, gelu_new or relu.");
}

TEST_F(HuggingFaceModelErrors, RefusesAnotherArchitecture) {
  config_["architectures"] = {"BertForTokenClassification"};
  EXPECT_NE(LoadError().find("config.json: architectures names 'BertForTokenClassification'"),
            std::string::npos);
}

TEST_F(HuggingFaceModelErrors, NamesAMissingSizeField) {
  config_.erase("num_attention_heads");
  EXPECT_EQ(LoadError(), "config.json: num_attention_heads is missing.");
}

TEST_F(HuggingFaceModelErrors, NamesATensorWhoseShapeDisagreesWithConfig) {
  config_["intermediate_size"] = 48;
  EXPECT_EQ(
      LoadError(),
      "model.safetensors: tensor 'bert.encoder.layer.0.intermediate.dense.weight' has shape [64, 32], but "
      "config.json implies [48, 32].");
}

TEST_F(HuggingFaceModelErrors, NamesAMissingTensor) {
  config_["num_hidden_layers"] = 3;
  EXPECT_EQ(LoadError(),
            "model.safetensors has no tensor 'bert.encoder.layer.2.attention.self.query.weight', which "
            "BertForSequenceClassification (config.json) needs.");
}

TEST_F(HuggingFaceModelErrors, RefusesMultiLabelClassification) {
  config_["problem_type"] = "multi_label_classification";
  EXPECT_NE(LoadError().find("config.json: problem_type is multi_label_classification"), std::string::npos);
}

TEST_F(HuggingFaceModelErrors, SaysHowToSaveAMissingTokenizer) {
  fs::remove(dir_ / "tokenizer.json");
  EXPECT_NE(LoadError().find("has no tokenizer.json"), std::string::npos);
}

TEST_F(HuggingFaceModelErrors, ATokenizerLargerThanTheEmbeddingIsRefused) {
  config_["vocab_size"] = 100;
  EXPECT_EQ(LoadError(), "tokenizer.json has 1613 tokens but config.json's vocab_size is 100.");
}

}  // namespace
}  // namespace loupe::model
