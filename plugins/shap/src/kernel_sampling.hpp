// shap.kernel's coalition plan for one explained row: shap 0.42 KernelExplainer's enumerated coalition
// sizes and complementary-pair draws, with every draw remembered so that a prefix of the draws (for
// `tolerance`) and leave-a-group-out replicates (for standard errors) can be weighted exactly.
#pragma once

#include <cstdint>
#include <vector>

#include "loupe/sdk/random.hpp"

namespace loupe::shap {

struct RowPlan {
  std::vector<std::int64_t> varying;  // players that differ from some background row
  std::vector<unsigned char> masks;   // [K][varying]: enumerated coalitions, then drawn ones by first draw
  std::vector<double> fixed_weights;  // kernel weights of the enumerated coalitions
  double sampled_mass = 0.0;          // kernel weight of the sampled sizes, shared by the draws
  std::vector<std::int64_t> draw_coalition;  // per drawn coalition (a pair gives two): its index in masks
  std::vector<std::int64_t> event_end;       // per random draw: end of its entries in draw_coalition

  std::int64_t width() const { return static_cast<std::int64_t>(varying.size()); }
  std::int64_t count() const { return width() == 0 ? 0 : static_cast<std::int64_t>(masks.size()) / width(); }
  std::int64_t fixed() const { return static_cast<std::int64_t>(fixed_weights.size()); }
  std::int64_t events() const { return static_cast<std::int64_t>(event_end.size()); }
  const unsigned char* Mask(std::int64_t k) const { return masks.data() + k * width(); }
  // Entries of the first `events` draws.
  std::int64_t EntriesOf(std::int64_t events) const {
    return events == 0 ? 0 : event_end[static_cast<std::size_t>(events - 1)];
  }
  // Coalitions the first `events` draws need (enumerated ones included): a prefix of masks.
  std::int64_t CoalitionsFor(std::int64_t events) const;
  // Weights of coalitions [0, CoalitionsFor(events)) as shap's kernelWeights after the first `events`
  // draws: the enumerated weights, then each drawn coalition's count times sampled_mass / entries.
  std::vector<double> WeightsFor(std::int64_t events) const;
};

// shap's budget for M varying players: nsamples (requested 0 = auto: 2M + 2048), capped at 2^M - 2 when
// M <= 30.
std::int64_t KernelBudget(std::int64_t requested, std::int64_t m);

// shap 0.42 KernelExplainer.explain's coalitions for m >= 2 players and budget nsamples into `plan`
// (whose `varying` is already set).
void BuildPlan(std::int64_t m, std::int64_t nsamples, loupe::sdk::Rng& rng, RowPlan* plan);

}  // namespace loupe::shap
