// The arithmetic of the attention plugin, free of any host: combining heads, the residual adjustment,
// rollout (Abnar & Zuidema 2020), pooled importance, head statistics and a small symmetric eigensolver
// for the hidden-state projections. Matrices are row-major std::vector<double>.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loupe::attention {

// How the heads of one layer are combined (the `aggregate` parameter).
enum class Aggregate { kNone, kMean, kMax };

// Parses "none" | "mean" | "max".
Aggregate ParseAggregate(const std::string& name);

// attention: f32 [layers][heads][T][T]. Returns [layers.size()][T][T]: for each selected layer, the mean
// (or element-wise max) over the selected heads. kNone is not allowed here.
std::vector<double> CombineHeads(const float* attention, std::int64_t heads, std::int64_t tokens,
                                 const std::vector<std::int64_t>& layer_indices,
                                 const std::vector<std::int64_t>& head_indices, Aggregate aggregate);

// The residual adjustment of Abnar & Zuidema: each layer's A becomes (A + I) with every row divided by
// its sum (0.5·A + 0.5·I when A's rows sum to 1). In place on [layers][T][T].
void AddResidual(std::vector<double>& layers, std::int64_t n_layers, std::int64_t tokens);

// Rollout of residual-adjusted layers [L][T][T]: R_1 = A_1, R_l = A_l · R_{l-1}; returns R_L (T x T), or
// the identity when there are no layers.
std::vector<double> Rollout(const std::vector<double>& adjusted, std::int64_t n_layers, std::int64_t tokens);

// out[k] = sum_q weights[q] · matrix[q][k]: how much each input token reaches the pooled output.
std::vector<double> PooledImportance(const std::vector<double>& matrix, const std::vector<double>& weights,
                                     std::int64_t tokens);

// Statistics of one attention matrix a[T][T] (rows are queries), averaged over its query rows.
struct HeadStatistics {
  double entropy = 0;         // -sum_k a log a (nats)
  double max_weight = 0;      // max_k a
  double to_cls = 0;          // weight on [CLS] tokens
  double to_sep = 0;          // weight on [SEP] tokens
  double to_punctuation = 0;  // weight on punctuation tokens
  double distance = 0;        // sum_k a · |q - k|, in tokens
};

// Which tokens are special, for HeadStatistics. With `word_index` ([T], −1 for tokens of no word) the
// first-token class is a special token at position 0 and the separator class every later special token,
// so <s> and </s> count as [CLS] and [SEP] do; without it (empty), tokens are told by their spelling.
struct TokenClasses {
  std::vector<std::uint8_t> cls, sep, punctuation;  // [T] flags
};
TokenClasses ClassifyTokens(const std::vector<std::string>& tokens,
                            const std::vector<std::int64_t>& word_index);

HeadStatistics Statistics(const float* matrix, std::int64_t tokens, const TokenClasses& classes);

// Eigenpairs of a symmetric n x n matrix by cyclic Jacobi rotations, largest eigenvalue first.
// vectors[i * n + j] is component j of eigenvector i.
void SymmetricEigen(std::vector<double> matrix, std::int64_t n, std::vector<double>& values,
                    std::vector<double>& vectors);

// Principal-component projection of the rows of x [n][d] onto the first `components` axes:
// coordinates [n][components] and each axis's share of the total variance [components]. Signs are fixed
// so that the coordinate of largest magnitude on each axis is positive.
void Pca(const std::vector<double>& x, std::int64_t n, std::int64_t d, std::int64_t components,
         std::vector<double>& coordinates, std::vector<double>& explained);

}  // namespace loupe::attention
