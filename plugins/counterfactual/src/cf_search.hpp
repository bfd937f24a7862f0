// The counterfactual search of one row (counterfactual.search), independent of the host so that tests and
// benchmarks drive it directly. docs: plugins/counterfactual/README.md "How the search works".
//
// Three phases, each a sequence of batched model calls within the row's evaluation budget:
//  1. random search in growing spheres (Laugel et al. 2018, DiCE's "random" method): batches of feasible
//     candidates, each changing k features (P(k) ∝ 1/k, so sparse ones dominate) by up to `radius` MADs,
//     the radius doubling after every batch without a valid candidate;
//  2. a sparsity pass (DiCE's post-hoc sparsity enhancement): every changed feature whose reversal keeps
//     the candidate valid is reverted, the best reversal first, until none is;
//  3. a closeness pass: each changed numeric feature is moved back towards the row by a grid bisection
//     (15 points a round, 3 rounds: 1/4096 of the change) while the candidate stays valid.
// The n counterfactuals returned are then chosen greedily for closeness and diversity (DiCE's diversity,
// as a max-min heuristic) and re-predicted once more; only valid ones are returned.
//
// Every random number comes from the row's own Rng, and the phases run in a fixed order, so a row's result
// depends only on (seed, row) — never on threads or on the other rows.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "decision.hpp"
#include "feature_space.hpp"
#include "loupe/sdk/random.hpp"

namespace loupe::counterfactual {

// The feasibility constraints of one feature (docs: README "Constraints").
struct FeatureRule {
  bool may_change = true;
  int direction = 0;                 // +1: only increase; -1: only decrease; 0: either
  double lo = 0, hi = 0;             // numeric: the values a changed feature may take
  std::vector<char> allowed_levels;  // categorical: the level codes a change may go to
};

struct SearchSettings {
  std::int64_t n = 4;                    // counterfactuals wanted per row
  std::int64_t max_evaluations = 10000;  // model evaluations the search may spend per row
  std::int64_t batch_size = 500;         // candidates per model call in the random search
  double diversity_weight = 0.5;         // trade of closeness for diversity in the final choice
};

// Evaluates `n` rows ([n, features], row-major) into out ([n, outputs]).
using Evaluate = std::function<void(const double* rows, std::int64_t n, double* out)>;

struct Counterfactual {
  std::vector<double> values;   // every feature, as the model sees it
  std::vector<double> outputs;  // the model's outputs on `values` (from the final re-prediction)
  double distance = 0;          // MAD-scaled L1 distance to the row, categorical changes counting 1
  std::int64_t n_changed = 0;
};

enum class SearchStatus {
  kFound,             // at least one valid counterfactual
  kNoneFound,         // the budget ran out without a valid, feasible candidate
  kAlreadyDesired,    // the row already has the desired decision
  kNothingMayChange,  // the constraints leave no feature free to change
};

struct SearchOutcome {
  SearchStatus status = SearchStatus::kNoneFound;
  std::int32_t desired = -1;  // the class the counterfactuals reach (-1: regression)
  std::vector<Counterfactual> counterfactuals;
  std::int64_t evaluations = 0;          // spent by the search (bounded by max_evaluations)
  std::int64_t recheck_evaluations = 0;  // the final re-prediction of the returned counterfactuals
  std::int64_t valid_candidates = 0;     // valid candidates the random search met
  std::int64_t failed_recheck = 0;       // chosen counterfactuals the final re-prediction dropped
};

class CounterfactualSearch {
 public:
  CounterfactualSearch(std::vector<FeatureStats> stats, std::vector<FeatureRule> rules, DecisionRule decision,
                       SearchSettings settings);

  // Searches counterfactuals of `row` (its features and its model outputs).
  SearchOutcome Run(const double* row, const double* row_outputs, loupe::sdk::Rng& rng,
                    const Evaluate& evaluate) const;

  // MAD-scaled L1 distance (categorical: 0/1 per feature; missing in both: 0).
  double Distance(const double* a, const double* b) const;
  // Whether `values` respects every constraint, compared with the original `row`.
  bool Feasible(const double* row, const double* values) const;

  const std::vector<FeatureStats>& stats() const { return stats_; }
  const std::vector<FeatureRule>& rules() const { return rules_; }
  const DecisionRule& decision() const { return decision_; }
  const SearchSettings& settings() const { return settings_; }

 private:
  std::vector<FeatureStats> stats_;
  std::vector<FeatureRule> rules_;
  DecisionRule decision_;
  SearchSettings settings_;
};

}  // namespace loupe::counterfactual
