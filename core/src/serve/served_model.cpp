#include "serve/served_model.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>

#include "config/messages.hpp"
#include "model/remote_model.hpp"
#include "pipeline/validate.hpp"

namespace loupe::serve {

// The loaded model with a count of the rows it evaluates (Prometheus' loupe_model_evaluations_total).
// Everything else, capabilities included, goes to the wrapped model unchanged.
class CountingModel final : public Model {
 public:
  explicit CountingModel(std::shared_ptr<const Model> model) : model_(std::move(model)) {}
  const ModelInfo& Info() const override { return model_->Info(); }
  Result<Tensor> Predict(const TensorView& batch, OutputSpace space) const override {
    Count(batch);
    return model_->Predict(batch, space);
  }
  Status PredictInto(const TensorView& batch, OutputSpace space, std::span<double> out) const override {
    Count(batch);
    return model_->PredictInto(batch, space, out);
  }
  const TextModel* text_model() const override { return model_->text_model(); }
  const AttentionSource* attention_source() const override { return model_->attention_source(); }
  const HiddenStateSource* hidden_state_source() const override { return model_->hidden_state_source(); }
  const HeadMaskedModel* head_masked_model() const override { return model_->head_masked_model(); }
  const TreeEnsembleCapability* tree_ensemble() const override { return model_->tree_ensemble(); }

  std::uint64_t evaluations() const { return rows_.load(std::memory_order_relaxed); }

