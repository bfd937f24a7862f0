// yaml-cpp stays behind this file: it turns a YAML text into nlohmann::json plus a table of source
// positions, and converts every yaml-cpp exception into a Diagnostic right here.
#include "config/yaml_document.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <optional>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include "config/messages.hpp"

namespace loupe::config {
namespace {

using nlohmann::json;

// Guards against recursive aliases (`a: &x [*x]` makes yaml-cpp build a cycle) and alias bombs. A document
// without aliases holds fewer values than bytes, so a budget of a few values per byte of text leaves room for
// anchors reused many times while a 2 kB alias bomb can no longer expand to a million values (which took
// minutes and gigabytes: found by fuzz_pipeline, fuzz/regressions/pipeline/alias_bomb_*.yaml).
constexpr int kMaxDepth = 200;
constexpr std::size_t kMaxNodes = 1'000'000;
constexpr std::size_t kMaxNodesPerByte = 4;
constexpr std::size_t kMinNodeBudget = 1'000;

std::size_t NodeBudget(const std::string& text) {
  return std::min(kMaxNodes, kMinNodeBudget + kMaxNodesPerByte * text.size());
}

constexpr const char* kPlainTag = "?";
constexpr const char* kNonPlainTag = "!";  // quoted scalars
constexpr const char* kCoreTagPrefix = "tag:yaml.org,2002:";

bool IsNullText(const std::string& text) {
  return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

std::optional<bool> BoolFromText(const std::string& text) {
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return std::nullopt;
}

// Integers of the YAML 1.2 core schema: decimal with an optional sign, 0o octal and 0x hexadecimal.
// Returns nullopt when `text` is not written as an integer, an error when it does not fit in 64 bits.
std::optional<Result<json>> IntegerFromText(const std::string& text) {
  const auto is_octal = [](char c) { return c >= '0' && c <= '7'; };
  const auto is_decimal = [](char c) { return c >= '0' && c <= '9'; };
  const auto is_hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  // Non-empty and every character of the class: the regular expressions [0-7]+, [0-9]+, [0-9a-fA-F]+.
  const auto all_digits = [](std::string_view digits, auto is_digit) {
    return !digits.empty() && std::all_of(digits.begin(), digits.end(), is_digit);
  };
  const std::string_view view(text);
  const std::string_view unsigned_part =
      view.empty() || (view[0] != '-' && view[0] != '+') ? view : view.substr(1);
  int base = 10;
  std::string digits = text;
  if (view.starts_with("0o") && all_digits(view.substr(2), is_octal)) {
    base = 8;
    digits = text.substr(2);
  } else if (view.starts_with("0x") && all_digits(view.substr(2), is_hex)) {
    base = 16;
    digits = text.substr(2);
  } else if (!all_digits(unsigned_part, is_decimal)) {
    return std::nullopt;
  }
  const bool negative = digits[0] == '-';
  if (digits[0] == '+' || digits[0] == '-') digits.erase(0, 1);
  std::uint64_t magnitude = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  const std::uint64_t kMinMagnitude = std::uint64_t{1} << 63;
  if (error != std::errc() || end != digits.data() + digits.size() ||
      (negative && magnitude > kMinMagnitude)) {
    return Result<json>(InvalidArgument("integer " + text + " does not fit in 64 bits"));
  }
  if (!negative) return Result<json>(json(magnitude));
  if (magnitude == kMinMagnitude) return Result<json>(json(std::numeric_limits<std::int64_t>::min()));
  return Result<json>(json(-static_cast<std::int64_t>(magnitude)));
}

// Whether `text` is written as the YAML 1.2 core schema's float,
// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? (scanned by hand: std::regex costs this file seconds of
// compile time).
bool IsCoreSchemaFloat(std::string_view text) {
  std::size_t i = 0;
  const auto skip_sign = [&] {
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  };
  const auto skip_digits = [&] {  // returns how many
    const std::size_t first = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i - first;
  };
  skip_sign();
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (skip_digits() == 0) return false;
  } else {
    if (skip_digits() == 0) return false;
    if (i < text.size() && text[i] == '.') {
      ++i;
      skip_digits();
    }
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    skip_sign();
    if (skip_digits() == 0) return false;
  }
  return i == text.size();
}

std::optional<double> FloatFromText(const std::string& text) {
  const auto is_one_of = [](std::string_view word, std::initializer_list<std::string_view> spellings) {
    return std::find(spellings.begin(), spellings.end(), word) != spellings.end();
  };
  if (is_one_of(text, {".nan", ".NaN", ".NAN"})) return std::numeric_limits<double>::quiet_NaN();
  const std::string_view unsigned_part =
      !text.empty() && (text[0] == '-' || text[0] == '+') ? std::string_view(text).substr(1) : text;
  if (is_one_of(unsigned_part, {".inf", ".Inf", ".INF"})) {
    return text[0] == '-' ? -std::numeric_limits<double>::infinity()
                          : std::numeric_limits<double>::infinity();
  }
  if (!IsCoreSchemaFloat(text)) return std::nullopt;
  const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
  double number = 0;
  std::from_chars(begin, text.data() + text.size(), number);  // out of range saturates, as YAML readers do
  return number;
}

// Types a plain (untagged, unquoted) scalar as the YAML 1.2 core schema does.
Result<json> TypePlainScalar(const std::string& text) {
  if (IsNullText(text)) return json(nullptr);
  if (auto flag = BoolFromText(text)) return json(*flag);
  if (auto integer = IntegerFromText(text)) return *integer;
  if (auto number = FloatFromText(text)) return json(*number);
  return json(text);
}

// A scalar with an explicit core tag (`!!str 5`, `!!int "7"`); other tags are not part of Loupe's YAML.
Result<json> TypeTaggedScalar(const std::string& text, const std::string& tag) {
  if (tag == kNonPlainTag || tag == std::string(kCoreTagPrefix) + "str") return json(text);
  const std::string name = tag.rfind(kCoreTagPrefix, 0) == 0 ? tag.substr(std::strlen(kCoreTagPrefix)) : "";
  if (name != "null" && name != "bool" && name != "int" && name != "float") {
    return InvalidArgument("unsupported YAML tag '" + tag + "'; only plain values and the !!str, !!int, " +
                           "!!float, !!bool and !!null tags are read");
  }
  Result<json> typed = TypePlainScalar(text);
  if (!typed.ok()) return typed;
  const json& value = *typed;
  const bool matches = (name == "null" && value.is_null()) || (name == "bool" && value.is_boolean()) ||
                       (name == "int" && value.is_number_integer()) || (name == "float" && value.is_number());
  if (!matches) return InvalidArgument("'" + text + "' is not a valid !!" + name + " value");
  if (name == "float") return json(value.get<double>());
  return value;
}

// One node of the first document, as yaml-cpp's NodeBuilder (YAML::Load) makes it from the parser's
// events: DocumentReader builds these in the same pass that looks for a second document, so the text is
// parsed once, not a second time by YAML::Load (half of a `loupe run`'s YAML time: issue 21). An alias is
// the anchored node itself, as in yaml-cpp (`a: &x [*x]` is a cycle, which Converter's limits stop).
struct YamlTreeNode {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  YAML::Mark mark;
  std::string tag;
  std::string scalar;
  std::vector<const YamlTreeNode*> items;                                  // a sequence's
  std::vector<std::pair<const YamlTreeNode*, const YamlTreeNode*>> pairs;  // a map's, duplicates kept
};

class Converter {
 public:
  Converter(std::string file, YamlDocument& document, std::vector<Diagnostic>& diagnostics,
            std::size_t max_nodes)
      : file_(std::move(file)), document_(document), diagnostics_(diagnostics), max_nodes_(max_nodes) {}

