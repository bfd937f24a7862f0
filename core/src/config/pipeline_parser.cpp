// The pipeline file (docs/architecture.md §5 "Pipeline YAML"): YAML -> positioned JSON -> --set overrides ->
// a strictly checked PipelineSpec. Every error is collected with the position of the node it is about.
#include <algorithm>
#include <cmath>
#include <set>
#include <string_view>

#include "config/messages.hpp"
#include "config/yaml_document.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/pipeline.hpp"

namespace loupe {

std::string Diagnostic::ToString() const {
  std::string text = pos.file;
  if (pos.line > 0)
    text.append(":").append(std::to_string(pos.line)).append(":").append(std::to_string(pos.column));
  if (text.empty()) return message;
  return text.append(": ").append(message);
}

namespace {

namespace fs = std::filesystem;
using config::JsonPointer;
using config::ValueText;
using config::YamlDocument;
using nlohmann::json;

const std::vector<std::string> kPipelineKeys = {"version", "name",  "seed",   "data",
                                                "model",   "steps", "output", "plugins"};
const std::vector<std::string> kDataKeys = {"path",        "target", "features",  "positive",
                                            "categorical", "text",   "sensitive", "missing"};
// A remote model (docs/serve.md "Remote models") has a url instead of a path, and the client options
// after it, which the remote model itself checks when it is loaded (model/remote_model.hpp).
const std::vector<std::string> kModelKeys = {
    "type", "path",    "url",     "protocol",  "max_batch_rows", "connections", "timeout_ms", "retries",
    "task", "outputs", "ca_file", "precision", "features",       "attention",   "tokenizer"};
// Keys of onnx models only (docs/onnx.md "Text models and attention"); a huggingface model takes `features`.
const std::vector<std::string> kOnnxOnlyModelKeys = {"features", "attention", "tokenizer"};
const std::vector<std::string> kRemoteOnlyModelKeys = {"url",         "protocol",   "max_batch_rows",
                                                       "connections", "timeout_ms", "retries",
                                                       "task",        "outputs",    "ca_file"};
const std::vector<std::string> kModelTypes = {"native", "xgboost", "onnx", "remote", "huggingface"};
const std::vector<std::string> kStepKeys = {"id", "explainer", "rows", "params", "needs"};
const std::vector<std::string> kOutputKeys = {"dir", "formats"};
const std::vector<std::string> kOutputFormats = {"json", "csv", "npy", "html"};
constexpr const char* kStepIdPattern = "[A-Za-z_][A-Za-z0-9_-]*";
constexpr const char* kExplainerNamePattern = "[A-Za-z_][A-Za-z0-9_-]*\\.[A-Za-z_][A-Za-z0-9_-]*";

std::string Child(const std::string& pointer, const std::string& key) { return pointer + JsonPointer({key}); }

// Matches kStepIdPattern (written out rather than with std::regex, which costs this file seconds of
// compile time for two character classes).
bool IsStepId(std::string_view text) {
  const auto is_letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  const auto is_digit_or_dash = [](char c) { return (c >= '0' && c <= '9') || c == '-'; };
  if (text.empty() || !is_letter(text.front())) return false;
  return std::all_of(text.begin() + 1, text.end(),
                     [&](char c) { return is_letter(c) || is_digit_or_dash(c); });
}

// Matches kExplainerNamePattern: two step ids joined by one dot.
bool IsExplainerName(std::string_view text) {
  const std::size_t dot = text.find('.');
  return dot != std::string_view::npos && IsStepId(text.substr(0, dot)) && IsStepId(text.substr(dot + 1));
}

bool IsNonNegativeInteger(const json& value) {
  return value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0);
}

// Reads the document into a PipelineSpec. Each Read* method checks one part, reports what is wrong at
// the offending node and keeps going, so one run lists every error.
class PipelineReader {
 public:
  PipelineReader(const YamlDocument& document, const fs::path& file, std::vector<Diagnostic>& diagnostics)
      : document_(document), diagnostics_(diagnostics) {
    std::error_code error;
    file_ = fs::absolute(file, error).lexically_normal();
    if (error) file_ = file.lexically_normal();
  }

