// Test helpers shared by the nn tests: seeded random inputs and a naive LSTM in double precision.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "nn/ops.hpp"

namespace loupe::nn::testing_reference {

inline std::vector<float> RandomVector(std::size_t count, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-scale, scale);
  std::vector<float> values(count);
  for (float& v : values) v = uniform(rng);
  return values;
}

inline double Sigmoid(double v) { return 1 / (1 + std::exp(-v)); }

// One direction of PyTorch's LSTM over steps `order` of one row: gates i, f, g, o.
inline void LstmDirectionReference(const LstmDirection& w, const float* x, std::int64_t in,
                                   std::int64_t hidden, const std::vector<std::int64_t>& order,
                                   std::int64_t out_width, std::int64_t offset, std::vector<double>& y_row) {
  std::vector<double> h(static_cast<std::size_t>(hidden), 0.0), c(h),
      gates(static_cast<std::size_t>(4 * hidden));
  for (const std::int64_t s : order) {
    for (std::int64_t g = 0; g < 4 * hidden; ++g) {
      double sum = w.bias_ih[static_cast<std::size_t>(g)] + w.bias_hh[static_cast<std::size_t>(g)];
      for (std::int64_t i = 0; i < in; ++i)
        sum += w.weight_ih[static_cast<std::size_t>(g * in + i)] * x[s * in + i];
      for (std::int64_t j = 0; j < hidden; ++j) {
        sum += w.weight_hh[static_cast<std::size_t>(g * hidden + j)] * h[static_cast<std::size_t>(j)];
      }
      gates[static_cast<std::size_t>(g)] = sum;
    }
    for (std::int64_t j = 0; j < hidden; ++j) {
      const auto at = [&](int gate) { return gates[static_cast<std::size_t>(gate * hidden + j)]; };
      const double i_gate = Sigmoid(at(0)), f_gate = Sigmoid(at(1)), g_gate = std::tanh(at(2)),
                   o_gate = Sigmoid(at(3));
      c[static_cast<std::size_t>(j)] = f_gate * c[static_cast<std::size_t>(j)] + i_gate * g_gate;
      h[static_cast<std::size_t>(j)] = o_gate * std::tanh(c[static_cast<std::size_t>(j)]);
      y_row[static_cast<std::size_t>(s * out_width + offset + j)] = h[static_cast<std::size_t>(j)];
    }
  }
}

// PyTorch's (packed-sequence) LSTM output for x [n, t, in]; padding steps are zero.
inline std::vector<double> LstmReference(const std::vector<LstmDirection>& dirs, const std::vector<float>& x,
                                         std::int64_t n, std::int64_t t, std::int64_t in, std::int64_t hidden,
                                         const std::vector<std::int64_t>& lengths) {
  const auto out_width = static_cast<std::int64_t>(dirs.size()) * hidden;
  std::vector<double> y(static_cast<std::size_t>(n * t * out_width), 0.0);
  for (std::int64_t r = 0; r < n; ++r) {
    std::vector<double> row(static_cast<std::size_t>(t * out_width), 0.0);
    std::vector<std::int64_t> forward, reverse;
    for (std::int64_t s = 0; s < lengths[static_cast<std::size_t>(r)]; ++s) forward.push_back(s);
    reverse.assign(forward.rbegin(), forward.rend());
    LstmDirectionReference(dirs[0], x.data() + r * t * in, in, hidden, forward, out_width, 0, row);
    if (dirs.size() == 2)
      LstmDirectionReference(dirs[1], x.data() + r * t * in, in, hidden, reverse, out_width, hidden, row);
    std::copy(row.begin(), row.end(), y.begin() + r * t * out_width);
  }
  return y;
}

inline LstmDirection RandomDirection(std::int64_t in, std::int64_t hidden, unsigned seed) {
  const auto gates = static_cast<std::size_t>(4 * hidden);
  return {RandomVector(gates * static_cast<std::size_t>(in), seed, 0.5f),
          RandomVector(gates * static_cast<std::size_t>(hidden), seed + 1, 0.5f),
          RandomVector(gates, seed + 2, 0.5f), RandomVector(gates, seed + 3, 0.5f)};
}

}  // namespace loupe::nn::testing_reference
