#include "pipeline/explanation_wire.hpp"

#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

namespace loupe::wire {
namespace {

// The bytes `shape` takes at `element_size` each, or nullopt when an extent is negative or the product
// exceeds `limit` (checked factor by factor, so a hostile shape cannot overflow).
std::optional<std::uint64_t> BytesWithin(const Shape& shape, std::uint64_t element_size,
                                         std::uint64_t limit) {
  std::uint64_t bytes = element_size;
  for (const std::int64_t extent : shape) {
    if (extent < 0) return std::nullopt;
    if (extent != 0 && bytes > limit / static_cast<std::uint64_t>(extent)) return std::nullopt;
    bytes *= static_cast<std::uint64_t>(extent);
  }
  if (bytes > limit) return std::nullopt;
  return bytes;
}

Result<Tensor> ReadTypedArray(const nlohmann::json& array, PayloadReader& payload) {
  const int dtype = array.at("dtype").get<int>();
  if (dtype < 0 || dtype > static_cast<int>(DType::kU8)) return Internal("an array has an unknown dtype");
  const Shape shape = array.at("shape").get<Shape>();
  if (!BytesWithin(shape, DTypeSize(static_cast<DType>(dtype)), payload.left()))
    return Internal("its arrays are shorter than their shapes say");
  Tensor tensor(static_cast<DType>(dtype), shape);
  if (!payload.Read(tensor.raw(), tensor.nbytes()))
    return Internal("its arrays are shorter than their shapes say");
  return tensor;
}

Result<TextArray> ReadTextArray(const nlohmann::json& text, PayloadReader& payload) {
  const Shape shape = text.at("shape").get<Shape>();
  const auto chars_size = text.at("chars").get<std::uint64_t>();
  const auto ends_bytes = BytesWithin(shape, sizeof(std::uint64_t), payload.left());
  if (!ends_bytes || chars_size > payload.left() - *ends_bytes)
    return Internal("its string arrays are shorter than their shapes say");
  std::vector<std::uint64_t> ends(*ends_bytes / sizeof(std::uint64_t));
  std::string chars(chars_size, '\0');
  if (!payload.Read(ends.data(), *ends_bytes) || !payload.Read(chars.data(), chars.size()))
    return Internal("its string arrays are shorter than their shapes say");
  for (std::size_t i = 0; i < ends.size(); ++i) {
    if (ends[i] > chars_size || (i > 0 && ends[i] < ends[i - 1]))
      return Internal("a string array is malformed");
  }
  return TextArray(shape, chars, ends);
}

}  // namespace

EncodedExplanation EncodeExplanation(const Explanation& e) {
  EncodedExplanation encoded;
  nlohmann::json arrays = nlohmann::json::array();
  for (const auto& [path, tensor] : e.arrays) {
    arrays.push_back(
        {{"path", path}, {"dtype", static_cast<int>(tensor.dtype())}, {"shape", tensor.shape()}});
    encoded.payload_bytes += tensor.nbytes();
  }
  nlohmann::json texts = nlohmann::json::array();
  for (const auto& [path, text] : e.texts) {
    auto& [ends, chars] = encoded.texts.emplace_back();
    for (std::int64_t i = 0; i < text.size(); ++i) {
      chars += text.at(i);
      ends.push_back(chars.size());
    }
    texts.push_back({{"path", path}, {"shape", text.shape()}, {"chars", chars.size()}});
    encoded.payload_bytes += ends.size() * sizeof(std::uint64_t) + chars.size();
  }
  const nlohmann::json meta = {{"kind", e.kind},
                               {"step", e.step},
                               {"explainer", e.explainer},
                               {"plugin", {e.plugin_name, e.plugin_version}},
                               {"params", e.params},
                               {"seed", e.seed},
                               {"elapsed_ms", e.elapsed_ms},
                               {"quality", e.quality},
                               {"body", e.body},
                               {"arrays", arrays},
                               {"texts", texts}};
  encoded.meta = nlohmann::json::to_cbor(meta);
  return encoded;
}

bool WritePayload(const Explanation& e, const EncodedExplanation& encoded,
                  const std::function<bool(const void* data, std::uint64_t size)>& write) {
  for (const auto& [path, tensor] : e.arrays) {
    if (!write(tensor.raw(), tensor.nbytes())) return false;
  }
  for (const auto& [ends, chars] : encoded.texts) {
    if (!write(ends.data(), ends.size() * sizeof(std::uint64_t)) || !write(chars.data(), chars.size()))
      return false;
  }
  return true;
}

Result<Explanation> DecodeExplanation(std::span<const std::uint8_t> meta_bytes, PayloadReader& payload) {
  const nlohmann::json meta = nlohmann::json::from_cbor(meta_bytes.begin(), meta_bytes.end(), true, false);
  if (meta.is_discarded() || !meta.is_object()) return Internal("its metadata is not valid CBOR");
  Explanation e;
  try {
    e.kind = meta.at("kind").get<std::string>();
    e.step = meta.at("step").get<std::string>();
    e.explainer = meta.at("explainer").get<std::string>();
    e.plugin_name = meta.at("plugin").at(0).get<std::string>();
    e.plugin_version = meta.at("plugin").at(1).get<std::string>();
    e.params = meta.at("params");
    e.seed = meta.at("seed").get<std::uint64_t>();
    e.elapsed_ms = meta.at("elapsed_ms").get<double>();
    e.quality = meta.at("quality");
    e.body = meta.at("body");
    for (const nlohmann::json& array : meta.at("arrays")) {
      LOUPE_ASSIGN_OR_RETURN(Tensor tensor, ReadTypedArray(array, payload));
      e.arrays.emplace(array.at("path").get<std::string>(), std::move(tensor));
    }
    for (const nlohmann::json& text : meta.at("texts")) {
      LOUPE_ASSIGN_OR_RETURN(TextArray decoded, ReadTextArray(text, payload));
      e.texts.emplace(text.at("path").get<std::string>(), std::move(decoded));
    }
  } catch (const nlohmann::json::exception& error) {
    return Internal(std::string("its metadata is incomplete (") + error.what() + ")");
  }
  if (payload.left() != 0) return Internal("it holds more array bytes than its shapes say");
  return e;
}

}  // namespace loupe::wire
