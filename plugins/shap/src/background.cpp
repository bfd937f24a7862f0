#include "background.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "loupe/sdk/error.hpp"
#include "loupe/sdk/params.hpp"

namespace loupe::shap {
namespace {

using loupe::sdk::Host;
using loupe::sdk::Matrix;

// scikit-learn 1.2 KMeans defaults.
constexpr int kInits = 10;
constexpr int kMaxIterations = 300;
constexpr double kRelativeTolerance = 1e-4;
// Rows per parallel chunk of the distance passes; fixed, so results never depend on the thread count.
constexpr std::int64_t kChunkRows = 1024;

bool IsKMeans(const nlohmann::json& selection) { return selection.is_object(); }

// K of {kmeans: K}; throws naming the parameter when the object is anything else.
std::int64_t KMeansCount(const nlohmann::json& selection, std::int64_t n_rows) {
  if (selection.size() != 1 || !selection.contains("kmeans") || !selection["kmeans"].is_number_integer()) {
    throw loupe::sdk::InvalidArgument(
        "parameter 'background' as an object must be {kmeans: K} with an integer K, found " +
        selection.dump());
  }
  const auto k = selection["kmeans"].get<std::int64_t>();
  if (k < 1 || k > n_rows) {
    throw loupe::sdk::InvalidArgument("parameter 'background' asks for {kmeans: " + std::to_string(k) +
                                      "}, but K must be between 1 and the data's " + std::to_string(n_rows) +
                                      " rows");
  }
  return k;
}

}  // namespace

std::vector<std::int64_t> ResolveBackgroundRows(const Host& host, std::int64_t n_rows) {
  nlohmann::json selection = host.Params().Get<nlohmann::json>("background");
  if (selection.is_number_integer() && selection.get<std::int64_t>() >= n_rows) selection = "all";
  std::vector<std::int64_t> rows = host.ResolveRows(selection, kBackgroundStream, "background");
  if (rows.empty()) {
    throw loupe::sdk::InvalidArgument(
        "parameter 'background' must select at least one row, found " +
        loupe::sdk::DescribeJson(host.Params().Get<nlohmann::json>("background")) + " on data of " +
        std::to_string(n_rows) + " rows");
  }
  return rows;
}

namespace {

// The data with missing values replaced by their column's mean (shap.kmeans imputes before clustering).
std::vector<double> Imputed(const Matrix& x) {
  const std::int64_t n = x.rows(), f = x.cols();
  std::vector<double> data(x.data(), x.data() + n * f);
  for (std::int64_t c = 0; c < f; ++c) {
    double sum = 0.0;
    std::int64_t seen = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (!std::isnan(x(i, c))) sum += x(i, c), ++seen;
    }
    const double mean = seen > 0 ? sum / static_cast<double>(seen) : 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (std::isnan(data[static_cast<std::size_t>(i * f + c)]))
        data[static_cast<std::size_t>(i * f + c)] = mean;
    }
  }
  return data;
}

double SquaredDistance(const double* a, const double* b, std::int64_t f) {
  double d = 0.0;
  for (std::int64_t c = 0; c < f; ++c) d += (a[c] - b[c]) * (a[c] - b[c]);
  return d;
}

// One k-means problem: n points of width f, k clusters.
class KMeans {
 public:
  KMeans(const Host& host, std::vector<double> data, std::int64_t n, std::int64_t f, std::int64_t k)
      : host_(host), data_(std::move(data)), n_(n), f_(f), k_(k), tolerance_(Tolerance()) {}

  struct Solution {
    std::vector<double> centres;       // [k][f]
    std::vector<std::int64_t> labels;  // [n]
    double inertia = std::numeric_limits<double>::infinity();
  };

  // The lowest-inertia solution of kInits seeded runs (the first wins ties).
  Solution Best() const {
    Solution best;
    for (int init = 0; init < kInits; ++init) {
      Solution run = Lloyd(PlusPlus(static_cast<std::uint64_t>(init)));
      if (run.inertia < best.inertia) best = std::move(run);
    }
    return best;
  }

 private:
  const double* Point(std::int64_t i) const { return data_.data() + i * f_; }

