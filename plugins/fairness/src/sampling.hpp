// Exact binomial and multinomial draws from a counter-based stream, for the bootstrap.
//
// A bootstrap replicate resamples n rows with replacement. Every fairness metric except consistency is a
// function of the per-cell sums (cell = group x true label x predicted label), so a replicate only needs
// how many of the n draws land in each cell: a multinomial draw with the cells' row shares, taken here as a
// chain of conditional binomials. Binomials use inversion (waiting times) when n*p < 10 and Hörmann's BTRS
// transformed rejection otherwise (W. Hörmann, "The generation of binomial random variates", J. Statist.
// Comput. Simul. 46, 1993), both exact. All randomness comes from one loupe::sdk::Rng, so a replicate is a
// pure function of (seed, replicate, stream).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "loupe/sdk/random.hpp"

namespace loupe::fairness {

namespace detail {
// log(k!) - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi)/2]: the tail of Stirling's series.
inline double StirlingTail(double k) {
  static constexpr double kTable[10] = {0.08106146679532726, 0.04134069595540929, 0.02767792568499834,
                                        0.02079067210376509, 0.01664469118982119, 0.01387612882307075,
                                        0.01189670994589177, 0.01041126526197209, 0.009255462182712733,
                                        0.008330563433362871};
  if (k <= 9) return kTable[static_cast<int>(k)];
  const double kp1sq = (k + 1) * (k + 1);
  return (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / kp1sq) / kp1sq) / (k + 1);
}

// Binomial(n, p) for p <= 1/2 and n*p < 10: counts geometric waiting times until they pass n.
inline std::int64_t BinomialInversion(std::int64_t n, double p, loupe::sdk::Rng& rng) {
  const double log_q = std::log1p(-p);
  std::int64_t successes = 0;
  double trials = 0;
  for (;;) {
    const double u = 1.0 - rng.Uniform();  // (0, 1]
    trials += std::ceil(std::log(u) / log_q);
    if (trials > static_cast<double>(n)) return successes;
    ++successes;
  }
}

// Binomial(n, p) for p <= 1/2 and n*p >= 10: BTRS.
inline std::int64_t BinomialBtrs(std::int64_t n, double p, loupe::sdk::Rng& rng) {
  const double count = static_cast<double>(n);
  const double spq = std::sqrt(count * p * (1 - p));
  const double b = 1.15 + 2.53 * spq;
  const double a = -0.0873 + 0.0248 * b + 0.01 * p;
  const double c = count * p + 0.5;
  const double v_r = 0.92 - 4.2 / b;
  const double r = p / (1 - p);
  const double alpha = (2.83 + 5.1 / b) * spq;
  const double m = std::floor((count + 1) * p);
  for (;;) {
    const double u = rng.Uniform() - 0.5;
    double v = rng.Uniform();
    const double us = 0.5 - std::fabs(u);
    const double k = std::floor((2 * a / us + b) * u + c);
    if (k < 0 || k > count) continue;
    if (us >= 0.07 && v <= v_r) return static_cast<std::int64_t>(k);
    v = std::log(v * alpha / (a / (us * us) + b));
    const double bound = (m + 0.5) * std::log((m + 1) / (r * (count - m + 1))) +
                         (count + 1) * std::log((count - m + 1) / (count - k + 1)) +
                         (k + 0.5) * std::log(r * (count - k + 1) / (k + 1)) + StirlingTail(m) +
                         StirlingTail(count - m) - StirlingTail(k) - StirlingTail(count - k);
    if (v <= bound) return static_cast<std::int64_t>(k);
  }
}
}  // namespace detail

// An exact Binomial(n, p) draw.
inline std::int64_t Binomial(std::int64_t n, double p, loupe::sdk::Rng& rng) {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - Binomial(n, 1 - p, rng);
  return static_cast<double>(n) * p < 10 ? detail::BinomialInversion(n, p, rng)
                                         : detail::BinomialBtrs(n, p, rng);
}

// How many of `draws` uniform picks among sum(sizes) items land in each block of `sizes` items: an exact
// Multinomial(draws, sizes / sum(sizes)) draw, as conditional binomials in block order.
inline std::vector<std::int64_t> Multinomial(std::int64_t draws, const std::vector<std::int64_t>& sizes,
                                             loupe::sdk::Rng& rng) {
  std::vector<std::int64_t> out(sizes.size(), 0);
  std::int64_t remaining_items = 0;
  for (const std::int64_t size : sizes) remaining_items += size;
  std::int64_t remaining_draws = draws;
  for (std::size_t k = 0; k < sizes.size() && remaining_draws > 0; ++k) {
    if (sizes[k] == 0) continue;
    const double share = static_cast<double>(sizes[k]) / static_cast<double>(remaining_items);
    out[k] = sizes[k] == remaining_items ? remaining_draws : Binomial(remaining_draws, share, rng);
    remaining_draws -= out[k];
    remaining_items -= sizes[k];
  }
  return out;
}

}  // namespace loupe::fairness
