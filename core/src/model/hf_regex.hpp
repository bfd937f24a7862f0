// The huggingface tokenizer's regular expressions: the one place PCRE2 appears (docs/architecture.md §1).
//
// Why PCRE2: tokenizer.json patterns are written for Oniguruma (the Rust tokenizers library's engine) and
// use Unicode properties (\p{L}, \p{N}) and look-arounds (GPT-2's `\s+(?!\S)`). std::regex has neither;
// RE2 has no look-arounds. PCRE2 in UTF + UCP mode has both, is a small Debian package
// (libpcre2-dev) and is fast with its JIT. Patterns are compiled once, when the tokenizer loads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loupe/core/status.hpp"

namespace loupe::model::hf {

class Regex {
 public:
  // Compiles an Oniguruma-style pattern: `\w`/`\W` mean Unicode's Word property and `\s`/`\S` its
  // White_Space property, as in Oniguruma and Rust's regex (PCRE2's own differ at marks, No and U+0085).
  // Fails with one sentence naming the pattern.
  static Result<Regex> Compile(const std::string& pattern);
  // A pattern matching `literal` exactly.
  static Result<Regex> Literal(std::string_view literal);

  // Every non-overlapping match in `text` (valid UTF-8), left to right, as byte ranges [begin, end).
  // An empty match advances by one character. Reentrant.
  std::vector<std::pair<std::size_t, std::size_t>> FindAll(std::string_view text) const;

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;
};

}  // namespace loupe::model::hf
