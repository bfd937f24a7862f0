#include "onnx/value.hpp"

#include <algorithm>
#include <limits>

namespace loupe::onnx {

const char* DataTypeName(DataType type) {
  switch (type) {
    case DataType::kFloat:
      return "float";
    case DataType::kUint8:
      return "uint8";
    case DataType::kInt8:
      return "int8";
    case DataType::kInt32:
      return "int32";
    case DataType::kInt64:
      return "int64";
    case DataType::kString:
      return "string";
    case DataType::kBool:
      return "bool";
    case DataType::kDouble:
      return "double";
    case DataType::kUndefined:
      break;
  }
  return "undefined";
}

bool IsIntegral(DataType type) {
  return type == DataType::kUint8 || type == DataType::kInt8 || type == DataType::kInt32 ||
         type == DataType::kInt64 || type == DataType::kBool;
}

Value Value::Floats(std::vector<std::int64_t> shape, std::vector<float> data) {
  Value v;
  v.type = DataType::kFloat;
  v.shape = std::move(shape);
  v.f = std::move(data);
  return v;
}

Value Value::Ints(std::vector<std::int64_t> shape, std::vector<std::int64_t> data, DataType type) {
  Value v;
  v.type = type;
  v.shape = std::move(shape);
  v.i = std::move(data);
  return v;
}

Value Value::Strings(std::vector<std::int64_t> shape, std::vector<std::string> data) {
  Value v;
  v.type = DataType::kString;
  v.shape = std::move(shape);
  v.s = std::move(data);
  return v;
}

Value Value::Zeros(DataType type, std::vector<std::int64_t> shape) {
  Value v;
  v.type = type;
  v.shape = std::move(shape);
  const auto n = static_cast<std::size_t>(v.size());
  if (type == DataType::kFloat) {
    v.f = TakeFloats(n);
    v.f.resize(n, 0.0f);
  }
  if (type == DataType::kDouble) v.d.assign(n, 0.0);
  if (IsIntegral(type)) v.i.assign(n, 0);
  if (type == DataType::kString) v.s.assign(n, std::string());
  return v;
}

namespace {

// Buffers up to kSmallBufferBytes stay with the thread while it holds fewer than kSmallPoolBytes of them.
// Larger ones (a 4,096-row batch of a transformer passes tensors of 32 to 100 MiB) stay as long as each
// session run takes them again: a buffer no step of a whole run took is freed when that run ends
// (FloatRunScope), so a thread keeps at most the working set of its last large batch, and at most
// kMaxPoolBytes in all.
constexpr std::size_t kSmallBufferBytes = std::size_t{16} << 20;
constexpr std::size_t kSmallPoolBytes = std::size_t{64} << 20;
constexpr std::size_t kMaxPoolBytes = std::size_t{2} << 30;

struct IdleFloats {
  std::vector<float> buffer;
  std::uint64_t run = 0;  // the run (FloatRunScope) that last handed it back
};

struct FloatPool {
  std::vector<IdleFloats> idle;
  std::size_t bytes = 0;
  std::uint64_t run = 0;
  int depth = 0;
};

FloatPool& ThreadFloatPool() {
  thread_local FloatPool pool;
  return pool;
}

std::size_t BufferBytes(const std::vector<float>& buffer) { return buffer.capacity() * sizeof(float); }

}  // namespace

namespace {

// The smallest idle buffer that holds n without wasting much (a few dozen buffers at most: a linear scan),
// as it was handed back (its old size and contents), or a fresh empty one with room for n.
std::vector<float> TakeIdleFloats(std::size_t n) {
  FloatPool& pool = ThreadFloatPool();
  const std::size_t most = std::max(4 * n, n + (std::size_t{1} << 18));
  std::size_t best = pool.idle.size();
  for (std::size_t k = 0; k < pool.idle.size(); ++k) {
    const std::size_t capacity = pool.idle[k].buffer.capacity();
    if (capacity >= n && capacity <= most &&
        (best == pool.idle.size() || capacity < pool.idle[best].buffer.capacity()))
      best = k;
  }
  if (best == pool.idle.size()) {
    std::vector<float> fresh;
    fresh.reserve(n);
    return fresh;
  }
  std::vector<float> buffer = std::move(pool.idle[best].buffer);
  pool.idle[best] = std::move(pool.idle.back());
  pool.idle.pop_back();
  pool.bytes -= BufferBytes(buffer);
  return buffer;
}

}  // namespace

std::vector<float> TakeFloats(std::size_t n) {
  std::vector<float> buffer = TakeIdleFloats(n);
  buffer.clear();
  return buffer;
}

Value UninitializedFloats(std::vector<std::int64_t> shape) {
  Value v;
  v.type = DataType::kFloat;
  v.shape = std::move(shape);
  v.f = TakeIdleFloats(static_cast<std::size_t>(v.size()));
  v.f.resize(static_cast<std::size_t>(v.size()));  // zeroes only what the buffer did not hold before
  return v;
}

void RecycleFloats(std::vector<float>&& buffer) {
  FloatPool& pool = ThreadFloatPool();
  const std::size_t bytes = BufferBytes(buffer);
  const bool small = bytes <= kSmallBufferBytes && pool.bytes + bytes <= kSmallPoolBytes;
  // Outside a run (a kernel called directly) only small buffers are kept.
  const bool in_run = pool.depth > 0 && pool.bytes + bytes <= kMaxPoolBytes;
  if (bytes == 0 || !(small || in_run)) {
    std::vector<float>().swap(buffer);
    return;
  }
  pool.bytes += bytes;
  pool.idle.push_back({std::move(buffer), pool.run});
}

FloatRunScope::FloatRunScope() {
  FloatPool& pool = ThreadFloatPool();
  if (pool.depth++ == 0) ++pool.run;
}

FloatRunScope::~FloatRunScope() {
  FloatPool& pool = ThreadFloatPool();
  if (--pool.depth > 0) return;
  // Frees the buffers that this run did not take and hand back: the large ones, and the others while the
  // thread holds more than the small-buffer budget.
  std::size_t k = 0;
  while (k < pool.idle.size()) {
    IdleFloats& entry = pool.idle[k];
    if (entry.run != pool.run &&
        (BufferBytes(entry.buffer) > kSmallBufferBytes || pool.bytes > kSmallPoolBytes)) {
      pool.bytes -= BufferBytes(entry.buffer);
      entry = std::move(pool.idle.back());
      pool.idle.pop_back();
      continue;
    }
    ++k;
  }
}

Value PooledFloats(std::vector<std::int64_t> shape) {
  Value v;
  v.type = DataType::kFloat;
  v.shape = std::move(shape);
  v.f = TakeFloats(static_cast<std::size_t>(v.size()));
  v.f.resize(static_cast<std::size_t>(v.size()), 0.0f);
  return v;
}

double NumberAt(const Value& value, std::int64_t k) {
  const auto at = static_cast<std::size_t>(k);
  if (value.type == DataType::kFloat) return value.f[at];
  if (value.type == DataType::kDouble) return value.d[at];
  return static_cast<double>(value.i[at]);
}

std::int64_t IntegerAt(const Value& value, std::int64_t k) {
  if (value.type != DataType::kFloat && value.type != DataType::kDouble) {
    return value.i[static_cast<std::size_t>(k)];
  }
  constexpr double kTwoTo63 = 9223372036854775808.0;
  const double v = NumberAt(value, k);
  if (!(v >= -kTwoTo63 && v < kTwoTo63)) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(v);
}

}  // namespace loupe::onnx
