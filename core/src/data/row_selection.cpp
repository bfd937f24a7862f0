// RowSelection: the `rows` a pipeline step explains ("all", "a:b", a list, or a sampled count).
#include <algorithm>
#include <charconv>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "loupe/core/explainer.hpp"
#include "loupe/sdk/random.hpp"

namespace loupe {
namespace {

std::string RowsPhrase(std::int64_t count) { return std::to_string(count) + (count == 1 ? " row" : " rows"); }

// A value as the user wrote it, for a message: bytes that are not UTF-8 become U+FFFD, as dump() would
// otherwise throw (found by fuzz_pipeline: fuzz/regressions/pipeline/rows_list_with_invalid_utf8.yaml).
std::string Shown(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status NotARowSelection(const nlohmann::json& value) {
  return InvalidArgument("rows must be \"all\", \"a:b\", a list of row numbers or a count, found " +
                         Shown(value));
}

// The value of a JSON integer that is >= 0 and fits in int64; nothing for anything else.
std::optional<std::int64_t> AsNonNegativeInteger(const nlohmann::json& value) {
  if (value.is_number_unsigned()) {
    const auto number = value.get<std::uint64_t>();
    if (number > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return static_cast<std::int64_t>(number);
  }
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0) return value.get<std::int64_t>();
  return std::nullopt;
}

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

// A bound of "a:b": digits only, or nothing (which yields `if_empty`).
std::optional<std::int64_t> ParseBound(std::string_view text, std::int64_t if_empty) {
  text = TrimSpaces(text);
  if (text.empty()) return if_empty;
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end || text.front() == '-') return std::nullopt;
  return value;
}

Result<RowSelection> ParseString(const nlohmann::json& value) {
  const std::string& text = value.get_ref<const std::string&>();
  RowSelection selection;
  if (TrimSpaces(text) == "all") return selection;
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos || text.find(':', colon + 1) != std::string::npos) {
    return NotARowSelection(value);
  }
  const std::optional<std::int64_t> begin = ParseBound(std::string_view(text).substr(0, colon), 0);
  const std::optional<std::int64_t> end =
      ParseBound(std::string_view(text).substr(colon + 1), RowSelection::kToEnd);
  if (!begin || !end) return NotARowSelection(value);
  if (*end != RowSelection::kToEnd && *end <= *begin) {
    return InvalidArgument("rows " + Shown(value) + " is an empty range; expected a:b with a < b");
  }
  selection.kind = RowSelection::Kind::kRange;
  selection.begin = *begin;
  selection.end = *end;
  return selection;
}

Result<RowSelection> ParseList(const nlohmann::json& value) {
  if (value.empty()) return InvalidArgument("rows must list at least one row number, found []");
  RowSelection selection;
  selection.kind = RowSelection::Kind::kList;
  std::unordered_set<std::int64_t> seen;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::optional<std::int64_t> row = AsNonNegativeInteger(value[i]);
    if (!row) {
      return InvalidArgument("rows[" + std::to_string(i) + "] must be a non-negative row number, found " +
                             Shown(value[i]));
    }
    if (!seen.insert(*row).second) {
      return InvalidArgument("rows lists row " + std::to_string(*row) +
                             " twice; expected distinct row numbers");
    }
    selection.list.push_back(*row);
  }
  return selection;
}

// `count` distinct rows out of `num_rows`: a partial Fisher–Yates shuffle driven by one RNG stream, so
// the sample depends only on (seed, stream, count, num_rows).
std::vector<std::int64_t> SampleRows(std::int64_t num_rows, std::int64_t count, std::uint64_t seed,
                                     std::uint64_t stream) {
  std::vector<std::int64_t> rows(static_cast<std::size_t>(num_rows));
  std::iota(rows.begin(), rows.end(), std::int64_t{0});
  sdk::Rng rng(seed, /*row=*/0, stream);
  for (std::int64_t i = 0; i < count; ++i) {
    const auto pick = i + static_cast<std::int64_t>(rng.Below(static_cast<std::uint64_t>(num_rows - i)));
    std::swap(rows[static_cast<std::size_t>(i)], rows[static_cast<std::size_t>(pick)]);
  }
  rows.resize(static_cast<std::size_t>(count));
  std::sort(rows.begin(), rows.end());
  return rows;
}

}  // namespace

Result<RowSelection> RowSelection::FromJson(const nlohmann::json& value) {
  if (value.is_string()) return ParseString(value);
  if (value.is_array()) return ParseList(value);
  if (value.is_number_integer()) {
    const std::optional<std::int64_t> count = AsNonNegativeInteger(value);
    if (!count || *count == 0) {
      return InvalidArgument("rows must be a positive count of rows to sample, found " + value.dump());
    }
    RowSelection selection;
    selection.kind = Kind::kCount;
    selection.count = *count;
    return selection;
  }
  return NotARowSelection(value);
}

nlohmann::json RowSelection::ToJson() const {
  switch (kind) {
    case Kind::kAll:
      return "all";
    case Kind::kRange:
      return std::to_string(begin) + ":" + (end == kToEnd ? std::string() : std::to_string(end));
    case Kind::kList:
      return list;
    case Kind::kCount:
      return count;
  }
  return "all";
}

Result<std::vector<std::int64_t>> RowSelection::Resolve(std::int64_t num_rows, std::uint64_t seed,
                                                        std::uint64_t stream) const {
  std::vector<std::int64_t> rows;
  switch (kind) {
    case Kind::kAll:
      rows.resize(static_cast<std::size_t>(num_rows));
      std::iota(rows.begin(), rows.end(), std::int64_t{0});
      return rows;
    case Kind::kRange: {
      const std::int64_t stop = end == kToEnd ? num_rows : end;
      if (begin >= stop || stop > num_rows) {
        return InvalidArgument("rows " + ToJson().dump() + " reach past the last row: the data has " +
                               RowsPhrase(num_rows));
      }
      rows.resize(static_cast<std::size_t>(stop - begin));
      std::iota(rows.begin(), rows.end(), begin);
      return rows;
    }
    case Kind::kList:
      for (const std::int64_t row : list) {
        if (row < 0 || row >= num_rows) {
          return InvalidArgument("row " + std::to_string(row) + " is out of range: the data has " +
                                 RowsPhrase(num_rows));
        }
      }
      return list;
    case Kind::kCount:
      if (count > num_rows) {
        return InvalidArgument("cannot sample " + RowsPhrase(count) + " without repeats: the data has " +
                               RowsPhrase(num_rows));
      }
      return SampleRows(num_rows, count, seed, stream);
  }
  return Internal("row selection of unknown kind " + std::to_string(static_cast<int>(kind)));
}

}  // namespace loupe
