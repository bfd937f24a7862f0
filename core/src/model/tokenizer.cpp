#include "model/tokenizer.hpp"

#include <algorithm>
#include <fstream>

#include "model/hf_tokenizer.hpp"
#include "model/hf_unicode.hpp"

namespace loupe::model {
namespace {

// U+00C0..U+024F after NFD, removal of combining marks and lower-casing (generated with Python's
// unicodedata; every entry is a single code point).
constexpr char32_t kLatinFold[] = {
    0x0061, 0x0061, 0x0061, 0x0061, 0x0061, 0x0061, 0x00E6, 0x0063, 0x0065, 0x0065, 0x0065, 0x0065, 0x0069,
    0x0069, 0x0069, 0x0069, 0x00F0, 0x006E, 0x006F, 0x006F, 0x006F, 0x006F, 0x006F, 0x00D7, 0x00F8, 0x0075,
    0x0075, 0x0075, 0x0075, 0x0079, 0x00FE, 0x00DF, 0x0061, 0x0061, 0x0061, 0x0061, 0x0061, 0x0061, 0x00E6,
    0x0063, 0x0065, 0x0065, 0x0065, 0x0065, 0x0069, 0x0069, 0x0069, 0x0069, 0x00F0, 0x006E, 0x006F, 0x006F,
    0x006F, 0x006F, 0x006F, 0x00F7, 0x00F8, 0x0075, 0x0075, 0x0075, 0x0075, 0x0079, 0x00FE, 0x0079, 0x0061,
    0x0061, 0x0061, 0x0061, 0x0061, 0x0061, 0x0063, 0x0063, 0x0063, 0x0063, 0x0063, 0x0063, 0x0063, 0x0063,
    0x0064, 0x0064, 0x0111, 0x0111, 0x0065, 0x0065, 0x0065, 0x0065, 0x0065, 0x0065, 0x0065, 0x0065, 0x0065,
    0x0065, 0x0067, 0x0067, 0x0067, 0x0067, 0x0067, 0x0067, 0x0067, 0x0067, 0x0068, 0x0068, 0x0127, 0x0127,
    0x0069, 0x0069, 0x0069, 0x0069, 0x0069, 0x0069, 0x0069, 0x0069, 0x0069, 0x0131, 0x0133, 0x0133, 0x006A,
    0x006A, 0x006B, 0x006B, 0x0138, 0x006C, 0x006C, 0x006C, 0x006C, 0x006C, 0x006C, 0x0140, 0x0140, 0x0142,
    0x0142, 0x006E, 0x006E, 0x006E, 0x006E, 0x006E, 0x006E, 0x0149, 0x014B, 0x014B, 0x006F, 0x006F, 0x006F,
    0x006F, 0x006F, 0x006F, 0x0153, 0x0153, 0x0072, 0x0072, 0x0072, 0x0072, 0x0072, 0x0072, 0x0073, 0x0073,
    0x0073, 0x0073, 0x0073, 0x0073, 0x0073, 0x0073, 0x0074, 0x0074, 0x0074, 0x0074, 0x0167, 0x0167, 0x0075,
    0x0075, 0x0075, 0x0075, 0x0075, 0x0075, 0x0075, 0x0075, 0x0075, 0x0075, 0x0075, 0x0075, 0x0077, 0x0077,
    0x0079, 0x0079, 0x0079, 0x007A, 0x007A, 0x007A, 0x007A, 0x007A, 0x007A, 0x017F, 0x0180, 0x0253, 0x0183,
    0x0183, 0x0185, 0x0185, 0x0254, 0x0188, 0x0188, 0x0256, 0x0257, 0x018C, 0x018C, 0x018D, 0x01DD, 0x0259,
    0x025B, 0x0192, 0x0192, 0x0260, 0x0263, 0x0195, 0x0269, 0x0268, 0x0199, 0x0199, 0x019A, 0x019B, 0x026F,
    0x0272, 0x019E, 0x0275, 0x006F, 0x006F, 0x01A3, 0x01A3, 0x01A5, 0x01A5, 0x0280, 0x01A8, 0x01A8, 0x0283,
    0x01AA, 0x01AB, 0x01AD, 0x01AD, 0x0288, 0x0075, 0x0075, 0x028A, 0x028B, 0x01B4, 0x01B4, 0x01B6, 0x01B6,
    0x0292, 0x01B9, 0x01B9, 0x01BA, 0x01BB, 0x01BD, 0x01BD, 0x01BE, 0x01BF, 0x01C0, 0x01C1, 0x01C2, 0x01C3,
    0x01C6, 0x01C6, 0x01C6, 0x01C9, 0x01C9, 0x01C9, 0x01CC, 0x01CC, 0x01CC, 0x0061, 0x0061, 0x0069, 0x0069,
    0x006F, 0x006F, 0x0075, 0x0075, 0x0075, 0x0075, 0x0075, 0x0075, 0x0075, 0x0075, 0x0075, 0x0075, 0x01DD,
    0x0061, 0x0061, 0x0061, 0x0061, 0x00E6, 0x00E6, 0x01E5, 0x01E5, 0x0067, 0x0067, 0x006B, 0x006B, 0x006F,
    0x006F, 0x006F, 0x006F, 0x0292, 0x0292, 0x006A, 0x01F3, 0x01F3, 0x01F3, 0x0067, 0x0067, 0x0195, 0x01BF,
    0x006E, 0x006E, 0x0061, 0x0061, 0x00E6, 0x00E6, 0x00F8, 0x00F8, 0x0061, 0x0061, 0x0061, 0x0061, 0x0065,
    0x0065, 0x0065, 0x0065, 0x0069, 0x0069, 0x0069, 0x0069, 0x006F, 0x006F, 0x006F, 0x006F, 0x0072, 0x0072,
    0x0072, 0x0072, 0x0075, 0x0075, 0x0075, 0x0075, 0x0073, 0x0073, 0x0074, 0x0074, 0x021D, 0x021D, 0x0068,
    0x0068, 0x019E, 0x0221, 0x0223, 0x0223, 0x0225, 0x0225, 0x0061, 0x0061, 0x0065, 0x0065, 0x006F, 0x006F,
    0x006F, 0x006F, 0x006F, 0x006F, 0x006F, 0x006F, 0x0079, 0x0079, 0x0234, 0x0235, 0x0236, 0x0237, 0x0238,
    0x0239, 0x2C65, 0x023C, 0x023C, 0x019A, 0x2C66, 0x023F, 0x0240, 0x0242, 0x0242, 0x0180, 0x0289, 0x028C,
    0x0247, 0x0247, 0x0249, 0x0249, 0x024B, 0x024B, 0x024D, 0x024D, 0x024F, 0x024F,
};
static_assert(sizeof(kLatinFold) / sizeof(kLatinFold[0]) == 0x250 - 0xC0);

bool IsRemoved(char32_t c) {
  if (c == 0x09 || c == 0x0A || c == 0x0D) return false;
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0xFFFD || c == 0xAD || c == 0xFEFF ||
         (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x2064);
}

bool IsWhitespace(char32_t c) {
  return c == 0x09 || c == 0x0A || c == 0x0D || c == 0x20 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

bool IsPunctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
    return true;
  return c == 0xA1 || c == 0xA7 || c == 0xAB || c == 0xB6 || c == 0xB7 || c == 0xBB || c == 0xBF ||
         (c >= 0x2010 && c <= 0x2027) || (c >= 0x2030 && c <= 0x205E) || (c >= 0x3001 && c <= 0x3003) ||
         (c >= 0x3008 && c <= 0x3011);
}

char32_t Fold(char32_t c) {
  if (c >= 0x41 && c <= 0x5A) return c + 0x20;
  if (c >= 0xC0 && c <= 0x24F) return kLatinFold[c - 0xC0];
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  return c;
}

std::string Encode(const std::u32string& text) {
  std::string out;
  for (char32_t c : text) hf::AppendUtf8(out, c);
  return out;
}

// Words as code points, after step 1 and 2, with their byte ranges in the text.
struct Word {
  std::u32string chars;
  std::size_t begin = 0, end = 0;
};

std::vector<Word> WordsWithSpans(std::string_view text) {
  std::vector<Word> words;
  Word current;
  for (const hf::AlignedChar& ch : hf::DecodeAligned(text)) {
    if (IsRemoved(ch.c)) continue;
    if (IsWhitespace(ch.c)) {
      if (!current.chars.empty()) words.push_back(std::move(current));
      current = Word();
      continue;
    }
    if (current.chars.empty()) current.begin = ch.begin;
    current.chars.push_back(ch.c);
    current.end = ch.end;
  }
  if (!current.chars.empty()) words.push_back(std::move(current));
  return words;
}

std::vector<std::u32string> Words(std::string_view text) {
  std::vector<std::u32string> words;
  for (Word& w : WordsWithSpans(text)) words.push_back(std::move(w.chars));
  return words;
}

std::size_t CodePoints(const std::string& utf8) {
  return static_cast<std::size_t>(std::count_if(
      utf8.begin(), utf8.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; }));
}

}  // namespace

