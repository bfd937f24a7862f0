// Pieces shared by the shap explainers that play the interventional Shapley game over background rows
// (shap.exact, shap.kernel): the step's configuration, coalition evaluation in large Predict batches, f(x)
// of the explained rows and the feature_attribution output with its quality fields.
//
// A coalition S of the M players is valued, for an explained row x, as
//   v(S) = mean over background rows b (weighted, for k-means centres) of f(x on the features of S, b
//   elsewhere).
// Each value is reduced inside one batch in a fixed order, so results are bit-identical for any thread count.
// A model with the "row_variants" capability (a linear first layer: native models in f64, and f32 networks
// of dense layers) is given the coalitions as variants of the background rows rather than materialised
// rows: equal to the materialised path up to rounding (f64: the order of the first layer's sums, ~1e-15
// relative; f32: f32 rounding, a few 1e-6 relative), the same bits on any thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "background.hpp"
#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"
#include "players.hpp"
#include "plugin_common/scratch_vector.hpp"

namespace loupe::shap {

// Default rows per model call (parameter `max_batch_rows`): large enough that model evaluation dominates,
// small enough to stay in buffers of a few MB.
inline constexpr std::int64_t kBatchRows = 8192;
// Largest accepted `max_batch_rows`.
inline constexpr std::int64_t kMaxBatchRows = std::int64_t{1} << 24;
// Coalition values kept in memory at once (per block of explained rows): 4M doubles = 32 MB.
inline constexpr std::int64_t kMaxCoalitionValues = std::int64_t{1} << 22;

// Per-thread scratch for the model loops' buffers (allocated once per thread, not once per batch).
using plugin_common::ScratchVector;

struct Setup {
  loupe::sdk::DatasetInfo data;
  Players players;
  loupe::sdk::OutputSelection output;
  std::int64_t max_batch_rows = kBatchRows;  // rows materialised per Predict call
};

// Players (`groups`), output space (`output`) and batch bound (`max_batch_rows`) of the step; throws
// loupe::sdk::Error when there is no player or a parameter is bad. `explainer` names the explainer in
// messages.
Setup Configure(const loupe::sdk::Host& host, const std::string& explainer);

// The shared `background` and `max_batch_rows` parameter specs of the coalition-game explainers.
loupe::sdk::Param BackgroundParam(const std::string& use);
loupe::sdk::Param MaxBatchRowsParam();

// The parameters of an explainer that samples or enumerates coalitions over background rows (exact,
// kernel, permutation), in the order they all share: background, max_batch_rows, output, then the
// explainer's own, then groups.
std::vector<loupe::sdk::Param> CoalitionGameParams(std::vector<loupe::sdk::Param> own);

// Values coalitions of the players over the (weighted) background rows.
//
// A unit (one coalition of one explained row) needs B perturbed rows. Units are packed into Predict calls
// of at most `max_batch_rows` rows; when B alone exceeds it, one unit's rows are split over several calls.
// Each unit's weighted sum runs over the background in order in a single accumulator, so the values are
// bit-identical for every `max_batch_rows` and thread count.
class CoalitionGame {
 public:
  CoalitionGame(const loupe::sdk::Host& host, const loupe::sdk::Matrix& x, const Players& players,
                const Background& background, LoupeOutputSpace space, std::int64_t n_outputs,
                std::int64_t max_batch_rows)
      : host_(host),
        x_(x),
        players_(players),
        background_(background),
        space_(space),
        m_(players.size()),
        o_(n_outputs),
        b_(background.size()),
        max_batch_rows_(max_batch_rows),
        variants_(host.Capability<LoupeRowVariants>()) {}

  std::int64_t players() const { return m_; }
  std::int64_t outputs() const { return o_; }
  std::int64_t background_rows() const { return b_; }
  // Units per parallel chunk; depends only on the background size and the batch bound, never on the
  // thread count.
  std::int64_t grain() const { return std::max<std::int64_t>(1, max_batch_rows_ / b_); }

