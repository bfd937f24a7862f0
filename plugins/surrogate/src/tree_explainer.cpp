#include "tree_explainer.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/common_params.hpp"
#include "loupe/sdk/error.hpp"
#include "metrics.hpp"
#include "tree_text.hpp"

namespace loupe::surrogate {
namespace {

using loupe::sdk::DescribeJson;
using loupe::sdk::FormatNumber;
using loupe::sdk::Host;
using loupe::sdk::InvalidArgument;
using loupe::sdk::Matrix;
using loupe::sdk::Param;

// Rows per model call: large enough that model evaluation dominates.
constexpr std::int64_t kBatchRows = 8192;
// Rows per chunk when routing rows through the tree or drawing augmented rows.
constexpr std::int64_t kRowGrain = 16384;

std::string Quoted(const std::string& text) { return "\"" + text + "\""; }

// What the surrogate learns: the model's predicted class, or one of its outputs as a score.
struct Target {
  bool classification = true;
  LoupeOutputSpace space = LOUPE_OUTPUT_DEFAULT;
  std::int64_t n_outputs = 0;  // columns of the model's output in `space`
  std::int64_t output = 0;     // score: the learned column
  std::string output_name;     // score: its name
  std::vector<std::string> classes;
};

Target ResolveTarget(const Host& host, const std::string& requested, const std::string& score_output,
                     const loupe::sdk::DatasetInfo& data) {
  const loupe::sdk::ModelInfo model = host.ModelInfo();
  const std::string kind = requested == "auto" ? (model.IsClassifier() ? "class" : "score") : requested;
  Target target;
  if (kind == "class") {
    if (!model.IsClassifier()) {
      throw InvalidArgument("parameter 'target' must be \"score\" or \"auto\" for model '" + model.name +
                            "', which is a regressor, found \"class\"");
    }
    if (host.Params().Has("output") || !score_output.empty()) {
      throw InvalidArgument(std::string("parameter '") + (score_output.empty() ? "output" : "score_output") +
                            "' applies to target \"score\" only, found it with target \"class\"");
    }
    target.classes = model.output_names;
    target.n_outputs = static_cast<std::int64_t>(target.classes.size());
    if (target.n_outputs < 2) {
      throw loupe::sdk::Unsupported("model '" + model.name + "' is a classifier with " +
                                    std::to_string(target.n_outputs) +
                                    " outputs; the class target needs 2 or more");
    }
    return target;
  }
  const loupe::sdk::OutputSelection selection = loupe::sdk::SelectOutput(host, "output");
  target.classification = false;
  target.space = selection.space;
  target.n_outputs = static_cast<std::int64_t>(selection.names.size());
  const auto& names = selection.names;
  auto find = [&](const std::string& name) {
    return static_cast<std::int64_t>(std::find(names.begin(), names.end(), name) - names.begin());
  };
  if (!score_output.empty()) {
    target.output = find(score_output);
    if (target.output == target.n_outputs) {
      std::string choices;
      for (const auto& name : names) choices += (choices.empty() ? "" : ", ") + Quoted(name);
      throw InvalidArgument("parameter 'score_output' must name one of the model's outputs (" + choices +
                            "), found " + Quoted(score_output));
    }
  } else if (model.IsClassifier() && find(data.positive_label) < target.n_outputs) {
    target.output = find(data.positive_label);  // P(positive label), the pipeline's `positive`
  } else {
    target.output =
        model.IsClassifier() ? target.n_outputs - 1 : 0;  // binary: P(class 1), like predict_proba[:, 1]
  }
  target.output_name = names[static_cast<std::size_t>(target.output)];
  return target;
}

Criterion ResolveCriterion(const std::string& requested, const Target& target) {
  const std::string name = requested.empty() ? (target.classification ? "gini" : "squared_error") : requested;
  if (target.classification && name == "squared_error") {
    throw InvalidArgument(
        "parameter 'criterion' must be \"gini\" or \"entropy\" when the target is the model's predicted "
        "class, "
        "found \"squared_error\"");
  }
  if (!target.classification && name != "squared_error") {
    throw InvalidArgument(
        "parameter 'criterion' must be \"squared_error\" when the target is a model score, found " +
        Quoted(name));
  }
  if (name == "gini") return Criterion::kGini;
  return name == "entropy" ? Criterion::kEntropy : Criterion::kSquaredError;
}

// sklearn's reading of min_samples_split / min_samples_leaf: a count, or a fraction of the samples.
std::int64_t SampleCount(double value, std::int64_t n, std::int64_t minimum) {
  if (value < 1.0)
    return std::max<std::int64_t>(minimum,
                                  static_cast<std::int64_t>(std::ceil(value * static_cast<double>(n))));
  return static_cast<std::int64_t>(value);
}

// The learned target of each row: the predicted class index (argmax of the probabilities, lowest on a
// tie) or the chosen output. One model call per batch of kBatchRows rows.
std::vector<double> ModelTargets(const Host& host, const double* rows, std::int64_t n, std::int64_t width,
                                 const Target& target) {
  std::vector<double> targets(static_cast<std::size_t>(n));
  host.ParallelFor(0, n, kBatchRows, [&](std::int64_t begin, std::int64_t end) {
    host.ThrowIfCancelled();
    std::vector<double> out(static_cast<std::size_t>((end - begin) * target.n_outputs));
    host.Predict(rows + begin * width, end - begin, width, target.space, out.data(),
                 static_cast<std::int64_t>(out.size()));
    for (std::int64_t i = begin; i < end; ++i) {
      const double* o = out.data() + (i - begin) * target.n_outputs;
      for (std::int64_t k = 0; k < target.n_outputs; ++k) {
        if (!std::isfinite(o[k])) {
          throw loupe::sdk::Error(LOUPE_ERROR_MODEL, "the model returned " + FormatNumber(o[k]) +
                                                         " for output " + std::to_string(k) +
                                                         " of a row; a surrogate needs finite outputs");
        }
      }
      targets[static_cast<std::size_t>(i)] =
          target.classification ? static_cast<double>(std::max_element(o, o + target.n_outputs) - o)
                                : o[target.output];
    }
  });
  return targets;
}

// Leaf predictions of the tree for `n` rows of `width` values.
std::vector<double> TreePredictions(const Host& host, const Tree& tree, const double* rows, std::int64_t n,
                                    std::int64_t width) {
  std::vector<double> out(static_cast<std::size_t>(n));
  host.ParallelFor(0, n, kRowGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i)
      out[static_cast<std::size_t>(i)] = tree.Prediction(tree.Apply(rows + i * width));
  });
  return out;
}

