// Normalizers of the huggingface tokenizer (tokenizer.json "normalizer", docs/architecture.md §5): each
// rewrites the text while keeping every character's range in the original text (hf_unicode.hpp).
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "loupe/core/status.hpp"
#include "model/hf_unicode.hpp"

namespace loupe::model::hf {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void Apply(AlignedText& text) const = 0;
};

// Builds the normalizer a tokenizer.json "normalizer" object describes: Lowercase, NFC, NFD, NFKC, NFKD,
// StripAccents, Strip, Replace, Prepend, BertNormalizer, Precompiled (approximated as Tokenizers.js does:
// whitespace to spaces, then NFKC) or a Sequence of them. `where` names the object in errors.
Result<std::unique_ptr<Normalizer>> MakeNormalizer(const nlohmann::json& config, const std::string& where);

}  // namespace loupe::model::hf
