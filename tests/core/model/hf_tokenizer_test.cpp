// The huggingface tokenizer's parts, each on examples whose answers the tokenizers library documents
// (its split behaviors, BERT's and GPT-2's tokenizers) or Unicode defines (normalization forms, final
// sigma); then the whole tokenizer in a loupe.model/v1 text model: truncation, added tokens, word indices.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/hf_normalizers.hpp"
#include "model/hf_pre_tokenizers.hpp"
#include "model/hf_regex.hpp"
#include "model/hf_tokenizer.hpp"
#include "model/hf_unicode.hpp"
#include "model/tokenizer.hpp"

namespace loupe::model::hf {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Nf(const std::string& text, NormalForm form) {
  return ToUtf8(Normalize(DecodeAligned(text), form));
}

std::vector<std::string> PreTokenize(const json& config, const std::string& text) {
  auto pre = MakePreTokenizer(config, "pre_tokenizer");
  EXPECT_TRUE(pre.ok()) << pre.status().message();
  std::vector<AlignedText> pieces = {DecodeAligned(text)};
  (*pre)->Split(pieces, true);
  std::vector<std::string> out;
  for (const AlignedText& p : pieces) out.push_back(ToUtf8(p));
  return out;
}

std::string Normalized(const json& config, const std::string& text) {
  auto normalizer = MakeNormalizer(config, "normalizer");
  EXPECT_TRUE(normalizer.ok()) << normalizer.status().message();
  AlignedText t = DecodeAligned(text);
  (*normalizer)->Apply(t);
  return ToUtf8(t);
}

TEST(HfUnicode, NormalFormsFollowUnicodeExamples) {
  EXPECT_EQ(Nf("caf\u00e9", NormalForm::kNFD), "cafe\u0301");
  EXPECT_EQ(Nf("cafe\u0301", NormalForm::kNFC), "caf\u00e9");
  EXPECT_EQ(Nf("\ufb01", NormalForm::kNFC), "\ufb01");  // a compatibility ligature stays in NFC
  EXPECT_EQ(Nf("\ufb01", NormalForm::kNFKC), "fi");
  EXPECT_EQ(Nf("\u1e9b\u0323", NormalForm::kNFKC), "\u1e69");  // UAX #15's ẛ̣ example
  EXPECT_EQ(Nf("\u1e9b\u0323", NormalForm::kNFD), "\u017f\u0323\u0307");
  EXPECT_EQ(Nf("a\u0302\u0323", NormalForm::kNFD), "a\u0323\u0302");  // canonical order by combining class
  EXPECT_EQ(Nf("\ud55c", NormalForm::kNFD), "\u1112\u1161\u11ab");    // Hangul by arithmetic
  EXPECT_EQ(Nf("\u1112\u1161\u11ab", NormalForm::kNFC), "\ud55c");
  EXPECT_EQ(Nf("\u2126", NormalForm::kNFC), "\u03a9");  // a singleton decomposition never recomposes
}

TEST(HfUnicode, LowercaseAppliesFinalSigmaAndDottedCapitalI) {
  EXPECT_EQ(ToUtf8(Lowercase(DecodeAligned("\u039f\u0394\u039f\u03a3 \u03a3\u0391\u03a3"))),
            "\u03bf\u03b4\u03bf\u03c2 \u03c3\u03b1\u03c2");
  EXPECT_EQ(ToUtf8(Lowercase(DecodeAligned("\u0130STANBUL"))), "i\u0307stanbul");
}

TEST(HfUnicode, AlignmentKeepsEachCharactersOriginalBytes) {
  const AlignedText nfd = Normalize(DecodeAligned("x\u00e9"), NormalForm::kNFD);  // é is bytes [1, 3)
  ASSERT_EQ(nfd.size(), 3u);
  EXPECT_EQ(nfd[1].begin, 1u);
  EXPECT_EQ(nfd[2].end, 3u);
  const AlignedText nfc = Normalize(DecodeAligned("xe\u0301"), NormalForm::kNFC);  // e + ◌́ are [1, 4)
  ASSERT_EQ(nfc.size(), 2u);
  EXPECT_EQ(nfc[1].begin, 1u);
  EXPECT_EQ(nfc[1].end, 4u);
}

TEST(HfNormalizers, BertNormalizerCleansSpacesCjkLowercasesAndStripsAccents) {
  const json bert = {{"type", "BertNormalizer"},
                     {"clean_text", true},
                     {"handle_chinese_chars", true},
                     {"strip_accents", nullptr},
                     {"lowercase", true}};
  EXPECT_EQ(Normalized(bert, "H\u00e9llo\tW\u00f6rld\x01\u200b\u6771"), "hello world \u6771 ");
  const json keep_accents = {{"type", "BertNormalizer"}, {"lowercase", true}, {"strip_accents", false}};
  EXPECT_EQ(Normalized(keep_accents, "\u00c9T\u00c9"), "\u00e9t\u00e9");
}

TEST(HfNormalizers, SequenceOfReplaceStripPrependAndStripAccents) {
  const json seq = {{"type", "Sequence"},
                    {"normalizers",
                     {{{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}},
                      {{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}},
                      {{"type", "NFD"}},
                      {{"type", "StripAccents"}},
                      {{"type", "Prepend"}, {"prepend", "\u2581"}}}}};
  EXPECT_EQ(Normalized(seq, "  caf\u00e9   au  lait "), "\u2581cafe au lait");
}

// The tokenizers library's own example for SplitDelimiterBehavior: "The-final--countdown" split at "-".
TEST(HfPreTokenizers, SplitBehaviorsMatchTheLibrarysExamples) {
  const auto split = [](const char* behavior) {
    return PreTokenize(
        {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", false}},
        "The-final--countdown");
  };
  EXPECT_THAT(split("Removed"), ElementsAre("The", "final", "countdown"));
  EXPECT_THAT(split("Isolated"), ElementsAre("The", "-", "final", "-", "-", "countdown"));
  EXPECT_THAT(split("MergedWithPrevious"), ElementsAre("The-", "final-", "-", "countdown"));
  EXPECT_THAT(split("MergedWithNext"), ElementsAre("The", "-final", "-", "-countdown"));
  EXPECT_THAT(split("Contiguous"), ElementsAre("The", "-", "final", "--", "countdown"));
  const json inverted = {
      {"type", "Split"}, {"pattern", {{"Regex", "\\p{L}+"}}}, {"behavior", "Removed"}, {"invert", true}};
  EXPECT_THAT(PreTokenize(inverted, "hé, 12 ok"), ElementsAre("hé", "ok"));
}

TEST(HfPreTokenizers, WhitespaceBertPunctuationDigitsAndMetaspace) {
  EXPECT_THAT(PreTokenize({{"type", "Whitespace"}}, "Hey friend!  How are you?!?"),
              ElementsAre("Hey", "friend", "!", "How", "are", "you", "?!?"));
  EXPECT_THAT(PreTokenize({{"type", "WhitespaceSplit"}}, " a\u3000b\tc "), ElementsAre("a", "b", "c"));
  // \w is Unicode's Word property, as in the Rust library: marks belong to words, ½ (No) does not.
  EXPECT_THAT(PreTokenize({{"type", "Whitespace"}}, "cafe\u0301 x\u00bd"),
              ElementsAre("cafe\u0301", "x", "\u00bd"));
  EXPECT_THAT(PreTokenize({{"type", "BertPreTokenizer"}}, "Hey, friend!¿ok"),
              ElementsAre("Hey", ",", "friend", "!", "¿", "ok"));
  EXPECT_THAT(PreTokenize({{"type", "Punctuation"}, {"behavior", "Contiguous"}}, "Hey!!? you"),
              ElementsAre("Hey", "!!?", " you"));
  EXPECT_THAT(PreTokenize({{"type", "Digits"}, {"individual_digits", true}}, "Call 123"),
              ElementsAre("Call ", "1", "2", "3"));
  EXPECT_THAT(PreTokenize({{"type", "Digits"}, {"individual_digits", false}}, "Call 123 now"),
              ElementsAre("Call ", "123", " now"));
  EXPECT_THAT(PreTokenize({{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"}},
                          "Hey friend"),
              ElementsAre("\u2581Hey", "\u2581friend"));
}

TEST(HfPreTokenizers, ByteLevelSplitsWithGpt2sPatternAndSpellsBytes) {
  const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  EXPECT_THAT(PreTokenize(byte_level, "Hello world's  end"),
              ElementsAre("Hello", "\u0120world", "'s", "\u0120", "\u0120end"));
  EXPECT_THAT(PreTokenize(byte_level, "\u00e9"), ElementsAre("\u00c3\u00a9"));  // é is bytes C3 A9
}

// The pre-tokenizer patterns of widely used tokenizer.json files compile; cl100k's (GPT-4, Llama 3) splits
// as its authors describe: case-insensitive contractions, digits in threes, a space kept before a word.
TEST(HfPreTokenizers, PatternsOfWellKnownTokenizersCompileAndSplit) {
  const std::string cl100k =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  const json split = {
      {"type", "Split"}, {"pattern", {{"Regex", cl100k}}}, {"behavior", "Isolated"}, {"invert", false}};
  EXPECT_THAT(PreTokenize(split, "Hello   world'S 12345\n\n"),
              ElementsAre("Hello", "  ", " world", "'S", " ", "123", "45", "\n\n"));
  // BLOOM's pattern nests a class in a class, which Oniguruma reads as a union.
  const json bloom = {
      {"type", "Split"}, {"pattern", {{"Regex", " ?[^(\\s|[.,!?…。，、।۔،])]+"}}}, {"behavior", "Isolated"}};
  EXPECT_THAT(PreTokenize(bloom, "Hello, (big) world!"),
              ElementsAre("Hello", ", (", "big", ")", " world", "!"));
  for (
      const char* pattern :
      {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
       R"( ?[^(\s|[.,!?…。，、।۔،])]+)", R"([\p{P}\$\+<=>\^~\|`]+)",
       R"(\p{N}{1,3}(?=(?:\p{N}{3})*(?:\P{N}|$)))"}) {
    EXPECT_TRUE(Regex::Compile(pattern).ok()) << pattern;
  }
}

TEST(HfPreTokenizers, LiteralPatternsStayLiteralAndLongRunsSplitWhole) {
  const json literal = {{"type", "Split"}, {"pattern", {{"String", "a\\w."}}}, {"behavior", "Removed"}};
  EXPECT_THAT(PreTokenize(literal, "xa\\w.yaww"), ElementsAre("x", "yaww"));
  const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  const std::vector<std::string> pieces = PreTokenize(byte_level, std::string(200000, ' ') + "x");
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[1], "\u0120x");
  EXPECT_EQ(pieces[0].size(), 2u * 199999u);  // Ġ is two bytes
}

const char* kIssue16Tokenizer = R"({
  "version": "1.0", "truncation": {"direction": "Right", "max_length": 6, "strategy": "LongestFirst", "stride": 0},
  "padding": null,
  "added_tokens": [{"id": 0, "content": "[PAD]", "special": true}, {"id": 1, "content": "[UNK]", "special": true},
                   {"id": 2, "content": "[CLS]", "special": true},
                   {"id": 7, "content": "<mask>", "special": true, "lstrip": true, "normalized": false}],
  "normalizer": {"type": "Lowercase"},
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "WhitespaceSplit"},
      {"type": "Split", "pattern": {"Regex": "[^a-z0-9']"}, "behavior": "Isolated", "invert": false}]},
  "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [], "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]}}},
  "decoder": null,
  "model": {"type": "WordLevel", "unk_token": "[UNK]",
            "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "i'd": 3, "like": 4, "tea": 5, ".": 6}}
})";

