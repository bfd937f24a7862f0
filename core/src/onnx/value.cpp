#include "onnx/value.hpp"

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

std::string ShapeText(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (k > 0) text += ", ";
    text += shape[k] < 0 ? "?" : std::to_string(shape[k]);
  }
  return text + "]";
}

std::int64_t ElementCount(const std::vector<std::int64_t>& shape) {
  std::int64_t count = 1;
  for (const std::int64_t d : shape) {
    if (__builtin_mul_overflow(count, d, &count)) return std::numeric_limits<std::int64_t>::max();
  }
  return count;
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

constexpr std::size_t kMaxPooledBufferBytes = std::size_t{16} << 20;
constexpr std::size_t kMaxPooledThreadBytes = std::size_t{64} << 20;

struct FloatPool {
  std::vector<std::vector<float>> idle;
  std::size_t bytes = 0;
};

FloatPool& ThreadFloatPool() {
  thread_local FloatPool pool;
  return pool;
}

}  // namespace

std::vector<float> TakeFloats(std::size_t n) {
  FloatPool& pool = ThreadFloatPool();
  // The smallest idle buffer that holds n: a few dozen buffers at most, a linear scan.
  std::size_t best = pool.idle.size();
  for (std::size_t k = 0; k < pool.idle.size(); ++k) {
    const std::size_t capacity = pool.idle[k].capacity();
    if (capacity >= n && (best == pool.idle.size() || capacity < pool.idle[best].capacity())) best = k;
  }
  if (best == pool.idle.size()) {
    std::vector<float> fresh;
    fresh.reserve(n);
    return fresh;
  }
  std::vector<float> buffer = std::move(pool.idle[best]);
  pool.idle[best] = std::move(pool.idle.back());
  pool.idle.pop_back();
  pool.bytes -= buffer.capacity() * sizeof(float);
  buffer.clear();
  return buffer;
}

void RecycleFloats(std::vector<float>&& buffer) {
  FloatPool& pool = ThreadFloatPool();
  const std::size_t bytes = buffer.capacity() * sizeof(float);
  if (bytes == 0 || bytes > kMaxPooledBufferBytes || pool.bytes + bytes > kMaxPooledThreadBytes) {
    std::vector<float>().swap(buffer);
    return;
  }
  pool.bytes += bytes;
  pool.idle.push_back(std::move(buffer));
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
