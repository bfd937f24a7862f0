// What a run has finished, kept in its output folder so that `loupe run --resume DIR` after a crash or
// SIGKILL computes only what is missing (docs/architecture.md §5 "Resuming a run").
//
// DIR/.loupe-resume/ holds:
// - run.json: how the run was started (the pipeline file, its --set overrides and seed) and what it read
//   (a checksum of the pipeline text, the size and modification time of the data and model files). A
//   resume that finds any of them changed is refused: its output would mix two runs.
// - manifest: one JSON object per line, appended as pieces finish: a chunk of a step's rows
//   {"chunk": STEP, "index": K, "of": N, "bytes": B, "checksum": C} or a whole step
//   {"step": STEP, "files": [...], "elapsed_ms": T, "bytes": B, "checksum": C}. Each names a file beside
//   it holding the piece's explanation in the wire form (pipeline/explanation_wire.hpp); a piece counts
//   as finished only when its line is complete and its file has those bytes and that checksum. A line
//   cut short by a kill is ignored.
// Files are written to a temporary name and renamed, not flushed to the disk: a killed process loses
// nothing the kernel accepted, and a power failure at worst costs a recomputation, never a wrong result.
// The folder is removed when the run ends with every step ok.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "loupe/core/pipeline.hpp"
#include "loupe/core/status.hpp"

namespace loupe::checkpoint {

// How a run was started, as `--resume` needs it to start it again.
struct RunRecord {
  std::filesystem::path pipeline;  // absolute
  std::vector<Override> overrides;
  std::uint64_t seed = 0;
  std::int64_t chunk_rows = 0;
  std::string identity;  // checksums and file stamps of what the run read (Identity())
};

// The record of the interrupted run in `output_dir`, for the CLI to parse its pipeline again.
Result<RunRecord> ReadRunRecord(const std::filesystem::path& output_dir);

// A line that changes when the pipeline text, the data file or the model file changes.
std::string Identity(const PipelineSpec& spec);

// One step's finished piece as read back: its explanation's wire bytes (and, for a step, its files).
struct FinishedPiece {
  std::string bytes;
  std::vector<std::string> files;
  double elapsed_ms = 0;
};

class Store {
 public:
  // A new record in `output_dir` (whatever an earlier run left there is removed).
  static Result<Store> Start(const std::filesystem::path& output_dir, const RunRecord& record);
  // The record an interrupted run left in `output_dir`; refused when `record.identity` differs.
  static Result<Store> Resume(const std::filesystem::path& output_dir, const RunRecord& record);

  Store(Store&& other) noexcept;

  // Thread-safe: steps finish concurrently.
  std::optional<FinishedPiece> FinishedChunk(const std::string& step, std::int64_t index, std::int64_t of);
  std::optional<FinishedPiece> FinishedStep(const std::string& step);
  Status SaveChunk(const std::string& step, std::int64_t index, std::int64_t of, const std::string& bytes);
  Status SaveStep(const std::string& step, const std::vector<std::string>& files, double elapsed_ms,
                  const std::string& bytes);
  // Removes the folder: the run is complete.
  void Remove();

  // How many pieces the manifest held when the run resumed (for the CLI's message).
  std::size_t resumed_chunks() const { return resumed_chunks_; }
  std::size_t resumed_steps() const { return resumed_steps_; }

 private:
  struct Entry {
    std::uint64_t bytes = 0, checksum = 0;
    std::vector<std::string> files;
    double elapsed_ms = 0;
  };
  explicit Store(std::filesystem::path dir) : dir_(std::move(dir)) {}
  Status LoadManifest();
  std::optional<FinishedPiece> Read(const std::string& key);
  // Writes the piece's file, then appends `manifest_line` (a JSON object without bytes and checksum).
  Status Save(const std::string& key, std::string manifest_line, const std::string& bytes, Entry entry);

  std::filesystem::path dir_;
  std::mutex mutex_;
  std::map<std::string, Entry> finished_;  // key: "chunk STEP K/N" or "step STEP"
  std::size_t resumed_chunks_ = 0, resumed_steps_ = 0;
};

}  // namespace loupe::checkpoint
