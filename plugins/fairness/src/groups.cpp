#include "groups.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "loupe/sdk/error.hpp"
#include "loupe/sdk/params.hpp"

namespace loupe::fairness {
namespace {

using loupe::sdk::DescribeJson;
using loupe::sdk::InvalidArgument;

std::string JoinQuoted(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", '" : "'") + items[i] + "'";
  return out;
}

// One sensitive column coded 0..K-1 over the step rows (-1 = missing).
struct CodedColumn {
  std::vector<std::string> values;
  std::vector<std::int32_t> codes;
};

std::vector<double> ReadEdges(const std::string& column, const nlohmann::json& spec) {
  if (!spec.is_array() || spec.size() < 2) {
    throw InvalidArgument("parameter 'bins' must give column '" + column +
                          "' a list of at least 2 increasing bin edges, found " + DescribeJson(spec));
  }
  std::vector<double> edges;
  for (const auto& edge : spec) {
    if (!edge.is_number() || !std::isfinite(edge.get<double>()) ||
        (!edges.empty() && edge.get<double>() <= edges.back())) {
      throw InvalidArgument("parameter 'bins' must give column '" + column +
                            "' strictly increasing finite numbers, found " + spec.dump());
    }
    edges.push_back(edge.get<double>());
  }
  return edges;
}

std::size_t CountDistinct(const loupe::sdk::ColumnView& column, const std::vector<std::int64_t>& rows) {
  std::vector<double> values;
  for (const std::int64_t row : rows) {
    const double x = column.values[static_cast<std::size_t>(row)];
    if (!std::isnan(x)) values.push_back(x);
  }
  std::sort(values.begin(), values.end());
  return static_cast<std::size_t>(std::unique(values.begin(), values.end()) - values.begin());
}

// Rows per task of the coding passes (each row's code depends on that row alone).
constexpr std::int64_t kCodingBlock = 16384;

// Calls code(i) -> std::int32_t for every step row i into `codes`, in parallel blocks.
template <typename Code>
void CodeRows(const loupe::sdk::Host& host, std::size_t n, std::vector<std::int32_t>& codes, Code&& code) {
  codes.resize(n);
  host.ParallelFor(0, static_cast<std::int64_t>(n), kCodingBlock, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) codes[static_cast<std::size_t>(i)] = code(i);
  });
}

CodedColumn CodeColumn(const loupe::sdk::Host& host, const loupe::sdk::ColumnView& column,
                       const std::vector<std::int64_t>& rows, const nlohmann::json& bins) {
  CodedColumn out;
  const std::string& name = column.info.name;
  const bool has_bins = bins.is_object() && bins.contains(name);
  const double* values = column.values;
  const auto value_of = [&](std::int64_t i) {
    return values[static_cast<std::size_t>(rows[static_cast<std::size_t>(i)])];
  };
  if (column.info.IsCategorical()) {
    if (has_bins) {
      throw InvalidArgument("parameter 'bins' gives edges for column '" + name +
                            "', which is categorical (bins apply to numeric columns)");
    }
    out.values = column.info.levels;
    CodeRows(host, rows.size(), out.codes, [&](std::int64_t i) {
      const double code = value_of(i);
      return std::isnan(code) ? -1 : static_cast<std::int32_t>(code);
    });
    return out;
  }
  if (!column.info.IsNumeric()) {
    throw InvalidArgument("parameter 'sensitive' names column '" + name +
                          "', which is text; expected a categorical or numeric column");
  }
  if (has_bins) {
    const std::vector<double> edges = ReadEdges(name, bins.at(name));
    for (std::size_t j = 0; j + 1 < edges.size(); ++j) {
      out.values.push_back("(" + FormatNumber(edges[j]) + ", " + FormatNumber(edges[j + 1]) + "]");
    }
    CodeRows(host, rows.size(), out.codes, [&](std::int64_t i) {
      const double x = value_of(i);
      // Right-closed buckets (e_j, e_{j+1}]: the first edge not below x closes x's bucket.
      const auto it = std::lower_bound(edges.begin(), edges.end(), x);
      const bool inside = !std::isnan(x) && it != edges.end() && it != edges.begin();
      return inside ? static_cast<std::int32_t>(it - edges.begin() - 1) : -1;
    });
    return out;
  }
  std::vector<double> distinct;  // sorted
  for (const std::int64_t row : rows) {
    const double x = column.values[static_cast<std::size_t>(row)];
    if (std::isnan(x)) continue;
    const auto at = std::lower_bound(distinct.begin(), distinct.end(), x);
    if (at != distinct.end() && *at == x) continue;
    if (distinct.size() == kMaxDistinctNumericValues) {
      throw InvalidArgument("sensitive column '" + name + "' is numeric with " +
                            std::to_string(CountDistinct(column, rows)) + " distinct values, more than the " +
                            std::to_string(kMaxDistinctNumericValues) +
                            " that form groups by themselves; give it edges with parameter 'bins', e.g. {" +
                            name + ": [0, 30, 45, 60, 100]}");
    }
    distinct.insert(at, x);
  }
  for (const double x : distinct) out.values.push_back(FormatNumber(x));
  CodeRows(host, rows.size(), out.codes, [&](std::int64_t i) {
    const double x = value_of(i);
    return std::isnan(x) ? -1
                         : static_cast<std::int32_t>(std::lower_bound(distinct.begin(), distinct.end(), x) -
                                                     distinct.begin());
  });
  return out;
}

