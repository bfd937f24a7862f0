// serve.yaml, the configuration of `loupe serve` (docs/serve.md): where to listen, the models with their
// explainer, parameters and background data, the limits, the tokens. Parsed through the same YAML door
// as pipelines (config/yaml_document.hpp), so every error is a positioned "FILE:LINE:COL: sentence".
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/core/model.hpp"     // ModelLoadOptions
#include "loupe/core/pipeline.hpp"  // SourcePos, Diagnostic

namespace loupe::serve {

// One served model: the model file, the CSV that gives its columns' types and levels and the
// explainers' background rows, and the explainer `:explain` runs with its parameters.
struct ServedModelSpec {
  std::string name;  // [A-Za-z0-9_.-]+, the {name} of the URLs
  std::string type = "auto";
  std::filesystem::path path;                                // absolute
  std::string url;                                           // type: remote (docs/serve.md "Remote models")
  nlohmann::json remote_options = nlohmann::json::object();  // a remote model's protocol, max_batch_rows, ...
  ModelLoadOptions load;       // precision, tokenizer, attention, model_features: a pipeline's model keys
  std::filesystem::path data;  // absolute; the background CSV
  std::optional<std::string> target;
  std::optional<std::string> positive;
  std::vector<std::string> features;  // empty: the model's inputs
  std::vector<std::string> categorical;
  std::vector<std::string> text;  // text columns (a text model's input)
  std::vector<std::string> missing = {"NA", ""};
  std::string explainer;
  nlohmann::json params = nlohmann::json::object();
  std::uint64_t seed = 0;
  SourcePos pos;                               // of the model's mapping
  std::map<std::string, SourcePos> field_pos;  // of each key's value
  std::map<std::string, SourcePos> param_pos;  // of each parameter's value
};

struct ServeLimits {
  std::int64_t max_body_bytes = 1 << 20;  // larger bodies get 413
  std::int64_t max_rows = 1000;           // rows per request; more get 400
  std::int64_t deadline_ms = 30000;       // an explanation still running then is cancelled (504)
  int max_concurrent_explanations = 2;
  int queue_length = 16;  // explanations waiting for a slot; beyond: 429 with Retry-After
  int retry_after_s = 1;
  std::int64_t idle_timeout_ms = 30000;  // a client that sends nothing for this long is disconnected
};

// Pipeline jobs (POST /v1/runs, docs/serve.md "Pipeline jobs"); off when `dir` is empty.
struct JobsConfig {
  std::filesystem::path dir;       // absolute; one folder per job, kept across restarts
  std::filesystem::path base_dir;  // absolute; a posted pipeline's relative paths resolve here, and only here
  int max_running = 1;             // jobs running at once; the others wait in order
  int threads = 0;                 // threads of each run (0: every core)
};

struct ServeConfig {
  std::string file;  // as given, for messages
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (tests)
  int threads = 2;            // threads serving connections (explanations run on their own slots)
  std::int64_t shutdown_grace_ms = 10000;
  bool access_log = true;
  std::vector<std::string> tokens;             // empty: no authentication
  std::vector<std::filesystem::path> plugins;  // extra plugin folders (absolute)
  ServeLimits limits;
  JobsConfig jobs;
  std::filesystem::path tls_cert, tls_key;  // absolute PEM files; empty: plain HTTP
  std::vector<ServedModelSpec> models;
};

struct ServeConfigOutcome {
  std::optional<ServeConfig> config;  // set when there are no diagnostics
  std::vector<Diagnostic> diagnostics;
};

// Reads and checks serve.yaml's keys and types (unknown keys with a did-you-mean), resolves paths
// against the file's folder and reads the tokens (auth.tokens_file: one per line; auth.tokens_env: the
// name of an environment variable holding comma-separated tokens). Models and explainers are checked
// when the service loads them (Service::Create).
ServeConfigOutcome LoadServeConfig(const std::filesystem::path& file);
ServeConfigOutcome ParseServeConfig(const std::string& text, const std::string& file,
                                    const std::filesystem::path& base_dir);

}  // namespace loupe::serve