  json Convert(const YamlTreeNode& node, const std::string& pointer, int depth) {
    if (aborted_) return nullptr;
    if (depth > kMaxDepth || ++node_count_ > max_nodes_) return Abort(node);
    Record(node, pointer);
    switch (node.kind) {
      case YamlTreeNode::Kind::kSequence:
        return ConvertSequence(node, pointer, depth);
      case YamlTreeNode::Kind::kMap:
        return ConvertMap(node, pointer, depth);
      case YamlTreeNode::Kind::kScalar:
        return ConvertScalar(node);
      default:
        return nullptr;  // Null
    }
  }

  SourcePos PosOf(const YAML::Mark& mark) const {
    if (mark.is_null()) return SourcePos{file_, 0, 0};
    return SourcePos{file_, mark.line + 1, mark.column + 1};
  }

 private:
  void Record(const YamlTreeNode& node, const std::string& pointer) {
    if (!document_.positions.count(pointer)) document_.positions[pointer] = PosOf(node.mark);
  }

  void Report(const YAML::Mark& mark, std::string message) {
    diagnostics_.push_back(Diagnostic{PosOf(mark), std::move(message)});
  }

  json Abort(const YamlTreeNode& node) {
    aborted_ = true;
    Report(node.mark, "the YAML document nests deeper than " + std::to_string(kMaxDepth) +
                          " levels or expands to more than " + std::to_string(max_nodes_) +
                          " values (a recursive or repeated alias?)");
    return nullptr;
  }

