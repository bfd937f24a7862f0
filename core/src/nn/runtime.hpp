// The shared machinery of the nn ops (internal to core/src/nn): one CPU engine, a stream and a user
// scratchpad per thread, OpenMP pinned to one thread per caller, a thread-safe primitive cache, and per
// thread the primitives bound to their argument memory objects, so that a steady-state call builds nothing.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
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

// Guard for the hot path: `describe()` (the op's name and shape) is built only when `body` throws, and
// neither callable is type-erased, so a call that succeeds allocates nothing here.
Status OneDnnError(const std::string& op, const dnnl::error& e);
Status OutOfMemory(const std::string& op);
template <typename Describe, typename Body>
Status GuardLazy(const Describe& describe, const Body& body) {
  try {
    body();
    return Status::Ok();
  } catch (const dnnl::error& e) {
    return OneDnnError(describe(), e);
  } catch (const std::bad_alloc&) {
    return OutOfMemory(describe());
  }
}

// A primitive bound, for the calling thread, to one memory object per argument (created once; only their
// data pointers change from call to call) and to the thread's scratchpad, executed through oneDNN's C API
// with a prebuilt argument array. A steady-state Execute allocates nothing in Loupe's code; oneDNN 2.6's
// dnnl_primitive_execute still builds its own argument map inside the library (4 to 7 allocations of a
// few dozen bytes per primitive, from the allocator's per-thread cache; docs/architecture.md §4).
class BoundPrimitive {
 public:
  BoundPrimitive(std::shared_ptr<const CachedPrimitive> primitive,
                 const std::vector<std::pair<int, dnnl::memory::desc>>& args);
  // Points argument `slot` (its position in the constructor's list) at `data`.
  void Set(std::size_t slot, const void* data) {
    memories_[slot].set_data_handle(const_cast<void*>(data));  // NOLINT: inputs are only read
  }
  // Replaces argument `slot` by a memory object that owns its data (prepared weights).
  void SetMemory(std::size_t slot, const dnnl::memory& memory);
  // Runs the primitive on the calling thread's stream and scratchpad, then waits.
  void Execute();
  const CachedPrimitive& primitive() const { return *primitive_; }

 private:
  std::shared_ptr<const CachedPrimitive> primitive_;
  std::vector<dnnl::memory> memories_;  // one per argument, the scratchpad last when there is one
  std::vector<dnnl_exec_arg_t> args_;
};

// What identifies a bound primitive on a thread: the op, its owner (a DenseLayer's id, or op parameters
// packed by the caller) and up to twelve sizes (a strided matmul's dimensions and strides).
struct BoundKey {
  static constexpr int kSizes = 12;
  int op = 0;
  std::uint64_t owner = 0;
  std::int64_t size[kSizes] = {};
  bool operator==(const BoundKey& other) const;
};

// The calling thread's primitive bound under `key`, or null (looked up without allocating).
BoundPrimitive* FindBound(const BoundKey& key);
// Keeps `bound` under `key` for the calling thread. Past a few thousand keys (explainers call with many
// batch sizes) the thread's table starts over.
BoundPrimitive& KeepBound(const BoundKey& key, BoundPrimitive bound);

// A process-wide id for an object owning bound primitives: never reused, so a thread's table never
// mistakes a new layer at a freed layer's address for the old one.
std::uint64_t NextOwnerId();

// Round-to-nearest-even f32 → bf16 (the conversion oneDNN's reorders do).
void ToBf16(const float* in, std::size_t count, std::uint16_t* out);

}  // namespace loupe::nn::detail

namespace loupe::nn {

enum class Activation;  // nn/ops.hpp

namespace detail {
// The oneDNN eltwise algorithm of an activation (the forward ops and their backward passes).
dnnl::algorithm EltwiseAlgorithm(Activation activation);

// The bits of a float parameter (alpha, eps), for primitive cache keys.
inline std::uint64_t FloatBits(float value) { return std::bit_cast<std::uint32_t>(value); }

// A float in a cache key or message, exactly (std::to_string would merge 1e-12 and 1e-13).
std::string FloatKey(float value);

// Dimensions as "[2, 3]", for cache keys and messages.
std::string Dims(std::initializer_list<std::int64_t> values);
}  // namespace detail

}  // namespace loupe::nn
