// Crash isolation of a step's plugin call: fork, run the call in the child, send the result back over a
// pipe, turn a dead child into its step's failure (isolate.hpp says why fork).
//
// The pipe carries frames: a type byte, a little-endian u64 payload length, the payload. The child sends
// progress and log frames while it runs, then exactly one result or error frame, then _exit(0). A child
// that dies first leaves the parent an exit status (and, for exit() and out-of-memory, one last frame
// saying so), from which the parent writes the step's sentence.
//
// Memory limit: RLIMIT_DATA, not RLIMIT_AS. Since Linux 4.7 RLIMIT_DATA counts the private writable
// mappings (the heap and every anonymous mmap, which is where allocations land), while RLIMIT_AS counts the
// whole address space: shared libraries, the stacks of every parent thread and glibc's 64 MB per-thread
// malloc reservations, gigabytes that a host with a thread pool holds without using them. The child
// starts from what it inherits (the model, the data), so the limit is that figure (VmData at fork) plus
// --max-memory: the step may allocate --max-memory more.
#include "pipeline/isolate.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/explanation_wire.hpp"
#include "plugin/host_context.hpp"

namespace loupe {
namespace {

enum class Frame : std::uint8_t {
  kProgress = 1,     // u64 done, u64 total
  kLog = 2,          // i32 level, the text
  kResult = 3,       // u64 metadata length, CBOR metadata, the arrays' bytes in metadata order
  kError = 4,        // i32 status code, the message
  kOutOfMemory = 5,  // empty: an allocation failed under the memory limit
  kExited = 6,       // i32 status: the plugin called exit()
};
constexpr std::size_t kHeaderSize = 9;
constexpr std::uint64_t kMaxSmallPayload = 64u << 20;  // progress, log, error and metadata frames
constexpr int kOutOfMemoryExitCode = 125;

// --- byte plumbing -------------------------------------------------------------------------------------

bool WriteAll(int fd, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// False when the stream ends (or fails) before `size` bytes.
bool ReadAll(int fd, void* data, std::size_t size) {
  auto* bytes = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::read(fd, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

void PutU64(char* out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}
std::uint64_t GetU64(const char* in) {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i)
    value |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return value;
}
void PutI32(char* out, std::int32_t value) {
  const auto bits = static_cast<std::uint32_t>(value);
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((bits >> (8 * i)) & 0xFF);
}
std::int32_t GetI32(const char* in) {
  std::uint32_t bits = 0;
  for (int i = 0; i < 4; ++i)
    bits |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return static_cast<std::int32_t>(bits);
}

// --- the child -------------------------------------------------------------------------------------------

int g_child_fd = -1;  // the write end of the pipe; set only in a child

std::mutex& ChildWriteMutex() {  // constructed and locked only in children
  static std::mutex mutex;
  return mutex;
}

void SendFrame(Frame type, std::initializer_list<std::span<const char>> parts) {
  std::uint64_t length = 0;
  for (const auto& part : parts) length += part.size();
  char header[kHeaderSize];
  header[0] = static_cast<char>(type);
  PutU64(header + 1, length);
  std::lock_guard<std::mutex> lock(ChildWriteMutex());
  if (!WriteAll(g_child_fd, header, sizeof header)) return;
  for (const auto& part : parts) {
    if (!WriteAll(g_child_fd, part.data(), part.size())) return;
  }
}

// One write of a short frame: atomic on a pipe (under PIPE_BUF), allocates nothing and takes no lock, so it
// is safe from the new-handler and from exit().
void SendLastWords(Frame type, const char* payload, std::size_t size) {
  char frame[kHeaderSize + 8];
  frame[0] = static_cast<char>(type);
  PutU64(frame + 1, size);
  std::memcpy(frame + kHeaderSize, payload, size);
  WriteAll(g_child_fd, frame, kHeaderSize + size);
}

[[noreturn]] void ReportOutOfMemoryAndExit() {
  SendLastWords(Frame::kOutOfMemory, nullptr, 0);
  ::_exit(kOutOfMemoryExitCode);
}

// Runs when a plugin calls exit() in a child: it tells the parent and leaves before the parent's exit
// handlers run in a process that does not own them (or flush stdio buffers the parent will flush itself).
// A no-op in the parent. Registered once by the parent before its first fork (ExplainInChild), not
// by each child: registering takes glibc's exit-handler lock, which another thread of the parent may hold
// at the fork, and the child would wait for it for ever. The price: a handler the parent registers after
// the first fork (a function-local static first used later) runs before this one in an exiting child.
void ReportExitAndLeave(int status, void*) {
  if (g_child_fd < 0) return;
  char payload[4];
  PutI32(payload, status);
  SendLastWords(Frame::kExited, payload, 4);
  ::_exit(status);
}

// VmData of this process in bytes (its private writable memory), 0 when /proc cannot tell.
std::uint64_t CurrentDataBytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmData:") {
      std::uint64_t kilobytes = 0;
      status >> kilobytes;
      return kilobytes * 1024;
    }
    status.ignore(1 << 20, '\n');
  }
  return 0;
}

// No core file (the crash is reported, and a test folder or a user's cwd is not a place for one), death
// with the parent, and the memory limit.
void ConfineChild(pid_t parent, const IsolationLimits& limits) {
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::prctl(PR_SET_DUMPABLE, 0);  // also stops a core_pattern pipe (systemd-coredump, apport) from dumping
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(kOutOfMemoryExitCode + 1);  // the parent is already gone
  if (limits.max_memory_bytes > 0) {
    rlimit data{};
    ::getrlimit(RLIMIT_DATA, &data);
    const std::uint64_t wanted = CurrentDataBytes() + limits.max_memory_bytes;
    if (data.rlim_max == RLIM_INFINITY || wanted < data.rlim_max) data.rlim_cur = static_cast<rlim_t>(wanted);
    ::setrlimit(RLIMIT_DATA, &data);
  }
}

void SendExplanation(const Explanation& e) {
  const wire::EncodedExplanation encoded = wire::EncodeExplanation(e);
  char meta_length[8];
  PutU64(meta_length, encoded.meta.size());
  char header[kHeaderSize];
  header[0] = static_cast<char>(Frame::kResult);
  PutU64(header + 1, 8 + encoded.meta.size() + encoded.payload_bytes);
  std::lock_guard<std::mutex> lock(ChildWriteMutex());
  if (!WriteAll(g_child_fd, header, sizeof header) || !WriteAll(g_child_fd, meta_length, 8) ||
      !WriteAll(g_child_fd, encoded.meta.data(), encoded.meta.size())) {
    return;
  }
  wire::WritePayload(e, encoded, [](const void* data, std::uint64_t size) {
    return WriteAll(g_child_fd, data, static_cast<std::size_t>(size));
  });
}

void SendError(const Status& status) {
  char code[4];
  PutI32(code, static_cast<std::int32_t>(status.code()));
  SendFrame(Frame::kError, {std::span<const char>(code, 4), std::span<const char>(status.message())});
}

// The child's request: the parent's, with progress and log lines sent over the pipe.
ExplainRequest ChildRequest(const ExplainRequest& request) {
  ExplainRequest child = request;
  if (request.progress) {
    child.progress = [](std::uint64_t done, std::uint64_t total) {
      char payload[16];
      PutU64(payload, done);
      PutU64(payload + 8, total);
      SendFrame(Frame::kProgress, {std::span<const char>(payload, 16)});
    };
  }
  if (request.log) {
    child.log = [](int level, const std::string& message) {
      char header[4];
      PutI32(header, level);
      SendFrame(Frame::kLog, {std::span<const char>(header, 4), std::span<const char>(message)});
    };
  }
  return child;
}

[[noreturn]] void RunChild(int fd, pid_t parent, const LoadedExplainer& explainer,
                           const ExplainRequest& request, const IsolationLimits& limits) {
  g_child_fd = fd;
  ConfineChild(parent, limits);
  host_detail::ParallelForRunsInline() = true;
  std::set_new_handler(ReportOutOfMemoryAndExit);
  try {
    Result<Explanation> result = explainer.Explain(ChildRequest(request));
    if (result.ok()) {
      SendExplanation(*result);
    } else {
      SendError(result.status());
    }
  } catch (const std::bad_alloc&) {
    ReportOutOfMemoryAndExit();
  } catch (const std::exception& e) {
    SendError(Internal(std::string("the isolated step failed: ") + e.what() + "."));
  }
  ::_exit(0);
}

// --- the parent ------------------------------------------------------------------------------------------

// What the parent read from a child's pipe.
struct ChildReport {
  std::optional<Result<Explanation>> result;
  bool out_of_memory = false;
  std::string malformed;  // why the stream could not be read, when it could not
};

// The payload of a result frame, read from the child's pipe up to the frame's end.
class PipePayload final : public wire::PayloadReader {
 public:
  PipePayload(int fd, std::uint64_t size) : fd_(fd), left_(size) {}
  bool Read(void* out, std::uint64_t size) override {
    if (size > left_ || !ReadAll(fd_, out, static_cast<std::size_t>(size))) return false;
    left_ -= size;
    return true;
  }
  std::uint64_t left() const override { return left_; }