std::vector<std::int32_t> Labels(const std::vector<double>& values, std::size_t begin, std::size_t end) {
  std::vector<std::int32_t> labels;
  for (std::size_t i = begin; i < end; ++i) labels.push_back(static_cast<std::int32_t>(values[i]));
  return labels;
}

// Agreement of `predicted` with `reference` over [begin, end): accuracy + macro-F1, or R².
nlohmann::json Agreement(bool classification, const std::vector<double>& reference,
                         const std::vector<double>& predicted, std::size_t begin, std::size_t end) {
  if (begin == end) return nullptr;
  nlohmann::json out = {{"rows", end - begin}};
  if (classification) {
    const auto truth = Labels(reference, begin, end), guess = Labels(predicted, begin, end);
    out["accuracy"] = Accuracy(truth, guess);
    out["macro_f1"] = MacroF1(truth, guess);
  } else {
    out["r2"] = R2(std::vector<double>(reference.begin() + static_cast<std::ptrdiff_t>(begin),
                                       reference.begin() + static_cast<std::ptrdiff_t>(end)),
                   std::vector<double>(predicted.begin() + static_cast<std::ptrdiff_t>(begin),
                                       predicted.begin() + static_cast<std::ptrdiff_t>(end)));
  }
  return out;
}

// Rows (as data row ids) in a contiguous row-major copy.
std::vector<double> GatherRows(const Matrix& x, const std::vector<std::int64_t>& rows) {
  std::vector<double> out;
  out.reserve(rows.size() * static_cast<std::size_t>(x.cols()));
  for (const std::int64_t r : rows) out.insert(out.end(), x.Row(r), x.Row(r) + x.cols());
  return out;
}

