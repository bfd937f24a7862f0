// The interface between core's mpi/world.cpp and the MPI module (core/modules/mpi.cpp), the one shared
// object of Loupe that includes mpi.h and links the MPI library (docs/architecture.md §1, "Modules loaded on
// first use"). Core loads the module with dlopen only when a launcher (mpirun, srun) started the process, or
// when `loupe version` asks for the library's version line, so a plain run does not load libmpi and the
// libraries it needs (Open MPI: libopen-rte, libopen-pal, libhwloc, libevent_core, libevent_pthreads,
// libudev), whose loading and relocation every process paid.
//
// The interface is Loupe's own, in MPI_COMM_WORLD's terms, and has no MPI type in it: bytes, ranks, tags,
// opaque request handles, and error codes (0 is success) that the module turns into MPI's own text. The
// module is compiled against whichever mpi.h the build found, so any MPI library works. It is built from
// the same tree as core and exports one C function returning this table; core refuses a module of another
// build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace loupe::mpi {

// Wildcards for Probe and TryProbe's `from` and `tag` (MPI_ANY_SOURCE, MPI_ANY_TAG).
inline constexpr int kAnyRank = -1;
inline constexpr int kAnyTag = -1;

// A message announced by a probe: its sender, its tag and its size in bytes.
struct Probed {
  int from = 0;
  int tag = 0;
  int bytes = 0;
};

// An operation in flight (an MPI_Request the module allocated); nullptr once complete.
using Request = void*;

struct MpiModule {
  // The build the module comes from: core refuses a module of another version, or whose Probed or
  // std::string differ in size from its own.
  const char* loupe_version;
  std::size_t probed_size;
  std::size_t string_size;
  // The library's version text (MPI_Get_library_version: callable before MPI starts).
  void (*library_version)(std::string* text);
  // MPI's text for an error code this table returned.
  void (*error_text)(int code, std::string* text);
  // Starts MPI (MPI_THREAD_FUNNELED, errors returned as codes, not aborting) and says this process's rank
  // and the number of ranks.
  int (*start)(int* argc, char*** argv, int* rank, int* size);
  void (*finish)();
  // Blocking point-to-point and broadcast of `count` bytes in MPI_COMM_WORLD.
  int (*send)(const void* bytes, int count, int to, int tag);
  int (*receive)(void* bytes, int count, int from, int tag);
  int (*broadcast)(void* bytes, int count, int root);
  // A non-blocking send: `*request` stays valid until Test says it is done (and sets it to nullptr).
  int (*start_send)(const void* bytes, int count, int to, int tag, Request* request);
  int (*test)(Request* request, int* done);
  // Whether a message from `from` with `tag` (or the wildcards) is waiting, and what it is; Probe waits
  // for one.
  int (*try_probe)(int from, int tag, int* arrived, Probed* probed);
  int (*probe)(int from, int tag, Probed* probed);
};

}  // namespace loupe::mpi

// The module's one exported symbol.
#define LOUPE_MPI_MODULE_ENTRY "loupe_mpi_module"
extern "C" const loupe::mpi::MpiModule* loupe_mpi_module();
