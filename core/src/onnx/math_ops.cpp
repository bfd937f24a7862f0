// The numeric operators of networks exported by torch.onnx.export: element-wise maths with NumPy
// broadcasting, Gemm and MatMul (on the nn runtime's oneDNN dense layer and batched matmul when the
// weights are constants), Softmax, LogSoftmax, LayerNormalization, BatchNormalization (inference),
// Cast, Identity, Dropout (inference) and Constant. Float tensors are computed in float32 as ONNX
// Runtime does; integer tensors (shape arithmetic) in int64.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>

#include "nn/ops.hpp"
#include "onnx/ops.hpp"

namespace loupe::onnx {

namespace {

// ---- Unary element-wise ------------------------------------------------------------------------------

using UnaryFn = float (*)(float, float);  // (x, the op's attribute): the double path, element by element

float ErfGelu(float x) { return 0.5f * x * (1.0f + std::erf(x / std::sqrt(2.0f))); }
float TanhGelu(float x) {
  const float k = std::sqrt(2.0f / 3.14159265358979323846f);
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

// How a float tensor is mapped: by one of oneDNN's JIT eltwise algorithms (nn::ApplyMap), or, for Erf, which
// oneDNN lacks, by ErfFloats below.
struct FloatMap {
  bool erf = false;
  nn::Map map = nn::Map::kLinear;
  float alpha = 0.0f, beta = 0.0f;
  bool scalar = false;  // element by element with the C library's function (oneDNN's is less accurate)
};

// erf over float32 as a branch-free rational function the compiler vectorises: x·P(x²)/Q(x²) on x clamped
// to [-4, 4] (beyond, erf is ±1 in float32), with the minimax coefficients of the Eigen / XLA float erf.
// Within 5e-7 of the exact erf everywhere (4 float32 steps near ±1; tests/core/onnx checks it against
// std::erf), as ONNX Runtime's own vectorised approximation is.
template <typename T>
T ErfRational(T v, T v2) {
  T p = v2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = v2 * p + -2.10102402082508e-06f;
  p = v2 * p + -5.69250639462346e-05f;
  p = v2 * p + -7.34990630326855e-04f;
  p = v2 * p + -2.95459980854025e-03f;
  p = v2 * p + -1.60960333262415e-02f;
  T q = v2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
  q = v2 * q + -1.68282697438203e-03f;
  q = v2 * q + -7.37332916720468e-03f;
  q = v2 * q + -1.42647390514189e-02f;
  return v * p / q;
}

void ErfFloats(const float* x, float* y, std::int64_t count) {
  // Four lanes at a time in GCC's vector extension (SSE2 on any x86-64; the same operations, so the same
  // bits, as the scalar tail).
  using Lanes = float __attribute__((vector_size(16)));
  std::int64_t i = 0;
  for (; i + 4 <= count; i += 4) {
    Lanes v;
    std::memcpy(&v, x + i, sizeof v);
    const Lanes four = {4.0f, 4.0f, 4.0f, 4.0f};
    v = v > four ? four : v;  // NaN stays NaN
    v = v < -four ? -four : v;
    const Lanes r = ErfRational(v, v * v);
    std::memcpy(y + i, &r, sizeof r);
  }
  for (; i < count; ++i) {
    float v = x[i] > 4.0f ? 4.0f : x[i];
    v = v < -4.0f ? -4.0f : v;
    y[i] = ErfRational(v, v * v);
  }
}

Result<std::unique_ptr<Kernel>> MakeUnary(const KernelBuild& build, UnaryFn fn, float attribute,
                                          FloatMap map) {
  return MakeKernel(build.node,
                    [fn, attribute, map](const Node& node, const std::vector<const Value*>& in,
                                         std::vector<Value>& out, const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
                      if (in[0]->type != DataType::kFloat && in[0]->type != DataType::kDouble) {
                        return NodeError(node, "expects a float tensor, found " +
                                                   std::string(DataTypeName(in[0]->type)) + ".");
                      }
                      if (in[0]->type == DataType::kDouble) {
                        Value y = *in[0];
                        for (double& v : y.d) v = fn(static_cast<float>(v), attribute);
                        out[0] = std::move(y);
                        return Status::Ok();
                      }
                      Value y = UninitializedFloats(in[0]->shape);
                      const auto count = static_cast<std::int64_t>(y.f.size());
                      if (map.erf) {
                        ErfFloats(in[0]->f.data(), y.f.data(), count);
                      } else if (map.scalar) {
                        const float* x = in[0]->f.data();
                        for (std::int64_t k = 0; k < count; ++k)
                          y.f[static_cast<std::size_t>(k)] = fn(x[k], attribute);
                      } else {
                        LOUPE_RETURN_IF_ERROR(
                            nn::ApplyMap(map.map, in[0]->f.data(), y.f.data(), count, map.alpha, map.beta));
                      }
                      out[0] = std::move(y);
                      return Status::Ok();
                    });
}

#define LOUPE_UNARY(NAME, EXPR, MAP)                                     \
  Result<std::unique_ptr<Kernel>> Make##NAME(const KernelBuild& build) { \
    return MakeUnary(                                                    \
        build, [](float x, float) -> float { return EXPR; }, 0.0f, MAP); \
  }
LOUPE_UNARY(Relu, x > 0.0f ? x : 0.0f, (FloatMap{false, nn::Map::kRelu}))
LOUPE_UNARY(Sigmoid, 1.0f / (1.0f + std::exp(-x)), (FloatMap{false, nn::Map::kSigmoid}))
LOUPE_UNARY(Tanh, std::tanh(x), (FloatMap{false, nn::Map::kTanh}))
LOUPE_UNARY(Exp, std::exp(x), (FloatMap{false, nn::Map::kExp}))
LOUPE_UNARY(Log, std::log(x), (FloatMap{false, nn::Map::kLinear, 0.0f, 0.0f, true}))
LOUPE_UNARY(Neg, -x, (FloatMap{false, nn::Map::kLinear, -1.0f, 0.0f}))
LOUPE_UNARY(Abs, std::abs(x), (FloatMap{false, nn::Map::kAbs}))
LOUPE_UNARY(Sqrt, std::sqrt(x), (FloatMap{false, nn::Map::kSqrt}))
LOUPE_UNARY(Erf, std::erf(x), (FloatMap{true}))
#undef LOUPE_UNARY

Result<std::unique_ptr<Kernel>> MakeLeakyRelu(const KernelBuild& build) {
  const float alpha = FloatAttr(build.node, "alpha", 0.01f);
  return MakeUnary(
      build, [](float x, float a) { return x >= 0.0f ? x : a * x; }, alpha,
      FloatMap{false, nn::Map::kRelu, alpha, 0.0f});
}

Result<std::unique_ptr<Kernel>> MakeGelu(const KernelBuild& build) {
  const std::string approximate = StringAttr(build.node, "approximate", "none");
  if (approximate == "tanh")
    return MakeUnary(
        build, [](float x, float) { return TanhGelu(x); }, 0.0f, FloatMap{false, nn::Map::kGeluTanh});
  return MakeUnary(
      build, [](float x, float) { return ErfGelu(x); }, 0.0f, FloatMap{false, nn::Map::kGeluErf});
}

// ---- Binary element-wise with broadcasting -------------------------------------------------------------

Result<std::vector<std::int64_t>> BroadcastShape(const Node& node, const std::vector<std::int64_t>& a,
                                                 const std::vector<std::int64_t>& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  std::vector<std::int64_t> out(rank);
  for (std::size_t k = 0; k < rank; ++k) {
    const std::int64_t da = k < rank - a.size() ? 1 : a[k - (rank - a.size())];
    const std::int64_t db = k < rank - b.size() ? 1 : b[k - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      return NodeError(node, "the shapes " + ShapeText(a) + " and " + ShapeText(b) + " do not broadcast.");
    }
    out[k] = da == 1 ? db : da;
  }
  return out;
}

// For each output element, the index of the element of `shape` (broadcast to `out`) it reads.
std::vector<std::int64_t> BroadcastIndex(const std::vector<std::int64_t>& shape,
                                         const std::vector<std::int64_t>& out) {
  const std::size_t rank = out.size();
  std::vector<std::int64_t> stride(rank, 0);
  std::int64_t step = 1;
  for (std::size_t k = rank; k-- > rank - shape.size();) {
    const std::int64_t d = shape[k - (rank - shape.size())];
    stride[k] = d == 1 ? 0 : step;
    step *= d;
  }
  const std::int64_t n = ElementCount(out);
  std::vector<std::int64_t> index(static_cast<std::size_t>(n));
  std::vector<std::int64_t> counter(rank, 0);
  std::int64_t at = 0;
  for (std::int64_t e = 0; e < n; ++e) {
    index[static_cast<std::size_t>(e)] = at;
    for (std::size_t k = rank; k-- > 0;) {
      at += stride[k];
      if (++counter[k] < out[k]) break;
      at -= stride[k] * counter[k];
      counter[k] = 0;
    }
  }
  return index;
}

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kPow };

template <typename T>
T Apply(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSub:
      return a - b;
    case BinaryOp::kMul:
      return a * b;
    case BinaryOp::kDiv:
      return b == T(0) && std::is_integral_v<T> ? T(0) : a / b;
    case BinaryOp::kPow:
      return static_cast<T>(std::pow(a, b));
  }
  return a;
}

