// The oneDNN-accelerated operations of Loupe's network runtime (docs/architecture.md §4). The only place
// oneDNN is used: nothing here exposes a oneDNN type. All tensors are contiguous row-major f32.
//
// Threading: every function is reentrant and may be called from many TBB tasks at once. Each call runs
// single-threaded inside the calling task (oneDNN's OpenMP team is limited to one thread per caller) with
// a per-thread user scratchpad — oneDNN's default library scratchpad gives silently wrong results when
// one primitive runs on two threads at once (TOOLCHAIN.md gotcha 4). Primitives are created once per
// shape and cached, and each thread keeps them bound to their argument memory objects: a steady-state call
// allocates nothing in Loupe's code (oneDNN itself still builds a small argument map per execution, see
// nn/runtime.hpp). Results are bit-identical whichever thread computes them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "loupe/core/status.hpp"

namespace loupe::nn {

enum class Precision { kF32, kBF16 };

// True when this CPU runs bf16 matmuls natively (AVX512-BF16 or AMX), probed once by creating a bf16
// primitive descriptor. Without it, kBF16 requests run in f32.
bool Bf16Supported();

// Weights of a dense layer in PyTorch nn.Linear layout: weight [out, in], bias [out] (may be empty).
// Holds oneDNN's prepared (reordered) copies internally, built on first use per precision.
class DenseLayer {
 public:
  DenseLayer(std::int64_t in, std::int64_t out, std::vector<float> weight, std::vector<float> bias);
  ~DenseLayer();
  DenseLayer(DenseLayer&&) noexcept;
  DenseLayer& operator=(DenseLayer&&) noexcept;

  std::int64_t in() const { return in_; }
  std::int64_t out() const { return out_; }
  const std::vector<float>& weight() const { return weight_; }
  const std::vector<float>& bias() const { return bias_; }
  // This layer's key in each thread's table of bound primitives (also its backward's, nn/backward.hpp).
  std::uint64_t id() const { return id_; }

  // y[n, out] = x[n, in] · weight^T + bias.
  Status Forward(const float* x, std::int64_t n, float* y, Precision precision = Precision::kF32) const;

