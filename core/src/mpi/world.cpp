// MPI behind world.hpp, through the MPI module (mpi/mpi_module.hpp: lib/loupe/modules/loupe_mpi.so, the
// only code that includes mpi.h), which this file loads with dlopen only when a launcher started the process
// or `loupe version` asks for the library's version (docs/architecture.md §1, "Modules loaded on first use").
#include "mpi/world.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <thread>

#include "modules/find_module.hpp"
#include "mpi/mpi_module.hpp"

namespace loupe::mpi {

// One Errands' requests and answers. Its fields after construction are guarded by the carrier's mutex.
struct Errands::State {
  std::vector<std::string> requests;  // taken by the carrier as it sends them
  std::vector<std::string> answers;
  std::size_t due = 0;  // answers not received yet
  bool done = false;
  Status status = Status::Ok();
  std::condition_variable answered;
};

namespace {

// Set by a launcher (Open MPI's mpirun, Slurm's srun through PMI or PMIx, MPICH's hydra).
bool StartedByLauncher() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

#if LOUPE_WITH_MPI
constexpr const char* kModuleFile = "loupe_mpi.so";

// The MPI module, loaded once per process (the first time MPI is needed), or why it could not be.
struct LoadedModule {
  const MpiModule* module = nullptr;
  std::string error;  // the middle of a sentence: "this loupe was built with MPI, but <error>, so ..."
  std::string fix;    // its end: what to do
};

LoadedModule Load() {
  const modules::ModuleLookup lookup = modules::FindModule(kModuleFile);
  if (lookup.module.empty()) {
    return {nullptr,
            "its MPI module " + std::string(kModuleFile) + " was not found (looked " + lookup.Where() + ")",
            "reinstall Loupe, or set LOUPE_MODULE_PATH to the folder that holds it"};
  }
  // RTLD_GLOBAL: Open MPI opens its own components (mca_*.so), which resolve libmpi's and libopen-pal's
  // symbols in the global scope. RTLD_LAZY, as the objects loaded at start-up are bound.
  void* handle = dlopen(lookup.module.c_str(), RTLD_LAZY | RTLD_GLOBAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return {
        nullptr,
        "its MPI module '" + lookup.module.string() + "' could not be loaded (" +
            (why != nullptr ? why : "unknown error") + ")",
        "install the MPI library Loupe was built with (Open MPI: scripts/install-deps.sh), or rebuild Loupe"};
  }
  using Entry = const MpiModule* (*)();
  const auto entry = reinterpret_cast<Entry>(dlsym(handle, LOUPE_MPI_MODULE_ENTRY));
  const MpiModule* module = entry != nullptr ? entry() : nullptr;
  if (module == nullptr || std::string(module->loupe_version) != LOUPE_VERSION ||
      module->probed_size != sizeof(Probed) || module->string_size != sizeof(std::string)) {
    return {nullptr,
            "its MPI module '" + lookup.module.string() + "' is not from this build of Loupe " +
                LOUPE_VERSION + " (" +
                (module == nullptr ? std::string("it has no ") + LOUPE_MPI_MODULE_ENTRY
                                   : "it comes from Loupe " + std::string(module->loupe_version)) +
                ")",
            "reinstall Loupe, or set LOUPE_MODULE_PATH to this build's lib/loupe/modules"};
  }
  return {module, "", ""};  // never closed: MPI stays loaded until the process exits
}

// Loaded on the first call (thread-safe: the first caller loads, the others wait).
const LoadedModule& Module() {
  static const LoadedModule loaded = Load();
  return loaded;
}

// The module's functions once MPI started (Session); null before.
const MpiModule* g_mpi = nullptr;
bool g_started = false;  // this process called MPI_Init_thread (and so must finalize)
// This process's rank and the number of ranks, read once MPI started: any thread may ask (a served step's
// threads do) without calling MPI, which only the thread that started it may.
int g_rank = 0;
int g_size = 1;

// MPI counts are ints: large buffers go in pieces of this many bytes.
constexpr std::uint64_t kMpiPieceBytes = std::uint64_t{1} << 30;
constexpr int kSizeTag = 1901;
constexpr int kPieceTag = 1902;
// RunServed's messages: a request is its id (8 bytes) then its bytes in a second message (sent straight
// from the requester's buffer), an answer is the same id followed by its bytes, the end of the step is
// empty.
constexpr int kRequestTag = 1903;
constexpr int kAnswerTag = 1904;
constexpr int kStepOverTag = 1905;
constexpr int kRequestBodyTag = 1906;
constexpr std::size_t kErrandIdBytes = sizeof(std::uint64_t);

Status MpiStatus(int code, const char* what) {
  if (code == 0) return Status::Ok();
  std::string text;
  g_mpi->error_text(code, &text);
  return Internal(std::string("MPI ") + what + " failed: " + text + ".");
}

Status SendBytes(const std::string& bytes, int to) {
  const std::uint64_t size = bytes.size();
  LOUPE_RETURN_IF_ERROR(MpiStatus(g_mpi->send(&size, sizeof size, to, kSizeTag), "send"));
  for (std::uint64_t at = 0; at < size; at += kMpiPieceBytes) {
    const int piece = static_cast<int>(std::min(kMpiPieceBytes, size - at));
    LOUPE_RETURN_IF_ERROR(MpiStatus(g_mpi->send(bytes.data() + at, piece, to, kPieceTag), "send"));
  }
  return Status::Ok();
}

Status ReceiveBytes(int from, std::string& bytes) {
  std::uint64_t size = 0;
  LOUPE_RETURN_IF_ERROR(MpiStatus(g_mpi->receive(&size, sizeof size, from, kSizeTag), "receive"));
  bytes.resize(size);
  for (std::uint64_t at = 0; at < size; at += kMpiPieceBytes) {
    const int piece = static_cast<int>(std::min(kMpiPieceBytes, size - at));
    LOUPE_RETURN_IF_ERROR(MpiStatus(g_mpi->receive(bytes.data() + at, piece, from, kPieceTag), "receive"));
  }
  return Status::Ok();
}
#endif

// The number of ranks the launcher says it started, 1 when it says nothing.
long LauncherRanks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    if (const char* value = std::getenv(name)) return std::max(1L, std::strtol(value, nullptr, 10));
  }
  return 1;
}

}  // namespace

