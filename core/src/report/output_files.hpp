// Writing run outputs: every file is written atomically (a temporary file in the same folder, then a
// rename), so a reader never sees half a file and a crash never leaves one behind.
#pragma once

#include <filesystem>
#include <string>

#include "loupe/core/explanation.hpp"
#include "loupe/core/status.hpp"

namespace loupe::report {

Status WriteFileAtomically(const std::filesystem::path& path, const std::string& contents);

// DIR/<step>.json in the loupe.explanation/v1 schema.
Status WriteExplanationJson(const std::filesystem::path& path, const Explanation& explanation);

// A feature_attribution as CSV: one line per (row, output): row, output, base_value, one column per
// feature with its attribution. Returns an error for other kinds.
Status WriteAttributionCsv(const std::filesystem::path& path, const Explanation& explanation);

// Quotes a CSV field when it needs it (RFC 4180).
std::string CsvField(const std::string& text);

}  // namespace loupe::report
