#include "local_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "plugin_common/lars_path.hpp"
#include "plugin_common/symmetric_solve.hpp"

namespace loupe::lime {
namespace {

// Eigenvalues below k * 1e-13 of the largest count as zero in the ridge solve (k the columns fitted).
constexpr double kRelativeEigenCutoff = 1e-13;
// Correlations below 1e-12 of the largest |X'y| count as zero on the lasso path.
constexpr double kRelativeCorrelationFloor = 1e-12;
constexpr std::int64_t kLassoMaxIterations = 500;

}  // namespace

LocalDesign SummarizeDesign(const double* x, std::int64_t n, std::int64_t k, const double* w) {
  // The uncentered weighted Gram sum_i w_i x_i x_i' over each sample's non-zero columns, then centered as
  // G - S m m' (S the weight sum, m the weighted means): lime's local data is 0/1 indicators (about a
  // quarter of them 1 with quartile bins, half for text) or standardized values, so skipping the zeros
  // makes the pass several times cheaper and the correction loses no significant digits.
  LocalDesign design;
  design.k = k;
  design.x_mean.assign(static_cast<std::size_t>(k), 0.0);
  design.gram.assign(static_cast<std::size_t>(k * k), 0.0);
  std::vector<double> sums(static_cast<std::size_t>(k), 0.0);  // sum_i w_i x_i
  std::vector<std::int64_t> nonzero(static_cast<std::size_t>(k));
  std::vector<double> weighted(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < n; ++i) {
    const double wi = w[i];
    const double* xi = x + i * k;
    design.weight_sum += wi;
    std::int64_t count = 0;
    for (std::int64_t j = 0; j < k; ++j) {  // branch-free: the zeros fall at random
      const double value = wi * xi[j];
      sums[static_cast<std::size_t>(j)] += value;  // + 0 leaves a sum unchanged
      nonzero[static_cast<std::size_t>(count)] = j;
      weighted[static_cast<std::size_t>(count)] = value;
      count += xi[j] != 0.0 ? 1 : 0;
    }
    if (count == k) {  // dense: contiguous rows
      for (std::int64_t a = 0; a < k; ++a) {
        const double wa = weighted[static_cast<std::size_t>(a)];
        double* row = design.gram.data() + a * k;
        for (std::int64_t b = a; b < k; ++b) row[b] += wa * xi[b];
      }
      continue;
    }
    for (std::int64_t p = 0; p < count; ++p) {
      const double wa = weighted[static_cast<std::size_t>(p)];
      double* row = design.gram.data() + nonzero[static_cast<std::size_t>(p)] * k;
      for (std::int64_t q = p; q < count; ++q) {
        const std::int64_t b = nonzero[static_cast<std::size_t>(q)];
        row[b] += wa * xi[b];
      }
    }
  }
  for (std::int64_t j = 0; j < k; ++j)
    design.x_mean[static_cast<std::size_t>(j)] = sums[static_cast<std::size_t>(j)] / design.weight_sum;
  for (std::int64_t a = 0; a < k; ++a) {
    const double mean = design.x_mean[static_cast<std::size_t>(a)];
    for (std::int64_t b = a; b < k; ++b)
      design.gram[static_cast<std::size_t>(a * k + b)] -= mean * sums[static_cast<std::size_t>(b)];
    for (std::int64_t b = 0; b < a; ++b)
      design.gram[static_cast<std::size_t>(a * k + b)] = design.gram[static_cast<std::size_t>(b * k + a)];
  }
  return design;
}

LocalTarget SummarizeTarget(const LocalDesign& design, const double* x, std::int64_t n, const double* y,
                            const double* w) {
  const std::int64_t k = design.k;
  LocalTarget target;
  for (std::int64_t i = 0; i < n; ++i) target.y_mean += w[i] * y[i];
  target.y_mean /= design.weight_sum;
  target.xty.assign(static_cast<std::size_t>(k), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    const double wy = w[i] * (y[i] - target.y_mean);
    target.yty += wy * (y[i] - target.y_mean);
    for (std::int64_t j = 0; j < k; ++j)
      target.xty[static_cast<std::size_t>(j)] +=
          wy * (x[i * k + j] - design.x_mean[static_cast<std::size_t>(j)]);
  }
  return target;
}

RidgeModel FitRidge(const LocalDesign& design, const LocalTarget& target,
                    const std::vector<std::int64_t>& features, double alpha) {
  const auto s = static_cast<std::int64_t>(features.size());
  std::vector<double> a(static_cast<std::size_t>(s * s));
  std::vector<double> b(static_cast<std::size_t>(s));
  for (std::int64_t i = 0; i < s; ++i) {
    const std::int64_t fi = features[static_cast<std::size_t>(i)];
    b[static_cast<std::size_t>(i)] = target.xty[static_cast<std::size_t>(fi)];
    for (std::int64_t j = 0; j < s; ++j) {
      a[static_cast<std::size_t>(i * s + j)] =
          design.gram[static_cast<std::size_t>(fi * design.k + features[static_cast<std::size_t>(j)])];
    }
  }
  RidgeModel model;
  model.features = features;
  // The minimum-norm solution of (A + alpha I) coef = b, as an SVD-based solver gives: lime's Ridge fits
  // must not depend on whether a column happens to be constant.
  loupe::plugin_common::SymmetricSolveOptions options;
  options.ridge = alpha;
  options.rcond = static_cast<double>(std::max<std::int64_t>(s, 1)) * kRelativeEigenCutoff;
  // With alpha > 0 the system is positive definite with every eigenvalue >= alpha, and none is at or
  // below the cutoff when alpha > rcond * trace (the trace bounds the largest eigenvalue): the solution is
  // then unique and LU gives it (to rounding) without the eigendecomposition. Otherwise the pseudo-inverse.
  double trace = 0;
  for (std::int64_t i = 0; i < s; ++i) trace += a[static_cast<std::size_t>(i * s + i)] + alpha;
  options.lu_first = alpha > 0 && alpha > options.rcond * trace;
  loupe::plugin_common::SolveSymmetric(std::move(a), s, 1, b.data(), options);
  model.coef = std::move(b);
  model.intercept = target.y_mean;
  for (std::int64_t i = 0; i < s; ++i) {
    model.intercept -= model.coef[static_cast<std::size_t>(i)] *
                       design.x_mean[static_cast<std::size_t>(features[static_cast<std::size_t>(i)])];
  }
  return model;
}

double StatisticsScore(const LocalDesign& design, const LocalTarget& target, const RidgeModel& model) {
  // SSR = yty - 2 coef'Xty + coef' G coef on the centered data (the intercept absorbs the means).
  const std::size_t s = model.features.size();
  double ssr = target.yty;
  for (std::size_t i = 0; i < s; ++i) {
    const std::int64_t fi = model.features[i];
    ssr -= 2.0 * model.coef[i] * target.xty[static_cast<std::size_t>(fi)];
    for (std::size_t j = 0; j < s; ++j) {
      ssr += model.coef[i] * model.coef[j] *
             design.gram[static_cast<std::size_t>(fi * design.k + model.features[j])];
    }
  }
  if (target.yty == 0.0) return ssr <= 0.0 ? 1.0 : 0.0;
  return 1.0 - ssr / target.yty;
}

double PredictRow(const RidgeModel& model, const double* row) {
  double y = model.intercept;
  for (std::size_t i = 0; i < model.features.size(); ++i) y += model.coef[i] * row[model.features[i]];
  return y;
}

double WeightedR2(const RidgeModel& model, const double* x, std::int64_t n, std::int64_t k, const double* y,
                  const double* w) {
  double weight_sum = 0, mean = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    weight_sum += w[i];
    mean += w[i] * y[i];
  }
  mean /= weight_sum;
  double ssr = 0, sst = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double residual = y[i] - PredictRow(model, x + i * k);
    ssr += w[i] * residual * residual;
    sst += w[i] * (y[i] - mean) * (y[i] - mean);
  }
  if (sst == 0.0) return ssr == 0.0 ? 1.0 : 0.0;
  return 1.0 - ssr / sst;
}

