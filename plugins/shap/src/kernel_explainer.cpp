#include "kernel_explainer.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "background.hpp"
#include "coalition_game.hpp"
#include "kernel_sampling.hpp"
#include "kernel_solver.hpp"
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
    throw loupe::sdk::InvalidArgument("parameter 'nsamples' must be between 1 and " +
                                      std::to_string(kMaxKernelSamples) + " coalitions per row, found " +
                                      std::to_string(nsamples));
  }
  return nsamples;
}

// Players of `row` whose values differ from at least one background row (NaN equals NaN), as shap's
// varying_groups.
std::vector<std::int64_t> VaryingPlayers(const Matrix& x, const Players& players,
                                         const Background& background, std::int64_t row) {
  const double* xr = x.Row(row);
  std::vector<std::int64_t> varying;
  for (std::int64_t p = 0; p < players.size(); ++p) {
    bool differs = false;
    for (std::int64_t b = 0; b < background.size(); ++b) {
      const double* br = background.Row(b);
      for (const std::int64_t c : players.columns[static_cast<std::size_t>(p)]) {
        if (!(xr[c] == br[c] || (std::isnan(xr[c]) && std::isnan(br[c])))) differs = true;
      }
      if (differs) break;
    }
    if (differs) varying.push_back(p);
  }
  return varying;
}

struct KernelConfig {
  std::int64_t requested = 0;  // nsamples, 0 = auto
  L1Reg l1;
  double tolerance = 0.0;  // 0: no early stop
};

KernelConfig ReadConfig(const Host& host) {
  KernelConfig config;
  config.requested = RequestedSamples(host);
  config.l1 = ParseL1Reg(host.Params().GetOr<nlohmann::json>("l1_reg", "auto"));
  if (host.Params().Has("tolerance")) {
    config.tolerance = host.Params().Get<double>("tolerance");
    if (!(config.tolerance > 0.0) || !std::isfinite(config.tolerance)) {
      throw loupe::sdk::InvalidArgument("parameter 'tolerance' must be a positive standard error, found " +
                                        loupe::sdk::FormatNumber(config.tolerance));
    }
  }
  return config;
}

// Draws evaluated in the first round: all of them without a tolerance; otherwise an eighth, at least
// enough for every jackknife group to hold two draws.
std::int64_t FirstRoundEvents(const RowPlan& plan, const KernelConfig& config) {
  if (config.tolerance == 0.0) return plan.events();
  return std::min(plan.events(), std::max<std::int64_t>(2 * kJackknifeGroups, (plan.events() + 7) / 8));
}

// The explained rows of one block, their plans and the rounds of evaluation that tolerance may stop early.
class KernelBlock {
 public:
  KernelBlock(const Host& host, const CoalitionGame& game, const KernelConfig& config,
              const std::int64_t* rows, std::int64_t n)
      : host_(host),
        game_(game),
        config_(config),
        rows_(rows),
        n_(n),
        plans_(static_cast<std::size_t>(n)),
        events_(static_cast<std::size_t>(n), 0),
        evaluated_(static_cast<std::size_t>(n), 0),
        finished_(static_cast<std::size_t>(n), 0),
        offsets_(static_cast<std::size_t>(n + 1), 0) {}

