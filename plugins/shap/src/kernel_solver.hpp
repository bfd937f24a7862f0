// shap.kernel's per-row estimate from evaluated coalitions: shap 0.42 KernelExplainer.solve (optional l1
// feature selection, then the weighted least squares with the efficiency constraint) and a delete-a-group
// jackknife standard error of every value.
//
// Standard errors: the random draws of the row (each a coalition and, for paired sizes, its complement)
// are split in draw order into G = min(32, draws) contiguous groups. Replicate g re-solves the weighted
// least squares without group g's draws (the enumerated coalitions stay; the sampled kernel mass is
// spread over the remaining draws), and SE^2 = (G - 1) / G * sum_g (phi_(g) - mean phi_(.))^2. Values from
// fully enumerated sizes only have SE 0. With l1 selection the SE is conditional on the selected players.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_sampling.hpp"

namespace loupe::shap {

inline constexpr std::int64_t kJackknifeGroups = 32;

// The `l1_reg` parameter: "auto" (AIC when fewer than 20% of the coalition space is evaluated), "aic",
// "bic", "num_features(k)", or "off" / false.
struct L1Reg {
  enum class Mode { kOff, kAuto, kAic, kBic, kNumFeatures };
  Mode mode = Mode::kAuto;
  std::int64_t features = 0;  // k of num_features(k)
};

// Parses `l1_reg`; throws loupe::sdk::Error naming the parameter when it is none of the accepted forms.
L1Reg ParseL1Reg(const nlohmann::json& value);

struct RowEstimate {
  std::vector<double> phi;        // [O][varying]
  std::vector<double> error_std;  // [O][varying]; NaN when fewer than two draws back a sampled estimate
  bool regular = true;            // false when the pseudo-inverse was needed
};

// The estimate of one row from the first `events` draws of its plan: v[K][O] the coalition values (K at
// least plan.CoalitionsFor(events)), fx and fnull [O].
RowEstimate EstimateRow(const RowPlan& plan, std::int64_t events, const double* v, std::int64_t o,
                        const double* fx, const double* fnull, const L1Reg& l1);

}  // namespace loupe::shap
