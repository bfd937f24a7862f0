#include "model/hf_pre_tokenizers.hpp"

#include <array>
#include <functional>
#include <optional>

#include "model/hf_json.hpp"
#include "model/hf_regex.hpp"

namespace loupe::model::hf {
namespace {

using nlohmann::json;

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct Span {
  std::size_t begin, end;  // character indices in the piece
  bool match;
};

// Covers [0, size) with the matches (sorted, non-overlapping, non-empty) and the gaps between them.
std::vector<Span> Cover(const std::vector<std::pair<std::size_t, std::size_t>>& matches, std::size_t size,
                        bool invert) {
  std::vector<Span> spans;
  std::size_t next = 0;
  for (const auto& [begin, end] : matches) {
    if (begin > next) spans.push_back({next, begin, invert});
    spans.push_back({begin, end, !invert});
    next = end;
  }
  if (next < size) spans.push_back({next, size, invert});
  return spans;
}

// The tokenizers library's SplitDelimiterBehavior, applied to the spans of one piece.
std::vector<Span> ApplyBehavior(const std::vector<Span>& spans, Behavior behavior) {
  std::vector<Span> out;
  bool previous_match = false;
  switch (behavior) {
    case Behavior::kRemoved:
      for (const Span& s : spans) {
        if (!s.match) out.push_back(s);
      }
      return out;
    case Behavior::kIsolated:
      return spans;
    case Behavior::kMergedWithPrevious:
      for (const Span& s : spans) {
        if (s.match && !previous_match && !out.empty()) {
          out.back().end = s.end;
        } else {
          out.push_back(s);
        }
        previous_match = s.match;
      }
      return out;
    case Behavior::kMergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->match && !previous_match && !out.empty()) {
          out.back().begin = it->begin;
        } else {
          out.push_back(*it);
        }
        previous_match = it->match;
      }
      return {out.rbegin(), out.rend()};
    case Behavior::kContiguous:
      for (const Span& s : spans) {
        if (!out.empty() && s.match && previous_match) {
          out.back().end = s.end;
        } else {
          out.push_back(s);
        }
        previous_match = s.match;
      }
      return out;
  }
  return out;
}

void SplitPiece(const AlignedText& piece,
                const std::vector<std::pair<std::size_t, std::size_t>>& char_matches, Behavior behavior,
                bool invert, std::vector<AlignedText>& out) {
  for (const Span& s : ApplyBehavior(Cover(char_matches, piece.size(), invert), behavior)) {
    if (s.end > s.begin) {
      out.emplace_back(piece.begin() + static_cast<std::ptrdiff_t>(s.begin),
                       piece.begin() + static_cast<std::ptrdiff_t>(s.end));
    }
  }
}

// Splits every piece where `is_delimiter` holds, one match per character.
void SplitEach(std::vector<AlignedText>& pieces, const std::function<bool(char32_t)>& is_delimiter,
               Behavior behavior) {
  std::vector<AlignedText> out;
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  for (const AlignedText& piece : pieces) {
    matches.clear();
    for (std::size_t i = 0; i < piece.size(); ++i) {
      if (is_delimiter(piece[i].c)) matches.emplace_back(i, i + 1);
    }
    SplitPiece(piece, matches, behavior, false, out);
  }
  pieces = std::move(out);
}

// Splits every piece at the matches of `regex`.
void SplitRegex(std::vector<AlignedText>& pieces, const Regex& regex, Behavior behavior, bool invert) {
  std::vector<AlignedText> out;
  std::vector<std::size_t> char_of_byte;
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  for (const AlignedText& piece : pieces) {
    const std::string utf8 = ToUtf8(piece, char_of_byte);
    matches.clear();
    for (const auto& [begin, end] : regex.FindAll(utf8))
      matches.emplace_back(char_of_byte[begin], char_of_byte[end]);
    SplitPiece(piece, matches, behavior, invert, out);
  }
  pieces = std::move(out);
}

bool IsBertPunctuation(char32_t c) {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126) ||
         IsPunctuation(c);
}

bool IsNumeric(char32_t c) {
  const Category k = GeneralCategory(c);
  return k == Category::kNd || k == Category::kNl || k == Category::kNo;
}

Result<Behavior> BehaviorOf(const json& config, const std::string& where, Behavior fallback) {
  const auto it = config.find("behavior");
  if (it == config.end() || it->is_null()) return fallback;
  const std::string name = it->is_string() ? it->get<std::string>() : "";
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  return JsonError(
      where, "\"behavior\" must be Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous.");
}

