#include "nn/runtime.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
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

Scratchpad& ThreadScratchpad() {
  thread_local Scratchpad buffer;
  return buffer;
}

struct BoundKeyHash {
  std::size_t operator()(const BoundKey& key) const {
    std::uint64_t h = static_cast<std::uint64_t>(key.op) * 0x9E3779B97F4A7C15ULL ^ key.owner;
    for (const std::int64_t s : key.size) h = (h ^ static_cast<std::uint64_t>(s)) * 0x100000001B3ULL;
    return static_cast<std::size_t>(h);
  }
};

using BoundTable = std::unordered_map<BoundKey, std::unique_ptr<BoundPrimitive>, BoundKeyHash>;

BoundTable& ThreadBoundTable() {
  thread_local BoundTable table;
  return table;
}

constexpr std::size_t kMaxBoundPerThread = 4096;

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
  Scratchpad& buffer = ThreadScratchpad();
  dnnl::stream& stream = Stream();
  const std::size_t bytes = scratchpad.get_size();
  if (bytes > 0) args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(scratchpad, Engine(), buffer.Reserve(bytes));
  primitive.execute(stream, args);
  stream.wait();
  buffer.ReleaseIfHuge();
}

BoundPrimitive::BoundPrimitive(std::shared_ptr<const CachedPrimitive> primitive,
                               const std::vector<std::pair<int, dnnl::memory::desc>>& args)
    : primitive_(std::move(primitive)) {
  for (const auto& [arg, desc] : args) {
    memories_.emplace_back(desc, Engine(), nullptr);
    args_.push_back({arg, memories_.back().get()});
  }
  if (primitive_->scratchpad.get_size() > 0) {
    memories_.emplace_back(primitive_->scratchpad, Engine(), nullptr);
    args_.push_back({DNNL_ARG_SCRATCHPAD, memories_.back().get()});
  }
}

void BoundPrimitive::SetMemory(std::size_t slot, const dnnl::memory& memory) {
  memories_[slot] = memory;
  args_[slot].memory = memory.get();
}

void BoundPrimitive::Execute() {
  Scratchpad& buffer = ThreadScratchpad();
  dnnl::stream& stream = Stream();
  const std::size_t bytes = primitive_->scratchpad.get_size();
  if (bytes > 0) memories_.back().set_data_handle(buffer.Reserve(bytes));
  dnnl::error::wrap_c_api(dnnl_primitive_execute(primitive_->primitive.get(), stream.get(),
                                                 static_cast<int>(args_.size()), args_.data()),
                          "could not execute a primitive");
  stream.wait();
  buffer.ReleaseIfHuge();
}

bool BoundKey::operator==(const BoundKey& other) const {
  return op == other.op && owner == other.owner && std::equal(size, size + kSizes, other.size);
}

BoundPrimitive* FindBound(const BoundKey& key) {
  BoundTable& table = ThreadBoundTable();
  const auto it = table.find(key);
  return it == table.end() ? nullptr : it->second.get();
}

BoundPrimitive& KeepBound(const BoundKey& key, BoundPrimitive bound) {
  BoundTable& table = ThreadBoundTable();
  if (table.size() >= kMaxBoundPerThread) table.clear();
  auto& slot = table[key];
  slot = std::make_unique<BoundPrimitive>(std::move(bound));
  return *slot;
}

std::uint64_t NextOwnerId() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
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

Status OneDnnError(const std::string& op, const dnnl::error& e) {
  return ModelError("oneDNN failed in " + op + ": " + e.what() + " (status " + std::to_string(e.status) +
                    ").");
}

Status OutOfMemory(const std::string& op) { return ModelError("out of memory in " + op + "."); }

Status Guard(const std::string& op, const std::function<void()>& body) {
  return GuardLazy([&] { return op; }, body);
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

std::string FloatKey(float value) {
  char text[32];
  std::snprintf(text, sizeof text, "%a", static_cast<double>(value));
  return text;
}

std::string Dims(std::initializer_list<std::int64_t> values) {
  std::string text = "[";
  for (const std::int64_t v : values) text += (text.size() > 1 ? ", " : "") + std::to_string(v);
  return text + "]";
}

}  // namespace loupe::nn::detail
