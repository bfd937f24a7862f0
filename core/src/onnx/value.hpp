// The tensors an ONNX graph passes between its nodes while Loupe executes it (core/src/onnx/session.hpp):
// dense, row-major, one typed vector per element family. Float tensors are the hot path; integer tensors
// carry shapes, indices and labels; strings carry class labels.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace loupe::onnx {

// ONNX's TensorProto.DataType codes for the types Loupe executes.
enum class DataType : int {
  kUndefined = 0,
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kDouble = 11,
};

const char* DataTypeName(DataType type);
// Integer-like types (held in Value::i): uint8, int8, int32, int64, bool.
bool IsIntegral(DataType type);

// Inline, as Graph::Opset: the ONNX reader module (core/modules/onnx_reader.cpp) uses them and links no
// core code.
inline std::string ShapeText(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (k > 0) text += ", ";
    text += shape[k] < 0 ? "?" : std::to_string(shape[k]);
  }
  return text + "]";
}
// The product of the dimensions; INT64_MAX when it does not fit in 64 bits, a count no buffer has, so a
// shape from a hostile file is refused by the size checks instead of overflowing.
inline std::int64_t ElementCount(const std::vector<std::int64_t>& shape) {
  std::int64_t count = 1;
  for (const std::int64_t d : shape) {
    if (__builtin_mul_overflow(count, d, &count)) return std::numeric_limits<std::int64_t>::max();
  }
  return count;
}

struct Value {
  DataType type = DataType::kUndefined;
  std::vector<std::int64_t> shape;
  std::vector<float> f;         // kFloat
  std::vector<double> d;        // kDouble
  std::vector<std::int64_t> i;  // integral types (IsIntegral)
  std::vector<std::string> s;   // kString

  std::int64_t size() const { return ElementCount(shape); }
  bool is_float() const { return type == DataType::kFloat; }

  static Value Floats(std::vector<std::int64_t> shape, std::vector<float> data);
  static Value Ints(std::vector<std::int64_t> shape, std::vector<std::int64_t> data,
                    DataType type = DataType::kInt64);
  static Value Strings(std::vector<std::int64_t> shape, std::vector<std::string> data);
  // Sizes the vector of `type` for `shape` (values zeroed).
  static Value Zeros(DataType type, std::vector<std::int64_t> shape);
};

// Float storage recycled per thread (docs/architecture.md §4): a session run hands each tensor's buffer back
// when its last reader has run, and the kernels of the next step take buffers from here, so a warmed-up
// thread runs a graph without fresh allocations (fresh pages cost page faults, which dominated the
// transformer's time). TakeFloats returns an empty vector whose capacity is at least `n` (an idle buffer
// at most 4 times too large, else a fresh one). RecycleFloats keeps a buffer of at most 16 MiB while the
// thread keeps fewer than 64 MiB of them; inside a FloatRunScope (a session run) it keeps any buffer (up to
// 2 GiB in all), and the outermost scope's end frees each buffer that no step of its run took and handed
// back (a small one only while the thread holds more than 64 MiB): a thread running batch after batch of
// 4,096 rows reuses every buffer, and after its last large batch keeps them only until its next run ends.
std::vector<float> TakeFloats(std::size_t n);
void RecycleFloats(std::vector<float>&& buffer);
class FloatRunScope {
 public:
  FloatRunScope();
  ~FloatRunScope();
  FloatRunScope(const FloatRunScope&) = delete;
  FloatRunScope& operator=(const FloatRunScope&) = delete;
};
// A float tensor of `shape` in a recycled buffer, zeroed.
Value PooledFloats(std::vector<std::int64_t> shape);
// A float tensor of `shape` in a recycled buffer whose values are unspecified (what the buffer held): for
// kernels that write every element, which so skip a zeroing pass over the tensor.
Value UninitializedFloats(std::vector<std::int64_t> shape);

// Element `k` of a numeric tensor as double (float, double or integral).
double NumberAt(const Value& value, std::int64_t k);
// Element `k` of a numeric tensor as int64, as ONNX Runtime casts on x86: floating values truncated toward
// zero, NaN and values outside int64's range INT64_MIN (C++ leaves those undefined).
std::int64_t IntegerAt(const Value& value, std::int64_t k);

}  // namespace loupe::onnx
