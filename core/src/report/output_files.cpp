#include "report/output_files.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string_view>
#include <vector>

namespace loupe::report {
namespace {

// Text is collected in a buffer and handed to the stream a megabyte at a time: one virtual call per
// chunk instead of one per number.
class BufferedOut {
 public:
  explicit BufferedOut(std::ostream& out) : out_(out) { buffer_.reserve(kChunk + 128); }
  ~BufferedOut() { Flush(); }
  BufferedOut(const BufferedOut&) = delete;
  BufferedOut& operator=(const BufferedOut&) = delete;

  void Put(char c) {
    buffer_.push_back(c);
    if (buffer_.size() >= kChunk) Flush();
  }
  void Put(std::string_view text) {
    buffer_.append(text);
    if (buffer_.size() >= kChunk) Flush();
  }
  // A JSON value through nlohmann's own serializer, straight to the stream.
  void Json(const nlohmann::json& value) {
    Flush();
    out_ << value;
  }
  // A double as nlohmann::json::dump() writes it (null when not finite).
  void Double(double value) {
    if (!std::isfinite(value)) return Put("null");
    char text[64];
    const char* end = nlohmann::detail::to_chars(text, text + sizeof(text), value);
    Put(std::string_view(text, static_cast<std::size_t>(end - text)));
  }
  void Integer(std::int64_t value) {
    char text[24];
    const auto result = std::to_chars(text, text + sizeof(text), value);
    Put(std::string_view(text, static_cast<std::size_t>(result.ptr - text)));
  }
  void Flush() {
    out_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    buffer_.clear();
  }
  // The first failure to read a spill file (the document is then incomplete).
  void Fail(Status status) {
    if (error.ok()) error = std::move(status);
  }
  Status error;

