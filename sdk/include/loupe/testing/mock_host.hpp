// loupe::testing::MockHost — an in-memory implementation of LoupeHostApi for testing explainers without
// the Loupe runtime. Header-only, C++17, no test framework needed.
//
//   loupe::testing::MockDataset data;                 // a few columns, numeric and categorical
//   data.features = {MockColumn::Numeric("age", {35, 52, 41}),
//                    MockColumn::Categorical("home", {"own", "rent"}, {0, 1, 1})};
//   auto model = MockModel::Regressor("y", [](const double* x, std::int64_t n, double* out) {
//     for (std::int64_t i = 0; i < n; ++i) out[i] = 2 * x[2 * i] + x[2 * i + 1];
//   });
//   loupe::testing::MockHost host(data, model);
//   MockRunOptions run;
//   run.params = {{"background", "0:3"}};
//   run.rows = {0, 1};
//   MockRunResult result = host.Run(*vtable, run);   // create + explain + destroy
//   // result.status, result.error, result.json (the fields the explainer wrote), result.predict_calls...
//
// What the mock does like the real host (docs/architecture.md §2, §4); the rules both share live in
// loupe/sdk/detail/host_rules.hpp, and tests/host_conformance runs one suite against both:
//  - validates the params against the explainer's spec (unknown names, types, bounds, choices, required)
//    and fills in defaults, before create(); a refusal here sets `rejected_by_host`;
//  - parallel_for runs chunks on `threads` std::threads; chunk boundaries depend only on (begin, end,
//    grain), so a correct explainer gives identical bits for any thread count;
//  - random_u64 is loupe::sdk::PhiloxFill keyed by (seed, row, stream);
//  - resolve_rows understands "a:b" (half-open), [i, j, ...], a count N (a seeded sample without
//    replacement, sorted) and "all";
//  - model_predict checks the batch (f64, [n, n_features], categorical codes valid, capacity) and counts
//    calls and rows, so tests can assert that an explainer batches its model calls;
//  - the result builder stores fields into a nlohmann::json object (NaN and infinities become null);
//  - model_capability hands out a capability only at a version the real host builds (1 for each today);
//    a model with a `gradient` function offers "gradient" (v1.3) with the host's checks of the call, and a
//    model whose `text_gradient` has an `embed` function offers "text_gradient" (v1.5; pad_embeddings v1.6).
// Row samples drawn by the real host may differ from the mock's; everything else is specified by the ABI.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/sdk/detail/host_rules.hpp"
#include "loupe/sdk/random.hpp"

namespace loupe::testing {

// One column of the mock data.
struct MockColumn {
  std::string name;
  LoupeFeatureType type = LOUPE_FEATURE_NUMERIC;
  std::vector<std::string> levels;  // categorical: level names by code
  std::vector<double> values;       // one per row; categorical as codes; NaN = missing

  static MockColumn Numeric(std::string name, std::vector<double> values) {
    return MockColumn{std::move(name), LOUPE_FEATURE_NUMERIC, {}, std::move(values)};
  }
  static MockColumn Categorical(std::string name, std::vector<std::string> levels,
                                std::vector<double> codes) {
    return MockColumn{std::move(name), LOUPE_FEATURE_CATEGORICAL, std::move(levels), std::move(codes)};
  }
};

// The data of a mock step: the feature matrix columns plus other columns (target, sensitive attributes).
struct MockDataset {
  std::vector<MockColumn> features;  // the matrix explainers perturb, in column order
  std::vector<MockColumn> others;    // reachable through Host::Column by name
  std::string target;                // name of a column in `others`, or empty
  std::string positive_label;
  std::vector<std::string> sensitive;

  std::int64_t rows() const {
    return features.empty() ? 0 : static_cast<std::int64_t>(features[0].values.size());
  }
  std::int64_t cols() const { return static_cast<std::int64_t>(features.size()); }
};

// Evaluates rows [n, n_features] (row-major) into out[n, n_outputs].
using PredictFn = std::function<void(const double* rows, std::int64_t n, double* out)>;
// The "gradient" capability of a mock model (v1.3): writes out[n, n_features] for rows [n, n_features],
// the output space and weights[n, n_outputs(space)] (see LoupeGradientModel::gradient).
using GradientFn = std::function<void(const double* rows, std::int64_t n, LoupeOutputSpace space,
                                      const double* weights, double* out)>;
// DeepLIFT of a mock model: like GradientFn, with the reference rows [n, n_features] after the rows.
using DeepLiftFn = std::function<void(const double* rows, const double* references, std::int64_t n,
                                      LoupeOutputSpace space, const double* weights, double* out)>;

// One text as a mock model's embedding layer sees it (LoupeTokenEmbeddingsSink's arguments).
struct MockTokenEmbeddings {
  std::vector<std::string> tokens, words;
  std::vector<std::int64_t> word_index;  // per token: its word, or -1
  std::vector<float> embeddings;         // [tokens, width]
};
// The "text_gradient" capability of a mock model (v1.5): `embed` gives data row r's tokens and
// embeddings; `layer_gradient` writes gradients [n, t, width] (0 at padding, as the host) and, when
// `outputs` is not null, f [n, n_outputs(space)] for values [n, t, width] (LoupeTextGradient).
struct MockTextGradient {
  std::int64_t width = 0;
  std::string layer_name = "embedding";
  std::vector<float> pad_embedding;  // [width]; empty: no padding token (pad_embeddings then refuses)
  std::function<MockTokenEmbeddings(std::int64_t row)> embed;
  std::function<void(const float* values, std::int64_t n, std::int64_t t, const std::int64_t* lengths,
                     LoupeOutputSpace space, const double* weights, float* gradients, double* outputs)>
      layer_gradient;
};

// The model of a mock step.
struct MockModel {
  std::string name = "mock_model";
  LoupeTask task = LOUPE_TASK_REGRESSION;
  std::vector<std::string> output_names;  // default space: probabilities (classifiers) or values
  PredictFn predict;
  std::vector<std::string> raw_output_names;  // classifiers: margins/logits; regressors: unused
  PredictFn predict_raw;                      // classifiers: margins/logits; regressors: unused
  std::vector<std::string> capabilities;      // reported by model_has_capability (no descriptions)
  // Descriptions returned by model_capability (e.g. "tree_ensemble" -> const LoupeTreeEnsemble*), owned by
  // the test; a capability named here must also be listed in `capabilities`.
  std::map<std::string, const void*> capability_structs;
  // "gradient": when `gradient` is set the mock offers a LoupeGradientModel (version 1, also reported by
  // model_has_capability) that checks the call as the host does and calls it; `deeplift` likewise (unset:
  // has_deeplift is 0 and deeplift refuses with a sentence, as the host does for an undefined layer).
  GradientFn gradient;
  DeepLiftFn deeplift;
  // "text_gradient": offered (version 1) when text_gradient.embed is set; the calls are checked as the host
  // checks them.
  MockTextGradient text_gradient;