std::vector<std::string> SplitWords(std::string_view text) {
  std::vector<std::string> out;
  for (const std::u32string& word : Words(text)) out.push_back(Encode(word));
  return out;
}

std::vector<WordSpan> SplitWordSpans(std::string_view text) {
  std::vector<WordSpan> out;
  for (const Word& w : WordsWithSpans(text)) out.push_back({Encode(w.chars), w.begin, w.end});
  return out;
}

std::vector<BasicToken> BasicTokenize(std::string_view text, bool lowercase) {
  std::vector<BasicToken> out;
  const std::vector<std::u32string> words = Words(text);
  for (std::size_t w = 0; w < words.size(); ++w) {
    const auto word = static_cast<std::int64_t>(w);
    std::string piece;
    for (char32_t c : words[w]) {
      if (lowercase) {
        if (c >= 0x300 && c <= 0x36F) continue;
        c = Fold(c);
      }
      if (IsPunctuation(c)) {
        if (!piece.empty()) out.push_back({std::move(piece), word});
        piece.clear();
        std::string mark;
        hf::AppendUtf8(mark, c);
        out.push_back({std::move(mark), word});
      } else {
        hf::AppendUtf8(piece, c);
      }
    }
    if (!piece.empty()) out.push_back({std::move(piece), word});
  }
  return out;
}

