// Anchors (Ribeiro, Singh & Guestrin 2018) for one row, as Alibi's AnchorTabular computes them: numeric
// features discretised at the data's quartiles, an anchor is a set of conditions "the feature is in the
// row's bin / has the row's level", its precision is the probability that the model keeps the row's class on
// samples that satisfy it, and its coverage is the fraction of a coverage sample of the data satisfying it.
// The search is a beam search over anchor sizes whose arms are compared with the KL-LUCB bandit (Kaufmann
// & Kalyanakrishnan 2013), as alibi.explainers.anchor_base.AnchorBaseBeam.anchor_beam.
//
// Host-independent (tests and benchmarks drive it directly); a row's search reads only its own Rng, so the
// result depends only on (seed, row).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cf_search.hpp"  // Evaluate
#include "decision.hpp"
#include "feature_space.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/random.hpp"

namespace loupe::counterfactual {

// Bins of every feature: quantile cut points for numeric features (Alibi's Discretizer: numpy's linear
// percentiles, duplicates removed, bin = number of cuts strictly below the value), levels for categoricals.
class Discretizer {
 public:
  Discretizer(const loupe::sdk::DatasetInfo& data, const loupe::sdk::Matrix& x,
              const std::vector<double>& percentiles, const std::vector<FeatureStats>& stats);

  // The bin of `value` in feature j: the level code, or the numeric bin; -1 when missing.
  std::int32_t Bin(std::size_t j, double value) const;
  // A random data value of feature j in `bin` (numeric features).
  double DrawFromBin(std::size_t j, std::int32_t bin, loupe::sdk::Rng& rng) const;
  // The condition "feature in bin" as text: "Income <= 90", "90 < Income <= 120", "Income > 160", "Home =
  // rent".
  std::string Condition(std::size_t j, std::int32_t bin) const;
  const std::vector<double>& Cuts(std::size_t j) const { return cuts_[j]; }
  bool IsCategorical(std::size_t j) const { return features_[j].IsCategorical(); }

 private:
  std::vector<loupe::sdk::FeatureInfo> features_;
  std::vector<FeatureStats> stats_;
  std::vector<std::vector<double>> cuts_;                     // numeric: sorted unique cut points
  std::vector<std::vector<std::vector<double>>> bin_values_;  // numeric: the data's values per bin
};

struct AnchorSettings {
  double threshold = 0.95;     // desired precision (Alibi's threshold)
  double delta = 0.1;          // 1 - confidence of the bandit's bounds
  double tau = 0.15;           // KL-LUCB's tolerance (epsilon in anchor_beam)
  double epsilon_stop = 0.05;  // margin of the final precision check (anchor_beam's epsilon_stop)
  std::int64_t batch_size = 100;
  std::int64_t beam_size = 1;
  std::int64_t max_anchor_size = 0;  // 0: every feature
  std::int64_t min_samples_start = 100;
};

struct Anchor {
  std::vector<std::size_t> features;  // in the order the beam added them
  std::vector<std::int32_t> bins;     // the row's bin of each
  double precision = 1;
  double coverage = 1;
  bool success = false;  // precision met the threshold with the bandit's confidence
  std::vector<double> prefix_precision, prefix_coverage;  // after each added condition
  std::int64_t evaluations = 0;
};

// The upper and lower KL confidence bounds of a Bernoulli mean p at `level` (Alibi's dup/dlow_bernoulli).
double KlUpperBound(double p, double level);
double KlLowerBound(double p, double level);

class AnchorSearch {
 public:
  // `background` rows (the data) are what samples are drawn from; `coverage` rows estimate coverage.
  AnchorSearch(const Discretizer& discretizer, const loupe::sdk::Matrix& background,
               std::vector<std::int64_t> coverage_rows, DecisionRule decision, AnchorSettings settings);

  Anchor Run(const double* row, std::int32_t label, loupe::sdk::Rng& rng, const Evaluate& evaluate) const;

  // Draws `n` samples satisfying the anchor (features with the row's bins): a random background row whose
  // anchored features are set to the row's level or to a random data value from the row's bin.
  void DrawSamples(const double* row, const std::vector<std::size_t>& features, std::int64_t n,
                   loupe::sdk::Rng& rng, std::vector<double>& out) const;

  const Discretizer& discretizer() const { return discretizer_; }
  const DecisionRule& decision() const { return decision_; }
  const AnchorSettings& settings() const { return settings_; }
  const loupe::sdk::Matrix& background() const { return background_; }
  const std::vector<std::int64_t>& coverage_rows() const { return coverage_rows_; }

 private:
  const Discretizer& discretizer_;
  const loupe::sdk::Matrix& background_;
  std::vector<std::int64_t> coverage_rows_;
  DecisionRule decision_;
  AnchorSettings settings_;
};

}  // namespace loupe::counterfactual
