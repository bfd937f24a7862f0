#include "interrupt.hpp"

#include <pybind11/pybind11.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace py = pybind11;

namespace loupe::python {

void RunInterruptible(const std::function<void()>& work, std::atomic<bool>& cancelled) {
  bool finished = false;
  std::mutex mutex;
  std::condition_variable finished_signal;
  std::optional<py::error_already_set> interrupt;
  {
    py::gil_scoped_release release;
    std::thread worker([&] {
      work();
      std::lock_guard<std::mutex> lock(mutex);
      finished = true;
      finished_signal.notify_all();
    });
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex);
        if (finished_signal.wait_for(lock, std::chrono::milliseconds(50), [&] { return finished; })) break;
      }
      if (interrupt) continue;
      py::gil_scoped_acquire gil;
      if (PyErr_CheckSignals() != 0) {
        interrupt.emplace();  // takes the KeyboardInterrupt (or whatever a signal handler raised)
        cancelled = true;
      }
    }
    worker.join();
  }
  if (interrupt) throw *interrupt;
}

}  // namespace loupe::python
