#include "model/hf_tokenizer.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "model/hf_json.hpp"
#include "model/hf_models.hpp"
#include "model/hf_normalizers.hpp"
#include "model/hf_post_processors.hpp"
#include "model/hf_pre_tokenizers.hpp"
#include "model/hf_unicode.hpp"

namespace loupe::model::hf {

using nlohmann::json;

struct AddedToken {
  std::int64_t id = 0;
  std::string content;
  AlignedText match;  // what is looked for: the content, normalized when `normalized`
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

struct HfTokenizer::Pipeline {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;
  std::vector<AddedToken> added;
  // The added tokens matched in the raw text ([0]) and in normalized text ([1]), by first character,
  // longest first: the candidates at a position are found without trying every added token.
  std::array<std::unordered_map<char32_t, std::vector<std::size_t>>, 2> added_by_first;
  std::optional<std::int64_t> pad_id;
};

namespace {

// A stretch of text between added tokens, or one added token (index into Pipeline::added).
struct Section {
  AlignedText text;
  int added = -1;
};

bool IsWordChar(char32_t c) {
  const Category k = GeneralCategory(c);
  return c == '_' || (k >= Category::kLu && k <= Category::kLo) || (k >= Category::kNd && k <= Category::kNo);
}

bool MatchesAt(const AlignedText& text, std::size_t at, const AddedToken& token) {
  if (token.match.empty() || at + token.match.size() > text.size()) return false;
  for (std::size_t k = 0; k < token.match.size(); ++k) {
    if (text[at + k].c != token.match[k].c) return false;
  }
  if (!token.single_word) return true;
  const std::size_t stop = at + token.match.size();
  return (at == 0 || !IsWordChar(text[at - 1].c)) && (stop == text.size() || !IsWordChar(text[stop].c));
}

// Splits `text` at the added tokens of `by_first` (one of Pipeline::added_by_first), the longest match at
// the leftmost position first; lstrip / rstrip tokens swallow the whitespace beside them.
std::vector<Section> SplitAtAdded(const AlignedText& text, const std::vector<AddedToken>& added,
                                  const std::unordered_map<char32_t, std::vector<std::size_t>>& by_first) {
  std::vector<Section> sections;
  if (by_first.empty()) {
    if (!text.empty()) sections.push_back({text, -1});
    return sections;
  }
  AlignedText pending;
  std::size_t i = 0;
  while (i < text.size()) {
    int best = -1;
    if (const auto candidates = by_first.find(text[i].c); candidates != by_first.end()) {
      for (std::size_t a : candidates->second) {
        if (MatchesAt(text, i, added[a])) {
          best = static_cast<int>(a);
          break;
        }
      }
    }
    if (best < 0) {
      pending.push_back(text[i++]);
      continue;
    }
    const AddedToken& token = added[static_cast<std::size_t>(best)];
    std::size_t first = i, stop = i + token.match.size();
    if (token.lstrip) {
      while (!pending.empty() && IsWhiteSpace(pending.back().c)) pending.pop_back(), --first;
    }
    if (token.rstrip) {
      while (stop < text.size() && IsWhiteSpace(text[stop].c)) ++stop;
    }
    if (!pending.empty()) sections.push_back({std::move(pending), -1});
    pending.clear();
    sections.push_back({AlignedText(text.begin() + static_cast<std::ptrdiff_t>(first),
                                    text.begin() + static_cast<std::ptrdiff_t>(stop)),
                        best});
    i = stop;
  }
  if (!pending.empty()) sections.push_back({std::move(pending), -1});
  return sections;
}

using AddedIndex = std::unordered_map<char32_t, std::vector<std::size_t>>;

// Indexes the added tokens matched in normalized text (or in the raw text) by first character, longest
// first (ties: the earlier in the file).
AddedIndex IndexAddedTokens(const std::vector<AddedToken>& added, bool normalized) {
  AddedIndex index;
  for (std::size_t a = 0; a < added.size(); ++a) {
    if (added[a].normalized == normalized && !added[a].match.empty())
      index[added[a].match.front().c].push_back(a);
  }
  for (auto& [first, list] : index) {
    std::stable_sort(list.begin(), list.end(), [&](std::size_t x, std::size_t y) {
      return added[x].match.size() > added[y].match.size();
    });
  }
  return index;
}

Result<std::vector<AddedToken>> ReadAddedTokens(const json& root, const Normalizer* normalizer,
                                                const std::string& where) {
  std::vector<AddedToken> added;
  const auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return added;
  if (!it->is_array()) return JsonError(where, "\"added_tokens\" must be a list.");
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& entry = (*it)[i];
    const std::string at = where + ": added_tokens[" + std::to_string(i) + "]";
    if (!entry.is_object()) return JsonError(at, "expected an object.");
    AddedToken token;
    LOUPE_ASSIGN_OR_RETURN(token.id, OptionalInt(entry, "id", -1, at));
    LOUPE_ASSIGN_OR_RETURN(token.content, RequiredString(entry, "content", at));
    if (token.id < 0) return JsonError(at, "needs an \"id\" of at least 0.");
    LOUPE_ASSIGN_OR_RETURN(token.single_word, OptionalBool(entry, "single_word", false, at));
    LOUPE_ASSIGN_OR_RETURN(token.lstrip, OptionalBool(entry, "lstrip", false, at));
    LOUPE_ASSIGN_OR_RETURN(token.rstrip, OptionalBool(entry, "rstrip", false, at));
    LOUPE_ASSIGN_OR_RETURN(token.special, OptionalBool(entry, "special", false, at));
    LOUPE_ASSIGN_OR_RETURN(token.normalized, OptionalBool(entry, "normalized", !token.special, at));
    token.match = DecodeAligned(token.content);
    if (token.normalized && normalizer != nullptr) normalizer->Apply(token.match);
    added.push_back(std::move(token));
  }
  return added;
}

// Reads an optional component: absent or null gives nullptr.
template <typename T, typename Make>
Result<std::unique_ptr<T>> Optional(const json& root, const char* key, const std::string& source, Make make) {
  const auto it = root.find(key);
  if (it == root.end() || it->is_null()) return std::unique_ptr<T>();
  return make(*it, source + ": " + key);
}

Status ReadTruncation(const json& root, const std::string& source, std::optional<std::int64_t>& max_length,
                      bool& left) {
  const auto it = root.find("truncation");
  if (it == root.end() || it->is_null()) return Status::Ok();
  const std::string where = source + ": truncation";
  LOUPE_ASSIGN_OR_RETURN(const std::int64_t length, OptionalInt(*it, "max_length", -1, where));
  if (length < 1) return JsonError(where, "\"max_length\" must be a whole number of at least 1.");
  LOUPE_ASSIGN_OR_RETURN(const std::string direction, OptionalString(*it, "direction", "Right", where));
  max_length = length;
  left = direction == "Left";
  return Status::Ok();
}

// Every id an encoding can carry must name a row of the vocabulary (the embedding tables have exactly
// that many rows): the post-processor's special tokens and the padding id.
Status CheckSpecialIdsInVocabulary(const HfTokenizer& tokenizer, const PostProcessor* post_processor,
                                   std::optional<std::int64_t> pad_id, const std::string& source) {
  const std::int64_t size = tokenizer.vocab_size();
  const auto outside = [size](std::int64_t id) { return id < 0 || id >= size; };
  const std::string range = "outside the vocabulary's ids 0.." + std::to_string(size - 1) + ".";
  if (post_processor != nullptr) {
    for (const Token& special : post_processor->SpecialTokens()) {
      if (outside(special.id)) {
        return InvalidArgument(source + ": post_processor: special token '" + special.text + "' has id " +
                               std::to_string(special.id) + ", " + range);
      }
    }
  }
  if (pad_id && outside(*pad_id)) {
    return InvalidArgument(source + ": padding: pad_id " + std::to_string(*pad_id) + " is " + range);
  }
  return Status::Ok();
}

}  // namespace

Result<HfTokenizer> HfTokenizer::FromJson(std::string_view json_text, const std::string& source) {
  json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return InvalidArgument(
        source + " is not a JSON object as the Hugging Face tokenizers library writes tokenizer.json.");
  }
  auto pipeline = std::make_shared<Pipeline>();
  LOUPE_ASSIGN_OR_RETURN(pipeline->normalizer,
                         Optional<Normalizer>(root, "normalizer", source, MakeNormalizer));
  LOUPE_ASSIGN_OR_RETURN(pipeline->pre_tokenizer,
                         Optional<PreTokenizer>(root, "pre_tokenizer", source, MakePreTokenizer));
  LOUPE_ASSIGN_OR_RETURN(pipeline->model, Optional<Model>(root, "model", source, MakeModel));
  if (pipeline->model == nullptr) return InvalidArgument(source + " has no \"model\".");
  LOUPE_ASSIGN_OR_RETURN(pipeline->post_processor,
                         Optional<PostProcessor>(root, "post_processor", source, MakePostProcessor));
  LOUPE_ASSIGN_OR_RETURN(pipeline->added, ReadAddedTokens(root, pipeline->normalizer.get(), source));
  pipeline->added_by_first = {IndexAddedTokens(pipeline->added, false),
                              IndexAddedTokens(pipeline->added, true)};
  if (const auto padding = root.find("padding"); padding != root.end() && padding->is_object()) {
    LOUPE_ASSIGN_OR_RETURN(const std::int64_t pad, OptionalInt(*padding, "pad_id", 0, source + ": padding"));
    pipeline->pad_id = pad;
  }
  HfTokenizer tokenizer;
  LOUPE_RETURN_IF_ERROR(ReadTruncation(root, source, tokenizer.max_length_, tokenizer.truncate_left_));
  tokenizer.pipeline_ = std::move(pipeline);
  LOUPE_RETURN_IF_ERROR(CheckSpecialIdsInVocabulary(tokenizer, tokenizer.pipeline_->post_processor.get(),
                                                    tokenizer.pipeline_->pad_id, source));
  return tokenizer;
}

