// Tensor storage and views. Misuse (a wrong element type, rows outside the tensor, a negative
// dimension) is a programming error, not bad input: it stops the process with a message instead of
// returning a Status.
#include "loupe/core/tensor.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace loupe {
namespace {

constexpr std::size_t kAlignment = 64;

[[noreturn]] void FailCheck(const std::string& message) {
  std::fprintf(stderr, "loupe: internal error: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

// Rounds up to a whole number of cache lines so vectorised loops may read a full line at the end.
std::size_t AllocationSize(std::size_t nbytes) { return (nbytes + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

std::size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF64:
      return 8;
    case DType::kI32:
      return 4;
    case DType::kI64:
      return 8;
    case DType::kU8:
      return 1;
  }
  FailCheck("unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kF64:
      return "f64";
    case DType::kI32:
      return "i32";
    case DType::kI64:
      return "i64";
    case DType::kU8:
      return "u8";
  }
  FailCheck("unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

std::int64_t NumElements(const Shape& shape) {
  std::int64_t count = 1;
  for (const std::int64_t extent : shape) {
    if (extent < 0) FailCheck("shape " + ShapeToString(shape) + " has a negative dimension");
    count *= extent;
  }
  return count;
}

std::string ShapeToString(const Shape& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

TensorView TensorView::Rows(std::int64_t begin, std::int64_t end) const {
  if (shape_.empty()) FailCheck("TensorView::Rows on a scalar (shape [])");
  if (begin < 0 || begin > end || end > shape_[0]) {
    FailCheck("TensorView::Rows(" + std::to_string(begin) + ", " + std::to_string(end) +
              ") outside a tensor of shape " + ShapeToString(shape_));
  }
  Shape rows_shape = shape_;
  rows_shape[0] = end - begin;
  const std::int64_t row_elements = shape_[0] == 0 ? 0 : size() / shape_[0];
  const auto* bytes = static_cast<const std::byte*>(data_);
  const std::byte* first = bytes == nullptr ? nullptr : bytes + begin * row_elements * DTypeSize(dtype_);
  return TensorView(first, dtype_, std::move(rows_shape));
}

void TensorView::CheckType(DType expected) const {
  if (dtype_ != expected) {
    FailCheck(std::string("a tensor view of dtype ") + DTypeName(dtype_) + " was read as " +
              DTypeName(expected));
  }
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  const std::size_t bytes = nbytes();
  if (bytes == 0) return;
  const std::size_t allocated = AllocationSize(bytes);
  auto* memory = static_cast<std::byte*>(::operator new (allocated, std::align_val_t{kAlignment}));
  std::memset(memory, 0, allocated);
  storage_.reset(memory);
}

Tensor Tensor::Uninitialized(DType dtype, Shape shape) {
  Tensor tensor;
  tensor.dtype_ = dtype;
  tensor.shape_ = std::move(shape);
  const std::size_t bytes = tensor.nbytes();
  if (bytes == 0) return tensor;
  const std::size_t allocated = AllocationSize(bytes);
  auto* memory = static_cast<std::byte*>(::operator new (allocated, std::align_val_t{kAlignment}));
  std::memset(memory + bytes, 0, allocated - bytes);  // the padding past the elements, as any tensor's
  tensor.storage_.reset(memory);
  return tensor;
}

Tensor::Tensor(const Tensor& other) : Tensor(other.dtype_, other.shape_) {
  if (other.storage_ != nullptr) std::memcpy(storage_.get(), other.storage_.get(), other.nbytes());
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) {
    Tensor copy(other);
    *this = std::move(copy);
  }
  return *this;
}

void Tensor::AlignedFree::operator()(std::byte* p) const {
  ::operator delete (p, std::align_val_t{kAlignment});
}

void Tensor::CheckType(DType expected) const {
  if (dtype_ != expected) {
    FailCheck(std::string("a tensor of dtype ") + DTypeName(dtype_) + " was accessed as " +
              DTypeName(expected));
  }
}

}  // namespace loupe