class CharSplit final : public PreTokenizer {
 public:
  CharSplit(std::function<bool(char32_t)> is_delimiter, Behavior behavior)
      : is_delimiter_(std::move(is_delimiter)), behavior_(behavior) {}
  void Split(std::vector<AlignedText>& pieces, bool) const override {
    SplitEach(pieces, is_delimiter_, behavior_);
  }

 private:
  std::function<bool(char32_t)> is_delimiter_;
  Behavior behavior_;
};

class RegexSplit final : public PreTokenizer {
 public:
  RegexSplit(Regex regex, Behavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}
  void Split(std::vector<AlignedText>& pieces, bool) const override {
    SplitRegex(pieces, regex_, behavior_, invert_);
  }

 private:
  Regex regex_;
  Behavior behavior_;
  bool invert_;
};

class BertPreTokenizer final : public PreTokenizer {
 public:
  void Split(std::vector<AlignedText>& pieces, bool) const override {
    SplitEach(pieces, IsWhiteSpace, Behavior::kRemoved);
    SplitEach(pieces, IsBertPunctuation, Behavior::kIsolated);
  }
};

// GPT-2's pre-tokenizer: an optional leading space, its regex, then every UTF-8 byte spelled as one
// character (ByteLevelChar), each aligned to the character it came from.
class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, std::optional<Regex> regex)
      : add_prefix_space_(add_prefix_space), regex_(std::move(regex)) {}
  void Split(std::vector<AlignedText>& pieces, bool) const override {
    if (add_prefix_space_) {
      for (AlignedText& piece : pieces) {
        if (!piece.empty() && piece.front().c != ' ')
          piece.insert(piece.begin(), {' ', piece.front().begin, piece.front().end});
      }
    }
    if (regex_) SplitRegex(pieces, *regex_, Behavior::kIsolated, false);
    std::string bytes;
    for (AlignedText& piece : pieces) {
      AlignedText mapped;
      for (const AlignedChar& ch : piece) {
        bytes.clear();
        AppendUtf8(bytes, ch.c);
        for (char b : bytes)
          mapped.push_back({ByteLevelChar(static_cast<std::uint8_t>(b)), ch.begin, ch.end});
      }
      piece = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::optional<Regex> regex_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

// SentencePiece's word marks: spaces become `replacement` (U+2581 "▁"), which is prepended to the text
// by the scheme, and pieces are split before each mark.
class Metaspace final : public PreTokenizer {
 public:
  Metaspace(char32_t replacement, PrependScheme scheme, bool split)
      : replacement_(replacement), scheme_(scheme), split_(split) {}
  void Split(std::vector<AlignedText>& pieces, bool first_section) const override {
    for (AlignedText& piece : pieces) {
      for (AlignedChar& ch : piece) {
        if (ch.c == ' ') ch.c = replacement_;
      }
      const bool prepend =
          scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && first_section);
      if (prepend && !piece.empty() && piece.front().c != replacement_) {
        piece.insert(piece.begin(), {replacement_, piece.front().begin, piece.front().end});
      }
    }
    if (split_) {
      const char32_t mark = replacement_;
      SplitEach(
          pieces, [mark](char32_t c) { return c == mark; }, Behavior::kMergedWithNext);
    }
  }

 private:
  char32_t replacement_;
  PrependScheme scheme_;
  bool split_;
};

class PreTokenizerSequence final : public PreTokenizer {
 public:
  explicit PreTokenizerSequence(std::vector<std::unique_ptr<PreTokenizer>> steps)
      : steps_(std::move(steps)) {}
  void Split(std::vector<AlignedText>& pieces, bool first_section) const override {
    for (const auto& step : steps_) step->Split(pieces, first_section);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

// GPT-2's pattern (the tokenizers library's ByteLevel uses it whatever the file says).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

Result<std::unique_ptr<PreTokenizer>> MakeByteLevel(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(const bool prefix, OptionalBool(config, "add_prefix_space", true, where));
  LOUPE_ASSIGN_OR_RETURN(const bool use_regex, OptionalBool(config, "use_regex", true, where));
  std::optional<Regex> regex;
  if (use_regex) {
    LOUPE_ASSIGN_OR_RETURN(Regex compiled, Regex::Compile(kGpt2Pattern));
    regex = std::move(compiled);
  }
  return std::unique_ptr<PreTokenizer>(std::make_unique<ByteLevel>(prefix, std::move(regex)));
}

Result<std::unique_ptr<PreTokenizer>> MakeMetaspace(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(const std::string replacement,
                         OptionalString(config, "replacement", "\u2581", where));
  const AlignedText chars = DecodeAligned(replacement);
  if (chars.size() != 1) return JsonError(where, "\"replacement\" must be one character.");
  // prepend_scheme replaced add_prefix_space in tokenizers 0.14; older files carry only the latter.
  LOUPE_ASSIGN_OR_RETURN(const bool add_prefix_space, OptionalBool(config, "add_prefix_space", true, where));
  LOUPE_ASSIGN_OR_RETURN(
      const std::string scheme_name,
      OptionalString(config, "prepend_scheme", add_prefix_space ? "always" : "never", where));
  PrependScheme scheme = PrependScheme::kAlways;
  if (scheme_name == "first") {
    scheme = PrependScheme::kFirst;
  } else if (scheme_name == "never") {
    scheme = PrependScheme::kNever;
  } else if (scheme_name != "always") {
    return JsonError(where,
                     "\"prepend_scheme\" must be always, first or never, found '" + scheme_name + "'.");
  }
  LOUPE_ASSIGN_OR_RETURN(const bool split, OptionalBool(config, "split", true, where));
  return std::unique_ptr<PreTokenizer>(std::make_unique<Metaspace>(chars[0].c, scheme, split));
}

Result<std::unique_ptr<PreTokenizer>> MakeSplit(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(Regex regex, PatternOf(config, where));
  LOUPE_ASSIGN_OR_RETURN(const Behavior behavior, BehaviorOf(config, where, Behavior::kRemoved));
  LOUPE_ASSIGN_OR_RETURN(const bool invert, OptionalBool(config, "invert", false, where));
  return std::unique_ptr<PreTokenizer>(std::make_unique<RegexSplit>(std::move(regex), behavior, invert));
}

Result<std::unique_ptr<PreTokenizer>> MakePreTokenizerSequence(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(const json* list, RequiredArray(config, "pretokenizers", where));
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  for (std::size_t i = 0; i < list->size(); ++i) {
    LOUPE_ASSIGN_OR_RETURN(auto step,
                           MakePreTokenizer((*list)[i], where + ".pretokenizers[" + std::to_string(i) + "]"));
    steps.push_back(std::move(step));
  }
  return std::unique_ptr<PreTokenizer>(std::make_unique<PreTokenizerSequence>(std::move(steps)));
}

std::unique_ptr<PreTokenizer> CharSplitter(std::function<bool(char32_t)> is_delimiter, Behavior behavior) {
  return std::make_unique<CharSplit>(std::move(is_delimiter), behavior);
}

}  // namespace

char32_t ByteLevelChar(std::uint8_t byte) {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[static_cast<std::size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table[byte];
}

Result<std::unique_ptr<PreTokenizer>> MakePreTokenizer(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(const std::string type, TypeOf(config, where));
  if (type == "Whitespace") {
    LOUPE_ASSIGN_OR_RETURN(Regex regex, Regex::Compile(R"(\w+|[^\w\s]+)"));
    return std::unique_ptr<PreTokenizer>(
        std::make_unique<RegexSplit>(std::move(regex), Behavior::kRemoved, true));
  }
  if (type == "WhitespaceSplit") return CharSplitter(IsWhiteSpace, Behavior::kRemoved);
  if (type == "BertPreTokenizer") return std::unique_ptr<PreTokenizer>(std::make_unique<BertPreTokenizer>());
  if (type == "Punctuation") {
    LOUPE_ASSIGN_OR_RETURN(const Behavior behavior, BehaviorOf(config, where, Behavior::kIsolated));
    return CharSplitter(IsBertPunctuation, behavior);
  }
  if (type == "Digits") {
    LOUPE_ASSIGN_OR_RETURN(const bool individual, OptionalBool(config, "individual_digits", false, where));
    return CharSplitter(IsNumeric, individual ? Behavior::kIsolated : Behavior::kContiguous);
  }
  if (type == "CharDelimiterSplit") {
    LOUPE_ASSIGN_OR_RETURN(const std::string delimiter, RequiredString(config, "delimiter", where));
    const AlignedText chars = DecodeAligned(delimiter);
    if (chars.size() != 1) return JsonError(where, "\"delimiter\" must be one character.");
    const char32_t d = chars[0].c;
    return CharSplitter([d](char32_t c) { return c == d; }, Behavior::kRemoved);
  }
  if (type == "Split") return MakeSplit(config, where);
  if (type == "ByteLevel") return MakeByteLevel(config, where);
  if (type == "Metaspace") return MakeMetaspace(config, where);
  if (type == "Sequence") return MakePreTokenizerSequence(config, where);
  return UnsupportedType(
      where, type,
      "BertPreTokenizer, ByteLevel, CharDelimiterSplit, Digits, Metaspace, Punctuation, Sequence, "
      "Split, Whitespace, WhitespaceSplit");
}

}  // namespace loupe::model::hf
