// Numbers in fairness results, shared by the explainers.
#pragma once

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace loupe::fairness {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A metric as JSON: the number, or null where it is undefined (fairlearn's and AIF360's NaN).
inline nlohmann::json NumberOrNull(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

}  // namespace loupe::fairness
