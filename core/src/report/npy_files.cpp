#include "report/npy_files.hpp"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string_view>

#include "report/output_files.hpp"
#include "report/row_spill.hpp"

namespace loupe::report {

std::string NpyDescr(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "<f4";
    case DType::kF64:
      return "<f8";
    case DType::kI32:
      return "<i4";
    case DType::kI64:
      return "<i8";
    case DType::kU8:
      return "|u1";
  }
  return "";
}

namespace {

std::string ShapeTuple(const Shape& shape) {
  std::string tuple = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) tuple += ", ";
    tuple += std::to_string(shape[i]);
  }
  if (shape.size() == 1) tuple += ",";
  return tuple + ")";
}

// Decodes UTF-8 into code points; a byte that does not start a valid sequence becomes U+FFFD.
std::u32string DecodeUtf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    int extra = lead < 0x80           ? 0
                : (lead >> 5) == 0x6  ? 1
                : (lead >> 4) == 0xE  ? 2
                : (lead >> 3) == 0x1E ? 3
                                      : -1;
    char32_t code = extra == 0 ? lead : extra == 1 ? lead & 0x1F : extra == 2 ? lead & 0x0F : lead & 0x07;
    bool valid = extra >= 0 && i + static_cast<std::size_t>(extra) < text.size();
    for (int k = 1; valid && k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]);
      valid = (next & 0xC0) == 0x80;
      code = (code << 6) | (next & 0x3F);
    }
    const char32_t minimum = extra == 1 ? 0x80 : extra == 2 ? 0x800 : extra == 3 ? 0x10000 : 0;
    if (!valid || code < minimum || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      out.push_back(U'\uFFFD');
      ++i;
      continue;
    }
    out.push_back(code);
    i += static_cast<std::size_t>(extra) + 1;
  }
  return out;
}

void PutUtf32(std::ostream& out, const std::u32string& cell, std::size_t width) {
  std::string bytes(width * 4, '\0');
  for (std::size_t c = 0; c < cell.size(); ++c) {
    const auto code = static_cast<std::uint32_t>(cell[c]);
    for (int b = 0; b < 4; ++b)
      bytes[c * 4 + static_cast<std::size_t>(b)] = static_cast<char>((code >> (8 * b)) & 0xFF);
  }
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

// Byte for byte what numpy.save writes (numpy/lib/format.py, _write_array_header and _wrap_header):
// spare spaces after the dict so the first extent can grow in place to 21 digits, then padding to a
// multiple of 64 bytes (1 to 64 spaces) and a newline.
std::string NpyHeader(const std::string& descr, const Shape& shape) {
  constexpr std::size_t kAlign = 64, kGrowthDigits = 21;
  std::string dict =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + ShapeTuple(shape) + ", }";
  if (!shape.empty()) dict.append(kGrowthDigits - std::to_string(shape[0]).size(), ' ');
  const auto wrap = [&](std::size_t length_bytes) {
    const std::size_t preamble = 8 + length_bytes;  // magic (6), version (2), header length
    const std::size_t padding = kAlign - (preamble + dict.size() + 1) % kAlign;
    const std::size_t length = dict.size() + padding + 1;
    std::string header = "\x93NUMPY";
    header.push_back(static_cast<char>(length_bytes == 2 ? 1 : 2));
    header.push_back('\0');
    for (std::size_t b = 0; b < length_bytes; ++b)
      header.push_back(static_cast<char>((length >> (8 * b)) & 0xFF));
    return header + dict + std::string(padding, ' ') + "\n";
  };
  // Version 1.0 holds the header length in 2 bytes; 2.0, for longer headers, in 4.
  const std::string version1 = wrap(2);
  return version1.size() - 10 <= 65535 ? version1 : wrap(4);
}

Status WriteNpy(const std::filesystem::path& path, const Tensor& array) {
  return WriteFileAtomically(path, [&](std::ostream& out) {
    const std::string header = NpyHeader(NpyDescr(array.dtype()), array.shape());
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(static_cast<const char*>(array.raw()), static_cast<std::streamsize>(array.nbytes()));
  });
}

Status WriteNpy(const std::filesystem::path& path, const TextArray& array) {
  std::size_t width = 1;  // numpy's '<U0' is legal but reads back oddly; an empty string is '<U1'
  for (std::int64_t i = 0; i < array.size(); ++i) width = std::max(width, DecodeUtf8(array.at(i)).size());
  return WriteFileAtomically(path, [&](std::ostream& out) {
    const std::string header = NpyHeader("<U" + std::to_string(width), array.shape());
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (std::int64_t i = 0; i < array.size(); ++i) PutUtf32(out, DecodeUtf8(array.at(i)), width);
  });
}

std::size_t NpyCodePoints(std::string_view text) {
  const bool ascii =
      std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  return ascii ? text.size() : DecodeUtf8(text).size();
}

Status WriteNpyFromSpill(const std::filesystem::path& path, const SpilledArray& spilled, std::size_t width) {
  width = std::max<std::size_t>(width, 1);
  std::ifstream in(spilled.file, std::ios::binary);
  if (in) in.seekg(static_cast<std::streamoff>(spilled.offset));
  std::int64_t cells = 1;
  for (const std::int64_t extent : spilled.shape) cells *= extent;
  bool complete = static_cast<bool>(in);
  Status written = WriteFileAtomically(path, [&](std::ostream& out) {
    const std::string header = NpyHeader("<U" + std::to_string(width), spilled.shape);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    std::string cell;
    for (std::int64_t i = 0; complete && i < cells; ++i) {
      unsigned char length[4];
      complete = static_cast<bool>(in.read(reinterpret_cast<char*>(length), 4));
      const std::uint32_t size = std::uint32_t{length[0]} | std::uint32_t{length[1]} << 8 |
                                 std::uint32_t{length[2]} << 16 | std::uint32_t{length[3]} << 24;
      cell.resize(complete ? size : 0);
      if (complete && size > 0) complete = static_cast<bool>(in.read(cell.data(), size));
      if (complete) PutUtf32(out, DecodeUtf8(cell), width);
    }
    if (!complete) out.setstate(std::ios::failbit);  // not put in place
  });
  if (!complete) {
    return IoError("the spill file '" + spilled.file.string() +
                   "' of a streamed step holds fewer rows than " + path.filename().string() + " needs.");
  }
  return written;
}

Status WriteExplanationNpy(const std::filesystem::path& dir, const Explanation& explanation,
                           std::vector<std::filesystem::path>& files, RowSpill* spill) {
  const auto write = [&](const std::string& field, const auto& array) -> Status {
    std::filesystem::path file = dir / (explanation.step + "." + field + ".npy");
    LOUPE_RETURN_IF_ERROR(spill != nullptr && spill->Holds(field) ? spill->WriteNpy(field, file)
                                                                  : WriteNpy(file, array));
    files.push_back(file);
    return Status::Ok();
  };
  for (const auto& [field, array] : explanation.arrays) LOUPE_RETURN_IF_ERROR(write(field, array));
  for (const auto& [field, text] : explanation.texts) LOUPE_RETURN_IF_ERROR(write(field, text));
  return Status::Ok();
}

}  // namespace loupe::report
