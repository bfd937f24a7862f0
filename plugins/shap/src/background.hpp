// The `background` parameter of the shap explainers (docs/architecture.md §5): the rows whose values replace
// the features outside a coalition, each with a weight.
//
// Accepted forms: "a:b", a list of rows, a count N drawn with the step seed, "all", or {kmeans: K}. The
// last one is shap.kmeans(data, K): k-means (scikit-learn's KMeans: k-means++ init, Lloyd iterations,
// best of 10 inits) on every row of the step's data, each centre then snapped per feature to the nearest
// value that feature actually takes (round_values=True, so categorical codes stay valid levels), and
// weighted by its cluster's share of the rows. Missing values are imputed with the column mean for the
// clustering (as shap does) and never become a centre's value unless a column has no other value.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/sdk/host.hpp"

namespace loupe::shap {

// RNG stream of the seeded background sample (a count N), so it never collides with other draws.
inline constexpr std::uint64_t kBackgroundStream = 0x5348415042470000ULL;  // "SHAPBG"
// RNG stream of the k-means++ initialisations; the counter-based key is (step seed, init number, stream).
inline constexpr std::uint64_t kKMeansStream = 0x534841504B4D0000ULL;  // "SHAPKM"

// The background distribution: B rows of F feature values with weights summing to 1.
struct Background {
  std::vector<double> values;      // [B][F] row-major
  std::vector<double> weights;     // [B]; empty when every row weighs 1/B (a plain row selection)
  std::vector<std::int64_t> rows;  // the data rows of a plain selection; empty for k-means centres
  std::int64_t cols = 0;

  std::int64_t size() const { return cols == 0 ? 0 : static_cast<std::int64_t>(values.size()) / cols; }
  bool weighted() const { return !weights.empty(); }
  const double* Row(std::int64_t j) const { return values.data() + j * cols; }
  double Weight(std::int64_t j) const {
    return weighted() ? weights[static_cast<std::size_t>(j)] : 1.0 / static_cast<double>(size());
  }
};

// Checks `background` without running k-means (for an explainer's constructor); throws
// loupe::sdk::Error naming the parameter when it is malformed or selects no row.
void CheckBackground(const loupe::sdk::Host& host, std::int64_t n_rows);

// Resolves `background` over the feature matrix `x`; throws loupe::sdk::Error naming the parameter
// when it is bad. K-means runs on the host's thread pool and is bit-identical for any thread count.
Background ResolveBackground(const loupe::sdk::Host& host, const loupe::sdk::Matrix& x);

// The data rows of a plain selection (no k-means), as shap.tree's interventional background; throws
// loupe::sdk::Error naming the parameter when it selects no row.
std::vector<std::int64_t> ResolveBackgroundRows(const loupe::sdk::Host& host, std::int64_t n_rows);

// shap.kmeans on rows x[0..n) of width f: K weighted centres snapped to data values. Exposed for tests.
Background KMeansBackground(const loupe::sdk::Host& host, const loupe::sdk::Matrix& x, std::int64_t k);

}  // namespace loupe::shap