 private:
  struct Prepared;
  std::int64_t in_, out_;
  std::vector<float> weight_, bias_;
  std::unique_ptr<Prepared> prepared_;
  std::uint64_t id_;  // this layer's key in each thread's table of bound primitives (nn/runtime.hpp)
};

// c[b] = alpha · a[b] · op(b[b]) for b in [0, batch): a [batch, m, k]; op(b) is b [batch, k, n], or its
// transpose when b is given as [batch, n, k] with transpose_b.
Status BatchedMatmul(const float* a, const float* b, float* c, std::int64_t batch, std::int64_t m,
                     std::int64_t k, std::int64_t n, bool transpose_b, float alpha = 1.0f);

enum class Activation { kRelu, kGeluErf, kGeluTanh, kTanh, kSigmoid };

// x = act(x), in place, over `count` values.
Status Activate(Activation activation, float* x, std::int64_t count);

// Softmax over the last dimension of x [rows, cols], in place.
Status Softmax(float* x, std::int64_t rows, std::int64_t cols);

// y[rows, cols] = (x − mean) / sqrt(var + eps) · gamma + beta per row (PyTorch nn.LayerNorm).
Status LayerNorm(const float* x, std::int64_t rows, std::int64_t cols, const float* gamma, const float* beta,
                 float eps, float* y);

// ---- The tensor ops of ONNX graphs (core/src/onnx; nn/tensor_ops.cpp) ---------------------------------

// Element-wise maps on oneDNN's JIT eltwise primitive: y[i] = f(x[i]) over `count` values (y may be x).
// kLinear is alpha·x + beta; kRelu with alpha ≠ 0 is the leaky ReLU (x > 0 ? x : alpha·x).
enum class Map { kRelu, kExp, kLog, kSqrt, kAbs, kTanh, kSigmoid, kGeluErf, kGeluTanh, kLinear };
Status ApplyMap(Map map, const float* x, float* y, std::int64_t count, float alpha = 0.0f, float beta = 0.0f);

// Softmax over the last dimension of x [rows, cols] into y (which may be x).
Status SoftmaxInto(const float* x, float* y, std::int64_t rows, std::int64_t cols);

// Where the matrices of a batch lie: element (i, r, c) of the batch at i·batch + r·row + c·col (in floats).
// A batch stride of 0 is one matrix repeated over the batch (a broadcast operand).
struct MatrixStrides {
  std::int64_t batch = 0, row = 0, col = 1;
};

// c[i] = alpha · a[i] · b[i] for i in [0, batch): a [m, k], b [k, n], c [m, n], each in its own layout, so
// a transposed or interleaved operand (an attention head's view of [T, N·H, d]) is read in place. The
// oneDNN matmul primitive, created once per shape and layout; when oneDNN has no optimised kernel for
// the layouts, the operands are first copied into contiguous ones (never the reference kernel).
Status StridedMatmul(const float* a, const MatrixStrides& a_strides, const float* b,
                     const MatrixStrides& b_strides, float* c, const MatrixStrides& c_strides,
                     std::int64_t batch, std::int64_t m, std::int64_t k, std::int64_t n, float alpha = 1.0f);

// One LSTM layer in PyTorch's layout and gate order (i, f, g, o): weight_ih [4H, in], weight_hh [4H, H],
// bias_ih and bias_hh [4H]; a bidirectional layer has a second set for the reverse direction.
struct LstmDirection {
  std::vector<float> weight_ih, weight_hh, bias_ih, bias_hh;
};
class LstmLayer {
 public:
  LstmLayer(std::int64_t input_size, std::int64_t hidden_size, std::vector<LstmDirection> directions);
  ~LstmLayer();
  LstmLayer(LstmLayer&&) noexcept;
  LstmLayer& operator=(LstmLayer&&) noexcept;

  std::int64_t input_size() const { return input_size_; }
  std::int64_t hidden_size() const { return hidden_size_; }
  bool bidirectional() const { return directions_.size() == 2; }

  // x [n, t, input_size] (batch first) → y [n, t, H · directions] (forward and reverse halves
  // concatenated per step, as PyTorch). `lengths[i]` ≤ t is row i's true length: steps at or past it are
  // padding, their outputs are zero, and the reverse direction starts at lengths[i] − 1 (as PyTorch's
  // packed sequences). Uses oneDNN's RNN primitive with format_tag::any weights (TOOLCHAIN.md gotcha 5).
  Status Forward(const float* x, std::int64_t n, std::int64_t t, const std::int64_t* lengths, float* y) const;

  // The gradient path (nn/lstm_backward.cpp). ForwardTaped computes what Forward does, by the LSTM
  // equations with oneDNN inner products for the gate projections, and keeps every step's gates and cell
  // state in `tape`; BackwardData turns dy [n, t, H · directions] into dx [n, t, input_size] by
  // backpropagation through time over the same tape (0 at padding steps). Reentrant.
  Status ForwardTaped(const float* x, std::int64_t n, std::int64_t t, const std::int64_t* lengths, float* y,
                      std::vector<float>& tape) const;
  Status BackwardData(const float* x, const float* y, std::int64_t n, std::int64_t t,
                      const std::int64_t* lengths, const std::vector<float>& tape, const float* dy,
                      float* dx) const;
  // Direction d's gate projections as dense layers: x · W_ih^T + (b_ih + b_hh), and h · W_hh^T.
  const DenseLayer& input_gates(std::size_t direction) const;
  const DenseLayer& hidden_gates(std::size_t direction) const;

 private:
  struct Prepared;
  std::int64_t input_size_, hidden_size_;
  std::vector<LstmDirection> directions_;
  std::unique_ptr<Prepared> prepared_;
};

}  // namespace loupe::nn