 private:
  static constexpr std::size_t kChunk = std::size_t{1} << 20;
  std::ostream& out_;
  std::string buffer_;
};

template <typename T>
void PutElement(BufferedOut& out, T value) {
  if constexpr (std::is_floating_point_v<T>) {
    out.Double(static_cast<double>(value));
  } else {
    out.Integer(static_cast<std::int64_t>(value));
  }
}

// Dimensions [dim, ndim) of `data` (row-major) as nested JSON arrays.
template <typename T>
void PutDims(BufferedOut& out, const T* data, const Shape& shape, std::size_t dim) {
  out.Put('[');
  std::int64_t inner = 1;
  for (std::size_t d = dim + 1; d < shape.size(); ++d) inner *= shape[d];
  for (std::int64_t i = 0; i < shape[dim]; ++i) {
    if (i > 0) out.Put(',');
    if (dim + 1 == shape.size()) {
      PutElement(out, data[i]);
    } else {
      PutDims(out, data + i * inner, shape, dim + 1);
    }
  }
  out.Put(']');
}

template <typename T>
void PutTensorAs(BufferedOut& out, const Tensor& tensor) {
  if (tensor.ndim() == 0) return PutElement(out, tensor.data<T>()[0]);
  PutDims(out, tensor.data<T>(), tensor.shape(), 0);
}

void PutTensor(BufferedOut& out, const Tensor& tensor) {
  switch (tensor.dtype()) {
    case DType::kF32:
      return PutTensorAs<float>(out, tensor);
    case DType::kF64:
      return PutTensorAs<double>(out, tensor);
    case DType::kI32:
      return PutTensorAs<std::int32_t>(out, tensor);
    case DType::kI64:
      return PutTensorAs<std::int64_t>(out, tensor);
    case DType::kU8:
      return PutTensorAs<std::uint8_t>(out, tensor);
  }
}

// A string as nlohmann's dump() writes it; the host accepted only UTF-8 (result_set_text_array), and
// only quotes, backslashes and control characters need escapes.
void PutJsonString(BufferedOut& out, std::string_view text) {
  const bool plain = std::none_of(text.begin(), text.end(), [](char c) {
    return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  });
  if (!plain) return out.Put(nlohmann::json(std::string(text)).dump());
  out.Put('"');
  out.Put(text);
  out.Put('"');
}

// Axes [dim, ndim) of the string array from cell `offset` on, as nested JSON arrays of strings.
void PutTextDims(BufferedOut& out, const TextArray& text, int dim, std::int64_t offset) {
  out.Put('[');
  std::int64_t inner = 1;
  for (int d = dim + 1; d < text.ndim(); ++d) inner *= text.dim(d);
  for (std::int64_t i = 0; i < text.dim(dim); ++i) {
    if (i > 0) out.Put(',');
    if (dim + 1 == text.ndim()) {
      PutJsonString(out, text.at(offset + i));
    } else {
      PutTextDims(out, text, dim + 1, offset + i * inner);
    }
  }
  out.Put(']');
}

// A row of typed elements (`count` of them from `data`, laid out as `shape`), for a spilled field.
void PutTypedRow(BufferedOut& out, DType dtype, const void* data, const Shape& shape) {
  switch (dtype) {
    case DType::kF32:
      return shape.empty() ? PutElement(out, *static_cast<const float*>(data))
                           : PutDims(out, static_cast<const float*>(data), shape, 0);
    case DType::kF64:
      return shape.empty() ? PutElement(out, *static_cast<const double*>(data))
                           : PutDims(out, static_cast<const double*>(data), shape, 0);
    case DType::kI32:
      return shape.empty() ? PutElement(out, *static_cast<const std::int32_t*>(data))
                           : PutDims(out, static_cast<const std::int32_t*>(data), shape, 0);
    case DType::kI64:
      return shape.empty() ? PutElement(out, *static_cast<const std::int64_t*>(data))
                           : PutDims(out, static_cast<const std::int64_t*>(data), shape, 0);
    case DType::kU8:
      return shape.empty() ? PutElement(out, *static_cast<const std::uint8_t*>(data))
                           : PutDims(out, static_cast<const std::uint8_t*>(data), shape, 0);
  }
}

// A spilled field's rows from its file, a block of rows (about a megabyte) at a time, as PutTensor or
// PutTextDims writes the whole array.
void PutSpilled(BufferedOut& out, const SpilledArray& spilled) {
  std::ifstream in(spilled.file, std::ios::binary);
  if (in) in.seekg(static_cast<std::streamoff>(spilled.offset));
  const auto cut_short = [&] {
    out.Fail(IoError("the spill file '" + spilled.file.string() +
                     "' of a streamed step holds fewer rows than it was given."));
  };
  if (!in) return cut_short();
  const Shape row_shape(spilled.shape.begin() + 1, spilled.shape.end());
  std::int64_t row_cells = 1;
  for (const std::int64_t extent : row_shape) row_cells *= extent;
  const std::int64_t rows = spilled.shape.empty() ? 0 : spilled.shape[0];
  out.Put('[');
  if (!spilled.text) {
    const auto row_bytes = static_cast<std::int64_t>(DTypeSize(spilled.dtype)) * row_cells;
    const std::int64_t block_rows =
        std::max<std::int64_t>(1, (std::int64_t{1} << 20) / std::max<std::int64_t>(row_bytes, 1));
    Tensor block(spilled.dtype, {block_rows * std::max<std::int64_t>(row_cells, 1)});
    for (std::int64_t r = 0; r < rows; r += block_rows) {
      const std::int64_t n = std::min(block_rows, rows - r);
      if (!in.read(static_cast<char*>(block.raw()), static_cast<std::streamsize>(n * row_bytes)))
        return cut_short();
      for (std::int64_t i = 0; i < n; ++i) {
        if (r + i > 0) out.Put(',');
        PutTypedRow(out, spilled.dtype, static_cast<const char*>(block.raw()) + i * row_bytes, row_shape);
      }
    }
  } else {
    constexpr std::int64_t kBlockCells = 1 << 16;
    const std::int64_t block_rows =
        std::max<std::int64_t>(1, kBlockCells / std::max<std::int64_t>(row_cells, 1));
    std::string chars;
    std::vector<std::uint64_t> ends;
    for (std::int64_t r = 0; r < rows; r += block_rows) {
      const std::int64_t n = std::min(block_rows, rows - r);
      chars.clear();
      ends.clear();
      for (std::int64_t c = 0; c < n * row_cells; ++c) {
        unsigned char length[4];
        if (!in.read(reinterpret_cast<char*>(length), 4)) return cut_short();
        const std::uint32_t size = std::uint32_t{length[0]} | std::uint32_t{length[1]} << 8 |
                                   std::uint32_t{length[2]} << 16 | std::uint32_t{length[3]} << 24;
        const std::size_t at = chars.size();
        chars.resize(at + size);
        if (size > 0 && !in.read(chars.data() + at, size)) return cut_short();
        ends.push_back(chars.size());
      }
      Shape block_shape = spilled.shape;
      block_shape[0] = n;
      const TextArray block(block_shape, chars, ends);
      for (std::int64_t i = 0; i < n; ++i) {
        if (r + i > 0) out.Put(',');
        if (row_shape.empty()) {
          PutJsonString(out, block.at(i));
        } else {
          PutTextDims(out, block, 1, i * row_cells);
        }
      }
    }
  }
  out.Put(']');
}

// One member of an object being written: a JSON value, a typed array, a string array or a spilled field.
struct ObjectMember {
  std::string_view key;
  const nlohmann::json* json = nullptr;
  const Tensor* tensor = nullptr;
  const TextArray* text = nullptr;
  const SpilledArray* spilled = nullptr;
};

template <typename Value>
bool HasKeysUnder(const std::map<std::string, Value>& arrays, const std::string& prefix) {
  const auto it = arrays.lower_bound(prefix);
  return it != arrays.end() && it->first.starts_with(prefix);
}

bool HasArraysUnder(const Explanation& e, const std::string& path) {
  return HasKeysUnder(e.arrays, path + ".") || HasKeysUnder(e.texts, path + ".");
}

void PutValue(BufferedOut& out, const Explanation& e, const ObjectMember& member, const std::string& path,
              const SpilledArrays* spilled);

// The members in nlohmann's key order (std::less<std::string>), as `{"key":value,...}`.
void PutObject(BufferedOut& out, const Explanation& e, std::vector<ObjectMember> members,
               const std::string& prefix, const SpilledArrays* spilled) {
  std::sort(members.begin(), members.end(),
            [](const ObjectMember& a, const ObjectMember& b) { return a.key < b.key; });
  out.Put('{');
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i > 0) out.Put(',');
    out.Put(nlohmann::json(members[i].key).dump());
    out.Put(':');
    PutValue(out, e, members[i],
             prefix.empty() ? std::string(members[i].key) : prefix + "." + std::string(members[i].key),
             spilled);
  }
  out.Put('}');
}