  json ConvertScalar(const YamlTreeNode& node) {
    const std::string& tag = node.tag;
    Result<json> value = tag == kPlainTag ? TypePlainScalar(node.scalar) : TypeTaggedScalar(node.scalar, tag);
    if (value.ok()) return *value;
    Report(node.mark, value.status().message());
    return nullptr;
  }

  json ConvertSequence(const YamlTreeNode& node, const std::string& pointer, int depth) {
    json array = json::array();
    for (std::size_t i = 0; i < node.items.size(); ++i) {
      array.push_back(Convert(*node.items[i], pointer + "/" + std::to_string(i), depth + 1));
    }
    return array;
  }

  json ConvertMap(const YamlTreeNode& node, const std::string& pointer, int depth) {
    json object = json::object();
    std::map<std::string, SourcePos> first_seen;
    for (const auto& [key_node, value_node] : node.pairs) {
      const std::string key = KeyText(*key_node, depth);
      const SourcePos key_pos = PosOf(key_node->mark);
      const auto [previous, inserted] = first_seen.emplace(key, key_pos);
      if (!inserted) {
        Report(key_node->mark, "duplicate key '" + key + "' (first defined at line " +
                                   std::to_string(previous->second.line) + ")");
        continue;
      }
      const std::string child = pointer + "/" + EscapeToken(key);
      document_.key_positions[child] = key_pos;
      // An empty value (`key:` and nothing else) has the mark of whatever follows it; point at the key.
      const YAML::Mark value_mark = value_node->mark;
      if (value_node->kind == YamlTreeNode::Kind::kNull &&
          (value_mark.is_null() || value_mark.line != key_node->mark.line)) {
        document_.positions[child] = key_pos;
      }
      object[key] = Convert(*value_node, child, depth + 1);
    }
    return object;
  }

  // Keys are read as strings: a scalar key by its text (`1: x` has the key "1"), a collection key by its
  // JSON text.
  std::string KeyText(const YamlTreeNode& key, int depth) {
    if (key.kind == YamlTreeNode::Kind::kScalar) return key.scalar;
    if (key.kind == YamlTreeNode::Kind::kNull) return "null";
    YamlDocument scratch;
    Converter converter(file_, scratch, diagnostics_, max_nodes_);
    converter.node_count_ = node_count_;  // a key's values count against the document's budget too
    // A key may hold bytes that are not UTF-8: replaced (U+FFFD), as dump() would otherwise throw.
    const nlohmann::json value = converter.Convert(key, "", depth + 1);
    node_count_ = converter.node_count_;
    aborted_ = aborted_ || converter.aborted_;
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  static std::string EscapeToken(const std::string& token) { return JsonPointer({token}).substr(1); }

  std::string file_;
  YamlDocument& document_;
  std::vector<Diagnostic>& diagnostics_;
  std::size_t max_nodes_;
  std::size_t node_count_ = 0;
  bool aborted_ = false;
};

// yaml-cpp's what() reads "yaml-cpp: error at line 2, column 3: illegal map value"; the position goes
// into the diagnostic, so only the reason is kept.
Diagnostic SyntaxError(const YAML::Exception& error, const std::string& file) {
  SourcePos pos{file, 0, 0};
  if (!error.mark.is_null()) pos = SourcePos{file, error.mark.line + 1, error.mark.column + 1};
  return Diagnostic{pos, "invalid YAML: " + error.msg};
}

// Records where each document of a YAML stream starts (the mark of its first node) and, while building,
// makes the first document's nodes exactly as yaml-cpp's NodeBuilder does (the same stack of open
// collections, keys and values alternating in a map, anchors numbered from 1).
class DocumentReader : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;
  const YamlTreeNode* root = nullptr;  // the first document's, once built

