#include "model/hf_models.hpp"

#include <algorithm>
#include <limits>

#include "model/hf_json.hpp"

namespace loupe::model::hf {
namespace {

using nlohmann::json;
using Vocab = std::unordered_map<std::string, std::int64_t>;

Token MakeToken(std::int64_t id, std::string text, const AlignedText& piece, std::size_t first,
                std::size_t last) {
  return {id, std::move(text), piece[first].begin, piece[last - 1].end};
}

std::string Utf8Of(const AlignedText& piece, std::size_t first, std::size_t last) {
  std::string out;
  for (std::size_t i = first; i < last; ++i) AppendUtf8(out, piece[i].c);
  return out;
}

Result<Vocab> ReadVocabMap(const json& config, const std::string& where) {
  const auto it = config.find("vocab");
  if (it == config.end() || !it->is_object())
    return JsonError(where, "needs a \"vocab\" object of token: id.");
  Vocab vocab;
  for (const auto& [token, id] : it->items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0) {
      return JsonError(where,
                       "the id of vocabulary token '" + token + "' must be a whole number of at least 0.");
    }
    vocab.emplace(token, id.get<std::int64_t>());
  }
  return vocab;
}

Result<std::int64_t> IdOf(const Vocab& vocab, const std::string& token, const std::string& where,
                          const char* role) {
  const auto it = vocab.find(token);
  if (it == vocab.end())
    return JsonError(where, std::string(role) + " '" + token + "' is not in the vocabulary.");
  return it->second;
}

// Greedy longest-match-first WordPiece (BERT): a piece longer than max_chars, or one with a rest no
// vocabulary entry starts, is one unknown token.
class WordPiece final : public Model {
 public:
  WordPiece(Vocab vocab, std::string unk, std::int64_t unk_id, std::string prefix, std::int64_t max_chars)
      : vocab_(std::move(vocab)),
        unk_(std::move(unk)),
        unk_id_(unk_id),
        prefix_(std::move(prefix)),
        max_chars_(max_chars) {}

  void Tokenize(const AlignedText& piece, std::vector<Token>& out) const override {
    if (piece.empty()) return;
    if (static_cast<std::int64_t>(piece.size()) > max_chars_) {
      out.push_back(MakeToken(unk_id_, unk_, piece, 0, piece.size()));
      return;
    }
    std::vector<Token> pieces;
    std::size_t start = 0;
    while (start < piece.size()) {
      std::size_t end = piece.size();
      bool found = false;
      for (; end > start; --end) {
        std::string candidate = (start > 0 ? prefix_ : std::string()) + Utf8Of(piece, start, end);
        if (const auto it = vocab_.find(candidate); it != vocab_.end()) {
          pieces.push_back(MakeToken(it->second, std::move(candidate), piece, start, end));
          found = true;
          break;
        }
      }
      if (!found) {
        out.push_back(MakeToken(unk_id_, unk_, piece, 0, piece.size()));
        return;
      }
      start = end;
    }
    for (Token& t : pieces) out.push_back(std::move(t));
  }
  const Vocab& Vocabulary() const override { return vocab_; }

 private:
  Vocab vocab_;
  std::string unk_;
  std::int64_t unk_id_;
  std::string prefix_;
  std::int64_t max_chars_;
};

class WordLevel final : public Model {
 public:
  WordLevel(Vocab vocab, std::string unk, std::int64_t unk_id)
      : vocab_(std::move(vocab)), unk_(std::move(unk)), unk_id_(unk_id) {}
  void Tokenize(const AlignedText& piece, std::vector<Token>& out) const override {
    if (piece.empty()) return;
    std::string text = Utf8Of(piece, 0, piece.size());
    const auto it = vocab_.find(text);
    if (it != vocab_.end()) {
      out.push_back(MakeToken(it->second, std::move(text), piece, 0, piece.size()));
    } else {
      out.push_back(MakeToken(unk_id_, unk_, piece, 0, piece.size()));
    }
  }
  const Vocab& Vocabulary() const override { return vocab_; }

 private:
  Vocab vocab_;
  std::string unk_;
  std::int64_t unk_id_;
};

struct BpeOptions {
  std::string unk;             // empty: unknown characters are dropped
  std::string prefix, suffix;  // continuing_subword_prefix, end_of_word_suffix
  bool fuse_unk = false, byte_fallback = false, ignore_merges = false;
};

// Byte-pair encoding: start from characters, then repeatedly merge the adjacent pair of lowest rank
// (the leftmost among equals) until no pair has a rank.
class Bpe final : public Model {
 public:
  Bpe(Vocab vocab, std::unordered_map<std::string, std::size_t> ranks, BpeOptions options)
      : vocab_(std::move(vocab)), ranks_(std::move(ranks)), options_(std::move(options)) {}

