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
#include <vector>

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

// A rectangular array of strings (rank >= 1), held as blocks of rows: each block one character buffer
// and the end offset of each of its cells (row-major, relative to the block, 4 bytes a cell). A million
// rows of feature_attribution's `data` cost their characters plus 4 bytes a cell, where one std::string
// or JSON node per cell costs ~50. Set by result_set_text_array and grown by result_append_text_rows,
// each call one block (so appending never copies what is already held).
class TextArray {
 public:
  TextArray() = default;
  // `shape` with its cells laid out as result_set_text_array takes them: cell i is chars[ends[i-1],
  // ends[i]) (ends[-1] = 0), one non-decreasing offset per cell. Copies.
  TextArray(Shape shape, std::string_view chars, const std::vector<std::uint64_t>& ends);
  TextArray(Shape shape, const char* chars, const std::uint64_t* ends);

  // Appends `n_rows` rows (along axis 0) laid out as above; each row has RowCells() cells.
  void AppendRows(std::int64_t n_rows, const char* chars, const std::uint64_t* ends);

  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  std::int64_t dim(int axis) const { return shape_[static_cast<std::size_t>(axis)]; }
  std::int64_t size() const { return cells_; }
  // Cells per row: the product of the extents after the first.
  std::int64_t RowCells() const;
  // Cell `index` in row-major order.
  std::string_view at(std::int64_t index) const;

 private:
  struct Block {
    std::int64_t first_cell = 0;
    std::string chars;
    std::vector<std::uint32_t> ends;  // relative to `chars`
  };
  void AppendCells(std::int64_t n, const char* chars, const std::uint64_t* ends);

  Shape shape_;
  std::vector<Block> blocks_;
  std::int64_t cells_ = 0;
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
  // String arrays by dotted field path (rank >= 1). A path is in at most one of body, arrays and texts.
  std::map<std::string, TextArray> texts;

  // Sets a kind-specific field, replacing whatever was at `path` (JSON or typed array, and anything
  // under it); intermediate objects are created as needed, as the result builder promises plugins.
  void SetField(const std::string& path, nlohmann::json value);
  void SetArray(const std::string& path, Tensor value);
  void SetText(const std::string& path, TextArray value);

  // The typed array at `path`, or nullptr when the field is JSON or absent.
  const Tensor* TypedArray(const std::string& path) const;
  // The string array at `path`, or nullptr.
  const TextArray* Text(const std::string& path) const;
  // Whether any field is held typed (arrays or texts) rather than as JSON.
  bool HasTypedFields() const { return !arrays.empty() || !texts.empty(); }
  // The JSON field at `path` ("quality.x", "params.y" and the provenance fields resolve too), or
  // nullopt when it is absent or is a typed or string array. A copy: meant for small fields.
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
// A string array as nested JSON arrays of strings.
nlohmann::json TextToJson(const TextArray& text);

// Checks the kind-specific fields docs/architecture.md §5 promises (shapes of values/base_values/data
// for feature_attribution, ...) on typed shapes without walking arrays. Returns a sentence naming the
// first field that is wrong.
Status ValidateExplanation(const Explanation& explanation);

}  // namespace loupe
