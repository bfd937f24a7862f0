// shap.kernel: Kernel SHAP as shap 0.42's KernelExplainer computes it, interventional over background rows.
//
// Per explained row x, players whose values equal every background row's are left out with phi = 0 (shap's
// "varying" groups); over the M remaining players:
//  - nsamples (default 2M + 2048, at most 2^M - 2) coalitions: sizes s and M - s are enumerated completely
//    from the outside in while the budget covers them under the Shapley kernel's size distribution
//    (weight of size s proportional to (M - 1) / (s (M - s)), renormalised over the sizes left, exactly
//    as shap's loop does); the rest are drawn in complementary pairs from that distribution with the
//    counter-based Host::Rng(row, stream), duplicates adding their weight to the first draw;
//  - v(S) = (weighted) mean over background rows of f(x on S, background elsewhere), in large Predict
//    batches of at most `max_batch_rows` rows;
//  - optional l1 feature selection (`l1_reg`, shap's auto / aic / bic / num_features(k); kernel_solver.hpp);
//  - the weighted least squares of v(S) - v({}) on the coalition masks with efficiency enforced by
//    eliminating the last player: phi_last = f(x) - v({}) - sum of the others;
//  - a delete-a-group jackknife standard error per value (`error_std`), and with `tolerance` the draws
//    are evaluated in rounds (1/8 of them, then doubling) until the largest SE is within it.
// With nsamples >= 2^M - 2 every coalition is evaluated and the result equals exact Shapley values.
#pragma once

#include <cstdint>

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::shap {

// Largest accepted nsamples: bounds one row's coalition masks and values in memory.
inline constexpr std::int64_t kMaxKernelSamples = std::int64_t{1} << 22;

class KernelExplainer final : public loupe::sdk::Explainer {
 public:
  // Checks the configuration (players, output space, background, nsamples) and throws loupe::sdk::Error if
  // bad.
  explicit KernelExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  static loupe::sdk::ExplainerDef Definition();
};

}  // namespace loupe::shap
