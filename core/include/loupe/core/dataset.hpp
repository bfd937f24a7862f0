// Dataset, Schema and the CSV reader (docs/architecture.md §3).
//
// A Dataset is immutable once read (Dataset::ShareMatrix changes where values are held, not what they are):
// columns of one of three types. Numeric columns hold doubles, categorical columns hold level codes
// (0..levels-1) as doubles, text columns hold strings. A missing value is NaN in numeric and categorical
// columns and is flagged in the column's missing mask (text too).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "loupe/core/status.hpp"
#include "loupe/core/tensor.hpp"

namespace loupe {

enum class ColumnType { kNumeric, kCategorical, kText };
const char* ColumnTypeName(ColumnType type);

struct ColumnSchema {
  std::string name;
  ColumnType type = ColumnType::kNumeric;
  // Categorical: level names by code, sorted so codes do not depend on row order — numerically when
  // every level is a number ("2" < "10"), otherwise by bytes.
  std::vector<std::string> levels;
};

struct Schema {
  std::vector<ColumnSchema> columns;
  std::optional<std::string> target;   // the target column, when the pipeline names one
  std::vector<std::string> sensitive;  // protected attributes, for fairness steps

  // Index of the column called `name`, or -1.
  int IndexOf(const std::string& name) const;
};

// A numeric or categorical column's values where they are: contiguous, or one column of a row-major
// matrix (stride: the matrix's width).
struct ColumnValues {
  const double* data = nullptr;
  std::int64_t size = 0;
  std::int64_t stride = 1;

  double operator[](std::int64_t row) const { return data[row * stride]; }
};

class Column {
 public:
  Column(ColumnSchema schema, std::vector<double> values, std::vector<std::uint8_t> missing);
  Column(ColumnSchema schema, std::vector<std::string> text, std::vector<std::uint8_t> missing);
  // A numeric or categorical column held as column `index` of the row-major f64 `matrix`
  // (Dataset::ShareMatrix), which it keeps alive.
  Column(ColumnSchema schema, std::shared_ptr<const Tensor> matrix, std::int64_t index,
         std::vector<std::uint8_t> missing);
  // A numeric or categorical column whose values are not held (CsvOptions::unheld_features): its type,
  // levels and missing flags only, until Dataset::ShareUnfilledMatrix makes it a view of the matrix its
  // rows are read into. Its values cannot be read before that.
  static Column Unheld(ColumnSchema schema, std::vector<std::uint8_t> missing);

  const ColumnSchema& schema() const { return schema_; }
  const std::string& name() const { return schema_.name; }
  ColumnType type() const { return schema_.type; }
  std::int64_t size() const { return size_; }

  // Numeric values or categorical codes; NaN where missing. Empty for text columns. A column held in the
  // feature matrix (in_matrix()) has no vector and stops the program here: values_view() serves both.
  const std::vector<double>& values() const;
  // Numeric values or categorical codes wherever they are held; size 0 for text columns.
  ColumnValues values_view() const;
  // The value (or code) of `row`: NaN where missing. Numeric and categorical columns only.
  double value(std::int64_t row) const { return values_view()[row]; }
  bool in_matrix() const { return matrix_ != nullptr; }
  // Text values; empty strings where missing. Empty for numeric and categorical columns.
  const std::vector<std::string>& text() const { return text_; }
  // One flag a row (1: missing); empty for a column held in the feature matrix that has no missing
  // value (Dataset::ShareMatrix drops its mask).
  const std::vector<std::uint8_t>& missing() const { return missing_; }
  bool is_missing(std::int64_t row) const {
    return !missing_.empty() && missing_[static_cast<std::size_t>(row)] != 0;
  }
  std::int64_t missing_count() const;
  // The value of `row` as written for people: a number, a level name, the text, or "NA" when missing.
  std::string Format(std::int64_t row) const;

 private:
  friend class Dataset;  // ShareMatrix moves a column's values into the matrix
  struct Unfilled {};
  // A view of a matrix column whose values are not there yet (ShareUnfilledMatrix): codes not checked.
  Column(Unfilled, ColumnSchema schema, std::shared_ptr<const Tensor> matrix, std::int64_t index,
         std::vector<std::uint8_t> missing, std::int64_t size);

  ColumnSchema schema_;
  std::vector<double> values_;
  std::vector<std::string> text_;
  std::vector<std::uint8_t> missing_;
  std::int64_t size_ = 0;
  std::shared_ptr<const Tensor> matrix_;  // set when the values are a column of it
  std::int64_t matrix_index_ = 0;
};

// Where every `every`-th data row of the file a Dataset was read from starts (CsvOptions::index_every):
// row k × every starts at byte offsets[k], on physical line lines[k]. Empty unless asked for.
struct CsvRowIndex {
  std::int64_t every = 0;
  std::vector<std::uint64_t> offsets;
  std::vector<std::int64_t> lines;
};

class Dataset {
 public:
  Dataset() = default;
  Dataset(std::string source, Schema schema, std::vector<Column> columns);

