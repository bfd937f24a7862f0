// The host side of the plugin ABI: a LoupeHost context for one explain call and the LoupeHostApi
// function table that plugins call back into. Runs an explainer's create/explain/destroy.
#include <tbb/parallel_for.h>

#include <chrono>
#include <cmath>
#include <deque>
#include <iostream>
#include <mutex>
#include <new>
#include <sstream>
#include <string_view>

#include "loupe/c/loupe_plugin.h"
#include "loupe/core/attention.hpp"
#include "loupe/core/plugin.hpp"
#include "loupe/core/text_probes.hpp"
#include "loupe/sdk/random.hpp"

// The concrete types behind the ABI's opaque handles.
struct LoupeResultBuilder {
  std::mutex mutex;
  nlohmann::json body = nlohmann::json::object();
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
};

namespace loupe {
namespace {

template <typename T>
const T* Keep(LoupeHost* host, std::deque<std::vector<T>>& store, std::vector<T> values) {
  std::lock_guard<std::mutex> lock(host->mutex);
  store.push_back(std::move(values));
  return store.back().data();
}

const std::vector<const char*>& KeepPointers(LoupeHost* host, const std::vector<std::string>& strings) {
  std::vector<const char*> pointers;
  for (const std::string& s : strings) pointers.push_back(s.c_str());
  std::lock_guard<std::mutex> lock(host->mutex);
  host->pointer_buffers.push_back(std::move(pointers));
  return host->pointer_buffers.back();
}

LoupeStatus SetError(LoupeHost* host, LoupeStatus status, const char* message) {
  std::lock_guard<std::mutex> lock(host->mutex);
  if (host->error_status == LOUPE_OK) {  // the first error is the cause; later ones are consequences
    host->error_status = status == LOUPE_OK ? LOUPE_ERROR_INTERNAL : status;
    host->error_message = message != nullptr ? message : "";
  }
  return status;
}

void Log(LoupeHost* host, LoupeLogLevel level, const char* message) {
  const std::string text = message != nullptr ? message : "";
  if (host->request->log) {
    host->request->log(level, text);
  } else if (level >= LOUPE_LOG_WARNING) {
    std::lock_guard<std::mutex> lock(host->mutex);
    std::cerr << "loupe: step '" << host->request->step_id << "': " << text << "\n";
  }
}

void ReportProgress(LoupeHost* host, std::uint64_t done, std::uint64_t total) {
  if (host->request->progress) host->request->progress(done, total);
}

std::int32_t IsCancelled(LoupeHost* host) {
  return host->request->cancelled != nullptr && host->request->cancelled->load() ? 1 : 0;
}

LoupeStatus ParallelFor(LoupeHost* host, std::int64_t begin, std::int64_t end, std::int64_t grain,
                        LoupeStatus (*body)(void*, std::int64_t, std::int64_t), void* ctx) {
  if (end <= begin) return LOUPE_OK;
  if (body == nullptr) return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT, "parallel_for needs a body.");
  if (grain <= 0) grain = std::max<std::int64_t>(1, (end - begin + 63) / 64);
  const std::int64_t chunks = (end - begin + grain - 1) / grain;
  std::vector<LoupeStatus> statuses(static_cast<std::size_t>(chunks), LOUPE_OK);
  tbb::parallel_for(
      tbb::blocked_range<std::int64_t>(0, chunks, 1),
      [&](const tbb::blocked_range<std::int64_t>& range) {
        for (std::int64_t c = range.begin(); c != range.end(); ++c) {
          const std::int64_t b = begin + c * grain;
          statuses[static_cast<std::size_t>(c)] = body(ctx, b, std::min(end, b + grain));
        }
      },
      tbb::simple_partitioner());
  for (LoupeStatus status : statuses) {
    if (status != LOUPE_OK) {
      SetError(host, status, "a parallel task failed without saying why.");
      return status;
    }
  }
  return LOUPE_OK;
}

std::uint64_t Seed(LoupeHost* host) { return host->request->seed; }

void RandomU64(LoupeHost* host, std::uint64_t row, std::uint64_t stream, std::uint64_t counter,
               std::uint64_t* out, std::size_t n) {
  sdk::PhiloxFill(host->request->seed, row, stream, counter, out, n);
}

const char* ParamsJson(LoupeHost* host) { return host->params_text.c_str(); }

LoupeStatus DatasetInfo(LoupeHost* host, LoupeDatasetInfo* out) {
  const ExplainRequest& r = *host->request;
  *out = LoupeDatasetInfo{};
  out->struct_size = sizeof(LoupeDatasetInfo);
  out->n_rows = r.dataset->num_rows();
  out->n_features = static_cast<std::int64_t>(r.feature_names.size());
  out->features = host->feature_infos.data();
  const auto& target = r.dataset->schema().target;
  out->target = target ? target->c_str() : nullptr;
  out->positive_label = r.positive_label ? r.positive_label->c_str() : nullptr;
  out->sensitive = host->sensitive_names.data();
  out->n_sensitive = static_cast<std::int64_t>(host->sensitive_names.size());
  return LOUPE_OK;
}

void FillView(LoupeTensorView* out, const double* data, const std::int64_t* shape, int ndim) {
  *out = LoupeTensorView{};
  out->struct_size = sizeof(LoupeTensorView);
  out->dtype = LOUPE_DTYPE_F64;
  out->ndim = ndim;
  out->read_only = 1;
  out->data = const_cast<double*>(data);
  out->shape = shape;
  out->strides = nullptr;
}

LoupeStatus DatasetFeatures(LoupeHost* host, LoupeTensorView* out) {
  FillView(out, host->request->features->data<double>(), host->feature_shape.data(), 2);
  return LOUPE_OK;
}

LoupeColumnInfo DescribeColumn(const Column& column, const std::vector<const char*>& levels) {
  LoupeColumnInfo info{};
  info.struct_size = sizeof(LoupeColumnInfo);
  info.type = column.type() == ColumnType::kNumeric       ? LOUPE_FEATURE_NUMERIC
              : column.type() == ColumnType::kCategorical ? LOUPE_FEATURE_CATEGORICAL
                                                          : LOUPE_FEATURE_TEXT;
  info.name = column.name().c_str();
  info.levels = levels.empty() ? nullptr : levels.data();
  info.n_levels = static_cast<std::int64_t>(column.schema().levels.size());
  info.n_missing = column.missing_count();
  return info;
}

LoupeStatus DatasetColumn(LoupeHost* host, const char* name, LoupeColumnInfo* info, LoupeTensorView* values) {
  const Column* column = host->request->dataset->Find(name != nullptr ? name : "");
  if (column == nullptr) {
    return SetError(host, LOUPE_ERROR_NOT_FOUND,
                    ("the data has no column '" + std::string(name ? name : "") + "'.").c_str());
  }
  if (column->type() == ColumnType::kText) {
    return SetError(host, LOUPE_ERROR_UNSUPPORTED,
                    ("column '" + column->name() + "' holds text, which has no numeric view.").c_str());
  }
  *info = DescribeColumn(*column, KeepPointers(host, column->schema().levels));
  const std::int64_t* shape = Keep(host, host->shape_buffers, std::vector<std::int64_t>{column->size()});
  FillView(values, column->values().data(), shape, 1);
  return LOUPE_OK;
}

LoupeStatus StepRows(LoupeHost* host, const std::int64_t** rows, std::int64_t* n) {
  *rows = host->request->rows.data();
  *n = static_cast<std::int64_t>(host->request->rows.size());
  return LOUPE_OK;
}

LoupeStatus ResolveRows(LoupeHost* host, const char* selection_json, std::uint64_t stream,
                        const std::int64_t** rows, std::int64_t* n) {
  nlohmann::json selection = nlohmann::json::parse(selection_json ? selection_json : "", nullptr, false);
  if (selection.is_discarded()) {
    return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT, "resolve_rows was given text that is not JSON.");
  }
  Result<RowSelection> parsed = RowSelection::FromJson(selection);
  if (!parsed.ok()) return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT, parsed.status().message().c_str());
  Result<std::vector<std::int64_t>> resolved =
      parsed->Resolve(host->request->dataset->num_rows(), host->request->seed, stream);
  if (!resolved.ok())
    return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT, resolved.status().message().c_str());
  *n = static_cast<std::int64_t>(resolved->size());
  *rows = Keep(host, host->row_buffers, std::move(*resolved));
  return LOUPE_OK;
}