Status CheckLaunch() {
#if LOUPE_WITH_MPI
  if (!StartedByLauncher() || Module().module != nullptr) return Status::Ok();
  const long ranks = LauncherRanks();
  return NotFound("this loupe was built with MPI, but " + Module().error + ", so it cannot " +
                  (ranks > 1
                       ? "split a run across the " + std::to_string(ranks) + " ranks the launcher started"
                       : "run under the launcher") +
                  "; " + Module().fix + ".");
#endif
  if (Available() || LauncherRanks() <= 1) return Status::Ok();
  return InvalidArgument(
      "this loupe was built without MPI (libopenmpi-dev), so it cannot split a run across the " +
      std::to_string(LauncherRanks()) + " ranks the launcher started; run it without mpirun or srun.");
}

#if LOUPE_WITH_MPI

bool Available() { return true; }

Result<std::string> LibraryVersion() {
  const LoadedModule& loaded = Module();
  if (loaded.module == nullptr)
    return NotFound("this build has MPI, but " + loaded.error + "; " + loaded.fix);
  std::string version;
  loaded.module->library_version(&version);
  const std::size_t line_end = version.find_first_of(",\n");  // "Open MPI v4.1.4, package: ..."
  return line_end == std::string::npos ? version : version.substr(0, line_end);
}

Session::Session(int* argc, char*** argv) {
  if (!StartedByLauncher() || g_started) return;
  const MpiModule* module = Module().module;  // CheckLaunch has refused the run when it is missing
  if (module == nullptr || module->start(argc, argv, &g_rank, &g_size) != 0) {
    g_rank = 0;
    g_size = 1;
    return;
  }
  g_mpi = module;
  g_started = true;
}

Session::~Session() {
  if (!g_started) return;
  g_mpi->finish();
  g_started = false;
  g_rank = 0;
  g_size = 1;
}

int Rank() { return g_started ? g_rank : 0; }

int Size() { return g_started ? g_size : 1; }

Result<std::vector<std::string>> GatherToRoot(const std::string& mine) {
  std::vector<std::string> all;
  if (!IsRoot()) {
    LOUPE_RETURN_IF_ERROR(SendBytes(mine, 0));
    return all;
  }
  all.resize(static_cast<std::size_t>(Size()));
  all[0] = mine;
  for (int rank = 1; rank < Size(); ++rank) {
    LOUPE_RETURN_IF_ERROR(ReceiveBytes(rank, all[static_cast<std::size_t>(rank)]));
  }
  return all;
}

