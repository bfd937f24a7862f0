#include "kernel_explainer.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "background.hpp"
#include "coalition_game.hpp"
#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/error.hpp"
#include "loupe/sdk/random.hpp"

namespace loupe::shap {
namespace {

using loupe::sdk::Host;
using loupe::sdk::Matrix;

// RNG stream of the coalition draws; the counter-based key is (step seed, explained data row, this stream).
constexpr std::uint64_t kKernelStream = 0x534841504B524E00ULL;  // "SHAPKRN"

// The requested nsamples, or 0 for shap's "auto" (2M + 2048).
std::int64_t RequestedSamples(const Host& host) {
  if (!host.Params().Has("nsamples")) return 0;
  const auto nsamples = host.Params().Get<std::int64_t>("nsamples");
  if (nsamples < 1 || nsamples > kMaxKernelSamples) {
    throw loupe::sdk::InvalidArgument("parameter 'nsamples' must be between 1 and " + std::to_string(kMaxKernelSamples) +
                                      " coalitions per row, found " + std::to_string(nsamples));
  }
  return nsamples;
}

// shap's budget for M varying players: nsamples (auto: 2M + 2048), capped at 2^M - 2 when M <= 30.
std::int64_t Budget(std::int64_t requested, std::int64_t m) {
  std::int64_t nsamples = requested > 0 ? requested : 2 * m + 2048;
  if (m <= 30) nsamples = std::min(nsamples, (std::int64_t{1} << m) - 2);
  return nsamples;
}

double Binomial(std::int64_t n, std::int64_t k) {
  double c = 1.0;
  for (std::int64_t i = 1; i <= k; ++i) c = c * static_cast<double>(n - k + i) / static_cast<double>(i);
  return std::round(c) < 9.0e15 ? std::round(c) : c;
}

// The coalitions of one explained row over its varying players.
struct RowSamples {
  std::vector<std::int64_t> varying;   // players that differ from some background row
  std::vector<unsigned char> masks;    // [K][varying]
  std::vector<double> weights;         // [K], kernel weights as shap's kernelWeights
  std::int64_t count() const { return static_cast<std::int64_t>(weights.size()); }
};

// Visits every size-k subset of {0..m) in lexicographic order (itertools.combinations).
template <typename Visit>
void ForEachCombination(std::int64_t m, std::int64_t k, Visit&& visit) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(k));
  std::iota(idx.begin(), idx.end(), 0);
  for (;;) {
    visit(idx);
    std::int64_t i = k - 1;
    while (i >= 0 && idx[static_cast<std::size_t>(i)] == m - k + i) --i;
    if (i < 0) return;
    ++idx[static_cast<std::size_t>(i)];
    for (std::int64_t j = i + 1; j < k; ++j) idx[static_cast<std::size_t>(j)] = idx[static_cast<std::size_t>(j - 1)] + 1;
  }
}

