// CART decision trees as scikit-learn's DecisionTreeClassifier / DecisionTreeRegressor define them, plus
// categorical subset splits and missing values with a learned default direction (REFERENCES.md, CART).
//
// What is exactly sklearn's (1.2) and checked against it in tests/sklearn_compare_test.cpp:
//  - binary splits; numeric thresholds at midpoints a/2 + b/2 of consecutive distinct sorted values
//    (values closer than 1e-7 count as one value, sklearn's FEATURE_THRESHOLD), x <= threshold goes left;
//  - impurities gini, entropy (log2) and squared_error with sklearn's formulas; a node is a leaf when
//    depth >= max_depth, samples < min_samples_split, samples < 2 * min_samples_leaf, impurity <= eps, no
//    split leaves min_samples_leaf rows on both sides, or the best split's weighted impurity decrease
//    + eps < min_impurity_decrease (min_samples_split is raised to 2 * min_samples_leaf, as sklearn does);
//  - depth-first growth with nodes numbered in preorder; with max_leaf_nodes, best-first growth by
//    weighted impurity decrease with nodes numbered in creation order;
//  - minimal cost-complexity pruning (ccp_alpha), renumbering the kept nodes in preorder;
//  - feature importances: weighted impurity decreases, normalised to sum 1.
// Where sklearn is random or has no counterpart, Loupe is deterministic and says so:
//  - ties between features: sklearn keeps the first best of a random feature order; Loupe keeps the
//    lowest feature index. Within a feature both keep the lowest threshold. Best-first ties: lowest id;
//  - categorical features are one variable split into level subsets: for regression and two classes the
//    levels are ordered by mean target (ties by code) and every prefix is tried, which is optimal
//    (Breiman et al. 1984); for more classes all 2^(C-1) - 1 subsets of the C levels present are tried
//    when C <= 12, and otherwise the prefixes of the K orderings by each class's share (a heuristic).
//    Levels absent at a node go right;
//  - missing values (NaN): a numeric split tries every threshold with the node's missing rows on the
//    right and then on the left, plus "non-missing left, missing right"; a categorical split treats
//    missing as one more level. Without missing rows at a node, missing goes to the child with more rows
//    (left on a tie) — sklearn 1.3's rule;
//  - a split must leave positive weight on both sides.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

namespace loupe::surrogate {

enum class Criterion { kGini, kEntropy, kSquaredError };

enum class SplitKind { kNumeric, kCategorical, kMissing };

struct CartParams {
  Criterion criterion = Criterion::kGini;
  std::int64_t max_depth = -1;  // -1: unlimited
  std::int64_t min_samples_split = 2;
  std::int64_t min_samples_leaf = 1;
  std::int64_t max_leaf_nodes = -1;  // -1: depth-first growth
  double min_impurity_decrease = 0.0;
  double ccp_alpha = 0.0;
};

// The training set, column-major: columns[f][i] is feature f of sample i (NaN: missing; categorical
// features hold level codes 0..n_levels-1).
struct TrainingSet {
  std::int64_t n = 0;
  std::vector<std::vector<double>> columns;
  std::vector<std::int32_t> n_levels;  // per feature: 0 numeric, else the categorical's level count
  std::vector<double> y;               // class index (classification) or target value (regression)
  std::vector<double> weight;          // per sample, >= 0
  std::int32_t n_classes = 0;          // 0: regression

  std::int64_t n_features() const { return static_cast<std::int64_t>(columns.size()); }
};

struct Node {
  std::int64_t left = -1, right = -1, parent = -1;
  std::int64_t depth = 0;
  std::int32_t feature = -1;
  SplitKind kind = SplitKind::kNumeric;
  double threshold = std::numeric_limits<double>::quiet_NaN();  // kNumeric: x <= threshold goes left
  std::vector<std::uint8_t> left_levels;  // kCategorical: 1 for the level codes that go left
  bool missing_left = false;              // where a missing value goes
  bool saw_missing = false;               // training rows with a missing value reached this split
  std::int64_t samples = 0;
  double weighted_samples = 0.0;
  double impurity = 0.0;
  std::vector<double> value;  // classification: weight per class; regression: {weighted mean}
  double improvement = 0.0;   // sklearn's weighted impurity decrease of this node's split

  bool IsLeaf() const { return left < 0; }
};

class Tree {
 public:
  std::vector<Node> nodes;
  std::int32_t n_classes = 0;

  // The leaf a row (one value per feature, training layout) ends in.
  std::int64_t Apply(const double* row) const;
  // Node ids from the root to the row's leaf.
  std::vector<std::int64_t> Path(const double* row) const;
  // True when `x` (not NaN) goes to the left child of internal node `id`.
  bool GoesLeft(std::int64_t id, double x) const;
  // Leaf prediction: the class index with the most weight (lowest on a tie), or the mean.
  double Prediction(std::int64_t id) const;
  std::vector<double> FeatureImportances(std::int64_t n_features) const;
  std::int64_t LeafCount() const;
  std::int64_t Depth() const;
};

// Runs body(begin, end) over chunks of [begin, end) at most `grain` long, possibly in parallel; chunk
// boundaries must depend only on the arguments (the host's parallel_for contract).
using ParallelRunner = std::function<void(std::int64_t begin, std::int64_t end, std::int64_t grain,
                                          const std::function<void(std::int64_t, std::int64_t)>& body)>;

// Runs everything on the calling thread.
void SerialRunner(std::int64_t begin, std::int64_t end, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body);

// Grows a tree on `data` (then prunes it when params.ccp_alpha > 0). Split searches run in parallel over
// (node, feature) pairs and reduce in feature order, so the tree is the same for any thread count.
Tree FitCart(const TrainingSet& data, const CartParams& params, const ParallelRunner& parallel);

// Minimal cost-complexity pruning with sklearn's algorithm: repeatedly collapses the internal node of
// smallest effective alpha (lowest id on a tie) while it is <= ccp_alpha; keeps nodes in preorder.
Tree PruneCostComplexity(const Tree& tree, double ccp_alpha);

// The impurity of class weights (classification) or of {sum w*y, sum w*y^2} (regression) of total
// weight `weight`, with sklearn's formulas.
double Impurity(Criterion criterion, const double* stats, std::int32_t n_stats, double weight);

}  // namespace loupe::surrogate
