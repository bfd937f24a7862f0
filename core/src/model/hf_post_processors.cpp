#include "model/hf_post_processors.hpp"

#include <map>

#include "model/hf_json.hpp"

namespace loupe::model::hf {
namespace {

using nlohmann::json;

struct SpecialPiece {
  std::vector<Token> tokens;  // with empty offsets
  std::int64_t type_id = 0;
};

// One element of a template: special tokens, or the text's own tokens (when `special` is empty and
// `sequence` is true).
struct TemplateItem {
  bool sequence = false;
  SpecialPiece special;
};

void Prepend(Encoding& e, const SpecialPiece& piece) {
  e.tokens.insert(e.tokens.begin(), piece.tokens.begin(), piece.tokens.end());
  e.type_ids.insert(e.type_ids.begin(), piece.tokens.size(), piece.type_id);
  e.special.insert(e.special.begin(), piece.tokens.size(), 1);
}

void Append(Encoding& e, const SpecialPiece& piece) {
  e.tokens.insert(e.tokens.end(), piece.tokens.begin(), piece.tokens.end());
  e.type_ids.insert(e.type_ids.end(), piece.tokens.size(), piece.type_id);
  e.special.insert(e.special.end(), piece.tokens.size(), 1);
}

// Narrows each token's range so it neither starts nor ends with a space of the original text (the
// offsets of GPT-2's "Ġword" then cover "word").
void TrimOffsets(Encoding& e, std::string_view original) {
  for (std::size_t i = 0; i < e.tokens.size(); ++i) {
    Token& t = e.tokens[i];
    if (e.special[i] != 0) continue;
    while (t.begin < t.end && t.end <= original.size() && original[t.begin] == ' ') ++t.begin;
    while (t.end > t.begin && t.end <= original.size() && original[t.end - 1] == ' ') --t.end;
  }
}

class Template final : public PostProcessor {
 public:
  explicit Template(std::vector<TemplateItem> single) : single_(std::move(single)) {}
  std::size_t AddedTokens() const override {
    std::size_t n = 0;
    for (const TemplateItem& item : single_) n += item.sequence ? 0 : item.special.tokens.size();
    return n;
  }
  void Process(Encoding& e, std::string_view) const override {
    Encoding out;
    for (const TemplateItem& item : single_) {
      if (!item.sequence) {
        Append(out, item.special);
        continue;
      }
      out.tokens.insert(out.tokens.end(), e.tokens.begin(), e.tokens.end());
      out.type_ids.insert(out.type_ids.end(), e.tokens.size(), item.special.type_id);
      out.special.insert(out.special.end(), e.special.begin(), e.special.end());
    }
    e = std::move(out);
  }
  std::vector<Token> SpecialTokens() const override {
    std::vector<Token> specials;
    for (const TemplateItem& item : single_) {
      if (!item.sequence)
        specials.insert(specials.end(), item.special.tokens.begin(), item.special.tokens.end());
    }
    return specials;
  }

 private:
  std::vector<TemplateItem> single_;
};

// BertProcessing and RobertaProcessing: cls + text + sep (Roberta may also trim offsets).
class Surround final : public PostProcessor {
 public:
  Surround(SpecialPiece cls, SpecialPiece sep, bool trim_offsets)
      : cls_(std::move(cls)), sep_(std::move(sep)), trim_offsets_(trim_offsets) {}
  std::size_t AddedTokens() const override { return 2; }
  void Process(Encoding& e, std::string_view original) const override {
    if (trim_offsets_) TrimOffsets(e, original);
    Prepend(e, cls_);
    Append(e, sep_);
  }
  std::vector<Token> SpecialTokens() const override {
    std::vector<Token> specials = cls_.tokens;
    specials.insert(specials.end(), sep_.tokens.begin(), sep_.tokens.end());
    return specials;
  }

 private:
  SpecialPiece cls_, sep_;
  bool trim_offsets_;
};

class ByteLevelOffsets final : public PostProcessor {
 public:
  explicit ByteLevelOffsets(bool trim) : trim_(trim) {}
  std::size_t AddedTokens() const override { return 0; }
  void Process(Encoding& e, std::string_view original) const override {
    if (trim_) TrimOffsets(e, original);
  }
  std::vector<Token> SpecialTokens() const override { return {}; }

