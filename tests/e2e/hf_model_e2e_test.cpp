// Every text explainer (attention.inspect, rollout, flow, heads, hidden; lime.text) on each Hugging Face
// save_pretrained fixture (tests/fixtures/hf_models: BERT, DistilBERT, RoBERTa) through a real pipeline
// with `model: {type: huggingface, path: DIR}` and the built plugins.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e_util.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"

namespace loupe::e2e {
namespace {

const std::filesystem::path kFixtures = std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/hf_models";

const char* kData =
    "id,text\n"
    "0,The food was wonderful and the staff were friendly.\n"
    "1,Terrible.\n"
    "2,\"I'd never go back: the soup was cold, the bread stale!\"\n"
    "3,Bugs in the compiler? It's fixed.\n";

const char* kSteps =
    "  - {id: inspect, explainer: attention.inspect, rows: '0:3'}\n"
    "  - {id: rollout, explainer: attention.rollout, rows: '0:3'}\n"
    "  - {id: flow, explainer: attention.flow, rows: '0:2'}\n"
    "  - {id: heads, explainer: attention.heads, rows: all}\n"
    "  - {id: hidden, explainer: attention.hidden, rows: '0:2'}\n"
    "  - {id: lime, explainer: lime.text, rows: [0, 2], params: {num_samples: 300, top_labels: 1}}\n";

class HfModelE2eTest : public ScratchDir, public testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    ScratchDir::SetUp();
    for (const char* plugin : {LOUPE_ATTENTION_PLUGIN, LOUPE_LIME_PLUGIN}) {
      const Status loaded = registry_.Load(plugin);
      ASSERT_TRUE(loaded.ok()) << loaded.message();
    }
  }

  void Run() {
    WriteText(dir_ / "texts.csv", kData);
    WriteText(dir_ / "pipeline.yaml",
              "version: 1\nname: hf\nseed: 5\ndata:\n  path: texts.csv\n  text: [text]\n"
              "  features: [text]\nmodel:\n  type: huggingface\n  path: '" +
                  (kFixtures / GetParam()).string() + "'\nsteps:\n" + kSteps +
                  "output:\n  dir: out\n  formats: [json]\n");
    ParseOutcome parsed = ParsePipelineFile(dir_ / "pipeline.yaml");
    ASSERT_TRUE(parsed.diagnostics.empty()) << parsed.diagnostics.front().ToString();
    const std::vector<Diagnostic> invalid = ValidateAgainstPlugins(*parsed.spec, registry_);
    ASSERT_TRUE(invalid.empty()) << invalid.front().ToString();
    const RunReport report = RunPipeline(*parsed.spec, registry_, RunOptions{});
    ASSERT_TRUE(report.status.ok()) << report.status.message();
  }

  nlohmann::json Output(const std::string& step) const {
    return nlohmann::json::parse(ReadText(dir_ / "out" / (step + ".json")));
  }

  PluginRegistry registry_;
};

TEST_P(HfModelE2eTest, EveryTextExplainerRuns) {
  Run();
  ASSERT_FALSE(HasFailure());
  const nlohmann::json inspect = Output("inspect");
  ASSERT_EQ(inspect["attentions"].size(), 3u);
  EXPECT_EQ(inspect["attentions"][0].size(), 2u);     // layers
  EXPECT_EQ(inspect["attentions"][0][0].size(), 4u);  // heads
  const std::string first = inspect["tokens"][0][0];
  EXPECT_EQ(first, GetParam() == "roberta" ? "<s>" : "[CLS]");
  EXPECT_EQ(inspect["word_index"][0][0], -1);
  // cls pooling: the rollout's importance is its first row, which sums to 1 over the tokens.
  const nlohmann::json rollout = Output("rollout");
  EXPECT_EQ(rollout["pooling"], "cls");
  // Every text starts with the first special token, found by word index, not by spelling.
  const nlohmann::json heads = Output("heads");
  for (const nlohmann::json& value : heads["statistics"]["to_cls"][0]) EXPECT_GT(value.get<double>(), 0.0);
  EXPECT_FALSE(heads["statistics"]["importance"].is_null());
  EXPECT_EQ(Output("hidden")["kind"].get<std::string>().empty(), false);
  EXPECT_EQ(Output("flow")["kind"], inspect["kind"]);
  const nlohmann::json lime = Output("lime");
  EXPECT_EQ(lime["values"].size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfModelE2eTest, testing::Values("bert", "distilbert", "roberta"));

}  // namespace
}  // namespace loupe::e2e
