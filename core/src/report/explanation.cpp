#include "loupe/core/explanation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "loupe/sdk/detail/host_rules.hpp"

namespace loupe {
namespace {

const char* const kProvenanceKeys[] = {"schema", "kind", "step",       "explainer", "plugin",
                                       "params", "seed", "elapsed_ms", "quality"};

// "a.b.c" -> {"a", "b", "c"}, split the way the result builder always has (std::getline on '.').
std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream stream(path);
  for (std::string part; std::getline(stream, part, '.');) parts.push_back(std::move(part));
  return parts;
}

// Removes the typed array at `path` and every typed array under it ("path.x...").
template <typename Value>
void EraseArraysAtOrUnder(std::map<std::string, Value>& arrays, const std::string& path) {
  arrays.erase(path);
  const std::string prefix = path + ".";
  for (auto it = arrays.lower_bound(prefix); it != arrays.end() && it->first.starts_with(prefix);) {
    it = arrays.erase(it);
  }
}

// Walks the body along all but the last part, turning what is not an object into one (and dropping the
// typed and string arrays those prefixes named), and drops the typed and string arrays at or under the
// whole path, which the caller is about to set; returns the object that holds the last part and the
// joined path.
nlohmann::json& ParentObject(Explanation& e, const std::vector<std::string>& parts, std::string& joined) {
  nlohmann::json* node = &e.body;
  joined.clear();
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    joined += (i > 0 ? "." : "") + parts[i];
    e.arrays.erase(joined);
    e.texts.erase(joined);
    if (!(*node)[parts[i]].is_object()) (*node)[parts[i]] = nlohmann::json::object();
    node = &(*node)[parts[i]];
  }
  joined += (parts.size() > 1 ? "." : "") + parts.back();
  EraseArraysAtOrUnder(e.arrays, joined);
  EraseArraysAtOrUnder(e.texts, joined);
  return *node;
}

