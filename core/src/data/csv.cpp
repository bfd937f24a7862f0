// The CSV reader: reads the records one at a time (a file a block at a time, never whole), checks the
// header and the overrides, keeps each column's numbers as they are parsed (or, for a column that is not
// numeric, its distinct cells once and an id a row), then types and builds each column (numeric,
// categorical with sorted levels, or text).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "data/csv_read.hpp"
#include "data/csv_tokenizer.hpp"
#include "data/interner.hpp"
#include "data/numbers.hpp"
#include "loupe/core/dataset.hpp"

namespace loupe {
namespace {

constexpr double kMissingValue = std::numeric_limits<double>::quiet_NaN();

// The cells of one column as read, with their missing flags: each distinct present cell's text once
// (interned, ids in the order first seen) and one id a row. A std::string per cell would cost 32 bytes
// each, more than the numbers they hold, and a categorical column's cells repeat a few values: 4 bytes a
// row here, and its codes are then found by id, not by hashing each cell's text again.
struct RawColumn {
  static constexpr std::uint32_t kMissingId = std::numeric_limits<std::uint32_t>::max();

  std::string name;
  data::Interner interned;         // the distinct present cells
  std::vector<std::uint32_t> ids;  // a row's cell; kMissingId where missing
  std::vector<std::uint8_t> missing;

