#include "plugin_common/symmetric_solve.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

namespace loupe::plugin_common {
namespace {

constexpr int kMaxJacobiSweeps = 100;
// A pivot this small relative to the largest diagonal entry counts as zero: the system is singular.
constexpr double kSingularPivot = 1e-13;

std::size_t Index(std::int64_t n, std::int64_t row, std::int64_t column) {
  return static_cast<std::size_t>(row * n + column);
}

// LU with partial pivoting of a in place (L below the diagonal, unit diagonal implied); false when a pivot
// vanishes. `perm` receives the row permutation.
bool FactorLu(std::vector<double>& a, std::int64_t n, std::vector<std::int64_t>& perm) {
  perm.resize(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  double scale = 0.0;
  for (std::int64_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(a[Index(n, i, i)]));
  if (scale == 0.0) return false;
  for (std::int64_t k = 0; k < n; ++k) {
    std::int64_t p = k;
    for (std::int64_t i = k + 1; i < n; ++i) {
      if (std::fabs(a[Index(n, i, k)]) > std::fabs(a[Index(n, p, k)])) p = i;
    }
    if (std::fabs(a[Index(n, p, k)]) <= kSingularPivot * scale) return false;
    if (p != k) {
      for (std::int64_t j = 0; j < n; ++j) std::swap(a[Index(n, k, j)], a[Index(n, p, j)]);
      std::swap(perm[static_cast<std::size_t>(k)], perm[static_cast<std::size_t>(p)]);
    }
    const double pivot = a[Index(n, k, k)];
    for (std::int64_t i = k + 1; i < n; ++i) {
      const double factor = a[Index(n, i, k)] / pivot;
      a[Index(n, i, k)] = factor;
      for (std::int64_t j = k + 1; j < n; ++j) a[Index(n, i, j)] -= factor * a[Index(n, k, j)];
    }
  }
  return true;
}

// Forward and back substitution with the factors of FactorLu, for each right-hand side in place.
void SubstituteLu(const std::vector<double>& lu, const std::vector<std::int64_t>& perm, std::int64_t n,
                  std::int64_t nrhs, double* b) {
  std::vector<double> y(static_cast<std::size_t>(n));
  for (std::int64_t r = 0; r < nrhs; ++r) {
    double* x = b + r * n;
    for (std::int64_t i = 0; i < n; ++i) {
      double s = x[perm[static_cast<std::size_t>(i)]];
      for (std::int64_t j = 0; j < i; ++j) s -= lu[Index(n, i, j)] * y[static_cast<std::size_t>(j)];
      y[static_cast<std::size_t>(i)] = s;
    }
    for (std::int64_t i = n - 1; i >= 0; --i) {
      double s = y[static_cast<std::size_t>(i)];
      for (std::int64_t j = i + 1; j < n; ++j) s -= lu[Index(n, i, j)] * x[j];
      x[i] = s / lu[Index(n, i, i)];
    }
  }
}

// x = V diag(1 / values) V^T b over the eigenvalues above the cutoff, for each right-hand side in place.
void ApplyPseudoInverse(const SymmetricEigen& eigen, std::int64_t n, std::int64_t nrhs, double* b,
                        double rcond) {
  double largest = 0.0;
  for (const double value : eigen.values) largest = std::max(largest, std::fabs(value));
  const double cutoff = rcond * largest;
  std::vector<double> x(static_cast<std::size_t>(n));
  for (std::int64_t r = 0; r < nrhs; ++r) {
    double* rhs = b + r * n;
    std::fill(x.begin(), x.end(), 0.0);
    for (std::int64_t e = 0; e < n; ++e) {
      const double lambda = eigen.values[static_cast<std::size_t>(e)];
      if (!(std::fabs(lambda) > cutoff)) continue;
      double projection = 0.0;
      for (std::int64_t k = 0; k < n; ++k) projection += eigen.vectors[Index(n, k, e)] * rhs[k];
      projection /= lambda;
      for (std::int64_t k = 0; k < n; ++k)
        x[static_cast<std::size_t>(k)] += projection * eigen.vectors[Index(n, k, e)];
    }
    std::copy(x.begin(), x.end(), rhs);
  }
}

}  // namespace

SymmetricEigen DecomposeSymmetric(std::vector<double> a, std::int64_t n) {
  const auto at = [n](std::int64_t r, std::int64_t c) { return Index(n, r, c); };
  SymmetricEigen eigen;
  eigen.vectors.assign(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) eigen.vectors[at(i, i)] = 1.0;
  std::vector<double>& v = eigen.vectors;
  double scale = 0;
  for (const double value : a) scale = std::max(scale, std::fabs(value));
  for (int sweep = 0; sweep < kMaxJacobiSweeps && scale > 0; ++sweep) {
    double off = 0;
    for (std::int64_t p = 0; p < n; ++p) {
      for (std::int64_t q = p + 1; q < n; ++q) off = std::max(off, std::fabs(a[at(p, q)]));
    }
    if (off <= 1e-300 || off <= 1e-17 * scale) break;
    for (std::int64_t p = 0; p < n; ++p) {
      for (std::int64_t q = p + 1; q < n; ++q) {
        const double apq = a[at(p, q)];
        if (std::fabs(apq) <= 1e-300) continue;
        // The rotation that zeroes a[p][q], applied to rows and columns p, q at once (a stays symmetric).
        const double theta = (a[at(q, q)] - a[at(p, p)]) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0);
        const double s = t * c;
        for (std::int64_t r = 0; r < n; ++r) {
          if (r == p || r == q) continue;
          const double arp = a[at(r, p)], arq = a[at(r, q)];
          a[at(r, p)] = a[at(p, r)] = c * arp - s * arq;
          a[at(r, q)] = a[at(q, r)] = s * arp + c * arq;
        }
        a[at(p, p)] -= t * apq;
        a[at(q, q)] += t * apq;
        a[at(p, q)] = a[at(q, p)] = 0.0;
        for (std::int64_t r = 0; r < n; ++r) {
          const double vrp = v[at(r, p)], vrq = v[at(r, q)];
          v[at(r, p)] = c * vrp - s * vrq;
          v[at(r, q)] = s * vrp + c * vrq;
        }
      }
    }
  }
  eigen.values.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) eigen.values[static_cast<std::size_t>(i)] = a[at(i, i)];
  return eigen;
}

bool SolveSymmetric(std::vector<double> a, std::int64_t n, std::int64_t nrhs, double* b,
                    const SymmetricSolveOptions& options) {
  if (options.ridge != 0.0) {
    for (std::int64_t i = 0; i < n; ++i) a[Index(n, i, i)] += options.ridge;
  }
  if (options.lu_first) {
    std::vector<double> lu = a;
    std::vector<std::int64_t> perm;
    if (FactorLu(lu, n, perm)) {
      SubstituteLu(lu, perm, n, nrhs, b);
      return true;
    }
  }
  ApplyPseudoInverse(DecomposeSymmetric(std::move(a), n), n, nrhs, b, options.rcond);
  return false;
}

}  // namespace loupe::plugin_common
