// shap.permutation: Shapley values from antithetic permutation sampling, as shap's PermutationExplainer.
//
// For an explained row x, P random orders of the M players are drawn (counter-based RNG per data row), and
// each order is walked forward and then reversed: players join one at a time and each player's marginal
// contribution v(S + i) - v(S) is recorded, with
//   v(S) = mean over background rows b of f(x on the features of S, b elsewhere).
// phi_i is the mean contribution over the 2P walks; base value = v({}). Every walk telescopes from v({}) to
// v(all players), so sum(phi) + base = f(x) to rounding. With max_evals coalition evaluations per row,
// P = (max_evals - 2) / (2 (M - 1)) (v({}) and v(all) are shared by every walk).
// quality.standard_error is the largest per-value standard error, error_std[R][O][M] holds all of them: the
// sample standard deviation of the per-pair mean contributions / sqrt(P) (with one pair, of the two walks /
// sqrt(2)).
#pragma once

#include <cstdint>

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::shap {

inline constexpr std::int64_t kDefaultMaxEvals = 500;
// Upper bound on max_evals, so one row's coalition values stay within kMaxCoalitionValues.
inline constexpr std::int64_t kMaxPermutationEvals = std::int64_t{1} << 22;

class PermutationExplainer final : public loupe::sdk::Explainer {
 public:
  // Checks the configuration (players, output space, background, max_evals) and throws loupe::sdk::Error if
  // bad.
  explicit PermutationExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  // The explainer's description for LOUPE_PLUGIN: name, summary, kind, parameters.
  static loupe::sdk::ExplainerDef Definition();
};

}  // namespace loupe::shap