std::vector<std::vector<double>> LassoPath(const LocalDesign& design, const LocalTarget& target) {
  double largest = 0;
  for (const double value : target.xty) largest = std::max(largest, std::fabs(value));
  // The weighted sums carry no sample count: alphas are not reported, and the path stops once every
  // correlation is rounding noise next to the largest one.
  const double min_correlation = kRelativeCorrelationFloor * std::max(largest, 1e-300);
  return loupe::plugin_common::ComputeLarsPath(design.gram, target.xty, design.k, /*n_samples=*/1,
                                               /*lasso=*/true, kLassoMaxIterations, min_correlation)
      .coefs;
}

std::vector<std::int64_t> SelectFeatures(const LocalDesign& design, const LocalTarget& target,
                                         const double* first_row, Selection selection,
                                         std::int64_t num_features) {
  const std::int64_t k = design.k;
  num_features = std::min(num_features, k);
  if (selection == Selection::kAuto)
    selection = num_features <= 6 ? Selection::kForward : Selection::kHighestWeights;
  std::vector<std::int64_t> all(static_cast<std::size_t>(k));
  std::iota(all.begin(), all.end(), 0);
  switch (selection) {
    case Selection::kNone:
      return all;
    case Selection::kForward: {
      std::vector<std::int64_t> used;
      std::vector<bool> taken(static_cast<std::size_t>(k), false);
      for (std::int64_t step = 0; step < num_features; ++step) {
        double best_score = -std::numeric_limits<double>::infinity();
        std::int64_t best = -1;
        for (std::int64_t j = 0; j < k; ++j) {
          if (taken[static_cast<std::size_t>(j)]) continue;
          std::vector<std::int64_t> candidate = used;
          candidate.push_back(j);
          const double score = StatisticsScore(design, target, FitRidge(design, target, candidate, 0.0));
          if (score > best_score || best < 0) {
            best_score = score;
            best = j;
          }
        }
        used.push_back(best);
        taken[static_cast<std::size_t>(best)] = true;
      }
      return used;
    }
    case Selection::kLassoPath: {
      const auto path = LassoPath(design, target);
      std::vector<std::int64_t> nonzero = all;  // lime keeps every column when the path has no step
      for (std::size_t i = path.size() - 1; i > 0; --i) {
        nonzero.clear();
        for (std::int64_t j = 0; j < k; ++j) {
          if (path[i][static_cast<std::size_t>(j)] != 0.0) nonzero.push_back(j);
        }
        if (static_cast<std::int64_t>(nonzero.size()) <= num_features) break;
      }
      return nonzero;
    }
    case Selection::kHighestWeights:
    case Selection::kAuto: {
      const RidgeModel full = FitRidge(design, target, all, 0.01);
      std::vector<double> weighted(static_cast<std::size_t>(k));
      for (std::int64_t j = 0; j < k; ++j) {
        weighted[static_cast<std::size_t>(j)] =
            std::fabs(full.coef[static_cast<std::size_t>(j)] * first_row[j]);
      }
      std::stable_sort(all.begin(), all.end(), [&](std::int64_t a, std::int64_t b) {
        return weighted[static_cast<std::size_t>(a)] > weighted[static_cast<std::size_t>(b)];
      });
      all.resize(static_cast<std::size_t>(num_features));
      return all;
    }
  }
  return all;
}

LabelFit FitLabel(const LocalDesign& design, const double* x, std::int64_t n, const double* y,
                  const double* w, Selection selection, std::int64_t num_features) {
  const std::int64_t k = design.k;
  const LocalTarget target = SummarizeTarget(design, x, n, y, w);
  const std::vector<std::int64_t> used = SelectFeatures(design, target, x, selection, num_features);
  const RidgeModel model = FitRidge(design, target, used, 1.0);
  LabelFit fit;
  fit.weights.assign(static_cast<std::size_t>(k), 0.0);
  for (std::size_t s = 0; s < used.size(); ++s) {
    fit.weights[static_cast<std::size_t>(used[s])] = model.coef[s];
    fit.ranked.emplace_back(used[s], model.coef[s]);
  }
  std::stable_sort(fit.ranked.begin(), fit.ranked.end(),
                   [](const auto& a, const auto& b) { return std::fabs(a.second) > std::fabs(b.second); });
  fit.intercept = model.intercept;
  fit.score = WeightedR2(model, x, n, k, y, w);
  fit.local_pred = PredictRow(model, x);
  return fit;
}

}  // namespace loupe::lime
