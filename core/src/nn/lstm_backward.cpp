// The LSTM's gradient path (ops.hpp, LstmLayer::ForwardTaped and BackwardData): the PyTorch equations
//   gates = x_s · W_ih^T + b_ih + h_{s−1} · W_hh^T + b_hh,  i, f, o = σ(.), g = tanh(.)
//   c_s = f ⊙ c_{s−1} + i ⊙ g,  h_s = o ⊙ tanh(c_s)
// run forward step by step with every gate kept, then backward through time. The projections are oneDNN
// inner products (forward, and backward data through nn/backward.hpp); the gates' elementwise algebra is
// written out here.
//
// Why not oneDNN's LSTM backward primitive: it needs a forward_training pass whose opaque workspace only
// it can read, always computes the weight and bias gradients as well (which an explanation throws away),
// and, like the forward primitive, has no sequence lengths, so rows would have to be regrouped by length
// for the backward pass too. The equations cost the same two projections per step and handle each row's
// length directly: a row takes part in step k only while k < its length, the forward direction walking
// positions 0, 1, ... and the reverse direction length − 1, length − 2, ..., as PyTorch's packed
// sequences.
#include <algorithm>
#include <cmath>
#include <vector>

#include "nn/backward.hpp"
#include "nn/ops.hpp"