// Issue 16's tokenizer: lower-case, split at whitespace and at every character outside [a-z0-9'] ("I'd"
// stays one token), [CLS] first and no [SEP].
TEST(HfTokenizer, Issue16TokenizerKeepsApostrophesAndAddsOnlyCls) {
  auto t = HfTokenizer::FromJson(kIssue16Tokenizer, "issue16.json");
  ASSERT_TRUE(t.ok()) << t.status().message();
  const HfEncoding e = t->Encode("I'd like  tea, ok");
  EXPECT_THAT(e.tokens, ElementsAre("[CLS]", "i'd", "like", "tea", "[UNK]", "[UNK]"));  // truncated to 6
  EXPECT_THAT(e.ids, ElementsAre(2, 3, 4, 5, 1, 1));
  EXPECT_EQ(e.offsets[1], std::make_pair(0u, 3u));
  EXPECT_EQ(e.offsets[3], std::make_pair(10u, 13u));
  EXPECT_EQ(e.offsets[0], std::make_pair(0u, 0u));
  EXPECT_EQ(t->vocab_size(), 8);
  EXPECT_EQ(t->pad_id(), 0);
}

TEST(HfTokenizer, AddedTokensSplitTheRawTextAndLstripSwallowsSpaces) {
  auto t = HfTokenizer::FromJson(kIssue16Tokenizer, "issue16.json");
  ASSERT_TRUE(t.ok()) << t.status().message();
  t->set_max_length(20);
  const HfEncoding e = t->Encode("TEA  <mask>tea [CLS]");
  EXPECT_THAT(e.tokens, ElementsAre("[CLS]", "tea", "<mask>", "tea", "[CLS]"));
  EXPECT_EQ(e.offsets[2], std::make_pair(3u, 11u));  // the two spaces before <mask> are part of it
  EXPECT_THAT(e.special, ElementsAre(1, 0, 1, 0, 1));
}