Status BroadcastFromRoot(std::string& bytes) {
  if (!Distributed()) return Status::Ok();
  std::uint64_t size = bytes.size();
  LOUPE_RETURN_IF_ERROR(MpiStatus(g_mpi->broadcast(&size, sizeof size, 0), "broadcast"));
  bytes.resize(size);
  for (std::uint64_t at = 0; at < size; at += kMpiPieceBytes) {
    const int piece = static_cast<int>(std::min(kMpiPieceBytes, size - at));
    LOUPE_RETURN_IF_ERROR(MpiStatus(g_mpi->broadcast(bytes.data() + at, piece, 0), "broadcast"));
  }
  return Status::Ok();
}

namespace {

// Rank 0 during RunServed: the requests work's threads posted, not yet taken by the carrier (the thread
// that calls MPI).
struct ErrandCarrier {
  std::mutex mutex;
  std::condition_variable wake;  // a request posted, or work returned
  std::deque<std::shared_ptr<Errands::State>> posted;
  bool work_done = false;
};
// Set by RunServed on rank 0 before its work's thread starts and cleared after it is joined.
ErrandCarrier* g_carrier = nullptr;

// Rank 0: the answer to a request in flight, or a failure of the traffic for every request of `state`.
void Deliver(const std::shared_ptr<Errands::State>& state, std::size_t index, std::string answer) {
  std::lock_guard<std::mutex> lock(g_carrier->mutex);
  state->answers[index] = std::move(answer);
  if (--state->due == 0) {
    state->done = true;
    state->answered.notify_all();
  }
}
void FailErrands(const std::shared_ptr<Errands::State>& state, const Status& status) {
  std::lock_guard<std::mutex> lock(g_carrier->mutex);
  if (state->done) return;
  state->status = status;
  state->done = true;
  state->answered.notify_all();
}

// Waiting without holding a core: the first polls yield it, later ones sleep, longer and longer up to
// `longest` (a wait of a few milliseconds costs a few hundred wake-ups, not a spinning core).
class Backoff {
 public:
  explicit Backoff(std::chrono::microseconds longest) : longest_(longest) {}
  void Wait() {
    if (++polls_ <= 16) {
      std::this_thread::yield();
      return;
    }
    std::this_thread::sleep_for(sleep_);
    sleep_ = std::min(longest_, sleep_ * 2);
  }
  void Reset() {
    polls_ = 0;
    sleep_ = std::chrono::microseconds(10);
  }

