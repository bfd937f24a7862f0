// Dense, batched matmul, eltwise, softmax and layer norm on oneDNN (see ops.hpp for the threading rules).
#include "nn/ops.hpp"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "nn/runtime.hpp"

namespace loupe::nn {

using detail::CachedPrimitive;
using detail::PrimitiveCache;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

namespace {

// The ops' keys in the calling thread's table of bound primitives (detail::BoundKey::op).
enum BoundOp : int { kDenseOp = 1, kBatchedMatmulOp, kLayerNormOp };

using detail::Dims;
using detail::FloatBits;
using detail::FloatKey;

// True when the CPU has native bf16 (AVX512-BF16 or AMX) and oneDNN creates a bf16 matmul for it.
bool ProbeBf16() {
  try {
    detail::PinThread();
    const auto isa = dnnl::get_effective_cpu_isa();
    if (isa != dnnl::cpu_isa::avx512_core_bf16 && isa != dnnl::cpu_isa::avx512_core_amx) return false;
    const dnnl::memory::desc src({64, 64}, dt::bf16, tag::ab), weights({64, 64}, dt::bf16, tag::any),
        bias({1, 64}, dt::f32, tag::ab), dst({64, 64}, dt::f32, tag::ab);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights, bias, dst),
                                          detail::UserScratchpadAttr(), detail::Engine());
    return std::string(pd.impl_info_str()).find("ref") == std::string::npos;
  } catch (const dnnl::error&) {
    return false;
  }
}

void NoticeBf16Fallback() {
  static std::atomic<bool> told{false};
  if (!told.exchange(true)) {
    std::fprintf(stderr,
                 "loupe: this CPU has no native bf16 (AVX512-BF16 or AMX); bf16 models compute in f32.\n");
  }
}

CachedPrimitive MakeMatmul(const dnnl::memory::desc& src, const dnnl::memory::desc& weights,
                           const dnnl::memory::desc& bias, const dnnl::memory::desc& dst,
                           const dnnl::primitive_attr& attr) {
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights, bias, dst), attr, detail::Engine());
  CachedPrimitive made;
  made.primitive = dnnl::matmul(pd);
  made.scratchpad = pd.scratchpad_desc();
  made.weights = pd.weights_desc();
  made.implementation = pd.impl_info_str();
  return made;
}

}  // namespace

bool Bf16Supported() {
  static const bool supported = ProbeBf16();
  return supported;
}

// Weights reordered into the layouts the matmul primitives chose. The layout can differ with the batch
// size (and differs with precision), so there is one reordered copy per layout, made on first use.
struct DenseLayer::Prepared {
  std::mutex mutex;
  std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> weights;

  dnnl::memory WeightsFor(const dnnl::memory::desc& layout, const std::vector<float>& weight, std::int64_t in,
                          std::int64_t out) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& [desc, memory] : weights) {
      if (desc == layout) return memory;
    }
    // PyTorch's [out, in] row-major is the [in, out] matrix matmul wants, stored column-major (ba).
    const dnnl::memory::desc user({in, out}, dt::f32, tag::ba);
    dnnl::memory reordered(layout, detail::Engine());
    const dnnl::reorder::primitive_desc pd(detail::Engine(), user, detail::Engine(), layout,
                                           detail::UserScratchpadAttr());
    detail::Execute(dnnl::reorder(pd), pd.scratchpad_desc(),
                    {{DNNL_ARG_FROM, detail::Wrap(user, weight.data())}, {DNNL_ARG_TO, reordered}});
    weights.emplace_back(layout, reordered);
    return reordered;
  }
};

DenseLayer::DenseLayer(std::int64_t in, std::int64_t out, std::vector<float> weight, std::vector<float> bias)
    : in_(in),
      out_(out),
      weight_(std::move(weight)),
      bias_(std::move(bias)),
      prepared_(std::make_unique<Prepared>()),
      id_(detail::NextOwnerId()) {}
DenseLayer::~DenseLayer() = default;
DenseLayer::DenseLayer(DenseLayer&&) noexcept = default;
DenseLayer& DenseLayer::operator=(DenseLayer&&) noexcept = default;

