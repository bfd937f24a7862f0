#include "serve/serve_config.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>

#include "config/messages.hpp"
#include "config/yaml_document.hpp"

namespace loupe::serve {

namespace fs = std::filesystem;

namespace {

using config::Sentence;

// Reads one YAML document into a ServeConfig, collecting a positioned sentence per problem.
class ConfigReader {
 public:
  ConfigReader(const config::YamlDocument& document, fs::path base_dir)
      : document_(document), base_dir_(std::move(base_dir)) {}

  std::vector<Diagnostic> diagnostics;

  void Error(const std::string& pointer, const std::string& message, bool at_key = false) {
    diagnostics.push_back(Diagnostic{at_key ? document_.KeyAt(pointer) : document_.At(pointer), message});
  }

  // The mapping at `pointer`, with unknown keys reported; nullptr when it is absent or not a mapping.
  const nlohmann::json* Mapping(const nlohmann::json& value, const std::string& pointer,
                                const std::string& what, const std::vector<std::string>& keys) {
    if (!value.is_object()) {
      Error(pointer, what + " must be a mapping, found " + config::ValueText(value) + ".");
      return nullptr;
    }
    for (const auto& [key, unused] : value.items()) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        Error(pointer + "/" + key,
              Sentence("unknown key '" + key + "' in " + what + config::SuggestionSuffix(key, keys)),
              /*at_key=*/true);
      }
    }
    return &value;
  }

  template <typename T>
  void Integer(const nlohmann::json& parent, const std::string& pointer, const std::string& key, T& out,
               std::int64_t min_value, std::int64_t max_value) {
    if (!parent.contains(key)) return;
    const nlohmann::json& value = parent[key];
    if (!value.is_number_integer() || value.get<std::int64_t>() < min_value ||
        value.get<std::int64_t>() > max_value) {
      Error(pointer + "/" + key, "'" + key + "' must be an integer from " + std::to_string(min_value) +
                                     " to " + std::to_string(max_value) + ", found " +
                                     config::ValueText(value) + ".");
      return;
    }
    out = static_cast<T>(value.get<std::int64_t>());
  }

  void Text(const nlohmann::json& parent, const std::string& pointer, const std::string& key,
            std::string& out) {
    if (!parent.contains(key)) return;
    if (!parent[key].is_string() || parent[key].get<std::string>().empty()) {
      Error(pointer + "/" + key,
            "'" + key + "' must be a non-empty string, found " + config::ValueText(parent[key]) + ".");
      return;
    }
    out = parent[key].get<std::string>();
  }

  void Bool(const nlohmann::json& parent, const std::string& pointer, const std::string& key, bool& out) {
    if (!parent.contains(key)) return;
    if (!parent[key].is_boolean()) {
      Error(pointer + "/" + key,
            "'" + key + "' must be true or false, found " + config::ValueText(parent[key]) + ".");
      return;
    }
    out = parent[key].get<bool>();
  }

  void TextList(const nlohmann::json& parent, const std::string& pointer, const std::string& key,
                std::vector<std::string>& out) {
    if (!parent.contains(key)) return;
    const nlohmann::json& value = parent[key];
    bool ok = value.is_array();
    for (const auto& item : ok ? value : nlohmann::json::array()) ok = ok && item.is_string();
    if (!ok) {
      Error(pointer + "/" + key,
            "'" + key + "' must be a list of strings, found " + config::ValueText(value) + ".");
      return;
    }
    out = value.get<std::vector<std::string>>();
  }

  // A path relative to the configuration file's folder, made absolute; required ones report absence.
  void Path(const nlohmann::json& parent, const std::string& pointer, const std::string& key, fs::path& out,
            bool required) {
    if (!parent.contains(key)) {
      if (required) Error(pointer, "missing required key '" + key + "'.");
      return;
    }
    std::string text;
    Text(parent, pointer, key, text);
    if (!text.empty()) out = (base_dir_ / text).lexically_normal();
  }

  SourcePos At(const std::string& pointer) const { return document_.At(pointer); }

 private:
  const config::YamlDocument& document_;
  fs::path base_dir_;
};