LoupeStatus ModelInfoFn(LoupeHost* host, LoupeModelInfo* out) {
  const ModelInfo& info = host->request->model->model().Info();
  *out = LoupeModelInfo{};
  out->struct_size = sizeof(LoupeModelInfo);
  out->task = info.task == Task::kClassification ? LOUPE_TASK_CLASSIFICATION : LOUPE_TASK_REGRESSION;
  out->default_space =
      info.default_space() == OutputSpace::kRaw ? LOUPE_OUTPUT_RAW : LOUPE_OUTPUT_PROBABILITY;
  out->n_outputs = static_cast<std::int64_t>(info.output_names.size());
  out->output_names = host->output_names.data();
  out->n_raw_outputs = static_cast<std::int64_t>(info.raw_output_names.size());
  out->raw_output_names = host->raw_output_names.data();
  out->name = info.name.c_str();
  return LOUPE_OK;
}

// The output space a plugin asked for; any other value than probability or raw means the model's default.
OutputSpace ResolveSpace(const ModelInfo& info, LoupeOutputSpace space) {
  if (space == LOUPE_OUTPUT_PROBABILITY) return OutputSpace::kProbability;
  if (space == LOUPE_OUTPUT_RAW) return OutputSpace::kRaw;
  return info.default_space();
}

// LOUPE_OK, or the refusal (as the host's error) of probabilities from a regressor.
LoupeStatus CheckSpace(LoupeHost* host, const ModelInfo& info, OutputSpace space) {
  if (space == OutputSpace::kProbability && info.task != Task::kClassification) {
    return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                    ("model '" + info.name + "' is a regressor and has no probability outputs.").c_str());
  }
  return LOUPE_OK;
}

