// The `gradient` model capability (docs/architecture.md §3): derivatives of a network's outputs with
// respect to its inputs, for the gradient explainers (saliency, integrated gradients, SmoothGrad,
// GradientSHAP) and DeepLIFT's rescale rule. A model that offers it returns a GradientModel from
// Model::gradient_model(); the host hands it to plugins as the C struct LoupeGradientModel of
// loupe_plugin.h, mapping the pipeline's features onto the model's inputs.
//
// Everything is in the MODEL's input coding (Model::Info().inputs, f64 [n, inputs], categoricals as
// level codes): a numeric input's gradient is with respect to its raw value, the model's standardisation
// chained ((x − mean) / std contributes 1 / std; an imputed missing value is a constant, gradient 0). A
// categorical input is one-hot encoded inside the model; its "gradient" is the SUM of the gradients with
// respect to its one-hot columns, the derivative along the direction that raises every level's indicator
// at once. It is not a derivative with respect to the level (which has none); DeepLIFT, which compares two
// encodings, attributes a level change exactly.
#pragma once

#include <span>

#include "loupe/core/model.hpp"

namespace loupe {

class GradientModel {
 public:
  virtual ~GradientModel() = default;

  // For each row r of `batch` (f64 [n, inputs]): gradients[r, i] = ∂(Σ_o weights[r, o] · f_o(x_r)) / ∂x_r,i
  // where f_o are the model's outputs in `space` and weights is f64 [n, outputs(space)]. `gradients`
  // holds n · inputs values. Reentrant; the same call gives the same bits on any thread.
  virtual Status Gradient(const TensorView& batch, OutputSpace space, std::span<const double> weights,
                          std::span<double> gradients) const = 0;

  // An empty string when DeepLift is defined for every layer; otherwise the sentence saying which layer
  // the rescale rule does not define.
  virtual const std::string& DeepLiftRefusal() const = 0;

  // DeepLIFT with the rescale rule (Shrikumar et al. 2017, as Captum's DeepLift): for each row r,
  // attributions[r, i] is input i's contribution to Σ_o weights[r, o] · (f_o(x_r) − f_o(x0_r)), where
  // x0 = references (f64 [n, inputs]). Linear layers pass multipliers as gradients; each elementwise
  // nonlinearity's multiplier is (f(a) − f(a0)) / (a − a0), its derivative at a where |a − a0| < 1e-10
  // (Captum's eps); softmax is treated as Captum's handler does, per row (see native_model.cpp). For a
  // network without softmax in the explained space, Σ_i attributions[r, i] equals the weighted output
  // difference up to rounding (summation-to-delta). Fails with DeepLiftRefusal() when it is not empty.
  virtual Status DeepLift(const TensorView& batch, const TensorView& references, OutputSpace space,
                          std::span<const double> weights, std::span<double> attributions) const = 0;
};

}  // namespace loupe
