// Rows of a CSV file read again after the reader went through it once (docs/architecture.md §3, "Chunked
// input"): the feature matrix's rows [begin, end), as Dataset::Matrix codes them, parsed from the file
// itself by seeking to the row's mark in Dataset::row_index.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "loupe/core/dataset.hpp"
#include "loupe/core/status.hpp"

namespace loupe::data {

class CsvRowReader {
 public:
  // `dataset` was read by ReadCsv from its source() with `options`, options.index_every > 0; `names` are
  // the matrix's columns (as Dataset::Matrix). The reader keeps pointers into `dataset`, which must
  // outlive it and keep its row index and schema.
  static Result<CsvRowReader> Create(const Dataset& dataset, const CsvOptions& options,
                                     const std::vector<std::string>& names);

  // Rows [begin, end) of the matrix, row-major, names.size() values a row, row `begin` at out[0]: the same
  // numbers as Dataset::Matrix(names) holds there (codes for levels, NaN where missing, a text column's
  // row index). Opens the file for the call, so calls may run at once. A file that no longer holds those
  // rows as they were read is an error naming it.
  Status Fill(std::int64_t begin, std::int64_t end, double* out) const;

  std::int64_t rows() const { return rows_; }
  std::int64_t width() const { return static_cast<std::int64_t>(sources_.size()); }

 private:
  struct Source {
    std::size_t field = 0;  // its field in a record
    ColumnType type = ColumnType::kNumeric;
    std::unordered_map<std::string, double> codes;  // categorical: level -> code
  };

  std::string path_;
  const CsvRowIndex* index_ = nullptr;
  std::int64_t rows_ = 0;
  std::size_t fields_ = 0;  // the header's width
  std::vector<Source> sources_;
  std::unordered_set<std::string> missing_;
};

}  // namespace loupe::data