  PipelineSpec Read() {
    PipelineSpec spec;
    spec.file = file_;
    spec.name = file_.stem().string();
    const json& root = document_.value;
    if (root.is_null()) {
      Error("", "the pipeline is empty; expected a mapping with version, data, model and steps");
      return spec;
    }
    if (!CheckMapping(root, "", "the pipeline", kPipelineKeys, "the pipeline")) return spec;
    ReadVersion(root, spec);
    ReadName(root, spec);
    ReadSeed(root, spec);
    ReadData(root, spec.data);
    ReadModel(root, spec.model);
    ReadSteps(root, spec.steps);
    ReadOutput(root, spec);
    ReadPlugins(root, spec.plugins);
    return spec;
  }

 private:
  void Error(const std::string& pointer, std::string message) {
    diagnostics_.push_back(Diagnostic{document_.At(pointer), std::move(message)});
  }
  void KeyError(const std::string& pointer, std::string message) {
    diagnostics_.push_back(Diagnostic{document_.KeyAt(pointer), std::move(message)});
  }
  void TypeError(const std::string& pointer, const std::string& label, const std::string& expected,
                 const json& found) {
    Error(pointer, "'" + label + "' must be " + expected + ", found " + ValueText(found));
  }

  // The value of `key`, or nullptr when it is absent (or null, for optional keys whose null means
  // "use the default").
  static const json* Find(const json& mapping, const std::string& key) {
    const auto found = mapping.find(key);
    return found == mapping.end() ? nullptr : &*found;
  }
  static const json* FindOptional(const json& mapping, const std::string& key) {
    const json* value = Find(mapping, key);
    return value == nullptr || value->is_null() ? nullptr : value;
  }

  const json* FindRequired(const json& mapping, const std::string& pointer, const std::string& key,
                           const std::string& context) {
    const json* value = Find(mapping, key);
    if (value == nullptr) Error(pointer, "missing required key '" + key + "' in " + context);
    return value;
  }

  // Checks that `value` is a mapping whose keys are all in `allowed`; reports each unknown key at the key.
  bool CheckMapping(const json& value, const std::string& pointer, const std::string& label,
                    const std::vector<std::string>& allowed, const std::string& context) {
    if (!value.is_object()) {
      const std::string subject = pointer.empty() ? "the pipeline" : "'" + label + "'";
      Error(pointer, subject + " must be a mapping of keys (" + config::JoinNames(allowed) + "), found " +
                         ValueText(value));
      return false;
    }
    for (const auto& [key, unused] : value.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      KeyError(Child(pointer, key),
               "unknown key '" + key + "' in " + context + config::SuggestionSuffix(key, allowed));
    }
    return true;
  }

  std::optional<std::string> ReadString(const json& value, const std::string& pointer,
                                        const std::string& label) {
    return ReadText(value, pointer, "'" + label + "'", "a non-empty string");
  }

  // `subject` is how the message names the value: "'data.path'", "each item of 'data.features'".
  std::optional<std::string> ReadText(const json& value, const std::string& pointer,
                                      const std::string& subject, const std::string& expected) {
    if (value.is_string() && !value.get<std::string>().empty()) return value.get<std::string>();
    Error(pointer, subject + " must be " + expected + ", found " + ValueText(value));
    return std::nullopt;
  }

  std::optional<std::string> ReadChoice(const json& value, const std::string& pointer,
                                        const std::string& label, const std::vector<std::string>& choices) {
    if (!value.is_string() ||
        std::find(choices.begin(), choices.end(), value.get<std::string>()) == choices.end()) {
      Error(pointer,
            "'" + label + "' must be one of " + config::JoinNames(choices) + "; found " + ValueText(value));
      return std::nullopt;
    }
    return value.get<std::string>();
  }

