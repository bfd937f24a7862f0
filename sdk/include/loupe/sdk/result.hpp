// loupe::sdk::ResultBuilder — writes fields of the explanation into the host-owned result.
//
// Paths are top-level keys ("values") or dotted paths ("quality.additivity_residual") whose intermediate
// objects are created as needed; setting a path twice replaces the value. The host adds the common fields
// (schema, kind, step, explainer, plugin, params, seed, elapsed_ms); an explainer writes the fields of its
// output kind (docs/architecture.md §5) and its quality figures. Every setter throws loupe::sdk::Error on
// failure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/sdk/error.hpp"

namespace loupe::sdk {

// Rows of equally many strings held as one character buffer and the end offset of each cell: the form
// ResultBuilder::SetTextArray sends. A million rows of seven short cells cost ~90 MB here, against
// ~250 MB as std::vector<std::vector<std::string>>.
class TextRows {
 public:
  // Appends a row. Every row should have as many cells as the first; Width() reports a row that does not.
  void push_back(const std::vector<std::string>& row) {
    for (const std::string& cell : row) {
      chars_ += cell;
      ends_.push_back(chars_.size());
    }
    const std::size_t width = row.size();
    if (rows_ == 0) width_ = width;
    if (width != width_ && ragged_width_ == kNone) ragged_width_ = width;
    ++rows_;
  }
  void reserve(std::size_t rows, std::size_t cells_per_row, std::size_t bytes_per_cell = 8) {
    ends_.reserve(rows * cells_per_row);
    chars_.reserve(rows * cells_per_row * bytes_per_cell);
  }

  std::size_t size() const { return rows_; }  // rows
  bool empty() const { return rows_ == 0; }
  // Cells per row: the first row's, or the first different width when the rows are ragged.
  std::size_t Width() const { return ragged_width_ != kNone ? ragged_width_ : width_; }
  bool Rectangular() const { return ragged_width_ == kNone; }
  // Cell `column` of row `row` (rectangular rows).
  std::string_view At(std::size_t row, std::size_t column) const { return Cell(row * width_ + column); }
  // Cell `index` in row-major order.
  std::string_view Cell(std::size_t index) const {
    const std::size_t begin = index == 0 ? 0 : static_cast<std::size_t>(ends_[index - 1]);
    return std::string_view(chars_).substr(begin, static_cast<std::size_t>(ends_[index]) - begin);
  }
  const std::string& chars() const { return chars_; }
  const std::vector<std::uint64_t>& ends() const { return ends_; }

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::string chars_;
  std::vector<std::uint64_t> ends_;
  std::size_t rows_ = 0, width_ = 0, ragged_width_ = kNone;
};

class ResultBuilder {
 public:
  ResultBuilder(const LoupeHostApi* api, LoupeResultBuilder* result) : api_(api), result_(result) {}