void CheckRows(const std::vector<std::int64_t>& rows, std::int64_t n, const std::string& param) {
  for (const std::int64_t r : rows) {
    if (r < 0 || r >= n) {
      throw InvalidArgument("parameter '" + param + "' must select rows 0.." + std::to_string(n - 1) +
                            ", found row " + std::to_string(r));
    }
  }
}

// Accuracy of the surrogate (and of the model, for reference) against the data's own target column.
nlohmann::json TruthAgreement(const Host& host, const loupe::sdk::DatasetInfo& data, const Target& target,
                              const std::vector<std::int64_t>& train,
                              const std::vector<std::int64_t>& holdout,
                              const std::vector<double>& model_train, const std::vector<double>& tree_train,
                              const std::vector<double>& model_holdout,
                              const std::vector<double>& tree_holdout, std::vector<std::string>* notes) {
  const loupe::sdk::Column column = host.Column(data.target);
  // truth[i] for a data row: a class index (-1: a label the model does not know), a score label, or NaN.
  std::unordered_map<std::string, std::int32_t> class_of;
  for (std::size_t k = 0; k < target.classes.size(); ++k)
    class_of[target.classes[k]] = static_cast<std::int32_t>(k);
  const bool probability_score =
      !target.classification && target.space != LOUPE_OUTPUT_RAW && host.ModelInfo().IsClassifier();
  if (!target.classification && !probability_score && column.info.IsCategorical()) {
    notes->push_back("the target column '" + data.target +
                     "' is categorical, so the score surrogate is not compared with it");
    return nullptr;
  }
  if (!target.classification && !probability_score && host.ModelInfo().IsClassifier()) {
    notes->push_back("raw scores of a classifier are not compared with the target column '" + data.target +
                     "'");
    return nullptr;
  }
  bool any_known = false;
  auto truth_of = [&](std::int64_t row) -> double {
    const double value = column.values[static_cast<std::size_t>(row)];
    if (std::isnan(value)) return value;
    if (!target.classification && !probability_score) return value;
    const std::string label = loupe::sdk::FormatValue(column.info, value);
    if (probability_score) {
      any_known = true;
      return label == target.output_name ? 1.0 : 0.0;
    }
    const auto it = class_of.find(label);
    any_known = any_known || it != class_of.end();
    return it == class_of.end() ? -1.0 : it->second;
  };
  auto part = [&](const std::vector<std::int64_t>& rows, const std::vector<double>& model,
                  const std::vector<double>& tree) -> nlohmann::json {
    std::vector<double> truth, model_kept, tree_kept;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const double t = truth_of(rows[i]);
      if (std::isnan(t)) continue;
      truth.push_back(t);
      model_kept.push_back(model[i]);
      tree_kept.push_back(tree[i]);
    }
    if (probability_score) {  // the score's class is predicted when its probability is at least 0.5
      for (auto* scores : {&model_kept, &tree_kept}) {
        for (double& s : *scores) s = s >= 0.5 ? 1.0 : 0.0;
      }
    }
    const bool labels = target.classification || probability_score;
    return {{"surrogate", Agreement(labels, truth, tree_kept, 0, truth.size())},
            {"model", Agreement(labels, truth, model_kept, 0, truth.size())}};
  };
  nlohmann::json out = {
      {"target", data.target},
      {"train", part(train, model_train, tree_train)},
      {"holdout", holdout.empty() ? nlohmann::json() : part(holdout, model_holdout, tree_holdout)}};
  if (probability_score) out["positive"] = target.output_name;
  if ((target.classification || probability_score) && !any_known) {
    notes->push_back("no label of the target column '" + data.target +
                     "' is one of the model's classes, so accuracy "
                     "against the true labels is not reported");
    return nullptr;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The phases of TreeExplainer::Explain, in order.

void CheckFeatures(const loupe::sdk::DatasetInfo& data, std::int64_t width) {
  for (const auto& feature : data.features) {
    if (!feature.IsNumeric() && !feature.IsCategorical()) {
      throw loupe::sdk::Unsupported(
          "surrogate.tree splits numeric and categorical features only, and feature '" + feature.name +
          "' is text");
    }
  }
  if (width == 0)
    throw loupe::sdk::Unsupported("surrogate.tree needs at least one feature, found none in the step's data");
}

// The training pool (train_rows, default every row) split into train and a seeded holdout, both sorted.
struct RowSplit {
  std::vector<std::int64_t> train, holdout;
};

RowSplit SplitTrainHoldout(const Host& host, const nlohmann::json& train_rows, double holdout_fraction,
                           std::int64_t n_rows) {
  std::vector<std::int64_t> pool;
  if (train_rows.is_null()) {
    pool.resize(static_cast<std::size_t>(n_rows));
    std::iota(pool.begin(), pool.end(), 0);
  } else {
    pool = host.ResolveRows(train_rows, kTrainRowsStream, "train_rows");
    CheckRows(pool, n_rows, "train_rows");
  }
  if (pool.empty()) {
    throw InvalidArgument("parameter 'train_rows' must select at least one row, found " +
                          (train_rows.is_null() ? std::string("data of 0 rows") : DescribeJson(train_rows)));
  }
  const auto n_pool = static_cast<std::int64_t>(pool.size());
  const std::int64_t n_holdout =
      holdout_fraction > 0.0
          ? static_cast<std::int64_t>(std::ceil(holdout_fraction * static_cast<double>(n_pool) - 1e-9))
          : 0;
  if (n_holdout >= n_pool) {
    throw InvalidArgument("parameter 'holdout' must leave rows to train on, found " +
                          FormatNumber(holdout_fraction) + " of " + std::to_string(n_pool) + " rows");
  }
  // Each row's place is a seeded key of the row itself, so the split does not depend on the pool's order.
  std::vector<std::pair<std::uint64_t, std::int64_t>> keyed;
  for (const std::int64_t row : pool)
    keyed.emplace_back(host.Rng(static_cast<std::uint64_t>(row), kHoldoutStream).NextU64(), row);
  std::sort(keyed.begin(), keyed.end());
  RowSplit split;
  for (std::int64_t i = 0; i < n_pool; ++i)
    (i < n_holdout ? split.holdout : split.train).push_back(keyed[static_cast<std::size_t>(i)].second);
  std::sort(split.holdout.begin(), split.holdout.end());
  std::sort(split.train.begin(), split.train.end());
  return split;
}

// The training matrix [n_train][width]: the training rows, then `augment` rows whose every feature is
// drawn from that feature's values over the training rows (independent marginals, seeded per augmented
// row).
std::vector<double> TrainingMatrix(const Host& host, const Matrix& x, const std::vector<std::int64_t>& train,
                                   std::int64_t augment) {
  const std::int64_t width = x.cols();
  const auto n_real = static_cast<std::int64_t>(train.size());
  const std::int64_t n_train = n_real + augment;
  std::vector<double> train_x = GatherRows(x, train);
  train_x.resize(static_cast<std::size_t>(n_train * width));
  host.ParallelFor(n_real, n_train, kRowGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      loupe::sdk::Rng rng = host.Rng(static_cast<std::uint64_t>(i - n_real), kAugmentStream);
      double* dst = train_x.data() + i * width;
      for (std::int64_t f = 0; f < width; ++f) {
        dst[f] = x(train[static_cast<std::size_t>(rng.Below(static_cast<std::uint64_t>(n_real)))], f);
      }
    }
  });
  return train_x;
}

