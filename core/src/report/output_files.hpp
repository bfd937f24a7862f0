// Writing run outputs: every file is written atomically (a temporary file in the same folder, flushed to
// the disk, then a rename; docs/architecture.md §5 "Output files"), so a reader never sees half a file
// and a run killed at any moment leaves the previous file or the new one. The explanation
// writers stream: typed arrays go from their tensors to the file without a JSON tree.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

#include "loupe/core/explanation.hpp"
#include "loupe/core/status.hpp"

namespace loupe::report {

Status WriteFileAtomically(const std::filesystem::path& path, const std::string& contents);

// Whether `path` is a writer's temporary file (".<name>.loupe-tmp.<pid>.<n>"), never an output.
bool IsTemporaryOutput(const std::filesystem::path& path);
// Removes the temporary files of `dir` that a killed run left behind (their writer process is gone);
// returns how many it removed.
int RemoveStaleTemporaries(const std::filesystem::path& dir);
// The same with the contents written by `write` straight into the temporary file.
Status WriteFileAtomically(const std::filesystem::path& path,
                           const std::function<void(std::ostream&)>& write);

// The loupe.explanation/v1 document, without the final newline, byte for byte what
// explanation.ToJson().dump() gives: keys in nlohmann's order (sorted), numbers formatted by nlohmann's
// own routine, NaN and infinities as null, integer dtypes as integers.
void WriteExplanation(std::ostream& out, const Explanation& explanation);
std::string ExplanationText(const Explanation& explanation);

// DIR/<step>.json in the loupe.explanation/v1 schema.
Status WriteExplanationJson(const std::filesystem::path& path, const Explanation& explanation);

// A feature_attribution as CSV: one line per (row, output): row, output, base_value, one column per
// feature with its attribution. Returns an error for other kinds.
Status WriteAttributionCsv(const std::filesystem::path& path, const Explanation& explanation);

// Quotes a CSV field when it needs it (RFC 4180).
std::string CsvField(const std::string& text);

}  // namespace loupe::report