Result<Tokenizer> Tokenizer::Create(std::vector<std::string> vocab, TokenizerOptions options,
                                    const std::string& source) {
  if (options.max_length < 2) {
    return InvalidArgument("tokenizer of vocabulary '" + source +
                           "': max_length must be at least 2 ([CLS] and " + "[SEP]), found " +
                           std::to_string(options.max_length) + ".");
  }
  Tokenizer t;
  t.options_ = options;
  t.vocab_ = std::move(vocab);
  for (std::size_t i = 0; i < t.vocab_.size(); ++i) t.ids_.emplace(t.vocab_[i], static_cast<std::int64_t>(i));
  const std::pair<const char*, std::int64_t*> specials[] = {
      {"[PAD]", &t.pad_}, {"[UNK]", &t.unk_}, {"[CLS]", &t.cls_}, {"[SEP]", &t.sep_}};
  for (const auto& [token, id] : specials) {
    *id = t.Lookup(token);
    if (*id < 0) {
      return InvalidArgument("vocabulary '" + source + "' has no " + token +
                             " token; a tokenizer needs [PAD], [UNK], [CLS] and [SEP].");
    }
  }
  return t;
}

Result<Tokenizer> Tokenizer::FromFile(const std::filesystem::path& vocab_file, TokenizerOptions options) {
  std::ifstream in(vocab_file, std::ios::binary);
  if (!in) return NotFound("vocabulary file '" + vocab_file.string() + "' does not exist or cannot be read.");
  std::vector<std::string> vocab;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.push_back(std::move(line));
  }
  return Create(std::move(vocab), options, vocab_file.string());
}

Result<Tokenizer> Tokenizer::FromHuggingFace(const std::filesystem::path& tokenizer_json,
                                             std::optional<std::int64_t> max_length) {
  LOUPE_ASSIGN_OR_RETURN(hf::HfTokenizer hf, hf::HfTokenizer::FromFile(tokenizer_json));
  if (max_length) hf.set_max_length(*max_length);
  if (!hf.max_length()) hf.set_max_length(TokenizerOptions().max_length);
  if (*hf.max_length() <= hf.special_token_count()) {
    return InvalidArgument("tokenizer '" + tokenizer_json.string() + "': max_length " +
                           std::to_string(*hf.max_length()) + " leaves no room for text beside the " +
                           std::to_string(hf.special_token_count()) + " special tokens.");
  }
  Tokenizer t;
  t.options_.kind = TokenizerKind::kHuggingFace;
  t.options_.max_length = *hf.max_length();
  t.pad_ = hf.pad_id();
  t.huggingface_ = std::make_shared<const hf::HfTokenizer>(std::move(hf));
  return t;
}

std::int64_t Tokenizer::vocab_size() const {
  return huggingface_ ? huggingface_->vocab_size() : static_cast<std::int64_t>(vocab_.size());
}

