#include "linear_explainer.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "background.hpp"
#include "coalition_game.hpp"
#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/common_params.hpp"
#include "loupe/sdk/error.hpp"

namespace loupe::shap {
namespace {

using loupe::sdk::Host;
using loupe::sdk::Matrix;

// Relative tolerance of the linearity check.
constexpr double kLinearityTolerance = 1e-6;

Setup ConfigureLinear(const Host& host) {
  Setup setup = Configure(host, "shap.linear");
  for (const auto& feature : setup.data.features) {
    if (feature.IsCategorical()) {
      throw loupe::sdk::Unsupported(
          "shap.linear needs numeric features, but feature '" + feature.name +
          "' is categorical and a model is not linear in its level codes; use shap.exact "
          "or shap.kernel");
    }
  }
  return setup;
}

}  // namespace

LinearExplainer::LinearExplainer(const Host& host) {
  const Setup setup = ConfigureLinear(host);
  CheckBackground(host, setup.data.n_rows);
}

void LinearExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const Setup setup = ConfigureLinear(host);
  const Matrix x = host.Features();
  const std::vector<std::int64_t> rows = host.StepRows();
  const Background background = ResolveBackground(host, x);
  const auto r = static_cast<std::int64_t>(rows.size());
  const auto o = static_cast<std::int64_t>(setup.output.names.size());
  const std::int64_t f = x.cols();
  const std::int64_t m = setup.players.size();

  std::vector<double> mu(static_cast<std::size_t>(f), 0.0);
  for (std::int64_t b = 0; b < background.size(); ++b) {
    for (std::int64_t c = 0; c < f; ++c)
      mu[static_cast<std::size_t>(c)] += background.Weight(b) * background.Row(b)[c];
  }
  for (std::int64_t c = 0; c < f; ++c) {
    if (!std::isfinite(mu[static_cast<std::size_t>(c)])) {
      throw loupe::sdk::InvalidArgument(
          "shap.linear needs the background mean of every feature, but feature '" +
          setup.data.features[static_cast<std::size_t>(c)].name +
          "' has missing values in the rows of parameter 'background'");
    }
  }

  // f(mu) and f(mu + e_c): rows [f + 1][F], outputs [f + 1][O].
  std::vector<double> probe(static_cast<std::size_t>((f + 1) * f));
  for (std::int64_t k = 0; k <= f; ++k) {
    std::copy(mu.begin(), mu.end(), probe.begin() + k * f);
    if (k > 0) probe[static_cast<std::size_t>(k * f + k - 1)] += 1.0;
  }
  const std::vector<double> probe_out =
      PredictMatrix(host, probe.data(), f + 1, f, setup.output.space, o, setup.max_batch_rows);
  const double* f_mu = probe_out.data();
  std::vector<double> w(static_cast<std::size_t>(o * f));  // [O][F]
  for (std::int64_t c = 0; c < f; ++c) {
    for (std::int64_t d = 0; d < o; ++d)
      w[static_cast<std::size_t>(d * f + c)] = probe_out[static_cast<std::size_t>((c + 1) * o + d)] - f_mu[d];
  }

