// Backward passes of the nn ops on oneDNN's backward primitives (docs/architecture.md §4): what the
// `gradient` model capability (loupe/core/gradient.hpp) chains to differentiate a network's outputs with
// respect to its inputs. Only data gradients are computed (never weight gradients): the weights are
// constants of an explanation.
//
// Threading and determinism as in ops.hpp: every function is reentrant, runs single-threaded inside the
// calling TBB task on a per-thread user scratchpad, caches its primitive per shape and keeps it bound per
// thread, and gives the same bits whichever thread computes it. All tensors are contiguous row-major f32.
#pragma once

#include <cstdint>

#include "loupe/core/status.hpp"
#include "nn/ops.hpp"

namespace loupe::nn {

// dx[n, in] = dy[n, out] · weight[out, in]: the data gradient of DenseLayer::Forward, by oneDNN's inner
// product backward-data primitive reading the PyTorch-layout weights as they are (format oi).
Status DenseBackwardData(const DenseLayer& layer, const float* dy, std::int64_t n, float* dx);

// dx = dy ⊙ act'(x) over `count` values, where x is the activation's INPUT (eltwise backward from src).
// `dx` may be `dy`.
Status ActivateBackward(Activation activation, const float* x, const float* dy, float* dx,
                        std::int64_t count);

// Softmax over the last dimension, backward: dx = y ⊙ (dy − Σ dy ⊙ y) per row, where y is the softmax's
// OUTPUT [rows, cols]. `dx` may be `dy`.
Status SoftmaxBackward(const float* y, const float* dy, float* dx, std::int64_t rows, std::int64_t cols);

// nn::LayerNorm backward (data only): x its input [rows, cols], gamma its scale (may be null), dy the
// gradient of its output. The per-row mean and variance are recomputed from x (in double, rounded to f32
// as the forward primitive keeps them).
Status LayerNormBackward(const float* x, const float* dy, std::int64_t rows, std::int64_t cols,
                         const float* gamma, float eps, float* dx);

}  // namespace loupe::nn