LoupeStatus ModelPredict(LoupeHost* host, const LoupeTensorView* inputs, LoupeOutputSpace space,
                         double* outputs, std::int64_t capacity) {
  const FeatureModel& model = *host->request->model;
  if (inputs == nullptr || inputs->dtype != LOUPE_DTYPE_F64 || inputs->ndim != 2 ||
      inputs->strides != nullptr) {
    return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                    "model_predict needs a contiguous f64 [n, features] tensor.");
  }
  const OutputSpace resolved = ResolveSpace(model.model().Info(), space);
  const TensorView view(inputs->data, DType::kF64, Shape{inputs->shape[0], inputs->shape[1]});
  Result<Tensor> predicted = model.Predict(view, resolved);
  if (!predicted.ok()) {
    const LoupeStatus status = predicted.status().code() == StatusCode::kInvalidArgument
                                   ? LOUPE_ERROR_INVALID_ARGUMENT
                                   : LOUPE_ERROR_MODEL;
    return SetError(host, status, predicted.status().message().c_str());
  }
  if (predicted->size() > capacity) {
    return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                    ("model_predict needs room for " + std::to_string(predicted->size()) + " outputs, got " +
                     std::to_string(capacity) + ".")
                        .c_str());
  }
  std::copy_n(predicted->data<double>(), predicted->size(), outputs);
  return LOUPE_OK;
}

// The texts of data rows [begin, end) of `rows`, through the feature matrix's text handles.
LoupeStatus RowTexts(LoupeHost* host, const std::int64_t* rows, std::int64_t begin, std::int64_t end,
                     std::vector<std::string>& texts) {
  const ExplainRequest& r = *host->request;
  const Tensor& features = *r.features;
  const std::int64_t data_rows = features.dim(0), width = features.dim(1);
  texts.clear();
  for (std::int64_t i = begin; i < end; ++i) {
    if (rows[i] < 0 || rows[i] >= data_rows) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      ("a text capability was given row " + std::to_string(rows[i]) + " but the data has " +
                       std::to_string(data_rows) + " rows.")
                          .c_str());
    }
    Result<std::string_view> text =
        r.model->ResolveText(features.data<double>()[rows[i] * width + r.model->text_feature()]);
    if (!text.ok()) return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT, text.status().message().c_str());
    texts.emplace_back(*text);
  }
  return LOUPE_OK;
}

LoupeStatus CheckRowsAndSink(LoupeHost* host, const std::int64_t* rows, std::int64_t n_rows, bool has_sink) {
  if (n_rows < 0 || (n_rows > 0 && (rows == nullptr || !has_sink))) {
    return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                    "a text capability needs a non-negative row count, the rows and a sink.");
  }
  return LOUPE_OK;
}

LoupeStatus SinkStopped(LoupeHost* host, LoupeStatus status, std::int64_t row) {
  SetError(host, status,
           ("the sink stopped at row " + std::to_string(row) + " with status " + std::to_string(status) +
            " without saying why.")
               .c_str());
  return status;
}

constexpr std::int64_t kTextBatch = 64;  // texts per model call of the text capabilities

// LoupeAttentionSource::compute: resolves the rows' text handles in the feature matrix, runs the model's
// AttentionSource over them in batches and hands each row to the sink. Never throws.
LoupeStatus ComputeAttention(LoupeHost* host, const std::int64_t* rows, std::int64_t n_rows,
                             LoupeAttentionSink sink, void* sink_ctx) {
  try {
    const auto* source =
        static_cast<const AttentionSource*>(host->request->model->model().Capability(kAttentionCapability));
    if (LoupeStatus s = CheckRowsAndSink(host, rows, n_rows, sink != nullptr); s != LOUPE_OK) return s;
    std::vector<std::string> texts;
    for (std::int64_t begin = 0; begin < n_rows; begin += kTextBatch) {
      const std::int64_t end = std::min(n_rows, begin + kTextBatch);
      if (LoupeStatus s = RowTexts(host, rows, begin, end, texts); s != LOUPE_OK) return s;
      Result<std::vector<AttentionMaps>> maps = source->Attention(texts);
      if (!maps.ok()) return SetError(host, LOUPE_ERROR_MODEL, maps.status().message().c_str());
      for (std::int64_t i = begin; i < end; ++i) {
        const AttentionMaps& m = (*maps)[static_cast<std::size_t>(i - begin)];
        std::vector<const char*> tokens, words;
        for (const std::string& token : m.tokens.tokens) tokens.push_back(token.c_str());
        for (const std::string& word : m.tokens.words) words.push_back(word.c_str());
        const LoupeStatus status =
            sink(sink_ctx, i, rows[i], tokens.data(), m.tokens.word_index.data(), m.tokens.size(),
                 words.data(), static_cast<std::int64_t>(words.size()),
                 m.probabilities.empty() ? nullptr : m.probabilities.data(),
                 m.pooling.empty() ? nullptr : m.pooling.data());
        if (status != LOUPE_OK) return SinkStopped(host, status, rows[i]);
      }
    }
    return LOUPE_OK;
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "attention compute ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL,
                    (std::string("attention compute failed: ") + e.what()).c_str());
  }
}

