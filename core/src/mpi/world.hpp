// The MPI ranks of a `mpirun -n K loupe run` (docs/architecture.md §1 "One room per dependency", §4).
//
// This folder is the only place that includes mpi.h; the rest of the host sees ranks and byte buffers.
// Built without MPI (LOUPE_WITH_MPI=OFF, or libopenmpi-dev absent) every function here answers as one
// rank alone, so the runner's code has no #if. MPI is started only when a launcher started the process
// (mpirun, srun: they set OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE); a plain `loupe run` never
// touches MPI, so it neither pays MPI's start-up nor needs a launcher.
//
// Every collective here is called from one thread (the runner's), so MPI_THREAD_FUNNELED is enough; the
// explainers' threads never call MPI.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "loupe/core/status.hpp"

namespace loupe::mpi {

// Whether this build has MPI, and the library's own version line ("Open MPI v4.1.4, ...") for
// `loupe version`; empty without MPI.
bool Available();
std::string LibraryVersion();

// Starts MPI for the lifetime of this object when the process was started by an MPI launcher and the
// build has MPI; otherwise does nothing. At most one exists at a time (the `run` command's).
class Session {
 public:
  Session(int* argc, char*** argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

// A refusal when a launcher started several ranks of a build without MPI (each would run the whole
// pipeline into the same folder); OK otherwise.
Status CheckLaunch();

// This process's rank and the number of ranks: 0 and 1 when MPI is not running.
int Rank();
int Size();
inline bool IsRoot() { return Rank() == 0; }
inline bool Distributed() { return Size() > 1; }

// Collective: every rank hands its bytes; rank 0 receives every rank's bytes in rank order (its own
// first), the other ranks receive nothing. Sizes are unbounded (sent in pieces under 1 GiB).
Result<std::vector<std::string>> GatherToRoot(const std::string& mine);
// Collective: rank 0's `bytes` replace every other rank's.
Status BroadcastFromRoot(std::string& bytes);

}  // namespace loupe::mpi
