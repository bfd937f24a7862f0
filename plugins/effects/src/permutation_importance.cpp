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
  std::int64_t dropped = 0;
};

Labelled LabelledRows(const Host& host, const loupe::sdk::DatasetInfo& data,
                      const loupe::sdk::ModelInfo& model, const std::vector<std::int64_t>& rows) {
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
    throw InvalidArgument("the target column '" + data.target + "' is missing on every row of the step");
  }
  return out;
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
      LabelledRows(host, data, model, NonEmptyStepRows(host, "effects.permutation_importance"));
  const auto n = static_cast<std::int64_t>(labelled.rows.size());
  const Matrix x = host.Features();
  const std::int64_t width = x.cols();
  const LoupeOutputSpace space = model.IsClassifier() ? LOUPE_OUTPUT_PROBABILITY : LOUPE_OUTPUT_DEFAULT;
  const std::int64_t n_outputs = host.OutputCount(space);

  std::vector<std::vector<std::int64_t>> permutations;
  if (!permutations_.is_null()) {
    permutations = ExplicitPermutations(permutations_, n_repeats_, n);
  } else {
    for (std::int64_t r = 0; r < n_repeats_; ++r)
      permutations.push_back(RepeatPermutation(host.Seed(), r, n));
  }
  const std::vector<double> base = GatherRows(x, labelled.rows);
  const std::vector<double> base_predictions = PredictAll(host, base, n, width, space, n_outputs);
  const double baseline = Score(scoring, labelled.truth, base_predictions.data(), n_outputs);
  const std::vector<double> scores =
      PermutedScores(host, base, n, width, units, permutations, scoring, labelled.truth, space, n_outputs);

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
  result.SetJson("notes", notes);
  result.SetNumber("quality.baseline_score", baseline);
  result.SetNumber("quality.rows", static_cast<double>(n));
  result.SetNumber("quality.model_evaluations", static_cast<double>(n * (1 + n_units * n_repeats_)));
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
              .Doc("Explicit permutations, n_repeats lists of the row positions 0..n-1 (to reproduce another "
                   "tool's shuffles); unset: seeded shuffles."),
      });
}

}  // namespace loupe::effects
