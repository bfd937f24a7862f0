#include "data/csv_rows.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include "data/csv_tokenizer.hpp"
#include "data/numbers.hpp"

namespace loupe::data {

Result<CsvRowReader> CsvRowReader::Create(const Dataset& dataset, const CsvOptions& options,
                                          const std::vector<std::string>& names) {
  const CsvRowIndex& index = dataset.row_index();
  if (index.every <= 0 || index.offsets.empty()) {
    return Internal("'" + dataset.source() +
                    "' was read without a row index, so its rows cannot be read again.");
  }
  CsvRowReader reader;
  reader.path_ = dataset.source();
  reader.index_ = &index;
  reader.rows_ = dataset.num_rows();
  reader.fields_ = static_cast<std::size_t>(dataset.num_columns());
  reader.missing_.insert(options.missing.begin(), options.missing.end());
  for (const std::string& name : names) {
    const int column = dataset.schema().IndexOf(name);
    if (column < 0) return NotFound("'" + dataset.source() + "' has no column named '" + name + "'");
    const ColumnSchema& schema = dataset.schema().columns[static_cast<std::size_t>(column)];
    Source source;
    source.field = static_cast<std::size_t>(column);  // the columns are the header's, in its order
    source.type = schema.type;
    for (std::size_t code = 0; code < schema.levels.size(); ++code)
      source.codes.emplace(schema.levels[code], static_cast<double>(code));
    reader.sources_.push_back(std::move(source));
  }
  return reader;
}

Status CsvRowReader::Fill(std::int64_t begin, std::int64_t end, double* out) const {
  if (begin < 0 || end > rows_ || begin > end)
    return Internal("rows " + std::to_string(begin) + ":" + std::to_string(end) + " of '" + path_ +
                    "' asked for, which has " + std::to_string(rows_) + " rows.");
  if (begin == end) return Status::Ok();
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path_.c_str(), "rb"), &std::fclose);
  if (file == nullptr) return IoError("cannot open '" + path_ + "' again: " + std::strerror(errno) + ".");
  const auto mark = static_cast<std::size_t>(begin / index_->every);
  const std::uint64_t offset = index_->offsets[mark];
  if (std::fseek(file.get(), static_cast<long>(offset), SEEK_SET) != 0)
    return IoError("cannot seek in '" + path_ + "': " + std::strerror(errno) + ".");
  // A chunk's rows with at most one mark's rows skipped before them: a block no larger than that.
  CsvTokenizer tokenizer(file.get(), path_, std::size_t{1} << 16, offset, index_->lines[mark]);
  const auto changed = [&](std::int64_t row, const std::string& what) {
    return IoError("'" + path_ + "' changed after it was read: data row " + std::to_string(row + 1) + " " +
                   what + "; run again on a file that is not being written.");
  };
  std::vector<std::string> fields;
  const std::size_t width = sources_.size();
  for (std::int64_t row = static_cast<std::int64_t>(mark) * index_->every; row < end; ++row) {
    LOUPE_ASSIGN_OR_RETURN(const bool has_record, tokenizer.Next(&fields));
    if (!has_record) return changed(row, "is gone");
    if (fields.size() != fields_) return changed(row, "has " + std::to_string(fields.size()) + " fields");
    if (row < begin) continue;
    double* dst = out + (row - begin) * static_cast<std::int64_t>(width);
    for (std::size_t j = 0; j < width; ++j) {
      const Source& source = sources_[j];
      const std::string& field = fields[source.field];
      if (missing_.count(field) != 0) {
        dst[j] = std::numeric_limits<double>::quiet_NaN();
        continue;
      }
      switch (source.type) {
        case ColumnType::kNumeric: {
          const std::optional<double> number = ParseNumber(field);
          if (!number) return changed(row, "holds '" + field + "' where a number was");
          dst[j] = *number;
          break;
        }
        case ColumnType::kCategorical: {
          const auto code = source.codes.find(field);
          if (code == source.codes.end())
            return changed(row, "holds '" + field + "', a level it did not have");
          dst[j] = code->second;
          break;
        }
        case ColumnType::kText:
          dst[j] = static_cast<double>(row);
          break;
      }
    }
  }
  return Status::Ok();
}

}  // namespace loupe::data