  static MockModel Regressor(std::vector<std::string> outputs, PredictFn predict) {
    MockModel model;
    model.task = LOUPE_TASK_REGRESSION;
    model.output_names = std::move(outputs);
    model.predict = std::move(predict);
    return model;
  }
  static MockModel Classifier(std::vector<std::string> classes, PredictFn probabilities,
                              std::vector<std::string> raw_outputs, PredictFn raw) {
    MockModel model;
    model.task = LOUPE_TASK_CLASSIFICATION;
    model.output_names = std::move(classes);
    model.predict = std::move(probabilities);
    model.raw_output_names = std::move(raw_outputs);
    model.predict_raw = std::move(raw);
    return model;
  }
  const std::vector<std::string>& Outputs(LoupeOutputSpace space) const {
    return space == LOUPE_OUTPUT_RAW && task == LOUPE_TASK_CLASSIFICATION ? raw_output_names : output_names;
  }
};

// An explanation of a step the mock step `needs`.
struct MockInput {
  std::string step;
  std::string kind;
  nlohmann::json explanation;
};

// How to run one create + explain.
struct MockRunOptions {
  nlohmann::json params = nlohmann::json::object();  // as a pipeline step writes them (defaults added)
  std::vector<std::int64_t> rows;                    // the step's rows
  std::uint64_t seed = 0;
  int threads = 1;  // parallel_for threads
  std::vector<MockInput> inputs;
  // Cancellation: -1 never; 0 cancelled from the start; k > 0 cancelled after k progress reports.
  std::int64_t cancel_after_progress = -1;
};

// What one run did.
struct MockRunResult {
  LoupeStatus status = LOUPE_OK;
  std::string error;              // the set_error sentence when status != LOUPE_OK
  bool rejected_by_host = false;  // the params failed the spec check; the explainer never ran
  std::string failed_in;          // "params", "create" or "explain" when status != LOUPE_OK
  nlohmann::json json = nlohmann::json::object();  // the fields the explainer wrote
  nlohmann::json params;                           // the canonical params the explainer saw
  std::vector<std::string> logs;
  std::int64_t predict_calls = 0;
  std::int64_t predict_rows = 0;
  std::int64_t max_batch_rows = 0;
  std::int64_t progress_reports = 0;

  bool ok() const { return status == LOUPE_OK; }
};

// Checks `value` against `spec` like the host does; returns an empty string or the sentence why not.
inline std::string CheckParamValue(const LoupeParamSpec& spec, const nlohmann::json& value) {
  const std::string name = std::string("parameter '") + (spec.name != nullptr ? spec.name : "") + "'";
  auto fail = [&](const char* expected) { return name + " must be " + expected + ", found " + value.dump(); };
  switch (spec.type) {
    case LOUPE_PARAM_BOOL:
      return value.is_boolean() ? "" : fail("true or false");
    case LOUPE_PARAM_INT:
    case LOUPE_PARAM_FLOAT: {
      const bool integral =
          value.is_number_integer() ||
          (value.is_number_float() && std::floor(value.get<double>()) == value.get<double>());
      if (spec.type == LOUPE_PARAM_INT && !integral) return fail("an integer");
      if (!value.is_number() || !std::isfinite(value.get<double>())) return fail("a finite number");
      const double number = value.get<double>();
      if (spec.has_min && number < spec.min_value)
        return fail(("at least " + nlohmann::json(spec.min_value).dump()).c_str());
      if (spec.has_max && number > spec.max_value)
        return fail(("at most " + nlohmann::json(spec.max_value).dump()).c_str());
      return "";
    }
    case LOUPE_PARAM_STRING:
      return value.is_string() ? "" : fail("a string");
    case LOUPE_PARAM_ENUM: {
      if (value.is_string()) {
        for (std::int64_t i = 0; i < spec.n_choices; ++i) {
          if (value.get<std::string>() == spec.choices[i]) return "";
        }
      }
      std::string choices;
      for (std::int64_t i = 0; i < spec.n_choices; ++i)
        choices += (i ? ", " : "") + std::string(spec.choices[i]);
      return fail(("one of " + choices).c_str());
    }
    case LOUPE_PARAM_ROWS: {
      const bool ok_string = value.is_string();
      const bool ok_count = value.is_number_integer() && value.get<std::int64_t>() >= 0;
      bool ok_list = value.is_array();
      if (ok_list) {
        for (const auto& item : value) ok_list = ok_list && item.is_number_integer();
      }
      return ok_string || ok_count || ok_list
                 ? ""
                 : fail("a row selection (\"a:b\", a list of rows, a count or \"all\")");
    }
    case LOUPE_PARAM_JSON:
      return "";
    case LOUPE_PARAM_STRING_LIST: {
      bool ok = value.is_string() || value.is_array();
      if (value.is_array()) {
        for (const auto& item : value) ok = ok && item.is_string();
      }
      return ok ? "" : fail("a list of strings");
    }
    default:
      return name + " has an unknown type code " + std::to_string(spec.type);
  }
}

namespace detail {

// Per-run state behind the opaque LoupeHost* / LoupeResultBuilder* handles.
struct MockCall {
  const MockDataset* dataset = nullptr;
  const MockModel* model = nullptr;
  const MockRunOptions* options = nullptr;
  std::string params_text;

  std::vector<double> matrix;
  std::int64_t matrix_shape[2] = {0, 0};
  std::int64_t column_shape[1] = {0};
  std::vector<std::vector<const char*>> level_pointers;  // per feature, then per other column
  std::vector<LoupeColumnInfo> feature_infos;
  std::vector<LoupeColumnInfo> other_infos;
  std::vector<const char*> sensitive;
  std::vector<const char*> outputs, raw_outputs;
  std::vector<std::string> input_texts;
#if LOUPE_PLUGIN_ABI_MINOR >= 5
  LoupeTextGradient text_gradient{};  // the C form of model->text_gradient (struct_size 0: not offered)
#endif

  std::mutex mutex;  // guards everything below
  LoupeStatus error_status = LOUPE_OK;
  std::string error;
  nlohmann::json result = nlohmann::json::object();
  std::vector<std::string> logs;
  std::deque<std::vector<std::int64_t>> row_lists;  // resolve_rows results, stable addresses
  std::deque<std::pair<std::vector<std::int64_t>, std::vector<double>>> arrays;  // input_array results
  std::map<std::string, std::vector<std::int64_t>> text_shapes;  // string arrays in `result`, by path
  // result_new_tensor's tensors by path (8-byte words, so every dtype is aligned); JSON at the end.
  std::map<std::string, std::pair<LoupeTensorView, std::vector<std::int64_t>>> new_tensor_views;
  std::deque<std::vector<double>> new_tensor_buffers;