namespace loupe::nn {
namespace {

// The tape holds, per direction, row and step, the activated gates i, f, g, o and the cell state c.
constexpr std::int64_t kLstmTapeGates = 5;

float LstmSigmoid(float a) { return 1.0f / (1.0f + std::exp(-a)); }

// Row r's position at step k of a direction, and whether a previous position exists.
std::int64_t LstmPosition(bool reverse, std::int64_t k, std::int64_t length) {
  return reverse ? length - 1 - k : k;
}

Status CheckLstmLengths(const std::int64_t* lengths, std::int64_t n, std::int64_t t) {
  for (std::int64_t r = 0; r < n; ++r) {
    const std::int64_t length = lengths == nullptr ? t : lengths[r];
    if (length < 0 || length > t) {
      return InvalidArgument("LSTM row " + std::to_string(r) + " has length " + std::to_string(length) +
                             ", expected 0 to " + std::to_string(t) + ".");
    }
  }
  return Status::Ok();
}

// The taped passes' work buffers, one set per thread and reused from call to call (a pass runs on its
// calling thread and passes do not nest), so that explaining text after text allocates nothing.
struct LstmScratch {
  std::vector<float> projected, previous, recurrent;  // ForwardTaped
  std::vector<float> gate_gradients, dh_next, dc_next, active_gates, dh_previous, dx_direction;  // Backward
  std::vector<std::int64_t> active;
};

LstmScratch& ThreadLstmScratch() {
  thread_local LstmScratch scratch;
  return scratch;
}

}  // namespace

Status LstmLayer::ForwardTaped(const float* x, std::int64_t n, std::int64_t t, const std::int64_t* lengths,
                               float* y, std::vector<float>& tape) const {
  LOUPE_RETURN_IF_ERROR(CheckLstmLengths(lengths, n, t));
  const auto dirs = static_cast<std::int64_t>(directions_.size());
  const std::int64_t hidden = hidden_size_, width = dirs * hidden, per_step = kLstmTapeGates * hidden;
  std::fill(y, y + n * t * width, 0.0f);
  tape.assign(static_cast<std::size_t>(dirs * n * t * per_step), 0.0f);
  LstmScratch& scratch = ThreadLstmScratch();
  std::vector<float>& projected = scratch.projected;  // every entry written by the input gates
  projected.resize(static_cast<std::size_t>(n * t * 4 * hidden));
  std::vector<float>& previous = scratch.previous;
  std::vector<float>& recurrent = scratch.recurrent;
  std::vector<std::int64_t>& active = scratch.active;
  for (std::int64_t d = 0; d < dirs; ++d) {
    const bool reverse = d == 1;
    LOUPE_RETURN_IF_ERROR(input_gates(static_cast<std::size_t>(d)).Forward(x, n * t, projected.data()));
    for (std::int64_t k = 0; k < t; ++k) {
      active.clear();
      for (std::int64_t r = 0; r < n; ++r) {
        if (k < (lengths == nullptr ? t : lengths[r])) active.push_back(r);
      }
      if (active.empty()) break;
      const auto g = static_cast<std::int64_t>(active.size());
      previous.assign(static_cast<std::size_t>(g * hidden), 0.0f);
      recurrent.resize(static_cast<std::size_t>(g * 4 * hidden));
      for (std::int64_t j = 0; j < g && k > 0; ++j) {
        const std::int64_t r = active[static_cast<std::size_t>(j)], length = lengths ? lengths[r] : t;
        const std::int64_t before = LstmPosition(reverse, k - 1, length);
        std::copy_n(y + (r * t + before) * width + d * hidden, hidden, previous.data() + j * hidden);
      }
      LOUPE_RETURN_IF_ERROR(
          hidden_gates(static_cast<std::size_t>(d)).Forward(previous.data(), g, recurrent.data()));
      for (std::int64_t j = 0; j < g; ++j) {
        const std::int64_t r = active[static_cast<std::size_t>(j)], length = lengths ? lengths[r] : t;
        const std::int64_t at = LstmPosition(reverse, k, length);
        const float* pre = projected.data() + (r * t + at) * 4 * hidden;
        const float* rec = recurrent.data() + j * 4 * hidden;
        float* saved = tape.data() + ((d * n + r) * t + at) * per_step;
        const float* saved_before =
            k > 0 ? tape.data() + ((d * n + r) * t + LstmPosition(reverse, k - 1, length)) * per_step
                  : nullptr;
        float* h = y + (r * t + at) * width + d * hidden;
        for (std::int64_t u = 0; u < hidden; ++u) {
          const float i = LstmSigmoid(pre[u] + rec[u]);
          const float f = LstmSigmoid(pre[hidden + u] + rec[hidden + u]);
          const float gg = std::tanh(pre[2 * hidden + u] + rec[2 * hidden + u]);
          const float o = LstmSigmoid(pre[3 * hidden + u] + rec[3 * hidden + u]);
          const float c_before = saved_before != nullptr ? saved_before[4 * hidden + u] : 0.0f;
          const float c = f * c_before + i * gg;
          saved[u] = i;
          saved[hidden + u] = f;
          saved[2 * hidden + u] = gg;
          saved[3 * hidden + u] = o;
          saved[4 * hidden + u] = c;
          h[u] = o * std::tanh(c);
        }
      }
    }
  }
  return Status::Ok();
}

Status LstmLayer::BackwardData(const float* x, const float* y, std::int64_t n, std::int64_t t,
                               const std::int64_t* lengths, const std::vector<float>& tape, const float* dy,
                               float* dx) const {
  (void)x;  // the tape holds everything the gates need; x enters only through W_ih, which is linear
  (void)y;
  LOUPE_RETURN_IF_ERROR(CheckLstmLengths(lengths, n, t));
  const auto dirs = static_cast<std::int64_t>(directions_.size());
  const std::int64_t hidden = hidden_size_, width = dirs * hidden, per_step = kLstmTapeGates * hidden;
  const std::int64_t in = input_size_;
  std::fill(dx, dx + n * t * in, 0.0f);
  LstmScratch& scratch = ThreadLstmScratch();
  // gate_gradients, dh_next and dc_next are zeroed per direction below; dx_direction is written whole.
  std::vector<float>& gate_gradients = scratch.gate_gradients;
  std::vector<float>& dh_next = scratch.dh_next;
  std::vector<float>& dc_next = scratch.dc_next;
  std::vector<float>& active_gates = scratch.active_gates;
  std::vector<float>& dh_previous = scratch.dh_previous;
  std::vector<float>& dx_direction = scratch.dx_direction;
  gate_gradients.resize(static_cast<std::size_t>(n * t * 4 * hidden));
  dh_next.resize(static_cast<std::size_t>(n * hidden));
  dc_next.resize(dh_next.size());
  dx_direction.resize(static_cast<std::size_t>(n * t * in));
  std::vector<std::int64_t>& active = scratch.active;
  for (std::int64_t d = 0; d < dirs; ++d) {
    const bool reverse = d == 1;
    std::fill(gate_gradients.begin(), gate_gradients.end(), 0.0f);
    std::fill(dh_next.begin(), dh_next.end(), 0.0f);
    std::fill(dc_next.begin(), dc_next.end(), 0.0f);
    for (std::int64_t k = t - 1; k >= 0; --k) {
      active.clear();
      for (std::int64_t r = 0; r < n; ++r) {
        if (k < (lengths == nullptr ? t : lengths[r])) active.push_back(r);
      }
      if (active.empty()) continue;
      const auto g = static_cast<std::int64_t>(active.size());
      active_gates.resize(static_cast<std::size_t>(g * 4 * hidden));
      for (std::int64_t j = 0; j < g; ++j) {
        const std::int64_t r = active[static_cast<std::size_t>(j)], length = lengths ? lengths[r] : t;
        const std::int64_t at = LstmPosition(reverse, k, length);
        const float* saved = tape.data() + ((d * n + r) * t + at) * per_step;
        const float* saved_before =
            k > 0 ? tape.data() + ((d * n + r) * t + LstmPosition(reverse, k - 1, length)) * per_step
                  : nullptr;
        const float* dy_step = dy + (r * t + at) * width + d * hidden;
        float* dgates = gate_gradients.data() + (r * t + at) * 4 * hidden;
        for (std::int64_t u = 0; u < hidden; ++u) {
          const float i = saved[u], f = saved[hidden + u], gg = saved[2 * hidden + u];
          const float o = saved[3 * hidden + u], c = saved[4 * hidden + u];
          const float c_before = saved_before != nullptr ? saved_before[4 * hidden + u] : 0.0f;
          const float dh = dy_step[u] + dh_next[static_cast<std::size_t>(r * hidden + u)];
          const float tanh_c = std::tanh(c);
          const float dc =
              dc_next[static_cast<std::size_t>(r * hidden + u)] + dh * o * (1.0f - tanh_c * tanh_c);
          dc_next[static_cast<std::size_t>(r * hidden + u)] = dc * f;
          dgates[u] = dc * gg * i * (1.0f - i);
          dgates[hidden + u] = dc * c_before * f * (1.0f - f);
          dgates[2 * hidden + u] = dc * i * (1.0f - gg * gg);
          dgates[3 * hidden + u] = dh * tanh_c * o * (1.0f - o);
        }
        std::copy_n(dgates, 4 * hidden, active_gates.data() + j * 4 * hidden);
      }
      if (k == 0) continue;  // nothing flows into the zero initial state
      dh_previous.resize(static_cast<std::size_t>(g * hidden));
      LOUPE_RETURN_IF_ERROR(DenseBackwardData(hidden_gates(static_cast<std::size_t>(d)), active_gates.data(),
                                              g, dh_previous.data()));
      for (std::int64_t j = 0; j < g; ++j) {
        const std::int64_t r = active[static_cast<std::size_t>(j)];
        std::copy_n(dh_previous.data() + j * hidden, hidden, dh_next.data() + r * hidden);
      }
    }
    LOUPE_RETURN_IF_ERROR(DenseBackwardData(input_gates(static_cast<std::size_t>(d)), gate_gradients.data(),
                                            n * t, dx_direction.data()));
    for (std::size_t i = 0; i < dx_direction.size(); ++i) dx[i] += dx_direction[i];
  }
  return Status::Ok();
}

}  // namespace loupe::nn