// y = whole ∘ block (or block ∘ whole when block_first), `block` repeating every `bn` elements of `whole`:
// the operator is chosen once and the loops are plain, so the compiler vectorises them.
template <typename T, typename F>
void BlockLoop(const T* whole, const T* block, std::int64_t n, std::int64_t bn, bool block_first, T* y, F f) {
  if (bn == 1) {
    const T scalar = block[0];
    if (block_first) {
      for (std::int64_t k = 0; k < n; ++k) y[k] = f(scalar, whole[k]);
    } else {
      for (std::int64_t k = 0; k < n; ++k) y[k] = f(whole[k], scalar);
    }
    return;
  }
  for (std::int64_t base = 0; base < n; base += bn) {
    const T* w = whole + base;
    T* out = y + base;
    if (block_first) {
      for (std::int64_t j = 0; j < bn; ++j) out[j] = f(block[j], w[j]);
    } else {
      for (std::int64_t j = 0; j < bn; ++j) out[j] = f(w[j], block[j]);
    }
  }
}

template <typename T>
void ApplyOverBlocks(BinaryOp op, const T* whole, const T* block, std::int64_t n, std::int64_t bn,
                     bool block_first, T* y) {
  switch (op) {
    case BinaryOp::kAdd:
      return BlockLoop(whole, block, n, bn, block_first, y, [](T u, T v) { return u + v; });
    case BinaryOp::kSub:
      return BlockLoop(whole, block, n, bn, block_first, y, [](T u, T v) { return u - v; });
    case BinaryOp::kMul:
      return BlockLoop(whole, block, n, bn, block_first, y, [](T u, T v) { return u * v; });
    case BinaryOp::kDiv:
      if constexpr (std::is_floating_point_v<T>)
        return BlockLoop(whole, block, n, bn, block_first, y, [](T u, T v) { return u / v; });
      else
        return BlockLoop(whole, block, n, bn, block_first, y, [op](T u, T v) { return Apply(op, u, v); });
    case BinaryOp::kPow:
      return BlockLoop(whole, block, n, bn, block_first, y, [op](T u, T v) { return Apply(op, u, v); });
  }
}

// Whether a tensor of shape `small` repeats over `out` as one trailing block: its dimensions, leading 1s
// dropped, are the last dimensions of `out` (a bias [D] or [1, 1, D] over [N, T, D], a scalar).
bool IsTrailingBlock(const std::vector<std::int64_t>& small, const std::vector<std::int64_t>& out) {
  std::size_t first = 0;
  while (first < small.size() && small[first] == 1) ++first;
  const std::size_t rank = small.size() - first;
  return rank <= out.size() && std::equal(small.begin() + static_cast<std::ptrdiff_t>(first), small.end(),
                                          out.end() - static_cast<std::ptrdiff_t>(rank));
}

template <typename T>
void Elementwise(BinaryOp op, const std::vector<T>& a, const std::vector<T>& b,
                 const std::vector<std::int64_t>& as, const std::vector<std::int64_t>& bs,
                 const std::vector<std::int64_t>& os, std::vector<T>& y) {
  const std::int64_t n = ElementCount(os);
  y.resize(static_cast<std::size_t>(n));
  const auto an = static_cast<std::int64_t>(a.size()), bn = static_cast<std::int64_t>(b.size());
  // The hot cases: one operand is the whole output and the other is the same, a scalar or a trailing block
  // (a bias, a per-feature mean, a positional table), on either side (torch exports Add(bias, x)).
  if (ElementCount(as) == n && bn > 0 && n % bn == 0 && IsTrailingBlock(bs, os)) {
    ApplyOverBlocks(op, a.data(), b.data(), n, bn, false, y.data());
    return;
  }
  if (ElementCount(bs) == n && an > 0 && n % an == 0 && IsTrailingBlock(as, os)) {
    ApplyOverBlocks(op, b.data(), a.data(), n, an, true, y.data());
    return;
  }
  const std::vector<std::int64_t> ia = BroadcastIndex(as, os), ib = BroadcastIndex(bs, os);
  for (std::int64_t k = 0; k < n; ++k) {
    const auto e = static_cast<std::size_t>(k);
    y[e] = Apply(op, a[static_cast<std::size_t>(ia[e])], b[static_cast<std::size_t>(ib[e])]);
  }
}

