// The tensor ops ONNX graphs need beyond the layers (see ops.hpp): element-wise maps, an out-of-place
// softmax and a matmul over batches of matrices in any strided layout, on oneDNN's primitives with the same
// threading rules as the other ops (one thread per caller, user scratchpad, per-thread bound primitives).
#include <cstring>
#include <vector>

#include "nn/ops.hpp"
#include "nn/runtime.hpp"

namespace loupe::nn {

using detail::CachedPrimitive;
using detail::FloatBits;
using detail::PrimitiveCache;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

namespace {

// These ops' keys in the calling thread's table of bound primitives, apart from ops.cpp's (1..5) and
// backward.cpp's (101..).
enum TensorOp : int { kMapOp = 201, kSoftmaxIntoOp, kStridedMatmulOp };

dnnl::algorithm MapAlgorithm(Map map) {
  switch (map) {
    case Map::kRelu:
      return dnnl::algorithm::eltwise_relu;
    case Map::kExp:
      return dnnl::algorithm::eltwise_exp;
    case Map::kLog:
      return dnnl::algorithm::eltwise_log;
    case Map::kSqrt:
      return dnnl::algorithm::eltwise_sqrt;
    case Map::kAbs:
      return dnnl::algorithm::eltwise_abs;
    case Map::kTanh:
      return dnnl::algorithm::eltwise_tanh;
    case Map::kSigmoid:
      return dnnl::algorithm::eltwise_logistic;
    case Map::kGeluErf:
      return dnnl::algorithm::eltwise_gelu_erf;
    case Map::kGeluTanh:
      return dnnl::algorithm::eltwise_gelu_tanh;
    case Map::kLinear:
      return dnnl::algorithm::eltwise_linear;
  }
  return dnnl::algorithm::eltwise_linear;
}

// The memory descriptor of a batch of [rows, cols] matrices in `strides` (batch 1 when broadcast).
dnnl::memory::desc StridedDesc(const MatrixStrides& strides, std::int64_t batch, std::int64_t rows,
                               std::int64_t cols) {
  const std::int64_t dims0 = strides.batch == 0 ? 1 : batch;
  const std::int64_t batch_stride = strides.batch == 0 ? rows * cols : strides.batch;
  return dnnl::memory::desc({dims0, rows, cols}, dt::f32, {batch_stride, strides.row, strides.col});
}

// Copies a strided batch of [rows, cols] matrices into contiguous storage (one matrix when broadcast).
void PackMatrices(const float* from, const MatrixStrides& strides, std::int64_t batch, std::int64_t rows,
                  std::int64_t cols, float* to) {
  const std::int64_t count = strides.batch == 0 ? 1 : batch;
  for (std::int64_t i = 0; i < count; ++i) {
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* row = from + i * strides.batch + r * strides.row;
      float* out = to + (i * rows + r) * cols;
      if (strides.col == 1) {
        std::memcpy(out, row, static_cast<std::size_t>(cols) * sizeof(float));
      } else {
        for (std::int64_t c = 0; c < cols; ++c) out[c] = row[c * strides.col];
      }
    }
  }
}

void UnpackMatrices(const float* from, std::int64_t batch, std::int64_t rows, std::int64_t cols, float* to,
                    const MatrixStrides& strides) {
  for (std::int64_t i = 0; i < batch; ++i) {
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* row = from + (i * rows + r) * cols;
      float* out = to + i * strides.batch + r * strides.row;
      if (strides.col == 1) {
        std::memcpy(out, row, static_cast<std::size_t>(cols) * sizeof(float));
      } else {
        for (std::int64_t c = 0; c < cols; ++c) out[c * strides.col] = row[c];
      }
    }
  }
}

bool IsContiguous(const MatrixStrides& strides, std::int64_t rows, std::int64_t cols) {
  return strides.col == 1 && strides.row == cols && (strides.batch == 0 || strides.batch == rows * cols);
}