 private:
  std::chrono::microseconds longest_;
  std::chrono::microseconds sleep_{10};
  int polls_ = 0;
};

// Receives the message a probe announced (from `probed.from` with its tag) whole.
Status ReceiveProbed(const Probed& probed, std::string& bytes) {
  bytes.assign(static_cast<std::size_t>(probed.bytes), '\0');
  return MpiStatus(g_mpi->receive(bytes.data(), probed.bytes, probed.from, probed.tag), "receive");
}

// Rank 0's side of RunServed: `work` on a new thread; this thread sends the requests its threads post
// (non-blocking sends, so that it never waits on a rank), receives the answers as they come and hands
// each to its Errands, until `work` has returned. It sleeps on the carrier's condition variable when
// nothing is in flight, and polls MPI with a growing pause (Backoff) when something is.
Status CarryErrands(ErrandCarrier& carrier, const std::function<void()>& work) {
  std::thread worker([&carrier, &work] {
    work();
    std::lock_guard<std::mutex> lock(carrier.mutex);
    carrier.work_done = true;
    carrier.wake.notify_all();
  });
  struct InFlight {
    std::shared_ptr<Errands::State> state;
    std::size_t index;  // the request to rank index + 1
  };
  struct Sending {
    std::uint64_t id = 0;
    std::shared_ptr<Errands::State> state;     // its request's bytes are sent from there
    Request requests[2] = {nullptr, nullptr};  // the id, the bytes
  };
  std::map<std::uint64_t, InFlight> in_flight;
  std::list<Sending> sending;  // stable addresses while MPI reads them
  std::uint64_t next_id = 0;
  Status failure = Status::Ok();
  // While requests are in flight, the answers are polled for: at first at once, then every 10 µs doubling
  // up to 200 µs (a model call of 4,096 rows or more takes milliseconds).
  Backoff backoff(std::chrono::microseconds(200));
  const auto fail_everything = [&](const Status& status) {
    if (failure.ok()) failure = status;
    for (auto& [id, flight] : in_flight) FailErrands(flight.state, status);
    in_flight.clear();
  };
  while (true) {
    std::deque<std::shared_ptr<Errands::State>> posted;
    bool work_done = false;
    {
      std::unique_lock<std::mutex> lock(carrier.mutex);
      if (in_flight.empty() && sending.empty()) {
        carrier.wake.wait(lock, [&carrier] { return !carrier.posted.empty() || carrier.work_done; });
      }
      posted.swap(carrier.posted);
      work_done = carrier.work_done;
    }
    bool busy = !posted.empty();
    for (const std::shared_ptr<Errands::State>& state : posted) {
      for (std::size_t i = 0; i < state->requests.size(); ++i) {
        if (state->requests[i].empty()) continue;
        Sending& send = sending.emplace_back();
        send.id = next_id++;
        send.state = state;
        const std::string& body = state->requests[i];
        Status sent = MpiStatus(g_mpi->start_send(&send.id, sizeof send.id, static_cast<int>(i) + 1,
                                                  kRequestTag, &send.requests[0]),
                                "send");
        if (sent.ok()) {
          sent = MpiStatus(g_mpi->start_send(body.data(), static_cast<int>(body.size()),
                                             static_cast<int>(i) + 1, kRequestBodyTag, &send.requests[1]),
                           "send");
        }
        if (!sent.ok()) {  // MPI is broken: the ranks cannot be reached any more
          FailErrands(state, sent);
          fail_everything(sent);
          continue;
        }
        in_flight.emplace(send.id, InFlight{state, i});
      }
    }
    for (auto it = sending.begin(); it != sending.end();) {
      bool done = true, failed = false;  // as MPI_Testall on both: a failure gives the send up
      for (Request& request : it->requests) {
        int finished = 0;
        if (Status s = MpiStatus(g_mpi->test(&request, &finished), "send"); !s.ok()) {
          fail_everything(s);
          failed = true;
        }
        done = done && finished != 0;
      }
      it = done || failed ? sending.erase(it) : std::next(it);
    }
    while (!in_flight.empty()) {
      int arrived = 0;
      Probed status;
      if (Status s = MpiStatus(g_mpi->try_probe(kAnyRank, kAnswerTag, &arrived, &status), "probe"); !s.ok()) {
        fail_everything(s);
        break;
      }
      if (arrived == 0) break;
      busy = true;
      std::string bytes;
      if (Status s = ReceiveProbed(status, bytes); !s.ok()) {
        fail_everything(s);
        break;
      }
      std::uint64_t id = 0;
      if (bytes.size() >= kErrandIdBytes) std::memcpy(&id, bytes.data(), kErrandIdBytes);
      const auto flight = in_flight.find(id);
      if (bytes.size() < kErrandIdBytes || flight == in_flight.end() ||
          static_cast<int>(flight->second.index) + 1 != status.from) {
        fail_everything(Internal("MPI rank " + std::to_string(status.from) +
                                 " answered a request rank 0 did not send it."));
        break;
      }
      Deliver(flight->second.state, flight->second.index, bytes.substr(kErrandIdBytes));
      in_flight.erase(flight);
    }
    if (work_done && in_flight.empty() && sending.empty()) break;
    if (busy) {
      backoff.Reset();
    } else {
      backoff.Wait();
    }
  }
  worker.join();
  for (int rank = 1; rank < Size(); ++rank) {
    const Status s = MpiStatus(g_mpi->send(nullptr, 0, rank, kStepOverTag), "send");
    if (failure.ok()) failure = s;
  }
  return failure;
}

// The other ranks' side of RunServed: each request from rank 0 answered, until the step is over. Waiting
// for a request, or for rank 0 to take an answer, it polls (Backoff: up to 500 µs between polls when
// idle), so that a rank waiting on rank 0 costs little CPU.
Status AnswerErrands(const std::function<std::string(std::string_view)>& answer) {
  Backoff idle(std::chrono::microseconds(500));
  while (true) {
    int arrived = 0;
    Probed status;
    LOUPE_RETURN_IF_ERROR(MpiStatus(g_mpi->try_probe(0, kAnyTag, &arrived, &status), "probe"));
    if (arrived == 0) {
      idle.Wait();
      continue;
    }
    idle.Reset();
    std::string id;
    LOUPE_RETURN_IF_ERROR(ReceiveProbed(status, id));
    if (status.tag == kStepOverTag) return Status::Ok();
    if (status.tag != kRequestTag || id.size() != kErrandIdBytes) {
      return Internal("MPI rank " + std::to_string(Rank()) + " received a message of tag " +
                      std::to_string(status.tag) + " while it answered rank 0's requests.");
    }
    // The request's bytes follow at once (the carrier sends both together).
    LOUPE_RETURN_IF_ERROR(MpiStatus(g_mpi->probe(0, kRequestBodyTag, &status), "probe"));
    std::string body;
    LOUPE_RETURN_IF_ERROR(ReceiveProbed(status, body));
    std::string reply = id + answer(body);
    std::string().swap(body);
    if (reply.size() > static_cast<std::size_t>(kMpiPieceBytes)) {  // MPI counts are ints
      reply =
          id + std::string(1, static_cast<char>(StatusCode::kUnsupported)) +
          "an answer of more than 1 GiB cannot be sent to rank 0 in one message; make smaller model calls.";
    }
    Request sent = nullptr;
    LOUPE_RETURN_IF_ERROR(MpiStatus(
        g_mpi->start_send(reply.data(), static_cast<int>(reply.size()), 0, kAnswerTag, &sent), "send"));
    for (int done = 0;;) {
      LOUPE_RETURN_IF_ERROR(MpiStatus(g_mpi->test(&sent, &done), "send"));
      if (done != 0) break;
      idle.Wait();
    }
    idle.Reset();
  }
}

}  // namespace

