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
// Table layout: one double array for the whole ensemble. A leaf's entries start at its offset: either
// (compact) 2^k entries, entry G (bit j set: the leaf's j-th path feature is in G) holding T(G), or
// (direct, k <= kDirectPathFeatures) k entries per mask H, the values the row adds, [H][j]. Two sibling
// leaves with direct tables also get a pair table, [mask of their parent][row goes left][j], the sum of
// both leaves' values, so a row visits neither leaf. Interaction tables follow a leaf's own. Path features
// are numbered in the order the root path meets them, so a node's number for its feature holds for every
// leaf below it.
//
// SHAP interaction values (the conditional values XGBoost's pred_interactions and shap's TreeExplainer
// build them from: phi_ij = (phi_j with i fixed on - phi_j with i fixed off) / 2). Fixing path feature i
// of a leaf on multiplies its game by 1[i in H], fixing it off by z_i, and leaves the same kind of game on
// the other k - 1 path features. So phi_ij gets value * (1[i in H] - z_i) / 2 times the values above for
// the leaf without feature i: a table of 2^(k-1) entries T_i(G) (value 1) per path feature i, read at
// H \ {i}. A leaf adds O(k^2) per row, where the conditional passes cost O(k L D^2) per tree.
//
// Interventional TreeSHAP (shap's TreeExplainer with a background: v(S) = mean over background rows r of
// f(x on S, r elsewhere)). The leaf is reached for coalition S iff every path feature j in S has x follow
// all the path's splits on j (j in H, the mask above) and every one outside S has r follow them (j in
// H_r, r's mask). With A = H \ H_r and B = H_r \ H (the others are null players) its Shapley values are
// value * (|A|-1)! |B|! / (|A|+|B|)! for j in A and -value * |A|! (|B|-1)! / (|A|+|B|)! for j in B. They
// depend on the two masks only, so the background is counted per leaf and mask once per explain call,
// and the mean over the background tabulated for every mask H: k entries per H, 2^k k per leaf. A row
// then costs what a path-dependent row costs, whatever the background's size (shap: O(R L D) per row).
//
// A tree falls back to Algorithm 2 (interventional: the recursion per background row) when a leaf's path
// has more than `max_path_features` distinct features, when a path has a zero cover fraction (the ratio
// above needs z_j > 0; not for interventional tables) or when its tables would take the ensemble's total
// past `max_table_entries`; an interventional tree also when tabulating would cost more than the
// recursion over the explained rows.
#pragma once

#include <cstdint>
#include <vector>

#include "tree_model.hpp"

namespace loupe::shap {

// Leaves of at most this many path features hold their values per mask directly (k 2^k entries), in
// trees whose tables then stay within kDirectTreeEntries (512 KiB); interventional leaves always do.
constexpr int kDirectPathFeatures = 6;
constexpr std::int64_t kDirectTreeEntries = std::int64_t{1} << 16;

struct FastTreeShapLimits {
  int max_path_features = 12;                              // 2^12 entries per leaf at most
  std::int64_t max_table_entries = std::int64_t{1} << 23;  // 64 MiB of doubles over the ensemble
};

// What the tables are for.
struct FastTreeShapOptions {
  FastTreeShapLimits limits;
  bool interactions = false;  // also the interaction tables (RowInteractions)
  // Interventional tables over these rows of the feature matrix (RowInterventional) instead of the
  // path-dependent ones; `explained_rows` decides where tabulating pays.
  std::vector<const double*> background;
  std::int64_t explained_rows = 0;
};

class FastTreeShap {
 public:
  // Plans the tables (which trees take the fast path, where their tables go); BuildTables fills them.
  explicit FastTreeShap(const TreeModel& model, FastTreeShapLimits limits = {});
  FastTreeShap(const TreeModel& model, FastTreeShapOptions options);

  // Computes the tables of trees [begin, end); disjoint ranges may run in parallel.
  void BuildTables(std::int64_t begin, std::int64_t end);
  void BuildAllTables() { BuildTables(0, static_cast<std::int64_t>(trees_.size())); }

  std::int64_t n_fast_trees() const;
  bool IsFast(std::int64_t tree) const { return trees_[static_cast<std::size_t>(tree)].fast; }
  // Whether a fast tree keeps T per mask for every leaf (the compact layout).
  bool IsCompact(std::int64_t tree) const;

  // Scratch of one thread for the Row functions.
  struct Scratch {
    std::vector<PathElement> path;     // Algorithm 2's buffer (fallback trees)
    std::vector<std::uint32_t> masks;  // per node, the agreement mask of the row reaching it
    std::vector<double> on, off;       // conditional values of a fallback tree (interactions)
    std::vector<double> sum;           // a fallback tree's sum over the background (interventional)
    std::vector<std::int8_t> state;    // TreeModel::Interventional's scratch
    std::vector<std::int32_t> stack;
    std::vector<double> mapped;  // the row in the model's codes
  };
  Scratch MakeScratch() const;

