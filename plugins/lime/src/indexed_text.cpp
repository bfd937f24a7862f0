#include "indexed_text.hpp"

#include <map>
#include <utility>

namespace loupe::lime {
namespace {

bool InRange(char32_t c, char32_t first, char32_t last) { return c >= first && c <= last; }

// Latin-1 letters and numbers among U+00A0..U+00BF (ª ² ³ µ ¹ º ¼ ½ ¾), which Python counts as \w.
bool IsLatin1Alnum(char32_t c) {
  return c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA || InRange(c, 0xBC, 0xBE);
}

// Decodes the code point starting at text[i]; `size` receives its length in bytes. An invalid or
// truncated sequence yields its first byte as one code point.
char32_t Decode(const std::string& text, std::size_t i, std::size_t* size) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  std::size_t length = lead < 0x80           ? 1
                       : (lead >> 5) == 0x6  ? 2
                       : (lead >> 4) == 0xE  ? 3
                       : (lead >> 3) == 0x1E ? 4
                                             : 0;
  if (length == 0 || i + length > text.size()) {
    *size = 1;
    return lead;
  }
  char32_t c = length == 1 ? lead : lead & (0xFF >> (length + 1));
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      *size = 1;
      return lead;
    }
    c = (c << 6) | (byte(i + k) & 0x3F);
  }
  *size = length;
  return c;
}

}  // namespace

bool IsWordCodePoint(char32_t c) {
  if (c < 0x80) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  }
  if (InRange(c, 0x80, 0xBF)) return IsLatin1Alnum(c);
  if (c == 0xD7 || c == 0xF7) return false;  // × ÷
  const bool separator =
      InRange(c, 0x2000, 0x206F) ||  // General Punctuation (spaces, dashes, quotes)
      InRange(c, 0x20A0, 0x20CF) ||  // currency symbols
      InRange(c, 0x2190, 0x22FF) ||  // arrows, mathematical operators
      InRange(c, 0x2500, 0x26FF) ||  // box drawing, shapes, miscellaneous symbols
      InRange(c, 0x3000, 0x3004) || InRange(c, 0x3008, 0x3020) || c == 0x3030 ||  // CJK punctuation
      InRange(c, 0xFF01, 0xFF0F) || InRange(c, 0xFF1A, 0xFF20) ||  // full-width ASCII punctuation
      InRange(c, 0xFF3B, 0xFF40) || InRange(c, 0xFF5B, 0xFF65) ||
      InRange(c, 0x1F300, 0x1FAFF);  // emoji and pictographs
  return !separator;
}

IndexedText::IndexedText(std::string text, bool bow) : text_(std::move(text)), bow_(bow) {
  Split();
  IndexFeatures();
}

void IndexedText::Split() {
  std::int64_t code_points = 0;
  for (std::size_t i = 0; i < text_.size();) {
    std::size_t size = 0;
    const bool word = IsWordCodePoint(Decode(text_, i, &size));
    if (pieces_.empty() || (pieces_.back().feature >= 0) != word) {
      Piece piece;
      piece.byte_begin = i;
      piece.start = code_points;
      piece.feature = word ? 0 : -1;  // words get their numbers in IndexFeatures
      pieces_.push_back(piece);
    }
    i += size;
    pieces_.back().byte_end = i;
    ++pieces_.back().length;
    ++code_points;
  }
}

void IndexedText::IndexFeatures() {
  std::map<std::string, std::int64_t> vocabulary;
  std::int64_t word_position = 0;
  for (std::size_t p = 0; p < pieces_.size(); ++p) {
    Piece& piece = pieces_[p];
    if (piece.feature < 0) continue;
    std::string word = text_.substr(piece.byte_begin, piece.byte_end - piece.byte_begin);
    const auto found = bow_ ? vocabulary.find(word) : vocabulary.end();
    if (found != vocabulary.end()) {
      piece.feature = found->second;
    } else {
      piece.feature = static_cast<std::int64_t>(features_.size());
      if (bow_) vocabulary.emplace(word, piece.feature);
      features_.push_back(Feature{std::move(word), {}, {}});
    }
    Feature& feature = features_[static_cast<std::size_t>(piece.feature)];
    feature.pieces.push_back(static_cast<std::int64_t>(p));
    feature.word_positions.push_back(word_position++);
  }
}

std::vector<std::pair<std::int64_t, std::int64_t>> IndexedText::spans(std::int64_t feature) const {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (const std::int64_t p : features_[static_cast<std::size_t>(feature)].pieces) {
    const Piece& piece = pieces_[static_cast<std::size_t>(p)];
    out.emplace_back(piece.start, piece.start + piece.length);
  }
  return out;
}

std::string IndexedText::Perturbed(const double* keep, const std::string& mask) const {
  std::string out;
  out.reserve(text_.size());
  for (const Piece& piece : pieces_) {
    if (piece.feature >= 0 && keep[piece.feature] == 0.0) {
      if (!bow_) out += mask;
      continue;
    }
    out.append(text_, piece.byte_begin, piece.byte_end - piece.byte_begin);
  }
  return out;
}

}  // namespace loupe::lime
