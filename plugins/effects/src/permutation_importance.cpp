#include "permutation_importance.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <set>
#include <unordered_map>
#include <utility>

#include "effects_common.hpp"
#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/common_params.hpp"
#include "loupe/sdk/error.hpp"
#include "scoring.hpp"

namespace loupe::effects {
namespace {

using loupe::sdk::DescribeJson;
using loupe::sdk::Host;
using loupe::sdk::InvalidArgument;
using loupe::sdk::Matrix;
using loupe::sdk::Param;

// The permuted units: each group of `groups`, then each listed (or every ungrouped) feature.
std::vector<PermutedUnit> Units(const loupe::sdk::DatasetInfo& data, const nlohmann::json& groups,
                                const std::vector<std::string>& features, bool features_given) {
  std::vector<PermutedUnit> units;
  std::set<std::int64_t> grouped;
  if (!groups.is_null()) {
    if (!groups.is_object() || groups.empty()) {
      throw InvalidArgument("parameter 'groups' must map group names to lists of feature names, found " +
                            DescribeJson(groups));
    }
    for (const auto& [name, members] : groups.items()) {
      PermutedUnit unit{name, {}};
      if (!members.is_array() || members.empty()) {
        throw InvalidArgument("group '" + name + "' of parameter 'groups' must list feature names, found " +
                              DescribeJson(members));
      }
      for (const auto& member : members) {
        if (!member.is_string()) {
          throw InvalidArgument("group '" + name + "' of parameter 'groups' must list feature names, found " +
                                DescribeJson(member));
        }
        const std::int64_t column = FeatureColumn(data, member.get<std::string>(), "groups");
        if (!grouped.insert(column).second) {
          throw InvalidArgument("feature '" + member.get<std::string>() +
                                "' is in more than one group of parameter 'groups'");
        }
        unit.columns.push_back(column);
      }
      units.push_back(std::move(unit));
    }
  }
  if (features_given) {
    for (const auto& name : features) units.push_back({name, {FeatureColumn(data, name, "features")}});
  } else {
    for (std::size_t f = 0; f < data.features.size(); ++f) {
      if (grouped.count(static_cast<std::int64_t>(f)) == 0)
        units.push_back({data.features[f].name, {static_cast<std::int64_t>(f)}});
    }
  }
  if (units.empty()) throw InvalidArgument("parameters 'groups' and 'features' leave nothing to permute");
  return units;
}

// The explicit permutations of parameter 'permutations': n_repeats lists, each a permutation of 0..n-1.
std::vector<std::vector<std::int64_t>> ExplicitPermutations(const nlohmann::json& value,
                                                            std::int64_t n_repeats, std::int64_t n) {
  if (!value.is_array() || static_cast<std::int64_t>(value.size()) != n_repeats) {
    throw InvalidArgument("parameter 'permutations' must hold n_repeats = " + std::to_string(n_repeats) +
                          " lists of row positions, found " + DescribeJson(value));
  }
  std::vector<std::vector<std::int64_t>> permutations;
  for (const auto& list : value) {
    std::vector<std::int64_t> permutation;
    std::vector<bool> seen(static_cast<std::size_t>(n), false);
    if (list.is_array() && static_cast<std::int64_t>(list.size()) == n) {
      for (const auto& position : list) {
        const std::int64_t p = position.is_number_integer() ? position.get<std::int64_t>() : -1;
        if (p < 0 || p >= n || seen[static_cast<std::size_t>(p)]) break;
        seen[static_cast<std::size_t>(p)] = true;
        permutation.push_back(p);
      }
    }
    if (static_cast<std::int64_t>(permutation.size()) != n) {
      throw InvalidArgument("parameter 'permutations' must hold permutations of the " + std::to_string(n) +
                            " row positions 0.." + std::to_string(n - 1) + ", found " + DescribeJson(list));
    }
    permutations.push_back(std::move(permutation));
  }
  return permutations;
}

// The rows with a known target and the truth on them: class indices into the model's outputs, or values.
struct Labelled {
  std::vector<std::int64_t> rows;
  Truth truth;
  std::int64_t dropped = 0;             // rows without a target
  std::int64_t dropped_unweighted = 0;  // rows with a target but without a weight
};

// The column of sample weights named by parameter 'sample_weight', checked; empty values when unset.
std::vector<double> SampleWeights(const Host& host, const std::string& name) {
  if (name.empty()) return {};
  loupe::sdk::Column column;
  try {
    column = host.Column(name);
  } catch (const loupe::sdk::Error& error) {
    if (error.status() != LOUPE_ERROR_NOT_FOUND) throw;
    throw InvalidArgument("parameter 'sample_weight' names column '" + name +
                          "', which is not a column of the data");
  }
  if (column.info.IsCategorical()) {
    throw InvalidArgument("parameter 'sample_weight' names column '" + name +
                          "', which is categorical; sample weights must be numbers");
  }
  for (std::size_t r = 0; r < column.values.size(); ++r) {
    if (column.values[r] < 0) {
      throw InvalidArgument("sample weight column '" + name + "' holds the negative weight " +
                            loupe::sdk::FormatNumber(column.values[r]) + " at row " + std::to_string(r) +
                            "; weights must be at least 0");
    }
  }
  return column.values;
}

Labelled LabelledRows(const Host& host, const loupe::sdk::DatasetInfo& data,
                      const loupe::sdk::ModelInfo& model, const std::vector<std::int64_t>& rows,
                      const std::vector<double>& weights) {
  const loupe::sdk::Column column = host.Column(data.target);
  Labelled out;
  std::unordered_map<std::string, std::int64_t> class_of;
  for (std::size_t k = 0; k < model.output_names.size(); ++k)
    class_of[model.output_names[k]] = static_cast<std::int64_t>(k);
  if (model.IsClassifier()) {
    out.truth.n_classes = static_cast<std::int64_t>(model.output_names.size());
    out.truth.positive = ShownOutput(data, model, model.output_names);
  }
  for (const std::int64_t r : rows) {
    const double value = column.values[static_cast<std::size_t>(r)];
    if (std::isnan(value)) {
      ++out.dropped;
      continue;
    }
    if (!weights.empty()) {
      const double weight = weights[static_cast<std::size_t>(r)];
      if (std::isnan(weight)) {
        ++out.dropped_unweighted;
        continue;
      }
      out.truth.weight.push_back(weight);
    }
    out.rows.push_back(r);
    if (!model.IsClassifier()) {
      out.truth.y.push_back(value);
      continue;
    }
    const std::string label = loupe::sdk::FormatValue(column.info, value);
    const auto it = class_of.find(label);
    if (it == class_of.end()) {
      throw InvalidArgument("the target column '" + data.target + "' holds the label '" + label +
                            "', which is not one of model '" + model.name + "''s classes");
    }
    out.truth.y.push_back(static_cast<double>(it->second));
  }
  if (out.rows.empty()) {
    throw InvalidArgument("the target column '" + data.target + "'" +
                          (weights.empty() ? "" : " or the sample weight") +
                          " is missing on every row of the step");
  }
  return out;
}

// The rows (positions into `base`) of a subsample, with their truth: `base` [n, width] gathered at
// `positions`, and the truth's labels and weights at the same positions.
std::pair<std::vector<double>, Truth> Subsample(const std::vector<double>& base, std::int64_t width,
                                                const Truth& truth,
                                                const std::vector<std::int64_t>& positions) {
  std::vector<double> rows;
  rows.reserve(positions.size() * static_cast<std::size_t>(width));
  Truth sub = truth;
  sub.y.clear();
  sub.weight.clear();
  for (const std::int64_t p : positions) {
    rows.insert(rows.end(), base.begin() + p * width, base.begin() + (p + 1) * width);
    sub.y.push_back(truth.y[static_cast<std::size_t>(p)]);
    if (!truth.weight.empty()) sub.weight.push_back(truth.weight[static_cast<std::size_t>(p)]);
  }
  return {std::move(rows), std::move(sub)};
}

// The explicit subsample of parameter 'subsample': m distinct positions among the n labelled rows.
std::vector<std::int64_t> ExplicitSubsample(const nlohmann::json& value, std::int64_t m, std::int64_t n) {
  std::vector<std::int64_t> positions;
  std::vector<bool> seen(static_cast<std::size_t>(n), false);
  if (value.is_array() && static_cast<std::int64_t>(value.size()) == m) {
    for (const auto& position : value) {
      const std::int64_t p = position.is_number_integer() ? position.get<std::int64_t>() : -1;
      if (p < 0 || p >= n || seen[static_cast<std::size_t>(p)]) break;
      seen[static_cast<std::size_t>(p)] = true;
      positions.push_back(p);
    }
  }
  if (static_cast<std::int64_t>(positions.size()) != m) {
    throw InvalidArgument("parameter 'subsample' must list " + std::to_string(m) +
                          " distinct row positions (max_samples of them) among 0.." + std::to_string(n - 1) +
                          ", found " + DescribeJson(value));
  }
  return positions;
}

Scoring ResolveScoring(const std::string& requested, const loupe::sdk::ModelInfo& model) {
  const Scoring scoring =
      ParseScoring(requested.empty() ? (model.IsClassifier() ? "accuracy" : "r2") : requested);
  if (model.IsClassifier() == (scoring == Scoring::kR2)) {
    throw InvalidArgument(std::string("parameter 'scoring' is \"") + ScoringName(scoring) + "\", which " +
                          (model.IsClassifier()
                               ? "scores regressors, but model '" + model.name + "' is a classifier"
                               : "scores classifiers, but model '" + model.name + "' is a regressor"));
  }
  if (scoring == Scoring::kRocAuc && model.output_names.size() != 2) {
    throw InvalidArgument("scoring \"roc_auc\" needs a binary classifier, and model '" + model.name +
                          "' has " + std::to_string(model.output_names.size()) + " classes");
  }
  return scoring;
}

// The scores of every (unit, repeat) task, task t = unit * n_repeats + repeat. Whole tasks per chunk,
// about kBatchRows rows each, one model call per chunk.
std::vector<double> PermutedScores(const Host& host, const std::vector<double>& base, std::int64_t n,
                                   std::int64_t width, const std::vector<PermutedUnit>& units,
                                   const std::vector<std::vector<std::int64_t>>& permutations,
                                   Scoring scoring, const Truth& truth, LoupeOutputSpace space,
                                   std::int64_t n_outputs) {
  const auto n_repeats = static_cast<std::int64_t>(permutations.size());
  const auto n_tasks = static_cast<std::int64_t>(units.size()) * n_repeats;
  std::vector<double> scores(static_cast<std::size_t>(n_tasks));
  const std::int64_t tasks_per_chunk = std::max<std::int64_t>(1, kBatchRows / n);
  std::atomic<std::uint64_t> done{0};
  host.ParallelFor(0, n_tasks, tasks_per_chunk, [&](std::int64_t begin, std::int64_t end) {
    host.ThrowIfCancelled();
    const std::int64_t batch_rows = (end - begin) * n;
    std::vector<double> batch(static_cast<std::size_t>(batch_rows * width));
    for (std::int64_t t = begin; t < end; ++t) {
      double* out = batch.data() + (t - begin) * n * width;
      std::copy(base.begin(), base.end(), out);
      const std::vector<std::int64_t>& permutation = permutations[static_cast<std::size_t>(t % n_repeats)];
      for (const std::int64_t column : units[static_cast<std::size_t>(t / n_repeats)].columns) {
        for (std::int64_t i = 0; i < n; ++i)
          out[i * width + column] =
              base[static_cast<std::size_t>(permutation[static_cast<std::size_t>(i)] * width + column)];
      }
    }
    std::vector<double> predicted(static_cast<std::size_t>(batch_rows * n_outputs));
    host.Predict(batch.data(), batch_rows, width, space, predicted.data(),
                 static_cast<std::int64_t>(predicted.size()));
    for (std::int64_t t = begin; t < end; ++t)
      scores[static_cast<std::size_t>(t)] =
          Score(scoring, truth, predicted.data() + (t - begin) * n * n_outputs, n_outputs);
    host.Progress(done += static_cast<std::uint64_t>(end - begin), static_cast<std::uint64_t>(n_tasks));
  });
  return scores;
}

}  // namespace

std::vector<std::int64_t> RepeatPermutation(std::uint64_t seed, std::int64_t repeat, std::int64_t n) {
  std::vector<std::int64_t> permutation(static_cast<std::size_t>(n));
  std::iota(permutation.begin(), permutation.end(), 0);
  loupe::sdk::Rng rng(seed, static_cast<std::uint64_t>(repeat), kPermutationStream);
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(rng.Below(static_cast<std::uint64_t>(i + 1)));
    std::swap(permutation[static_cast<std::size_t>(i)], permutation[static_cast<std::size_t>(j)]);
  }
  return permutation;
}

