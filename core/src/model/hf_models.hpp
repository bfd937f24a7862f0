// Models of the huggingface tokenizer (tokenizer.json "model", docs/architecture.md §5): WordPiece,
// WordLevel, BPE (byte-level included) and Unigram. A model turns one pre-tokenized piece into tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/core/status.hpp"
#include "model/hf_unicode.hpp"

namespace loupe::model::hf {

// One token: its id, its spelling in the vocabulary, and the byte range of the original text it covers.
struct Token {
  std::int64_t id = 0;
  std::string text;
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual void Tokenize(const AlignedText& piece, std::vector<Token>& out) const = 0;
  // Token spellings by id (an id absent from the vocabulary is an empty string).
  virtual const std::unordered_map<std::string, std::int64_t>& Vocabulary() const = 0;
};

Result<std::unique_ptr<Model>> MakeModel(const nlohmann::json& config, const std::string& where);

}  // namespace loupe::model::hf
