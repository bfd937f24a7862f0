#include "model/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include <nlohmann/json.hpp>

namespace loupe::model {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

using nlohmann::json;

std::size_t ElementSize(SafeDType dtype) {
  switch (dtype) {
    case SafeDType::kF16:
    case SafeDType::kBF16:
      return 2;
    case SafeDType::kF32:
      return 4;
    case SafeDType::kF64:
    case SafeDType::kI64:
      return 8;
  }
  return 1;
}

bool ParseDType(const std::string& text, SafeDType& dtype) {
  static const std::pair<const char*, SafeDType> kNames[] = {{"F32", SafeDType::kF32},
                                                             {"F16", SafeDType::kF16},
                                                             {"BF16", SafeDType::kBF16},
                                                             {"F64", SafeDType::kF64},
                                                             {"I64", SafeDType::kI64}};
  for (const auto& [name, value] : kNames) {
    if (text == name) {
      dtype = value;
      return true;
    }
  }
  return false;
}

float HalfToFloat(std::uint16_t h) {
  const std::uint32_t sign = (h >> 15) & 1u, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero and subnormals
  } else if (exponent == 31) {
    magnitude = mantissa == 0 ? INFINITY : NAN;
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
  }
  return sign ? -magnitude : magnitude;
}

template <typename T>
T Load(const std::uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// "'FILE' tensor 'NAME'": how every message about one tensor starts.
std::string About(const std::string& file, const std::string& name) {
  return "'" + file + "' tensor '" + name + "'";
}

Result<SafeTensorInfo> ReadEntry(const std::string& file, const std::string& name, const json& entry,
                                 std::uint64_t data_size) {
  const bool well_formed =
      entry.is_object() && entry.contains("dtype") && entry["dtype"].is_string() && entry.contains("shape") &&
      entry["shape"].is_array() && entry.contains("data_offsets") && entry["data_offsets"].is_array() &&
      entry["data_offsets"].size() == 2 && entry["data_offsets"][0].is_number_unsigned() &&
      entry["data_offsets"][1].is_number_unsigned() &&
      std::all_of(entry["shape"].begin(), entry["shape"].end(),
                  [](const json& d) { return d.is_number_unsigned(); });
  if (!well_formed) {
    return InvalidArgument(About(file, name) +
                           " must be {dtype, shape, data_offsets: [begin, end]} with "
                           "non-negative integers, found " +
                           entry.dump() + ".");
  }
  SafeTensorInfo info;
  info.name = name;
  const std::string dtype = entry["dtype"].get<std::string>();
  if (!ParseDType(dtype, info.dtype)) {
    return InvalidArgument(About(file, name) + " has dtype '" + dtype +
                           "', expected one of F32, F16, BF16, F64, I64.");
  }
  info.begin = entry["data_offsets"][0].get<std::uint64_t>();
  info.end = entry["data_offsets"][1].get<std::uint64_t>();
  const std::string range = "[" + std::to_string(info.begin) + ", " + std::to_string(info.end) + "]";
  if (info.begin > info.end) {
    return InvalidArgument(About(file, name) + " has data_offsets " + range + ", expected begin <= end.");
  }
  if (info.end > data_size) {
    return InvalidArgument("'" + file + "' is truncated: tensor '" + name + "' has data_offsets " + range +
                           " but the data section has only " + std::to_string(data_size) + " bytes.");
  }
  const std::size_t element = ElementSize(info.dtype);
  // The element count, computed so that it cannot overflow, here or in NumElements(): the product of the
  // non-zero dimensions (unsigned 64-bit in the file), and its size in bytes, must fit in an int64.
  const bool empty = std::any_of(entry["shape"].begin(), entry["shape"].end(),
                                 [](const json& d) { return d.get<std::uint64_t>() == 0; });
  const std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / element;
  std::uint64_t product = 1;
  for (const json& d : entry["shape"]) {
    const auto extent = d.get<std::uint64_t>();
    if (extent != 0 && extent > limit / product) {
      return InvalidArgument(About(file, name) + " has shape " + entry["shape"].dump() +
                             ", more elements than an int64 can count.");
    }
    if (extent != 0) product *= extent;
    info.shape.push_back(static_cast<std::int64_t>(extent));
  }
  const std::uint64_t count = empty ? 0 : product;
  const std::uint64_t expected = count * element;
  if (info.end - info.begin != expected) {
    return InvalidArgument(About(file, name) + " has " + std::to_string(info.end - info.begin) +
                           " bytes, expected " + std::to_string(expected) + " for " + dtype + " " +
                           ShapeToString(info.shape) + ".");
  }
  if (info.begin % element != 0) {
    return InvalidArgument(About(file, name) + " starts at byte " + std::to_string(info.begin) +
                           " of the data section, which is not a multiple of its " + std::to_string(element) +
                           "-byte " + dtype + " elements.");
  }
  return info;
}

Status CheckNoOverlap(const std::string& file, const std::map<std::string, SafeTensorInfo>& tensors) {
  std::vector<const SafeTensorInfo*> by_offset;
  for (const auto& [name, info] : tensors) {
    if (info.end > info.begin) by_offset.push_back(&info);  // empty tensors occupy no bytes
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafeTensorInfo* a, const SafeTensorInfo* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const SafeTensorInfo& a = *by_offset[i - 1];
    const SafeTensorInfo& b = *by_offset[i];
    if (b.begin < a.end) {
      return InvalidArgument("'" + file + "' tensors '" + a.name + "' [" + std::to_string(a.begin) + ", " +
                             std::to_string(a.end) + ") and '" + b.name + "' [" + std::to_string(b.begin) +
                             ", " + std::to_string(b.end) + ") overlap.");
    }
  }
  return Status::Ok();
}

}  // namespace

