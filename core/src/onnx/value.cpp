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
  if (type == DataType::kFloat) v.f.assign(n, 0.0f);
  if (type == DataType::kDouble) v.d.assign(n, 0.0);
  if (IsIntegral(type)) v.i.assign(n, 0);
  if (type == DataType::kString) v.s.assign(n, std::string());
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
