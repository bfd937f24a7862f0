// A reader of the safetensors format (https://github.com/huggingface/safetensors), written here rather
// than linked: 8-byte little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the raw
// little-endian tensor bytes, offsets relative to the end of the header.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "loupe/core/status.hpp"
#include "loupe/core/tensor.hpp"

namespace loupe::model {

enum class SafeDType { kF32, kF16, kBF16, kF64, kI64 };

const char* SafeDTypeName(SafeDType dtype);  // "F32", ... as in the file

struct SafeTensorInfo {
  std::string name;
  SafeDType dtype = SafeDType::kF32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;  // byte range within the data section

  bool floating() const { return dtype != SafeDType::kI64; }
};

class SafetensorsFile {
 public:
  // Reads and validates the whole file; every problem is one sentence naming the file and the tensor.
  static Result<SafetensorsFile> Open(const std::filesystem::path& path);
  // The same from bytes in memory; `file` names them in messages.
  static Result<SafetensorsFile> Parse(std::vector<std::uint8_t> bytes, const std::string& file);

  const std::string& file() const { return file_; }
  const SafeTensorInfo* Find(const std::string& name) const;
  std::vector<std::string> Names() const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // A floating-point tensor (F32, F16, BF16, F64) converted to f32; an I64 tensor is an error naming it.
  Result<std::vector<float>> Floats(const std::string& name) const;
  // An I64 tensor (token ids, say).
  Result<std::vector<std::int64_t>> Int64s(const std::string& name) const;

 private:
  std::string file_;
  std::vector<std::uint8_t> bytes_;
  std::size_t data_start_ = 0;
  std::map<std::string, SafeTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace loupe::model
