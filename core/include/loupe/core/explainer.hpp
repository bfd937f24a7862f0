// Explainers as the host sees them: parameter specs, descriptors and the request one step makes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/core/attention.hpp"
#include "loupe/core/dataset.hpp"
#include "loupe/core/explanation.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/status.hpp"

namespace loupe {

enum class ParamType { kBool, kInt, kFloat, kString, kEnum, kRows, kJson, kStringList };
const char* ParamTypeName(ParamType type);

// What a parameter's value names in the data (LOUPE_PARAM_ROLE_* of loupe_plugin.h), checked against the
// data before any step runs. kLabel values may be written as strings, numbers or booleans and reach the
// plugin as strings.
enum class ParamRole { kNone, kColumn, kColumnKeys, kLabel, kGroups };

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kString;
  std::string doc;
  std::optional<nlohmann::json> default_value;  // absent: no default
  bool required = false;
  std::optional<double> min_value;  // inclusive, for kInt and kFloat
  std::optional<double> max_value;
  std::vector<std::string> choices;  // kEnum
  ParamRole role = ParamRole::kNone;
};

// Checks one parameter value against its spec. On failure, returns a sentence without position such as
// "parameter 'nsamples' must be >= 1, found -3" — the caller prefixes FILE:LINE:COL. An int takes only
// values written as integers (3.0 is a float); a float takes any number but NaN.
Status CheckParamValue(const ParamSpec& spec, const nlohmann::json& value);

// A class label as text, whichever way it was written: "bad" as is, 1 as "1", true as "true".
std::string LabelText(const nlohmann::json& value);

enum class ExplainerScope { kLocal, kGlobal };

struct ExplainerDescriptor {
  std::string name;  // "plugin.explainer"
  std::string summary;
  std::string output_kind;
  ExplainerScope scope = ExplainerScope::kLocal;
  std::vector<ParamSpec> params;
  std::vector<std::string> required_capabilities;
  std::string plugin_name;
  std::string plugin_version;
  std::string plugin_path;

  const ParamSpec* FindParam(const std::string& param) const;
};

// A selection of data rows as a pipeline writes it: "all", "a:b" (half-open, 0-based; "a:" runs to the
// last row, ":b" starts at row 0), a list of row numbers (kept in its order, no repeats), or a count N
// (a seeded sample of N distinct rows).
struct RowSelection {
  enum class Kind { kAll, kRange, kList, kCount };
  // `end` of an open range "a:", which stops at the last row of whatever data it is resolved against.
  static constexpr std::int64_t kToEnd = -1;

  Kind kind = Kind::kAll;
  std::int64_t begin = 0, end = 0;  // kRange; end may be kToEnd
  std::vector<std::int64_t> list;   // kList
  std::int64_t count = 0;           // kCount

  // Parses the JSON form; the error is a sentence without position.
  static Result<RowSelection> FromJson(const nlohmann::json& value);
  // The canonical JSON form: "all", "a:b" or "a:", a list, or a count.
  nlohmann::json ToJson() const;
  // Row indices for a dataset of `num_rows` rows; kCount samples with the counter-based RNG keyed by
  // (seed, stream), sorted ascending. Out-of-range rows are an error naming the row and the row count.
  Result<std::vector<std::int64_t>> Resolve(std::int64_t num_rows, std::uint64_t seed,
                                            std::uint64_t stream) const;
};

// Evaluates a model on the pipeline's feature matrix: maps dataset features (by name, categorical codes
// through level names) onto the model's inputs. A text model (loupe/core/attention.hpp) reads its one
// text input from a text feature, whose values are text handles (dataset row indices, NaN for missing):
// Predict replaces them with the dataset's texts and calls TextModel::PredictText. Thread-safe.
class FeatureModel {
 public:
  // Fails when the model needs an input that is not among `feature_names`, or whose type differs. Keeps
  // a copy of the texts of a text input's column, so `dataset` need not outlive the FeatureModel.
  static Result<std::shared_ptr<const FeatureModel>> Create(std::shared_ptr<const Model> model,
                                                            const Dataset& dataset,
                                                            std::vector<std::string> feature_names);

