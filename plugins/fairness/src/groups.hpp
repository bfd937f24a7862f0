// Groups of rows defined by one or more sensitive columns (several -> intersectional groups), and the
// privileged subset of them named by the `privileged` parameter (AIF360's privileged_groups).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/sdk/host.hpp"

namespace loupe::fairness {

// Numeric sensitive columns without `bins` are grouped by their distinct values, up to this many.
inline constexpr std::size_t kMaxDistinctNumericValues = 20;

// The groups of a step's rows.
struct Grouping {
  std::vector<std::string> columns;  // sensitive column names
  std::vector<std::vector<std::string>>
      column_values;                                   // per column: its values in order (level, number, bin)
  std::vector<std::vector<std::string>> group_values;  // per group: its value of each column
  std::vector<std::string> group_names;                // "afam=yes, single=no"
  std::vector<std::int32_t> group_of;            // per step row: group index, -1 when a value is missing
  std::int64_t missing_rows = 0;                 // rows with a missing (or out-of-bins) value
  std::vector<std::string> empty_intersections;  // value combinations no row has

  std::size_t size() const { return group_names.size(); }
};

// Shortest text that reads back as `value` ("1", "0.25", "1e+20").
std::string FormatNumber(double value);

// Reads the sensitive columns for `rows` and forms the observed (intersectional) groups, ordered by the
// columns' value order. `bins` is the parameter (null or {column: [edges...]}, edges increasing; buckets
// are right-closed (a, b] like pandas.cut, values outside every bucket count as missing).
Grouping BuildGroups(const loupe::sdk::Host& host, const std::vector<std::int64_t>& rows,
                     const std::vector<std::string>& sensitive, const nlohmann::json& bins);

// Which groups are privileged under the `privileged` parameter: a value or list of values (one sensitive
// column), {column: value or [values]} (all columns must match), or a list of such objects (any of them).
// Throws loupe::sdk::Error naming the parameter for a column or value that does not exist.
std::vector<char> PrivilegedGroups(const Grouping& grouping, const nlohmann::json& privileged);

}  // namespace loupe::fairness
