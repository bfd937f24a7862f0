#include "pipeline/checkpoint.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace loupe::checkpoint {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFolder = ".loupe-resume";
constexpr const char* kRecordFile = "run.json";
constexpr const char* kManifestFile = "manifest";

// A 64-bit checksum of `bytes` (FNV-1a over 8-byte words, then a final mix): catches a file cut short or
// overwritten, not an adversary.
std::uint64_t Checksum(std::string_view bytes) {
  std::uint64_t hash = 0xCBF29CE484222325ULL ^ bytes.size();
  std::size_t at = 0;
  for (; at + 8 <= bytes.size(); at += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes.data() + at, 8);
    hash = (hash ^ word) * 0x100000001B3ULL;
  }
  for (; at < bytes.size(); ++at) hash = (hash ^ static_cast<unsigned char>(bytes[at])) * 0x100000001B3ULL;
  hash ^= hash >> 33;
  hash *= 0xFF51AFD7ED558CCDULL;
  return hash ^ (hash >> 33);
}

std::string Hex(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

// The name of a piece's file: from its key, so any step id gives a plain file name.
std::string PieceFile(const std::string& key) { return Hex(Checksum(key)) + ".bin"; }

std::string ChunkKey(const std::string& step, std::int64_t index, std::int64_t of) {
  return "chunk " + step + " " + std::to_string(index) + "/" + std::to_string(of);
}
std::string StepKey(const std::string& step) { return "step " + step; }

Result<std::string> ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read '" + path.string() + "'.");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes `bytes` to a temporary name beside `path`, then renames it: a kill leaves the old file or the
// new one, never half of one. No fsync (checkpoint.hpp says why).
Status WriteByRename(const fs::path& path, const std::string& bytes) {
  const fs::path temporary = path.string() + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return IoError("cannot write the checkpoint file '" + temporary.string() + "'.");
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) return IoError("cannot write the checkpoint file '" + path.string() + "': " + ec.message() + ".");
  return Status::Ok();
}

// "PATH SIZE MTIME" of a file the run reads, or "PATH missing".
std::string FileStamp(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return path.string() + " missing";
  const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  return path.string() + " " + std::to_string(size) + " " + std::to_string(mtime);
}

// The test hooks of tests/e2e/resume_test.sh: LOUPE_CHECKPOINT_KILL_AFTER=N kills this process with
// SIGKILL right after it recorded its N-th piece, a deterministic stand-in for a crash at that point;
// LOUPE_CHECKPOINT_INTERRUPT_AFTER=N sends it SIGINT there instead, as Ctrl-C would.
void KillIfTestSaysSo() {
  const auto after = [](const char* variable) {
    const char* value = std::getenv(variable);
    return value == nullptr ? 0L : std::strtol(value, nullptr, 10);
  };
  static const long kill_after = after("LOUPE_CHECKPOINT_KILL_AFTER");
  static const long interrupt_after = after("LOUPE_CHECKPOINT_INTERRUPT_AFTER");
  static long saved = 0;  // under Store's mutex
  ++saved;
  if (saved == kill_after) std::raise(SIGKILL);
  if (saved == interrupt_after) std::raise(SIGINT);
}

}  // namespace

std::string Identity(const PipelineSpec& spec) {
  const Result<std::string> text = ReadWholeFile(spec.file);
  std::string identity = "pipeline " + Hex(text.ok() ? Checksum(*text) : 0);
  identity += "; data " + FileStamp(spec.data.path);
  if (spec.model.type == "remote") {
    identity += "; model " + spec.model.url;
  } else if (!spec.model.path.empty()) {
    identity += "; model " + FileStamp(spec.model.path);
  }
  return identity;
}

Result<RunRecord> ReadRunRecord(const fs::path& output_dir) {
  const fs::path file = output_dir / kFolder / kRecordFile;
  const Result<std::string> text = ReadWholeFile(file);
  if (!text.ok()) {
    return NotFound("'" + output_dir.string() +
                    "' holds no interrupted run to resume (no .loupe-resume/run.json: the run finished, or "
                    "never started there).");
  }
  const nlohmann::json json = nlohmann::json::parse(*text, nullptr, false);
  RunRecord record;
  try {
    record.pipeline = json.at("pipeline").get<std::string>();
    for (const nlohmann::json& set : json.at("overrides"))
      record.overrides.push_back({set.at(0).get<std::string>(), set.at(1).get<std::string>()});
    record.seed = json.at("seed").get<std::uint64_t>();
    record.chunk_rows = json.at("chunk_rows").get<std::int64_t>();
    record.identity = json.at("identity").get<std::string>();
  } catch (const nlohmann::json::exception&) {
    return InvalidArgument("'" + file.string() + "' is not a record loupe wrote; it cannot be resumed.");
  }
  return record;
}

