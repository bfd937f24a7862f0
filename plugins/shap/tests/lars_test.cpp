// The LARS / lasso path and LassoLarsIC selection behind shap.kernel's `l1_reg`, checked against direct
// computations: the optimality (KKT) conditions at every knot, the least squares fit at the end of the
// path, the entry order on an orthogonal design, and the information criterion minimised by brute force.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "../src/lars.hpp"
#include "../src/linear_solve.hpp"
#include "loupe/sdk/random.hpp"

namespace {

using loupe::shap::ComputeLarsPath;
using loupe::shap::InformationCriterion;
using loupe::shap::LarsPath;

struct Problem {
  std::int64_t n = 0, p = 0;
  std::vector<double> x, y;  // x [n][p]
};

Problem Random(std::int64_t n, std::int64_t p, std::uint64_t seed) {
  Problem problem{n, p, {}, {}};
  loupe::sdk::Rng rng(seed, 0, 0);
  const std::vector<double> beta = {3.0, -2.0, 0.0, 1.5, 0.0, 0.0, 0.7, -0.2};
  for (std::int64_t r = 0; r < n; ++r) {
    double y = 0.0;
    for (std::int64_t j = 0; j < p; ++j) {
      const double v = rng.Normal() + (j == 1 ? 0.5 * problem.x[static_cast<std::size_t>(r * p)] : 0.0);
      problem.x.push_back(v);
      y += beta[static_cast<std::size_t>(j % 8)] * v;
    }
    problem.y.push_back(y + 0.5 * rng.Normal());
  }
  return problem;
}

void Normal(const Problem& problem, std::vector<double>* gram, std::vector<double>* xy) {
  gram->assign(static_cast<std::size_t>(problem.p * problem.p), 0.0);
  xy->assign(static_cast<std::size_t>(problem.p), 0.0);
  for (std::int64_t r = 0; r < problem.n; ++r) {
    for (std::int64_t i = 0; i < problem.p; ++i) {
      const double xi = problem.x[static_cast<std::size_t>(r * problem.p + i)];
      (*xy)[static_cast<std::size_t>(i)] += xi * problem.y[static_cast<std::size_t>(r)];
      for (std::int64_t j = 0; j < problem.p; ++j)
        (*gram)[static_cast<std::size_t>(i * problem.p + j)] +=
            xi * problem.x[static_cast<std::size_t>(r * problem.p + j)];
    }
  }
}

// X^T (y - X beta) / n, from the rows.
std::vector<double> Correlations(const Problem& problem, const std::vector<double>& beta) {
  std::vector<double> c(static_cast<std::size_t>(problem.p), 0.0);
  for (std::int64_t r = 0; r < problem.n; ++r) {
    double residual = problem.y[static_cast<std::size_t>(r)];
    for (std::int64_t j = 0; j < problem.p; ++j)
      residual -= problem.x[static_cast<std::size_t>(r * problem.p + j)] * beta[static_cast<std::size_t>(j)];
    for (std::int64_t j = 0; j < problem.p; ++j)
      c[static_cast<std::size_t>(j)] +=
          problem.x[static_cast<std::size_t>(r * problem.p + j)] * residual / static_cast<double>(problem.n);
  }
  return c;
}

TEST(ShapLars, EveryKnotSatisfiesTheLassoOptimalityConditions) {
  const Problem problem = Random(300, 8, 1);
  std::vector<double> gram, xy;
  Normal(problem, &gram, &xy);
  for (const bool lasso : {false, true}) {
    const LarsPath path = ComputeLarsPath(gram, xy, problem.p, problem.n, lasso, 500);
    ASSERT_EQ(path.alphas.size(), path.coefs.size());
    ASSERT_GE(path.coefs.size(), 9u);
    for (std::size_t k = 1; k + 1 < path.coefs.size(); ++k) {
      const std::vector<double> c = Correlations(problem, path.coefs[k]);
      const double alpha = path.alphas[k];
      EXPECT_LT(alpha, path.alphas[k - 1] + 1e-12);
      for (std::int64_t j = 0; j < problem.p; ++j) {
        const double beta = path.coefs[k][static_cast<std::size_t>(j)];
        EXPECT_LE(std::fabs(c[static_cast<std::size_t>(j)]), alpha * (1 + 1e-9) + 1e-12) << "knot " << k;
        if (beta != 0.0) {
          EXPECT_NEAR(std::fabs(c[static_cast<std::size_t>(j)]), alpha, 1e-9 * (1 + alpha)) << "knot " << k;
          if (lasso) {
            EXPECT_GT(beta * c[static_cast<std::size_t>(j)], 0.0) << "knot " << k;
          }
        }
      }
    }
    // The end of the path is the least squares fit.
    std::vector<double> ols = xy;
    loupe::shap::SolveSymmetric(gram, problem.p, 1, ols.data());
    for (std::int64_t j = 0; j < problem.p; ++j)
      EXPECT_NEAR(path.coefs.back()[static_cast<std::size_t>(j)], ols[static_cast<std::size_t>(j)], 1e-9);
  }
}

TEST(ShapLars, OrthogonalDesignEntersFeaturesByCorrelation) {
  // x = identity blocks: X^T X = 4 I, so LAR enters features by |X^T y| and num_features(k) keeps the top k.
  const std::int64_t p = 5;
  Problem problem{4 * p, p, std::vector<double>(static_cast<std::size_t>(4 * p * p), 0.0), {}};
  const std::vector<double> target = {0.3, -2.0, 1.1, 0.05, -0.7};
  for (std::int64_t r = 0; r < 4 * p; ++r) {
    problem.x[static_cast<std::size_t>(r * p + r % p)] = 1.0;
    problem.y.push_back(target[static_cast<std::size_t>(r % p)]);
  }
  const std::vector<std::int64_t> first = loupe::shap::SelectFirstLars(problem.x, problem.y, problem.n, p, 3);
  EXPECT_EQ(first, (std::vector<std::int64_t>{1, 2, 4}));
}

TEST(ShapLars, LassoLarsIcMinimisesTheCriterionOverThePath) {
  const Problem raw = Random(200, 8, 2);
  for (const auto criterion : {InformationCriterion::kAic, InformationCriterion::kBic}) {
    const std::vector<std::int64_t> kept =
        loupe::shap::SelectLassoLarsIC(raw.x, raw.y, raw.n, raw.p, criterion);
    // Direct: scale and centre, walk the lasso path, evaluate the criterion from the residuals.
    Problem problem = raw;
    for (std::int64_t j = 0; j < raw.p; ++j) {
      double mean = 0, squares = 0;
      for (std::int64_t r = 0; r < raw.n; ++r)
        mean += raw.x[static_cast<std::size_t>(r * raw.p + j)] / static_cast<double>(raw.n);
      for (std::int64_t r = 0; r < raw.n; ++r)
        squares += std::pow(raw.x[static_cast<std::size_t>(r * raw.p + j)] - mean, 2);
      const double sd = std::sqrt(squares / static_cast<double>(raw.n));
      for (std::int64_t r = 0; r < raw.n; ++r)
        problem.x[static_cast<std::size_t>(r * raw.p + j)] =
            (raw.x[static_cast<std::size_t>(r * raw.p + j)] - mean) / sd;
    }
    const double y_mean = std::accumulate(raw.y.begin(), raw.y.end(), 0.0) / static_cast<double>(raw.n);
    for (double& v : problem.y) v -= y_mean;
    std::vector<double> gram, xy;
    Normal(problem, &gram, &xy);
    const LarsPath path = ComputeLarsPath(gram, xy, problem.p, problem.n, true, 500);
    auto rss = [&](const std::vector<double>& beta) {
      double total = 0;
      for (std::int64_t r = 0; r < problem.n; ++r) {
        double e = problem.y[static_cast<std::size_t>(r)];
        for (std::int64_t j = 0; j < problem.p; ++j)
          e -= problem.x[static_cast<std::size_t>(r * problem.p + j)] * beta[static_cast<std::size_t>(j)];
        total += e * e;
      }
      return total;
    };
    const double noise = rss(path.coefs.back()) / static_cast<double>(problem.n - problem.p - 1);
    const double factor =
        criterion == InformationCriterion::kAic ? 2.0 : std::log(static_cast<double>(problem.n));
    std::size_t best = 0;
    double best_value = INFINITY;
    for (std::size_t k = 0; k < path.coefs.size(); ++k) {
      const double df = static_cast<double>(
          std::count_if(path.coefs[k].begin(), path.coefs[k].end(), [](double b) { return b != 0.0; }));
      const double value = rss(path.coefs[k]) / noise + factor * df;
      if (value < best_value) best_value = value, best = k;
    }
    std::vector<std::int64_t> expected;
    for (std::int64_t j = 0; j < problem.p; ++j) {
      if (path.coefs[best][static_cast<std::size_t>(j)] != 0.0) expected.push_back(j);
    }
    EXPECT_EQ(kept, expected);
    EXPECT_GE(kept.size(), 3u);  // the three large true coefficients survive
    EXPECT_LT(kept.size(), 8u);  // and the zero ones do not all
  }
}

}  // namespace