Result<std::unique_ptr<Kernel>> MakeBinary(const KernelBuild& build, BinaryOp op) {
  return MakeKernel(
      build.node,
      [op](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
           const RunContext&) -> Status {
        LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
        LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 1));
        const Value& a = *in[0];
        const Value& b = *in[1];
        LOUPE_ASSIGN_OR_RETURN(std::vector<std::int64_t> shape, BroadcastShape(node, a.shape, b.shape));
        Value y;
        y.shape = shape;
        if (a.type == DataType::kFloat && (b.type == DataType::kFloat || op == BinaryOp::kPow)) {
          y.type = DataType::kFloat;
          y.f = std::move(UninitializedFloats(shape).f);  // Elementwise writes every element
          if (b.type == DataType::kFloat) {
            Elementwise(op, a.f, b.f, a.shape, b.shape, shape, y.f);
          } else {
            std::vector<float> bf = AsFloats(b);
            Elementwise(op, a.f, bf, a.shape, b.shape, shape, y.f);
            RecycleFloats(std::move(bf));
          }
        } else if (a.type == DataType::kDouble && b.type == DataType::kDouble) {
          y.type = DataType::kDouble;
          Elementwise(op, a.d, b.d, a.shape, b.shape, shape, y.d);
        } else if (IsIntegral(a.type) && IsIntegral(b.type)) {
          y.type = a.type;
          Elementwise(op, a.i, b.i, a.shape, b.shape, shape, y.i);
        } else {
          return NodeError(node, "mixes a " + std::string(DataTypeName(a.type)) + " and a " +
                                     DataTypeName(b.type) + " tensor.");
        }
        out[0] = std::move(y);
        return Status::Ok();
      });
}

Result<std::unique_ptr<Kernel>> MakeAdd(const KernelBuild& b) { return MakeBinary(b, BinaryOp::kAdd); }
Result<std::unique_ptr<Kernel>> MakeSub(const KernelBuild& b) { return MakeBinary(b, BinaryOp::kSub); }
Result<std::unique_ptr<Kernel>> MakeMul(const KernelBuild& b) { return MakeBinary(b, BinaryOp::kMul); }
Result<std::unique_ptr<Kernel>> MakeDiv(const KernelBuild& b) { return MakeBinary(b, BinaryOp::kDiv); }
Result<std::unique_ptr<Kernel>> MakePow(const KernelBuild& b) { return MakeBinary(b, BinaryOp::kPow); }

// ---- Gemm and MatMul ------------------------------------------------------------------------------------

// A dense layer (weight [out, in], bias [out]) on the nn runtime: rows of `x` [..., in] → [..., out].
Status RunDense(const Node& node, const nn::DenseLayer& layer, const Value& x, std::vector<Value>& out,
                nn::Precision precision) {
  if (x.type != DataType::kFloat || x.shape.empty() || x.shape.back() != layer.in()) {
    return NodeError(node, "multiplies a " + std::string(DataTypeName(x.type)) + " tensor " +
                               ShapeText(x.shape) + " by weights of " + std::to_string(layer.in()) +
                               " inputs: the shapes disagree.");
  }
  std::vector<std::int64_t> shape = x.shape;
  shape.back() = layer.out();
  Value y = UninitializedFloats(shape);
  const std::int64_t rows = x.size() / layer.in();
  if (rows > 0) LOUPE_RETURN_IF_ERROR(layer.Forward(x.f.data(), rows, y.f.data(), precision));
  out[0] = std::move(y);
  return Status::Ok();
}

// y [M, N] = alpha · op(A) · op(B) + beta · C, in double, for the cases the dense layer does not cover.
Status GenericGemm(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
  LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
  LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 1));
  const Value& a = *in[0];
  const Value& b = *in[1];
  const bool ta = IntAttr(node, "transA", 0) != 0, tb = IntAttr(node, "transB", 0) != 0;
  const float alpha = FloatAttr(node, "alpha", 1.0f), beta = FloatAttr(node, "beta", 1.0f);
  if (a.shape.size() != 2 || b.shape.size() != 2)
    return NodeError(node,
                     "expects matrices, found " + ShapeText(a.shape) + " and " + ShapeText(b.shape) + ".");
  const std::int64_t m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1];
  const std::int64_t kb = tb ? b.shape[1] : b.shape[0], n = tb ? b.shape[0] : b.shape[1];
  if (k != kb) {
    return NodeError(node, "multiplies " + ShapeText(a.shape) + " by " + ShapeText(b.shape) +
                               ": the inner dimensions " + std::to_string(k) + " and " + std::to_string(kb) +
                               " disagree.");
  }
  const std::vector<float> af = AsFloats(a), bf = AsFloats(b);
  std::vector<float> c;
  std::vector<std::int64_t> ci;
  if (in.size() > 2 && in[2] != nullptr) {
    LOUPE_ASSIGN_OR_RETURN(auto shape, BroadcastShape(node, in[2]->shape, {m, n}));
    if (shape != std::vector<std::int64_t>{m, n})
      return NodeError(node, "C " + ShapeText(in[2]->shape) + " does not broadcast to [M, N].");
    c = AsFloats(*in[2]);
    ci = BroadcastIndex(in[2]->shape, {m, n});
  }
  Value y = Value::Zeros(DataType::kFloat, {m, n});
  for (std::int64_t r = 0; r < m; ++r) {
    for (std::int64_t col = 0; col < n; ++col) {
      double sum = 0.0;
      for (std::int64_t j = 0; j < k; ++j) {
        sum += static_cast<double>(af[static_cast<std::size_t>(ta ? j * m + r : r * k + j)]) *
               bf[static_cast<std::size_t>(tb ? col * k + j : j * n + col)];
      }
      double v = alpha * sum;
      if (!c.empty()) v += beta * c[static_cast<std::size_t>(ci[static_cast<std::size_t>(r * n + col)])];
      y.f[static_cast<std::size_t>(r * n + col)] = static_cast<float>(v);
    }
  }
  out[0] = std::move(y);
  return Status::Ok();
}

// [rows, cols] → [cols, rows].
std::vector<float> Transposed(const std::vector<float>& x, std::int64_t rows, std::int64_t cols) {
  std::vector<float> t(x.size());
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      t[static_cast<std::size_t>(c * rows + r)] = x[static_cast<std::size_t>(r * cols + c)];
  return t;
}

Result<std::unique_ptr<Kernel>> MakeGemm(const KernelBuild& build) {
  const Node& node = build.node;
  const Value* b = build.constants.size() > 1 ? build.constants[1] : nullptr;
  const Value* c = build.constants.size() > 2 ? build.constants[2] : nullptr;
  const bool has_c = node.inputs.size() > 2 && !node.inputs[2].empty();
  const bool dense = b != nullptr && b->shape.size() == 2 && IntAttr(node, "transA", 0) == 0 &&
                     FloatAttr(node, "alpha", 1.0f) == 1.0f &&
                     (!has_c || FloatAttr(node, "beta", 1.0f) == 1.0f) && (!has_c || c != nullptr);
  const bool tb = IntAttr(node, "transB", 0) != 0;
  const std::int64_t n = b == nullptr || b->shape.size() != 2 ? 0 : (tb ? b->shape[0] : b->shape[1]);
  if (!dense || (c != nullptr && c->size() != n && c->size() != 1)) {
    return MakeKernel(node, [](const Node& nd, const std::vector<const Value*>& in, std::vector<Value>& out,
                               const RunContext&) { return GenericGemm(nd, in, out); });
  }
  const std::int64_t k = tb ? b->shape[1] : b->shape[0];
  std::vector<float> weight = tb ? AsFloats(*b) : Transposed(AsFloats(*b), k, n);  // nn layout: [out, in]
  std::vector<float> bias;
  if (c != nullptr) {
    bias = AsFloats(*c);
    if (bias.size() == 1) bias.assign(static_cast<std::size_t>(n), bias[0]);
  }
  auto layer = std::make_shared<const nn::DenseLayer>(k, n, std::move(weight), std::move(bias));
  const nn::Precision precision = build.precision;
  return MakeKernel(node,
                    [layer, precision](const Node& nd, const std::vector<const Value*>& in,
                                       std::vector<Value>& out, const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(RequireInput(nd, in, 0));
                      if (in[0]->shape.size() != 2)
                        return NodeError(nd, "expects a matrix A, found " + ShapeText(in[0]->shape) + ".");
                      return RunDense(nd, *layer, *in[0], out, precision);
                    });
}

