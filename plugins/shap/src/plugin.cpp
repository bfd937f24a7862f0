// The shap plugin: Shapley-value explainers with shap's parameter names and output fields.
#include "loupe/sdk/plugin.hpp"
#include "exact_explainer.hpp"
#include "kernel_explainer.hpp"
#include "linear_explainer.hpp"
#include "permutation_explainer.hpp"
#include "summary_explainer.hpp"
#include "tree_explainer.hpp"

LOUPE_PLUGIN("shap", LOUPE_SHAP_VERSION,
             "Shapley-value explanations of model outputs, as the shap library defines them.",
             loupe::shap::ExactExplainer::Definition(), loupe::shap::KernelExplainer::Definition(),
             loupe::shap::LinearExplainer::Definition(), loupe::shap::TreeExplainer::Definition(),
             loupe::shap::PermutationExplainer::Definition(), loupe::shap::SummaryExplainer::Definition());
