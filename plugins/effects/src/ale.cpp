#include "ale.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "effects_common.hpp"
#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/common_params.hpp"
#include "loupe/sdk/error.hpp"

namespace loupe::effects {
namespace {

using loupe::sdk::Host;
using loupe::sdk::InvalidArgument;
using loupe::sdk::Matrix;
using loupe::sdk::Param;

using SquareMatrix = std::vector<std::vector<double>>;

// R's quantile(type = 7) of an ascending, non-empty vector.
double QuantileType7(const std::vector<double>& sorted, double p) {
  const double index = static_cast<double>(sorted.size() - 1) * p;
  const auto lo = static_cast<std::size_t>(std::floor(index));
  const std::size_t hi = std::min(sorted.size() - 1, lo + 1);
  const double h = index - static_cast<double>(lo);
  return h > 0 && sorted[hi] != sorted[lo] ? (1 - h) * sorted[lo] + h * sorted[hi] : sorted[lo];
}

// The fraction of `sorted` (ascending) at or below `t` (R's ecdf); 0 for an empty sample.
double Ecdf(const std::vector<double>& sorted, double t) {
  if (sorted.empty()) return 0;
  return static_cast<double>(std::upper_bound(sorted.begin(), sorted.end(), t) - sorted.begin()) /
         static_cast<double>(sorted.size());
}

// Adds to `distance` the distance between the levels (position in `levels`) of `row_level` measured on
// the other column `other`: Kolmogorov–Smirnov for numeric columns, total variation for categoricals.
void AddDistance(const Matrix& x, const std::vector<std::int64_t>& rows,
                 const std::vector<std::int64_t>& row_level, std::size_t n_levels,
                 const std::vector<double>& level_counts, std::int64_t other, bool other_categorical,
                 SquareMatrix* distance) {
  if (other_categorical) {
    std::vector<std::vector<double>> table(n_levels);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const double value = x(rows[i], other);
      if (row_level[i] < 0 || std::isnan(value)) continue;
      auto& counts = table[static_cast<std::size_t>(row_level[i])];
      const auto code = static_cast<std::size_t>(value);
      if (counts.size() <= code) counts.resize(code + 1, 0.0);
      counts[code] += 1;
    }
    for (std::size_t a = 0; a < n_levels; ++a) {
      for (std::size_t b = a + 1; b < n_levels; ++b) {
        const std::size_t width = std::max(table[a].size(), table[b].size());
        double tv = 0;
        for (std::size_t c = 0; c < width; ++c) {
          const double pa = c < table[a].size() ? table[a][c] / level_counts[a] : 0;
          const double pb = c < table[b].size() ? table[b][c] / level_counts[b] : 0;
          tv += std::fabs(pa - pb);
        }
        (*distance)[a][b] += tv / 2;
        (*distance)[b][a] += tv / 2;
      }
    }
    return;
  }
  std::vector<double> all;
  std::vector<std::vector<double>> by_level(n_levels);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double value = x(rows[i], other);
    if (std::isnan(value)) continue;
    all.push_back(value);
    if (row_level[i] >= 0) by_level[static_cast<std::size_t>(row_level[i])].push_back(value);
  }
  if (all.empty()) return;
  std::sort(all.begin(), all.end());
  for (auto& values : by_level) std::sort(values.begin(), values.end());
  constexpr int kQuantiles = 100;  // seq(0, 1, length.out = 100)
  std::vector<double> points;
  for (int q = 0; q < kQuantiles; ++q) {
    const double p = q == kQuantiles - 1 ? 1.0 : static_cast<double>(q) * (1.0 / (kQuantiles - 1));
    points.push_back(QuantileType7(all, p));
  }
  for (std::size_t a = 0; a < n_levels; ++a) {
    for (std::size_t b = a + 1; b < n_levels; ++b) {
      double ks = 0;
      for (const double t : points) ks = std::max(ks, std::fabs(Ecdf(by_level[a], t) - Ecdf(by_level[b], t)));
      (*distance)[a][b] += ks;
      (*distance)[b][a] += ks;
    }
  }
}

