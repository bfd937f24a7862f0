// The explainers of the gradients plugin: Captum's gradient attribution methods on the model's "gradient"
// capability (README.md cites Captum's definitions). Each returns a feature_attribution like shap's:
// values[R][O][F] for the explained rows, every output of the chosen space, every feature.
#pragma once

#include "loupe/sdk/explainer.hpp"

namespace loupe::gradients {

sdk::ExplainerDef SaliencyDefinition();
sdk::ExplainerDef InputXGradientDefinition();
sdk::ExplainerDef IntegratedGradientsDefinition();
sdk::ExplainerDef SmoothGradDefinition();
sdk::ExplainerDef GradientShapDefinition();
sdk::ExplainerDef DeepLiftDefinition();
// grad.layer_integrated_gradients (layer_integrated_gradients.cpp): text models, per token and word.
sdk::ExplainerDef LayerIntegratedGradientsDefinition();

}  // namespace loupe::gradients
