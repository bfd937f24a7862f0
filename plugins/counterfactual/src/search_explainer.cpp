#include "search_explainer.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/error.hpp"

namespace loupe::counterfactual {
namespace {

using loupe::sdk::Host;
using loupe::sdk::InvalidArgument;
using nlohmann::json;

constexpr std::uint64_t kSearchStream = 1;       // Rng(row, kSearchStream): one row's search
constexpr std::int64_t kRowPredictBatch = 4096;  // rows per call when predicting the step's rows

std::string FeatureList(const loupe::sdk::DatasetInfo& data) {
  std::string text;
  for (const auto& feature : data.features) text += (text.empty() ? "" : ", ") + feature.name;
  return text;
}

std::size_t FeatureOf(const loupe::sdk::DatasetInfo& data, const std::string& param,
                      const std::string& name) {
  const std::int64_t index = data.FeatureIndex(name);
  if (index < 0) {
    throw InvalidArgument(
        "parameter '" + param + "' names '" + name +
        "', which is not a feature of the model's input matrix (features: " + FeatureList(data) + ")");
  }
  return static_cast<std::size_t>(index);
}

// An object parameter ({feature: value}), or an empty object when absent.
json ObjectParam(const loupe::sdk::Params& params, const std::string& name) {
  if (!params.Has(name)) return json::object();
  json value = params.Get<json>(name);
  if (!value.is_object()) {
    throw InvalidArgument("parameter '" + name + "' must be a mapping of feature name to value, found " +
                          value.dump());
  }
  return value;
}

void ReadRanges(const json& ranges, const loupe::sdk::DatasetInfo& data,
                const std::vector<FeatureStats>& stats, std::vector<FeatureRule>& rules) {
  for (const auto& [name, range] : ranges.items()) {
    const std::size_t j = FeatureOf(data, "ranges", name);
    if (stats[j].categorical) {
      throw InvalidArgument("parameter 'ranges' gives a range for categorical feature '" + name +
                            "'; restrict its levels with 'allowed_levels' instead");
    }
    if (!range.is_array() || range.size() != 2 || !range[0].is_number() || !range[1].is_number() ||
        range[0].get<double>() > range[1].get<double>()) {
      throw InvalidArgument("parameter 'ranges' must give [low, high] with low <= high for feature '" + name +
                            "', found " + range.dump());
    }
    rules[j].lo = range[0].get<double>();
    rules[j].hi = range[1].get<double>();
  }
}

void ReadMonotone(const json& monotone, const loupe::sdk::DatasetInfo& data,
                  const std::vector<FeatureStats>& stats, std::vector<FeatureRule>& rules) {
  for (const auto& [name, direction] : monotone.items()) {
    const std::size_t j = FeatureOf(data, "monotone", name);
    const std::string text = direction.is_string() ? direction.get<std::string>() : direction.dump();
    if (stats[j].categorical) {
      throw InvalidArgument("parameter 'monotone' gives a direction for categorical feature '" + name +
                            "', which has no order; restrict its levels with 'allowed_levels' instead");
    }
    if (text != "increase" && text != "decrease") {
      throw InvalidArgument("parameter 'monotone' must map feature '" + name +
                            "' to \"increase\" or \"decrease\", found " + direction.dump());
    }
    rules[j].direction = text == "increase" ? 1 : -1;
  }
}

void ReadAllowedLevels(const json& allowed, const loupe::sdk::DatasetInfo& data,
                       std::vector<FeatureRule>& rules) {
  for (const auto& [name, levels] : allowed.items()) {
    const std::size_t j = FeatureOf(data, "allowed_levels", name);
    const loupe::sdk::FeatureInfo& feature = data.features[j];
    if (!feature.IsCategorical()) {
      throw InvalidArgument("parameter 'allowed_levels' lists levels for numeric feature '" + name +
                            "'; bound it with 'ranges' instead");
    }
    if (!levels.is_array()) {
      throw InvalidArgument("parameter 'allowed_levels' must map feature '" + name +
                            "' to a list of levels, found " + levels.dump());
    }
    std::fill(rules[j].allowed_levels.begin(), rules[j].allowed_levels.end(), 0);
    for (const json& level : levels) {
      const std::string text = level.is_string() ? level.get<std::string>() : level.dump();
      const auto it = std::find(feature.levels.begin(), feature.levels.end(), text);
      if (it == feature.levels.end()) {
        throw InvalidArgument("parameter 'allowed_levels' lists '" + text +
                              "', which is not a level of feature '" + name + "'");
      }
      rules[j].allowed_levels[static_cast<std::size_t>(it - feature.levels.begin())] = 1;
    }
  }
}

bool Same(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

std::string JoinChanges(const std::vector<std::string>& parts) {
  std::string text;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) text += i + 1 == parts.size() ? " and " : ", ";
    text += parts[i];
  }
  return text;
}

// One counterfactual as JSON: its values, the changes, the sentence and its figures.
json CounterfactualJson(const Counterfactual& c, const double* row, std::int32_t desired,
                        const loupe::sdk::DatasetInfo& data, const CounterfactualSearch& search) {
  json values = json::array(), changes = json::array();
  std::vector<std::string> parts;
  for (std::size_t j = 0; j < data.features.size(); ++j) {
    values.push_back(loupe::sdk::FormatValue(data.features[j], c.values[j]));  // exact: re-predictable
    if (Same(c.values[j], row[j])) continue;
    const std::string shown = DisplayValue(data.features[j], search.stats()[j], c.values[j]);
    const std::string before = DisplayValue(data.features[j], search.stats()[j], row[j]);
    changes.push_back(json{{"feature", data.features[j].name}, {"from", before}, {"to", shown}});
    parts.push_back(data.features[j].name + " " + before + " \u2192 " + shown);
  }
  const DecisionRule& decision = search.decision();
  const std::string outcome = decision.Describe(c.outputs.data(), desired);
  const std::string sentence = JoinChanges(parts) + " would change the " +
                               (decision.classifier() ? "decision" : "prediction") + " to " + outcome;
  return json{{"values", values},       {"changes", changes},       {"outputs", c.outputs},
              {"distance", c.distance}, {"n_changed", c.n_changed}, {"decision", outcome},
              {"sentence", sentence}};
}

// DiCE's diversity figures of a row's counterfactuals: the mean pairwise distance, and the mean pairwise
// fraction of features whose values differ ("count diversity").
std::pair<double, double> Diversity(const std::vector<Counterfactual>& cfs,
                                    const CounterfactualSearch& search) {
  if (cfs.size() < 2) return {0.0, 0.0};
  double distance = 0, count = 0, pairs = 0;
  const std::size_t f = search.stats().size();
  for (std::size_t a = 0; a < cfs.size(); ++a) {
    for (std::size_t b = a + 1; b < cfs.size(); ++b) {
      distance += search.Distance(cfs[a].values.data(), cfs[b].values.data());
      std::size_t differ = 0;
      for (std::size_t j = 0; j < f; ++j) differ += Same(cfs[a].values[j], cfs[b].values[j]) ? 0 : 1;
      count += static_cast<double>(differ) / static_cast<double>(f);
      pairs += 1;
    }
  }
  return {distance / pairs, count / pairs};
}

// Why a row has fewer counterfactuals than the n asked for, as the end of a sentence.
std::string ShortfallReason(const SearchOutcome& outcome) {
  std::string reason =
      "every other valid candidate the search kept repeats one of these or makes all of its changes and more";
  if (outcome.failed_recheck > 0) {
    reason +=
        ", and " + std::to_string(outcome.failed_recheck) + " chosen one(s) failed the final re-prediction";
  }
  return reason;
}

std::string StatusMessage(const SearchOutcome& outcome, std::int64_t budget, std::int64_t n,
                          const std::string& desired) {
  switch (outcome.status) {
    case SearchStatus::kFound: {
      const auto found = static_cast<std::int64_t>(outcome.counterfactuals.size());
      if (found >= n) return std::to_string(found) + " counterfactual(s) reaching " + desired;
      return "only " + std::to_string(found) + " of the n = " + std::to_string(n) +
             " counterfactuals asked for reach " + desired + ": " + ShortfallReason(outcome);
    }
    case SearchStatus::kAlreadyDesired:
      return "the row already has the desired decision " + desired + "; there is nothing to change";
    case SearchStatus::kNothingMayChange:
      return "none found within budget: the constraints (immutable, ranges, monotone, allowed_levels) leave "
             "no "
             "feature of this row free to change";
    case SearchStatus::kNoneFound:
      break;
  }
  if (outcome.failed_recheck > 0) {
    return "none found within budget: the " + std::to_string(outcome.failed_recheck) +
           " candidate(s) the search chose all failed the final re-prediction, so none is returned";
  }
  return "none found within budget: none of the " + std::to_string(outcome.evaluations) +
         " feasible candidates evaluated (max_evaluations " + std::to_string(budget) + ") reaches " +
         desired + "; the constraints may make it impossible";
}

const char* StatusName(SearchStatus status) {
  switch (status) {
    case SearchStatus::kFound:
      return "found";
    case SearchStatus::kAlreadyDesired:
      return "already_desired";
    default:
      return "none_found";
  }
}

}  // namespace

