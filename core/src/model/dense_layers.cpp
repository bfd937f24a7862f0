#include "model/dense_layers.hpp"

#include <algorithm>
#include <cmath>

#include "nn/backward.hpp"

namespace loupe::model {
namespace {

// Rows of a [n, width] or [n, t, width] activation: dense ops treat every step as a row.
std::int64_t Rows(const Activations& a) { return a.n * std::max<std::int64_t>(a.t, 1); }

void StartOutput(const Activations& in, std::int64_t width, Activations& out) {
  out.lengths = in.lengths;
  out.Resize(in.n, in.t, width);
}

class LinearLayer final : public Layer {
 public:
  LinearLayer(DenseSpec spec, ActivationShape shape, nn::Precision precision)
      : dense_(spec.in, spec.out, std::move(spec.weight), std::move(spec.bias)),
        shape_(shape),
        precision_(precision) {
    shape_.width = dense_.out();
  }
  ActivationShape output() const override { return shape_; }
  const nn::DenseLayer& dense() const { return dense_; }
  Status Forward(const Activations& in, Activations& out) const override {
    StartOutput(in, dense_.out(), out);
    return dense_.Forward(in.values.data(), Rows(in), out.values.data(), precision_);
  }

 private:
  nn::DenseLayer dense_;
  ActivationShape shape_;
  nn::Precision precision_;
};

class ElementwiseLayer final : public Layer {
 public:
  ElementwiseLayer(DenseKind kind, ActivationShape shape) : kind_(kind), shape_(shape) {}
  ActivationShape output() const override { return shape_; }
  DenseKind kind() const { return kind_; }
  Status Forward(const Activations& in, Activations& out) const override {
    out = in;
    const auto count = static_cast<std::int64_t>(out.values.size());
    switch (kind_) {
      case DenseKind::kRelu:
        return nn::Activate(nn::Activation::kRelu, out.values.data(), count);
      case DenseKind::kGelu:
        return nn::Activate(nn::Activation::kGeluErf, out.values.data(), count);
      case DenseKind::kGeluTanh:
        return nn::Activate(nn::Activation::kGeluTanh, out.values.data(), count);
      case DenseKind::kTanh:
        return nn::Activate(nn::Activation::kTanh, out.values.data(), count);
      case DenseKind::kSigmoid:
        return nn::Activate(nn::Activation::kSigmoid, out.values.data(), count);
      case DenseKind::kSoftmax:
        return nn::Softmax(out.values.data(), Rows(out), out.width);
      default:
        return Status::Ok();  // dropout and flatten: identity at inference
    }
  }

 private:
  DenseKind kind_;
  ActivationShape shape_;
};

class LayerNormLayer final : public Layer {
 public:
  LayerNormLayer(DenseSpec spec, ActivationShape shape) : spec_(std::move(spec)), shape_(shape) {}
  ActivationShape output() const override { return shape_; }
  const DenseSpec& spec() const { return spec_; }
  Status Forward(const Activations& in, Activations& out) const override {
    StartOutput(in, in.width, out);
    return nn::LayerNorm(in.values.data(), Rows(in), in.width, spec_.weight.data(),
                         spec_.bias.empty() ? nullptr : spec_.bias.data(), static_cast<float>(spec_.eps),
                         out.values.data());
  }