// The node at `parts` under `root`, or nullptr.
const nlohmann::json* FindNode(const nlohmann::json& root, const std::vector<std::string>& parts) {
  const nlohmann::json* node = &root;
  for (const std::string& part : parts) {
    if (!node->is_object()) return nullptr;
    const auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

std::optional<F64Array> JsonToF64(const nlohmann::json& value) {
  std::vector<double> flat;
  Shape shape;
  if (!sdk::detail::FlattenNumeric(value, 0, flat, shape)) return std::nullopt;
  // An empty array's deeper extents are unknown; it is [0] like the JSON it came from.
  return F64Array(Tensor::FromVector(flat, std::move(shape)));
}

template <typename T>
Tensor ConvertToF64(const Tensor& tensor) {
  Tensor out(DType::kF64, tensor.shape());
  const T* in = tensor.data<T>();
  double* to = out.data<double>();
  for (std::int64_t i = 0; i < tensor.size(); ++i) to[i] = static_cast<double>(in[i]);
  return out;
}

Tensor TensorAsF64(const Tensor& tensor) {
  switch (tensor.dtype()) {
    case DType::kF32:
      return ConvertToF64<float>(tensor);
    case DType::kI32:
      return ConvertToF64<std::int32_t>(tensor);
    case DType::kI64:
      return ConvertToF64<std::int64_t>(tensor);
    case DType::kU8:
      return ConvertToF64<std::uint8_t>(tensor);
    case DType::kF64:
      break;
  }
  return tensor;
}

nlohmann::json NumberOrNull(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json();
}

nlohmann::json ElementToJson(const Tensor& t, std::int64_t i) {
  switch (t.dtype()) {
    case DType::kF32:
      return NumberOrNull(static_cast<double>(t.data<float>()[i]));
    case DType::kF64:
      return NumberOrNull(t.data<double>()[i]);
    case DType::kI32:
      return static_cast<std::int64_t>(t.data<std::int32_t>()[i]);
    case DType::kI64:
      return t.data<std::int64_t>()[i];
    case DType::kU8:
      return static_cast<std::int64_t>(t.data<std::uint8_t>()[i]);
  }
  return nullptr;
}

nlohmann::json TensorToJsonFrom(const Tensor& t, int dim, std::int64_t offset, std::int64_t stride) {
  if (dim == t.ndim()) return ElementToJson(t, offset);
  const std::int64_t inner = stride / std::max<std::int64_t>(t.dim(dim), 1);
  nlohmann::json array = nlohmann::json::array();
  for (std::int64_t i = 0; i < t.dim(dim); ++i)
    array.push_back(TensorToJsonFrom(t, dim + 1, offset + i * inner, inner));
  return array;
}

// Inserts into `copy` (the body's node at `start` without its final dot) each array of `arrays` under
// `start`, as JSON.
template <typename Value, typename ToJson>
void InsertArrays(nlohmann::json& copy, const std::string& start, const std::map<std::string, Value>& arrays,
                  ToJson to_json) {
  for (auto it = arrays.lower_bound(start); it != arrays.end() && it->first.starts_with(start); ++it) {
    nlohmann::json* target = &copy;
    const std::vector<std::string> parts = SplitPath(it->first.substr(start.size()));
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) target = &(*target)[parts[i]];
    (*target)[parts.back()] = to_json(it->second);
  }
}

// `node` (the body's node at `prefix`) with the typed and string arrays under `prefix` inserted as JSON.
nlohmann::json Materialize(const nlohmann::json& node, const std::string& prefix, const Explanation& e) {
  nlohmann::json copy = node;
  const std::string start = prefix.empty() ? "" : prefix + ".";
  InsertArrays(copy, start, e.arrays, [](const Tensor& t) { return TensorToJson(t); });
  InsertArrays(copy, start, e.texts, [](const TextArray& t) { return TextToJson(t); });
  return copy;
}

nlohmann::json TextToJsonFrom(const TextArray& t, int dim, std::int64_t offset, std::int64_t stride) {
  if (dim == t.ndim()) return std::string(t.at(offset));
  const std::int64_t inner = stride / std::max<std::int64_t>(t.dim(dim), 1);
  nlohmann::json array = nlohmann::json::array();
  for (std::int64_t i = 0; i < t.dim(dim); ++i)
    array.push_back(TextToJsonFrom(t, dim + 1, offset + i * inner, inner));
  return array;
}

// ---- validation: lengths read from a typed shape or from the JSON ----

// Extent `depth` of the typed or string array `field`, or -1 when it has fewer axes.
long Extent(const Explanation& e, const char* field, std::size_t depth) {
  const Shape& shape = e.TypedArray(field) != nullptr ? e.TypedArray(field)->shape() : e.Text(field)->shape();
  return depth < shape.size() ? static_cast<long>(shape[depth]) : -1;
}

long ArrayLength(const nlohmann::json& value) {
  return value.is_array() ? static_cast<long>(value.size()) : -1;
}

Status RowsMismatch(const char* field, long rows, long found) {
  return InvalidArgument(std::string("'") + field + "' must have " + std::to_string(rows) + " rows, found " +
                         std::to_string(found) + ".");
}
Status ColumnsMismatch(const char* field, long r, long cols, long found) {
  return InvalidArgument(std::string("'") + field + "[" + std::to_string(r) + "]' must have " +
                         std::to_string(cols) + " entries, found " + std::to_string(found) + ".");
}

Status CheckMatrix(const Explanation& e, const char* field, long rows, long cols) {
  if (e.TypedArray(field) != nullptr || e.Text(field) != nullptr) {
    if (Extent(e, field, 0) != rows) return RowsMismatch(field, rows, Extent(e, field, 0));
    if (rows > 0 && Extent(e, field, 1) != cols) return ColumnsMismatch(field, 0, cols, Extent(e, field, 1));
    return Status::Ok();
  }
  const auto it = e.body.find(field);
  if (it == e.body.end())
    return InvalidArgument(std::string("the explanation has no '") + field + "' field.");
  if (ArrayLength(*it) != rows) return RowsMismatch(field, rows, ArrayLength(*it));
  for (long r = 0; r < rows; ++r) {
    if (ArrayLength((*it)[r]) != cols) return ColumnsMismatch(field, r, cols, ArrayLength((*it)[r]));
  }
  return Status::Ok();
}

Status ValuesOutputsMismatch(long r, long outputs, long found) {
  return InvalidArgument("'values[" + std::to_string(r) + "]' must have " + std::to_string(outputs) +
                         " outputs, found " + std::to_string(found) + ".");
}
Status ValuesFeaturesMismatch(long r, long o, long features, long found) {
  return InvalidArgument("'values[" + std::to_string(r) + "][" + std::to_string(o) + "]' must have " +
                         std::to_string(features) + " features, found " + std::to_string(found) + ".");
}

Status CheckValues(const Explanation& e, long rows, long outputs, long features) {
  const Status wrong_rows =
      InvalidArgument("'values' must have one entry per explained row (" + std::to_string(rows) + ").");
  if (e.TypedArray("values") != nullptr) {
    if (Extent(e, "values", 0) != rows) return wrong_rows;
    if (rows > 0 && Extent(e, "values", 1) != outputs)
      return ValuesOutputsMismatch(0, outputs, Extent(e, "values", 1));
    if (rows > 0 && outputs > 0 && Extent(e, "values", 2) != features) {
      return ValuesFeaturesMismatch(0, 0, features, Extent(e, "values", 2));
    }
    return Status::Ok();
  }
  if (ArrayLength(e.body.value("values", nlohmann::json())) != rows) return wrong_rows;
  for (long r = 0; r < rows; ++r) {
    const nlohmann::json& per_row = e.body["values"][r];
    if (ArrayLength(per_row) != outputs) return ValuesOutputsMismatch(r, outputs, ArrayLength(per_row));
    for (long o = 0; o < outputs; ++o) {
      if (ArrayLength(per_row[o]) != features)
        return ValuesFeaturesMismatch(r, o, features, ArrayLength(per_row[o]));
    }
  }
  return Status::Ok();
}

// The length of a one-dimensional list field (JSON or typed), or -1 when it is not an array.
long ListLength(const Explanation& e, const char* field) {
  if (const Tensor* t = e.TypedArray(field)) return t->ndim() >= 1 ? static_cast<long>(t->dim(0)) : -1;
  return ArrayLength(e.body.value(field, nlohmann::json()));
}

Status ValidateFeatureAttribution(const Explanation& e) {
  for (const char* field : {"feature_names", "output_names", "rows"}) {
    if (ListLength(e, field) < 0) {
      return InvalidArgument(std::string("a feature_attribution needs a '") + field + "' array.");
    }
  }
  const long features = ListLength(e, "feature_names");
  const long outputs = ListLength(e, "output_names");
  const long rows = ListLength(e, "rows");
  LOUPE_RETURN_IF_ERROR(CheckMatrix(e, "base_values", rows, outputs));
  LOUPE_RETURN_IF_ERROR(CheckMatrix(e, "data", rows, features));
  return CheckValues(e, rows, outputs, features);
}

}  // namespace

