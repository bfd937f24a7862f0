// Helpers shared by the effects explainers: feature lookup, the grids (scipy's mquantiles and numpy's
// linspace, as scikit-learn builds its partial-dependence grid), batched model calls and the output a
// report shows first.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/host.hpp"

namespace loupe::effects {

// Rows per model call: large enough that model evaluation dominates (docs/architecture.md §4).
inline constexpr std::int64_t kBatchRows = 8192;
// (variant, row) pairs per "row_variants" call (loupe_plugin.h v1.4): such a call computes its base rows'
// first layer once, so it takes many variants; its cost per pair is a few operations, not a whole row's.
inline constexpr std::int64_t kVariantRows = std::int64_t{1} << 18;

// The column of feature `name` in the feature matrix; Error naming `param` when there is none.
std::int64_t FeatureColumn(const loupe::sdk::DatasetInfo& data, const std::string& name,
                           const std::string& param);

// The values of column `col` over `rows`, NaN (missing) dropped, sorted ascending.
std::vector<double> SortedFinite(const loupe::sdk::Matrix& x, const std::vector<std::int64_t>& rows,
                                 std::int64_t col);
// The distinct values of a sorted vector (np.unique).
std::vector<double> Unique(const std::vector<double>& sorted);

// scipy.stats.mstats.mquantiles(sorted, prob=p) with its defaults alphap = betap = 0.4 (Hyndman & Fan's
// type 6 family member scikit-learn uses for its grid). `sorted` must be non-empty and ascending.
double MQuantile(const std::vector<double>& sorted, double p);
// numpy.linspace(start, stop, num, endpoint=True), bit for bit: start + i * step, the last point stop.
std::vector<double> Linspace(double start, double stop, std::int64_t num);
// numpy.allclose for two scalars (rtol 1e-5, atol 1e-8).
bool AllClose(double a, double b);
// The deciles scikit-learn's PartialDependenceDisplay draws as the rug: mquantiles at 0.1, 0.2, ... 0.9
// (np.arange(0.1, 1.0, 0.1)). Empty when `sorted` is.
std::vector<double> Deciles(const std::vector<double>& sorted);

// The index of the output a report shows first: the pipeline's positive label when it is one of
// `names`, else the last output of a classifier (P(class 1) for binary ones), else the first.
std::int64_t ShownOutput(const loupe::sdk::DatasetInfo& data, const loupe::sdk::ModelInfo& model,
                         const std::vector<std::string>& names);

// Evaluates the model on `n` rows of `width` values (row-major) in batches of kBatchRows rows on the
// host's pool; returns [n, n_outputs]. Chunks depend only on n, so the bits do not depend on threads.
std::vector<double> PredictAll(const loupe::sdk::Host& host, const std::vector<double>& rows, std::int64_t n,
                               std::int64_t width, LoupeOutputSpace space, std::int64_t n_outputs);

// The rows of `rows` copied into a contiguous row-major matrix.
std::vector<double> GatherRows(const loupe::sdk::Matrix& x, const std::vector<std::int64_t>& rows);

// The step's rows, checked to be non-empty.
std::vector<std::int64_t> NonEmptyStepRows(const loupe::sdk::Host& host, const std::string& explainer);

}  // namespace loupe::effects
