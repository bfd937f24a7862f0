// The CSV reader: tokenises the text, checks the header and the overrides, then types and builds each
// column (numeric, categorical with sorted levels, or text).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "data/csv_tokenizer.hpp"
#include "data/numbers.hpp"
#include "loupe/core/dataset.hpp"

namespace loupe {
namespace {

constexpr double kMissingValue = std::numeric_limits<double>::quiet_NaN();

// The cells of one column as read, with their missing flags. The cells are one character buffer and an
// end offset per cell: a std::string per cell would cost 32 bytes each, more than the numbers they hold
// (a million-row file would need several times its size while it is read).
struct RawColumn {
  std::string name;
  std::string chars;  // every cell's text, one after another
  // Cell i is chars[End(i-1), End(i)). The ends take 4 bytes each while the column's text is under 4 GiB
  // (a numeric column of 10M rows: 40 MB where 8-byte ends took 80, at the peak of reading a large
  // file), 8 from the cell on that passes it.
  std::vector<std::uint32_t> short_ends;
  std::vector<std::uint64_t> long_ends;
  std::vector<std::uint8_t> missing;

  std::size_t size() const { return short_ends.size() + long_ends.size(); }
  std::uint64_t End(std::size_t row) const {
    return row < short_ends.size() ? short_ends[row] : long_ends[row - short_ends.size()];
  }
  std::string_view cell(std::size_t row) const {
    const std::uint64_t begin = row == 0 ? 0 : End(row - 1);
    return std::string_view(chars).substr(static_cast<std::size_t>(begin),
                                          static_cast<std::size_t>(End(row) - begin));
  }
  void Append(std::string_view text) {
    chars.append(text);
    if (long_ends.empty() && chars.size() <= std::numeric_limits<std::uint32_t>::max()) {
      short_ends.push_back(static_cast<std::uint32_t>(chars.size()));
    } else {
      long_ends.push_back(chars.size());
    }
  }
  // Frees the cells once the column is built from them.
  void Release() {
    std::string().swap(chars);
    std::vector<std::uint32_t>().swap(short_ends);
    std::vector<std::uint64_t>().swap(long_ends);
  }
};

struct RawTable {
  std::vector<RawColumn> columns;
  std::vector<std::int64_t> record_lines;  // the physical line each data row starts on
};

std::string Position(const std::string& source, std::int64_t line) {
  return source + ":" + std::to_string(line);
}

Result<std::vector<std::string>> ReadHeader(data::CsvTokenizer& tokenizer, const std::string& source) {
  std::vector<std::string> header;
  LOUPE_ASSIGN_OR_RETURN(const bool has_header, tokenizer.Next(&header));
  if (!has_header) return InvalidArgument(source + ": expected a header line, found an empty file");
  const std::string position = Position(source, tokenizer.record_line());
  std::unordered_map<std::string_view, std::size_t> first_column;
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i].empty()) {
      return InvalidArgument(position + ": expected a name for column " + std::to_string(i + 1) +
                             " in the header, found an empty field");
    }
    const auto [previous, inserted] = first_column.emplace(header[i], i);
    if (!inserted) {
      return InvalidArgument(position + ": column name '" + header[i] +
                             "' appears twice in the header (columns " +
                             std::to_string(previous->second + 1) + " and " + std::to_string(i + 1) +
                             "); expected unique names");
    }
  }
  return header;
}

// Every column the options name must exist, and a column may carry at most one type override.
Status CheckOverrides(const std::vector<std::string>& header, const CsvOptions& options,
                      const std::string& header_position) {
  const std::unordered_set<std::string_view> names(header.begin(), header.end());
  const std::pair<const char*, const std::vector<std::string>*> named_lists[] = {
      {"categorical", &options.categorical},
      {"text", &options.text},
      {"numeric", &options.numeric},
      {"sensitive", &options.sensitive}};
  std::unordered_map<std::string_view, const char*> type_override;
  for (const auto& [list_name, list] : named_lists) {
    for (const std::string& name : *list) {
      if (names.count(name) == 0) {
        const std::string option = options.option_prefix.empty() ? std::string("the ") + list_name + " list"
                                                                 : options.option_prefix + list_name;
        return NotFound(header_position + ": " + option + " names column '" + name +
                        "', which is not in the header");
      }
      if (std::string_view(list_name) == "sensitive") continue;
      const auto [previous, inserted] = type_override.emplace(name, list_name);
      if (!inserted && std::string_view(previous->second) != list_name) {
        return InvalidArgument(header_position + ": column '" + name + "' is in both the " +
                               previous->second + " and the " + list_name +
                               " list; expected at most one type for a column");
      }
    }
  }
  if (options.target && names.count(*options.target) == 0) {
    const std::string option =
        options.option_prefix.empty() ? "the target" : options.option_prefix + "target";
    return NotFound(header_position + ": " + option + " names column '" + *options.target +
                    "', which is not in the header");
  }
  return Status::Ok();
}