  std::atomic<std::int64_t> predict_calls{0}, predict_rows{0}, max_batch_rows{0}, progress_reports{0};
};

inline MockCall* Call(LoupeHost* host) { return reinterpret_cast<MockCall*>(host); }
inline MockCall* Call(LoupeResultBuilder* result) { return reinterpret_cast<MockCall*>(result); }

// Records an error of the run. The latest sentence wins, so a plugin that adds context to a failed host
// call (loupe::sdk::Host::ResolveRows names the parameter) is heard. NOTE: the real host keeps the FIRST
// sentence instead; tests/host_conformance pins where the two agree (one error per run).
inline LoupeStatus Fail(MockCall* call, LoupeStatus status, const std::string& message) {
  std::lock_guard<std::mutex> lock(call->mutex);
  call->error_status = status;
  call->error = message;
  return status;
}

// The host's own sentence for a failure nobody described: recorded only when no error is recorded yet.
inline void FailIfSilent(MockCall* call, LoupeStatus status, const std::string& message) {
  std::lock_guard<std::mutex> lock(call->mutex);
  if (call->error_status != LOUPE_OK) return;
  call->error_status = status;
  call->error = message;
}

inline LoupeColumnInfo ColumnInfo(const MockColumn& column, std::vector<const char*>* levels) {
  for (const auto& level : column.levels) levels->push_back(level.c_str());
  LoupeColumnInfo info{};
  info.struct_size = sizeof(info);
  info.type = column.type;
  info.name = column.name.c_str();
  info.levels = column.type == LOUPE_FEATURE_CATEGORICAL ? levels->data() : nullptr;
  info.n_levels = static_cast<std::int64_t>(column.levels.size());
  info.n_missing =
      std::count_if(column.values.begin(), column.values.end(), [](double v) { return std::isnan(v); });
  return info;
}

inline std::vector<std::int64_t>* KeepRows(MockCall* call, std::vector<std::int64_t> rows) {
  std::lock_guard<std::mutex> lock(call->mutex);
  call->row_lists.push_back(std::move(rows));
  return &call->row_lists.back();
}

// Parses a row selection into rows of a dataset of `n` rows; an error sentence on failure.
inline std::string SelectRows(const nlohmann::json& selection, std::int64_t n, std::uint64_t seed,
                              std::uint64_t stream, std::vector<std::int64_t>* rows) {
  const std::string found = selection.dump();
  if (selection.is_string() && selection.get<std::string>() == "all") {
    for (std::int64_t i = 0; i < n; ++i) rows->push_back(i);
    return "";
  }
  if (selection.is_string()) {
    const std::string text = selection.get<std::string>();
    const std::size_t colon = text.find(':');
    long long a = 0, b = 0;
    char tail = 0;
    if (colon == std::string::npos || std::sscanf(text.c_str(), "%lld:%lld%c", &a, &b, &tail) != 2 || a < 0 ||
        a > b || b > n) {
      return "row selection must be \"a:b\" with 0 <= a <= b <= " + std::to_string(n) +
             " or \"all\", found " + found;
    }
    for (long long i = a; i < b; ++i) rows->push_back(i);
    return "";
  }
  if (selection.is_array()) {
    for (const auto& item : selection) {
      if (!item.is_number_integer() || item.get<std::int64_t>() < 0 || item.get<std::int64_t>() >= n) {
        return "row selection lists must hold row indices below " + std::to_string(n) + ", found " +
               item.dump();
      }
      rows->push_back(item.get<std::int64_t>());
    }
    return "";
  }
  if (selection.is_number_integer() && selection.get<std::int64_t>() >= 0 &&
      selection.get<std::int64_t>() <= n) {
    std::vector<std::int64_t> all(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) all[static_cast<std::size_t>(i)] = i;
    loupe::sdk::Rng rng(seed, 0, stream);
    const std::int64_t count = selection.get<std::int64_t>();
    for (std::int64_t i = 0; i < count; ++i) {  // partial Fisher-Yates
      const auto j = i + static_cast<std::int64_t>(rng.Below(static_cast<std::uint64_t>(n - i)));
      std::swap(all[static_cast<std::size_t>(i)], all[static_cast<std::size_t>(j)]);
    }
    rows->assign(all.begin(), all.begin() + count);
    std::sort(rows->begin(), rows->end());
    return "";
  }
  return "row selection must be \"a:b\", a list of rows, a count up to " + std::to_string(n) +
         " or \"all\", found " + found;
}

// Checks a batch handed to model_predict; an error sentence on failure.
inline std::string CheckBatch(const MockCall& call, const LoupeTensorView& view, std::int64_t n_outputs,
                              std::int64_t capacity) {
  if (view.dtype != LOUPE_DTYPE_F64 || view.ndim != 2) return "model_predict needs a 2-D f64 tensor";
  if (view.shape[1] != call.dataset->cols()) {
    return "model_predict needs " + std::to_string(call.dataset->cols()) + " columns, found " +
           std::to_string(view.shape[1]);
  }
  if (capacity < view.shape[0] * n_outputs) {
    return "model_predict needs an output capacity of " + std::to_string(view.shape[0] * n_outputs) +
           ", found " + std::to_string(capacity);
  }
  return "";
}

inline std::string CheckCodes(const MockDataset& data, const std::vector<double>& rows, std::int64_t n) {
  for (std::int64_t j = 0; j < data.cols(); ++j) {
    const MockColumn& column = data.features[static_cast<std::size_t>(j)];
    if (column.type != LOUPE_FEATURE_CATEGORICAL) continue;
    for (std::int64_t i = 0; i < n; ++i) {
      const double code = rows[static_cast<std::size_t>(i * data.cols() + j)];
      if (std::isnan(code)) continue;
      if (code != std::floor(code) || code < 0 || code >= static_cast<double>(column.levels.size())) {
        return "model input '" + column.name + "' must be a level code below " +
               std::to_string(column.levels.size()) + ", found " + nlohmann::json(code).dump();
      }
    }
  }
  return "";
}

// --- the LoupeHostApi functions ---

inline LoupeStatus SetError(LoupeHost* host, LoupeStatus status, const char* message) {
  return Fail(Call(host), status, message != nullptr ? message : "");
}
inline void Log(LoupeHost* host, LoupeLogLevel level, const char* message) {
  static const char* const kLevels[] = {"debug", "info", "warning"};
  MockCall* call = Call(host);
  std::lock_guard<std::mutex> lock(call->mutex);
  call->logs.push_back(std::string(level >= 0 && level <= 2 ? kLevels[level] : "log") + ": " +
                       (message ? message : ""));
}
inline void ReportProgress(LoupeHost* host, std::uint64_t, std::uint64_t) { ++Call(host)->progress_reports; }
inline std::int32_t IsCancelled(LoupeHost* host) {
  const MockCall* call = Call(host);
  const std::int64_t after = call->options->cancel_after_progress;
  return after >= 0 && call->progress_reports.load() >= after ? 1 : 0;
}

struct ChunkQueue {
  ChunkQueue(std::int64_t b, std::int64_t e, std::int64_t g,
             LoupeStatus (*f)(void*, std::int64_t, std::int64_t), void* c)
      : begin(b), end(e), grain(g), n_chunks(sdk::detail::ChunkCount(b, e, g)), body(f), ctx(c) {}

  const std::int64_t begin, end, grain, n_chunks;
  LoupeStatus (*const body)(void*, std::int64_t, std::int64_t);
  void* const ctx;
  std::atomic<std::int64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::int64_t failed_chunk = -1;
  LoupeStatus status = LOUPE_OK;

