#include "exact_explainer.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "background.hpp"
#include "coalition_game.hpp"
#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/error.hpp"
#include "players.hpp"

namespace loupe::shap {
namespace {

using loupe::sdk::Host;
using loupe::sdk::Matrix;

Setup ConfigureExact(const Host& host) {
  Setup setup = Configure(host, "shap.exact");
  const std::int64_t m = setup.players.size();
  if (m > kMaxExactPlayers) {
    throw loupe::sdk::Unsupported(
        "shap.exact evaluates all 2^M coalitions and this step has M = " + std::to_string(m) +
        (setup.players.grouped ? " groups" : " features") + ", above its limit of " +
        std::to_string(kMaxExactPlayers) +
        "; use shap.permutation or shap.kernel for wider data, or parameter 'groups' to join features");
  }
  return setup;
}

// The exact Shapley game of one step: coalition values over the background, then Shapley sums.
class ExactGame {
 public:
  ExactGame(const Host& host, const Matrix& x, const Players& players, const Background& background,
            LoupeOutputSpace space, std::int64_t n_outputs, std::int64_t max_batch_rows)
      : host_(host),
        game_(host, x, players, background, space, n_outputs, max_batch_rows),
        m_(players.size()),
        o_(n_outputs),
        b_(background.size()),
        coalitions_(std::int64_t{1} << m_),
        weights_(ShapleyWeights(m_)) {}

  std::int64_t coalitions() const { return coalitions_; }
  std::int64_t evaluations_per_row() const { return coalitions_ * b_; }
  // How many explained rows share one block of coalition values.
  std::int64_t block_rows() const {
    return std::max<std::int64_t>(1, kMaxCoalitionValues / (coalitions_ * o_));
  }

  // v(S) for explained rows rows[0..n): [n][2^M][O]. Reports progress (`done` of `total`) per finished row.
  std::vector<double> CoalitionValues(const std::int64_t* rows, std::int64_t n,
                                      std::atomic<std::uint64_t>* done, std::uint64_t total) const {
    std::vector<double> values(static_cast<std::size_t>(n * coalitions_ * o_));
    std::unique_ptr<std::atomic<std::int64_t>[]> remaining(new std::atomic<std::int64_t>[n]);
    for (std::int64_t r = 0; r < n; ++r) remaining[r] = coalitions_;
    // Chunk boundaries depend only on the background size, never on the thread count.
    const std::int64_t coalitions = coalitions_;
    const std::int64_t m = m_;
    auto describe = [rows, coalitions, m](std::int64_t unit, unsigned char* mask) {
      const std::int64_t s = unit % coalitions;
      for (std::int64_t p = 0; p < m; ++p) mask[p] = static_cast<unsigned char>((s >> p) & 1);
      return rows[unit / coalitions];
    };
    host_.ParallelFor(0, n * coalitions_, game_.grain(), [&](std::int64_t begin, std::int64_t end) {
      host_.ThrowIfCancelled();
      game_.Evaluate(begin, end, describe, values.data());
      for (std::int64_t unit = begin; unit < end;) {
        const std::int64_t r = unit / coalitions_;
        const std::int64_t row_end = std::min(end, (r + 1) * coalitions_);
        if (remaining[r].fetch_sub(row_end - unit) == row_end - unit) host_.Progress(++*done, total);
        unit = row_end;
      }
    });
    return values;
  }

  // phi[O][M] of one row from its coalition values v[2^M][O].
  void Shapley(const double* v, double* phi) const {
    std::fill(phi, phi + o_ * m_, 0.0);
    for (std::int64_t s = 0; s < coalitions_; ++s) {
      const double weight = weights_[static_cast<std::size_t>(std::popcount(static_cast<std::uint64_t>(s)))];
      for (std::int64_t i = 0; i < m_; ++i) {
        const std::int64_t with = s | (std::int64_t{1} << i);
        if (with == s) continue;
        for (std::int64_t o = 0; o < o_; ++o) phi[o * m_ + i] += weight * (v[with * o_ + o] - v[s * o_ + o]);
      }
    }
  }

 private:
  // w[s] = s! (M - s - 1)! / M! = 1 / (M * C(M - 1, s)); C(M - 1, s) is exact in double for M <= 20.
  // w[M] (the full coalition, which no player can join) is 0 so Shapley() may index it.
  static std::vector<double> ShapleyWeights(std::int64_t m) {
    std::vector<double> weights(static_cast<std::size_t>(m + 1), 0.0);
    double binomial = 1.0;  // C(m - 1, s)
    for (std::int64_t s = 0; s < m; ++s) {
      weights[static_cast<std::size_t>(s)] = 1.0 / (static_cast<double>(m) * binomial);
      binomial = binomial * static_cast<double>(m - 1 - s) / static_cast<double>(s + 1);
    }
    return weights;
  }

  const Host& host_;
  const CoalitionGame game_;
  const std::int64_t m_, o_, b_, coalitions_;
  const std::vector<double> weights_;
};

}  // namespace

ExactExplainer::ExactExplainer(const Host& host) {
  const Setup setup = ConfigureExact(host);
  CheckBackground(host, setup.data.n_rows);  // refuses a bad background before the step runs
}

void ExactExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const Setup setup = ConfigureExact(host);
  const Matrix x = host.Features();
  const std::vector<std::int64_t> rows = host.StepRows();
  const Background background = ResolveBackground(host, x);
  const auto r = static_cast<std::int64_t>(rows.size());
  const auto o = static_cast<std::int64_t>(setup.output.names.size());
  const std::int64_t m = setup.players.size();
  const ExactGame game(host, x, setup.players, background, setup.output.space, o, setup.max_batch_rows);

  loupe::sdk::FeatureAttribution attribution;
  attribution.feature_names = setup.players.names;
  attribution.output_names = setup.output.names;
  attribution.rows = rows;
  attribution.base_values.resize(static_cast<std::size_t>(r * o));
  attribution.values.resize(static_cast<std::size_t>(r * o * m));
  std::atomic<std::uint64_t> done{0};
  for (std::int64_t first = 0; first < r; first += game.block_rows()) {
    host.ThrowIfCancelled();
    const std::int64_t n = std::min(game.block_rows(), r - first);
    const std::vector<double> v =
        game.CoalitionValues(rows.data() + first, n, &done, static_cast<std::uint64_t>(r));
    host.ParallelFor(first, first + n, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t row = begin; row < end; ++row) {
        const double* row_v = v.data() + (row - first) * game.coalitions() * o;
        game.Shapley(row_v, attribution.values.data() + row * o * m);
        std::copy(row_v, row_v + o, attribution.base_values.data() + row * o);  // v(empty set)
      }
    });
  }

  const std::vector<double> fx = PredictRows(host, x, rows, setup.output.space, o, setup.max_batch_rows);
  WriteAttribution(result, setup, x, fx, background.size(), &attribution);
  result.SetNumber("quality.model_evaluations", static_cast<double>(r * game.evaluations_per_row() + r));
}

loupe::sdk::ExplainerDef ExactExplainer::Definition() {
  return loupe::sdk::ExplainerDef::Of<ExactExplainer>("shap.exact")
      .Summary(
          "Exact interventional Shapley values over all 2^M feature coalitions, averaged over background "
          "rows.")
      .Kind(loupe::sdk::kFeatureAttribution)
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters(CoalitionGameParams({}));
}

}  // namespace loupe::shap