// Each token's word is the first whitespace word its byte range overlaps; special tokens (empty
// range) and tokens of whitespace alone belong to none.
TokenizedText Tokenizer::TokenizeHuggingFace(std::string_view text) const {
  hf::HfEncoding encoding = huggingface_->Encode(text);
  const std::vector<WordSpan> spans = SplitWordSpans(text);
  TokenizedText result;
  for (const WordSpan& w : spans) result.words.push_back(w.text);
  result.ids = std::move(encoding.ids);
  result.tokens = std::move(encoding.tokens);
  for (const auto& [begin, end] : encoding.offsets) {
    const auto it = std::upper_bound(spans.begin(), spans.end(), std::size_t{begin},
                                     [](std::size_t b, const WordSpan& w) { return b < w.end; });
    const bool overlaps = begin < end && it != spans.end() && it->begin < end;
    result.word_index.push_back(overlaps ? static_cast<std::int64_t>(it - spans.begin()) : -1);
  }
  return result;
}

std::int64_t Tokenizer::Lookup(const std::string& token) const {
  const auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

void Tokenizer::WordPiece(const std::string& word, std::vector<std::string>& out) const {
  if (static_cast<std::int64_t>(CodePoints(word)) > options_.max_chars_per_word) {
    out.push_back("[UNK]");
    return;
  }
  // Byte offsets of code point boundaries, so pieces never split a character.
  std::vector<std::size_t> bounds;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if ((static_cast<unsigned char>(word[i]) & 0xC0) != 0x80) bounds.push_back(i);
  }
  bounds.push_back(word.size());
  std::vector<std::string> pieces;
  std::size_t start = 0;
  while (start + 1 < bounds.size()) {
    std::size_t end = bounds.size() - 1;
    std::string match;
    for (; end > start; --end) {
      std::string candidate = word.substr(bounds[start], bounds[end] - bounds[start]);
      if (start > 0) candidate = "##" + candidate;
      if (Lookup(candidate) >= 0) {
        match = std::move(candidate);
        break;
      }
    }
    if (end == start) {  // no piece of the rest is in the vocabulary: the whole word is unknown
      out.push_back("[UNK]");
      return;
    }
    pieces.push_back(std::move(match));
    start = end;
  }
  for (std::string& piece : pieces) out.push_back(std::move(piece));
}

TokenizedText Tokenizer::Tokenize(std::string_view text) const {
  if (huggingface_) return TokenizeHuggingFace(text);
  TokenizedText result;
  result.words = SplitWords(text);
  const std::size_t room = static_cast<std::size_t>(options_.max_length - 2);
  result.tokens.push_back("[CLS]");
  result.word_index.push_back(-1);
  std::vector<std::string> pieces;
  for (BasicToken& basic : BasicTokenize(text, options_.lowercase)) {
    if (result.tokens.size() - 1 >= room) break;
    pieces.clear();
    if (options_.kind == TokenizerKind::kWordPiece) {
      WordPiece(basic.text, pieces);
    } else {
      pieces.push_back(Lookup(basic.text) >= 0 ? std::move(basic.text) : std::string("[UNK]"));
    }
    for (std::string& piece : pieces) {
      if (result.tokens.size() - 1 >= room) break;
      result.tokens.push_back(std::move(piece));
      result.word_index.push_back(basic.word);
    }
  }
  result.tokens.push_back("[SEP]");
  result.word_index.push_back(-1);
  for (const std::string& token : result.tokens) result.ids.push_back(Lookup(token));
  return result;
}

TokenBatch Tokenizer::Pad(const std::vector<TokenizedText>& texts) const {
  TokenBatch batch;
  batch.rows = static_cast<std::int64_t>(texts.size());
  for (const TokenizedText& t : texts) batch.length = std::max(batch.length, t.size());
  batch.ids.assign(static_cast<std::size_t>(batch.rows * batch.length), pad_);
  batch.mask.assign(batch.ids.size(), 0);
  for (std::int64_t r = 0; r < batch.rows; ++r) {
    const TokenizedText& t = texts[static_cast<std::size_t>(r)];
    std::copy(t.ids.begin(), t.ids.end(), batch.ids.begin() + r * batch.length);
    std::fill_n(batch.mask.begin() + r * batch.length, t.size(), 1);
    batch.lengths.push_back(t.size());
  }
  return batch;
}

}  // namespace loupe::model
