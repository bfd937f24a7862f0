// Reverse-mode differentiation over an ONNX session's nodes (see backward.hpp). Gradients are held in
// double while they flow back (each node's backward is a fixed-order loop), the forward values are the f32
// tensors the session's kernels compute.
#include "onnx/backward.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>
#include <set>

namespace loupe::onnx {

// Inside a named namespace: the layer is built as one unity source, where other files' helpers share the
// anonymous namespace.
namespace grad {

using Grad = std::vector<double>;

// What a node's backward needs: its input and output values, the gradients of its outputs (nullptr where
// none flows) and the accumulators of its inputs' gradients (nullptr where none is wanted).
struct NodeGrad {
  const Node& node;
  const Kernel& kernel;
  std::int64_t opset;
  std::vector<const Value*> in;
  std::vector<const Value*> out;
  std::vector<const Grad*> dout;
  std::vector<Grad*> din;
};

// How an operator passes gradients: kNone has no backward here, kZero's outputs carry none (shapes,
// comparisons, integer casts), kGrad passes them to its inputs `diff` (all when empty).
struct Rule {
  enum Kind { kNone, kZero, kGrad } kind = kNone;
  std::vector<int> diff;
  bool all_outputs = false;  // kGrad: every output carries gradient (Split), else only output 0
};

bool In(const std::string& op, std::initializer_list<const char*> ops) {
  return std::any_of(ops.begin(), ops.end(), [&](const char* o) { return op == o; });
}

Rule RuleOf(const Node& node) {
  if (!node.domain.empty()) return {};
  const std::string& op = node.op_type;
  if (In(op, {"Shape", "Size", "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Not", "And",
              "Or", "ArgMax", "ArgMin", "Constant", "ConstantOfShape", "NonZero", "Range"}))
    return {Rule::kZero, {}};
  if (op == "Cast") {
    const auto to = static_cast<DataType>(IntAttr(node, "to", 1));
    if (to == DataType::kFloat) return {Rule::kGrad, {0}};
    if (IsIntegral(to) || to == DataType::kString) return {Rule::kZero, {}};
    return {};  // double: the gradients here are f32 graphs'
  }
  if (In(op, {"Reshape",
              "Flatten",
              "Squeeze",
              "Unsqueeze",
              "Identity",
              "Dropout",
              "Transpose",
              "Slice",
              "Gather",
              "Expand",
              "Relu",
              "LeakyRelu",
              "Tanh",
              "Sigmoid",
              "Erf",
              "Gelu",
              "Exp",
              "Log",
              "Sqrt",
              "Neg",
              "Abs",
              "Softmax",
              "LogSoftmax",
              "LayerNormalization",
              "BatchNormalization",
              "ReduceMean",
              "ReduceSum",
              "ReduceMax",
              "Pow"}))
    return {Rule::kGrad, {0}};
  if (op == "Split") return {Rule::kGrad, {0}, true};
  if (In(op, {"Add", "Sub", "Mul", "Div", "MatMul"})) return {Rule::kGrad, {0, 1}};
  if (op == "Gemm") return {Rule::kGrad, {0, 1, 2}};
  if (op == "Where") return {Rule::kGrad, {1, 2}};
  if (op == "Concat") return {Rule::kGrad, {}};
  return {};
}

// Gradient buffers recycled per thread (as the forward's float buffers, onnx/value.hpp): a thread running
// chunk after chunk reuses their pages instead of faulting fresh ones in. Per thread, so Run stays
// reentrant; the values are always overwritten, so reuse cannot change a result.
std::vector<Grad>& GradPool() {
  thread_local std::vector<Grad> pool;
  return pool;
}
void TakeGrad(Grad& into, std::size_t n) {
  std::vector<Grad>& pool = GradPool();
  if (!pool.empty()) {
    into.swap(pool.back());
    pool.pop_back();
  }
  into.assign(n, 0.0);
}
void ReturnGrads(std::vector<Grad>& grads) {
  constexpr std::size_t kKept = 64;
  std::vector<Grad>& pool = GradPool();
  for (Grad& g : grads) {
    if (g.capacity() == 0 || pool.size() >= kKept) continue;
    g.clear();
    pool.push_back(std::move(g));
  }
}

bool Differentiates(const Rule& rule, int input) {
  return rule.kind == Rule::kGrad &&
         (rule.diff.empty() || std::find(rule.diff.begin(), rule.diff.end(), input) != rule.diff.end());
}

// For each element of `out` (a broadcast of `in`, NumPy rules), the index of the element of `in` it reads.
std::vector<std::int64_t> BroadcastMap(const std::vector<std::int64_t>& out,
                                       const std::vector<std::int64_t>& in) {
  const std::size_t rank = out.size();
  std::vector<std::int64_t> stride(rank, 0);
  for (std::size_t k = rank, step = 1; k-- > 0;) {
    const std::size_t from_end = rank - 1 - k;
    if (from_end >= in.size()) continue;
    const std::int64_t d = in[in.size() - 1 - from_end];
    stride[k] = d == 1 ? 0 : static_cast<std::int64_t>(step);
    step *= static_cast<std::size_t>(d);
  }
  const std::int64_t n = ElementCount(out);
  std::vector<std::int64_t> map(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
  std::vector<std::int64_t> counter(rank, 0);
  std::int64_t at = 0;
  for (std::int64_t e = 0; e < n; ++e) {
    map[static_cast<std::size_t>(e)] = at;
    for (std::size_t k = rank; k-- > 0;) {
      ++counter[k];
      at += stride[k];
      if (counter[k] < out[k]) break;
      at -= stride[k] * counter[k];
      counter[k] = 0;
    }
  }
  return map;
}

// BroadcastMap's result without the map where it is plain: the same shape (index e) or a trailing block
// (e.g. a bias [K] of [N, K]: index e mod K, a scalar: 0).
struct Broadcast {
  std::int64_t period = 0;  // > 0: index = e % period
  std::vector<std::int64_t> map;
  std::size_t operator()(std::size_t e) const {
    return period > 0 ? e % static_cast<std::size_t>(period) : static_cast<std::size_t>(map[e]);
  }
};
Broadcast BroadcastOf(const std::vector<std::int64_t>& out, const std::vector<std::int64_t>& in) {
  Broadcast b;
  // `in` without leading 1s must equal the trailing dimensions of `out`.
  std::size_t first = 0;
  while (first < in.size() && in[first] == 1) ++first;
  const std::size_t kept = in.size() - first;
  if (kept <= out.size() && std::equal(in.begin() + static_cast<std::ptrdiff_t>(first), in.end(),
                                       out.end() - static_cast<std::ptrdiff_t>(kept))) {
    b.period = std::max<std::int64_t>(ElementCount(in), 1);
    return b;
  }
  b.map = BroadcastMap(out, in);
  return b;
}

double F(const Value& v, std::int64_t k) { return v.f[static_cast<std::size_t>(k)]; }

// dx += dy ⊙ f'(x), the derivative given the input x and the output y.
template <typename Derivative>
Status ApplyUnary(NodeGrad& g, Derivative derivative) {
  const Value& x = *g.in[0];
  const Value& y = *g.out[0];
  const Grad& dy = *g.dout[0];
  Grad& dx = *g.din[0];
  for (std::size_t k = 0; k < dx.size(); ++k) dx[k] += dy[k] * derivative(x.f[k], y.f[k]);
  return Status::Ok();
}

Status Unary(NodeGrad& g) {
  const std::string& op = g.node.op_type;
  if (!g.in[0]->is_float() || !g.out[0]->is_float())
    return NodeError(g.node, "differentiates float tensors only.");
  const double alpha = FloatAttr(g.node, "alpha", 0.01f);
  const double kSqrt2OverPi = std::sqrt(2.0 / std::numbers::pi);
  if (op == "Relu") return ApplyUnary(g, [](double a, double) { return a > 0.0 ? 1.0 : 0.0; });
  if (op == "LeakyRelu") return ApplyUnary(g, [alpha](double a, double) { return a > 0.0 ? 1.0 : alpha; });
  if (op == "Tanh") return ApplyUnary(g, [](double, double b) { return 1.0 - b * b; });
  if (op == "Sigmoid") return ApplyUnary(g, [](double, double b) { return b * (1.0 - b); });
  if (op == "Exp") return ApplyUnary(g, [](double, double b) { return b; });
  if (op == "Log") return ApplyUnary(g, [](double a, double) { return 1.0 / a; });
  if (op == "Sqrt") return ApplyUnary(g, [](double, double b) { return 0.5 / b; });
  if (op == "Neg") return ApplyUnary(g, [](double, double) { return -1.0; });
  if (op == "Abs")
    return ApplyUnary(g, [](double a, double) { return a > 0.0 ? 1.0 : a < 0.0 ? -1.0 : 0.0; });
  if (op == "Erf")
    return ApplyUnary(g,
                      [](double a, double) { return 2.0 / std::sqrt(std::numbers::pi) * std::exp(-a * a); });
  if (op == "Gelu" && StringAttr(g.node, "approximate", "none") == "tanh") {
    return ApplyUnary(g, [kSqrt2OverPi](double a, double) {
      const double t = std::tanh(kSqrt2OverPi * (a + 0.044715 * a * a * a));
      return 0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * kSqrt2OverPi * (1.0 + 3.0 * 0.044715 * a * a);
    });
  }
  if (op == "Gelu") {
    return ApplyUnary(g, [](double a, double) {
      return 0.5 * (1.0 + std::erf(a / std::numbers::sqrt2)) +
             a * std::exp(-0.5 * a * a) / std::sqrt(2.0 * std::numbers::pi);
    });
  }
  return NodeError(g.node, "has no element-wise backward.");
}

Status Binary(NodeGrad& g) {
  const Value& a = *g.in[0];
  const Value& b = *g.in[1];
  const Value& y = *g.out[0];
  const Grad& dy = *g.dout[0];
  Grad* da = g.din[0];
  Grad* db = g.din.size() > 1 ? g.din[1] : nullptr;
  const Broadcast ma = BroadcastOf(y.shape, a.shape), mb = BroadcastOf(y.shape, b.shape);
  std::vector<float> a_copy, b_copy;  // a Pow exponent may be integral
  const float* af = a.is_float() ? a.f.data() : (a_copy = AsFloats(a)).data();
  const float* bf = b.is_float() ? b.f.data() : (b_copy = AsFloats(b)).data();
  enum { kAdd, kSub, kMul, kDiv, kPow } op = kAdd;
  if (g.node.op_type == "Sub") op = kSub;
  if (g.node.op_type == "Mul") op = kMul;
  if (g.node.op_type == "Div") op = kDiv;
  if (g.node.op_type == "Pow") op = kPow;
  for (std::size_t e = 0; e < dy.size(); ++e) {
    const std::size_t ia = ma(e), ib = mb(e);
    const double av = af[ia], bv = bf[ib], d = dy[e];
    switch (op) {
      case kAdd:
        if (da != nullptr) (*da)[ia] += d;
        if (db != nullptr) (*db)[ib] += d;
        break;
      case kSub:
        if (da != nullptr) (*da)[ia] += d;
        if (db != nullptr) (*db)[ib] -= d;
        break;
      case kMul:
        if (da != nullptr) (*da)[ia] += d * bv;
        if (db != nullptr) (*db)[ib] += d * av;
        break;
      case kDiv:
        if (da != nullptr) (*da)[ia] += d / bv;
        if (db != nullptr) (*db)[ib] -= d * av / (bv * bv);
        break;
      case kPow:
        if (da != nullptr) (*da)[ia] += bv == 2.0 ? d * 2.0 * av : d * bv * std::pow(av, bv - 1.0);
        break;
    }
  }
  return Status::Ok();
}

Status Where(NodeGrad& g) {
  const Value& c = *g.in[0];
  const Value& y = *g.out[0];
  const Grad& dy = *g.dout[0];
  const std::vector<std::int64_t> mc = BroadcastMap(y.shape, c.shape);
  for (int side = 1; side <= 2; ++side) {
    if (g.din[static_cast<std::size_t>(side)] == nullptr) continue;
    const std::vector<std::int64_t> m = BroadcastMap(y.shape, g.in[static_cast<std::size_t>(side)]->shape);
    for (std::int64_t k = 0; k < y.size(); ++k) {
      const auto e = static_cast<std::size_t>(k);
      const bool take_a = NumberAt(c, mc[e]) != 0.0;
      if (take_a == (side == 1))
        (*g.din[static_cast<std::size_t>(side)])[static_cast<std::size_t>(m[e])] += dy[e];
    }
  }
  return Status::Ok();
}

// dA and dB of C[t] = alpha · opA[ta] · opB[tb] for batches t, opA [M, K], opB [K, N] (stored transposed when
// trans_a / trans_b). Each batch copies the operand it reads into a contiguous double block first, so the
// inner loops run along rows.
void BatchedMatMulBackward(const Value& a, const Value& b, const Grad& dy, std::int64_t batches,
                           const std::vector<std::int64_t>& map_a, const std::vector<std::int64_t>& map_b,
                           std::int64_t m, std::int64_t k, std::int64_t n, bool trans_a, bool trans_b,
                           double alpha, Grad* da, Grad* db) {
  std::vector<double> block, acc;
  for (std::int64_t t = 0; t < batches; ++t) {
    const std::int64_t ta = map_a[static_cast<std::size_t>(t)], tb = map_b[static_cast<std::size_t>(t)];
    const double* d = dy.data() + t * m * n;
    if (da != nullptr) {
      // dA[i, j] = alpha Σ_c dY[i, c] · opB[j, c]: opB^T as block [N, K].
      block.assign(static_cast<std::size_t>(n * k), 0.0);
      for (std::int64_t j = 0; j < k; ++j)
        for (std::int64_t c = 0; c < n; ++c)
          block[static_cast<std::size_t>(c * k + j)] = F(b, tb * k * n + (trans_b ? c * k + j : j * n + c));
      acc.assign(static_cast<std::size_t>(k), 0.0);
      for (std::int64_t i = 0; i < m; ++i) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (std::int64_t c = 0; c < n; ++c) {
          const double dv = d[i * n + c];
          const double* row = block.data() + c * k;
          for (std::int64_t j = 0; j < k; ++j) acc[static_cast<std::size_t>(j)] += dv * row[j];
        }
        for (std::int64_t j = 0; j < k; ++j) {
          const std::int64_t at = ta * m * k + (trans_a ? j * m + i : i * k + j);
          (*da)[static_cast<std::size_t>(at)] += alpha * acc[static_cast<std::size_t>(j)];
        }
      }
    }
    if (db != nullptr) {
      // dB[j, c] = alpha Σ_i opA[i, j] · dY[i, c]: accumulated as [K, N].
      acc.assign(static_cast<std::size_t>(k * n), 0.0);
      for (std::int64_t i = 0; i < m; ++i) {
        for (std::int64_t j = 0; j < k; ++j) {
          const double av = F(a, ta * m * k + (trans_a ? j * m + i : i * k + j));
          double* row = acc.data() + j * n;
          for (std::int64_t c = 0; c < n; ++c) row[c] += av * d[i * n + c];
        }
      }
      for (std::int64_t j = 0; j < k; ++j) {
        for (std::int64_t c = 0; c < n; ++c) {
          const std::int64_t at = tb * k * n + (trans_b ? c * k + j : j * n + c);
          (*db)[static_cast<std::size_t>(at)] += alpha * acc[static_cast<std::size_t>(j * n + c)];
        }
      }
    }
  }
}

Status MatMul(NodeGrad& g) {
  const Value& a = *g.in[0];
  const Value& b = *g.in[1];
  if (!a.is_float() || !b.is_float()) return NodeError(g.node, "differentiates float operands only.");
  std::vector<std::int64_t> sa = a.shape, sb = b.shape;
  if (sa.size() == 1) sa.insert(sa.begin(), 1);
  if (sb.size() == 1) sb.push_back(1);
  if (sa.size() < 2 || sb.size() < 2) return NodeError(g.node, "has an operand of rank 0.");
  const std::int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  const std::vector<std::int64_t> batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
  std::vector<std::int64_t> batch(std::max(batch_a.size(), batch_b.size()));
  for (std::size_t d = 0; d < batch.size(); ++d) {
    const std::size_t from_end = batch.size() - 1 - d;
    const std::int64_t x = from_end < batch_a.size() ? batch_a[batch_a.size() - 1 - from_end] : 1;
    const std::int64_t y = from_end < batch_b.size() ? batch_b[batch_b.size() - 1 - from_end] : 1;
    batch[d] = x == 1 ? y : x;
  }
  const std::int64_t batches = ElementCount(batch);
  BatchedMatMulBackward(a, b, *g.dout[0], batches, BroadcastMap(batch, batch_a), BroadcastMap(batch, batch_b),
                        m, k, n, false, false, 1.0, g.din[0], g.din[1]);
  return Status::Ok();
}

Status Gemm(NodeGrad& g) {
  const Value& a = *g.in[0];
  const Value& b = *g.in[1];
  const bool ta = IntAttr(g.node, "transA", 0) != 0, tb = IntAttr(g.node, "transB", 0) != 0;
  const double alpha = FloatAttr(g.node, "alpha", 1.0f), beta = FloatAttr(g.node, "beta", 1.0f);
  if (!a.is_float() || !b.is_float() || a.shape.size() != 2 || b.shape.size() != 2)
    return NodeError(g.node, "differentiates 2-D float operands only.");
  const std::int64_t m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1];
  const std::int64_t n = tb ? b.shape[0] : b.shape[1];
  BatchedMatMulBackward(a, b, *g.dout[0], 1, {0}, {0}, m, k, n, ta, tb, alpha, g.din[0], g.din[1]);
  if (g.din.size() > 2 && g.din[2] != nullptr) {
    const std::vector<std::int64_t> map = BroadcastMap({m, n}, g.in[2]->shape);
    for (std::int64_t e = 0; e < m * n; ++e)
      (*g.din[2])[static_cast<std::size_t>(map[static_cast<std::size_t>(e)])] +=
          beta * (*g.dout[0])[static_cast<std::size_t>(e)];
  }
  return Status::Ok();
}

Status SoftmaxLike(NodeGrad& g) {
  const Value& y = *g.out[0];
  const Grad& dy = *g.dout[0];
  Grad& dx = *g.din[0];
  const auto rank = static_cast<std::int64_t>(y.shape.size());
  std::int64_t axis = IntAttr(g.node, "axis", g.opset < 13 ? 1 : -1);
  if (axis < 0) axis += rank;
  std::int64_t outer = 1, length = 1, inner = 1;
  for (std::int64_t d = 0; d < axis; ++d) outer *= y.shape[static_cast<std::size_t>(d)];
  if (g.opset < 13) {
    for (std::int64_t d = axis; d < rank; ++d) length *= y.shape[static_cast<std::size_t>(d)];
  } else {
    length = y.shape[static_cast<std::size_t>(axis)];
    for (std::int64_t d = axis + 1; d < rank; ++d) inner *= y.shape[static_cast<std::size_t>(d)];
  }
  const bool log = g.node.op_type == "LogSoftmax";
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < inner; ++i) {
      const auto at = [&](std::int64_t l) { return static_cast<std::size_t>((o * length + l) * inner + i); };
      double sum = 0.0;
      for (std::int64_t l = 0; l < length; ++l) sum += log ? dy[at(l)] : dy[at(l)] * y.f[at(l)];
      for (std::int64_t l = 0; l < length; ++l) {
        const double yl = y.f[at(l)];
        dx[at(l)] += log ? dy[at(l)] - std::exp(yl) * sum : yl * (dy[at(l)] - sum);
      }
    }
  }
  return Status::Ok();
}