TextArray::TextArray(Shape shape, std::string_view chars, const std::vector<std::uint64_t>& ends)
    : TextArray(std::move(shape), chars.data(), ends.data()) {}

TextArray::TextArray(Shape shape, const char* chars, const std::uint64_t* ends) : shape_(std::move(shape)) {
  std::int64_t cells = 1;
  for (const std::int64_t extent : shape_) cells *= extent;
  AppendCells(cells, chars, ends);
}

std::int64_t TextArray::RowCells() const {
  std::int64_t cells = 1;
  for (std::size_t d = 1; d < shape_.size(); ++d) cells *= shape_[d];
  return cells;
}

void TextArray::AppendRows(std::int64_t n_rows, const char* chars, const std::uint64_t* ends) {
  AppendCells(n_rows * RowCells(), chars, ends);
  shape_[0] += n_rows;
}

// One block per call, split further only where a block's text would pass 4 GiB (its offsets are u32).
void TextArray::AppendCells(std::int64_t n, const char* chars, const std::uint64_t* ends) {
  std::int64_t first = 0;
  while (first < n) {
    const std::uint64_t base = first == 0 ? 0 : ends[first - 1];
    std::int64_t last = first;
    while (last < n && ends[last] - base <= std::numeric_limits<std::uint32_t>::max()) ++last;
    Block block;
    block.first_cell = cells_ + first;
    block.chars.assign(chars + base, ends[last - 1] - base);
    block.ends.reserve(static_cast<std::size_t>(last - first));
    for (std::int64_t i = first; i < last; ++i)
      block.ends.push_back(static_cast<std::uint32_t>(ends[i] - base));
    blocks_.push_back(std::move(block));
    first = last;
  }
  cells_ += n;
}