TEST(HfTokenizer, ErrorsNameTheObjectAndWhatIsWrong) {
  auto bad_type = HfTokenizer::FromJson(R"({"model": {"type": "Magic"}})", "t.json");
  ASSERT_FALSE(bad_type.ok());
  EXPECT_THAT(bad_type.status().message(), HasSubstr("t.json: model: type 'Magic' is not supported"));
  auto bad_regex = HfTokenizer::FromJson(
      R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"},
          "model": {"type": "WordLevel", "vocab": {"<unk>": 0}}})",
      "t.json");
  ASSERT_FALSE(bad_regex.ok());
  EXPECT_THAT(bad_regex.status().message(), HasSubstr("regular expression '(a' does not compile"));
  auto no_unk = HfTokenizer::FromJson(R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})", "t.json");
  ASSERT_FALSE(no_unk.ok());
  EXPECT_THAT(no_unk.status().message(), HasSubstr("the unknown token '[UNK]' is not in the vocabulary"));
  EXPECT_FALSE(HfTokenizer::FromFile("/no/such/tokenizer.json").ok());
}

// Found by fuzz_tokenizer_json: an id outside the vocabulary would reach the embedding at run time.
TEST(HfTokenizer, SpecialAndPaddingIdsOutsideTheVocabularyAreRefusedAtLoad) {
  constexpr const char* kVocab = R"("model": {"type": "WordLevel", "unk_token": "<unk>",
                                              "vocab": {"<unk>": 0, "a": 1, "<s>": 2}})";
  auto template_id = HfTokenizer::FromJson(std::string(R"({"post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "</s>", "type_id": 0}},
                                  {"Sequence": {"id": "A", "type_id": 0}}],
                       "special_tokens": {"</s>": {"id": "</s>", "ids": [3], "tokens": ["</s>"]}}},)") +
                                               kVocab + "}",
                                           "t.json");
  ASSERT_FALSE(template_id.ok());
  EXPECT_EQ(template_id.status().message(),
            "t.json: post_processor: special token '</s>' has id 3, outside the vocabulary's ids 0..2.");
  auto bert_id = HfTokenizer::FromJson(
      std::string(
          R"({"post_processor": {"type": "BertProcessing", "cls": ["<s>", 2], "sep": ["</s>", -1]},)") +
          kVocab + "}",
      "t.json");
  ASSERT_FALSE(bert_id.ok());
  EXPECT_THAT(bert_id.status().message(), HasSubstr("special token '</s>' has id -1"));
  auto pad = HfTokenizer::FromJson(std::string(R"({"padding": {"pad_id": 7},)") + kVocab + "}", "t.json");
  ASSERT_FALSE(pad.ok());
  EXPECT_EQ(pad.status().message(), "t.json: padding: pad_id 7 is outside the vocabulary's ids 0..2.");
  auto fine = HfTokenizer::FromJson(
      std::string(R"({"padding": {"pad_id": 0}, "post_processor": {"type": "BertProcessing",
                       "cls": ["<s>", 2], "sep": ["<s>", 2]},)") +
          kVocab + "}",
      "t.json");
  ASSERT_TRUE(fine.ok()) << fine.status().message();
  EXPECT_EQ(fine->Encode("a").ids, (std::vector<std::int64_t>{2, 1, 2}));
}

