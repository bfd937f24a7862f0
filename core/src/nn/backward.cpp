// Data gradients on oneDNN's backward primitives (see backward.hpp for the threading rules). Each
// backward primitive descriptor needs its forward one as a hint; both are made once per shape and the
// backward primitive is cached and bound per thread exactly as the forward ops are (nn/runtime.hpp).
#include "nn/backward.hpp"

#include <cmath>
#include <cstring>
#include <vector>

#include "nn/runtime.hpp"

namespace loupe::nn {

using detail::CachedPrimitive;
using detail::PrimitiveCache;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

namespace {

// The backward ops' keys in the calling thread's table of bound primitives (detail::BoundKey::op), apart
// from the forward ops' (1..5 in ops.cpp).
enum BackwardOp : int {
  kDenseBackwardOp = 101,
  kEltwiseBackwardOp,
  kSoftmaxBackwardOp,
  kLayerNormBackwardOp
};

std::string Shape(std::int64_t a, std::int64_t b) {
  std::string text = "[";  // appended piece by piece: GCC 12 warns (falsely) on "[" + std::to_string(...)
  text += std::to_string(a);
  text += ", ";
  text += std::to_string(b);
  return text + "]";
}

using detail::FloatBits;

}  // namespace

Status DenseBackwardData(const DenseLayer& layer, const float* dy, std::int64_t n, float* dx) {
  if (n == 0) return Status::Ok();
  const std::int64_t in = layer.in(), out = layer.out();
  const auto shape = [&] { return Shape(n, out) + " x " + Shape(out, in); };
  return detail::GuardLazy(
      [&] { return "dense layer backward " + shape(); },
      [&] {
        const detail::BoundKey key{kDenseBackwardOp, layer.id(), {n, 0, 0, 0}};
        detail::BoundPrimitive* bound = detail::FindBound(key);
        if (bound == nullptr) {
          // PyTorch's weight [out, in] row-major is oneDNN's plain `oi`: no reordered copy is needed.
          const dnnl::memory::desc src({n, in}, dt::f32, tag::nc), weights({out, in}, dt::f32, tag::oi),
              dst({n, out}, dt::f32, tag::nc);
          const auto primitive = PrimitiveCache::Instance().Get("ip_bwd_data:" + shape(), [&] {
            const dnnl::inner_product_forward::primitive_desc hint(
                dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, src, weights, dst),
                detail::UserScratchpadAttr(), detail::Engine());
            const dnnl::inner_product_backward_data::primitive_desc pd(
                dnnl::inner_product_backward_data::desc(src, weights, dst), detail::UserScratchpadAttr(),
                detail::Engine(), hint);
            return CachedPrimitive{
                dnnl::inner_product_backward_data(pd), pd.scratchpad_desc(), {}, {}, pd.impl_info_str()};
          });
          // Slots: 0 diff destination (dy), 1 weights, 2 diff source (dx).
          detail::BoundPrimitive made(
              primitive, {{DNNL_ARG_DIFF_DST, dst}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DIFF_SRC, src}});
          made.Set(1, layer.weight().data());
          bound = &detail::KeepBound(key, std::move(made));
        }
        bound->Set(0, dy);
        bound->Set(2, dx);
        bound->Execute();
      });
}

Status ActivateBackward(Activation activation, const float* x, const float* dy, float* dx,
                        std::int64_t count) {
  if (count == 0) return Status::Ok();
  const auto algorithm = detail::EltwiseAlgorithm(activation);
  const auto shape = [&] {
    std::string text = std::to_string(static_cast<int>(algorithm));
    text += ":[";
    text += std::to_string(count);
    return text + "]";
  };
  return detail::GuardLazy(
      [&] { return "activation backward " + shape(); },
      [&] {
        const detail::BoundKey key{
            kEltwiseBackwardOp, static_cast<std::uint64_t>(algorithm), {count, 0, 0, 0}};
        detail::BoundPrimitive* bound = detail::FindBound(key);
        if (bound == nullptr) {
          const dnnl::memory::desc data({count}, dt::f32, tag::a);
          const auto primitive = PrimitiveCache::Instance().Get("eltwise_bwd:" + shape(), [&] {
            const dnnl::eltwise_forward::primitive_desc hint(
                dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, algorithm, data, 0.0f, 0.0f),
                detail::UserScratchpadAttr(), detail::Engine());
            const dnnl::eltwise_backward::primitive_desc pd(
                dnnl::eltwise_backward::desc(algorithm, data, data, 0.0f, 0.0f), detail::UserScratchpadAttr(),
                detail::Engine(), hint);
            return CachedPrimitive{
                dnnl::eltwise_backward(pd), pd.scratchpad_desc(), {}, {}, pd.impl_info_str()};
          });
          // Slots: 0 source (the activation's input), 1 diff destination, 2 diff source.
          bound = &detail::KeepBound(key, detail::BoundPrimitive(primitive, {{DNNL_ARG_SRC, data},
                                                                             {DNNL_ARG_DIFF_DST, data},
                                                                             {DNNL_ARG_DIFF_SRC, data}}));
        }
        bound->Set(0, x);
        bound->Set(1, dy);
        bound->Set(2, dx);
        bound->Execute();
      });
}