Result<HfTokenizer> HfTokenizer::FromFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return NotFound("tokenizer file '" + file.string() + "' does not exist or cannot be read.");
  std::ostringstream text;
  text << in.rdbuf();
  return FromJson(text.str(), file.string());
}

HfEncoding HfTokenizer::Encode(std::string_view text) const {
  const Pipeline& p = *pipeline_;
  Encoding encoding;
  const auto emit_added = [&](const Section& s) {
    const AddedToken& a = p.added[static_cast<std::size_t>(s.added)];
    encoding.tokens.push_back({a.id, a.content, s.text.front().begin, s.text.back().end});
    encoding.special.push_back(a.special ? 1 : 0);
  };
  std::vector<AlignedText> pieces;
  std::vector<Token> tokens;
  const std::vector<Section> sections = SplitAtAdded(DecodeAligned(text), p.added, p.added_by_first[0]);
  for (std::size_t s = 0; s < sections.size(); ++s) {
    if (sections[s].added >= 0) {
      emit_added(sections[s]);
      continue;
    }
    AlignedText normalized = sections[s].text;
    if (p.normalizer) p.normalizer->Apply(normalized);
    for (const Section& sub : SplitAtAdded(normalized, p.added, p.added_by_first[1])) {
      if (sub.added >= 0) {
        emit_added(sub);
        continue;
      }
      pieces.assign(1, sub.text);
      if (p.pre_tokenizer) p.pre_tokenizer->Split(pieces, s == 0);
      for (const AlignedText& piece : pieces) {
        tokens.clear();
        p.model->Tokenize(piece, tokens);
        encoding.tokens.insert(encoding.tokens.end(), tokens.begin(), tokens.end());
        encoding.special.resize(encoding.tokens.size(), 0);
      }
    }
  }
  if (max_length_) {
    const auto room =
        static_cast<std::size_t>(std::max<std::int64_t>(0, *max_length_ - special_token_count()));
    if (encoding.tokens.size() > room) {
      const auto cut = static_cast<std::ptrdiff_t>(encoding.tokens.size() - room);
      if (truncate_left_) {
        encoding.tokens.erase(encoding.tokens.begin(), encoding.tokens.begin() + cut);
        encoding.special.erase(encoding.special.begin(), encoding.special.begin() + cut);
      } else {
        encoding.tokens.resize(room);
        encoding.special.resize(room);
      }
    }
  }
  encoding.type_ids.assign(encoding.tokens.size(), 0);
  if (p.post_processor) p.post_processor->Process(encoding, text);
  HfEncoding out;
  for (std::size_t i = 0; i < encoding.tokens.size(); ++i) {
    Token& t = encoding.tokens[i];
    out.ids.push_back(t.id);
    out.tokens.push_back(std::move(t.text));
    out.offsets.emplace_back(t.begin, t.end);
  }
  out.type_ids = std::move(encoding.type_ids);
  out.special = std::move(encoding.special);
  return out;
}

std::int64_t HfTokenizer::special_token_count() const {
  return pipeline_->post_processor ? static_cast<std::int64_t>(pipeline_->post_processor->AddedTokens()) : 0;
}

std::int64_t HfTokenizer::vocab_size() const {
  std::int64_t size = 0;
  for (const auto& [token, id] : pipeline_->model->Vocabulary()) size = std::max(size, id + 1);
  for (const AddedToken& a : pipeline_->added) size = std::max(size, a.id + 1);
  return size;
}

std::int64_t HfTokenizer::TokenId(const std::string& token) const {
  for (const AddedToken& a : pipeline_->added) {
    if (a.content == token) return a.id;
  }
  const auto& vocab = pipeline_->model->Vocabulary();
  const auto it = vocab.find(token);
  return it == vocab.end() ? -1 : it->second;
}

std::int64_t HfTokenizer::pad_id() const {
  if (pipeline_->pad_id) return *pipeline_->pad_id;
  for (const char* name : {"[PAD]", "<pad>", "<|endoftext|>"}) {
    if (const std::int64_t id = TokenId(name); id >= 0) return id;
  }
  return 0;
}

}  // namespace loupe::model::hf