// The typed and string arrays directly inside the object at `prefix` ("" for the top level).
void AddArrayMembers(const Explanation& e, const std::string& prefix, std::vector<ObjectMember>& members) {
  const std::string start = prefix.empty() ? "" : prefix + ".";
  const auto direct = [&start](const std::string& path) {
    const std::string_view name = std::string_view(path).substr(start.size());
    return name.find('.') == std::string_view::npos ? name : std::string_view();
  };
  for (auto it = e.arrays.lower_bound(start); it != e.arrays.end() && it->first.starts_with(start); ++it) {
    if (const std::string_view name = direct(it->first); !name.empty())
      members.push_back({name, nullptr, &it->second});
  }
  for (auto it = e.texts.lower_bound(start); it != e.texts.end() && it->first.starts_with(start); ++it) {
    if (const std::string_view name = direct(it->first); !name.empty())
      members.push_back({name, nullptr, nullptr, &it->second});
  }
}

void PutValue(BufferedOut& out, const Explanation& e, const ObjectMember& member, const std::string& path,
              const SpilledArrays* spilled) {
  if (spilled != nullptr && (member.tensor != nullptr || member.text != nullptr)) {
    if (const auto it = spilled->find(path); it != spilled->end()) return PutSpilled(out, it->second);
  }
  if (member.tensor != nullptr) return PutTensor(out, *member.tensor);
  if (member.text != nullptr) return PutTextDims(out, *member.text, 0, 0);
  if (!member.json->is_object() || !HasArraysUnder(e, path)) return out.Json(*member.json);
  std::vector<ObjectMember> members;
  for (const auto& [key, value] : member.json->items()) members.push_back({key, &value, nullptr});
  AddArrayMembers(e, path, members);
  PutObject(out, e, std::move(members), path, spilled);
}