const char* SafeDTypeName(SafeDType dtype) {
  switch (dtype) {
    case SafeDType::kF32:
      return "F32";
    case SafeDType::kF16:
      return "F16";
    case SafeDType::kBF16:
      return "BF16";
    case SafeDType::kF64:
      return "F64";
    case SafeDType::kI64:
      return "I64";
  }
  return "?";
}

Result<SafetensorsFile> SafetensorsFile::Open(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot open the weights file '" + path.string() + "'.");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return IoError("reading the weights file '" + path.string() + "' failed.");
  return Parse(std::move(bytes), path.string());
}

Result<SafetensorsFile> SafetensorsFile::Parse(std::vector<std::uint8_t> bytes, const std::string& file) {
  if (bytes.size() < 8) {
    return InvalidArgument("'" + file + "' is not a safetensors file: it has " +
                           std::to_string(bytes.size()) + " bytes, fewer than the 8-byte header length.");
  }
  const auto header_size = Load<std::uint64_t>(bytes.data());
  if (header_size > bytes.size() - 8) {
    return InvalidArgument("'" + file + "' declares a safetensors header of " + std::to_string(header_size) +
                           " bytes but only " + std::to_string(bytes.size() - 8) +
                           " bytes follow the header length.");
  }
  const json header =
      json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_size), nullptr,
                  /*allow_exceptions=*/false);
  if (!header.is_object()) {
    return InvalidArgument("'" + file + "' has a safetensors header that is not a JSON object.");
  }
  SafetensorsFile result;
  result.file_ = file;
  result.data_start_ = 8 + static_cast<std::size_t>(header_size);
  const std::uint64_t data_size = bytes.size() - result.data_start_;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      for (const auto& [key, value] : entry.items()) {
        result.metadata_[key] = value.is_string() ? value.get<std::string>() : value.dump();
      }
      continue;
    }
    LOUPE_ASSIGN_OR_RETURN(result.tensors_[name], ReadEntry(file, name, entry, data_size));
  }
  LOUPE_RETURN_IF_ERROR(CheckNoOverlap(file, result.tensors_));
  result.bytes_ = std::move(bytes);
  return result;
}

const SafeTensorInfo* SafetensorsFile::Find(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::vector<std::string> SafetensorsFile::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, info] : tensors_) names.push_back(name);
  return names;
}

Result<std::vector<float>> SafetensorsFile::Floats(const std::string& name) const {
  const SafeTensorInfo* info = Find(name);
  if (info == nullptr) return NotFound("'" + file_ + "' has no tensor '" + name + "'.");
  if (!info->floating()) {
    return InvalidArgument(About(file_, name) + " has dtype " + SafeDTypeName(info->dtype) +
                           ", expected a floating-point dtype (F32, F16, BF16 or F64).");
  }
  const std::uint8_t* p = bytes_.data() + data_start_ + info->begin;
  std::vector<float> values(static_cast<std::size_t>(NumElements(info->shape)));
  for (std::size_t i = 0; i < values.size(); ++i) {
    switch (info->dtype) {
      case SafeDType::kF32:
        values[i] = Load<float>(p + 4 * i);
        break;
      case SafeDType::kF64:
        values[i] = static_cast<float>(Load<double>(p + 8 * i));
        break;
      case SafeDType::kF16:
        values[i] = HalfToFloat(Load<std::uint16_t>(p + 2 * i));
        break;
      case SafeDType::kBF16:
        values[i] = std::bit_cast<float>(static_cast<std::uint32_t>(Load<std::uint16_t>(p + 2 * i)) << 16);
        break;
      case SafeDType::kI64:
        break;
    }
  }
  return values;
}

Result<std::vector<std::int64_t>> SafetensorsFile::Int64s(const std::string& name) const {
  const SafeTensorInfo* info = Find(name);
  if (info == nullptr) return NotFound("'" + file_ + "' has no tensor '" + name + "'.");
  if (info->dtype != SafeDType::kI64) {
    return InvalidArgument(About(file_, name) + " has dtype " + SafeDTypeName(info->dtype) +
                           ", expected I64.");
  }
  const std::uint8_t* p = bytes_.data() + data_start_ + info->begin;
  std::vector<std::int64_t> values(static_cast<std::size_t>(NumElements(info->shape)));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = Load<std::int64_t>(p + 8 * i);
  return values;
}

}  // namespace loupe::model