  void StopBuilding() { building_ = false; }

  void OnDocumentStart(const YAML::Mark&) override { awaiting_node_ = true; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Start(mark);
    if (!building_) return;
    Push(mark, anchor, YamlTreeNode::Kind::kNull);
    Pop();
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Start(mark);
    if (!building_) return;
    // The parser refuses an alias of an undefined anchor before this event.
    if (anchor == 0 || anchor >= anchors_.size()) throw YAML::ParserException(mark, "unknown anchor");
    Push(anchors_[anchor]);
    Pop();
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    Start(mark);
    if (!building_) return;
    YamlTreeNode& node = Push(mark, anchor, YamlTreeNode::Kind::kScalar);
    node.scalar = value;
    node.tag = tag;
    Pop();
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Start(mark);
    if (!building_) return;
    Push(mark, anchor, YamlTreeNode::Kind::kSequence).tag = tag;
  }
  void OnSequenceEnd() override {
    if (building_) Pop();
  }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Start(mark);
    if (!building_) return;
    Push(mark, anchor, YamlTreeNode::Kind::kMap).tag = tag;
    ++map_depth_;
  }
  void OnMapEnd() override {
    if (!building_) return;
    --map_depth_;
    Pop();
  }

 private:
  void Start(const YAML::Mark& mark) {
    if (awaiting_node_) marks.push_back(mark);
    awaiting_node_ = false;
  }

  YamlTreeNode& Push(const YAML::Mark& mark, YAML::anchor_t anchor, YamlTreeNode::Kind kind) {
    YamlTreeNode& node = *nodes_.emplace_back(std::make_unique<YamlTreeNode>());
    node.kind = kind;
    node.mark = mark;
    if (anchor != 0) {  // yaml-cpp numbers a document's anchors 1, 2, ... in order
      if (anchor != anchors_.size()) throw YAML::ParserException(mark, "anchors out of order");
      anchors_.push_back(&node);
    }
    Push(&node);
    return node;
  }
  void Push(YamlTreeNode* node) {
    const bool needs_key =
        !stack_.empty() && stack_.back()->kind == YamlTreeNode::Kind::kMap && keys_.size() < map_depth_;
    stack_.push_back(node);
    if (needs_key) keys_.emplace_back(node, false);
  }
  void Pop() {
    YamlTreeNode* node = stack_.back();
    stack_.pop_back();
    if (stack_.empty()) {
      root = node;
      return;
    }
    YamlTreeNode& collection = *stack_.back();
    if (collection.kind == YamlTreeNode::Kind::kSequence) {
      collection.items.push_back(node);
    } else if (collection.kind == YamlTreeNode::Kind::kMap) {
      auto& [key, has_value] = keys_.back();
      if (has_value) {
        collection.pairs.emplace_back(key, node);
        keys_.pop_back();
      } else {
        has_value = true;
      }
    }
  }

