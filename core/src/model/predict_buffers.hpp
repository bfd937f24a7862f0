// What Predict borrows instead of allocating (docs/architecture.md §4): per-thread scratch buffers, a cached
// TensorView over them, and the one check of a caller's output buffer. With them the native tabular and
// XGBoost models evaluate a batch into the caller's buffer without touching the allocator once a thread
// has warmed up — tests/core/model_alloc counts it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "loupe/core/model.hpp"
#include "loupe/core/status.hpp"
#include "loupe/core/tensor.hpp"
#include "model/layer_registry.hpp"

namespace loupe::model {

// A scratch buffer larger than this is freed when its lease ends rather than kept for the thread's next
// call, so that one huge batch does not pin its memory to a thread for the rest of the process.
inline constexpr std::size_t kMaxKeptScratchBytes = std::size_t{16} << 20;

template <typename T>
std::size_t ScratchBytes(const std::vector<T>& buffer) {
  return buffer.capacity() * sizeof(T);
}
inline std::size_t ScratchBytes(const Activations& a) {
  return ScratchBytes(a.values) + ScratchBytes(a.ids) + ScratchBytes(a.lengths);
}

// A buffer (a std::vector, Activations) borrowed from the calling thread's pool for the length of one
// scope. Reentrant: every live lease holds its own buffer, so a nested call on the same thread (a model
// that calls another model, a TBB task that waits and runs another task) never shares memory with its
// caller, and many threads never share a buffer at all. A returned buffer keeps its capacity (up to
// kMaxKeptScratchBytes), so the next lease of the same size allocates nothing. The contents of a new
// lease are whatever the last user left: size it before use.
template <typename T>
class Scratch {
 public:
  Scratch() : buffer_(Pool().Take()) {}
  ~Scratch() { Pool().Give(std::move(buffer_)); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  T& operator*() const { return *buffer_; }
  T* operator->() const { return buffer_.get(); }

 private:
  // The calling thread's idle buffers; as many as the deepest nesting of leases the thread has seen.
  struct FreeList {
    std::vector<std::unique_ptr<T>> idle;

    std::unique_ptr<T> Take() {
      if (idle.empty()) return std::make_unique<T>();
      std::unique_ptr<T> buffer = std::move(idle.back());
      idle.pop_back();
      return buffer;
    }
    void Give(std::unique_ptr<T> buffer) {
      if (ScratchBytes(*buffer) > kMaxKeptScratchBytes) *buffer = T();
      idle.push_back(std::move(buffer));
    }
  };
  static FreeList& Pool() {
    thread_local FreeList pool;
    return pool;
  }

  std::unique_ptr<T> buffer_;
};

// TensorViews of row-major f64 [rows, cols] matrices, built again only when the pointer or the shape
// changes: building a TensorView allocates its Shape, and a model loop asks for the same views over the
// same buffers call after call. Two views are kept, the last two asked for, so that a batch cut into
// full chunks and a shorter last chunk finds both.
class MatrixViewCache {
 public:
  const TensorView& View(const double* data, std::int64_t rows, std::int64_t cols) {
    for (Entry& entry : entries_) {
      if (entry.built && entry.data == data && entry.rows == rows && entry.cols == cols) {
        last_ = static_cast<int>(&entry - entries_);
        return entry.view;
      }
    }
    last_ = 1 - last_;  // replace the one not used last
    entries_[last_] = {TensorView(data, DType::kF64, Shape{rows, cols}), data, rows, cols, true};
    return entries_[last_].view;
  }

 private:
  struct Entry {
    TensorView view;
    const double* data = nullptr;
    std::int64_t rows = 0, cols = 0;
    bool built = false;
  };
  Entry entries_[2];
  int last_ = 0;
};

inline std::size_t ScratchBytes(const MatrixViewCache&) { return 0; }

// Ok when `size` is exactly the rows × Info().OutputNames(space).size() values a prediction of `rows`
// rows writes; otherwise an InvalidArgument naming both sizes.
Status CheckOutputBuffer(const ModelInfo& info, std::int64_t rows, OutputSpace space, std::size_t size);

}  // namespace loupe::model
