// The "text_gradient" capability of the Hugging Face encoders (loupe/core/text_gradient.hpp) on the
// save_pretrained fixtures of tests/fixtures/hf_models: the embedding layer is the embeddings module after
// its LayerNorm (Captum's `model.bert.embeddings`), and everything after it — post-LN encoder blocks with
// GELU (erf for BERT and DistilBERT, tanh for RoBERTa), attention masks, the pooler or classification head
// — is differentiated. References: PyTorch autograd on float64 copies of the fixtures
// (make_gradient_fixtures.py → gradients.json), 1e-5 relative to the largest gradient; central finite
// differences per architecture; a bf16 model refuses gradients with a sentence.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loupe/core/model.hpp"
#include "loupe/core/text_gradient.hpp"

namespace loupe {
namespace {

const std::filesystem::path kHfGradientFixtures =
    std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/hf_models";

const nlohmann::json& HfGradientReference() {
  static const nlohmann::json reference = [] {
    std::ifstream in(kHfGradientFixtures / "gradients.json");
    return nlohmann::json::parse(in);
  }();
  return reference;
}

const nlohmann::json& ExpectedOutputs() {
  static const nlohmann::json expected = [] {
    std::ifstream in(kHfGradientFixtures / "expected.json");
    return nlohmann::json::parse(in);
  }();
  return expected;
}

std::shared_ptr<const Model> LoadHfFixture(const std::string& name, bool bf16 = false) {
  Result<std::shared_ptr<const Model>> model =
      LoadModel(kHfGradientFixtures / name, "huggingface", {.bf16 = bf16});
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? *model : nullptr;
}

// The reference texts (expected.json's, at gradients.json's indices).
std::vector<std::string> ReferenceTexts(const std::string& name) {
  std::vector<std::string> texts;
  for (const auto& i : HfGradientReference()["text_indices"])
    texts.push_back(ExpectedOutputs()[name]["texts"][i.get<std::size_t>()].get<std::string>());
  return texts;
}

double LargestMagnitude(const std::vector<double>& values) {
  double largest = 0;
  for (const double v : values) largest = std::max(largest, std::abs(v));
  return largest;
}

class HfTextGradient : public ::testing::TestWithParam<std::string> {
 protected:
  const nlohmann::json& reference() const { return HfGradientReference()["models"][GetParam()]; }
};

TEST_P(HfTextGradient, EmbedsAsTheEmbeddingsModuleAfterItsLayerNorm) {
  const auto model = LoadHfFixture(GetParam());
  ASSERT_NE(model, nullptr);
  const TextGradientModel* gradient = model->text_gradient_model();
  ASSERT_NE(gradient, nullptr);
  EXPECT_TRUE(gradient->Refusal().empty());
  EXPECT_EQ(gradient->EmbeddingLayerName(), reference()["layer"].get<std::string>());
  EXPECT_TRUE(gradient->PadEmbedding().empty()) << "the output depends on the position: no single row";
  const Result<std::vector<TokenEmbeddings>> embedded = gradient->Embed(ReferenceTexts(GetParam()));
  ASSERT_TRUE(embedded.ok()) << embedded.status().message();
  for (std::size_t i = 0; i < embedded->size(); ++i) {
    const TokenEmbeddings& e = (*embedded)[i];
    EXPECT_EQ(e.tokens.ids, reference()["ids"][i].get<std::vector<std::int64_t>>());
    const std::vector<double> expected = reference()["embeddings"][i].get<std::vector<double>>();
    ASSERT_EQ(e.values.size(), expected.size());
    for (std::size_t c = 0; c < expected.size(); ++c) EXPECT_NEAR(e.values[c], expected[c], 1e-5) << c;
  }
}

TEST_P(HfTextGradient, PadBaselineIsTheOutputForAnAllPaddingInput) {
  const auto model = LoadHfFixture(GetParam());
  ASSERT_NE(model, nullptr);
  const TextGradientModel& gradient = *model->text_gradient_model();
  const std::vector<double> expected = reference()["pad_baseline"].get<std::vector<double>>();
  const auto t = static_cast<std::int64_t>(expected.size()) / gradient.EmbeddingWidth();
  const Result<std::vector<float>> pad = gradient.PadEmbeddings(t);
  ASSERT_TRUE(pad.ok()) << pad.status().message();
  ASSERT_EQ(pad->size(), expected.size());
  for (std::size_t c = 0; c < expected.size(); ++c) EXPECT_NEAR((*pad)[c], expected[c], 1e-5) << c;
}

// Each text alone (no padding), the predicted class's probability and logit.
TEST_P(HfTextGradient, GradientsEqualAutogradInBothSpaces) {
  const auto model = LoadHfFixture(GetParam());
  ASSERT_NE(model, nullptr);
  const TextGradientModel& gradient = *model->text_gradient_model();
  const auto outputs = static_cast<std::int64_t>(model->Info().output_names.size());
  const std::int64_t width = gradient.EmbeddingWidth();
  for (std::size_t i = 0; i < reference()["texts"].size(); ++i) {
    const nlohmann::json& expected = reference()["texts"][i];
    const std::vector<double> embedding = reference()["embeddings"][i].get<std::vector<double>>();
    const std::vector<float> values(embedding.begin(), embedding.end());
    const auto t = static_cast<std::int64_t>(values.size()) / width;
    std::vector<double> weights(static_cast<std::size_t>(outputs), 0.0), f(weights.size());
    weights[expected["target"].get<std::size_t>()] = 1.0;
    for (const OutputSpace space : {OutputSpace::kProbability, OutputSpace::kRaw}) {
      const char* key = space == OutputSpace::kProbability ? "probability" : "raw";
      std::vector<float> g(values.size());
      const std::vector<std::int64_t> lengths{t};
      const Status status = gradient.LayerGradient(values, 1, t, lengths, space, weights, g, f);
      ASSERT_TRUE(status.ok()) << status.message();
      const std::vector<double> want = expected[key]["gradient"].get<std::vector<double>>();
      const double largest = LargestMagnitude(want);
      for (std::size_t c = 0; c < want.size(); ++c)
        ASSERT_NEAR(g[c], want[c], 1e-5 * largest)
            << GetParam() << " " << key << " text " << i << " cell " << c;
      EXPECT_NEAR(f[expected["target"].get<std::size_t>()], expected[key]["output"].get<double>(), 1e-5);
    }
  }
}

// The texts as one right-padded batch: the attention mask keeps padding out of every row's outputs, so
// padding steps get exactly 0 whatever values they hold.
TEST_P(HfTextGradient, PaddedBatchGradientEqualsAutogradAndIsZeroAtPadding) {
  const auto model = LoadHfFixture(GetParam());
  ASSERT_NE(model, nullptr);
  const TextGradientModel& gradient = *model->text_gradient_model();
  const nlohmann::json& batch = reference()["batch"];
  const std::vector<double> v = batch["values"].get<std::vector<double>>();
  const std::vector<float> values(v.begin(), v.end());
  const std::vector<double> weights = batch["weights"].get<std::vector<double>>();
  const std::vector<std::int64_t> lengths = batch["lengths"].get<std::vector<std::int64_t>>();
  const auto n = static_cast<std::int64_t>(lengths.size()), t = batch["length"].get<std::int64_t>();
  std::vector<float> g(values.size(), -1.0f);
  std::vector<double> logits(weights.size());
  const Status status = gradient.LayerGradient(values, n, t, lengths, OutputSpace::kRaw, weights, g, logits);
  ASSERT_TRUE(status.ok()) << status.message();
  const std::vector<double> want = batch["gradient"].get<std::vector<double>>();
  const double largest = LargestMagnitude(want);
  const std::int64_t width = gradient.EmbeddingWidth();
  for (std::int64_t r = 0; r < n; ++r) {
    for (std::int64_t s = 0; s < t; ++s) {
      for (std::int64_t j = 0; j < width; ++j) {
        const auto c = static_cast<std::size_t>((r * t + s) * width + j);
        if (s >= lengths[static_cast<std::size_t>(r)]) {
          ASSERT_EQ(g[c], 0.0f) << "row " << r << " padding step " << s;
        } else {
          ASSERT_NEAR(g[c], want[c], 1e-5 * largest) << "row " << r << " step " << s << " unit " << j;
        }
      }
    }
  }
  const std::vector<double> expected_logits = batch["logits"].get<std::vector<double>>();
  for (std::size_t k = 0; k < logits.size(); ++k) EXPECT_NEAR(logits[k], expected_logits[k], 1e-5) << k;
}

// Central differences of a weighted sum of logits along random unit directions, in double around the f32
// network: (f(x + εv) − f(x − εv)) / 2ε against g · v (padding steps move too: they must not matter).
TEST_P(HfTextGradient, FiniteDifferencesAgreeAlongRandomDirections) {
  const auto model = LoadHfFixture(GetParam());
  ASSERT_NE(model, nullptr);
  const TextGradientModel& gradient = *model->text_gradient_model();
  const nlohmann::json& batch = reference()["batch"];
  const std::vector<double> v = batch["values"].get<std::vector<double>>();
  const std::vector<float> values(v.begin(), v.end());
  const std::vector<double> weights = batch["weights"].get<std::vector<double>>();
  const std::vector<std::int64_t> lengths = batch["lengths"].get<std::vector<std::int64_t>>();
  const auto n = static_cast<std::int64_t>(lengths.size()), t = batch["length"].get<std::int64_t>();
  const auto outputs = static_cast<std::int64_t>(weights.size()) / n;
  auto run = [&](const std::vector<float>& at, std::vector<float>& g, std::vector<double>& f) {
    g.assign(at.size(), 0.0f);
    f.assign(weights.size(), 0.0);
    const Status status = gradient.LayerGradient(at, n, t, lengths, OutputSpace::kRaw, weights, g, f);
    ASSERT_TRUE(status.ok()) << status.message();
  };
  std::vector<float> g, unused;
  std::vector<double> f, up, down;
  run(values, g, f);
  std::mt19937 random(11);
  std::normal_distribution<float> normal;
  const float epsilon = 1e-3f;
  for (int trial = 0; trial < 3; ++trial) {
    // A unit direction per row: a step of ε in the embedding space, short enough not to cross the ReLU
    // kinks of DistilBERT's head.
    std::vector<float> direction(values.size()), plus = values, minus = values;
    const std::size_t cells = values.size() / static_cast<std::size_t>(n);
    for (std::size_t r = 0; r < static_cast<std::size_t>(n); ++r) {
      double norm = 0;
      for (std::size_t c = r * cells; c < (r + 1) * cells; ++c) {
        direction[c] = normal(random);
        norm += static_cast<double>(direction[c]) * direction[c];
      }
      for (std::size_t c = r * cells; c < (r + 1) * cells; ++c)
        direction[c] /= static_cast<float>(std::sqrt(norm));
    }
    for (std::size_t c = 0; c < values.size(); ++c) {
      plus[c] += epsilon * direction[c];
      minus[c] -= epsilon * direction[c];
    }
    run(plus, unused, up);
    run(minus, unused, down);
    for (std::int64_t r = 0; r < n; ++r) {
      double analytic = 0, scale = 0, numeric = 0;
      const std::int64_t cells = t * gradient.EmbeddingWidth();
      for (std::int64_t c = r * cells; c < (r + 1) * cells; ++c) {
        const double term =
            static_cast<double>(g[static_cast<std::size_t>(c)]) * direction[static_cast<std::size_t>(c)];
        analytic += term;
        scale += std::abs(term);
      }
      for (std::int64_t o = 0; o < outputs; ++o) {
        const auto k = static_cast<std::size_t>(r * outputs + o);
        numeric += weights[k] * (up[k] - down[k]) / (2.0 * epsilon);
      }
      EXPECT_NEAR(numeric, analytic, 2e-3 * scale + 1e-5) << GetParam() << " row " << r << " trial " << trial;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfTextGradient, ::testing::Values("bert", "distilbert", "roberta"));

// Forward in bf16 and backward in f32 would explain another function than the one the model computes.
TEST(HfTextGradientBf16, ABf16ModelRefusesGradientsWithASentence) {
  const auto model = LoadHfFixture("bert", /*bf16=*/true);
  ASSERT_NE(model, nullptr);
  const TextGradientModel* gradient = model->text_gradient_model();
  ASSERT_NE(gradient, nullptr);
  EXPECT_NE(gradient->Refusal().find("bf16"), std::string::npos) << gradient->Refusal();
  const Result<std::vector<TokenEmbeddings>> embedded = gradient->Embed({"ok"});
  ASSERT_FALSE(embedded.ok());
  EXPECT_EQ(embedded.status().message(), gradient->Refusal());
}

}  // namespace
}  // namespace loupe
