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
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/sdk/error.hpp"

namespace loupe::sdk {

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
    view.data = const_cast<double*>(data);  // read_only = 1: the host only reads
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
