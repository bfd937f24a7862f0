// effects.ale — first-order accumulated local effects (Apley & Zhu 2020) of numeric and categorical
// features, computed as the authors' ALEPlot package does. See README.md.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::effects {

// The ALE of one feature: for a numeric feature the bin edges z_0 < ... < z_K and the effect at each
// edge; for a categorical one the levels in ALE order and the effect of each level.
struct AleCurve {
  bool categorical = false;
  std::vector<double> values;       // numeric: the K + 1 edges; categorical: level codes in ALE order
  std::vector<std::string> labels;  // the values as text
  std::vector<double> counts;       // numeric: rows per bin (K); categorical: rows per level
  std::vector<double> ale;          // [n_outputs][values.size()], centred
  std::int64_t model_evaluations = 0;
};

// The edges of a numeric feature: z_0 = min, z_k = the type-1 quantile x_(ceil(n k / K)) (computed in
// integers) for k = 1..K, duplicates removed. `sorted` is ascending and non-empty.
std::vector<double> AleEdges(const std::vector<double>& sorted, std::int64_t bins);

// The order ALEPlot gives the levels of categorical column `column`: the first coordinate of classical
// multidimensional scaling of the distance between levels, summed over the other features (the
// Kolmogorov–Smirnov distance of a numeric feature's distributions within the two levels, at its 100
// type-7 quantiles; the total variation distance of a categorical feature's). Returns the level codes
// (those present in `rows`) in that order, ties by code. The eigenvector's sign, which MDS leaves open,
// is chosen so that the lowest code present has a coordinate <= 0; the centred ALE of each level does not
// depend on it (reversing the order only shifts the uncentred curve).
std::vector<double> CategoricalOrder(const loupe::sdk::Matrix& x, const std::vector<std::int64_t>& rows,
                                     std::int64_t column, const loupe::sdk::DatasetInfo& data);

// The centred first-order ALE of `column` over `rows` (rows missing the feature are left out).
AleCurve ComputeAle(const loupe::sdk::Host& host, const loupe::sdk::Matrix& x,
                    const std::vector<std::int64_t>& rows, std::int64_t column,
                    const loupe::sdk::DatasetInfo& data, std::int64_t bins, LoupeOutputSpace space,
                    std::int64_t n_outputs);

// The second-order ALE of a pair of numeric features (Apley & Zhu 2020 §2.3 and eq. (13)–(14), computed
// as the authors' ALEPlot does for two numeric predictors): each feature's edges as AleEdges; each row in
// cell (k, l) gives the second-order difference of the model at the cell's four corners; the mean per
// cell (an empty cell takes the value of the nearest non-empty cell, by the cells' midpoints scaled by each
// feature's range, ties to the first in column-major order as R's which()) is accumulated over both
// axes; then the first-order effects of each feature within that accumulation are removed and the result
// is centred over the rows (each cell at the mean of its four corners).
struct Ale2Surface {
  std::vector<double> values1, values2;  // the edges of each feature (K1 + 1 and K2 + 1)
  std::vector<std::string> labels1, labels2;
  std::vector<double> counts;  // [K1][K2] rows per cell
  std::int64_t empty_cells = 0;
  std::vector<double> ale;  // [n_outputs][K1 + 1][K2 + 1], centred
  std::int64_t model_evaluations = 0;
};

Ale2Surface ComputeAle2(const loupe::sdk::Host& host, const loupe::sdk::Matrix& x,
                        const std::vector<std::int64_t>& rows, std::int64_t column1, std::int64_t column2,
                        const loupe::sdk::DatasetInfo& data, std::int64_t bins, LoupeOutputSpace space,
                        std::int64_t n_outputs);

class AccumulatedLocalEffects final : public loupe::sdk::Explainer {
 public:
  explicit AccumulatedLocalEffects(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;

  static loupe::sdk::ExplainerDef Definition();

 private:
  std::vector<std::string> features_;
  bool features_given_ = false;  // unset: every feature; an empty list: none (pairs only)
  std::vector<std::pair<std::string, std::string>> pairs_;  // second-order ALE
  std::int64_t bins_ = 40;
};

}  // namespace loupe::effects