// ---- CSV ----

// A numeric field of a feature_attribution for the CSV: a typed array's elements or the JSON's numbers,
// each as the JSON writer writes it ("" for a missing value).
class CsvNumbers {
 public:
  CsvNumbers(const Explanation& e, const char* field) : typed_(e.TypedArray(field)) {
    if (typed_ == nullptr) json_ = &e.body.at(field);
  }
  // Element [r] of a list, [r][o] of a matrix, [r][o][f] of a cube.
  void Put(BufferedOut& out, std::int64_t r, std::int64_t o = -1, std::int64_t f = -1) const {
    if (typed_ != nullptr) return PutTyped(out, r, o, f);
    const nlohmann::json* value = &(*json_)[static_cast<std::size_t>(r)];
    if (o >= 0) value = &(*value)[static_cast<std::size_t>(o)];
    if (f >= 0) value = &(*value)[static_cast<std::size_t>(f)];
    if (value->is_null()) return;
    if (value->is_string()) return out.Put(value->get<std::string>());
    out.Put(value->dump());
  }

 private:
  void PutTyped(BufferedOut& out, std::int64_t r, std::int64_t o, std::int64_t f) const {
    std::int64_t index = r;
    if (o >= 0) index = index * typed_->dim(1) + o;
    if (f >= 0) index = index * typed_->dim(2) + f;
    switch (typed_->dtype()) {
      case DType::kF32:
        return PutFinite(out, static_cast<double>(typed_->data<float>()[index]));
      case DType::kF64:
        return PutFinite(out, typed_->data<double>()[index]);
      case DType::kI32:
        return out.Integer(typed_->data<std::int32_t>()[index]);
      case DType::kI64:
        return out.Integer(typed_->data<std::int64_t>()[index]);
      case DType::kU8:
        return out.Integer(typed_->data<std::uint8_t>()[index]);
    }
  }
  static void PutFinite(BufferedOut& out, double value) {
    if (std::isfinite(value)) out.Double(value);
  }

  const Tensor* typed_ = nullptr;
  const nlohmann::json* json_ = nullptr;
};

std::vector<std::string> NameList(const Explanation& e, const char* field) {
  std::vector<std::string> names;
  for (const auto& name : e.body.at(field)) names.push_back(name.get<std::string>());
  return names;
}

// The temporary file a writer fills before the rename: ".<name>.loupe-tmp.<pid>.<n>" in the same folder
// (so the rename never crosses a file system). A reader recognises it by the marker and never takes it
// for an output; the pid tells RemoveStaleTemporaries whether its writer still runs.
constexpr std::string_view kTemporaryMarker = ".loupe-tmp.";

// Flushes the file's (or folder's) contents to the disk, so that after a crash the renamed file holds what
// was written rather than nothing. Best effort on a folder: some file systems refuse it.
bool SyncToDisk(const std::filesystem::path& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return directory;
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  return synced || directory;
}

}  // namespace

bool IsTemporaryOutput(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  return name.starts_with(".") && name.find(kTemporaryMarker) != std::string::npos;
}