TEST(HfTokenizer, BpeUsesMergesByRankWithSubwordPrefixAndSuffix) {
  const char* config = R"({"model": {"type": "BPE", "unk_token": "<unk>", "continuing_subword_prefix": "##",
      "end_of_word_suffix": "</w>", "fuse_unk": true,
      "vocab": {"<unk>": 0, "l": 1, "##o": 2, "##w</w>": 3, "lo": 4, "low</w>": 5, "##e": 6, "##r</w>": 7},
      "merges": ["l ##o", "lo ##w</w>"]}, "pre_tokenizer": {"type": "WhitespaceSplit"}})";
  // "lower": l ##o ##w ##e ##r</w>; l ##o merges, ##w is unknown; "lqqr": q q fuse into one <unk>.
  auto t = HfTokenizer::FromJson(config, "bpe.json");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_THAT(t->Encode("low lower lqqr").tokens,
              ElementsAre("low</w>", "lo", "<unk>", "##e", "##r</w>", "l", "<unk>", "##r</w>"));
}

TEST(HfTokenizer, UnigramFindsTheBestScoringSegmentation) {
  const char* config = R"({"model": {"type": "Unigram", "unk_id": 0,
      "vocab": [["<unk>", 0], ["a", -1], ["b", -1], ["ab", -1.5], ["abc", -5], ["c", -1]]}})";
  auto t = HfTokenizer::FromJson(config, "unigram.json");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_THAT(t->Encode("abc").tokens, ElementsAre("ab", "c"));  // −2.5 beats −3 (a b c) and −5 (abc)
  EXPECT_THAT(t->Encode("abxyc").tokens, ElementsAre("ab", "xy", "c"));  // unknown x y fused
  EXPECT_THAT(t->Encode("abxyc").ids, ElementsAre(3, 0, 5));
}

}  // namespace
}  // namespace loupe::model::hf