std::string ScalarText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) return FormatNumber(value.get<double>());
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  throw InvalidArgument("parameter 'privileged' must list values as strings or numbers, found " +
                        DescribeJson(value));
}

// The set of allowed value indices of `column` named by `spec` (a value or a list of values).
std::vector<char> AllowedValues(const Grouping& grouping, std::size_t column, const nlohmann::json& spec) {
  const auto& values = grouping.column_values[column];
  std::vector<char> allowed(values.size(), 0);
  const nlohmann::json items = spec.is_array() ? spec : nlohmann::json::array({spec});
  if (items.empty()) {
    throw InvalidArgument("parameter 'privileged' gives column '" + grouping.columns[column] +
                          "' an empty list of values");
  }
  for (const auto& item : items) {
    const std::string text = ScalarText(item);
    const auto it = std::find(values.begin(), values.end(), text);
    if (it == values.end()) {
      throw InvalidArgument("parameter 'privileged' names value '" + text + "' of column '" +
                            grouping.columns[column] + "', whose values are " + JoinQuoted(values));
    }
    allowed[static_cast<std::size_t>(it - values.begin())] = 1;
  }
  return allowed;
}

std::size_t ColumnIndex(const Grouping& grouping, const std::string& name) {
  const auto it = std::find(grouping.columns.begin(), grouping.columns.end(), name);
  if (it == grouping.columns.end()) {
    throw InvalidArgument("parameter 'privileged' names column '" + name +
                          "', which is not a sensitive column (" + JoinQuoted(grouping.columns) + ")");
  }
  return static_cast<std::size_t>(it - grouping.columns.begin());
}

// Groups matching one condition object {column: value(s)}.
std::vector<char> MatchObject(const Grouping& grouping, const nlohmann::json& condition) {
  if (condition.empty()) throw InvalidArgument("parameter 'privileged' holds an empty condition {}");
  std::vector<char> match(grouping.size(), 1);
  for (const auto& item : condition.items()) {
    const std::size_t column = ColumnIndex(grouping, item.key());
    const std::vector<char> allowed = AllowedValues(grouping, column, item.value());
    for (std::size_t g = 0; g < grouping.size(); ++g) {
      const auto& values = grouping.column_values[column];
      const auto index =
          std::find(values.begin(), values.end(), grouping.group_values[g][column]) - values.begin();
      if (!allowed[static_cast<std::size_t>(index)]) match[g] = 0;
    }
  }
  return match;
}

// Mixed-radix code of row i's value combination, -1 when a value is missing.
std::int64_t CombinationOf(const std::vector<CodedColumn>& coded, std::size_t i) {
  std::int64_t code = 0;
  for (const auto& column : coded) {
    const std::int32_t value = column.codes[i];
    if (value < 0) return -1;
    code = code * static_cast<std::int64_t>(column.values.size()) + value;
  }
  return code;
}

