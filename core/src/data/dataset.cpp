// Columns, schemas and datasets: the in-memory form of tabular data.
#include "loupe/core/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "data/numbers.hpp"

namespace loupe {
namespace {

// Inconsistent column contents can only come from a bug in the code that builds them.
[[noreturn]] void FailCheck(const std::string& message) {
  std::fprintf(stderr, "loupe: internal error: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

void CheckCategoricalCodes(const ColumnSchema& schema, const ColumnValues& codes,
                           const std::vector<std::uint8_t>& missing) {
  const double level_count = static_cast<double>(schema.levels.size());
  for (std::int64_t row = 0; row < codes.size; ++row) {
    if (missing[static_cast<std::size_t>(row)] != 0) continue;
    const double code = codes[row];
    if (!(code >= 0 && code < level_count && code == std::floor(code))) {
      FailCheck("column '" + schema.name + "' row " + std::to_string(row) + " holds code " +
                data::FormatNumber(code) + " but has " + std::to_string(schema.levels.size()) + " levels");
    }
  }
}

// Returns the memory of values[from, to) to the system, whole pages only, once values[0, to) are read
// for the last time (they would read as zeros; the array is freed soon after). The page of values[0]
// is kept: it holds the allocator's record of the block. A page that straddles `from` is released with
// this range, its part below `from` being read already. Elsewhere than Linux it does nothing: the array
// is freed whole a little later instead.
void ReleaseValues(const std::vector<double>& values, std::size_t from, std::size_t to) {
#if defined(__linux__)
  static const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto first = reinterpret_cast<std::uintptr_t>(values.data() + from);
  const auto start = reinterpret_cast<std::uintptr_t>(values.data());
  const auto begin = std::max(first / page * page, (start + page - 1) / page * page);
  const auto end = reinterpret_cast<std::uintptr_t>(values.data() + to) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
#else
  (void)values;
  (void)from;
  (void)to;
#endif
}

// The indices of the columns `names` (a matrix's columns, in its order), or which name `source` lacks.
Result<std::vector<std::size_t>> ColumnIndices(const Schema& schema, const std::string& source,
                                               const std::vector<std::string>& names) {
  std::vector<std::size_t> indices;
  for (const std::string& name : names) {
    const int index = schema.IndexOf(name);
    if (index < 0) return NotFound("'" + source + "' has no column named '" + name + "'");
    indices.push_back(static_cast<std::size_t>(index));
  }
  return indices;
}

}  // namespace

const char* ColumnTypeName(ColumnType type) {
  switch (type) {
    case ColumnType::kNumeric:
      return "numeric";
    case ColumnType::kCategorical:
      return "categorical";
    case ColumnType::kText:
      return "text";
  }
  return "unknown";
}

int Schema::IndexOf(const std::string& name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

Column::Column(ColumnSchema schema, std::vector<double> values, std::vector<std::uint8_t> missing)
    : schema_(std::move(schema)), values_(std::move(values)), missing_(std::move(missing)) {
  size_ = static_cast<std::int64_t>(missing_.size());
  if (schema_.type == ColumnType::kText) FailCheck("text column '" + schema_.name + "' built from numbers");
  if (values_.size() != missing_.size()) {
    FailCheck("column '" + schema_.name + "' has " + std::to_string(values_.size()) + " values but " +
              std::to_string(missing_.size()) + " missing flags");
  }
  if (schema_.type == ColumnType::kCategorical) CheckCategoricalCodes(schema_, values_view(), missing_);
}

Column::Column(ColumnSchema schema, std::shared_ptr<const Tensor> matrix, std::int64_t index,
               std::vector<std::uint8_t> missing)
    : schema_(std::move(schema)),
      missing_(std::move(missing)),
      matrix_(std::move(matrix)),
      matrix_index_(index) {
  size_ = static_cast<std::int64_t>(missing_.size());
  if (schema_.type == ColumnType::kText) FailCheck("text column '" + schema_.name + "' built from numbers");
  if (matrix_ == nullptr || matrix_->dtype() != DType::kF64 || matrix_->ndim() != 2 ||
      matrix_->dim(0) != static_cast<std::int64_t>(missing_.size()) || index < 0 ||
      index >= matrix_->dim(1)) {
    FailCheck("column '" + schema_.name + "' is not a column of an f64 matrix of " +
              std::to_string(missing_.size()) + " rows");
  }
  if (schema_.type == ColumnType::kCategorical) CheckCategoricalCodes(schema_, values_view(), missing_);
}

Column::Column(Unfilled, ColumnSchema schema, std::shared_ptr<const Tensor> matrix, std::int64_t index,
               std::vector<std::uint8_t> missing, std::int64_t size)
    : schema_(std::move(schema)),
      missing_(std::move(missing)),
      size_(size),
      matrix_(std::move(matrix)),
      matrix_index_(index) {}

Column Column::Unheld(ColumnSchema schema, std::vector<std::uint8_t> missing) {
  const auto size = static_cast<std::int64_t>(missing.size());
  if (schema.type == ColumnType::kText) FailCheck("text column '" + schema.name + "' built without its text");
  return Column(Unfilled{}, std::move(schema), nullptr, 0, std::move(missing), size);
}

const std::vector<double>& Column::values() const {
  if (matrix_ != nullptr) {
    FailCheck("column '" + schema_.name +
              "' is held in the feature matrix and read by values(); expected "
              "values_view()");
  }
  return values_;
}

ColumnValues Column::values_view() const {
  if (matrix_ != nullptr) {
    return ColumnValues{matrix_->data<double>() + matrix_index_, matrix_->dim(0), matrix_->dim(1)};
  }
  if (schema_.type != ColumnType::kText && static_cast<std::int64_t>(values_.size()) != size_) {
    FailCheck("column '" + schema_.name +
              "' was read without its values (chunked input) and is read before it was made a view of the "
              "feature matrix");
  }
  return ColumnValues{values_.data(), static_cast<std::int64_t>(values_.size()), 1};
}

Column::Column(ColumnSchema schema, std::vector<std::string> text, std::vector<std::uint8_t> missing)
    : schema_(std::move(schema)), text_(std::move(text)), missing_(std::move(missing)) {
  size_ = static_cast<std::int64_t>(missing_.size());
  if (schema_.type != ColumnType::kText) {
    FailCheck(std::string(ColumnTypeName(schema_.type)) + " column '" + schema_.name + "' built from text");
  }
  if (text_.size() != missing_.size()) {
    FailCheck("column '" + schema_.name + "' has " + std::to_string(text_.size()) + " values but " +
              std::to_string(missing_.size()) + " missing flags");
  }
}

std::int64_t Column::missing_count() const {
  std::int64_t count = 0;
  for (const std::uint8_t flag : missing_) count += flag != 0 ? 1 : 0;
  return count;
}

std::string Column::Format(std::int64_t row) const {
  if (is_missing(row)) return "NA";
  const auto index = static_cast<std::size_t>(row);
  switch (schema_.type) {
    case ColumnType::kNumeric:
      return data::FormatNumber(value(row));
    case ColumnType::kCategorical:
      return schema_.levels[static_cast<std::size_t>(value(row))];
    case ColumnType::kText:
      return text_[index];
  }
  return "NA";
}

Dataset::Dataset(std::string source, Schema schema, std::vector<Column> columns)
    : source_(std::move(source)), schema_(std::move(schema)), columns_(std::move(columns)) {
  if (schema_.columns.size() != columns_.size()) {
    FailCheck("dataset '" + source_ + "' has " + std::to_string(columns_.size()) +
              " columns but its schema " + std::to_string(schema_.columns.size()));
  }
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i].name() != schema_.columns[i].name || columns_[i].size() != columns_.front().size()) {
      FailCheck("dataset '" + source_ + "' column " + std::to_string(i) + " ('" + columns_[i].name() +
                "') disagrees with the schema or the other columns' length");
    }
  }
}

const Column* Dataset::Find(const std::string& name) const {
  const int index = schema_.IndexOf(name);
  return index < 0 ? nullptr : &columns_[static_cast<std::size_t>(index)];
}

Result<Tensor> Dataset::Matrix(const std::vector<std::string>& names) const {
  std::vector<const Column*> selected;
  selected.reserve(names.size());
  for (const std::string& name : names) {
    const Column* column = Find(name);
    if (column == nullptr) return NotFound("'" + source_ + "' has no column named '" + name + "'");
    selected.push_back(column);
  }
  const std::int64_t rows = num_rows();
  const auto width = static_cast<std::int64_t>(selected.size());
  Tensor matrix(DType::kF64, {rows, width});
  double* out = matrix.data<double>();
  for (std::int64_t j = 0; j < width; ++j) {
    const Column& column = *selected[static_cast<std::size_t>(j)];
    if (column.type() == ColumnType::kText) {  // text handles: the row's own index, NaN when missing
      for (std::int64_t i = 0; i < rows; ++i)
        out[i * width + j] = column.is_missing(i) ? std::nan("") : static_cast<double>(i);
      continue;
    }
    const ColumnValues values = column.values_view();
    for (std::int64_t i = 0; i < rows; ++i) out[i * width + j] = values[i];
  }
  return matrix;
}

Result<std::shared_ptr<const Tensor>> Dataset::ShareMatrix(const std::vector<std::string>& names) {
  LOUPE_ASSIGN_OR_RETURN(const std::vector<std::size_t> selected, ColumnIndices(schema_, source_, names));
  const std::int64_t rows = num_rows();
  const auto width = static_cast<std::int64_t>(selected.size());
  // Not zeroed: every element is written below, and a page is touched only when its rows are.
  auto matrix = std::make_shared<Tensor>(Tensor::Uninitialized(DType::kF64, {rows, width}));
  double* out = matrix->data<double>();
  std::vector<ColumnValues> sources;
  for (const std::size_t index : selected) sources.push_back(columns_[index].values_view());
  // The columns whose own arrays are copied, each once (a name may be listed twice).
  std::vector<std::size_t> owned;
  for (const std::size_t index : selected) {
    const Column& column = columns_[index];
    if (column.type() != ColumnType::kText && !column.in_matrix() &&
        std::find(owned.begin(), owned.end(), index) == owned.end()) {
      owned.push_back(index);
    }
  }
  constexpr std::int64_t kBlockRows = std::int64_t{1} << 16;  // 512 KiB of each column
  for (std::int64_t begin = 0; begin < rows; begin += kBlockRows) {
    const std::int64_t end = std::min(rows, begin + kBlockRows);
    for (std::int64_t j = 0; j < width; ++j) {
      const Column& column = columns_[selected[static_cast<std::size_t>(j)]];
      if (column.type() == ColumnType::kText) {  // text handles: the row's own index, NaN when missing
        for (std::int64_t i = begin; i < end; ++i)
          out[i * width + j] = column.is_missing(i) ? std::nan("") : static_cast<double>(i);
        continue;
      }
      const ColumnValues& values = sources[static_cast<std::size_t>(j)];
      for (std::int64_t i = begin; i < end; ++i) out[i * width + j] = values[i];
    }
    for (const std::size_t index : owned) {
      ReleaseValues(columns_[index].values_, static_cast<std::size_t>(begin), static_cast<std::size_t>(end));
    }
  }
  std::shared_ptr<const Tensor> shared = std::move(matrix);
  for (std::int64_t j = 0; j < width; ++j) {
    Column& column = columns_[selected[static_cast<std::size_t>(j)]];
    const bool first_place = std::find(selected.begin(), selected.begin() + j,
                                       selected[static_cast<std::size_t>(j)]) == selected.begin() + j;
    if (column.type() == ColumnType::kText || !first_place) continue;
    column = Column(column.schema_, shared, j, std::move(column.missing_));
    if (column.missing_count() == 0) std::vector<std::uint8_t>().swap(column.missing_);
  }
  return shared;
}

Result<std::shared_ptr<Tensor>> Dataset::ShareUnfilledMatrix(const std::vector<std::string>& names) {
  LOUPE_ASSIGN_OR_RETURN(const std::vector<std::size_t> selected, ColumnIndices(schema_, source_, names));
  const std::int64_t rows = num_rows();
  auto matrix = std::make_shared<Tensor>(
      Tensor::Uninitialized(DType::kF64, {rows, static_cast<std::int64_t>(selected.size())}));
  for (std::size_t j = 0; j < selected.size(); ++j) {
    Column& column = columns_[selected[j]];
    const bool first_place = std::find(selected.begin(), selected.begin() + static_cast<std::ptrdiff_t>(j),
                                       selected[j]) == selected.begin() + static_cast<std::ptrdiff_t>(j);
    if (column.type() == ColumnType::kText || !first_place) continue;
    std::vector<std::uint8_t> missing = std::move(column.missing_);
    if (std::find(missing.begin(), missing.end(), std::uint8_t{1}) == missing.end())
      std::vector<std::uint8_t>().swap(missing);
    column = Column(Column::Unfilled{}, column.schema_, matrix, static_cast<std::int64_t>(j),
                    std::move(missing), column.size_);
  }
  return matrix;
}

}  // namespace loupe