  bool awaiting_node_ = false;
  bool building_ = true;
  std::vector<std::unique_ptr<YamlTreeNode>> nodes_;  // owns every node (aliases may make cycles)
  std::vector<YamlTreeNode*> anchors_{nullptr};       // by anchor number (0: none)
  std::vector<YamlTreeNode*> stack_;
  std::vector<std::pair<YamlTreeNode*, bool>> keys_;  // a map's key and whether its value came
  std::size_t map_depth_ = 0;
};

// Reads the first document of `text` into `reader` (reader.root, null for a stream without one), or
// returns the diagnostic that refuses the stream. Not YAML::LoadAll: yaml-cpp 0.7 reads a ',' outside a
// flow collection (`,`, `[a], b`) as an endless series of empty documents without consuming it, so
// LoadAll never returns and fills the memory (jbeder/yaml-cpp#1040; found by fuzz_pipeline,
// fuzz/regressions/pipeline/top_level_comma_*). Loupe accepts one document, so the stream is read up to
// its third: a document starting where the previous one started is that endless series. The first
// document is built as it is read (DocumentReader), the others only looked at.
// Throws YAML::Exception on a syntax error.
std::optional<Diagnostic> ReadOneDocument(const std::string& text, const std::string& file,
                                          DocumentReader& reader) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  if (parser.HandleNextDocument(reader)) {
    reader.StopBuilding();
    while (reader.marks.size() < 3 && parser.HandleNextDocument(reader)) {
    }
  }
  const auto at = [&](const YAML::Mark& mark) { return SourcePos{file, mark.line + 1, mark.column + 1}; };
  for (std::size_t i = 1; i < reader.marks.size(); ++i) {
    if (reader.marks[i].pos != reader.marks[i - 1].pos) continue;
    const auto offset = static_cast<std::size_t>(reader.marks[i].pos);
    std::string found = "the end";
    if (offset < text.size()) found = {'\'', text[offset], '\''};
    return Diagnostic{at(reader.marks[i]), "invalid YAML: unexpected " + found + " outside a [...] or {...}"};
  }
  if (reader.marks.size() > 1) {
    return Diagnostic{at(reader.marks[1]), "expected one YAML document, found a second one (after '---')"};
  }
  return std::nullopt;
}

}  // namespace

SourcePos YamlDocument::At(const std::string& pointer) const {
  std::string current = pointer;
  while (true) {
    if (auto found = positions.find(current); found != positions.end()) return found->second;
    if (current.empty()) return SourcePos{file, 0, 0};
    current.erase(current.rfind('/'));
  }
}

SourcePos YamlDocument::KeyAt(const std::string& pointer) const {
  if (auto found = key_positions.find(pointer); found != key_positions.end()) return found->second;
  return At(pointer);
}

YamlParseOutcome ParseYamlText(const std::string& text, const std::string& file) {
  YamlParseOutcome outcome;
  DocumentReader reader;
  try {
    if (std::optional<Diagnostic> refusal = ReadOneDocument(text, file, reader)) {
      outcome.diagnostics.push_back(std::move(*refusal));
      return outcome;
    }
  } catch (const YAML::Exception& error) {
    outcome.diagnostics.push_back(SyntaxError(error, file));
    return outcome;
  }
  YamlDocument document;
  document.file = file;
  Converter converter(file, document, outcome.diagnostics, NodeBudget(text));
  if (reader.marks.empty() || reader.root == nullptr) {
    document.positions[""] = SourcePos{file, 0, 0};
  } else {
    document.value = converter.Convert(*reader.root, "", 0);
  }
  if (outcome.diagnostics.empty()) outcome.document = std::move(document);
  return outcome;
}

YamlParseOutcome LoadYamlFile(const std::filesystem::path& file) {
  const std::string name = file.string();
  std::error_code error;
  if (std::filesystem::is_directory(file, error)) {
    return YamlParseOutcome{std::nullopt,
                            {Diagnostic{SourcePos{name, 0, 0}, "expected a YAML file, found a directory"}}};
  }
  std::ifstream stream(file, std::ios::binary);
  if (!stream) {
    const std::string reason = std::strerror(errno);
    return YamlParseOutcome{std::nullopt,
                            {Diagnostic{SourcePos{name, 0, 0}, "cannot read the file: " + reason}}};
  }
  std::ostringstream text;
  text << stream.rdbuf();
  return ParseYamlText(text.str(), name);
}

std::optional<nlohmann::json> ParseYamlValue(const std::string& text) {
  YamlParseOutcome outcome = ParseYamlText(text, "");
  if (!outcome.document) return std::nullopt;
  return std::move(outcome.document->value);
}

std::string JsonPointer(const std::vector<std::string>& tokens) {
  std::string pointer;
  for (const std::string& token : tokens) {
    pointer += '/';
    for (char c : token) {
      if (c == '~') {
        pointer += "~0";
      } else if (c == '/') {
        pointer += "~1";
      } else {
        pointer += c;
      }
    }
  }
  return pointer;
}

}  // namespace loupe::config
