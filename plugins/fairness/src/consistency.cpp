#include "consistency.hpp"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace loupe::fairness {

std::vector<std::int64_t> NearestNeighbours(const loupe::sdk::Host& host, std::vector<double> x,
                                            std::int64_t n, std::int64_t d, std::int64_t k,
                                            bool standardize) {
  if (standardize) {
    for (std::int64_t j = 0; j < d; ++j) {
      double mean = 0, sq = 0;
      for (std::int64_t i = 0; i < n; ++i) mean += x[i * d + j];
      mean /= static_cast<double>(n);
      for (std::int64_t i = 0; i < n; ++i) sq += (x[i * d + j] - mean) * (x[i * d + j] - mean);
      const double sd = std::sqrt(sq / static_cast<double>(n));
      const double scale = sd > 0 ? sd : 1.0;
      for (std::int64_t i = 0; i < n; ++i) x[i * d + j] = (x[i * d + j] - mean) / scale;
    }
  }
  const std::int64_t kk = std::min(k, n);
  std::vector<std::int64_t> out(static_cast<std::size_t>(n * k), 0);
  host.ParallelFor(0, n, 64, [&](std::int64_t begin, std::int64_t end) {
    host.ThrowIfCancelled();
    std::vector<std::pair<double, std::int64_t>> best;  // sorted (distance^2, index), at most kk
    for (std::int64_t i = begin; i < end; ++i) {
      best.clear();
      const double* xi = x.data() + i * d;
      for (std::int64_t j = 0; j < n; ++j) {
        const double* xj = x.data() + j * d;
        double dist = 0;
        for (std::int64_t f = 0; f < d; ++f) dist += (xi[f] - xj[f]) * (xi[f] - xj[f]);
        if (static_cast<std::int64_t>(best.size()) == kk && dist >= best.back().first)
          continue;  // ties keep lower j
        const std::pair<double, std::int64_t> item{dist, j};
        best.insert(std::upper_bound(best.begin(), best.end(), item), item);
        if (static_cast<std::int64_t>(best.size()) > kk) best.pop_back();
      }
      for (std::int64_t m = 0; m < kk; ++m)
        out[static_cast<std::size_t>(i * k + m)] = best[static_cast<std::size_t>(m)].second;
    }
  });
  return out;
}

double ConsistencyScore(const std::vector<std::int64_t>& neighbours, const std::vector<double>& y,
                        std::int64_t k) {
  const auto n = static_cast<std::int64_t>(y.size());
  double total = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    double mean = 0;
    for (std::int64_t m = 0; m < k; ++m)
      mean += y[static_cast<std::size_t>(neighbours[static_cast<std::size_t>(i * k + m)])];
    total += std::fabs(y[static_cast<std::size_t>(i)] - mean / static_cast<double>(k));
  }
  return 1.0 - total / static_cast<double>(n);
}

}  // namespace loupe::fairness
