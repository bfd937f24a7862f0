// The "text_gradient" capability of native text networks (loupe/core/text_gradient.hpp): gradients with
// respect to the embedding layer's output equal PyTorch autograd (plugins/gradients/tests/
// make_text_fixtures.py, float64 copies of the fixtures) to 1e-5 relative to the row's largest gradient on
// the transformer (post- and pre-norm encoders, ReLU and GELU, mean pooling, layer norm and tanh head),
// the bidirectional LSTM with attention pooling and the tiny hybrid (2-layer bidirectional LSTM, dropout,
// GELU encoder, cls pooling); central finite differences agree along random directions; padding steps get
// exactly 0; the same bits come out on any thread.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loupe/core/attention.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/text_gradient.hpp"

namespace loupe {
namespace {

const std::filesystem::path kTextGradientSource(LOUPE_SOURCE_DIR);

const nlohmann::json& TextReference() {
  static const nlohmann::json reference = [] {
    std::ifstream in(kTextGradientSource / "plugins/gradients/tests/fixtures/text_reference.json");
    std::stringstream text;
    text << in.rdbuf();
    return nlohmann::json::parse(text.str());
  }();
  return reference;
}

std::shared_ptr<const Model> LoadTextFixture(const std::string& name) {
  auto model = LoadModel(kTextGradientSource / ("tests/fixtures/text/" + name + ".yaml"));
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? *model : nullptr;
}

// The reference texts embedded and padded into one batch [n, t, width].
struct EmbeddedBatch {
  std::int64_t n = 0, t = 0, width = 0;
  std::vector<float> values;
  std::vector<std::int64_t> lengths;
};

EmbeddedBatch EmbedReferenceTexts(const TextGradientModel& gradient) {
  const std::vector<std::string> texts = TextReference()["texts"].get<std::vector<std::string>>();
  Result<std::vector<TokenEmbeddings>> embedded = gradient.Embed(texts);
  EXPECT_TRUE(embedded.ok()) << embedded.status().message();
  EmbeddedBatch batch;
  batch.n = static_cast<std::int64_t>(texts.size());
  batch.width = gradient.EmbeddingWidth();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ((*embedded)[i].tokens.ids, TextReference()["ids"][i].get<std::vector<std::int64_t>>());
    batch.t = std::max(batch.t, (*embedded)[i].tokens.size());
  }
  batch.values.assign(static_cast<std::size_t>(batch.n * batch.t * batch.width), 0.5f);  // padding: any value
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const TokenEmbeddings& e = (*embedded)[i];
    std::copy(e.values.begin(), e.values.end(),
              batch.values.begin() + static_cast<std::ptrdiff_t>(i * batch.t * batch.width));
    batch.lengths.push_back(e.tokens.size());
  }
  return batch;
}

// One-hot weights on each row's reference target.
std::vector<double> TargetWeights(const std::string& name, std::int64_t outputs) {
  const nlohmann::json& cases = TextReference()["models"][name];
  std::vector<double> weights(cases.size() * static_cast<std::size_t>(outputs), 0.0);
  for (std::size_t r = 0; r < cases.size(); ++r)
    weights[r * static_cast<std::size_t>(outputs) + cases[r]["target"].get<std::size_t>()] = 1.0;
  return weights;
}

struct LayerGradientRun {
  std::vector<float> gradients;
  std::vector<double> outputs;
};

LayerGradientRun RunLayerGradient(const TextGradientModel& gradient, const EmbeddedBatch& batch,
                                  OutputSpace space, const std::vector<double>& weights) {
  LayerGradientRun run;
  run.gradients.assign(batch.values.size(), -1.0f);
  run.outputs.assign(weights.size(), 0.0);
  const Status status = gradient.LayerGradient(batch.values, batch.n, batch.t, batch.lengths, space, weights,
                                               run.gradients, run.outputs);
  EXPECT_TRUE(status.ok()) << status.message();
  return run;
}

class TextGradientFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(TextGradientFixture, EmbeddingGradientsEqualAutogradInBothSpaces) {
  const std::string name = GetParam();
  const auto model = LoadTextFixture(name);
  ASSERT_NE(model, nullptr);
  const TextGradientModel* gradient = model->text_gradient_model();
  ASSERT_NE(gradient, nullptr);
  const EmbeddedBatch batch = EmbedReferenceTexts(*gradient);
  const auto outputs = static_cast<std::int64_t>(model->Info().output_names.size());
  const std::vector<double> weights = TargetWeights(name, outputs);
  for (const OutputSpace space : {OutputSpace::kProbability, OutputSpace::kRaw}) {
    const char* key = space == OutputSpace::kProbability ? "probability" : "raw";
    const LayerGradientRun run = RunLayerGradient(*gradient, batch, space, weights);
    for (std::int64_t r = 0; r < batch.n; ++r) {
      const nlohmann::json& expected = TextReference()["models"][name][r][key];
      const std::vector<double> g = expected["gradient"].get<std::vector<double>>();
      double largest = 0;
      for (const double v : g) largest = std::max(largest, std::abs(v));
      const std::int64_t length = batch.lengths[static_cast<std::size_t>(r)];
      ASSERT_EQ(static_cast<std::int64_t>(g.size()), length * batch.width);
      for (std::int64_t s = 0; s < batch.t; ++s) {
        for (std::int64_t j = 0; j < batch.width; ++j) {
          const float got = run.gradients[static_cast<std::size_t>((r * batch.t + s) * batch.width + j)];
          if (s >= length) {
            ASSERT_EQ(got, 0.0f) << name << " row " << r << " padding step " << s;
          } else {
            ASSERT_NEAR(got, g[static_cast<std::size_t>(s * batch.width + j)], 1e-5 * largest)
                << name << " " << key << " row " << r << " step " << s << " unit " << j;
          }
        }
      }
      EXPECT_NEAR(run.outputs[static_cast<std::size_t>(r * outputs) +
                              TextReference()["models"][name][r]["target"].get<std::size_t>()],
                  expected["output"].get<double>(), 1e-5);
    }
  }
}