// A per-thread buffer for the packed operands of a matmul oneDNN cannot read in place.
std::vector<float>& PackBuffer(int which) {
  thread_local std::vector<float> buffers[3];
  return buffers[which];
}

}  // namespace

Status ApplyMap(Map map, const float* x, float* y, std::int64_t count, float alpha, float beta) {
  if (count == 0) return Status::Ok();
  const auto algorithm = MapAlgorithm(map);
  const auto shape = [&] {
    return std::to_string(static_cast<int>(algorithm)) + ":" + detail::Dims({count}) + ":" +
           detail::FloatKey(alpha) + ":" + detail::FloatKey(beta);
  };
  return detail::GuardLazy(
      [&] { return "element-wise map " + shape(); },
      [&] {
        const detail::BoundKey key{
            kMapOp,
            static_cast<std::uint64_t>(algorithm),
            {count, static_cast<std::int64_t>(FloatBits(alpha)), static_cast<std::int64_t>(FloatBits(beta))}};
        detail::BoundPrimitive* bound = detail::FindBound(key);
        if (bound == nullptr) {
          const dnnl::memory::desc data({count}, dt::f32, tag::a);
          const auto primitive = PrimitiveCache::Instance().Get("map:" + shape(), [&] {
            const dnnl::eltwise_forward::primitive_desc pd(
                dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, algorithm, data, alpha, beta),
                detail::UserScratchpadAttr(), detail::Engine());
            return CachedPrimitive{
                dnnl::eltwise_forward(pd), pd.scratchpad_desc(), {}, {}, pd.impl_info_str()};
          });
          bound = &detail::KeepBound(
              key, detail::BoundPrimitive(primitive, {{DNNL_ARG_SRC, data}, {DNNL_ARG_DST, data}}));
        }
        bound->Set(0, x);
        bound->Set(1, y);
        bound->Execute();
      });
}

Status SoftmaxInto(const float* x, float* y, std::int64_t rows, std::int64_t cols) {
  if (rows == 0 || cols == 0) return Status::Ok();
  return detail::GuardLazy(
      [&] {
        return "softmax over " + detail::Dims({rows, cols});
      },
      [&] {
        const detail::BoundKey key{kSoftmaxIntoOp, 0, {rows, cols}};
        detail::BoundPrimitive* bound = detail::FindBound(key);
        if (bound == nullptr) {
          const dnnl::memory::desc data({rows, cols}, dt::f32, tag::ab);
          // Also the in-place Softmax of ops.cpp (y = x).
          const auto primitive = PrimitiveCache::Instance().Get("softmax:" + detail::Dims({rows, cols}), [&] {
            const dnnl::softmax_forward::primitive_desc pd(
                dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, data, 1),
                detail::UserScratchpadAttr(), detail::Engine());
            return CachedPrimitive{
                dnnl::softmax_forward(pd), pd.scratchpad_desc(), {}, {}, pd.impl_info_str()};
          });
          bound = &detail::KeepBound(
              key, detail::BoundPrimitive(primitive, {{DNNL_ARG_SRC, data}, {DNNL_ARG_DST, data}}));
        }
        bound->Set(0, x);
        bound->Set(1, y);
        bound->Execute();
      });
}

