// The effects plugin: how predictions move with a feature (partial dependence, ICE, accumulated local
// effects) and how much a model relies on each feature (permutation importance).
#include "loupe/sdk/plugin.hpp"
#include "ale.hpp"
#include "partial_dependence.hpp"
#include "permutation_importance.hpp"

LOUPE_PLUGIN("effects", LOUPE_EFFECTS_VERSION,
             "Feature effects and reliance: partial dependence and ICE, accumulated local effects and "
             "permutation importance, with scikit-learn's and ALEPlot's definitions.",
             loupe::effects::PartialDependence::Definition(),
             loupe::effects::AccumulatedLocalEffects::Definition(),
             loupe::effects::PermutationImportance::Definition());
