// Number parsing and printing shared by the CSV reader and Column::Format.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace loupe::data {

// A space or a tab: what the CSV reader trims around fields and numbers.
inline bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// Parses `text` as one whole decimal number ("45", "-2", "1e-3", "+0.5", "inf"), ignoring spaces and
// tabs around it. Anything else, including NaN spellings and numbers beyond the double range, is not a
// number.
std::optional<double> ParseNumber(std::string_view text);

// The shortest text that reads back as exactly `value` ("45", "0.5", "1e-07").
std::string FormatNumber(double value);

}  // namespace loupe::data