void ReadListen(ConfigReader& reader, const nlohmann::json& root, ServeConfig& config) {
  if (!root.contains("listen")) return;
  const nlohmann::json* listen = reader.Mapping(root["listen"], "/listen", "listen", {"address", "port"});
  if (listen == nullptr) return;
  reader.Text(*listen, "/listen", "address", config.address);
  reader.Integer(*listen, "/listen", "port", config.port, 0, 65535);
}

void ReadLimits(ConfigReader& reader, const nlohmann::json& root, ServeLimits& limits) {
  if (!root.contains("limits")) return;
  const nlohmann::json* map =
      reader.Mapping(root["limits"], "/limits", "limits",
                     {"max_body_bytes", "max_rows", "deadline_ms", "max_concurrent_explanations",
                      "queue_length", "retry_after_s", "idle_timeout_ms"});
  if (map == nullptr) return;
  constexpr std::int64_t kDay = 86'400'000;
  reader.Integer(*map, "/limits", "max_body_bytes", limits.max_body_bytes, 64, std::int64_t{1} << 32);
  reader.Integer(*map, "/limits", "max_rows", limits.max_rows, 1, 10'000'000);
  reader.Integer(*map, "/limits", "deadline_ms", limits.deadline_ms, 1, kDay);
  reader.Integer(*map, "/limits", "max_concurrent_explanations", limits.max_concurrent_explanations, 1, 1024);
  reader.Integer(*map, "/limits", "queue_length", limits.queue_length, 0, 100'000);
  reader.Integer(*map, "/limits", "retry_after_s", limits.retry_after_s, 1, 3600);
  reader.Integer(*map, "/limits", "idle_timeout_ms", limits.idle_timeout_ms, 1, kDay);
}

std::vector<std::string> SplitTokens(const std::string& text, char separator) {
  std::vector<std::string> tokens;
  std::stringstream stream(text);
  std::string token;
  while (std::getline(stream, token, separator)) {
    const auto first = token.find_first_not_of(" \t\r");
    const auto last = token.find_last_not_of(" \t\r");
    if (first != std::string::npos) tokens.push_back(token.substr(first, last - first + 1));
  }
  return tokens;
}

// auth.tokens_file (one token per line) and auth.tokens_env (comma-separated). A token is a secret: no
// message ever quotes one.
void ReadAuth(ConfigReader& reader, const nlohmann::json& root, ServeConfig& config) {
  if (!root.contains("auth")) return;
  const nlohmann::json* auth = reader.Mapping(root["auth"], "/auth", "auth", {"tokens_file", "tokens_env"});
  if (auth == nullptr) return;
  fs::path tokens_file;
  reader.Path(*auth, "/auth", "tokens_file", tokens_file, /*required=*/false);
  if (!tokens_file.empty()) {
    std::ifstream in(tokens_file);
    if (!in) {
      reader.Error("/auth/tokens_file", "cannot read the tokens file '" + tokens_file.string() + "'.");
    } else {
      std::stringstream text;
      text << in.rdbuf();
      for (std::string& token : SplitTokens(text.str(), '\n')) config.tokens.push_back(std::move(token));
    }
  }
  std::string variable;
  reader.Text(*auth, "/auth", "tokens_env", variable);
  if (!variable.empty()) {
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr || *value == '\0') {
      reader.Error("/auth/tokens_env", "the environment variable '" + variable + "' is not set or empty.");
    } else {
      for (std::string& token : SplitTokens(value, ',')) config.tokens.push_back(std::move(token));
    }
  }
  if ((!tokens_file.empty() || !variable.empty()) && config.tokens.empty() && reader.diagnostics.empty()) {
    reader.Error("/auth", "auth names tokens, but none was found (empty file or variable).");
  }
}

// A remote model (type: remote) takes a url and the client options a pipeline's remote model takes.
const std::vector<std::string> kRemoteKeys = {"protocol", "max_batch_rows", "connections", "timeout_ms",
                                              "retries",  "task",           "outputs",     "ca_file"};
const std::vector<std::string> kModelKeys = {
    "name",     "type",           "path",        "url",        "data",          "target", "positive",
    "features", "categorical",    "text",        "missing",    "explainer",     "params", "seed",
    "protocol", "max_batch_rows", "connections", "timeout_ms", "retries",       "task",   "outputs",
    "ca_file",  "precision",      "tokenizer",   "attention",  "model_features"};