  std::size_t size() const { return ids.size(); }
  void Append(std::string_view text, bool is_missing) {
    ids.push_back(is_missing ? kMissingId : interned.Intern(text));
  }
  // Frees the cells once the column is built from them.
  void Release() {
    interned = {};
    std::vector<std::uint32_t>().swap(ids);
  }
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

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::size_t Utf8Length(std::string_view text) {
  // Counts every byte that is not a UTF-8 continuation byte (top bits 10).
  return static_cast<std::size_t>(std::count_if(
      text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// A non-numeric column is free text rather than a category when most rows differ and the values are long:
// more than half as many distinct present cells as rows, and a mean length (in characters) above 20.
bool LooksLikeText(std::size_t distinct, std::size_t rows, std::size_t present, std::size_t total_length) {
  constexpr double kMinMeanTextLength = 20.0;
  return 2 * distinct > rows && present > 0 &&
         static_cast<double>(total_length) / static_cast<double>(present) > kMinMeanTextLength;
}

bool LooksLikeText(const RawColumn& column) {
  std::vector<std::size_t> count(column.interned.size(), 0);
  std::size_t present = 0;
  for (const std::uint32_t id : column.ids) {
    if (id == RawColumn::kMissingId) continue;
    ++present;
    ++count[id];
  }
  std::size_t total_length = 0;
  for (std::uint32_t id = 0; id < count.size(); ++id)
    total_length += count[id] * Utf8Length(column.interned.value(id));
  return LooksLikeText(column.interned.size(), column.size(), present, total_length);
}

// The order of the levels (distinct values): numerically when every level is a number (ties, such as "1"
// and "1.0", by bytes), and otherwise by bytes, so a level's code does not depend on the order of the
// rows. Returns the indices of `levels` in that order.
std::vector<std::size_t> LevelOrder(const std::vector<std::string>& levels) {
  std::vector<std::size_t> order(levels.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::vector<double> numbers;
  numbers.reserve(levels.size());
  for (const std::string& level : levels) {
    const std::optional<double> number = data::ParseNumber(level);
    if (!number) {
      std::sort(order.begin(), order.end(),
                [&](std::size_t a, std::size_t b) { return levels[a] < levels[b]; });
      return order;
    }
    numbers.push_back(*number);
  }
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return numbers[a] != numbers[b] ? numbers[a] < numbers[b] : levels[a] < levels[b];
  });
  return order;
}

// The distinct values as sorted levels (LevelOrder); `code_of`, when given, receives each value's code
// by its index in `values`.
std::vector<std::string> SortLevels(std::vector<std::string> values, std::vector<double>* code_of = nullptr) {
  const std::vector<std::size_t> order = LevelOrder(values);
  std::vector<std::string> levels;
  levels.reserve(values.size());
  if (code_of != nullptr) code_of->assign(values.size(), 0.0);
  for (std::size_t code = 0; code < order.size(); ++code) {
    levels.push_back(std::move(values[order[code]]));
    if (code_of != nullptr) (*code_of)[order[code]] = static_cast<double>(code);
  }
  return levels;
}

Column BuildCategorical(RawColumn& column) {
  std::vector<double> code_of;  // by cell id
  std::vector<std::string> levels = SortLevels(column.interned.Values(), &code_of);
  std::vector<double> values(column.size());
  for (std::size_t row = 0; row < values.size(); ++row) {
    const std::uint32_t id = column.ids[row];
    values[row] = id == RawColumn::kMissingId ? kMissingValue : code_of[id];
  }
  return Column(ColumnSchema{column.name, ColumnType::kCategorical, std::move(levels)}, std::move(values),
                std::move(column.missing));
}

Column BuildText(RawColumn& column) {
  std::vector<std::string> texts(column.size());
  for (std::size_t row = 0; row < texts.size(); ++row) {
    if (column.ids[row] != RawColumn::kMissingId) texts[row] = column.interned.value(column.ids[row]);
  }
  return Column(ColumnSchema{column.name, ColumnType::kText, {}}, std::move(texts),
                std::move(column.missing));
}

// One column while the records are read. A column that may be numeric keeps its numbers, not their text
// (9 bytes a cell where the text and its end took about twice that, and the file's whole text was held
// too), until a present cell is not a number: from then on it keeps its cells' text, to be built as a
// categorical or text column. When numbers came before that cell their text is gone, so the cells of
// such a column are collected by a second pass over the file (ReadAgain), which the common files (a
// category's first present cell is not a number) never need.
struct ColumnReader {
  enum class Mode { kNumbers, kCells, kCellsReadAgain };

  // An unheld column (CsvOptions::unheld_features) keeps no number and no cell text: in the cells modes
  // only what typing it needs (its distinct values, as levels, and LooksLikeText's counts).
  struct Unheld {
    data::Interner distinct;
    std::vector<std::size_t> count;  // present cells by id
    void Add(std::string_view cell) {
      const std::uint32_t id = distinct.Intern(cell);
      if (id == count.size()) count.push_back(0);
      ++count[id];
    }
    std::size_t present() const {
      std::size_t sum = 0;
      for (const std::size_t n : count) sum += n;
      return sum;
    }
    std::size_t total_length() const {
      std::size_t sum = 0;
      for (std::uint32_t id = 0; id < count.size(); ++id) sum += count[id] * Utf8Length(distinct.value(id));
      return sum;
    }
  };
  bool unheld = false;
  Unheld stats;

  RawColumn cells;  // the name and the missing flags always; the cells in the cells modes
  // A column whose distinct values are asked for (ReadCsvWithValues): the present cells that go to
  // neither `cells` nor `stats` (those read as numbers, or skipped until ReadAgain) are interned here.
  bool profiled = false;
  data::Interner seen;
  Mode mode = Mode::kNumbers;
  bool forced_numeric = false;
  std::vector<double> numbers;  // the numbers mode's values, NaN where missing
  bool has_number = false;      // a present cell parsed as a number
  // A forced numeric column's first cell that is not a number: the error, after the whole file is read.
  std::optional<std::pair<std::int64_t, std::string>> not_a_number;

  void Reserve(std::size_t rows) {
    cells.missing.reserve(rows);
    if (mode == Mode::kNumbers && !unheld) numbers.reserve(rows);
    if (mode == Mode::kCells && !unheld) cells.ids.reserve(rows);
  }

  // The distinct present cells, once every pass is done (ReadCsvWithValues).
  std::set<std::string> Values() const {
    std::set<std::string> values;
    for (std::uint32_t id = 0; id < seen.size(); ++id) values.emplace(seen.value(id));
    const data::Interner& kept = unheld ? stats.distinct : cells.interned;
    for (std::uint32_t id = 0; id < kept.size(); ++id) values.emplace(kept.value(id));
    return values;
  }

  void Add(std::string_view field, bool missing, std::int64_t line) {
    cells.missing.push_back(missing ? 1 : 0);
    switch (mode) {
      case Mode::kNumbers: {
        if (missing) {
          if (!unheld) numbers.push_back(kMissingValue);
          return;
        }
        if (profiled) seen.Intern(field);
        if (const std::optional<double> number = data::ParseNumber(field)) {
          if (!unheld) numbers.push_back(*number);
          has_number = true;
          return;
        }
        if (forced_numeric) {
          if (!not_a_number) not_a_number.emplace(line, std::string(field));
          if (!unheld) numbers.push_back(kMissingValue);
          return;
        }
        std::vector<double>().swap(numbers);
        if (has_number) {
          mode = Mode::kCellsReadAgain;
          return;
        }
        mode = Mode::kCells;  // every earlier cell is missing: its text is not needed
        if (unheld) {
          stats.Add(field);
          return;
        }
        for (std::size_t row = 0; row + 1 < cells.missing.size(); ++row) cells.Append({}, true);
        cells.Append(field, false);
        return;
      }
      case Mode::kCells:
        if (unheld) {
          if (!missing) stats.Add(field);
          return;
        }
        cells.Append(field, missing);
        return;
      case Mode::kCellsReadAgain:
        if (profiled && !missing) seen.Intern(field);
        return;
    }
  }
};

// Where the records come from: a file, read from its start again for a second pass, or text in memory.
struct CsvInput {
  std::FILE* file = nullptr;
  std::string_view text;
  std::string source;
  std::uint64_t size = 0;  // bytes, when known (0: unknown)

  std::unique_ptr<data::CsvTokenizer> Open() const {
    if (file == nullptr) return std::make_unique<data::CsvTokenizer>(text, source);
    std::rewind(file);
    return std::make_unique<data::CsvTokenizer>(file, source);
  }
};

Status CheckFieldCount(const std::vector<std::string>& fields, const std::vector<std::string>& header,
                       const std::string& source, std::int64_t line) {
  if (fields.size() == header.size()) return Status::Ok();
  return InvalidArgument(Position(source, line) + ": expected " + std::to_string(header.size()) +
                         (header.size() == 1 ? " field" : " fields") + " as in the header, found " +
                         std::to_string(fields.size()));
}

// The cells that mean "missing": a few tokens, compared by length first (no hash of every cell).
class MissingTokens {
 public:
  explicit MissingTokens(const std::vector<std::string>& tokens) : tokens_(tokens.begin(), tokens.end()) {}
  bool Contains(std::string_view cell) const {
    for (const std::string_view token : tokens_) {
      if (token.size() == cell.size() && token == cell) return true;
    }
    return false;
  }

 private:
  std::vector<std::string_view> tokens_;
};

// Reads every record into `columns`, one record at a time.
Status ReadRecords(data::CsvTokenizer& tokenizer, const std::vector<std::string>& header,
                   const MissingTokens& missing_tokens, const std::string& source, std::uint64_t total_bytes,
                   std::vector<ColumnReader>& columns, CsvRowIndex& index) {
  constexpr std::int64_t kRecordsToEstimate = 4096;
  std::vector<std::string> fields;
  std::int64_t records = 0;
  std::uint64_t first_offset = 0;
  for (;;) {
    LOUPE_ASSIGN_OR_RETURN(const bool has_record, tokenizer.Next(&fields));
    if (!has_record) break;
    LOUPE_RETURN_IF_ERROR(CheckFieldCount(fields, header, source, tokenizer.record_line()));
    if (records == 0) first_offset = tokenizer.record_offset();
    if (index.every > 0 && records % index.every == 0) {
      index.offsets.push_back(tokenizer.record_offset());
      index.lines.push_back(tokenizer.record_line());
    }
    if (records == kRecordsToEstimate && total_bytes > first_offset) {
      // The rows the file holds, judged by its first records' length, and a margin: the columns are
      // allocated once rather than copied as they double (a copy is a transient the size of a column).
      // Room reserved but not written costs address space, not memory.
      const double per_record = static_cast<double>(tokenizer.record_offset() - first_offset) / records;
      const auto estimate = static_cast<std::size_t>(1.25 * static_cast<double>(total_bytes - first_offset) /
                                                     std::max(per_record, 1.0)) +
                            1024;
      for (ColumnReader& column : columns) column.Reserve(estimate);
    }
    ++records;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      columns[i].Add(fields[i], missing_tokens.Contains(fields[i]), tokenizer.record_line());
    }
  }
  if (records == 0) {
    return InvalidArgument(source + ": expected at least one data row after the header, found none");
  }
  return Status::Ok();
}

// The second pass: the cells of the columns that turned out not to be numeric after numbers.
Status ReadAgain(const CsvInput& input, const std::vector<std::string>& header,
                 std::vector<ColumnReader>& columns) {
  std::vector<std::size_t> again;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].mode == ColumnReader::Mode::kCellsReadAgain) again.push_back(i);
  }
  if (again.empty()) return Status::Ok();
  const std::unique_ptr<data::CsvTokenizer> tokenizer = input.Open();
  std::vector<std::string> fields;
  LOUPE_ASSIGN_OR_RETURN(bool has_record, tokenizer->Next(&fields));  // the header
  std::size_t row = 0;
  const std::size_t rows = columns.front().cells.missing.size();
  for (;;) {
    LOUPE_ASSIGN_OR_RETURN(has_record, tokenizer->Next(&fields));
    if (!has_record) break;
    LOUPE_RETURN_IF_ERROR(CheckFieldCount(fields, header, input.source, tokenizer->record_line()));
    if (row == rows) break;
    for (const std::size_t i : again) {
      RawColumn& cells = columns[i].cells;
      if (columns[i].unheld) {
        if (cells.missing[row] == 0) columns[i].stats.Add(fields[i]);
        continue;
      }
      cells.Append(fields[i], cells.missing[row] != 0);
    }
    ++row;
  }
  if (row != rows || has_record) {
    return IoError("'" + input.source + "' changed while it was read: expected " + std::to_string(rows) +
                   " data rows on reading it again, found " + (has_record ? "more" : std::to_string(row)));
  }
  for (const std::size_t i : again) columns[i].mode = ColumnReader::Mode::kCells;  // their cells are in
  return Status::Ok();
}

// The same for an unheld column, from its counts.
bool LooksLikeText(const ColumnReader::Unheld& stats, std::size_t rows) {
  return LooksLikeText(stats.distinct.size(), rows, stats.present(), stats.total_length());
}

Column BuildColumn(ColumnReader& reader, const CsvOptions& options) {
  RawColumn& column = reader.cells;
  if (reader.unheld) {  // not text (ReadDataset holds an unheld column inferred as text after all)
    if (reader.mode == ColumnReader::Mode::kNumbers && !Contains(options.categorical, column.name))
      return Column::Unheld(ColumnSchema{column.name, ColumnType::kNumeric, {}}, std::move(column.missing));
    std::vector<std::string> levels = SortLevels(reader.stats.distinct.Values());
    return Column::Unheld(ColumnSchema{column.name, ColumnType::kCategorical, std::move(levels)},
                          std::move(column.missing));
  }
  if (Contains(options.text, column.name)) return BuildText(column);
  if (Contains(options.categorical, column.name)) return BuildCategorical(column);
  if (reader.mode == ColumnReader::Mode::kNumbers) {
    return Column(ColumnSchema{column.name, ColumnType::kNumeric, {}}, std::move(reader.numbers),
                  std::move(column.missing));
  }
  return LooksLikeText(column) ? BuildText(column) : BuildCategorical(column);
}

// `value_columns`, `values`: when given, the distinct present cells of each header column named in
// `value_columns`, as written (ReadCsvWithValues).
Result<Dataset> ReadDataset(const CsvInput& input, const CsvOptions& options,
                            const std::set<std::string>* value_columns = nullptr,
                            std::map<std::string, std::set<std::string>>* values = nullptr) {
  const std::string& source = input.source;
  std::vector<ColumnReader> columns;
  std::vector<std::string> header;
  CsvRowIndex index;
  index.every = std::max<std::int64_t>(options.index_every, 0);
  {
    const std::unique_ptr<data::CsvTokenizer> tokenizer = input.Open();
    LOUPE_ASSIGN_OR_RETURN(header, ReadHeader(*tokenizer, source));
    LOUPE_RETURN_IF_ERROR(CheckOverrides(header, options, Position(source, tokenizer->record_line())));
    columns.resize(header.size());
    for (std::size_t i = 0; i < header.size(); ++i) {
      columns[i].cells.name = header[i];
      columns[i].forced_numeric = Contains(options.numeric, header[i]);
      columns[i].profiled = value_columns != nullptr && value_columns->count(header[i]) != 0;
      if (Contains(options.text, header[i]) || Contains(options.categorical, header[i])) {
        columns[i].mode = ColumnReader::Mode::kCells;
      }
      if (options.unheld_features) {
        const bool target = options.target && *options.target == header[i];
        const bool feature = options.features.empty() ? !target : Contains(options.features, header[i]);
        columns[i].unheld = feature && !target && !Contains(options.sensitive, header[i]) &&
                            !Contains(options.text, header[i]);
      }
    }
    const MissingTokens missing_tokens(options.missing);
    LOUPE_RETURN_IF_ERROR(
        ReadRecords(*tokenizer, header, missing_tokens, source, input.size, columns, index));
  }
  // A forced numeric column's non-number: the first such column's error (an error of the records'
  // shape, above, comes first wherever it is in the file).
  for (const ColumnReader& column : columns) {
    if (column.not_a_number) {
      return InvalidArgument(Position(source, column.not_a_number->first) + ": column '" + column.cells.name +
                             "': expected a number, found '" + column.not_a_number->second + "'");
    }
  }
  LOUPE_RETURN_IF_ERROR(ReadAgain(input, header, columns));
  // An unheld column that turns out to be text is held after all: its cells, read again.
  bool text_again = false;
  for (ColumnReader& column : columns) {
    if (column.unheld && column.mode != ColumnReader::Mode::kNumbers &&
        !Contains(options.categorical, column.cells.name) &&
        LooksLikeText(column.stats, column.cells.missing.size())) {
      column.unheld = false;
      column.stats = {};
      column.mode = ColumnReader::Mode::kCellsReadAgain;
      text_again = true;
    }
  }
  if (text_again) LOUPE_RETURN_IF_ERROR(ReadAgain(input, header, columns));

  if (values != nullptr) {
    values->clear();
    for (const ColumnReader& column : columns) {
      if (column.profiled) (*values)[column.cells.name] = column.Values();
    }
  }

  Schema schema;
  schema.target = options.target;
  schema.sensitive = options.sensitive;
  std::vector<Column> built;
  built.reserve(columns.size());
  for (ColumnReader& reader : columns) {
    Column column = BuildColumn(reader, options);
    reader.cells.Release();
    schema.columns.push_back(column.schema());
    built.push_back(std::move(column));
  }
  Dataset dataset(source, std::move(schema), std::move(built));
  if (index.every > 0) dataset.set_row_index(std::move(index));
  return dataset;
}

}  // namespace

