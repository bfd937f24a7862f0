// The local model of lime.tabular against direct implementations: weighted ridge against its closed form,
// forward selection against a brute-force greedy search over per-sample least squares, highest_weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "local_model.hpp"
#include "loupe/sdk/random.hpp"

namespace {

using loupe::lime::FitRidge;
using loupe::lime::LocalDesign;
using loupe::lime::LocalTarget;
using loupe::lime::Selection;

struct Problem {
  std::int64_t n = 0, k = 0;
  std::vector<double> x, y, w;
};

Problem Random(std::int64_t n, std::int64_t k, std::uint64_t seed, bool binary) {
  Problem p;
  p.n = n;
  p.k = k;
  loupe::sdk::Rng rng(seed, 0, 0);
  for (std::int64_t i = 0; i < n * k; ++i)
    p.x.push_back(binary ? static_cast<double>(rng.Below(2)) : rng.Normal());
  const std::vector<double> beta = {2.0, -1.0, 0.5, 0.0, 3.0, -0.2, 0.05, 1.1};
  for (std::int64_t i = 0; i < n; ++i) {
    double y = 0.3 + 0.4 * rng.Normal();
    for (std::int64_t j = 0; j < k; ++j)
      y += beta[static_cast<std::size_t>(j % 8)] * p.x[static_cast<std::size_t>(i * k + j)];
    p.y.push_back(y + 0.5 * p.x[static_cast<std::size_t>(i * k)] * p.x[static_cast<std::size_t>(i * k + 1)]);
    p.w.push_back(0.05 + rng.Uniform());
  }
  return p;
}

// Gaussian elimination with partial pivoting on a dense system (the direct reference solver).
std::vector<double> Gauss(std::vector<std::vector<double>> a, std::vector<double> b) {
  const std::size_t n = b.size();
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t pivot = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[pivot][c])) pivot = r;
    std::swap(a[c], a[pivot]);
    std::swap(b[c], b[pivot]);
    for (std::size_t r = c + 1; r < n; ++r) {
      const double f = a[r][c] / a[c][c];
      for (std::size_t j = c; j < n; ++j) a[r][j] -= f * a[c][j];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(n);
  for (std::size_t c = n; c-- > 0;) {
    double s = b[c];
    for (std::size_t j = c + 1; j < n; ++j) s -= a[c][j] * x[j];
    x[c] = s / a[c][c];
  }
  return x;
}

// Closed form of weighted ridge with an unpenalized intercept: minimize
// sum_i w_i (y_i - b0 - x_i'b)^2 + alpha |b|^2 through the (k+1) normal equations on raw columns.
std::vector<double> ClosedFormRidge(const Problem& p, const std::vector<std::int64_t>& cols, double alpha) {
  const std::size_t s = cols.size() + 1;
  std::vector<std::vector<double>> a(s, std::vector<double>(s, 0.0));
  std::vector<double> b(s, 0.0);
  for (std::int64_t i = 0; i < p.n; ++i) {
    std::vector<double> z = {1.0};
    for (const std::int64_t c : cols) z.push_back(p.x[static_cast<std::size_t>(i * p.k + c)]);
    for (std::size_t r = 0; r < s; ++r) {
      b[r] += p.w[static_cast<std::size_t>(i)] * z[r] * p.y[static_cast<std::size_t>(i)];
      for (std::size_t c = 0; c < s; ++c) a[r][c] += p.w[static_cast<std::size_t>(i)] * z[r] * z[c];
    }
  }
  for (std::size_t r = 1; r < s; ++r) a[r][r] += alpha;
  return Gauss(a, b);  // [intercept, coef...]
}

double DirectR2(const Problem& p, const std::vector<std::int64_t>& cols,
                const std::vector<double>& solution) {
  double ws = 0, mean = 0;
  for (std::int64_t i = 0; i < p.n; ++i) {
    ws += p.w[static_cast<std::size_t>(i)];
    mean += p.w[static_cast<std::size_t>(i)] * p.y[static_cast<std::size_t>(i)];
  }
  mean /= ws;
  double ssr = 0, sst = 0;
  for (std::int64_t i = 0; i < p.n; ++i) {
    double fit = solution[0];
    for (std::size_t c = 0; c < cols.size(); ++c)
      fit += solution[c + 1] * p.x[static_cast<std::size_t>(i * p.k + cols[c])];
    const double y = p.y[static_cast<std::size_t>(i)];
    ssr += p.w[static_cast<std::size_t>(i)] * (y - fit) * (y - fit);
    sst += p.w[static_cast<std::size_t>(i)] * (y - mean) * (y - mean);
  }
  return 1.0 - ssr / sst;
}

