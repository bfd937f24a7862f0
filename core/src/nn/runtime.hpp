// The shared machinery of the nn ops (internal to core/src/nn): one CPU engine, a stream and a user
// scratchpad per thread, OpenMP pinned to one thread per caller, and a thread-safe primitive cache.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "loupe/core/status.hpp"

namespace loupe::nn::detail {

dnnl::engine& Engine();

// Limits oneDNN's OpenMP team to one thread for the calling thread (OpenMP ICVs are per thread), once.
// Every function below calls it: a primitive is sized for omp_get_max_threads() when it is created and
// must never fan out inside a TBB task.
void PinThread();

// The calling thread's stream.
dnnl::stream& Stream();

// Attributes every primitive is created with: a user scratchpad (TOOLCHAIN.md gotcha 4).
dnnl::primitive_attr UserScratchpadAttr();

// Executes `primitive` on the calling thread's stream with its own per-thread scratchpad of
// `scratchpad` bytes, then waits.
void Execute(const dnnl::primitive& primitive, const dnnl::memory::desc& scratchpad,
             std::unordered_map<int, dnnl::memory> args);

// A created primitive with the descriptors its callers need.
struct CachedPrimitive {
  dnnl::primitive primitive;
  dnnl::memory::desc scratchpad;
  dnnl::memory::desc weights;       // weights in the layout the primitive chose (matmul, LSTM layer)
  dnnl::memory::desc weights_iter;  // LSTM recurrent weights
  std::string implementation;
};

// Primitives by key (op + shape + precision), created once and shared by all threads.
class PrimitiveCache {
 public:
  static PrimitiveCache& Instance();
  std::shared_ptr<const CachedPrimitive> Get(const std::string& key,
                                             const std::function<CachedPrimitive()>& make);
  std::size_t size() const;

 private:
  // Explainers call with many batch sizes: past this many entries the cache starts over (entries in use
  // stay alive through their shared_ptr).
  static constexpr std::size_t kMaxEntries = 4096;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const CachedPrimitive>> entries_;
};

// Wraps a memory object around caller-owned data (oneDNN takes a non-const pointer; inputs are only read).
dnnl::memory Wrap(const dnnl::memory::desc& desc, const void* data);

// Converts a dnnl::error (or allocation failure) thrown by `body` into a Status naming the op.
Status Guard(const std::string& op, const std::function<void()>& body);

// Round-to-nearest-even f32 → bf16 (the conversion oneDNN's reorders do).
void ToBf16(const float* in, std::size_t count, std::uint16_t* out);

}  // namespace loupe::nn::detail
