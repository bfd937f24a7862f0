#include "lars.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "linear_solve.hpp"

namespace loupe::shap {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();
constexpr std::int64_t kLassoLarsIcMaxIter = 500;

// Gram [p][p] and Xy [p] of rows x[n][p] and targets y[n].
void NormalEquations(const std::vector<double>& x, const std::vector<double>& y, std::int64_t n,
                     std::int64_t p, std::vector<double>* gram, std::vector<double>* xy) {
  gram->assign(static_cast<std::size_t>(p * p), 0.0);
  xy->assign(static_cast<std::size_t>(p), 0.0);
  for (std::int64_t r = 0; r < n; ++r) {
    const double* row = x.data() + r * p;
    for (std::int64_t i = 0; i < p; ++i) {
      if (row[i] == 0.0) continue;
      (*xy)[static_cast<std::size_t>(i)] += row[i] * y[static_cast<std::size_t>(r)];
      for (std::int64_t j = 0; j < p; ++j) (*gram)[static_cast<std::size_t>(i * p + j)] += row[i] * row[j];
    }
  }
}

}  // namespace

std::vector<std::int64_t> SelectLassoLarsIC(const std::vector<double>& x, const std::vector<double>& y,
                                            std::int64_t n, std::int64_t p, InformationCriterion criterion) {
  std::vector<std::int64_t> all(static_cast<std::size_t>(p));
  std::iota(all.begin(), all.end(), 0);
  if (n <= p + 1) return all;
  // Scale by the column standard deviation, then centre (the intercept).
  std::vector<double> xs = x, yc = y;
  for (std::int64_t j = 0; j < p; ++j) {
    double mean = 0.0, squares = 0.0;
    for (std::int64_t r = 0; r < n; ++r) mean += x[static_cast<std::size_t>(r * p + j)];
    mean /= static_cast<double>(n);
    for (std::int64_t r = 0; r < n; ++r)
      squares +=
          (x[static_cast<std::size_t>(r * p + j)] - mean) * (x[static_cast<std::size_t>(r * p + j)] - mean);
    const double sd = std::sqrt(squares / static_cast<double>(n));
    const double scale = sd > 0.0 ? sd : 1.0;
    for (std::int64_t r = 0; r < n; ++r)
      xs[static_cast<std::size_t>(r * p + j)] = (x[static_cast<std::size_t>(r * p + j)] - mean) / scale;
  }
  const double y_mean = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  for (double& v : yc) v -= y_mean;
  std::vector<double> gram, xy;
  NormalEquations(xs, yc, n, p, &gram, &xy);
  const LarsPath path = ComputeLarsPath(gram, xy, p, n, /*lasso=*/true, kLassoLarsIcMaxIter);

  auto rss = [&](const std::vector<double>& beta) {
    double total = 0.0;
    for (std::int64_t r = 0; r < n; ++r) {
      double fit = 0.0;
      for (std::int64_t j = 0; j < p; ++j)
        fit += xs[static_cast<std::size_t>(r * p + j)] * beta[static_cast<std::size_t>(j)];
      total += (yc[static_cast<std::size_t>(r)] - fit) * (yc[static_cast<std::size_t>(r)] - fit);
    }
    return total;
  };
  std::vector<double> ols = xy;
  SolveSymmetric(gram, p, 1, ols.data());
  const double noise = rss(ols) / static_cast<double>(n - p - 1);
  if (!(noise > 0.0)) {  // an exact linear fit: no noise to weigh against; keep the least squares support
    std::vector<std::int64_t> kept;
    for (std::int64_t j = 0; j < p; ++j) {
      if (path.coefs.back()[static_cast<std::size_t>(j)] != 0.0) kept.push_back(j);
    }
    return kept;
  }
  const double factor = criterion == InformationCriterion::kAic ? 2.0 : std::log(static_cast<double>(n));
  double best = std::numeric_limits<double>::infinity();
  std::size_t best_knot = 0;
  for (std::size_t k = 0; k < path.coefs.size(); ++k) {
    std::int64_t df = 0;
    for (const double b : path.coefs[k]) df += std::fabs(b) > kEps ? 1 : 0;
    const double value = static_cast<double>(n) * std::log(2.0 * M_PI * noise) + rss(path.coefs[k]) / noise +
                         factor * static_cast<double>(df);
    if (value < best) best = value, best_knot = k;
  }
  std::vector<std::int64_t> kept;
  for (std::int64_t j = 0; j < p; ++j) {
    if (path.coefs[best_knot][static_cast<std::size_t>(j)] != 0.0) kept.push_back(j);
  }
  return kept;
}

std::vector<std::int64_t> SelectFirstLars(const std::vector<double>& x, const std::vector<double>& y,
                                          std::int64_t n, std::int64_t p, std::int64_t k) {
  std::vector<double> gram, xy;
  NormalEquations(x, y, n, p, &gram, &xy);
  return ComputeLarsPath(gram, xy, p, n, /*lasso=*/false, k).active;
}

}  // namespace loupe::shap