Result<RawTable> ReadRecords(data::CsvTokenizer& tokenizer, const std::vector<std::string>& header,
                             const CsvOptions& options, const std::string& source) {
  const std::unordered_set<std::string_view> missing_tokens(options.missing.begin(), options.missing.end());
  RawTable table;
  for (const std::string& name : header) table.columns.push_back(RawColumn{name, {}, {}, {}, {}});
  std::vector<std::string> fields;
  for (;;) {
    LOUPE_ASSIGN_OR_RETURN(const bool has_record, tokenizer.Next(&fields));
    if (!has_record) break;
    if (fields.size() != header.size()) {
      return InvalidArgument(Position(source, tokenizer.record_line()) + ": expected " +
                             std::to_string(header.size()) + (header.size() == 1 ? " field" : " fields") +
                             " as in the header, found " + std::to_string(fields.size()));
    }
    table.record_lines.push_back(tokenizer.record_line());
    for (std::size_t i = 0; i < fields.size(); ++i) {
      RawColumn& column = table.columns[i];
      column.missing.push_back(missing_tokens.count(fields[i]) != 0 ? 1 : 0);
      column.Append(fields[i]);
    }
  }
  if (table.record_lines.empty()) {
    return InvalidArgument(source + ": expected at least one data row after the header, found none");
  }
  return table;
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Index of the first present cell that is not a number, if any.
std::optional<std::size_t> FirstNonNumber(const RawColumn& column) {
  for (std::size_t row = 0; row < column.size(); ++row) {
    if (column.missing[row] == 0 && !data::ParseNumber(column.cell(row))) return row;
  }
  return std::nullopt;
}

std::size_t Utf8Length(std::string_view text) {
  // Counts every byte that is not a UTF-8 continuation byte (top bits 10).
  return static_cast<std::size_t>(std::count_if(
      text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// A non-numeric column is free text rather than a category when most rows differ and the values are long.
bool LooksLikeText(const RawColumn& column) {
  std::unordered_set<std::string_view> distinct;
  std::size_t present = 0;
  std::size_t total_length = 0;
  for (std::size_t row = 0; row < column.size(); ++row) {
    if (column.missing[row] != 0) continue;
    ++present;
    total_length += Utf8Length(column.cell(row));
    distinct.insert(column.cell(row));
  }
  constexpr double kMinMeanTextLength = 20.0;
  return 2 * distinct.size() > column.size() && present > 0 &&
         static_cast<double>(total_length) / static_cast<double>(present) > kMinMeanTextLength;
}

ColumnType InferType(const RawColumn& column, const CsvOptions& options) {
  if (Contains(options.text, column.name)) return ColumnType::kText;
  if (Contains(options.categorical, column.name)) return ColumnType::kCategorical;
  if (Contains(options.numeric, column.name) || !FirstNonNumber(column)) return ColumnType::kNumeric;
  return LooksLikeText(column) ? ColumnType::kText : ColumnType::kCategorical;
}

Result<Column> BuildNumeric(RawColumn& column, const RawTable& table, const std::string& source) {
  if (const std::optional<std::size_t> bad_row = FirstNonNumber(column)) {
    return InvalidArgument(Position(source, table.record_lines[*bad_row]) + ": column '" + column.name +
                           "': expected a number, found '" + std::string(column.cell(*bad_row)) + "'");
  }
  std::vector<double> values(column.size());
  for (std::size_t row = 0; row < values.size(); ++row) {
    values[row] = column.missing[row] != 0 ? kMissingValue : *data::ParseNumber(column.cell(row));
  }
  return Column(ColumnSchema{column.name, ColumnType::kNumeric, {}}, std::move(values),
                std::move(column.missing));
}

// Levels sort numerically when every level is a number (ties, such as "1" and "1.0", by bytes), and
// otherwise by bytes, so a level's code does not depend on the order of the rows.
void SortLevels(std::vector<std::string>& levels) {
  std::vector<double> numbers;
  for (const std::string& level : levels) {
    const std::optional<double> number = data::ParseNumber(level);
    if (!number) {
      std::sort(levels.begin(), levels.end());
      return;
    }
    numbers.push_back(*number);
  }
  std::vector<std::size_t> order(levels.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return numbers[a] != numbers[b] ? numbers[a] < numbers[b] : levels[a] < levels[b];
  });
  std::vector<std::string> sorted;
  sorted.reserve(levels.size());
  for (const std::size_t i : order) sorted.push_back(std::move(levels[i]));
  levels = std::move(sorted);
}

Column BuildCategorical(RawColumn& column) {
  std::unordered_map<std::string_view, double> codes;
  for (std::size_t row = 0; row < column.size(); ++row) {
    if (column.missing[row] == 0) codes.emplace(column.cell(row), 0.0);
  }
  std::vector<std::string> levels;
  levels.reserve(codes.size());
  for (const auto& entry : codes) levels.emplace_back(entry.first);
  SortLevels(levels);
  for (std::size_t code = 0; code < levels.size(); ++code) codes[levels[code]] = static_cast<double>(code);

  std::vector<double> values(column.size());
  for (std::size_t row = 0; row < values.size(); ++row) {
    values[row] = column.missing[row] != 0 ? kMissingValue : codes.at(column.cell(row));
  }
  return Column(ColumnSchema{column.name, ColumnType::kCategorical, std::move(levels)}, std::move(values),
                std::move(column.missing));
}

Column BuildText(RawColumn& column) {
  std::vector<std::string> texts(column.size());
  for (std::size_t row = 0; row < texts.size(); ++row) {
    if (column.missing[row] == 0) texts[row] = column.cell(row);
  }
  return Column(ColumnSchema{column.name, ColumnType::kText, {}}, std::move(texts),
                std::move(column.missing));
}

Result<Column> BuildColumn(RawColumn& column, const RawTable& table, const CsvOptions& options,
                           const std::string& source) {
  switch (InferType(column, options)) {
    case ColumnType::kNumeric:
      return BuildNumeric(column, table, source);
    case ColumnType::kCategorical:
      return BuildCategorical(column);
    case ColumnType::kText:
      return BuildText(column);
  }
  return Internal(source + ": column '" + column.name + "' has no known type");
}

}  // namespace

Result<Dataset> ParseCsv(const std::string& text, const std::string& source, const CsvOptions& options) {
  data::CsvTokenizer tokenizer(text, source);
  LOUPE_ASSIGN_OR_RETURN(const std::vector<std::string> header, ReadHeader(tokenizer, source));
  LOUPE_RETURN_IF_ERROR(CheckOverrides(header, options, Position(source, tokenizer.record_line())));
  LOUPE_ASSIGN_OR_RETURN(RawTable table, ReadRecords(tokenizer, header, options, source));

  Schema schema;
  schema.target = options.target;
  schema.sensitive = options.sensitive;
  std::vector<Column> columns;
  columns.reserve(table.columns.size());
  for (RawColumn& raw : table.columns) {
    LOUPE_ASSIGN_OR_RETURN(Column column, BuildColumn(raw, table, options, source));
    raw.Release();
    schema.columns.push_back(column.schema());
    columns.push_back(std::move(column));
  }
  return Dataset(source, std::move(schema), std::move(columns));
}

Result<Dataset> ReadCsv(const std::filesystem::path& path, const CsvOptions& options) {
  const std::string name = path.string();
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(name.c_str(), "rb"), &std::fclose);
  if (file == nullptr) {
    const int error = errno;
    const std::string reason = std::strerror(error);
    if (error == ENOENT) return NotFound("cannot open '" + name + "': " + reason);
    return IoError("cannot open '" + name + "': " + reason);
  }
  std::string text;
  std::error_code size_error;
  const auto size = std::filesystem::file_size(path, size_error);
  if (!size_error) text.reserve(static_cast<std::size_t>(size));  // one allocation, not a doubling series
  char buffer[1 << 16];
  std::size_t count = 0;
  while ((count = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) text.append(buffer, count);
  if (std::ferror(file.get()) != 0) {
    return IoError("cannot read '" + name + "': " + std::strerror(errno));
  }
  return ParseCsv(text, name, options);
}

}  // namespace loupe