std::vector<std::int64_t> SubsamplePositions(std::uint64_t seed, std::int64_t n, std::int64_t m) {
  std::vector<std::int64_t> positions(static_cast<std::size_t>(n));
  std::iota(positions.begin(), positions.end(), 0);
  loupe::sdk::Rng rng(seed, 0, kSubsampleStream);
  for (std::int64_t i = 0; i < m; ++i) {  // the first m steps of a Fisher–Yates shuffle from the front
    const auto j = i + static_cast<std::int64_t>(rng.Below(static_cast<std::uint64_t>(n - i)));
    std::swap(positions[static_cast<std::size_t>(i)], positions[static_cast<std::size_t>(j)]);
  }
  positions.resize(static_cast<std::size_t>(m));
  return positions;
}

std::int64_t MaxSamplesCount(const nlohmann::json& max_samples, std::int64_t n) {
  if (max_samples.is_number_integer()) {
    const auto count = max_samples.get<std::int64_t>();
    if (count < 1 || count > n) {
      throw InvalidArgument("parameter 'max_samples' is the count " + std::to_string(count) +
                            ", which must be in [1, " + std::to_string(n) + "] (the rows with a target)");
    }
    return count;
  }
  if (max_samples.is_number()) {
    const double fraction = max_samples.get<double>();
    const auto count = static_cast<std::int64_t>(std::floor(fraction * static_cast<double>(n)));
    if (!(fraction > 0 && fraction <= 1) || count < 1) {
      throw InvalidArgument("parameter 'max_samples' is the fraction " + loupe::sdk::FormatNumber(fraction) +
                            ", which must be in (0, 1] and select at least one of the " + std::to_string(n) +
                            " rows with a target");
    }
    return count;
  }
  throw InvalidArgument(
      "parameter 'max_samples' must be a count (an integer) or a fraction in (0, 1], found " +
      DescribeJson(max_samples));
}

