// The HTML report of a run (docs/architecture.md §5 "Output files": DIR/report.html, self-contained, no
// network).
#pragma once

#include <filesystem>

#include "loupe/core/status.hpp"

namespace loupe {

// Writes DIR/report.html from DIR/run.json and the JSON file of every step it lists as ok — what
// `loupe run` writes when `html` is among output.formats, and what `loupe report DIR` writes again (for
// example after the explanation files were produced elsewhere or Loupe was upgraded).
Status RenderReportDirectory(const std::filesystem::path& dir);

}  // namespace loupe
