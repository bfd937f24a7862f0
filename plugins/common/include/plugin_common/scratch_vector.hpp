// Per-thread scratch vectors for explainers' model loops (docs/architecture.md §4): a multi-MB buffer
// freed and allocated again per batch or per row makes glibc return it to the kernel and fault it in again,
// which made whole runs up to 5x slower at random. shap's coalition games and lime.tabular both use it.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace loupe::plugin_common {

// A buffer larger than this is freed when its lease ends rather than kept for the thread's next use.
inline constexpr std::size_t kMaxKeptScratchBytes = std::size_t{32} << 20;

// A std::vector borrowed from the calling thread's pool for one scope, resized to `size` (contents
// unspecified), so that a loop's buffers are allocated once per thread. Reentrant: a TBB task that waits
// inside Predict and runs another chunk on the same thread takes another buffer.
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

}  // namespace loupe::plugin_common