LoupePoolingMode PoolingCode(Pooling pooling) {
  switch (pooling) {
    case Pooling::kCls:
      return LOUPE_POOLING_CLS;
    case Pooling::kMean:
      return LOUPE_POOLING_MEAN;
    case Pooling::kLast:
      return LOUPE_POOLING_LAST;
    case Pooling::kAttention:
      return LOUPE_POOLING_ATTENTION;
    default:
      return LOUPE_POOLING_UNKNOWN;
  }
}

// LoupeHiddenStates::compute: like ComputeAttention, with the model's HiddenStateSource. Never throws.
LoupeStatus ComputeHiddenStates(LoupeHost* host, const std::int64_t* rows, std::int64_t n_rows,
                                LoupeHiddenStatesSink sink, void* sink_ctx) {
  try {
    const auto* source = static_cast<const HiddenStateSource*>(
        host->request->model->model().Capability(kHiddenStatesCapability));
    if (LoupeStatus s = CheckRowsAndSink(host, rows, n_rows, sink != nullptr); s != LOUPE_OK) return s;
    std::vector<std::string> texts;
    for (std::int64_t begin = 0; begin < n_rows; begin += kTextBatch) {
      const std::int64_t end = std::min(n_rows, begin + kTextBatch);
      if (LoupeStatus s = RowTexts(host, rows, begin, end, texts); s != LOUPE_OK) return s;
      Result<std::vector<HiddenStates>> hidden = source->Hidden(texts);
      if (!hidden.ok()) return SetError(host, LOUPE_ERROR_MODEL, hidden.status().message().c_str());
      for (std::int64_t i = begin; i < end; ++i) {
        const HiddenStates& h = (*hidden)[static_cast<std::size_t>(i - begin)];
        std::vector<const char*> tokens, words;
        std::vector<const float*> states;
        for (const std::string& token : h.tokens.tokens) tokens.push_back(token.c_str());
        for (const std::string& word : h.tokens.words) words.push_back(word.c_str());
        for (const std::vector<float>& state : h.states) states.push_back(state.data());
        const LoupeStatus status =
            sink(sink_ctx, i, rows[i], tokens.data(), h.tokens.word_index.data(), h.tokens.size(),
                 words.data(), static_cast<std::int64_t>(words.size()), states.data(), h.pooled.data());
        if (status != LOUPE_OK) return SinkStopped(host, status, rows[i]);
      }
    }
    return LOUPE_OK;
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "hidden-state compute ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL,
                    (std::string("hidden-state compute failed: ") + e.what()).c_str());
  }
}

// LoupeHeadMask::predict_rows: every row under every mask, mask-major, in batches of texts. Never throws.
LoupeStatus PredictRowsMasked(LoupeHost* host, const std::int64_t* rows, std::int64_t n_rows,
                              const float* masks, std::int64_t n_masks, LoupeOutputSpace space,
                              double* outputs, std::int64_t capacity) {
  try {
    const Model& model = host->request->model->model();
    const auto* masked = static_cast<const HeadMaskedModel*>(model.Capability(kHeadMaskCapability));
    if (n_rows < 0 || n_masks < 0 ||
        (n_rows > 0 && n_masks > 0 && (rows == nullptr || masks == nullptr || outputs == nullptr))) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      "predict_rows needs non-negative counts, the rows, the masks and an output buffer.");
    }
    const ModelInfo& info = model.Info();
    const OutputSpace resolved = ResolveSpace(info, space);
    if (const LoupeStatus refused = CheckSpace(host, info, resolved); refused != LOUPE_OK) return refused;
    const auto n_out = static_cast<std::int64_t>(info.OutputNames(resolved).size());
    if (n_masks * n_rows * n_out > capacity) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      ("predict_rows needs room for " + std::to_string(n_masks * n_rows * n_out) +
                       " outputs, got " + std::to_string(capacity) + ".")
                          .c_str());
    }
    const std::int64_t per_mask = masked->MaskLayers() * masked->MaskHeads();
    std::vector<std::string> row_texts;
    if (LoupeStatus s = RowTexts(host, rows, 0, n_rows, row_texts); s != LOUPE_OK) return s;
    const std::int64_t total = n_masks * n_rows;
    for (std::int64_t begin = 0; begin < total;
         begin += kTextBatch) {  // item i: mask i / n_rows, row i % n_rows
      const std::int64_t end = std::min(total, begin + kTextBatch);
      std::vector<std::string> texts;
      std::vector<float> batch_masks;
      for (std::int64_t i = begin; i < end; ++i) {
        texts.push_back(row_texts[static_cast<std::size_t>(i % n_rows)]);
        const float* m = masks + (i / n_rows) * per_mask;
        batch_masks.insert(batch_masks.end(), m, m + per_mask);
      }
      Result<Tensor> predicted = masked->PredictMasked(texts, batch_masks, resolved);
      if (!predicted.ok()) return SetError(host, LOUPE_ERROR_MODEL, predicted.status().message().c_str());
      std::copy_n(predicted->data<double>(), predicted->size(), outputs + begin * n_out);
    }
    return LOUPE_OK;
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "predict_rows ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL, (std::string("predict_rows failed: ") + e.what()).c_str());
  }
}

