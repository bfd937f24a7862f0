// grad.layer_integrated_gradients end to end: real pipelines over the native text fixtures (the transformer,
// the bidirectional LSTM with attention pooling, the tiny LSTM + encoder hybrid) against the PyTorch
// autograd references of plugins/gradients/tests/make_text_fixtures.py (Captum's LayerIntegratedGradients
// formulas on the embedding layer, pad-token baseline). Token and word attributions agree to 1e-5 relative
// to the row's largest; completeness holds within the reported delta and the delta shrinks as n_steps
// grows; 1 and 2 threads give the same bits; validation refuses the explainer on a tabular network and
// the tabular-only gradient explainers on a text model. Token saliency (grad.saliency on a text model)
// against the same references; layer integrated gradients on the Hugging Face fixtures against
// tests/fixtures/hf_models/make_gradient_fixtures.py; validation's sentences for "one of" capabilities and
// for a bf16 model.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e_util.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"

namespace loupe::e2e {
namespace {

const std::filesystem::path kTextSource(LOUPE_SOURCE_DIR);

const nlohmann::json& TextReference() {
  static const nlohmann::json reference =
      nlohmann::json::parse(ReadText(kTextSource / "plugins/gradients/tests/fixtures/text_reference.json"));
  return reference;
}

class GradientsTextE2eTest : public ScratchDir {
 protected:
  void SetUp() override {
    ScratchDir::SetUp();
    ASSERT_TRUE(registry_.Load(LOUPE_GRADIENTS_PLUGIN).ok());
  }

  // Runs layer IG on `model` over the reference texts with each of `variants` (id → params JSON).
  RunReport Run(const std::string& model, const std::vector<std::pair<std::string, std::string>>& variants,
                int threads = 1, const std::string& out = "out") {
    std::string rows;
    for (const auto& row : TextReference()["rows"]) rows += (rows.empty() ? "" : ", ") + row.dump();
    std::string steps;
    for (const auto& [id, params] : variants) {
      steps += "  - id: " + id + "\n    explainer: grad.layer_integrated_gradients\n    rows: [" + rows +
               "]\n    params: " + params + "\n";
    }
    WriteText(dir_ / "pipeline.yaml",
              "version: 1\nname: lig\ndata:\n  path: '" +
                  (kTextSource / "tests/data/fortunes_topics.csv").string() +
                  "'\n  target: topic\n  text: [text]\nmodel:\n  path: '" +
                  (kTextSource / ("tests/fixtures/text/" + model + ".yaml")).string() + "'\nsteps:\n" +
                  steps + "output:\n  dir: " + out + "\n  formats: [json]\n");
    ParseOutcome parsed = ParsePipelineFile(dir_ / "pipeline.yaml");
    EXPECT_TRUE(parsed.diagnostics.empty()) << parsed.diagnostics.front().ToString();
    const auto diagnostics = ValidateAgainstPlugins(*parsed.spec, registry_);
    EXPECT_TRUE(diagnostics.empty()) << diagnostics.front().ToString();
    RunOptions options;
    options.threads = threads;
    const RunReport report = RunPipeline(*parsed.spec, registry_, options);
    for (const auto& step : report.steps) EXPECT_EQ(step.status, StepStatus::kOk) << step.message;
    return report;
  }

  nlohmann::json Output(const std::string& step, const std::string& out = "out") const {
    return nlohmann::json::parse(ReadText(dir_ / out / (step + ".json")));
  }

  // The step's token and word values of the reference target against the reference `key`, and its delta.
  void ExpectMatchesReference(const std::string& model, const std::string& step, const std::string& key) {
    const nlohmann::json out = Output(step);
    const nlohmann::json& cases = TextReference()["models"][model];
    ASSERT_EQ(out["tokens"].size(), cases.size());
    for (std::size_t r = 0; r < cases.size(); ++r) {
      EXPECT_EQ(out["tokens"][r], TextReference()["tokens"][r]);
      const auto o = cases[r]["target"].get<std::size_t>();
      const nlohmann::json& expected = cases[r][key];
      double scale = 1e-12;
      for (const auto& v : expected["token_values"]) scale = std::max(scale, std::abs(v.get<double>()));
      const nlohmann::json& tokens = out["token_values"][r][o];
      ASSERT_EQ(tokens.size(), expected["token_values"].size());
      for (std::size_t s = 0; s < tokens.size(); ++s) {
        EXPECT_NEAR(tokens[s].get<double>(), expected["token_values"][s].get<double>(), 1e-5 * scale)
            << model << " " << step << " row " << r << " token " << s;
      }
      const nlohmann::json& words = out["values"][r][o];
      for (std::size_t w = 0; w < expected["word_values"].size(); ++w) {
        EXPECT_NEAR(words[w].get<double>(), expected["word_values"][w].get<double>(), 1e-5 * scale)
            << model << " " << step << " row " << r << " word " << w;
      }
      EXPECT_NEAR(out["convergence_delta"][r][o].get<double>(), expected["delta"].get<double>(),
                  1e-5 * scale + 1e-6)
          << model << " " << step << " row " << r;
    }
  }

