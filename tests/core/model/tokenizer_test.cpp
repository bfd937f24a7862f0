// Tokenizers of text models: BERT WordPiece on a vocabulary written here (BERT's documented examples), the
// whitespace tokenizer against the ids PyTorch's fixtures were trained with (tests/fixtures/text).
#include "model/tokenizer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

namespace loupe::model {
namespace {

using ::testing::ElementsAre;

const std::string kTokenizerFixtures = std::string(LOUPE_SOURCE_DIR) + "/tests/fixtures/text/";

std::vector<std::string> WordPieceVocab() {
  return {"[PAD]", "[UNK]", "[CLS]", "[SEP]",  "un",    "##aff", "##able", "the",  "want",
          "##ed",  "wa",    "runn",  "##ing",  ",",     ".",     "jim",    "##my", "hen",
          "##son", "was",   "a",     "puppet", "##eer", "cafe",  "x",      "##x"};
}

Tokenizer WordPiece(std::int64_t max_length = 64) {
  TokenizerOptions options;
  options.kind = TokenizerKind::kWordPiece;
  options.max_length = max_length;
  auto t = Tokenizer::Create(WordPieceVocab(), options, "test-vocab");
  EXPECT_TRUE(t.ok()) << t.status().message();
  return std::move(t).value();
}

TEST(TokenizerTest, WordPieceSplitsGreedilyLongestFirst) {
  const TokenizedText t = WordPiece().Tokenize("unaffable");
  EXPECT_THAT(t.tokens, ElementsAre("[CLS]", "un", "##aff", "##able", "[SEP]"));
  EXPECT_THAT(t.ids, ElementsAre(2, 4, 5, 6, 3));
  EXPECT_THAT(t.word_index, ElementsAre(-1, 0, 0, 0, -1));
}

TEST(TokenizerTest, WordPieceOnBertsDocumentedSentences) {
  // From BERT's tokenization tests: "UNwant\u00E9d,running" -> un ##want ##ed , runn ##ing (with ##want);
  // here "want" is only a whole word, so "unwanted" cannot be matched and becomes [UNK].
  const Tokenizer tok = WordPiece();
  EXPECT_THAT(tok.Tokenize("UNwant\u00E9d,running").tokens,
              ElementsAre("[CLS]", "[UNK]", ",", "runn", "##ing", "[SEP]"));
  const TokenizedText t = tok.Tokenize("Jim Henson was a puppeteer.");
  EXPECT_THAT(t.tokens,
              ElementsAre("[CLS]", "jim", "hen", "##son", "was", "a", "puppet", "##eer", ".", "[SEP]"));
  EXPECT_THAT(t.word_index, ElementsAre(-1, 0, 1, 1, 2, 3, 4, 4, 4, -1));
  EXPECT_THAT(t.words, ElementsAre("Jim", "Henson", "was", "a", "puppeteer."));
  EXPECT_THAT(tok.Tokenize("wanted jimmy").tokens,
              ElementsAre("[CLS]", "want", "##ed", "jim", "##my", "[SEP]"));
}

TEST(TokenizerTest, WordPieceLowercasesStripsAccentsAndLimitsWordLength) {
  const Tokenizer tok = WordPiece();
  EXPECT_THAT(tok.Tokenize("CAF\u00C9 Caf\u00E9 cafe\u0301").tokens,
              ElementsAre("[CLS]", "cafe", "cafe", "cafe", "[SEP]"));
  const Tokenizer wide = WordPiece(128);
  EXPECT_EQ(wide.Tokenize(std::string(100, 'x')).tokens.size(), 102u);  // x ##x ##x ...: 100 pieces
  EXPECT_THAT(wide.Tokenize(std::string(101, 'x')).tokens, ElementsAre("[CLS]", "[UNK]", "[SEP]"));
}

TEST(TokenizerTest, TruncatesToMaxLengthAndPads) {
  const Tokenizer tok = WordPiece(5);
  const TokenizedText t = tok.Tokenize("the the the the the");
  EXPECT_THAT(t.tokens, ElementsAre("[CLS]", "the", "the", "the", "[SEP]"));
  const TokenBatch batch = tok.Pad({t, tok.Tokenize("a")});
  EXPECT_EQ(batch.length, 5);
  EXPECT_THAT(batch.ids, ElementsAre(2, 7, 7, 7, 3, 2, 20, 3, 0, 0));
  EXPECT_THAT(batch.mask, ElementsAre(1, 1, 1, 1, 1, 1, 1, 1, 0, 0));
  EXPECT_THAT(batch.lengths, ElementsAre(5, 3));
}

TEST(TokenizerTest, UnicodeIsHandledSafely) {
  // Invalid UTF-8 bytes and control characters are dropped; punctuation outside ASCII splits words.
  EXPECT_THAT(SplitWords("a\xff\xc3 b\x01 \xe2\x80\x9cq\xe2\x80\x9d"),
              ElementsAre("a", "b", "\u201Cq\u201D"));
  const std::vector<BasicToken> tokens = BasicTokenize("\u00C6r\u00F8sk\u00F8bing \u201Cq\u201D", true);
  ASSERT_EQ(tokens.size(), 4u);
  EXPECT_EQ(tokens[0].text, "\u00E6r\u00F8sk\u00F8bing");
  EXPECT_EQ(tokens[1].text, "\u201C");
  EXPECT_EQ(tokens[2].text, "q");
  EXPECT_EQ(tokens[3].word, 1);
  EXPECT_EQ(WordPiece().Tokenize("").tokens, (std::vector<std::string>{"[CLS]", "[SEP]"}));
}

TEST(TokenizerTest, MissingSpecialTokenIsOneSentence) {
  auto t = Tokenizer::Create({"[PAD]", "[UNK]", "[CLS]"}, {}, "tiny.txt");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            "vocabulary 'tiny.txt' has no [SEP] token; a tokenizer needs [PAD], [UNK], [CLS] and [SEP].");
  auto missing = Tokenizer::FromFile(kTokenizerFixtures + "no-such-vocab.txt", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "vocabulary file '" + kTokenizerFixtures +
                                            "no-such-vocab.txt' does not exist or cannot be read.");
}

// The ids, tokens, words and word indices the PyTorch fixtures were made with, for all 50 reference texts.
TEST(TokenizerTest, WhitespaceTokenizerEqualsTheFixtureTokenizer) {
  std::ifstream in(kTokenizerFixtures + "reference.json");
  ASSERT_TRUE(in) << "missing fixture reference.json";
  const nlohmann::json ref = nlohmann::json::parse(in);
  TokenizerOptions options;
  options.max_length = ref["max_length"].get<std::int64_t>();
  auto tok = Tokenizer::FromFile(kTokenizerFixtures + "vocab.txt", options);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  ASSERT_EQ(ref["texts"].size(), 50u);
  for (std::size_t i = 0; i < ref["texts"].size(); ++i) {
    const TokenizedText t = tok->Tokenize(ref["texts"][i].get<std::string>());
    EXPECT_EQ(t.ids, ref["ids"][i].get<std::vector<std::int64_t>>()) << "text " << i;
    EXPECT_EQ(t.tokens, ref["tokens"][i].get<std::vector<std::string>>()) << "text " << i;
    EXPECT_EQ(t.word_index, ref["word_index"][i].get<std::vector<std::int64_t>>()) << "text " << i;
    EXPECT_EQ(t.words, ref["words"][i].get<std::vector<std::string>>()) << "text " << i;
  }
  EXPECT_EQ(tok->Tokenize(ref["texts"][44].get<std::string>()).size(), 64);  // the truncated one
}

}  // namespace
}  // namespace loupe::model