// Steady state: one lookup in the thread's bound primitives, two data pointers set, one execution.
Status DenseLayer::Forward(const float* x, std::int64_t n, float* y, Precision precision) const {
  if (n == 0) return Status::Ok();
  const bool bf16 = precision == Precision::kBF16 && Bf16Supported();
  if (precision == Precision::kBF16 && !bf16) NoticeBf16Fallback();
  const auto shape = [&] { return Dims({n, in_}) + " x " + Dims({out_, in_}) + (bf16 ? " bf16" : " f32"); };
  return detail::GuardLazy(
      [&] { return "dense layer " + shape(); },
      [&] {
        const detail::BoundKey key{kDenseOp, id_, {n, bf16 ? 1 : 0, 0, 0}};
        detail::BoundPrimitive* bound = detail::FindBound(key);
        if (bound == nullptr) {
          const dt input_type = bf16 ? dt::bf16 : dt::f32;
          const dnnl::memory::desc src({n, in_}, input_type, tag::ab), dst({n, out_}, dt::f32, tag::ab);
          const dnnl::memory::desc bias =
              bias_.empty() ? dnnl::memory::desc() : dnnl::memory::desc({1, out_}, dt::f32, tag::ab);
          const auto primitive =
              PrimitiveCache::Instance().Get("matmul:" + shape() + (bias_.empty() ? "" : " bias"), [&] {
                return MakeMatmul(src, dnnl::memory::desc({in_, out_}, input_type, tag::any), bias, dst,
                                  detail::UserScratchpadAttr());
              });
          // Slots: 0 source, 1 destination, 2 weights, 3 bias.
          std::vector<std::pair<int, dnnl::memory::desc>> args{
              {DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WEIGHTS, primitive->weights}};
          if (!bias_.empty()) args.emplace_back(DNNL_ARG_BIAS, bias);
          detail::BoundPrimitive made(primitive, args);
          made.SetMemory(2, prepared_->WeightsFor(primitive->weights, weight_, in_, out_));
          if (!bias_.empty()) made.Set(3, bias_.data());
          bound = &detail::KeepBound(key, std::move(made));
        }
        thread_local std::vector<std::uint16_t> converted;
        if (bf16) {
          converted.resize(static_cast<std::size_t>(n * in_));
          detail::ToBf16(x, converted.size(), converted.data());
          bound->Set(0, converted.data());
        } else {
          bound->Set(0, x);
        }
        bound->Set(1, y);
        bound->Execute();
        // The bf16 copy of a huge batch is not kept for the thread's next call (as the scratchpad).
        if (converted.capacity() * sizeof(std::uint16_t) > (std::size_t{16} << 20)) {
          std::vector<std::uint16_t>().swap(converted);
        }
      });
}

Status BatchedMatmul(const float* a, const float* b, float* c, std::int64_t batch, std::int64_t m,
                     std::int64_t k, std::int64_t n, bool transpose_b, float alpha) {
  if (batch == 0 || m == 0 || n == 0) return Status::Ok();
  const auto shape = [&] {
    return Dims({batch, m, k}) + " x " + (transpose_b ? Dims({batch, n, k}) + "^T" : Dims({batch, k, n}));
  };
  return detail::GuardLazy(
      [&] { return "batched matmul " + shape(); },
      [&] {
        const detail::BoundKey key{
            kBatchedMatmulOp, FloatBits(alpha) << 1 | (transpose_b ? 1u : 0u), {batch, m, k, n}};
        detail::BoundPrimitive* bound = detail::FindBound(key);
        if (bound == nullptr) {
          const dnnl::memory::desc src({batch, m, k}, dt::f32, tag::abc),
              dst({batch, m, n}, dt::f32, tag::abc);
          // A transposed b is the [batch, k, n] matrix stored as [batch, n, k]: format acb.
          const dnnl::memory::desc weights({batch, k, n}, dt::f32, transpose_b ? tag::acb : tag::abc);
          const auto primitive =
              PrimitiveCache::Instance().Get("bmm:" + shape() + " alpha " + FloatKey(alpha), [&] {
                dnnl::primitive_attr attr = detail::UserScratchpadAttr();
                if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
                return MakeMatmul(src, weights, dnnl::memory::desc(), dst, attr);
              });
          bound = &detail::KeepBound(
              key, detail::BoundPrimitive(
                       primitive, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}}));
        }
        bound->Set(0, a);
        bound->Set(1, b);
        bound->Set(2, c);
        bound->Execute();
      });
}