  // scikit-learn's tol: a fraction of the mean per-feature variance.
  double Tolerance() const {
    double total = 0.0;
    for (std::int64_t c = 0; c < f_; ++c) {
      double mean = 0.0, squares = 0.0;
      for (std::int64_t i = 0; i < n_; ++i) mean += Point(i)[c];
      mean /= static_cast<double>(n_);
      for (std::int64_t i = 0; i < n_; ++i) squares += (Point(i)[c] - mean) * (Point(i)[c] - mean);
      total += squares / static_cast<double>(n_);
    }
    return kRelativeTolerance * total / static_cast<double>(f_);
  }

  // min(current[i], |x_i - x_candidate|^2) for every point, in parallel; returns the sum (in row order).
  double Closer(std::int64_t candidate, const std::vector<double>& current, std::vector<double>* out) const {
    out->resize(static_cast<std::size_t>(n_));
    host_.ParallelFor(0, n_, kChunkRows, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        const double d = SquaredDistance(Point(i), Point(candidate), f_);
        (*out)[static_cast<std::size_t>(i)] =
            current.empty() ? d : std::min(current[static_cast<std::size_t>(i)], d);
      }
    });
    return std::accumulate(out->begin(), out->end(), 0.0);
  }

  // Greedy k-means++ (scikit-learn's _kmeans_plusplus with 2 + ln k local trials per centre).
  std::vector<double> PlusPlus(std::uint64_t init) const {
    loupe::sdk::Rng rng = host_.Rng(init, kKMeansStream);
    const auto trials = 2 + static_cast<std::int64_t>(std::log(static_cast<double>(k_)));
    std::vector<double> centres;
    auto take = [&](std::int64_t i) { centres.insert(centres.end(), Point(i), Point(i) + f_); };
    const auto first = static_cast<std::int64_t>(rng.Below(static_cast<std::uint64_t>(n_)));
    take(first);
    std::vector<double> closest, candidate_closest, best_closest;
    double potential = Closer(first, {}, &closest);
    std::vector<double> cumulative(static_cast<std::size_t>(n_));
    for (std::int64_t c = 1; c < k_; ++c) {
      std::partial_sum(closest.begin(), closest.end(), cumulative.begin());
      double best_potential = std::numeric_limits<double>::infinity();
      std::int64_t best = 0;
      for (std::int64_t t = 0; t < trials; ++t) {
        const double target = rng.Uniform() * potential;
        const auto at = std::lower_bound(cumulative.begin(), cumulative.end(), target) - cumulative.begin();
        const std::int64_t candidate = std::min<std::int64_t>(at, n_ - 1);
        const double candidate_potential = Closer(candidate, closest, &candidate_closest);
        if (candidate_potential < best_potential) {
          best_potential = candidate_potential;
          best = candidate;
          best_closest.swap(candidate_closest);
        }
      }
      take(best);
      potential = best_potential;
      closest.swap(best_closest);
    }
    return centres;
  }

  // Nearest centre (lowest index on ties) and squared distance of every point.
  void Assign(const std::vector<double>& centres, std::vector<std::int64_t>* labels,
              std::vector<double>* distances) const {
    labels->resize(static_cast<std::size_t>(n_));
    distances->resize(static_cast<std::size_t>(n_));
    host_.ParallelFor(0, n_, kChunkRows, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        double best = std::numeric_limits<double>::infinity();
        std::int64_t label = 0;
        for (std::int64_t c = 0; c < k_; ++c) {
          const double d = SquaredDistance(Point(i), centres.data() + c * f_, f_);
          if (d < best) best = d, label = c;
        }
        (*labels)[static_cast<std::size_t>(i)] = label;
        (*distances)[static_cast<std::size_t>(i)] = best;
      }
    });
  }

  // Cluster means; an empty cluster takes the point farthest from its centre (scikit-learn's relocation).
  std::vector<double> Update(std::vector<std::int64_t>* labels, std::vector<double>* distances) const {
    std::vector<double> sums(static_cast<std::size_t>(k_ * f_), 0.0);
    std::vector<std::int64_t> counts(static_cast<std::size_t>(k_), 0);
    for (std::int64_t c = 0; c < k_; ++c) {
      if (std::count(labels->begin(), labels->end(), c) > 0) continue;
      const auto far = std::max_element(distances->begin(), distances->end()) - distances->begin();
      (*labels)[static_cast<std::size_t>(far)] = c;
      (*distances)[static_cast<std::size_t>(far)] = -1.0;  // not taken twice
    }
    for (std::int64_t i = 0; i < n_; ++i) {
      const std::int64_t c = (*labels)[static_cast<std::size_t>(i)];
      ++counts[static_cast<std::size_t>(c)];
      for (std::int64_t j = 0; j < f_; ++j) sums[static_cast<std::size_t>(c * f_ + j)] += Point(i)[j];
    }
    for (std::int64_t c = 0; c < k_; ++c) {
      for (std::int64_t j = 0; j < f_; ++j)
        sums[static_cast<std::size_t>(c * f_ + j)] /=
            static_cast<double>(counts[static_cast<std::size_t>(c)]);
    }
    return sums;
  }

  Solution Lloyd(std::vector<double> centres) const {
    Solution s;
    std::vector<double> distances;
    std::vector<std::int64_t> previous;
    for (int iteration = 0; iteration < kMaxIterations; ++iteration) {
      Assign(centres, &s.labels, &distances);
      if (s.labels == previous) break;  // strict convergence
      previous = s.labels;
      std::vector<double> moved = Update(&s.labels, &distances);
      double shift = 0.0;
      for (std::size_t i = 0; i < moved.size(); ++i)
        shift += (moved[i] - centres[i]) * (moved[i] - centres[i]);
      centres.swap(moved);
      if (shift <= tolerance_) {
        Assign(centres, &s.labels, &distances);
        break;
      }
    }
    s.centres = std::move(centres);
    s.inertia = std::accumulate(distances.begin(), distances.end(), 0.0);
    return s;
  }

  const Host& host_;
  const std::vector<double> data_;
  const std::int64_t n_, f_, k_;
  const double tolerance_;
};