TEST(LimeLocalModel, WeightedRidgeMatchesClosedForm) {
  const Problem p = Random(300, 5, 3, false);
  const LocalDesign design = loupe::lime::SummarizeDesign(p.x.data(), p.n, p.k, p.w.data());
  const LocalTarget target = loupe::lime::SummarizeTarget(design, p.x.data(), p.n, p.y.data(), p.w.data());
  for (const double alpha : {1.0, 0.01, 0.0, 25.0}) {
    const std::vector<std::int64_t> cols = {4, 0, 2};
    const auto model = FitRidge(design, target, cols, alpha);
    const auto expected = ClosedFormRidge(p, cols, alpha);
    EXPECT_NEAR(model.intercept, expected[0], 1e-10) << "alpha " << alpha;
    for (std::size_t c = 0; c < cols.size(); ++c)
      EXPECT_NEAR(model.coef[c], expected[c + 1], 1e-10) << "alpha " << alpha;
    const double r2 = DirectR2(p, cols, expected);
    EXPECT_NEAR(loupe::lime::WeightedR2(model, p.x.data(), p.n, p.k, p.y.data(), p.w.data()), r2, 1e-10);
    EXPECT_NEAR(loupe::lime::StatisticsScore(design, target, model), r2, 1e-9);
  }
  // Alpha shrinks: the penalized norm decreases as alpha grows.
  const std::vector<std::int64_t> all = {0, 1, 2, 3, 4};
  double previous = INFINITY;
  for (const double alpha : {0.0, 1.0, 10.0, 100.0}) {
    const auto model = FitRidge(design, target, all, alpha);
    double norm = 0;
    for (const double c : model.coef) norm += c * c;
    EXPECT_LT(norm, previous);
    previous = norm;
  }
}

TEST(LimeLocalModel, SparseGramEqualsTheCenteredTwoPassSums) {
  // SummarizeDesign accumulates over each sample's non-zero columns and centers afterwards: the same
  // numbers as the direct sum_i w_i (x_i - mean)(x_i - mean)', for 0/1 indicators with rows of every
  // density (all zeros, all ones), a standardized column, and a column that is always 0.
  const std::int64_t n = 500, k = 7;
  loupe::sdk::Rng rng(41, 0, 0);
  std::vector<double> x(static_cast<std::size_t>(n * k)), w(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < k; ++j) {
      double v = rng.Uniform() < 0.25 ? 1.0 : 0.0;
      if (i % 50 == 0) v = 0.0;
      if (i % 50 == 1) v = 1.0;
      if (j == 5) v = rng.Normal();
      if (j == 6) v = 0.0;
      x[static_cast<std::size_t>(i * k + j)] = v;
    }
    w[static_cast<std::size_t>(i)] = i % 7 == 0 ? 0.0 : rng.Uniform();
  }
  const LocalDesign design = loupe::lime::SummarizeDesign(x.data(), n, k, w.data());
  double s = 0;
  std::vector<double> mean(static_cast<std::size_t>(k), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    s += w[static_cast<std::size_t>(i)];
    for (std::int64_t j = 0; j < k; ++j)
      mean[static_cast<std::size_t>(j)] +=
          w[static_cast<std::size_t>(i)] * x[static_cast<std::size_t>(i * k + j)];
  }
  for (double& value : mean) value /= s;
  EXPECT_NEAR(design.weight_sum, s, 1e-12 * s);
  for (std::int64_t a = 0; a < k; ++a) {
    EXPECT_NEAR(design.x_mean[static_cast<std::size_t>(a)], mean[static_cast<std::size_t>(a)], 1e-14);
    for (std::int64_t b = 0; b < k; ++b) {
      double direct = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        direct += w[static_cast<std::size_t>(i)] *
                  (x[static_cast<std::size_t>(i * k + a)] - mean[static_cast<std::size_t>(a)]) *
                  (x[static_cast<std::size_t>(i * k + b)] - mean[static_cast<std::size_t>(b)]);
      }
      EXPECT_NEAR(design.gram[static_cast<std::size_t>(a * k + b)], direct, 1e-11 * s) << a << ", " << b;
      EXPECT_EQ(design.gram[static_cast<std::size_t>(a * k + b)],
                design.gram[static_cast<std::size_t>(b * k + a)]);
    }
  }
  EXPECT_EQ(design.gram[static_cast<std::size_t>(6 * k + 6)], 0.0);  // the all-zero column
}

