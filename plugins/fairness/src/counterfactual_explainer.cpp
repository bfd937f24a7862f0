#include "counterfactual_explainer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "decisions.hpp"
#include "groups.hpp"
#include "json_values.hpp"
#include "loupe/sdk/error.hpp"
#include "loupe/sdk/params.hpp"

namespace loupe::fairness {
namespace {

using loupe::sdk::Host;
using loupe::sdk::InvalidArgument;
using nlohmann::json;

double Ratio(double a, double b) { return b > 0 ? a / b : std::numeric_limits<double>::quiet_NaN(); }

// Sums over (row, counterfactual group) pairs.
struct Tally {
  std::int64_t pairs = 0;
  std::int64_t flips = 0;
  std::int64_t to_favorable = 0;
  std::int64_t from_favorable = 0;
  std::int64_t counterfactual_selected = 0;
  double sum_change = 0;
  double sum_abs_change = 0;
  double max_abs_change = 0;

  void Add(double change, bool flip, bool was_favorable, bool is_favorable) {
    ++pairs;
    flips += flip ? 1 : 0;
    to_favorable += flip && is_favorable ? 1 : 0;
    from_favorable += flip && was_favorable ? 1 : 0;
    counterfactual_selected += is_favorable ? 1 : 0;
    sum_change += change;
    sum_abs_change += std::fabs(change);
    max_abs_change = std::max(max_abs_change, std::fabs(change));
  }

  json ToJson() const {
    const auto n = static_cast<double>(pairs);
    return json{{"counterfactuals", pairs},
                {"flips", flips},
                {"flip_rate", NumberOrNull(Ratio(static_cast<double>(flips), n))},
                {"flips_to_favorable", to_favorable},
                {"flips_from_favorable", from_favorable},
                {"counterfactual_selection_rate",
                 NumberOrNull(Ratio(static_cast<double>(counterfactual_selected), n))},
                {"mean_score_change", NumberOrNull(Ratio(sum_change, n))},
                {"mean_abs_score_change", NumberOrNull(Ratio(sum_abs_change, n))},
                {"max_abs_score_change", pairs > 0 ? json(max_abs_change) : json(nullptr)}};
  }
};

// Per original group: its rows, their original decisions and scores, and how many rows flip at all.
struct RowTally {
  std::int64_t rows = 0;
  std::int64_t selected = 0;
  std::int64_t rows_flipped = 0;
  double sum_score = 0;

