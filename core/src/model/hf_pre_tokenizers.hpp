// Pre-tokenizers of the huggingface tokenizer (tokenizer.json "pre_tokenizer", docs/architecture.md §5):
// each splits every piece of the normalized text into smaller pieces, which the model then tokenizes one
// by one. Pieces keep their characters' ranges in the original text.
#pragma once

#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/core/status.hpp"
#include "model/hf_unicode.hpp"

namespace loupe::model::hf {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // `first_section`: the pieces come from the text's first stretch between added tokens (Metaspace's
  // prepend_scheme "first" adds its prefix only there).
  virtual void Split(std::vector<AlignedText>& pieces, bool first_section) const = 0;
};

// Whitespace, WhitespaceSplit, BertPreTokenizer, Punctuation, Digits, Split (String or Regex pattern,
// behavior Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous, invert), CharDelimiterSplit,
// ByteLevel, Metaspace, or a Sequence of them.
Result<std::unique_ptr<PreTokenizer>> MakePreTokenizer(const nlohmann::json& config,
                                                       const std::string& where);

// GPT-2's byte-to-character table: byte b is spelled as this code point in byte-level vocabularies.
char32_t ByteLevelChar(std::uint8_t byte);

}  // namespace loupe::model::hf