  void Tokenize(const AlignedText& piece, std::vector<Token>& out) const override {
    if (piece.empty()) return;
    if (options_.ignore_merges) {
      std::string whole = Utf8Of(piece, 0, piece.size());
      if (const auto it = vocab_.find(whole); it != vocab_.end()) {
        out.push_back(MakeToken(it->second, std::move(whole), piece, 0, piece.size()));
        return;
      }
    }
    std::vector<Symbol> symbols = InitialSymbols(piece);
    Merge(symbols);
    for (Symbol& s : symbols) {
      if (const auto it = vocab_.find(s.text); it != vocab_.end()) {
        out.push_back(MakeToken(it->second, std::move(s.text), piece, s.first, s.last));
      } else {
        Unknown(s, piece, out);
      }
    }
  }
  const Vocab& Vocabulary() const override { return vocab_; }

 private:
  struct Symbol {
    std::string text;
    std::size_t first, last;  // character range in the piece
  };

  std::vector<Symbol> InitialSymbols(const AlignedText& piece) const {
    std::vector<Symbol> symbols;
    for (std::size_t i = 0; i < piece.size(); ++i) {
      std::string text = i > 0 ? options_.prefix : std::string();
      AppendUtf8(text, piece[i].c);
      if (i + 1 == piece.size()) text += options_.suffix;
      symbols.push_back({std::move(text), i, i + 1});
    }
    return symbols;
  }

  // The merged spelling of a pair: the second loses its continuing-subword prefix.
  std::string Joined(const Symbol& a, const Symbol& b) const {
    const bool prefixed = !options_.prefix.empty() && b.text.starts_with(options_.prefix);
    return a.text + (prefixed ? b.text.substr(options_.prefix.size()) : b.text);
  }

  void Merge(std::vector<Symbol>& symbols) const {
    std::string key;
    while (symbols.size() > 1) {
      std::size_t best = symbols.size(), best_rank = std::numeric_limits<std::size_t>::max();
      for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
        key = symbols[i].text;
        key += ' ';
        key += symbols[i + 1].text;
        const auto it = ranks_.find(key);
        if (it != ranks_.end() && it->second < best_rank) best = i, best_rank = it->second;
      }
      if (best == symbols.size()) return;
      symbols[best].text = Joined(symbols[best], symbols[best + 1]);
      symbols[best].last = symbols[best + 1].last;
      symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
  }

  // A symbol outside the vocabulary: its bytes as byte tokens <0x00>..<0xFF> (byte_fallback), else the
  // unknown token (fused with a preceding one when fuse_unk), else nothing.
  void Unknown(const Symbol& s, const AlignedText& piece, std::vector<Token>& out) const {
    if (options_.byte_fallback) {
      std::vector<Token> bytes;
      for (unsigned char b : s.text) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        const auto it = vocab_.find(name);
        if (it == vocab_.end()) break;
        bytes.push_back(MakeToken(it->second, name, piece, s.first, s.last));
      }
      if (bytes.size() == s.text.size()) {
        out.insert(out.end(), bytes.begin(), bytes.end());
        return;
      }
    }
    const auto unk = vocab_.find(options_.unk);
    if (options_.unk.empty() || unk == vocab_.end()) return;
    if (options_.fuse_unk && !out.empty() && out.back().id == unk->second &&
        out.back().end == piece[s.first].begin && out.back().text == options_.unk) {
      out.back().end = piece[s.last - 1].end;
      return;
    }
    out.push_back(MakeToken(unk->second, options_.unk, piece, s.first, s.last));
  }

  Vocab vocab_;
  std::unordered_map<std::string, std::size_t> ranks_;  // "left right" → rank
  BpeOptions options_;
};

// SentencePiece's unigram model: the segmentation with the highest total score (Viterbi over the
// pieces the vocabulary offers at each position); characters no piece covers become the unknown token,
// scored 10 below the lowest score, consecutive ones fused.
class Unigram final : public Model {
 public:
  Unigram(std::vector<std::pair<std::string, double>> pieces, std::int64_t unk_id, bool byte_fallback)
      : pieces_(std::move(pieces)), unk_id_(unk_id), byte_fallback_(byte_fallback) {
    double min_score = std::numeric_limits<double>::max();
    for (std::size_t i = 0; i < pieces_.size(); ++i) {
      vocab_.emplace(pieces_[i].first, static_cast<std::int64_t>(i));
      min_score = std::min(min_score, pieces_[i].second);
      max_piece_bytes_ = std::max(max_piece_bytes_, pieces_[i].first.size());
    }
    unk_score_ = min_score - 10.0;
  }