 private:
  void Count(const TensorView& batch) const {
    if (batch.ndim() > 0)
      rows_.fetch_add(static_cast<std::uint64_t>(batch.dim(0)), std::memory_order_relaxed);
  }
  std::shared_ptr<const Model> model_;
  mutable std::atomic<std::uint64_t> rows_{0};
};

namespace {

using config::Sentence;

SourcePos FieldPos(const ServedModelSpec& spec, const std::string& key) {
  const auto found = spec.field_pos.find(key);
  return found != spec.field_pos.end() ? found->second : spec.pos;
}

// The features a model reads: the spec's list, or every model input.
std::vector<std::string> FeaturesOf(const ServedModelSpec& spec, const Model& model) {
  if (!spec.features.empty()) return spec.features;
  std::vector<std::string> features;
  for (const ModelInput& input : model.Info().inputs) features.push_back(input.name);
  return features;
}

// A number written as text ("12", "-3.5e2"), whole: nothing else around it.
std::optional<double> ParseNumber(const std::string& text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

// Parameters whose value selects rows of the data: the row-typed ones, and the shap explainers'
// `background`, which is JSON-typed because it also takes {kmeans: K}.
bool SelectsBackgroundRows(const ParamSpec& param) {
  return param.type == ParamType::kRows || (param.type == ParamType::kJson && param.name == "background");
}

std::string LevelTextOf(const nlohmann::json& cell) {
  if (cell.is_string()) return cell.get<std::string>();
  if (cell.is_number_integer()) return std::to_string(cell.get<std::int64_t>());
  if (cell.is_number()) {
    const double value = cell.get<double>();
    if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15)
      return std::to_string(static_cast<std::int64_t>(value));
    return config::NumberText(value);
  }
  return cell.dump();
}

}  // namespace

std::shared_ptr<const ServedModel> ServedModel::Load(const ServedModelSpec& spec,
                                                     const PluginRegistry& registry,
                                                     std::vector<Diagnostic>& diagnostics) {
  const std::size_t errors_before = diagnostics.size();
  auto served = std::shared_ptr<ServedModel>(new ServedModel());
  served->spec_ = spec;
  const bool remote = spec.type == "remote";
  Result<std::shared_ptr<const Model>> model =
      remote ? LoadRemoteModel(spec.url, spec.remote_options) : LoadModel(spec.path, spec.type, spec.load);
  if (!model.ok())
    diagnostics.push_back(Diagnostic{FieldPos(spec, remote ? "url" : "path"), model.status().message()});
  CsvOptions options;
  options.missing = spec.missing;
  options.categorical = spec.categorical;
  options.text = spec.text;
  options.target = spec.target;
  Result<Dataset> background = ReadCsv(spec.data, options);
  if (!background.ok())
    diagnostics.push_back(Diagnostic{FieldPos(spec, "data"), background.status().message()});
  served->explainer_ = registry.FindShared(spec.explainer);
  if (served->explainer_ == nullptr) {
    std::vector<std::string> names;
    for (const LoadedExplainer* loaded : registry.Explainers()) names.push_back(loaded->descriptor().name);
    const std::string hint = names.empty() ? "; no explainer plugins are loaded (see 'loupe plugins')"
                                           : config::SuggestionSuffix(spec.explainer, names);
    diagnostics.push_back(Diagnostic{FieldPos(spec, "explainer"),
                                     Sentence("explainer '" + spec.explainer + "' is not loaded" + hint)});
  }
  if (diagnostics.size() != errors_before) return nullptr;

  served->model_ = std::make_shared<CountingModel>(*model);
  served->background_ = std::make_shared<const Dataset>(std::move(background).value());
  served->features_ = FeaturesOf(spec, **model);
  Result<std::shared_ptr<const FeatureModel>> feature_model =
      FeatureModel::Create(served->model_, *served->background_, served->features_);
  if (!feature_model.ok()) {
    diagnostics.push_back(Diagnostic{FieldPos(spec, spec.features.empty() ? "path" : "features"),
                                     feature_model.status().message()});
    return nullptr;
  }
  served->feature_model_ = *feature_model;
  served->IndexFeatures(diagnostics);
  served->CheckExplainer(**model, diagnostics);
  served->PinBackgroundRows(diagnostics);
  if (diagnostics.size() != errors_before) return nullptr;
  return served;
}

// The schema and level codes of each feature, from the background data.
void ServedModel::IndexFeatures(std::vector<Diagnostic>&) {
  for (const std::string& feature : features_) {
    const ColumnSchema& schema = background_->Find(feature)->schema();
    reads_text_ |= schema.type == ColumnType::kText;
    feature_schemas_.push_back(schema);
    std::unordered_map<std::string, int> codes;
    for (std::size_t level = 0; level < schema.levels.size(); ++level)
      codes.emplace(schema.levels[level], static_cast<int>(level));
    level_codes_.push_back(std::move(codes));
  }
}

// The explainer's parameters, as a pipeline step's: checked, defaults filled in, with positions; and the
// capabilities it needs of the model.
void ServedModel::CheckExplainer(const Model& model, std::vector<Diagnostic>& diagnostics) {
  StepSpec step;
  step.id = spec_.name;
  step.explainer = spec_.explainer;
  step.params = spec_.params;
  step.pos = spec_.pos;
  step.field_pos = spec_.field_pos;
  step.param_pos = spec_.param_pos;
  for (Diagnostic& d : ValidateStepParams(step, explainer_->descriptor()))
    diagnostics.push_back(std::move(d));
  for (const std::string& capability : explainer_->descriptor().required_capabilities) {
    if (!ModelOffersCapability(model, capability)) {
      diagnostics.push_back(Diagnostic{FieldPos(spec_, "explainer"), "explainer '" + spec_.explainer +
                                                                         "' needs the model capability '" +
                                                                         capability + "', which model '" +
                                                                         spec_.path.string() + "' lacks."});
    }
  }
  params_ = step.params;
}

// Each parameter that selects rows, resolved once against the background data (ParamsFor moves it past a
// request's rows).
void ServedModel::PinBackgroundRows(std::vector<Diagnostic>& diagnostics) {
  for (const ParamSpec& param : explainer_->descriptor().params) {
    if (!SelectsBackgroundRows(param) || !params_.contains(param.name)) continue;
    const nlohmann::json& value = params_[param.name];
    if (value.is_null() || value.is_object()) continue;  // absent, or {kmeans: K} over the data
    Result<RowSelection> selection = RowSelection::FromJson(value);
    Result<std::vector<std::int64_t>> rows = selection.ok()
                                                 ? selection->Resolve(background_rows(), spec_.seed, 0)
                                                 : Result<std::vector<std::int64_t>>(selection.status());
    const auto pos = spec_.param_pos.find(param.name);
    if (!rows.ok()) {
      diagnostics.push_back(Diagnostic{
          pos != spec_.param_pos.end() ? pos->second : spec_.pos,
          "parameter '" + param.name + "' (rows of the background data): " + rows.status().message()});
      continue;
    }
    PinnedRows pinned;
    pinned.is_range =
        selection->kind == RowSelection::Kind::kAll || selection->kind == RowSelection::Kind::kRange;
    if (pinned.is_range) {
      pinned.begin = rows->empty() ? 0 : rows->front();
      pinned.end = rows->empty() ? 0 : rows->back() + 1;
    }
    pinned.list = std::move(rows).value();
    pinned_rows_[param.name] = std::move(pinned);
  }
}

const ModelInfo& ServedModel::info() const { return model_->Info(); }

std::uint64_t ServedModel::evaluations() const { return model_->evaluations(); }

Result<double> ServedModel::Encode(std::size_t feature, const nlohmann::json& cell,
                                   const std::string& where) const {
  const ColumnSchema& schema = feature_schemas_[feature];
  if (cell.is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (schema.type == ColumnType::kCategorical) {
    if (cell.is_string() || cell.is_number()) {
      const auto code = level_codes_[feature].find(LevelTextOf(cell));
      if (code != level_codes_[feature].end()) return static_cast<double>(code->second);
    }
    return InvalidArgument(Sentence(where + ": feature '" + schema.name + "' has no level " +
                                    config::ValueText(cell) +
                                    config::SuggestionSuffix(LevelTextOf(cell), schema.levels)));
  }
  if (cell.is_number()) return cell.get<double>();
  if (cell.is_string()) {
    if (std::optional<double> number = ParseNumber(cell.get<std::string>())) return *number;
  }
  return InvalidArgument(where + ": feature '" + schema.name + "' must be a number or null, found " +
                         config::ValueText(cell) + ".");
}

Result<ServedModel::EncodedRows> ServedModel::EncodeInstances(const nlohmann::json& instances) const {
  if (!instances.is_array() || instances.empty())
    return InvalidArgument("'instances' must be a non-empty list of rows.");
  const std::size_t width = features_.size();
  EncodedRows rows;
  rows.values =
      Tensor(DType::kF64, {static_cast<std::int64_t>(instances.size()), static_cast<std::int64_t>(width)});
  rows.texts.resize(width);
  double* out = rows.values.data<double>();
  for (std::size_t row = 0; row < instances.size(); ++row) {
    const nlohmann::json& instance = instances[row];
    const std::string where = "instances[" + std::to_string(row) + "]";
    if (instance.is_array() && instance.size() != width) {
      return InvalidArgument(where + " has " + std::to_string(instance.size()) + " values, expected " +
                             std::to_string(width) + " (" + config::JoinNames(features_) + ").");
    }
    if (!instance.is_array() && !instance.is_object()) {
      return InvalidArgument(where +
                             " must be a list of values in feature order or an object by feature name.");
    }
    for (std::size_t feature = 0; feature < width; ++feature) {
      if (instance.is_object() && !instance.contains(features_[feature]))
        return InvalidArgument(where + " lacks feature '" + features_[feature] + "'.");
      const nlohmann::json& cell = instance.is_array() ? instance[feature] : instance[features_[feature]];
      if (feature_schemas_[feature].type == ColumnType::kText) {
        if (!cell.is_string() && !cell.is_null())
          return InvalidArgument(where + ": feature '" + features_[feature] + "' is text, found " +
                                 config::ValueText(cell) + ".");
        rows.texts[feature].push_back(cell.is_string() ? cell.get<std::string>() : "");
        out[row * width + feature] = cell.is_string() ? static_cast<double>(row) : std::nan("");
        continue;
      }
      LOUPE_ASSIGN_OR_RETURN(out[row * width + feature], Encode(feature, cell, where));
    }
  }
  return rows;
}

Result<Tensor> ServedModel::Predict(const EncodedRows& rows) const {
  const std::size_t outputs = info().OutputNames(info().default_space()).size();
  Tensor predictions(DType::kF64, {rows.values.dim(0), static_cast<std::int64_t>(outputs)});
  const std::span<double> out(predictions.data<double>(), predictions.size());
  if (!reads_text_) {
    LOUPE_RETURN_IF_ERROR(feature_model_->PredictInto(rows.values, info().default_space(), out));
    return predictions;
  }
  // Text cells name rows of a dataset that holds the request's texts: the request in front of the
  // background, as an explanation sees it.
  const Dataset dataset = CombineWithBackground(rows);
  LOUPE_ASSIGN_OR_RETURN(const std::shared_ptr<const FeatureModel> model,
                         FeatureModel::Create(model_, dataset, features_));
  LOUPE_RETURN_IF_ERROR(model->PredictInto(rows.values, info().default_space(), out));
  return predictions;
}

// The instances first (rows 0..n-1, so the explanation's rows are the request's), then the background.
// Columns that are not features (the target, say) are missing for the instances.
Dataset ServedModel::CombineWithBackground(const EncodedRows& rows) const {
  const std::int64_t n = rows.values.dim(0);
  const std::size_t width = features_.size();
  std::vector<Column> columns;
  for (const Column& column : background_->columns()) {
    const auto feature = std::find(features_.begin(), features_.end(), column.name()) - features_.begin();
    const bool is_feature = static_cast<std::size_t>(feature) < width;
    std::vector<std::uint8_t> missing(static_cast<std::size_t>(n), 1);
    if (column.type() == ColumnType::kText) {
      std::vector<std::string> text(static_cast<std::size_t>(n));
      for (std::int64_t row = 0; is_feature && row < n; ++row) {
        text[row] = rows.texts[feature][row];
        missing[row] = std::isnan(rows.values.data<double>()[row * width + feature]) ? 1 : 0;
      }
      text.insert(text.end(), column.text().begin(), column.text().end());
      missing.insert(missing.end(), column.missing().begin(), column.missing().end());
      columns.emplace_back(column.schema(), std::move(text), std::move(missing));
      continue;
    }
    std::vector<double> values(static_cast<std::size_t>(n), std::numeric_limits<double>::quiet_NaN());
    for (std::int64_t row = 0; is_feature && row < n; ++row) {
      values[row] = rows.values.data<double>()[row * width + feature];
      missing[row] = std::isnan(values[row]) ? 1 : 0;
    }
    values.insert(values.end(), column.values().begin(), column.values().end());
    missing.insert(missing.end(), column.missing().begin(), column.missing().end());
    columns.emplace_back(column.schema(), std::move(values), std::move(missing));
  }
  return Dataset("<request to model '" + spec_.name + "'>", background_->schema(), std::move(columns));
}

// The canonical parameters with each row-typed one moved past the request's `instance_rows` rows.
nlohmann::json ServedModel::ParamsFor(std::int64_t instance_rows) const {
  nlohmann::json params = params_;
  for (const auto& [name, pinned] : pinned_rows_) {
    if (pinned.is_range) {
      params[name] =
          std::to_string(pinned.begin + instance_rows) + ":" + std::to_string(pinned.end + instance_rows);
      continue;
    }
    nlohmann::json list = nlohmann::json::array();
    for (std::int64_t row : pinned.list) list.push_back(row + instance_rows);
    params[name] = std::move(list);
  }
  return params;
}

Result<Explanation> ServedModel::Explain(const EncodedRows& rows, const std::atomic<bool>* cancelled) const {
  const Dataset dataset = CombineWithBackground(rows);
  ExplainRequest request;
  request.step_id = spec_.name;
  request.dataset = &dataset;
  request.feature_names = features_;
  LOUPE_ASSIGN_OR_RETURN(request.model, FeatureModel::Create(model_, dataset, features_));
  LOUPE_ASSIGN_OR_RETURN(Tensor matrix, dataset.Matrix(features_));
  request.features = std::make_shared<const Tensor>(std::move(matrix));
  request.rows.resize(static_cast<std::size_t>(rows.values.dim(0)));
  std::iota(request.rows.begin(), request.rows.end(), std::int64_t{0});
  request.params = ParamsFor(rows.values.dim(0));
  request.seed = spec_.seed;
  request.positive_label = spec_.positive;
  request.cancelled = cancelled;
  request.log = [](int, const std::string&) {
  };  // a service's log is its access log; explainers' notes are dropped
  try {
    return explainer_->Explain(request);
  } catch (const std::exception& error) {  // a worker thread must not die of it
    return Internal(std::string("the explainer failed: ") + error.what() + ".");
  }
}

}  // namespace loupe::serve
