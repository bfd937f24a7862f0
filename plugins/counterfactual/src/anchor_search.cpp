#include "anchor_search.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <utility>

#include "loupe/sdk/attribution.hpp"

namespace loupe::counterfactual {
namespace {

// numpy.percentile's default (linear) on sorted values.
double Percentile(const std::vector<double>& sorted, double percent) {
  const double position = percent / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (position - static_cast<double>(below)) * (sorted[above] - sorted[below]);
}

double KlBernoulli(double p, double q) {
  p = std::min(0.9999999999999999, std::max(0.0000001, p));
  q = std::min(0.9999999999999999, std::max(0.0000001, q));
  return p * std::log(p / q) + (1 - p) * std::log((1 - p) / (1 - q));
}

// Alibi's compute_beta: the exploration rate of KL-LUCB at round t.
double Beta(std::size_t n_arms, std::int64_t t, double delta) {
  const double alpha = 1.1, k = 405.5;
  const double temp =
      std::log(k * static_cast<double>(n_arms) * std::pow(static_cast<double>(t), alpha) / delta);
  return temp + std::log(temp);
}

using Key = std::vector<std::size_t>;  // an anchor: its features, sorted

struct ArmState {
  std::vector<std::size_t> order;     // features in the order they were added
  std::vector<std::int64_t> samples;  // indices into the row's sample store
  std::int64_t n = 0;
  double positives = 0;
  double coverage = 0;
  double Mean() const { return n > 0 ? positives / static_cast<double>(n) : 0.0; }
};

// The state of one row's beam search (Alibi's `state`): every sample drawn, which features of each match the
// row's bins, its label, and the statistics of every anchor met.
class Beam {
 public:
  Beam(const AnchorSearch& search, const double* row, std::int32_t label, loupe::sdk::Rng& rng,
       const Evaluate& evaluate)
      : search_(search), row_(row), label_(label), rng_(rng), evaluate_(evaluate) {
    const std::size_t f = static_cast<std::size_t>(search.background().cols());
    row_bins_.resize(f);
    for (std::size_t j = 0; j < f; ++j) {
      row_bins_[j] = search.discretizer().Bin(j, row[j]);
      if (row_bins_[j] >= 0) anchorable_.push_back(j);
    }
    // The coverage sample, as matches of each row's bins (Alibi's coverage_data).
    for (const std::int64_t r : search.coverage_rows()) {
      std::vector<char> match(f);
      for (std::size_t j = 0; j < f; ++j)
        match[j] = Matches(j, search.background()(r, static_cast<std::int64_t>(j)));
      coverage_matches_.push_back(std::move(match));
    }
  }

  Anchor Run();

 private:
  char Matches(std::size_t j, double value) const {
    return row_bins_[j] >= 0 && search_.discretizer().Bin(j, value) == row_bins_[j] ? 1 : 0;
  }
  double Coverage(const Key& key) const;
  ArmState& Arm(const Key& key) { return arms_[key]; }
  // Draws `n` samples for each anchor of `keys` (one model call for all) and adds them to their arms.
  void Draw(const std::vector<Key>& keys, std::int64_t n);
  std::vector<Key> Propose(const std::vector<Key>& previous);
  std::vector<std::size_t> KlLucb(const std::vector<Key>& keys, std::size_t top_n);
  Anchor Describe(const Key& key, bool success);

