// surrogate.tree — a global CART decision tree trained on the model's own predictions, with its fidelity,
// one plain-language rule per leaf, feature importances, Graphviz DOT and decision paths. See README.md.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "cart.hpp"
#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::surrogate {

// Random streams (Host::Rng(row, stream)) of this explainer.
inline constexpr std::uint64_t kTrainRowsStream = 0x5352524f5753ULL;  // `train_rows: N` samples
inline constexpr std::uint64_t kHoldoutStream = 0x53524f4c44ULL;      // holdout split, row = data row
inline constexpr std::uint64_t kAugmentStream = 0x5352415547ULL;      // augmented sample i, row = i
inline constexpr std::uint64_t kPathsStream = 0x535250415448ULL;      // `paths_for: N` samples

class TreeExplainer final : public loupe::sdk::Explainer {
 public:
  explicit TreeExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  static loupe::sdk::ExplainerDef Definition();

 private:
  std::string target_;     // "auto" | "class" | "score"
  std::string criterion_;  // empty: gini for classes, squared_error for scores
  std::string score_output_;
  CartParams cart_;
  double min_samples_split_ = 2;  // a count >= 2, or a fraction of the training samples below 1
  double min_samples_leaf_ = 1;   // a count >= 1, or a fraction of the training samples below 1
  double holdout_ = 0.2;
  std::int64_t augment_ = 0;
  std::string sample_weight_;
  nlohmann::json train_rows_;  // null: every row
  nlohmann::json paths_for_;   // null: the step's rows unless they are every row
};

}  // namespace loupe::surrogate