Status StridedMatmul(const float* a, const MatrixStrides& a_strides, const float* b,
                     const MatrixStrides& b_strides, float* c, const MatrixStrides& c_strides,
                     std::int64_t batch, std::int64_t m, std::int64_t k, std::int64_t n, float alpha) {
  if (batch == 0 || m == 0 || n == 0) return Status::Ok();
  const auto shape = [&] {
    return detail::Dims({batch, m, k}) + detail::Dims({a_strides.batch, a_strides.row, a_strides.col}) +
           " x " + detail::Dims({batch, k, n}) +
           detail::Dims({b_strides.batch, b_strides.row, b_strides.col}) + " -> " +
           detail::Dims({c_strides.batch, c_strides.row, c_strides.col}) + " alpha " +
           detail::FloatKey(alpha);
  };
  bool pack = false;
  Status status = detail::GuardLazy(
      [&] { return "matmul " + shape(); },
      [&] {
        const detail::BoundKey key{
            kStridedMatmulOp,
            FloatBits(alpha),
            {batch, m, k, n, a_strides.batch, a_strides.row, a_strides.col, b_strides.batch, b_strides.row,
             b_strides.col, c_strides.batch, c_strides.row}};
        detail::BoundPrimitive* bound = detail::FindBound(key);
        // c's column stride is not in the key: it is 1, or the matmul is packed below.
        if (c_strides.col != 1) {
          pack = true;
          return;
        }
        if (bound == nullptr) {
          const dnnl::memory::desc src = StridedDesc(a_strides, batch, m, k),
                                   weights = StridedDesc(b_strides, batch, k, n),
                                   dst = StridedDesc(c_strides, batch, m, n);
          const auto primitive = PrimitiveCache::Instance().Get("strided matmul:" + shape(), [&] {
            dnnl::primitive_attr attr = detail::UserScratchpadAttr();
            if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
            const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights, dst), attr,
                                                  detail::Engine());
            CachedPrimitive made;
            made.primitive = dnnl::matmul(pd);
            made.scratchpad = pd.scratchpad_desc();
            made.implementation = pd.impl_info_str();
            return made;
          });
          bound = &detail::KeepBound(
              key, detail::BoundPrimitive(
                       primitive, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}}));
        }
        // oneDNN's reference kernel is orders of magnitude slower than packing the operands.
        if (bound->primitive().implementation.find("ref") != std::string::npos &&
            !(IsContiguous(a_strides, m, k) && IsContiguous(b_strides, k, n) &&
              IsContiguous(c_strides, m, n))) {
          pack = true;
          return;
        }
        bound->Set(0, a);
        bound->Set(1, b);
        bound->Set(2, c);
        bound->Execute();
      });
  if (!status.ok() || !pack) return status;
  // Contiguous copies of whichever operand is not contiguous, then the contiguous matmul.
  const float* a_use = a;
  MatrixStrides a_use_strides = a_strides;
  if (!IsContiguous(a_strides, m, k)) {
    std::vector<float>& buffer = PackBuffer(0);
    buffer.resize(static_cast<std::size_t>((a_strides.batch == 0 ? 1 : batch) * m * k));
    PackMatrices(a, a_strides, batch, m, k, buffer.data());
    a_use = buffer.data();
    a_use_strides = {a_strides.batch == 0 ? 0 : m * k, k, 1};
  }
  const float* b_use = b;
  MatrixStrides b_use_strides = b_strides;
  if (!IsContiguous(b_strides, k, n)) {
    std::vector<float>& buffer = PackBuffer(1);
    buffer.resize(static_cast<std::size_t>((b_strides.batch == 0 ? 1 : batch) * k * n));
    PackMatrices(b, b_strides, batch, k, n, buffer.data());
    b_use = buffer.data();
    b_use_strides = {b_strides.batch == 0 ? 0 : k * n, n, 1};
  }
  const MatrixStrides contiguous_c{m * n, n, 1};
  if (IsContiguous(c_strides, m, n)) {
    return StridedMatmul(a_use, a_use_strides, b_use, b_use_strides, c, contiguous_c, batch, m, k, n, alpha);
  }
  std::vector<float>& out = PackBuffer(2);
  out.resize(static_cast<std::size_t>(batch * m * n));
  LOUPE_RETURN_IF_ERROR(StridedMatmul(a_use, a_use_strides, b_use, b_use_strides, out.data(), contiguous_c,
                                      batch, m, k, n, alpha));
  UnpackMatrices(out.data(), batch, m, n, c, c_strides);
  return Status::Ok();
}

}  // namespace loupe::nn