  // Every diagnostic of the whole validation (model loaded), one per line.
  std::string AllDiagnostics(PipelineSpec& spec) const {
    std::string all;
    for (const auto& d : ValidatePipeline(spec, registry_).diagnostics) all += d.ToString() + "\n";
    return all;
  }

  PluginRegistry registry_;
};

class LayerIgFixture : public GradientsTextE2eTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(LayerIgFixture, TokenAndWordAttributionsEqualCaptumsFormulasByAutograd) {
  const std::string model = GetParam();
  Run(model, {{"gl50", "{}"},
              {"gl8", "{n_steps: 8}"},
              {"trap20", "{n_steps: 20, method: riemann_trapezoid, internal_batch_size: 7}"}});
  ExpectMatchesReference(model, "gl50", "ig_gausslegendre_50");
  ExpectMatchesReference(model, "gl8", "ig_gausslegendre_8");
  ExpectMatchesReference(model, "trap20", "ig_riemann_trapezoid_20");
}

TEST_P(LayerIgFixture, CompletenessHoldsWithinTheDeltaWhichShrinksWithSteps) {
  const std::string model = GetParam();
  Run(model, {{"few", "{n_steps: 4, method: riemann_trapezoid}"},
              {"many", "{n_steps: 64, method: riemann_trapezoid}"}});
  double few = 0, many = 0;
  for (const auto& [step, total] : {std::pair<std::string, double*>{"few", &few}, {"many", &many}}) {
    const nlohmann::json out = Output(step);
    for (std::size_t r = 0; r < out["tokens"].size(); ++r) {
      for (std::size_t o = 0; o < out["output_names"].size(); ++o) {
        double sum = 0;
        for (const auto& v : out["token_values"][r][o]) sum += v.get<double>();
        double words = 0;
        for (const auto& v : out["values"][r][o]) words += v.get<double>();
        // Special tokens ([CLS], [SEP]) belong to no word: the words' sum leaves them out.
        EXPECT_LE(std::abs(words), std::abs(sum) + 1.0);
        *total += std::abs(out["convergence_delta"][r][o].get<double>());
      }
    }
  }
  EXPECT_LT(many, few) << model;
}

TEST_P(LayerIgFixture, SameBitsOnOneAndTwoThreads) {
  const std::string model = GetParam();
  Run(model, {{"lig", "{n_steps: 16}"}}, 1, "one");
  Run(model, {{"lig", "{n_steps: 16}"}}, 2, "two");
  const nlohmann::json one = Output("lig", "one"), two = Output("lig", "two");
  EXPECT_EQ(one["token_values"], two["token_values"]);
  EXPECT_EQ(one["values"], two["values"]);
  EXPECT_EQ(one["convergence_delta"], two["convergence_delta"]);
}

INSTANTIATE_TEST_SUITE_P(TextFixtures, LayerIgFixture, ::testing::Values("transformer", "lstm", "tiny"));

TEST_F(GradientsTextE2eTest, ValidationRefusesTheWrongKindOfModelBeforeAnythingRuns) {
  WriteText(dir_ / "tabular.yaml",
            "version: 1\nname: lig\ndata:\n  path: '" +
                (kTextSource / "tests/data/breast_cancer.csv").string() +
                "'\n  target: target\nmodel:\n  path: '" +
                (kTextSource / "tests/fixtures/models/breast_cancer_mlp.yaml").string() +
                "'\nsteps:\n  - id: lig\n    explainer: grad.layer_integrated_gradients\n    rows: '0:2'\n"
                "output:\n  dir: out\n");
  ParseOutcome tabular = ParsePipelineFile(dir_ / "tabular.yaml");
  ASSERT_TRUE(tabular.diagnostics.empty()) << tabular.diagnostics.front().ToString();
  EXPECT_NE(AllDiagnostics(*tabular.spec).find("needs the model capability 'text_gradient'"),
            std::string::npos)
      << AllDiagnostics(*tabular.spec);

  WriteText(dir_ / "text.yaml",
            "version: 1\nname: sal\ndata:\n  path: '" +
                (kTextSource / "tests/data/fortunes_topics.csv").string() +
                "'\n  target: topic\n  text: [text]\nmodel:\n  path: '" +
                (kTextSource / "tests/fixtures/text/lstm.yaml").string() +
                "'\nsteps:\n  - id: sal\n    explainer: grad.saliency\n    rows: [0]\noutput:\n  dir: out\n");
  ParseOutcome text = ParsePipelineFile(dir_ / "text.yaml");
  ASSERT_TRUE(text.diagnostics.empty()) << text.diagnostics.front().ToString();
  // grad.saliency explains text models per token ("gradient|text_gradient"): accepted.
  EXPECT_EQ(AllDiagnostics(*text.spec), "");

  WriteText(dir_ / "text_ig.yaml", "version: 1\nname: ig\ndata:\n  path: '" +
                                       (kTextSource / "tests/data/fortunes_topics.csv").string() +
                                       "'\n  target: topic\n  text: [text]\nmodel:\n  path: '" +
                                       (kTextSource / "tests/fixtures/text/lstm.yaml").string() +
                                       "'\nsteps:\n  - id: ig\n    explainer: grad.integrated_gradients\n    "
                                       "rows: [0]\noutput:\n  dir: out\n");
  ParseOutcome text_ig = ParsePipelineFile(dir_ / "text_ig.yaml");
  ASSERT_TRUE(text_ig.diagnostics.empty()) << text_ig.diagnostics.front().ToString();
  EXPECT_NE(AllDiagnostics(*text_ig.spec).find("needs the model capability 'gradient'"), std::string::npos)
      << AllDiagnostics(*text_ig.spec);
}

// A model offering neither capability hears both names; a bf16 text model says why it refuses.
TEST_F(GradientsTextE2eTest, ValidationNamesBothAlternativesAndWhyABf16ModelRefuses) {
  WriteText(dir_ / "texts.csv", "text\nok\n");
  WriteText(dir_ / "bf16.yaml",
            "version: 1\nname: bf16\ndata:\n  path: texts.csv\n  text: [text]\n  features: [text]\n"
            "model:\n  type: huggingface\n  precision: bf16\n  path: '" +
                (kTextSource / "tests/fixtures/hf_models/bert").string() +
                "'\nsteps:\n  - id: sal\n    explainer: grad.saliency\n    rows: [0]\noutput:\n  dir: out\n");
  ParseOutcome bf16 = ParsePipelineFile(dir_ / "bf16.yaml");
  ASSERT_TRUE(bf16.diagnostics.empty()) << bf16.diagnostics.front().ToString();
  const std::string all = AllDiagnostics(*bf16.spec);
  EXPECT_NE(all.find("needs one of the model capabilities 'gradient' or 'text_gradient'"), std::string::npos)
      << all;
  EXPECT_NE(all.find("precision: bf16"), std::string::npos) << all;
}

// Token saliency on the transformer fixture: Σ_j |∂p/∂x_sj| (abs) and Σ_j ∂p/∂x_sj of the reference
// gradients (make_text_fixtures.py, autograd) per token, for the predicted class.
TEST_F(GradientsTextE2eTest, TokenSaliencyIsTheSummedGradientOfTheEmbeddingOutput) {
  std::string rows;
  for (const auto& row : TextReference()["rows"]) rows += (rows.empty() ? "" : ", ") + row.dump();
  WriteText(
      dir_ / "pipeline.yaml",
      "version: 1\nname: sal\ndata:\n  path: '" + (kTextSource / "tests/data/fortunes_topics.csv").string() +
          "'\n  target: topic\n  text: [text]\nmodel:\n  path: '" +
          (kTextSource / "tests/fixtures/text/transformer.yaml").string() +
          "'\nsteps:\n  - {id: abs, explainer: grad.saliency, rows: [" + rows +
          "], params: {output: probability}}\n  - {id: signed, explainer: grad.saliency, rows: [" + rows +
          "], params: {output: probability, abs: false}}\noutput:\n  dir: out\n  formats: [json]\n");
  ParseOutcome parsed = ParsePipelineFile(dir_ / "pipeline.yaml");
  ASSERT_TRUE(parsed.diagnostics.empty()) << parsed.diagnostics.front().ToString();
  const auto diagnostics = ValidateAgainstPlugins(*parsed.spec, registry_);  // fills the defaults
  ASSERT_TRUE(diagnostics.empty()) << diagnostics.front().ToString();
  const RunReport report = RunPipeline(*parsed.spec, registry_, RunOptions{});
  for (const auto& step : report.steps) ASSERT_EQ(step.status, StepStatus::kOk) << step.message;
  const nlohmann::json abs = Output("abs"), signed_ = Output("signed");
  const nlohmann::json& cases = TextReference()["models"]["transformer"];
  for (std::size_t r = 0; r < cases.size(); ++r) {
    const auto o = cases[r]["target"].get<std::size_t>();
    const std::vector<double> g = cases[r]["probability"]["gradient"].get<std::vector<double>>();
    const std::size_t T = abs["tokens"][r].size(), d = g.size() / T;
    for (std::size_t s = 0; s < T; ++s) {
      double sum_abs = 0, sum = 0, scale = 0;
      for (std::size_t j = 0; j < d; ++j) {
        sum_abs += std::abs(g[s * d + j]);
        sum += g[s * d + j];
        scale = std::max(scale, std::abs(g[s * d + j]));
      }
      EXPECT_NEAR(abs["token_values"][r][o][s].get<double>(), sum_abs, 1e-5 * scale * static_cast<double>(d))
          << r;
      EXPECT_NEAR(signed_["token_values"][r][o][s].get<double>(), sum, 1e-5 * scale * static_cast<double>(d))
          << r;
    }
    EXPECT_NEAR(abs["base_values"][r][o].get<double>(), cases[r]["probability"]["output"].get<double>(),
                1e-5);
  }
}

// Layer integrated gradients on the Hugging Face fixtures through `bert.embeddings` (after its LayerNorm)
// from the pad baseline, against Captum's formulas by autograd (tests/fixtures/hf_models/
// make_gradient_fixtures.py): 1e-5 relative to the row's largest token value.
class HfLayerIg : public GradientsTextE2eTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(HfLayerIg, TokenAttributionsEqualCaptumsFormulasByAutograd) {
  const std::filesystem::path fixtures = kTextSource / "tests/fixtures/hf_models";
  const nlohmann::json reference = nlohmann::json::parse(ReadText(fixtures / "gradients.json"));
  const nlohmann::json expected_outputs = nlohmann::json::parse(ReadText(fixtures / "expected.json"));
  const nlohmann::json& model = reference["models"][GetParam()];
  std::string csv = "text\n";
  for (const auto& i : reference["text_indices"])
    csv += "\"" + expected_outputs[GetParam()]["texts"][i.get<std::size_t>()].get<std::string>() + "\"\n";
  WriteText(dir_ / "texts.csv", csv);
  WriteText(
      dir_ / "pipeline.yaml",
      "version: 1\nname: hf\ndata:\n  path: texts.csv\n  text: [text]\n  features: [text]\n"
      "model:\n  type: huggingface\n  path: '" +
          (fixtures / GetParam()).string() +
          "'\nsteps:\n  - {id: gl50, explainer: grad.layer_integrated_gradients, rows: all, params: {output: "
          "probability}}\n  - {id: trap20, explainer: grad.layer_integrated_gradients, rows: all, params: "
          "{output: probability, n_steps: 20, method: riemann_trapezoid}}\noutput:\n  dir: out\n  formats: "
          "[json]\n");
  ParseOutcome parsed = ParsePipelineFile(dir_ / "pipeline.yaml");
  ASSERT_TRUE(parsed.diagnostics.empty()) << parsed.diagnostics.front().ToString();
  const auto diagnostics = ValidateAgainstPlugins(*parsed.spec, registry_);
  ASSERT_TRUE(diagnostics.empty()) << diagnostics.front().ToString();
  const RunReport report = RunPipeline(*parsed.spec, registry_, RunOptions{});
  for (const auto& step : report.steps) ASSERT_EQ(step.status, StepStatus::kOk) << step.message;
  for (const auto& [step, key] : {std::pair<std::string, std::string>{"gl50", "ig_gausslegendre_50"},
                                  {"trap20", "ig_riemann_trapezoid_20"}}) {
    const nlohmann::json out = Output(step);
    EXPECT_EQ(out["layer"], model["layer"]);
    for (std::size_t r = 0; r < model["texts"].size(); ++r) {
      const auto o = model["texts"][r]["target"].get<std::size_t>();
      const nlohmann::json& want = model["texts"][r][key];
      double scale = 1e-12;
      for (const auto& v : want["token_values"]) scale = std::max(scale, std::abs(v.get<double>()));
      const nlohmann::json& got = out["token_values"][r][o];
      ASSERT_EQ(got.size(), want["token_values"].size()) << step << " row " << r;
      for (std::size_t s = 0; s < got.size(); ++s) {
        EXPECT_NEAR(got[s].get<double>(), want["token_values"][s].get<double>(), 1e-5 * scale)
            << GetParam() << " " << step << " row " << r << " token " << s;
      }
      EXPECT_NEAR(out["convergence_delta"][r][o].get<double>(), want["delta"].get<double>(),
                  1e-5 * scale + 1e-6)
          << GetParam() << " " << step << " row " << r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(HfFixtures, HfLayerIg, ::testing::Values("bert", "distilbert", "roberta"));

}  // namespace
}  // namespace loupe::e2e
