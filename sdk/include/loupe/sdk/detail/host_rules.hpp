// The rules every implementation of LoupeHostApi follows, written once: the Loupe host (core/src/plugin)
// and the SDK's mock host (loupe/testing/mock_host.hpp) both call these, so what a plugin's unit tests see
// cannot drift from what the real host does (docs/architecture.md §2, §4). tests/host_conformance runs
// one suite against both hosts.
//
// Header-only, C++17, needs only loupe_plugin.h and nlohmann/json (as the SDK's other headers do).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"

namespace loupe::sdk::detail {

// ---------------------------------------------------------------------------------------------------
// parallel_for: chunk boundaries depend only on (begin, end, grain), never on the thread count.

// The grain a host chooses when a plugin passes grain <= 0: about 64 chunks, each at least one long.
constexpr std::int64_t DefaultGrain(std::int64_t begin, std::int64_t end) {
  return std::max<std::int64_t>(1, (end - begin + 63) / 64);
}

// The grain parallel_for uses: the plugin's when positive, else DefaultGrain.
constexpr std::int64_t EffectiveGrain(std::int64_t begin, std::int64_t end, std::int64_t grain) {
  return grain > 0 ? grain : DefaultGrain(begin, end);
}

// How many chunks [begin, end) splits into at `grain` (> 0); chunk c is
// [begin + c * grain, min(end, begin + (c + 1) * grain)).
constexpr std::int64_t ChunkCount(std::int64_t begin, std::int64_t end, std::int64_t grain) {
  return end <= begin ? 0 : (end - begin + grain - 1) / grain;
}

// The sentence a host records when a parallel_for body fails without calling set_error.
inline constexpr const char* kSilentChunkFailure = "a parallel task failed without saying why.";

// ---------------------------------------------------------------------------------------------------
// Capabilities: the C capabilities a host offers and the newest version of each it builds.

struct CapabilityVersion {
  std::string_view name;    // the LOUPE_*_CAPABILITY name
  std::uint32_t version;    // the newest version of its C layout a host builds
  std::uint32_t abi_minor;  // the plugin ABI minor that added it (see the changelog in loupe_plugin.h)
};

inline constexpr CapabilityVersion kCapabilityVersions[] = {
    {LOUPE_TREE_ENSEMBLE_CAPABILITY, 1, 0},
    {LOUPE_ATTENTION_CAPABILITY, 1, 0},
    {LOUPE_TEXT_CAPABILITY, 1, 0},
    {"hidden_states", 1, 1},  // LOUPE_HIDDEN_STATES_CAPABILITY (v1.1)
    {"head_mask", 1, 1},      // LOUPE_HEAD_MASK_CAPABILITY (v1.1)
    {"gradient", 1, 3},       // LOUPE_GRADIENT_CAPABILITY (v1.3)
    {"row_variants", 1, 4},   // LOUPE_ROW_VARIANTS_CAPABILITY (v1.4)
    {"text_gradient", 1, 5},  // LOUPE_TEXT_GRADIENT_CAPABILITY (v1.5; pad_embeddings v1.6)
};

// The newest version of capability `name` a host builds; 0 for a name no host offers.
constexpr std::uint32_t SupportedCapabilityVersion(std::string_view name) {
  for (const CapabilityVersion& known : kCapabilityVersions) {
    if (known.name == name) return known.version;
  }
  return 0;
}

// Whether a plugin asking for `name` at `version` may be handed it: versions start at 1, and a host hands
// out only versions whose layout it builds.
constexpr bool CapabilityVersionSupported(std::string_view name, std::uint32_t version) {
  return version >= 1 && version <= SupportedCapabilityVersion(name);
}

// ---------------------------------------------------------------------------------------------------
// Results and inputs as JSON (the loupe.explanation/v1 document).

// A finite number, or null for NaN and infinities (JSON has neither).
inline nlohmann::json NumberOrNull(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json();
}

// Element `offset` of a tensor view as a double.
inline double ElementAsDouble(const LoupeTensorView& t, std::int64_t offset) {
  switch (t.dtype) {
    case LOUPE_DTYPE_F32:
      return static_cast<const float*>(t.data)[offset];
    case LOUPE_DTYPE_F64:
      return static_cast<const double*>(t.data)[offset];
    case LOUPE_DTYPE_I32:
      return static_cast<const std::int32_t*>(t.data)[offset];
    case LOUPE_DTYPE_I64:
      return static_cast<double>(static_cast<const std::int64_t*>(t.data)[offset]);
    default:
      return static_cast<const std::uint8_t*>(t.data)[offset];
  }
}

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF):
// what nlohmann's JSON writer accepts, so a string a host stores can always be written.
inline bool IsValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto byte = static_cast<unsigned char>(text[i + k]);
      if (byte < (k == 1 ? low : 0x80) || byte > (k == 1 ? high : 0xBF)) return false;
    }
    i += length;
  }
  return true;
}

// Whether `n` cells laid out as result_set_text_array takes them are acceptable: non-null arrays when
// there are cells, non-decreasing ends, no cell of 4 GiB or more, UTF-8 text.
inline bool AreTextCells(std::int64_t n, const char* chars, const std::uint64_t* ends) {
  if (n == 0) return true;
  if (ends == nullptr || (chars == nullptr && ends[n - 1] > 0)) return false;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint64_t begin = i == 0 ? 0 : ends[i - 1];
    if (ends[i] < begin || ends[i] - begin > 0xFFFFFFFFu) return false;
  }
  return IsValidUtf8(std::string_view(chars == nullptr ? "" : chars, ends[n - 1]));
}

