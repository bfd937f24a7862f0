// The gradients plugin: Captum's gradient attribution methods, written against the SDK only, as a third
// party would write it (README.md).
#include "loupe/sdk/plugin.hpp"
#include "explainers.hpp"

LOUPE_PLUGIN("grad", LOUPE_GRADIENTS_VERSION,
             "Gradient attributions (saliency, integrated gradients, SmoothGrad, GradientSHAP, DeepLIFT, and "
             "layer integrated gradients on text) as Captum defines them, on models that offer gradients.",
             loupe::gradients::SaliencyDefinition(), loupe::gradients::InputXGradientDefinition(),
             loupe::gradients::IntegratedGradientsDefinition(), loupe::gradients::SmoothGradDefinition(),
             loupe::gradients::GradientShapDefinition(), loupe::gradients::DeepLiftDefinition(),
             loupe::gradients::LayerIntegratedGradientsDefinition());
