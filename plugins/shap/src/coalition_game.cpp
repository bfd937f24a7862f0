#include "coalition_game.hpp"

#include <cmath>
#include <utility>

#include "loupe/sdk/common_params.hpp"
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
  setup.max_batch_rows = host.Params().GetOr<std::int64_t>("max_batch_rows", kBatchRows);
  if (setup.max_batch_rows < 1 || setup.max_batch_rows > kMaxBatchRows) {
    throw loupe::sdk::InvalidArgument("parameter 'max_batch_rows' must be between 1 and " +
                                      std::to_string(kMaxBatchRows) + " rows per model call, found " +
                                      std::to_string(setup.max_batch_rows));
  }
  return setup;
}

loupe::sdk::Param BackgroundParam(const std::string& use) {
  return loupe::sdk::Param::Json("background")
      .Default(100)
      .Doc("Rows " + use +
           ": \"a:b\", a list of rows, a count sampled with the step seed (all rows when the data "
           "has fewer), or {kmeans: K}: K weighted k-means centres of all rows, snapped to data values as "
           "shap.kmeans.");
}

std::vector<loupe::sdk::Param> CoalitionGameParams(std::vector<loupe::sdk::Param> own) {
  std::vector<loupe::sdk::Param> params = {
      BackgroundParam("whose values fill the features outside a coalition"), MaxBatchRowsParam(),
      loupe::sdk::OutputParam()};
  for (loupe::sdk::Param& param : own) params.push_back(std::move(param));
  params.push_back(loupe::sdk::GroupsParam());
  return params;
}

loupe::sdk::Param MaxBatchRowsParam() {
  return loupe::sdk::Param::Int("max_batch_rows")
      .Default(kBatchRows)
      .Doc(
          "Most perturbed rows built and sent to the model in one call (1 to 16777216); bounds memory to "
          "about "
          "max_batch_rows x (features + outputs) doubles per thread. Results do not depend on it.");
}

void CoalitionGame::EvaluateSlice(std::int64_t first, std::int64_t last, const unsigned char* masks,
                                  const std::int64_t* explained, double* sums) const {
  const std::int64_t f = x_.cols();
  const std::int64_t n = last - first;
  ScratchVector<double> batch(static_cast<std::size_t>(n * f));
  for (std::int64_t r = first; r < last; ++r) {
    const std::int64_t unit = r / b_, j = r % b_;
    double* dst = batch.data() + (r - first) * f;
    const double* background_row = background_.Row(j);
    std::copy(background_row, background_row + f, dst);
    const double* x = x_.Row(explained[unit]);
    const unsigned char* mask = masks + unit * m_;
    for (std::int64_t p = 0; p < m_; ++p) {
      if (mask[p] == 0) continue;
      for (const std::int64_t column : players_.columns[static_cast<std::size_t>(p)]) dst[column] = x[column];
    }
  }
  ScratchVector<double> out(static_cast<std::size_t>(n * o_));
  host_.Predict(batch.data(), n, f, space_, out.data(), n * o_);
  for (std::int64_t r = first; r < last; ++r) {
    const std::int64_t unit = r / b_;
    const double weight = background_.weighted() ? background_.Weight(r % b_) : 1.0;
    for (std::int64_t o = 0; o < o_; ++o) {
      const double y = out.data()[(r - first) * o_ + o];
      sums[unit * o_ + o] += background_.weighted() ? weight * y : y;
    }
  }
}

void CoalitionGame::EvaluateAsVariants(std::int64_t units, const unsigned char* masks,
                                       const std::int64_t* explained, double* sums) const {
  if (b_ <= max_batch_rows_) {
    const std::int64_t units_per_call = max_batch_rows_ / b_;
    for (std::int64_t u0 = 0; u0 < units; u0 += units_per_call) {
      EvaluateVariantCall(u0, std::min(units, u0 + units_per_call), 0, b_, masks, explained, sums);
    }
    return;
  }
  for (std::int64_t unit = 0; unit < units; ++unit) {
    for (std::int64_t j0 = 0; j0 < b_; j0 += max_batch_rows_) {
      EvaluateVariantCall(unit, unit + 1, j0, std::min(b_, j0 + max_batch_rows_), masks, explained, sums);
    }
  }
}