 private:
  int fd_;
  std::uint64_t left_;
};

// Reads one frame's payload after its header; returns false (and says why) when the stream is broken.
bool ReadFrame(int fd, Frame type, std::uint64_t length, const ExplainRequest& request, ChildReport& report) {
  if (type == Frame::kResult) {
    char meta_length[8];
    if (length < 8 || !ReadAll(fd, meta_length, 8)) return false;
    const std::uint64_t meta_size = GetU64(meta_length);
    if (meta_size > length - 8 || meta_size > kMaxSmallPayload) return false;
    std::vector<std::uint8_t> meta(meta_size);
    if (!ReadAll(fd, meta.data(), meta.size())) return false;
    PipePayload payload(fd, length - 8 - meta_size);
    Result<Explanation> decoded = wire::DecodeExplanation(meta, payload);
    if (!decoded.ok()) {
      report.malformed = decoded.status().message() + ".";
      return false;
    }
    report.result.emplace(std::move(decoded));
    return true;
  }
  if (length > kMaxSmallPayload) return false;
  std::vector<char> payload(length);
  if (!ReadAll(fd, payload.data(), payload.size())) return false;
  switch (type) {
    case Frame::kProgress:
      if (length != 16) return false;
      if (request.progress) request.progress(GetU64(payload.data()), GetU64(payload.data() + 8));
      return true;
    case Frame::kLog:
      if (length < 4) return false;
      if (request.log) request.log(GetI32(payload.data()), std::string(payload.begin() + 4, payload.end()));
      return true;
    case Frame::kError:
      if (length < 4) return false;
      report.result.emplace(Status(static_cast<StatusCode>(GetI32(payload.data())),
                                   std::string(payload.begin() + 4, payload.end())));
      return true;
    case Frame::kOutOfMemory:
      report.out_of_memory = true;
      return true;
    case Frame::kExited:  // the exit status from waitpid says the same
      return true;
    default:
      return false;
  }
}

// Reads frames until the child closes the pipe (or the stream breaks).
ChildReport ReadChild(int fd, const ExplainRequest& request) {
  ChildReport report;
  char header[kHeaderSize];
  while (ReadAll(fd, header, 1)) {
    if (!ReadAll(fd, header + 1, kHeaderSize - 1) ||
        !ReadFrame(fd, static_cast<Frame>(header[0]), GetU64(header + 1), request, report)) {
      if (report.malformed.empty()) report.malformed = "the stream broke off or held an unknown frame.";
      break;
    }
  }
  return report;
}

int WaitFor(pid_t child) {
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string SignalName(int signal) {
  const char* abbreviation = ::sigabbrev_np(signal);
  return abbreviation != nullptr ? std::string("SIG") + abbreviation : "signal " + std::to_string(signal);
}

// The step's outcome from what the child sent and how it ended.
IsolatedExplain Outcome(const LoadedExplainer& explainer, const ExplainRequest& request,
                        const IsolationLimits& limits, ChildReport report, int wait_status) {
  const std::string who = "plugin '" + explainer.descriptor().plugin_name + "'";
  const std::string where = " in step '" + request.step_id + "'";
  if (report.out_of_memory) {
    const std::string limit = limits.max_memory_bytes > 0
                                  ? " (--max-memory " + FormatMemorySize(limits.max_memory_bytes) + ")"
                                  : "";
    return {Status(StatusCode::kInternal, who + " ran out of memory" + where + limit + "."), true};
  }
  if (WIFSIGNALED(wait_status)) {
    return {Status(StatusCode::kInternal,
                   who + " crashed with " + SignalName(WTERMSIG(wait_status)) + where + "."),
            true};
  }
  const int code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
  if (!report.result || code != 0) {
    return {Status(StatusCode::kInternal, who + " exited with status " + std::to_string(code) + where +
                                              " before returning a result."),
            true};
  }
  if (!report.malformed.empty()) {
    return {Internal("the isolated child of step '" + request.step_id +
                     "' sent a malformed result: " + report.malformed),
            false};
  }
  return {std::move(*report.result), false};
}

}  // namespace

IsolatedExplain ExplainInChild(const LoadedExplainer& explainer, const ExplainRequest& request,
                               const IsolationLimits& limits) {
  // Pipe and fork under one lock, and the parent's write end closed before it is released: a child
  // forked for another step then never inherits this pipe's write end, which would keep it from ending.
  static std::mutex fork_mutex;
  static const int exit_hook_registered = ::on_exit(ReportExitAndLeave, nullptr);
  (void)exit_hook_registered;
  int fds[2];
  pid_t child = -1;
  {
    std::lock_guard<std::mutex> lock(fork_mutex);
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      return {
          Internal("cannot make a pipe for step '" + request.step_id + "': " + std::strerror(errno) + "."),
          false};
    }
    std::fflush(nullptr);  // a buffered line must not be written twice, once by the child
    const pid_t parent = ::getpid();
    child = ::fork();
    if (child == 0) {
      ::close(fds[0]);
      RunChild(fds[1], parent, explainer, request, limits);
    }
    ::close(fds[1]);
  }
  if (child < 0) {
    const int error = errno;
    ::close(fds[0]);
    return {Internal("cannot start a child process for step '" + request.step_id +
                     "': " + std::strerror(error) + "."),
            false};
  }
  ChildReport report = ReadChild(fds[0], request);
  if (!report.malformed.empty()) ::kill(child, SIGKILL);  // it may still be writing to a pipe nobody reads
  ::close(fds[0]);
  const int wait_status = WaitFor(child);
  return Outcome(explainer, request, limits, std::move(report), wait_status);
}

