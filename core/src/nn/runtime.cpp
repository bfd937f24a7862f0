#include "nn/runtime.hpp"

#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace loupe::nn::detail {
namespace {

// A 64-byte-aligned buffer, one per thread, that grows to the largest scratchpad asked for — except that
// one larger than kMaxKeptBytes is freed after its call, so a rare huge batch does not pin memory to the
// thread for the rest of the process.
class Scratchpad {
 public:
  static constexpr std::size_t kMaxKeptBytes = std::size_t{16} << 20;

  void ReleaseIfHuge() {
    if (capacity_ > kMaxKeptBytes) {
      data_.reset();
      capacity_ = 0;
    }
  }

  void* Reserve(std::size_t bytes) {
    if (bytes > capacity_) {
      const std::size_t rounded = (bytes + 63) / 64 * 64;
      void* p = std::aligned_alloc(64, rounded);
      if (p == nullptr) throw std::bad_alloc();
      data_.reset(static_cast<std::byte*>(p));
      capacity_ = rounded;
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> data_;
  std::size_t capacity_ = 0;
};

}  // namespace

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

void PinThread() {
  thread_local const bool pinned = [] {
    omp_set_num_threads(1);
    return true;
  }();
  (void)pinned;
}

dnnl::stream& Stream() {
  PinThread();
  thread_local dnnl::stream stream(Engine());
  return stream;
}

dnnl::primitive_attr UserScratchpadAttr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void Execute(const dnnl::primitive& primitive, const dnnl::memory::desc& scratchpad,
             std::unordered_map<int, dnnl::memory> args) {
  thread_local Scratchpad buffer;
  dnnl::stream& stream = Stream();
  const std::size_t bytes = scratchpad.get_size();
  if (bytes > 0) args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(scratchpad, Engine(), buffer.Reserve(bytes));
  primitive.execute(stream, args);
  stream.wait();
  buffer.ReleaseIfHuge();
}

PrimitiveCache& PrimitiveCache::Instance() {
  static PrimitiveCache cache;
  return cache;
}

std::shared_ptr<const CachedPrimitive> PrimitiveCache::Get(const std::string& key,
                                                           const std::function<CachedPrimitive()>& make) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = entries_.find(key);
    if (it != entries_.end()) return it->second;
  }
  // Created outside the lock: creation can take milliseconds and other shapes must not wait for it.
  // Two threads may both create the same primitive; the first one stored wins.
  PinThread();
  auto created = std::make_shared<const CachedPrimitive>(make());
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.size() >= kMaxEntries) entries_.clear();
  return entries_.emplace(key, std::move(created)).first->second;
}

std::size_t PrimitiveCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

dnnl::memory Wrap(const dnnl::memory::desc& desc, const void* data) {
  return dnnl::memory(desc, Engine(), const_cast<void*>(data));  // NOLINT: read-only use
}

Status Guard(const std::string& op, const std::function<void()>& body) {
  try {
    body();
    return Status::Ok();
  } catch (const dnnl::error& e) {
    return ModelError("oneDNN failed in " + op + ": " + e.what() + " (status " + std::to_string(e.status) +
                      ").");
  } catch (const std::bad_alloc&) {
    return ModelError("out of memory in " + op + ".");
  }
}

void ToBf16(const float* in, std::size_t count, std::uint16_t* out) {
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, &in[i], sizeof bits);
    if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0) {
      out[i] = static_cast<std::uint16_t>((bits >> 16) | 0x0040u);  // NaN stays a (quiet) NaN
      continue;
    }
    const std::uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
    out[i] = static_cast<std::uint16_t>((bits + rounding) >> 16);
  }
}

}  // namespace loupe::nn::detail