Status RunServed(const std::function<void()>& work,
                 const std::function<std::string(std::string_view)>& answer) {
  if (!Distributed()) {
    work();
    return Status::Ok();
  }
  if (!IsRoot()) return AnswerErrands(answer);
  ErrandCarrier carrier;
  g_carrier = &carrier;
  const Status status = CarryErrands(carrier, work);
  g_carrier = nullptr;
  return status;
}

Errands::Errands(std::vector<std::string> requests) : state_(std::make_shared<State>()) {
  state_->answers.resize(requests.size());
  for (const std::string& request : requests) state_->due += request.empty() ? 0 : 1;
  state_->requests = std::move(requests);
  ErrandCarrier* carrier = g_carrier;
  if (carrier == nullptr || !IsRoot()) {
    state_->status = Internal("requests to the MPI ranks can be made only by rank 0 during a served step.");
    state_->done = true;
    return;
  }
  if (state_->requests.size() + 1 > static_cast<std::size_t>(Size())) {
    state_->status = Internal("requests were made to " + std::to_string(state_->requests.size()) +
                              " other MPI ranks, but the run has " + std::to_string(Size()) + " ranks.");
    state_->done = true;
    return;
  }
  for (const std::string& request : state_->requests) {
    if (request.size() + kErrandIdBytes > static_cast<std::size_t>(kMpiPieceBytes)) {
      state_->status = Internal("a request to an MPI rank over 1 GiB cannot be sent in one message.");
      state_->done = true;
      return;
    }
  }
  std::lock_guard<std::mutex> lock(carrier->mutex);
  if (state_->due == 0) {
    state_->done = true;
    return;
  }
  carrier->posted.push_back(state_);
  carrier->wake.notify_all();
}

Result<std::vector<std::string>> Errands::Wait() {
  if (ErrandCarrier* carrier = g_carrier; carrier != nullptr) {
    std::unique_lock<std::mutex> lock(carrier->mutex);
    state_->answered.wait(lock, [this] { return state_->done; });
  }
  if (!state_->status.ok()) return state_->status;
  return std::move(state_->answers);
}

Errands::~Errands() {
  if (ErrandCarrier* carrier = g_carrier; carrier != nullptr) {
    std::unique_lock<std::mutex> lock(carrier->mutex);
    state_->answered.wait(lock, [this] { return state_->done; });
  }
}

#else  // built without MPI: one rank alone

bool Available() { return false; }
Result<std::string> LibraryVersion() { return std::string(); }
Session::Session(int*, char***) { (void)StartedByLauncher; }
Session::~Session() = default;
int Rank() { return 0; }
int Size() { return 1; }
Result<std::vector<std::string>> GatherToRoot(const std::string& mine) {
  return std::vector<std::string>{mine};
}
Status BroadcastFromRoot(std::string&) { return Status::Ok(); }
Status RunServed(const std::function<void()>& work, const std::function<std::string(std::string_view)>&) {
  work();
  return Status::Ok();
}
Errands::Errands(std::vector<std::string>) : state_(std::make_shared<State>()) {
  state_->status = Internal("this loupe was built without MPI, so it has no other ranks to ask.");
  state_->done = true;
}
Errands::~Errands() = default;
Result<std::vector<std::string>> Errands::Wait() { return state_->status; }

#endif

}  // namespace loupe::mpi