// Every row's combination code; one column's codes are its combinations already (taken, not copied).
template <typename Code>
std::vector<Code> CombinationCodes(const loupe::sdk::Host& host, std::vector<CodedColumn>& coded,
                                   std::size_t n) {
  if constexpr (std::is_same_v<Code, std::int32_t>) {
    if (coded.size() == 1) return std::move(coded[0].codes);
  }
  std::vector<Code> codes(n);
  host.ParallelFor(0, static_cast<std::int64_t>(n), kCodingBlock, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i)
      codes[static_cast<std::size_t>(i)] =
          static_cast<Code>(CombinationOf(coded, static_cast<std::size_t>(i)));
  });
  return codes;
}

// Calls mark(code) for every observed code; returns the number of rows with a missing value.
template <typename Code, typename Mark>
std::int64_t MarkObserved(const std::vector<Code>& codes, Mark&& mark) {
  std::int64_t missing = 0;
  for (const Code code : codes) {
    if (code < 0)
      ++missing;
    else
      mark(code);
  }
  return missing;
}

// Replaces each code by its group, group_of(code), -1 where a value is missing; into `out` when given.
template <typename Code, typename GroupOf>
void RecodeAsGroups(const loupe::sdk::Host& host, std::vector<Code>& codes, GroupOf&& group_of,
                    std::vector<std::int32_t>* out = nullptr) {
  host.ParallelFor(0, static_cast<std::int64_t>(codes.size()), kCodingBlock,
                   [&](std::int64_t begin, std::int64_t end) {
                     for (std::int64_t i = begin; i < end; ++i) {
                       const Code code = codes[static_cast<std::size_t>(i)];
                       const std::int32_t group = code < 0 ? -1 : group_of(code);
                       if (out != nullptr)
                         (*out)[static_cast<std::size_t>(i)] = group;
                       else
                         codes[static_cast<std::size_t>(i)] = static_cast<Code>(group);
                     }
                   });
}

}  // namespace

