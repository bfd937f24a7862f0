// Pipelines (docs/architecture.md §5 "Pipeline YAML"): the parsed spec, validation and execution.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/core/explanation.hpp"
#include "loupe/core/status.hpp"

namespace loupe {

class PluginRegistry;
class Model;
class Dataset;

// A position in a source file; line and column are 1-based (0 when unknown).
struct SourcePos {
  std::string file;
  int line = 0;
  int column = 0;
};

// One configuration error: printed as "FILE:LINE:COL: message".
struct Diagnostic {
  SourcePos pos;
  std::string message;
  std::string ToString() const;
};

struct DataSpec {
  std::filesystem::path path;  // absolute (resolved against the pipeline file's folder)
  std::optional<std::string> target;
  std::vector<std::string> features;  // empty: every column but the target
  std::optional<std::string> positive;
  std::vector<std::string> categorical;
  std::vector<std::string> text;
  std::vector<std::string> sensitive;
  std::vector<std::string> missing = {"NA", ""};
  SourcePos pos;                               // of the `data:` mapping
  std::map<std::string, SourcePos> field_pos;  // of each key's value, e.g. the list of "features"
};

struct ModelSpec {
  std::string type = "native";  // native | xgboost
  std::filesystem::path path;   // absolute
  // type: remote (docs/serve.md "Remote models"): the server's url, and the mapping's other keys
  // (protocol, max_batch_rows, ...) as written, checked when the model is loaded.
  std::string url;
  nlohmann::json remote_options = nlohmann::json::object();
  // type huggingface: "f32" (the default) or "bf16" (the encoder's matrix products in bfloat16 where the
  // CPU has it). A loupe.model/v1 file states its own precision.
  std::string precision = "f32";
  // type onnx (docs/onnx.md): names of the model's inputs, the tensors (or nodes) holding each
  // self-attention layer's probabilities, and a tokenizer.json (absolute) that makes it a text model.
  std::vector<std::string> features;
  std::vector<std::string> attention;
  std::filesystem::path tokenizer;
  SourcePos pos;
  std::map<std::string, SourcePos> field_pos;  // of each key's value: "type", "path"
};

struct StepSpec {
  std::string id;
  std::string explainer;
  nlohmann::json rows;  // null when absent; otherwise the YAML value as JSON ("0:20", [1, 2], 5, "all")
  nlohmann::json params = nlohmann::json::object();
  std::vector<std::string> needs;
  SourcePos pos;                               // of the step's mapping
  std::map<std::string, SourcePos> field_pos;  // values of "id", "explainer", "rows", "params", "needs"
  std::map<std::string, SourcePos> param_pos;  // the value of each key under params
  // A position whose file is "--set PATH" (line 0) marks a value that came from that override.
};

struct OutputSpec {
  std::filesystem::path dir;                    // absolute
  std::vector<std::string> formats = {"json"};  // json | csv | npy | html
};

struct PipelineSpec {
  std::filesystem::path file;  // absolute path of the YAML file
  int version = 1;
  std::string name;
  std::uint64_t seed = 0;
  DataSpec data;
  ModelSpec model;
  std::vector<StepSpec> steps;
  OutputSpec output;
  std::vector<std::filesystem::path> plugins;  // extra plugin libraries or folders, absolute
};

// A pipeline override from the command line: --set steps.shap.params.nsamples=512. The value is parsed
// as YAML (so 512 is an integer, [a, b] a list).
struct Override {
  std::string path;
  std::string value;
};

// Parses and structurally validates a pipeline file (types, unknown keys with did-you-mean, duplicate
// keys, ids, needs). Collects every error it can; returns the spec only when there are none.
struct ParseOutcome {
  std::optional<PipelineSpec> spec;
  std::vector<Diagnostic> diagnostics;
};
ParseOutcome ParsePipelineFile(const std::filesystem::path& file,
                               const std::vector<Override>& overrides = {});
ParseOutcome ParsePipelineText(const std::string& text, const std::filesystem::path& file,
                               const std::vector<Override>& overrides = {});

// The words of the pipeline format as the parser checks them, for tools that describe the format (the
// JSON Schema `loupe schema` writes, shell completion): the keys each mapping allows and the patterns.
struct PipelineVocabulary {
  std::vector<std::string> pipeline_keys, required_pipeline_keys;
  std::vector<std::string> data_keys, data_column_lists;  // column lists: features, categorical, ...
  std::vector<std::string> model_keys, model_types;
  std::vector<std::string> step_keys, output_keys, output_formats;
  std::string step_id_pattern, explainer_name_pattern;  // ECMAScript regular expressions, whole-match
};
const PipelineVocabulary& PipelineFormat();

// Checks what needs the plugins: each step's explainer exists, its params match the explainer's spec
// (unknown names with did-you-mean, types, bounds, enums, required ones). Fills in defaults in `spec`.
std::vector<Diagnostic> ValidateAgainstPlugins(PipelineSpec& spec, const PluginRegistry& registry);

// The one complete validation `loupe validate` and `loupe run` share (docs/architecture.md §5 "Validation"):
// ValidateAgainstPlugins, then everything the data and the model decide before any step runs — the files
// exist and parse (the CSV's header and rows are scanned, not loaded, unless ValidateOptions::read_data;
// the model is loaded), every column a pipeline key or a parameter with a column role names exists, row
// selections lie inside the data, class labels and group values occur in their columns, the model's
// inputs are among the features, and the model offers each step's required capabilities. Every error is
// collected. Canonicalises label parameters in `spec` (`favorable: 1` becomes "1"). `model` is the loaded
// model when it loaded, for RunOptions::model, so a run does not load it twice.
struct ValidateOptions {
  // For a run that follows (loupe run): the CSV's one pass reads the data set as that run reads it
  // (chunked input or not, decided as RunPipeline decides it with RunOptions::isolate = `isolate`) and
  // takes what validation checks from it, and PipelineCheck::data holds it for RunOptions::data, so the
  // run reads its CSV once. Off (loupe validate), the CSV is only scanned, not held.
  bool read_data = false;
  bool isolate = false;
};
struct PipelineCheck {
  std::vector<Diagnostic> diagnostics;
  std::shared_ptr<const Model> model;
  // With ValidateOptions::read_data, the data set when it was read; null when reading it failed (the
  // run reads it again, and fails with the reader's sentence, as without read_data).
  std::shared_ptr<Dataset> data;
};
PipelineCheck ValidatePipeline(PipelineSpec& spec, const PluginRegistry& registry,
                               const ValidateOptions& options = {});

struct RunOptions {
  std::optional<std::filesystem::path> output_dir;  // overrides output.dir
  int threads = 0;                                  // 0: every core
  std::optional<std::uint64_t> seed;                // overrides the pipeline's seed
  bool quiet = false;
  bool progress = false;  // draw progress bars on stderr
  // Run each step's plugin call in a child process (loupe run --isolate): a plugin that crashes, exits or
  // runs out of memory fails its step ("crashed") instead of the run.
  bool isolate = false;
  std::uint64_t max_memory_bytes = 0;  // with isolate: what each step may allocate (0: no limit)
  // The model ValidatePipeline loaded from spec.model; null: RunPipeline loads it.
  std::shared_ptr<const Model> model;
  // The data set ValidatePipeline read (PipelineCheck::data); null: RunPipeline reads spec.data. The run
  // takes it (moves it out, leaving it empty) when it was read as the run reads its data (the same
  // chunked-input decision), and otherwise reads the file itself.
  std::shared_ptr<Dataset> data;
  // Cancellation (Ctrl-C in an embedding application, such as the Python package): null, the run cannot
  // be cancelled. Once another thread sets it, the running steps stop at their explainer's next check
  // (it is each step's ExplainRequest::cancelled) and the steps not yet started are not started; all of
  // them end failed with failure kCancelled, and the run's status is kCancelled. Steps that had finished
  // keep their outputs. Must outlive RunPipeline. Not seen by a step running in a child (`isolate`).
  const std::atomic<bool>* cancelled = nullptr;
  // Resuming (loupe run --resume DIR; docs/architecture.md §5 "Resuming a run"). A plain run records in
  // its output folder what it finishes: each step, and each chunk of `chunk_rows` rows of a step whose
  // explainer explains rows independently (0: 4,096). With `resume`, the run continues the interrupted run
  // recorded in its output folder: finished steps and chunks are read back, the rest computed, and the
  // outputs are those of an uninterrupted run. `overrides` are recorded so a resume can parse the pipeline
  // file as this run did. Not under MPI.
  bool resume = false;
  std::int64_t chunk_rows = 0;
  std::vector<Override> overrides;
};

// How a step ended. run.json spells these "ok", "failed" and "skipped" (StepStatusName): a contract.
enum class StepStatus { kOk, kFailed, kSkipped };
const char* StepStatusName(StepStatus status);

// What kind of failure stopped a failed step, read from the Status code that stopped it, so a caller can
// tell a configuration to fix from a model or plugin to look at. run.json's step entry carries it as
// "failure" (StepFailureName), present only on failed steps.
enum class StepFailure {
  kNone,           // the step did not fail
  kBadParameters,  // a parameter, row selection or named input the explainer cannot accept
  kUnsupported,    // the model or data lacks what the explainer needs
  kModel,          // the model failed while predicting
  kPlugin,         // the plugin failed, or produced a result the host refused
  kOutput,         // writing the step's output files failed
  kCancelled,      // the run was cancelled
  kCrashed,        // the plugin's isolated child died: a signal, exit(), or out of memory (--isolate)
};
StepFailure StepFailureFor(StatusCode code);
const char* StepFailureName(StepFailure failure);  // "bad_parameters", "model", ...; "" for kNone

struct StepOutcome {
  std::string id;
  StepStatus status = StepStatus::kSkipped;
  StepFailure failure = StepFailure::kNone;  // set when status is kFailed
  std::string message;                       // why it failed or was skipped
  double elapsed_ms = 0;
  std::vector<std::filesystem::path> files;
};

struct RunReport {
  std::vector<StepOutcome> steps;
  std::filesystem::path output_dir;
  Status status;  // OK when every step succeeded; otherwise why the run failed
  // Data rows whose features this run read from the CSV file again after its first read: 0 when the data
  // set was held whole (docs/architecture.md §5 "Chunked input"); with chunked input the rows of the blocks
  // its plugin calls made ready (a block read again when it was let go and is needed again, so the count
  // may vary with the threads), or every row when the data has no more rows than a chunk.
  std::int64_t rows_read_again = 0;
};

// The seed of a step: a hash of (pipeline seed, step id), the same on every platform.
std::uint64_t StepSeed(std::uint64_t pipeline_seed, const std::string& step_id);

// Runs a validated pipeline: loads the data and model, runs the steps as a TBB flow graph (independent
// steps concurrently; a failed step's dependents are skipped) and writes each output atomically.
RunReport RunPipeline(const PipelineSpec& spec, const PluginRegistry& registry, const RunOptions& options);

}  // namespace loupe
