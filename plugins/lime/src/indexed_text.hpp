// lime's IndexedString (split_expression r'\W+'): a text cut into maximal runs of word characters
// ("words") and of other characters ("separators"), every piece kept, so that a perturbed text is the
// original with some words removed (bow) or replaced by a mask string (positions), separators intact.
//
// Word characters follow Python 3's str regex `\w`: ASCII letters, digits and '_', and Unicode letters and
// digits. Here every non-ASCII code point counts as a word character except the spaces, punctuation and
// symbols of the common blocks (Latin-1 punctuation, General Punctuation, currency, arrows, mathematical
// operators, box drawing and shapes, miscellaneous symbols, CJK punctuation, full-width ASCII punctuation,
// emoji). Invalid UTF-8 bytes count as one word character each.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace loupe::lime {

// Whether a Unicode code point is a word character (Python's `\w`, as described above).
bool IsWordCodePoint(char32_t c);

class IndexedText {
 public:
  // bow (lime's default): one feature per distinct word, removing it removes every occurrence;
  // otherwise one feature per word occurrence (position), masked by a string.
  IndexedText(std::string text, bool bow);

  const std::string& text() const { return text_; }
  bool bow() const { return bow_; }
  // d: distinct words (bow) or word occurrences (positions), in order of first appearance.
  std::int64_t num_features() const { return static_cast<std::int64_t>(features_.size()); }
  const std::string& word(std::int64_t feature) const {
    return features_[static_cast<std::size_t>(feature)].word;
  }
  // Indices of the feature's occurrences among the text's words (0 = the first word).
  const std::vector<std::int64_t>& word_positions(std::int64_t feature) const {
    return features_[static_cast<std::size_t>(feature)].word_positions;
  }
  // [start, end) of each occurrence in Unicode code points of text() (Python string indices).
  std::vector<std::pair<std::int64_t, std::int64_t>> spans(std::int64_t feature) const;

  // lime's inverse_removing: the text with every feature f whose keep[f] is 0 removed (bow) or replaced by
  // `mask` (positions). keep has num_features() entries.
  std::string Perturbed(const double* keep, const std::string& mask) const;

 private:
  struct Piece {
    std::size_t byte_begin = 0, byte_end = 0;
    std::int64_t start = 0, length = 0;  // code points
    std::int64_t feature = -1;           // -1 for a separator
  };
  struct Feature {
    std::string word;
    std::vector<std::int64_t> pieces;
    std::vector<std::int64_t> word_positions;
  };

  void Split();
  void IndexFeatures();

  std::string text_;
  bool bow_ = true;
  std::vector<Piece> pieces_;
  std::vector<Feature> features_;
};

}  // namespace loupe::lime
