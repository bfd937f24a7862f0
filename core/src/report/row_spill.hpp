// The per-row fields of a step explained a chunk of rows at a time, appended to files in the output
// folder as each chunk finishes, so that a step's results of any size never sit in memory whole
// (docs/architecture.md §5 "Streamed steps"). A numeric field is written straight as its .npy file (the
// header first: the step's row count is known before its first chunk, and the other extents come with
// it), under a temporary name that only Commit puts in place; a string field goes to a temporary spill
// file of (length, UTF-8 bytes) cells, its .npy width (the longest cell) counted on the way. The JSON
// writer (output_files.hpp) reads both back a block of rows at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loupe/core/explanation.hpp"
#include "loupe/core/status.hpp"
#include "report/output_files.hpp"

namespace loupe::report {

class RowSpill {
 public:
  // Fields of step `step` over `rows` rows, spilled into `dir`.
  RowSpill(std::filesystem::path dir, std::string step, std::int64_t rows);
  // Appends the rows of `chunk`'s fields `fields` (typed or string arrays whose first axis is the chunk's
  // rows). The first chunk fixes each field's dtype and trailing extents; a later chunk that differs, or
  // more rows than the step has, is an error naming the field.
  Status Append(const Explanation& chunk, const std::vector<std::string>& fields);
  // The fields as the JSON writer reads them, once every row is appended (else an error naming the field).
  Result<SpilledArrays> Finish();
  // DIR/<step>.<field>.npy of a spilled field, byte for byte what WriteNpy writes for the whole array:
  // a numeric field's file put in place, a string field's converted. After Finish.
  Status WriteNpy(const std::string& field, std::filesystem::path& written);
  // Whether `field` is one of the spilled fields.
  bool Holds(const std::string& field) const { return fields_.count(field) > 0; }

 private:
  struct Field {
    std::unique_ptr<AtomicFile> file;
    SpilledArray spilled;   // shape[0]: the step's rows
    std::int64_t rows = 0;  // appended so far
    std::size_t width = 1;  // strings: the longest cell in code points
  };
  Status Open(const std::string& path, const Explanation& chunk, Field& field);

  std::filesystem::path dir_;
  std::string step_;
  std::int64_t rows_ = 0;
  std::map<std::string, Field> fields_;
};

}  // namespace loupe::report