// MatMul of two runtime tensors with NumPy broadcasting: [..., M, K] · [..., K, N], a 1-D A read as [1, K]
// and a 1-D B as [K, 1] (their added dimension dropped from the result), on nn::StridedMatmul: one call
// when each operand is either the whole batch or one matrix, else one call per output matrix.
Status RuntimeMatMul(const Node& node, const Value& a, const Value& b, std::vector<Value>& out) {
  if (a.type != DataType::kFloat || b.type != DataType::kFloat || a.shape.empty() || b.shape.empty()) {
    return NodeError(node, "multiplies " + ShapeText(a.shape) + " by " + ShapeText(b.shape) +
                               ": Loupe runs MatMul on float tensors of rank 1 or more.");
  }
  std::vector<std::int64_t> as = a.shape, bs = b.shape;
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const std::int64_t m = as[as.size() - 2], k = as.back();
  const std::int64_t kb = bs[bs.size() - 2], n = bs.back();
  const std::vector<std::int64_t> a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  auto batch_shape = BroadcastShape(node, a_batch, b_batch);
  if (k != kb || !batch_shape.ok()) {
    return NodeError(
        node, "multiplies " + ShapeText(a.shape) + " by " + ShapeText(b.shape) + ": the shapes disagree.");
  }
  std::vector<std::int64_t> shape = *batch_shape;
  if (a.shape.size() > 1) shape.push_back(m);
  if (b.shape.size() > 1) shape.push_back(n);
  Value y = k == 0 ? PooledFloats(shape) : UninitializedFloats(shape);  // an empty sum is 0
  const std::int64_t batch = ElementCount(*batch_shape);
  const std::int64_t a_count = ElementCount(a_batch), b_count = ElementCount(b_batch);
  const nn::MatrixStrides a_strides{a_count == 1 ? 0 : m * k, k, 1},
      b_strides{b_count == 1 ? 0 : k * n, n, 1}, c_strides{m * n, n, 1};
  if ((a_count == batch || a_count == 1) && (b_count == batch || b_count == 1)) {
    LOUPE_RETURN_IF_ERROR(nn::StridedMatmul(a.f.data(), a_strides, b.f.data(), b_strides, y.f.data(),
                                            c_strides, batch, m, k, n));
  } else {
    const std::vector<std::int64_t> ia = BroadcastIndex(a_batch, *batch_shape),
                                    ib = BroadcastIndex(b_batch, *batch_shape);
    for (std::int64_t i = 0; i < batch; ++i) {
      const auto e = static_cast<std::size_t>(i);
      LOUPE_RETURN_IF_ERROR(nn::StridedMatmul(a.f.data() + ia[e] * m * k, a_strides,
                                              b.f.data() + ib[e] * k * n, b_strides, y.f.data() + i * m * n,
                                              c_strides, 1, m, k, n));
    }
  }
  out[0] = std::move(y);
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> MakeMatMul(const KernelBuild& build) {
  const Value* b = build.constants.size() > 1 ? build.constants[1] : nullptr;
  if (b == nullptr || b->shape.size() != 2) {
    return MakeKernel(build.node,
                      [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                         const RunContext&) -> Status {
                        LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
                        LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 1));
                        return RuntimeMatMul(node, *in[0], *in[1], out);
                      });
  }
  return MakeDenseKernel(build.node, *b, nullptr, build.precision);
}

// ---- Softmax, LogSoftmax, normalisations ------------------------------------------------------------

// The softmax axis as (outer, axis length, inner) blocks; opsets before 13 coerce to 2-D at the axis.
struct AxisBlocks {
  std::int64_t outer = 1, length = 1, inner = 1;
};

Result<AxisBlocks> SoftmaxBlocks(const Node& node, const std::vector<std::int64_t>& shape,
                                 std::int64_t opset) {
  const auto rank = static_cast<std::int64_t>(shape.size());
  std::int64_t axis = IntAttr(node, "axis", opset < 13 ? 1 : -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= std::max<std::int64_t>(rank, 1)) {
    return NodeError(node, "axis " + std::to_string(IntAttr(node, "axis", 0)) + " is outside the rank of " +
                               ShapeText(shape) + ".");
  }
  AxisBlocks blocks;
  for (std::int64_t k = 0; k < axis; ++k) blocks.outer *= shape[static_cast<std::size_t>(k)];
  if (opset < 13) {
    for (std::int64_t k = axis; k < rank; ++k) blocks.length *= shape[static_cast<std::size_t>(k)];
  } else {
    blocks.length = shape[static_cast<std::size_t>(axis)];
    for (std::int64_t k = axis + 1; k < rank; ++k) blocks.inner *= shape[static_cast<std::size_t>(k)];
  }
  return blocks;
}

Result<std::unique_ptr<Kernel>> MakeSoftmaxLike(const KernelBuild& build, bool log) {
  const std::int64_t opset = build.opset;
  return MakeKernel(
      build.node,
      [opset, log](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                   const RunContext&) -> Status {
        LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
        if (in[0]->type != DataType::kFloat) return NodeError(node, "expects a float tensor.");
        LOUPE_ASSIGN_OR_RETURN(const AxisBlocks b, SoftmaxBlocks(node, in[0]->shape, opset));
        Value y = UninitializedFloats(in[0]->shape);
        if (!log && b.inner == 1) {
          LOUPE_RETURN_IF_ERROR(nn::SoftmaxInto(in[0]->f.data(), y.f.data(), b.outer, b.length));
          out[0] = std::move(y);
          return Status::Ok();
        }
        std::copy(in[0]->f.begin(), in[0]->f.end(), y.f.begin());
        for (std::int64_t o = 0; o < b.outer; ++o) {
          for (std::int64_t i = 0; i < b.inner; ++i) {
            float* base = y.f.data() + o * b.length * b.inner + i;
            float top = base[0];
            for (std::int64_t j = 1; j < b.length; ++j) top = std::max(top, base[j * b.inner]);
            double sum = 0.0;
            for (std::int64_t j = 0; j < b.length; ++j)
              sum += std::exp(static_cast<double>(base[j * b.inner] - top));
            for (std::int64_t j = 0; j < b.length; ++j) {
              const double shifted = base[j * b.inner] - top;
              base[j * b.inner] = static_cast<float>(log ? shifted - std::log(sum) : std::exp(shifted) / sum);
            }
          }
        }
        out[0] = std::move(y);
        return Status::Ok();
      });
}
Result<std::unique_ptr<Kernel>> MakeSoftmax(const KernelBuild& b) { return MakeSoftmaxLike(b, false); }
Result<std::unique_ptr<Kernel>> MakeLogSoftmax(const KernelBuild& b) { return MakeSoftmaxLike(b, true); }