Status LayerNorm(NodeGrad& g) {
  const Value& x = *g.in[0];
  const auto rank = static_cast<std::int64_t>(x.shape.size());
  std::int64_t axis = IntAttr(g.node, "axis", -1);
  if (axis < 0) axis += rank;
  const double eps = FloatAttr(g.node, "epsilon", 1e-5f);
  const std::vector<std::int64_t> normalized(x.shape.begin() + axis, x.shape.end());
  const std::int64_t cols = ElementCount(normalized), rows = cols > 0 ? x.size() / cols : 0;
  const Value* scale = g.in.size() > 1 ? g.in[1] : nullptr;
  const std::vector<std::int64_t> ms =
      scale != nullptr ? BroadcastMap(normalized, scale->shape) : std::vector<std::int64_t>();
  const Grad& dy = *g.dout[0];
  Grad& dx = *g.din[0];
  std::vector<double> gs(static_cast<std::size_t>(cols)), xhat(static_cast<std::size_t>(cols));
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t base = r * cols;
    double mean = 0.0;
    for (std::int64_t c = 0; c < cols; ++c) mean += F(x, base + c);
    mean /= static_cast<double>(cols);
    double var = 0.0;
    for (std::int64_t c = 0; c < cols; ++c) var += (F(x, base + c) - mean) * (F(x, base + c) - mean);
    var /= static_cast<double>(cols);
    const double inv = 1.0 / std::sqrt(var + eps);
    double mean_g = 0.0, mean_gx = 0.0;
    for (std::int64_t c = 0; c < cols; ++c) {
      const auto e = static_cast<std::size_t>(c);
      const double s = scale != nullptr ? NumberAt(*scale, ms[e]) : 1.0;
      gs[e] = dy[static_cast<std::size_t>(base + c)] * s;
      xhat[e] = (F(x, base + c) - mean) * inv;
      mean_g += gs[e];
      mean_gx += gs[e] * xhat[e];
    }
    mean_g /= static_cast<double>(cols);
    mean_gx /= static_cast<double>(cols);
    for (std::int64_t c = 0; c < cols; ++c) {
      const auto e = static_cast<std::size_t>(c);
      dx[static_cast<std::size_t>(base + c)] += inv * (gs[e] - mean_g - xhat[e] * mean_gx);
    }
  }
  return Status::Ok();
}

