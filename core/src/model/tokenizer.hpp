// Tokenizers of loupe.model/v1 text models (docs/architecture.md §5): "whitespace" (words split at
// punctuation, looked up whole in the vocabulary), "wordpiece" (BERT's basic tokenizer + greedy
// longest-match-first WordPiece with ## continuations) and "huggingface" (a tokenizer.json file, run by
// hf_tokenizer.hpp). Conventions shared by all are in loupe/core/attention.hpp.
//
// Basic tokenization, on UTF-8 (invalid bytes are dropped):
//  1. remove U+0000, U+FFFD, control characters (C0 and C1 except tab, line feed, carriage return) and
//     format characters (soft hyphen, zero-width and bidirectional marks, U+2060–U+2064, U+FEFF);
//  2. split into words at whitespace (ASCII whitespace, no-break space, U+1680, U+2000–U+200A,
//     U+2028/U+2029, U+202F, U+205F, U+3000) — these are TokenizedText::words;
//  3. with lowercase: drop combining marks U+0300–U+036F and fold U+0041–U+005A, Latin-1 Supplement and
//     Latin Extended-A/B (U+00C0–U+024F: NFD, accents removed, lower-cased), Greek and Cyrillic capitals
//     to lower case; other characters are kept as they are;
//  4. split each word at punctuation: ASCII punctuation and symbols (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~),
//     ¡ § « ¶ · » ¿, U+2010–U+2027, U+2030–U+205E, U+3001–U+3003, U+3008–U+3011 — each its own token.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "loupe/core/attention.hpp"
#include "loupe/core/status.hpp"

namespace loupe::model {

// A basic token and the index of the word it came from.
struct BasicToken {
  std::string text;
  std::int64_t word = 0;
};

// Steps 1–2 above: the words of `text`.
std::vector<std::string> SplitWords(std::string_view text);
// The same words with the byte range [begin, end) each spans in `text` (removed characters inside a
// word are inside its range).
struct WordSpan {
  std::string text;
  std::size_t begin = 0;
  std::size_t end = 0;
};
std::vector<WordSpan> SplitWordSpans(std::string_view text);
// Steps 1–4 above: the basic tokens of `text` with their word indices.
std::vector<BasicToken> BasicTokenize(std::string_view text, bool lowercase);

namespace hf {
class HfTokenizer;
}

enum class TokenizerKind { kWhitespace, kWordPiece, kHuggingFace };

struct TokenizerOptions {
  TokenizerKind kind = TokenizerKind::kWhitespace;
  bool lowercase = true;
  std::int64_t max_length = 64;           // tokens in all, [CLS] and [SEP] included; at least 2
  std::int64_t max_chars_per_word = 100;  // WordPiece: longer basic tokens become [UNK]
};

class Tokenizer {
 public:
  // `vocab`: tokens by id. `source` names the vocabulary in errors ("vocab.txt"). Fails when a special
  // token is missing or max_length < 2.
  static Result<Tokenizer> Create(std::vector<std::string> vocab, TokenizerOptions options,
                                  const std::string& source);
  // Reads a vocabulary file: one token per line, id = 0-based line number (a final line end is optional,
  // CR before LF is dropped).
  static Result<Tokenizer> FromFile(const std::filesystem::path& vocab_file, TokenizerOptions options);
  // A huggingface tokenizer.json. `max_length` (tokens in all, special tokens included) overrides the
  // file's truncation; with neither, texts are truncated to TokenizerOptions' default max_length.
  static Result<Tokenizer> FromHuggingFace(const std::filesystem::path& tokenizer_json,
                                           std::optional<std::int64_t> max_length);

  const TokenizerOptions& options() const { return options_; }
  std::int64_t vocab_size() const;
  std::int64_t pad_id() const { return pad_; }

  TokenizedText Tokenize(std::string_view text) const;
  // Pads the rows to the longest one with [PAD].
  TokenBatch Pad(const std::vector<TokenizedText>& texts) const;

 private:
  Tokenizer() = default;
  std::int64_t Lookup(const std::string& token) const;  // −1 when absent
  void WordPiece(const std::string& word, std::vector<std::string>& out) const;
  TokenizedText TokenizeHuggingFace(std::string_view text) const;

  TokenizerOptions options_;
  std::vector<std::string> vocab_;
  std::unordered_map<std::string, std::int64_t> ids_;
  std::int64_t pad_ = 0, unk_ = 0, cls_ = 0, sep_ = 0;
  std::shared_ptr<const hf::HfTokenizer> huggingface_;  // set for kHuggingFace
};

}  // namespace loupe::model
