#include "lars.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "linear_solve.hpp"

namespace loupe::shap {
namespace {

constexpr double kTiny = 1.1754943508222875e-38;  // numpy's float32 tiny, as lars_path guards divisions
constexpr double kEps = std::numeric_limits<double>::epsilon();
constexpr std::int64_t kLassoLarsIcMaxIter = 500;

double MinPositive(double a, double b) {
  if (b > 0.0 && b < a) return b;
  return a;
}

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

LarsPath ComputeLarsPath(const std::vector<double>& gram, const std::vector<double>& xy, std::int64_t p,
                         std::int64_t n_samples, bool lasso, std::int64_t max_iter) {
  LarsPath path;
  std::vector<double> beta(static_cast<std::size_t>(p), 0.0), sign(static_cast<std::size_t>(p), 0.0);
  std::vector<bool> is_active(static_cast<std::size_t>(p), false);
  std::vector<double> c(static_cast<std::size_t>(p));
  path.coefs.push_back(beta);
  bool drop = false;
  for (std::int64_t n_iter = 0;; ++n_iter) {
    for (std::int64_t j = 0; j < p; ++j) {  // correlations with the current residual
      double s = xy[static_cast<std::size_t>(j)];
      for (std::int64_t k = 0; k < p; ++k)
        s -= gram[static_cast<std::size_t>(j * p + k)] * beta[static_cast<std::size_t>(k)];
      c[static_cast<std::size_t>(j)] = s;
    }
    std::int64_t entering = -1;
    double big_c = 0.0;
    for (std::int64_t j = 0; j < p; ++j) {
      if (is_active[static_cast<std::size_t>(j)]) continue;
      if (entering < 0 || std::fabs(c[static_cast<std::size_t>(j)]) > big_c)
        entering = j, big_c = std::fabs(c[static_cast<std::size_t>(j)]);
    }
    if (entering < 0) {  // all active: the level of the active correlations
      for (const std::int64_t j : path.active)
        big_c = std::max(big_c, std::fabs(c[static_cast<std::size_t>(j)]));
    }
    path.alphas.push_back(big_c / static_cast<double>(n_samples));
    if (path.alphas.back() <= kEps) break;
    if (n_iter >= max_iter || static_cast<std::int64_t>(path.active.size()) >= p) break;
    if (!drop) {
      if (entering < 0) break;
      path.active.push_back(entering);
      is_active[static_cast<std::size_t>(entering)] = true;
      sign[static_cast<std::size_t>(entering)] = c[static_cast<std::size_t>(entering)] >= 0.0 ? 1.0 : -1.0;
    }
    // Equiangular direction: w = G_AA^-1 s_A, scaled so that s_A^T w AA = 1.
    const auto na = static_cast<std::int64_t>(path.active.size());
    std::vector<double> g_aa(static_cast<std::size_t>(na * na)), w(static_cast<std::size_t>(na));
    for (std::int64_t a = 0; a < na; ++a) {
      w[static_cast<std::size_t>(a)] =
          sign[static_cast<std::size_t>(path.active[static_cast<std::size_t>(a)])];
      for (std::int64_t b = 0; b < na; ++b) {
        g_aa[static_cast<std::size_t>(a * na + b)] = gram[static_cast<std::size_t>(
            path.active[static_cast<std::size_t>(a)] * p + path.active[static_cast<std::size_t>(b)])];
      }
    }
    SolveSymmetric(std::move(g_aa), na, 1, w.data());
    double sw = 0.0;
    for (std::int64_t a = 0; a < na; ++a)
      sw += w[static_cast<std::size_t>(a)] *
            sign[static_cast<std::size_t>(path.active[static_cast<std::size_t>(a)])];
    const double aa = 1.0 / std::sqrt(std::max(sw, kTiny));
    for (double& v : w) v *= aa;
    // Step length: until an inactive feature's correlation ties (or to the least squares fit).
    double gamma = big_c / aa;
    for (std::int64_t j = 0; j < p; ++j) {
      if (is_active[static_cast<std::size_t>(j)]) continue;
      double a_j = 0.0;
      for (std::int64_t a = 0; a < na; ++a)
        a_j += gram[static_cast<std::size_t>(j * p + path.active[static_cast<std::size_t>(a)])] *
               w[static_cast<std::size_t>(a)];
      gamma = MinPositive(gamma, (big_c - c[static_cast<std::size_t>(j)]) / (aa - a_j + kTiny));
      gamma = MinPositive(gamma, (big_c + c[static_cast<std::size_t>(j)]) / (aa + a_j + kTiny));
    }
    drop = false;
    std::int64_t dropped = -1;
    if (lasso) {  // a coefficient crossing zero ends the step there and leaves the active set
      for (std::int64_t a = 0; a < na; ++a) {
        const std::int64_t j = path.active[static_cast<std::size_t>(a)];
        const double z = -beta[static_cast<std::size_t>(j)] / (w[static_cast<std::size_t>(a)] + kTiny);
        if (z > 0.0 && z < gamma) gamma = z, dropped = a, drop = true;
      }
    }
    for (std::int64_t a = 0; a < na; ++a)
      beta[static_cast<std::size_t>(path.active[static_cast<std::size_t>(a)])] +=
          gamma * w[static_cast<std::size_t>(a)];
    if (drop) {
      const std::int64_t j = path.active[static_cast<std::size_t>(dropped)];
      beta[static_cast<std::size_t>(j)] = 0.0;
      is_active[static_cast<std::size_t>(j)] = false;
      path.active.erase(path.active.begin() + dropped);
    }
    path.coefs.push_back(beta);
  }
  return path;
}

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