TEST(LimeLocalModel, SingularSystemGivesTheLeastSquaresFit) {
  Problem p = Random(200, 4, 5, true);
  for (std::int64_t i = 0; i < p.n; ++i) p.x[static_cast<std::size_t>(i * 4 + 3)] = 1.0;  // a constant column
  const LocalDesign design = loupe::lime::SummarizeDesign(p.x.data(), p.n, p.k, p.w.data());
  const LocalTarget target = loupe::lime::SummarizeTarget(design, p.x.data(), p.n, p.y.data(), p.w.data());
  const auto with_constant = FitRidge(design, target, {0, 1, 3}, 0.0);
  const auto without = FitRidge(design, target, {0, 1}, 0.0);
  EXPECT_EQ(with_constant.coef[2], 0.0);
  EXPECT_NEAR(with_constant.coef[0], without.coef[0], 1e-10);
  EXPECT_NEAR(with_constant.intercept, without.intercept, 1e-10);
  EXPECT_TRUE(std::isfinite(loupe::lime::StatisticsScore(design, target, with_constant)));
}

// Greedy forward selection written directly: per candidate set, the closed-form least squares on samples.
std::vector<std::int64_t> DirectForward(const Problem& p, std::int64_t count) {
  std::vector<std::int64_t> used;
  for (std::int64_t step = 0; step < count; ++step) {
    double best = -INFINITY;
    std::int64_t pick = -1;
    for (std::int64_t j = 0; j < p.k; ++j) {
      if (std::find(used.begin(), used.end(), j) != used.end()) continue;
      auto cols = used;
      cols.push_back(j);
      const double score = DirectR2(p, cols, ClosedFormRidge(p, cols, 0.0));
      if (score > best) {
        best = score;
        pick = j;
      }
    }
    used.push_back(pick);
  }
  return used;
}

TEST(LimeLocalModel, ForwardSelectionPicksTheSameFeaturesAsADirectSearch) {
  for (const std::uint64_t seed : {1u, 2u, 3u, 4u}) {
    const Problem p = Random(400, 8, seed, seed % 2 == 0);
    const LocalDesign design = loupe::lime::SummarizeDesign(p.x.data(), p.n, p.k, p.w.data());
    const LocalTarget target = loupe::lime::SummarizeTarget(design, p.x.data(), p.n, p.y.data(), p.w.data());
    for (const std::int64_t count : {1, 3, 5}) {
      EXPECT_EQ(loupe::lime::SelectFeatures(design, target, p.x.data(), Selection::kForward, count),
                DirectForward(p, count))
          << "seed " << seed << " count " << count;
      // auto is forward selection up to 6 features.
      EXPECT_EQ(loupe::lime::SelectFeatures(design, target, p.x.data(), Selection::kAuto, count),
                DirectForward(p, count));
    }
  }
}

TEST(LimeLocalModel, HighestWeightsRanksCoefTimesFirstRow) {
  const Problem p = Random(500, 8, 9, false);
  const LocalDesign design = loupe::lime::SummarizeDesign(p.x.data(), p.n, p.k, p.w.data());
  const LocalTarget target = loupe::lime::SummarizeTarget(design, p.x.data(), p.n, p.y.data(), p.w.data());
  std::vector<std::int64_t> all(8);
  std::iota(all.begin(), all.end(), 0);
  const auto expected_fit = ClosedFormRidge(p, all, 0.01);
  std::vector<double> score(8);
  for (std::size_t j = 0; j < 8; ++j) score[j] = std::fabs(expected_fit[j + 1] * p.x[j]);
  std::vector<std::int64_t> order = all;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t a, std::int64_t b) { return score[a] > score[b]; });
  order.resize(4);
  auto got = loupe::lime::SelectFeatures(design, target, p.x.data(), Selection::kHighestWeights, 4);
  EXPECT_EQ(got, order);
  // auto with more than 6 features is highest_weights.
  EXPECT_EQ(loupe::lime::SelectFeatures(design, target, p.x.data(), Selection::kAuto, 7).size(), 7u);
  std::vector<std::int64_t> seven = all;
  std::stable_sort(seven.begin(), seven.end(),
                   [&](std::int64_t a, std::int64_t b) { return score[a] > score[b]; });
  seven.resize(7);
  EXPECT_EQ(loupe::lime::SelectFeatures(design, target, p.x.data(), Selection::kAuto, 7), seven);
  EXPECT_EQ(loupe::lime::SelectFeatures(design, target, p.x.data(), Selection::kNone, 3), all);
}

}  // namespace

