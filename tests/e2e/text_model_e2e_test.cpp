// Text models end to end on tests/data/fortunes_topics.csv: `loupe predict` with the transformer fixture,
// and pipelines whose C99 fixture plugin (fixtures/attntest_plugin.c) reads attention through the C
// capability LoupeAttentionSource. Everything is compared with PyTorch (tests/fixtures/text).
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>

#include <gmock/gmock.h>
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

std::vector<std::string> SplitCsvLine(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) cells.push_back(cell);
  return cells;
}

class TextModelE2eTest : public ScratchDir {
 protected:
  void SetUp() override {
    ScratchDir::SetUp();
    ASSERT_TRUE(registry_.Load(LOUPE_ATTNTEST_PLUGIN).ok());
  }

  RunReport Run(const std::string& model, const std::string& step) {
    WriteText(dir_ / "pipeline.yaml", "version: 1\nname: text\ndata:\n  path: '" + kFortunes.string() +
                                          "'\n  target: topic\nmodel:\n  path: '" +
                                          (kFixtures / (model + ".yaml")).string() + "'\nsteps:\n" + step +
                                          "output:\n  dir: out\n  formats: [json]\n");
    ParseOutcome parsed = ParsePipelineFile(dir_ / "pipeline.yaml");
    EXPECT_TRUE(parsed.diagnostics.empty()) << parsed.diagnostics.front().ToString();
    EXPECT_TRUE(ValidateAgainstPlugins(*parsed.spec, registry_).empty());
    return RunPipeline(*parsed.spec, registry_, RunOptions{});
  }

  nlohmann::json Output(const std::string& file) const {
    return nlohmann::json::parse(ReadText(dir_ / "out" / file));
  }

  PluginRegistry registry_;
};

TEST_F(TextModelE2eTest, PredictWithTheTransformerEqualsPyTorch) {
  const std::string command = "cd '" + dir_.string() + "' && '" + LOUPE_EXE + "' predict --model '" +
                              (kFixtures / "transformer.yaml").string() + "' --data '" + kFortunes.string() +
                              "' -o p.csv 2> stderr.txt";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << ReadText(dir_ / "stderr.txt");
  std::stringstream lines(ReadText(dir_ / "p.csv"));
  std::vector<std::string> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(line);
  ASSERT_EQ(rows.size(), 2684u);  // header + every data row
  EXPECT_EQ(rows[0], "computers,food,law,love,medicine,politics,science,sports");
  const nlohmann::json ref = Reference();
  int compared = 0;
  for (std::size_t i = 0; i < ref["rows"].size(); ++i) {
    const auto row = ref["rows"][i].get<std::int64_t>();
    if (row < 0) continue;  // a made-up text, not a row of the data
    const std::vector<std::string> cells = SplitCsvLine(rows[static_cast<std::size_t>(row) + 1]);
    ASSERT_EQ(cells.size(), 8u);
    for (int c = 0; c < 8; ++c) {
      EXPECT_NEAR(std::stod(cells[static_cast<std::size_t>(c)]), ref["transformer"][i][c].get<double>(), 1e-5)
          << "row " << row << " class " << c;
    }
    ++compared;
  }
  EXPECT_EQ(compared, 45);
}

TEST_F(TextModelE2eTest, TransformerAttentionThroughTheCCapabilityEqualsPyTorch) {
  const nlohmann::json ref = Reference();
  const auto which = ref["attention_texts"].get<std::vector<std::size_t>>();
  std::string rows;
  for (std::size_t i : which) rows += (rows.empty() ? "" : ", ") + ref["rows"][i].dump();
  const RunReport report =
      Run("transformer", "  - {id: attn, explainer: attntest.maps, rows: [" + rows + "]}\n");
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  // The text column is among the pipeline's default features, because the model reads it.
  EXPECT_EQ(Output("run.json")["data"]["features"], nlohmann::json::array({"text"}));
  const nlohmann::json out = Output("attn.json");
  EXPECT_EQ(out["n_layers"], 2);
  EXPECT_EQ(out["n_heads"], 2);
  EXPECT_EQ(out["has_pooling"], 0);
  EXPECT_EQ(out["has_capability"], 1);
  EXPECT_EQ(out["has_text_capability"], 1);
  ASSERT_EQ(out["maps"].size(), which.size());
  const std::vector<float> expected = ReadF32(kFixtures / "transformer_attention.bin");
  std::size_t offset = 0;
  for (std::size_t i = 0; i < which.size(); ++i) {
    const nlohmann::json& m = out["maps"][std::to_string(i)];
    EXPECT_EQ(m["row"], ref["rows"][which[i]]);
    EXPECT_EQ(m["tokens"], ref["tokens"][which[i]]);
    EXPECT_EQ(m["word_index"], ref["word_index"][which[i]]);
    EXPECT_EQ(m["words"], ref["words"][which[i]]);
    const std::size_t t = m["tokens"].size();
    ASSERT_EQ(m["attention"].size(), 2u);
    ASSERT_EQ(m["attention"][0].size(), 2u);
    for (std::size_t l = 0; l < 2; ++l) {
      for (std::size_t h = 0; h < 2; ++h) {
        ASSERT_EQ(m["attention"][l][h].size(), t);
        for (std::size_t q = 0; q < t; ++q) {
          for (std::size_t k = 0; k < t; ++k) {
            ASSERT_LT(offset, expected.size());
            ASSERT_NEAR(m["attention"][l][h][q][k].get<double>(), expected[offset++], 1e-5)
                << "row " << m["row"] << " layer " << l << " head " << h << " query " << q << " key " << k;
          }
        }
      }
    }
  }
  EXPECT_EQ(offset, expected.size());
}

