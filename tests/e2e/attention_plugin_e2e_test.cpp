// The attention plugin (plugins/attention) end to end on the committed text models (tests/fixtures/text)
// and tests/data/fortunes_topics.csv: the attention probabilities it shows equal PyTorch's, rollout and
// flow are computed from them, the LSTM's attention pooling is its attention view, head ablation and
// hidden states go through the runtime's hooks, and bad inputs are one sentence.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e_util.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"

namespace loupe::e2e {
namespace {

const std::filesystem::path kSource(LOUPE_SOURCE_DIR);
const std::filesystem::path kFixtures = kSource / "tests/fixtures/text";
const std::filesystem::path kFortunes = kSource / "tests/data/fortunes_topics.csv";

nlohmann::json Reference() { return nlohmann::json::parse(ReadText(kFixtures / "reference.json")); }

std::vector<float> ReadF32(const std::filesystem::path& file) {
  const std::string bytes = ReadText(file);
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

class AttentionPluginE2eTest : public ScratchDir {
 protected:
  void SetUp() override {
    ScratchDir::SetUp();
    const Status loaded = registry_.Load(LOUPE_ATTENTION_PLUGIN);
    ASSERT_TRUE(loaded.ok()) << loaded.message();
  }

  RunReport Run(const std::filesystem::path& model, const std::string& steps,
                const std::filesystem::path& data = kFortunes, const std::string& target = "topic") {
    WriteText(dir_ / "pipeline.yaml", "version: 1\nname: attention\ndata:\n  path: '" + data.string() +
                                          "'\n  target: " + target + "\nmodel:\n  path: '" + model.string() +
                                          "'\nsteps:\n" + steps + "output:\n  dir: out\n  formats: [json]\n");
    ParseOutcome parsed = ParsePipelineFile(dir_ / "pipeline.yaml");
    EXPECT_TRUE(parsed.diagnostics.empty()) << parsed.diagnostics.front().ToString();
    EXPECT_TRUE(ValidateAgainstPlugins(*parsed.spec, registry_).empty());
    return RunPipeline(*parsed.spec, registry_, RunOptions{});
  }

  nlohmann::json Output(const std::string& step) const {
    return nlohmann::json::parse(ReadText(dir_ / "out" / (step + ".json")));
  }

  PluginRegistry registry_;
};

std::string AttentionRows(const nlohmann::json& ref) {
  std::string rows;
  for (const auto& i : ref["attention_texts"])
    rows += (rows.empty() ? "" : ", ") + ref["rows"][i.get<std::size_t>()].dump();
  return rows;
}

TEST_F(AttentionPluginE2eTest, InspectShowsPyTorchsAttentionAndRolloutFollowsFromIt) {
  const nlohmann::json ref = Reference();
  const RunReport report =
      Run(kFixtures / "transformer.yaml", "  - {id: inspect, explainer: attention.inspect, rows: [" +
                                              AttentionRows(ref) +
                                              "], params: {bertviz: true}}\n"
                                              "  - {id: rollout, explainer: attention.rollout, rows: [" +
                                              AttentionRows(ref) + "]}\n");
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  const nlohmann::json inspect = Output("inspect"), rollout = Output("rollout");
  EXPECT_EQ(inspect["kind"], "attention_maps");
  EXPECT_EQ(rollout["pooling"], "mean");
  const std::vector<float> expected = ReadF32(kFixtures / "transformer_attention.bin");
  std::size_t offset = 0;
  const auto which = ref["attention_texts"].get<std::vector<std::size_t>>();
  ASSERT_EQ(inspect["attentions"].size(), which.size());
  for (std::size_t i = 0; i < which.size(); ++i) {
    EXPECT_EQ(inspect["tokens"][i], ref["tokens"][which[i]]);
    EXPECT_EQ(inspect["words"][i], ref["words"][which[i]]);
    const std::size_t t = inspect["tokens"][i].size();
    std::vector<std::vector<std::vector<double>>> mean(
        2, std::vector<std::vector<double>>(t, std::vector<double>(t, 0.0)));
    for (std::size_t l = 0; l < 2; ++l) {
      for (std::size_t h = 0; h < 2; ++h) {
        for (std::size_t q = 0; q < t; ++q) {
          for (std::size_t k = 0; k < t; ++k) {
            const float torch = expected[offset++];
            ASSERT_NEAR(inspect["attentions"][i][l][h][q][k].get<double>(), torch, 1e-5)
                << "row " << inspect["rows"][i] << " layer " << l << " head " << h << " query " << q
                << " key " << k;
            mean[l][q][k] += 0.25 * torch + (h == 0 && q == k ? 0.5 : 0.0);  // 0.5 * head mean + 0.5 * I
          }
        }
      }
    }
    // Rollout of PyTorch's attention by the definition: R = A_2 A_1.
    for (std::size_t q = 0; q < t; ++q) {
      for (std::size_t k = 0; k < t; ++k) {
        double r = 0.0;
        for (std::size_t m = 0; m < t; ++m) r += mean[1][q][m] * mean[0][m][k];
        EXPECT_NEAR(rollout["rollout"][i][q][k].get<double>(), r, 1e-5)
            << "row " << i << " [" << q << "][" << k << "]";
      }
    }
    EXPECT_EQ(inspect["bertviz"][i]["attention"].size(), 2u);
  }
  EXPECT_EQ(offset, expected.size());
}

TEST_F(AttentionPluginE2eTest, FlowHeadsAndHiddenStatesRunOnTheTransformer) {
  const RunReport report =
      Run(kFixtures / "transformer.yaml",
          "  - {id: flow, explainer: attention.flow, rows: '0:3'}\n"
          "  - {id: heads, explainer: attention.heads, rows: '0:8'}\n"
          "  - {id: hidden, explainer: attention.hidden, rows: '0:2', params: {vectors: true}}\n");
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  const nlohmann::json flow = Output("flow");
  for (std::size_t r = 0; r < 3; ++r) {
    for (const auto& row : flow["flow"][r]) {
      double sum = 0.0;
      for (const auto& v : row) sum += v.get<double>();
      EXPECT_NEAR(sum, 1.0, 1e-9);
    }
  }
  const nlohmann::json heads = Output("heads");
  ASSERT_EQ(heads["statistics"]["importance"].size(), 2u);
  double total_change = 0.0;
  for (const auto& layer : heads["statistics"]["importance_change"]) {
    for (const auto& v : layer) total_change += v.get<double>();
  }
  EXPECT_GT(total_change, 0.0);  // masking a head changes the model's output
  EXPECT_FALSE(heads.contains("notes"));

  const nlohmann::json hidden = Output("hidden");
  EXPECT_EQ(hidden["states"],
            nlohmann::json::array({"embeddings", "transformer_encoder 2", "transformer_encoder 3"}));
  EXPECT_EQ(hidden["pooling"], "mean");
  // Mean pooling: the pooled vector is the mean of the last state over the tokens, so the mean token has
  // cosine 1 with it; check the definition directly on the raw vectors.
  for (std::size_t r = 0; r < 2; ++r) {
    const auto& last = hidden["vectors"][r][2];
    const std::size_t t = last.size(), d = last[0].size();
    std::vector<double> mean(d, 0.0);
    for (const auto& token : last)
      for (std::size_t j = 0; j < d; ++j) mean[j] += token[j].get<double>() / static_cast<double>(t);
    double dot = 0.0, nm = 0.0, nt = 0.0;
    for (std::size_t j = 0; j < d; ++j) {
      dot += mean[j] * last[0][j].get<double>();
      nm += mean[j] * mean[j];
      nt += last[0][j].get<double>() * last[0][j].get<double>();
    }
    EXPECT_NEAR(hidden["cosine_to_pooled"][r][2][0].get<double>(), dot / std::sqrt(nm * nt), 1e-5);
    EXPECT_NEAR(hidden["norms"][r][2][0].get<double>(), std::sqrt(nt), 1e-5);
  }
}

// plugins/attention/tests/fixtures/make_reference.py: hidden states and head-masked probabilities of
// the transformer fixture, computed with PyTorch.
TEST_F(AttentionPluginE2eTest, HiddenStatesAndHeadAblationEqualPyTorch) {
  const nlohmann::json ref =
      nlohmann::json::parse(ReadText(kSource / "plugins/attention/tests/fixtures/reference.json"));
  std::string rows;
  for (const auto& row : ref["rows"]) rows += (rows.empty() ? "" : ", ") + row.dump();
  const RunReport report =
      Run(kFixtures / "transformer.yaml", "  - {id: hidden, explainer: attention.hidden, rows: [" + rows +
                                              "], params: {vectors: true}}\n"
                                              "  - {id: heads, explainer: attention.heads, rows: [" +
                                              rows + "], params: {aggregate: none}}\n");
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  const nlohmann::json hidden = Output("hidden"), heads = Output("heads");
  for (std::size_t r = 0; r < ref["rows"].size(); ++r) {
    for (std::size_t s = 0; s < 3; ++s) {
      const auto& expected = ref["hidden"][r][s];
      const auto& actual = hidden["vectors"][r][s];
      ASSERT_EQ(actual.size(), expected.size());
      for (std::size_t t = 0; t < expected.size(); ++t) {
        for (std::size_t d = 0; d < expected[t].size(); ++d) {
          ASSERT_NEAR(actual[t][d].get<double>(), expected[t][d].get<double>(), 1e-4)
              << "row " << ref["rows"][r] << " state " << s << " token " << t << " dim " << d;
        }
      }
    }
    const auto probabilities = ref["probabilities"][r].get<std::vector<double>>();
    const auto top = static_cast<std::size_t>(std::max_element(probabilities.begin(), probabilities.end()) -
                                              probabilities.begin());
    for (std::size_t m = 0; m < 4; ++m) {
      const auto masked = ref["masked"][r][m].get<std::vector<double>>();
      double change = 0.0;
      for (std::size_t c = 0; c < masked.size(); ++c) change += 0.5 * std::fabs(masked[c] - probabilities[c]);
      EXPECT_NEAR(heads["statistics"]["importance"][r][m / 2][m % 2].get<double>(),
                  probabilities[top] - masked[top], 1e-5)
          << "row " << ref["rows"][r] << " head " << m;
      EXPECT_NEAR(heads["statistics"]["importance_change"][r][m / 2][m % 2].get<double>(), change, 1e-5);
    }
  }
}

TEST_F(AttentionPluginE2eTest, TheLstmsAttentionPoolingIsItsAttentionView) {
  const nlohmann::json ref = Reference();
  std::string rows;
  std::vector<std::size_t> picked;
  for (std::size_t i = 0; i < ref["rows"].size() && picked.size() < 10; ++i) {
    if (ref["rows"][i].get<std::int64_t>() < 0) continue;
    rows += (rows.empty() ? "" : ", ") + ref["rows"][i].dump();
    picked.push_back(i);
  }
  const RunReport report =
      Run(kFixtures / "lstm.yaml", "  - {id: rollout, explainer: attention.rollout, rows: [" + rows + "]}\n");
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  const nlohmann::json out = Output("rollout");
  EXPECT_EQ(out["pooling"], "attention");
  for (std::size_t i = 0; i < picked.size(); ++i) {
    const auto expected = ref["lstm_pooling"][picked[i]].get<std::vector<double>>();
    ASSERT_EQ(out["importance"][i].size(), expected.size());
    for (std::size_t k = 0; k < expected.size(); ++k) {
      EXPECT_NEAR(out["importance"][i][k].get<double>(), expected[k], 1e-5)
          << "row " << out["rows"][i] << " token " << k;
    }
  }
}

TEST_F(AttentionPluginE2eTest, BadInputsAreOneSentence) {
  // A model that reads text but has no attention: the LSTM fixture with mean pooling.
  WriteText(dir_ / "no_attention.yaml",
            "format: loupe.model/v1\nname: lstm_mean\ntask: classification\n"
            "classes: [computers, food, law, love, medicine, politics, science, sports]\n"
            "input: {name: text, type: text}\n"
            "tokenizer: {type: whitespace, vocab: '" +
                (kFixtures / "vocab.txt").string() +
                "', lowercase: true, max_length: 64}\n"
                "weights: '" +
                (kFixtures / "lstm.safetensors").string() +
                "'\n"
                "layers:\n  - {type: embedding, name: emb}\n"
                "  - {type: lstm, name: lstm, num_layers: 1, bidirectional: true, batch_first: true}\n"
                "  - {type: pool, mode: mean}\n  - {type: linear, name: head}\n  - {type: softmax}\n");
  RunReport report =
      Run(dir_ / "no_attention.yaml", "  - {id: flow, explainer: attention.flow, rows: '0:2'}\n");
  ASSERT_FALSE(report.status.ok());
  EXPECT_EQ(
      report.status.message(),
      "step 'flow' failed: model 'lstm_mean' offers no 'attention' capability (it has neither self-attention "
      "layers nor attention pooling), which attention.flow needs");
  // Tabular data and model.
  report = Run(dir_ / "model.yaml", "  - {id: rollout, explainer: attention.rollout, rows: '0:2'}\n",
               dir_ / "data.csv", "y");
  ASSERT_FALSE(report.status.ok());
  EXPECT_EQ(report.status.message(),
            "step 'rollout' failed: attention.rollout explains models that read text, but none of the step's "
            "features (x1, x2, c) is a text column");
}

}  // namespace
}  // namespace loupe::e2e