  // Adds the path-dependent values of `row` over every tree to phi[O][F].
  void Row(const double* row, Scratch* scratch, double* phi) const;
  // Adds the values of n rows to phi[n][O][F], the same as Row (RowInterventional for an object built
  // with a background) row by row, in the same bits.
  void Rows(const double* const* rows, std::int64_t n, Scratch* scratch, double* phi) const;
  // Path-dependent values phi[O][F] and interaction values interactions[O][F][F] of `row`, both zero on
  // entry (an object built with options.interactions).
  void RowInteractions(const double* row, Scratch* scratch, double* phi, double* interactions) const;
  // Adds the interventional values of `row` (the mean over the background rows) to phi[O][F] (an object
  // built with a background).
  void RowInterventional(const double* row, Scratch* scratch, double* phi) const;

 private:
  // A node as the row pass reads it.
  struct Node {
    double threshold = 0.0;
    std::int32_t column = -1;
    std::int32_t left = -1, right = -1;
    std::int32_t leaf = -1;    // index into the tree's leaves (leaf nodes)
    std::uint32_t bit = 0;     // 1 << the number of the node's feature on its root path (inner nodes)
    bool first_split = false;  // the root path meets the feature here for the first time
    bool default_left = false;
    bool categorical = false;  // a categorical split: decided by TreeModel::NextFor unless `small`
    bool small = false;        // every code sent right is below 64: they are the bits of `codes`
    std::uint64_t codes = 0;
    std::int32_t pair = -1;  // index into the tree's pairs: both children are leaves, tabulated together
  };
  struct Leaf {
    std::int64_t table = 0;     // offset of the leaf's entries in table_
    std::int32_t features = 0;  // offset of its k path features in the tree's columns / ratios
    std::int32_t k = 0;
    double value = 0.0;
    bool direct = false;  // the table holds per mask the k values a row adds (else T per mask)
  };
  // Two leaves under one split hold, together, what the row adds through either of them: per mask of
  // the split and the row's direction, k entries (the sum of the two leaves' entries). Plain and
  // interventional values with the direct layout; a row then visits neither leaf.
  struct Pair {
    std::int64_t table = 0;
    std::int32_t left = -1, right = -1;  // the two leaves
  };
  struct FastTree {
    bool fast = false;
    std::vector<Node> nodes;
    std::vector<std::int32_t> preorder;  // the reachable nodes, parents before children
    // The pass's lists, each in pre-order: inner nodes and leaves; with pairs, the inner nodes that are
    // not pairs, the pairs, and the leaves outside pairs.
    std::vector<std::int32_t> splits, leaf_nodes, unpaired_splits, pair_nodes, lone_leaves;
    std::vector<Pair> pairs;
    std::vector<Leaf> leaves;
    std::vector<std::int32_t> columns;  // per leaf, the k path features' columns
    std::vector<double> zeros;          // ... their z_j
    std::vector<double> ratios;         // ... their (1 - z_j) / z_j
  };

  bool interventional() const { return !options_.background.empty(); }
  std::int64_t PlainEntries(const Leaf& leaf) const;  // the values' entries (interaction tables follow)
  std::int64_t LeafEntries(const Leaf& leaf) const;
  // `compact`: every path-dependent leaf keeps T (the direct layout would take the tree past
  // kDirectTreeEntries).
  bool Plan(const Tree& tree, bool compact, FastTree* plan) const;
  std::int64_t Entries(FastTree* plan) const;
  // One pass over the nodes in pre-order computing each node's mask for `row` (in the model's codes,
  // TreeModel::MapRow; masks: one per node);
  // calls visit(leaf, mask) at every leaf.
  // With `paired`, a pair's leaves are not visited: visit_pair(pair, mask of its split, row goes left).
  // Leaves (and pairs) are visited after every split, each kind in pre-order.
  template <typename Visit, typename VisitPair>
  void Pass(const Tree& tree, const FastTree& plan, const double* row, std::uint32_t* masks, bool paired,
            Visit&& visit, VisitPair&& visit_pair) const;
  template <typename Visit>
  void ForEachLeaf(const Tree& tree, const FastTree& plan, const double* row, std::uint32_t* masks,
                   Visit&& visit) const {
    Pass(tree, plan, row, masks, false, visit, [](const Pair&, std::uint32_t, bool) {});
  }
  bool Paired(const Leaf& leaf) const { return !options_.interactions && leaf.direct; }
  bool GoesLeft(const Tree& tree, const Node& node, std::int32_t index, const double* row) const;
  void FillPairs(const FastTree& plan);
  void AddPair(const FastTree& plan, const Pair& pair, std::uint32_t mask, bool left, double* phi) const;
  void AddLeaf(const FastTree& plan, const Leaf& leaf, std::uint32_t mask, double* phi) const;
  void AddDirect(const FastTree& plan, const Leaf& leaf, std::uint32_t mask, double* phi) const;
  void AddLeafInteractions(const FastTree& plan, const Leaf& leaf, std::uint32_t mask, std::int64_t f,
                           double* block) const;
  void FillInterventional(const FastTree& plan, std::size_t tree, std::vector<double>* counts);

  const TreeModel& model_;
  FastTreeShapOptions options_;
  std::vector<FastTree> trees_;
  std::vector<double> table_;
};

}  // namespace loupe::shap