// The training weights [n_train]: 1, or the `sample_weight` column for the real rows and their mean for
// the augmented ones.
std::vector<double> TrainingWeights(const Host& host, const std::string& sample_weight,
                                    const std::vector<std::int64_t>& train, std::int64_t n_train) {
  std::vector<double> weight(static_cast<std::size_t>(n_train), 1.0);
  if (sample_weight.empty()) return weight;
  loupe::sdk::Column column;
  try {
    column = host.Column(sample_weight);
  } catch (const loupe::sdk::Error& error) {
    if (error.status() != LOUPE_ERROR_NOT_FOUND) throw;
    throw InvalidArgument("parameter 'sample_weight' must name a column of the data, found " +
                          Quoted(sample_weight));
  }
  const auto n_real = static_cast<std::int64_t>(train.size());
  double sum = 0.0;
  for (std::int64_t i = 0; i < n_real; ++i) {
    const double w = column.values[static_cast<std::size_t>(train[static_cast<std::size_t>(i)])];
    if (column.info.IsCategorical() || !std::isfinite(w) || w < 0.0) {
      throw InvalidArgument(
          "parameter 'sample_weight' must name a column of finite non-negative numbers, found " +
          (column.info.IsCategorical() ? std::string("a categorical column") : FormatNumber(w)) + " in row " +
          std::to_string(train[static_cast<std::size_t>(i)]));
    }
    weight[static_cast<std::size_t>(i)] = w;
    sum += w;
  }
  if (!(sum > 0.0)) {
    throw InvalidArgument(
        "parameter 'sample_weight' must give the training rows a positive total weight, found 0");
  }
  std::fill(weight.begin() + n_real, weight.end(), sum / static_cast<double>(n_real));
  return weight;
}