  // A list of distinct items, each read by `read_item` (which reports its own errors).
  template <typename ReadItem>
  std::optional<std::vector<std::string>> ReadList(const json& value, const std::string& pointer,
                                                   const std::string& label, const std::string& expected,
                                                   ReadItem read_item) {
    if (!value.is_array()) {
      TypeError(pointer, label, expected, value);
      return std::nullopt;
    }
    std::vector<std::string> items;
    bool all_good = true;
    for (std::size_t i = 0; i < value.size(); ++i) {
      const std::string item_pointer = Child(pointer, std::to_string(i));
      std::optional<std::string> item = read_item(value[i], item_pointer);
      if (!item) {
        all_good = false;
      } else if (std::find(items.begin(), items.end(), *item) != items.end()) {
        Error(item_pointer, "'" + label + "' lists '" + *item + "' twice");
        all_good = false;
      } else {
        items.push_back(*item);
      }
    }
    if (!all_good) return std::nullopt;
    return items;
  }

  std::optional<std::vector<std::string>> ReadStringList(const json& value, const std::string& pointer,
                                                         const std::string& label) {
    return ReadList(value, pointer, label, "a list of strings", [&](const json& item, const std::string& at) {
      return ReadText(item, at, "each item of '" + label + "'", "a non-empty string");
    });
  }

  fs::path Resolve(const std::string& path) const {
    const fs::path given(path);
    return (given.is_absolute() ? given : file_.parent_path() / given).lexically_normal();
  }

  void ReadVersion(const json& root, PipelineSpec& spec) {
    const json* value = FindRequired(root, "", "version", "the pipeline");
    if (value == nullptr) return;
    if (!value->is_number_integer() || value->get<std::int64_t>() != 1) {
      Error("/version", "'version' must be 1, found " + ValueText(*value));
      return;
    }
    spec.version = 1;
  }

  void ReadName(const json& root, PipelineSpec& spec) {
    const json* value = Find(root, "name");
    if (value == nullptr) return;
    if (auto name = ReadString(*value, "/name", "name")) spec.name = *name;
  }

  void ReadSeed(const json& root, PipelineSpec& spec) {
    const json* value = Find(root, "seed");
    if (value == nullptr) return;
    if (!IsNonNegativeInteger(*value)) {
      TypeError("/seed", "seed", "a non-negative integer", *value);
      return;
    }
    spec.seed = value->get<std::uint64_t>();
  }

  void ReadData(const json& root, DataSpec& data) {
    const json* value = FindRequired(root, "", "data", "the pipeline");
    if (value == nullptr) return;
    data.pos = document_.At("/data");
    if (!CheckMapping(*value, "/data", "data", kDataKeys, "'data'")) return;
    for (const auto& [key, unused] : value->items()) data.field_pos[key] = document_.At(Child("/data", key));
    if (const json* path = FindRequired(*value, "/data", "path", "'data'")) {
      if (auto text = ReadString(*path, "/data/path", "data.path")) data.path = Resolve(*text);
    }
    if (const json* target = FindOptional(*value, "target")) {
      data.target = ReadString(*target, "/data/target", "data.target");
    }
    if (const json* positive = FindOptional(*value, "positive")) data.positive = ReadLabel(*positive);
    ReadColumnList(*value, "features", data.features);
    ReadColumnList(*value, "categorical", data.categorical);
    ReadColumnList(*value, "text", data.text);
    ReadColumnList(*value, "sensitive", data.sensitive);
    if (const json* missing = FindOptional(*value, "missing")) ReadMissingMarkers(*missing, data.missing);
  }

  // A class label, written as the data holds it: text, a number (`positive: 1`) or a boolean. Validation
  // (pipeline/validate.cpp) checks that it is a value of the target column.
  std::optional<std::string> ReadLabel(const json& value) {
    if (value.is_string() && !value.get<std::string>().empty()) return value.get<std::string>();
    if (value.is_boolean() || (value.is_number() && std::isfinite(value.get<double>()))) return value.dump();
    TypeError("/data/positive", "data.positive", "a class label (a string, a number or a boolean)", value);
    return std::nullopt;
  }

  void ReadColumnList(const json& data, const std::string& key, std::vector<std::string>& columns) {
    const json* value = FindOptional(data, key);
    if (value == nullptr) return;
    if (auto names = ReadStringList(*value, Child("/data", key), "data." + key)) columns = std::move(*names);
  }