 private:
  bool trim_;
};

class PostProcessorSequence final : public PostProcessor {
 public:
  explicit PostProcessorSequence(std::vector<std::unique_ptr<PostProcessor>> steps)
      : steps_(std::move(steps)) {}
  std::size_t AddedTokens() const override {
    std::size_t n = 0;
    for (const auto& step : steps_) n += step->AddedTokens();
    return n;
  }
  void Process(Encoding& e, std::string_view original) const override {
    for (const auto& step : steps_) step->Process(e, original);
  }
  std::vector<Token> SpecialTokens() const override {
    std::vector<Token> specials;
    for (const auto& step : steps_) {
      const std::vector<Token> more = step->SpecialTokens();
      specials.insert(specials.end(), more.begin(), more.end());
    }
    return specials;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

// ["[CLS]", 101] as BertProcessing writes its cls and sep.
Result<SpecialPiece> PairToken(const json& config, const char* key, const std::string& where) {
  const auto it = config.find(key);
  if (it == config.end() || !it->is_array() || it->size() != 2 || !(*it)[0].is_string() ||
      !(*it)[1].is_number_integer()) {
    return JsonError(where, std::string("\"") + key + "\" must be [token, id].");
  }
  SpecialPiece piece;
  piece.tokens.push_back({(*it)[1].get<std::int64_t>(), (*it)[0].get<std::string>(), 0, 0});
  return piece;
}

Result<std::unique_ptr<PostProcessor>> MakeSurround(const json& config, const std::string& where,
                                                    bool roberta) {
  LOUPE_ASSIGN_OR_RETURN(SpecialPiece cls, PairToken(config, "cls", where));
  LOUPE_ASSIGN_OR_RETURN(SpecialPiece sep, PairToken(config, "sep", where));
  LOUPE_ASSIGN_OR_RETURN(const bool trim, OptionalBool(config, "trim_offsets", roberta, where));
  return std::unique_ptr<PostProcessor>(
      std::make_unique<Surround>(std::move(cls), std::move(sep), roberta && trim));
}

// The special_tokens table of a template: name → {ids, tokens}.
Result<std::map<std::string, std::vector<Token>>> ReadSpecialTokens(const json& config,
                                                                    const std::string& where) {
  std::map<std::string, std::vector<Token>> specials;
  const auto it = config.find("special_tokens");
  if (it == config.end() || it->is_null()) return specials;
  if (!it->is_object()) return JsonError(where, "\"special_tokens\" must be an object.");
  for (const auto& [name, entry] : it->items()) {
    const auto ids = entry.find("ids");
    const auto tokens = entry.find("tokens");
    if (ids == entry.end() || tokens == entry.end() || !ids->is_array() || !tokens->is_array() ||
        ids->size() != tokens->size()) {
      return JsonError(where,
                       "special token '" + name + "' needs lists \"ids\" and \"tokens\" of one length.");
    }
    for (std::size_t i = 0; i < ids->size(); ++i) {
      if (!(*ids)[i].is_number_integer() || !(*tokens)[i].is_string()) {
        return JsonError(where,
                         "special token '" + name +
                             "' has an id that is not a whole number or a token that is not a string.");
      }
      specials[name].push_back({(*ids)[i].get<std::int64_t>(), (*tokens)[i].get<std::string>(), 0, 0});
    }
  }
  return specials;
}

Result<std::unique_ptr<PostProcessor>> MakeTemplate(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(const auto specials, ReadSpecialTokens(config, where));
  LOUPE_ASSIGN_OR_RETURN(const json* single, RequiredArray(config, "single", where));
  std::vector<TemplateItem> items;
  int sequences = 0;
  for (const json& element : *single) {
    TemplateItem item;
    const auto seq = element.find("Sequence");
    const auto special = element.find("SpecialToken");
    const json* body = seq != element.end() ? &*seq : special != element.end() ? &*special : nullptr;
    if (body == nullptr || !body->is_object()) {
      return JsonError(where,
                       "each element of \"single\" must be {\"Sequence\": ...} or {\"SpecialToken\": ...}.");
    }
    LOUPE_ASSIGN_OR_RETURN(item.special.type_id, OptionalInt(*body, "type_id", 0, where));
    item.sequence = seq != element.end();
    if (item.sequence) {
      // Loupe encodes single texts: the text is the sequence A, placed once (truncation leaves room
      // for the special tokens only).
      LOUPE_ASSIGN_OR_RETURN(const std::string id, RequiredString(*body, "id", where));
      if (id != "A" || ++sequences > 1) {
        return JsonError(where, "the \"single\" template must hold the sequence A exactly once.");
      }
    } else {
      LOUPE_ASSIGN_OR_RETURN(const std::string id, RequiredString(*body, "id", where));
      const auto found = specials.find(id);
      if (found == specials.end()) {
        return JsonError(where, "the template names special token '" + id +
                                    "', which \"special_tokens\" does not define.");
      }
      item.special.tokens = found->second;
    }
    items.push_back(std::move(item));
  }
  if (sequences == 0)
    return JsonError(where, "the \"single\" template must hold the sequence A exactly once.");
  return std::unique_ptr<PostProcessor>(std::make_unique<Template>(std::move(items)));
}

Result<std::unique_ptr<PostProcessor>> MakePostProcessorSequence(const json& config,
                                                                 const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(const json* list, RequiredArray(config, "processors", where));
  std::vector<std::unique_ptr<PostProcessor>> steps;
  for (std::size_t i = 0; i < list->size(); ++i) {
    LOUPE_ASSIGN_OR_RETURN(auto step,
                           MakePostProcessor((*list)[i], where + ".processors[" + std::to_string(i) + "]"));
    steps.push_back(std::move(step));
  }
  return std::unique_ptr<PostProcessor>(std::make_unique<PostProcessorSequence>(std::move(steps)));
}

}  // namespace

Result<std::unique_ptr<PostProcessor>> MakePostProcessor(const json& config, const std::string& where) {
  LOUPE_ASSIGN_OR_RETURN(const std::string type, TypeOf(config, where));
  if (type == "TemplateProcessing") return MakeTemplate(config, where);
  if (type == "BertProcessing") return MakeSurround(config, where, false);
  if (type == "RobertaProcessing") return MakeSurround(config, where, true);
  if (type == "ByteLevel") {
    LOUPE_ASSIGN_OR_RETURN(const bool trim, OptionalBool(config, "trim_offsets", true, where));
    return std::unique_ptr<PostProcessor>(std::make_unique<ByteLevelOffsets>(trim));
  }
  if (type == "Sequence") return MakePostProcessorSequence(config, where);
  return UnsupportedType(where, type,
                         "BertProcessing, ByteLevel, RobertaProcessing, Sequence, TemplateProcessing");
}

}  // namespace loupe::model::hf
