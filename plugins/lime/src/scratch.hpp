// Per-thread scratch vectors for lime.tabular's per-row buffers (docs/architecture.md §4): the
// neighbourhood of one row is a few MB, and allocating and freeing it for every explained row makes glibc
// return the memory to the kernel and fault it in again on the next row.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace loupe::lime {

// A buffer larger than this is freed when its lease ends rather than kept for the thread's next row.
inline constexpr std::size_t kMaxKeptScratchBytes = std::size_t{32} << 20;

// A std::vector borrowed from the calling thread's pool for one scope, resized to `size` (contents
// unspecified). Reentrant: a task that waits inside Predict and runs another row on the same thread takes
// another buffer.
template <typename T>
class ScratchVector {
 public:
  explicit ScratchVector(std::size_t size) : buffer_(Pool().Take()) { buffer_->resize(size); }
  ~ScratchVector() { Pool().Give(std::move(buffer_)); }
  ScratchVector(const ScratchVector&) = delete;
  ScratchVector& operator=(const ScratchVector&) = delete;

  std::vector<T>& operator*() const { return *buffer_; }
  std::vector<T>* operator->() const { return buffer_.get(); }
  T* data() const { return buffer_->data(); }
  T& operator[](std::size_t i) const { return (*buffer_)[i]; }

 private:
  struct FreeList {
    std::vector<std::unique_ptr<std::vector<T>>> idle;
    std::unique_ptr<std::vector<T>> Take() {
      if (idle.empty()) return std::make_unique<std::vector<T>>();
      std::unique_ptr<std::vector<T>> buffer = std::move(idle.back());
      idle.pop_back();
      return buffer;
    }
    void Give(std::unique_ptr<std::vector<T>> buffer) {
      if (buffer->capacity() * sizeof(T) > kMaxKeptScratchBytes) std::vector<T>().swap(*buffer);
      idle.push_back(std::move(buffer));
    }
  };
  static FreeList& Pool() {
    thread_local FreeList pool;
    return pool;
  }
  std::unique_ptr<std::vector<T>> buffer_;
};

}  // namespace loupe::lime