Status BatchNorm(NodeGrad& g) {
  const Value& x = *g.in[0];
  if (g.in.size() < 5 || x.shape.size() < 2)
    return NodeError(g.node, "needs x [N, C, ...] and 4 statistics.");
  const double eps = FloatAttr(g.node, "epsilon", 1e-5f);
  const std::int64_t channels = x.shape[1];
  std::int64_t inner = 1;
  for (std::size_t d = 2; d < x.shape.size(); ++d) inner *= x.shape[d];
  for (std::int64_t e = 0; e < x.size(); ++e) {
    const std::int64_t c = (e / inner) % channels;
    (*g.din[0])[static_cast<std::size_t>(e)] += (*g.dout[0])[static_cast<std::size_t>(e)] *
                                                NumberAt(*g.in[1], c) /
                                                std::sqrt(NumberAt(*g.in[4], c) + eps);
  }
  return Status::Ok();
}

Status Reduce(NodeGrad& g) {
  const Value& x = *g.in[0];
  const std::string& op = g.node.op_type;
  const bool axes_input = op == "ReduceSum" ? g.opset >= 13 : g.opset >= 18;
  const std::vector<std::int64_t> axes =
      axes_input ? (g.in.size() > 1 && g.in[1] != nullptr ? g.in[1]->i : std::vector<std::int64_t>())
                 : IntsAttr(g.node, "axes");
  const auto rank = static_cast<std::int64_t>(x.shape.size());
  std::vector<std::uint8_t> reduced(static_cast<std::size_t>(rank),
                                    axes.empty() && IntAttr(g.node, "noop_with_empty_axes", 0) == 0);
  for (std::int64_t axis : axes) reduced[static_cast<std::size_t>(axis < 0 ? axis + rank : axis)] = 1;
  std::vector<std::int64_t> kept(x.shape);
  std::int64_t count = 1;
  for (std::int64_t d = 0; d < rank; ++d) {
    if (!reduced[static_cast<std::size_t>(d)]) continue;
    count *= kept[static_cast<std::size_t>(d)];
    kept[static_cast<std::size_t>(d)] = 1;
  }
  const std::vector<std::int64_t> map = BroadcastMap(x.shape, kept);
  const Grad& dy = *g.dout[0];
  Grad& dx = *g.din[0];
  if (op == "ReduceMax") {
    // Ties share the gradient equally (torch.amax's backward).
    const Value& y = *g.out[0];
    std::vector<double> ties(static_cast<std::size_t>(y.size()), 0.0);
    for (std::int64_t e = 0; e < x.size(); ++e) {
      const auto o = static_cast<std::size_t>(map[static_cast<std::size_t>(e)]);
      if (F(x, e) == NumberAt(y, static_cast<std::int64_t>(o))) ties[o] += 1.0;
    }
    for (std::int64_t e = 0; e < x.size(); ++e) {
      const auto o = static_cast<std::size_t>(map[static_cast<std::size_t>(e)]);
      if (F(x, e) == NumberAt(y, static_cast<std::int64_t>(o)))
        dx[static_cast<std::size_t>(e)] += dy[o] / ties[o];
    }
    return Status::Ok();
  }
  const double scale = op == "ReduceMean" ? 1.0 / static_cast<double>(std::max<std::int64_t>(count, 1)) : 1.0;
  for (std::int64_t e = 0; e < x.size(); ++e)
    dx[static_cast<std::size_t>(e)] += dy[static_cast<std::size_t>(map[static_cast<std::size_t>(e)])] * scale;
  return Status::Ok();
}

