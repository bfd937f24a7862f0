// The surrogate plugin: white-box models trained to mimic the explained model.
#include "loupe/sdk/plugin.hpp"
#include "tree_explainer.hpp"

LOUPE_PLUGIN("surrogate", LOUPE_SURROGATE_VERSION,
             "Global surrogate models: a CART decision tree trained on the model's predictions, with "
             "fidelity and rules.",
             loupe::surrogate::TreeExplainer::Definition());