Result<std::unique_ptr<Kernel>> MakeLayerNormalization(const KernelBuild& build) {
  const std::int64_t axis_attr = IntAttr(build.node, "axis", -1);
  const float eps = FloatAttr(build.node, "epsilon", 1e-5f);
  return MakeKernel(
      build.node,
      [axis_attr, eps](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                       const RunContext&) -> Status {
        LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
        LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 1));
        const Value& x = *in[0];
        const auto rank = static_cast<std::int64_t>(x.shape.size());
        const std::int64_t axis = axis_attr < 0 ? axis_attr + rank : axis_attr;
        if (x.type != DataType::kFloat || axis < 0 || axis >= rank)
          return NodeError(node, "expects a float tensor with the axis inside its rank.");
        std::int64_t cols = 1;
        for (std::int64_t k = axis; k < rank; ++k) cols *= x.shape[static_cast<std::size_t>(k)];
        const std::vector<float> gamma = AsFloats(*in[1]);
        std::vector<float> beta = in.size() > 2 && in[2] != nullptr ? AsFloats(*in[2]) : std::vector<float>();
        if (beta.empty()) beta.assign(static_cast<std::size_t>(cols), 0.0f);
        if (static_cast<std::int64_t>(gamma.size()) != cols ||
            static_cast<std::int64_t>(beta.size()) != cols) {
          return NodeError(node, "normalises " + std::to_string(cols) + " values per row, but Scale holds " +
                                     std::to_string(gamma.size()) + ".");
        }
        Value y = UninitializedFloats(x.shape);
        LOUPE_RETURN_IF_ERROR(nn::LayerNorm(x.f.data(), x.size() / std::max<std::int64_t>(cols, 1), cols,
                                            gamma.data(), beta.data(), eps, y.f.data()));
        out[0] = std::move(y);
        return Status::Ok();
      });
}

// Inference form: y = (x − mean) / sqrt(var + epsilon) · scale + B, per channel (dimension 1).
Result<std::unique_ptr<Kernel>> MakeBatchNormalization(const KernelBuild& build) {
  const float eps = FloatAttr(build.node, "epsilon", 1e-5f);
  for (std::size_t k = 1; k < 5; ++k) {
    if (k >= build.constants.size() || build.constants[k] == nullptr) {
      return NodeError(build.node, "needs constant scale, B, mean and var (inference); input " +
                                       std::to_string(k) + " is not.");
    }
  }
  const std::vector<float> scale = AsFloats(*build.constants[1]), bias = AsFloats(*build.constants[2]);
  const std::vector<float> mean = AsFloats(*build.constants[3]), var = AsFloats(*build.constants[4]);
  std::vector<float> mul(scale.size()), add(scale.size());
  for (std::size_t c = 0; c < scale.size(); ++c) {
    mul[c] = scale[c] / std::sqrt(var[c] + eps);
    add[c] = bias[c] - mean[c] * mul[c];
  }
  return MakeKernel(build.node,
                    [mul, add](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                               const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
                      const Value& x = *in[0];
                      if (x.type != DataType::kFloat || x.shape.size() < 2 ||
                          x.shape[1] != static_cast<std::int64_t>(mul.size())) {
                        return NodeError(node, "expects a float tensor [N, " + std::to_string(mul.size()) +
                                                   ", ...], found " + ShapeText(x.shape) + ".");
                      }
                      const std::int64_t channels = x.shape[1];
                      const std::int64_t inner = x.size() / std::max<std::int64_t>(x.shape[0] * channels, 1);
                      Value y = x;
                      for (std::int64_t k = 0; k < x.size(); ++k) {
                        const auto c = static_cast<std::size_t>((k / inner) % channels);
                        y.f[static_cast<std::size_t>(k)] = x.f[static_cast<std::size_t>(k)] * mul[c] + add[c];
                      }
                      out[0] = std::move(y);
                      return Status::Ok();
                    });
}

// ---- Cast, Identity, Dropout, Constant -----------------------------------------------------------------

Result<Value> CastTo(const Node& node, const Value& x, DataType to) {
  if (x.type == to) return x;
  Value y = Value::Zeros(to, x.shape);
  if (x.type == DataType::kString || to == DataType::kString) {
    return NodeError(node, "casts between strings and numbers, which Loupe does not execute.");
  }
  for (std::int64_t k = 0; k < x.size(); ++k) {
    const double v = NumberAt(x, k);
    const auto e = static_cast<std::size_t>(k);
    if (to == DataType::kFloat)
      y.f[e] = static_cast<float>(v);
    else if (to == DataType::kDouble)
      y.d[e] = v;
    else if (to == DataType::kBool)
      y.i[e] = v != 0.0;
    else
      y.i[e] = IntegerAt(x, k);
  }
  return y;
}

Result<std::unique_ptr<Kernel>> MakeCast(const KernelBuild& build) {
  const auto to = static_cast<DataType>(IntAttr(build.node, "to", 1));
  if (std::string(DataTypeName(to)) == "undefined") {
    return NodeError(build.node, "casts to element type " + std::to_string(static_cast<int>(to)) +
                                     ", which Loupe does not execute.");
  }
  return MakeKernel(build.node,
                    [to](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                         const RunContext&) -> Status {
                      if (in.empty() || in[0] == nullptr)
                        return NodeError(node, "input 0 is required but missing.");
                      LOUPE_ASSIGN_OR_RETURN(out[0], CastTo(node, *in[0], to));
                      return Status::Ok();
                    });
}

// Identity, and Dropout in inference (its optional mask output is all true).
Result<std::unique_ptr<Kernel>> MakeIdentity(const KernelBuild& build) {
  return MakeKernel(build.node,
                    [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                       const RunContext&) -> Status {
                      if (in.empty() || in[0] == nullptr)
                        return NodeError(node, "input 0 is required but missing.");
                      out[0] = *in[0];
                      if (out.size() > 1) {
                        out[1] = Value::Zeros(DataType::kBool, in[0]->shape);
                        std::fill(out[1].i.begin(), out[1].i.end(), 1);
                      }
                      return Status::Ok();
                    });
}

Result<std::unique_ptr<Kernel>> MakeConstant(const KernelBuild& build) {
  const Node& node = build.node;
  Value value;
  if (const Attribute* a = node.Find("value"); a != nullptr && a->kind == Attribute::Kind::kTensor) {
    value = a->tensor;
  } else if (const Attribute* f = node.Find("value_float")) {
    value = Value::Floats({}, {f->f});
  } else if (const Attribute* fs = node.Find("value_floats")) {
    value = Value::Floats({static_cast<std::int64_t>(fs->floats.size())}, fs->floats);
  } else if (const Attribute* i = node.Find("value_int")) {
    value = Value::Ints({}, {i->i});
  } else if (const Attribute* is = node.Find("value_ints")) {
    value = Value::Ints({static_cast<std::int64_t>(is->ints.size())}, is->ints);
  } else {
    return NodeError(node,
                     "has none of the attributes value, value_float(s), value_int(s) that Loupe reads.");
  }
  return MakeKernel(node,
                    [value](const Node&, const std::vector<const Value*>&, std::vector<Value>& out,
                            const RunContext&) -> Status {
                      out[0] = value;
                      return Status::Ok();
                    });
}

