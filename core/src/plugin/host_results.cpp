// The host's inputs (the explanations of the steps a step needs) and its result builder.
//
// Arrays stay typed on both sides (docs/architecture.md §3): result_set_tensor copies the plugin's
// buffer once into a core Tensor, and input_array hands a later step a read-only view of a stored f64
// tensor without copying. JSON is built only for what plugins send as JSON and for input_json.
#include <cmath>
#include <cstring>

#include "loupe/sdk/detail/host_rules.hpp"
#include "plugin/host_context.hpp"
#include "report/output_files.hpp"

namespace loupe::host_detail {
namespace {

const Explanation* Input(LoupeHost* host, std::int64_t index) {
  const auto& inputs = host->request->inputs;
  if (index < 0 || index >= static_cast<std::int64_t>(inputs.size())) return nullptr;
  return inputs[static_cast<std::size_t>(index)];
}

DType CoreDType(LoupeDType dtype) {
  switch (dtype) {
    case LOUPE_DTYPE_F32:
      return DType::kF32;
    case LOUPE_DTYPE_I32:
      return DType::kI32;
    case LOUPE_DTYPE_I64:
      return DType::kI64;
    case LOUPE_DTYPE_U8:
      return DType::kU8;
    default:
      return DType::kF64;
  }
}

// Copies axis `dim` of a strided view (strides in elements) into the row-major `out`.
void CopyStrided(const LoupeTensorView& t, int dim, std::int64_t offset, std::size_t element,
                 std::byte*& out) {
  const auto* in = static_cast<const std::byte*>(t.data);
  if (dim == t.ndim) {
    std::memcpy(out, in + offset * static_cast<std::int64_t>(element), element);
    out += element;
    return;
  }
  for (std::int64_t i = 0; i < t.shape[dim]; ++i)
    CopyStrided(t, dim + 1, offset + i * t.strides[dim], element, out);
}

// The plugin's tensor as a core Tensor: one copy (a memcpy when it is contiguous).
Tensor CopyTensor(const LoupeTensorView& view) {
  Shape shape(view.shape, view.shape + view.ndim);
  Tensor tensor(CoreDType(view.dtype), std::move(shape));
  if (view.data == nullptr) {  // a scalar without data (IsStorableTensor lets it through): no number
    if (tensor.dtype() == DType::kF64) tensor.data<double>()[0] = std::nan("");
    return tensor;
  }
  if (tensor.nbytes() == 0) return tensor;  // an empty tensor has no buffer to copy into
  if (view.strides == nullptr) {
    std::memcpy(tensor.raw(), view.data, tensor.nbytes());
  } else {
    auto* out = static_cast<std::byte*>(tensor.raw());
    CopyStrided(view, 0, 0, DTypeSize(tensor.dtype()), out);
  }
  return tensor;
}

bool HasNegativeExtent(const LoupeTensorView& view) {
  for (int d = 0; d < view.ndim; ++d) {
    if (view.shape == nullptr || view.shape[d] < 0) return true;
  }
  return false;
}

LoupeStatus SetField(LoupeResultBuilder* result, const char* path, nlohmann::json value) {
  if (result == nullptr || path == nullptr || *path == '\0') return LOUPE_ERROR_INVALID_ARGUMENT;
  std::lock_guard<std::mutex> lock(result->mutex);
  result->fields.SetField(path, std::move(value));
  return LOUPE_OK;
}

}  // namespace

std::int64_t InputCount(LoupeHost* host) { return static_cast<std::int64_t>(host->request->inputs.size()); }

const char* InputStep(LoupeHost* host, std::int64_t index) {
  const Explanation* e = Input(host, index);
  return e ? e->step.c_str() : nullptr;
}
const char* InputKind(LoupeHost* host, std::int64_t index) {
  const Explanation* e = Input(host, index);
  return e ? e->kind.c_str() : nullptr;
}
const char* InputJson(LoupeHost* host, std::int64_t index) {
  const Explanation* e = Input(host, index);
  return e ? KeepText(host, report::ExplanationText(*e)) : nullptr;
}

LoupeStatus InputArray(LoupeHost* host, std::int64_t index, const char* path, LoupeTensorView* out) {
  const Explanation* e = Input(host, index);
  if (e == nullptr) return SetError(host, LOUPE_ERROR_NOT_FOUND, "input_array: no input with that index.");
  const std::string field = path ? path : "";
  if (const Tensor* typed = e->TypedArray(field); typed != nullptr && typed->dtype() == DType::kF64) {
    FillView(out, typed->data<double>(), typed->shape().data(), typed->ndim());  // zero-copy, read-only
    return LOUPE_OK;
  }
  std::optional<F64Array> converted = field.empty() ? std::nullopt : e->Array(field);
  if (!converted) {
    if (!field.empty() && !e->Has(field)) {
      return SetError(host, LOUPE_ERROR_NOT_FOUND,
                      ("the explanation of step '" + e->step + "' has no field '" + field + "'.").c_str());
    }
    return SetError(
        host, LOUPE_ERROR_INVALID_ARGUMENT,
        ("field '" + field + "' of step '" + e->step + "' is not a rectangular numeric array.").c_str());
  }
  // Another dtype or a JSON field (an input read back from a file): converted once, kept for the call.
  const int ndim = converted->ndim();
  const std::int64_t* kept_shape =
      Keep(host, host->shape_buffers, std::vector<std::int64_t>(converted->shape()));
  std::vector<double> flat(converted->data(), converted->data() + converted->size());
  FillView(out, Keep(host, host->array_buffers, std::move(flat)), kept_shape, ndim);
  return LOUPE_OK;
}

LoupeStatus ResultSetNumber(LoupeResultBuilder* result, const char* path, double value) {
  return SetField(result, path, sdk::detail::NumberOrNull(value));
}
LoupeStatus ResultSetString(LoupeResultBuilder* result, const char* path, const char* value) {
  if (value == nullptr) return LOUPE_ERROR_INVALID_ARGUMENT;
  return SetField(result, path, value);
}
LoupeStatus ResultSetStrings(LoupeResultBuilder* result, const char* path, const char* const* values,
                             std::int64_t n) {
  nlohmann::json array = nlohmann::json::array();
  for (std::int64_t i = 0; i < n; ++i) {
    if (values[i] == nullptr) return LOUPE_ERROR_INVALID_ARGUMENT;
    array.push_back(values[i]);
  }
  return SetField(result, path, std::move(array));
}

LoupeStatus ResultSetTensor(LoupeResultBuilder* result, const char* path, const LoupeTensorView* value) {
  if (!sdk::detail::IsStorableTensor(value) || HasNegativeExtent(*value)) return LOUPE_ERROR_INVALID_ARGUMENT;
  if (result == nullptr || path == nullptr || *path == '\0') return LOUPE_ERROR_INVALID_ARGUMENT;
  Tensor tensor = CopyTensor(*value);  // outside the lock: other threads may set other fields meanwhile
  std::lock_guard<std::mutex> lock(result->mutex);
  result->fields.SetArray(path, std::move(tensor));
  return LOUPE_OK;
}

LoupeStatus ResultNewTensor(LoupeResultBuilder* result, const char* path, LoupeDType dtype, std::int32_t ndim,
                            const std::int64_t* shape, void** data) {
  if (!sdk::detail::IsNewTensorRequest(dtype, ndim, shape, data)) return LOUPE_ERROR_INVALID_ARGUMENT;
  if (result == nullptr || path == nullptr || *path == '\0') return LOUPE_ERROR_INVALID_ARGUMENT;
  Tensor tensor(CoreDType(dtype), Shape(shape, shape + ndim));  // zero-filled; its buffer never moves
  void* const first = tensor.nbytes() > 0 ? tensor.raw() : nullptr;
  std::lock_guard<std::mutex> lock(result->mutex);
  result->fields.SetArray(path, std::move(tensor));
  *data = first;
  return LOUPE_OK;
}

LoupeStatus ResultSetJson(LoupeResultBuilder* result, const char* path, const char* json) {
  nlohmann::json value = nlohmann::json::parse(json ? json : "", nullptr, false);
  if (value.is_discarded()) return LOUPE_ERROR_INVALID_ARGUMENT;
  return SetField(result, path, std::move(value));
}

LoupeStatus ResultSetTextArray(LoupeResultBuilder* result, const char* path, std::int32_t ndim,
                               const std::int64_t* shape, const char* chars, const std::uint64_t* ends) {
  if (result == nullptr || path == nullptr || *path == '\0') return LOUPE_ERROR_INVALID_ARGUMENT;
  const std::int64_t cells = sdk::detail::TextArrayCells(ndim, shape, chars, ends);
  if (cells < 0) return LOUPE_ERROR_INVALID_ARGUMENT;
  TextArray text(Shape(shape, shape + ndim), chars, ends);  // copied outside the lock, as tensors are
  std::lock_guard<std::mutex> lock(result->mutex);
  result->fields.SetText(path, std::move(text));
  return LOUPE_OK;
}

LoupeStatus ResultAppendTextRows(LoupeResultBuilder* result, const char* path, std::int64_t n_rows,
                                 const char* chars, const std::uint64_t* ends) {
  if (result == nullptr || path == nullptr || n_rows < 0) return LOUPE_ERROR_INVALID_ARGUMENT;
  std::lock_guard<std::mutex> lock(result->mutex);  // the array may grow from several threads
  const auto text = result->fields.texts.find(path);
  if (text == result->fields.texts.end()) return LOUPE_ERROR_NOT_FOUND;
  if (!sdk::detail::AreTextCells(n_rows * text->second.RowCells(), chars, ends))
    return LOUPE_ERROR_INVALID_ARGUMENT;
  text->second.AppendRows(n_rows, chars, ends);
  return LOUPE_OK;
}

}  // namespace loupe::host_detail