std::vector<double> PredictStepRows(const Host& host, const loupe::sdk::Matrix& x,
                                    const std::vector<std::int64_t>& rows, std::int64_t n_outputs) {
  const auto r = static_cast<std::int64_t>(rows.size());
  std::vector<double> out(static_cast<std::size_t>(r * n_outputs));
  host.ParallelFor(0, r, kRowPredictBatch, [&](std::int64_t begin, std::int64_t end) {
    std::vector<double> batch;
    for (std::int64_t i = begin; i < end; ++i)
      batch.insert(batch.end(), x.Row(rows[i]), x.Row(rows[i]) + x.cols());
    host.Predict(batch.data(), end - begin, x.cols(), LOUPE_OUTPUT_DEFAULT, out.data() + begin * n_outputs,
                 (end - begin) * n_outputs);
  });
  return out;
}

namespace {

json ConstraintsJson(const loupe::sdk::Params& params) {
  json constraints = json::object();
  constraints["immutable"] = params.GetOr<std::vector<std::string>>("immutable", {});
  for (const char* name : {"ranges", "monotone", "allowed_levels"})
    constraints[name] = ObjectParam(params, name);
  return constraints;
}

}  // namespace

std::vector<FeatureRule> ReadConstraints(const loupe::sdk::Params& params,
                                         const loupe::sdk::DatasetInfo& data,
                                         const std::vector<FeatureStats>& stats) {
  std::vector<FeatureRule> rules(stats.size());
  for (std::size_t j = 0; j < stats.size(); ++j) {
    rules[j].lo = stats[j].min;
    rules[j].hi = stats[j].max;
    rules[j].allowed_levels.assign(static_cast<std::size_t>(stats[j].n_levels), 1);
  }
  for (const std::string& name : params.GetOr<std::vector<std::string>>("immutable", {})) {
    rules[FeatureOf(data, "immutable", name)].may_change = false;
  }
  ReadRanges(ObjectParam(params, "ranges"), data, stats, rules);
  ReadMonotone(ObjectParam(params, "monotone"), data, stats, rules);
  ReadAllowedLevels(ObjectParam(params, "allowed_levels"), data, rules);
  return rules;
}