// ---- Reductions, selection and broadcasting (the attention pattern of exported transformers) -----------

// Copies element `from` of x to element `to` of y, for any element type.
void CopyElement(const Value& x, std::int64_t from, Value& y, std::int64_t to) {
  const auto f = static_cast<std::size_t>(from), t = static_cast<std::size_t>(to);
  if (x.type == DataType::kFloat)
    y.f[t] = x.f[f];
  else if (x.type == DataType::kDouble)
    y.d[t] = x.d[f];
  else if (x.type == DataType::kString)
    y.s[t] = x.s[f];
  else
    y.i[t] = x.i[f];
}

enum class ReduceOp { kMean, kSum, kMax };

Result<std::unique_ptr<Kernel>> MakeReduce(const KernelBuild& build, ReduceOp op) {
  const std::int64_t opset = build.opset;
  return MakeKernel(
      build.node,
      [op, opset](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                  const RunContext&) -> Status {
        LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
        const Value& x = *in[0];
        // ReduceSum takes its axes as an input from opset 13, the others from opset 18.
        const bool axes_input = op == ReduceOp::kSum ? opset >= 13 : opset >= 18;
        std::vector<std::int64_t> axes =
            axes_input ? (in.size() > 1 && in[1] != nullptr ? in[1]->i : std::vector<std::int64_t>())
                       : IntsAttr(node, "axes");
        const bool keepdims = IntAttr(node, "keepdims", 1) != 0;
        const auto rank = static_cast<std::int64_t>(x.shape.size());
        std::vector<std::uint8_t> reduced(static_cast<std::size_t>(rank),
                                          axes.empty() && IntAttr(node, "noop_with_empty_axes", 0) == 0);
        for (std::int64_t axis : axes) {
          if (axis < 0) axis += rank;
          if (axis < 0 || axis >= rank)
            return NodeError(
                node, "axis " + std::to_string(axis) + " is outside the rank of " + ShapeText(x.shape) + ".");
          reduced[static_cast<std::size_t>(axis)] = 1;
        }
        std::vector<std::int64_t> kept_shape(x.shape), out_shape;
        for (std::int64_t k = 0; k < rank; ++k) {
          if (reduced[static_cast<std::size_t>(k)]) kept_shape[static_cast<std::size_t>(k)] = 1;
          if (!reduced[static_cast<std::size_t>(k)] || keepdims)
            out_shape.push_back(kept_shape[static_cast<std::size_t>(k)]);
        }
        const std::vector<float> xs = AsFloats(x);
        const std::int64_t n_out = ElementCount(kept_shape);
        std::vector<double> acc(static_cast<std::size_t>(n_out), op == ReduceOp::kMax ? -INFINITY : 0.0);
        // Each input element's output index: its counters with the reduced axes set to 0.
        std::vector<std::int64_t> counter(static_cast<std::size_t>(rank), 0),
            out_stride(static_cast<std::size_t>(rank), 0);
        for (std::int64_t k = rank, step = 1; k-- > 0;) {
          out_stride[static_cast<std::size_t>(k)] = reduced[static_cast<std::size_t>(k)] ? 0 : step;
          step *= kept_shape[static_cast<std::size_t>(k)];
        }
        for (std::int64_t e = 0; e < x.size(); ++e) {
          std::int64_t at = 0;
          for (std::int64_t k = 0; k < rank; ++k)
            at += counter[static_cast<std::size_t>(k)] * out_stride[static_cast<std::size_t>(k)];
          double& a = acc[static_cast<std::size_t>(at)];
          const double v = xs[static_cast<std::size_t>(e)];
          a = op == ReduceOp::kMax ? std::max(a, v) : a + v;
          for (std::int64_t k = rank; k-- > 0;) {
            if (++counter[static_cast<std::size_t>(k)] < x.shape[static_cast<std::size_t>(k)]) break;
            counter[static_cast<std::size_t>(k)] = 0;
          }
        }
        const double count =
            static_cast<double>(x.size()) / static_cast<double>(std::max<std::int64_t>(n_out, 1));
        Value y = Value::Zeros(DataType::kFloat, out_shape);
        for (std::int64_t k = 0; k < n_out; ++k) {
          const double a = acc[static_cast<std::size_t>(k)];
          y.f[static_cast<std::size_t>(k)] = static_cast<float>(op == ReduceOp::kMean ? a / count : a);
        }
        out[0] = std::move(y);
        return Status::Ok();
      });
}
Result<std::unique_ptr<Kernel>> MakeReduceMean(const KernelBuild& b) {
  return MakeReduce(b, ReduceOp::kMean);
}
Result<std::unique_ptr<Kernel>> MakeReduceSum(const KernelBuild& b) { return MakeReduce(b, ReduceOp::kSum); }
Result<std::unique_ptr<Kernel>> MakeReduceMax(const KernelBuild& b) { return MakeReduce(b, ReduceOp::kMax); }

// Where(condition, X, Y) and Expand(X, shape): broadcasting selections, for any element type of X.
Result<std::unique_ptr<Kernel>> MakeWhere(const KernelBuild& build) {
  return MakeKernel(build.node,
                    [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                       const RunContext&) -> Status {
                      for (std::size_t k = 0; k < 3; ++k) LOUPE_RETURN_IF_ERROR(RequireInput(node, in, k));
                      const Value& c = *in[0];
                      const Value& a = *in[1];
                      const Value& b = *in[2];
                      if (a.type != b.type)
                        return NodeError(node, "selects between a " + std::string(DataTypeName(a.type)) +
                                                   " and a " + DataTypeName(b.type) + " tensor.");
                      LOUPE_ASSIGN_OR_RETURN(const auto ab, BroadcastShape(node, a.shape, b.shape));
                      LOUPE_ASSIGN_OR_RETURN(const auto shape, BroadcastShape(node, c.shape, ab));
                      const auto ic = BroadcastIndex(c.shape, shape), ia = BroadcastIndex(a.shape, shape),
                                 ib = BroadcastIndex(b.shape, shape);
                      Value y = Value::Zeros(a.type, shape);
                      for (std::size_t e = 0; e < ic.size(); ++e) {
                        const bool pick_a = NumberAt(c, ic[e]) != 0.0;
                        CopyElement(pick_a ? a : b, pick_a ? ia[e] : ib[e], y, static_cast<std::int64_t>(e));
                      }
                      out[0] = std::move(y);
                      return Status::Ok();
                    });
}

Result<std::unique_ptr<Kernel>> MakeExpand(const KernelBuild& build) {
  return MakeKernel(build.node,
                    [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                       const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
                      LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 1));
                      LOUPE_ASSIGN_OR_RETURN(const auto shape, BroadcastShape(node, in[0]->shape, in[1]->i));
                      const auto index = BroadcastIndex(in[0]->shape, shape);
                      Value y = Value::Zeros(in[0]->type, shape);
                      for (std::size_t e = 0; e < index.size(); ++e)
                        CopyElement(*in[0], index[e], y, static_cast<std::int64_t>(e));
                      out[0] = std::move(y);
                      return Status::Ok();
                    });
}

enum class Compare { kEqual, kGreater, kLess };

