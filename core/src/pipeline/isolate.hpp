// Crash isolation of a step's plugin call (`loupe run --isolate`, docs/architecture.md §5 "CLI").
//
// The call runs in a child made with fork() after the data and the model are loaded, so the child reads
// them (and the explanations of the steps it needs) from the copy-on-write memory it inherited. Its result
// comes back over a pipe as the explanation's metadata (CBOR: the JSON values, bit-exact, NaN included)
// followed by the raw bytes of each typed array, and is rebuilt in the parent: no JSON text of arrays.
// A child that dies (signal, exit() from the plugin, an allocation beyond --max-memory) becomes a failure
// of its step with one sentence; the parent and the other steps carry on.
//
// Why fork and not a re-executed helper: the child needs the loaded model, data, plugins and earlier
// results, which fork hands over for free. fork() copies only the calling thread, and TBB does not start
// workers again in a child (tried with oneTBB 2021.8: a parallel_for in a child forked from a flow-graph
// task ran on one thread, in the inherited arena and in a fresh task_arena alike), while its scheduler's
// locks may be held by parent threads that the child lacks. So the child never uses TBB: the host's
// parallel_for runs the same chunks in order on the child's one thread (host_context.hpp), which keeps
// the results bit-identical (docs/architecture.md §4). Independent steps still run at once, each in its
// own child. oneDNN runs single-threaded per calling thread (§4), so it starts no OpenMP team that fork
// could break.
#pragma once

#include <cstdint>
#include <string_view>

#include "loupe/core/explainer.hpp"
#include "loupe/core/explanation.hpp"
#include "loupe/core/plugin.hpp"
#include "loupe/core/status.hpp"

namespace loupe {

struct IsolationLimits {
  // The most memory the plugin call may allocate on top of what the child inherits (0: no limit),
  // enforced with RLIMIT_DATA (see isolate.cpp for why not RLIMIT_AS).
  std::uint64_t max_memory_bytes = 0;
};

struct IsolatedExplain {
  Result<Explanation> result;
  // The child died before handing back a result (signal, exit, out of memory); `result` holds the sentence
  // ("plugin 'x' crashed with SIGSEGV in step 'y'.").
  bool crashed = false;
};

// Runs explainer.Explain(request) in a child process and returns its result as if it had run here:
// the same explanation (elapsed time aside) or the same error status. request.progress and request.log
// receive the child's progress and log lines.
IsolatedExplain ExplainInChild(const LoadedExplainer& explainer, const ExplainRequest& request,
                               const IsolationLimits& limits);

// "512M", "2G", "64MiB", "1048576": a byte count with an optional binary suffix (K, M, G, T; "B" and "iB"
// allowed after it). The error is a sentence naming the option.
Result<std::uint64_t> ParseMemorySize(std::string_view text);
// 67108864 → "64 MiB", for messages.
std::string FormatMemorySize(std::uint64_t bytes);

}  // namespace loupe
