// Pieces shared by the shap explainers that play the interventional Shapley game over background rows
// (shap.exact, shap.kernel): the step's configuration, coalition evaluation in large Predict batches, f(x)
// of the explained rows and the feature_attribution output with its quality fields.
//
// A coalition S of the M players is valued, for an explained row x, as
//   v(S) = mean over background rows b of f(x on the features of S, b elsewhere).
// Each value is reduced inside one batch in a fixed order, so results are bit-identical for any thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"
#include "players.hpp"

namespace loupe::shap {

// Rows per model call: large enough that model evaluation dominates, small enough to stay in cache-sized
// buffers of a few MB.
inline constexpr std::int64_t kBatchRows = 8192;
// Coalition values kept in memory at once (per block of explained rows): 4M doubles = 32 MB.
inline constexpr std::int64_t kMaxCoalitionValues = std::int64_t{1} << 22;

struct Setup {
  loupe::sdk::DatasetInfo data;
  Players players;
  loupe::sdk::OutputSelection output;
};

// Players (`groups`) and output space (`output`) of the step; throws loupe::sdk::Error when there is no
// player or a parameter is bad. `explainer` names the explainer in messages.
Setup Configure(const loupe::sdk::Host& host, const std::string& explainer);

// Values coalitions of the players over the background rows.
class CoalitionGame {
 public:
  CoalitionGame(const loupe::sdk::Host& host, const loupe::sdk::Matrix& x, const Players& players,
                const std::vector<std::int64_t>& background, LoupeOutputSpace space, std::int64_t n_outputs)
      : host_(host),
        x_(x),
        players_(players),
        background_(background),
        space_(space),
        m_(players.size()),
        o_(n_outputs),
        b_(static_cast<std::int64_t>(background.size())) {}

  std::int64_t players() const { return m_; }
  std::int64_t outputs() const { return o_; }
  std::int64_t background_rows() const { return b_; }
  // Coalitions per model call; depends only on the background size, never on the thread count.
  std::int64_t grain() const { return std::max<std::int64_t>(1, kBatchRows / b_); }

  // Values units [begin, end) in one Predict call and stores each unit's mean over the background in
  // values[unit][O]. `describe(unit, mask)` sets mask[0..M) to 1 for the players of the unit's coalition
  // (0 elsewhere; it arrives zeroed) and returns the data row of the unit's explained row.
  template <typename Describe>
  void Evaluate(std::int64_t begin, std::int64_t end, Describe&& describe, double* values) const {
    const std::int64_t f = x_.cols();
    const std::int64_t n = (end - begin) * b_;
    std::vector<double> batch(static_cast<std::size_t>(n * f));
    std::vector<unsigned char> mask(static_cast<std::size_t>(m_));
    for (std::int64_t unit = begin; unit < end; ++unit) {
      std::fill(mask.begin(), mask.end(), 0);
      const std::int64_t row = describe(unit, mask.data());
      Fill(x_.Row(row), mask.data(), batch.data() + (unit - begin) * b_ * f);
    }
    std::vector<double> out(static_cast<std::size_t>(n * o_));
    host_.Predict(batch.data(), n, f, space_, out.data(), static_cast<std::int64_t>(out.size()));
    for (std::int64_t unit = begin; unit < end; ++unit) {
      const double* unit_out = out.data() + (unit - begin) * b_ * o_;
      for (std::int64_t o = 0; o < o_; ++o) {
        double sum = 0.0;
        for (std::int64_t j = 0; j < b_; ++j) sum += unit_out[j * o_ + o];
        values[unit * o_ + o] = sum / static_cast<double>(b_);
      }
    }
  }

 private:
  // B rows: each background row with the features of the masked players taken from the explained row.
  void Fill(const double* explained, const unsigned char* mask, double* dst) const;

  const loupe::sdk::Host& host_;
  const loupe::sdk::Matrix& x_;
  const Players& players_;
  const std::vector<std::int64_t>& background_;
  const LoupeOutputSpace space_;
  const std::int64_t m_, o_, b_;
};

// f(x) of the explained rows, [R][O], in batches of kBatchRows.
std::vector<double> PredictRows(const loupe::sdk::Host& host, const loupe::sdk::Matrix& x,
                                const std::vector<std::int64_t>& rows, LoupeOutputSpace space, std::int64_t n_outputs);

// Fills `data` of the attribution (names, rows, values and base values already set), writes it with
// `groups` when grouped, quality.additivity_residual = max |sum phi + base - f(x)| (fx: [R][O]) and
// quality.background_rows.
void WriteAttribution(const loupe::sdk::ResultBuilder& result, const Setup& setup, const loupe::sdk::Matrix& x,
                      const std::vector<double>& fx, std::int64_t background_rows,
                      loupe::sdk::FeatureAttribution* attribution);

}  // namespace loupe::shap