  // Missing-value markers are matched against the CSV text, so numbers (`-999`) count by their text.
  void ReadMissingMarkers(const json& value, std::vector<std::string>& markers) {
    auto read_marker = [&](const json& item, const std::string& at) -> std::optional<std::string> {
      if (item.is_string()) return item.get<std::string>();
      if (item.is_number()) return item.dump();
      Error(at, "each item of 'data.missing' must be a string or a number, found " + ValueText(item));
      return std::nullopt;
    };
    auto list = ReadList(value, "/data/missing", "data.missing", "a list of strings", read_marker);
    if (list) markers = std::move(*list);
  }

  void ReadModel(const json& root, ModelSpec& model) {
    const json* value = FindRequired(root, "", "model", "the pipeline");
    if (value == nullptr) return;
    model.pos = document_.At("/model");
    if (!CheckMapping(*value, "/model", "model", kModelKeys, "'model'")) return;
    for (const auto& [key, unused] : value->items())
      model.field_pos[key] = document_.At(Child("/model", key));
    if (const json* type = FindOptional(*value, "type")) {
      if (auto choice = ReadChoice(*type, "/model/type", "model.type", kModelTypes)) model.type = *choice;
    }
    if (model.type == "remote") return ReadRemoteModel(*value, model);
    for (const std::string& key : kRemoteOnlyModelKeys) {
      if (FindOptional(*value, key) != nullptr)
        Error(Child("/model", key), "model." + key + " applies to remote models only (type: remote)");
    }
    if (const json* path = FindRequired(*value, "/model", "path", "'model'")) {
      if (auto text = ReadString(*path, "/model/path", "model.path")) model.path = Resolve(*text);
    }
    if (const json* precision = FindOptional(*value, "precision")) {
      if (model.type != "huggingface" && model.type != "onnx") {
        Error(
            "/model/precision",
            "model.precision applies to huggingface models and onnx models; a loupe.model/v1 file states its "
            "own precision");
      } else if (auto choice =
                     ReadChoice(*precision, "/model/precision", "model.precision", {"f32", "bf16"})) {
        model.precision = *choice;
      }
    }
    ReadOnnxModelKeys(*value, model);
  }

  void ReadOnnxModelKeys(const json& value, ModelSpec& model) {
    // A huggingface model reads one text column, which model.features may name (default `text`).
    if (model.type == "huggingface") {
      if (const json* features = FindOptional(value, "features")) {
        if (auto names = ReadStringList(*features, "/model/features", "model.features")) {
          if (names->size() == 1) {
            model.features = std::move(*names);
          } else {
            Error("/model/features",
                  "model.features of a huggingface model names the one text column it reads");
          }
        }
      }
    }
    if (model.type != "onnx") {
      for (const std::string& key : kOnnxOnlyModelKeys) {
        if (model.type == "huggingface" && key == "features") continue;
        if (FindOptional(value, key) != nullptr)
          Error(Child("/model", key), "model." + key + " applies to onnx models only (type: onnx)");
      }
      return;
    }
    if (const json* features = FindOptional(value, "features")) {
      if (auto names = ReadStringList(*features, "/model/features", "model.features"))
        model.features = std::move(*names);
    }
    if (const json* attention = FindOptional(value, "attention")) {
      if (auto names = ReadStringList(*attention, "/model/attention", "model.attention"))
        model.attention = std::move(*names);
    }
    if (const json* tokenizer = FindOptional(value, "tokenizer")) {
      if (auto text = ReadString(*tokenizer, "/model/tokenizer", "model.tokenizer"))
        model.tokenizer = Resolve(*text);
    }
  }

  // A url (kept as written) and the client options, as JSON, for the remote model to check.
  void ReadRemoteModel(const json& value, ModelSpec& model) {
    if (FindOptional(value, "path") != nullptr) Error("/model/path", "a remote model has a url, not a path");
    if (const json* url = FindRequired(value, "/model", "url", "'model'")) {
      if (auto text = ReadString(*url, "/model/url", "model.url")) model.url = *text;
    }
    for (const auto& [key, option] : value.items()) {
      if (key != "type" && key != "url" && key != "path") model.remote_options[key] = option;
    }
  }