TEST_F(TextModelE2eTest, LstmAttentionPoolingThroughTheCCapabilityEqualsPyTorch) {
  const RunReport report = Run("lstm", "  - {id: attn, explainer: attntest.maps, rows: '0:5'}\n");
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  EXPECT_EQ(Output("attn.json")["n_layers"], 0);
  EXPECT_EQ(Output("attn.json")["has_pooling"], 1);

  const nlohmann::json ref = Reference();
  std::string rows;
  std::vector<std::size_t> picked;
  for (std::size_t i = 0; i < ref["rows"].size(); ++i) {
    if (ref["rows"][i].get<std::int64_t>() < 0) continue;
    rows += (rows.empty() ? "" : ", ") + ref["rows"][i].dump();
    picked.push_back(i);
  }
  ASSERT_TRUE(Run("lstm", "  - {id: attn, explainer: attntest.maps, rows: [" + rows + "]}\n").status.ok());
  const nlohmann::json out = Output("attn.json");
  for (std::size_t i = 0; i < picked.size(); ++i) {
    const nlohmann::json& m = out["maps"][std::to_string(i)];
    EXPECT_FALSE(m.contains("attention"));
    const auto expected = ref["lstm_pooling"][picked[i]].get<std::vector<double>>();
    ASSERT_EQ(m["pooling"].size(), expected.size()) << "row " << m["row"];
    for (std::size_t k = 0; k < expected.size(); ++k) {
      EXPECT_NEAR(m["pooling"][k].get<double>(), expected[k], 1e-5) << "row " << m["row"] << " token " << k;
    }
  }
}

TEST_F(TextModelE2eTest, TextCapabilityTokenizesRowsAndPredictsTextsLikePyTorch) {
  const nlohmann::json ref = Reference();
  std::string rows;
  std::vector<std::size_t> picked;
  for (std::size_t i = 0; i < ref["rows"].size(); ++i) {
    if (ref["rows"][i].get<std::int64_t>() < 0) continue;
    rows += (rows.empty() ? "" : ", ") + ref["rows"][i].dump();
    picked.push_back(i);
  }
  const RunReport report =
      Run("transformer", "  - {id: text, explainer: attntest.text, rows: [" + rows + "]}\n");
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  const nlohmann::json out = Output("text.json");
  ASSERT_EQ(out["probabilities"].size(), picked.size());
  for (std::size_t i = 0; i < picked.size(); ++i) {
    const nlohmann::json& t = out["texts"][std::to_string(i)];
    EXPECT_EQ(t["row"], ref["rows"][picked[i]]);
    EXPECT_EQ(t["tokens"], ref["tokens"][picked[i]]);
    EXPECT_EQ(t["words"], ref["words"][picked[i]]);
    // The words joined by spaces tokenize as the text did, so the model gives PyTorch's probabilities.
    for (int c = 0; c < 8; ++c) {
      EXPECT_NEAR(out["probabilities"][i][c].get<double>(), ref["transformer"][picked[i]][c].get<double>(),
                  1e-5)
          << "row " << t["row"] << " class " << c;
    }
  }
}

TEST_F(TextModelE2eTest, AttentionErrorsAreOneSentence) {
  RunReport report =
      Run("transformer", "  - {id: attn, explainer: attntest.maps, rows: '0:2', params: {bad_row: true}}\n");
  ASSERT_FALSE(report.status.ok());
  EXPECT_EQ(report.status.message(),
            "step 'attn' failed: a text capability was given row 2683 but the data has 2683 rows.");
  report =
      Run("transformer", "  - {id: attn, explainer: attntest.maps, rows: '0:3', params: {stop_at: 1}}\n");
  ASSERT_FALSE(report.status.ok());
  EXPECT_EQ(report.status.message(),
            "step 'attn' failed: the sink stopped at row 1 with status 4 without saying why.");
}

}  // namespace
}  // namespace loupe::e2e
