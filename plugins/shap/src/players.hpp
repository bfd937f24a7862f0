// Players of a Shapley game over tabular features: each feature on its own, or the groups of the
// `groups` parameter (docs/architecture.md §5), shared by the shap explainers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/sdk/host.hpp"

namespace loupe::shap {

struct Players {
  std::vector<std::string> names;                  // one per player: the feature or group name
  std::vector<std::vector<std::int64_t>> columns;  // per player: its feature matrix columns
  bool grouped = false;                            // built from `groups`

  std::int64_t size() const { return static_cast<std::int64_t>(names.size()); }
};

// One player per feature when `groups` is absent or null; otherwise one per group. `groups` must map
// group names to non-empty lists of feature names placing every feature in exactly one group; groups are
// ordered by their first feature's column, so the output follows the data's column order. Throws
// loupe::sdk::Error naming the parameter otherwise.
Players BuildPlayers(const loupe::sdk::DatasetInfo& data, const nlohmann::json& groups);

// The `data` strings of one explained row, one per player: the feature's value (level name, shortest
// round-trip number, "NA"), or "name=value; name=value" for a group of several features.
std::vector<std::string> PlayerValues(const Players& players, const loupe::sdk::DatasetInfo& data,
                                      const double* row);

}  // namespace loupe::shap