  void Work() {
    for (std::int64_t chunk = next++; chunk < n_chunks && !failed.load(); chunk = next++) {
      const std::int64_t b = begin + chunk * grain;
      const LoupeStatus s = body(ctx, b, std::min(end, b + grain));
      if (s == LOUPE_OK) continue;
      std::lock_guard<std::mutex> lock(mutex);
      if (failed_chunk < 0 || chunk < failed_chunk) {
        failed_chunk = chunk;
        status = s;
      }
      failed = true;
    }
  }
};

inline LoupeStatus ParallelFor(LoupeHost* host, std::int64_t begin, std::int64_t end, std::int64_t grain,
                               LoupeStatus (*body)(void*, std::int64_t, std::int64_t), void* ctx) {
  if (begin >= end) return LOUPE_OK;
  if (body == nullptr) return Fail(Call(host), LOUPE_ERROR_INVALID_ARGUMENT, "parallel_for needs a body.");
  ChunkQueue queue(begin, end, sdk::detail::EffectiveGrain(begin, end, grain), body, ctx);
  const int threads = std::max(1, Call(host)->options->threads);
  std::vector<std::thread> workers;
  for (int t = 1; t < threads && t < queue.n_chunks; ++t) workers.emplace_back([&queue] { queue.Work(); });
  queue.Work();
  for (auto& worker : workers) worker.join();
  if (queue.status != LOUPE_OK) FailIfSilent(Call(host), queue.status, sdk::detail::kSilentChunkFailure);
  return queue.status;
}

inline std::uint64_t Seed(LoupeHost* host) { return Call(host)->options->seed; }
inline void RandomU64(LoupeHost* host, std::uint64_t row, std::uint64_t stream, std::uint64_t counter,
                      std::uint64_t* out, std::size_t n) {
  loupe::sdk::PhiloxFill(Call(host)->options->seed, row, stream, counter, out, n);
}
inline const char* ParamsJson(LoupeHost* host) { return Call(host)->params_text.c_str(); }

inline LoupeStatus DatasetInfo(LoupeHost* host, LoupeDatasetInfo* out) {
  MockCall* call = Call(host);
  *out = LoupeDatasetInfo{};
  out->struct_size = sizeof(LoupeDatasetInfo);
  out->n_rows = call->dataset->rows();
  out->n_features = call->dataset->cols();
  out->features = call->feature_infos.data();
  out->target = call->dataset->target.empty() ? nullptr : call->dataset->target.c_str();
  out->positive_label =
      call->dataset->positive_label.empty() ? nullptr : call->dataset->positive_label.c_str();
  out->sensitive = call->sensitive.data();
  out->n_sensitive = static_cast<std::int64_t>(call->sensitive.size());
  return LOUPE_OK;
}

inline LoupeTensorView ReadOnlyView(const double* data, std::int32_t ndim, const std::int64_t* shape) {
  LoupeTensorView view{};
  view.struct_size = sizeof(view);
  view.dtype = LOUPE_DTYPE_F64;
  view.ndim = ndim;
  view.read_only = 1;
  view.data = const_cast<double*>(data);
  view.shape = shape;
  return view;
}

inline LoupeStatus DatasetFeatures(LoupeHost* host, LoupeTensorView* out) {
  MockCall* call = Call(host);
  *out = ReadOnlyView(call->matrix.data(), 2, call->matrix_shape);
  return LOUPE_OK;
}

inline LoupeStatus DatasetColumn(LoupeHost* host, const char* name, LoupeColumnInfo* info,
                                 LoupeTensorView* values) {
  MockCall* call = Call(host);
  const std::string wanted = name != nullptr ? name : "";
  for (std::size_t i = 0; i < call->dataset->features.size(); ++i) {
    if (call->dataset->features[i].name != wanted) continue;
    *info = call->feature_infos[i];
    *values = ReadOnlyView(call->dataset->features[i].values.data(), 1, call->column_shape);
    return LOUPE_OK;
  }
  for (std::size_t i = 0; i < call->dataset->others.size(); ++i) {
    if (call->dataset->others[i].name != wanted) continue;
    *info = call->other_infos[i];
    *values = ReadOnlyView(call->dataset->others[i].values.data(), 1, call->column_shape);
    return LOUPE_OK;
  }
  return Fail(call, LOUPE_ERROR_NOT_FOUND, "the data has no column named '" + wanted + "'");
}

inline LoupeStatus StepRows(LoupeHost* host, const std::int64_t** rows, std::int64_t* n) {
  const MockCall* call = Call(host);
  *rows = call->options->rows.data();
  *n = static_cast<std::int64_t>(call->options->rows.size());
  return LOUPE_OK;
}

inline LoupeStatus ResolveRows(LoupeHost* host, const char* selection_json, std::uint64_t stream,
                               const std::int64_t** rows, std::int64_t* n) {
  MockCall* call = Call(host);
  const nlohmann::json selection =
      nlohmann::json::parse(selection_json ? selection_json : "", nullptr, false);
  std::vector<std::int64_t> resolved;
  const std::string error = selection.is_discarded() ? std::string("row selection is not valid JSON")
                                                     : SelectRows(selection, call->dataset->rows(),
                                                                  call->options->seed, stream, &resolved);
  if (!error.empty()) return Fail(call, LOUPE_ERROR_INVALID_ARGUMENT, error);
  const std::vector<std::int64_t>* kept = KeepRows(call, std::move(resolved));
  *rows = kept->data();
  *n = static_cast<std::int64_t>(kept->size());
  return LOUPE_OK;
}

inline LoupeStatus ModelInfo(LoupeHost* host, LoupeModelInfo* out) {
  const MockCall* call = Call(host);
  const MockModel& model = *call->model;
  const bool classifier = model.task == LOUPE_TASK_CLASSIFICATION;
  *out = LoupeModelInfo{};
  out->struct_size = sizeof(LoupeModelInfo);
  out->task = model.task;
  out->default_space = classifier ? LOUPE_OUTPUT_PROBABILITY : LOUPE_OUTPUT_RAW;
  out->n_outputs = static_cast<std::int64_t>(call->outputs.size());
  out->output_names = call->outputs.data();
  out->n_raw_outputs = static_cast<std::int64_t>(call->raw_outputs.size());
  out->raw_output_names = call->raw_outputs.data();
  out->name = model.name.c_str();
  return LOUPE_OK;
}

inline void CountBatch(MockCall* call, std::int64_t n) {
  ++call->predict_calls;
  call->predict_rows += n;
  std::int64_t seen = call->max_batch_rows.load();
  while (n > seen && !call->max_batch_rows.compare_exchange_weak(seen, n)) {
  }
}

inline LoupeStatus ModelPredict(LoupeHost* host, const LoupeTensorView* inputs, LoupeOutputSpace space,
                                double* outputs, std::int64_t capacity) {
  MockCall* call = Call(host);
  const MockModel& model = *call->model;
  const bool classifier = model.task == LOUPE_TASK_CLASSIFICATION;
  if (space == LOUPE_OUTPUT_PROBABILITY && !classifier) {
    return Fail(call, LOUPE_ERROR_UNSUPPORTED,
                "model '" + model.name + "' is a regressor and has no probabilities");
  }
  const bool raw = space == LOUPE_OUTPUT_RAW && classifier;
  const PredictFn& predict = raw ? model.predict_raw : model.predict;
  if (!predict)
    return Fail(call, LOUPE_ERROR_UNSUPPORTED, "mock model '" + model.name + "' has no raw outputs");
  const auto n_outputs = static_cast<std::int64_t>(model.Outputs(space).size());
  std::string error = CheckBatch(*call, *inputs, n_outputs, capacity);
  if (!error.empty()) return Fail(call, LOUPE_ERROR_INVALID_ARGUMENT, error);
  const std::int64_t n = inputs->shape[0];
  const std::int64_t cols = inputs->shape[1];
  // A contiguous copy: handles strided inputs, and a model that writes into its input cannot corrupt the
  // explainer's batch.
  const std::int64_t row_stride = inputs->strides != nullptr ? inputs->strides[0] : cols;
  const std::int64_t col_stride = inputs->strides != nullptr ? inputs->strides[1] : 1;
  const auto* source = static_cast<const double*>(inputs->data);
  std::vector<double> rows(static_cast<std::size_t>(n * cols));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < cols; ++j)
      rows[static_cast<std::size_t>(i * cols + j)] = source[i * row_stride + j * col_stride];
  }
  error = CheckCodes(*call->dataset, rows, n);
  if (!error.empty()) return Fail(call, LOUPE_ERROR_MODEL, error);
  CountBatch(call, n);
  predict(rows.data(), n, outputs);
  return LOUPE_OK;
}

