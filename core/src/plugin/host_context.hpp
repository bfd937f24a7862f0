// The host side of the plugin ABI, shared by its pieces: the concrete types behind the ABI's opaque
// handles (LoupeHost, one explain call's context; LoupeResultBuilder) and the functions of the LoupeHostApi
// table, grouped by the file that defines them. The table itself and the explain driver are host_api.cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/core/explainer.hpp"
#include "loupe/core/explanation.hpp"

// The concrete types behind the ABI's opaque handles.
struct LoupeResultBuilder {
  std::mutex mutex;
  loupe::Explanation fields;  // the plugin's fields: `body` (JSON) and `arrays` (typed); the rest unset
};

struct LoupeHost {
  const loupe::ExplainRequest* request = nullptr;
  const loupe::ExplainerDescriptor* descriptor = nullptr;
  std::string params_text;

  std::mutex mutex;  // guards the fields below, which plugins may touch from several threads
  LoupeStatus error_status = LOUPE_OK;
  std::string error_message;
  std::deque<std::vector<std::int64_t>> row_buffers;
  std::deque<std::vector<double>> array_buffers;
  std::deque<std::vector<std::int64_t>> shape_buffers;
  std::deque<std::string> text_buffers;
  std::deque<std::vector<const char*>> pointer_buffers;

  // Dataset description, built once.
  std::vector<LoupeColumnInfo> feature_infos;
  std::vector<const char*> sensitive_names;
  std::vector<std::int64_t> feature_shape;
  std::vector<const char*> output_names, raw_output_names;

  // The "attention" capability's C form; struct_size 0 when the model has no attention over a text input.
  LoupeAttentionSource attention{};
  // The "text" capability's C form; struct_size 0 when the model reads no text.
  LoupeTextModel text{};
  // The "hidden_states" and "head_mask" capabilities' C forms; struct_size 0 when the model lacks them.
  LoupeHiddenStates hidden{};
  std::vector<const char*> hidden_names;
  LoupeHeadMask head_mask{};
  // The "gradient" capability's C form (struct_size 0 when the model lacks it); the model's inputs map
  // onto the feature columns as the FeatureModel maps them (input_source, ToModelInputs).
  LoupeGradientModel gradient{};
  // The "row_variants" capability's C form (struct_size 0 when the model lacks it).
  LoupeRowVariants row_variants{};
  // The "text_gradient" capability's C form (struct_size 0 when the model lacks it).
  LoupeTextGradient text_gradient{};
};