  const Model& model() const { return *model_; }
  const std::vector<std::string>& feature_names() const { return feature_names_; }
  // inputs: f64 [n, feature_names.size()] in dataset coding; returns f64 [n, outputs(space)].
  Result<Tensor> Predict(const TensorView& inputs, OutputSpace space) const;
  // Predict into `out`, which must hold exactly n · model().Info().OutputNames(space).size() values. The
  // mapping onto the model's inputs goes through per-thread scratch, chunk by chunk: over a native tabular
  // or XGBoost model nothing is allocated once the calling thread has warmed up.
  Status PredictInto(const TensorView& inputs, OutputSpace space, std::span<double> out) const;

  // The feature column holding the model's text input, or -1 when the model reads no text.
  int text_feature() const { return text_feature_; }

  // How the features map onto a tabular model's inputs, for the host's other capabilities (gradient,
  // row_variants) that call the model directly. Per model input, its feature column:
  const std::vector<int>& input_source() const { return input_source_; }
  // Whether the features are the model's inputs in its order with its level codes (no mapping needed).
  bool gather_is_identity() const { return gather_is_identity_; }
  // A value of feature column input_source()[input] in the model's coding: a categorical's dataset code
  // becomes the model's code of the same level (NaN for a level the model does not know).
  double ToModelCoding(std::size_t input, double value) const;
  // Rows in dataset coding (f64 [n, features], row-major) in the model's coding: out is [n, inputs].
  void ToModelInputs(const double* rows, std::int64_t n, double* out) const;
  // The text a handle of the text feature stands for: the dataset row's text, "" for NaN (missing).
  // Fails on a handle that is not a row index of the dataset.
  Result<std::string_view> ResolveText(double handle) const;

 private:
  Status PredictTextInto(const TensorView& inputs, OutputSpace space, std::span<double> out) const;
  Status GatherAndPredict(const TensorView& inputs, OutputSpace space, std::span<double> out) const;

  std::shared_ptr<const Model> model_;
  std::vector<std::string> feature_names_;
  // The features are the model's numeric inputs in the model's order: the batch goes to it as it is.
  bool gather_is_identity_ = false;
  std::vector<int> input_source_;                   // per model input: feature column
  std::vector<std::vector<double>> level_mapping_;  // per model input: dataset code -> model code
  int text_feature_ = -1;
  const TextModel* text_model_ = nullptr;                  // the model's "text" capability when it reads text
  std::string text_column_;                                // the text input's column, for error messages
  std::shared_ptr<const std::vector<std::string>> texts_;  // that column's texts by row
};

// Everything one explain call sees.
struct ExplainRequest {
  std::string step_id;
  const Dataset* dataset = nullptr;
  std::vector<std::string> feature_names;  // the pipeline's features, in matrix order
  std::shared_ptr<const Tensor> features;  // f64 [rows, features] (Dataset::Matrix of feature_names)
  std::shared_ptr<const FeatureModel> model;
  std::vector<std::int64_t> rows;                    // the rows to explain (every row for global steps)
  nlohmann::json params = nlohmann::json::object();  // validated, defaults filled in
  std::uint64_t seed = 0;                            // the step's seed
  std::optional<std::string> positive_label;
  std::vector<const Explanation*> inputs;  // explanations of the steps this step needs
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;  // may be empty
  const std::atomic<bool>* cancelled = nullptr;                           // may be null
  // Receives the explainer's log lines (0 debug, 1 info, 2 warning); empty: warnings go to stderr.
  std::function<void(int level, const std::string& message)> log;
  // The host's model_predict goes through this when set (as model->PredictInto: rows f64 [n, features]
  // in dataset coding): under MPI a step run on rank 0 alone shares its model evaluations among the ranks
  // (docs/scale_out.md). Empty: `model` predicts here.
  std::function<Status(const TensorView& rows, OutputSpace space, std::span<double> out)> predict;
  // The same for the "row_variants" capability's calls (the base rows in dataset coding, each variant's
  // changed feature columns and values, out[v][b][o]).
  std::function<Status(const TensorView& base, std::int64_t n_variants, const std::int64_t* offsets,
                       const std::int64_t* columns, const double* values, OutputSpace space,
                       std::span<double> out)>
      predict_variants;
  // Chunked input (docs/architecture.md §5 "Chunked input"): when set, `features` holds only the rows made
  // ready through it, and the host calls it before a plugin reads other rows than `rows` (the rows a
  // plugin resolves with resolve_rows; every row, `rows` null, for a feature column asked for whole). An
  // error: those rows could not be read (the caller keeps the sentence and fails the step with it).
  // Empty: every row is there.
  std::function<Status(const std::int64_t* rows, std::int64_t n)> read_rows;
};

}  // namespace loupe
