// lime.text end to end: a pipeline over tests/data/fortunes_topics.csv with the committed transformer
// (tests/fixtures/text) and the built lime plugin. The explanation is checked against the model itself:
// the reported prediction is the model on the row's text, and removing the word with the largest
// positive weight lowers the explained class's probability.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e_util.hpp"
#include "loupe/core/attention.hpp"
#include "loupe/core/dataset.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"

namespace loupe::e2e {
namespace {

const std::filesystem::path kSource(LOUPE_SOURCE_DIR);
const std::filesystem::path kModel = kSource / "tests/fixtures/text/transformer.yaml";
const std::filesystem::path kFortunes = kSource / "tests/data/fortunes_topics.csv";

// The UTF-8 text with the code-point ranges `spans` removed.
std::string RemoveSpans(const std::string& text, const nlohmann::json& spans) {
  std::string out;
  std::int64_t code_point = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool lead = (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
    if (lead && i > 0) ++code_point;
    bool removed = false;
    for (const auto& span : spans)
      removed =
          removed || (code_point >= span[0].get<std::int64_t>() && code_point < span[1].get<std::int64_t>());
    if (!removed) out += text[i];
  }
  return out;
}

class LimeTextE2eTest : public ScratchDir {
 protected:
  void SetUp() override {
    ScratchDir::SetUp();
    ASSERT_TRUE(registry_.Load(LOUPE_LIME_PLUGIN).ok());
    model_ = std::move(LoadModel(kModel)).value();
    text_ = model_->text_model();
    ASSERT_NE(text_, nullptr);
  }

  RunReport Run(const std::string& step) {
    WriteText(dir_ / "pipeline.yaml", "version: 1\nname: lime-text\nseed: 3\ndata:\n  path: '" +
                                          kFortunes.string() + "'\n  target: topic\nmodel:\n  path: '" +
                                          kModel.string() + "'\nsteps:\n" + step +
                                          "output:\n  dir: out\n  formats: [json]\n");
    ParseOutcome parsed = ParsePipelineFile(dir_ / "pipeline.yaml");
    EXPECT_TRUE(parsed.diagnostics.empty()) << parsed.diagnostics.front().ToString();
    EXPECT_TRUE(ValidateAgainstPlugins(*parsed.spec, registry_).empty());
    return RunPipeline(*parsed.spec, registry_, RunOptions{});
  }

  // The model's probability of class `label` for each text.
  std::vector<double> Probability(const std::vector<std::string>& texts, const std::string& label) const {
    const auto& classes = model_->Info().output_names;
    const auto column = std::find(classes.begin(), classes.end(), label) - classes.begin();
    Result<Tensor> out = text_->PredictText(texts, OutputSpace::kProbability);
    if (!out.ok()) {  // fails the test; NaN then fails every comparison of the caller
      ADD_FAILURE() << out.status().message();
      return std::vector<double>(texts.size(), std::numeric_limits<double>::quiet_NaN());
    }
    std::vector<double> p;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      p.push_back(out->data<double>()[static_cast<std::int64_t>(i) * out->dim(1) + column]);
    }
    return p;
  }

  PluginRegistry registry_;
  std::shared_ptr<const Model> model_;
  const TextModel* text_ = nullptr;
};

TEST_F(LimeTextE2eTest, ExplainsTheTransformersTopClassWithWordsThatMatter) {
  const RunReport report = Run(
      "  - {id: lime, explainer: lime.text, rows: [9, 16], params: {num_samples: 1500, top_labels: 1}}\n");
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  const nlohmann::json out = nlohmann::json::parse(ReadText(dir_ / "out" / "lime.json"));
  EXPECT_EQ(out["kind"], "feature_attribution");
  EXPECT_EQ(out["texts"][0], "A computer scientist is someone who fixes things that aren't broken.");
  CsvOptions options;
  options.text = {"text"};
  const Dataset data = std::move(ReadCsv(kFortunes, options)).value();
  const std::vector<std::string>& cells = data.Find("text")->text();
  const std::vector<std::string> names = out["output_names"].get<std::vector<std::string>>();
  for (std::size_t r = 0; r < 2; ++r) {
    SCOPED_TRACE("row " + out["rows"][r].dump());
    const std::string label = out["top_labels"][r][0];
    const auto o = static_cast<std::size_t>(std::find(names.begin(), names.end(), label) - names.begin());
    const std::string text = out["texts"][r];
    const std::string cell = cells[out["rows"][r].get<std::size_t>()];
    const double predicted = out["prediction"][r][o].get<double>();
    EXPECT_NEAR(predicted, Probability({cell}, label)[0], 1e-5);  // the joined words read like the cell
    EXPECT_GT(out["score"][r][o].get<double>(), 0.3);
    const nlohmann::json& ranked = out["as_list"][r][o];
    ASSERT_FALSE(ranked.empty());
    // The word with the largest positive weight: removing it lowers P(label).
    nlohmann::json best;
    for (const auto& entry : ranked) {
      if (entry["weight"].get<double>() > 0 && (best.is_null() || entry["weight"] > best["weight"]))
        best = entry;
    }
    ASSERT_FALSE(best.is_null());
    const nlohmann::json& spans = out["words"][r][best["feature"].get<std::size_t>()]["spans"];
    const std::string without = RemoveSpans(text, spans);
    EXPECT_LT(Probability({without}, label)[0], predicted) << best.dump() << " removed: " << without;
  }
}

}  // namespace
}  // namespace loupe::e2e