// A contiguous [n, cols] copy of a view (the rows a capability is given), or the sentence why not.
inline std::string CopyRows(const LoupeTensorView* view, std::int64_t cols, std::vector<double>* rows) {
  if (view == nullptr || view->dtype != LOUPE_DTYPE_F64 || view->ndim != 2 || view->shape[1] != cols)
    return "expected an f64 [n, " + std::to_string(cols) + "] batch";
  const std::int64_t n = view->shape[0];
  const std::int64_t row_stride = view->strides != nullptr ? view->strides[0] : cols;
  const std::int64_t col_stride = view->strides != nullptr ? view->strides[1] : 1;
  const auto* source = static_cast<const double*>(view->data);
  rows->assign(static_cast<std::size_t>(n * cols), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < cols; ++j)
      (*rows)[static_cast<std::size_t>(i * cols + j)] = source[i * row_stride + j * col_stride];
  }
  return "";
}

// LoupeGradientModel::gradient and ::deeplift of the mock: the host's checks, then the test's functions.
inline LoupeStatus GradientCall(LoupeHost* host, const LoupeTensorView* inputs,
                                const LoupeTensorView* references, LoupeOutputSpace space,
                                const double* weights, double* out, std::int64_t capacity) {
  MockCall* call = Call(host);
  const MockModel& model = *call->model;
  if (space == LOUPE_OUTPUT_PROBABILITY && model.task != LOUPE_TASK_CLASSIFICATION)
    return Fail(call, LOUPE_ERROR_INVALID_ARGUMENT, "model '" + model.name + "' is a regressor");
  if (references != nullptr && !model.deeplift) {
    return Fail(call, LOUPE_ERROR_UNSUPPORTED,
                "mock model '" + model.name + "' does not define DeepLIFT's rescale rule for its layers.");
  }
  const std::int64_t cols = call->dataset->cols();
  std::vector<double> rows, reference_rows;
  std::string error = CopyRows(inputs, cols, &rows);
  if (error.empty() && references != nullptr) error = CopyRows(references, cols, &reference_rows);
  const std::int64_t n = error.empty() ? inputs->shape[0] : 0;
  if (error.empty() && references != nullptr && references->shape[0] != n)
    error = "the references have another row count than the rows";
  if (error.empty() && (weights == nullptr || out == nullptr || capacity < n * cols))
    error = "a gradient call needs the output weights and room for n * n_features values";
  if (!error.empty()) return Fail(call, LOUPE_ERROR_INVALID_ARGUMENT, "gradient: " + error + ".");
  CountBatch(call, n);
  if (references != nullptr) {
    model.deeplift(rows.data(), reference_rows.data(), n, space, weights, out);
  } else {
    model.gradient(rows.data(), n, space, weights, out);
  }
  return LOUPE_OK;
}
inline LoupeStatus MockGradient(LoupeHost* host, const LoupeTensorView* inputs, LoupeOutputSpace space,
                                const double* weights, double* out, std::int64_t capacity) {
  return GradientCall(host, inputs, nullptr, space, weights, out, capacity);
}
inline LoupeStatus MockDeepLift(LoupeHost* host, const LoupeTensorView* inputs,
                                const LoupeTensorView* references, LoupeOutputSpace space,
                                const double* weights, double* out, std::int64_t capacity) {
  return GradientCall(host, inputs, references, space, weights, out, capacity);
}
// The mock's C form of "gradient", with and without DeepLIFT (NULL before v1.3, which added it).
inline const void* MockGradientModel(bool has_deeplift) {
#if LOUPE_PLUGIN_ABI_MINOR >= 3
  static const LoupeGradientModel with{sizeof(LoupeGradientModel), 1, &MockGradient, &MockDeepLift};
  static const LoupeGradientModel without{sizeof(LoupeGradientModel), 0, &MockGradient, &MockDeepLift};
  return has_deeplift ? &with : &without;
#else
  (void)has_deeplift;
  return nullptr;
#endif
}

