// shap.tree: exact TreeSHAP for tree ensembles through the model's "tree_ensemble" capability, with shap
// TreeExplainer's defaults: the raw margin, path-dependent (node covers) when no `background` is given and
// interventional (exact, averaged over the background rows) with one; `interactions: true` adds SHAP
// interaction values (path-dependent), as XGBoost's pred_contribs / pred_interactions define them.
#pragma once

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::shap {

class TreeExplainer final : public loupe::sdk::Explainer {
 public:
  // Checks the model (a tree ensemble whose inputs are the step's features) and the parameters; throws
  // loupe::sdk::Error with a sentence otherwise.
  explicit TreeExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  static loupe::sdk::ExplainerDef Definition();
};

}  // namespace loupe::shap