  const AnchorSearch& search_;
  const double* row_;
  std::int32_t label_;
  loupe::sdk::Rng& rng_;
  const Evaluate& evaluate_;
  std::vector<std::int32_t> row_bins_;
  std::vector<std::size_t> anchorable_;
  std::vector<std::vector<char>> coverage_matches_;
  std::vector<std::vector<char>> sample_matches_;
  std::vector<char> sample_labels_;
  std::map<Key, ArmState> arms_;
  std::int64_t evaluations_ = 0;
};

double Beam::Coverage(const Key& key) const {
  if (coverage_matches_.empty()) return 0.0;
  std::int64_t covered = 0;
  for (const auto& match : coverage_matches_) {
    bool all = true;
    for (const std::size_t j : key) all = all && match[j];
    covered += all ? 1 : 0;
  }
  return static_cast<double>(covered) / static_cast<double>(coverage_matches_.size());
}

void Beam::Draw(const std::vector<Key>& keys, std::int64_t n) {
  if (keys.empty() || n <= 0) return;
  const auto f = static_cast<std::size_t>(search_.background().cols());
  const std::int64_t o = search_.decision().n_outputs();
  std::vector<double> batch;
  for (const Key& key : keys) search_.DrawSamples(row_, Arm(key).order, n, rng_, batch);
  const auto total = static_cast<std::int64_t>(batch.size() / f);
  std::vector<double> out(static_cast<std::size_t>(total * o));
  evaluate_(batch.data(), total, out.data());
  evaluations_ += total;
  for (std::int64_t s = 0; s < total; ++s) {
    std::vector<char> match(f);
    for (std::size_t j = 0; j < f; ++j) match[j] = Matches(j, batch[static_cast<std::size_t>(s) * f + j]);
    ArmState& arm = Arm(keys[static_cast<std::size_t>(s / n)]);
    const bool same = search_.decision().Class(out.data() + s * o) == label_;
    arm.samples.push_back(static_cast<std::int64_t>(sample_labels_.size()));
    arm.n += 1;
    arm.positives += same ? 1 : 0;
    sample_matches_.push_back(std::move(match));
    sample_labels_.push_back(same ? 1 : 0);
  }
}

// Alibi's propose_anchors: every anchor of `previous` extended by one more feature; a new anchor starts
// with the samples of its parent that happen to satisfy the added condition too.
std::vector<Key> Beam::Propose(const std::vector<Key>& previous) {
  std::vector<Key> proposals;
  for (const Key& parent : previous) {
    for (const std::size_t j : anchorable_) {
      if (std::find(parent.begin(), parent.end(), j) != parent.end()) continue;
      Key key = parent;
      key.insert(std::upper_bound(key.begin(), key.end(), j), j);
      if (std::find(proposals.begin(), proposals.end(), key) != proposals.end()) continue;
      proposals.push_back(key);
      if (arms_.count(key) > 0) continue;
      const ArmState& from = arms_[parent];
      ArmState arm;
      arm.order = from.order;
      arm.order.push_back(j);
      arm.coverage = Coverage(key);
      for (const std::int64_t s : from.samples) {
        if (!sample_matches_[static_cast<std::size_t>(s)][j]) continue;
        arm.samples.push_back(s);
        arm.n += 1;
        arm.positives += sample_labels_[static_cast<std::size_t>(s)];
      }
      arms_[key] = std::move(arm);
    }
  }
  return proposals;
}

// KL-LUCB (Alibi's kllucb): samples the weakest of the current top_n and the strongest of the rest until
// their confidence bounds are within tau; returns the indices of the top_n means.
std::vector<std::size_t> Beam::KlLucb(const std::vector<Key>& keys, std::size_t top_n) {
  std::vector<Key> unsampled;
  for (const Key& key : keys) {
    if (Arm(key).n == 0) unsampled.push_back(key);
  }
  Draw(unsampled, 1);
  std::vector<std::size_t> index(keys.size());
  std::iota(index.begin(), index.end(), 0);
  const auto by_mean = [&]() {
    std::vector<std::size_t> sorted = index;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [&](std::size_t a, std::size_t b) { return Arm(keys[a]).Mean() < Arm(keys[b]).Mean(); });
    return sorted;
  };
  if (keys.size() <= top_n) return by_mean();
  const double tau = search_.settings().tau, delta = search_.settings().delta;
  for (std::int64_t t = 1;; ++t) {
    const std::vector<std::size_t> sorted = by_mean();
    const double beta = Beta(keys.size(), t, delta);
    std::size_t ut = sorted[0], lt = sorted[sorted.size() - top_n];
    double best_ub = -1, worst_lb = 2;
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      const ArmState& arm = Arm(keys[sorted[i]]);
      const double level = beta / static_cast<double>(arm.n);
      if (i + top_n < sorted.size()) {
        const double ub = KlUpperBound(arm.Mean(), level);
        if (ub > best_ub) best_ub = ub, ut = sorted[i];
      } else {
        const double lb = KlLowerBound(arm.Mean(), level);
        if (lb < worst_lb) worst_lb = lb, lt = sorted[i];
      }
    }
    if (best_ub - worst_lb <= tau) break;
    Draw({keys[ut], keys[lt]}, search_.settings().batch_size);
  }
  std::vector<std::size_t> sorted = by_mean();
  return std::vector<std::size_t>(sorted.end() - static_cast<std::ptrdiff_t>(top_n), sorted.end());
}