#if LOUPE_PLUGIN_ABI_MINOR >= 5
// LoupeTextGradient::embed_rows of the mock: each row's MockTokenEmbeddings handed to the sink.
inline LoupeStatus MockEmbedRows(LoupeHost* host, const std::int64_t* rows, std::int64_t n_rows,
                                 LoupeTokenEmbeddingsSink sink, void* sink_ctx) {
  MockCall* call = Call(host);
  const MockTextGradient& model = call->model->text_gradient;
  if (n_rows < 0 || (n_rows > 0 && (rows == nullptr || sink == nullptr)))
    return Fail(call, LOUPE_ERROR_INVALID_ARGUMENT,
                "embed_rows needs a non-negative row count, the rows and a sink.");
  for (std::int64_t i = 0; i < n_rows; ++i) {
    const MockTokenEmbeddings e = model.embed(rows[i]);
    const auto T = static_cast<std::int64_t>(e.tokens.size());
    if (static_cast<std::int64_t>(e.word_index.size()) != T ||
        static_cast<std::int64_t>(e.embeddings.size()) != T * model.width) {
      return Fail(call, LOUPE_ERROR_INTERNAL,
                  "mock embed of row " + std::to_string(rows[i]) +
                      " gave word indices or embeddings of the wrong size.");
    }
    std::vector<const char*> tokens, words;
    for (const std::string& token : e.tokens) tokens.push_back(token.c_str());
    for (const std::string& word : e.words) words.push_back(word.c_str());
    const LoupeStatus status = sink(sink_ctx, i, rows[i], tokens.data(), e.word_index.data(), T, words.data(),
                                    static_cast<std::int64_t>(words.size()), e.embeddings.data());
    if (status != LOUPE_OK) return status;
  }
  return LOUPE_OK;
}
// LoupeTextGradient::layer_gradient of the mock: the host's checks, then the test's function.
inline LoupeStatus MockLayerGradient(LoupeHost* host, const float* values, std::int64_t n, std::int64_t t,
                                     const std::int64_t* lengths, LoupeOutputSpace space,
                                     const double* weights, float* gradients, double* outputs,
                                     std::int64_t capacity) {
  MockCall* call = Call(host);
  const MockModel& model = *call->model;
  if (space == LOUPE_OUTPUT_PROBABILITY && model.task != LOUPE_TASK_CLASSIFICATION)
    return Fail(call, LOUPE_ERROR_INVALID_ARGUMENT, "model '" + model.name + "' is a regressor");
  const std::int64_t cells = n * t * model.text_gradient.width;
  if (n < 0 || t < 1 || cells > capacity ||
      (n > 0 && (values == nullptr || lengths == nullptr || weights == nullptr || gradients == nullptr))) {
    return Fail(call, LOUPE_ERROR_INVALID_ARGUMENT,
                "layer_gradient needs the values, lengths and output weights of " + std::to_string(n) +
                    " rows and room for " + std::to_string(std::max<std::int64_t>(cells, 0)) + " gradients.");
  }
  for (std::int64_t r = 0; r < n; ++r) {
    if (lengths[r] < 1 || lengths[r] > t)
      return Fail(call, LOUPE_ERROR_INVALID_ARGUMENT,
                  "row " + std::to_string(r) + " has length " + std::to_string(lengths[r]) +
                      ", expected 1 to " + std::to_string(t) + ".");
  }
  CountBatch(call, n);
  model.text_gradient.layer_gradient(values, n, t, lengths, space, weights, gradients, outputs);
  return LOUPE_OK;
}
#endif
#if LOUPE_PLUGIN_ABI_MINOR >= 6
// LoupeTextGradient::pad_embeddings of the mock: pad_embedding at every position.
inline LoupeStatus MockPadEmbeddings(LoupeHost* host, std::int64_t n_tokens, float* out,
                                     std::int64_t capacity) {
  MockCall* call = Call(host);
  const MockTextGradient& model = call->model->text_gradient;
  if (model.pad_embedding.empty())
    return Fail(call, LOUPE_ERROR_INVALID_ARGUMENT,
                "model '" + call->model->name + "' has no padding token.");
  if (n_tokens < 1 || out == nullptr || n_tokens * model.width > capacity)
    return Fail(call, LOUPE_ERROR_INVALID_ARGUMENT,
                "pad_embeddings needs at least one token and room for them.");
  for (std::int64_t s = 0; s < n_tokens; ++s)
    std::copy(model.pad_embedding.begin(), model.pad_embedding.end(), out + s * model.width);
  return LOUPE_OK;
}
#endif
// The mock's C form of "text_gradient" for `call` (left zero before v1.5 or without `embed`).
inline void DescribeMockTextGradient(MockCall& call) {
#if LOUPE_PLUGIN_ABI_MINOR >= 5
  const MockTextGradient& model = call.model->text_gradient;
  if (!model.embed) return;
  call.text_gradient.struct_size = sizeof(LoupeTextGradient);
  call.text_gradient.width = model.width;
  call.text_gradient.pad_embedding = model.pad_embedding.empty() ? nullptr : model.pad_embedding.data();
  call.text_gradient.layer_name = model.layer_name.c_str();
  call.text_gradient.embed_rows = &MockEmbedRows;
  call.text_gradient.layer_gradient = &MockLayerGradient;
#if LOUPE_PLUGIN_ABI_MINOR >= 6
  call.text_gradient.pad_embeddings = &MockPadEmbeddings;
#endif
#else
  (void)call;
#endif
}

inline std::int32_t HasCapability(LoupeHost* host, const char* capability) {
  const MockModel& model = *Call(host)->model;
  if (capability != nullptr && model.gradient && std::string(capability) == "gradient") return 1;
  if (capability != nullptr && model.text_gradient.embed && std::string(capability) == "text_gradient")
    return 1;
  const auto& caps = model.capabilities;
  return capability != nullptr && std::find(caps.begin(), caps.end(), capability) != caps.end() ? 1 : 0;
}
inline const void* Capability(LoupeHost* host, const char* capability, std::uint32_t version) {
  if (capability == nullptr || HasCapability(host, capability) == 0) return nullptr;
  if (!sdk::detail::CapabilityVersionSupported(capability, version)) return nullptr;
  const MockModel& model = *Call(host)->model;
  if (model.gradient && std::string(capability) == "gradient")
    return MockGradientModel(static_cast<bool>(model.deeplift));
#if LOUPE_PLUGIN_ABI_MINOR >= 5
  if (model.text_gradient.embed && std::string(capability) == "text_gradient")
    return &Call(host)->text_gradient;
#endif
  const auto& structs = Call(host)->model->capability_structs;
  const auto found = structs.find(capability);
  return found != structs.end() ? found->second : nullptr;
}

inline std::int64_t InputCount(LoupeHost* host) {
  return static_cast<std::int64_t>(Call(host)->options->inputs.size());
}
inline const MockInput* InputAt(LoupeHost* host, std::int64_t index) {
  const auto& inputs = Call(host)->options->inputs;
  return index >= 0 && index < static_cast<std::int64_t>(inputs.size())
             ? &inputs[static_cast<std::size_t>(index)]
             : nullptr;
}
inline const char* InputStep(LoupeHost* host, std::int64_t index) {
  const MockInput* input = InputAt(host, index);
  return input != nullptr ? input->step.c_str() : nullptr;
}
inline const char* InputKind(LoupeHost* host, std::int64_t index) {
  const MockInput* input = InputAt(host, index);
  return input != nullptr ? input->kind.c_str() : nullptr;
}
inline const char* InputJson(LoupeHost* host, std::int64_t index) {
  return InputAt(host, index) != nullptr ? Call(host)->input_texts[static_cast<std::size_t>(index)].c_str()
                                         : nullptr;
}
inline LoupeStatus InputArray(LoupeHost* host, std::int64_t index, const char* path, LoupeTensorView* out) {
  MockCall* call = Call(host);
  const MockInput* input = InputAt(host, index);
  if (input == nullptr)
    return Fail(call, LOUPE_ERROR_NOT_FOUND, "input " + std::to_string(index) + " does not exist");
  const std::string field = path != nullptr ? path : "";
  const nlohmann::json* node = sdk::detail::FindDottedPath(input->explanation, field);
  if (node == nullptr) {
    return Fail(call, LOUPE_ERROR_NOT_FOUND, "input '" + input->step + "' has no field '" + field + "'");
  }
  std::pair<std::vector<std::int64_t>, std::vector<double>> array;
  if (!sdk::detail::FlattenNumeric(*node, 0, array.second, array.first)) {
    return Fail(call, LOUPE_ERROR_INVALID_ARGUMENT,
                "field '" + field + "' of input '" + input->step + "' is not a rectangular numeric array");
  }
  std::lock_guard<std::mutex> lock(call->mutex);
  call->arrays.push_back(std::move(array));
  *out = ReadOnlyView(call->arrays.back().second.data(),
                      static_cast<std::int32_t>(call->arrays.back().first.size()),
                      call->arrays.back().first.data());
  return LOUPE_OK;
}

// Drops the entries a value set at `path` replaces: at `path`, under it, or above it.
template <typename Value>
void ForgetReplaced(std::map<std::string, Value>& by_path, const std::string& path) {
  const std::string below = path + ".";
  for (auto it = by_path.begin(); it != by_path.end();) {
    const bool replaced = it->first == path || it->first.compare(0, below.size(), below) == 0 ||
                          below.compare(0, it->first.size() + 1, it->first + ".") == 0;
    it = replaced ? by_path.erase(it) : std::next(it);
  }
}

