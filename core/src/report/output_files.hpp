// Writing run outputs: every file is written atomically (a temporary file in the same folder, flushed to
// the disk, then a rename; docs/architecture.md §5 "Output files"), so a reader never sees half a file
// and a run killed at any moment leaves the previous file or the new one. The explanation
// writers stream: typed arrays go from their tensors to the file without a JSON tree.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>

#include "loupe/core/explanation.hpp"
#include "loupe/core/status.hpp"

namespace loupe::report {

Status WriteFileAtomically(const std::filesystem::path& path, const std::string& contents);

// Whether `path` is a writer's temporary file (".<name>.loupe-tmp.<pid>.<n>"), never an output.
bool IsTemporaryOutput(const std::filesystem::path& path);
// Removes the temporary files of `dir` that a killed run left behind (their writer process is gone);
// returns how many it removed.
int RemoveStaleTemporaries(const std::filesystem::path& dir);
// The same with the contents written by `write` straight into the temporary file.
Status WriteFileAtomically(const std::filesystem::path& path,
                           const std::function<void(std::ostream&)>& write);

// A file written in pieces and put in place at the end, as WriteFileAtomically writes one: into the same
// temporary name, flushed to the disk and renamed by Commit(). Destroyed without Commit(), it removes its
// temporary file, so the previous file (or none) stays. For outputs that grow while a step runs.
class AtomicFile {
 public:
  static Result<std::unique_ptr<AtomicFile>> Open(const std::filesystem::path& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ostream& out() { return out_; }
  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& temporary() const { return temporary_; }
  // Hands what was written to the kernel (so that the temporary file can be read back); an error names
  // the file when a write failed.
  Status Flush();
  // Flush, fsync, rename over `path`, fsync the folder.
  Status Commit();

 private:
  AtomicFile(std::filesystem::path path, std::filesystem::path temporary);
  std::filesystem::path path_, temporary_;
  std::ofstream out_;
  bool committed_ = false;
};

// A per-row field of a streamed step held in a file rather than in memory (report/row_spill.hpp): its
// rows in order from byte `offset` of `file`, numbers as raw `dtype` elements in C order, strings as
// one (u32 little-endian byte length, UTF-8 bytes) per cell. `shape` is the whole field's.
struct SpilledArray {
  std::filesystem::path file;
  std::uint64_t offset = 0;
  bool text = false;
  DType dtype = DType::kF64;
  Shape shape;
};
// By dotted field path. The explanation written with them holds each of these paths too (as a typed or
// string array of any number of rows, e.g. a sample for the report): the file's rows are written instead.
using SpilledArrays = std::map<std::string, SpilledArray>;

// The loupe.explanation/v1 document, without the final newline, byte for byte what
// explanation.ToJson().dump() gives: keys in nlohmann's order (sorted), numbers formatted by nlohmann's
// own routine, NaN and infinities as null, integer dtypes as integers.
void WriteExplanation(std::ostream& out, const Explanation& explanation);
std::string ExplanationText(const Explanation& explanation);
// The same document with the fields of `spilled` read from their files: byte for byte what the first
// form writes for the explanation whose fields hold those rows. A spill file that cannot be read is an
// error naming it.
Status WriteExplanation(std::ostream& out, const Explanation& explanation, const SpilledArrays& spilled);

// DIR/<step>.json in the loupe.explanation/v1 schema.
Status WriteExplanationJson(const std::filesystem::path& path, const Explanation& explanation);
Status WriteExplanationJson(const std::filesystem::path& path, const Explanation& explanation,
                            const SpilledArrays& spilled);

// A feature_attribution as CSV: one line per (row, output): row, output, base_value, one column per
// feature with its attribution. Returns an error for other kinds.
Status WriteAttributionCsv(const std::filesystem::path& path, const Explanation& explanation);
// The same CSV in pieces, for a step streamed a chunk of rows at a time: the header line (from any
// chunk: the names are the same in all), then each chunk's lines in row order.
Status WriteAttributionCsvHeader(std::ostream& out, const Explanation& explanation);
Status WriteAttributionCsvRows(std::ostream& out, const Explanation& explanation);

// Quotes a CSV field when it needs it (RFC 4180).
std::string CsvField(const std::string& text);

}  // namespace loupe::report
