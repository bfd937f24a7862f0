// Checking a pipeline before any step runs (internal; ValidateAgainstPlugins and ValidatePipeline in
// loupe/core/pipeline.hpp are the public entries).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/pipeline.hpp"

namespace loupe {

// Checks a step's params against its explainer's parameter specs: unknown names (with did-you-mean),
// each value's type, bounds and choices, and required parameters that are missing. Then fills in the
// defaults of the parameters the step does not set, so the explainer sees canonical params, and writes
// class labels given as numbers or booleans as text.
std::vector<Diagnostic> ValidateStepParams(StepSpec& step, const ExplainerDescriptor& descriptor);

// What validation reads of a CSV file: its header, its number of data rows and the distinct values of a
// few columns (the label and group columns) — one pass over the text, nothing converted or kept besides.
struct DataProfile {
  std::vector<std::string> columns;                     // the header
  std::int64_t rows = 0;                                // data rows
  std::map<std::string, std::set<std::string>> values;  // distinct non-missing cells of the asked columns
};
// Fails with the reader's sentence ("FILE:LINE: ...") on an unreadable file, a missing header, a record
// whose field count differs from the header's, or a file without data rows.
Result<DataProfile> ProfileCsv(const std::filesystem::path& path, const std::vector<std::string>& missing,
                               const std::set<std::string>& value_columns);

// The reader's options for a run's data (DataSpec's lists and missing markers); `index_every` > 0 for
// chunked input (the features not held, every index_every-th row's start recorded). Defined in run.cpp.
CsvOptions RunCsvOptions(const DataSpec& spec, std::int64_t index_every);
// The index_every a run of `spec` reads its data with: > 0 when it may use chunked input
// (docs/architecture.md §5 "Chunked input"; `isolate`: RunOptions::isolate), 0 otherwise. Defined in run.cpp.
std::int64_t RunIndexEvery(const PipelineSpec& spec, bool isolate);
// The smallest data file (bytes) a run reads in chunks (RunIndexEvery): below it the data set is held whole
// and validation's one read is the run's. At 1 MiB the whole read peaks ~1.7 MB above the chunked read for
// 7 numeric features, under a tenth of a run's own ~18 MB (its matrix is at most 4 times the file: 8 bytes
// a value, at least 2 bytes of text a cell); the figures are in docs/architecture.md §5 "Chunked input".
inline constexpr std::int64_t kChunkedInputMinBytes = std::int64_t{1} << 20;

// The spelling of `label` among `values`: the same text, the same number ("1" and "1.0") or the same
// boolean in another case ("true" and "True"); "" when it is not there.
std::string FindLabel(const std::set<std::string>& values, const std::string& label);

// Whether `model` offers the named capability (loupe_plugin.h) to a step: the rules the host follows
// when it hands the capabilities' C forms to a plugin (core/src/plugin/host_capabilities.cpp) — the text
// capabilities need a model that reads a text input.
bool ModelOffersCapability(const Model& model, const std::string& capability);

// Loads the model a pipeline names by path (every type but remote), with the options of its type
// (model.precision, and model.features / attention / tokenizer for onnx: docs/onnx.md).
Result<std::shared_ptr<const Model>> LoadModelOfSpec(const ModelSpec& spec);

}  // namespace loupe
