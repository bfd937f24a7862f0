// shap.linear: shap's LinearExplainer (interventional, background mean) for models that are linear in
// the step's features, read through Predict alone.
//
// Loupe has no "linear model" capability, so the coefficients are measured: with mu the background mean,
// w_c = f(mu + e_c) - f(mu) for every feature column c (one batched Predict call). The model is then
// checked to be linear on every explained and background row z: |f(z) - f(mu) - sum_c w_c (z_c - mu_c)|
// must stay within 1e-6 (1 + |f(z)|); otherwise the step is refused with a sentence pointing to
// shap.exact / shap.kernel. Values phi_i = sum over the player's columns of w_c (x_c - mu_c), base f(mu).
#pragma once

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::shap {

class LinearExplainer final : public loupe::sdk::Explainer {
 public:
  explicit LinearExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  static loupe::sdk::ExplainerDef Definition();
};

}  // namespace loupe::shap