// LoupeTextModel::tokenize_rows. Never throws.
LoupeStatus TokenizeRows(LoupeHost* host, const std::int64_t* rows, std::int64_t n_rows, LoupeTokensSink sink,
                         void* sink_ctx) {
  try {
    const auto* model =
        static_cast<const TextModel*>(host->request->model->model().Capability(kTextCapability));
    if (LoupeStatus s = CheckRowsAndSink(host, rows, n_rows, sink != nullptr); s != LOUPE_OK) return s;
    std::vector<std::string> texts;
    for (std::int64_t begin = 0; begin < n_rows; begin += kTextBatch) {
      const std::int64_t end = std::min(n_rows, begin + kTextBatch);
      if (LoupeStatus s = RowTexts(host, rows, begin, end, texts); s != LOUPE_OK) return s;
      for (std::int64_t i = begin; i < end; ++i) {
        Result<TokenizedText> t = model->Tokenize(texts[static_cast<std::size_t>(i - begin)]);
        if (!t.ok()) return SetError(host, LOUPE_ERROR_MODEL, t.status().message().c_str());
        std::vector<const char*> tokens, words;
        for (const std::string& token : t->tokens) tokens.push_back(token.c_str());
        for (const std::string& word : t->words) words.push_back(word.c_str());
        const LoupeStatus status = sink(sink_ctx, i, rows[i], tokens.data(), t->word_index.data(), t->size(),
                                        words.data(), static_cast<std::int64_t>(words.size()));
        if (status != LOUPE_OK) return SinkStopped(host, status, rows[i]);
      }
    }
    return LOUPE_OK;
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "tokenize_rows ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL, (std::string("tokenize_rows failed: ") + e.what()).c_str());
  }
}

// LoupeTextModel::predict_texts. Never throws.
LoupeStatus PredictTexts(LoupeHost* host, const char* const* texts, std::int64_t n_texts,
                         LoupeOutputSpace space, double* outputs, std::int64_t capacity) {
  try {
    const Model& model = host->request->model->model();
    const auto* text_model = static_cast<const TextModel*>(model.Capability(kTextCapability));
    if (n_texts < 0 || (n_texts > 0 && (texts == nullptr || outputs == nullptr))) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      "predict_texts needs a non-negative count, the texts and an output buffer.");
    }
    const ModelInfo& info = model.Info();
    const OutputSpace resolved = ResolveSpace(info, space);
    if (const LoupeStatus refused = CheckSpace(host, info, resolved); refused != LOUPE_OK) return refused;
    const auto n_out = static_cast<std::int64_t>(info.OutputNames(resolved).size());
    if (n_texts * n_out > capacity) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      ("predict_texts needs room for " + std::to_string(n_texts * n_out) + " outputs, got " +
                       std::to_string(capacity) + ".")
                          .c_str());
    }
    std::vector<std::string> batch;
    batch.reserve(static_cast<std::size_t>(n_texts));
    for (std::int64_t i = 0; i < n_texts; ++i) {
      if (texts[i] == nullptr) {
        return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                        ("predict_texts was given a NULL text at index " + std::to_string(i) + ".").c_str());
      }
      batch.emplace_back(texts[i]);
    }
    Result<Tensor> predicted = text_model->PredictText(batch, resolved);
    if (!predicted.ok()) return SetError(host, LOUPE_ERROR_MODEL, predicted.status().message().c_str());
    std::copy_n(predicted->data<double>(), predicted->size(), outputs);
    return LOUPE_OK;
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "predict_texts ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL, (std::string("predict_texts failed: ") + e.what()).c_str());
  }
}

// The C form of a capability. "attention" and "text" are built by the host (only it can map rows to
// texts), so the model's C++ objects of those names never reach a plugin; the others are the model's own.
const void* ModelCapability(LoupeHost* host, const char* capability, std::uint32_t version) {
  const std::string_view name = capability ? capability : "";
  if (name == kAttentionCapability) {
    return host->attention.struct_size != 0 && version <= 1 ? &host->attention : nullptr;
  }
  if (name == kTextCapability) return host->text.struct_size != 0 && version <= 1 ? &host->text : nullptr;
  if (name == kHiddenStatesCapability) {
    return host->hidden.struct_size != 0 && version <= 1 ? &host->hidden : nullptr;
  }
  if (name == kHeadMaskCapability) {
    return host->head_mask.struct_size != 0 && version <= 1 ? &host->head_mask : nullptr;
  }
  return host->request->model->model().Capability(name);
}

std::int32_t ModelHasCapability(LoupeHost* host, const char* capability) {
  return ModelCapability(host, capability, 1) != nullptr ? 1 : 0;
}