void CoalitionGame::EvaluateVariantCall(std::int64_t u0, std::int64_t u1, std::int64_t j0, std::int64_t j1,
                                        const unsigned char* masks, const std::int64_t* explained,
                                        double* sums) const {
  const std::int64_t f = x_.cols(), n_variants = u1 - u0, n_base = j1 - j0;
  ScratchVector<std::int64_t> offsets(static_cast<std::size_t>(n_variants + 1));
  ScratchVector<std::int64_t> columns(static_cast<std::size_t>(n_variants * f));
  ScratchVector<double> values(static_cast<std::size_t>(n_variants * f));
  std::int64_t changes = 0;
  offsets.data()[0] = 0;
  for (std::int64_t unit = u0; unit < u1; ++unit) {
    const double* x = x_.Row(explained[unit]);
    const unsigned char* mask = masks + unit * m_;
    for (std::int64_t p = 0; p < m_; ++p) {
      if (mask[p] == 0) continue;
      for (const std::int64_t column : players_.columns[static_cast<std::size_t>(p)]) {
        columns.data()[changes] = column;
        values.data()[changes] = x[column];
        ++changes;
      }
    }
    offsets.data()[unit - u0 + 1] = changes;
  }
  const std::int64_t capacity = n_variants * n_base * o_;
  ScratchVector<double> out(static_cast<std::size_t>(capacity));
  host_.PredictRowVariants(*variants_, background_.Row(j0), n_base, f, n_variants, offsets.data(),
                           columns.data(), values.data(), space_, out.data(), capacity);
  // Each output's sum runs over the background rows in order, held in a register rather than in `sums`.
  for (std::int64_t unit = u0; unit < u1; ++unit) {
    const double* unit_out = out.data() + (unit - u0) * n_base * o_;
    for (std::int64_t o = 0; o < o_; ++o) {
      double sum = sums[unit * o_ + o];
      if (background_.weighted()) {
        for (std::int64_t j = j0; j < j1; ++j) sum += background_.Weight(j) * unit_out[(j - j0) * o_ + o];
      } else {
        for (std::int64_t j = j0; j < j1; ++j) sum += unit_out[(j - j0) * o_ + o];
      }
      sums[unit * o_ + o] = sum;
    }
  }
}

std::vector<double> PredictMatrix(const Host& host, const double* rows, std::int64_t n, std::int64_t f,
                                  LoupeOutputSpace space, std::int64_t n_outputs,
                                  std::int64_t max_batch_rows) {
  std::vector<double> out(static_cast<std::size_t>(n * n_outputs));
  host.ParallelFor(0, n, max_batch_rows, [&](std::int64_t begin, std::int64_t end) {
    host.Predict(rows + begin * f, end - begin, f, space, out.data() + begin * n_outputs,
                 (end - begin) * n_outputs);
  });
  return out;
}

std::vector<double> PredictRows(const Host& host, const Matrix& x, const std::vector<std::int64_t>& rows,
                                LoupeOutputSpace space, std::int64_t n_outputs, std::int64_t max_batch_rows) {
  const auto r = static_cast<std::int64_t>(rows.size());
  std::vector<double> out(static_cast<std::size_t>(r * n_outputs));
  host.ParallelFor(0, r, max_batch_rows, [&](std::int64_t begin, std::int64_t end) {
    std::vector<double> batch;
    batch.reserve(static_cast<std::size_t>((end - begin) * x.cols()));
    for (std::int64_t i = begin; i < end; ++i)
      batch.insert(batch.end(), x.Row(rows[i]), x.Row(rows[i]) + x.cols());
    host.Predict(batch.data(), end - begin, x.cols(), space, out.data() + begin * n_outputs,
                 (end - begin) * n_outputs);
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
      for (std::int64_t i = 0; i < m; ++i)
        total += attribution->values[static_cast<std::size_t>((row * o + out) * m + i)];
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

void WriteErrors(const loupe::sdk::ResultBuilder& result, const std::vector<double>& error_std,
                 std::int64_t r, std::int64_t o, std::int64_t m) {
  nlohmann::json errors = nlohmann::json::array();
  double largest = 0.0;
  for (std::int64_t row = 0; row < r; ++row) {
    nlohmann::json per_output = nlohmann::json::array();
    for (std::int64_t out = 0; out < o; ++out) {
      nlohmann::json per_player = nlohmann::json::array();
      for (std::int64_t j = 0; j < m; ++j) {
        const double e = error_std[static_cast<std::size_t>((row * o + out) * m + j)];
        per_player.push_back(std::isfinite(e) ? nlohmann::json(e) : nlohmann::json(nullptr));
        if (std::isfinite(e)) largest = std::max(largest, e);
      }
      per_output.push_back(std::move(per_player));
    }
    errors.push_back(std::move(per_output));
  }
  result.SetJson("error_std", errors);
  result.SetNumber("quality.standard_error", largest);
}

}  // namespace loupe::shap