  void ReadSteps(const json& root, std::vector<StepSpec>& steps) {
    const json* value = FindRequired(root, "", "steps", "the pipeline");
    if (value == nullptr) return;
    if (!value->is_array() || value->empty()) {
      TypeError("/steps", "steps", "a non-empty list of steps", *value);
      return;
    }
    for (std::size_t i = 0; i < value->size(); ++i) {
      const json& item = (*value)[i];
      const std::string pointer = Child("/steps", std::to_string(i));
      if (!item.is_object()) {
        Error(pointer, "each step must be a mapping with an id and an explainer, found " + ValueText(item));
        continue;
      }
      steps.push_back(ReadStep(item, pointer, i));
      // Registered after the step itself, so a step cannot need itself or a step defined after it.
      if (const json* id = Find(item, "id"); id != nullptr && id->is_string())
        defined_ids_.insert(id->get<std::string>());
    }
  }

  StepSpec ReadStep(const json& item, const std::string& pointer, std::size_t index) {
    StepSpec step;
    step.pos = document_.At(pointer);
    for (const auto& [key, unused] : item.items()) step.field_pos[key] = document_.At(Child(pointer, key));
    const std::string label = ReadStepId(item, pointer, index, step);
    CheckMapping(item, pointer, label, kStepKeys, "'" + label + "'");
    if (const json* explainer = FindRequired(item, pointer, "explainer", "'" + label + "'")) {
      ReadExplainerName(*explainer, Child(pointer, "explainer"), label, step);
    }
    if (const json* rows = FindOptional(item, "rows")) ReadRows(*rows, Child(pointer, "rows"), label, step);
    if (const json* params = FindOptional(item, "params")) {
      ReadParams(*params, Child(pointer, "params"), label, step);
    }
    if (const json* needs = FindOptional(item, "needs"))
      ReadNeeds(*needs, Child(pointer, "needs"), label, step);
    return step;
  }

  // Reads and registers the step's id; returns the label that names the step in messages: "steps.<id>"
  // (the form --set uses), or "steps.<index>" while the step has no usable id.
  std::string ReadStepId(const json& item, const std::string& pointer, std::size_t index, StepSpec& step) {
    const std::string fallback = "steps." + std::to_string(index);
    const json* value = FindRequired(item, pointer, "id", "'" + fallback + "'");
    if (value == nullptr) return fallback;
    const std::string id_pointer = Child(pointer, "id");
    if (!value->is_string()) {
      TypeError(id_pointer, fallback + ".id", "a string", *value);
      return fallback;
    }
    const std::string id = value->get<std::string>();
    const auto [previous, inserted] = step_ids_.emplace(id, document_.At(id_pointer));
    if (!IsStepId(id)) {
      Error(id_pointer,
            "'" + fallback + ".id' must match " + kStepIdPattern + ", found " + ValueText(*value));
      return fallback;
    }
    if (!inserted) {
      Error(id_pointer, "duplicate step id '" + id + "' (first used at line " +
                            std::to_string(previous->second.line) + ")");
    }
    step.id = id;
    return "steps." + id;
  }

  void ReadExplainerName(const json& value, const std::string& pointer, const std::string& label,
                         StepSpec& step) {
    if (!value.is_string() || !IsExplainerName(value.get<std::string>())) {
      TypeError(pointer, label + ".explainer", "written plugin.explainer (like shap.kernel)", value);
      return;
    }
    step.explainer = value.get<std::string>();
  }

  void ReadRows(const json& value, const std::string& pointer, const std::string& label, StepSpec& step) {
    Result<RowSelection> selection = RowSelection::FromJson(value);
    if (!selection.ok()) {
      Error(pointer, config::RenameSubject(selection.status().message(), "rows", "'" + label + ".rows'"));
      return;
    }
    step.rows = value;
  }

  void ReadParams(const json& value, const std::string& pointer, const std::string& label, StepSpec& step) {
    if (!value.is_object()) {
      TypeError(pointer, label + ".params", "a mapping of parameter names to values", value);
      return;
    }
    step.params = value;
    for (const auto& [key, unused] : value.items()) step.param_pos[key] = document_.At(Child(pointer, key));
  }