const Explanation* Input(LoupeHost* host, std::int64_t index) {
  const auto& inputs = host->request->inputs;
  if (index < 0 || index >= static_cast<std::int64_t>(inputs.size())) return nullptr;
  return inputs[static_cast<std::size_t>(index)];
}

std::int64_t InputCount(LoupeHost* host) { return static_cast<std::int64_t>(host->request->inputs.size()); }

const char* KeepText(LoupeHost* host, std::string text) {
  std::lock_guard<std::mutex> lock(host->mutex);
  host->text_buffers.push_back(std::move(text));
  return host->text_buffers.back().c_str();
}

const char* InputStep(LoupeHost* host, std::int64_t index) {
  const Explanation* e = Input(host, index);
  return e ? e->step.c_str() : nullptr;
}
const char* InputKind(LoupeHost* host, std::int64_t index) {
  const Explanation* e = Input(host, index);
  return e ? e->kind.c_str() : nullptr;
}
const char* InputJson(LoupeHost* host, std::int64_t index) {
  const Explanation* e = Input(host, index);
  return e ? KeepText(host, e->ToJson().dump()) : nullptr;
}

// Flattens a rectangular numeric JSON array; null becomes NaN.
bool FlattenNumeric(const nlohmann::json& value, std::size_t depth, std::vector<double>& flat,
                    std::vector<std::int64_t>& shape) {
  if (!value.is_array()) {
    if (depth != shape.size()) return false;
    if (value.is_null())
      flat.push_back(std::nan(""));
    else if (value.is_number())
      flat.push_back(value.get<double>());
    else
      return false;
    return true;
  }
  if (depth == shape.size()) shape.push_back(static_cast<std::int64_t>(value.size()));
  if (depth >= shape.size() || shape[depth] != static_cast<std::int64_t>(value.size())) return false;
  for (const auto& item : value) {
    if (!FlattenNumeric(item, depth + 1, flat, shape)) return false;
  }
  return true;
}

// Resolves "a.b.c" against an explanation document.
const nlohmann::json* FindPath(const nlohmann::json& document, const std::string& path) {
  const nlohmann::json* node = &document;
  std::stringstream parts(path);
  for (std::string part; std::getline(parts, part, '.');) {
    if (!node->is_object() || !node->contains(part)) return nullptr;
    node = &(*node)[part];
  }
  return node;
}

LoupeStatus InputArray(LoupeHost* host, std::int64_t index, const char* path, LoupeTensorView* out) {
  const Explanation* e = Input(host, index);
  if (e == nullptr) return SetError(host, LOUPE_ERROR_NOT_FOUND, "input_array: no input with that index.");
  const std::string field = path ? path : "";
  const nlohmann::json document = e->ToJson();
  const nlohmann::json* node = FindPath(document, field);
  if (node == nullptr) {
    return SetError(host, LOUPE_ERROR_NOT_FOUND,
                    ("the explanation of step '" + e->step + "' has no field '" + field + "'.").c_str());
  }
  std::vector<double> flat;
  std::vector<std::int64_t> shape;
  if (!FlattenNumeric(*node, 0, flat, shape)) {
    return SetError(
        host, LOUPE_ERROR_INVALID_ARGUMENT,
        ("field '" + field + "' of step '" + e->step + "' is not a rectangular numeric array.").c_str());
  }
  const int ndim = static_cast<int>(shape.size());
  const std::int64_t* kept_shape = Keep(host, host->shape_buffers, std::move(shape));
  FillView(out, Keep(host, host->array_buffers, std::move(flat)), kept_shape, ndim);
  return LOUPE_OK;
}

// Sets body[a][b]... for "a.b..."; creates objects on the way.
LoupeStatus SetPath(LoupeResultBuilder* result, const char* path, nlohmann::json value) {
  if (result == nullptr || path == nullptr || *path == '\0') return LOUPE_ERROR_INVALID_ARGUMENT;
  std::lock_guard<std::mutex> lock(result->mutex);
  nlohmann::json* node = &result->body;
  std::stringstream parts(path);
  std::string part;
  std::getline(parts, part, '.');
  for (std::string next; std::getline(parts, next, '.'); part = next) {
    if (!(*node)[part].is_object()) (*node)[part] = nlohmann::json::object();
    node = &(*node)[part];
  }
  (*node)[part] = std::move(value);
  return LOUPE_OK;
}

nlohmann::json NumberOrNull(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json();
}

LoupeStatus ResultSetNumber(LoupeResultBuilder* result, const char* path, double value) {
  return SetPath(result, path, NumberOrNull(value));
}
LoupeStatus ResultSetString(LoupeResultBuilder* result, const char* path, const char* value) {
  if (value == nullptr) return LOUPE_ERROR_INVALID_ARGUMENT;
  return SetPath(result, path, value);
}
LoupeStatus ResultSetStrings(LoupeResultBuilder* result, const char* path, const char* const* values,
                             std::int64_t n) {
  nlohmann::json array = nlohmann::json::array();
  for (std::int64_t i = 0; i < n; ++i) {
    if (values[i] == nullptr) return LOUPE_ERROR_INVALID_ARGUMENT;
    array.push_back(values[i]);
  }
  return SetPath(result, path, std::move(array));
}