// shap 0.42 KernelExplainer.explain's sample construction for m >= 2 players.
void BuildSamples(std::int64_t m, std::int64_t nsamples, loupe::sdk::Rng& rng, RowSamples* out) {
  const auto um = static_cast<std::size_t>(m);
  std::vector<unsigned char> mask(um);
  auto add = [&](double weight) {
    out->masks.insert(out->masks.end(), mask.begin(), mask.end());
    out->weights.push_back(weight);
  };
  auto complement = [&] {
    for (auto& bit : mask) bit = static_cast<unsigned char>(1 - bit);
  };

  const std::int64_t num_subset_sizes = m / 2;            // ceil((m - 1) / 2)
  const std::int64_t num_paired_subset_sizes = (m - 1) / 2;  // floor((m - 1) / 2)
  std::vector<double> weight_vector(static_cast<std::size_t>(num_subset_sizes));
  for (std::int64_t i = 1; i <= num_subset_sizes; ++i) {
    weight_vector[static_cast<std::size_t>(i - 1)] =
        (static_cast<double>(m) - 1.0) / (static_cast<double>(i) * static_cast<double>(m - i));
  }
  for (std::int64_t i = 0; i < num_paired_subset_sizes; ++i) weight_vector[static_cast<std::size_t>(i)] *= 2;
  const double total = std::accumulate(weight_vector.begin(), weight_vector.end(), 0.0);
  for (double& w : weight_vector) w /= total;

  std::int64_t num_full_subsets = 0;
  double num_samples_left = static_cast<double>(nsamples);
  std::vector<double> remaining = weight_vector;
  for (std::int64_t size = 1; size <= num_subset_sizes; ++size) {
    const bool paired = size <= num_paired_subset_sizes;
    double nsubsets = Binomial(m, size);
    if (paired) nsubsets *= 2;
    const double share = remaining[static_cast<std::size_t>(size - 1)];
    if (num_samples_left * share / nsubsets < 1.0 - 1e-8) break;
    ++num_full_subsets;
    num_samples_left -= nsubsets;
    if (share < 1.0) {
      for (double& w : remaining) w /= (1.0 - share);
    }
    double w = weight_vector[static_cast<std::size_t>(size - 1)] / Binomial(m, size);
    if (paired) w /= 2.0;
    ForEachCombination(m, size, [&](const std::vector<std::int64_t>& inds) {
      std::fill(mask.begin(), mask.end(), 0);
      for (const std::int64_t i : inds) mask[static_cast<std::size_t>(i)] = 1;
      add(w);
      if (paired) {
        complement();
        add(w);
      }
    });
  }

  const std::int64_t nfixed = out->count();
  std::int64_t samples_left = nsamples - nfixed;
  if (num_full_subsets == num_subset_sizes || samples_left <= 0) return;

  // Sizes num_full_subsets + 1 .. num_subset_sizes, paired sizes halved because each draw adds two.
  std::vector<double> cdf;
  for (std::int64_t i = num_full_subsets; i < num_subset_sizes; ++i) {
    const double w = weight_vector[static_cast<std::size_t>(i)] / (i < num_paired_subset_sizes ? 2.0 : 1.0);
    cdf.push_back((cdf.empty() ? 0.0 : cdf.back()) + w);
  }
  for (double& c : cdf) c /= cdf.back();
  std::unordered_map<std::string, std::int64_t> used;
  std::vector<std::int64_t> order(um);
  const std::int64_t draws = 4 * samples_left;
  for (std::int64_t draw = 0; draw < draws && samples_left > 0; ++draw) {
    const double u = rng.Uniform();
    const auto ind = static_cast<std::int64_t>(std::upper_bound(cdf.begin(), cdf.end() - 1, u) - cdf.begin());
    const std::int64_t size = ind + num_full_subsets + 1;
    // The first `size` entries of a uniform random permutation (partial Fisher-Yates).
    std::iota(order.begin(), order.end(), 0);
    std::fill(mask.begin(), mask.end(), 0);
    for (std::int64_t i = 0; i < size; ++i) {
      const auto j = i + static_cast<std::int64_t>(rng.Below(static_cast<std::uint64_t>(m - i)));
      std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
      mask[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = 1;
    }
    const std::string key(mask.begin(), mask.end());
    const auto [it, is_new] = used.emplace(key, out->count());
    if (is_new) {
      --samples_left;
      add(1.0);
    } else {
      out->weights[static_cast<std::size_t>(it->second)] += 1.0;
    }
    if (samples_left > 0 && size <= num_paired_subset_sizes) {
      complement();
      if (is_new) {
        --samples_left;
        add(1.0);
      } else {
        out->weights[static_cast<std::size_t>(it->second + 1)] += 1.0;
      }
    }
  }
  double weight_left = 0.0;
  for (std::int64_t i = num_full_subsets; i < num_subset_sizes; ++i) weight_left += weight_vector[static_cast<std::size_t>(i)];
  double drawn = 0.0;
  for (std::int64_t k = nfixed; k < out->count(); ++k) drawn += out->weights[static_cast<std::size_t>(k)];
  for (std::int64_t k = nfixed; k < out->count(); ++k) out->weights[static_cast<std::size_t>(k)] *= weight_left / drawn;
}

// Solves the symmetric system a x = b (n x n, row-major) for `nrhs` right-hand sides b[nrhs][n] in place:
// LU with partial pivoting (numpy's inv); when a pivot vanishes, the Moore-Penrose pseudo-inverse from a
// Jacobi eigendecomposition (numpy's pinv, rcond 1e-15), as shap falls back. Returns false in that case.
bool SolveSymmetric(std::vector<double> a, std::int64_t n, std::int64_t nrhs, double* b) {
  const std::vector<double> original = a;
  std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  double scale = 0.0;
  for (std::int64_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(a[static_cast<std::size_t>(i * n + i)]));
  bool singular = scale == 0.0;
  for (std::int64_t k = 0; k < n && !singular; ++k) {
    std::int64_t p = k;
    for (std::int64_t i = k + 1; i < n; ++i) {
      if (std::fabs(a[static_cast<std::size_t>(i * n + k)]) > std::fabs(a[static_cast<std::size_t>(p * n + k)])) p = i;
    }
    if (std::fabs(a[static_cast<std::size_t>(p * n + k)]) <= 1e-13 * scale) {
      singular = true;
      break;
    }
    if (p != k) {
      for (std::int64_t j = 0; j < n; ++j) std::swap(a[static_cast<std::size_t>(k * n + j)], a[static_cast<std::size_t>(p * n + j)]);
      std::swap(perm[static_cast<std::size_t>(k)], perm[static_cast<std::size_t>(p)]);
    }
    const double pivot = a[static_cast<std::size_t>(k * n + k)];
    for (std::int64_t i = k + 1; i < n; ++i) {
      const double factor = a[static_cast<std::size_t>(i * n + k)] / pivot;
      a[static_cast<std::size_t>(i * n + k)] = factor;
      for (std::int64_t j = k + 1; j < n; ++j) a[static_cast<std::size_t>(i * n + j)] -= factor * a[static_cast<std::size_t>(k * n + j)];
    }
  }
  std::vector<double> y(static_cast<std::size_t>(n));
  if (!singular) {
    for (std::int64_t r = 0; r < nrhs; ++r) {
      double* x = b + r * n;
      for (std::int64_t i = 0; i < n; ++i) {
        double s = x[perm[static_cast<std::size_t>(i)]];
        for (std::int64_t j = 0; j < i; ++j) s -= a[static_cast<std::size_t>(i * n + j)] * y[static_cast<std::size_t>(j)];
        y[static_cast<std::size_t>(i)] = s;
      }
      for (std::int64_t i = n - 1; i >= 0; --i) {
        double s = y[static_cast<std::size_t>(i)];
        for (std::int64_t j = i + 1; j < n; ++j) s -= a[static_cast<std::size_t>(i * n + j)] * x[j];
        x[i] = s / a[static_cast<std::size_t>(i * n + i)];
      }
    }
    return true;
  }
  // Cyclic Jacobi: original = V diag(d) V^T.
  a = original;
  std::vector<double> v(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i * n + i)] = 1.0;
  auto at = [n](std::vector<double>& m, std::int64_t i, std::int64_t j) -> double& { return m[static_cast<std::size_t>(i * n + j)]; };
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0, diag = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      diag += at(a, i, i) * at(a, i, i);
      for (std::int64_t j = i + 1; j < n; ++j) off += at(a, i, j) * at(a, i, j);
    }
    if (off <= 1e-32 * diag || off == 0.0) break;
    for (std::int64_t p = 0; p < n; ++p) {
      for (std::int64_t q = p + 1; q < n; ++q) {
        const double apq = at(a, p, q);
        if (apq == 0.0) continue;
        const double theta = (at(a, q, q) - at(a, p, p)) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (std::int64_t k = 0; k < n; ++k) {  // columns p, q
          const double akp = at(a, k, p), akq = at(a, k, q);
          at(a, k, p) = c * akp - s * akq;
          at(a, k, q) = s * akp + c * akq;
        }
        for (std::int64_t k = 0; k < n; ++k) {  // rows p, q
          const double apk = at(a, p, k), aqk = at(a, q, k);
          at(a, p, k) = c * apk - s * aqk;
          at(a, q, k) = s * apk + c * aqk;
        }
        for (std::int64_t k = 0; k < n; ++k) {
          const double vkp = at(v, k, p), vkq = at(v, k, q);
          at(v, k, p) = c * vkp - s * vkq;
          at(v, k, q) = s * vkp + c * vkq;
        }
      }
    }
  }
  double largest = 0.0;
  for (std::int64_t i = 0; i < n; ++i) largest = std::max(largest, std::fabs(at(a, i, i)));
  for (std::int64_t r = 0; r < nrhs; ++r) {
    double* x = b + r * n;
    std::fill(y.begin(), y.end(), 0.0);
    for (std::int64_t e = 0; e < n; ++e) {
      const double lambda = at(a, e, e);
      if (std::fabs(lambda) <= 1e-15 * largest || lambda == 0.0) continue;
      double proj = 0.0;
      for (std::int64_t k = 0; k < n; ++k) proj += at(v, k, e) * x[k];
      for (std::int64_t k = 0; k < n; ++k) y[static_cast<std::size_t>(k)] += at(v, k, e) * proj / lambda;
    }
    std::copy(y.begin(), y.end(), x);
  }
  return false;
}