// Data movement: the node's kernel run on element indices says where each output element comes from.
Status Move(NodeGrad& g, const Rule& rule) {
  constexpr std::int64_t kExactFloats = std::int64_t{1} << 24;
  std::vector<Value> indices(g.in.size());
  std::vector<const Value*> feed(g.in);
  std::vector<std::int64_t> offset(g.in.size() + 1, 0);
  std::int64_t total = 0;
  for (std::size_t k = 0; k < g.in.size(); ++k) {
    offset[k] = total;
    if (g.in[k] == nullptr || !Differentiates(rule, static_cast<int>(k)) || !g.in[k]->is_float()) continue;
    const std::int64_t n = g.in[k]->size();
    if (total + n > kExactFloats) {
      return NodeError(g.node, "moves more than 2^24 elements, more than Loupe's backward tracks exactly.");
    }
    std::vector<float> ids(static_cast<std::size_t>(n));
    for (std::int64_t e = 0; e < n; ++e) ids[static_cast<std::size_t>(e)] = static_cast<float>(total + e);
    indices[k] = Value::Floats(g.in[k]->shape, std::move(ids));
    feed[k] = &indices[k];
    total += n;
  }
  offset[g.in.size()] = total;
  std::vector<Value> moved(g.out.size());
  LOUPE_RETURN_IF_ERROR(g.kernel.Run(feed, moved, RunContext{}));
  for (std::size_t o = 0; o < g.out.size(); ++o) {
    if (g.dout[o] == nullptr) continue;
    const Grad& dy = *g.dout[o];
    if (!moved[o].is_float() || moved[o].size() != static_cast<std::int64_t>(dy.size()))
      return NodeError(g.node, "did not move its element indices as it moves its values.");
    for (std::size_t e = 0; e < dy.size(); ++e) {
      const auto source = static_cast<std::int64_t>(moved[o].f[e]);
      // The input holding `source`: the last whose offset is at most it.
      std::size_t k = static_cast<std::size_t>(std::upper_bound(offset.begin(), offset.end() - 1, source) -
                                               offset.begin()) -
                      1;
      while (k > 0 && indices[k].f.empty()) --k;
      if (g.din[k] != nullptr) (*g.din[k])[static_cast<std::size_t>(source - offset[k])] += dy[e];
    }
  }
  return Status::Ok();
}