SearchExplainer::SearchExplainer(const Host& host) {
  const loupe::sdk::Params& params = host.Params();
  settings_.n = params.Get<std::int64_t>("n");
  settings_.max_evaluations = params.Get<std::int64_t>("max_evaluations");
  settings_.batch_size = params.Get<std::int64_t>("batch_size");
  settings_.diversity_weight = params.Get<double>("diversity_weight");
  DecisionRule::ForCounterfactuals(host);  // refuse a bad `desired` before the step runs
  const loupe::sdk::DatasetInfo data = host.Dataset();
  std::vector<FeatureStats> no_stats(data.features.size());
  for (std::size_t j = 0; j < data.features.size(); ++j) {
    no_stats[j].categorical = data.features[j].IsCategorical();
    no_stats[j].n_levels = static_cast<std::int64_t>(data.features[j].levels.size());
  }
  ReadConstraints(params, data, no_stats);  // names, types and levels, checked at create()
}

void SearchExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const loupe::sdk::DatasetInfo data = host.Dataset();
  const loupe::sdk::Matrix x = host.Features();
  const std::vector<std::int64_t> rows = host.StepRows();
  std::vector<FeatureStats> stats = ComputeFeatureStats(data, x);
  std::vector<FeatureRule> rules = ReadConstraints(host.Params(), data, stats);
  const CounterfactualSearch search(stats, std::move(rules), DecisionRule::ForCounterfactuals(host),
                                    settings_);
  const DecisionRule& decision = search.decision();
  const std::int64_t o = decision.n_outputs();
  const std::int64_t f = x.cols();
  const auto r = static_cast<std::int64_t>(rows.size());

  const std::vector<double> row_outputs = PredictStepRows(host, x, rows, o);
  std::vector<SearchOutcome> outcomes(rows.size());
  // One row per task: a row's search is sequential (its batches depend on the previous ones) and reads only
  // its own Rng, so rows run on every core and the bits never depend on the thread count.
  host.ParallelFor(0, r, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      host.ThrowIfCancelled();
      loupe::sdk::Rng rng = host.Rng(static_cast<std::uint64_t>(rows[i]), kSearchStream);
      const Evaluate evaluate = [&](const double* batch, std::int64_t n, double* out) {
        host.Predict(batch, n, f, LOUPE_OUTPUT_DEFAULT, out, n * o);
      };
      outcomes[static_cast<std::size_t>(i)] =
          search.Run(x.Row(rows[i]), row_outputs.data() + i * o, rng, evaluate);
      host.Progress(static_cast<std::uint64_t>(i + 1), static_cast<std::uint64_t>(r));
    }
  });

  json rows_json = json::array();
  double evaluations = static_cast<double>(r), found = 0, returned = 0, distance_sum = 0, fewer_than_n = 0;
  for (std::int64_t i = 0; i < r; ++i) {
    const SearchOutcome& outcome = outcomes[static_cast<std::size_t>(i)];
    const double* row = x.Row(rows[i]);
    const double* outputs = row_outputs.data() + i * o;
    const std::string desired = decision.classifier()
                                    ? decision.outputs()[static_cast<std::size_t>(outcome.desired)]
                                    : "[" + loupe::sdk::FormatNumber(decision.range_lo()) + ", " +
                                          loupe::sdk::FormatNumber(decision.range_hi()) + "]";
    json values = json::array(), cfs = json::array();
    for (std::size_t j = 0; j < data.features.size(); ++j)
      values.push_back(loupe::sdk::FormatValue(data.features[j], row[j]));
    for (const Counterfactual& c : outcome.counterfactuals) {
      cfs.push_back(CounterfactualJson(c, row, outcome.desired, data, search));
      distance_sum += c.distance;
    }
    const auto [diversity, count_diversity] = Diversity(outcome.counterfactuals, search);
    rows_json.push_back(
        json{{"row", rows[i]},
             {"values", values},
             {"outputs", std::vector<double>(outputs, outputs + o)},
             {"prediction", decision.Describe(outputs, decision.classifier() ? -1 : 0)},
             {"desired", desired},
             {"status", StatusName(outcome.status)},
             {"message", StatusMessage(outcome, settings_.max_evaluations, settings_.n, desired)},
             {"model_evaluations", outcome.evaluations + outcome.recheck_evaluations},
             {"valid_candidates", outcome.valid_candidates},
             {"counterfactuals", cfs},
             {"diversity", diversity},
             {"count_diversity", count_diversity}});
    evaluations += static_cast<double>(outcome.evaluations + outcome.recheck_evaluations);
    found += outcome.counterfactuals.empty() ? 0 : 1;
    if (outcome.status == SearchStatus::kFound &&
        static_cast<std::int64_t>(outcome.counterfactuals.size()) < settings_.n)
      fewer_than_n += 1;
    returned += static_cast<double>(outcome.counterfactuals.size());
  }
  json scales = json::object();
  for (std::size_t j = 0; j < stats.size(); ++j) {
    if (!stats[j].categorical) scales[data.features[j].name] = stats[j].scale;
  }
  result.SetStrings("feature_names", data.FeatureNames());
  result.SetStrings("outputs", decision.outputs());
  result.SetString("decision_rule", decision.Sentence());
  result.SetJson("constraints", ConstraintsJson(host.Params()));
  result.SetJson("scales", scales);
  result.SetJson("rows", rows_json);
  result.SetStrings("notes", {"distance: the sum over features of |change| / MAD for numeric features (the "
                              "standard deviation when the MAD is 0) plus 1 per changed categorical feature",
                              "features missing in a row are kept as they are"});
  result.SetNumber("quality.rows", static_cast<double>(r));
  result.SetNumber("quality.rows_with_counterfactuals", found);
  result.SetNumber("quality.rows_with_fewer_than_n", fewer_than_n);
  result.SetNumber("quality.counterfactuals", returned);
  result.SetNumber("quality.model_evaluations", evaluations);
  result.SetNumber("quality.evaluations_per_counterfactual",
                   returned > 0 ? evaluations / returned : std::nan(""));
  result.SetNumber("quality.mean_distance", returned > 0 ? distance_sum / returned : std::nan(""));
}

