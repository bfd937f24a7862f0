#pragma once
// ThreadSanitizer's view of the work Loupe hands to TBB (`make test-thread`, docs/architecture.md §4).
//
// Debian's libtbb is not built with -fsanitize=thread. A task reaches a worker thread through atomics
// inside that uninstrumented library, so TSan sees neither that what the spawning thread wrote before
// tbb::parallel_for (or a flow graph's try_put) happens before the task runs, nor that a task's writes
// happen before the caller goes on after the join: every result a task writes for its caller would be
// reported as a race. Each place where Loupe hands work to TBB declares those two edges through a
// TbbHandoff, which is what an instrumented libtbb would have shown TSan. Tasks only acquire the start
// edge and only release the done edge, never each other's, so two tasks that run at the same time and
// touch the same memory are still reported.
//
// Without TSan every member is an empty inline function.

#if defined(__SANITIZE_THREAD__)
#define LOUPE_TSAN_ENABLED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LOUPE_TSAN_ENABLED 1
#endif
#endif

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

#include <cstdint>

#ifdef LOUPE_TSAN_ENABLED
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace loupe::plugin {

// One handoff of work from a caller to TBB tasks and back. Keep it alive from before the spawn until
// after the join.
class TbbHandoff {
 public:
  void BeforeSpawn() { Release(&start_); }  // caller, before parallel_for / try_put
  void TaskStarts() { Acquire(&start_); }   // every task, first thing
  void TaskEnds() { Release(&done_); }      // every task, last thing
  void AfterJoin() { Acquire(&done_); }     // caller, after the join / wait_for_all

 private:
#ifdef LOUPE_TSAN_ENABLED
  static void Release(char* key) { __tsan_release(key); }
  static void Acquire(char* key) { __tsan_acquire(key); }
#else
  static void Release(char*) {}
  static void Acquire(char*) {}
#endif
  char start_ = 0;
  char done_ = 0;
};

}  // namespace loupe::plugin

namespace loupe::tbb_spawn {

// tbb::parallel_for over `chunks` chunks of one (body takes a tbb::blocked_range<std::int64_t>), kept out
// of line: the code of this frame is TBB's own inline task set-up (its root task and wait context on this
// stack, reused by the next call after the join), which tests/sanitizers/tsan.supp treats as it treats
// TBB's frames; the chunks' bodies run in TBB's task frames, and the code they call stays checked. Every
// tbb::parallel_for of Loupe's goes through here.
template <typename Body>
[[gnu::noinline]] void ChunksInParallel(std::int64_t chunks, const Body& body) {
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, chunks, 1), body, tbb::simple_partitioner());
}

}  // namespace loupe::tbb_spawn
