// The attention plugin: attention maps, rollout, flow, head statistics and hidden-state views of text
// models, through the model capabilities "attention", "head_mask" and "hidden_states".
#include "loupe/sdk/plugin.hpp"
#include "heads_explainer.hpp"
#include "hidden_explainer.hpp"
#include "map_explainers.hpp"

LOUPE_PLUGIN(
    "attention", LOUPE_ATTENTION_VERSION,
    "Attention of text models: per-head maps, rollout and flow (Abnar & Zuidema 2020), head statistics "
    "with ablation, hidden-state views, BertViz export.",
    loupe::attention::InspectExplainer::Definition(), loupe::attention::RolloutExplainer::Definition(),
    loupe::attention::FlowExplainer::Definition(), loupe::attention::HeadsExplainer::Definition(),
    loupe::attention::HiddenExplainer::Definition());
