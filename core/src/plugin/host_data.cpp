// The host's data and model functions: the dataset description and views, the step's rows, row
// selections, the model's description and predictions.
#include "model/predict_buffers.hpp"
#include "plugin/host_context.hpp"

namespace loupe::host_detail {
namespace {

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

}  // namespace

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

LoupeStatus DatasetFeatures(LoupeHost* host, LoupeTensorView* out) {
  FillView(out, host->request->features->data<double>(), host->feature_shape.data(), 2);
  return LOUPE_OK;
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
  if (column->in_matrix() && host->request->read_rows) {  // chunked input: every row, read now
    if (const Status read = host->request->read_rows(nullptr, 0); !read.ok())
      return SetError(host, LOUPE_ERROR_INTERNAL, read.message().c_str());
  }
  const ColumnValues view = column->values_view();
  const double* data = view.data;
  if (view.stride != 1) {  // a feature held in the feature matrix (Dataset::ShareMatrix): a contiguous copy
    std::vector<double> copy(static_cast<std::size_t>(view.size));
    for (std::int64_t row = 0; row < view.size; ++row) copy[static_cast<std::size_t>(row)] = view[row];
    data = Keep(host, host->array_buffers, std::move(copy));
  }
  FillView(values, data, shape, 1);
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
  if (host->request->read_rows) {  // chunked input: the rows resolved are read before the plugin reads them
    if (const Status read =
            host->request->read_rows(resolved->data(), static_cast<std::int64_t>(resolved->size()));
        !read.ok())
      return SetError(host, LOUPE_ERROR_INTERNAL, read.message().c_str());
  }
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
  if (space == OutputSpace::kRaw && info.raw_output_names.empty()) {
    return SetError(
        host, LOUPE_ERROR_INVALID_ARGUMENT,
        ("model '" + info.name + "' has no raw outputs (margins or logits); explain output: probability.")
            .c_str());
  }
  return LOUPE_OK;
}

// Predicts straight into the plugin's `outputs`: the room needed is known from the model's outputs before
// anything is computed, and the view of the plugin's rows is per-thread scratch, so a steady model loop
// costs no allocation here (docs/architecture.md §4).
LoupeStatus ModelPredict(LoupeHost* host, const LoupeTensorView* inputs, LoupeOutputSpace space,
                         double* outputs, std::int64_t capacity) {
  const FeatureModel& model = *host->request->model;
  if (inputs == nullptr || inputs->dtype != LOUPE_DTYPE_F64 || inputs->ndim != 2 ||
      inputs->strides != nullptr || inputs->shape[0] < 0) {
    return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                    "model_predict needs a contiguous f64 [n, features] tensor.");
  }
  const OutputSpace resolved = ResolveSpace(model.model().Info(), space);
  const std::int64_t needed =
      inputs->shape[0] * static_cast<std::int64_t>(model.model().Info().OutputNames(resolved).size());
  if (needed > capacity || (needed > 0 && outputs == nullptr)) {
    return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                    ("model_predict needs room for " + std::to_string(needed) + " outputs, got " +
                     std::to_string(outputs == nullptr ? 0 : capacity) + ".")
                        .c_str());
  }
  model::Scratch<model::MatrixViewCache> views;
  const TensorView& view =
      views->View(static_cast<const double*>(inputs->data), inputs->shape[0], inputs->shape[1]);
  const std::span<double> out(outputs, static_cast<std::size_t>(needed));
  // Under MPI a step on rank 0 alone shares its model evaluations among the ranks (ExplainRequest::predict).
  const Status predicted = host->request->predict ? host->request->predict(view, resolved, out)
                                                  : model.PredictInto(view, resolved, out);
  if (!predicted.ok()) {
    const LoupeStatus status =
        predicted.code() == StatusCode::kInvalidArgument ? LOUPE_ERROR_INVALID_ARGUMENT : LOUPE_ERROR_MODEL;
    return SetError(host, status, predicted.message().c_str());
  }
  return LOUPE_OK;
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
}

}  // namespace loupe::host_detail