// phi[O][M] of one row from its samples and their values v[K][O] (shap's KernelExplainer.solve without
// l1 selection). Returns false when the pseudo-inverse was needed.
bool SolveRow(const RowSamples& samples, const double* v, const double* fx, const double* fnull, std::int64_t m,
              std::int64_t o, double* phi) {
  std::fill(phi, phi + o * m, 0.0);
  const auto mv = static_cast<std::int64_t>(samples.varying.size());
  if (mv == 0) return true;
  if (mv == 1) {
    for (std::int64_t d = 0; d < o; ++d) phi[d * m + samples.varying[0]] = fx[d] - fnull[d];
    return true;
  }
  const std::int64_t n = mv - 1, k_count = samples.count();
  // X[k][j] = z[k][j] - z[k][last]; A = X^T W X; B[d] = X^T W (v[k][d] - fnull[d] - z[k][last] (fx[d] - fnull[d])).
  std::vector<double> a(static_cast<std::size_t>(n * n), 0.0), rhs(static_cast<std::size_t>(o * n), 0.0);
  std::vector<double> xk(static_cast<std::size_t>(n));
  for (std::int64_t k = 0; k < k_count; ++k) {
    const unsigned char* z = samples.masks.data() + k * mv;
    const double w = samples.weights[static_cast<std::size_t>(k)];
    for (std::int64_t j = 0; j < n; ++j) xk[static_cast<std::size_t>(j)] = static_cast<double>(z[j]) - static_cast<double>(z[n]);
    for (std::int64_t i = 0; i < n; ++i) {
      const double wi = w * xk[static_cast<std::size_t>(i)];
      if (wi == 0.0) continue;
      for (std::int64_t j = 0; j < n; ++j) a[static_cast<std::size_t>(i * n + j)] += wi * xk[static_cast<std::size_t>(j)];
      for (std::int64_t d = 0; d < o; ++d) {
        const double y = v[k * o + d] - fnull[d] - static_cast<double>(z[n]) * (fx[d] - fnull[d]);
        rhs[static_cast<std::size_t>(d * n + i)] += wi * y;
      }
    }
  }
  const bool regular = SolveSymmetric(std::move(a), n, o, rhs.data());
  for (std::int64_t d = 0; d < o; ++d) {
    double sum = 0.0;
    for (std::int64_t j = 0; j < n; ++j) {
      phi[d * m + samples.varying[static_cast<std::size_t>(j)]] = rhs[static_cast<std::size_t>(d * n + j)];
      sum += rhs[static_cast<std::size_t>(d * n + j)];
    }
    phi[d * m + samples.varying[static_cast<std::size_t>(n)]] = (fx[d] - fnull[d]) - sum;
  }
  return regular;
}