// The training matrix by column, as CART reads it, with each categorical feature's level count.
void FillColumns(const Host& host, const loupe::sdk::DatasetInfo& data, const std::vector<double>& train_x,
                 std::int64_t width, TrainingSet* set) {
  const std::int64_t n_train = set->n;
  set->columns.assign(static_cast<std::size_t>(width),
                      std::vector<double>(static_cast<std::size_t>(n_train)));
  set->n_levels.assign(static_cast<std::size_t>(width), 0);
  host.ParallelFor(0, width, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t f = begin; f < end; ++f) {
      auto& column = set->columns[static_cast<std::size_t>(f)];
      for (std::int64_t i = 0; i < n_train; ++i)
        column[static_cast<std::size_t>(i)] = train_x[static_cast<std::size_t>(i * width + f)];
      const auto& feature = data.features[static_cast<std::size_t>(f)];
      if (feature.IsCategorical())
        set->n_levels[static_cast<std::size_t>(f)] =
            static_cast<std::int32_t>(std::max<std::size_t>(1, feature.levels.size()));
    }
  });
}

// The rows whose decision paths are reported: `paths_for`, else the step's rows unless they are every row
// (a global step's default).
std::vector<std::int64_t> PathRows(const Host& host, const nlohmann::json& paths_for, std::int64_t n_rows) {
  std::vector<std::int64_t> path_rows;
  if (!paths_for.is_null()) {
    path_rows = host.ResolveRows(paths_for, kPathsStream, "paths_for");
    CheckRows(path_rows, n_rows, "paths_for");
    return path_rows;
  }
  path_rows = host.StepRows();
  CheckRows(path_rows, n_rows, "rows");
  bool every_row = static_cast<std::int64_t>(path_rows.size()) == n_rows;
  for (std::size_t i = 0; every_row && i < path_rows.size(); ++i)
    every_row = path_rows[i] == static_cast<std::int64_t>(i);
  if (every_row) path_rows.clear();
  return path_rows;
}

