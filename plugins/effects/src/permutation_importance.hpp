// effects.permutation_importance — the drop in a score when a feature's (or a group's) values are shuffled
// across the rows, as sklearn.inspection.permutation_importance defines it. See README.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::effects {

// Random stream of the permutations: repeat r shuffles with Host::Rng(r, kPermutationStream).
inline constexpr std::uint64_t kPermutationStream = 0x4546505045524dULL;

// The permutation of repeat `repeat` of `n` positions: Fisher–Yates driven by Rng(seed, repeat, stream).
// Every feature is shuffled with the same permutation in a given repeat, as scikit-learn does (it seeds
// each column's shuffles with the same random_state).
std::vector<std::int64_t> RepeatPermutation(std::uint64_t seed, std::int64_t repeat, std::int64_t n);

// Random stream of the max_samples subsample: Rng(seed, 0, kSubsampleStream).
inline constexpr std::uint64_t kSubsampleStream = 0x4546535542534dULL;

// The positions (into the n labelled rows) of a seeded subsample of `m` of them, without replacement:
// the first m of a Fisher–Yates shuffle driven by Rng(seed, 0, kSubsampleStream).
std::vector<std::int64_t> SubsamplePositions(std::uint64_t seed, std::int64_t n, std::int64_t m);

// The number of rows max_samples selects among n, as scikit-learn 1.2.1: an integer is a count in [1, n];
// a real number in (0, 1] a fraction, floor(max_samples * n), which must be at least 1. Error otherwise.
std::int64_t MaxSamplesCount(const nlohmann::json& max_samples, std::int64_t n);

// What is shuffled together: one feature, or a group of features (one permutation for all its columns).
struct PermutedUnit {
  std::string name;
  std::vector<std::int64_t> columns;
};

class PermutationImportance final : public loupe::sdk::Explainer {
 public:
  explicit PermutationImportance(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  static loupe::sdk::ExplainerDef Definition();

 private:
  std::string scoring_;  // empty: the model's default (accuracy or r2)
  std::int64_t n_repeats_ = 5;
  nlohmann::json groups_;              // null: every feature alone
  std::vector<std::string> features_;  // scored alone besides the groups
  bool features_given_ = false;        // unset: every feature in no group
  nlohmann::json permutations_;        // null: seeded; else [n_repeats][n_rows] row positions
  std::string sample_weight_;          // a data column of weights; empty: none
  nlohmann::json max_samples_;         // count or fraction of the rows the shuffled scores use
  nlohmann::json subsample_;           // null: seeded; else the explicit positions of that subsample
};

}  // namespace loupe::effects