// The eigenvector of the largest eigenvalue of symmetric `m` (cyclic Jacobi rotations), scaled by the
// square root of that eigenvalue (0 when it is not positive), as R's cmdscale(k = 1).
std::vector<double> FirstPrincipalCoordinate(SquareMatrix m) {
  const std::size_t n = m.size();
  SquareMatrix v(n, std::vector<double>(n, 0.0));
  for (std::size_t i = 0; i < n; ++i) v[i][i] = 1;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t q = p + 1; q < n; ++q) off += m[p][q] * m[p][q];
    if (off < 1e-30) break;
    for (std::size_t p = 0; p < n; ++p) {
      for (std::size_t q = p + 1; q < n; ++q) {
        if (m[p][q] == 0) continue;
        const double theta = (m[q][q] - m[p][p]) / (2 * m[p][q]);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (std::size_t k = 0; k < n; ++k) {  // m <- m * J
          const double mkp = m[k][p], mkq = m[k][q];
          m[k][p] = c * mkp - s * mkq;
          m[k][q] = s * mkp + c * mkq;
        }
        for (std::size_t k = 0; k < n; ++k) {  // m <- J^T * m
          const double mpk = m[p][k], mqk = m[q][k];
          m[p][k] = c * mpk - s * mqk;
          m[q][k] = s * mpk + c * mqk;
        }
        for (std::size_t k = 0; k < n; ++k) {
          const double vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  std::size_t best = 0;
  for (std::size_t i = 1; i < n; ++i)
    if (m[i][i] > m[best][best]) best = i;
  const double scale = std::sqrt(std::max(0.0, m[best][best]));
  std::vector<double> coordinate(n);
  for (std::size_t i = 0; i < n; ++i) coordinate[i] = v[i][best] * scale;
  return coordinate;
}

// Mean of `sum` over `count`, 0 for an empty bin.
double MeanOrZero(double sum, double count) { return count > 0 ? sum / count : 0.0; }

AleCurve NumericAle(const Host& host, const Matrix& x, const std::vector<std::int64_t>& rows,
                    std::int64_t column, const loupe::sdk::FeatureInfo& feature, std::int64_t bins,
                    LoupeOutputSpace space, std::int64_t n_outputs) {
  AleCurve curve;
  const std::vector<double> sorted = SortedFinite(x, rows, column);
  curve.values = AleEdges(sorted, bins);
  const auto n_edges = static_cast<std::int64_t>(curve.values.size());
  const std::int64_t width = x.cols();
  // Rows in bin k = 1..K lie in (z_{k-1}, z_k]; the minimum joins bin 1. Evaluate each at both edges.
  std::vector<std::int64_t> used, bin_of;
  for (const std::int64_t r : rows) {
    const double value = x(r, column);
    if (std::isnan(value)) continue;
    auto k = static_cast<std::int64_t>(std::lower_bound(curve.values.begin(), curve.values.end(), value) -
                                       curve.values.begin());
    used.push_back(r);
    bin_of.push_back(std::max<std::int64_t>(k, 1));
  }
  const auto n = static_cast<std::int64_t>(used.size());
  curve.ale.assign(static_cast<std::size_t>(n_outputs * n_edges), 0.0);
  curve.counts.assign(static_cast<std::size_t>(std::max<std::int64_t>(n_edges - 1, 0)), 0.0);
  for (const std::int64_t k : bin_of) curve.counts[static_cast<std::size_t>(k - 1)] += 1;
  if (n_edges < 2) return curve;  // a constant feature: no local effect
  std::vector<double> batch = GatherRows(x, used);
  batch.resize(static_cast<std::size_t>(2 * n * width));
  std::copy(batch.begin(), batch.begin() + n * width, batch.begin() + n * width);
  for (std::int64_t i = 0; i < n; ++i) {
    batch[static_cast<std::size_t>(i * width + column)] =
        curve.values[static_cast<std::size_t>(bin_of[i] - 1)];
    batch[static_cast<std::size_t>((n + i) * width + column)] =
        curve.values[static_cast<std::size_t>(bin_of[i])];
  }
  const std::vector<double> predicted = PredictAll(host, batch, 2 * n, width, space, n_outputs);
  curve.model_evaluations = 2 * n;
  const std::int64_t n_bins = n_edges - 1;
  for (std::int64_t o = 0; o < n_outputs; ++o) {
    std::vector<double> sums(static_cast<std::size_t>(n_bins), 0.0);
    for (std::int64_t i = 0; i < n; ++i) {
      sums[static_cast<std::size_t>(bin_of[i] - 1)] +=
          predicted[static_cast<std::size_t>((n + i) * n_outputs + o)] -
          predicted[static_cast<std::size_t>(i * n_outputs + o)];
    }
    double* ale = curve.ale.data() + o * n_edges;
    for (std::int64_t k = 1; k <= n_bins; ++k)
      ale[k] = ale[k - 1] + MeanOrZero(sums[static_cast<std::size_t>(k - 1)],
                                       curve.counts[static_cast<std::size_t>(k - 1)]);
    // Centre: minus the mean effect over the rows, each bin's effect taken at its midpoint (ALEPlot).
    double centre = 0;
    for (std::int64_t k = 1; k <= n_bins; ++k)
      centre += curve.counts[static_cast<std::size_t>(k - 1)] * (ale[k - 1] + ale[k]) / 2;
    centre /= static_cast<double>(n);
    for (std::int64_t k = 0; k < n_edges; ++k) ale[k] -= centre;
  }
  for (const double value : curve.values) curve.labels.push_back(loupe::sdk::FormatValue(feature, value));
  return curve;
}

AleCurve CategoricalAle(const Host& host, const Matrix& x, const std::vector<std::int64_t>& rows,
                        std::int64_t column, const loupe::sdk::DatasetInfo& data, LoupeOutputSpace space,
                        std::int64_t n_outputs) {
  AleCurve curve;
  curve.categorical = true;
  curve.values = CategoricalOrder(x, rows, column, data);
  const auto n_levels = static_cast<std::int64_t>(curve.values.size());
  std::vector<std::int64_t> position_of_code;
  for (std::int64_t p = 0; p < n_levels; ++p) {
    const auto code = static_cast<std::size_t>(curve.values[static_cast<std::size_t>(p)]);
    if (position_of_code.size() <= code) position_of_code.resize(code + 1, -1);
    position_of_code[code] = p;
  }
  // Base rows, then each row moved one level up (if not the last) and one level down (if not the first).
  std::vector<std::int64_t> used, position;
  for (const std::int64_t r : rows) {
    const double value = x(r, column);
    if (std::isnan(value)) continue;
    used.push_back(r);
    position.push_back(position_of_code[static_cast<std::size_t>(value)]);
  }
  const auto n = static_cast<std::int64_t>(used.size());
  const std::int64_t width = x.cols();
  curve.counts.assign(static_cast<std::size_t>(n_levels), 0.0);
  for (const std::int64_t p : position) curve.counts[static_cast<std::size_t>(p)] += 1;
  std::vector<double> batch = GatherRows(x, used);
  std::vector<std::pair<std::int64_t, std::int64_t>> moves;  // (row index i, target position)
  for (std::int64_t i = 0; i < n; ++i) {
    if (position[static_cast<std::size_t>(i)] + 1 < n_levels)
      moves.push_back({i, position[static_cast<std::size_t>(i)] + 1});
    if (position[static_cast<std::size_t>(i)] > 0)
      moves.push_back({i, position[static_cast<std::size_t>(i)] - 1});
  }
  for (const auto& [i, target] : moves) {
    batch.insert(batch.end(), batch.begin() + i * width, batch.begin() + (i + 1) * width);
    batch[batch.size() - static_cast<std::size_t>(width) + static_cast<std::size_t>(column)] =
        curve.values[static_cast<std::size_t>(target)];
  }
  const auto total = static_cast<std::int64_t>(n + static_cast<std::int64_t>(moves.size()));
  const std::vector<double> predicted = PredictAll(host, batch, total, width, space, n_outputs);
  curve.model_evaluations = total;
  curve.ale.assign(static_cast<std::size_t>(n_outputs * n_levels), 0.0);
  for (std::int64_t o = 0; o < n_outputs; ++o) {
    // Transition t joins positions t and t + 1; each move gives f(higher) - f(lower).
    std::vector<double> sums(static_cast<std::size_t>(std::max<std::int64_t>(n_levels - 1, 0)), 0.0),
        counts(sums.size(), 0.0);
    for (std::size_t m = 0; m < moves.size(); ++m) {
      const auto [i, target] = moves[m];
      const double moved =
          predicted[static_cast<std::size_t>((n + static_cast<std::int64_t>(m)) * n_outputs + o)];
      const double base = predicted[static_cast<std::size_t>(i * n_outputs + o)];
      const std::int64_t from = position[static_cast<std::size_t>(i)];
      const std::int64_t t = std::min(from, target);
      sums[static_cast<std::size_t>(t)] += target > from ? moved - base : base - moved;
      counts[static_cast<std::size_t>(t)] += 1;
    }
    double* ale = curve.ale.data() + o * n_levels;
    for (std::int64_t p = 1; p < n_levels; ++p)
      ale[p] = ale[p - 1] +
               MeanOrZero(sums[static_cast<std::size_t>(p - 1)], counts[static_cast<std::size_t>(p - 1)]);
    double centre = 0;
    for (std::int64_t p = 0; p < n_levels; ++p) centre += ale[p] * curve.counts[static_cast<std::size_t>(p)];
    centre /= static_cast<double>(n);
    for (std::int64_t p = 0; p < n_levels; ++p) ale[p] -= centre;
  }
  const auto& feature = data.features[static_cast<std::size_t>(column)];
  for (const double value : curve.values) curve.labels.push_back(loupe::sdk::FormatValue(feature, value));
  return curve;
}

// The bin k = 1..K of `value` among edges z_0 < ... < z_K: (z_{k-1}, z_k], the minimum in bin 1.
std::int64_t BinOf(const std::vector<double>& edges, double value) {
  const auto k =
      static_cast<std::int64_t>(std::lower_bound(edges.begin(), edges.end(), value) - edges.begin());
  return std::max<std::int64_t>(k, 1);
}

// For each cell of a K1 x K2 grid ([k][l], row-major), the cell whose mean second-order difference it
// uses: itself when it holds rows, else ALEPlot's nearest non-empty cell — Euclidean distance between the
// cells' midpoints, each coordinate divided by its feature's range; ties to the first non-empty cell in
// column-major order (k fastest, as R's which()).
std::vector<std::int64_t> NearestFilledCell(const std::vector<double>& z1, const std::vector<double>& z2,
                                            const std::vector<double>& counts) {
  const auto k1 = static_cast<std::int64_t>(z1.size()) - 1, k2 = static_cast<std::int64_t>(z2.size()) - 1;
  const double range1 = z1.back() - z1.front(), range2 = z2.back() - z2.front();
  const auto mid1 = [&](std::int64_t k) {
    return (z1[static_cast<std::size_t>(k)] + z1[static_cast<std::size_t>(k + 1)]) / 2 / range1;
  };
  const auto mid2 = [&](std::int64_t l) {
    return (z2[static_cast<std::size_t>(l)] + z2[static_cast<std::size_t>(l + 1)]) / 2 / range2;
  };
  std::vector<std::int64_t> source(static_cast<std::size_t>(k1 * k2));
  for (std::int64_t cell = 0; cell < k1 * k2; ++cell) {
    source[static_cast<std::size_t>(cell)] = cell;
    if (counts[static_cast<std::size_t>(cell)] > 0) continue;
    const double a = mid1(cell / k2), b = mid2(cell % k2);
    double best = std::numeric_limits<double>::infinity();
    for (std::int64_t l = 0; l < k2; ++l) {
      for (std::int64_t k = 0; k < k1; ++k) {
        if (counts[static_cast<std::size_t>(k * k2 + l)] == 0) continue;
        const double d = (mid1(k) - a) * (mid1(k) - a) + (mid2(l) - b) * (mid2(l) - b);
        if (d < best) {
          best = d;
          source[static_cast<std::size_t>(cell)] = k * k2 + l;
        }
      }
    }
  }
  return source;
}

// ALEPlot's second-order surface from the cells' mean differences `delta` [K1][K2] (filled) and counts:
// accumulated over l then k, the first-order effects of each feature within it removed, centred.
std::vector<double> AccumulateSecondOrder(const std::vector<double>& delta, const std::vector<double>& counts,
                                          std::int64_t k1, std::int64_t k2) {
  const std::int64_t w = k2 + 1;
  std::vector<double> f(static_cast<std::size_t>((k1 + 1) * w), 0.0);
  const auto at = [&](std::int64_t k, std::int64_t l) -> double& {
    return f[static_cast<std::size_t>(k * w + l)];
  };
  const auto n = [&](std::int64_t k, std::int64_t l) {
    return counts[static_cast<std::size_t>((k - 1) * k2 + (l - 1))];
  };
  for (std::int64_t k = 1; k <= k1; ++k)  // cumsum along l within each k, then along k
    for (std::int64_t l = 1; l <= k2; ++l)
      at(k, l) = at(k, l - 1) + delta[static_cast<std::size_t>((k - 1) * k2 + (l - 1))];
  for (std::int64_t k = 2; k <= k1; ++k)
    for (std::int64_t l = 1; l <= k2; ++l) at(k, l) += at(k - 1, l);
  // First-order effect of feature 1 within f: the count-weighted mean over l of its differences along k
  // (each cell's at its two l edges averaged), accumulated; likewise feature 2.
  std::vector<double> f1(static_cast<std::size_t>(k1 + 1), 0.0), f2(static_cast<std::size_t>(k2 + 1), 0.0);
  for (std::int64_t k = 1; k <= k1; ++k) {
    double sum = 0, rows = 0;
    for (std::int64_t l = 1; l <= k2; ++l) {
      sum += n(k, l) * ((at(k, l - 1) - at(k - 1, l - 1)) + (at(k, l) - at(k - 1, l))) / 2;
      rows += n(k, l);
    }
    f1[static_cast<std::size_t>(k)] = f1[static_cast<std::size_t>(k - 1)] + sum / rows;
  }
  for (std::int64_t l = 1; l <= k2; ++l) {
    double sum = 0, rows = 0;
    for (std::int64_t k = 1; k <= k1; ++k) {
      sum += n(k, l) * ((at(k - 1, l) - at(k - 1, l - 1)) + (at(k, l) - at(k, l - 1))) / 2;
      rows += n(k, l);
    }
    f2[static_cast<std::size_t>(l)] = f2[static_cast<std::size_t>(l - 1)] + sum / rows;
  }
  for (std::int64_t k = 0; k <= k1; ++k)
    for (std::int64_t l = 0; l <= k2; ++l)
      at(k, l) = at(k, l) - f1[static_cast<std::size_t>(k)] - f2[static_cast<std::size_t>(l)];
  double centre = 0, total = 0;
  for (std::int64_t k = 1; k <= k1; ++k) {
    for (std::int64_t l = 1; l <= k2; ++l) {
      centre += n(k, l) * (at(k - 1, l - 1) + at(k - 1, l) + at(k, l - 1) + at(k, l)) / 4;
      total += n(k, l);
    }
  }
  centre /= total;
  for (double& value : f) value -= centre;
  return f;
}

}  // namespace

Ale2Surface ComputeAle2(const Host& host, const Matrix& x, const std::vector<std::int64_t>& rows,
                        std::int64_t column1, std::int64_t column2, const loupe::sdk::DatasetInfo& data,
                        std::int64_t bins, LoupeOutputSpace space, std::int64_t n_outputs) {
  const auto& feature1 = data.features[static_cast<std::size_t>(column1)];
  const auto& feature2 = data.features[static_cast<std::size_t>(column2)];
  for (const auto* feature : {&feature1, &feature2}) {
    if (feature->IsCategorical()) {
      throw InvalidArgument("parameter 'pairs' pairs categorical feature '" + feature->name +
                            "'; second-order ALE is defined here for two numeric features (as ALEPlot)");
    }
  }
  // Rows with both features present; each feature's edges over those rows.
  std::vector<std::int64_t> used;
  for (const std::int64_t r : rows)
    if (!std::isnan(x(r, column1)) && !std::isnan(x(r, column2))) used.push_back(r);
  if (used.empty()) {
    throw InvalidArgument("features '" + feature1.name + "' and '" + feature2.name +
                          "' are never both present on the step's rows, so they have no second-order ALE");
  }
  Ale2Surface surface;
  surface.values1 = AleEdges(SortedFinite(x, used, column1), bins);
  surface.values2 = AleEdges(SortedFinite(x, used, column2), bins);
  for (const double v : surface.values1) surface.labels1.push_back(loupe::sdk::FormatValue(feature1, v));
  for (const double v : surface.values2) surface.labels2.push_back(loupe::sdk::FormatValue(feature2, v));
  const auto k1 = static_cast<std::int64_t>(surface.values1.size()) - 1;
  const auto k2 = static_cast<std::int64_t>(surface.values2.size()) - 1;
  const auto n = static_cast<std::int64_t>(used.size());
  surface.ale.assign(static_cast<std::size_t>(n_outputs * (k1 + 1) * (k2 + 1)), 0.0);
  surface.counts.assign(static_cast<std::size_t>(k1 * k2), 0.0);
  if (k1 < 1 || k2 < 1) return surface;  // a constant feature: no interaction
  std::vector<std::int64_t> cell(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t r = used[static_cast<std::size_t>(i)];
    cell[static_cast<std::size_t>(i)] =
        (BinOf(surface.values1, x(r, column1)) - 1) * k2 + (BinOf(surface.values2, x(r, column2)) - 1);
    surface.counts[static_cast<std::size_t>(cell[static_cast<std::size_t>(i)])] += 1;
  }
  // Four blocks of the rows, at the corners (lo, lo), (lo, hi), (hi, lo), (hi, hi) of their cells.
  const std::int64_t width = x.cols();
  const std::vector<double> base = GatherRows(x, used);
  std::vector<double> batch(static_cast<std::size_t>(4 * n * width));
  for (std::int64_t corner = 0; corner < 4; ++corner) {
    double* block = batch.data() + corner * n * width;
    std::copy(base.begin(), base.end(), block);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t k = cell[static_cast<std::size_t>(i)] / k2,
                         l = cell[static_cast<std::size_t>(i)] % k2;
      block[i * width + column1] = surface.values1[static_cast<std::size_t>(k + corner / 2)];
      block[i * width + column2] = surface.values2[static_cast<std::size_t>(l + corner % 2)];
    }
  }
  const std::vector<double> predicted = PredictAll(host, batch, 4 * n, width, space, n_outputs);
  surface.model_evaluations = 4 * n;
  const std::vector<std::int64_t> source =
      NearestFilledCell(surface.values1, surface.values2, surface.counts);
  for (const double c : surface.counts) surface.empty_cells += c == 0 ? 1 : 0;
  const auto f = [&](std::int64_t corner, std::int64_t i, std::int64_t o) {
    return predicted[static_cast<std::size_t>((corner * n + i) * n_outputs + o)];
  };
  for (std::int64_t o = 0; o < n_outputs; ++o) {
    std::vector<double> sums(static_cast<std::size_t>(k1 * k2), 0.0), delta(sums.size(), 0.0);
    for (std::int64_t i = 0; i < n; ++i)  // (f(hi, hi) - f(hi, lo)) - (f(lo, hi) - f(lo, lo)), as ALEPlot
      sums[static_cast<std::size_t>(cell[static_cast<std::size_t>(i)])] +=
          (f(3, i, o) - f(2, i, o)) - (f(1, i, o) - f(0, i, o));
    for (std::size_t c = 0; c < sums.size(); ++c) {
      const auto from = static_cast<std::size_t>(source[c]);
      delta[c] = sums[from] / surface.counts[from];
    }
    const std::vector<double> ale = AccumulateSecondOrder(delta, surface.counts, k1, k2);
    std::copy(ale.begin(), ale.end(), surface.ale.begin() + o * (k1 + 1) * (k2 + 1));
  }
  return surface;
}

