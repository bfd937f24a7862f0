// The fairness plugin: group fairness metrics with AIF360's and fairlearn's conventions.
#include "loupe/sdk/plugin.hpp"
#include "group_explainer.hpp"

LOUPE_PLUGIN("fairness", LOUPE_FAIRNESS_VERSION,
             "Group fairness metrics of classifier decisions, with AIF360's and fairlearn's conventions.",
             loupe::fairness::GroupExplainer::Definition());