  // Draws the coalitions of every row (in parallel; each row from its own counter-based stream).
  void Plan(const Matrix& x, const Players& players, const Background& background) {
    host_.ParallelFor(0, n_, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        RowPlan& plan = plans_[static_cast<std::size_t>(i)];
        plan.varying = VaryingPlayers(x, players, background, rows_[i]);
        if (plan.width() < 2) continue;
        loupe::sdk::Rng rng = host_.Rng(static_cast<std::uint64_t>(rows_[i]), kKernelStream);
        BuildPlan(plan.width(), KernelBudget(config_.requested, plan.width()), rng, &plan);
        events_[static_cast<std::size_t>(i)] = FirstRoundEvents(plan, config_);
      }
    });
    for (std::int64_t i = 0; i < n_; ++i)
      offsets_[static_cast<std::size_t>(i + 1)] =
          offsets_[static_cast<std::size_t>(i)] + plans_[static_cast<std::size_t>(i)].count();
    values_.resize(static_cast<std::size_t>(offsets_.back() * game_.outputs()));
  }

  std::int64_t size() const { return n_; }
  const RowPlan& plan(std::int64_t i) const { return plans_[static_cast<std::size_t>(i)]; }
  bool finished(std::int64_t i) const { return finished_[static_cast<std::size_t>(i)] != 0; }
  std::int64_t evaluated() const {
    return std::accumulate(evaluated_.begin(), evaluated_.end(), std::int64_t{0});
  }

  // Evaluates the coalitions the unfinished rows' current draws need and have not been valued yet.
  void EvaluateRound() {
    std::vector<std::int64_t> unit_row, unit_coalition;
    for (std::int64_t i = 0; i < n_; ++i) {
      if (finished(i)) continue;
      const std::int64_t need = plan(i).CoalitionsFor(events_[static_cast<std::size_t>(i)]);
      for (std::int64_t k = evaluated_[static_cast<std::size_t>(i)]; k < need; ++k)
        unit_row.push_back(i), unit_coalition.push_back(k);
      evaluated_[static_cast<std::size_t>(i)] = need;
    }
    const std::int64_t o = game_.outputs(), units = static_cast<std::int64_t>(unit_row.size());
    std::vector<double> round(static_cast<std::size_t>(units * o));
    auto describe = [&](std::int64_t unit, unsigned char* mask) {
      const RowPlan& p = plan(unit_row[static_cast<std::size_t>(unit)]);
      const unsigned char* z = p.Mask(unit_coalition[static_cast<std::size_t>(unit)]);
      for (std::int64_t j = 0; j < p.width(); ++j) mask[p.varying[static_cast<std::size_t>(j)]] = z[j];
      return rows_[unit_row[static_cast<std::size_t>(unit)]];
    };
    host_.ParallelFor(0, units, game_.grain(), [&](std::int64_t begin, std::int64_t end) {
      host_.ThrowIfCancelled();
      game_.Evaluate(begin, end, describe, round.data());
    });
    for (std::int64_t u = 0; u < units; ++u) {
      const std::int64_t at = offsets_[static_cast<std::size_t>(unit_row[static_cast<std::size_t>(u)])] +
                              unit_coalition[static_cast<std::size_t>(u)];
      std::copy(round.begin() + u * o, round.begin() + (u + 1) * o, values_.begin() + at * o);
    }
  }

  // Row i's estimate from its current draws; marks it finished when every draw is in, no tolerance is
  // set or the largest standard error is within it, and otherwise doubles its draws for the next round.
  RowEstimate Estimate(std::int64_t i, const double* fx, const double* fnull) {
    const RowPlan& p = plan(i);
    std::int64_t& events = events_[static_cast<std::size_t>(i)];
    RowEstimate estimate =
        EstimateRow(p, events, values_.data() + offsets_[static_cast<std::size_t>(i)] * game_.outputs(),
                    game_.outputs(), fx, fnull, config_.l1);
    double largest = 0.0;
    for (const double se : estimate.error_std)
      largest = std::isnan(se) ? std::numeric_limits<double>::infinity() : std::max(largest, se);
    if (events == p.events() || config_.tolerance == 0.0 || largest <= config_.tolerance) {
      finished_[static_cast<std::size_t>(i)] = 1;
    } else {
      events = std::min(p.events(), 2 * events);
    }
    return estimate;
  }

  void Finish(std::int64_t i) { finished_[static_cast<std::size_t>(i)] = 1; }

 private:
  const Host& host_;
  const CoalitionGame& game_;
  const KernelConfig& config_;
  const std::int64_t* rows_;
  const std::int64_t n_;
  std::vector<RowPlan> plans_;
  std::vector<std::int64_t> events_, evaluated_;
  std::vector<char> finished_;
  std::vector<std::int64_t> offsets_;  // per row: first coalition's position in values_
  std::vector<double> values_;         // [coalition][O]
};