std::vector<double> AleEdges(const std::vector<double>& sorted, std::int64_t bins) {
  const auto n = static_cast<std::int64_t>(sorted.size());
  std::vector<double> edges = {sorted.front()};
  for (std::int64_t k = 1; k <= bins; ++k) {
    const std::int64_t j = std::clamp<std::int64_t>((n * k + bins - 1) / bins, 1, n);  // ceil(n k / K)
    const double z = sorted[static_cast<std::size_t>(j - 1)];
    if (z != edges.back()) edges.push_back(z);
  }
  return edges;
}

std::vector<double> CategoricalOrder(const Matrix& x, const std::vector<std::int64_t>& rows,
                                     std::int64_t column, const loupe::sdk::DatasetInfo& data) {
  std::vector<double> codes = Unique(SortedFinite(x, rows, column));
  const std::size_t n_levels = codes.size();
  if (n_levels <= 2) return codes;  // one order up to reversal
  std::vector<std::int64_t> row_level;
  std::vector<double> level_counts(n_levels, 0.0);
  for (const std::int64_t r : rows) {
    const double value = x(r, column);
    const auto it = std::lower_bound(codes.begin(), codes.end(), value);
    const std::int64_t level = std::isnan(value) ? -1 : static_cast<std::int64_t>(it - codes.begin());
    row_level.push_back(level);
    if (level >= 0) level_counts[static_cast<std::size_t>(level)] += 1;
  }
  SquareMatrix distance(n_levels, std::vector<double>(n_levels, 0.0));
  for (std::int64_t other = 0; other < x.cols(); ++other) {
    if (other == column) continue;
    AddDistance(x, rows, row_level, n_levels, level_counts, other,
                data.features[static_cast<std::size_t>(other)].IsCategorical(), &distance);
  }
  // Classical MDS: B = -1/2 J D^2 J (J the centring matrix), then its first principal coordinate.
  SquareMatrix b(n_levels, std::vector<double>(n_levels, 0.0));
  std::vector<double> row_mean(n_levels, 0.0);
  double grand_mean = 0;
  for (std::size_t i = 0; i < n_levels; ++i) {
    for (std::size_t j = 0; j < n_levels; ++j)
      row_mean[i] += distance[i][j] * distance[i][j] / static_cast<double>(n_levels);
    grand_mean += row_mean[i] / static_cast<double>(n_levels);
  }
  for (std::size_t i = 0; i < n_levels; ++i)
    for (std::size_t j = 0; j < n_levels; ++j)
      b[i][j] = -0.5 * (distance[i][j] * distance[i][j] - row_mean[i] - row_mean[j] + grand_mean);
  std::vector<double> coordinate = FirstPrincipalCoordinate(b);
  if (coordinate[0] > 0)
    for (double& c : coordinate) c = -c;
  std::vector<std::size_t> order(n_levels);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t c) { return coordinate[a] < coordinate[c]; });
  std::vector<double> ordered;
  for (const std::size_t i : order) ordered.push_back(codes[i]);
  return ordered;
}