PermutationImportance::PermutationImportance(const Host& host) {
  const loupe::sdk::Params& params = host.Params();
  scoring_ = params.GetOr<std::string>("scoring", "");
  if (!scoring_.empty()) ParseScoring(scoring_);
  n_repeats_ = params.GetOr<std::int64_t>("n_repeats", 5);
  if (n_repeats_ < 1)
    throw InvalidArgument("parameter 'n_repeats' must be at least 1, found " + std::to_string(n_repeats_));
  groups_ = params.GetOr<nlohmann::json>("groups", nullptr);
  features_given_ = params.Has("features");
  features_ = params.GetOr<std::vector<std::string>>("features", {});
  permutations_ = params.GetOr<nlohmann::json>("permutations", nullptr);
  sample_weight_ = params.GetOr<std::string>("sample_weight", "");
  max_samples_ = params.GetOr<nlohmann::json>("max_samples", 1.0);
  // The form now, the count against the rows in Explain: a count of at least 1, or a fraction in (0, 1].
  if (!max_samples_.is_number() ||
      (max_samples_.is_number_integer() && max_samples_.get<std::int64_t>() < 1) ||
      !(max_samples_.get<double>() > 0) ||
      (!max_samples_.is_number_integer() && max_samples_.get<double>() > 1)) {
    throw InvalidArgument(
        "parameter 'max_samples' must be a count (an integer of at least 1) or a fraction in (0, 1], found " +
        DescribeJson(max_samples_));
  }
  subsample_ = params.GetOr<nlohmann::json>("subsample", nullptr);
}

