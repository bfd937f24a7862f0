// loupe::sdk::Host — the C++ view of the host (LoupeHostApi + LoupeHost*) during one create/explain call.
//
// An explainer receives a Host in its constructor (create) and in Explain(). Everything it returns is a
// C++ value or a view valid until that call returns. Failures of host calls throw loupe::sdk::Error with a
// sentence naming the call, so explainer code reads straight through:
//
//   const loupe::sdk::DatasetInfo data = host.Dataset();
//   const loupe::sdk::Matrix x = host.Features();
//   std::vector<double> y = host.Predict(batch.data(), n, LOUPE_OUTPUT_DEFAULT);
//   host.ParallelFor(0, n, 4096, [&](std::int64_t begin, std::int64_t end) { ... });
//
// Thread safety: Log, Progress, Cancelled, Rng, RandomU64, Predict, Features and Dataset may be called from
// ParallelFor bodies; everything is const.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/sdk/error.hpp"
#include "loupe/sdk/params.hpp"
#include "loupe/sdk/random.hpp"

namespace loupe::sdk {

// One column of the data (a pipeline feature, or any column fetched with Host::Column).
struct FeatureInfo {
  std::string name;
  LoupeFeatureType type = LOUPE_FEATURE_NUMERIC;
  std::vector<std::string> levels;  // categorical: level names indexed by code
  std::int64_t n_missing = 0;

  bool IsCategorical() const { return type == LOUPE_FEATURE_CATEGORICAL; }
  bool IsNumeric() const { return type == LOUPE_FEATURE_NUMERIC; }
};

// The dataset a step works on (LoupeDatasetInfo as C++ values).
struct DatasetInfo {
  std::int64_t n_rows = 0;
  std::vector<FeatureInfo> features;  // in the column order of Host::Features()
  std::string target;                 // empty when the data has no target
  std::string positive_label;         // empty when the pipeline sets none
  std::vector<std::string> sensitive;

  std::int64_t n_features() const { return static_cast<std::int64_t>(features.size()); }
  std::vector<std::string> FeatureNames() const {
    std::vector<std::string> names;
    for (const auto& feature : features) names.push_back(feature.name);
    return names;
  }
  // Index of the feature called `name`, or -1.
  std::int64_t FeatureIndex(const std::string& name) const {
    for (std::size_t i = 0; i < features.size(); ++i) {
      if (features[i].name == name) return static_cast<std::int64_t>(i);
    }
    return -1;
  }
};

// A read-only, row-major f64 matrix. Either a zero-copy view of host memory (valid until the current
// create/explain call returns) or, when the host's view is strided, an owned contiguous copy.
class Matrix {
 public:
  Matrix() = default;
  Matrix(const double* data, std::int64_t rows, std::int64_t cols) : data_(data), rows_(rows), cols_(cols) {}
  Matrix(std::vector<double> owned, std::int64_t rows, std::int64_t cols)
      : owned_(std::move(owned)), data_(owned_.data()), rows_(rows), cols_(cols) {}
  Matrix(const Matrix& other) { *this = other; }
  Matrix& operator=(const Matrix& other) {
    owned_ = other.owned_;
    data_ = owned_.empty() ? other.data_ : owned_.data();
    rows_ = other.rows_;
    cols_ = other.cols_;
    return *this;
  }

  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  const double* data() const { return data_; }
  // Pointer to the first element of row `row`.
  const double* Row(std::int64_t row) const { return data_ + row * cols_; }
  double operator()(std::int64_t row, std::int64_t col) const { return data_[row * cols_ + col]; }

 private:
  std::vector<double> owned_;
  const double* data_ = nullptr;
  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
};

// Any column of the data file, fetched by name.
struct Column {
  FeatureInfo info;
  std::vector<double> values;  // one per data row; categorical as level codes, missing as NaN
};

// A column of the data file read in place (Host::ColumnView): `values` points into the host's data and
// stays valid until the explainer's Explain call returns.
struct ColumnView {
  FeatureInfo info;
  const double* values = nullptr;  // `size` values, as Column::values
  std::size_t size = 0;
  std::shared_ptr<const std::vector<double>> copy;  // holds the values when the host's view was strided
};

// The model (LoupeModelInfo as C++ values).
struct ModelInfo {
  LoupeTask task = LOUPE_TASK_REGRESSION;
  LoupeOutputSpace default_space = LOUPE_OUTPUT_RAW;
  std::vector<std::string> output_names;      // the default space's outputs
  std::vector<std::string> raw_output_names;  // the raw space's outputs
  std::string name;

