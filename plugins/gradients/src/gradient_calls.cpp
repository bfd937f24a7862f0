#include "gradient_calls.hpp"

namespace loupe::gradients {
namespace {

LoupeTensorView RowsView(const std::vector<double>& rows, const std::int64_t* shape) {
  LoupeTensorView view{};
  view.struct_size = sizeof(view);
  view.dtype = LOUPE_DTYPE_F64;
  view.ndim = 2;
  view.read_only = 1;
  view.data = const_cast<double*>(rows.data());  // read_only = 1: the host does not write through it
  view.shape = shape;
  return view;
}

}  // namespace

GradientCalls::GradientCalls(const sdk::Host& host, const sdk::OutputSelection& output, bool need_deeplift)
    : host_(host),
      capability_(host.Capability<LoupeGradientModel>()),
      space_(output.space),
      outputs_(static_cast<std::int64_t>(output.names.size())),
      features_(host.FeatureCount()) {
  const std::string model = host.ModelInfo().name;
  if (capability_ == nullptr) {
    throw sdk::Unsupported("model '" + model +
                           "' offers no gradient: gradients are computed for Loupe's own tabular networks "
                           "(loupe.model/v1 of dense layers), not for tree ensembles, ONNX or text models");
  }
  if (need_deeplift && capability_->has_deeplift == 0) {
    throw sdk::Unsupported("model '" + model +
                           "' has a layer DeepLIFT's rescale rule does not define (it covers linear, relu, "
                           "tanh, sigmoid and softmax layers); use grad.integrated_gradients instead");
  }
}

void GradientCalls::Stack(const double* rows, std::int64_t n, std::vector<double>& stacked,
                          std::vector<double>& weights) const {
  stacked.resize(static_cast<std::size_t>(outputs_ * n * features_));
  weights.assign(static_cast<std::size_t>(outputs_ * n * outputs_), 0.0);
  for (std::int64_t o = 0; o < outputs_; ++o) {
    std::copy(rows, rows + n * features_, stacked.begin() + o * n * features_);
    for (std::int64_t r = 0; r < n; ++r) weights[static_cast<std::size_t>((o * n + r) * outputs_ + o)] = 1.0;
  }
}

void GradientCalls::Gradients(const double* rows, std::int64_t n, std::vector<double>& out) const {
  if (n == 0) return out.clear();
  std::vector<double> stacked, weights;
  Stack(rows, n, stacked, weights);
  out.resize(stacked.size());
  const std::int64_t shape[2] = {outputs_ * n, features_};
  const LoupeTensorView view = RowsView(stacked, shape);
  const LoupeStatus status = capability_->gradient(host_.raw(), &view, space_, weights.data(), out.data(),
                                                   static_cast<std::int64_t>(out.size()));
  if (status != LOUPE_OK) {
    throw sdk::Error(status, "the model failed to differentiate a batch of " + std::to_string(n) + " rows");
  }
}

void GradientCalls::DeepLift(const double* rows, const double* references, std::int64_t n,
                             std::vector<double>& out) const {
  if (n == 0) return out.clear();
  std::vector<double> stacked, stacked_references, weights;
  Stack(rows, n, stacked, weights);
  Stack(references, n, stacked_references, weights);
  out.resize(stacked.size());
  const std::int64_t shape[2] = {outputs_ * n, features_};
  const LoupeTensorView view = RowsView(stacked, shape), reference_view = RowsView(stacked_references, shape);
  const LoupeStatus status =
      capability_->deeplift(host_.raw(), &view, &reference_view, space_, weights.data(), out.data(),
                            static_cast<std::int64_t>(out.size()));
  if (status != LOUPE_OK) {
    throw sdk::Error(status,
                     "the model failed to compute DeepLIFT for a batch of " + std::to_string(n) + " rows");
  }
}

}  // namespace loupe::gradients