  // `needs` may only name steps defined earlier in the file, which keeps the step graph acyclic.
  void ReadNeeds(const json& value, const std::string& pointer, const std::string& label, StepSpec& step) {
    const std::string step_name = step.id.empty() ? label : step.id;
    auto read_need = [&](const json& item, const std::string& at) -> std::optional<std::string> {
      std::optional<std::string> need = ReadText(item, at, "each item of '" + label + ".needs'", "a step id");
      if (!need) return std::nullopt;
      const bool defined_before = defined_ids_.count(*need) > 0;
      if (!defined_before) {
        Error(at, "step '" + step_name + "' needs '" + *need + "', which is not defined before it");
        return std::nullopt;
      }
      return need;
    };
    auto needs = ReadList(value, pointer, label + ".needs", "a list of step ids", read_need);
    if (needs) step.needs = std::move(*needs);
  }

  void ReadOutput(const json& root, PipelineSpec& spec) {
    spec.output.dir = Resolve("out/" + spec.name);
    const json* value = FindOptional(root, "output");
    if (value == nullptr || !CheckMapping(*value, "/output", "output", kOutputKeys, "'output'")) return;
    if (const json* dir = FindOptional(*value, "dir")) {
      if (auto text = ReadString(*dir, "/output/dir", "output.dir")) spec.output.dir = Resolve(*text);
    }
    const json* formats = FindOptional(*value, "formats");
    if (formats == nullptr) return;
    auto read_format = [&](const json& item, const std::string& at) -> std::optional<std::string> {
      if (item.is_string() && std::find(kOutputFormats.begin(), kOutputFormats.end(),
                                        item.get<std::string>()) != kOutputFormats.end()) {
        return item.get<std::string>();
      }
      Error(at, "each item of 'output.formats' must be one of " + config::JoinNames(kOutputFormats) +
                    "; found " + ValueText(item));
      return std::nullopt;
    };
    auto list = ReadList(*formats, "/output/formats", "output.formats",
                         "a list of formats (json, csv, npy, html)", read_format);
    if (list && list->empty()) TypeError("/output/formats", "output.formats", "a non-empty list", *formats);
    if (list && !list->empty()) spec.output.formats = std::move(*list);
  }

  void ReadPlugins(const json& root, std::vector<fs::path>& plugins) {
    const json* value = FindOptional(root, "plugins");
    if (value == nullptr) return;
    auto read_path = [&](const json& item, const std::string& at) {
      return ReadText(item, at, "each item of 'plugins'", "a path (a non-empty string)");
    };
    auto paths = ReadList(*value, "/plugins", "plugins", "a list of paths", read_path);
    if (!paths) return;
    for (const std::string& path : *paths) plugins.push_back(Resolve(path));
  }

  const YamlDocument& document_;
  std::vector<Diagnostic>& diagnostics_;
  fs::path file_;
  std::map<std::string, SourcePos> step_ids_;
  std::set<std::string> defined_ids_;
};

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

// Applies one --set KEY.PATH=VALUE to the document before it is checked, so an overridden value meets the
// same checks as a written one. Path components walk mappings (creating missing ones, so new keys can be
// added); under `steps` a component names a step by its id. The overridden nodes are positioned at the
// override itself ("--set steps.shap.params.nsamples").
class OverrideApplier {
 public:
  OverrideApplier(YamlDocument& document, std::vector<Diagnostic>& diagnostics)
      : document_(document), diagnostics_(diagnostics) {}

  void Apply(const Override& override_) {
    pos_ = SourcePos{"--set " + override_.path, 0, 0};
    const std::vector<std::string> parts = SplitPath(override_.path);
    if (std::find(parts.begin(), parts.end(), "") != parts.end()) {
      Report("expected a dotted key path such as steps.shap.params.nsamples, found '" + override_.path + "'");
      return;
    }
    std::optional<json> value = config::ParseYamlValue(override_.value);
    if (!value) {
      Report("the value '" + override_.value + "' is not valid YAML");
      return;
    }
    if (document_.value.is_null()) document_.value = json::object();
    json* node = &document_.value;
    std::string pointer;
    for (std::size_t i = 0; i < parts.size() && node != nullptr; ++i) {
      const bool last = i + 1 == parts.size();
      node = Step(*node, pointer, parts, i, last);
    }
    if (node == nullptr) return;
    *node = std::move(*value);
    Reposition(pointer);
  }