// A pipeline's model keys (docs/pipeline.md) under their serve.yaml names: precision, tokenizer,
// attention and model_features (a pipeline's model.features; `features` here are the data's). Which model
// types take which is LoadModel's check, when the server starts.
void ReadModelLoadOptions(ConfigReader& reader, const nlohmann::json& map, const std::string& pointer,
                          ModelLoadOptions& load) {
  std::string precision;
  reader.Text(map, pointer, "precision", precision);
  if (precision == "bf16") {
    load.bf16 = true;
  } else if (!precision.empty() && precision != "f32") {
    reader.Error(pointer + "/precision",
                 "a model's precision must be f32 or bf16, found '" + precision + "'.");
  }
  reader.Path(map, pointer, "tokenizer", load.tokenizer, /*required=*/false);
  reader.TextList(map, pointer, "attention", load.attention);
  reader.TextList(map, pointer, "model_features", load.features);
}

void ReadModel(ConfigReader& reader, const nlohmann::json& value, const std::string& pointer,
               ServeConfig& config) {
  const nlohmann::json* map = reader.Mapping(value, pointer, "a model", kModelKeys);
  if (map == nullptr) return;
  ServedModelSpec model;
  model.pos = reader.At(pointer);
  for (const auto& [key, unused] : map->items()) model.field_pos[key] = reader.At(pointer + "/" + key);
  reader.Text(*map, pointer, "name", model.name);
  static const std::regex kName("[A-Za-z0-9_.-]+");
  if (!map->contains("name")) reader.Error(pointer, "missing required key 'name'.");
  if (!model.name.empty() &&
      (!std::regex_match(model.name, kName) || model.name == "." || model.name == "..")) {
    reader.Error(
        pointer + "/name",
        "a model's name may hold only letters, digits, '_', '.' and '-', found '" + model.name + "'.");
  }
  for (const ServedModelSpec& other : config.models) {
    if (!model.name.empty() && other.name == model.name)
      reader.Error(pointer + "/name", "two models are called '" + model.name + "'.");
  }
  reader.Text(*map, pointer, "type", model.type);
  // The types a pipeline's model takes (native, xgboost, onnx, ...), or auto: detected from the file.
  const std::vector<std::string>& types = PipelineFormat().model_types;
  if (model.type != "auto" && std::find(types.begin(), types.end(), model.type) == types.end()) {
    reader.Error(pointer + "/type", "a model's type must be auto or one of " + config::JoinNames(types) +
                                        ", found '" + model.type + "'.");
  }
  if (model.type == "remote") {
    reader.Text(*map, pointer, "url", model.url);
    if (!map->contains("url"))
      reader.Error(pointer, "missing required key 'url' (a remote model's address).");
    for (const std::string& key : kRemoteKeys) {
      if (map->contains(key)) model.remote_options[key] = (*map)[key];
    }
    for (const std::string key : {"precision", "tokenizer", "attention", "model_features"}) {
      if (map->contains(key))
        reader.Error(pointer + "/" + key,
                     "'" + key + "' applies to a model Loupe runs itself, not to a remote one.");
    }
  } else {
    reader.Path(*map, pointer, "path", model.path, /*required=*/true);
    ReadModelLoadOptions(reader, *map, pointer, model.load);
  }
  reader.Path(*map, pointer, "data", model.data, /*required=*/true);
  std::string text;
  reader.Text(*map, pointer, "target", text);
  if (!text.empty()) model.target = text;
  text.clear();
  if (map->contains("positive") && !(*map)["positive"].is_null()) {
    const nlohmann::json& positive = (*map)["positive"];
    model.positive = positive.is_string() ? positive.get<std::string>() : positive.dump();
  }
  reader.TextList(*map, pointer, "features", model.features);
  reader.TextList(*map, pointer, "categorical", model.categorical);
  reader.TextList(*map, pointer, "text", model.text);
  reader.TextList(*map, pointer, "missing", model.missing);
  reader.Text(*map, pointer, "explainer", model.explainer);
  if (!map->contains("explainer")) reader.Error(pointer, "missing required key 'explainer'.");
  if (map->contains("params")) {
    if (!(*map)["params"].is_object()) {
      reader.Error(pointer + "/params", "'params' must be a mapping of parameter names to values.");
    } else {
      model.params = (*map)["params"];
      for (const auto& [key, unused] : model.params.items())
        model.param_pos[key] = reader.At(pointer + "/params/" + key);
    }
  }
  reader.Integer(*map, pointer, "seed", model.seed, 0, std::numeric_limits<std::int64_t>::max());
  config.models.push_back(std::move(model));
}