Status Backward(NodeGrad& g, const Rule& rule) {
  const std::string& op = g.node.op_type;
  if (In(op, {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Transpose", "Slice",
              "Gather", "Expand", "Concat", "Split"}))
    return Move(g, rule);
  if (op == "Cast") {
    for (std::size_t e = 0; e < g.din[0]->size(); ++e) (*g.din[0])[e] += (*g.dout[0])[e];
    return Status::Ok();
  }
  if (In(op, {"Add", "Sub", "Mul", "Div", "Pow"})) return Binary(g);
  if (op == "Where") return Where(g);
  if (op == "MatMul") return MatMul(g);
  if (op == "Gemm") return Gemm(g);
  if (op == "Softmax" || op == "LogSoftmax") return SoftmaxLike(g);
  if (op == "LayerNormalization") return LayerNorm(g);
  if (op == "BatchNormalization") return BatchNorm(g);
  if (In(op, {"ReduceMean", "ReduceSum", "ReduceMax"})) return Reduce(g);
  return Unary(g);
}

}  // namespace grad

int GradientProgram::Id(const std::string& name) {
  const auto it = std::find(names_.begin(), names_.end(), name);
  if (it != names_.end()) return static_cast<int>(it - names_.begin());
  names_.push_back(name);
  constants_.push_back(session_.ConstantValue(name));
  return static_cast<int>(names_.size() - 1);
}