// The number of cells result_set_text_array's arguments describe, or -1 when it refuses them: ndim >= 1,
// no negative extent, and cells AreTextCells accepts.
inline std::int64_t TextArrayCells(std::int32_t ndim, const std::int64_t* shape, const char* chars,
                                   const std::uint64_t* ends) {
  if (ndim < 1 || shape == nullptr) return -1;
  std::int64_t cells = 1;
  for (std::int32_t d = 0; d < ndim; ++d) {
    if (shape[d] < 0) return -1;
    cells *= shape[d];
  }
  return AreTextCells(cells, chars, ends) ? cells : -1;
}

// Whether result_new_tensor accepts its arguments: a known dtype, ndim >= 0, a shape when ndim > 0 with
// no negative extent, somewhere to put the pointer.
inline bool IsNewTensorRequest(LoupeDType dtype, std::int32_t ndim, const std::int64_t* shape, void** data) {
  if (data == nullptr || ndim < 0 || (ndim > 0 && shape == nullptr)) return false;
  if (dtype < LOUPE_DTYPE_F32 || dtype > LOUPE_DTYPE_U8) return false;
  for (std::int32_t d = 0; d < ndim; ++d) {
    if (shape[d] < 0) return false;
  }
  return true;
}

// Whether result_set_tensor accepts `t`: a known dtype, ndim >= 0, data unless it is empty of axes.
inline bool IsStorableTensor(const LoupeTensorView* t) {
  return t != nullptr && t->ndim >= 0 && (t->data != nullptr || t->ndim == 0) &&
         t->dtype >= LOUPE_DTYPE_F32 && t->dtype <= LOUPE_DTYPE_U8;
}

// Axis `dim` of `t` from element `offset` on as nested JSON arrays: integers stay integers, floats become
// numbers (null for NaN and infinities). Honours `strides` (in elements) when set.
inline nlohmann::json TensorToJson(const LoupeTensorView& t, int dim = 0, std::int64_t offset = 0) {
  if (dim == t.ndim) {
    const double v = ElementAsDouble(t, offset);
    if (t.dtype == LOUPE_DTYPE_I32 || t.dtype == LOUPE_DTYPE_I64 || t.dtype == LOUPE_DTYPE_U8) {
      return static_cast<std::int64_t>(v);
    }
    return NumberOrNull(v);
  }
  std::int64_t stride = 1;
  if (t.strides != nullptr) {
    stride = t.strides[dim];
  } else {
    for (int d = dim + 1; d < t.ndim; ++d) stride *= t.shape[d];
  }
  nlohmann::json array = nlohmann::json::array();
  for (std::int64_t i = 0; i < t.shape[dim]; ++i)
    array.push_back(TensorToJson(t, dim + 1, offset + i * stride));
  return array;
}

// Sets root[a][b]... = value for the dotted path "a.b..."; creates objects on the way, replacing values
// that are not objects. The caller refuses an empty path.
inline void SetDottedPath(nlohmann::json& root, std::string_view path, nlohmann::json value) {
  nlohmann::json* node = &root;
  for (;;) {
    const std::size_t dot = path.find('.');
    const std::string key(path.substr(0, dot));
    if (dot == std::string_view::npos || dot + 1 == path.size()) {  // a trailing dot ends the path
      (*node)[key] = std::move(value);
      return;
    }
    nlohmann::json& child = (*node)[key];
    if (!child.is_object()) child = nlohmann::json::object();
    node = &child;
    path.remove_prefix(dot + 1);
  }
}

// The node at dotted path "a.b.c" of `document`, or nullptr; the empty path is the document itself.
inline const nlohmann::json* FindDottedPath(const nlohmann::json& document, std::string_view path) {
  const nlohmann::json* node = &document;
  while (!path.empty()) {
    const std::size_t dot = path.find('.');
    const std::string key(path.substr(0, dot));
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &(*node)[key];
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);  // a trailing dot ends the path: "a." is "a"
  }
  return node;
}

// Appends the numbers of a rectangular numeric JSON array (or a single number) to `flat`, row-major, and
// its extents to `shape`; null becomes NaN. False when `value` is not rectangular or holds a non-number.
inline bool FlattenNumeric(const nlohmann::json& value, std::size_t depth, std::vector<double>& flat,
                           std::vector<std::int64_t>& shape) {
  if (!value.is_array()) {
    if (depth != shape.size()) return false;
    if (value.is_null()) {
      flat.push_back(std::nan(""));
    } else if (value.is_number()) {
      flat.push_back(value.get<double>());
    } else {
      return false;
    }
    return true;
  }
  if (depth == shape.size()) shape.push_back(static_cast<std::int64_t>(value.size()));
  if (depth >= shape.size() || shape[depth] != static_cast<std::int64_t>(value.size())) return false;
  for (const auto& item : value) {
    if (!FlattenNumeric(item, depth + 1, flat, shape)) return false;
  }
  return true;
}

}  // namespace loupe::sdk::detail
