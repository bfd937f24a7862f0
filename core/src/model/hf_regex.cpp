#include "model/hf_regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cctype>

namespace loupe::model::hf {

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

namespace {

// Oniguruma's (and Rust regex's) \w: the Unicode Word property. PCRE2's UCP \w is \p{L}\p{N}_, which
// leaves out combining marks (a decomposed "café" would split before its accent) and takes in No (½).
constexpr const char* kWordChars = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}";
// Oniguruma's \s: the White_Space property. PCRE2's UCP \s (Z + tab..CR) leaves out U+0085 NEXT LINE.
constexpr const char* kSpaceChars = "\\s\\x{85}";

// Rewrites \w, \W, \s and \S of an Oniguruma pattern into PCRE2 classes of the same meaning (\W and
// \S inside a bracket class are left as PCRE2 reads them), and flattens nested classes.
std::string AsOniguruma(const std::string& pattern) {
  std::string out;
  bool in_class = false;
  int nested = 0;  // depth of nested classes inside the current class
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char ch = pattern[i];
    if (ch == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      const char* chars = next == 'w' || next == 'W'   ? kWordChars
                          : next == 's' || next == 'S' ? kSpaceChars
                                                       : nullptr;
      const bool negated = next == 'W' || next == 'S';
      if (chars != nullptr && in_class && !negated) {
        out += chars;
      } else if (chars != nullptr && !in_class) {
        out += std::string(negated ? "[^" : "[") + chars + "]";
      } else {
        out += ch;
        out += next;
      }
      continue;
    }
    if (ch == '[' && !in_class) {
      in_class = true;
      out += ch;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];  // a literal ] first
      continue;
    }
    if (ch == '[' && in_class && i + 1 < pattern.size() && pattern[i + 1] == ':') {  // [:alpha:] as it is
      const std::size_t close = pattern.find(":]", i + 2);
      if (close != std::string::npos) {
        out += pattern.substr(i, close + 2 - i);
        i = close + 1;
        continue;
      }
    }
    // Oniguruma's nested class [a[bc]] is the union [abc]; PCRE2 reads "[." or "[=" inside a class as a
    // POSIX collating element (BLOOM's pattern has "[^(\s|[.,!?…])]").
    if (ch == '[' && in_class && i + 1 < pattern.size() && pattern[i + 1] != '^') {
      ++nested;
      continue;
    }
    if (ch == ']' && nested > 0) {
      --nested;
      continue;
    }
    if (ch == ']' && in_class) in_class = false;
    out += ch;
  }
  return out;
}

}  // namespace

Result<Regex> Regex::Compile(const std::string& pattern) {
  const std::string rewritten = AsOniguruma(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(error, buffer, sizeof buffer);
    return InvalidArgument("regular expression '" + pattern +
                           "' does not compile: " + reinterpret_cast<const char*>(buffer) + " (at byte " +
                           std::to_string(offset) + ").");
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // an optimisation only: matching works without it
  Regex regex;
  auto compiled = std::make_shared<Compiled>();
  compiled->code = code;
  regex.compiled_ = std::move(compiled);
  return regex;
}

Result<Regex> Regex::Literal(std::string_view literal) {
  // A backslash before an ASCII character that is not a letter or digit always means that character in
  // PCRE2, and AsOniguruma never rewrites such a pair.
  std::string quoted;
  for (char ch : literal) {
    const auto byte = static_cast<unsigned char>(ch);
    if (byte < 0x80 && !std::isalnum(byte)) quoted += '\\';
    quoted += ch;
  }
  return Compile(quoted);
}

std::vector<std::pair<std::size_t, std::size_t>> Regex::FindAll(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t start = 0;
  while (start <= text.size()) {
    const int rc =
        pcre2_match(compiled_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, data, nullptr);
    if (rc < 0) break;  // PCRE2_ERROR_NOMATCH, or a resource limit: no further matches
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const std::size_t begin = ovector[0], end = ovector[1];
    if (end > begin) {
      matches.emplace_back(begin, end);
      start = end;
      continue;
    }
    // An empty match: step over one whole character.
    start = end + 1;
    while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
  }
  pcre2_match_data_free(data);
  return matches;
}

}  // namespace loupe::model::hf
