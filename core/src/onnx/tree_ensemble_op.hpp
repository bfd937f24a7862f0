// ai.onnx.ml TreeEnsembleClassifier and TreeEnsembleRegressor (opsets 1 and 3), as the operator
// specification and ONNX Runtime define them:
//   - nodes by (tree id, node id); modes BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT, BRANCH_EQ,
//     BRANCH_NEQ and LEAF; a true condition goes to the true node; a NaN goes to the true node when
//     nodes_missing_value_tracks_true is set, else where the IEEE comparison sends it (the false node, but
//     the true node of BRANCH_NEQ: NaN != t), as ONNX Runtime does;
//   - comparisons in float32: the input is rounded to float32 and compared with the float32 threshold;
//   - leaf weights added per class / target, scores accumulated in double; the regressor aggregates with
//     SUM (default), AVERAGE, MIN or MAX, then adds base_values;
//   - post_transform NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT (score by score, with ONNX Runtime's
//     approximation of erfinv, ProbitAsOnnxRuntime; refused on the binary one-score form);
//   - a classifier with two labels whose weights all name class 0 (skl2onnx's binary form) gives one score
//     s and reports [1 − s, s] (NONE with non-negative weights), [−s, s] (NONE otherwise) or
//     [sigmoid(−s), sigmoid(s)] (LOGISTIC), as ONNX Runtime does; its raw score is s alone.
// Outputs: classifier (label [N], scores [N, classes]); regressor (Y [N, targets]).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "onnx/ops.hpp"

namespace loupe::onnx {

enum class NodeMode : std::uint8_t { kLeq, kLt, kGte, kGt, kEq, kNeq, kLeaf };
enum class PostTransform : std::uint8_t { kNone, kLogistic, kSoftmax, kSoftmaxZero, kProbit };

// PROBIT as ONNX Runtime computes it (its ml_common.h): sqrt(2) · erfinv(2p − 1) with Winitzki's
// closed-form approximation of erfinv (a = 0.147) in float32, about 1e-3 from the exact probit. Loupe
// follows the runtime the models are deployed on, not the exact function.
float ProbitAsOnnxRuntime(float p);

// One tree, nodes re-indexed from 0 (the root) in the file's order.
struct EnsembleTree {
  std::vector<NodeMode> mode;
  std::vector<std::int32_t> feature;
  std::vector<float> threshold;
  std::vector<std::int32_t> true_child, false_child;
  std::vector<std::uint8_t> missing_tracks_true;
  // Leaf weights: node n adds weight[k] to score target[k] for k in [weight_offset[n], weight_offset[n+1]).
  std::vector<std::int64_t> weight_offset;
  std::vector<std::int32_t> weight_target;
  std::vector<double> weight;
  // The same nodes side by side, as a row's walk reads them (made by the kernel; empty elsewhere).
  struct Packed {
    float threshold;
    std::int32_t feature, true_child, false_child;
    NodeMode mode;
    std::uint8_t missing_tracks_true;
  };
  std::vector<Packed> packed;
};

struct TreeEnsembleData {
  bool classifier = false;
  std::vector<EnsembleTree> trees;
  std::int64_t n_scores = 0;   // raw scores accumulated per row (1 in the binary one-score form)
  std::int64_t n_outputs = 0;  // columns of the scores / Y output
  bool binary_one_score = false;
  bool weights_non_negative = true;
  std::vector<double> base_values;  // n_scores entries (zeros when absent)
  PostTransform post_transform = PostTransform::kNone;
  enum class Aggregate { kSum, kAverage, kMin, kMax } aggregate = Aggregate::kSum;
  std::int64_t n_features = 0;  // 1 + the largest feature id a split reads
  // Classifier labels: int64 or strings (one of them is filled).
  std::vector<std::int64_t> int_labels;
  std::vector<std::string> string_labels;

  // The leaf `row` (n_features values, float or double) reaches in `tree`; a double input is compared
  // with the float32 threshold widened to double, as ONNX Runtime does.
  template <typename T>
  std::int32_t Leaf(const EnsembleTree& tree, const T* row) const;
  // The raw scores of one row (n_scores values: aggregated leaf weights plus base values).
  template <typename T>
  void Scores(const T* row, double* scores) const;
  // The raw scores of `n` rows of `width` values (scores [n][n_scores]): the same values as Scores
  // row by row (Scores is a block of one row), each tree walked for the whole block so that its nodes stay
  // in cache.
  template <typename T>
  void ScoresOfBlock(const T* rows, std::int64_t n, std::int64_t width, double* scores) const;
  // Turns raw scores into the n_outputs values of the scores / Y output (post_transform applied).
  void Transform(const double* scores, double* out) const;
};

// The ensemble a TreeEnsembleClassifier / TreeEnsembleRegressor kernel holds, or nullptr for another kernel.
const TreeEnsembleData* TreeEnsembleOf(const Kernel& kernel);

}  // namespace loupe::onnx
