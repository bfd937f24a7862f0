// NumPy .npy files of an explanation's arrays (docs/architecture.md §5 "Output files"), for users who
// load results with numpy (and hand them to shap.Explanation) rather than parse JSON.
//
// Format 1.0 (2.0 when the header outgrows 65,535 bytes) as numpy.lib.format defines it: the magic
// "\x93NUMPY", the version, the header length, a Python dict literal with 'descr', 'fortran_order'
// and 'shape', padded with spaces to a multiple of 64 bytes, then the data in C order, little-endian.
// Strings are fixed-width UTF-32 ('<U<n>', n the longest cell in code points), which numpy reads
// without allow_pickle.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "loupe/core/explanation.hpp"
#include "loupe/core/status.hpp"
#include "loupe/core/tensor.hpp"
#include "report/output_files.hpp"

namespace loupe::report {

// The .npy header (magic through the padding newline) for an array of `descr` ('<f8', '<U12', ...) and
// `shape`.
std::string NpyHeader(const std::string& descr, const Shape& shape);
// The 'descr' of a numeric dtype ('<f8', '|u1', ...).
std::string NpyDescr(DType dtype);
// How many code points the UTF-8 `text` has as the .npy files write it (an invalid byte counts as one,
// U+FFFD).
std::size_t NpyCodePoints(std::string_view text);

// Writes one array, atomically (as every output file).
Status WriteNpy(const std::filesystem::path& path, const Tensor& array);
Status WriteNpy(const std::filesystem::path& path, const TextArray& array);
// A string array spilled to a file (output_files.hpp SpilledArray) as '<U<width>', `width` its longest
// cell in code points (at least 1): the same bytes as WriteNpy of the array.
Status WriteNpyFromSpill(const std::filesystem::path& path, const SpilledArray& spilled, std::size_t width);

class RowSpill;  // report/row_spill.hpp

// DIR/<step>.<field>.npy for every typed numeric and string array of the explanation ("values",
// "base_values", "rows", "data", "stats.mean", ...). Appends the files written to `files`. The JSON
// document stays the explanation's full record; the .npy files repeat its arrays. With `spill` (a
// streamed step, whose explanation holds a sample of its rows), a field the spill holds is written from
// it, with every row.
Status WriteExplanationNpy(const std::filesystem::path& dir, const Explanation& explanation,
                           std::vector<std::filesystem::path>& files, RowSpill* spill = nullptr);

}  // namespace loupe::report
