// One model `loupe serve` serves (docs/serve.md): the loaded model, the background CSV that gives its
// features' types and categorical levels and the explainer's background rows, and the explainer that
// `:explain` runs with the parameters serve.yaml gives it. Requests arrive as JSON cells; this class turns
// them into the dataset coding the host's FeatureModel and explainers read, and runs the same
// ExplainRequest a pipeline step makes (docs/architecture.md §3). Thread-safe: every method is const.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/core/explainer.hpp"
#include "loupe/core/plugin.hpp"
#include "serve/serve_config.hpp"

namespace loupe::serve {

class CountingModel;

class ServedModel {
 public:
  // A request's rows in dataset coding: `values` is f64 [rows, features]; a text feature's cell holds its
  // row number (NaN when missing), and its strings are in `texts[feature]` (empty for other features),
  // which is how the rows, put first in front of the background, name their texts.
  struct EncodedRows {
    Tensor values;
    std::vector<std::vector<std::string>> texts;
  };

  // Loads the model and the background data and checks the explainer, its parameters and the capabilities
  // it needs; each problem is one positioned sentence in `diagnostics`, and nullptr comes back.
  static std::shared_ptr<const ServedModel> Load(const ServedModelSpec& spec, const PluginRegistry& registry,
                                                 std::vector<Diagnostic>& diagnostics);

  const std::string& name() const { return spec_.name; }
  const ServedModelSpec& spec() const { return spec_; }
  const ModelInfo& info() const;
  const std::vector<std::string>& features() const { return features_; }
  const ColumnSchema& feature_schema(std::size_t feature) const { return feature_schemas_[feature]; }
  std::int64_t background_rows() const { return background_->num_rows(); }
  // Rows the model has evaluated since it was loaded, for predictions and explanations alike.
  std::uint64_t evaluations() const;

  // One cell of a request as the dataset codes it: a number for a numeric feature, the code of its level
  // for a categorical one (given as text or as a number naming the level), NaN for null. `where` names
  // the cell in the error ("instances[2]").
  Result<double> Encode(std::size_t feature, const nlohmann::json& cell, const std::string& where) const;
  // KServe v1 "instances": each row a list in feature order or an object by feature name (other keys are
  // ignored); a text feature's cell is a string. Returns the rows in dataset coding.
  Result<EncodedRows> EncodeInstances(const nlohmann::json& instances) const;

  // f64 [rows, outputs] in the model's default output space.
  Result<Tensor> Predict(const EncodedRows& rows) const;
  // Explains `rows` with the configured explainer; the explanation's rows are 0..n-1, the request's
  // order. `cancelled` stops it at the explainer's next check.
  Result<Explanation> Explain(const EncodedRows& rows, const std::atomic<bool>* cancelled) const;

 private:
  ServedModel() = default;
  void IndexFeatures(std::vector<Diagnostic>& diagnostics);
  void CheckExplainer(const Model& model, std::vector<Diagnostic>& diagnostics);
  void PinBackgroundRows(std::vector<Diagnostic>& diagnostics);
  Dataset CombineWithBackground(const EncodedRows& rows) const;
  nlohmann::json ParamsFor(std::int64_t instance_rows) const;

  ServedModelSpec spec_;
  std::shared_ptr<const CountingModel> model_;
  std::shared_ptr<const Dataset> background_;
  std::vector<std::string> features_;
  std::vector<ColumnSchema> feature_schemas_;
  bool reads_text_ = false;  // a text feature: predictions need the request's texts in a dataset
  std::vector<std::unordered_map<std::string, int>> level_codes_;  // per feature: level -> code
  std::shared_ptr<const FeatureModel> feature_model_;              // over the background, for predictions
  std::shared_ptr<const LoadedExplainer> explainer_;
  nlohmann::json params_;  // canonical (defaults filled in)
  // Row-typed parameters refer to background rows: each resolved once, at load, to rows of the background.
  struct PinnedRows {
    bool is_range = false;
    std::int64_t begin = 0, end = 0;
    std::vector<std::int64_t> list;
  };
  std::unordered_map<std::string, PinnedRows> pinned_rows_;
};

}  // namespace loupe::serve
