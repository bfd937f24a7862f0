// Tree ensembles as a model capability (docs/architecture.md §3): the trees of an XGBoost model (and of
// any later tree model) as flat per-node arrays, for TreeSHAP and other tree-aware explainers.
//
// A model with trees returns a TreeEnsembleCapability from Model::tree_ensemble(), which holds both forms:
//   view()    -> const TreeEnsembleView&   (this header, for host code)
//   c_view()  -> const LoupeTreeEnsemble&  (the C struct of loupe_plugin.h, which the host hands to
//                                           plugins for LoupeHostApi::model_capability("tree_ensemble", 1))
// Both describe the same trees and stay valid, unchanged, for the model's lifetime.
//
// Feature indices are the MODEL's input indices (Model::Info().inputs order, repeated in `features`),
// not the pipeline's feature-matrix columns: map them by name. A categorical input's codes index its
// `levels`; for an XGBoost model those are the names stored by the training script in the booster
// attribute "loupe_levels", else the codes themselves as strings ("0", "1", ...), so that a data column
// whose levels are written as codes maps onto them by name.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "loupe/c/loupe_plugin.h"
#include "loupe/core/model.hpp"

namespace loupe {

inline constexpr std::string_view kTreeEnsembleCapability = LOUPE_TREE_ENSEMBLE_CAPABILITY;

enum class SplitRule {
  kLess,       // x < threshold goes left (XGBoost)
  kLessEqual,  // x <= threshold goes left (scikit-learn, LightGBM)
};

// How margins become the model's default outputs.
enum class TreeLink {
  kIdentity,  // regression: the output is the margin
  kLogistic,  // binary: [1 - sigmoid(margin), sigmoid(margin)]
  kSoftmax,   // multi-class: softmax(margins)
};

// One tree as parallel arrays over its nodes; node 0 is the root. Unreachable nodes may be present.
struct Tree {
  int output = 0;                          // the margin (raw output) this tree adds to
  int max_depth = 0;                       // edges on the longest root-to-leaf path
  std::vector<std::int32_t> left, right;   // child indices, -1 at leaves
  std::vector<std::int32_t> feature;       // model input index, -1 at leaves
  std::vector<double> threshold;           // numeric splits (see SplitRule); NaN elsewhere
  std::vector<std::uint8_t> default_left;  // 1: a missing (NaN) value goes left
  std::vector<std::uint8_t> is_leaf;
  std::vector<std::uint8_t> is_categorical;
  // Leaves: the amount added to the margin (tree weights applied). Inner nodes: the cover-weighted mean
  // of the children's values (XGBoost's node mean, the expectation path-dependent TreeSHAP starts from).
  std::vector<double> value;
  std::vector<double> cover;  // training weight through the node (XGBoost: the sum of hessians)
  // Categorical splits send the codes categories[category_offsets[n] .. category_offsets[n + 1]) (sorted)
  // right and every other code left; n_nodes + 1 offsets.
  std::vector<std::int64_t> category_offsets;
  std::vector<std::int32_t> categories;

  std::int32_t size() const { return static_cast<std::int32_t>(left.size()); }
  // Whether a row whose split feature holds `x` goes to the left child of inner node `node`.
  bool GoesLeft(std::int32_t node, double x, SplitRule rule) const;
  // The leaf `row` (the model's inputs) reaches.
  std::int32_t Leaf(const double* row, SplitRule rule) const;
};

struct TreeEnsembleView {
  SplitRule split_rule = SplitRule::kLess;
  TreeLink link = TreeLink::kIdentity;
  std::vector<double> base_margin;   // one per raw output
  std::vector<ModelInput> features;  // the model's inputs, by index
  std::vector<Tree> trees;

  std::size_t n_outputs() const { return base_margin.size(); }
  int max_depth() const;
  // margins[o] = base_margin[o] + the values of the leaves `row` reaches in the trees of output o,
  // accumulated in double. `row` holds the model's inputs; `margins` has n_outputs() entries.
  void Margins(const double* row, double* margins) const;
};

// The smallest double d with `x < d` exactly when `static_cast<float>(x) < t` for every double x (round
// to nearest even), so that an f32 split condition is honoured bit for bit on f64 inputs.
double LessThanFloatBound(float t);

// Fills the inner nodes' `value` with the cover-weighted means of their children (leaves untouched).
void FillNodeMeans(Tree& tree);

// Holds a TreeEnsembleView and its C mirror (LoupeTreeEnsemble, whose arrays point into the view). Not
// copyable: the mirror points into it.
class TreeEnsembleCapability {
 public:
  explicit TreeEnsembleCapability(TreeEnsembleView view);
  TreeEnsembleCapability(const TreeEnsembleCapability&) = delete;
  TreeEnsembleCapability& operator=(const TreeEnsembleCapability&) = delete;

  const TreeEnsembleView& view() const { return view_; }
  const LoupeTreeEnsemble& c_view() const { return c_ensemble_; }

 private:
  TreeEnsembleView view_;
  std::vector<LoupeTree> c_trees_;
  std::vector<const LoupeTree*> c_tree_pointers_;
  std::vector<std::vector<const char*>> c_levels_;
  std::vector<LoupeColumnInfo> c_features_;
  LoupeTreeEnsemble c_ensemble_{};
};

}  // namespace loupe