// Each path row's leaf, nodes, rule and prediction beside the model's.
nlohmann::json DecisionPaths(const Host& host, const Tree& tree, const Matrix& x,
                             const std::vector<std::int64_t>& path_rows, const Target& target,
                             const TreeVocabulary& words) {
  const std::int64_t width = x.cols();
  const std::vector<double> path_x = GatherRows(x, path_rows);
  const std::vector<double> model_paths =
      ModelTargets(host, path_x.data(), static_cast<std::int64_t>(path_rows.size()), width, target);
  nlohmann::json paths = nlohmann::json::array();
  for (std::size_t i = 0; i < path_rows.size(); ++i) {
    const std::vector<std::int64_t> path = tree.Path(path_x.data() + static_cast<std::int64_t>(i) * width);
    const std::int64_t leaf = path.back();
    nlohmann::json entry = {{"row", path_rows[i]},
                            {"leaf", leaf},
                            {"nodes", path},
                            {"rule", Rule(tree, leaf, words)},
                            {"surrogate", PredictionJson(tree, leaf, words)}};
    if (target.classification) {
      const auto model_class = static_cast<std::size_t>(model_paths[i]);
      entry["model"] = target.classes[model_class];
      entry["agrees"] = static_cast<double>(model_class) == tree.Prediction(leaf);
    } else {
      entry["model"] = model_paths[i];
      entry["difference"] = tree.Prediction(leaf) - model_paths[i];
    }
    paths.push_back(std::move(entry));
  }
  return paths;
}

nlohmann::json TargetJson(const Target& target) {
  nlohmann::json target_json = {{"kind", target.classification ? "class" : "score"}};
  if (target.classification) {
    target_json["classes"] = target.classes;
  } else {
    target_json["output"] = target.output_name;
    target_json["space"] = target.space == LOUPE_OUTPUT_RAW ? "raw" : "default";
  }
  return target_json;
}

}  // namespace

TreeExplainer::TreeExplainer(const Host& host) {
  const loupe::sdk::Params& params = host.Params();
  target_ = params.GetOr<std::string>("target", "auto");
  criterion_ = params.GetOr<std::string>("criterion", "");
  score_output_ = params.GetOr<std::string>("score_output", "");
  cart_.max_depth = params.Has("max_depth") ? params.Get<std::int64_t>("max_depth") : -1;
  cart_.max_leaf_nodes = params.Has("max_leaf_nodes") ? params.Get<std::int64_t>("max_leaf_nodes") : -1;
  cart_.min_impurity_decrease = params.GetOr<double>("min_impurity_decrease", 0.0);
  cart_.ccp_alpha = params.GetOr<double>("ccp_alpha", 0.0);
  min_samples_split_ = params.GetOr<double>("min_samples_split", 2.0);
  min_samples_leaf_ = params.GetOr<double>("min_samples_leaf", 1.0);
  if (!(min_samples_split_ > 0.0 &&
        (min_samples_split_ < 1.0 ||
         (min_samples_split_ >= 2.0 && min_samples_split_ == std::floor(min_samples_split_))))) {
    throw InvalidArgument(
        "parameter 'min_samples_split' must be an integer of at least 2 or a fraction in (0, 1), found " +
        FormatNumber(min_samples_split_));
  }
  if (!(min_samples_leaf_ > 0.0 &&
        (min_samples_leaf_ < 1.0 || min_samples_leaf_ == std::floor(min_samples_leaf_)))) {
    throw InvalidArgument(
        "parameter 'min_samples_leaf' must be an integer of at least 1 or a fraction in (0, 1), found " +
        FormatNumber(min_samples_leaf_));
  }
  holdout_ = params.GetOr<double>("holdout", 0.2);
  if (!(holdout_ >= 0.0 && holdout_ < 1.0)) {
    throw InvalidArgument("parameter 'holdout' must be a fraction in [0, 1), found " +
                          FormatNumber(holdout_));
  }
  augment_ = params.GetOr<std::int64_t>("augment", 0);
  sample_weight_ = params.GetOr<std::string>("sample_weight", "");
  train_rows_ = params.GetOr<nlohmann::json>("train_rows", nullptr);
  paths_for_ = params.GetOr<nlohmann::json>("paths_for", nullptr);
}

void TreeExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const loupe::sdk::DatasetInfo data = host.Dataset();
  const Matrix x = host.Features();
  const std::int64_t width = x.cols();
  CheckFeatures(data, width);
  const Target target = ResolveTarget(host, target_, score_output_, data);
  CartParams cart = cart_;
  cart.criterion = ResolveCriterion(criterion_, target);
  std::vector<std::string> notes;

  // The training set: the model's targets on the training rows (and augmented rows), by column.
  const RowSplit split = SplitTrainHoldout(host, train_rows_, holdout_, data.n_rows);
  const std::vector<std::int64_t>& train = split.train;
  const std::vector<std::int64_t>& holdout = split.holdout;
  const auto n_real = static_cast<std::int64_t>(train.size());
  const auto n_holdout = static_cast<std::int64_t>(holdout.size());
  const std::int64_t n_train = n_real + augment_;
  const std::vector<double> train_x = TrainingMatrix(host, x, train, augment_);
  const std::vector<double> holdout_x = GatherRows(x, holdout);
  TrainingSet set;
  set.n = n_train;
  set.n_classes = target.classification ? static_cast<std::int32_t>(target.classes.size()) : 0;
  set.y = ModelTargets(host, train_x.data(), n_train, width, target);
  const std::vector<double> model_holdout = ModelTargets(host, holdout_x.data(), n_holdout, width, target);
  set.weight = TrainingWeights(host, sample_weight_, train, n_train);
  FillColumns(host, data, train_x, width, &set);
  cart.min_samples_leaf = SampleCount(min_samples_leaf_, n_train, 1);
  cart.min_samples_split = SampleCount(min_samples_split_, n_train, 2);

  const ParallelRunner runner = [&host](std::int64_t begin, std::int64_t end, std::int64_t grain,
                                        const std::function<void(std::int64_t, std::int64_t)>& body) {
    host.ParallelFor(begin, end, grain, [&](std::int64_t b, std::int64_t e) {
      host.ThrowIfCancelled();
      body(b, e);
    });
  };
  Tree tree = FitCart(set, cart, runner);

  // Fidelity to the model, and accuracy against the data's own labels.
  const std::vector<double> tree_train = TreePredictions(host, tree, train_x.data(), n_train, width);
  const std::vector<double> tree_holdout = TreePredictions(host, tree, holdout_x.data(), n_holdout, width);
  const nlohmann::json fidelity = {
      {"train", Agreement(target.classification, set.y, tree_train, 0, static_cast<std::size_t>(n_train))},
      {"holdout", Agreement(target.classification, model_holdout, tree_holdout, 0, holdout.size())}};
  nlohmann::json truth;
  if (!data.target.empty()) {
    truth = TruthAgreement(host, data, target, train, holdout,
                           std::vector<double>(set.y.begin(), set.y.begin() + n_real),
                           std::vector<double>(tree_train.begin(), tree_train.begin() + n_real),
                           model_holdout, tree_holdout, &notes);
  }

  // The tree in words: rules, decision paths, importances.
  TreeVocabulary words;
  words.features = data.features;
  words.classes = target.classes;
  words.criterion = cart.criterion == Criterion::kGini      ? "gini"
                    : cart.criterion == Criterion::kEntropy ? "entropy"
                                                            : "squared_error";
  const std::vector<std::int64_t> path_rows = PathRows(host, paths_for_, data.n_rows);
  const nlohmann::json paths = DecisionPaths(host, tree, x, path_rows, target, words);
  std::vector<std::string> rules;
  for (std::size_t id = 0; id < tree.nodes.size(); ++id) {
    if (tree.nodes[id].IsLeaf()) rules.push_back(Rule(tree, static_cast<std::int64_t>(id), words));
  }
  const std::vector<double> importances = tree.FeatureImportances(width);

  result.SetJson("target", TargetJson(target));
  result.SetString("criterion", words.criterion);
  result.SetJson("nodes", NodesJson(tree, words));
  result.SetJson("fidelity", fidelity);
  result.SetJson("truth", truth);
  result.SetStrings("rules", rules);
  result.SetStrings("feature_names", data.FeatureNames());
  result.SetTensor("feature_importances", {width}, importances.data());
  result.SetString("dot", Dot(tree, words));
  result.SetJson("paths", paths);
  result.SetJson("notes", notes);
  const nlohmann::json& primary = fidelity["holdout"].is_null() ? fidelity["train"] : fidelity["holdout"];
  result.SetNumber("quality.fidelity", primary[target.classification ? "accuracy" : "r2"].get<double>());
  result.SetString("quality.fidelity_measure", std::string(target.classification ? "accuracy" : "r2") +
                                                   " on " +
                                                   (fidelity["holdout"].is_null() ? "train" : "holdout"));
  result.SetNumber("quality.leaves", static_cast<double>(tree.LeafCount()));
  result.SetNumber("quality.depth", static_cast<double>(tree.Depth()));
  result.SetNumber("quality.train_rows", static_cast<double>(n_real));
  result.SetNumber("quality.augmented_rows", static_cast<double>(augment_));
  result.SetNumber("quality.holdout_rows", static_cast<double>(holdout.size()));
  result.SetNumber(
      "quality.model_evaluations",
      static_cast<double>(n_train + static_cast<std::int64_t>(holdout.size() + path_rows.size())));
}