  const std::string& source() const { return source_; }  // the file it was read from
  const Schema& schema() const { return schema_; }
  std::int64_t num_rows() const { return columns_.empty() ? 0 : columns_.front().size(); }
  std::int64_t num_columns() const { return static_cast<std::int64_t>(columns_.size()); }
  const std::vector<Column>& columns() const { return columns_; }
  const Column& column(std::size_t i) const { return columns_.at(i); }
  // The column called `name`, or nullptr.
  const Column* Find(const std::string& name) const;

  // The f64 [num_rows, names.size()] matrix of the named columns (categoricals as codes, missing as NaN)
  // — the matrix explainers perturb. A text column holds text handles: each row's own 0-based index, NaN
  // where the text is missing (loupe/core/attention.hpp). Fails on unknown columns.
  Result<Tensor> Matrix(const std::vector<std::string>& names) const;
  // The same matrix, which from then on holds the named numeric and categorical columns' values: each
  // such column becomes a view of its matrix column (Column::in_matrix), so the data is held once, not
  // as columns and again as the matrix; its missing mask is dropped when it has no missing value. The
  // columns' own arrays are returned to the system a block of rows at a time as the matrix is filled, so that
  // building it costs no more than a block beyond the columns. A name listed twice is held at its first
  // place.
  Result<std::shared_ptr<const Tensor>> ShareMatrix(const std::vector<std::string>& names);

  // Chunked input (docs/architecture.md §3): an f64 [num_rows, names.size()] matrix laid out as Matrix()
  // but not filled (its pages untouched, so not resident); the named numeric and categorical columns
  // become views of it as with ShareMatrix, their own values dropped. Whoever holds the matrix fills the
  // rows it is about to read (data::CsvRowReader) and may return them to the system afterwards.
  Result<std::shared_ptr<Tensor>> ShareUnfilledMatrix(const std::vector<std::string>& names);

  // Where its rows start in the file it was read from (CsvOptions::index_every); empty otherwise.
  const CsvRowIndex& row_index() const { return row_index_; }
  void set_row_index(CsvRowIndex index) { row_index_ = std::move(index); }

 private:
  std::string source_;
  Schema schema_;
  std::vector<Column> columns_;
  CsvRowIndex row_index_;
};

struct CsvOptions {
  std::vector<std::string> missing = {"NA", ""};  // cells that mean "missing"
  std::vector<std::string> categorical;           // forced categorical (numbers are then level names)
  std::vector<std::string> text;                  // forced text
  std::vector<std::string> numeric;               // forced numeric: a non-number is an error naming the cell
  std::optional<std::string> target;
  std::vector<std::string> sensitive;
  // How errors name the options above when one names a column the header lacks: "data." gives "data.target
  // names column 'x', ..." (a pipeline's keys); empty gives "the target names column 'x', ...".
  std::string option_prefix;
  // Chunked input (docs/architecture.md §3): the feature columns' values are checked, typed and counted
  // (levels, missing flags) but not kept (Column::Unheld), to be read again from the file later. The
  // features are `features`, or, when it is empty, every column but the target; the target, the
  // sensitive and the text columns are held as usual, and so is a column inferred as text.
  bool unheld_features = false;
  std::vector<std::string> features;
  // When > 0: the Dataset records where every index_every-th data row starts in the file
  // (Dataset::row_index), for reading rows again later (data/csv_rows.hpp). 16 bytes per mark.
  std::int64_t index_every = 0;
  // Without an override, a column is numeric when every non-missing cell parses as a whole number
  // ("45", "-2", "1e-3"; spaces around it allowed), and otherwise categorical; a non-numeric column is
  // text when more than half of its rows hold distinct values and their mean length exceeds 20
  // characters. Missing tokens are compared with the cell after unquoting, so "NA" and NA both match.
};

// Reads an RFC 4180 CSV file with a header row: quoted fields, doubled quotes, embedded commas and
// newlines, CRLF or LF line ends, an optional UTF-8 BOM, a last line with or without a line end. Spaces
// around a field (outside quotes) are dropped and blank lines skipped. Errors name the file and the
// physical line where the record starts: "FILE:LINE: column 'NAME': expected a number, found 'abc'".
// A file without data rows, a header with empty or duplicate names, and an option naming a column
// that is not in the header are errors too.
Result<Dataset> ReadCsv(const std::filesystem::path& path, const CsvOptions& options = {});
// The same, from text in memory; `source` names it in errors.
Result<Dataset> ParseCsv(const std::string& text, const std::string& source, const CsvOptions& options = {});

}  // namespace loupe
