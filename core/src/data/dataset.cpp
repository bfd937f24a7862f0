// Columns, schemas and datasets: the in-memory form of tabular data.
#include "loupe/core/dataset.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "data/numbers.hpp"

namespace loupe {
namespace {

// Inconsistent column contents can only come from a bug in the code that builds them.
[[noreturn]] void FailCheck(const std::string& message) {
  std::fprintf(stderr, "loupe: internal error: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

void CheckCategoricalCodes(const ColumnSchema& schema, const std::vector<double>& codes,
                           const std::vector<std::uint8_t>& missing) {
  const double level_count = static_cast<double>(schema.levels.size());
  for (std::size_t row = 0; row < codes.size(); ++row) {
    if (missing[row] != 0) continue;
    const double code = codes[row];
    if (!(code >= 0 && code < level_count && code == std::floor(code))) {
      FailCheck("column '" + schema.name + "' row " + std::to_string(row) + " holds code " +
                data::FormatNumber(code) + " but has " + std::to_string(schema.levels.size()) + " levels");
    }
  }
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
  if (schema_.type == ColumnType::kText) FailCheck("text column '" + schema_.name + "' built from numbers");
  if (values_.size() != missing_.size()) {
    FailCheck("column '" + schema_.name + "' has " + std::to_string(values_.size()) + " values but " +
              std::to_string(missing_.size()) + " missing flags");
  }
  if (schema_.type == ColumnType::kCategorical) CheckCategoricalCodes(schema_, values_, missing_);
}

Column::Column(ColumnSchema schema, std::vector<std::string> text, std::vector<std::uint8_t> missing)
    : schema_(std::move(schema)), text_(std::move(text)), missing_(std::move(missing)) {
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
      return data::FormatNumber(values_[index]);
    case ColumnType::kCategorical:
      return schema_.levels[static_cast<std::size_t>(values_[index])];
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
    const std::vector<double>& values = column.values();
    for (std::int64_t i = 0; i < rows; ++i) out[i * width + j] = values[static_cast<std::size_t>(i)];
  }
  return matrix;
}

}  // namespace loupe
