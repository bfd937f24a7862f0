#include "model/hf_unicode.hpp"

#include <algorithm>
#include <iterator>

namespace loupe::model::hf {
namespace {

struct CombiningClass {
  char32_t c;
  std::uint8_t ccc;
};
struct Decomposition {
  char32_t c;
  bool compatibility;
  std::uint32_t start;
  std::uint32_t length;
};
struct Composition {
  char32_t first;
  char32_t second;
  char32_t composite;
};
struct CaseMapping {
  char32_t c;
  char32_t mapped;
};
struct CategoryRun {
  char32_t start;
  Category category;
};
struct CodeRange {
  char32_t first;
  char32_t last;
};

#include "model/hf_unicode_tables.inc"

// Hangul syllables decompose and compose by arithmetic (Unicode §3.12), not by table.
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

template <typename Table, typename Key>
const auto* FindExact(const Table& table, Key key) {
  const auto* it = std::lower_bound(std::begin(table), std::end(table), key,
                                    [](const auto& entry, Key k) { return entry.c < k; });
  return it != std::end(table) && it->c == key ? it : nullptr;
}

bool InRanges(const CodeRange* begin, const CodeRange* end, char32_t c) {
  const CodeRange* it =
      std::upper_bound(begin, end, c, [](char32_t k, const CodeRange& r) { return k < r.first; });
  return it != begin && std::prev(it)->last >= c;
}

bool IsCased(char32_t c) { return InRanges(std::begin(kCased), std::end(kCased), c); }
bool IsCaseIgnorable(char32_t c) { return InRanges(std::begin(kCaseIgnorable), std::end(kCaseIgnorable), c); }

std::uint8_t CombiningClassOf(char32_t c) {
  const CombiningClass* entry = FindExact(kCombiningClasses, c);
  return entry == nullptr ? 0 : entry->ccc;
}

// Appends the full (recursive) decomposition of `c`, each piece aligned as `source`.
void Decompose(char32_t c, bool compatibility, const AlignedChar& source, AlignedText& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    const char32_t index = c - kSBase;
    out.push_back({kLBase + index / kNCount, source.begin, source.end});
    out.push_back({kVBase + (index % kNCount) / kTCount, source.begin, source.end});
    if (index % kTCount != 0) out.push_back({kTBase + index % kTCount, source.begin, source.end});
    return;
  }
  const Decomposition* entry = FindExact(kDecompositions, c);
  if (entry == nullptr || (entry->compatibility && !compatibility)) {
    out.push_back({c, source.begin, source.end});
    return;
  }
  for (std::uint32_t i = 0; i < entry->length; ++i) {
    Decompose(kDecompositionData[entry->start + i], compatibility, source, out);
  }
}

// Canonical ordering: a stable sort by combining class of each run of non-starters.
void Reorder(AlignedText& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (CombiningClassOf(text[i].c) == 0) {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && CombiningClassOf(text[end].c) != 0) ++end;
    std::stable_sort(text.begin() + static_cast<std::ptrdiff_t>(i),
                     text.begin() + static_cast<std::ptrdiff_t>(end),
                     [](const AlignedChar& a, const AlignedChar& b) {
                       return CombiningClassOf(a.c) < CombiningClassOf(b.c);
                     });
    i = end;
  }
}

char32_t ComposePair(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  const Composition* it =
      std::lower_bound(std::begin(kCompositions), std::end(kCompositions), std::pair{first, second},
                       [](const Composition& e, const std::pair<char32_t, char32_t>& k) {
                         return e.first != k.first ? e.first < k.first : e.second < k.second;
                       });
  return it != std::end(kCompositions) && it->first == first && it->second == second ? it->composite : 0;
}

// Canonical composition (Unicode §3.11) of a decomposed, reordered text.
AlignedText Compose(const AlignedText& text) {
  AlignedText out;
  out.reserve(text.size());
  std::size_t starter = SIZE_MAX;  // index in `out` of the last starter
  std::uint8_t last_class = 0;
  for (const AlignedChar& ch : text) {
    const std::uint8_t ccc = CombiningClassOf(ch.c);
    if (starter != SIZE_MAX) {
      const bool blocked = out.size() - 1 != starter && (last_class == 0 || last_class >= ccc);
      const char32_t composite = blocked ? 0 : ComposePair(out[starter].c, ch.c);
      if (composite != 0) {
        out[starter].c = composite;
        out[starter].begin = std::min(out[starter].begin, ch.begin);
        out[starter].end = std::max(out[starter].end, ch.end);
        continue;
      }
    }
    if (ccc == 0) starter = out.size();
    last_class = ccc;
    out.push_back(ch);
  }
  return out;
}

