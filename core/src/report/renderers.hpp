// One renderer per explanation kind (docs/architecture.md §5 "Output files"). Each appends an HTML fragment
// for one step to `html`; `id` is unique in the report (used to name the step's interactive switches).
// Renderers read the JSON tolerantly: a missing optional field leaves its chart out, and a malformed
// one makes the caller print a sentence instead of the section (never a crash).
#pragma once

#include <string>

#include "loupe/core/explanation.hpp"

namespace loupe::report {

// The kind-specific fields as JSON, for the renderers of kinds whose results are small: the
// explanation's own body when it has no typed arrays, else a copy with the arrays inserted as JSON.
// (feature_attribution, whose arrays can be large, reads them through Explanation::Array instead.)
class JsonBody {
 public:
  explicit JsonBody(const Explanation& e) : explanation_(e) {
    if (e.HasTypedFields()) materialized_ = e.BodyJson();
  }
  const nlohmann::json& get() const {
    return explanation_.HasTypedFields() ? materialized_ : explanation_.body;
  }

 private:
  const Explanation& explanation_;
  nlohmann::json materialized_;
};

// SHAP-style attributions: global bar, beeswarm, per-row waterfall; token colouring for text rows.
// LIME results (with `conditions` or `as_list`) go to RenderLime instead.
void RenderFeatureAttribution(const Explanation& e, const std::string& id, std::string& html);
// lime.tabular / lime.text: per row, the weighted conditions (or words, with the text coloured by them)
// with the local prediction and the ridge's score.
void RenderLime(const Explanation& e, const std::string& id, std::string& html);
// shap.summary (kind shap_summary): global bar and beeswarm from its per-feature distributions.
void RenderShapSummary(const Explanation& e, const std::string& id, std::string& html);
// surrogate.tree: the tree as a diagram, its rules and its fidelity.
void RenderSurrogateTree(const Explanation& e, const std::string& id, std::string& html);
// fairness.group: per-group rates with intervals, verdicts and metric tables.
void RenderFairnessReport(const Explanation& e, const std::string& id, std::string& html);
// fairness.counterfactual: flip rates per group and the rows that change most.
void RenderCounterfactualReport(const Explanation& e, const std::string& id, std::string& html);
// counterfactual.search: per row, the counterfactuals as a table with the changes highlighted, and as
// sentences.
void RenderCounterfactualExplanations(const Explanation& e, const std::string& id, std::string& html);
// counterfactual.anchors: per row, the anchor as a rule with its precision and coverage.
void RenderAnchors(const Explanation& e, const std::string& id, std::string& html);
// attention.*: layer/head heatmaps, rollout and flow over the tokens.
void RenderAttentionMaps(const Explanation& e, const std::string& id, std::string& html);
// effects.partial_dependence: PD/ICE line charts with the deciles as a rug, level bars, two-way heatmaps.
void RenderPartialDependence(const Explanation& e, const std::string& id, std::string& html);
// effects.ale: accumulated local effects as lines (numeric) or level bars (categorical).
void RenderAccumulatedLocalEffects(const Explanation& e, const std::string& id, std::string& html);
// effects.permutation_importance: mean importance bars with ±1 standard deviation whiskers.
void RenderPermutationImportance(const Explanation& e, const std::string& id, std::string& html);
// Any other kind: its scalar fields.
void RenderGeneric(const Explanation& e, const std::string& id, std::string& html);

// The quality figures of a step (additivity residual, sampling error, fidelity, ...), as a strip.
std::string QualityStrip(const Explanation& e);

}  // namespace loupe::report