  // Values units [begin, end) and stores each unit's weighted mean over the background in
  // values[unit][O]. `describe(unit, mask)` sets mask[0..M) to 1 for the players of the unit's coalition
  // (0 elsewhere; it arrives zeroed) and returns the data row of the unit's explained row.
  template <typename Describe>
  void Evaluate(std::int64_t begin, std::int64_t end, Describe&& describe, double* values) const {
    const std::int64_t units = end - begin;
    ScratchVector<unsigned char> masks(static_cast<std::size_t>(units * m_));
    std::fill(masks->begin(), masks->end(), 0);
    ScratchVector<std::int64_t> explained(static_cast<std::size_t>(units));
    for (std::int64_t u = 0; u < units; ++u) explained.data()[u] = describe(begin + u, masks.data() + u * m_);
    ScratchVector<double> sums(static_cast<std::size_t>(units * o_));
    std::fill(sums->begin(), sums->end(), 0.0);
    if (variants_ != nullptr) {
      EvaluateAsVariants(units, masks.data(), explained.data(), sums.data());
    } else {
      const std::int64_t total = units * b_;
      for (std::int64_t first = 0; first < total; first += max_batch_rows_) {
        EvaluateSlice(first, std::min(total, first + max_batch_rows_), masks.data(), explained.data(),
                      sums.data());
      }
    }
    for (std::int64_t i = 0; i < units * o_; ++i) {
      values[begin * o_ + i] =
          background_.weighted() ? sums.data()[i] : sums.data()[i] / static_cast<double>(b_);
    }
  }

 private:
  // Perturbed rows [first, last) of the packed units (row r: unit r / B, background row r % B): one
  // Predict call, each output added to its unit's sum (weighted when the background is).
  void EvaluateSlice(std::int64_t first, std::int64_t last, const unsigned char* masks,
                     const std::int64_t* explained, double* sums) const;

  // The same sums through the model's "row_variants" capability (loupe_plugin.h v1.4): the background
  // rows are the base rows and a unit is the variant "the coalition's columns set to the explained row's
  // values", so a network updates each background row's first layer by the coalition's weight columns
  // instead of evaluating the whole row. Whole units per call (background split when B alone exceeds
  // `max_batch_rows`); each unit's sum still runs over the background in order.
  void EvaluateAsVariants(std::int64_t units, const unsigned char* masks, const std::int64_t* explained,
                          double* sums) const;
  // Units [u0, u1) on background rows [j0, j1) as one row_variants call, added to their sums.
  void EvaluateVariantCall(std::int64_t u0, std::int64_t u1, std::int64_t j0, std::int64_t j1,
                           const unsigned char* masks, const std::int64_t* explained, double* sums) const;

  const loupe::sdk::Host& host_;
  const loupe::sdk::Matrix& x_;
  const Players& players_;
  const Background& background_;
  const LoupeOutputSpace space_;
  const std::int64_t m_, o_, b_, max_batch_rows_;
  const LoupeRowVariants* const variants_;  // null: the model lacks the capability, rows are materialised
};

// f of arbitrary rows ([n][F] row-major), [n][O], in Predict calls of at most `max_batch_rows` rows.
std::vector<double> PredictMatrix(const loupe::sdk::Host& host, const double* rows, std::int64_t n,
                                  std::int64_t f, LoupeOutputSpace space, std::int64_t n_outputs,
                                  std::int64_t max_batch_rows);

// f(x) of the explained rows, [R][O], in Predict calls of at most `max_batch_rows` rows.
std::vector<double> PredictRows(const loupe::sdk::Host& host, const loupe::sdk::Matrix& x,
                                const std::vector<std::int64_t>& rows, LoupeOutputSpace space,
                                std::int64_t n_outputs, std::int64_t max_batch_rows);

// Fills `data` of the attribution (names, rows, values and base values already set), writes it with
// `groups` when grouped, quality.additivity_residual = max |sum phi + base - f(x)| (fx: [R][O]) and
// quality.background_rows.
void WriteAttribution(const loupe::sdk::ResultBuilder& result, const Setup& setup,
                      const loupe::sdk::Matrix& x, const std::vector<double>& fx,
                      std::int64_t background_rows, loupe::sdk::FeatureAttribution* attribution);

// Writes error_std[R][O][M] (NaN as null) and quality.standard_error, the largest finite one.
void WriteErrors(const loupe::sdk::ResultBuilder& result, const std::vector<double>& error_std,
                 std::int64_t r, std::int64_t o, std::int64_t m);

}  // namespace loupe::shap
