#include "permutation_explainer.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "background.hpp"
#include "coalition_game.hpp"
#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/error.hpp"
#include "loupe/sdk/random.hpp"
#include "players.hpp"

namespace loupe::shap {
namespace {

using loupe::sdk::Host;
using loupe::sdk::Matrix;

// RNG stream of the permutation draws; the counter-based key is (step seed, explained data row, this stream).
constexpr std::uint64_t kPermutationStream = 0x5348415050524D00ULL;  // "SHAPPRM"

// Antithetic pairs per row for M players within max_evals coalition evaluations.
std::int64_t Pairs(const Host& host, std::int64_t m) {
  const auto max_evals = host.Params().GetOr<std::int64_t>("max_evals", kDefaultMaxEvals);
  const std::int64_t least = m < 2 ? 2 : 2 * m;  // v({}), v(all) and one forward and one reversed walk
  if (max_evals < least || max_evals > kMaxPermutationEvals) {
    throw loupe::sdk::InvalidArgument("parameter 'max_evals' must be between " + std::to_string(least) +
                                      " and " + std::to_string(kMaxPermutationEvals) +
                                      " evaluations per row for " + std::to_string(m) + " players, found " +
                                      std::to_string(max_evals));
  }
  return m < 2 ? 1 : (max_evals - 2) / (2 * (m - 1));
}

// The walks of one block of n rows: `pairs` antithetic pairs of player orders per row, drawn per data row
// so they do not depend on blocks or threads. Units of one row: 0 = {}, 1 = all players, then walk w
// (pair w / 2, reversed when odd), step k = 1..M-1.
struct Walks {
  std::int64_t m = 0, pairs = 0, steps = 0, units = 0;
  std::vector<std::int32_t> orders;  // [n][pairs][M]

  // The player joining at position k (0-based) of walk w of row i.
  std::int32_t Joining(std::int64_t i, std::int64_t w, std::int64_t k) const {
    const std::int32_t* order = orders.data() + (i * pairs + w / 2) * m;
    return order[(w % 2 == 0) ? k : m - 1 - k];
  }
};

Walks DrawWalks(const Host& host, const std::vector<std::int64_t>& rows, std::int64_t first, std::int64_t n,
                std::int64_t m, std::int64_t pairs) {
  Walks walks;
  walks.m = m;
  walks.pairs = pairs;
  walks.steps = std::max<std::int64_t>(0, m - 1);  // intermediate coalitions per walk
  walks.units = 2 + 2 * pairs * walks.steps;
  walks.orders.resize(static_cast<std::size_t>(n * pairs * m));
  host.ParallelFor(0, n, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      loupe::sdk::Rng rng =
          host.Rng(static_cast<std::uint64_t>(rows[static_cast<std::size_t>(first + i)]), kPermutationStream);
      for (std::int64_t p = 0; p < pairs; ++p) {
        std::int32_t* order = walks.orders.data() + (i * pairs + p) * m;
        std::iota(order, order + m, 0);
        for (std::int64_t k = m - 1; k > 0; --k) {
          std::swap(order[k], order[static_cast<std::int64_t>(rng.Below(static_cast<std::uint64_t>(k + 1)))]);
        }
      }
    }
  });
  return walks;
}

// Row i of the block (`row` in the step): each player's mean marginal contribution over the walks and
// its standard error, from the coalition values rv[units][o]. With one pair the two walks are the
// samples; with more, the pair means are (independent) samples.
void EstimateRow(const Walks& walks, const double* rv, std::int64_t i, std::int64_t row, std::int64_t o,
                 loupe::sdk::FeatureAttribution* attribution, std::vector<double>* error_std) {
  const std::int64_t m = walks.m, pairs = walks.pairs, steps = walks.steps;
  std::vector<double> walk(static_cast<std::size_t>(2 * m));  // contributions of the two walks of a pair
  // Running mean and sum of squared deviations (Welford), free of cancellation when samples agree.
  std::vector<double> mean(static_cast<std::size_t>(m)), squares(static_cast<std::size_t>(m));
  // v of the coalition after k players of walk w joined (k = 0..M).
  auto value = [&](std::int64_t w, std::int64_t k, std::int64_t out) {
    if (k == 0) return rv[out];
    if (k == m) return rv[o + out];
    return rv[(2 + w * steps + k - 1) * o + out];
  };
  for (std::int64_t out = 0; out < o; ++out) {
    std::fill(mean.begin(), mean.end(), 0.0);
    std::fill(squares.begin(), squares.end(), 0.0);
    double seen = 0.0;
    auto add = [&](std::int64_t j, double sample) {  // call for every j before raising `seen`
      const auto at = static_cast<std::size_t>(j);
      const double delta = sample - mean[at];
      mean[at] += delta / (seen + 1.0);
      squares[at] += delta * (sample - mean[at]);
    };
    for (std::int64_t p = 0; p < pairs; ++p) {
      for (std::int64_t d = 0; d < 2; ++d) {
        const std::int64_t w = 2 * p + d;
        for (std::int64_t k = 0; k < m; ++k) {
          walk[static_cast<std::size_t>(d * m + walks.Joining(i, w, k))] =
              value(w, k + 1, out) - value(w, k, out);
        }
      }
      if (pairs == 1) {  // the two walks are the samples
        for (std::int64_t j = 0; j < m; ++j) add(j, walk[static_cast<std::size_t>(j)]);
        seen += 1.0;
        for (std::int64_t j = 0; j < m; ++j) add(j, walk[static_cast<std::size_t>(m + j)]);
      } else {  // the pair means are the (independent) samples
        for (std::int64_t j = 0; j < m; ++j) {
          add(j, 0.5 * (walk[static_cast<std::size_t>(j)] + walk[static_cast<std::size_t>(m + j)]));
        }
      }
      seen += 1.0;
    }
    for (std::int64_t j = 0; j < m; ++j) {
      const auto at = static_cast<std::size_t>((row * o + out) * m + j);
      attribution->values[at] = mean[static_cast<std::size_t>(j)];
      (*error_std)[at] = m < 2 ? 0.0 : std::sqrt(squares[static_cast<std::size_t>(j)] / (seen - 1.0) / seen);
    }
    attribution->base_values[static_cast<std::size_t>(row * o + out)] = rv[out];
  }
}

}  // namespace