// Players of `row` whose values differ from at least one background row (NaN equals NaN), as shap's
// varying_groups.
std::vector<std::int64_t> VaryingPlayers(const Matrix& x, const Players& players, const std::vector<std::int64_t>& background,
                                         std::int64_t row) {
  const double* xr = x.Row(row);
  std::vector<std::int64_t> varying;
  for (std::int64_t p = 0; p < players.size(); ++p) {
    bool differs = false;
    for (const std::int64_t b : background) {
      const double* br = x.Row(b);
      for (const std::int64_t c : players.columns[static_cast<std::size_t>(p)]) {
        if (!(xr[c] == br[c] || (std::isnan(xr[c]) && std::isnan(br[c])))) differs = true;
      }
      if (differs) break;
    }
    if (differs) varying.push_back(p);
  }
  return varying;
}

}  // namespace

KernelExplainer::KernelExplainer(const Host& host) {
  const Setup setup = Configure(host, "shap.kernel");
  RequestedSamples(host);
  ResolveBackground(host, setup.data.n_rows);  // refuses a bad background before the step runs
}

void KernelExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const Setup setup = Configure(host, "shap.kernel");
  const std::int64_t requested = RequestedSamples(host);
  const Matrix x = host.Features();
  const std::vector<std::int64_t> rows = host.StepRows();
  const std::vector<std::int64_t> background = ResolveBackground(host, setup.data.n_rows);
  const auto r = static_cast<std::int64_t>(rows.size());
  const auto o = static_cast<std::int64_t>(setup.output.names.size());
  const std::int64_t m = setup.players.size();
  const CoalitionGame game(host, x, setup.players, background, setup.output.space, o);

  // v({}) = mean model output over the background, the base value of every row.
  std::vector<double> fnull(static_cast<std::size_t>(o));
  const std::int64_t any_row = background[0];
  game.Evaluate(0, 1, [any_row](std::int64_t, unsigned char*) { return any_row; }, fnull.data());
  const std::vector<double> fx = PredictRows(host, x, rows, setup.output.space, o);

  loupe::sdk::FeatureAttribution attribution;
  attribution.feature_names = setup.players.names;
  attribution.output_names = setup.output.names;
  attribution.rows = rows;
  attribution.base_values.resize(static_cast<std::size_t>(r * o));
  attribution.values.resize(static_cast<std::size_t>(r * o * m));
  for (std::int64_t row = 0; row < r; ++row) std::copy(fnull.begin(), fnull.end(), attribution.base_values.begin() + row * o);

  // Rows per block so that one block's masks and values stay near kMaxCoalitionValues doubles.
  const std::int64_t most_samples = std::max<std::int64_t>(1, Budget(requested, m));
  const std::int64_t block_rows = std::max<std::int64_t>(1, kMaxCoalitionValues / (most_samples * (o + 1 + m / 8)));
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::int64_t> pseudo_inverse_rows{0};
  std::int64_t coalitions = 0;
  for (std::int64_t first = 0; first < r; first += block_rows) {
    host.ThrowIfCancelled();
    const std::int64_t n = std::min(block_rows, r - first);
    std::vector<RowSamples> samples(static_cast<std::size_t>(n));
    host.ParallelFor(0, n, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        const std::int64_t data_row = rows[static_cast<std::size_t>(first + i)];
        RowSamples& s = samples[static_cast<std::size_t>(i)];
        s.varying = VaryingPlayers(x, setup.players, background, data_row);
        const auto mv = static_cast<std::int64_t>(s.varying.size());
        if (mv < 2) continue;
        loupe::sdk::Rng rng = host.Rng(static_cast<std::uint64_t>(data_row), kKernelStream);
        BuildSamples(mv, Budget(requested, mv), rng, &s);
      }
    });
    std::vector<std::int64_t> offsets(static_cast<std::size_t>(n + 1), 0);
    for (std::int64_t i = 0; i < n; ++i) offsets[static_cast<std::size_t>(i + 1)] = offsets[static_cast<std::size_t>(i)] + samples[static_cast<std::size_t>(i)].count();
    const std::int64_t units = offsets.back();
    coalitions += units;
    std::unique_ptr<std::atomic<std::int64_t>[]> remaining(new std::atomic<std::int64_t>[static_cast<std::size_t>(n)]);
    for (std::int64_t i = 0; i < n; ++i) {
      remaining[i] = samples[static_cast<std::size_t>(i)].count();
      if (remaining[i] == 0) host.Progress(++done, static_cast<std::uint64_t>(r));
    }

    std::vector<double> values(static_cast<std::size_t>(units * o));
    auto row_of = [&offsets](std::int64_t unit) {
      return static_cast<std::int64_t>(std::upper_bound(offsets.begin(), offsets.end(), unit) - offsets.begin()) - 1;
    };
    auto describe = [&](std::int64_t unit, unsigned char* mask) {
      const std::int64_t i = row_of(unit);
      const RowSamples& s = samples[static_cast<std::size_t>(i)];
      const auto mv = static_cast<std::int64_t>(s.varying.size());
      const unsigned char* z = s.masks.data() + (unit - offsets[static_cast<std::size_t>(i)]) * mv;
      for (std::int64_t j = 0; j < mv; ++j) mask[s.varying[static_cast<std::size_t>(j)]] = z[j];
      return rows[static_cast<std::size_t>(first + i)];
    };
    host.ParallelFor(0, units, game.grain(), [&](std::int64_t begin, std::int64_t end) {
      host.ThrowIfCancelled();
      game.Evaluate(begin, end, describe, values.data());
      for (std::int64_t unit = begin; unit < end;) {
        const std::int64_t i = row_of(unit);
        const std::int64_t row_end = std::min(end, offsets[static_cast<std::size_t>(i + 1)]);
        if (remaining[i].fetch_sub(row_end - unit) == row_end - unit) host.Progress(++done, static_cast<std::uint64_t>(r));
        unit = row_end;
      }
    });

    host.ParallelFor(0, n, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        const std::int64_t row = first + i;
        const bool regular = SolveRow(samples[static_cast<std::size_t>(i)], values.data() + offsets[static_cast<std::size_t>(i)] * o,
                                      fx.data() + row * o, fnull.data(), m, o, attribution.values.data() + row * o * m);
        if (!regular) ++pseudo_inverse_rows;
      }
    });
  }

  if (pseudo_inverse_rows > 0) {
    host.LogWarning("shap.kernel: the weighted least squares was singular for " + std::to_string(pseudo_inverse_rows.load()) +
                    " row(s) and used the pseudo-inverse, as shap does; raise 'nsamples' or join features with 'groups'");
  }
  WriteAttribution(result, setup, x, fx, game.background_rows(), &attribution);
  result.SetNumber("quality.model_evaluations", static_cast<double>((coalitions + 1) * game.background_rows() + r));
  result.SetNumber("quality.coalitions", static_cast<double>(coalitions));
  result.SetNumber("quality.pseudo_inverse_rows", static_cast<double>(pseudo_inverse_rows.load()));
}