namespace loupe::model {
namespace {

using ::testing::ElementsAre;

// In a text model, tokens map back to the whitespace words the text was written in.
TEST(HuggingFaceTextTokenizer, WordIndicesComeFromOffsets) {
  const std::string dir = std::string(LOUPE_SOURCE_DIR) + "/tests/fixtures/tokenizers/";
  auto t = Tokenizer::FromHuggingFace(dir + "bert_wordpiece.json", 16);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->options().kind, TokenizerKind::kHuggingFace);
  EXPECT_EQ(t->pad_id(), 0);
  const TokenizedText text = t->Tokenize("Caf\u00e9, crème\x01 brûlée!");
  EXPECT_THAT(text.words, ElementsAre("Caf\u00e9,", "crème", "brûlée!"));
  ASSERT_EQ(text.tokens.front(), "[CLS]");
  ASSERT_EQ(text.tokens.back(), "[SEP]");
  EXPECT_EQ(text.word_index.front(), -1);
  EXPECT_EQ(text.word_index.back(), -1);
  for (std::size_t i = 1; i + 1 < text.tokens.size(); ++i) {
    EXPECT_GE(text.word_index[i], 0) << text.tokens[i];
    if (i > 1) {
      EXPECT_GE(text.word_index[i], text.word_index[i - 1]);
    }
  }
  EXPECT_EQ(text.word_index[text.tokens.size() - 2], 2);  // "!" belongs to "brûlée!"
  const TokenizedText long_text = t->Tokenize(std::string(200, 'a') + " b c d e f g h i j k l m n o p q r s");
  EXPECT_EQ(long_text.size(), 16);
  auto too_short = Tokenizer::FromHuggingFace(dir + "bert_wordpiece.json", 2);
  EXPECT_FALSE(too_short.ok());
}

}  // namespace
}  // namespace loupe::model
