// The "tree_ensemble" capability (loupe_plugin.h) mapped onto the step's feature matrix, and the exact
// TreeSHAP algorithms of shap.tree over it.
//
//  - Path-dependent TreeSHAP (Lundberg, Erion & Lee 2018, Algorithm 2): the Shapley values of
//    v(S) = E[f(x) | x_S] where the expectation follows the training covers of the nodes (the split on a
//    feature outside S sends the row down both children, weighted by their share of the node's cover).
//    O(L D^2) per tree; with a condition (+1: feature on, -1: feature off) it gives the conditional values
//    SHAP interaction values are built from (Lundberg et al. 2018, section 4), as XGBoost does.
//  - Interventional TreeSHAP for one background row r (Lundberg et al. 2020, "From local explanations to
//    global understanding"): v(S) = f(x on S, r elsewhere). A leaf reached when the features in A follow
//    x and those in B follow r is the game 1[A in S, B outside S], whose Shapley values are
//    (|A|-1)! |B|! / (|A|+|B|)! for each feature of A and minus |A|! (|B|-1)! / (|A|+|B|)! for each of B.
//
// Everything runs in double; a tree's values go to the output (margin) the tree adds to.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loupe/c/loupe_plugin.h"
#include "loupe/sdk/host.hpp"

namespace loupe::shap {

struct TreeNode {
  std::int32_t left = -1;
  std::int32_t right = -1;
  std::int32_t column = -1;  // the step's feature matrix column of the split, -1 at leaves
  bool leaf = true;
  bool categorical = false;
  bool default_left = false;
  double threshold = 0.0;
  double value = 0.0;  // leaves: the amount added to the margin
  double cover = 0.0;
  const std::int32_t* categories_begin = nullptr;  // sorted codes sent right (categorical splits)
  const std::int32_t* categories_end = nullptr;
};

struct Tree {
  std::int32_t output = 0;
  std::int32_t depth = 0;             // edges on the longest reachable root-to-leaf path
  double expectation = 0.0;           // cover-weighted mean of the leaves (path-dependent base)
  bool covers_positive = true;        // every reachable inner node has a cover > 0 (path-dependent needs it)
  std::vector<TreeNode> nodes;        // node 0 is the root
  std::vector<std::int32_t> columns;  // distinct split columns, ascending
};

// One element of the path of path-dependent TreeSHAP.
struct PathElement {
  std::int32_t column;
  double zero_fraction;
  double one_fraction;
  double weight;
};

class TreeModel {
 public:
  // Maps the capability onto the step's features: model inputs by name, categorical codes by level name
  // (a data level the model does not know is treated as missing). Throws loupe::sdk::Error with a
  // sentence when the description is malformed or a split uses an input the data does not have.
  TreeModel(const LoupeTreeEnsemble& ensemble, const loupe::sdk::DatasetInfo& data);

  std::int64_t n_outputs() const { return static_cast<std::int64_t>(base_margin_.size()); }
  std::int64_t n_columns() const { return n_columns_; }
  std::int32_t max_depth() const { return max_depth_; }
  const std::vector<Tree>& trees() const { return trees_; }
  const std::vector<double>& base_margin() const { return base_margin_; }
  // base_margin + the expectation of every tree, per output: the path-dependent base value.
  std::vector<double> ExpectedMargin() const;
  // The first tree with a non-positive cover on a reachable inner node, or -1.
  std::int64_t TreeWithoutCovers() const;

  // Whether a numeric split sends value <= threshold left (else value < threshold).
  bool less_equal() const { return split_rule_ == LOUPE_TREE_SPLIT_LESS_EQUAL; }
  // The child of inner node `node` that `row` (a row of the step's feature matrix) goes to.
  std::int32_t Next(const TreeNode& node, const double* row) const;
  // The same for the value of the node's column already in the model's codes (MapRow).
  std::int32_t NextFor(const TreeNode& node, double value) const;
  // The row with every column in the model's codes (categorical levels mapped, NaN for missing), as
  // Next reads them; out holds n_columns().
  void MapRow(const double* row, double* out) const;
  // margin[O] of one row.
  void Margin(const double* row, double* margin) const;

  // Path-dependent TreeSHAP of one tree for one row, added to phi[n_columns] (scaled by `scale`).
  // condition 0: plain values; +1 / -1: with `condition_column` fixed on / off. `path` holds
  // PathBufferSize() elements.
  void PathDependent(const Tree& tree, const double* row, int condition, std::int32_t condition_column,
                     PathElement* path, double* phi) const;
  std::size_t PathBufferSize() const;

  // Interventional TreeSHAP of one tree for one row against one background row, added to phi[n_columns].
  // `state` holds n_columns zeros (restored on return); `stack` any vector (used as scratch).
  void Interventional(const Tree& tree, const double* row, const double* reference, std::int8_t* state,
                      std::vector<std::int32_t>* stack, double* phi) const;

 private:
  double Value(const TreeNode& node, const double* row) const;
  double ValueOf(std::int32_t column, const double* row) const;
  void PathRecurse(const Tree& tree, const double* row, std::int32_t node, PathElement* parent, int depth,
                   double zero_fraction, double one_fraction, std::int32_t parent_column,
                   double condition_fraction, int condition, std::int32_t condition_column,
                   double* phi) const;
  void InterventionalRecurse(const Tree& tree, const double* row, const double* reference, std::int32_t node,
                             int n_x, int n_r, std::int8_t* state, std::vector<std::int32_t>* stack,
                             double* phi) const;

  std::int64_t n_columns_ = 0;
  std::int32_t max_depth_ = 0;
  LoupeTreeSplitRule split_rule_ = LOUPE_TREE_SPLIT_LESS;
  std::vector<double> base_margin_;
  std::vector<Tree> trees_;
  // Per data column: data level code -> model level code (-1: unknown to the model, i.e. missing);
  // empty when codes pass through unchanged.
  std::vector<std::vector<std::int32_t>> level_maps_;
  // weight_x_[a][b] = (a-1)! b! / (a+b)!,  weight_r_[a][b] = a! (b-1)! / (a+b)!  (a, b <= max depth).
  std::vector<std::vector<double>> weight_x_, weight_r_;
};

}  // namespace loupe::shap