  json ToJson() const {
    const auto n = static_cast<double>(rows);
    return json{{"n", rows},
                {"selection_rate", NumberOrNull(Ratio(static_cast<double>(selected), n))},
                {"mean_score", NumberOrNull(Ratio(sum_score, n))},
                {"rows_flipped", rows_flipped},
                {"row_flip_rate", NumberOrNull(Ratio(static_cast<double>(rows_flipped), n))}};
  }
};

// The most-changing counterfactual of one row.
struct Candidate {
  double abs_change;
  std::int64_t data_row;
  std::int32_t group, counterfactual_group;
  double score, counterfactual_score;
  std::int32_t decision, counterfactual_decision;
};

// ---------------------------------------------------------------------------------------------------
// The phases of CounterfactualExplainer::Explain, in order.

// The column of each sensitive attribute in the model's matrix. It must be a feature (else swapping it
// cannot change a prediction), and a numeric one must have few distinct values.
std::vector<std::int64_t> SensitiveFeatures(const loupe::sdk::DatasetInfo& data, const loupe::sdk::Matrix& x,
                                            const std::vector<std::int64_t>& step_rows,
                                            const std::vector<std::string>& sensitive) {
  std::vector<std::int64_t> feature_of;
  for (const std::string& name : sensitive) {
    const std::int64_t f = data.FeatureIndex(name);
    if (f < 0) {
      throw InvalidArgument("parameter 'sensitive' names column '" + name +
                            "', which is not a feature of the model's input matrix, so changing it cannot "
                            "change a prediction and fairness.counterfactual has nothing to probe");
    }
    if (!data.features[static_cast<std::size_t>(f)].IsCategorical()) {
      std::vector<double> distinct;
      for (const std::int64_t row : step_rows) {
        if (!std::isnan(x(row, f))) distinct.push_back(x(row, f));
      }
      std::sort(distinct.begin(), distinct.end());
      distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
      if (distinct.size() > kMaxDistinctNumericValues) {
        throw InvalidArgument("parameter 'sensitive' names numeric feature '" + name + "' with " +
                              std::to_string(distinct.size()) + " distinct values, more than the " +
                              std::to_string(kMaxDistinctNumericValues) +
                              " group values fairness.counterfactual swaps between");
      }
    }
    feature_of.push_back(f);
  }
  return feature_of;
}

// The rows that belong to a group, and each group's values in the feature matrix.
struct GroupedRows {
  std::vector<std::int64_t> rows;   // data rows
  std::vector<std::int32_t> group;  // per row: its group
  std::vector<double> group_value;  // [group][sensitive feature]
  std::int64_t n_groups = 0;
  std::int64_t n_sensitive = 0;
};

// A group's values are taken from its first row: a group is one combination of values, so every member
// has the same ones.
GroupedRows KeepGroupedRows(const loupe::sdk::Matrix& x, const std::vector<std::int64_t>& step_rows,
                            const Grouping& grouping, const std::vector<std::int64_t>& feature_of) {
  GroupedRows kept;
  kept.n_groups = static_cast<std::int64_t>(grouping.size());
  kept.n_sensitive = static_cast<std::int64_t>(feature_of.size());
  kept.group_value.assign(static_cast<std::size_t>(kept.n_groups * kept.n_sensitive),
                          std::numeric_limits<double>::quiet_NaN());
  std::vector<char> seen(static_cast<std::size_t>(kept.n_groups), 0);
  for (std::size_t i = 0; i < step_rows.size(); ++i) {
    const std::int32_t g = grouping.group_of[i];
    if (g < 0) continue;
    kept.rows.push_back(step_rows[i]);
    kept.group.push_back(g);
    if (!seen[static_cast<std::size_t>(g)]) {
      seen[static_cast<std::size_t>(g)] = 1;
      for (std::int64_t c = 0; c < kept.n_sensitive; ++c) {
        kept.group_value[static_cast<std::size_t>(g * kept.n_sensitive + c)] =
            x(step_rows[i], feature_of[static_cast<std::size_t>(c)]);
      }
    }
  }
  return kept;
}

std::vector<std::string> CounterfactualNotes(const Grouping& grouping) {
  std::vector<std::string> notes;
  notes.push_back(
      "each row is re-predicted with its sensitive feature(s) set to every other group's value and every "
      "other feature unchanged, so features correlated with the sensitive attribute keep the row's own "
      "values");
  if (grouping.missing_rows > 0) {
    notes.push_back(std::to_string(grouping.missing_rows) +
                    " rows are left out: a sensitive value is missing");
  }
  if (!grouping.empty_intersections.empty()) {
    std::string listed;
    for (const auto& name : grouping.empty_intersections)
      listed += (listed.empty() ? "'" : ", '") + name + "'";
    notes.push_back("intersections without rows are not used as counterfactual values: " + listed);
  }
  return notes;
}

// The favourable score and decision of every evaluation k = i * n_groups + g: row i with the sensitive
// values of group g (its own group: the row as it is).
struct Evaluations {
  std::vector<double> score;
  std::vector<std::int32_t> decision;
};

// One Predict call per kPredictBatch evaluations; every chunk writes its own slots.
Evaluations EvaluateCounterfactuals(const Host& host, const loupe::sdk::Matrix& x, const GroupedRows& kept,
                                    const std::vector<std::int64_t>& feature_of, const Grouping& grouping,
                                    const ClassSetup& setup, double threshold) {
  const auto n = static_cast<std::int64_t>(kept.rows.size());
  const std::int64_t d = x.cols();
  const std::int64_t n_groups = kept.n_groups;
  const auto n_classes = static_cast<std::int64_t>(setup.classes.size());
  const std::int64_t total = n * n_groups;
  Evaluations evaluations;
  evaluations.score.resize(static_cast<std::size_t>(total));
  evaluations.decision.resize(static_cast<std::size_t>(total));
  host.ParallelFor(0, total, kPredictBatch, [&](std::int64_t begin, std::int64_t end) {
    host.ThrowIfCancelled();
    const std::int64_t m = end - begin;
    std::vector<double> batch(static_cast<std::size_t>(m * d));
    std::vector<double> out(static_cast<std::size_t>(m * n_classes));
    for (std::int64_t k = begin; k < end; ++k) {
      const std::int64_t i = k / n_groups;
      const auto g = static_cast<std::int32_t>(k % n_groups);
      double* slot = batch.data() + (k - begin) * d;
      const double* row = x.Row(kept.rows[static_cast<std::size_t>(i)]);
      std::copy(row, row + d, slot);
      if (g != kept.group[static_cast<std::size_t>(i)]) {
        for (std::int64_t c = 0; c < kept.n_sensitive; ++c) {
          slot[feature_of[static_cast<std::size_t>(c)]] =
              kept.group_value[static_cast<std::size_t>(g * kept.n_sensitive + c)];
        }
      }
    }
    host.Predict(batch.data(), m, d, LOUPE_OUTPUT_PROBABILITY, out.data(), m * n_classes);
    for (std::int64_t j = 0; j < m; ++j) {
      const double* p = out.data() + j * n_classes;
      for (std::int64_t c = 0; c < n_classes; ++c) {
        if (std::isnan(p[c])) {
          const std::int64_t k = begin + j;
          throw loupe::sdk::Error(LOUPE_ERROR_MODEL,
                                  "the model returned NaN as a probability for data row " +
                                      std::to_string(kept.rows[static_cast<std::size_t>(k / n_groups)]) +
                                      " with the values of group '" +
                                      grouping.group_names[static_cast<std::size_t>(k % n_groups)] + "'");
        }
      }
      evaluations.score[static_cast<std::size_t>(begin + j)] = p[setup.favorable];
      evaluations.decision[static_cast<std::size_t>(begin + j)] = Decide(p, setup, threshold);
    }
  });
  return evaluations;
}

// Every tally of the report, summed in row order (deterministic for any thread count).
struct Tallies {
  std::vector<Tally> by_group, by_pair;  // [original group], [original group][counterfactual group]
  std::vector<RowTally> rows_by_group;
  Tally overall;
  RowTally overall_rows;
  std::vector<Candidate> candidates;  // per row: its most-changing counterfactual
};

Tallies TallyCounterfactuals(const GroupedRows& kept, const Evaluations& evaluations,
                             std::int32_t favorable) {
  const auto n = static_cast<std::int64_t>(kept.rows.size());
  const std::int64_t n_groups = kept.n_groups;
  const auto G = static_cast<std::size_t>(n_groups);
  Tallies t;
  t.by_group.resize(G);
  t.by_pair.resize(G * G);
  t.rows_by_group.resize(G);
  t.candidates.reserve(static_cast<std::size_t>(n));
  const std::vector<double>& score = evaluations.score;
  const std::vector<std::int32_t>& decision = evaluations.decision;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t g0 = kept.group[static_cast<std::size_t>(i)];
    const auto own = static_cast<std::size_t>(i * n_groups + g0);
    const double s0 = score[own];
    const std::int32_t d0 = decision[own];
    const bool was_favorable = d0 == favorable;
    bool flipped = false;
    Candidate best{-1, kept.rows[static_cast<std::size_t>(i)], g0, g0, s0, s0, d0, d0};
    for (std::int32_t g = 0; g < static_cast<std::int32_t>(n_groups); ++g) {
      if (g == g0) continue;
      const auto k = static_cast<std::size_t>(i * n_groups + g);
      const double change = score[k] - s0;
      const bool flip = decision[k] != d0;
      const bool is_favorable = decision[k] == favorable;
      t.by_group[static_cast<std::size_t>(g0)].Add(change, flip, was_favorable, is_favorable);
      t.by_pair[static_cast<std::size_t>(g0) * G + static_cast<std::size_t>(g)].Add(
          change, flip, was_favorable, is_favorable);
      t.overall.Add(change, flip, was_favorable, is_favorable);
      flipped = flipped || flip;
      if (std::fabs(change) > best.abs_change) {
        best.abs_change = std::fabs(change);
        best.counterfactual_group = g;
        best.counterfactual_score = score[k];
        best.counterfactual_decision = decision[k];
      }
    }
    for (RowTally* row_tally : {&t.rows_by_group[static_cast<std::size_t>(g0)], &t.overall_rows}) {
      ++row_tally->rows;
      row_tally->selected += was_favorable ? 1 : 0;
      row_tally->rows_flipped += flipped ? 1 : 0;
      row_tally->sum_score += s0;
    }
    t.candidates.push_back(best);
  }
  return t;
}

// Per original group: its attributes, row tallies, counterfactual tallies and, under "to", one entry
// per counterfactual group.
json GroupsJson(const Tallies& t, const Grouping& grouping, const std::vector<std::string>& sensitive) {
  const std::size_t G = grouping.size();
  json groups = json::array();
  for (std::size_t g = 0; g < G; ++g) {
    json entry = {{"name", grouping.group_names[g]}};
    json attributes = json::object();
    for (std::size_t c = 0; c < sensitive.size(); ++c) attributes[sensitive[c]] = grouping.group_values[g][c];
    entry["attributes"] = attributes;
    entry.update(t.rows_by_group[g].ToJson());
    entry.update(t.by_group[g].ToJson());
    json to = json::array();
    for (std::size_t h = 0; h < G; ++h) {
      if (h == g) continue;
      json pair = {{"name", grouping.group_names[h]}};
      pair.update(t.by_pair[g * G + h].ToJson());
      to.push_back(pair);
    }
    entry["to"] = to;
    groups.push_back(entry);
  }
  return groups;
}

// The top_k rows whose most-changing counterfactual changes the score most (ties: lower data row first).
json TopRows(std::vector<Candidate> candidates, std::int64_t top_k, const Grouping& grouping,
             const ClassSetup& setup) {
  const auto k =
      static_cast<std::size_t>(std::min<std::int64_t>(top_k, static_cast<std::int64_t>(candidates.size())));
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(k), candidates.end(),
                    [](const Candidate& a, const Candidate& b) {
                      if (a.abs_change != b.abs_change) return a.abs_change > b.abs_change;
                      return a.data_row < b.data_row;
                    });
  json top = json::array();
  for (std::size_t r = 0; r < k; ++r) {
    const Candidate& c = candidates[r];
    top.push_back(
        json{{"row", c.data_row},
             {"group", grouping.group_names[static_cast<std::size_t>(c.group)]},
             {"counterfactual_group", grouping.group_names[static_cast<std::size_t>(c.counterfactual_group)]},
             {"score", c.score},
             {"counterfactual_score", c.counterfactual_score},
             {"score_change", c.counterfactual_score - c.score},
             {"decision", setup.classes[static_cast<std::size_t>(c.decision)]},
             {"counterfactual_decision", setup.classes[static_cast<std::size_t>(c.counterfactual_decision)]},
             {"flipped", c.decision != c.counterfactual_decision}});
  }
  return top;
}

}  // namespace