namespace detail {

dnnl::algorithm EltwiseAlgorithm(Activation activation) {
  switch (activation) {
    case Activation::kRelu:
      return dnnl::algorithm::eltwise_relu;
    case Activation::kGeluErf:
      return dnnl::algorithm::eltwise_gelu_erf;
    case Activation::kGeluTanh:
      return dnnl::algorithm::eltwise_gelu_tanh;
    case Activation::kTanh:
      return dnnl::algorithm::eltwise_tanh;
    case Activation::kSigmoid:
      return dnnl::algorithm::eltwise_logistic;
  }
  return dnnl::algorithm::eltwise_relu;
}

}  // namespace detail

// In place: the element-wise map of the same oneDNN algorithm with y = x.
Status Activate(Activation activation, float* x, std::int64_t count) {
  const Map map = activation == Activation::kRelu       ? Map::kRelu
                  : activation == Activation::kGeluErf  ? Map::kGeluErf
                  : activation == Activation::kGeluTanh ? Map::kGeluTanh
                  : activation == Activation::kTanh     ? Map::kTanh
                                                        : Map::kSigmoid;
  return ApplyMap(map, x, x, count);
}

Status Softmax(float* x, std::int64_t rows, std::int64_t cols) { return SoftmaxInto(x, x, rows, cols); }

Status LayerNorm(const float* x, std::int64_t rows, std::int64_t cols, const float* gamma, const float* beta,
                 float eps, float* y) {
  if (rows == 0 || cols == 0) return Status::Ok();
  auto flags = dnnl::normalization_flags::none;
  if (gamma != nullptr) flags |= dnnl::normalization_flags::use_scale;
  if (beta != nullptr) flags |= dnnl::normalization_flags::use_shift;
  return detail::GuardLazy(
      [&] {
        return "layer norm over " + Dims({rows, cols});
      },
      [&] {
        const detail::BoundKey key{
            kLayerNormOp, FloatBits(eps) << 8 | static_cast<unsigned>(flags), {rows, cols, 0, 0}};
        detail::BoundPrimitive* bound = detail::FindBound(key);
        if (bound == nullptr) {
          const dnnl::memory::desc data({rows, cols}, dt::f32, tag::ab), channels({cols}, dt::f32, tag::a);
          const auto primitive = PrimitiveCache::Instance().Get(
              "layer_norm:" + Dims({rows, cols}) + ":" + FloatKey(eps) + ":" +
                  std::to_string(static_cast<unsigned>(flags)),
              [&] {
                const dnnl::layer_normalization_forward::primitive_desc pd(
                    dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_inference, data, eps,
                                                            flags),
                    detail::UserScratchpadAttr(), detail::Engine());
                return CachedPrimitive{
                    dnnl::layer_normalization_forward(pd), pd.scratchpad_desc(), {}, {}, pd.impl_info_str()};
              });
          // Slots: 0 source, 1 destination, 2 scale, 3 shift (each only when given).
          std::vector<std::pair<int, dnnl::memory::desc>> args{{DNNL_ARG_SRC, data}, {DNNL_ARG_DST, data}};
          if (gamma != nullptr) args.emplace_back(DNNL_ARG_SCALE, channels);
          if (beta != nullptr) args.emplace_back(DNNL_ARG_SHIFT, channels);
          bound = &detail::KeepBound(key, detail::BoundPrimitive(primitive, args));
        }
        bound->Set(0, x);
        bound->Set(1, y);
        std::size_t slot = 2;
        if (gamma != nullptr) bound->Set(slot++, gamma);
        if (beta != nullptr) bound->Set(slot, beta);
        bound->Execute();
      });
}

}  // namespace loupe::nn
