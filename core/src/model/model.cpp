#include "loupe/core/model.hpp"

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "loupe/core/attention.hpp"
#include "loupe/core/explainer.hpp"
#include "model/native_model.hpp"
#include "model/xgboost_model.hpp"

namespace loupe {

const char* TaskName(Task task) { return task == Task::kClassification ? "classification" : "regression"; }
const char* OutputSpaceName(OutputSpace space) { return space == OutputSpace::kRaw ? "raw" : "probability"; }

namespace {

// "native" for YAML model files, "xgboost" for JSON ones (XGBoost's save_model writes JSON): a file named
// *.json or whose first non-blank character is '{'.
std::string DetectModelType(const std::filesystem::path& path) {
  if (path.extension() == ".json") return "xgboost";
  std::ifstream in(path);
  char first = 0;
  while (in.get(first) && std::isspace(static_cast<unsigned char>(first))) {
  }
  return first == '{' ? "xgboost" : "native";
}

}  // namespace

Result<std::shared_ptr<const Model>> LoadModel(const std::filesystem::path& path, const std::string& type) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return NotFound("model file '" + path.string() + "' does not exist.");
  }
  const std::string resolved = type == "auto" ? DetectModelType(path) : type;
  if (resolved == "native") return LoadNativeModel(path);
  if (resolved == "xgboost") return LoadXGBoostModel(path);
  return InvalidArgument("unknown model type '" + type + "'; expected native or xgboost.");
}

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
      const auto* text_model = static_cast<const TextModel*>(model->Capability(kTextCapability));
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
    } else if (column->type() != ColumnType::kNumeric) {
      return InvalidArgument("column '" + input.name + "' of '" + dataset.source() + "' is " +
                             ColumnTypeName(column->type()) + " but model '" + model->Info().name +
                             "' takes it as a number.");
    }
    fm->input_source_.push_back(source);
    fm->level_mapping_.push_back(std::move(mapping));
  }
  fm->model_ = std::move(model);
  fm->feature_names_ = std::move(feature_names);
  return std::shared_ptr<const FeatureModel>(std::move(fm));
}

Result<Tensor> FeatureModel::Predict(const TensorView& inputs, OutputSpace space) const {
  const auto n_features = static_cast<std::int64_t>(feature_names_.size());
  if (inputs.ndim() != 2 || inputs.dim(1) != n_features || inputs.dtype() != DType::kF64) {
    return InvalidArgument("a prediction batch must be f64 [n, " + std::to_string(n_features) + "], found " +
                           DTypeName(inputs.dtype()) + " " + ShapeToString(inputs.shape()) + ".");
  }
  if (space == OutputSpace::kProbability && model_->Info().task != Task::kClassification) {
    return InvalidArgument("model '" + model_->Info().name +
                           "' is a regressor and has no probability outputs.");
  }
  const std::int64_t n = inputs.dim(0);
  if (text_model_ != nullptr) {
    std::vector<std::string> texts;
    texts.reserve(static_cast<std::size_t>(n));
    for (std::int64_t row = 0; row < n; ++row) {
      LOUPE_ASSIGN_OR_RETURN(const std::string_view text,
                             ResolveText(inputs.data<double>()[row * n_features + text_feature_]));
      texts.emplace_back(text);
    }
    return text_model_->PredictText(texts, space);
  }
  const auto n_inputs = static_cast<std::int64_t>(input_source_.size());
  Tensor gathered(DType::kF64, {n, n_inputs});
  const double* in = inputs.data<double>();
  double* out = gathered.data<double>();
  for (std::int64_t row = 0; row < n; ++row) {
    for (std::int64_t j = 0; j < n_inputs; ++j) {
      double value = in[row * n_features + input_source_[static_cast<std::size_t>(j)]];
      const std::vector<double>& mapping = level_mapping_[static_cast<std::size_t>(j)];
      if (!mapping.empty() && !std::isnan(value)) {
        const auto code = static_cast<std::size_t>(value);
        value = code < mapping.size() ? mapping[code] : std::nan("");
      }
      out[row * n_inputs + j] = value;
    }
  }
  return model_->Predict(gathered.view(), space);
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