std::string FormatNumber(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

Grouping BuildGroups(const loupe::sdk::Host& host, const std::vector<std::int64_t>& rows,
                     const std::vector<std::string>& sensitive, const nlohmann::json& bins) {
  if (!bins.is_null() && !bins.is_object()) {
    throw InvalidArgument(
        "parameter 'bins' must map numeric sensitive columns to lists of bin edges, found " +
        DescribeJson(bins));
  }
  if (bins.is_object()) {
    for (const auto& item : bins.items()) {
      if (std::find(sensitive.begin(), sensitive.end(), item.key()) == sensitive.end()) {
        throw InvalidArgument("parameter 'bins' names column '" + item.key() +
                              "', which is not a sensitive column (" + JoinQuoted(sensitive) + ")");
      }
    }
  }
  Grouping grouping;
  grouping.columns = sensitive;
  std::vector<CodedColumn> coded;
  for (const std::string& name : sensitive) {
    coded.push_back(CodeColumn(host, host.ColumnView(name), rows, bins));
    grouping.column_values.push_back(coded.back().values);
  }
  // Mixed-radix code of each row's value combination; observed combinations become groups in code order.
  std::int64_t combinations = 1;
  for (const auto& column : coded)
    combinations *= std::max<std::int64_t>(1, static_cast<std::int64_t>(column.values.size()));
  // Observed codes: marked in a table when the combinations are few enough (a row costs an index), else in
  // the map directly.
  constexpr std::int64_t kTabulatedCombinations = std::int64_t{1} << 20;
  std::vector<std::int32_t> group_of_small_code(
      combinations <= kTabulatedCombinations ? static_cast<std::size_t>(combinations) : 0, -1);
  std::map<std::int64_t, std::int32_t> group_of_code;
  // Each row's combination code, in 32 bits while the combinations are tabulated; the same array then
  // becomes group_of in place.
  std::vector<std::int32_t> small_combination;
  std::vector<std::int64_t> combination;
  if (!group_of_small_code.empty()) {
    small_combination = CombinationCodes<std::int32_t>(host, coded, rows.size());
    grouping.missing_rows = MarkObserved(small_combination, [&](std::int32_t code) {
      group_of_small_code[static_cast<std::size_t>(code)] = 0;
    });
  } else {
    combination = CombinationCodes<std::int64_t>(host, coded, rows.size());
    grouping.missing_rows =
        MarkObserved(combination, [&](std::int64_t code) { group_of_code.emplace(code, 0); });
  }
  for (std::size_t code = 0; code < group_of_small_code.size(); ++code) {
    if (group_of_small_code[code] == 0) group_of_code.emplace(static_cast<std::int64_t>(code), 0);
  }
  auto values_of = [&](std::int64_t code) {
    std::vector<std::string> values(coded.size());
    for (std::size_t c = coded.size(); c-- > 0;) {
      const auto k = static_cast<std::int64_t>(coded[c].values.size());
      values[c] = coded[c].values[static_cast<std::size_t>(code % k)];
      code /= k;
    }
    return values;
  };
  auto name_of = [&](const std::vector<std::string>& values) {
    std::string name;
    for (std::size_t c = 0; c < values.size(); ++c) name += (c ? ", " : "") + sensitive[c] + "=" + values[c];
    return name;
  };
  for (auto& [code, index] : group_of_code) {
    index = static_cast<std::int32_t>(grouping.group_names.size());
    if (!group_of_small_code.empty()) group_of_small_code[static_cast<std::size_t>(code)] = index;
    grouping.group_values.push_back(values_of(code));
    grouping.group_names.push_back(name_of(grouping.group_values.back()));
  }
  constexpr std::size_t kListedEmpty = 20;
  for (std::int64_t code = 0; code < combinations && coded.size() > 1; ++code) {
    if (group_of_code.count(code) == 0 && grouping.empty_intersections.size() < kListedEmpty) {
      grouping.empty_intersections.push_back(name_of(values_of(code)));
    }
  }
  // Each observed combination's group is its code when no unobserved combination comes before it: then
  // the codes need no recoding.
  bool codes_are_groups = true;
  for (std::size_t code = 0; code < group_of_small_code.size(); ++code) {
    const std::int32_t group = group_of_small_code[code];
    codes_are_groups = codes_are_groups && (group < 0 || group == static_cast<std::int32_t>(code));
  }
  if (!group_of_small_code.empty()) {
    grouping.group_of = std::move(small_combination);
    if (!codes_are_groups)
      RecodeAsGroups(host, grouping.group_of,
                     [&](std::int32_t code) { return group_of_small_code[static_cast<std::size_t>(code)]; });
  } else {
    grouping.group_of.resize(rows.size());
    RecodeAsGroups(
        host, combination, [&](std::int64_t code) { return group_of_code.at(code); }, &grouping.group_of);
  }
  return grouping;
}

std::vector<char> PrivilegedGroups(const Grouping& grouping, const nlohmann::json& privileged) {
  if (privileged.is_null()) return {};
  std::vector<char> result(grouping.size(), 0);
  auto merge = [&](const std::vector<char>& match) {
    for (std::size_t g = 0; g < result.size(); ++g) result[g] = result[g] || match[g];
  };
  const bool list_of_objects =
      privileged.is_array() && !privileged.empty() &&
      std::all_of(privileged.begin(), privileged.end(), [](const auto& v) { return v.is_object(); });
  if (privileged.is_object()) {
    merge(MatchObject(grouping, privileged));
  } else if (list_of_objects) {
    for (const auto& condition : privileged) merge(MatchObject(grouping, condition));
  } else if (privileged.is_array() && std::any_of(privileged.begin(), privileged.end(), [](const auto& v) {
               return v.is_object() || v.is_array();
             })) {
    throw InvalidArgument(
        "parameter 'privileged' must be a value, a list of values, {column: value} or a list of "
        "such objects, found a list mixing objects and values");
  } else {
    if (grouping.columns.size() != 1) {
      throw InvalidArgument("parameter 'privileged' must name the column for each value when there are " +
                            std::to_string(grouping.columns.size()) + " sensitive columns, e.g. {" +
                            grouping.columns[0] + ": ...}, found " + DescribeJson(privileged));
    }
    merge(MatchObject(grouping, nlohmann::json{{grouping.columns[0], privileged}}));
  }
  return result;
}

}  // namespace loupe::fairness