loupe::sdk::ExplainerDef SearchExplainer::Definition() {
  using loupe::sdk::Param;
  return loupe::sdk::ExplainerDef::Of<SearchExplainer>("counterfactual.search")
      .Summary(
          "Counterfactual explanations: for each row, up to n diverse, sparse and feasible changes that flip "
          "the "
          "model's decision, found by a random search in growing spheres with sparsity and closeness passes "
          "within an evaluation budget.")
      .Kind(kCounterfactualExplanations)
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters({
          Param::Int("n").Default(4).Min(1).Max(100).Doc(
              "Counterfactuals wanted per row (DiCE's total_CFs)."),
          Param::String("desired")
              .Default("opposite")
              .Doc("The class a counterfactual must reach: a class name, or \"opposite\" for the other class "
                   "of a "
                   "binary classifier."),
          Param::Float("threshold")
              .Default(0.5)
              .Min(0.0)
              .Max(1.0)
              .Doc("A counterfactual is valid when the desired class's probability is at least this."),
          Param::Json("desired_range")
              .Doc("Regressors: [low, high], the predictions a counterfactual must reach (DiCE's "
                   "desired_range)."),
          Param::StringList("immutable").Doc("Features a counterfactual never changes, e.g. [Age, Marital]."),
          Param::Json("ranges").Doc("Mapping of numeric feature to [low, high], the values a changed feature "
                                    "may take (default: its "
                                    "observed range)."),
          Param::Json("monotone")
              .Doc("Mapping of numeric feature to \"increase\" or \"decrease\", the only direction it may "
                   "change in."),
          Param::Json("allowed_levels")
              .Doc("Mapping of categorical feature to the levels a change may go to (default: every level)."),
          Param::Int("max_evaluations")
              .Default(10000)
              .Min(10)
              .Max(100000000)
              .Doc("Model evaluations the search may spend per row; rows without a valid counterfactual "
                   "within it "
                   "report \"none found within budget\"."),
          Param::Int("batch_size")
              .Default(500)
              .Min(1)
              .Max(1000000)
              .Doc("Candidates per model call in the random search."),
          Param::Float("diversity_weight")
              .Default(0.5)
              .Min(0.0)
              .Max(1000.0)
              .Doc("Weight of diversity against closeness when choosing the n counterfactuals returned."),
      });
}

}  // namespace loupe::counterfactual
