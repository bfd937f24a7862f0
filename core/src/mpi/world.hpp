// The MPI ranks of a `mpirun -n K loupe run` (docs/architecture.md §1 "One room per dependency", §4).
//
// MPI itself is called by the MPI module (lib/loupe/modules/loupe_mpi.so, core/modules/mpi.cpp: the only
// code that includes mpi.h), which world.cpp loads only when a launcher started the process, or when
// `loupe version` asks for the library's version; the rest of the host sees ranks and byte buffers.
// Built without MPI (LOUPE_WITH_MPI=OFF, or libopenmpi-dev absent) every function here answers as one
// rank alone, so the runner's code has no #if. MPI is started only when a launcher started the process
// (mpirun, srun: they set OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE); a plain `loupe run` never
// touches MPI, so it neither pays MPI's start-up nor needs a launcher.
//
// Every MPI call is made from one thread (the runner's, the one that started MPI), so MPI_THREAD_FUNNELED
// is enough; the explainers' threads never call MPI. During RunServed they hand their requests to the
// runner's thread (Errands), which carries them (docs/architecture.md §4 "MPI").
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loupe/core/status.hpp"

namespace loupe::mpi {

// Whether this build has MPI, and the library's own version line ("Open MPI v4.1.4") for `loupe version`:
// empty without MPI; asking loads the MPI module, and a sentence's end (where it was looked for, what to do)
// when it cannot be found or loaded.
bool Available();
Result<std::string> LibraryVersion();

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
// pipeline into the same folder), or when a launcher started a build with MPI whose MPI module cannot be
// found or loaded (the sentence says where it was looked for); OK otherwise. Under a launcher it loads the
// MPI module.
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

// A step that runs on rank 0 while the other ranks answer its requests (its model evaluations:
// mpi/shared_predict.hpp). Collective, called from the thread that started MPI. On rank 0: runs `work` on a
// new thread while this thread carries the requests that work's threads make (Errands) to the other ranks
// and their answers back; returns once `work` has returned and every other rank has been told that the
// step is over. On the other ranks: answers each request with `answer` (on this thread, one at a time, in
// the order they arrive) until rank 0 says the step is over; `work` is not called there. The status is of
// the traffic alone (an MPI failure); without MPI, or on one rank, `work` runs on this thread.
Status RunServed(const std::function<void()>& work,
                 const std::function<std::string(std::string_view)>& answer);

// Rank 0, from any thread while RunServed's work runs: requests[r - 1] sent to rank r (an empty request is
// not sent), the answers awaited by Wait. Outside RunServed (or without MPI) Wait fails.
class Errands {
 public:
  explicit Errands(std::vector<std::string> requests);
  ~Errands();  // waits for the answers still due (their memory is written by this thread's carrier)
  Errands(const Errands&) = delete;
  Errands& operator=(const Errands&) = delete;
  // The answers, answers[r - 1] from rank r ("" for a request not sent); an MPI failure as its status.
  Result<std::vector<std::string>> Wait();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace loupe::mpi