Status SoftmaxBackward(const float* y, const float* dy, float* dx, std::int64_t rows, std::int64_t cols) {
  if (rows == 0 || cols == 0) return Status::Ok();
  return detail::GuardLazy(
      [&] { return "softmax backward over " + Shape(rows, cols); },
      [&] {
        const detail::BoundKey key{kSoftmaxBackwardOp, 0, {rows, cols, 0, 0}};
        detail::BoundPrimitive* bound = detail::FindBound(key);
        if (bound == nullptr) {
          const dnnl::memory::desc data({rows, cols}, dt::f32, tag::ab);
          const auto primitive = PrimitiveCache::Instance().Get("softmax_bwd:" + Shape(rows, cols), [&] {
            const dnnl::softmax_forward::primitive_desc hint(
                dnnl::softmax_forward::desc(dnnl::prop_kind::forward_training, data, 1),
                detail::UserScratchpadAttr(), detail::Engine());
            const dnnl::softmax_backward::primitive_desc pd(dnnl::softmax_backward::desc(data, data, 1),
                                                            detail::UserScratchpadAttr(), detail::Engine(),
                                                            hint);
            return CachedPrimitive{
                dnnl::softmax_backward(pd), pd.scratchpad_desc(), {}, {}, pd.impl_info_str()};
          });
          // Slots: 0 destination (the softmax's output), 1 diff destination, 2 diff source.
          bound = &detail::KeepBound(key, detail::BoundPrimitive(primitive, {{DNNL_ARG_DST, data},
                                                                             {DNNL_ARG_DIFF_DST, data},
                                                                             {DNNL_ARG_DIFF_SRC, data}}));
        }
        bound->Set(0, y);
        bound->Set(1, dy);
        bound->Set(2, dx);
        bound->Execute();
      });
}

Status LayerNormBackward(const float* x, const float* dy, std::int64_t rows, std::int64_t cols,
                         const float* gamma, float eps, float* dx) {
  if (rows == 0 || cols == 0) return Status::Ok();
  // The statistics the forward primitive would have saved in training mode.
  thread_local std::vector<float> mean, variance;
  mean.resize(static_cast<std::size_t>(rows));
  variance.resize(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    double sum = 0, squares = 0;
    for (std::int64_t c = 0; c < cols; ++c) sum += x[r * cols + c];
    const double m = sum / static_cast<double>(cols);
    for (std::int64_t c = 0; c < cols; ++c) squares += (x[r * cols + c] - m) * (x[r * cols + c] - m);
    mean[static_cast<std::size_t>(r)] = static_cast<float>(m);
    variance[static_cast<std::size_t>(r)] = static_cast<float>(squares / static_cast<double>(cols));
  }
  const auto flags =
      gamma != nullptr ? dnnl::normalization_flags::use_scale : dnnl::normalization_flags::none;
  return detail::GuardLazy(
      [&] { return "layer norm backward over " + Shape(rows, cols); },
      [&] {
        const detail::BoundKey key{kLayerNormBackwardOp,
                                   std::uint64_t{FloatBits(eps)} << 8 | static_cast<unsigned>(flags),
                                   {rows, cols, 0, 0}};
        detail::BoundPrimitive* bound = detail::FindBound(key);
        if (bound == nullptr) {
          const dnnl::memory::desc data({rows, cols}, dt::f32, tag::ab), stats({rows}, dt::f32, tag::a),
              channels({cols}, dt::f32, tag::a);
          const auto primitive = PrimitiveCache::Instance().Get(
              "layer_norm_bwd:" + Shape(rows, cols) + ":" + std::to_string(FloatBits(eps)) + ":" +
                  std::to_string(static_cast<unsigned>(flags)),
              [&] {
                const dnnl::layer_normalization_forward::primitive_desc hint(
                    dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_training, data, eps,
                                                            flags),
                    detail::UserScratchpadAttr(), detail::Engine());
                const dnnl::layer_normalization_backward::primitive_desc pd(
                    dnnl::layer_normalization_backward::desc(dnnl::prop_kind::backward, data, data, eps,
                                                             flags),
                    detail::UserScratchpadAttr(), detail::Engine(), hint);
                return CachedPrimitive{
                    dnnl::layer_normalization_backward(pd), pd.scratchpad_desc(), {}, {}, pd.impl_info_str()};
              });
          // Slots: 0 source, 1 mean, 2 variance, 3 diff destination, 4 diff source, then with a scale 5 the
          // scale and 6 its gradient (oneDNN 2.6 implements the scaled backward only with the scale's
          // gradient, prop_kind::backward; it is computed and thrown away).
          std::vector<std::pair<int, dnnl::memory::desc>> args{{DNNL_ARG_SRC, data},
                                                               {DNNL_ARG_MEAN, stats},
                                                               {DNNL_ARG_VARIANCE, stats},
                                                               {DNNL_ARG_DIFF_DST, data},
                                                               {DNNL_ARG_DIFF_SRC, data}};
          if (gamma != nullptr) {
            args.emplace_back(DNNL_ARG_SCALE, channels);
            args.emplace_back(DNNL_ARG_DIFF_SCALE, channels);
          }
          bound = &detail::KeepBound(key, detail::BoundPrimitive(primitive, args));
        }
        bound->Set(0, x);
        bound->Set(1, mean.data());
        bound->Set(2, variance.data());
        bound->Set(3, dy);
        bound->Set(4, dx);
        thread_local std::vector<float> scale_gradient;
        if (gamma != nullptr) {
          scale_gradient.resize(static_cast<std::size_t>(cols));
          bound->Set(5, gamma);
          bound->Set(6, scale_gradient.data());
        }
        bound->Execute();
      });
}

}  // namespace loupe::nn
