// The huggingface tokenizer: a tokenizer.json file as the Hugging Face tokenizers library writes it
// (`tokenizer.save(...)`, `save_pretrained`), read and run by Loupe (docs/architecture.md §5).
//
// Encoding one text follows the library: (1) split the text at added tokens that match the raw text;
// (2) normalize the rest; (3) split again at added tokens that match normalized text; (4) pre-tokenize
// each stretch; (5) run the model on each piece; (6) truncate, leaving room for the special tokens;
// (7) post-process (add [CLS]/[SEP] or <s>/</s>). Every token keeps the byte range of the original text
// it came from (added and template special tokens: an empty range), which is how tokens map back to words.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loupe/core/status.hpp"

namespace loupe::model::hf {

struct HfEncoding {
  std::vector<std::int64_t> ids;
  std::vector<std::string> tokens;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> offsets;  // byte ranges in the original text
  std::vector<std::int64_t> type_ids;
  std::vector<std::uint8_t> special;  // 1 for special tokens
};

class HfTokenizer {
 public:
  // Reads tokenizer.json; every error is one sentence naming the file and the object.
  static Result<HfTokenizer> FromFile(const std::filesystem::path& file);
  static Result<HfTokenizer> FromJson(std::string_view json_text, const std::string& source);

  // Encodes one text with its special tokens, truncated to max_length() when it is set. Reentrant.
  HfEncoding Encode(std::string_view text) const;

  // Tokens in all, special tokens included (tokenizer.json "truncation.max_length" unless overridden).
  std::optional<std::int64_t> max_length() const { return max_length_; }
  void set_max_length(std::int64_t max_length) { max_length_ = max_length; }
  // How many tokens the post-processor adds to every text.
  std::int64_t special_token_count() const;
  // One more than the largest id of the model's vocabulary and the added tokens.
  std::int64_t vocab_size() const;
  // The padding id: tokenizer.json "padding.pad_id", else the id of [PAD], <pad> or <|endoftext|>, else 0.
  std::int64_t pad_id() const;
  // The id of `token` (added tokens included), or −1.
  std::int64_t TokenId(const std::string& token) const;

 private:
  struct Pipeline;
  std::shared_ptr<const Pipeline> pipeline_;
  std::optional<std::int64_t> max_length_;
  bool truncate_left_ = false;
};

}  // namespace loupe::model::hf
