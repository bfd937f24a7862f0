#include "plugin_common/lars_path.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "plugin_common/symmetric_solve.hpp"

namespace loupe::plugin_common {
namespace {

constexpr double kTiny = 1.1754943508222875e-38;  // numpy's float32 tiny, as lars_path guards divisions
constexpr double kEps = std::numeric_limits<double>::epsilon();

double MinPositive(double a, double b) {
  if (b > 0.0 && b < a) return b;
  return a;
}

std::size_t At(std::int64_t i) { return static_cast<std::size_t>(i); }

// The state of the path between knots.
struct LarsState {
  std::int64_t p = 0;
  std::vector<double> beta, sign, correlation;
  std::vector<bool> is_active;
};

// Correlations of every feature with the current residual: Xy - Gram beta.
void UpdateCorrelations(const std::vector<double>& gram, const std::vector<double>& xy, LarsState& state) {
  for (std::int64_t j = 0; j < state.p; ++j) {
    double s = xy[At(j)];
    for (std::int64_t k = 0; k < state.p; ++k) s -= gram[At(j * state.p + k)] * state.beta[At(k)];
    state.correlation[At(j)] = s;
  }
}

// The equiangular direction w = G_AA^-1 s_A, scaled so that s_A^T w AA = 1; returns AA.
double EquiangularDirection(const std::vector<double>& gram, const std::vector<std::int64_t>& active,
                            const LarsState& state, std::vector<double>& w) {
  const auto na = static_cast<std::int64_t>(active.size());
  std::vector<double> g_aa(At(na * na));
  w.resize(At(na));
  for (std::int64_t a = 0; a < na; ++a) {
    w[At(a)] = state.sign[At(active[At(a)])];
    for (std::int64_t b = 0; b < na; ++b)
      g_aa[At(a * na + b)] = gram[At(active[At(a)] * state.p + active[At(b)])];
  }
  SolveSymmetric(std::move(g_aa), na, 1, w.data());
  double sw = 0.0;
  for (std::int64_t a = 0; a < na; ++a) sw += w[At(a)] * state.sign[At(active[At(a)])];
  const double aa = 1.0 / std::sqrt(std::max(sw, kTiny));
  for (double& v : w) v *= aa;
  return aa;
}

// The step length along w: until an inactive feature's correlation ties the active ones (or, with none
// left, to the least-squares fit of the active set).
double StepToNextTie(const std::vector<double>& gram, const std::vector<std::int64_t>& active,
                     const LarsState& state, const std::vector<double>& w, double big_c, double aa) {
  double gamma = big_c / aa;
  for (std::int64_t j = 0; j < state.p; ++j) {
    if (state.is_active[At(j)]) continue;
    double a_j = 0.0;
    for (std::size_t a = 0; a < active.size(); ++a) a_j += gram[At(j * state.p + active[a])] * w[a];
    gamma = MinPositive(gamma, (big_c - state.correlation[At(j)]) / (aa - a_j + kTiny));
    gamma = MinPositive(gamma, (big_c + state.correlation[At(j)]) / (aa + a_j + kTiny));
  }
  return gamma;
}

}  // namespace

LarsPath ComputeLarsPath(const std::vector<double>& gram, const std::vector<double>& xy, std::int64_t p,
                         std::int64_t n_samples, bool lasso, std::int64_t max_iter, double min_correlation) {
  LarsPath path;
  LarsState state;
  state.p = p;
  state.beta.assign(At(p), 0.0);
  state.sign.assign(At(p), 0.0);
  state.correlation.assign(At(p), 0.0);
  state.is_active.assign(At(p), false);
  path.coefs.push_back(state.beta);
  bool drop = false;
  std::vector<double> w;
  for (std::int64_t n_iter = 0;; ++n_iter) {
    UpdateCorrelations(gram, xy, state);
    const std::vector<double>& c = state.correlation;
    std::int64_t entering = -1;
    double big_c = 0.0;
    for (std::int64_t j = 0; j < p; ++j) {
      if (state.is_active[At(j)]) continue;
      if (entering < 0 || std::fabs(c[At(j)]) > big_c) entering = j, big_c = std::fabs(c[At(j)]);
    }
    if (entering < 0) {  // all active: the level of the active correlations
      for (const std::int64_t j : path.active) big_c = std::max(big_c, std::fabs(c[At(j)]));
    }
    path.alphas.push_back(big_c / static_cast<double>(n_samples));
    if (path.alphas.back() <= kEps || (min_correlation > 0.0 && big_c <= min_correlation)) break;
    if (n_iter >= max_iter || static_cast<std::int64_t>(path.active.size()) >= p) break;
    if (!drop) {
      if (entering < 0) break;
      path.active.push_back(entering);
      state.is_active[At(entering)] = true;
      state.sign[At(entering)] = c[At(entering)] >= 0.0 ? 1.0 : -1.0;
    }
    const double aa = EquiangularDirection(gram, path.active, state, w);
    double gamma = StepToNextTie(gram, path.active, state, w, big_c, aa);
    drop = false;
    std::int64_t dropped = -1;
    const auto na = static_cast<std::int64_t>(path.active.size());
    if (lasso) {  // a coefficient crossing zero ends the step there and leaves the active set
      for (std::int64_t a = 0; a < na; ++a) {
        const double z = -state.beta[At(path.active[At(a)])] / (w[At(a)] + kTiny);
        if (z > 0.0 && z < gamma) gamma = z, dropped = a, drop = true;
      }
    }
    for (std::int64_t a = 0; a < na; ++a) state.beta[At(path.active[At(a)])] += gamma * w[At(a)];
    if (drop) {
      const std::int64_t j = path.active[At(dropped)];
      state.beta[At(j)] = 0.0;
      state.is_active[At(j)] = false;
      path.active.erase(path.active.begin() + dropped);
    }
    path.coefs.push_back(state.beta);
  }
  return path;
}

}  // namespace loupe::plugin_common