Result<Dataset> ParseCsv(const std::string& text, const std::string& source, const CsvOptions& options) {
  return ReadDataset(CsvInput{nullptr, text, source, text.size()}, options);
}

namespace {

// ReadDataset over the file at `path`, read a block at a time.
Result<Dataset> ReadCsvFile(const std::filesystem::path& path, const CsvOptions& options,
                            const std::set<std::string>* value_columns = nullptr,
                            std::map<std::string, std::set<std::string>>* values = nullptr) {
  const std::string name = path.string();
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(name.c_str(), "rb"), &std::fclose);
  if (file == nullptr) {
    const int error = errno;
    const std::string reason = std::strerror(error);
    if (error == ENOENT) return NotFound("cannot open '" + name + "': " + reason);
    return IoError("cannot open '" + name + "': " + reason);
  }
  std::error_code size_error;
  const std::uint64_t size = std::filesystem::file_size(path, size_error);
  return ReadDataset(CsvInput{file.get(), {}, name, size_error ? 0 : size}, options, value_columns, values);
}

}  // namespace

Result<Dataset> data::ReadCsvWithValues(const std::filesystem::path& path, const CsvOptions& options,
                                        const std::set<std::string>& value_columns,
                                        std::map<std::string, std::set<std::string>>* values) {
  return ReadCsvFile(path, options, &value_columns, values);
}

Result<Dataset> ReadCsv(const std::filesystem::path& path, const CsvOptions& options) {
  return ReadCsvFile(path, options);
}

}  // namespace loupe
