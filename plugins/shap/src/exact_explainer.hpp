// shap.exact: exact interventional Shapley values, what shap's ExactExplainer computes with a background
// (independent masker).
//
// For an explained row x and every coalition S of the M players (2^M of them),
//   v(S) = mean over background rows b of f(x on the features of S, b elsewhere),
//   phi_i = sum over S without i of |S|! (M - |S| - 1)! / M! * (v(S + i) - v(S)),   base value = v({}).
// The perturbed rows are built in batches of thousands and evaluated in parallel through the host, every
// coalition value is reduced inside one batch in a fixed order, and the Shapley sums run in double, so
// the result is bit-identical for any thread count and sum(phi) + base = f(x) to rounding.
#pragma once

#include <cstdint>

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::shap {

// Exact enumeration is refused above this many players (2^20 coalitions per row).
inline constexpr std::int64_t kMaxExactPlayers = 20;

class ExactExplainer final : public loupe::sdk::Explainer {
 public:
  // Checks the configuration (players, output space, background) and throws loupe::sdk::Error if bad.
  explicit ExactExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  // The explainer's description for LOUPE_PLUGIN: name, summary, kind, parameters.
  static loupe::sdk::ExplainerDef Definition();
};

}  // namespace loupe::shap