std::string_view TextArray::at(std::int64_t index) const {
  const auto after = std::upper_bound(blocks_.begin(), blocks_.end(), index,
                                      [](std::int64_t i, const Block& b) { return i < b.first_cell; });
  const Block& block = *(after - 1);
  const auto local = static_cast<std::size_t>(index - block.first_cell);
  const std::uint32_t begin = local == 0 ? 0 : block.ends[local - 1];
  return std::string_view(block.chars).substr(begin, block.ends[local] - begin);
}

bool IsProvenanceKey(std::string_view key) {
  for (const char* k : kProvenanceKeys) {
    if (key == k) return true;
  }
  return false;
}

nlohmann::json TensorToJson(const Tensor& tensor) { return TensorToJsonFrom(tensor, 0, 0, tensor.size()); }
nlohmann::json TextToJson(const TextArray& text) { return TextToJsonFrom(text, 0, 0, text.size()); }

void Explanation::SetField(const std::string& path, nlohmann::json value) {
  const std::vector<std::string> parts = SplitPath(path);
  if (parts.empty()) return;
  std::string joined;
  nlohmann::json& parent = ParentObject(*this, parts, joined);
  parent[parts.back()] = std::move(value);
}

void Explanation::SetArray(const std::string& path, Tensor value) {
  const std::vector<std::string> parts = SplitPath(path);
  if (parts.empty()) return;
  std::string joined;
  nlohmann::json& parent = ParentObject(*this, parts, joined);
  parent.erase(parts.back());
  arrays.insert_or_assign(joined, std::move(value));
}

void Explanation::SetText(const std::string& path, TextArray value) {
  const std::vector<std::string> parts = SplitPath(path);
  if (parts.empty()) return;
  std::string joined;
  nlohmann::json& parent = ParentObject(*this, parts, joined);
  parent.erase(parts.back());
  texts.insert_or_assign(joined, std::move(value));
}

const Tensor* Explanation::TypedArray(const std::string& path) const {
  const auto it = arrays.find(path);
  return it == arrays.end() ? nullptr : &it->second;
}

const TextArray* Explanation::Text(const std::string& path) const {
  const auto it = texts.find(path);
  return it == texts.end() ? nullptr : &it->second;
}

std::optional<nlohmann::json> Explanation::JsonField(const std::string& path) const {
  const std::vector<std::string> parts = SplitPath(path);
  if (parts.empty() || TypedArray(path) != nullptr || Text(path) != nullptr) return std::nullopt;
  if (IsProvenanceKey(parts.front())) {
    const nlohmann::json provenance = ProvenanceJson();
    const nlohmann::json* node = FindNode(provenance, parts);
    return node != nullptr ? std::optional<nlohmann::json>(*node) : std::nullopt;
  }
  const nlohmann::json* node = FindNode(body, parts);
  if (node == nullptr) return std::nullopt;
  return Materialize(*node, path, *this);
}