void PermutationImportance::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const loupe::sdk::DatasetInfo data = host.Dataset();
  const loupe::sdk::ModelInfo model = host.ModelInfo();
  if (data.target.empty()) {
    throw loupe::sdk::Unsupported(
        "effects.permutation_importance scores the model against the data's target, "
        "and the pipeline sets none (set data.target)");
  }
  const Scoring scoring = ResolveScoring(scoring_, model);
  const std::vector<PermutedUnit> units = Units(data, groups_, features_, features_given_);
  const Labelled labelled =
      LabelledRows(host, data, model, NonEmptyStepRows(host, "effects.permutation_importance"),
                   SampleWeights(host, sample_weight_));
  const auto n = static_cast<std::int64_t>(labelled.rows.size());
  const Matrix x = host.Features();
  const std::int64_t width = x.cols();
  const LoupeOutputSpace space = model.IsClassifier() ? LOUPE_OUTPUT_PROBABILITY : LOUPE_OUTPUT_DEFAULT;
  const std::int64_t n_outputs = host.OutputCount(space);

  // As scikit-learn: the baseline on every labelled row, the shuffled scores on a subsample of m of them
  // (every row unless max_samples says fewer), drawn once and used by every feature and repeat.
  const std::int64_t m = MaxSamplesCount(max_samples_, n);
  if (!subsample_.is_null() && m == n) {
    throw InvalidArgument("parameter 'subsample' needs 'max_samples' below the " + std::to_string(n) +
                          " rows with a target");
  }
  std::vector<std::int64_t> positions;
  if (m < n)
    positions =
        subsample_.is_null() ? SubsamplePositions(host.Seed(), n, m) : ExplicitSubsample(subsample_, m, n);
  std::vector<std::vector<std::int64_t>> permutations;
  if (!permutations_.is_null()) {
    permutations = ExplicitPermutations(permutations_, n_repeats_, m);
  } else {
    for (std::int64_t r = 0; r < n_repeats_; ++r)
      permutations.push_back(RepeatPermutation(host.Seed(), r, m));
  }
  const std::vector<double> base = GatherRows(x, labelled.rows);
  const std::vector<double> base_predictions = PredictAll(host, base, n, width, space, n_outputs);
  const double baseline = Score(scoring, labelled.truth, base_predictions.data(), n_outputs);
  std::vector<double> scores;
  if (m < n) {
    const auto [sub_rows, sub_truth] = Subsample(base, width, labelled.truth, positions);
    scores =
        PermutedScores(host, sub_rows, m, width, units, permutations, scoring, sub_truth, space, n_outputs);
  } else {
    scores =
        PermutedScores(host, base, n, width, units, permutations, scoring, labelled.truth, space, n_outputs);
  }

  // importances[u][r] = baseline - score; mean and population standard deviation (np.std) over repeats.
  const auto n_units = static_cast<std::int64_t>(units.size());
  std::vector<double> importances(scores.size()), means(static_cast<std::size_t>(n_units)),
      stds(means.size());
  for (std::int64_t u = 0; u < n_units; ++u) {
    double sum = 0;
    for (std::int64_t r = 0; r < n_repeats_; ++r) {
      const auto t = static_cast<std::size_t>(u * n_repeats_ + r);
      importances[t] = baseline - scores[t];
      sum += importances[t];
    }
    const double mean = sum / static_cast<double>(n_repeats_);
    double squares = 0;
    for (std::int64_t r = 0; r < n_repeats_; ++r) {
      const double d = importances[static_cast<std::size_t>(u * n_repeats_ + r)] - mean;
      squares += d * d;
    }
    means[static_cast<std::size_t>(u)] = mean;
    stds[static_cast<std::size_t>(u)] = std::sqrt(squares / static_cast<double>(n_repeats_));
  }

  std::vector<std::string> names;
  nlohmann::json members = nlohmann::json::object();
  for (const auto& unit : units) {
    names.push_back(unit.name);
    nlohmann::json list = nlohmann::json::array();
    for (const std::int64_t c : unit.columns) list.push_back(data.features[static_cast<std::size_t>(c)].name);
    members[unit.name] = list;
  }
  std::vector<std::string> notes;
  if (labelled.dropped > 0) {
    notes.push_back(std::to_string(labelled.dropped) + " rows without a value of the target column '" +
                    data.target + "' were left out");
  }
  if (labelled.dropped_unweighted > 0) {
    notes.push_back(std::to_string(labelled.dropped_unweighted) +
                    " rows without a value of the sample weight column '" + sample_weight_ +
                    "' were left out");
  }
  result.SetStrings("feature_names", names);
  result.SetJson("members", members);
  result.SetString("scoring", ScoringName(scoring));
  result.SetString("target", data.target);
  if (model.IsClassifier() && scoring == Scoring::kRocAuc)
    result.SetString("positive", model.output_names[static_cast<std::size_t>(labelled.truth.positive)]);
  result.SetNumber("baseline_score", baseline);
  result.SetNumber("n_repeats", static_cast<double>(n_repeats_));
  result.SetTensor("importances_mean", {n_units}, means.data());
  result.SetTensor("importances_std", {n_units}, stds.data());
  result.SetTensor("importances", {n_units, n_repeats_}, importances.data());
  result.SetJson("rows", labelled.rows);
  if (!sample_weight_.empty()) result.SetString("sample_weight", sample_weight_);
  result.SetNumber("max_samples", static_cast<double>(m));
  if (m < n) {
    std::vector<std::int64_t> subsample_rows;
    for (const std::int64_t p : positions)
      subsample_rows.push_back(labelled.rows[static_cast<std::size_t>(p)]);
    result.SetJson("subsample_rows", subsample_rows);
  }
  result.SetJson("notes", notes);
  result.SetNumber("quality.baseline_score", baseline);
  result.SetNumber("quality.rows", static_cast<double>(n));
  result.SetNumber("quality.model_evaluations", static_cast<double>(n + m * n_units * n_repeats_));
}

