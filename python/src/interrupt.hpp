// Ctrl-C for long calls into the host (python/README.md "Ctrl-C"): the work runs on a thread of its own
// while the Python thread waits without the GIL and checks for signals, so a KeyboardInterrupt cancels
// the work through the host's cancellation flag instead of waiting for it to end.
#pragma once

#include <atomic>
#include <functional>

namespace loupe::python {

// Runs `work` on a new thread while this (the Python) thread waits without the GIL, checking for signals
// every 50 ms. When a signal handler raises (Ctrl-C: KeyboardInterrupt), `cancelled` is set, which the
// host polls (ExplainRequest::cancelled, RunOptions::cancelled), and the exception is raised here once
// `work` has returned. `work` must not throw and must not touch Python objects without taking the GIL.
// Needs the GIL.
void RunInterruptible(const std::function<void()>& work, std::atomic<bool>& cancelled);

}  // namespace loupe::python