Result<Store> Store::Start(const fs::path& output_dir, const RunRecord& record) {
  Store store(output_dir / kFolder);
  std::error_code ec;
  fs::remove_all(store.dir_, ec);
  fs::create_directories(store.dir_, ec);
  if (ec) return IoError("cannot create '" + store.dir_.string() + "': " + ec.message() + ".");
  nlohmann::json overrides = nlohmann::json::array();
  for (const Override& set : record.overrides) overrides.push_back({set.path, set.value});
  const nlohmann::json json = {{"schema", "loupe.resume/v1"},     {"pipeline", record.pipeline.string()},
                               {"overrides", overrides},          {"seed", record.seed},
                               {"chunk_rows", record.chunk_rows}, {"identity", record.identity}};
  LOUPE_RETURN_IF_ERROR(WriteByRename(store.dir_ / kRecordFile, json.dump(2) + "\n"));
  std::ofstream(store.dir_ / kManifestFile, std::ios::trunc);
  return store;
}

Result<Store> Store::Resume(const fs::path& output_dir, const RunRecord& record) {
  LOUPE_ASSIGN_OR_RETURN(const RunRecord before, ReadRunRecord(output_dir));
  if (before.identity != record.identity) {
    return InvalidArgument("cannot resume the run in '" + output_dir.string() +
                           "': its pipeline, data or model file changed since it started (" +
                           before.identity + " then, " + record.identity +
                           " now); start it again without --resume.");
  }
  Store store(output_dir / kFolder);
  LOUPE_RETURN_IF_ERROR(store.LoadManifest());
  return store;
}

Store::Store(Store&& other) noexcept
    : dir_(std::move(other.dir_)),
      finished_(std::move(other.finished_)),
      resumed_chunks_(other.resumed_chunks_),
      resumed_steps_(other.resumed_steps_) {}

Status Store::LoadManifest() {
  std::ifstream in(dir_ / kManifestFile);
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json json = nlohmann::json::parse(line, nullptr, false);
    if (!json.is_object() || !json.contains("bytes") || !json.contains("checksum")) continue;  // cut short
    try {
      Entry entry;
      entry.bytes = json.at("bytes").get<std::uint64_t>();
      entry.checksum = std::stoull(json.at("checksum").get<std::string>(), nullptr, 16);
      std::string key;
      if (json.contains("chunk")) {
        key = ChunkKey(json.at("chunk").get<std::string>(), json.at("index").get<std::int64_t>(),
                       json.at("of").get<std::int64_t>());
        ++resumed_chunks_;
      } else {
        key = StepKey(json.at("step").get<std::string>());
        entry.files = json.at("files").get<std::vector<std::string>>();
        entry.elapsed_ms = json.at("elapsed_ms").get<double>();
        ++resumed_steps_;
      }
      finished_[key] = std::move(entry);
    } catch (const std::exception&) {
      continue;  // a line this version did not write: recompute that piece
    }
  }
  return Status::Ok();
}

std::optional<FinishedPiece> Store::Read(const std::string& key) {
  Entry entry;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = finished_.find(key);
    if (it == finished_.end()) return std::nullopt;
    entry = it->second;
  }
  Result<std::string> bytes = ReadWholeFile(dir_ / PieceFile(key));
  if (!bytes.ok() || bytes->size() != entry.bytes || Checksum(*bytes) != entry.checksum) return std::nullopt;
  return FinishedPiece{std::move(*bytes), entry.files, entry.elapsed_ms};
}

std::optional<FinishedPiece> Store::FinishedChunk(const std::string& step, std::int64_t index,
                                                  std::int64_t of) {
  return Read(ChunkKey(step, index, of));
}

std::optional<FinishedPiece> Store::FinishedStep(const std::string& step) { return Read(StepKey(step)); }

Status Store::Save(const std::string& key, std::string manifest_line, const std::string& bytes, Entry entry) {
  entry.bytes = bytes.size();
  entry.checksum = Checksum(bytes);
  LOUPE_RETURN_IF_ERROR(WriteByRename(dir_ / PieceFile(key), bytes));
  manifest_line.pop_back();  // the closing brace
  manifest_line +=
      ",\"bytes\":" + std::to_string(entry.bytes) + ",\"checksum\":\"" + Hex(entry.checksum) + "\"}\n";
  std::lock_guard<std::mutex> lock(mutex_);
  std::ofstream out(dir_ / kManifestFile, std::ios::app);
  out << manifest_line << std::flush;  // one write of one line: a kill keeps it whole or cuts it short
  if (!out) return IoError("cannot append to '" + (dir_ / kManifestFile).string() + "'.");
  finished_[key] = std::move(entry);
  KillIfTestSaysSo();
  return Status::Ok();
}

Status Store::SaveChunk(const std::string& step, std::int64_t index, std::int64_t of,
                        const std::string& bytes) {
  const nlohmann::json line = {{"chunk", step}, {"index", index}, {"of", of}};
  return Save(ChunkKey(step, index, of), line.dump(), bytes, Entry{});
}

Status Store::SaveStep(const std::string& step, const std::vector<std::string>& files, double elapsed_ms,
                       const std::string& bytes) {
  const nlohmann::json line = {{"step", step}, {"files", files}, {"elapsed_ms", elapsed_ms}};
  Entry entry;
  entry.files = files;
  entry.elapsed_ms = elapsed_ms;
  return Save(StepKey(step), line.dump(), bytes, std::move(entry));
}

void Store::Remove() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace loupe::checkpoint
