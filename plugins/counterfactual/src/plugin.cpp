// The counterfactual plugin: counterfactual explanations (what the smallest feasible change is that flips a
// decision) and Anchors (which conditions are sufficient for it). Not to be confused with
// fairness.counterfactual, which flips the sensitive attribute.
#include "loupe/sdk/plugin.hpp"
#include "anchors_explainer.hpp"
#include "search_explainer.hpp"

LOUPE_PLUGIN(
    "counterfactual", LOUPE_COUNTERFACTUAL_VERSION,
    "Counterfactual explanations (diverse, sparse, feasible changes that flip a decision) and Anchors "
    "(rules sufficient for a decision, with precision and coverage).",
    loupe::counterfactual::SearchExplainer::Definition(),
    loupe::counterfactual::AnchorsExplainer::Definition());