namespace {

// Lasso optimality (KKT) of a path point b with lambda = max |X'(y - Xb)|: every non-zero coefficient has
// correlation lambda * sign(b_j); every other column has |correlation| <= lambda.
void ExpectLassoOptimal(const LocalDesign& design, const LocalTarget& target, const std::vector<double>& b) {
  const std::int64_t k = design.k;
  std::vector<double> corr(static_cast<std::size_t>(k));
  double lambda = 0;
  for (std::int64_t j = 0; j < k; ++j) {
    double c = target.xty[static_cast<std::size_t>(j)];
    for (std::int64_t l = 0; l < k; ++l)
      c -= design.gram[static_cast<std::size_t>(j * k + l)] * b[static_cast<std::size_t>(l)];
    corr[static_cast<std::size_t>(j)] = c;
    lambda = std::max(lambda, std::fabs(c));
  }
  const double tolerance = 1e-8 * std::max(1.0, lambda);
  for (std::int64_t j = 0; j < k; ++j) {
    const double bj = b[static_cast<std::size_t>(j)];
    if (bj != 0.0) {
      EXPECT_NEAR(corr[static_cast<std::size_t>(j)], bj > 0 ? lambda : -lambda, 1e-6 * std::max(1.0, lambda))
          << "column " << j;
    } else {
      EXPECT_LE(std::fabs(corr[static_cast<std::size_t>(j)]), lambda + tolerance) << "column " << j;
    }
  }
}

TEST(LimeLocalModel, LassoPathPointsAreLassoSolutions) {
  for (const std::uint64_t seed : {11u, 12u, 13u}) {
    Problem p = Random(300, 8, seed, seed == 12u);
    // Correlated columns make the path drop variables now and then.
    for (std::int64_t i = 0; i < p.n; ++i) {
      p.x[static_cast<std::size_t>(i * 8 + 5)] =
          p.x[static_cast<std::size_t>(i * 8)] + 0.3 * p.x[static_cast<std::size_t>(i * 8 + 5)];
    }
    const LocalDesign design = loupe::lime::SummarizeDesign(p.x.data(), p.n, p.k, p.w.data());
    const LocalTarget target = loupe::lime::SummarizeTarget(design, p.x.data(), p.n, p.y.data(), p.w.data());
    const auto path = loupe::lime::LassoPath(design, target);
    ASSERT_GE(path.size(), 9u) << "seed " << seed;
    for (const double b : path.front()) EXPECT_EQ(b, 0.0);
    for (std::size_t i = 1; i < path.size(); ++i) ExpectLassoOptimal(design, target, path[i]);
    // The end of the path is the least-squares fit.
    std::vector<std::int64_t> all(8);
    std::iota(all.begin(), all.end(), 0);
    const auto ls = ClosedFormRidge(p, all, 0.0);
    for (std::size_t j = 0; j < 8; ++j) EXPECT_NEAR(path.back()[j], ls[j + 1], 1e-8);
    // lime's rule: the last point with at most num_features non-zero coefficients.
    for (const std::int64_t count : {1, 2, 4, 6}) {
      const auto used = loupe::lime::SelectFeatures(design, target, p.x.data(), Selection::kLassoPath, count);
      EXPECT_LE(static_cast<std::int64_t>(used.size()), count);
      std::size_t last = 0;
      for (std::size_t i = 1; i < path.size(); ++i) {
        std::int64_t nonzero = 0;
        for (const double b : path[i]) nonzero += b != 0.0 ? 1 : 0;
        if (nonzero <= count) last = i;
      }
      std::vector<std::int64_t> expected;
      for (std::int64_t j = 0; j < 8; ++j) {
        if (path[last][static_cast<std::size_t>(j)] != 0.0) expected.push_back(j);
      }
      EXPECT_EQ(used, expected) << "seed " << seed << " count " << count;
    }
  }
}

TEST(LimeLocalModel, LassoPathOnOrthogonalColumnsEntersByCorrelation) {
  // Orthogonal +-1 columns (a 2^3 factorial design, repeated), unit weights: the path adds the columns in
  // the order of |x_j'y|, soft-thresholding them.
  Problem p;
  p.k = 3;
  const std::vector<double> beta = {0.5, -3.0, 1.5};
  for (int rep = 0; rep < 4; ++rep) {
    for (int code = 0; code < 8; ++code) {
      double y = 2.0;
      for (int j = 0; j < 3; ++j) {
        const double v = ((code >> j) & 1) != 0 ? 1.0 : -1.0;
        p.x.push_back(v);
        y += beta[static_cast<std::size_t>(j)] * v;
      }
      p.y.push_back(y);
      p.w.push_back(1.0);
      ++p.n;
    }
  }
  const LocalDesign design = loupe::lime::SummarizeDesign(p.x.data(), p.n, p.k, p.w.data());
  const LocalTarget target = loupe::lime::SummarizeTarget(design, p.x.data(), p.n, p.y.data(), p.w.data());
  EXPECT_EQ(loupe::lime::SelectFeatures(design, target, p.x.data(), Selection::kLassoPath, 1),
            std::vector<std::int64_t>({1}));
  EXPECT_EQ(loupe::lime::SelectFeatures(design, target, p.x.data(), Selection::kLassoPath, 2),
            std::vector<std::int64_t>({1, 2}));
  const auto path = loupe::lime::LassoPath(design, target);
  ASSERT_EQ(path.size(), 4u);
  // After the first step column 1 has shrunk by the gap between |x1'y| and |x2'y| (n = 32): -3 + 1.5 = -1.5.
  EXPECT_NEAR(path[1][1], -1.5, 1e-12);
  EXPECT_NEAR(path[3][0], 0.5, 1e-12);
  EXPECT_NEAR(path[3][1], -3.0, 1e-12);
  EXPECT_NEAR(path[3][2], 1.5, 1e-12);
}

}  // namespace