CounterfactualExplainer::CounterfactualExplainer(const Host& host) {
  threshold_ = host.Params().Get<double>("threshold");
  top_k_ = host.Params().Get<std::int64_t>("top_k");
}

void CounterfactualExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const loupe::sdk::DatasetInfo data = host.Dataset();
  const ClassSetup setup = ResolveClasses(host, data);
  const std::vector<std::string> sensitive = SensitiveColumns(host, data);
  const loupe::sdk::Matrix x = host.Features();
  const std::vector<std::int64_t> step_rows = host.StepRows();
  const std::vector<std::int64_t> feature_of = SensitiveFeatures(data, x, step_rows, sensitive);

  const Grouping grouping = BuildGroups(host, step_rows, sensitive, nullptr);
  const auto n_groups = static_cast<std::int64_t>(grouping.size());
  if (n_groups < 2) {
    throw InvalidArgument(
        "parameter 'sensitive' must give at least two groups to swap between, found " +
        (n_groups == 0 ? std::string("no step row with a value") : "only '" + grouping.group_names[0] + "'"));
  }
  const GroupedRows kept = KeepGroupedRows(x, step_rows, grouping, feature_of);
  const Evaluations evaluations =
      EvaluateCounterfactuals(host, x, kept, feature_of, grouping, setup, threshold_);
  const Tallies tallies = TallyCounterfactuals(kept, evaluations, setup.favorable);
  json overall_json = tallies.overall_rows.ToJson();
  overall_json.update(tallies.overall.ToJson());

  const auto n = static_cast<std::int64_t>(kept.rows.size());
  result.SetString("mode", n_groups == 2 ? "flip" : "swap");
  WriteDecisionRule(result, sensitive, setup, threshold_);
  result.SetJson("groups", GroupsJson(tallies, grouping, sensitive));
  result.SetJson("overall", overall_json);
  result.SetJson("top_rows", TopRows(tallies.candidates, top_k_, grouping, setup));
  result.SetStrings("notes", CounterfactualNotes(grouping));
  result.SetNumber("quality.rows", static_cast<double>(n));
  result.SetNumber("quality.rows_left_out", static_cast<double>(step_rows.size()) - static_cast<double>(n));
  result.SetNumber("quality.groups", static_cast<double>(n_groups));
  result.SetNumber("quality.counterfactuals", static_cast<double>(n * (n_groups - 1)));
  result.SetNumber("quality.model_evaluations", static_cast<double>(n * n_groups));
}

loupe::sdk::ExplainerDef CounterfactualExplainer::Definition() {
  using loupe::sdk::Param;
  return loupe::sdk::ExplainerDef::Of<CounterfactualExplainer>("fairness.counterfactual")
      .Summary(
          "Counterfactual probe of a classifier: every row re-predicted with its sensitive feature(s) set to "
          "every other group's value; decision flip rates and score changes per group, and the rows that "
          "change most.")
      .Kind("counterfactual_report")
      .Scope(LOUPE_SCOPE_GLOBAL)
      .Parameters({
          Param::StringList("sensitive")
              .Role(LOUPE_PARAM_ROLE_COLUMN)
              .Doc("Sensitive columns, which must be features of the model's matrix; several form "
                   "intersectional groups (default: the pipeline's sensitive columns)."),
          FavorableParam(),
          ThresholdParam(),
          Param::Int("top_k").Default(10).Min(0).Max(1000000).Doc(
              "How many rows to list whose favourable-class probability changes most under a "
              "counterfactual."),
      });
}

}  // namespace loupe::fairness
