// The fairness plugin: group fairness metrics with AIF360's and fairlearn's conventions, and a
// counterfactual probe of the sensitive attribute.
#include "loupe/sdk/plugin.hpp"
#include "counterfactual_explainer.hpp"
#include "group_explainer.hpp"

LOUPE_PLUGIN("fairness", LOUPE_FAIRNESS_VERSION,
             "Group fairness metrics of classifier decisions, with AIF360's and fairlearn's conventions, and "
             "counterfactual probes of the sensitive attribute.",
             loupe::fairness::GroupExplainer::Definition(),
             loupe::fairness::CounterfactualExplainer::Definition());