Result<std::uint64_t> ParseMemorySize(std::string_view text) {
  const auto refuse = [&] {
    return InvalidArgument("--max-memory expects a size such as 512M or 2G, found '" + std::string(text) +
                           "'.");
  };
  std::size_t digits = 0;
  std::uint64_t value = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    if (value > (UINT64_MAX - 9) / 10) return refuse();
    value = value * 10 + static_cast<std::uint64_t>(text[digits++] - '0');
  }
  if (digits == 0) return refuse();
  std::string suffix(text.substr(digits));
  for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (suffix.ends_with("IB"))
    suffix.resize(suffix.size() - 2);
  else if (suffix.size() > 1 && suffix.ends_with("B"))
    suffix.pop_back();
  int shift = 0;
  if (suffix == "K")
    shift = 10;
  else if (suffix == "M")
    shift = 20;
  else if (suffix == "G")
    shift = 30;
  else if (suffix == "T")
    shift = 40;
  else if (!suffix.empty() && suffix != "B")
    return refuse();
  if (shift > 0 && value > (UINT64_MAX >> shift)) return refuse();
  value <<= shift;
  if (value == 0) return InvalidArgument("--max-memory must be more than 0 bytes.");
  return value;
}

std::string FormatMemorySize(std::uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (unit < 4 && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + " " + units[unit];
}

}  // namespace loupe