int RemoveStaleTemporaries(const std::filesystem::path& dir) {
  std::error_code ec;
  int removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!IsTemporaryOutput(entry.path())) continue;
    const std::string name = entry.path().filename().string();
    const std::size_t at = name.find(kTemporaryMarker) + kTemporaryMarker.size();
    const long pid = std::strtol(name.c_str() + at, nullptr, 10);
    // A writer that still runs (this process, or another run into the same folder) keeps its file.
    const bool alive = pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
    if (pid > 0 && alive) continue;
    std::error_code remove_error;
    if (std::filesystem::remove(entry.path(), remove_error)) ++removed;
  }
  return removed;
}

AtomicFile::AtomicFile(std::filesystem::path path, std::filesystem::path temporary)
    : path_(std::move(path)), temporary_(std::move(temporary)) {}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  out_.close();
  std::error_code ec;
  std::filesystem::remove(temporary_, ec);
}

Result<std::unique_ptr<AtomicFile>> AtomicFile::Open(const std::filesystem::path& path) {
  static std::atomic<unsigned> sequence{0};
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return IoError("cannot create the folder '" + path.parent_path().string() + "': " + ec.message() + ".");
  }
  std::string temporary_name = ".";
  temporary_name.append(path.filename().string())
      .append(kTemporaryMarker)
      .append(std::to_string(::getpid()))
      .append(".")
      .append(std::to_string(sequence.fetch_add(1)));
  std::unique_ptr<AtomicFile> file(new AtomicFile(path, path.parent_path() / temporary_name));
  file->out_.open(file->temporary_, std::ios::binary | std::ios::trunc);
  if (!file->out_)
    return IoError("cannot write '" + file->temporary_.string() + "': " + std::strerror(errno) + ".");
  return file;
}

Status AtomicFile::Flush() {
  out_.flush();
  if (!out_) return IoError("writing '" + path_.string() + "' failed: " + std::strerror(errno) + ".");
  return Status::Ok();
}

Status AtomicFile::Commit() {
  LOUPE_RETURN_IF_ERROR(Flush());
  out_.close();
  if (!out_) return IoError("writing '" + path_.string() + "' failed: " + std::strerror(errno) + ".");
  // On the disk before it takes the final name: a crash then leaves the old file or the whole new one.
  if (!SyncToDisk(temporary_, /*directory=*/false)) {
    return IoError("cannot flush '" + path_.string() + "' to the disk: " + std::strerror(errno) + ".");
  }
  std::error_code ec;
  std::filesystem::rename(temporary_, path_, ec);
  if (ec) {
    return IoError("cannot move the finished file into place as '" + path_.string() + "': " + ec.message() +
                   ".");
  }
  committed_ = true;
  SyncToDisk(path_.parent_path(), /*directory=*/true);  // the rename itself
  return Status::Ok();
}

Status WriteFileAtomically(const std::filesystem::path& path,
                           const std::function<void(std::ostream&)>& write) {
  LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file, AtomicFile::Open(path));
  write(file->out());
  return file->Commit();
}

Status WriteFileAtomically(const std::filesystem::path& path, const std::string& contents) {
  return WriteFileAtomically(path, [&contents](std::ostream& out) {
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  });
}

namespace {

void PutExplanation(BufferedOut& buffered, const Explanation& explanation, const SpilledArrays* spilled) {
  const nlohmann::json provenance = explanation.ProvenanceJson();
  std::vector<ObjectMember> members;
  for (const auto& [key, value] : provenance.items()) members.push_back({key, &value, nullptr});
  for (const auto& [key, value] : explanation.body.items()) {
    if (!IsProvenanceKey(key)) members.push_back({key, &value, nullptr});
  }
  std::vector<ObjectMember> arrays;
  AddArrayMembers(explanation, "", arrays);
  for (const ObjectMember& array : arrays) {
    if (!IsProvenanceKey(array.key)) members.push_back(array);
  }
  PutObject(buffered, explanation, std::move(members), "", spilled);
}

}  // namespace