// What the blocks of one step accumulate: values and standard errors [R][O][M], progress and counts.
struct KernelResults {
  KernelResults(std::int64_t r, std::int64_t o, std::int64_t m)
      : o(o), m(m), values(static_cast<std::size_t>(r * o * m), 0.0), error_std(values.size(), 0.0) {}
  const std::int64_t o, m;
  std::vector<double> values, error_std;
  std::atomic<std::int64_t> pseudo_inverse_rows{0};
  std::uint64_t done = 0;  // explained rows finished, for progress
  std::int64_t coalitions = 0;

  // Stores row `row`'s estimate over its plan's varying players.
  void Store(std::int64_t row, const RowPlan& plan, const RowEstimate& estimate) {
    for (std::int64_t d = 0; d < o; ++d) {
      for (std::int64_t j = 0; j < plan.width(); ++j) {
        const auto at =
            static_cast<std::size_t>((row * o + d) * m + plan.varying[static_cast<std::size_t>(j)]);
        values[at] = estimate.phi[static_cast<std::size_t>(d * plan.width() + j)];
        error_std[at] = estimate.error_std[static_cast<std::size_t>(d * plan.width() + j)];
      }
    }
    if (!estimate.regular) ++pseudo_inverse_rows;
  }
};

// Explains a planned block whose first row is step row `first`: rows without two varying players
// directly, the others in rounds of evaluation and estimation until each is finished.
void ExplainBlock(const Host& host, const std::vector<double>& fx, const std::vector<double>& fnull,
                  std::int64_t first, KernelBlock* block, KernelResults* results) {
  const std::int64_t o = results->o, n = block->size();
  const auto total = static_cast<std::uint64_t>(fx.size() / static_cast<std::size_t>(o));
  for (std::int64_t i = 0; i < n; ++i) {  // fewer than two varying players: no regression
    const RowPlan& plan = block->plan(i);
    if (plan.width() >= 2) continue;
    for (std::int64_t d = 0; d < o && plan.width() == 1; ++d) {
      results->values[static_cast<std::size_t>(((first + i) * o + d) * results->m + plan.varying[0])] =
          fx[static_cast<std::size_t>((first + i) * o + d)] - fnull[static_cast<std::size_t>(d)];
    }
    block->Finish(i);
    host.Progress(++results->done, total);
  }
  for (bool open = true; open;) {
    block->EvaluateRound();
    std::vector<char> was_finished(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) was_finished[static_cast<std::size_t>(i)] = block->finished(i);
    host.ParallelFor(0, n, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        if (was_finished[static_cast<std::size_t>(i)]) continue;
        const std::int64_t row = first + i;
        results->Store(row, block->plan(i), block->Estimate(i, fx.data() + row * o, fnull.data()));
      }
    });
    open = false;
    for (std::int64_t i = 0; i < n; ++i) {
      if (was_finished[static_cast<std::size_t>(i)]) continue;
      if (block->finished(i)) {
        host.Progress(++results->done, total);
      } else {
        open = true;
      }
    }
  }
  results->coalitions += block->evaluated();
}

}  // namespace

KernelExplainer::KernelExplainer(const Host& host) {
  const Setup setup = Configure(host, "shap.kernel");
  ReadConfig(host);
  CheckBackground(host, setup.data.n_rows);  // refuses a bad background before the step runs
}

void KernelExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const Setup setup = Configure(host, "shap.kernel");
  const KernelConfig config = ReadConfig(host);
  const Matrix x = host.Features();
  const std::vector<std::int64_t> rows = host.StepRows();
  const Background background = ResolveBackground(host, x);
  const auto r = static_cast<std::int64_t>(rows.size());
  const auto o = static_cast<std::int64_t>(setup.output.names.size());
  const std::int64_t m = setup.players.size();
  const CoalitionGame game(host, x, setup.players, background, setup.output.space, o, setup.max_batch_rows);

  // v({}) = weighted mean model output over the background, the base value of every row.
  std::vector<double> fnull(static_cast<std::size_t>(o));
  const std::int64_t any_row = rows.empty() ? 0 : rows[0];
  game.Evaluate(
      0, 1, [any_row](std::int64_t, unsigned char*) { return any_row; }, fnull.data());
  const std::vector<double> fx = PredictRows(host, x, rows, setup.output.space, o, setup.max_batch_rows);

  loupe::sdk::FeatureAttribution attribution;
  attribution.feature_names = setup.players.names;
  attribution.output_names = setup.output.names;
  attribution.rows = rows;
  attribution.base_values.resize(static_cast<std::size_t>(r * o));
  for (std::int64_t row = 0; row < r; ++row)
    std::copy(fnull.begin(), fnull.end(), attribution.base_values.begin() + row * o);

  // Rows per block so that one block's masks and values stay near kMaxCoalitionValues doubles.
  const std::int64_t most_samples = std::max<std::int64_t>(1, KernelBudget(config.requested, m));
  const std::int64_t block_rows =
      std::max<std::int64_t>(1, kMaxCoalitionValues / (most_samples * (o + 1 + m / 8)));
  KernelResults results{r, o, m};
  for (std::int64_t first = 0; first < r; first += block_rows) {
    host.ThrowIfCancelled();
    KernelBlock block(host, game, config, rows.data() + first, std::min(block_rows, r - first));
    block.Plan(x, setup.players, background);
    ExplainBlock(host, fx, fnull, first, &block, &results);
  }
  attribution.values = std::move(results.values);
  const std::int64_t pseudo_inverse_rows = results.pseudo_inverse_rows.load();

  if (pseudo_inverse_rows > 0) {
    host.LogWarning(
        "shap.kernel: the weighted least squares was singular for " + std::to_string(pseudo_inverse_rows) +
        " row(s) and used the pseudo-inverse, as shap does; raise 'nsamples' or join features with 'groups'");
  }
  WriteAttribution(result, setup, x, fx, game.background_rows(), &attribution);
  WriteErrors(result, results.error_std, r, o, m);
  result.SetNumber("quality.model_evaluations",
                   static_cast<double>((results.coalitions + 1) * game.background_rows() + r));
  result.SetNumber("quality.coalitions", static_cast<double>(results.coalitions));
  result.SetNumber("quality.pseudo_inverse_rows", static_cast<double>(pseudo_inverse_rows));
}

loupe::sdk::ExplainerDef KernelExplainer::Definition() {
  using loupe::sdk::Param;
  return loupe::sdk::ExplainerDef::Of<KernelExplainer>("shap.kernel")
      .Summary(
          "Kernel SHAP as shap's KernelExplainer: Shapley values from a weighted least squares over "
          "enumerated and sampled feature coalitions, averaged over background rows.")
      .Kind(loupe::sdk::kFeatureAttribution)
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters(CoalitionGameParams({
          Param::Int("nsamples")
              .Doc("Coalitions evaluated per explained row (1 to 4194304); unset, 2M + 2048 as shap's "
                   "\"auto\", M the "
                   "players that differ from the background; at most 2^M - 2, which evaluates every "
                   "coalition."),
          Param::Json("l1_reg").Default("auto").Doc(
              "Feature selection before the regression, as shap: \"auto\" (AIC when fewer than 20% of the "
              "2^M - 2 "
              "coalitions are evaluated, else none), \"aic\" or \"bic\" (LassoLarsIC), \"num_features(k)\" "
              "(the "
              "first k features of the LARS path), or \"off\" / false. Unselected players get 0."),
          Param::Float("tolerance")
              .Doc("Optional: stop drawing coalitions for a row once the largest jackknife standard error of "
                   "its "
                   "values is at most this (rounds of 1/8, 1/4, ... of nsamples); unset, all nsamples are "
                   "drawn."),
      }));
}

}  // namespace loupe::shap
