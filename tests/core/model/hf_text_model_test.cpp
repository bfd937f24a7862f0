// A loupe.model/v1 text model with a huggingface tokenizer: tests/fixtures/tokenizers/transformer_hf.yaml
// is tests/fixtures/text/transformer.yaml with its whitespace tokenizer written as a tokenizer.json. On
// every text both tokenize alike (all the project's ASCII texts), the two models must agree exactly:
// tokens, word indices, probabilities and attention.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "config/yaml_document.hpp"
#include "loupe/core/attention.hpp"
#include "model/text_model.hpp"

namespace loupe::model {
namespace {

const std::filesystem::path kSource(LOUPE_SOURCE_DIR);

std::shared_ptr<const Model> Load(const std::filesystem::path& file) {
  config::YamlParseOutcome parsed = config::LoadYamlFile(file);
  EXPECT_TRUE(parsed.diagnostics.empty()) << parsed.diagnostics.front().ToString();
  Result<std::shared_ptr<const Model>> model = LoadTextModel(*parsed.document, file);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? *model : nullptr;
}

std::vector<std::string> Strings() {
  std::ifstream in(kSource / "tests/fixtures/tokenizers/strings.txt");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    out.push_back(nlohmann::json::parse(line).get<std::string>());
  return out;
}

// ASCII without the special tokens' text: the huggingface tokenizer reads "[CLS]" written in a text as
// the added token [CLS], as the tokenizers library does; the built-in one splits it at punctuation.
bool IsPlainAscii(const std::string& s) {
  for (const char* special : {"[PAD]", "[UNK]", "[CLS]", "[SEP]"}) {
    if (s.find(special) != std::string::npos) return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

TEST(HuggingFaceTextModel, EqualsTheBuiltInTokenizerWhereTheTwoAgree) {
  const auto builtin = Load(kSource / "tests/fixtures/text/transformer.yaml");
  const auto hf = Load(kSource / "tests/fixtures/tokenizers/transformer_hf.yaml");
  ASSERT_TRUE(builtin && hf);
  std::vector<std::string> agreeing;
  std::size_t ascii = 0, ascii_agreeing = 0;
  for (const std::string& s : Strings()) {
    const TokenizedText a = builtin->text_model()->Tokenize(s).value();
    const TokenizedText b = hf->text_model()->Tokenize(s).value();
    const bool same = a.ids == b.ids;
    if (IsPlainAscii(s)) ++ascii, ascii_agreeing += same ? 1 : 0;
    if (!same) continue;
    EXPECT_EQ(a.tokens, b.tokens) << s;
    EXPECT_EQ(a.words, b.words) << s;
    EXPECT_EQ(a.word_index, b.word_index) << s;
    agreeing.push_back(s);
  }
  EXPECT_EQ(ascii_agreeing, ascii);  // the two differ only where their Unicode rules do
  EXPECT_GT(agreeing.size(), 4000u);
  agreeing.resize(std::min<std::size_t>(agreeing.size(), 600));
  const Tensor p = builtin->text_model()->PredictText(agreeing, OutputSpace::kProbability).value();
  const Tensor q = hf->text_model()->PredictText(agreeing, OutputSpace::kProbability).value();
  ASSERT_EQ(p.dim(0), q.dim(0));
  for (std::int64_t i = 0; i < p.dim(0) * p.dim(1); ++i)
    ASSERT_EQ(p.data<double>()[i], q.data<double>()[i]) << i;
  const std::vector<std::string> few(agreeing.begin(), agreeing.begin() + 5);
  const auto maps_a = builtin->attention_source()->Attention(few).value();
  const auto maps_b = hf->attention_source()->Attention(few).value();
  for (std::size_t i = 0; i < few.size(); ++i) EXPECT_EQ(maps_a[i].probabilities, maps_b[i].probabilities);
}

TEST(HuggingFaceTextModel, TokenizerBlockErrorsNameTheField) {
  const std::filesystem::path file = kSource / "tests/fixtures/tokenizers/bad_hf_model.yaml";
  const auto load = [&](const std::string& tokenizer) {
    {
      std::ofstream out(file);
      out << "format: loupe.model/v1\nname: bad\ntask: regression\ninput: {name: text, type: text}\n"
          << "tokenizer: " << tokenizer << "\nweights: ../text/transformer.safetensors\n"
          << "layers:\n  - {type: embedding, name: tok}\n";
    }
    config::YamlParseOutcome parsed = config::LoadYamlFile(file);
    Result<std::shared_ptr<const Model>> model = LoadTextModel(*parsed.document, file);
    std::filesystem::remove(file);
    return model.ok() ? std::string() : model.status().message();
  };
  EXPECT_NE(load("{type: huggingface, file: missing.json}").find("missing.json' does not exist"),
            std::string::npos);
  EXPECT_NE(load("{type: huggingface, file: text_vocab.json, vocab: v.txt}").find("unknown key 'vocab'"),
            std::string::npos);
  EXPECT_NE(load("{type: huggingface, file: text_vocab.json, max_length: 1}").find("at least 2"),
            std::string::npos);
  EXPECT_NE(load("{type: sentencepiece}").find("expected whitespace, wordpiece or huggingface"),
            std::string::npos);
}

}  // namespace
}  // namespace loupe::model