loupe::sdk::ExplainerDef TreeExplainer::Definition() {
  return loupe::sdk::ExplainerDef::Of<TreeExplainer>("surrogate.tree")
      .Summary(
          "A CART decision tree trained on the model's predictions, with its fidelity, rules and decision "
          "paths.")
      .Kind("surrogate_tree")
      .Scope(LOUPE_SCOPE_GLOBAL)
      .Parameters({
          Param::Enum("target", {"auto", "class", "score"})
              .Default("auto")
              .Doc("What the tree learns: the predicted class, or one model output as a score (auto: class "
                   "for "
                   "classifiers, score for regressors)."),
          loupe::sdk::OutputParam().Doc(
              "Score target only: the output space (unset: probabilities for classifiers, values for "
              "regressors)."),
          Param::String("score_output")
              .Doc("Score target only: the output learned (unset: the positive label, else the last class, "
                   "or a "
                   "regressor's output)."),
          Param::Enum("criterion", {"gini", "entropy", "squared_error"})
              .Doc("Impurity measure (unset: gini for the class target, squared_error for a score)."),
          Param::Int("max_depth").Min(1).Doc("Maximum depth of the tree (unset: unlimited)."),
          Param::Float("min_samples_split")
              .Default(2)
              .Min(0)
              .Doc("Rows a node needs to be split: an integer of at least 2, or a fraction of the training "
                   "rows."),
          Param::Float("min_samples_leaf")
              .Default(1)
              .Min(0)
              .Doc(
                  "Rows each child must keep: an integer of at least 1, or a fraction of the training rows."),
          Param::Int("max_leaf_nodes")
              .Min(2)
              .Doc("Grow best-first by impurity decrease up to this many leaves (unset: depth-first, "
                   "unlimited)."),
          Param::Float("min_impurity_decrease")
              .Default(0.0)
              .Min(0)
              .Doc("Split only when the weighted impurity decrease is at least this."),
          Param::Float("ccp_alpha")
              .Default(0.0)
              .Min(0)
              .Doc("Minimal cost-complexity pruning strength (0: no pruning)."),
          Param::Float("holdout").Default(0.2).Min(0).Max(1).Doc(
              "Fraction of the training rows held out, seeded, to measure fidelity (below 1)."),
          Param::Int("augment").Default(0).Min(0).Doc(
              "Extra training rows whose features are drawn independently from the training rows' values."),
          Param::String("sample_weight")
              .Role(LOUPE_PARAM_ROLE_COLUMN)
              .Doc("A numeric column of the data whose values weight the training rows."),
          Param::Rows("train_rows").Doc("Rows the tree is trained and evaluated on (unset: every row)."),
          Param::Rows("paths_for")
              .Doc("Rows whose decision paths are reported (unset: the step's rows, unless they are every "
                   "row)."),
      });
}

}  // namespace loupe::surrogate