  void Tokenize(const AlignedText& piece, std::vector<Token>& out) const override {
    if (piece.empty()) return;
    std::vector<Best> best = Viterbi(piece);
    std::vector<std::pair<std::size_t, std::size_t>> path;  // character ranges, last first
    for (std::size_t end = piece.size(); end > 0; end = best[end].start)
      path.emplace_back(best[end].start, end);
    bool previous_unknown = false;
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
      const std::int64_t id = best[it->second].id;
      const bool unknown = id == unk_id_;
      if (unknown && previous_unknown) {  // fuse_unk: one token for a run of unknown characters
        out.back().text += Utf8Of(piece, it->first, it->second);
        out.back().end = piece[it->second - 1].end;
      } else {
        out.push_back(MakeToken(id, Utf8Of(piece, it->first, it->second), piece, it->first, it->second));
      }
      previous_unknown = unknown;
    }
    if (byte_fallback_) ExpandUnknownBytes(out);
  }
  const Vocab& Vocabulary() const override { return vocab_; }

 private:
  struct Best {
    double score = 0;
    std::size_t start = 0;
    std::int64_t id = -1;  // −1: no path reaches this position yet
  };

  // best[e]: the best segmentation of characters [0, e), as the tokenizers library's encode_optimized
  // finds it (positions left to right, candidates shortest first, a later candidate only if strictly
  // better).
  std::vector<Best> Viterbi(const AlignedText& piece) const {
    std::vector<Best> best(piece.size() + 1);
    best[0].id = 0;
    std::string candidate;
    for (std::size_t start = 0; start < piece.size(); ++start) {
      if (best[start].id < 0) continue;
      bool single_char = false;
      candidate.clear();
      for (std::size_t end = start + 1; end <= piece.size(); ++end) {
        AppendUtf8(candidate, piece[end - 1].c);
        if (candidate.size() > max_piece_bytes_) break;
        const auto it = vocab_.find(candidate);
        if (it == vocab_.end()) continue;
        if (end == start + 1) single_char = true;
        Offer(best, start, end, it->second, pieces_[static_cast<std::size_t>(it->second)].second);
      }
      if (!single_char) Offer(best, start, start + 1, unk_id_, unk_score_);
    }
    return best;
  }

  static void Offer(std::vector<Best>& best, std::size_t start, std::size_t end, std::int64_t id,
                    double score) {
    const double total = best[start].score + score;
    if (best[end].id < 0 || total > best[end].score) best[end] = {total, start, id};
  }

  // byte_fallback: an unknown token becomes the byte tokens (<0x00>..<0xFF>) of its bytes when the vocabulary
  // has them all.
  void ExpandUnknownBytes(std::vector<Token>& tokens) const {
    std::vector<Token> out;
    for (Token& t : tokens) {
      std::vector<Token> bytes;
      if (t.id == unk_id_) {
        for (unsigned char b : t.text) {
          char name[8];
          std::snprintf(name, sizeof name, "<0x%02X>", b);
          const auto it = vocab_.find(name);
          if (it == vocab_.end()) break;
          bytes.push_back({it->second, name, t.begin, t.end});
        }
      }
      if (t.id == unk_id_ && bytes.size() == t.text.size()) {
        out.insert(out.end(), bytes.begin(), bytes.end());
      } else {
        out.push_back(std::move(t));
      }
    }
    tokens = std::move(out);
  }

  std::vector<std::pair<std::string, double>> pieces_;
  Vocab vocab_;
  std::int64_t unk_id_;
  bool byte_fallback_;
  double unk_score_ = 0;
  std::size_t max_piece_bytes_ = 0;
};

Result<std::unique_ptr<Model>> MakeWordPiece(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(Vocab vocab, ReadVocabMap(config, where));
  LOUPE_ASSIGN_OR_RETURN(std::string unk, OptionalString(config, "unk_token", "[UNK]", where));
  LOUPE_ASSIGN_OR_RETURN(const std::int64_t unk_id, IdOf(vocab, unk, where, "the unknown token"));
  LOUPE_ASSIGN_OR_RETURN(std::string prefix,
                         OptionalString(config, "continuing_subword_prefix", "##", where));
  LOUPE_ASSIGN_OR_RETURN(const std::int64_t max_chars,
                         OptionalInt(config, "max_input_chars_per_word", 100, where));
  return std::unique_ptr<Model>(
      std::make_unique<WordPiece>(std::move(vocab), std::move(unk), unk_id, std::move(prefix), max_chars));
}