// Final sigma (Unicode §3.13): Σ lower-cases to ς after a cased letter and not before one, ignoring
// case-ignorable characters on both sides.
bool IsFinalSigma(const AlignedText& text, std::size_t i) {
  std::size_t before = i;
  bool cased_before = false;
  while (before > 0) {
    const char32_t c = text[--before].c;
    if (IsCaseIgnorable(c)) continue;
    cased_before = IsCased(c);
    break;
  }
  if (!cased_before) return false;
  for (std::size_t after = i + 1; after < text.size(); ++after) {
    const char32_t c = text[after].c;
    if (IsCaseIgnorable(c)) continue;
    return !IsCased(c);
  }
  return true;
}

}  // namespace

Category GeneralCategory(char32_t c) {
  const CategoryRun* it = std::upper_bound(std::begin(kCategoryRuns), std::end(kCategoryRuns), c,
                                           [](char32_t k, const CategoryRun& r) { return k < r.start; });
  return it == std::begin(kCategoryRuns) ? Category::kCn : std::prev(it)->category;
}

bool IsMark(char32_t c) {
  const Category k = GeneralCategory(c);
  return k == Category::kMn || k == Category::kMc || k == Category::kMe;
}
bool IsNonspacingMark(char32_t c) { return GeneralCategory(c) == Category::kMn; }
bool IsPunctuation(char32_t c) {
  const Category k = GeneralCategory(c);
  return k >= Category::kPc && k <= Category::kPo;
}
bool IsWhiteSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}
bool IsOtherControl(char32_t c) {
  const Category k = GeneralCategory(c);
  return k == Category::kCc || k == Category::kCf || k == Category::kCo || k == Category::kCs;
}

AlignedText DecodeAligned(std::string_view text) {
  AlignedText out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b = static_cast<unsigned char>(text[i]);
    int extra = 0;
    char32_t c = 0, min = 0;
    if (b < 0x80) {
      out.push_back({b, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i + 1)});
      ++i;
      continue;
    }
    if ((b & 0xE0) == 0xC0) {
      extra = 1, c = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      extra = 2, c = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      extra = 3, c = b & 0x07, min = 0x10000;
    } else {
      ++i;
      continue;
    }
    bool ok = i + static_cast<std::size_t>(extra) < text.size();
    for (int k = 1; ok && k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]);
      ok = (next & 0xC0) == 0x80;
      c = (c << 6) | (next & 0x3F);
    }
    if (!ok || c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
      ++i;
      continue;
    }
    const std::size_t end = i + static_cast<std::size_t>(extra) + 1;
    out.push_back({c, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(end)});
    i = end;
  }
  return out;
}

void AppendUtf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string ToUtf8(const AlignedText& text) {
  std::string out;
  out.reserve(text.size());
  for (const AlignedChar& ch : text) AppendUtf8(out, ch.c);
  return out;
}

std::string ToUtf8(const AlignedText& text, std::vector<std::size_t>& char_of_byte) {
  std::string out;
  char_of_byte.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    AppendUtf8(out, text[i].c);
    char_of_byte.resize(out.size(), i);
  }
  char_of_byte.push_back(text.size());
  return out;
}

AlignedText Normalize(const AlignedText& text, NormalForm form) {
  const bool compatibility = form == NormalForm::kNFKC || form == NormalForm::kNFKD;
  AlignedText decomposed;
  decomposed.reserve(text.size());
  for (const AlignedChar& ch : text) Decompose(ch.c, compatibility, ch, decomposed);
  Reorder(decomposed);
  if (form == NormalForm::kNFD || form == NormalForm::kNFKD) return decomposed;
  return Compose(decomposed);
}

AlignedText Lowercase(const AlignedText& text) {
  AlignedText out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    AlignedChar ch = text[i];
    if (ch.c == 0x130) {  // İ → i + combining dot above (SpecialCasing.txt, unconditional)
      out.push_back({0x69, ch.begin, ch.end});
      out.push_back({0x307, ch.begin, ch.end});
      continue;
    }
    if (ch.c == 0x3A3) {
      ch.c = IsFinalSigma(text, i) ? 0x3C2 : 0x3C3;
    } else if (const CaseMapping* m = FindExact(kLowercase, ch.c)) {
      ch.c = m->mapped;
    }
    out.push_back(ch);
  }
  return out;
}

}  // namespace loupe::model::hf