namespace loupe::host_detail {

// --- host_context.cpp: errors, buffers that live as long as the call, log, progress, parallelism, seeds

// Keeps `values` alive until the explain call ends and returns a pointer to them.
template <typename T>
const T* Keep(LoupeHost* host, std::deque<std::vector<T>>& store, std::vector<T> values) {
  std::lock_guard<std::mutex> lock(host->mutex);
  store.push_back(std::move(values));
  return store.back().data();
}
const std::vector<const char*>& KeepPointers(LoupeHost* host, const std::vector<std::string>& strings);
const char* KeepText(LoupeHost* host, std::string text);
// Records the first error of the call (later ones are consequences) and returns `status`.
LoupeStatus SetError(LoupeHost* host, LoupeStatus status, const char* message);
// A read-only contiguous f64 view.
void FillView(LoupeTensorView* out, const double* data, const std::int64_t* shape, int ndim);
void Log(LoupeHost* host, LoupeLogLevel level, const char* message);
void ReportProgress(LoupeHost* host, std::uint64_t done, std::uint64_t total);
std::int32_t IsCancelled(LoupeHost* host);
LoupeStatus ParallelFor(LoupeHost* host, std::int64_t begin, std::int64_t end, std::int64_t grain,
                        LoupeStatus (*body)(void*, std::int64_t, std::int64_t), void* ctx);
// Set only in the child process of an isolated step (core/src/pipeline/isolate.cpp): parallel_for then
// runs its chunks in order on the calling thread. TBB's workers do not survive fork() and its scheduler
// state may hold locks of threads that no longer exist; the chunks, hence the bits, stay the same.
std::atomic<bool>& ParallelForRunsInline();
std::uint64_t Seed(LoupeHost* host);
void RandomU64(LoupeHost* host, std::uint64_t row, std::uint64_t stream, std::uint64_t counter,
               std::uint64_t* out, std::size_t n);
const char* ParamsJson(LoupeHost* host);

// --- host_data.cpp: the dataset, the step's rows and the model's predictions

// Fills the host's dataset and model description (column infos, names); `level_pointers` must outlive
// the call.
void DescribeDataset(LoupeHost& host, std::vector<std::vector<const char*>>& level_pointers);
LoupeStatus DatasetInfo(LoupeHost* host, LoupeDatasetInfo* out);
LoupeStatus DatasetFeatures(LoupeHost* host, LoupeTensorView* out);
LoupeStatus DatasetColumn(LoupeHost* host, const char* name, LoupeColumnInfo* info, LoupeTensorView* values);
LoupeStatus StepRows(LoupeHost* host, const std::int64_t** rows, std::int64_t* n);
LoupeStatus ResolveRows(LoupeHost* host, const char* selection_json, std::uint64_t stream,
                        const std::int64_t** rows, std::int64_t* n);
LoupeStatus ModelInfoFn(LoupeHost* host, LoupeModelInfo* out);
// The output space a plugin asked for; any other value than probability or raw means the model's default.
OutputSpace ResolveSpace(const ModelInfo& info, LoupeOutputSpace space);
// LOUPE_OK, or the refusal (as the host's error) of probabilities from a regressor.
LoupeStatus CheckSpace(LoupeHost* host, const ModelInfo& info, OutputSpace space);
LoupeStatus ModelPredict(LoupeHost* host, const LoupeTensorView* inputs, LoupeOutputSpace space,
                         double* outputs, std::int64_t capacity);

// --- host_capabilities.cpp: the C forms of the model's capabilities

// Builds the C forms of the capabilities the request's model offers (attention, hidden states, head
// mask, text).
void DescribeCapabilities(LoupeHost& host);
const void* ModelCapability(LoupeHost* host, const char* capability, std::uint32_t version);
std::int32_t ModelHasCapability(LoupeHost* host, const char* capability);
// host_gradient.cpp: the "gradient" capability's C form for one explain call, and where it is.
void DescribeGradient(LoupeHost& host);
const void* FindGradient(const LoupeHost& host);
// host_row_variants.cpp: the "row_variants" capability's C form for one explain call, and where it is.
void DescribeRowVariants(LoupeHost& host);
const void* FindRowVariants(const LoupeHost& host);
// host_text_gradient.cpp: the "text_gradient" capability's C form for one explain call, and where it is.
void DescribeTextGradient(LoupeHost& host);
const void* FindTextGradient(const LoupeHost& host);
// host_capabilities.cpp: the texts of data rows [begin, end) of `rows`, through the feature matrix's text
// handles (the refusal of a row outside the data as the host's error).
LoupeStatus TextsOfRows(LoupeHost* host, const std::int64_t* rows, std::int64_t begin, std::int64_t end,
                        std::vector<std::string>& texts);

// --- host_results.cpp: the inputs (explanations of earlier steps) and the result builder

std::int64_t InputCount(LoupeHost* host);
const char* InputStep(LoupeHost* host, std::int64_t index);
const char* InputKind(LoupeHost* host, std::int64_t index);
const char* InputJson(LoupeHost* host, std::int64_t index);
LoupeStatus InputArray(LoupeHost* host, std::int64_t index, const char* path, LoupeTensorView* out);
LoupeStatus ResultSetNumber(LoupeResultBuilder* result, const char* path, double value);
LoupeStatus ResultSetString(LoupeResultBuilder* result, const char* path, const char* value);
LoupeStatus ResultSetStrings(LoupeResultBuilder* result, const char* path, const char* const* values,
                             std::int64_t n);
LoupeStatus ResultSetTensor(LoupeResultBuilder* result, const char* path, const LoupeTensorView* value);
LoupeStatus ResultSetJson(LoupeResultBuilder* result, const char* path, const char* json);
LoupeStatus ResultSetTextArray(LoupeResultBuilder* result, const char* path, std::int32_t ndim,
                               const std::int64_t* shape, const char* chars, const std::uint64_t* ends);
LoupeStatus ResultNewTensor(LoupeResultBuilder* result, const char* path, LoupeDType dtype, std::int32_t ndim,
                            const std::int64_t* shape, void** data);
LoupeStatus ResultAppendTextRows(LoupeResultBuilder* result, const char* path, std::int64_t n_rows,
                                 const char* chars, const std::uint64_t* ends);

}  // namespace loupe::host_detail