Anchor Beam::Describe(const Key& key, bool success) {
  Anchor anchor;
  const ArmState& arm = Arm(key);
  anchor.features = arm.order;
  for (const std::size_t j : arm.order) anchor.bins.push_back(row_bins_[j]);
  anchor.precision = arm.Mean();
  anchor.coverage = key.empty() ? 1.0 : arm.coverage;
  anchor.success = success;
  Key prefix;
  for (const std::size_t j : arm.order) {
    prefix.insert(std::upper_bound(prefix.begin(), prefix.end(), j), j);
    const auto it = arms_.find(prefix);
    anchor.prefix_precision.push_back(it != arms_.end() ? it->second.Mean() : std::nan(""));
    anchor.prefix_coverage.push_back(it != arms_.end() ? it->second.coverage : std::nan(""));
  }
  anchor.evaluations = evaluations_;
  return anchor;
}

// Alibi's anchor_beam. Long because it is one algorithm whose phases share the beam's state: the empty
// anchor's check, then per anchor size: propose, KL-LUCB, tighten the winners' bounds, keep the best.
Anchor Beam::Run() {
  const AnchorSettings& s = search_.settings();
  const Key empty;
  Arm(empty).coverage = 1.0;
  Draw({empty}, s.min_samples_start);
  double beta = std::log(1.0 / s.delta);
  {
    ArmState& arm = Arm(empty);
    while (arm.Mean() > s.threshold &&
           KlLowerBound(arm.Mean(), beta / static_cast<double>(arm.n)) < s.threshold - s.tau) {
      Draw({empty}, s.batch_size);
    }
    if (KlLowerBound(arm.Mean(), beta / static_cast<double>(arm.n)) > s.threshold)
      return Describe(empty, true);
  }
  std::map<std::size_t, std::vector<Key>> best_of_size = {{0, {empty}}};
  double best_coverage = -1;
  Key best;
  bool found = false;
  const std::size_t max_size = s.max_anchor_size > 0
                                   ? std::min(anchorable_.size(), static_cast<std::size_t>(s.max_anchor_size))
                                   : anchorable_.size();
  std::size_t size = 1;
  for (; size <= max_size; ++size) {
    std::vector<Key> anchors;
    for (Key& key : Propose(best_of_size[size - 1])) {
      if (Arm(key).coverage > best_coverage) anchors.push_back(std::move(key));
    }
    if (anchors.empty()) break;
    const std::size_t beam = std::min(static_cast<std::size_t>(s.beam_size), anchors.size());
    std::vector<Key> chosen;
    for (const std::size_t i : KlLucb(anchors, beam)) chosen.push_back(anchors[i]);
    best_of_size[size] = chosen;
    beta = std::log(1.0 / (s.delta / (1.0 + static_cast<double>(s.beam_size - 1) *
                                                static_cast<double>(anchorable_.size()))));
    // Sample each winner until its precision is clearly above or below the threshold (Alibi's to_sample).
    const auto needs_more = [&](const Key& key) {
      const ArmState& arm = Arm(key);
      const double level = beta / static_cast<double>(arm.n);
      const double mean = arm.Mean();
      return (mean >= s.threshold && KlLowerBound(mean, level) < s.threshold - s.epsilon_stop) ||
             (mean < s.threshold && KlUpperBound(mean, level) >= s.threshold + s.epsilon_stop);
    };
    for (;;) {
      std::vector<Key> more;
      for (const Key& key : chosen) {
        if (needs_more(key)) more.push_back(key);
      }
      if (more.empty()) break;
      Draw(more, s.batch_size);
    }
    bool improved = false;
    for (const Key& key : chosen) {
      const ArmState& arm = Arm(key);
      const bool valid =
          arm.Mean() >= s.threshold &&
          KlLowerBound(arm.Mean(), beta / static_cast<double>(arm.n)) > s.threshold - s.epsilon_stop;
      if (valid && arm.coverage > best_coverage) {
        best_coverage = arm.coverage;
        best = key;
        found = improved = true;
      }
    }
    if (improved && best_coverage == 1.0) break;
  }
  if (found) return Describe(best, true);
  // No anchor met the threshold: the most precise of every size's winners (Alibi's fallback).
  std::vector<Key> all;
  for (const auto& [n, keys] : best_of_size) all.insert(all.end(), keys.begin(), keys.end());
  const std::vector<std::size_t> top = KlLucb(all, 1);
  return Describe(all[top.front()], false);
}

}  // namespace

double KlUpperBound(double p, double level) {
  double lm = p, um = std::min(std::min(1.0, p + std::sqrt(level / 2.0)), 1.0);
  for (int i = 0; i < 17; ++i) {
    const double qm = (um + lm) / 2.0;
    if (KlBernoulli(p, qm) > level)
      um = qm;
    else
      lm = qm;
  }
  return um;
}