loupe::sdk::ExplainerDef KernelExplainer::Definition() {
  using loupe::sdk::Param;
  return loupe::sdk::ExplainerDef::Of<KernelExplainer>("shap.kernel")
      .Summary("Kernel SHAP as shap's KernelExplainer: Shapley values from a weighted least squares over "
               "enumerated and sampled feature coalitions, averaged over background rows.")
      .Kind(loupe::sdk::kFeatureAttribution)
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters({
          Param::Rows("background")
              .Default(100)
              .Doc("Rows whose values fill the features outside a coalition: \"a:b\", a list of rows, or a count "
                   "sampled with the step seed (all rows when the data has fewer)."),
          Param::Enum("output", {"probability", "raw"})
              .Doc("Model outputs to explain: class probabilities or raw margins; unset, the model's default "
                   "(probabilities for classifiers, values for regressors)."),
          Param::Int("nsamples").Doc(
              "Coalitions evaluated per explained row (1 to 4194304); unset, 2M + 2048 as shap's \"auto\", M the "
              "players that differ from the background; at most 2^M - 2, which evaluates every coalition."),
          Param::Enum("l1_reg", {"off"})
              .Default("off")
              .Doc("Feature selection before the regression; only \"off\" (every varying player is estimated). "
                   "shap's \"auto\", \"aic\", \"bic\" and \"num_features(k)\" are not offered."),
          Param::Json("groups").Doc(
              "Optional mapping of group name to feature names; each group becomes one player and every feature "
              "must be in exactly one group."),
      });
}

}  // namespace loupe::shap