double ElementAsDouble(const LoupeTensorView& t, std::int64_t offset) {
  switch (t.dtype) {
    case LOUPE_DTYPE_F32:
      return static_cast<const float*>(t.data)[offset];
    case LOUPE_DTYPE_F64:
      return static_cast<const double*>(t.data)[offset];
    case LOUPE_DTYPE_I32:
      return static_cast<const std::int32_t*>(t.data)[offset];
    case LOUPE_DTYPE_I64:
      return static_cast<double>(static_cast<const std::int64_t*>(t.data)[offset]);
    default:
      return static_cast<const std::uint8_t*>(t.data)[offset];
  }
}

nlohmann::json TensorToJson(const LoupeTensorView& t, int dim, std::int64_t offset) {
  if (dim == t.ndim) {
    const double v = ElementAsDouble(t, offset);
    if (t.dtype == LOUPE_DTYPE_I32 || t.dtype == LOUPE_DTYPE_I64 || t.dtype == LOUPE_DTYPE_U8) {
      return static_cast<std::int64_t>(v);
    }
    return NumberOrNull(v);
  }
  std::int64_t stride = 1;
  if (t.strides != nullptr) {
    stride = t.strides[dim];
  } else {
    for (int d = dim + 1; d < t.ndim; ++d) stride *= t.shape[d];
  }
  nlohmann::json array = nlohmann::json::array();
  for (std::int64_t i = 0; i < t.shape[dim]; ++i)
    array.push_back(TensorToJson(t, dim + 1, offset + i * stride));
  return array;
}

LoupeStatus ResultSetTensor(LoupeResultBuilder* result, const char* path, const LoupeTensorView* value) {
  if (value == nullptr || value->ndim < 0 || (value->data == nullptr && value->ndim > 0) ||
      value->dtype < LOUPE_DTYPE_F32 || value->dtype > LOUPE_DTYPE_U8) {
    return LOUPE_ERROR_INVALID_ARGUMENT;
  }
  return SetPath(result, path, TensorToJson(*value, 0, 0));
}

LoupeStatus ResultSetJson(LoupeResultBuilder* result, const char* path, const char* json) {
  nlohmann::json value = nlohmann::json::parse(json ? json : "", nullptr, false);
  if (value.is_discarded()) return LOUPE_ERROR_INVALID_ARGUMENT;
  return SetPath(result, path, std::move(value));
}

const LoupeHostApi& HostApi() {
  static const LoupeHostApi api = [] {
    LoupeHostApi a{};
    a.struct_size = sizeof(LoupeHostApi);
    a.abi_major = LOUPE_PLUGIN_ABI_MAJOR;
    a.abi_minor = LOUPE_PLUGIN_ABI_MINOR;
    a.set_error = SetError;
    a.log = Log;
    a.report_progress = ReportProgress;
    a.is_cancelled = IsCancelled;
    a.parallel_for = ParallelFor;
    a.seed = Seed;
    a.random_u64 = RandomU64;
    a.params_json = ParamsJson;
    a.dataset_info = DatasetInfo;
    a.dataset_features = DatasetFeatures;
    a.dataset_column = DatasetColumn;
    a.step_rows = StepRows;
    a.resolve_rows = ResolveRows;
    a.model_info = ModelInfoFn;
    a.model_predict = ModelPredict;
    a.model_has_capability = ModelHasCapability;
    a.model_capability = ModelCapability;
    a.input_count = InputCount;
    a.input_step = InputStep;
    a.input_kind = InputKind;
    a.input_json = InputJson;
    a.input_array = InputArray;
    a.result_set_number = ResultSetNumber;
    a.result_set_string = ResultSetString;
    a.result_set_strings = ResultSetStrings;
    a.result_set_tensor = ResultSetTensor;
    a.result_set_json = ResultSetJson;
    return a;
  }();
  return api;
}