  // Linearity on the explained rows, then the background rows (or k-means centres).
  std::vector<double> checked;
  for (const std::int64_t row : rows) checked.insert(checked.end(), x.Row(row), x.Row(row) + f);
  checked.insert(checked.end(), background.values.begin(), background.values.end());
  const std::int64_t n_checked = r + background.size();
  const std::vector<double> fz =
      PredictMatrix(host, checked.data(), n_checked, f, setup.output.space, o, setup.max_batch_rows);
  auto describe_point = [&](std::int64_t i) {
    if (i < r) return "data row " + std::to_string(rows[static_cast<std::size_t>(i)]);
    if (!background.rows.empty())
      return "data row " + std::to_string(background.rows[static_cast<std::size_t>(i - r)]);
    return "background centre " + std::to_string(i - r);
  };
  double worst = 0.0;
  for (std::int64_t i = 0; i < n_checked; ++i) {
    const double* z = checked.data() + i * f;
    for (std::int64_t d = 0; d < o; ++d) {
      double linear = f_mu[d];
      for (std::int64_t c = 0; c < f; ++c)
        linear += w[static_cast<std::size_t>(d * f + c)] * (z[c] - mu[static_cast<std::size_t>(c)]);
      const double actual = fz[static_cast<std::size_t>(i * o + d)];
      const double deviation = std::fabs(actual - linear) / (1.0 + std::fabs(actual));
      if (!(deviation <= kLinearityTolerance)) {
        throw loupe::sdk::Unsupported(
            "shap.linear needs a model linear in its features, but output '" +
            setup.output.names[static_cast<std::size_t>(d)] + "' at " + describe_point(i) + " is " +
            loupe::sdk::FormatNumber(actual) +
            " where the coefficients measured at the background mean predict " +
            loupe::sdk::FormatNumber(linear) +
            " (use output: raw for a logistic model's margin, or shap.exact / shap.kernel for other models)");
      }
      worst = std::max(worst, deviation);
    }
  }

  loupe::sdk::FeatureAttribution attribution;
  attribution.feature_names = setup.players.names;
  attribution.output_names = setup.output.names;
  attribution.rows = rows;
  attribution.base_values.resize(static_cast<std::size_t>(r * o));
  attribution.values.assign(static_cast<std::size_t>(r * o * m), 0.0);
  for (std::int64_t row = 0; row < r; ++row) {
    const double* xr = x.Row(rows[static_cast<std::size_t>(row)]);
    for (std::int64_t d = 0; d < o; ++d) {
      attribution.base_values[static_cast<std::size_t>(row * o + d)] = f_mu[d];
      for (std::int64_t p = 0; p < m; ++p) {
        double phi = 0.0;
        for (const std::int64_t c : setup.players.columns[static_cast<std::size_t>(p)]) {
          phi += w[static_cast<std::size_t>(d * f + c)] * (xr[c] - mu[static_cast<std::size_t>(c)]);
        }
        attribution.values[static_cast<std::size_t>((row * o + d) * m + p)] = phi;
      }
    }
  }
  const std::vector<double> fx(fz.begin(), fz.begin() + r * o);
  WriteAttribution(result, setup, x, fx, background.size(), &attribution);
  nlohmann::json coefficients = nlohmann::json::array(), intercepts = nlohmann::json::array();
  for (std::int64_t d = 0; d < o; ++d) {
    nlohmann::json row = nlohmann::json::array();
    double intercept = f_mu[d];
    for (std::int64_t c = 0; c < f; ++c) {
      row.push_back(w[static_cast<std::size_t>(d * f + c)]);
      intercept -= w[static_cast<std::size_t>(d * f + c)] * mu[static_cast<std::size_t>(c)];
    }
    coefficients.push_back(row);
    intercepts.push_back(intercept);
  }
  result.SetJson("coefficients", coefficients);
  result.SetJson("intercepts", intercepts);
  result.SetNumber("quality.linearity_residual", worst);
  result.SetNumber("quality.model_evaluations", static_cast<double>(f + 1 + n_checked));
}

loupe::sdk::ExplainerDef LinearExplainer::Definition() {
  using loupe::sdk::Param;
  return loupe::sdk::ExplainerDef::Of<LinearExplainer>("shap.linear")
      .Summary(
          "Closed-form Shapley values w_i (x_i - mean_i) of a model linear in its features, with the "
          "coefficients measured through the model and its linearity checked.")
      .Kind(loupe::sdk::kFeatureAttribution)
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters({
          BackgroundParam("whose mean is the reference point"),
          MaxBatchRowsParam(),
          loupe::sdk::OutputParam().Default("raw").Doc(
              "Model outputs to explain: raw margins (as shap's LinearExplainer) or probabilities, which "
              "pass the linearity check only for a model linear in probability space."),
          loupe::sdk::GroupsParam(),
      });
}

}  // namespace loupe::shap