Result<std::unique_ptr<GradientProgram>> GradientProgram::Create(const Session& session,
                                                                 std::vector<std::string> wrt,
                                                                 std::string output) {
  std::unique_ptr<GradientProgram> program(new GradientProgram(session));
  GradientProgram& p = *program;
  const Graph& graph = session.graph();
  p.wrt_ = std::move(wrt);
  p.output_ = std::move(output);
  // The nodes the output needs, in a topological order (depth-first, inputs in order).
  std::set<const Node*> placed;
  std::set<std::string> visited;
  std::function<Status(const std::string&)> visit = [&](const std::string& tensor) -> Status {
    if (tensor.empty() || !visited.insert(tensor).second) return Status::Ok();
    p.Id(tensor);
    if (session.ConstantValue(tensor) != nullptr) return Status::Ok();
    const Node* node = session.Producer(tensor);
    if (node == nullptr) {
      const bool input = std::any_of(graph.inputs.begin(), graph.inputs.end(),
                                     [&](const ValueInfo& v) { return v.name == tensor; });
      if (!input)
        return InvalidArgument("ONNX model '" + graph.source + "' has no tensor named '" + tensor + "'.");
      return Status::Ok();
    }
    if (placed.contains(node)) return Status::Ok();
    for (const std::string& in : node->inputs) LOUPE_RETURN_IF_ERROR(visit(in));
    if (!placed.insert(node).second) return Status::Ok();
    Step step;
    step.node = node;
    step.kernel = session.ProducerKernel(node->outputs[0]);
    step.opset = graph.Opset(node->domain);
    for (const std::string& in : node->inputs) step.inputs.push_back(in.empty() ? -1 : p.Id(in));
    for (const std::string& out : node->outputs) step.outputs.push_back(out.empty() ? -1 : p.Id(out));
    if (step.kernel == nullptr)
      return Internal("ONNX model '" + graph.source + "': node '" + node->name + "' has no kernel.");
    p.steps_.push_back(std::move(step));
    return Status::Ok();
  };
  LOUPE_RETURN_IF_ERROR(visit(p.output_));
  for (const std::string& name : p.wrt_) {
    // A graph input the output does not read has gradient 0; another tensor must be on the way.
    const bool input = std::any_of(graph.inputs.begin(), graph.inputs.end(),
                                   [&](const ValueInfo& v) { return v.name == name; });
    if (!visited.contains(name) && !input) {
      return InvalidArgument("ONNX model '" + graph.source + "': the output '" + p.output_ +
                             "' does not depend on tensor '" + name + "'.");
    }
    p.wrt_ids_.push_back(p.Id(name));
  }
  p.output_id_ = p.Id(p.output_);
  for (const ValueInfo& input : graph.inputs) {
    const auto it = std::find(p.names_.begin(), p.names_.end(), input.name);
    p.input_ids_.push_back(it == p.names_.end() ? -1 : static_cast<int>(it - p.names_.begin()));
  }
  // Which tensors carry gradient (forward from the wrt tensors), and which of those reach the output.
  const std::size_t n = p.names_.size();
  p.active_.assign(n, 0);
  for (const int id : p.wrt_ids_) p.active_[static_cast<std::size_t>(id)] = 1;
  for (const Step& step : p.steps_) {
    const grad::Rule rule = grad::RuleOf(*step.node);
    bool any = false;
    for (const int in : step.inputs) any = any || (in >= 0 && p.active_[static_cast<std::size_t>(in)]);
    if (!any || rule.kind == grad::Rule::kZero) continue;
    for (std::size_t o = 0; o < step.outputs.size(); ++o) {
      const bool carries = rule.kind == grad::Rule::kNone || rule.all_outputs || o == 0;
      if (step.outputs[o] >= 0 && carries) p.active_[static_cast<std::size_t>(step.outputs[o])] = 1;
    }
  }
  std::vector<std::uint8_t> reaches(n, 0);
  reaches[static_cast<std::size_t>(p.output_id_)] = 1;
  p.backward_.assign(p.steps_.size(), 0);
  for (std::size_t s = p.steps_.size(); s-- > 0;) {
    const Step& step = p.steps_[s];
    bool on_path = false;
    for (const int out : step.outputs) {
      on_path = on_path || (out >= 0 && p.active_[static_cast<std::size_t>(out)] &&
                            reaches[static_cast<std::size_t>(out)]);
    }
    if (!on_path) continue;
    p.backward_[s] = 1;
    for (const int in : step.inputs) {
      if (in >= 0 && p.active_[static_cast<std::size_t>(in)]) reaches[static_cast<std::size_t>(in)] = 1;
    }
  }
  // The first node on the path (in plan order) without a backward is the one the refusal names.
  for (std::size_t s = 0; s < p.steps_.size(); ++s) {
    if (!p.backward_[s]) continue;
    const Step& step = p.steps_[s];
    const grad::Rule rule = grad::RuleOf(*step.node);
    const std::string refusal = "ONNX model '" + graph.source + "' offers no gradient: node '" +
                                step.node->name + "' (op " + step.node->op_type +
                                ") has no backward in Loupe";
    if (rule.kind == grad::Rule::kNone) return InvalidArgument(refusal + ".");
    for (std::size_t k = 0; k < step.inputs.size(); ++k) {
      const int in = step.inputs[k];
      if (in >= 0 && p.active_[static_cast<std::size_t>(in)] &&
          !grad::Differentiates(rule, static_cast<int>(k)))
        return InvalidArgument(refusal + " with respect to its input '" + step.node->inputs[k] + "'.");
    }
  }
  return program;
}

