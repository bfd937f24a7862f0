// The CSV reader's internal entry for a run's validation (pipeline/validate.cpp): the data set and, in the
// same pass, the distinct values validation checks labels and groups against, so a run reads its CSV once.
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "loupe/core/dataset.hpp"

namespace loupe::data {

// ReadCsv(path, options), and in `values` the distinct non-missing cells (as written, whatever the
// column's type) of each header column named in `value_columns`: what ProfileCsv collects. `values`
// holds an entry, maybe empty, for every such column; it is set only when the read succeeds.
Result<Dataset> ReadCsvWithValues(const std::filesystem::path& path, const CsvOptions& options,
                                  const std::set<std::string>& value_columns,
                                  std::map<std::string, std::set<std::string>>* values);

}  // namespace loupe::data
