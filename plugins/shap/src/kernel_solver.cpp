#include "kernel_solver.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "lars.hpp"
#include "linear_solve.hpp"
#include "loupe/sdk/error.hpp"
#include "loupe/sdk/params.hpp"

namespace loupe::shap {
namespace {

// shap's "auto" applies AIC selection when fewer than this fraction of the coalitions are evaluated.
constexpr double kAutoFraction = 0.2;

// One output's regression problem over the players `selected` (positions in the row's varying list, the
// last one eliminated by the efficiency constraint).
class Regression {
 public:
  Regression(const RowPlan& plan, const std::vector<std::int64_t>& selected, const double* v, std::int64_t o,
             std::int64_t d, double fx, double fnull)
      : plan_(plan),
        selected_(selected),
        v_(v),
        o_(o),
        d_(d),
        fx_(fx),
        fnull_(fnull),
        n_(static_cast<std::int64_t>(selected.size()) - 1) {}

  struct Normal {
    std::vector<double> a, b;  // X^T W X [n][n] and X^T W y [n]
  };

  Normal Zero() const {
    return {std::vector<double>(static_cast<std::size_t>(n_ * n_), 0.0),
            std::vector<double>(static_cast<std::size_t>(n_), 0.0)};
  }

  // Adds coalition k with weight w: x_j = z_j - z_last, y = v(S) - fnull - z_last (fx - fnull).
  // Each x_j is 0 or, for the players on the other side of z_last, the same x = +-1, so every product
  // w x_i x_j is 0 or exactly w: only the pairs of those players add anything (adding a zero changes no
  // sum), and a[j][i] would add the very numbers a[i][j] adds, so only the upper triangle is summed here and
  // Solve copies it down. The same bits as summing every product. Not for concurrent calls on one Regression
  // (others_ is its scratch).
  void Add(std::int64_t k, double w, Normal* eq) const {
    const unsigned char* z = plan_.Mask(k);
    const unsigned char last_bit = z[selected_.back()];
    const double last = last_bit;
    const double y = v_[k * o_ + d_] - fnull_ - last * (fx_ - fnull_);
    const double x = 1.0 - 2.0 * last;  // z_j - last for every player with z_j != z_last
    const double wi = w * x;
    if (wi == 0.0) return;
    others_.clear();
    for (std::int64_t j = 0; j < n_; ++j) {
      if (z[selected_[static_cast<std::size_t>(j)]] != last_bit) others_.push_back(j);
    }
    const double product = wi * x;
    for (std::size_t p = 0; p < others_.size(); ++p) {
      const std::int64_t i = others_[p];
      double* row = eq->a.data() + i * n_;
      for (std::size_t q = p; q < others_.size(); ++q) row[others_[q]] += product;
      eq->b[static_cast<std::size_t>(i)] += wi * y;
    }
  }

  // phi over the varying players (0 outside the selection); returns false when the pseudo-inverse was used.
  bool Solve(Normal eq, double* phi) const {
    for (std::int64_t i = 1; i < n_; ++i) {  // the lower triangle from the upper one Add summed
      for (std::int64_t j = 0; j < i; ++j)
        eq.a[static_cast<std::size_t>(i * n_ + j)] = eq.a[static_cast<std::size_t>(j * n_ + i)];
    }
    std::fill(phi, phi + plan_.width(), 0.0);
    const bool regular = n_ == 0 || SolveSymmetric(std::move(eq.a), n_, 1, eq.b.data());
    double sum = 0.0;
    for (std::int64_t j = 0; j < n_; ++j) {
      phi[selected_[static_cast<std::size_t>(j)]] = eq.b[static_cast<std::size_t>(j)];
      sum += eq.b[static_cast<std::size_t>(j)];
    }
    phi[selected_.back()] = (fx_ - fnull_) - sum;
    return regular;
  }