void WriteExplanation(std::ostream& out, const Explanation& explanation) {
  BufferedOut buffered(out);
  PutExplanation(buffered, explanation, nullptr);
}

Status WriteExplanation(std::ostream& out, const Explanation& explanation, const SpilledArrays& spilled) {
  BufferedOut buffered(out);
  PutExplanation(buffered, explanation, &spilled);
  buffered.Flush();
  return buffered.error;
}

std::string ExplanationText(const Explanation& explanation) {
  std::ostringstream text;
  WriteExplanation(text, explanation);
  return std::move(text).str();
}

Status WriteExplanationJson(const std::filesystem::path& path, const Explanation& explanation) {
  return WriteFileAtomically(path, [&explanation](std::ostream& out) {
    WriteExplanation(out, explanation);
    out.put('\n');
  });
}

Status WriteExplanationJson(const std::filesystem::path& path, const Explanation& explanation,
                            const SpilledArrays& spilled) {
  LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file, AtomicFile::Open(path));
  LOUPE_RETURN_IF_ERROR(WriteExplanation(file->out(), explanation, spilled));
  file->out().put('\n');
  return file->Commit();
}

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

namespace {

Status CheckAttribution(const Explanation& explanation) {
  if (explanation.kind != "feature_attribution") {
    return InvalidArgument("step '" + explanation.step + "' is a " + explanation.kind +
                           ", which has no CSV form.");
  }
  return ValidateExplanation(explanation);
}

void PutCsvHeader(BufferedOut& out, const Explanation& explanation) {
  out.Put("row,output,base_value");
  for (const std::string& name : NameList(explanation, "feature_names")) {
    out.Put(',');
    out.Put(CsvField(name));
  }
  out.Put('\n');
}

void PutCsvRows(BufferedOut& out, const Explanation& explanation) {
  const std::size_t features = explanation.body.at("feature_names").size();
  const std::vector<std::string> outputs = NameList(explanation, "output_names");
  const CsvNumbers rows(explanation, "rows"), base_values(explanation, "base_values"),
      values(explanation, "values");
  const Tensor* typed_rows = explanation.TypedArray("rows");
  const auto row_count = static_cast<std::int64_t>(
      typed_rows != nullptr ? typed_rows->dim(0) : explanation.body.at("rows").size());
  for (std::int64_t r = 0; r < row_count; ++r) {
    for (std::size_t o = 0; o < outputs.size(); ++o) {
      const auto output = static_cast<std::int64_t>(o);
      rows.Put(out, r);
      out.Put("," + CsvField(outputs[o]) + ",");
      base_values.Put(out, r, output);
      for (std::size_t f = 0; f < features; ++f) {
        out.Put(',');
        values.Put(out, r, output, static_cast<std::int64_t>(f));
      }
      out.Put('\n');
    }
  }
}

}  // namespace

Status WriteAttributionCsv(const std::filesystem::path& path, const Explanation& explanation) {
  LOUPE_RETURN_IF_ERROR(CheckAttribution(explanation));
  return WriteFileAtomically(path, [&](std::ostream& stream) {
    BufferedOut out(stream);
    PutCsvHeader(out, explanation);
    PutCsvRows(out, explanation);
  });
}

Status WriteAttributionCsvHeader(std::ostream& stream, const Explanation& explanation) {
  LOUPE_RETURN_IF_ERROR(CheckAttribution(explanation));
  BufferedOut out(stream);
  PutCsvHeader(out, explanation);
  return Status::Ok();
}

Status WriteAttributionCsvRows(std::ostream& stream, const Explanation& explanation) {
  LOUPE_RETURN_IF_ERROR(CheckAttribution(explanation));
  BufferedOut out(stream);
  PutCsvRows(out, explanation);
  return Status::Ok();
}

}  // namespace loupe::report
