// `loupe predict`: a model's outputs for every row of a CSV file, one column per output. The model reads
// its inputs from the CSV by column name; a CSV lacking some of them is refused with all of them named.
#include <tbb/blocked_range.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "cli/cli.hpp"
#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"
#include "plugin/tbb_handoff.hpp"

namespace loupe::cli {
namespace {

// Rows per model call: large enough that the model, not the call, dominates (docs/architecture.md §4).
constexpr std::int64_t kRowsPerBatch = 4096;

std::string QuotedList(const std::vector<std::string>& names) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    text += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + ("'" + names[i] + "'");
  }
  return text;
}

}  // namespace

Status CheckModelInputsPresent(const Model& model, const fs::path& model_file, const fs::path& data_file) {
  Result<Dataset> data = ReadCsv(data_file);
  if (!data.ok()) return data.status();
  std::vector<std::string> missing;
  for (const ModelInput& input : model.Info().inputs) {
    if (data->Find(input.name) == nullptr) missing.push_back(input.name);
  }
  if (missing.empty()) return Status::Ok();
  const bool one = missing.size() == 1;
  return InvalidArgument(data_file.string() + " has no column for the model input" + (one ? " " : "s ") +
                         QuotedList(missing) + " (declared in " + model_file.filename().string() +
                         "); the model reads " + (one ? "it" : "each input") +
                         " from the column of the same name.");
}