PermutationExplainer::PermutationExplainer(const Host& host) {
  const Setup setup = Configure(host, "shap.permutation");
  Pairs(host, setup.players.size());
  CheckBackground(host, setup.data.n_rows);  // refuses a bad background before the step runs
}

void PermutationExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const Setup setup = Configure(host, "shap.permutation");
  const Matrix x = host.Features();
  const std::vector<std::int64_t> rows = host.StepRows();
  const Background background = ResolveBackground(host, x);
  const auto r = static_cast<std::int64_t>(rows.size());
  const auto o = static_cast<std::int64_t>(setup.output.names.size());
  const std::int64_t m = setup.players.size();
  const std::int64_t pairs = Pairs(host, m);
  const std::int64_t steps = std::max<std::int64_t>(0, m - 1);  // intermediate coalitions per walk
  const std::int64_t units = 2 + 2 * pairs * steps;             // coalitions evaluated per row (Walks)
  const CoalitionGame game(host, x, setup.players, background, setup.output.space, o, setup.max_batch_rows);
  const std::int64_t block_rows = std::max<std::int64_t>(1, kMaxCoalitionValues / (units * o));

  loupe::sdk::FeatureAttribution attribution;
  attribution.feature_names = setup.players.names;
  attribution.output_names = setup.output.names;
  attribution.rows = rows;
  attribution.base_values.resize(static_cast<std::size_t>(r * o));
  attribution.values.resize(static_cast<std::size_t>(r * o * m));
  std::vector<double> error_std(static_cast<std::size_t>(r * o * m), 0.0);
  std::atomic<std::uint64_t> done{0};
  for (std::int64_t first = 0; first < r; first += block_rows) {
    host.ThrowIfCancelled();
    const std::int64_t n = std::min(block_rows, r - first);
    const Walks walks = DrawWalks(host, rows, first, n, m, pairs);
    auto describe = [&](std::int64_t unit, unsigned char* mask) {
      const std::int64_t i = unit / units, u = unit % units;
      if (u == 1) {
        std::fill(mask, mask + m, 1);
      } else if (u > 1) {
        const std::int64_t w = (u - 2) / steps, k = (u - 2) % steps + 1;
        for (std::int64_t j = 0; j < k; ++j) mask[walks.Joining(i, w, j)] = 1;
      }
      return rows[static_cast<std::size_t>(first + i)];
    };
    // The coalition values of every unit of the block, v[n][units][o].
    std::vector<double> v(static_cast<std::size_t>(n * units * o));
    std::unique_ptr<std::atomic<std::int64_t>[]> remaining(
        new std::atomic<std::int64_t>[static_cast<std::size_t>(n)]);
    for (std::int64_t i = 0; i < n; ++i) remaining[i] = units;
    // Chunk boundaries depend only on the background size, never on the thread count.
    host.ParallelFor(0, n * units, game.grain(), [&](std::int64_t begin, std::int64_t end) {
      host.ThrowIfCancelled();
      game.Evaluate(begin, end, describe, v.data());
      for (std::int64_t unit = begin; unit < end;) {
        const std::int64_t i = unit / units;
        const std::int64_t row_end = std::min(end, (i + 1) * units);
        if (remaining[i].fetch_sub(row_end - unit) == row_end - unit)
          host.Progress(++done, static_cast<std::uint64_t>(r));
        unit = row_end;
      }
    });
    host.ParallelFor(0, n, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        EstimateRow(walks, v.data() + i * units * o, i, first + i, o, &attribution, &error_std);
      }
    });
  }

  const std::vector<double> fx = PredictRows(host, x, rows, setup.output.space, o, setup.max_batch_rows);
  WriteAttribution(result, setup, x, fx, background.size(), &attribution);
  WriteErrors(result, error_std, r, o, m);
  result.SetNumber("quality.permutations", static_cast<double>(2 * pairs));
  result.SetNumber("quality.model_evaluations", static_cast<double>(r * units * game.background_rows() + r));
}

loupe::sdk::ExplainerDef PermutationExplainer::Definition() {
  using loupe::sdk::Param;
  return loupe::sdk::ExplainerDef::Of<PermutationExplainer>("shap.permutation")
      .Summary(
          "Shapley values as shap's PermutationExplainer: mean marginal contributions over random player "
          "orders, each walked forward and reversed, averaged over background rows.")
      .Kind(loupe::sdk::kFeatureAttribution)
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters(CoalitionGameParams({
          Param::Int("max_evals")
              .Default(kDefaultMaxEvals)
              .Doc("Coalition evaluations per explained row, both walk directions included (at least 2M, at "
                   "most "
                   "4194304); (max_evals - 2) / (2 (M - 1)) forward-and-reversed permutation pairs are "
                   "drawn."),
      }));
}

}  // namespace loupe::shap
