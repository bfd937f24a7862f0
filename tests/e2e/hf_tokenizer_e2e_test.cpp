// Every text explainer (attention.inspect, rollout, flow, heads, hidden; lime.text) on a text model whose
// tokenizer is a Hugging Face tokenizer.json (tests/fixtures/tokenizers/transformer_hf.yaml), through
// real pipelines with the built plugins. That model is tests/fixtures/text/transformer.yaml with its
// built-in whitespace tokenizer written as a tokenizer.json; on these rows the two tokenize alike, so
// every explanation must equal the built-in model's, tokens and word indices included.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e_util.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"

namespace loupe::e2e {
namespace {

const std::filesystem::path kSource(LOUPE_SOURCE_DIR);
const std::filesystem::path kFortunes = kSource / "tests/data/fortunes_topics.csv";

const char* kSteps =
    "  - {id: inspect, explainer: attention.inspect, rows: '0:3'}\n"
    "  - {id: rollout, explainer: attention.rollout, rows: '0:3'}\n"
    "  - {id: flow, explainer: attention.flow, rows: '0:2'}\n"
    "  - {id: heads, explainer: attention.heads, rows: '0:4'}\n"
    "  - {id: hidden, explainer: attention.hidden, rows: '0:2'}\n"
    "  - {id: lime, explainer: lime.text, rows: [9, 16], params: {num_samples: 400, top_labels: 1}}\n";

class HfTokenizerE2eTest : public ScratchDir {
 protected:
  void SetUp() override {
    ScratchDir::SetUp();
    for (const char* plugin : {LOUPE_ATTENTION_PLUGIN, LOUPE_LIME_PLUGIN}) {
      const Status loaded = registry_.Load(plugin);
      ASSERT_TRUE(loaded.ok()) << loaded.message();
    }
  }

  // Runs kSteps on `model` into dir_/name/out.
  void Run(const std::string& name, const std::filesystem::path& model) {
    const std::filesystem::path dir = dir_ / name;
    WriteText(dir / "pipeline.yaml", "version: 1\nname: hf\nseed: 5\ndata:\n  path: '" + kFortunes.string() +
                                         "'\n  target: topic\nmodel:\n  path: '" + model.string() +
                                         "'\nsteps:\n" + kSteps + "output:\n  dir: '" +
                                         (dir / "out").string() + "'\n  formats: [json]\n");
    ParseOutcome parsed = ParsePipelineFile(dir / "pipeline.yaml");
    ASSERT_TRUE(parsed.diagnostics.empty()) << parsed.diagnostics.front().ToString();
    ASSERT_TRUE(ValidateAgainstPlugins(*parsed.spec, registry_).empty());
    const RunReport report = RunPipeline(*parsed.spec, registry_, RunOptions{});
    ASSERT_TRUE(report.status.ok()) << report.status.message();
  }

  // A step's explanation without what names the run (provenance: model path, time; elapsed_ms).
  nlohmann::json Output(const std::string& name, const std::string& step) const {
    nlohmann::json out = nlohmann::json::parse(ReadText(dir_ / name / "out" / (step + ".json")));
    out.erase("provenance");
    out.erase("elapsed_ms");
    return out;
  }

  PluginRegistry registry_;
};

TEST_F(HfTokenizerE2eTest, EveryTextExplainerEqualsTheBuiltInTokenizersResults) {
  Run("builtin", kSource / "tests/fixtures/text/transformer.yaml");
  Run("huggingface", kSource / "tests/fixtures/tokenizers/transformer_hf.yaml");
  for (const char* step : {"inspect", "rollout", "flow", "heads", "hidden", "lime"}) {
    SCOPED_TRACE(step);
    const nlohmann::json a = Output("builtin", step), b = Output("huggingface", step);
    EXPECT_FALSE(a.empty());
    for (const auto& [key, value] : a.items()) EXPECT_EQ(value, b[key]) << "field " << key;
  }
  const nlohmann::json inspect = Output("huggingface", "inspect");
  EXPECT_NE(inspect.dump().find("word_index"), std::string::npos);
}

}  // namespace
}  // namespace loupe::e2e