namespace {

std::string PredictionsCsv(const Tensor& predictions, const std::vector<std::string>& names) {
  std::ostringstream csv;
  csv.precision(17);
  for (std::size_t i = 0; i < names.size(); ++i) csv << (i ? "," : "") << names[i];
  csv << "\n";
  const double* p = predictions.data<double>();
  for (std::int64_t r = 0; r < predictions.dim(0); ++r) {
    for (std::int64_t c = 0; c < predictions.dim(1); ++c)
      csv << (c ? "," : "") << p[r * predictions.dim(1) + c];
    csv << "\n";
  }
  return csv.str();
}

// Predicts in batches of kRowsPerBatch rows on up to `threads` threads (0: every core). Each batch
// writes its own rows of the result, so the numbers do not depend on the thread count.
Result<Tensor> PredictInBatches(const FeatureModel& model, const Tensor& matrix, OutputSpace space,
                                int threads) {
  const std::int64_t rows = matrix.dim(0);
  const auto outputs = static_cast<std::int64_t>(model.model().Info().OutputNames(space).size());
  Tensor result(DType::kF64, {rows, outputs});
  std::optional<tbb::global_control> limit;
  if (threads > 0)
    limit.emplace(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  const std::int64_t batches = (rows + kRowsPerBatch - 1) / kRowsPerBatch;
  std::vector<Status> failures(static_cast<std::size_t>(batches));
  plugin::TbbHandoff handoff;  // for ThreadSanitizer (plugin/tbb_handoff.hpp)
  handoff.BeforeSpawn();
  tbb_spawn::ChunksInParallel(batches, [&](const tbb::blocked_range<std::int64_t>& range) {
    handoff.TaskStarts();
    for (std::int64_t b = range.begin(); b < range.end(); ++b) {
      const std::int64_t begin = b * kRowsPerBatch, end = std::min(rows, begin + kRowsPerBatch);
      Result<Tensor> part = model.Predict(matrix.view().Rows(begin, end), space);
      if (!part.ok()) {
        failures[static_cast<std::size_t>(b)] = part.status();
      } else {
        std::copy_n(part->data<double>(), (end - begin) * outputs, result.data<double>() + begin * outputs);
      }
    }
    handoff.TaskEnds();
  });
  handoff.AfterJoin();
  for (const Status& failure : failures) {
    if (!failure.ok()) return failure;
  }
  return result;
}

// The pipeline's model keys that a model file cannot hold (ModelLoadOptions), from their options.
Result<ModelLoadOptions> LoadOptionsOf(const po::variables_map& vm) {
  ModelLoadOptions options;
  const std::string precision = vm.count("precision") ? vm["precision"].as<std::string>() : "f32";
  if (precision != "f32" && precision != "bf16")
    return InvalidArgument("--precision must be f32 or bf16, found '" + precision + "'.");
  options.bf16 = precision == "bf16";
  options.features = Repeated(vm, "feature");
  if (vm.count("tokenizer")) options.tokenizer = vm["tokenizer"].as<std::string>();
  return options;
}

Result<std::string> PredictCsv(const po::variables_map& vm) {
  const fs::path model_file = vm["model"].as<std::string>(), data_file = vm["data"].as<std::string>();
  LOUPE_ASSIGN_OR_RETURN(const ModelLoadOptions load, LoadOptionsOf(vm));
  LOUPE_ASSIGN_OR_RETURN(std::shared_ptr<const Model> model, LoadModel(model_file, "auto", load));
  CsvOptions csv;
  LOUPE_RETURN_IF_ERROR(CheckModelInputsPresent(*model, model_file, data_file));
  std::vector<std::string> inputs;
  for (const ModelInput& input : model->Info().inputs) {
    inputs.push_back(input.name);
    if (input.type == ColumnType::kCategorical) csv.categorical.push_back(input.name);
    if (input.type == ColumnType::kText) csv.text.push_back(input.name);
  }
  LOUPE_ASSIGN_OR_RETURN(Dataset data, ReadCsv(data_file, csv));
  LOUPE_ASSIGN_OR_RETURN(std::shared_ptr<const FeatureModel> feature_model,
                         FeatureModel::Create(model, data, inputs));
  LOUPE_ASSIGN_OR_RETURN(Tensor matrix, data.Matrix(inputs));
  const OutputSpace space = model->Info().default_space();
  LOUPE_ASSIGN_OR_RETURN(Tensor predictions,
                         PredictInBatches(*feature_model, matrix, space, vm["threads"].as<int>()));
  return PredictionsCsv(predictions, model->Info().OutputNames(space));
}

int Predict(const po::variables_map& vm) {
  if (vm["threads"].as<int>() < 0) return Fail(kExitBadInput, "--threads must be 0 (all cores) or more.");
  Result<std::string> text = PredictCsv(vm);
  if (!text.ok()) return FailWith(text.status());
  if (!vm.count("output")) {
    std::fwrite(text->data(), 1, text->size(), stdout);
    return kExitOk;
  }
  const std::string output = vm["output"].as<std::string>();
  std::ofstream out(output, std::ios::binary);
  out << *text;
  if (!out) return Fail(kExitBadInput, "cannot write '" + output + "'.");
  return kExitOk;
}

}  // namespace

Command PredictCommand() {
  return {
      "predict",
      "evaluates a model on every row of a CSV file: one column per model output",
      "loupe predict --model MODEL --data CSV [options]",
      "MODEL is a loupe.model/v1 YAML file, an XGBoost JSON model, an ONNX model or a Hugging Face "
      "save_pretrained directory (detected). The model reads each of its inputs from the CSV column of the "
      "same name; a classifier writes one probability per class. --tokenizer, --feature and --precision "
      "are a pipeline's model.tokenizer, model.features and model.precision (docs/pipeline.md).",
      {{"model", "MODEL", "the model file", Text, false, true},
       {"data", "CSV", "the rows to predict, with a header row", Text, false, true},
       {"tokenizer", "FILE", "an ONNX text model's tokenizer.json", Text},
       {"feature", "NAME",
        "an ONNX model's input feature, in order (repeatable); a Hugging Face model's text column", TextList},
       {"precision", "f32|bf16", "ONNX and Hugging Face models: bf16 products by the weights", Text},
       {"output,o", "OUT.csv", "write the predictions here instead of to stdout", Text},
       {"threads", "N", "worker threads; 0 (the default) uses every core", Threads}},
      {"loupe predict --model examples/credit_scoring/models/credit_logreg.yaml \\\n"
       "                --data examples/credit_scoring/data/credit_data.csv -o predictions.csv"},
      Predict};
}

}  // namespace loupe::cli
