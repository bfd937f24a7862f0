#include "local_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace loupe::lime {

LocalDesign SummarizeDesign(const double* x, std::int64_t n, std::int64_t k, const double* w) {
  LocalDesign design;
  design.k = k;
  design.x_mean.assign(static_cast<std::size_t>(k), 0.0);
  design.gram.assign(static_cast<std::size_t>(k * k), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    design.weight_sum += w[i];
    for (std::int64_t j = 0; j < k; ++j) design.x_mean[static_cast<std::size_t>(j)] += w[i] * x[i * k + j];
  }
  for (double& mean : design.x_mean) mean /= design.weight_sum;
  std::vector<double> centered(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < k; ++j)
      centered[static_cast<std::size_t>(j)] = x[i * k + j] - design.x_mean[static_cast<std::size_t>(j)];
    for (std::int64_t a = 0; a < k; ++a) {
      const double wa = w[i] * centered[static_cast<std::size_t>(a)];
      if (wa == 0.0) continue;
      double* row = design.gram.data() + a * k;
      for (std::int64_t b = a; b < k; ++b) row[b] += wa * centered[static_cast<std::size_t>(b)];
    }
  }
  for (std::int64_t a = 0; a < k; ++a) {
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

std::vector<double> SolveSymmetric(std::vector<double> a, const std::vector<double>& b, std::int64_t k,
                                   double alpha) {
  const auto at = [k](std::int64_t r, std::int64_t c) { return static_cast<std::size_t>(r * k + c); };
  for (std::int64_t i = 0; i < k; ++i) a[at(i, i)] += alpha;
  std::vector<double> v(static_cast<std::size_t>(k * k), 0.0);
  for (std::int64_t i = 0; i < k; ++i) v[at(i, i)] = 1.0;
  double scale = 0;
  for (const double value : a) scale = std::max(scale, std::fabs(value));
  for (int sweep = 0; sweep < 100 && scale > 0; ++sweep) {
    double off = 0;
    for (std::int64_t p = 0; p < k; ++p) {
      for (std::int64_t q = p + 1; q < k; ++q) off = std::max(off, std::fabs(a[at(p, q)]));
    }
    if (off <= 1e-300 || off <= 1e-17 * scale) break;
    for (std::int64_t p = 0; p < k; ++p) {
      for (std::int64_t q = p + 1; q < k; ++q) {
        const double apq = a[at(p, q)];
        if (std::fabs(apq) <= 1e-300) continue;
        const double theta = (a[at(q, q)] - a[at(p, p)]) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0);
        const double s = t * c;
        for (std::int64_t r = 0; r < k; ++r) {
          if (r == p || r == q) continue;
          const double arp = a[at(r, p)], arq = a[at(r, q)];
          a[at(r, p)] = a[at(p, r)] = c * arp - s * arq;
          a[at(r, q)] = a[at(q, r)] = s * arp + c * arq;
        }
        a[at(p, p)] -= t * apq;
        a[at(q, q)] += t * apq;
        a[at(p, q)] = a[at(q, p)] = 0.0;
        for (std::int64_t r = 0; r < k; ++r) {
          const double vrp = v[at(r, p)], vrq = v[at(r, q)];
          v[at(r, p)] = c * vrp - s * vrq;
          v[at(r, q)] = s * vrp + c * vrq;
        }
      }
    }
  }
  double largest = 0;
  for (std::int64_t i = 0; i < k; ++i) largest = std::max(largest, a[at(i, i)]);
  const double tolerance = largest * static_cast<double>(std::max<std::int64_t>(k, 1)) * 1e-13;
  std::vector<double> x(static_cast<std::size_t>(k), 0.0);
  for (std::int64_t e = 0; e < k; ++e) {
    const double lambda = a[at(e, e)];
    if (!(lambda > tolerance)) continue;
    double projection = 0;
    for (std::int64_t r = 0; r < k; ++r) projection += v[at(r, e)] * b[static_cast<std::size_t>(r)];
    projection /= lambda;
    for (std::int64_t r = 0; r < k; ++r) x[static_cast<std::size_t>(r)] += projection * v[at(r, e)];
  }
  return x;
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
  model.coef = SolveSymmetric(std::move(a), b, s, alpha);
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
  const std::int64_t k = design.k;
  const auto& g = design.gram;
  std::vector<double> beta(static_cast<std::size_t>(k), 0.0);
  std::vector<std::vector<double>> path = {beta};
  double largest = 0;
  for (const double value : target.xty) largest = std::max(largest, std::fabs(value));
  const double tiny = 1e-12 * std::max(largest, 1e-300);
  std::vector<std::int64_t> active;
  std::vector<bool> in_active(static_cast<std::size_t>(k), false);
  std::vector<double> corr(static_cast<std::size_t>(k));
  std::int64_t entering = -1;
  bool dropped = false;
  for (int iteration = 0; iteration < 500; ++iteration) {
    for (std::int64_t j = 0; j < k; ++j) {
      double value = target.xty[static_cast<std::size_t>(j)];
      for (const std::int64_t l : active)
        value -= g[static_cast<std::size_t>(j * k + l)] * beta[static_cast<std::size_t>(l)];
      corr[static_cast<std::size_t>(j)] = value;
    }
    if (!dropped) {
      if (entering < 0) {  // first step: the column most correlated with the residual
        double best = tiny;
        for (std::int64_t j = 0; j < k; ++j) {
          if (!in_active[static_cast<std::size_t>(j)] &&
              std::fabs(corr[static_cast<std::size_t>(j)]) > best) {
            best = std::fabs(corr[static_cast<std::size_t>(j)]);
            entering = j;
          }
        }
        if (entering < 0) break;
      }
      active.push_back(entering);
      in_active[static_cast<std::size_t>(entering)] = true;
    }
    dropped = false;
    entering = -1;
    double c = 0;
    for (const std::int64_t j : active) c = std::max(c, std::fabs(corr[static_cast<std::size_t>(j)]));
    if (c <= tiny) break;
    const auto s = static_cast<std::int64_t>(active.size());
    std::vector<double> g_aa(static_cast<std::size_t>(s * s)), signs(static_cast<std::size_t>(s));
    for (std::int64_t a = 0; a < s; ++a) {
      signs[static_cast<std::size_t>(a)] =
          corr[static_cast<std::size_t>(active[static_cast<std::size_t>(a)])] >= 0 ? 1.0 : -1.0;
      for (std::int64_t b = 0; b < s; ++b) {
        g_aa[static_cast<std::size_t>(a * s + b)] = g[static_cast<std::size_t>(
            active[static_cast<std::size_t>(a)] * k + active[static_cast<std::size_t>(b)])];
      }
    }
    const std::vector<double> w = SolveSymmetric(g_aa, signs, s, 0.0);
    double norm = 0;
    for (std::int64_t a = 0; a < s; ++a)
      norm += signs[static_cast<std::size_t>(a)] * w[static_cast<std::size_t>(a)];
    if (!(norm > 0)) break;
    const double aa = 1.0 / std::sqrt(norm);
    std::vector<double> direction(static_cast<std::size_t>(s));
    for (std::int64_t a = 0; a < s; ++a)
      direction[static_cast<std::size_t>(a)] = aa * w[static_cast<std::size_t>(a)];
    // Step to the least-squares fit of the active set unless a column joins or a coefficient hits zero first.
    double gamma = c / aa;
    for (std::int64_t j = 0; j < k; ++j) {
      if (in_active[static_cast<std::size_t>(j)]) continue;
      double a_j = 0;
      for (std::int64_t a = 0; a < s; ++a) {
        a_j += g[static_cast<std::size_t>(j * k + active[static_cast<std::size_t>(a)])] *
               direction[static_cast<std::size_t>(a)];
      }
      const double cj = corr[static_cast<std::size_t>(j)];
      for (const double candidate : {(c - cj) / (aa - a_j), (c + cj) / (aa + a_j)}) {
        if (std::isfinite(candidate) && candidate > 1e-15 * gamma && candidate < gamma) {
          gamma = candidate;
          entering = j;
        }
      }
    }
    std::int64_t drop = -1;
    for (std::int64_t a = 0; a < s; ++a) {
      const double b = beta[static_cast<std::size_t>(active[static_cast<std::size_t>(a)])];
      if (b == 0.0) continue;
      const double candidate = -b / direction[static_cast<std::size_t>(a)];
      if (candidate > 0 && candidate < gamma) {
        gamma = candidate;
        drop = a;
      }
    }
    for (std::int64_t a = 0; a < s; ++a) {
      beta[static_cast<std::size_t>(active[static_cast<std::size_t>(a)])] +=
          gamma * direction[static_cast<std::size_t>(a)];
    }
    if (drop >= 0) {
      const std::int64_t column = active[static_cast<std::size_t>(drop)];
      beta[static_cast<std::size_t>(column)] = 0.0;
      in_active[static_cast<std::size_t>(column)] = false;
      active.erase(active.begin() + drop);
      dropped = true;
      entering = -1;
    }
    path.push_back(beta);
    if (drop < 0 && entering < 0) break;  // the least-squares fit on every column that can join
  }
  return path;
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
