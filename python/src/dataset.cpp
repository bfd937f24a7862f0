#include "dataset.hpp"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>

namespace py = pybind11;

namespace loupe::python {

namespace {

using NumpyF64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

Result<Column> NumericOrCategorical(ColumnSchema schema, const py::handle& values) {
  const NumpyF64 array = NumpyF64::ensure(values);
  if (!array || array.ndim() != 1) {
    PyErr_Clear();
    return InvalidArgument("column '" + schema.name + "' must be a one-dimensional array of numbers.");
  }
  std::vector<double> data(array.data(), array.data() + array.shape(0));
  std::vector<std::uint8_t> missing(data.size(), 0);
  const double levels = static_cast<double>(schema.levels.size());
  for (std::size_t row = 0; row < data.size(); ++row) {
    missing[row] = std::isnan(data[row]) ? 1 : 0;
    const double code = data[row];
    if (schema.type == ColumnType::kCategorical && missing[row] == 0 &&
        (code < 0 || code >= levels || code != std::floor(code))) {
      return InvalidArgument("column '" + schema.name + "' row " + std::to_string(row) + ": code " +
                             std::to_string(code) + " is not one of its " +
                             std::to_string(schema.levels.size()) + " categories.");
    }
  }
  return Column(std::move(schema), std::move(data), std::move(missing));
}

Column Text(ColumnSchema schema, const py::handle& values) {
  std::vector<std::string> text;
  std::vector<std::uint8_t> missing;
  for (const py::handle cell : values) {
    missing.push_back(cell.is_none() ? 1 : 0);
    text.push_back(cell.is_none() ? std::string() : py::str(cell).cast<std::string>());
  }
  return Column(std::move(schema), std::move(text), std::move(missing));
}

Result<Column> ToColumn(const py::tuple& entry) {
  if (entry.size() != 4) return Internal("a column must be a (name, kind, values, levels) tuple.");
  ColumnSchema schema;
  schema.name = entry[0].cast<std::string>();
  const std::string kind = entry[1].cast<std::string>();
  schema.levels = entry[3].cast<std::vector<std::string>>();
  if (kind == "numeric" || kind == "categorical") {
    schema.type = kind == "numeric" ? ColumnType::kNumeric : ColumnType::kCategorical;
    return NumericOrCategorical(std::move(schema), entry[2]);
  }
  if (kind == "text") {
    schema.type = ColumnType::kText;
    return Text(std::move(schema), entry[2]);
  }
  return InvalidArgument("column '" + schema.name + "' has kind '" + kind +
                         "', expected numeric, categorical or text.");
}

}  // namespace

Result<Dataset> BuildDataset(const py::list& columns, const std::optional<std::string>& target,
                             const std::vector<std::string>& sensitive) {
  if (columns.empty()) return InvalidArgument("the data has no columns.");
  Schema schema;
  std::vector<Column> built;
  for (const py::handle entry : columns) {
    LOUPE_ASSIGN_OR_RETURN(Column column, ToColumn(entry.cast<py::tuple>()));
    if (!built.empty() && column.size() != built.front().size()) {
      return InvalidArgument("column '" + column.name() + "' has " + std::to_string(column.size()) +
                             " rows, column '" + built.front().name() + "' " +
                             std::to_string(built.front().size()) + ".");
    }
    if (schema.IndexOf(column.name()) >= 0) {
      return InvalidArgument("the data has two columns called '" + column.name() + "'.");
    }
    schema.columns.push_back(column.schema());
    built.push_back(std::move(column));
  }
  if (built.front().size() == 0) return InvalidArgument("the data has no rows.");
  for (const std::string& name : sensitive) {
    if (schema.IndexOf(name) < 0)
      return NotFound("sensitive names column '" + name + "', which the data does not have.");
  }
  if (target && schema.IndexOf(*target) < 0) {
    return NotFound("target names column '" + *target + "', which the data does not have.");
  }
  schema.target = target;
  schema.sensitive = sensitive;
  return Dataset("<python data>", std::move(schema), std::move(built));
}

}  // namespace loupe::python