bool Explanation::Has(const std::string& path) const {
  if (TypedArray(path) != nullptr || Text(path) != nullptr) return true;
  const std::vector<std::string> parts = SplitPath(path);
  if (!parts.empty() && IsProvenanceKey(parts.front())) return JsonField(path).has_value();
  return !parts.empty() && FindNode(body, parts) != nullptr;
}

std::optional<F64Array> Explanation::Array(const std::string& path) const {
  if (const Tensor* typed = TypedArray(path)) {
    if (typed->dtype() == DType::kF64) return F64Array(typed);
    return F64Array(TensorAsF64(*typed));
  }
  const std::vector<std::string> parts = SplitPath(path);
  if (parts.empty()) return std::nullopt;
  if (IsProvenanceKey(parts.front())) {
    const std::optional<nlohmann::json> field = JsonField(path);
    return field ? JsonToF64(*field) : std::nullopt;
  }
  const nlohmann::json* node = FindNode(body, parts);
  if (node == nullptr) return std::nullopt;
  if (node->is_object()) return std::nullopt;  // an object is never a numeric array
  return JsonToF64(*node);
}

nlohmann::json Explanation::BodyJson() const { return Materialize(body, "", *this); }

nlohmann::json Explanation::ProvenanceJson() const {
  nlohmann::json document = nlohmann::json::object();
  document["schema"] = kExplanationSchema;
  document["kind"] = kind;
  document["step"] = step;
  document["explainer"] = explainer;
  document["plugin"] = {{"name", plugin_name}, {"version", plugin_version}};
  document["params"] = params;
  document["seed"] = seed;
  document["elapsed_ms"] = elapsed_ms;
  document["quality"] = quality;
  return document;
}

nlohmann::json Explanation::ToJson() const {
  nlohmann::json document = ProvenanceJson();
  nlohmann::json fields = BodyJson();
  for (auto& [key, value] : fields.items()) {
    if (!IsProvenanceKey(key)) document[key] = std::move(value);
  }
  return document;
}

Result<Explanation> Explanation::FromJson(const nlohmann::json& document) {
  if (!document.is_object()) return InvalidArgument("an explanation must be a JSON object.");
  if (document.value("schema", "") != kExplanationSchema) {
    return InvalidArgument(std::string("an explanation must have \"schema\": \"") + kExplanationSchema +
                           "\", found " + document.value("schema", nlohmann::json()).dump() + ".");
  }
  Explanation e;
  try {
    e.kind = document.at("kind").get<std::string>();
    e.step = document.value("step", "");
    e.explainer = document.value("explainer", "");
    if (const auto plugin = document.find("plugin"); plugin != document.end() && plugin->is_object()) {
      e.plugin_name = plugin->value("name", "");
      e.plugin_version = plugin->value("version", "");
    }
    e.params = document.value("params", nlohmann::json::object());
    e.seed = document.value("seed", std::uint64_t{0});
    e.elapsed_ms = document.value("elapsed_ms", 0.0);
    e.quality = document.value("quality", nlohmann::json::object());
  } catch (const nlohmann::json::exception& error) {
    return InvalidArgument(std::string("malformed explanation: ") + error.what() + ".");
  }
  for (const auto& [key, value] : document.items()) {
    if (!IsProvenanceKey(key)) e.body[key] = value;
  }
  return e;
}

Status ValidateExplanation(const Explanation& explanation) {
  if (explanation.kind.empty()) return InvalidArgument("the explanation has no kind.");
  if (explanation.kind == "feature_attribution") return ValidateFeatureAttribution(explanation);
  return Status::Ok();
}

}  // namespace loupe