Result<GradientProgram::Pass> GradientProgram::Run(const std::vector<Value>& inputs,
                                                   const std::function<Result<Value>(const Value&)>& seed,
                                                   const std::vector<Value>& overrides) const {
  const Graph& graph = session_.graph();
  if (inputs.size() != graph.inputs.size()) {
    return InvalidArgument("ONNX model '" + graph.source + "' takes " + std::to_string(graph.inputs.size()) +
                           " inputs, but " + std::to_string(inputs.size()) + " were given.");
  }
  if (!overrides.empty() && overrides.size() != wrt_ids_.size()) {
    return InvalidArgument("ONNX model '" + graph.source + "': " + std::to_string(overrides.size()) +
                           " overrides were given for " + std::to_string(wrt_ids_.size()) + " tensors.");
  }
  const FloatRunScope buffers;  // the kernels' float buffers stay with the thread while runs reuse them
  const std::size_t n = names_.size();
  std::vector<Value> values(n);
  std::vector<const Value*> current(constants_);
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    if (input_ids_[k] >= 0) current[static_cast<std::size_t>(input_ids_[k])] = &inputs[k];
  }
  // Overrides replace a tensor as soon as it exists (a graph input now, a computed tensor after its step).
  const auto apply_overrides = [&]() -> Status {
    for (std::size_t w = 0; w < overrides.size(); ++w) {
      const auto id = static_cast<std::size_t>(wrt_ids_[w]);
      if (overrides[w].type == DataType::kUndefined || current[id] == nullptr || current[id] == &overrides[w])
        continue;
      if (overrides[w].shape != current[id]->shape || !overrides[w].is_float()) {
        return InvalidArgument("ONNX model '" + graph.source + "': the value given for tensor '" +
                               names_[id] + "' is " + ShapeText(overrides[w].shape) +
                               ", but the graph computes " + ShapeText(current[id]->shape) + " float.");
      }
      current[id] = &overrides[w];
    }
    return Status::Ok();
  };
  LOUPE_RETURN_IF_ERROR(apply_overrides());
  std::vector<const Value*> step_inputs;
  std::vector<Value> step_outputs;
  for (const Step& step : steps_) {
    step_inputs.clear();
    for (const int in : step.inputs)
      step_inputs.push_back(in < 0 ? nullptr : current[static_cast<std::size_t>(in)]);
    step_outputs.assign(step.outputs.size(), Value());
    LOUPE_RETURN_IF_ERROR(step.kernel->Run(step_inputs, step_outputs, RunContext{}));
    for (std::size_t k = 0; k < step.outputs.size(); ++k) {
      const int out = step.outputs[k];
      if (out < 0) continue;
      values[static_cast<std::size_t>(out)] = std::move(step_outputs[k]);
      current[static_cast<std::size_t>(out)] = &values[static_cast<std::size_t>(out)];
    }
    LOUPE_RETURN_IF_ERROR(apply_overrides());
  }
  const Value& output = *current[static_cast<std::size_t>(output_id_)];
  LOUPE_ASSIGN_OR_RETURN(const Value weights, seed(output));
  if (!weights.is_float() || weights.size() != output.size()) {
    return InvalidArgument("ONNX model '" + graph.source + "': the output weights hold " +
                           std::to_string(weights.size()) + " values for the output " +
                           ShapeText(output.shape) + ".");
  }
  std::vector<grad::Grad> grads(n);
  grad::TakeGrad(grads[static_cast<std::size_t>(output_id_)], weights.f.size());
  std::copy(weights.f.begin(), weights.f.end(), grads[static_cast<std::size_t>(output_id_)].begin());
  for (std::size_t s = steps_.size(); s-- > 0;) {
    if (!backward_[s]) continue;
    const Step& step = steps_[s];
    const grad::Rule rule = grad::RuleOf(*step.node);
    grad::NodeGrad g{*step.node, *step.kernel, step.opset, {}, {}, {}, {}};
    bool flows = false;
    for (const int out : step.outputs) {
      const bool has = out >= 0 && !grads[static_cast<std::size_t>(out)].empty();
      g.out.push_back(out < 0 ? nullptr : current[static_cast<std::size_t>(out)]);
      g.dout.push_back(has ? &grads[static_cast<std::size_t>(out)] : nullptr);
      flows = flows || has;
    }
    if (!flows || (g.dout[0] == nullptr && !rule.all_outputs)) continue;
    for (std::size_t k = 0; k < step.inputs.size(); ++k) {
      const int in = step.inputs[k];
      g.in.push_back(in < 0 ? nullptr : current[static_cast<std::size_t>(in)]);
      grad::Grad* d = nullptr;
      if (in >= 0 && active_[static_cast<std::size_t>(in)] &&
          grad::Differentiates(rule, static_cast<int>(k)) &&
          current[static_cast<std::size_t>(in)]->is_float()) {
        grad::Grad& acc = grads[static_cast<std::size_t>(in)];
        if (acc.empty())
          grad::TakeGrad(acc, static_cast<std::size_t>(current[static_cast<std::size_t>(in)]->size()));
        d = &acc;
      }
      g.din.push_back(d);
    }
    if (std::all_of(g.din.begin(), g.din.end(), [](const grad::Grad* d) { return d == nullptr; })) continue;
    LOUPE_RETURN_IF_ERROR(grad::Backward(g, rule));
  }
  Pass pass;
  pass.output = output;
  for (const int id : wrt_ids_) {
    const Value& v = *current[static_cast<std::size_t>(id)];
    const grad::Grad& d = grads[static_cast<std::size_t>(id)];
    Value gradient = Value::Zeros(DataType::kDouble, v.shape);
    for (std::size_t e = 0; e < d.size() && e < gradient.d.size(); ++e) gradient.d[e] = d[e];
    pass.gradient.push_back(std::move(gradient));
  }
  grad::ReturnGrads(grads);
  for (Value& v : values) RecycleFloats(std::move(v.f));
  return pass;
}

}  // namespace loupe::onnx