double KlLowerBound(double p, double level) {
  double um = p, lm = std::max(std::min(1.0, p - std::sqrt(level / 2.0)), 0.0);
  for (int i = 0; i < 17; ++i) {
    const double qm = (um + lm) / 2.0;
    if (KlBernoulli(p, qm) > level)
      lm = qm;
    else
      um = qm;
  }
  return lm;
}

Discretizer::Discretizer(const loupe::sdk::DatasetInfo& data, const loupe::sdk::Matrix& x,
                         const std::vector<double>& percentiles, const std::vector<FeatureStats>& stats)
    : features_(data.features), stats_(stats) {
  const auto f = static_cast<std::size_t>(x.cols());
  cuts_.resize(f);
  bin_values_.resize(f);
  for (std::size_t j = 0; j < f; ++j) {
    if (features_[j].IsCategorical()) continue;
    std::vector<double> values;
    for (std::int64_t i = 0; i < x.rows(); ++i) {
      const double v = x(i, static_cast<std::int64_t>(j));
      if (!std::isnan(v)) values.push_back(v);
    }
    if (values.empty()) continue;
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    for (const double p : percentiles) cuts_[j].push_back(Percentile(sorted, p));
    std::sort(cuts_[j].begin(), cuts_[j].end());
    cuts_[j].erase(std::unique(cuts_[j].begin(), cuts_[j].end()), cuts_[j].end());
    bin_values_[j].resize(cuts_[j].size() + 1);
    for (const double v : values) bin_values_[j][static_cast<std::size_t>(Bin(j, v))].push_back(v);
  }
}

std::int32_t Discretizer::Bin(std::size_t j, double value) const {
  if (std::isnan(value)) return -1;
  if (features_[j].IsCategorical()) return static_cast<std::int32_t>(value);
  const auto& cuts = cuts_[j];
  return static_cast<std::int32_t>(std::lower_bound(cuts.begin(), cuts.end(), value) - cuts.begin());
}

double Discretizer::DrawFromBin(std::size_t j, std::int32_t bin, loupe::sdk::Rng& rng) const {
  const std::vector<double>& values = bin_values_[j][static_cast<std::size_t>(bin)];
  return values[static_cast<std::size_t>(rng.Below(values.size()))];
}

std::string Discretizer::Condition(std::size_t j, std::int32_t bin) const {
  const std::string& name = features_[j].name;
  if (features_[j].IsCategorical()) return name + " = " + loupe::sdk::FormatValue(features_[j], bin);
  const auto& cuts = cuts_[j];
  const auto shown = [&](double v) { return DisplayValue(features_[j], stats_[j], v); };
  const auto b = static_cast<std::size_t>(bin);
  if (cuts.empty()) return name + " is any value";
  if (b == 0) return name + " <= " + shown(cuts[0]);
  if (b == cuts.size()) return name + " > " + shown(cuts.back());
  return shown(cuts[b - 1]) + " < " + name + " <= " + shown(cuts[b]);
}

AnchorSearch::AnchorSearch(const Discretizer& discretizer, const loupe::sdk::Matrix& background,
                           std::vector<std::int64_t> coverage_rows, DecisionRule decision,
                           AnchorSettings settings)
    : discretizer_(discretizer),
      background_(background),
      coverage_rows_(std::move(coverage_rows)),
      decision_(std::move(decision)),
      settings_(settings) {}

void AnchorSearch::DrawSamples(const double* row, const std::vector<std::size_t>& features, std::int64_t n,
                               loupe::sdk::Rng& rng, std::vector<double>& out) const {
  const std::int64_t f = background_.cols();
  for (std::int64_t s = 0; s < n; ++s) {
    const double* from =
        background_.Row(static_cast<std::int64_t>(rng.Below(static_cast<std::uint64_t>(background_.rows()))));
    const std::size_t start = out.size();
    out.insert(out.end(), from, from + f);
    for (const std::size_t j : features) {
      out[start + j] = discretizer_.IsCategorical(j)
                           ? row[j]
                           : discretizer_.DrawFromBin(j, discretizer_.Bin(j, row[j]), rng);
    }
  }
}

Anchor AnchorSearch::Run(const double* row, std::int32_t label, loupe::sdk::Rng& rng,
                         const Evaluate& evaluate) const {
  Beam beam(*this, row, label, rng, evaluate);
  return beam.Run();
}

}  // namespace loupe::counterfactual