// Equal, Greater, Less: broadcasting comparisons with a bool result.
Result<std::unique_ptr<Kernel>> MakeCompare(const KernelBuild& build, Compare compare) {
  return MakeKernel(
      build.node,
      [compare](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                const RunContext&) -> Status {
        LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
        LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 1));
        LOUPE_ASSIGN_OR_RETURN(const auto shape, BroadcastShape(node, in[0]->shape, in[1]->shape));
        const auto ia = BroadcastIndex(in[0]->shape, shape), ib = BroadcastIndex(in[1]->shape, shape);
        Value y = Value::Zeros(DataType::kBool, shape);
        for (std::size_t e = 0; e < ia.size(); ++e) {
          const double a = NumberAt(*in[0], ia[e]), b = NumberAt(*in[1], ib[e]);
          y.i[e] = compare == Compare::kEqual ? a == b : compare == Compare::kGreater ? a > b : a < b;
        }
        out[0] = std::move(y);
        return Status::Ok();
      });
}
Result<std::unique_ptr<Kernel>> MakeEqual(const KernelBuild& b) { return MakeCompare(b, Compare::kEqual); }
Result<std::unique_ptr<Kernel>> MakeGreater(const KernelBuild& b) {
  return MakeCompare(b, Compare::kGreater);
}
Result<std::unique_ptr<Kernel>> MakeLess(const KernelBuild& b) { return MakeCompare(b, Compare::kLess); }

Result<std::unique_ptr<Kernel>> MakeConstantOfShape(const KernelBuild& build) {
  Value fill = Value::Floats({1}, {0.0f});
  if (const Attribute* a = build.node.Find("value"); a != nullptr && a->kind == Attribute::Kind::kTensor)
    fill = a->tensor;
  return MakeKernel(build.node,
                    [fill](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                           const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
                      Value y = Value::Zeros(fill.type, in[0]->i);
                      for (std::int64_t e = 0; e < y.size(); ++e) CopyElement(fill, 0, y, e);
                      out[0] = std::move(y);
                      return Status::Ok();
                    });
}

// Copies `n` floats: an inline loop for short runs (a head's slice of a row), memcpy for long ones.
void SliceRun(const float* __restrict from, std::int64_t n, float* __restrict to) {
  if (n >= 256) {
    std::memcpy(to, from, static_cast<std::size_t>(n) * sizeof(float));
    return;
  }
  for (std::int64_t j = 0; j < n; ++j) to[j] = from[j];
}

// Slice (opset ≥ 10: starts, ends, axes, steps as inputs), any element type.
Result<std::unique_ptr<Kernel>> MakeSlice(const KernelBuild& build) {
  return MakeKernel(
      build.node,
      [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
         const RunContext&) -> Status {
        for (std::size_t k = 0; k < 3; ++k) LOUPE_RETURN_IF_ERROR(RequireInput(node, in, k));
        const Value& x = *in[0];
        const auto rank = static_cast<std::int64_t>(x.shape.size());
        const std::vector<std::int64_t>& starts = in[1]->i;
        const std::vector<std::int64_t>& ends = in[2]->i;
        std::vector<std::int64_t> axes(starts.size()), steps(starts.size(), 1);
        for (std::size_t k = 0; k < axes.size(); ++k) axes[k] = static_cast<std::int64_t>(k);
        if (in.size() > 3 && in[3] != nullptr) axes = in[3]->i;
        if (in.size() > 4 && in[4] != nullptr) steps = in[4]->i;
        std::vector<std::int64_t> begin(static_cast<std::size_t>(rank), 0),
            step(static_cast<std::size_t>(rank), 1), shape(x.shape);
        for (std::size_t k = 0; k < starts.size(); ++k) {
          const std::int64_t axis = axes[k] < 0 ? axes[k] + rank : axes[k];
          if (axis < 0 || axis >= rank || steps[k] == 0)
            return NodeError(node, "slices axis " + std::to_string(axes[k]) + " with step " +
                                       std::to_string(steps[k]) + ".");
          const std::int64_t dim = x.shape[static_cast<std::size_t>(axis)];
          auto clampIndex = [&](std::int64_t v, bool forward) {
            if (v < 0) v += dim;
            return forward ? std::clamp<std::int64_t>(v, 0, dim) : std::clamp<std::int64_t>(v, -1, dim - 1);
          };
          const bool forward = steps[k] > 0;
          const std::int64_t s = clampIndex(starts[k], forward), e = clampIndex(ends[k], forward);
          const std::int64_t count = forward ? std::max<std::int64_t>(0, (e - s + steps[k] - 1) / steps[k])
                                             : std::max<std::int64_t>(0, (s - e - steps[k] - 1) / -steps[k]);
          begin[static_cast<std::size_t>(axis)] = s;
          step[static_cast<std::size_t>(axis)] = steps[k];
          shape[static_cast<std::size_t>(axis)] = count;
        }
        std::vector<std::int64_t> stride(static_cast<std::size_t>(rank), 1);
        for (std::int64_t k = rank - 1; k > 0; --k)
          stride[static_cast<std::size_t>(k - 1)] =
              stride[static_cast<std::size_t>(k)] * x.shape[static_cast<std::size_t>(k)];
        Value y = x.type == DataType::kFloat ? UninitializedFloats(shape) : Value::Zeros(x.type, shape);
        std::vector<std::int64_t> counter(static_cast<std::size_t>(rank), 0);
        if (x.type == DataType::kFloat && rank > 0 && y.size() > 0) {
          // Float: the source offset carried from element to element, the last axis as the inner loop.
          std::int64_t at = 0;
          for (std::int64_t k = 0; k < rank; ++k)
            at += begin[static_cast<std::size_t>(k)] * stride[static_cast<std::size_t>(k)];
          const auto last = static_cast<std::size_t>(rank - 1);
          const std::int64_t inner = shape[last], inner_step = step[last] * stride[last];
          const std::int64_t total = y.size();
          for (std::int64_t e = 0; e < total;) {
            if (inner_step == 1) {
              SliceRun(x.f.data() + at, inner, y.f.data() + e);
              e += inner;
            } else {
              for (std::int64_t j = 0; j < inner; ++j)
                y.f[static_cast<std::size_t>(e++)] = x.f[static_cast<std::size_t>(at + j * inner_step)];
            }
            for (std::size_t k = last; k-- > 0;) {
              at += step[k] * stride[k];
              if (++counter[k] < shape[k]) break;
              at -= step[k] * stride[k] * shape[k];
              counter[k] = 0;
            }
          }
          out[0] = std::move(y);
          return Status::Ok();
        }
        for (std::int64_t e = 0; e < y.size(); ++e) {
          std::int64_t at = 0;
          for (std::int64_t k = 0; k < rank; ++k) {
            const auto u = static_cast<std::size_t>(k);
            at += (begin[u] + counter[u] * step[u]) * stride[u];
          }
          CopyElement(x, at, y, e);
          for (std::int64_t k = rank; k-- > 0;) {
            if (++counter[static_cast<std::size_t>(k)] < shape[static_cast<std::size_t>(k)]) break;
            counter[static_cast<std::size_t>(k)] = 0;
          }
        }
        out[0] = std::move(y);
        return Status::Ok();
      });
}

