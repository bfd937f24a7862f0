// The grid helpers against numpy / scipy / R values worked out by hand or quoted from their documentation.
#include <gtest/gtest.h>

#include <vector>

#include "ale.hpp"
#include "effects_common.hpp"

namespace {

using loupe::effects::AleEdges;
using loupe::effects::Deciles;
using loupe::effects::Linspace;
using loupe::effects::MQuantile;

TEST(Grid, MQuantileMatchesScipysDocumentedExample) {
  // scipy.stats.mstats.mquantiles([6, 47, 49, 15, 42, 41, 7, 39, 43, 40, 36]) -> [19.2, 40., 42.8]
  const std::vector<double> sorted = {6, 7, 15, 36, 39, 40, 41, 42, 43, 47, 49};
  EXPECT_NEAR(MQuantile(sorted, 0.25), 19.2, 1e-12);
  EXPECT_NEAR(MQuantile(sorted, 0.5), 40.0, 1e-12);
  EXPECT_NEAR(MQuantile(sorted, 0.75), 42.8, 1e-12);
  EXPECT_EQ(MQuantile({5.0}, 0.3), 5.0);
  EXPECT_EQ(MQuantile(sorted, 0.0), 6.0);   // clipped to the first order statistic
  EXPECT_EQ(MQuantile(sorted, 1.0), 49.0);  // and the last
}

TEST(Grid, LinspaceIsNumpysStartPlusIStepWithTheExactEndpoint) {
  const std::vector<double> grid = Linspace(0.1, 0.7, 4);
  ASSERT_EQ(grid.size(), 4u);
  const double step = (0.7 - 0.1) / 3;
  EXPECT_EQ(grid[0], 0.1);
  EXPECT_EQ(grid[1], 1 * step + 0.1);
  EXPECT_EQ(grid[2], 2 * step + 0.1);
  EXPECT_EQ(grid[3], 0.7);
}

TEST(Grid, DecilesAreNineMQuantiles) {
  std::vector<double> sorted;
  for (int i = 0; i < 101; ++i) sorted.push_back(i);
  const std::vector<double> deciles = Deciles(sorted);
  ASSERT_EQ(deciles.size(), 9u);
  EXPECT_NEAR(deciles[4], 50.0, 1e-12);
  EXPECT_TRUE(Deciles({}).empty());
}

TEST(Grid, AleEdgesAreTypeOneQuantilesWithTiesMerged) {
  // n = 10, K = 4: x_(ceil(10 k / 4)) = x_3, x_5, x_8, x_10 after the minimum.
  const std::vector<double> sorted = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(AleEdges(sorted, 4), (std::vector<double>{1, 3, 5, 8, 10}));
  // n = 10, K = 10 computes ceil(10 k / 10) = k exactly, with no floating-point overshoot at k = 3.
  EXPECT_EQ(AleEdges(sorted, 10), sorted);
  EXPECT_EQ(AleEdges({2, 2, 2, 5}, 4), (std::vector<double>{2, 5}));
  EXPECT_EQ(AleEdges({7, 7}, 3), (std::vector<double>{7}));
}

}  // namespace
