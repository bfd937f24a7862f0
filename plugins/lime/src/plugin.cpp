// The lime plugin: local surrogate explanations with lime's parameter names, defaults and output meaning.
#include "loupe/sdk/plugin.hpp"
#include "tabular_explainer.hpp"
#include "text_explainer.hpp"

LOUPE_PLUGIN("lime", LOUPE_LIME_VERSION,
             "Local surrogate (LIME) explanations of model outputs, as the lime library defines them.",
             loupe::lime::TabularExplainer::Definition(), loupe::lime::TextExplainer::Definition());
