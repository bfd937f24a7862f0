#include "loupe/core/model.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "loupe/core/attention.hpp"
#include "loupe/core/explainer.hpp"
#include "model/hf_encoder.hpp"
#include "model/native_model.hpp"
#include "model/onnx_model.hpp"
#include "model/predict_buffers.hpp"
#include "model/xgboost_model.hpp"

namespace loupe {

const char* TaskName(Task task) { return task == Task::kClassification ? "classification" : "regression"; }
const char* OutputSpaceName(OutputSpace space) { return space == OutputSpace::kRaw ? "raw" : "probability"; }

namespace {

// "native" for YAML model files, "xgboost" for JSON ones (XGBoost's save_model writes JSON): a file named
// *.json or whose first non-blank character is '{'; "onnx" for *.onnx files.
std::string DetectModelType(const std::filesystem::path& path) {
  if (path.extension() == ".json") return "xgboost";
  if (path.extension() == ".onnx") return "onnx";
  std::ifstream in(path);
  char first = 0;
  while (in.get(first) && std::isspace(static_cast<unsigned char>(first))) {
  }
  return first == '{' ? "xgboost" : "native";
}

}  // namespace

Result<std::shared_ptr<const Model>> LoadModel(const std::filesystem::path& path, const std::string& type,
                                               const ModelLoadOptions& options) {
  // A save_pretrained directory (config.json, model.safetensors, tokenizer.json) is the one model that is
  // not a file.
  if (type == "huggingface" || (type == "auto" && model::IsHuggingFaceDirectory(path))) {
    if (!options.attention.empty() || !options.tokenizer.empty() || options.features.size() > 1) {
      return InvalidArgument("model '" + path.string() +
                             "': a huggingface model takes its tokenizer and attention from its directory "
                             "and reads one text column, so it takes no tokenizer, no attention and at most "
                             "one feature.");
    }
    return model::LoadHuggingFaceModel(path, options.bf16 ? nn::Precision::kBF16 : nn::Precision::kF32,
                                       options.features.empty() ? "text" : options.features[0]);
  }
  const bool onnx_file = type == "onnx" || (type == "auto" && path.extension() == ".onnx");
  if (options.bf16 && !onnx_file) {
    return InvalidArgument("model '" + path.string() +
                           "': bf16 applies to huggingface models and onnx models; a loupe.model/v1 file "
                           "states its own precision.");
  }
  if (!onnx_file && (!options.features.empty() || !options.attention.empty() || !options.tokenizer.empty())) {
    return InvalidArgument("model '" + path.string() +
                           "': features, attention and tokenizer apply to onnx and huggingface models; a "
                           "loupe.model/v1 file or an XGBoost model names its own inputs.");
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return NotFound("model path '" + path.string() +
                    "' is a directory without config.json; a save_pretrained directory holds config.json, "
                    "model.safetensors and tokenizer.json.");
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    return NotFound("model file '" + path.string() + "' does not exist.");
  }
  const std::string resolved = type == "auto" ? DetectModelType(path) : type;
  if (resolved == "native") return LoadNativeModel(path);
  if (resolved == "xgboost") return LoadXGBoostModel(path);
  if (resolved == "onnx") {
    return LoadOnnxModel(path, {.features = options.features,
                                .attention = options.attention,
                                .tokenizer = options.tokenizer,
                                .bf16 = options.bf16});
  }
  return InvalidArgument("unknown model type '" + type + "'; expected native, xgboost, onnx or huggingface.");
}

Status Model::PredictInto(const TensorView& batch, OutputSpace space, std::span<double> out) const {
  LOUPE_ASSIGN_OR_RETURN(const Tensor predicted, Predict(batch, space));
  if (static_cast<std::size_t>(predicted.size()) != out.size()) {
    return InvalidArgument("model '" + Info().name + "' gives " + std::to_string(predicted.size()) +
                           " outputs for this batch, but the output buffer holds " +
                           std::to_string(out.size()) + ".");
  }
  std::copy_n(predicted.data<double>(), out.size(), out.data());
  return Status::Ok();
}

Result<Tensor> Model::PredictThroughInto(const TensorView& batch, OutputSpace space) const {
  const std::int64_t n = batch.ndim() == 2 ? batch.dim(0) : 0;
  const auto n_out = static_cast<std::int64_t>(Info().OutputNames(space).size());
  Tensor result(DType::kF64, {n, n_out});
  LOUPE_RETURN_IF_ERROR(
      PredictInto(batch, space, {result.data<double>(), static_cast<std::size_t>(result.size())}));
  return result;
}

namespace model {

Status CheckOutputBuffer(const ModelInfo& info, std::int64_t rows, OutputSpace space, std::size_t size) {
  const auto needed = static_cast<std::size_t>(rows) * info.OutputNames(space).size();
  if (size == needed) return Status::Ok();
  return InvalidArgument("model '" + info.name + "' writes " + std::to_string(needed) + " outputs for " +
                         std::to_string(rows) + " rows, but the output buffer holds " + std::to_string(size) +
                         ".");
}

}  // namespace model

Result<std::shared_ptr<const FeatureModel>> FeatureModel::Create(std::shared_ptr<const Model> model,
                                                                 const Dataset& dataset,
                                                                 std::vector<std::string> feature_names) {
  auto fm = std::make_shared<FeatureModel>();
  for (const ModelInput& input : model->Info().inputs) {
    int source = -1;
    for (std::size_t f = 0; f < feature_names.size(); ++f) {
      if (feature_names[f] == input.name) source = static_cast<int>(f);
    }
    const Column* column = dataset.Find(input.name);
    if (source < 0 || column == nullptr) {
      return InvalidArgument("model '" + model->Info().name + "' needs the input '" + input.name +
                             "', which is not among the pipeline's features of '" + dataset.source() + "'.");
    }
    std::vector<double> mapping;
    if (input.type == ColumnType::kText) {
      if (column->type() != ColumnType::kText) {
        return InvalidArgument("column '" + input.name + "' of '" + dataset.source() + "' is " +
                               ColumnTypeName(column->type()) + " but model '" + model->Info().name +
                               "' reads it as text; list it under data.text.");
      }
      const TextModel* text_model = model->text_model();
      if (text_model == nullptr || model->Info().inputs.size() != 1) {
        return InvalidArgument("model '" + model->Info().name + "' has the text input '" + input.name +
                               "' but does not offer the text capability over a single input.");
      }
      fm->text_feature_ = source;
      fm->text_model_ = text_model;
      fm->text_column_ = input.name;
      fm->texts_ = std::make_shared<const std::vector<std::string>>(column->text());
    } else if (input.type == ColumnType::kCategorical) {
      if (column->type() != ColumnType::kCategorical) {
        return InvalidArgument("column '" + input.name + "' of '" + dataset.source() + "' is " +
                               ColumnTypeName(column->type()) + " but model '" + model->Info().name +
                               "' takes it as categorical; list it under data.categorical.");
      }
      std::map<std::string, double> model_code;
      for (std::size_t l = 0; l < input.levels.size(); ++l)
        model_code[input.levels[l]] = static_cast<double>(l);
      for (const std::string& level : column->schema().levels) {
        const auto it = model_code.find(level);
        mapping.push_back(it == model_code.end() ? std::nan("") : it->second);  // unknown level: all zeros
      }
      // The same levels in the same order need no mapping: a code past them is no level to either.
      bool same_codes = mapping.size() == input.levels.size();
      for (std::size_t l = 0; same_codes && l < mapping.size(); ++l)
        same_codes = mapping[l] == static_cast<double>(l);
      if (same_codes) mapping.clear();
    } else if (column->type() != ColumnType::kNumeric) {
      return InvalidArgument("column '" + input.name + "' of '" + dataset.source() + "' is " +
                             ColumnTypeName(column->type()) + " but model '" + model->Info().name +
                             "' takes it as a number.");
    }
    fm->input_source_.push_back(source);
    fm->level_mapping_.push_back(std::move(mapping));
  }
  fm->gather_is_identity_ = fm->text_model_ == nullptr && fm->input_source_.size() == feature_names.size();
  for (std::size_t j = 0; j < fm->input_source_.size(); ++j) {
    if (fm->input_source_[j] != static_cast<int>(j) || !fm->level_mapping_[j].empty()) {
      fm->gather_is_identity_ = false;
    }
  }
  fm->model_ = std::move(model);
  fm->feature_names_ = std::move(feature_names);
  return std::shared_ptr<const FeatureModel>(std::move(fm));
}

Result<Tensor> FeatureModel::Predict(const TensorView& inputs, OutputSpace space) const {
  const std::int64_t n = inputs.ndim() == 2 ? inputs.dim(0) : 0;
  const auto n_out = static_cast<std::int64_t>(model_->Info().OutputNames(space).size());
  Tensor result(DType::kF64, {n, n_out});
  LOUPE_RETURN_IF_ERROR(
      PredictInto(inputs, space, {result.data<double>(), static_cast<std::size_t>(result.size())}));
  return result;
}

Status FeatureModel::PredictInto(const TensorView& inputs, OutputSpace space, std::span<double> out) const {
  const auto n_features = static_cast<std::int64_t>(feature_names_.size());
  if (inputs.ndim() != 2 || inputs.dim(1) != n_features || inputs.dtype() != DType::kF64) {
    return InvalidArgument("a prediction batch must be f64 [n, " + std::to_string(n_features) + "], found " +
                           DTypeName(inputs.dtype()) + " " + ShapeToString(inputs.shape()) + ".");
  }
  if (space == OutputSpace::kProbability && model_->Info().task != Task::kClassification) {
    return InvalidArgument("model '" + model_->Info().name +
                           "' is a regressor and has no probability outputs.");
  }
  if (space == OutputSpace::kRaw && model_->Info().raw_output_names.empty()) {
    return InvalidArgument("model '" + model_->Info().name +
                           "' has no raw outputs (margins or logits); explain output: probability.");
  }
  LOUPE_RETURN_IF_ERROR(model::CheckOutputBuffer(model_->Info(), inputs.dim(0), space, out.size()));
  if (text_model_ != nullptr) return PredictTextInto(inputs, space, out);
  if (gather_is_identity_) return model_->PredictInto(inputs, space, out);
  return GatherAndPredict(inputs, space, out);
}

Status FeatureModel::PredictTextInto(const TensorView& inputs, OutputSpace space,
                                     std::span<double> out) const {
  const std::int64_t n = inputs.dim(0);
  const auto n_features = static_cast<std::int64_t>(feature_names_.size());
  std::vector<std::string> texts;
  texts.reserve(static_cast<std::size_t>(n));
  for (std::int64_t row = 0; row < n; ++row) {
    LOUPE_ASSIGN_OR_RETURN(const std::string_view text,
                           ResolveText(inputs.data<double>()[row * n_features + text_feature_]));
    texts.emplace_back(text);
  }
  LOUPE_ASSIGN_OR_RETURN(const Tensor predicted, text_model_->PredictText(texts, space));
  if (static_cast<std::size_t>(predicted.size()) != out.size()) {
    return ModelError("model '" + model_->Info().name + "' returned " + std::to_string(predicted.size()) +
                      " values for " + std::to_string(out.size()) + " outputs.");
  }
  std::copy_n(predicted.data<double>(), out.size(), out.data());
  return Status::Ok();
}

namespace {

// Rows gathered per model call. A multiple of the native model's own chunk (2048 rows), so that a network
// sees exactly the row groups it would see for the whole batch and gives the same bits.
constexpr std::int64_t kGatherRows = 4096;

// One thread's gather buffer with the view over it (each lease its own: a nested call never shares it).
struct GatherScratch {
  std::vector<double> values;
  model::MatrixViewCache view;
};
std::size_t ScratchBytes(const GatherScratch& scratch) { return model::ScratchBytes(scratch.values); }

}  // namespace

// Maps dataset columns and level codes onto the model's inputs chunk by chunk, through a per-thread
// scratch buffer of at most kGatherRows rows, and predicts each chunk into its rows of `out`.
Status FeatureModel::GatherAndPredict(const TensorView& inputs, OutputSpace space,
                                      std::span<double> out) const {
  const std::int64_t n = inputs.dim(0);
  const auto n_features = static_cast<std::int64_t>(feature_names_.size());
  const auto n_inputs = static_cast<std::int64_t>(input_source_.size());
  if (n == 0) return Status::Ok();
  const auto n_out = static_cast<std::int64_t>(out.size()) / n;
  model::Scratch<GatherScratch> scratch;
  for (std::int64_t begin = 0; begin < n; begin += kGatherRows) {
    const std::int64_t rows = std::min(kGatherRows, n - begin);
    scratch->values.resize(static_cast<std::size_t>(rows * n_inputs));
    double* to = scratch->values.data();
    ToModelInputs(inputs.data<double>() + begin * n_features, rows, to);
    LOUPE_RETURN_IF_ERROR(model_->PredictInto(
        scratch->view.View(to, rows, n_inputs), space,
        out.subspan(static_cast<std::size_t>(begin * n_out), static_cast<std::size_t>(rows * n_out))));
  }
  return Status::Ok();
}

double FeatureModel::ToModelCoding(std::size_t input, double value) const {
  const std::vector<double>& mapping = level_mapping_[input];
  if (mapping.empty() || std::isnan(value)) return value;
  const bool known = value >= 0 && value < static_cast<double>(mapping.size());
  return known ? mapping[static_cast<std::size_t>(value)] : std::nan("");
}

void FeatureModel::ToModelInputs(const double* rows, std::int64_t n, double* out) const {
  const auto n_features = static_cast<std::int64_t>(feature_names_.size());
  const auto n_inputs = static_cast<std::int64_t>(input_source_.size());
  // A column at a time: the mapping's branch is decided once per column, not once per value.
  for (std::int64_t j = 0; j < n_inputs; ++j) {
    const double* from = rows + input_source_[static_cast<std::size_t>(j)];
    if (level_mapping_[static_cast<std::size_t>(j)].empty()) {
      for (std::int64_t row = 0; row < n; ++row) out[row * n_inputs + j] = from[row * n_features];
    } else {
      for (std::int64_t row = 0; row < n; ++row)
        out[row * n_inputs + j] = ToModelCoding(static_cast<std::size_t>(j), from[row * n_features]);
    }
  }
}

Result<std::string_view> FeatureModel::ResolveText(double handle) const {
  if (texts_ == nullptr) {
    return InvalidArgument("model '" + model_->Info().name + "' reads no text, so it has no text handles.");
  }
  if (std::isnan(handle)) return std::string_view();
  const auto rows = static_cast<double>(texts_->size());
  if (!(handle >= 0 && handle < rows) || handle != std::floor(handle)) {
    std::ostringstream value;
    value << handle;
    return InvalidArgument("text feature '" + text_column_ + "' holds " + value.str() +
                           ", which is not a row number of the data (0 to " +
                           std::to_string(texts_->size() - 1) + ") nor NaN.");
  }
  return std::string_view((*texts_)[static_cast<std::size_t>(handle)]);
}

}  // namespace loupe