// Split along an axis into the sizes of input `split` (opset 13), attribute `split` (older) or equal parts.
Result<std::unique_ptr<Kernel>> MakeSplit(const KernelBuild& build) {
  return MakeKernel(build.node,
                    [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                       const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
                      const Value& x = *in[0];
                      const auto rank = static_cast<std::int64_t>(x.shape.size());
                      std::int64_t axis = IntAttr(node, "axis", 0);
                      if (axis < 0) axis += rank;
                      if (axis < 0 || axis >= rank)
                        return NodeError(node, "axis is outside the rank of " + ShapeText(x.shape) + ".");
                      const std::int64_t dim = x.shape[static_cast<std::size_t>(axis)];
                      std::vector<std::int64_t> sizes =
                          in.size() > 1 && in[1] != nullptr ? in[1]->i : IntsAttr(node, "split");
                      const auto parts = static_cast<std::int64_t>(out.size());
                      if (sizes.empty())
                        sizes.assign(static_cast<std::size_t>(parts), (dim + parts - 1) / parts);
                      if (!sizes.empty())
                        sizes.back() = dim - std::accumulate(sizes.begin(), sizes.end() - 1, std::int64_t{0});
                      const bool negative =
                          std::any_of(sizes.begin(), sizes.end(), [](std::int64_t size) { return size < 0; });
                      if (static_cast<std::int64_t>(sizes.size()) != parts || negative) {
                        return NodeError(node, "cannot split " + std::to_string(dim) + " entries into " +
                                                   std::to_string(parts) + " outputs.");
                      }
                      std::int64_t outer = 1, inner = 1;
                      for (std::int64_t k = 0; k < axis; ++k) outer *= x.shape[static_cast<std::size_t>(k)];
                      for (std::int64_t k = axis + 1; k < rank; ++k)
                        inner *= x.shape[static_cast<std::size_t>(k)];
                      std::int64_t offset = 0;
                      for (std::size_t p = 0; p < out.size(); ++p) {
                        std::vector<std::int64_t> shape = x.shape;
                        shape[static_cast<std::size_t>(axis)] = sizes[p];
                        Value y = Value::Zeros(x.type, shape);
                        std::int64_t to = 0;
                        for (std::int64_t o = 0; o < outer; ++o)
                          for (std::int64_t j = 0; j < sizes[p] * inner; ++j)
                            CopyElement(x, (o * dim + offset) * inner + j, y, to++);
                        offset += sizes[p];
                        out[p] = std::move(y);
                      }
                      return Status::Ok();
                    });
}

}  // namespace

Result<std::unique_ptr<Kernel>> MakeDenseKernel(const Node& node, const Value& weight, const Value* bias,
                                                nn::Precision precision) {
  if (weight.shape.size() != 2)
    return NodeError(node, "needs weights of rank 2, found " + ShapeText(weight.shape) + ".");
  const std::int64_t k = weight.shape[0], n = weight.shape[1];
  std::vector<float> bias_values = bias == nullptr ? std::vector<float>() : AsFloats(*bias);
  if (!bias_values.empty() && static_cast<std::int64_t>(bias_values.size()) != n)
    return NodeError(node, "adds a bias of " + std::to_string(bias_values.size()) + " values to " +
                               std::to_string(n) + " columns.");
  auto layer = std::make_shared<const nn::DenseLayer>(k, n, Transposed(AsFloats(weight), k, n),
                                                      std::move(bias_values));
  return MakeKernel(node,
                    [layer, precision](const Node& nd, const std::vector<const Value*>& in,
                                       std::vector<Value>& out, const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(RequireInput(nd, in, 0));
                      return RunDense(nd, *layer, *in[0], out, precision);
                    });
}

void AddMathOps(std::vector<OpSchema>& ops) {
  ops.push_back({"", "Abs", "", &MakeAbs});
  ops.push_back({"", "Add", "NumPy broadcasting; float, double, int64", &MakeAdd});
  ops.push_back(
      {"", "BatchNormalization", "inference (constant scale, B, mean, var)", &MakeBatchNormalization});
  ops.push_back({"", "Cast", "between number types", &MakeCast});
  ops.push_back({"", "Constant", "value, value_float(s), value_int(s)", &MakeConstant});
  ops.push_back({"", "Div", "NumPy broadcasting", &MakeDiv});
  ops.push_back({"", "Dropout", "inference: the identity", &MakeIdentity});
  ops.push_back({"", "Erf", "float32: a vectorised rational approximation, within 5e-7 of erf", &MakeErf});
  ops.push_back({"", "Exp", "", &MakeExp});
  ops.push_back(
      {"", "Gelu", "approximate none / tanh; torch's Div/Erf/Add/Mul form is fused into it", &MakeGelu});
  ops.push_back({"", "Gemm", "constant B runs on the oneDNN dense layer", &MakeGemm});
  ops.push_back({"", "Identity", "", &MakeIdentity});
  ops.push_back({"", "LayerNormalization", "on the oneDNN layer norm", &MakeLayerNormalization});
  ops.push_back({"", "LeakyRelu", "", &MakeLeakyRelu});
  ops.push_back({"", "Log", "", &MakeLog});
  ops.push_back({"", "LogSoftmax", "opset < 13: coerced to 2-D at the axis", &MakeLogSoftmax});
  ops.push_back({"", "MatMul",
                 "constant 2-D B on the oneDNN dense layer (a following bias Add fused), else oneDNN batched "
                 "matmul with NumPy broadcasting",
                 &MakeMatMul});
  ops.push_back({"", "Mul", "NumPy broadcasting", &MakeMul});
  ops.push_back({"", "Neg", "", &MakeNeg});
  ops.push_back({"", "Pow", "float base", &MakePow});
  ops.push_back({"", "Relu", "", &MakeRelu});
  ops.push_back({"", "Sigmoid", "", &MakeSigmoid});
  ops.push_back({"", "Softmax", "opset < 13: coerced to 2-D at the axis", &MakeSoftmax});
  ops.push_back({"", "Sqrt", "", &MakeSqrt});
  ops.push_back({"", "Sub", "NumPy broadcasting", &MakeSub});
  ops.push_back({"", "Tanh", "", &MakeTanh});
  ops.push_back({"", "ConstantOfShape", "", &MakeConstantOfShape});
  ops.push_back({"", "Equal", "NumPy broadcasting; bool result", &MakeEqual});
  ops.push_back({"", "Expand", "", &MakeExpand});
  ops.push_back({"", "Greater", "NumPy broadcasting; bool result", &MakeGreater});
  ops.push_back({"", "Less", "NumPy broadcasting; bool result", &MakeLess});
  ops.push_back({"", "ReduceMax", "axes as attribute, or input from opset 18", &MakeReduceMax});
  ops.push_back({"", "ReduceMean", "axes as attribute, or input from opset 18", &MakeReduceMean});
  ops.push_back({"", "ReduceSum", "axes as input from opset 13", &MakeReduceSum});
  ops.push_back({"", "Slice", "starts, ends, axes, steps as inputs (opset >= 10)", &MakeSlice});
  ops.push_back({"", "Split", "split as input (opset 13) or attribute; equal parts without", &MakeSplit});
  ops.push_back({"", "Where", "NumPy broadcasting", &MakeWhere});
}

}  // namespace loupe::onnx
