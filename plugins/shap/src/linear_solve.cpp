#include "linear_solve.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

namespace loupe::shap {

bool SolveSymmetric(std::vector<double> a, std::int64_t n, std::int64_t nrhs, double* b) {
  const std::vector<double> original = a;
  std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  double scale = 0.0;
  for (std::int64_t i = 0; i < n; ++i)
    scale = std::max(scale, std::fabs(a[static_cast<std::size_t>(i * n + i)]));
  bool singular = scale == 0.0;
  for (std::int64_t k = 0; k < n && !singular; ++k) {
    std::int64_t p = k;
    for (std::int64_t i = k + 1; i < n; ++i) {
      if (std::fabs(a[static_cast<std::size_t>(i * n + k)]) >
          std::fabs(a[static_cast<std::size_t>(p * n + k)]))
        p = i;
    }
    if (std::fabs(a[static_cast<std::size_t>(p * n + k)]) <= 1e-13 * scale) {
      singular = true;
      break;
    }
    if (p != k) {
      for (std::int64_t j = 0; j < n; ++j)
        std::swap(a[static_cast<std::size_t>(k * n + j)], a[static_cast<std::size_t>(p * n + j)]);
      std::swap(perm[static_cast<std::size_t>(k)], perm[static_cast<std::size_t>(p)]);
    }
    const double pivot = a[static_cast<std::size_t>(k * n + k)];
    for (std::int64_t i = k + 1; i < n; ++i) {
      const double factor = a[static_cast<std::size_t>(i * n + k)] / pivot;
      a[static_cast<std::size_t>(i * n + k)] = factor;
      for (std::int64_t j = k + 1; j < n; ++j)
        a[static_cast<std::size_t>(i * n + j)] -= factor * a[static_cast<std::size_t>(k * n + j)];
    }
  }
  std::vector<double> y(static_cast<std::size_t>(n));
  if (!singular) {
    for (std::int64_t r = 0; r < nrhs; ++r) {
      double* x = b + r * n;
      for (std::int64_t i = 0; i < n; ++i) {
        double s = x[perm[static_cast<std::size_t>(i)]];
        for (std::int64_t j = 0; j < i; ++j)
          s -= a[static_cast<std::size_t>(i * n + j)] * y[static_cast<std::size_t>(j)];
        y[static_cast<std::size_t>(i)] = s;
      }
      for (std::int64_t i = n - 1; i >= 0; --i) {
        double s = y[static_cast<std::size_t>(i)];
        for (std::int64_t j = i + 1; j < n; ++j) s -= a[static_cast<std::size_t>(i * n + j)] * x[j];
        x[i] = s / a[static_cast<std::size_t>(i * n + i)];
      }
    }
    return true;
  }
  // Cyclic Jacobi: original = V diag(d) V^T.
  a = original;
  std::vector<double> v(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i * n + i)] = 1.0;
  auto at = [n](std::vector<double>& m, std::int64_t i, std::int64_t j) -> double& {
    return m[static_cast<std::size_t>(i * n + j)];
  };
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0, diag = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      diag += at(a, i, i) * at(a, i, i);
      for (std::int64_t j = i + 1; j < n; ++j) off += at(a, i, j) * at(a, i, j);
    }
    if (off <= 1e-32 * diag || off == 0.0) break;
    for (std::int64_t p = 0; p < n; ++p) {
      for (std::int64_t q = p + 1; q < n; ++q) {
        const double apq = at(a, p, q);
        if (apq == 0.0) continue;
        const double theta = (at(a, q, q) - at(a, p, p)) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (std::int64_t k = 0; k < n; ++k) {  // columns p, q
          const double akp = at(a, k, p), akq = at(a, k, q);
          at(a, k, p) = c * akp - s * akq;
          at(a, k, q) = s * akp + c * akq;
        }
        for (std::int64_t k = 0; k < n; ++k) {  // rows p, q
          const double apk = at(a, p, k), aqk = at(a, q, k);
          at(a, p, k) = c * apk - s * aqk;
          at(a, q, k) = s * apk + c * aqk;
        }
        for (std::int64_t k = 0; k < n; ++k) {
          const double vkp = at(v, k, p), vkq = at(v, k, q);
          at(v, k, p) = c * vkp - s * vkq;
          at(v, k, q) = s * vkp + c * vkq;
        }
      }
    }
  }
  double largest = 0.0;
  for (std::int64_t i = 0; i < n; ++i) largest = std::max(largest, std::fabs(at(a, i, i)));
  for (std::int64_t r = 0; r < nrhs; ++r) {
    double* x = b + r * n;
    std::fill(y.begin(), y.end(), 0.0);
    for (std::int64_t e = 0; e < n; ++e) {
      const double lambda = at(a, e, e);
      if (std::fabs(lambda) <= 1e-15 * largest || lambda == 0.0) continue;
      double proj = 0.0;
      for (std::int64_t k = 0; k < n; ++k) proj += at(v, k, e) * x[k];
      for (std::int64_t k = 0; k < n; ++k) y[static_cast<std::size_t>(k)] += at(v, k, e) * proj / lambda;
    }
    std::copy(y.begin(), y.end(), x);
  }
  return false;
}

}  // namespace loupe::shap
