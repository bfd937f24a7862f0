// Post-processors of the huggingface tokenizer (tokenizer.json "post_processor", docs/architecture.md
// §5): TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel and Sequence. They add the
// special tokens around one text's tokens ([CLS] … [SEP], <s> … </s>) and set type ids; Loupe encodes
// single texts, so the "pair" templates are read but not used.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/core/status.hpp"
#include "model/hf_models.hpp"

namespace loupe::model::hf {

// One text's tokens on their way out; `special[i]` is 1 for a token a post-processor or an added
// special token put there.
struct Encoding {
  std::vector<Token> tokens;
  std::vector<std::int64_t> type_ids;
  std::vector<std::uint8_t> special;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // How many tokens Process adds to a single text (truncation leaves room for them).
  virtual std::size_t AddedTokens() const = 0;
  // `original` is the text the offsets point into (ByteLevel's trim_offsets reads it).
  virtual void Process(Encoding& encoding, std::string_view original) const = 0;
  // Every special token Process can put into a single text's encoding (the tokenizer checks their ids
  // against the vocabulary when it loads).
  virtual std::vector<Token> SpecialTokens() const = 0;
};

Result<std::unique_ptr<PostProcessor>> MakePostProcessor(const nlohmann::json& config,
                                                         const std::string& where);

}  // namespace loupe::model::hf