  bool IsClassifier() const { return task == LOUPE_TASK_CLASSIFICATION; }
  // Output names of `space` (LOUPE_OUTPUT_DEFAULT and the default space give output_names).
  const std::vector<std::string>& OutputNames(LoupeOutputSpace space) const {
    return space == LOUPE_OUTPUT_RAW && default_space != LOUPE_OUTPUT_RAW ? raw_output_names : output_names;
  }
};

// An explanation of a step this step `needs`.
struct InputExplanation {
  std::string step;
  std::string kind;
  nlohmann::json json;  // the whole loupe.explanation/v1 document
};

// A numeric field of an input explanation as a contiguous f64 array.
struct InputArray {
  std::vector<std::int64_t> shape;
  std::vector<double> values;
};

namespace detail {
// Whether a host tensor view is row-major without gaps (no strides, or the strides of that layout).
inline bool IsContiguous(const LoupeTensorView& view) {
  if (view.strides == nullptr) return true;
  std::int64_t stride = 1;
  for (std::int64_t d = view.ndim; d-- > 0;) {
    if (view.shape[d] > 1 && view.strides[d] != stride) return false;
    stride *= view.shape[d];
  }
  return true;
}

// Copies a host tensor view (f64, any strides) into a contiguous row-major vector.
inline std::vector<double> CopyTensor(const LoupeTensorView& view, std::vector<std::int64_t>* shape_out) {
  if (view.dtype != LOUPE_DTYPE_F64) throw Internal("the host returned a tensor that is not f64");
  std::vector<std::int64_t> shape(view.shape, view.shape + view.ndim);
  std::int64_t total = 1;
  for (const std::int64_t extent : shape) total *= extent;
  std::vector<double> out(static_cast<std::size_t>(total));
  const auto* data = static_cast<const double*>(view.data);
  if (IsContiguous(view)) {
    std::copy(data, data + total, out.begin());
    if (shape_out != nullptr) *shape_out = std::move(shape);
    return out;
  }
  std::vector<std::int64_t> index(shape.size(), 0);
  for (std::int64_t flat = 0; flat < total; ++flat) {
    std::int64_t offset = 0;
    std::int64_t contiguous_stride = 1;
    for (std::size_t d = shape.size(); d-- > 0;) {
      offset += index[d] * (view.strides != nullptr ? view.strides[d] : contiguous_stride);
      contiguous_stride *= shape[d];
    }
    out[static_cast<std::size_t>(flat)] = data[offset];
    for (std::size_t d = shape.size(); d-- > 0;) {  // odometer increment, last axis fastest
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  if (shape_out != nullptr) *shape_out = std::move(shape);
  return out;
}

inline std::vector<std::string> Strings(const char* const* items, std::int64_t n) {
  std::vector<std::string> out;
  for (std::int64_t i = 0; i < n; ++i) out.emplace_back(items[i] != nullptr ? items[i] : "");
  return out;
}

inline FeatureInfo ToFeatureInfo(const LoupeColumnInfo& column) {
  FeatureInfo info;
  info.name = column.name != nullptr ? column.name : "";
  info.type = column.type;
  if (column.levels != nullptr) info.levels = Strings(column.levels, column.n_levels);
  info.n_missing = column.n_missing;
  return info;
}
}  // namespace detail

// The capability name and layout version behind each C capability struct, so that a plugin asks for a
// capability by its type: host.Capability<LoupeTreeEnsemble>() is "tree_ensemble" at version 1. The
// version is the one this header's layout describes; a host that does not build it returns nullptr.
template <typename CapabilityStruct>
struct CapabilityOf;
template <>
struct CapabilityOf<LoupeTreeEnsemble> {
  static constexpr const char* kName = LOUPE_TREE_ENSEMBLE_CAPABILITY;
  static constexpr std::uint32_t kVersion = 1;
};
template <>
struct CapabilityOf<LoupeAttentionSource> {
  static constexpr const char* kName = LOUPE_ATTENTION_CAPABILITY;
  static constexpr std::uint32_t kVersion = 1;
};
template <>
struct CapabilityOf<LoupeTextModel> {
  static constexpr const char* kName = LOUPE_TEXT_CAPABILITY;
  static constexpr std::uint32_t kVersion = 1;
};
#if LOUPE_PLUGIN_ABI_MINOR >= 1
template <>
struct CapabilityOf<LoupeHiddenStates> {
  static constexpr const char* kName = LOUPE_HIDDEN_STATES_CAPABILITY;
  static constexpr std::uint32_t kVersion = 1;
};
template <>
struct CapabilityOf<LoupeHeadMask> {
  static constexpr const char* kName = LOUPE_HEAD_MASK_CAPABILITY;
  static constexpr std::uint32_t kVersion = 1;
};
#endif
#if LOUPE_PLUGIN_ABI_MINOR >= 3
template <>
struct CapabilityOf<LoupeGradientModel> {
  static constexpr const char* kName = LOUPE_GRADIENT_CAPABILITY;
  static constexpr std::uint32_t kVersion = 1;
};
#endif
#if LOUPE_PLUGIN_ABI_MINOR >= 4
template <>
struct CapabilityOf<LoupeRowVariants> {
  static constexpr const char* kName = LOUPE_ROW_VARIANTS_CAPABILITY;
  static constexpr std::uint32_t kVersion = 1;
};
#endif
#if LOUPE_PLUGIN_ABI_MINOR >= 5
template <>
struct CapabilityOf<LoupeTextGradient> {
  static constexpr const char* kName = LOUPE_TEXT_GRADIENT_CAPABILITY;
  static constexpr std::uint32_t kVersion = 1;
};
#endif

class Host {
 public:
  Host(const LoupeHostApi* api, LoupeHost* host)
      : api_(api), host_(host), params_(loupe::sdk::Params::Parse(api->params_json(host))) {}

  const LoupeHostApi* api() const { return api_; }
  LoupeHost* raw() const { return host_; }

  // --- errors, logging, progress, cancellation ---

  void Log(LoupeLogLevel level, const std::string& message) const {
    api_->log(host_, level, message.c_str());
  }
  void LogInfo(const std::string& message) const { Log(LOUPE_LOG_INFO, message); }
  void LogWarning(const std::string& message) const { Log(LOUPE_LOG_WARNING, message); }
  // Reports `done` of `total` work units of this step. Thread-safe.
  void Progress(std::uint64_t done, std::uint64_t total) const { api_->report_progress(host_, done, total); }
  bool Cancelled() const { return api_->is_cancelled(host_) != 0; }
  // Throws Error(LOUPE_ERROR_CANCELLED) when the run is being cancelled. Call it between work units.
  void ThrowIfCancelled() const {
    if (Cancelled()) throw Error(LOUPE_ERROR_CANCELLED, "the run was cancelled");
  }

  // --- reproducible randomness ---

  // The step's seed.
  std::uint64_t Seed() const { return api_->seed(host_); }
  // A sequential reader over the counter-based stream keyed by (step seed, row, stream): the same
  // numbers on any thread, in any order. Use one stream id per purpose and the data row as `row`.
  loupe::sdk::Rng Rng(std::uint64_t row, std::uint64_t stream) const {
    return loupe::sdk::Rng(Seed(), row, stream);
  }
  // Words counter .. counter+n-1 of the stream keyed by (step seed, row, stream), from the host.
  void RandomU64(std::uint64_t row, std::uint64_t stream, std::uint64_t counter, std::uint64_t* out,
                 std::size_t n) const {
    api_->random_u64(host_, row, stream, counter, out, n);
  }

  // --- parameters ---

  // The step's validated parameters, defaults filled in.
  const loupe::sdk::Params& Params() const { return params_; }

  // --- data ---

  DatasetInfo Dataset() const {
    LoupeDatasetInfo raw{};
    raw.struct_size = sizeof(raw);
    Check(api_->dataset_info(host_, &raw), "dataset_info");
    DatasetInfo info;
    info.n_rows = raw.n_rows;
    for (std::int64_t i = 0; i < raw.n_features; ++i) {
      info.features.push_back(detail::ToFeatureInfo(raw.features[i]));
    }
    info.target = raw.target != nullptr ? raw.target : "";
    info.positive_label = raw.positive_label != nullptr ? raw.positive_label : "";
    if (raw.sensitive != nullptr) info.sensitive = detail::Strings(raw.sensitive, raw.n_sensitive);
    return info;
  }

  // The feature matrix explainers perturb: [n_rows, n_features], categoricals as level codes, NaN missing.
  Matrix Features() const {
    LoupeTensorView view{};
    view.struct_size = sizeof(view);
    Check(api_->dataset_features(host_, &view), "dataset_features");
    if (view.dtype != LOUPE_DTYPE_F64 || view.ndim != 2) {
      throw Internal("the host's feature matrix must be a 2-D f64 tensor, found ndim " +
                     std::to_string(view.ndim) + " and dtype " + std::to_string(view.dtype));
    }
    const std::int64_t rows = view.shape[0];
    const std::int64_t cols = view.shape[1];
    const bool contiguous = view.strides == nullptr || (view.strides[1] == 1 && view.strides[0] == cols);
    if (contiguous) return Matrix(static_cast<const double*>(view.data), rows, cols);
    return Matrix(detail::CopyTensor(view, nullptr), rows, cols);
  }

  // Any column of the data file by name; Error(LOUPE_ERROR_NOT_FOUND) naming it when there is none.
  loupe::sdk::Column Column(const std::string& name) const {
    LoupeTensorView view{};
    loupe::sdk::Column column;
    column.info = FetchColumn(name, view);
    column.values = detail::CopyTensor(view, nullptr);
    return column;
  }

  // The column `name` without a copy (see ColumnView), for explainers that read whole columns of large
  // data; errors as Column.
  loupe::sdk::ColumnView ColumnView(const std::string& name) const {
    LoupeTensorView view{};
    loupe::sdk::ColumnView column;
    column.info = FetchColumn(name, view);
    if (view.dtype != LOUPE_DTYPE_F64 || view.ndim != 1) {
      throw Internal("the host's column '" + name + "' must be a 1-D f64 tensor");
    }
    column.size = static_cast<std::size_t>(view.shape[0]);
    if (detail::IsContiguous(view)) {
      column.values = static_cast<const double*>(view.data);
    } else {
      column.copy = std::make_shared<const std::vector<double>>(detail::CopyTensor(view, nullptr));
      column.values = column.copy->data();
    }
    return column;
  }

  // The rows this step explains, as 0-based data row indices.
  std::vector<std::int64_t> StepRows() const {
    const std::int64_t* rows = nullptr;
    std::int64_t n = 0;
    Check(api_->step_rows(host_, &rows, &n), "step_rows");
    return std::vector<std::int64_t>(rows, rows + n);
  }

  // Resolves a row selection ("a:b", [i, j], a count N sampled with `stream`, or "all") into row indices.
  // `what` names the parameter in error messages.
  std::vector<std::int64_t> ResolveRows(const nlohmann::json& selection, std::uint64_t stream,
                                        const std::string& what = "rows") const {
    const std::string text = selection.dump();
    const std::int64_t* rows = nullptr;
    std::int64_t n = 0;
    const LoupeStatus status = api_->resolve_rows(host_, text.c_str(), stream, &rows, &n);
    if (status != LOUPE_OK) {
      throw Error(status, "parameter '" + what + "' could not be resolved into data rows, found " +
                              DescribeJson(selection) + " (host status " + StatusName(status) + ")");
    }
    return std::vector<std::int64_t>(rows, rows + n);
  }

  // --- model ---

  loupe::sdk::ModelInfo ModelInfo() const {
    LoupeModelInfo raw{};
    raw.struct_size = sizeof(raw);
    Check(api_->model_info(host_, &raw), "model_info");
    loupe::sdk::ModelInfo info;
    info.task = raw.task;
    info.default_space = raw.default_space;
    info.output_names = detail::Strings(raw.output_names, raw.n_outputs);
    info.raw_output_names = detail::Strings(raw.raw_output_names, raw.n_raw_outputs);
    info.name = raw.name != nullptr ? raw.name : "";
    return info;
  }

  // Number of outputs the model produces in `space`.
  std::int64_t OutputCount(LoupeOutputSpace space) const {
    LoupeModelInfo raw{};
    raw.struct_size = sizeof(raw);
    Check(api_->model_info(host_, &raw), "model_info");
    return space == LOUPE_OUTPUT_RAW && raw.default_space != LOUPE_OUTPUT_RAW ? raw.n_raw_outputs
                                                                              : raw.n_outputs;
  }

  // Number of columns of the feature matrix.
  std::int64_t FeatureCount() const {
    LoupeDatasetInfo raw{};
    raw.struct_size = sizeof(raw);
    Check(api_->dataset_info(host_, &raw), "dataset_info");
    return raw.n_features;
  }

  // Evaluates the model on `n` rows laid out like the feature matrix ([n, n_features], row-major) and
  // writes n * n_outputs values to `out` (capacity `capacity`). Call it once per large batch (thousands
  // of rows), never row by row. Thread-safe.
  void Predict(const double* rows, std::int64_t n, std::int64_t n_features, LoupeOutputSpace space,
               double* out, std::int64_t capacity) const {
    if (n == 0) return;
    const std::int64_t shape[2] = {n, n_features};
    LoupeTensorView view{};
    view.struct_size = sizeof(view);
    view.dtype = LOUPE_DTYPE_F64;
    view.ndim = 2;
    view.read_only = 1;
    view.data = const_cast<double*>(rows);  // read_only = 1: the host does not write through it
    view.shape = shape;
    view.strides = nullptr;
    const LoupeStatus status = api_->model_predict(host_, &view, space, out, capacity);
    if (status != LOUPE_OK) {
      throw Error(status, "the model failed to predict a batch of " + std::to_string(n) +
                              " rows (host status " + StatusName(status) + ")");
    }
  }

  // Evaluates the model on `n` rows ([n, n_features] like the feature matrix) and returns
  // [n, n_outputs(space)] row-major. One host call per batch.
  std::vector<double> Predict(const double* rows, std::int64_t n, LoupeOutputSpace space) const {
    const std::int64_t n_features = FeatureCount();
    const std::int64_t n_outputs = OutputCount(space);
    std::vector<double> out(static_cast<std::size_t>(n * n_outputs));
    Predict(rows, n, n_features, space, out.data(), static_cast<std::int64_t>(out.size()));
    return out;
  }

#if LOUPE_PLUGIN_ABI_MINOR >= 4
  // The "row_variants" capability (loupe_plugin.h v1.4) of Capability<LoupeRowVariants>(): out[v][b][o] is
  // output o on base row b (`base`, [n_base, n_features] like the feature matrix) with columns[k] set to
  // values[k] for k in [offsets[v], offsets[v + 1]). Throws Error with the host's status on failure.
  void PredictRowVariants(const LoupeRowVariants& variants, const double* base, std::int64_t n_base,
                          std::int64_t n_features, std::int64_t n_variants, const std::int64_t* offsets,
                          const std::int64_t* columns, const double* values, LoupeOutputSpace space,
                          double* out, std::int64_t capacity) const {
    if (n_base == 0 || n_variants == 0) return;
    const std::int64_t shape[2] = {n_base, n_features};
    LoupeTensorView view{};
    view.struct_size = sizeof(view);
    view.dtype = LOUPE_DTYPE_F64;
    view.ndim = 2;
    view.read_only = 1;
    view.data = const_cast<double*>(base);  // read_only = 1: the host does not write through it
    view.shape = shape;
    view.strides = nullptr;
    const LoupeStatus status =
        variants.predict(host_, &view, n_variants, offsets, columns, values, space, out, capacity);
    if (status != LOUPE_OK) {
      throw Error(status, "the model failed to predict " + std::to_string(n_variants) + " variants of " +
                              std::to_string(n_base) + " rows (host status " + StatusName(status) + ")");
    }
  }
#endif

  bool HasCapability(const std::string& capability) const {
    return api_->model_has_capability(host_, capability.c_str()) != 0;
  }
  // The capability's C description (layout defined by its own header), or nullptr.
  const void* Capability(const std::string& capability, std::uint32_t version) const {
    return api_->model_capability(host_, capability.c_str(), version);
  }
  // The capability whose C struct is `CapabilityStruct` (see CapabilityOf), or nullptr.
  template <typename CapabilityStruct>
  const CapabilityStruct* Capability() const {
    using Of = CapabilityOf<CapabilityStruct>;
    return static_cast<const CapabilityStruct*>(api_->model_capability(host_, Of::kName, Of::kVersion));
  }

  // --- parallelism ---

  // Runs body(chunk_begin, chunk_end) over disjoint chunks covering [begin, end), each at most `grain`
  // long (grain <= 0: the host chooses), on the host's thread pool. Chunk boundaries depend only on
  // (begin, end, grain): write each chunk's results to their own place and the bits are the same on any
  // number of threads. An exception thrown by a body stops the loop and is rethrown here (the first one
  // caught, when several bodies fail).
  template <typename Body>
  void ParallelFor(std::int64_t begin, std::int64_t end, std::int64_t grain, Body&& body) const {
    if (begin >= end) return;
    struct Context {
      Body* body;
      const Host* host;
      std::mutex mutex;
      std::exception_ptr failure;
    } context{&body, this, {}, nullptr};
    auto trampoline = [](void* raw, std::int64_t chunk_begin, std::int64_t chunk_end) -> LoupeStatus {
      auto* ctx = static_cast<Context*>(raw);
      try {
        (*ctx->body)(chunk_begin, chunk_end);
        return LOUPE_OK;
      } catch (...) {
        return ctx->host->RecordFailure(&ctx->mutex, &ctx->failure, std::current_exception());
      }
    };
    const LoupeStatus status = api_->parallel_for(host_, begin, end, grain, +trampoline, &context);
    if (context.failure) std::rethrow_exception(context.failure);
    if (status != LOUPE_OK) throw Error::AlreadyReported(status);
  }

  // --- explanations of the steps this step needs ---

  std::int64_t InputCount() const { return api_->input_count(host_); }
  InputExplanation Input(std::int64_t index) const {
    InputExplanation input;
    const char* step = api_->input_step(host_, index);
    const char* kind = api_->input_kind(host_, index);
    const char* json = api_->input_json(host_, index);
    if (step == nullptr || kind == nullptr || json == nullptr) {
      throw NotFound("input " + std::to_string(index) + " does not exist (this step has " +
                     std::to_string(InputCount()) + " inputs)");
    }
    input.step = step;
    input.kind = kind;
    input.json = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (input.json.is_discarded()) throw Internal("input '" + input.step + "' is not valid JSON");
    return input;
  }
  // A numeric field ("values", "quality.additivity_residual") of input `index`.
  InputArray InputField(std::int64_t index, const std::string& path) const {
    LoupeTensorView view{};
    view.struct_size = sizeof(view);
    const LoupeStatus status = api_->input_array(host_, index, path.c_str(), &view);
    if (status != LOUPE_OK) {
      throw Error(status, "field '" + path + "' of input " + std::to_string(index) +
                              " is not a rectangular numeric array (host status " + StatusName(status) + ")");
    }
    InputArray array;
    array.values = detail::CopyTensor(view, &array.shape);
    return array;
  }

 private:
  // The host's description and view of column `name`; Error(LOUPE_ERROR_NOT_FOUND) naming it when there
  // is none.
  FeatureInfo FetchColumn(const std::string& name, LoupeTensorView& view) const {
    LoupeColumnInfo info{};
    info.struct_size = sizeof(info);
    view = LoupeTensorView{};
    view.struct_size = sizeof(view);
    const LoupeStatus status = api_->dataset_column(host_, name.c_str(), &info, &view);
    if (status == LOUPE_ERROR_NOT_FOUND) throw NotFound("the data has no column named '" + name + "'");
    Check(status, "dataset_column('" + name + "')");
    return detail::ToFeatureInfo(info);
  }

  void Check(LoupeStatus status, const std::string& call) const {
    if (status != LOUPE_OK) {
      throw Error(status, std::string("the host call ") + call + " failed with status " + StatusName(status));
    }
  }

  // Keeps the first failure of a ParallelFor and reports it to the host, as parallel_for expects.
  LoupeStatus RecordFailure(std::mutex* mutex, std::exception_ptr* first, std::exception_ptr failure) const {
    LoupeStatus status = LOUPE_ERROR_INTERNAL;
    std::string message = "a parallel_for body threw an unknown exception";
    try {
      std::rethrow_exception(failure);
    } catch (const Error& error) {
      status = error.status();
      message = error.what();
    } catch (const std::bad_alloc&) {
      status = LOUPE_ERROR_OUT_OF_MEMORY;
      message = "out of memory in a parallel_for body";
    } catch (const std::exception& error) {
      message = error.what();
    } catch (...) {
    }
    {
      std::lock_guard<std::mutex> lock(*mutex);
      if (!*first) *first = failure;
    }
    api_->set_error(host_, status, message.c_str());
    return status;
  }

  const LoupeHostApi* api_;
  LoupeHost* host_;
  loupe::sdk::Params params_;
};

}  // namespace loupe::sdk
