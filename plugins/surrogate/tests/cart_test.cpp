// Direct tests of the CART learner: categorical subsets against brute force, missing-value routing,
// best-first growth, cost-complexity pruning and independence from chunk order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cart.hpp"
#include "loupe/sdk/random.hpp"

namespace {

using loupe::surrogate::CartParams;
using loupe::surrogate::Criterion;
using loupe::surrogate::FitCart;
using loupe::surrogate::Impurity;
using loupe::surrogate::PruneCostComplexity;
using loupe::surrogate::SerialRunner;
using loupe::surrogate::SplitKind;
using loupe::surrogate::TrainingSet;
using loupe::surrogate::Tree;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Weighted impurity decrease of sending `left_mask` levels left, computed from scratch (no sorting).
double SubsetImprovement(const TrainingSet& d, Criterion criterion, std::uint32_t left_mask) {
  const std::int32_t k = d.n_classes > 0 ? d.n_classes : 2;
  std::vector<double> all(static_cast<std::size_t>(k)), left(all), right(all);
  double w_all = 0, w_left = 0, w_right = 0;
  for (std::int64_t i = 0; i < d.n; ++i) {
    const double w = d.weight[static_cast<std::size_t>(i)], y = d.y[static_cast<std::size_t>(i)];
    const bool goes_left = (left_mask >> static_cast<int>(d.columns[0][static_cast<std::size_t>(i)])) & 1u;
    for (auto* s : {&all, goes_left ? &left : &right}) {
      if (d.n_classes > 0) {
        (*s)[static_cast<std::size_t>(y)] += w;
      } else {
        (*s)[0] += w * y;
        (*s)[1] += w * y * y;
      }
    }
    w_all += w;
    (goes_left ? w_left : w_right) += w;
  }
  if (w_left == 0 || w_right == 0) return -1;
  return Impurity(criterion, all.data(), k, w_all) -
         w_left / w_all * Impurity(criterion, left.data(), k, w_left) -
         w_right / w_all * Impurity(criterion, right.data(), k, w_right);
}

// One categorical feature of `levels` levels with level-dependent targets.
TrainingSet CategoricalData(std::int32_t levels, std::int32_t classes, std::uint64_t seed) {
  TrainingSet d;
  d.n = 400;
  d.n_levels = {levels};
  d.n_classes = classes;
  d.columns.assign(1, {});
  loupe::sdk::Rng rng(seed, 0, 0);
  std::vector<double> level_effect;
  for (std::int32_t l = 0; l < levels; ++l) level_effect.push_back(rng.Uniform());
  for (std::int64_t i = 0; i < d.n; ++i) {
    const auto level = static_cast<std::int32_t>(rng.Below(static_cast<std::uint64_t>(levels)));
    d.columns[0].push_back(level);
    const double u = rng.Uniform();
    if (classes == 0) {
      d.y.push_back(10 * level_effect[static_cast<std::size_t>(level)] + u);
    } else {
      const double p = level_effect[static_cast<std::size_t>(level)];
      d.y.push_back(static_cast<double>(
          std::min<std::int32_t>(classes - 1, static_cast<std::int32_t>(classes * (0.7 * p + 0.3 * u)))));
    }
    d.weight.push_back(0.5 + rng.Uniform());
  }
  return d;
}

struct CategoricalCase {
  std::int32_t levels, classes;
  Criterion criterion;
};

class CategoricalSubsets : public ::testing::TestWithParam<CategoricalCase> {};

TEST_P(CategoricalSubsets, RootSplitIsTheBestSubset) {
  const CategoricalCase c = GetParam();
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    const TrainingSet d = CategoricalData(c.levels, c.classes, seed);
    CartParams params;
    params.criterion = c.criterion;
    params.max_depth = 1;
    const Tree tree = FitCart(d, params, SerialRunner);
    ASSERT_EQ(tree.nodes.size(), 3u);
    ASSERT_EQ(tree.nodes[0].kind, SplitKind::kCategorical);
    std::uint32_t chosen = 0;
    for (std::int32_t l = 0; l < c.levels; ++l)
      chosen |= tree.nodes[0].left_levels[static_cast<std::size_t>(l)] << l;
    double brute = -1;
    for (std::uint32_t mask = 1; mask + 1 < (1u << c.levels); ++mask)
      brute = std::max(brute, SubsetImprovement(d, c.criterion, mask));
    EXPECT_NEAR(SubsetImprovement(d, c.criterion, chosen), brute, 1e-12) << "seed " << seed;
    EXPECT_NEAR(tree.nodes[0].improvement, brute, 1e-12) << "seed " << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(Cart, CategoricalSubsets,
                         ::testing::Values(CategoricalCase{6, 0, Criterion::kSquaredError},
                                           CategoricalCase{7, 2, Criterion::kGini},
                                           CategoricalCase{7, 2, Criterion::kEntropy},
                                           CategoricalCase{6, 3, Criterion::kGini},
                                           CategoricalCase{5, 4, Criterion::kEntropy}));

// x0 numeric with missing values; y = 1 when x0 > 5 or missing.
TrainingSet MissingData(bool missing_is_high) {
  TrainingSet d;
  d.n_levels = {0};
  d.n_classes = 2;
  d.columns.assign(1, {});
  for (int i = 0; i < 60; ++i) {
    const bool missing = i % 5 == 0;
    const double x = i % 10;
    d.columns[0].push_back(missing ? kNaN : x);
    d.y.push_back(missing ? (missing_is_high ? 1.0 : 0.0) : (x > 5 ? 1.0 : 0.0));
    d.weight.push_back(1.0);
  }
  d.n = static_cast<std::int64_t>(d.y.size());
  return d;
}

TEST(CartMissing, LearnsTheDefaultDirection) {
  for (const bool high : {true, false}) {
    const Tree tree = FitCart(MissingData(high), CartParams{}, SerialRunner);
    ASSERT_FALSE(tree.nodes[0].IsLeaf());
    EXPECT_EQ(tree.nodes[0].kind, SplitKind::kNumeric);
    EXPECT_DOUBLE_EQ(tree.nodes[0].threshold, 5.0);  // x = 0 and 5 are always missing: midpoint of 4 and 6
    EXPECT_TRUE(tree.nodes[0].saw_missing);
    EXPECT_EQ(tree.nodes[0].missing_left, !high);
    const double nan_row[1] = {kNaN};
    EXPECT_EQ(tree.Prediction(tree.Apply(nan_row)), high ? 1.0 : 0.0);
    EXPECT_EQ(tree.LeafCount(), 2);
  }
}

TEST(CartMissing, SplitsOnMissingnessAlone) {
  TrainingSet d;
  d.n_levels = {0};
  d.n_classes = 2;
  d.columns.assign(1, {});
  for (int i = 0; i < 40; ++i) {
    d.columns[0].push_back(i % 4 == 0 ? kNaN : (i * 37) % 11);
    d.y.push_back(i % 4 == 0 ? 1.0 : 0.0);
    d.weight.push_back(1.0);
  }
  d.n = 40;
  const Tree tree = FitCart(d, CartParams{}, SerialRunner);
  ASSERT_EQ(tree.nodes.size(), 3u);
  EXPECT_EQ(tree.nodes[0].kind, SplitKind::kMissing);
  EXPECT_FALSE(tree.nodes[0].missing_left);
  const double seen[1] = {3.0}, unseen[1] = {1e9}, missing[1] = {kNaN};
  EXPECT_EQ(tree.Prediction(tree.Apply(seen)), 0.0);
  EXPECT_EQ(tree.Prediction(tree.Apply(unseen)), 0.0);
  EXPECT_EQ(tree.Prediction(tree.Apply(missing)), 1.0);
}

TEST(CartMissing, WithoutMissingRowsMissingGoesToTheLargerChild) {
  TrainingSet d;
  d.n_levels = {0};
  d.n_classes = 2;
  d.columns.assign(1, {});
  for (int i = 0; i < 30; ++i) {
    d.columns[0].push_back(i);
    d.y.push_back(i >= 22 ? 1.0 : 0.0);
    d.weight.push_back(1.0);
  }
  d.n = 30;
  const Tree tree = FitCart(d, CartParams{}, SerialRunner);
  EXPECT_FALSE(tree.nodes[0].saw_missing);
  EXPECT_TRUE(tree.nodes[0].missing_left);  // 22 rows left, 8 right
}

// Regression data with several independent effects of different strengths.
TrainingSet RegressionData(std::int64_t n, std::int64_t width, std::uint64_t seed) {
  TrainingSet d;
  d.n = n;
  d.n_levels.assign(static_cast<std::size_t>(width), 0);
  d.columns.assign(static_cast<std::size_t>(width), {});
  loupe::sdk::Rng rng(seed, 1, 2);
  for (std::int64_t i = 0; i < n; ++i) {
    double y = 0;
    for (std::int64_t f = 0; f < width; ++f) {
      const double x = rng.Uniform();
      d.columns[static_cast<std::size_t>(f)].push_back(x);
      y += static_cast<double>(f + 1) * std::sin(3 * x + static_cast<double>(f));
    }
    d.y.push_back(y + 0.1 * rng.Normal());
    d.weight.push_back(1.0);
  }
  return d;
}

TEST(CartBestFirst, ExpandsTheLargestImprovementFirst) {
  const TrainingSet d = RegressionData(500, 4, 3);
  CartParams params;
  params.criterion = Criterion::kSquaredError;
  params.max_leaf_nodes = 6;
  const Tree tree = FitCart(d, params, SerialRunner);
  EXPECT_EQ(tree.LeafCount(), 6);
  // Every split improves at least as much as the best split a leaf would have had.
  double weakest_split = std::numeric_limits<double>::infinity();
  for (const auto& node : tree.nodes) {
    if (!node.IsLeaf()) weakest_split = std::min(weakest_split, node.improvement);
  }
  params.max_leaf_nodes = 7;
  const Tree bigger = FitCart(d, params, SerialRunner);
  EXPECT_EQ(bigger.LeafCount(), 7);
  double newest = 0;
  for (std::size_t i = 0; i < tree.nodes.size(); ++i) {  // the 7-leaf tree extends the 6-leaf one
    if (!tree.nodes[i].IsLeaf()) {
      EXPECT_EQ(bigger.nodes[i].feature, tree.nodes[i].feature);
    }
  }
  for (std::size_t i = 0; i < bigger.nodes.size(); ++i) {
    if (!bigger.nodes[i].IsLeaf() && (i >= tree.nodes.size() || tree.nodes[i].IsLeaf()))
      newest = bigger.nodes[i].improvement;
  }
  EXPECT_GT(newest, 0);
  EXPECT_LE(newest, weakest_split);
}

TEST(CartBestFirst, UnlimitedLeavesGiveTheDepthFirstTree) {
  const TrainingSet d = RegressionData(300, 3, 5);
  CartParams params;
  params.criterion = Criterion::kSquaredError;
  params.min_samples_leaf = 5;
  const Tree depth_first = FitCart(d, params, SerialRunner);
  params.max_leaf_nodes = 100000;
  const Tree best_first = FitCart(d, params, SerialRunner);
  ASSERT_EQ(best_first.LeafCount(), depth_first.LeafCount());
  for (std::int64_t i = 0; i < d.n; ++i) {
    const double row[3] = {d.columns[0][static_cast<std::size_t>(i)],
                           d.columns[1][static_cast<std::size_t>(i)],
                           d.columns[2][static_cast<std::size_t>(i)]};
    EXPECT_EQ(best_first.Prediction(best_first.Apply(row)), depth_first.Prediction(depth_first.Apply(row)));
  }
}

// R(T) + alpha |leaves|: the cost minimal cost-complexity pruning trades off.
double Cost(const Tree& tree, double alpha) {
  double cost = 0;
  for (const auto& node : tree.nodes) {
    if (node.IsLeaf()) cost += node.weighted_samples * node.impurity / tree.nodes[0].weighted_samples + alpha;
  }
  return cost;
}

TEST(CartPruning, PrunesMonotonicallyAndNeverRaisesTheCost) {
  const TrainingSet d = RegressionData(400, 3, 9);
  CartParams params;
  params.criterion = Criterion::kSquaredError;
  params.min_samples_leaf = 3;
  const Tree full = FitCart(d, params, SerialRunner);
  std::int64_t previous = full.LeafCount();
  for (const double alpha : {0.0005, 0.002, 0.01, 0.05, 0.2, 1.0, 100.0}) {
    const Tree pruned = PruneCostComplexity(full, alpha);
    EXPECT_LE(pruned.LeafCount(), previous) << alpha;
    EXPECT_LE(Cost(pruned, alpha), Cost(full, alpha) + 1e-12) << alpha;
    previous = pruned.LeafCount();
    for (std::size_t i = 1; i < pruned.nodes.size(); ++i) {  // preorder: a parent precedes its children
      EXPECT_LT(pruned.nodes[i].parent, static_cast<std::int64_t>(i));
    }
  }
  EXPECT_EQ(PruneCostComplexity(full, 100.0).nodes.size(), 1u);
  EXPECT_EQ(PruneCostComplexity(full, 0.0).nodes.size(), full.nodes.size());
}

TEST(CartParallel, ChunkOrderDoesNotChangeTheTree) {
  const TrainingSet d = RegressionData(600, 5, 11);
  CartParams params;
  params.criterion = Criterion::kSquaredError;
  params.max_depth = 6;
  const Tree serial = FitCart(d, params, SerialRunner);
  auto reversed = [](std::int64_t begin, std::int64_t end, std::int64_t grain,
                     const std::function<void(std::int64_t, std::int64_t)>& body) {
    std::vector<std::pair<std::int64_t, std::int64_t>> chunks;
    for (std::int64_t b = begin; b < end; b += grain) chunks.emplace_back(b, std::min(end, b + grain));
    for (auto it = chunks.rbegin(); it != chunks.rend(); ++it) body(it->first, it->second);
  };
  const Tree shuffled = FitCart(d, params, reversed);
  ASSERT_EQ(serial.nodes.size(), shuffled.nodes.size());
  for (std::size_t i = 0; i < serial.nodes.size(); ++i) {
    EXPECT_EQ(serial.nodes[i].feature, shuffled.nodes[i].feature);
    EXPECT_EQ(std::isnan(serial.nodes[i].threshold) ? 0.0 : serial.nodes[i].threshold,
              std::isnan(shuffled.nodes[i].threshold) ? 0.0 : shuffled.nodes[i].threshold);
    EXPECT_EQ(serial.nodes[i].value, shuffled.nodes[i].value);
  }
}

TEST(CartTies, EqualImprovementsPickTheLowestFeature) {
  TrainingSet d;
  d.n = 20;
  d.n_levels = {0, 0};
  d.n_classes = 2;
  d.columns.assign(2, {});
  for (int i = 0; i < 20; ++i) {
    d.columns[0].push_back(100 + i);  // both features separate the classes at the same rows
    d.columns[1].push_back(i);
    d.y.push_back(i < 8 ? 0.0 : 1.0);
    d.weight.push_back(1.0);
  }
  EXPECT_EQ(FitCart(d, CartParams{}, SerialRunner).nodes[0].feature, 0);
  std::swap(d.columns[0], d.columns[1]);
  EXPECT_EQ(FitCart(d, CartParams{}, SerialRunner).nodes[0].feature, 0);
}

// Two classes with gini and no missing value take a dedicated scan (cart.cpp ScanTwoClassGini). A third,
// empty class sends the same data through the general one, whose gini sums gain only 0² terms: the two
// trees must agree node for node, also with real-valued weights, ties and min_samples_leaf.
TEST(Cart, TwoClassGiniScanGrowsTheGeneralScansTree) {
  TrainingSet d = RegressionData(2000, 5, 11);
  loupe::sdk::Rng rng(7, 3, 4);
  for (std::size_t i = 0; i < d.y.size(); ++i) {
    d.y[i] = d.y[i] > 0.5 ? 1.0 : 0.0;
    d.weight[i] = 0.5 + rng.Uniform();
    d.columns[0][i] = std::round(d.columns[0][i] * 8) / 8;  // ties: a feature of nine values
  }
  for (const std::int64_t min_leaf : {1, 7}) {
    CartParams params;
    params.max_depth = 8;
    params.min_samples_leaf = min_leaf;
    d.n_classes = 2;
    const Tree two = FitCart(d, params, SerialRunner);
    d.n_classes = 3;
    const Tree three = FitCart(d, params, SerialRunner);
    ASSERT_EQ(two.nodes.size(), three.nodes.size());
    ASSERT_GT(two.nodes.size(), 31u);
    for (std::size_t i = 0; i < two.nodes.size(); ++i) {
      EXPECT_EQ(two.nodes[i].feature, three.nodes[i].feature) << "node " << i;
      if (two.nodes[i].feature >= 0)
        EXPECT_EQ(two.nodes[i].threshold, three.nodes[i].threshold) << "node " << i;
      EXPECT_EQ(two.nodes[i].samples, three.nodes[i].samples) << "node " << i;
    }
  }
}

// The presort orders negative values as the numbers compare (cart.cpp SortByValue sorts bit patterns, which
// for negatives run backwards): integer-valued features around 0, with -0.0 among the zeros (one value with
// 0.0), grow the same tree as the same features shifted by +16 (all positive, every midpoint exact),
// thresholds 16 apart.
TEST(Cart, PresortOrdersNegativeValuesAndSignedZerosAsNumbers) {
  TrainingSet around_zero = RegressionData(1500, 4, 23), shifted;
  for (auto& column : around_zero.columns) {
    for (std::size_t i = 0; i < column.size(); ++i) {
      const double v = std::round(column[i] * 12) - 6;  // -6 .. 6
      column[i] = v == 0.0 && i % 2 == 0 ? -0.0 : v;
    }
  }
  for (std::size_t i = 0; i < around_zero.y.size(); ++i)
    around_zero.y[i] =
        around_zero.columns[0][i] + around_zero.columns[1][i] * around_zero.columns[2][i] > 1 ? 1 : 0;
  around_zero.n_classes = 2;
  shifted = around_zero;
  for (auto& column : shifted.columns) {
    for (double& v : column) v += 16;
  }
  CartParams params;
  params.max_depth = 6;
  const Tree tree = FitCart(around_zero, params, SerialRunner);
  const Tree reference = FitCart(shifted, params, SerialRunner);
  ASSERT_EQ(tree.nodes.size(), reference.nodes.size());
  ASSERT_GT(tree.nodes.size(), 15u);
  for (std::size_t i = 0; i < tree.nodes.size(); ++i) {
    EXPECT_EQ(tree.nodes[i].feature, reference.nodes[i].feature) << "node " << i;
    EXPECT_EQ(tree.nodes[i].samples, reference.nodes[i].samples) << "node " << i;
    if (tree.nodes[i].feature >= 0)
      EXPECT_EQ(tree.nodes[i].threshold + 16, reference.nodes[i].threshold) << "node " << i;
  }
}

}  // namespace
