#include "coalition_game.hpp"

#include <cmath>

#include "loupe/sdk/error.hpp"

namespace loupe::shap {

using loupe::sdk::Host;
using loupe::sdk::Matrix;

Setup Configure(const Host& host, const std::string& explainer) {
  Setup setup;
  setup.data = host.Dataset();
  setup.players = BuildPlayers(setup.data, host.Params().GetOr<nlohmann::json>("groups", nullptr));
  if (setup.players.size() == 0) {
    throw loupe::sdk::Unsupported(explainer + " needs at least one feature, found none in the step's data");
  }
  setup.output = loupe::sdk::SelectOutput(host);
  return setup;
}

void CoalitionGame::Fill(const double* explained, const unsigned char* mask, double* dst) const {
  const std::int64_t f = x_.cols();
  for (std::int64_t j = 0; j < b_; ++j, dst += f) {
    const double* row = x_.Row(background_[static_cast<std::size_t>(j)]);
    std::copy(row, row + f, dst);
    for (std::int64_t p = 0; p < m_; ++p) {
      if (mask[p] == 0) continue;
      for (const std::int64_t column : players_.columns[static_cast<std::size_t>(p)]) dst[column] = explained[column];
    }
  }
}

std::vector<double> PredictRows(const Host& host, const Matrix& x, const std::vector<std::int64_t>& rows,
                                LoupeOutputSpace space, std::int64_t n_outputs) {
  const auto r = static_cast<std::int64_t>(rows.size());
  std::vector<double> out(static_cast<std::size_t>(r * n_outputs));
  host.ParallelFor(0, r, kBatchRows, [&](std::int64_t begin, std::int64_t end) {
    std::vector<double> batch;
    batch.reserve(static_cast<std::size_t>((end - begin) * x.cols()));
    for (std::int64_t i = begin; i < end; ++i) batch.insert(batch.end(), x.Row(rows[i]), x.Row(rows[i]) + x.cols());
    host.Predict(batch.data(), end - begin, x.cols(), space, out.data() + begin * n_outputs, (end - begin) * n_outputs);
  });
  return out;
}

void WriteAttribution(const loupe::sdk::ResultBuilder& result, const Setup& setup, const Matrix& x,
                      const std::vector<double>& fx, std::int64_t background_rows,
                      loupe::sdk::FeatureAttribution* attribution) {
  const auto r = static_cast<std::int64_t>(attribution->rows.size());
  const auto o = static_cast<std::int64_t>(attribution->output_names.size());
  const std::int64_t m = setup.players.size();
  double residual = 0.0;
  for (std::int64_t row = 0; row < r; ++row) {
    attribution->data.push_back(
        PlayerValues(setup.players, setup.data, x.Row(attribution->rows[static_cast<std::size_t>(row)])));
    for (std::int64_t out = 0; out < o; ++out) {
      double total = attribution->base_values[static_cast<std::size_t>(row * o + out)];
      for (std::int64_t i = 0; i < m; ++i) total += attribution->values[static_cast<std::size_t>((row * o + out) * m + i)];
      residual = std::max(residual, std::fabs(total - fx[static_cast<std::size_t>(row * o + out)]));
    }
  }
  attribution->Write(result);
  if (setup.players.grouped) {
    nlohmann::json groups = nlohmann::json::object();
    for (std::int64_t p = 0; p < m; ++p) {
      for (const std::int64_t column : setup.players.columns[static_cast<std::size_t>(p)]) {
        groups[setup.players.names[static_cast<std::size_t>(p)]].push_back(
            setup.data.features[static_cast<std::size_t>(column)].name);
      }
    }
    result.SetJson("groups", groups);
  }
  result.SetNumber("quality.additivity_residual", residual);
  result.SetNumber("quality.background_rows", static_cast<double>(background_rows));
}

}  // namespace loupe::shap