inline LoupeStatus Store(LoupeResultBuilder* result, const char* path, nlohmann::json value) {
  MockCall* call = Call(result);
  if (path == nullptr || *path == '\0') return LOUPE_ERROR_INVALID_ARGUMENT;
  std::lock_guard<std::mutex> lock(call->mutex);
  sdk::detail::SetDottedPath(call->result, path, std::move(value));
  ForgetReplaced(call->text_shapes, path);
  ForgetReplaced(call->new_tensor_views, path);
  return LOUPE_OK;
}
inline LoupeStatus SetNumber(LoupeResultBuilder* result, const char* path, double value) {
  return Store(result, path, sdk::detail::NumberOrNull(value));
}
inline LoupeStatus SetString(LoupeResultBuilder* result, const char* path, const char* value) {
  if (value == nullptr) return LOUPE_ERROR_INVALID_ARGUMENT;
  return Store(result, path, value);
}
inline LoupeStatus SetStrings(LoupeResultBuilder* result, const char* path, const char* const* values,
                              std::int64_t n) {
  nlohmann::json array = nlohmann::json::array();
  for (std::int64_t i = 0; i < n; ++i) {
    if (values[i] == nullptr) return LOUPE_ERROR_INVALID_ARGUMENT;
    array.push_back(values[i]);
  }
  return Store(result, path, std::move(array));
}
inline LoupeStatus SetTensor(LoupeResultBuilder* result, const char* path, const LoupeTensorView* value) {
  if (!sdk::detail::IsStorableTensor(value)) return LOUPE_ERROR_INVALID_ARGUMENT;
  return Store(result, path, sdk::detail::TensorToJson(*value));
}
inline LoupeStatus SetJson(LoupeResultBuilder* result, const char* path, const char* json) {
  nlohmann::json value = nlohmann::json::parse(json != nullptr ? json : "", nullptr, false);
  if (value.is_discarded()) return LOUPE_ERROR_INVALID_ARGUMENT;
  return Store(result, path, std::move(value));
}

// Cells laid out as result_set_text_array takes them, as nested JSON arrays of strings of `shape`.
inline nlohmann::json NestedStrings(const std::vector<std::int64_t>& shape, const char* chars,
                                    const std::uint64_t* ends, std::int64_t cells) {
  std::vector<nlohmann::json> level;  // built from the innermost axis out
  for (std::int64_t i = 0; i < cells; ++i) {
    const std::uint64_t begin = i == 0 ? 0 : ends[i - 1];
    level.emplace_back(std::string(chars + begin, ends[i] - begin));
  }
  for (std::size_t d = shape.size(); d-- > 0;) {
    std::vector<nlohmann::json> outer;
    std::int64_t groups = 1;  // the arrays axis d makes: one per index of the axes before it
    for (std::size_t before = 0; before < d; ++before) groups *= shape[before];
    for (std::int64_t g = 0; g < groups; ++g) {
      nlohmann::json array = nlohmann::json::array();
      for (std::int64_t i = 0; i < shape[d]; ++i)
        array.push_back(std::move(level[static_cast<std::size_t>(g * shape[d] + i)]));
      outer.push_back(std::move(array));
    }
    level = std::move(outer);
  }
  return std::move(level.front());
}

inline LoupeStatus SetTextArray(LoupeResultBuilder* result, const char* path, std::int32_t ndim,
                                const std::int64_t* shape, const char* chars, const std::uint64_t* ends) {
  const std::int64_t cells = sdk::detail::TextArrayCells(ndim, shape, chars, ends);
  if (cells < 0) return LOUPE_ERROR_INVALID_ARGUMENT;
  std::vector<std::int64_t> extents(shape, shape + ndim);
  const LoupeStatus status = Store(result, path, NestedStrings(extents, chars, ends, cells));
  if (status != LOUPE_OK) return status;
  MockCall* call = Call(result);
  std::lock_guard<std::mutex> lock(call->mutex);
  call->text_shapes[path] = std::move(extents);
  return LOUPE_OK;
}

inline LoupeStatus AppendTextRows(LoupeResultBuilder* result, const char* path, std::int64_t n_rows,
                                  const char* chars, const std::uint64_t* ends) {
  MockCall* call = Call(result);
  if (path == nullptr || n_rows < 0) return LOUPE_ERROR_INVALID_ARGUMENT;
  std::lock_guard<std::mutex> lock(call->mutex);
  const auto known = call->text_shapes.find(path);
  if (known == call->text_shapes.end()) return LOUPE_ERROR_NOT_FOUND;
  std::vector<std::int64_t> block = known->second;
  block[0] = n_rows;
  std::int64_t cells = 1;
  for (const std::int64_t extent : block) cells *= extent;
  if (!sdk::detail::AreTextCells(cells, chars, ends)) return LOUPE_ERROR_INVALID_ARGUMENT;
  nlohmann::json* array = &call->result;
  std::string_view rest = path;
  while (true) {  // the array Store put at the dotted path
    const std::size_t dot = rest.find('.');
    array = &(*array)[std::string(rest.substr(0, dot))];
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  for (auto& row : NestedStrings(block, chars, ends, cells)) array->push_back(std::move(row));
  known->second[0] += n_rows;
  return LOUPE_OK;
}

inline LoupeStatus NewTensor(LoupeResultBuilder* result, const char* path, LoupeDType dtype,
                             std::int32_t ndim, const std::int64_t* shape, void** data) {
  if (!sdk::detail::IsNewTensorRequest(dtype, ndim, shape, data)) return LOUPE_ERROR_INVALID_ARGUMENT;
  std::vector<std::int64_t> extents(shape, shape + ndim);
  std::int64_t elements = 1;
  for (const std::int64_t extent : extents) elements *= extent;
  const std::size_t bytes =
      static_cast<std::size_t>(elements) * (dtype == LOUPE_DTYPE_F64 || dtype == LOUPE_DTYPE_I64 ? 8
                                            : dtype == LOUPE_DTYPE_U8                            ? 1
                                                                                                 : 4);
  const LoupeStatus status = Store(result, path, nullptr);  // replaces what was there, as the host does
  if (status != LOUPE_OK) return status;
  MockCall* call = Call(result);
  std::lock_guard<std::mutex> lock(call->mutex);
  std::vector<double>& buffer = call->new_tensor_buffers.emplace_back((bytes + 7) / 8, 0.0);
  LoupeTensorView view{};
  view.struct_size = sizeof(view);
  view.dtype = dtype;
  view.ndim = ndim;
  view.data = buffer.data();
  auto& entry = call->new_tensor_views[path] = {view, std::move(extents)};
  entry.first.shape = entry.second.data();
  *data = elements > 0 ? buffer.data() : nullptr;
  return LOUPE_OK;
}

// The tensors result_new_tensor made, written into the JSON result once the plugin is done with them.
inline void MaterializeNewTensors(MockCall& call) {
  for (const auto& [path, entry] : call.new_tensor_views)
    sdk::detail::SetDottedPath(call.result, path, sdk::detail::TensorToJson(entry.first));
  call.new_tensor_views.clear();
}

inline const LoupeHostApi& Api() {
  static const LoupeHostApi api = [] {
    LoupeHostApi table{};
    table.struct_size = sizeof(LoupeHostApi);
    table.abi_major = LOUPE_PLUGIN_ABI_MAJOR;
    table.abi_minor = LOUPE_PLUGIN_ABI_MINOR;
    table.set_error = &SetError;
    table.log = &Log;
    table.report_progress = &ReportProgress;
    table.is_cancelled = &IsCancelled;
    table.parallel_for = &ParallelFor;
    table.seed = &Seed;
    table.random_u64 = &RandomU64;
    table.params_json = &ParamsJson;
    table.dataset_info = &DatasetInfo;
    table.dataset_features = &DatasetFeatures;
    table.dataset_column = &DatasetColumn;
    table.step_rows = &StepRows;
    table.resolve_rows = &ResolveRows;
    table.model_info = &ModelInfo;
    table.model_predict = &ModelPredict;
    table.model_has_capability = &HasCapability;
    table.model_capability = &Capability;
    table.input_count = &InputCount;
    table.input_step = &InputStep;
    table.input_kind = &InputKind;
    table.input_json = &InputJson;
    table.input_array = &InputArray;
    table.result_set_number = &SetNumber;
    table.result_set_string = &SetString;
    table.result_set_strings = &SetStrings;
    table.result_set_tensor = &SetTensor;
    table.result_set_json = &SetJson;
#if LOUPE_PLUGIN_ABI_MINOR >= 2
    table.result_set_text_array = &SetTextArray;
    table.result_append_text_rows = &AppendTextRows;
    table.result_new_tensor = &NewTensor;
#endif
    return table;
  }();
  return api;
}

}  // namespace detail