 private:
  void Report(std::string message) { diagnostics_.push_back(Diagnostic{pos_, std::move(message)}); }

  // Moves from `node` to its child named parts[i]; updates `pointer`. Returns nullptr after an error.
  json* Step(json& node, std::string& pointer, const std::vector<std::string>& parts, std::size_t i,
             bool last) {
    const std::string& part = parts[i];
    const std::string dotted = config::JoinNames({parts.begin(), parts.begin() + static_cast<long>(i)}, ".");
    const std::string subject = dotted.empty() ? "the pipeline" : "'" + dotted + "'";
    if (node.is_array() && pointer == "/steps") return FindStep(node, pointer, part);
    if (!node.is_object()) {
      Report(subject + " is " + (node.is_array() ? "a list" : "not a mapping") + " (found " +
             ValueText(node) + "), so it has no key '" + part + "'; set it as a whole instead");
      return nullptr;
    }
    pointer += JsonPointer({part});
    json& child = node[part];
    if (!last && child.is_null()) {
      child = json::object();
      Reposition(pointer);
    }
    return &child;
  }

  json* FindStep(json& steps, std::string& pointer, const std::string& id) {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const json& step = steps[i];
      if (!step.is_object() || !step.contains("id") || !step["id"].is_string()) continue;
      if (step["id"] == id) {
        pointer += "/" + std::to_string(i);
        return &steps[i];
      }
      ids.push_back(step["id"].get<std::string>());
    }
    Report("unknown step '" + id + "'" + config::SuggestionSuffix(id, ids));
    return nullptr;
  }

  // Forgets the file positions of the replaced subtree and points it at the override.
  void Reposition(const std::string& pointer) {
    for (auto* table : {&document_.positions, &document_.key_positions}) {
      for (auto it = table->lower_bound(pointer); it != table->end() && it->first.rfind(pointer, 0) == 0;) {
        const bool inside = it->first.size() == pointer.size() || it->first[pointer.size()] == '/';
        it = inside ? table->erase(it) : std::next(it);
      }
      (*table)[pointer] = pos_;
    }
  }

  YamlDocument& document_;
  std::vector<Diagnostic>& diagnostics_;
  SourcePos pos_;
};

ParseOutcome CheckPipeline(config::YamlParseOutcome yaml, const fs::path& file,
                           const std::vector<Override>& overrides) {
  ParseOutcome outcome;
  outcome.diagnostics = std::move(yaml.diagnostics);
  if (!yaml.document) return outcome;
  OverrideApplier applier(*yaml.document, outcome.diagnostics);
  for (const Override& override_ : overrides) applier.Apply(override_);
  PipelineSpec spec = PipelineReader(*yaml.document, file, outcome.diagnostics).Read();
  if (outcome.diagnostics.empty()) outcome.spec = std::move(spec);
  return outcome;
}

}  // namespace

const PipelineVocabulary& PipelineFormat() {
  static const PipelineVocabulary vocabulary{
      kPipelineKeys,
      {"version", "data", "model", "steps"},
      kDataKeys,
      {"features", "categorical", "text", "sensitive"},  // the lists ReadColumnList reads
      kModelKeys,
      kModelTypes,
      kStepKeys,
      kOutputKeys,
      kOutputFormats,
      kStepIdPattern,
      kExplainerNamePattern};
  return vocabulary;
}

ParseOutcome ParsePipelineText(const std::string& text, const std::filesystem::path& file,
                               const std::vector<Override>& overrides) {
  return CheckPipeline(config::ParseYamlText(text, file.string()), file, overrides);
}

ParseOutcome ParsePipelineFile(const std::filesystem::path& file, const std::vector<Override>& overrides) {
  return CheckPipeline(config::LoadYamlFile(file), file, overrides);
}

}  // namespace loupe