// Central differences of the target's probability along random unit directions of the real steps,
// in double around the f32 network: (f(x + εv) − f(x − εv)) / 2ε against g · v.
TEST_P(TextGradientFixture, FiniteDifferencesAgreeAlongRandomDirections) {
  const std::string name = GetParam();
  const auto model = LoadTextFixture(name);
  ASSERT_NE(model, nullptr);
  const TextGradientModel& gradient = *model->text_gradient_model();
  const EmbeddedBatch batch = EmbedReferenceTexts(gradient);
  const auto outputs = static_cast<std::int64_t>(model->Info().output_names.size());
  const std::vector<double> weights = TargetWeights(name, outputs);
  const LayerGradientRun at = RunLayerGradient(gradient, batch, OutputSpace::kRaw, weights);
  std::mt19937 random(7);
  std::normal_distribution<float> normal;
  const float epsilon = 1e-2f;
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<float> direction(batch.values.size(), 0.0f);
    for (std::int64_t r = 0; r < batch.n; ++r) {
      for (std::int64_t i = 0; i < batch.lengths[static_cast<std::size_t>(r)] * batch.width; ++i)
        direction[static_cast<std::size_t>(r * batch.t * batch.width + i)] = normal(random);
    }
    EmbeddedBatch plus = batch, minus = batch;
    for (std::size_t i = 0; i < direction.size(); ++i) {
      plus.values[i] += epsilon * direction[i];
      minus.values[i] -= epsilon * direction[i];
    }
    const LayerGradientRun up = RunLayerGradient(gradient, plus, OutputSpace::kRaw, weights);
    const LayerGradientRun down = RunLayerGradient(gradient, minus, OutputSpace::kRaw, weights);
    for (std::int64_t r = 0; r < batch.n; ++r) {
      double analytic = 0, scale = 0;
      for (std::int64_t i = 0; i < batch.t * batch.width; ++i) {
        const auto at_i = static_cast<std::size_t>(r * batch.t * batch.width + i);
        analytic += static_cast<double>(at.gradients[at_i]) * direction[at_i];
        scale += std::abs(static_cast<double>(at.gradients[at_i]) * direction[at_i]);
      }
      double numeric = 0;
      for (std::int64_t o = 0; o < outputs; ++o) {
        const auto k = static_cast<std::size_t>(r * outputs + o);
        numeric += weights[k] * (up.outputs[k] - down.outputs[k]) / (2.0 * epsilon);
      }
      EXPECT_NEAR(numeric, analytic, 2e-3 * scale + 1e-5) << name << " row " << r << " trial " << trial;
    }
  }
}

TEST_P(TextGradientFixture, SameBitsOnAnyThread) {
  const auto model = LoadTextFixture(GetParam());
  ASSERT_NE(model, nullptr);
  const TextGradientModel& gradient = *model->text_gradient_model();
  const EmbeddedBatch batch = EmbedReferenceTexts(gradient);
  const std::vector<double> weights =
      TargetWeights(GetParam(), static_cast<std::int64_t>(model->Info().output_names.size()));
  const LayerGradientRun here = RunLayerGradient(gradient, batch, OutputSpace::kProbability, weights);
  LayerGradientRun there[2];
  std::thread first(
      [&] { there[0] = RunLayerGradient(gradient, batch, OutputSpace::kProbability, weights); });
  std::thread second(
      [&] { there[1] = RunLayerGradient(gradient, batch, OutputSpace::kProbability, weights); });
  first.join();
  second.join();
  for (const LayerGradientRun& run : there) {
    EXPECT_EQ(run.gradients, here.gradients);
    EXPECT_EQ(run.outputs, here.outputs);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TextGradientFixture, ::testing::Values("transformer", "lstm", "tiny"));

TEST(TextGradient, PadEmbeddingIsThePadTokensRow) {
  for (const std::string name : {"transformer", "lstm"}) {
    const auto model = LoadTextFixture(name);
    ASSERT_NE(model, nullptr);
    const std::vector<double> expected = TextReference()["pad_embedding"][name].get<std::vector<double>>();
    const std::vector<float>& pad = model->text_gradient_model()->PadEmbedding();
    ASSERT_EQ(pad.size(), expected.size());
    for (std::size_t j = 0; j < pad.size(); ++j) EXPECT_EQ(pad[j], static_cast<float>(expected[j]));
  }
}

TEST(TextGradient, RefusesMismatchedShapesWithASentence) {
  const auto model = LoadTextFixture("lstm");
  ASSERT_NE(model, nullptr);
  const TextGradientModel& gradient = *model->text_gradient_model();
  std::vector<float> values(static_cast<std::size_t>(2 * gradient.EmbeddingWidth())), out(values.size());
  std::vector<double> weights(8, 0.0);
  const std::vector<std::int64_t> too_long{3};
  const Status status =
      gradient.LayerGradient(values, 1, 2, too_long, OutputSpace::kRaw, weights, out, std::span<double>());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("length 3"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace loupe
