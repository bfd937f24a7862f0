// Path-dependent TreeSHAP by precomputed leaf tables: FastTreeSHAP v2 (Yang 2022, "Fast TreeSHAP:
// Accelerating SHAP Value Computation for Trees", arXiv:2109.09847). The values are those of TreeModel's
// Algorithm 2 (Lundberg, Erion & Lee 2018), computed in O(L D) per tree and row instead of O(L D^2).
//
// The game of one leaf. Let the leaf's root path split on the k distinct features 0..k-1 (a feature split
// on more than once is one feature), z_j the product of the cover ratios of the path's edges on feature j,
// and H the subset of those features on which the explained row follows the path at every split. The
// leaf's share of the path-dependent game is v(S) = value * 1[S ∩ path ⊆ H] * prod_{i on the path, not in
// S} z_i (the leaf terms Algorithm 2 sums). With w(s) = s! (k-s-1)! / k! and
// C(G) = sum over S ⊆ G of w(|S|) prod_{i in G\S} z_i, its Shapley values are
//     phi_j += (1 - z_j) / z_j * T(H \ {j})   for j in H,
//     phi_j -= T(H)                           for j not in H,
// where T(G) = value * prod_{i not in G} z_i * C(G). T depends on the leaf and G only, so it is tabulated
// once per explain call for all 2^k subsets (C(G) from the elementary symmetric polynomials of the z_i,
// O(2^k k) per leaf); explaining a row is then one pass over the tree that tracks H as a bit mask, and k
// lookups per leaf.
//
// Table layout: one double array for the whole ensemble; a leaf owns the 2^k entries from its offset,
// entry G (bit j set: the leaf's j-th path feature is in G) holds T(G). Path features are numbered in
// the order the root path meets them, so a node's number for its feature holds for every leaf below it.
//
// A tree falls back to Algorithm 2 when a leaf's path has more than `max_path_features` distinct
// features, when a path has a zero cover fraction (the ratio above needs z_j > 0) or when its tables
// would take the ensemble's total past `max_table_entries`.
#pragma once

#include <cstdint>
#include <vector>

#include "tree_model.hpp"

namespace loupe::shap {

struct FastTreeShapLimits {
  int max_path_features = 12;                              // 2^12 entries per leaf at most
  std::int64_t max_table_entries = std::int64_t{1} << 23;  // 64 MiB of doubles over the ensemble
};

class FastTreeShap {
 public:
  // Plans the tables (which trees take the fast path, where their tables go); BuildTables fills them.
  explicit FastTreeShap(const TreeModel& model, FastTreeShapLimits limits = {});

  // Computes the tables of trees [begin, end); disjoint ranges may run in parallel.
  void BuildTables(std::int64_t begin, std::int64_t end);
  void BuildAllTables() { BuildTables(0, static_cast<std::int64_t>(trees_.size())); }

  std::int64_t n_fast_trees() const;
  bool IsFast(std::int64_t tree) const { return trees_[static_cast<std::size_t>(tree)].fast; }

  // Scratch of one thread for Row.
  struct Scratch {
    std::vector<PathElement> path;     // Algorithm 2's buffer (fallback trees)
    std::vector<std::uint32_t> masks;  // per node, the agreement mask of the row reaching it
  };
  Scratch MakeScratch() const;

  // Adds the path-dependent values of `row` over every tree to phi[O][F].
  void Row(const double* row, Scratch* scratch, double* phi) const;

 private:
  struct Node {
    std::int32_t leaf = -1;    // index into the tree's leaves (leaf nodes)
    std::int32_t slot = 0;     // number of the node's feature on its root path (inner nodes)
    bool first_split = false;  // the root path meets the feature here for the first time
  };
  struct Leaf {
    std::int64_t table = 0;     // offset of the leaf's 2^k entries in table_
    std::int32_t features = 0;  // offset of its k path features in the tree's columns / ratios
    std::int32_t k = 0;
    double value = 0.0;
  };
  struct FastTree {
    bool fast = false;
    std::vector<Node> nodes;
    std::vector<std::int32_t> preorder;  // the reachable nodes, parents before children
    std::vector<Leaf> leaves;
    std::vector<std::int32_t> columns;  // per leaf, the k path features' columns
    std::vector<double> zeros;          // ... their z_j
    std::vector<double> ratios;         // ... their (1 - z_j) / z_j
  };

  bool Plan(const Tree& tree, FastTree* plan) const;
  void AddTree(const Tree& tree, const FastTree& plan, const double* row, Scratch* scratch,
               double* phi) const;
  void AddLeaf(const FastTree& plan, const Leaf& leaf, std::uint32_t mask, double* phi) const;

  const TreeModel& model_;
  FastTreeShapLimits limits_;
  std::vector<FastTree> trees_;
  std::vector<double> table_;
};

}  // namespace loupe::shap
