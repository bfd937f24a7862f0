// The variants of the shared solver and LARS path. Their numbers against the reference libraries are
// tested where they are used (shap's ShapLars and kernel tests, lime's LimeLocalModel tests); these tests
// pin what the options promise.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "plugin_common/lars_path.hpp"
#include "plugin_common/symmetric_solve.hpp"

namespace {

using loupe::plugin_common::ComputeLarsPath;
using loupe::plugin_common::SolveSymmetric;
using loupe::plugin_common::SymmetricSolveOptions;

// A symmetric positive definite 4 x 4 system with a known solution.
struct Regular {
  std::vector<double> a = {4, 1, 0.5, 0, 1, 3, 0.2, 0.1, 0.5, 0.2, 2, 0.3, 0, 0.1, 0.3, 1.5};
  std::vector<double> x = {1, -2, 0.5, 3};
  std::vector<double> B() const {
    std::vector<double> b(4, 0.0);
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < 4; ++j) b[i] += a[i * 4 + j] * x[j];
    }
    return b;
  }
};

TEST(PluginCommonSymmetricSolve, LuAndPseudoInverseGiveTheSameSolutionOfARegularSystem) {
  const Regular system;
  std::vector<double> by_lu = system.B(), by_eigen = system.B();
  EXPECT_TRUE(SolveSymmetric(system.a, 4, 1, by_lu.data()));
  SymmetricSolveOptions eigen;
  eigen.lu_first = false;
  EXPECT_FALSE(SolveSymmetric(system.a, 4, 1, by_eigen.data(), eigen));
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(by_lu[i], system.x[i], 1e-13) << i;
    EXPECT_NEAR(by_eigen[i], system.x[i], 1e-12) << i;
  }
}

TEST(PluginCommonSymmetricSolve, SolvesEveryRightHandSideInPlace) {
  const Regular system;
  std::vector<double> b = system.B();
  const std::vector<double> first = b;
  for (const double v : first) b.push_back(2.0 * v);
  ASSERT_TRUE(SolveSymmetric(system.a, 4, 2, b.data()));
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(b[i], system.x[i], 1e-13);
    EXPECT_NEAR(b[4 + i], 2.0 * system.x[i], 1e-13);
  }
}

TEST(PluginCommonSymmetricSolve, SingularSystemFallsBackToTheMinimumNormSolution) {
  // [1 1; 1 1] x = [2 2]: every x with x0 + x1 = 2 solves it; the pseudo-inverse gives (1, 1).
  std::vector<double> b = {2, 2};
  EXPECT_FALSE(SolveSymmetric({1, 1, 1, 1}, 2, 1, b.data()));
  EXPECT_NEAR(b[0], 1.0, 1e-14);
  EXPECT_NEAR(b[1], 1.0, 1e-14);
}

TEST(PluginCommonSymmetricSolve, RidgeIsAddedToTheDiagonal) {
  std::vector<double> b = {8, 12};
  SymmetricSolveOptions ridge;
  ridge.ridge = 2.0;
  ridge.lu_first = false;
  SolveSymmetric({2, 0, 0, 4}, 2, 1, b.data(), ridge);
  EXPECT_NEAR(b[0], 2.0, 1e-14);  // 8 / (2 + 2)
  EXPECT_NEAR(b[1], 2.0, 1e-14);  // 12 / (4 + 2)
}

TEST(PluginCommonSymmetricSolve, EigenvaluesBelowTheCutoffAreDropped) {
  // diag(1, 1e-10): with rcond 1e-8 the second direction counts as zero and gets no weight.
  std::vector<double> b = {1, 1};
  SymmetricSolveOptions cutoff;
  cutoff.lu_first = false;
  cutoff.rcond = 1e-8;
  SolveSymmetric({1, 0, 0, 1e-10}, 2, 1, b.data(), cutoff);
  EXPECT_NEAR(b[0], 1.0, 1e-14);
  EXPECT_EQ(b[1], 0.0);
}

TEST(PluginCommonLarsPath, OrthogonalFeaturesEnterByCorrelationAndEndAtLeastSquares) {
  // Gram = I: the least-squares coefficients are Xy, and features enter by |Xy|.
  const std::vector<double> gram = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  const std::vector<double> xy = {0.5, -3.0, 1.5};
  const auto path = ComputeLarsPath(gram, xy, 3, 1, /*lasso=*/false, 500);
  ASSERT_EQ(path.active.size(), 3u);
  EXPECT_EQ(path.active[0], 1);
  EXPECT_EQ(path.active[1], 2);
  EXPECT_EQ(path.active[2], 0);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(path.coefs.back()[j], xy[j], 1e-12) << j;
}

TEST(PluginCommonLarsPath, MinCorrelationStopsBeforeANoiseLevelFeatureEnters) {
  // Feature 1 is all but constant: its correlation is 1e-11 next to 100 for feature 0.
  const std::vector<double> gram = {1, 0, 0, 1e-30};
  const std::vector<double> xy = {100, 1e-11};
  const auto without = ComputeLarsPath(gram, xy, 2, 1, /*lasso=*/true, 500);
  const auto with = ComputeLarsPath(gram, xy, 2, 1, /*lasso=*/true, 500, /*min_correlation=*/1e-12 * 100);
  EXPECT_EQ(without.active.size(), 2u);
  ASSERT_EQ(with.active.size(), 1u);
  EXPECT_EQ(with.active[0], 0);
  EXPECT_EQ(with.coefs.back()[1], 0.0);
  EXPECT_NEAR(with.coefs.back()[0], 100.0, 1e-9);
}

}  // namespace