AleCurve ComputeAle(const Host& host, const Matrix& x, const std::vector<std::int64_t>& rows,
                    std::int64_t column, const loupe::sdk::DatasetInfo& data, std::int64_t bins,
                    LoupeOutputSpace space, std::int64_t n_outputs) {
  const auto& feature = data.features[static_cast<std::size_t>(column)];
  if (SortedFinite(x, rows, column).empty()) {
    throw InvalidArgument("feature '" + feature.name +
                          "' is missing on every row of the step, so it has no ALE");
  }
  if (feature.IsCategorical()) return CategoricalAle(host, x, rows, column, data, space, n_outputs);
  return NumericAle(host, x, rows, column, feature, bins, space, n_outputs);
}

namespace {

// `pairs`: a list of lists of two distinct feature names.
std::vector<std::pair<std::string, std::string>> ParsePairs(const nlohmann::json& value) {
  std::vector<std::pair<std::string, std::string>> pairs;
  if (value.is_null()) return pairs;
  if (!value.is_array()) {
    throw InvalidArgument("parameter 'pairs' must be a list of pairs of feature names, found " +
                          loupe::sdk::DescribeJson(value));
  }
  for (const auto& item : value) {
    if (!item.is_array() || item.size() != 2 || !item[0].is_string() || !item[1].is_string()) {
      throw InvalidArgument("parameter 'pairs' must list pairs of two feature names, found " +
                            loupe::sdk::DescribeJson(item));
    }
    if (item[0] == item[1]) {
      throw InvalidArgument("parameter 'pairs' pairs feature '" + item[0].get<std::string>() +
                            "' with itself");
    }
    pairs.emplace_back(item[0].get<std::string>(), item[1].get<std::string>());
  }
  return pairs;
}

}  // namespace