loupe::sdk::ExplainerDef PermutationImportance::Definition() {
  return loupe::sdk::ExplainerDef::Of<PermutationImportance>("effects.permutation_importance")
      .Summary(
          "The drop in a score when each feature (or group) is shuffled across the rows, as scikit-learn's "
          "permutation_importance.")
      .Kind("permutation_importance")
      .Scope(LOUPE_SCOPE_GLOBAL)
      .Parameters({
          Param::Enum("scoring", {"accuracy", "roc_auc", "neg_log_loss", "r2"})
              .Doc("The score (greater is better) against the data's target; unset: the model's default, "
                   "accuracy "
                   "for classifiers and r2 for regressors."),
          Param::Int("n_repeats").Default(5).Min(1).Doc("Times each feature is shuffled."),
          loupe::sdk::GroupsParam().Doc(
              "Optional mapping of group name to feature names; a group's features are shuffled together "
              "with "
              "one permutation and scored as one, and a feature may be in one group at most."),
          Param::StringList("features")
              .Doc("Features scored one at a time besides the groups (an empty list: the groups only); "
                   "unset: every "
                   "feature in no group."),
          Param::Json("permutations")
              .Doc("Explicit permutations, n_repeats lists of the row positions 0..n-1 (0..m-1 of the "
                   "subsample with max_samples; to reproduce another tool's shuffles); unset: seeded "
                   "shuffles."),
          Param::String("sample_weight")
              .Doc("A numeric data column of sample weights (at least 0) every score is weighted by, as "
                   "scikit-learn's sample_weight; rows without a weight are left out; unset: equal weights."),
          Param::Json("max_samples")
              .Default(1.0)
              .Doc(
                  "The rows the shuffled scores use, as scikit-learn: an integer is a count, a number in (0, "
                  "1] a fraction of the rows with a target; drawn once without replacement (the baseline "
                  "uses "
                  "every row)."),
          Param::Json("subsample")
              .Doc("Explicit positions (among the rows with a target, 0..n-1) of the max_samples subsample, "
                   "to "
                   "reproduce another tool's draw; unset: a seeded draw."),
      });
}

}  // namespace loupe::effects