 private:
  const RowPlan& plan_;
  const std::vector<std::int64_t>& selected_;
  const double* v_;
  const std::int64_t o_, d_;
  const double fx_, fnull_;
  const std::int64_t n_;
  mutable std::vector<std::int64_t> others_;  // Add's players with z_j != z_last
};

// shap's augmented lasso design for output d: per coalition a row sqrt(w (M - s)) z and a row
// sqrt(w s) (z - 1), with targets sqrt(w (M - s)) e and sqrt(w s) (e - (fx - fnull)), e = v(S) - fnull.
void AugmentedDesign(const RowPlan& plan, const std::vector<double>& weights, const double* v, std::int64_t o,
                     std::int64_t d, double fx, double fnull, std::vector<double>* x,
                     std::vector<double>* y) {
  const std::int64_t m = plan.width();
  for (std::size_t k = 0; k < weights.size(); ++k) {
    const unsigned char* z = plan.Mask(static_cast<std::int64_t>(k));
    const double s = std::accumulate(z, z + m, 0.0);
    const double e = v[static_cast<std::int64_t>(k) * o + d] - fnull;
    const double out_root = std::sqrt(weights[k] * (static_cast<double>(m) - s)),
                 in_root = std::sqrt(weights[k] * s);
    for (std::int64_t j = 0; j < m; ++j) x->push_back(out_root * z[j]);
    y->push_back(out_root * e);
    for (std::int64_t j = 0; j < m; ++j) x->push_back(in_root * (z[j] - 1.0));
    y->push_back(in_root * (e - (fx - fnull)));
  }
}

// The players (positions in the varying list) the regression of output d keeps.
std::vector<std::int64_t> Selected(const RowPlan& plan, const std::vector<double>& weights, const double* v,
                                   std::int64_t o, std::int64_t d, double fx, double fnull, const L1Reg& l1) {
  const std::int64_t m = plan.width();
  std::vector<std::int64_t> all(static_cast<std::size_t>(m));
  std::iota(all.begin(), all.end(), 0);
  const double space = m > 30 ? std::ldexp(1.0, 30) : std::ldexp(1.0, static_cast<int>(m)) - 2.0;
  const double fraction = static_cast<double>(weights.size()) / space;
  if (l1.mode == L1Reg::Mode::kOff || (l1.mode == L1Reg::Mode::kAuto && fraction >= kAutoFraction))
    return all;
  if (l1.mode == L1Reg::Mode::kNumFeatures && l1.features >= m) return all;
  std::vector<double> x, y;
  AugmentedDesign(plan, weights, v, o, d, fx, fnull, &x, &y);
  const auto rows = static_cast<std::int64_t>(y.size());
  if (l1.mode == L1Reg::Mode::kNumFeatures) return SelectFirstLars(x, y, rows, m, l1.features);
  const auto criterion =
      l1.mode == L1Reg::Mode::kBic ? InformationCriterion::kBic : InformationCriterion::kAic;
  return SelectLassoLarsIC(x, y, rows, m, criterion);
}

// Delete-a-group jackknife SE of one output's values (see the header) into se[varying].
void JackknifeError(const RowPlan& plan, std::int64_t events, const Regression& regression, double* se) {
  const std::int64_t m = plan.width();
  const std::int64_t groups = std::min(kJackknifeGroups, events);
  if (groups < 2) {
    std::fill(se, se + m, std::numeric_limits<double>::quiet_NaN());
    return;
  }
  Regression::Normal fixed = regression.Zero();
  for (std::int64_t k = 0; k < plan.fixed(); ++k)
    regression.Add(k, plan.fixed_weights[static_cast<std::size_t>(k)], &fixed);
  std::vector<Regression::Normal> group(static_cast<std::size_t>(groups), regression.Zero());
  std::vector<double> entries(static_cast<std::size_t>(groups), 0.0);
  for (std::int64_t e = 0; e < events; ++e) {
    const auto g = static_cast<std::size_t>(e * groups / events);
    for (std::int64_t i = plan.EntriesOf(e); i < plan.EntriesOf(e + 1); ++i) {
      regression.Add(plan.draw_coalition[static_cast<std::size_t>(i)], 1.0, &group[g]);
      entries[g] += 1.0;
    }
  }
  const double total = std::accumulate(entries.begin(), entries.end(), 0.0);
  std::vector<double> replicates(static_cast<std::size_t>(groups * m)),
      mean(static_cast<std::size_t>(m), 0.0);
  for (std::int64_t g = 0; g < groups; ++g) {
    Regression::Normal eq = fixed;
    const double scale = plan.sampled_mass / (total - entries[static_cast<std::size_t>(g)]);
    for (std::int64_t h = 0; h < groups; ++h) {
      if (h == g) continue;
      const auto& part = group[static_cast<std::size_t>(h)];
      for (std::size_t i = 0; i < eq.a.size(); ++i) eq.a[i] += scale * part.a[i];
      for (std::size_t i = 0; i < eq.b.size(); ++i) eq.b[i] += scale * part.b[i];
    }
    double* phi = replicates.data() + g * m;
    regression.Solve(std::move(eq), phi);
    for (std::int64_t j = 0; j < m; ++j)
      mean[static_cast<std::size_t>(j)] += phi[j] / static_cast<double>(groups);
  }
  for (std::int64_t j = 0; j < m; ++j) {
    double squares = 0.0;
    for (std::int64_t g = 0; g < groups; ++g) {
      const double dev = replicates[static_cast<std::size_t>(g * m + j)] - mean[static_cast<std::size_t>(j)];
      squares += dev * dev;
    }
    se[j] = std::sqrt(squares * static_cast<double>(groups - 1) / static_cast<double>(groups));
  }
}

}  // namespace

L1Reg ParseL1Reg(const nlohmann::json& value) {
  const std::string expected =
      "parameter 'l1_reg' must be \"auto\", \"aic\", \"bic\", \"num_features(k)\" with k >= 1, \"off\" or "
      "false, found ";
  if (value.is_boolean() && !value.get<bool>()) return {L1Reg::Mode::kOff, 0};
  if (!value.is_string()) throw loupe::sdk::InvalidArgument(expected + loupe::sdk::DescribeJson(value));
  const std::string text = value.get<std::string>();
  if (text == "auto") return {L1Reg::Mode::kAuto, 0};
  if (text == "aic") return {L1Reg::Mode::kAic, 0};
  if (text == "bic") return {L1Reg::Mode::kBic, 0};
  if (text == "off" || text == "false") return {L1Reg::Mode::kOff, 0};
  const std::string prefix = "num_features(";
  if (text.size() > prefix.size() + 1 && text.compare(0, prefix.size(), prefix) == 0 && text.back() == ')') {
    const std::string digits = text.substr(prefix.size(), text.size() - prefix.size() - 1);
    if (digits.size() <= 9 &&
        std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      const std::int64_t k = std::stoll(digits);
      if (k >= 1) return {L1Reg::Mode::kNumFeatures, k};
    }
  }
  throw loupe::sdk::InvalidArgument(expected + loupe::sdk::DescribeJson(value));
}

RowEstimate EstimateRow(const RowPlan& plan, std::int64_t events, const double* v, std::int64_t o,
                        const double* fx, const double* fnull, const L1Reg& l1) {
  const std::int64_t m = plan.width();
  RowEstimate estimate;
  estimate.phi.assign(static_cast<std::size_t>(o * m), 0.0);
  estimate.error_std.assign(static_cast<std::size_t>(o * m), 0.0);
  const std::vector<double> weights = plan.WeightsFor(events);
  for (std::int64_t d = 0; d < o; ++d) {
    const std::vector<std::int64_t> selected = Selected(plan, weights, v, o, d, fx[d], fnull[d], l1);
    if (selected.empty()) continue;  // shap returns zeros when the lasso keeps nothing
    const Regression regression(plan, selected, v, o, d, fx[d], fnull[d]);
    Regression::Normal eq = regression.Zero();
    for (std::size_t k = 0; k < weights.size(); ++k)
      regression.Add(static_cast<std::int64_t>(k), weights[k], &eq);
    if (!regression.Solve(std::move(eq), estimate.phi.data() + d * m)) estimate.regular = false;
    if (events > 0 && selected.size() > 1)
      JackknifeError(plan, events, regression, estimate.error_std.data() + d * m);
  }
  return estimate;
}

}  // namespace loupe::shap