  void SetNumber(const std::string& path, double value) const {
    Check(api_->result_set_number(result_, path.c_str(), value), path);
  }
  void SetString(const std::string& path, const std::string& value) const {
    Check(api_->result_set_string(result_, path.c_str(), value.c_str()), path);
  }
  void SetStrings(const std::string& path, const std::vector<std::string>& values) const {
    std::vector<const char*> pointers;
    pointers.reserve(values.size());
    for (const auto& value : values) pointers.push_back(value.c_str());
    Check(api_->result_set_strings(result_, path.c_str(), pointers.data(),
                                   static_cast<std::int64_t>(values.size())),
          path);
  }
  // Stores a contiguous row-major f64 array of the given shape (the host keeps it typed; the files show
  // it as nested JSON arrays, NaN as null).
  void SetTensor(const std::string& path, const std::vector<std::int64_t>& shape, const double* data) const {
    LoupeTensorView view{};
    view.struct_size = sizeof(view);
    view.dtype = LOUPE_DTYPE_F64;
    view.ndim = static_cast<std::int32_t>(shape.size());
    view.read_only = 1;
    static double no_element = 0;  // an empty std::vector's data() may be null; the host wants a pointer
    view.data = const_cast<double*>(data != nullptr ? data : &no_element);  // read_only: the host only reads
    view.shape = shape.data();
    view.strides = nullptr;
    Check(api_->result_set_tensor(result_, path.c_str(), &view), path);
  }
  // Stores `rows` (rectangular, `width` cells each; 0 rows allowed) as a [rows][width] array of strings,
  // kept by the host as text buffers (the files show nested JSON arrays of strings). Plugins built for
  // ABI minor < 2 send it as JSON text.
  void SetTextArray(const std::string& path, const TextRows& rows, std::size_t width) const {
    const std::vector<std::int64_t> shape = {static_cast<std::int64_t>(rows.size()),
                                             static_cast<std::int64_t>(width)};
#if LOUPE_PLUGIN_ABI_MINOR >= 2
    Check(api_->result_set_text_array(result_, path.c_str(), 2, shape.data(), rows.chars().data(),
                                      rows.ends().data()),
          path);
#else
    std::string text = "[";
    for (std::size_t r = 0; r < rows.size(); ++r) {
      text += r > 0 ? ",[" : "[";
      for (std::size_t c = 0; c < width; ++c) {
        if (c > 0) text += ',';
        text += nlohmann::json(std::string(rows.At(r, c))).dump();
      }
      text += ']';
    }
    SetJsonText(path, text + "]");
#endif
  }
#if LOUPE_PLUGIN_ABI_MINOR >= 2
  // Creates the f64 field `path` of `shape` in the host, zero-filled, and returns where to write it, from
  // any threads (valid until the explain call returns or the path is set again): a large array written
  // in place instead of built here and copied. nullptr when it has no elements.
  double* NewTensor(const std::string& path, const std::vector<std::int64_t>& shape) const {
    void* data = nullptr;
    Check(api_->result_new_tensor(result_, path.c_str(), LOUPE_DTYPE_F64,
                                  static_cast<std::int32_t>(shape.size()), shape.data(), &data),
          path);
    return static_cast<double*>(data);
  }
  // Appends `rows` to the string array SetTextArray made at `path` (each row as wide as its rows).
  void AppendTextRows(const std::string& path, const TextRows& rows) const {
    Check(api_->result_append_text_rows(result_, path.c_str(), static_cast<std::int64_t>(rows.size()),
                                        rows.chars().data(), rows.ends().data()),
          path);
  }
#endif
  // The same for a contiguous row-major i64 array (the files show integers).
  void SetTensor(const std::string& path, const std::vector<std::int64_t>& shape,
                 const std::int64_t* data) const {
    LoupeTensorView view{};
    view.struct_size = sizeof(view);
    view.dtype = LOUPE_DTYPE_I64;
    view.ndim = static_cast<std::int32_t>(shape.size());
    view.read_only = 1;
    static std::int64_t no_element = 0;  // as above
    view.data = const_cast<std::int64_t*>(data != nullptr ? data : &no_element);
    view.shape = shape.data();
    view.strides = nullptr;
    Check(api_->result_set_tensor(result_, path.c_str(), &view), path);
  }
  void SetJson(const std::string& path, const nlohmann::json& value) const {
    SetJsonText(path, value.dump());
  }
  // The same with the JSON already as text (large fields written without building a JSON tree).
  void SetJsonText(const std::string& path, const std::string& json_text) const {
    Check(api_->result_set_json(result_, path.c_str(), json_text.c_str()), path);
  }

  LoupeResultBuilder* raw() const { return result_; }

 private:
  static void Check(LoupeStatus status, const std::string& path) {
    if (status != LOUPE_OK) {
      throw Error(status, "the host refused result field '" + path + "' (status " + StatusName(status) + ")");
    }
  }

  const LoupeHostApi* api_;
  LoupeResultBuilder* result_;
};

}  // namespace loupe::sdk
