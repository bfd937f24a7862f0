#include "cf_search.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <utility>

namespace loupe::counterfactual {
namespace {

constexpr double kStartRadius = 0.25;          // MADs: the first sphere of the random search
constexpr int kRoundsAfterFirstValid = 2;      // random-search batches drawn once a valid candidate is seen
constexpr std::size_t kMaxKeptValid = 4096;    // valid candidates kept from the random search
constexpr std::int64_t kBisectionPoints = 16;  // grid intervals per closeness round
constexpr int kBisectionRounds = 3;

struct Candidate {
  std::vector<double> values;
  std::vector<double> outputs;
  double distance = 0;
  std::int64_t n_changed = 0;
  std::uint64_t order = 0;  // when it was found: ties in distance go to the earlier one
};

bool SameValue(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// The state of one row's search: the row, its budget and the helpers every phase shares.
class RowSearch {
 public:
  RowSearch(const CounterfactualSearch& search, const double* row, std::int32_t desired, loupe::sdk::Rng& rng,
            const Evaluate& evaluate)
      : search_(search),
        x_(row),
        f_(static_cast<std::int64_t>(search.stats().size())),
        o_(search.decision().n_outputs()),
        desired_(desired),
        rng_(rng),
        evaluate_(evaluate) {
    FindMovable();
  }

  bool AnythingMayChange() const { return !movable_.empty(); }
  std::int64_t used() const { return used_; }
  std::int64_t valid_seen() const { return valid_seen_; }

  std::vector<Candidate> RandomSearch();
  std::vector<Candidate> ChoosePool(std::vector<Candidate> valid, std::size_t size) const;
  void ImproveSparsity(std::vector<Candidate>& pool);
  void ImproveCloseness(std::vector<Candidate>& pool);
  std::vector<Candidate> ChooseDiverse(const std::vector<Candidate>& pool, std::size_t n) const;
  bool ContainsAChosenOne(const Candidate& candidate, const std::vector<Candidate>& chosen) const;

 private:
  std::int64_t Remaining() const { return search_.settings().max_evaluations - used_; }
  void FindMovable();
  double RadiusLimit() const;
  // Fills `values` with one feasible random candidate within `radius` MADs.
  void Propose(double radius, double* values);
  double ProposeNumeric(std::int64_t j, double radius);
  double ProposeLevel(std::int64_t j);
  // A numeric value made feasible for feature j: on the grid, inside the range, in the allowed direction.
  double Fit(std::int64_t j, double value) const;
  // Evaluates `rows` (a multiple of f_ values) and counts them against the budget.
  std::vector<double> EvaluateRows(const std::vector<double>& rows);
  Candidate MakeCandidate(const double* values, const double* outputs);

  const CounterfactualSearch& search_;
  const double* x_;
  std::int64_t f_, o_;
  std::int32_t desired_;
  loupe::sdk::Rng& rng_;
  const Evaluate& evaluate_;
  std::vector<std::int64_t> movable_;
  std::vector<double> k_cumulative_;  // P(k changed features) ∝ 1/k, cumulative
  std::int64_t used_ = 0;
  std::int64_t valid_seen_ = 0;
  std::uint64_t next_order_ = 0;
};

void RowSearch::FindMovable() {
  for (std::int64_t j = 0; j < f_; ++j) {
    const FeatureRule& rule = search_.rules()[static_cast<std::size_t>(j)];
    const FeatureStats& stats = search_.stats()[static_cast<std::size_t>(j)];
    if (!rule.may_change || std::isnan(x_[j])) continue;  // a missing value is kept as it is
    bool room = false;
    if (stats.categorical) {
      for (std::size_t level = 0; level < rule.allowed_levels.size(); ++level) {
        room = room || (rule.allowed_levels[level] && static_cast<double>(level) != x_[j]);
      }
    } else {
      room = (rule.direction >= 0 && Fit(j, rule.hi) > x_[j]) ||
             (rule.direction <= 0 && Fit(j, rule.lo) < x_[j]);
    }
    if (room) movable_.push_back(j);
  }
  double total = 0;
  for (std::size_t k = 1; k <= movable_.size(); ++k) {
    total += 1.0 / static_cast<double>(k);
    k_cumulative_.push_back(total);
  }
  for (double& c : k_cumulative_) c /= total;
}

double RowSearch::RadiusLimit() const {
  double limit = kStartRadius;
  for (const std::int64_t j : movable_) {
    const FeatureStats& stats = search_.stats()[static_cast<std::size_t>(j)];
    const FeatureRule& rule = search_.rules()[static_cast<std::size_t>(j)];
    if (stats.categorical) continue;
    const double reach = std::max(std::fabs(rule.hi - x_[j]), std::fabs(rule.lo - x_[j])) / stats.scale;
    limit = std::max(limit, reach);
  }
  return limit;
}

double RowSearch::Fit(std::int64_t j, double value) const {
  const FeatureStats& stats = search_.stats()[static_cast<std::size_t>(j)];
  const FeatureRule& rule = search_.rules()[static_cast<std::size_t>(j)];
  double v = SnapAwayFrom(stats, x_[j], value);
  if (stats.step > 0) {
    if (v > rule.hi) v = std::floor(rule.hi / stats.step + 1e-9) * stats.step;
    if (v < rule.lo) v = std::ceil(rule.lo / stats.step - 1e-9) * stats.step;
  }
  v = std::clamp(v, rule.lo, rule.hi);
  if ((rule.direction > 0 && v < x_[j]) || (rule.direction < 0 && v > x_[j])) return x_[j];
  return v;
}

double RowSearch::ProposeNumeric(std::int64_t j, double radius) {
  const FeatureRule& rule = search_.rules()[static_cast<std::size_t>(j)];
  const double scale = search_.stats()[static_cast<std::size_t>(j)].scale;
  const bool up_possible = rule.direction >= 0 && Fit(j, rule.hi) > x_[j];
  const bool down_possible = rule.direction <= 0 && Fit(j, rule.lo) < x_[j];
  const bool draw_up = rng_.Below(2) == 1;  // always drawn, so the stream's position never depends on room
  const double sign = (up_possible && (draw_up || !down_possible)) ? 1.0 : -1.0;
  const double magnitude = radius * (1.0 - rng_.Uniform()) * scale;  // (0, radius] MADs
  return Fit(j, x_[j] + sign * magnitude);
}

double RowSearch::ProposeLevel(std::int64_t j) {
  const FeatureRule& rule = search_.rules()[static_cast<std::size_t>(j)];
  std::vector<double> choices;
  for (std::size_t level = 0; level < rule.allowed_levels.size(); ++level) {
    if (rule.allowed_levels[level] && static_cast<double>(level) != x_[j])
      choices.push_back(static_cast<double>(level));
  }
  return choices[static_cast<std::size_t>(rng_.Below(choices.size()))];
}

void RowSearch::Propose(double radius, double* values) {
  std::copy(x_, x_ + f_, values);
  const double u = rng_.Uniform();
  const std::size_t k =
      static_cast<std::size_t>(std::lower_bound(k_cumulative_.begin(), k_cumulative_.end(), u) -
                               k_cumulative_.begin()) +
      1;
  std::vector<std::int64_t> order = movable_;
  for (std::size_t i = 0; i < std::min(k, order.size()); ++i) {  // partial Fisher–Yates: the first k
    std::swap(order[i], order[i + static_cast<std::size_t>(rng_.Below(order.size() - i))]);
    const std::int64_t j = order[i];
    values[j] = search_.stats()[static_cast<std::size_t>(j)].categorical ? ProposeLevel(j)
                                                                         : ProposeNumeric(j, radius);
  }
}

std::vector<double> RowSearch::EvaluateRows(const std::vector<double>& rows) {
  const auto n = static_cast<std::int64_t>(rows.size()) / f_;
  std::vector<double> out(static_cast<std::size_t>(n * o_));
  evaluate_(rows.data(), n, out.data());
  used_ += n;
  return out;
}

Candidate RowSearch::MakeCandidate(const double* values, const double* outputs) {
  Candidate candidate;
  candidate.values.assign(values, values + f_);
  candidate.outputs.assign(outputs, outputs + o_);
  candidate.distance = search_.Distance(x_, values);
  for (std::int64_t j = 0; j < f_; ++j) candidate.n_changed += SameValue(values[j], x_[j]) ? 0 : 1;
  candidate.order = next_order_++;
  return candidate;
}

std::vector<Candidate> RowSearch::RandomSearch() {
  std::vector<Candidate> valid;
  const double limit = RadiusLimit();
  double radius = std::min(kStartRadius, limit);
  int rounds_after_valid = 0;
  while (Remaining() > 0) {
    const std::int64_t m = std::min(search_.settings().batch_size, Remaining());
    std::vector<double> batch(static_cast<std::size_t>(m * f_));
    for (std::int64_t i = 0; i < m; ++i) Propose(radius, batch.data() + i * f_);
    const std::vector<double> out = EvaluateRows(batch);
    for (std::int64_t i = 0; i < m; ++i) {
      const double* values = batch.data() + i * f_;
      if (!search_.decision().Valid(out.data() + i * o_, desired_)) continue;
      ++valid_seen_;
      if (valid.size() < kMaxKeptValid) valid.push_back(MakeCandidate(values, out.data() + i * o_));
    }
    if (valid.empty()) {
      radius = std::min(2 * radius, limit);
    } else if (++rounds_after_valid > kRoundsAfterFirstValid ||
               used_ * 2 >= search_.settings().max_evaluations) {
      break;
    }
  }
  return valid;
}

// The closest candidate of each distinct set of changed features first (so the passes start from varied
// directions), then the closest of the rest, `size` in all.
std::vector<Candidate> RowSearch::ChoosePool(std::vector<Candidate> valid, std::size_t size) const {
  std::sort(valid.begin(), valid.end(), [](const Candidate& a, const Candidate& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.order < b.order;
  });
  std::vector<Candidate> pool;
  std::vector<char> taken(valid.size(), 0);
  std::map<std::vector<std::int64_t>, bool> seen_patterns;
  for (std::size_t i = 0; i < valid.size() && pool.size() < size; ++i) {
    std::vector<std::int64_t> pattern;
    for (std::int64_t j = 0; j < f_; ++j) {
      if (!SameValue(valid[i].values[static_cast<std::size_t>(j)], x_[j])) pattern.push_back(j);
    }
    if (seen_patterns.emplace(pattern, true).second) {
      pool.push_back(valid[i]);
      taken[i] = 1;
    }
  }
  for (std::size_t i = 0; i < valid.size() && pool.size() < size; ++i) {
    if (!taken[i]) pool.push_back(valid[i]);
  }
  return pool;
}

void RowSearch::ImproveSparsity(std::vector<Candidate>& pool) {
  for (;;) {
    std::vector<double> batch;
    std::vector<std::pair<std::size_t, std::int64_t>> owner;  // (pool index, reverted feature)
    for (std::size_t c = 0; c < pool.size(); ++c) {
      if (pool[c].n_changed < 2) continue;
      for (std::int64_t j = 0; j < f_; ++j) {
        if (SameValue(pool[c].values[static_cast<std::size_t>(j)], x_[j])) continue;
        const std::size_t start = batch.size();
        batch.insert(batch.end(), pool[c].values.begin(), pool[c].values.end());
        batch[start + static_cast<std::size_t>(j)] = x_[j];
        owner.emplace_back(c, j);
      }
    }
    if (owner.empty() || static_cast<std::int64_t>(owner.size()) > Remaining()) return;
    const std::vector<double> out = EvaluateRows(batch);
    std::vector<Candidate> best(pool.size());
    std::vector<char> improved(pool.size(), 0);
    for (std::size_t k = 0; k < owner.size(); ++k) {
      const double* outputs = out.data() + k * static_cast<std::size_t>(o_);
      if (!search_.decision().Valid(outputs, desired_)) continue;
      const std::size_t c = owner[k].first;
      Candidate reverted = MakeCandidate(batch.data() + k * static_cast<std::size_t>(f_), outputs);
      if (!improved[c] || reverted.distance < best[c].distance) {
        reverted.order = pool[c].order;
        best[c] = std::move(reverted);
        improved[c] = 1;
      }
    }
    bool any = false;
    for (std::size_t c = 0; c < pool.size(); ++c) {
      if (improved[c]) pool[c] = std::move(best[c]);
      any = any || improved[c];
    }
    if (!any) return;
  }
}

void RowSearch::ImproveCloseness(std::vector<Candidate>& pool) {
  // Each candidate's changed numeric features, the largest scaled change first.
  std::vector<std::vector<std::int64_t>> features(pool.size());
  std::size_t slots = 0;
  for (std::size_t c = 0; c < pool.size(); ++c) {
    for (std::int64_t j = 0; j < f_; ++j) {
      const double v = pool[c].values[static_cast<std::size_t>(j)];
      if (!search_.stats()[static_cast<std::size_t>(j)].categorical && !SameValue(v, x_[j]))
        features[c].push_back(j);
    }
    const auto scaled = [&](std::int64_t j) {
      return std::fabs(pool[c].values[static_cast<std::size_t>(j)] - x_[j]) /
             search_.stats()[static_cast<std::size_t>(j)].scale;
    };
    std::stable_sort(features[c].begin(), features[c].end(),
                     [&](std::int64_t a, std::int64_t b) { return scaled(a) > scaled(b); });
    slots = std::max(slots, features[c].size());
  }
  for (std::size_t slot = 0; slot < slots; ++slot) {
    std::vector<double> lo_t(pool.size(), 0.0), hi_t(pool.size(), 1.0);
    std::vector<double> target(pool.size());  // the candidate's value of the slot's feature when it started
    for (std::size_t c = 0; c < pool.size(); ++c) {
      if (slot < features[c].size()) target[c] = pool[c].values[static_cast<std::size_t>(features[c][slot])];
    }
    for (int round = 0; round < kBisectionRounds; ++round) {
      std::vector<double> batch;
      std::vector<std::pair<std::size_t, double>> owner;  // (pool index, t)
      for (std::size_t c = 0; c < pool.size(); ++c) {
        if (slot >= features[c].size()) continue;
        const std::int64_t j = features[c][slot];
        for (std::int64_t k = 1; k < kBisectionPoints; ++k) {
          const double t = lo_t[c] + (hi_t[c] - lo_t[c]) * static_cast<double>(k) / kBisectionPoints;
          const std::size_t start = batch.size();
          batch.insert(batch.end(), pool[c].values.begin(), pool[c].values.end());
          batch[start + static_cast<std::size_t>(j)] = Fit(j, x_[j] + t * (target[c] - x_[j]));
          owner.emplace_back(c, t);
        }
      }
      if (owner.empty() || static_cast<std::int64_t>(owner.size()) > Remaining()) return;
      const std::vector<double> out = EvaluateRows(batch);
      std::vector<char> moved(pool.size(), 0);
      double previous_t = 0;
      for (std::size_t k = 0; k < owner.size(); ++k) {
        const std::size_t c = owner[k].first;
        const double t = owner[k].second;
        const bool first_of_candidate = k == 0 || owner[k - 1].first != c;
        if (first_of_candidate) previous_t = lo_t[c];
        const double* outputs = out.data() + k * static_cast<std::size_t>(o_);
        const double* values = batch.data() + k * static_cast<std::size_t>(f_);
        if (!moved[c] && search_.decision().Valid(outputs, desired_)) {
          Candidate closer = MakeCandidate(values, outputs);
          if (closer.distance <= pool[c].distance) {
            closer.order = pool[c].order;
            pool[c] = std::move(closer);
          }
          lo_t[c] = previous_t;
          hi_t[c] = t;
          moved[c] = 1;
        }
        previous_t = t;
      }
      for (std::size_t c = 0; c < pool.size(); ++c) {
        if (!moved[c] && slot < features[c].size())
          lo_t[c] = lo_t[c] + (hi_t[c] - lo_t[c]) * (kBisectionPoints - 1) / kBisectionPoints;
      }
    }
  }
}

// Whether `candidate` makes every change of a chosen counterfactual (and more): it adds nothing a reader
// needs, however far it is from the others.
bool RowSearch::ContainsAChosenOne(const Candidate& candidate, const std::vector<Candidate>& chosen) const {
  for (const Candidate& other : chosen) {
    bool contains = true;
    for (std::int64_t j = 0; j < f_ && contains; ++j) {
      const auto k = static_cast<std::size_t>(j);
      contains = SameValue(other.values[k], x_[j]) || SameValue(other.values[k], candidate.values[k]);
    }
    if (contains) return true;
  }
  return false;
}

// Greedy: the closest first, then repeatedly the candidate minimising distance − weight × (its distance to
// the nearest one already chosen); duplicates and candidates containing a chosen one are skipped.
std::vector<Candidate> RowSearch::ChooseDiverse(const std::vector<Candidate>& pool, std::size_t n) const {
  std::vector<Candidate> chosen;
  std::vector<char> used(pool.size(), 0);
  const double weight = search_.settings().diversity_weight;
  while (chosen.size() < n) {
    std::size_t best = pool.size();
    double best_score = 0;
    for (std::size_t c = 0; c < pool.size(); ++c) {
      if (used[c]) continue;
      double nearest = std::numeric_limits<double>::infinity();
      for (const Candidate& other : chosen)
        nearest = std::min(nearest, search_.Distance(pool[c].values.data(), other.values.data()));
      if (nearest == 0 || ContainsAChosenOne(pool[c], chosen)) continue;
      const double score = pool[c].distance - (chosen.empty() ? 0.0 : weight * nearest);
      const bool better = best == pool.size() || score < best_score ||
                          (score == best_score && pool[c].order < pool[best].order);
      if (better) {
        best = c;
        best_score = score;
      }
    }
    if (best == pool.size()) break;
    used[best] = 1;
    chosen.push_back(pool[best]);
  }
  return chosen;
}

}  // namespace

CounterfactualSearch::CounterfactualSearch(std::vector<FeatureStats> stats, std::vector<FeatureRule> rules,
                                           DecisionRule decision, SearchSettings settings)
    : stats_(std::move(stats)),
      rules_(std::move(rules)),
      decision_(std::move(decision)),
      settings_(settings) {}

double CounterfactualSearch::Distance(const double* a, const double* b) const {
  double distance = 0;
  for (std::size_t j = 0; j < stats_.size(); ++j) {
    if (SameValue(a[j], b[j])) continue;
    distance += stats_[j].categorical ? 1.0 : std::fabs(a[j] - b[j]) / stats_[j].scale;
  }
  return distance;
}

bool CounterfactualSearch::Feasible(const double* row, const double* values) const {
  for (std::size_t j = 0; j < stats_.size(); ++j) {
    if (SameValue(row[j], values[j])) continue;
    const FeatureRule& rule = rules_[j];
    if (!rule.may_change || std::isnan(row[j]) || std::isnan(values[j])) return false;
    if (stats_[j].categorical) {
      const auto level = static_cast<std::size_t>(values[j]);
      if (level >= rule.allowed_levels.size() || !rule.allowed_levels[level]) return false;
    } else {
      if (values[j] < rule.lo || values[j] > rule.hi) return false;
      if ((rule.direction > 0 && values[j] < row[j]) || (rule.direction < 0 && values[j] > row[j]))
        return false;
    }
  }
  return true;
}

SearchOutcome CounterfactualSearch::Run(const double* row, const double* row_outputs, loupe::sdk::Rng& rng,
                                        const Evaluate& evaluate) const {
  SearchOutcome outcome;
  outcome.desired = decision_.DesiredFor(row_outputs);
  if (decision_.Valid(row_outputs, outcome.desired)) {
    outcome.status = SearchStatus::kAlreadyDesired;
    return outcome;
  }
  RowSearch search(*this, row, outcome.desired, rng, evaluate);
  if (!search.AnythingMayChange()) {
    outcome.status = SearchStatus::kNothingMayChange;
    return outcome;
  }
  std::vector<Candidate> valid = search.RandomSearch();
  outcome.valid_candidates = search.valid_seen();
  if (valid.empty()) {
    outcome.evaluations = search.used();
    outcome.status = SearchStatus::kNoneFound;
    return outcome;
  }
  const auto n = static_cast<std::size_t>(settings_.n);
  std::vector<Candidate> pool = search.ChoosePool(std::move(valid), std::max<std::size_t>(4 * n, 8));
  // The passes often lead several candidates to the same minimal change; their starting points stay
  // available to the final choice (valid, only less sparse), so that n distinct ones can be returned.
  std::vector<Candidate> starts = pool;
  search.ImproveSparsity(pool);
  search.ImproveCloseness(pool);
  pool.insert(pool.end(), starts.begin(), starts.end());
  const std::vector<Candidate> chosen = search.ChooseDiverse(pool, n);
  outcome.evaluations = search.used();

  // The re-prediction: every returned counterfactual is valid on a fresh model call, not by bookkeeping.
  const std::int64_t o = decision_.n_outputs();
  std::vector<double> batch;
  for (const Candidate& c : chosen) batch.insert(batch.end(), c.values.begin(), c.values.end());
  std::vector<double> out(chosen.size() * static_cast<std::size_t>(o));
  evaluate(batch.data(), static_cast<std::int64_t>(chosen.size()), out.data());
  outcome.recheck_evaluations = static_cast<std::int64_t>(chosen.size());
  for (std::size_t c = 0; c < chosen.size(); ++c) {
    const double* outputs = out.data() + c * static_cast<std::size_t>(o);
    if (!decision_.Valid(outputs, outcome.desired) || !Feasible(row, chosen[c].values.data())) {
      ++outcome.failed_recheck;
      continue;
    }
    Counterfactual counterfactual;
    counterfactual.values = chosen[c].values;
    counterfactual.outputs.assign(outputs, outputs + o);
    counterfactual.distance = chosen[c].distance;
    counterfactual.n_changed = chosen[c].n_changed;
    outcome.counterfactuals.push_back(std::move(counterfactual));
  }
  outcome.status = outcome.counterfactuals.empty() ? SearchStatus::kNoneFound : SearchStatus::kFound;
  return outcome;
}

}  // namespace loupe::counterfactual
