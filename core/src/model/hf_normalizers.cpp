#include "model/hf_normalizers.hpp"

#include <algorithm>

#include "model/hf_json.hpp"
#include "model/hf_regex.hpp"

namespace loupe::model::hf {
namespace {

using nlohmann::json;

class UnicodeForm final : public Normalizer {
 public:
  explicit UnicodeForm(NormalForm form) : form_(form) {}
  void Apply(AlignedText& text) const override { text = Normalize(text, form_); }

 private:
  NormalForm form_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  void Apply(AlignedText& text) const override { text = Lowercase(text); }
};

// Removes combining marks (category Mn), as the tokenizers library does; run it after NFD or NFKD.
void RemoveNonspacingMarks(AlignedText& text) {
  std::erase_if(text, [](const AlignedChar& ch) { return IsNonspacingMark(ch.c); });
}

class StripAccents final : public Normalizer {
 public:
  void Apply(AlignedText& text) const override { RemoveNonspacingMarks(text); }
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void Apply(AlignedText& text) const override {
    if (right_) {
      while (!text.empty() && IsWhiteSpace(text.back().c)) text.pop_back();
    }
    if (left_) {
      const auto first =
          std::find_if(text.begin(), text.end(), [](const AlignedChar& ch) { return !IsWhiteSpace(ch.c); });
      text.erase(text.begin(), first);
    }
  }

 private:
  bool left_, right_;
};

class Replace final : public Normalizer {
 public:
  Replace(Regex pattern, std::string content)
      : pattern_(std::move(pattern)), content_(DecodeAligned(content)) {}
  // Each match becomes `content`, whose characters all take the range of the whole match.
  void Apply(AlignedText& text) const override {
    std::vector<std::size_t> char_of_byte;
    const std::string utf8 = ToUtf8(text, char_of_byte);
    AlignedText out;
    std::size_t next = 0;
    for (const auto& [begin, end] : pattern_.FindAll(utf8)) {
      const std::size_t first = char_of_byte[begin], last = char_of_byte[end];
      out.insert(out.end(), text.begin() + static_cast<std::ptrdiff_t>(next),
                 text.begin() + static_cast<std::ptrdiff_t>(first));
      for (AlignedChar ch : content_) {
        ch.begin = text[first].begin;
        ch.end = text[last - 1].end;
        out.push_back(ch);
      }
      next = last;
    }
    out.insert(out.end(), text.begin() + static_cast<std::ptrdiff_t>(next), text.end());
    text = std::move(out);
  }

 private:
  Regex pattern_;
  AlignedText content_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(DecodeAligned(prefix)) {}
  // An empty text stays empty; otherwise the prefix takes the range of the first character.
  void Apply(AlignedText& text) const override {
    if (text.empty()) return;
    AlignedText prefix = prefix_;
    for (AlignedChar& ch : prefix) ch.begin = text.front().begin, ch.end = text.front().end;
    text.insert(text.begin(), prefix.begin(), prefix.end());
  }

 private:
  AlignedText prefix_;
};

// BERT's CJK ideograph blocks (the same list as the tokenizers library's BertNormalizer).
bool IsChineseChar(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese_chars, bool strip_accents, bool lowercase)
      : clean_text_(clean_text),
        chinese_chars_(chinese_chars),
        strip_accents_(strip_accents),
        lowercase_(lowercase) {}

  void Apply(AlignedText& text) const override {
    if (clean_text_) Clean(text);
    if (chinese_chars_) SpaceChineseChars(text);
    if (strip_accents_) {  // before lower-casing, in the tokenizers library's order
      text = Normalize(text, NormalForm::kNFD);
      RemoveNonspacingMarks(text);
    }
    if (lowercase_) text = Lowercase(text);
  }

 private:
  // Drops NUL, U+FFFD and control characters (Cc, Cf, Co, Cs; not tab, LF, CR) and turns whitespace into
  // spaces.
  static void Clean(AlignedText& text) {
    std::erase_if(text, [](const AlignedChar& ch) {
      const bool kept_control = ch.c == '\t' || ch.c == '\n' || ch.c == '\r';
      return ch.c == 0 || ch.c == 0xFFFD || (!kept_control && IsOtherControl(ch.c));
    });
    for (AlignedChar& ch : text) {
      if (IsWhiteSpace(ch.c)) ch.c = ' ';
    }
  }
  static void SpaceChineseChars(AlignedText& text) {
    AlignedText out;
    out.reserve(text.size());
    for (const AlignedChar& ch : text) {
      if (!IsChineseChar(ch.c)) {
        out.push_back(ch);
        continue;
      }
      out.push_back({' ', ch.begin, ch.end});
      out.push_back(ch);
      out.push_back({' ', ch.begin, ch.end});
    }
    text = std::move(out);
  }