AccumulatedLocalEffects::AccumulatedLocalEffects(const Host& host) {
  features_given_ = host.Params().Has("features");
  features_ = host.Params().GetOr<std::vector<std::string>>("features", {});
  pairs_ = ParsePairs(host.Params().GetOr<nlohmann::json>("pairs", nullptr));
  if (features_given_ && features_.empty() && pairs_.empty()) {
    throw InvalidArgument(
        "parameters 'features' (an empty list) and 'pairs' (none) leave no effect to compute");
  }
  bins_ = host.Params().GetOr<std::int64_t>("bins", 40);
  if (bins_ < 1) throw InvalidArgument("parameter 'bins' must be at least 1, found " + std::to_string(bins_));
}

void AccumulatedLocalEffects::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const loupe::sdk::DatasetInfo data = host.Dataset();
  const Matrix x = host.Features();
  const loupe::sdk::OutputSelection selection = loupe::sdk::SelectOutput(host, "output");
  const auto n_outputs = static_cast<std::int64_t>(selection.names.size());
  const std::vector<std::int64_t> rows = NonEmptyStepRows(host, "effects.ale");
  std::vector<std::int64_t> columns;
  for (const auto& name : features_) columns.push_back(FeatureColumn(data, name, "features"));
  if (!features_given_)
    for (std::int64_t c = 0; c < x.cols(); ++c) columns.push_back(c);
  std::vector<std::pair<std::int64_t, std::int64_t>> pair_columns;
  for (const auto& [first, second] : pairs_)
    pair_columns.emplace_back(FeatureColumn(data, first, "pairs"), FeatureColumn(data, second, "pairs"));
  const std::size_t n_tasks = columns.size() + pair_columns.size();

  nlohmann::json features_json = nlohmann::json::array();
  std::int64_t evaluations = 0;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    host.ThrowIfCancelled();
    const AleCurve curve = ComputeAle(host, x, rows, columns[i], data, bins_, selection.space, n_outputs);
    const auto& feature = data.features[static_cast<std::size_t>(columns[i])];
    nlohmann::json entry = {{"feature", feature.name},
                            {"categorical", curve.categorical},
                            {"values", curve.values},
                            {"labels", curve.labels},
                            {"counts", curve.counts}};
    if (!curve.categorical) entry["deciles"] = Deciles(SortedFinite(x, rows, columns[i]));
    features_json.push_back(entry);
    result.SetTensor("ale." + std::to_string(i), {n_outputs, static_cast<std::int64_t>(curve.values.size())},
                     curve.ale.data());
    evaluations += curve.model_evaluations;
    host.Progress(i + 1, n_tasks);
  }
  nlohmann::json pairs_json = nlohmann::json::array();
  for (std::size_t p = 0; p < pair_columns.size(); ++p) {
    host.ThrowIfCancelled();
    const auto [column1, column2] = pair_columns[p];
    const Ale2Surface surface =
        ComputeAle2(host, x, rows, column1, column2, data, bins_, selection.space, n_outputs);
    const auto k1 = static_cast<std::int64_t>(surface.values1.size());
    const auto k2 = static_cast<std::int64_t>(surface.values2.size());
    nlohmann::json counts = nlohmann::json::array();
    for (std::int64_t k = 0; k + 1 < k1; ++k)
      counts.push_back(std::vector<double>(surface.counts.begin() + k * (k2 - 1),
                                           surface.counts.begin() + (k + 1) * (k2 - 1)));
    pairs_json.push_back({{"features", {pairs_[p].first, pairs_[p].second}},
                          {"values", {surface.values1, surface.values2}},
                          {"labels", {surface.labels1, surface.labels2}},
                          {"counts", counts},
                          {"empty_cells", surface.empty_cells}});
    result.SetTensor("ale2." + std::to_string(p), {n_outputs, k1, k2}, surface.ale.data());
    evaluations += surface.model_evaluations;
    host.Progress(columns.size() + p + 1, n_tasks);
  }
  result.SetJson("pairs", pairs_json);
  result.SetJson("features", features_json);
  result.SetStrings("output_names", selection.names);
  result.SetNumber("shown_output", static_cast<double>(ShownOutput(data, host.ModelInfo(), selection.names)));
  result.SetNumber("bins", static_cast<double>(bins_));
  result.SetNumber("quality.rows", static_cast<double>(rows.size()));
  result.SetNumber("quality.model_evaluations", static_cast<double>(evaluations));
}

loupe::sdk::ExplainerDef AccumulatedLocalEffects::Definition() {
  return loupe::sdk::ExplainerDef::Of<AccumulatedLocalEffects>("effects.ale")
      .Summary(
          "Accumulated local effects (Apley & Zhu 2020) of numeric and categorical features and second-order "
          "ALE of numeric pairs, as the authors' ALEPlot.")
      .Kind("accumulated_local_effects")
      .Scope(LOUPE_SCOPE_GLOBAL)
      .Parameters({
          Param::StringList("features")
              .Doc("Features whose first-order ALE is computed; unset: every feature; an empty list: none "
                   "(pairs only)."),
          Param::Json("pairs").Doc("Pairs of numeric features whose second-order ALE (their interaction, "
                                   "first-order effects removed) is computed, e.g. [[Age, Income]]."),
          Param::Int("bins").Default(40).Min(1).Doc("Quantile intervals K of a numeric feature (ALEPlot's "
                                                    "K); tied quantiles merge, so there may be "
                                                    "fewer."),
          loupe::sdk::OutputParam(),
      });
}

}  // namespace loupe::effects