// The value of column c of x nearest to `value` among its non-missing values (the smaller on a tie);
// NaN when the column has none. `sorted` holds the column's distinct non-missing values in order.
double Snap(const std::vector<double>& sorted, double value) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const auto above = std::lower_bound(sorted.begin(), sorted.end(), value);
  if (above == sorted.begin()) return *above;
  if (above == sorted.end()) return sorted.back();
  const double below = *(above - 1);
  return value - below <= *above - value ? below : *above;
}

}  // namespace

void CheckBackground(const Host& host, std::int64_t n_rows) {
  const nlohmann::json selection = host.Params().Get<nlohmann::json>("background");
  if (IsKMeans(selection)) {
    KMeansCount(selection, n_rows);
  } else {
    ResolveBackgroundRows(host, n_rows);
  }
}

Background KMeansBackground(const Host& host, const Matrix& x, std::int64_t k) {
  const std::int64_t n = x.rows(), f = x.cols();
  const KMeans::Solution solution = KMeans(host, Imputed(x), n, f, k).Best();
  std::vector<std::vector<double>> sorted(static_cast<std::size_t>(f));
  for (std::int64_t c = 0; c < f; ++c) {
    auto& column = sorted[static_cast<std::size_t>(c)];
    for (std::int64_t i = 0; i < n; ++i) {
      if (!std::isnan(x(i, c))) column.push_back(x(i, c));
    }
    std::sort(column.begin(), column.end());
    column.erase(std::unique(column.begin(), column.end()), column.end());
  }
  Background background;
  background.cols = f;
  for (std::int64_t c = 0; c < k; ++c) {
    const auto size = std::count(solution.labels.begin(), solution.labels.end(), c);
    if (size == 0) continue;  // only when the data has fewer than K distinct rows
    for (std::int64_t j = 0; j < f; ++j) {
      background.values.push_back(
          Snap(sorted[static_cast<std::size_t>(j)], solution.centres[static_cast<std::size_t>(c * f + j)]));
    }
    background.weights.push_back(static_cast<double>(size) / static_cast<double>(n));
  }
  return background;
}

Background ResolveBackground(const Host& host, const Matrix& x) {
  const nlohmann::json selection = host.Params().Get<nlohmann::json>("background");
  if (IsKMeans(selection)) return KMeansBackground(host, x, KMeansCount(selection, x.rows()));
  Background background;
  background.rows = ResolveBackgroundRows(host, x.rows());
  background.cols = x.cols();
  for (const std::int64_t row : background.rows)
    background.values.insert(background.values.end(), x.Row(row), x.Row(row) + x.cols());
  return background;
}

}  // namespace loupe::shap