namespace {

TEST(LimeLocalModel, LassoPathMatchesScikitLearnThroughADrop) {
  // scikit-learn 1.2.1 lars_path(X - mean, y - mean, method="lasso") on this data: column 0 enters at the
  // third breakpoint, leaves at the fifth (a lasso drop) and re-enters at the end.
  const std::vector<std::vector<double>> x = {
      {1.7, -0.3, -0.5, 0.9},  {-0.0, -0.3, -0.5, -0.7}, {0.4, -1.1, -0.9, -0.5},  {0.7, 0.6, -1.3, 1.5},
      {0.7, 1.6, -0.0, 2.6},   {1.1, -0.3, 0.7, 1.0},    {0.6, 0.1, 0.7, 0.8},     {-0.2, -0.6, -0.2, -0.8},
      {-0.2, -0.4, 0.1, -0.2}, {0.3, 1.4, -1.5, 1.4},    {-0.2, -1.2, -0.2, -1.4}, {1.1, -1.1, 0.2, 0.1}};
  const std::vector<double> y = {-0.7, 0.9, -0.9, -1.2, 0.3, -0.5, -0.2, 0.8, -0.9, -0.9, 0.4, 0.2};
  const std::vector<std::vector<double>> expected = {
      {0.0, 0.0, 0.0, 0.0},
      {0.0, 0.0, 0.0, -0.11310529689412038},
      {0.0, 0.0, 0.18771902661273018, -0.17517147934273242},
      {-0.10268392172085598, 0.0, 0.2588632199308035, -0.16250553879841748},
      {0.0, 0.16698655338428747, 0.3077324708177185, -0.307837395464133},
      {0.0, 0.5153969697543872, 0.4797898277612447, -0.5587355588654641},
      {0.7660672083734403, 1.412779669221442, 0.672318571298106, -1.392076951743379}};
  std::vector<double> flat, w(y.size(), 1.0);
  for (const auto& row : x) flat.insert(flat.end(), row.begin(), row.end());
  const auto n = static_cast<std::int64_t>(y.size());
  const LocalDesign design = loupe::lime::SummarizeDesign(flat.data(), n, 4, w.data());
  const LocalTarget target = loupe::lime::SummarizeTarget(design, flat.data(), n, y.data(), w.data());
  const auto path = loupe::lime::LassoPath(design, target);
  ASSERT_EQ(path.size(), expected.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    for (std::size_t j = 0; j < 4; ++j)
      EXPECT_NEAR(path[i][j], expected[i][j], 1e-12) << "point " << i << " column " << j;
  }
  EXPECT_EQ(path[4][0], 0.0);  // dropped exactly
  // lime's rule walks back from the end: 3 features -> point 5 ({1, 2, 3}); 2 -> point 2 ({2, 3}).
  EXPECT_EQ(loupe::lime::SelectFeatures(design, target, flat.data(), Selection::kLassoPath, 3),
            std::vector<std::int64_t>({1, 2, 3}));
  EXPECT_EQ(loupe::lime::SelectFeatures(design, target, flat.data(), Selection::kLassoPath, 2),
            std::vector<std::int64_t>({2, 3}));
}

}  // namespace
