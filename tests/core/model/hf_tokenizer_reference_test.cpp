// The huggingface tokenizer against Tokenizers.js on 10,000 strings (tests/fixtures/tokenizers: the
// project's texts plus generated accents, CJK, emoji, combining marks, control characters and very long
// words), one tokenizer.json per model type. expected.tsv holds a hash of Tokenizers.js's ids and tokens
// per string (compare_tokenizers.mjs). Tokenizers.js reports no offsets, so offsets are checked against
// the text itself: the bytes a byte-level token stands for are exactly the bytes its range covers.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/hf_pre_tokenizers.hpp"
#include "model/hf_tokenizer.hpp"
#include "model/hf_unicode.hpp"

namespace loupe::model::hf {
namespace {

const std::string kDir = std::string(LOUPE_SOURCE_DIR) + "/tests/fixtures/tokenizers/";
constexpr std::array<const char*, 4> kTokenizers = {"bert_wordpiece", "gpt2_bpe", "unigram",
                                                    "wordlevel_split"};

std::vector<std::string> ReadLines(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> Strings() {
  std::vector<std::string> strings;
  for (const std::string& line : ReadLines(kDir + "strings.txt"))
    strings.push_back(nlohmann::json::parse(line).get<std::string>());
  return strings;
}

// FNV-1a 32-bit of ids.join(" ") + "\x01" + tokens.join("\x01"), as compare_tokenizers.mjs writes it.
std::string Digest(const HfEncoding& e) {
  std::string text;
  for (std::size_t i = 0; i < e.ids.size(); ++i) text += (i ? " " : "") + std::to_string(e.ids[i]);
  text += '\x01';
  for (std::size_t i = 0; i < e.tokens.size(); ++i) text += (i ? "\x01" : "") + e.tokens[i];
  std::uint32_t h = 0x811c9dc5u;
  for (unsigned char b : text) h = (h ^ b) * 0x01000193u;
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", h);
  return hex;
}

HfTokenizer Load(const std::string& name) {
  auto t = HfTokenizer::FromFile(kDir + name + ".json");
  EXPECT_TRUE(t.ok()) << t.status().message();
  return std::move(t).value();
}

TEST(HfTokenizerReference, IdsAndTokensEqualTokenizersJsOnTenThousandStrings) {
  const std::vector<std::string> strings = Strings();
  const std::vector<std::string> expected = ReadLines(kDir + "expected.tsv");
  ASSERT_GE(strings.size(), 10000u);
  ASSERT_EQ(strings.size(), expected.size());
  for (std::size_t t = 0; t < kTokenizers.size(); ++t) {
    const HfTokenizer tokenizer = Load(kTokenizers[t]);
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < strings.size(); ++i) {
      const std::string want = expected[i].substr(t * 9, 8);
      const HfEncoding e = tokenizer.Encode(strings[i]);
      if (Digest(e) == want) continue;
      if (++mismatches <= 5) {
        std::string tokens;
        for (const std::string& tok : e.tokens) tokens += "[" + tok + "]";
        ADD_FAILURE() << kTokenizers[t] << ": string " << i << " " << nlohmann::json(strings[i]).dump()
                      << " gives " << tokens << " (compare_tokenizers.mjs --show " << i << ")";
      }
    }
    EXPECT_EQ(mismatches, 0u) << kTokenizers[t] << " differs from Tokenizers.js on " << mismatches << " of "
                              << strings.size() << " strings";
  }
}

// GPT-2's byte-level tokens spell bytes one character each: a token's range of the original text must hold
// exactly its bytes (trim_offsets is off in gpt2_bpe.json).
TEST(HfTokenizerReference, ByteLevelOffsetsCoverExactlyTheTokensBytes) {
  std::vector<int> from_char(512, -1);
  for (int b = 0; b < 256; ++b) from_char[ByteLevelChar(static_cast<std::uint8_t>(b))] = b;
  const HfTokenizer tokenizer = Load("gpt2_bpe");
  std::size_t checked = 0;
  for (const std::string& s : Strings()) {
    const HfEncoding e = tokenizer.Encode(s);
    std::string joined;
    for (std::size_t i = 0; i < e.tokens.size(); ++i) {
      if (e.special[i]) {  // <|endoftext|> written in the text
        joined += s.substr(e.offsets[i].first, e.offsets[i].second - e.offsets[i].first);
        continue;
      }
      std::string bytes;
      for (const AlignedChar& ch : DecodeAligned(e.tokens[i]))
        bytes.push_back(static_cast<char>(from_char[ch.c]));
      const auto [begin, end] = e.offsets[i];
      // A multi-byte character split across tokens gives each piece the whole character's range.
      ASSERT_NE(s.substr(begin, end - begin).find(bytes), std::string::npos) << "token " << i << " of " << s;
      joined += bytes;
      ++checked;
    }
    ASSERT_EQ(joined, s);  // the tokens spell the whole text
  }
  EXPECT_GT(checked, 100000u);
}

// WordPiece tokens are the lower-cased, accent-stripped text their ranges cover (controls removed).
TEST(HfTokenizerReference, WordPieceOffsetsCoverTheirPieceOfTheText) {
  const HfTokenizer tokenizer = Load("bert_wordpiece");
  std::size_t checked = 0;
  for (const std::string& s : Strings()) {
    const HfEncoding e = tokenizer.Encode(s);
    for (std::size_t i = 0; i < e.tokens.size(); ++i) {
      const auto [begin, end] = e.offsets[i];
      if (e.special[i] || e.tokens[i] == "[UNK]") continue;
      ASSERT_LT(begin, end);
      AlignedText covered =
          Lowercase(Normalize(DecodeAligned(s.substr(begin, end - begin)), NormalForm::kNFD));
      std::erase_if(covered, [](const AlignedChar& ch) {  // accents, and controls BertNormalizer drops
        return IsNonspacingMark(ch.c) || IsOtherControl(ch.c) || ch.c == 0xFFFD;
      });
      std::string piece = e.tokens[i].starts_with("##") ? e.tokens[i].substr(2) : e.tokens[i];
      ASSERT_EQ(ToUtf8(covered), piece) << "token " << i << " of " << nlohmann::json(s).dump();
      ++checked;
    }
  }
  EXPECT_GT(checked, 50000u);
}

}  // namespace
}  // namespace loupe::model::hf
