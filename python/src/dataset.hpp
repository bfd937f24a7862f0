// A loupe::Dataset from the columns the Python layer extracts from a DataFrame or a numpy array
// (python/loupe/_data.py): the explainers then see exactly what they see for a CSV file.
#pragma once

#include <pybind11/pybind11.h>

#include <optional>
#include <string>
#include <vector>

#include "loupe/core/dataset.hpp"

namespace loupe::python {

// `columns`: a list of (name, kind, values, levels) tuples. kind "numeric": values a float64 array, NaN
// where missing; "categorical": values the float64 codes into `levels` (a list of str), NaN where
// missing; "text": values a list of str, None where missing. Fails with a sentence naming the column on
// a code outside its levels, mismatched lengths or an unknown kind. `target` and `sensitive` name columns.
Result<Dataset> BuildDataset(const pybind11::list& columns, const std::optional<std::string>& target,
                             const std::vector<std::string>& sensitive);

}  // namespace loupe::python