 private:
  DenseSpec spec_;
  ActivationShape shape_;
};

Result<DenseSpec> ReadLinear(const LayerContext& c, DenseSpec spec) {
  LOUPE_RETURN_IF_ERROR(c.CheckKeys({"in_features", "out_features"}));
  LOUPE_ASSIGN_OR_RETURN(const Shape shape, c.WeightShape("weight"));
  LOUPE_ASSIGN_OR_RETURN(const double declared_out,
                         c.Number("out_features", shape.empty() ? 0.0 : static_cast<double>(shape[0])));
  LOUPE_ASSIGN_OR_RETURN(const double declared_in, c.Number("in_features", static_cast<double>(spec.in)));
  if (static_cast<std::int64_t>(declared_in) != spec.in) {
    return c.Error("in_features", "in_features is " + std::to_string(static_cast<std::int64_t>(declared_in)) +
                                      " but the layer receives " + std::to_string(spec.in) + " features.");
  }
  spec.out = static_cast<std::int64_t>(declared_out);
  LOUPE_ASSIGN_OR_RETURN(spec.weight, c.Weight("weight", {spec.out, spec.in}));
  if (c.HasWeight("bias")) {
    LOUPE_ASSIGN_OR_RETURN(spec.bias, c.Weight("bias", {spec.out}));
  }
  return spec;
}

Result<DenseSpec> ReadLayerNorm(const LayerContext& c, DenseSpec spec) {
  LOUPE_RETURN_IF_ERROR(c.CheckKeys({"eps"}));
  LOUPE_ASSIGN_OR_RETURN(spec.eps, c.Number("eps", 1e-5));
  if (!(spec.eps > 0)) return c.Error("eps", "eps must be positive.");
  LOUPE_ASSIGN_OR_RETURN(spec.weight, c.Weight("weight", {spec.in}));
  if (c.HasWeight("bias")) {
    LOUPE_ASSIGN_OR_RETURN(spec.bias, c.Weight("bias", {spec.in}));
  }
  return spec;
}

}  // namespace

bool IsDenseType(const std::string& type) {
  for (const char* t :
       {"linear", "relu", "gelu", "tanh", "sigmoid", "softmax", "layer_norm", "dropout", "flatten"}) {
    if (type == t) return true;
  }
  return false;
}

Result<DenseSpec> ReadDenseSpec(const LayerContext& c) {
  if (c.input().ids)
    return c.Error("type", "takes vectors, but the layer before it gives " + c.input().ToString() + ".");
  DenseSpec spec;
  spec.in = spec.out = c.input().width;
  const std::string& type = c.type();
  if (type == "linear") {
    spec.kind = DenseKind::kLinear;
    return ReadLinear(c, spec);
  }
  if (type == "layer_norm") {
    spec.kind = DenseKind::kLayerNorm;
    return ReadLayerNorm(c, spec);
  }
  if (type == "gelu") {
    LOUPE_RETURN_IF_ERROR(c.CheckKeys({"approximate"}));
    LOUPE_ASSIGN_OR_RETURN(const std::string approximate, c.String("approximate", "none"));
    if (approximate != "none" && approximate != "tanh") {
      return c.Error("approximate",
                     "approximate must be none or tanh (as torch.nn.GELU), found '" + approximate + "'.");
    }
    spec.kind = approximate == "tanh" ? DenseKind::kGeluTanh : DenseKind::kGelu;
    return spec;
  }
  if (type == "dropout") {
    LOUPE_RETURN_IF_ERROR(c.CheckKeys({"p"}));  // the training-time rate, kept for the record
    return spec;
  }
  LOUPE_RETURN_IF_ERROR(c.CheckKeys({}));
  if (type == "flatten" && c.input().sequence) {
    return c.Error("type", "flatten takes [n, width], found " + c.input().ToString() + ".");
  }
  if (type == "relu") spec.kind = DenseKind::kRelu;
  if (type == "tanh") spec.kind = DenseKind::kTanh;
  if (type == "sigmoid") spec.kind = DenseKind::kSigmoid;
  if (type == "softmax") spec.kind = DenseKind::kSoftmax;
  return spec;
}

std::unique_ptr<Layer> MakeDenseLayer(DenseSpec spec, const ActivationShape& shape, nn::Precision precision) {
  if (spec.kind == DenseKind::kLinear)
    return std::make_unique<LinearLayer>(std::move(spec), shape, precision);
  if (spec.kind == DenseKind::kLayerNorm) return std::make_unique<LayerNormLayer>(std::move(spec), shape);
  return std::make_unique<ElementwiseLayer>(spec.kind, shape);
}

std::optional<DenseLayerView> AsDenseLayer(const Layer& layer) {
  if (const auto* linear = dynamic_cast<const LinearLayer*>(&layer))
    return DenseLayerView{DenseKind::kLinear, &linear->dense(), nullptr};
  if (const auto* norm = dynamic_cast<const LayerNormLayer*>(&layer))
    return DenseLayerView{DenseKind::kLayerNorm, nullptr, &norm->spec()};
  if (const auto* elementwise = dynamic_cast<const ElementwiseLayer*>(&layer))
    return DenseLayerView{elementwise->kind(), nullptr, nullptr};
  return std::nullopt;
}

Status DenseLayerBackward(const DenseLayerView& layer, const float* x, const float* y, std::int64_t rows,
                          std::int64_t in_width, std::int64_t out_width, const float* dy, float* dx) {
  const std::int64_t count = rows * in_width;
  switch (layer.kind) {
    case DenseKind::kLinear:
      return nn::DenseBackwardData(*layer.linear, dy, rows, dx);
    case DenseKind::kRelu:
      return nn::ActivateBackward(nn::Activation::kRelu, x, dy, dx, count);
    case DenseKind::kGelu:
      return nn::ActivateBackward(nn::Activation::kGeluErf, x, dy, dx, count);
    case DenseKind::kGeluTanh:
      return nn::ActivateBackward(nn::Activation::kGeluTanh, x, dy, dx, count);
    case DenseKind::kTanh:
      return nn::ActivateBackward(nn::Activation::kTanh, x, dy, dx, count);
    case DenseKind::kSigmoid:
      return nn::ActivateBackward(nn::Activation::kSigmoid, x, dy, dx, count);
    case DenseKind::kSoftmax:
      return nn::SoftmaxBackward(y, dy, dx, rows, out_width);
    case DenseKind::kLayerNorm:
      return nn::LayerNormBackward(x, dy, rows, in_width, layer.spec->weight.data(),
                                   static_cast<float>(layer.spec->eps), dx);
    case DenseKind::kIdentity:
      if (dx != dy) std::copy_n(dy, count, dx);
      return Status::Ok();
  }
  return Status::Ok();
}

void RegisterDenseKinds(KindRegistry& registry) {
  for (const char* type :
       {"linear", "relu", "gelu", "tanh", "sigmoid", "softmax", "layer_norm", "dropout", "flatten"}) {
    registry.AddLayer(type, [](const LayerContext& c) -> Result<std::unique_ptr<Layer>> {
      LOUPE_ASSIGN_OR_RETURN(DenseSpec spec, ReadDenseSpec(c));
      return MakeDenseLayer(std::move(spec), c.input(), c.precision());
    });
  }
}

}  // namespace loupe::model