Result<std::unique_ptr<Model>> MakeWordLevel(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(Vocab vocab, ReadVocabMap(config, where));
  LOUPE_ASSIGN_OR_RETURN(std::string unk, OptionalString(config, "unk_token", "<unk>", where));
  LOUPE_ASSIGN_OR_RETURN(const std::int64_t unk_id, IdOf(vocab, unk, where, "the unknown token"));
  return std::unique_ptr<Model>(std::make_unique<WordLevel>(std::move(vocab), std::move(unk), unk_id));
}

// merges: "left right" strings (tokenizers < 0.20) or [left, right] pairs; rank = position in the list.
Result<std::unordered_map<std::string, std::size_t>> ReadMerges(const json& config,
                                                                const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(const json* merges, RequiredArray(config, "merges", where));
  std::unordered_map<std::string, std::size_t> ranks;
  for (std::size_t i = 0; i < merges->size(); ++i) {
    const json& m = (*merges)[i];
    std::string key;
    if (m.is_string() && m.get<std::string>().find(' ') != std::string::npos) {
      key = m.get<std::string>();
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      key = m[0].get<std::string>() + " " + m[1].get<std::string>();
    } else {
      return JsonError(where, "merge " + std::to_string(i) + " must be \"left right\" or [left, right].");
    }
    ranks.emplace(std::move(key), i);  // a repeated merge keeps its first rank
  }
  return ranks;
}

Result<std::unique_ptr<Model>> MakeBpe(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(Vocab vocab, ReadVocabMap(config, where));
  LOUPE_ASSIGN_OR_RETURN(auto ranks, ReadMerges(config, where));
  BpeOptions options;
  LOUPE_ASSIGN_OR_RETURN(options.unk, OptionalString(config, "unk_token", "", where));
  LOUPE_ASSIGN_OR_RETURN(options.prefix, OptionalString(config, "continuing_subword_prefix", "", where));
  LOUPE_ASSIGN_OR_RETURN(options.suffix, OptionalString(config, "end_of_word_suffix", "", where));
  LOUPE_ASSIGN_OR_RETURN(options.fuse_unk, OptionalBool(config, "fuse_unk", false, where));
  LOUPE_ASSIGN_OR_RETURN(options.byte_fallback, OptionalBool(config, "byte_fallback", false, where));
  LOUPE_ASSIGN_OR_RETURN(options.ignore_merges, OptionalBool(config, "ignore_merges", false, where));
  if (const auto d = config.find("dropout"); d != config.end() && !d->is_null() && d->get<double>() > 0) {
    return JsonError(where, "BPE dropout is for training; set \"dropout\" to null for inference.");
  }
  return std::unique_ptr<Model>(
      std::make_unique<Bpe>(std::move(vocab), std::move(ranks), std::move(options)));
}

Result<std::unique_ptr<Model>> MakeUnigram(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(const json* list, RequiredArray(config, "vocab", where));
  std::vector<std::pair<std::string, double>> pieces;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& p = (*list)[i];
    if (!p.is_array() || p.size() != 2 || !p[0].is_string() || !p[1].is_number()) {
      return JsonError(where, "vocabulary entry " + std::to_string(i) + " must be [piece, score].");
    }
    pieces.emplace_back(p[0].get<std::string>(), p[1].get<double>());
  }
  LOUPE_ASSIGN_OR_RETURN(const std::int64_t unk_id, OptionalInt(config, "unk_id", -1, where));
  if (unk_id < 0 || unk_id >= static_cast<std::int64_t>(pieces.size())) {
    return JsonError(where, "a Unigram model needs \"unk_id\", the index of its unknown piece in \"vocab\".");
  }
  LOUPE_ASSIGN_OR_RETURN(const bool byte_fallback, OptionalBool(config, "byte_fallback", false, where));
  return std::unique_ptr<Model>(std::make_unique<Unigram>(std::move(pieces), unk_id, byte_fallback));
}

}  // namespace

Result<std::unique_ptr<Model>> MakeModel(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(const std::string type, TypeOf(config, where));
  if (type == "WordPiece") return MakeWordPiece(config, where);
  if (type == "WordLevel") return MakeWordLevel(config, where);
  if (type == "BPE") return MakeBpe(config, where);
  if (type == "Unigram") return MakeUnigram(config, where);
  return UnsupportedType(where, type, "BPE, Unigram, WordLevel, WordPiece");
}

}  // namespace loupe::model::hf