// Validates `params` against an explainer's spec like the host does and fills in defaults. Returns an
// empty string and the canonical object in `out`, or the sentence naming the first bad parameter.
inline std::string CanonicalParams(const LoupeExplainerVTable& explainer, const nlohmann::json& params,
                                   nlohmann::json* out) {
  if (!params.is_object()) return "params must be an object, found " + params.dump();
  std::set<std::string> known;
  *out = nlohmann::json::object();
  for (std::int64_t i = 0; i < explainer.n_params; ++i) {
    const LoupeParamSpec& spec = explainer.params[i];
    known.insert(spec.name);
    if (params.contains(spec.name) && !params[spec.name].is_null()) {
      const std::string error = CheckParamValue(spec, params[spec.name]);
      if (!error.empty()) return error;
      (*out)[spec.name] = params[spec.name];
    } else if (spec.required) {
      return std::string("parameter '") + spec.name + "' is required by " + explainer.name +
             " but was not given";
    } else if (spec.default_json != nullptr) {
      (*out)[spec.name] = nlohmann::json::parse(spec.default_json, nullptr, false);
    }
  }
  for (const auto& item : params.items()) {
    if (known.count(item.key()) == 0) {
      return "unknown parameter '" + item.key() + "' for " + std::string(explainer.name);
    }
  }
  return "";
}

// Runs explainers against one in-memory dataset and model.
class MockHost {
 public:
  MockHost(MockDataset dataset, MockModel model) : dataset_(std::move(dataset)), model_(std::move(model)) {}

  const MockDataset& dataset() const { return dataset_; }
  const MockModel& model() const { return model_; }
  // The LoupeHostApi table of the mock (the same for every run).
  static const LoupeHostApi* Api() { return &detail::Api(); }

  // create() with the canonical params, then explain(), then destroy(). Thread-safe.
  MockRunResult Run(const LoupeExplainerVTable& explainer, const MockRunOptions& options) const {
    MockRunResult run;
    nlohmann::json canonical;
    const std::string rejection = CanonicalParams(explainer, options.params, &canonical);
    if (!rejection.empty()) {
      run.status = LOUPE_ERROR_INVALID_ARGUMENT;
      run.error = rejection;
      run.rejected_by_host = true;
      run.failed_in = "params";
      return run;
    }
    run.params = canonical;
    auto call = Prepare(options, canonical.dump());
    LoupeHost* host = reinterpret_cast<LoupeHost*>(call.get());
    LoupeExplainerInstance* instance = nullptr;
    run.status = explainer.create(Api(), host, &instance);
    if (run.status == LOUPE_OK && instance == nullptr) {  // refused like the real host does
      run.status =
          detail::Fail(call.get(), LOUPE_ERROR_INTERNAL,
                       std::string("explainer '") + (explainer.name != nullptr ? explainer.name : "") +
                           "' returned no instance from create.");
    }
    run.failed_in = run.status != LOUPE_OK ? "create" : "";
    if (run.status == LOUPE_OK) {
      run.status =
          explainer.explain(instance, Api(), host, reinterpret_cast<LoupeResultBuilder*>(call.get()));
      run.failed_in = run.status != LOUPE_OK ? "explain" : "";
      explainer.destroy(instance);
    }
    Collect(*call, &run);
    return run;
  }

 private:
  std::unique_ptr<detail::MockCall> Prepare(const MockRunOptions& options, std::string params_text) const {
    auto call = std::make_unique<detail::MockCall>();
    call->dataset = &dataset_;
    call->model = &model_;
    call->options = &options;
    call->params_text = std::move(params_text);
    const std::int64_t rows = dataset_.rows(), cols = dataset_.cols();
    call->matrix.resize(static_cast<std::size_t>(rows * cols));
    for (std::int64_t j = 0; j < cols; ++j) {
      for (std::int64_t i = 0; i < rows; ++i) {
        call->matrix[static_cast<std::size_t>(i * cols + j)] =
            dataset_.features[j].values[static_cast<std::size_t>(i)];
      }
    }
    call->matrix_shape[0] = rows;
    call->matrix_shape[1] = cols;
    call->column_shape[0] = rows;
    call->level_pointers.resize(dataset_.features.size() + dataset_.others.size());
    std::size_t slot = 0;
    for (const auto& column : dataset_.features) {
      call->feature_infos.push_back(detail::ColumnInfo(column, &call->level_pointers[slot++]));
    }
    for (const auto& column : dataset_.others) {
      call->other_infos.push_back(detail::ColumnInfo(column, &call->level_pointers[slot++]));
    }
    for (const auto& name : dataset_.sensitive) call->sensitive.push_back(name.c_str());
    for (const auto& name : model_.output_names) call->outputs.push_back(name.c_str());
    const auto& raw =
        model_.task == LOUPE_TASK_CLASSIFICATION ? model_.raw_output_names : model_.output_names;
    for (const auto& name : raw) call->raw_outputs.push_back(name.c_str());
    for (const auto& input : options.inputs) call->input_texts.push_back(input.explanation.dump());
    detail::DescribeMockTextGradient(*call);
    return call;
  }

  static void Collect(detail::MockCall& call, MockRunResult* run) {
    detail::MaterializeNewTensors(call);
    run->json = std::move(call.result);
    run->logs = std::move(call.logs);
    if (run->status != LOUPE_OK) run->error = call.error;
    run->predict_calls = call.predict_calls.load();
    run->predict_rows = call.predict_rows.load();
    run->max_batch_rows = call.max_batch_rows.load();
    run->progress_reports = call.progress_reports.load();
  }

  MockDataset dataset_;
  MockModel model_;
};

}  // namespace loupe::testing