void DescribeDataset(LoupeHost& host, std::vector<std::vector<const char*>>& level_pointers) {
  const ExplainRequest& r = *host.request;
  for (const std::string& name : r.feature_names) {
    const Column* column = r.dataset->Find(name);
    std::vector<const char*> levels;
    for (const std::string& level : column->schema().levels) levels.push_back(level.c_str());
    level_pointers.push_back(std::move(levels));
    host.feature_infos.push_back(DescribeColumn(*column, level_pointers.back()));
  }
  for (const std::string& name : r.dataset->schema().sensitive) host.sensitive_names.push_back(name.c_str());
  host.feature_shape = {r.features->dim(0), r.features->dim(1)};
  const ModelInfo& info = r.model->model().Info();
  for (const std::string& name : info.output_names) host.output_names.push_back(name.c_str());
  for (const std::string& name : info.raw_output_names) host.raw_output_names.push_back(name.c_str());
  const auto* attention =
      static_cast<const AttentionSource*>(r.model->model().Capability(kAttentionCapability));
  if (attention != nullptr && r.model->text_feature() >= 0) {
    host.attention.struct_size = sizeof(LoupeAttentionSource);
    host.attention.has_pooling = attention->HasPooling() ? 1 : 0;
    host.attention.n_layers = attention->AttentionLayers();
    host.attention.n_heads = attention->AttentionLayers() > 0 ? attention->AttentionHeads() : 0;
    host.attention.compute = ComputeAttention;
    const auto* hidden =
        static_cast<const HiddenStateSource*>(r.model->model().Capability(kHiddenStatesCapability));
    host.attention.pooling = hidden != nullptr ? PoolingCode(hidden->PoolingMode()) : LOUPE_POOLING_UNKNOWN;
  }
  const auto* hidden =
      static_cast<const HiddenStateSource*>(r.model->model().Capability(kHiddenStatesCapability));
  if (hidden != nullptr && r.model->text_feature() >= 0) {
    for (const std::string& name : hidden->StateNames()) host.hidden_names.push_back(name.c_str());
    host.hidden.struct_size = sizeof(LoupeHiddenStates);
    host.hidden.pooling = PoolingCode(hidden->PoolingMode());
    host.hidden.n_states = static_cast<std::int64_t>(hidden->StateWidths().size());
    host.hidden.widths = hidden->StateWidths().data();
    host.hidden.names = host.hidden_names.data();
    host.hidden.pooled_width = hidden->PooledWidth();
    host.hidden.compute = ComputeHiddenStates;
  }
  const auto* masked = static_cast<const HeadMaskedModel*>(r.model->model().Capability(kHeadMaskCapability));
  if (masked != nullptr && r.model->text_feature() >= 0) {
    host.head_mask.struct_size = sizeof(LoupeHeadMask);
    host.head_mask.n_layers = masked->MaskLayers();
    host.head_mask.n_heads = masked->MaskHeads();
    host.head_mask.predict_rows = PredictRowsMasked;
  }
  if (r.model->model().Capability(kTextCapability) != nullptr && r.model->text_feature() >= 0) {
    host.text.struct_size = sizeof(LoupeTextModel);
    host.text.tokenize_rows = TokenizeRows;
    host.text.predict_texts = PredictTexts;
  }
}

Status StatusFromPlugin(const LoupeHost& host, LoupeStatus status, const std::string& what) {
  std::string message = host.error_message;
  if (message.empty()) {
    message = what + " failed with status " + std::to_string(status) + " without saying why.";
  }
  switch (status) {
    case LOUPE_ERROR_INVALID_ARGUMENT:
      return InvalidArgument(message);
    case LOUPE_ERROR_UNSUPPORTED:
      return Unsupported(message);
    case LOUPE_ERROR_MODEL:
      return ModelError(message);
    case LOUPE_ERROR_CANCELLED:
      return Status(StatusCode::kCancelled, message);
    case LOUPE_ERROR_NOT_FOUND:
      return NotFound(message);
    default:
      return Internal(message);
  }
}

}  // namespace

Result<Explanation> LoadedExplainer::Explain(const ExplainRequest& request) const {
  if (request.dataset == nullptr || request.model == nullptr || request.features == nullptr) {
    return Internal("an explain request needs a dataset, a feature matrix and a model.");
  }
  const auto start = std::chrono::steady_clock::now();
  LoupeHost host;
  host.request = &request;
  host.descriptor = &descriptor_;
  host.params_text = request.params.dump();
  std::vector<std::vector<const char*>> level_pointers;
  level_pointers.reserve(request.feature_names.size());
  DescribeDataset(host, level_pointers);

  const LoupeHostApi& api = HostApi();
  const std::string who = "explainer '" + descriptor_.name + "'";
  LoupeExplainerInstance* instance = nullptr;
  LoupeStatus status = vtable_->create(&api, &host, &instance);
  if (status != LOUPE_OK) return StatusFromPlugin(host, status, who + " (create)");
  if (instance == nullptr) return Internal(who + " returned no instance from create.");

  LoupeResultBuilder builder;
  status = vtable_->explain(instance, &api, &host, &builder);
  vtable_->destroy(instance);
  if (status != LOUPE_OK) return StatusFromPlugin(host, status, who);

  Explanation explanation;
  explanation.kind = descriptor_.output_kind;
  explanation.step = request.step_id;
  explanation.explainer = descriptor_.name;
  explanation.plugin_name = descriptor_.plugin_name;
  explanation.plugin_version = descriptor_.plugin_version;
  explanation.params = request.params;
  explanation.seed = request.seed;
  if (builder.body.contains("quality") && builder.body["quality"].is_object()) {
    explanation.quality = std::move(builder.body["quality"]);
    builder.body.erase("quality");
  }
  explanation.body = std::move(builder.body);
  explanation.elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (Status valid = ValidateExplanation(explanation); !valid.ok()) {
    return Internal(who + " of plugin '" + descriptor_.plugin_name + "' produced a malformed " +
                    explanation.kind + ": " + valid.message());
  }
  return explanation;
}

}  // namespace loupe