const std::vector<std::string> kRootKeys = {"version",    "listen", "threads", "shutdown_grace_ms",
                                            "access_log", "auth",   "plugins", "limits",
                                            "jobs",       "tls",    "models"};

// jobs: {dir, base_dir, max_running, threads}: pipeline jobs (POST /v1/runs) are on when `dir` is given.
void ReadJobs(ConfigReader& reader, const nlohmann::json& root, const fs::path& base_dir, JobsConfig& jobs) {
  if (!root.contains("jobs")) return;
  const nlohmann::json* map =
      reader.Mapping(root["jobs"], "/jobs", "jobs", {"dir", "base_dir", "max_running", "threads"});
  if (map == nullptr) return;
  reader.Path(*map, "/jobs", "dir", jobs.dir, /*required=*/true);
  jobs.base_dir = base_dir;
  reader.Path(*map, "/jobs", "base_dir", jobs.base_dir, /*required=*/false);
  reader.Integer(*map, "/jobs", "max_running", jobs.max_running, 1, 64);
  reader.Integer(*map, "/jobs", "threads", jobs.threads, 0, 1024);
}

void ReadRoot(ConfigReader& reader, const nlohmann::json& root, const fs::path& base_dir,
              ServeConfig& config) {
  if (reader.Mapping(root, "", "serve.yaml", kRootKeys) == nullptr) return;
  if (!root.contains("version") || root["version"] != 1) {
    reader.Error(root.contains("version") ? "/version" : "", "serve.yaml must start with 'version: 1'.");
  }
  ReadListen(reader, root, config);
  reader.Integer(root, "", "threads", config.threads, 1, 256);
  reader.Integer(root, "", "shutdown_grace_ms", config.shutdown_grace_ms, 0, 3'600'000);
  reader.Bool(root, "", "access_log", config.access_log);
  ReadAuth(reader, root, config);
  std::vector<std::string> plugin_dirs;
  reader.TextList(root, "", "plugins", plugin_dirs);
  for (const std::string& dir : plugin_dirs) config.plugins.push_back((base_dir / dir).lexically_normal());
  ReadLimits(reader, root, config.limits);
  ReadJobs(reader, root, base_dir, config.jobs);
  if (root.contains("tls")) {  // tls: {cert, key}: PEM files; relative to serve.yaml's folder
    if (const nlohmann::json* tls = reader.Mapping(root["tls"], "/tls", "tls", {"cert", "key"})) {
      reader.Path(*tls, "/tls", "cert", config.tls_cert, /*required=*/true);
      reader.Path(*tls, "/tls", "key", config.tls_key, /*required=*/true);
    }
  }
  if (!root.contains("models") || !root["models"].is_array() || root["models"].empty()) {
    reader.Error(root.contains("models") ? "/models" : "", "'models' must be a non-empty list of models.");
    return;
  }
  for (std::size_t i = 0; i < root["models"].size(); ++i) {
    ReadModel(reader, root["models"][i], "/models/" + std::to_string(i), config);
  }
}

}  // namespace

ServeConfigOutcome ParseServeConfig(const std::string& text, const std::string& file,
                                    const fs::path& base_dir) {
  config::YamlParseOutcome parsed = config::ParseYamlText(text, file);
  ServeConfigOutcome outcome;
  if (!parsed.document) {
    outcome.diagnostics = std::move(parsed.diagnostics);
    return outcome;
  }
  ConfigReader reader(*parsed.document, base_dir);
  ServeConfig config;
  config.file = file;
  ReadRoot(reader, parsed.document->value, base_dir, config);
  if (!reader.diagnostics.empty()) {
    outcome.diagnostics = std::move(reader.diagnostics);
    return outcome;
  }
  outcome.config = std::move(config);
  return outcome;
}

ServeConfigOutcome LoadServeConfig(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    ServeConfigOutcome outcome;
    outcome.diagnostics.push_back(Diagnostic{SourcePos{file.string(), 0, 0}, "cannot read the file."});
    return outcome;
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseServeConfig(text.str(), file.string(), fs::absolute(file).parent_path());
}

}  // namespace loupe::serve
