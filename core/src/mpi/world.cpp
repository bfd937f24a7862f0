// MPI behind world.hpp: the only translation unit that includes mpi.h (docs/architecture.md §1).
#include "mpi/world.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#if LOUPE_WITH_MPI
#include <mpi.h>
#endif

namespace loupe::mpi {

namespace {

// Set by a launcher (Open MPI's mpirun, Slurm's srun through PMI or PMIx, MPICH's hydra).
bool StartedByLauncher() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

#if LOUPE_WITH_MPI
bool g_started = false;  // this process called MPI_Init_thread (and so must finalize)

// MPI counts are ints: large buffers go in pieces of this many bytes.
constexpr std::uint64_t kMpiPieceBytes = std::uint64_t{1} << 30;
constexpr int kSizeTag = 1901;
constexpr int kPieceTag = 1902;

Status MpiStatus(int code, const char* what) {
  if (code == MPI_SUCCESS) return Status::Ok();
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return Internal(std::string("MPI ") + what +
                  " failed: " + std::string(text, static_cast<std::size_t>(length)) + ".");
}

Status SendBytes(const std::string& bytes, int to) {
  const std::uint64_t size = bytes.size();
  LOUPE_RETURN_IF_ERROR(MpiStatus(MPI_Send(&size, 1, MPI_UINT64_T, to, kSizeTag, MPI_COMM_WORLD), "send"));
  for (std::uint64_t at = 0; at < size; at += kMpiPieceBytes) {
    const int piece = static_cast<int>(std::min(kMpiPieceBytes, size - at));
    LOUPE_RETURN_IF_ERROR(
        MpiStatus(MPI_Send(bytes.data() + at, piece, MPI_BYTE, to, kPieceTag, MPI_COMM_WORLD), "send"));
  }
  return Status::Ok();
}

Status ReceiveBytes(int from, std::string& bytes) {
  std::uint64_t size = 0;
  LOUPE_RETURN_IF_ERROR(MpiStatus(
      MPI_Recv(&size, 1, MPI_UINT64_T, from, kSizeTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "receive"));
  bytes.resize(size);
  for (std::uint64_t at = 0; at < size; at += kMpiPieceBytes) {
    const int piece = static_cast<int>(std::min(kMpiPieceBytes, size - at));
    LOUPE_RETURN_IF_ERROR(MpiStatus(
        MPI_Recv(bytes.data() + at, piece, MPI_BYTE, from, kPieceTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
        "receive"));
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
  if (Available() || LauncherRanks() <= 1) return Status::Ok();
  return InvalidArgument(
      "this loupe was built without MPI (libopenmpi-dev), so it cannot split a run across the " +
      std::to_string(LauncherRanks()) + " ranks the launcher started; run it without mpirun or srun.");
}

#if LOUPE_WITH_MPI

bool Available() { return true; }

std::string LibraryVersion() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string version(text, static_cast<std::size_t>(length));
  const std::size_t line_end = version.find_first_of(",\n");  // "Open MPI v4.1.4, package: ..."
  return line_end == std::string::npos ? version : version.substr(0, line_end);
}

Session::Session(int* argc, char*** argv) {
  if (!StartedByLauncher() || g_started) return;
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return;
  g_started = true;
  // Errors come back as codes that become sentences, instead of aborting the job mid-message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

Session::~Session() {
  if (!g_started) return;
  MPI_Finalize();
  g_started = false;
}

int Rank() {
  if (!g_started) return 0;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int Size() {
  if (!g_started) return 1;
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

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
  LOUPE_RETURN_IF_ERROR(MpiStatus(MPI_Bcast(&size, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), "broadcast"));
  bytes.resize(size);
  for (std::uint64_t at = 0; at < size; at += kMpiPieceBytes) {
    const int piece = static_cast<int>(std::min(kMpiPieceBytes, size - at));
    LOUPE_RETURN_IF_ERROR(
        MpiStatus(MPI_Bcast(bytes.data() + at, piece, MPI_BYTE, 0, MPI_COMM_WORLD), "broadcast"));
  }
  return Status::Ok();
}

#else  // built without MPI: one rank alone

bool Available() { return false; }
std::string LibraryVersion() { return ""; }
Session::Session(int*, char***) { (void)StartedByLauncher; }
Session::~Session() = default;
int Rank() { return 0; }
int Size() { return 1; }
Result<std::vector<std::string>> GatherToRoot(const std::string& mine) {
  return std::vector<std::string>{mine};
}
Status BroadcastFromRoot(std::string&) { return Status::Ok(); }

#endif

}  // namespace loupe::mpi