  bool clean_text_, chinese_chars_, strip_accents_, lowercase_;
};

// SentencePiece's precompiled character map is not decoded; like Tokenizers.js, Loupe approximates it:
// C0 controls removed, whitespace (and U+2581) to spaces, then NFKC.
class Precompiled final : public Normalizer {
 public:
  void Apply(AlignedText& text) const override {
    std::erase_if(text, [](const AlignedChar& ch) {
      const char32_t c = ch.c;
      return (c >= 1 && c <= 8) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F ||
             c == 0x9F;
    });
    for (AlignedChar& ch : text) {
      const char32_t c = ch.c;
      if (c == 9 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0xA0 || c == 0x1680 ||
          (c >= 0x2000 && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
          c == 0x2581 || c == 0x3000 || c == 0xFEFF || c == 0xFFFD) {
        ch.c = ' ';
      }
    }
    text = Normalize(text, NormalForm::kNFKC);
  }
};

class NormalizerSequence final : public Normalizer {
 public:
  explicit NormalizerSequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void Apply(AlignedText& text) const override {
    for (const auto& step : steps_) step->Apply(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

Result<std::unique_ptr<Normalizer>> MakeBertNormalizer(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(const bool clean, OptionalBool(config, "clean_text", true, where));
  LOUPE_ASSIGN_OR_RETURN(const bool chinese, OptionalBool(config, "handle_chinese_chars", true, where));
  LOUPE_ASSIGN_OR_RETURN(const bool lowercase, OptionalBool(config, "lowercase", true, where));
  // strip_accents: null means "as lowercase".
  LOUPE_ASSIGN_OR_RETURN(const bool strip, OptionalBool(config, "strip_accents", lowercase, where));
  return std::unique_ptr<Normalizer>(std::make_unique<BertNormalizer>(clean, chinese, strip, lowercase));
}

Result<std::unique_ptr<Normalizer>> MakeNormalizerSequence(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(const json* list, RequiredArray(config, "normalizers", where));
  std::vector<std::unique_ptr<Normalizer>> steps;
  for (std::size_t i = 0; i < list->size(); ++i) {
    LOUPE_ASSIGN_OR_RETURN(auto step,
                           MakeNormalizer((*list)[i], where + ".normalizers[" + std::to_string(i) + "]"));
    steps.push_back(std::move(step));
  }
  return std::unique_ptr<Normalizer>(std::make_unique<NormalizerSequence>(std::move(steps)));
}

}  // namespace

Result<std::unique_ptr<Normalizer>> MakeNormalizer(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(const std::string type, TypeOf(config, where));
  if (type == "NFC") return std::unique_ptr<Normalizer>(std::make_unique<UnicodeForm>(NormalForm::kNFC));
  if (type == "NFD") return std::unique_ptr<Normalizer>(std::make_unique<UnicodeForm>(NormalForm::kNFD));
  if (type == "NFKC") return std::unique_ptr<Normalizer>(std::make_unique<UnicodeForm>(NormalForm::kNFKC));
  if (type == "NFKD") return std::unique_ptr<Normalizer>(std::make_unique<UnicodeForm>(NormalForm::kNFKD));
  if (type == "Lowercase") return std::unique_ptr<Normalizer>(std::make_unique<LowercaseNormalizer>());
  if (type == "StripAccents") return std::unique_ptr<Normalizer>(std::make_unique<StripAccents>());
  if (type == "Precompiled") return std::unique_ptr<Normalizer>(std::make_unique<Precompiled>());
  if (type == "BertNormalizer") return MakeBertNormalizer(config, where);
  if (type == "Sequence") return MakeNormalizerSequence(config, where);
  if (type == "Strip") {
    LOUPE_ASSIGN_OR_RETURN(const bool left, OptionalBool(config, "strip_left", true, where));
    LOUPE_ASSIGN_OR_RETURN(const bool right, OptionalBool(config, "strip_right", true, where));
    return std::unique_ptr<Normalizer>(std::make_unique<Strip>(left, right));
  }
  if (type == "Replace") {
    LOUPE_ASSIGN_OR_RETURN(Regex pattern, PatternOf(config, where));
    LOUPE_ASSIGN_OR_RETURN(std::string content, RequiredString(config, "content", where));
    return std::unique_ptr<Normalizer>(std::make_unique<Replace>(std::move(pattern), std::move(content)));
  }
  if (type == "Prepend") {
    LOUPE_ASSIGN_OR_RETURN(std::string prefix, RequiredString(config, "prepend", where));
    return std::unique_ptr<Normalizer>(std::make_unique<Prepend>(std::move(prefix)));
  }
  return UnsupportedType(
      where, type,
      "BertNormalizer, Lowercase, NFC, NFD, NFKC, NFKD, Precompiled, Prepend, Replace, Sequence, "
      "Strip, StripAccents");
}

}  // namespace loupe::model::hf
