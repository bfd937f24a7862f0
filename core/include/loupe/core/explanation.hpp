// Explanation: the result of one pipeline step (docs/architecture.md §3, §5 "Output files").
//
// Metadata (kind, provenance, params, quality and the small kind-specific fields) is JSON; the large
// numeric arrays a plugin sets with result_set_tensor are typed tensors keyed by their dotted field path
// ("values", "base_values", "stats.mean"). JSON text of the arrays exists only in the writers
// (core/src/report/output_files.hpp), which stream them to the file in the loupe.explanation/v1 format.
// An explanation read back from a file holds every field as JSON; Array() reads either form.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "loupe/core/status.hpp"
#include "loupe/core/tensor.hpp"

namespace loupe {

inline constexpr const char* kExplanationSchema = "loupe.explanation/v1";

// A numeric field read as f64: the explanation's own tensor when it is stored as f64 (no copy; valid
// while the explanation lives and the field is not replaced), otherwise a converted copy (another
// dtype, or a field that is still JSON, as in an explanation read back from a file; null becomes NaN).
class F64Array {
 public:
  explicit F64Array(const Tensor* stored) : stored_(stored) {}
  explicit F64Array(Tensor converted) : converted_(std::move(converted)) {}

  const Tensor& tensor() const { return stored_ != nullptr ? *stored_ : converted_; }
  const double* data() const { return tensor().data<double>(); }
  const Shape& shape() const { return tensor().shape(); }
  int ndim() const { return tensor().ndim(); }
  std::int64_t dim(int i) const { return tensor().dim(i); }
  std::int64_t size() const { return tensor().size(); }
  TensorView view() const { return tensor().view(); }

 private:
  const Tensor* stored_ = nullptr;
  Tensor converted_;
};

struct Explanation {
  std::string kind;       // feature_attribution | surrogate_tree | attention_maps | fairness_report | ...
  std::string step;       // the step id
  std::string explainer;  // "plugin.explainer"
  std::string plugin_name;
  std::string plugin_version;
  nlohmann::json params = nlohmann::json::object();  // canonical params (defaults filled in)
  std::uint64_t seed = 0;
  double elapsed_ms = 0;
  nlohmann::json quality = nlohmann::json::object();  // additivity residual, sampling error, fidelity...
  // Kind-specific fields that are not typed arrays. Holds the intermediate objects of every typed
  // array's path ("stats" for "stats.mean"), so the two never overlap: a path is in one or the other.
  nlohmann::json body = nlohmann::json::object();
  // Typed arrays by dotted field path; f32/f64/i32/i64/u8, row-major, any rank (rank 0: a number).
  std::map<std::string, Tensor> arrays;

  // Sets a kind-specific field, replacing whatever was at `path` (JSON or typed array, and anything
  // under it); intermediate objects are created as needed, as the result builder promises plugins.
  void SetField(const std::string& path, nlohmann::json value);
  void SetArray(const std::string& path, Tensor value);

  // The typed array at `path`, or nullptr when the field is JSON or absent.
  const Tensor* TypedArray(const std::string& path) const;
  // The JSON field at `path` ("quality.x", "params.y" and the provenance fields resolve too), or
  // nullopt when it is absent or is a typed array. A copy: meant for small fields.
  std::optional<nlohmann::json> JsonField(const std::string& path) const;
  // Whether `path` names a field of either form.
  bool Has(const std::string& path) const;
  // The field at `path` as an f64 tensor whether it is typed or still JSON; nullopt when it is absent
  // or not a rectangular array of numbers (and nulls).
  std::optional<F64Array> Array(const std::string& path) const;

  // The kind-specific fields with the typed arrays turned into JSON: for renderers of kinds whose
  // results are small. Large results are read through Array() instead.
  nlohmann::json BodyJson() const;
  // The loupe.explanation/v1 document as a JSON tree (provenance fields, "quality" and the body's
  // fields side by side). Builds every array as JSON nodes: for small explanations and tests; the
  // writers stream instead (report::WriteExplanationJson).
  nlohmann::json ToJson() const;
  // The provenance fields of the document (schema, kind, step, explainer, plugin, params, seed,
  // elapsed_ms, quality) as an object: small.
  nlohmann::json ProvenanceJson() const;
  static Result<Explanation> FromJson(const nlohmann::json& document);
};

// The document keys that belong to the host (provenance and quality); a body field of the same name is
// not written.
bool IsProvenanceKey(std::string_view key);

// A typed array as JSON: nested arrays, NaN and infinities as null, integer dtypes as integers.
nlohmann::json TensorToJson(const Tensor& tensor);

// Checks the kind-specific fields docs/architecture.md §5 promises (shapes of values/base_values/data
// for feature_attribution, ...) on typed shapes without walking arrays. Returns a sentence naming the
// first field that is wrong.
Status ValidateExplanation(const Explanation& explanation);

}  // namespace loupe
