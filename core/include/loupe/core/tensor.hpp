// Tensor (owning) and TensorView (zero-copy), row-major, for f32/f64/i32/i64/u8 (docs/architecture.md §3).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace loupe {

enum class DType { kF32, kF64, kI32, kI64, kU8 };

std::size_t DTypeSize(DType dtype);
const char* DTypeName(DType dtype);

template <typename T>
constexpr DType DTypeOf();
template <>
constexpr DType DTypeOf<float>() {
  return DType::kF32;
}
template <>
constexpr DType DTypeOf<double>() {
  return DType::kF64;
}
template <>
constexpr DType DTypeOf<std::int32_t>() {
  return DType::kI32;
}
template <>
constexpr DType DTypeOf<std::int64_t>() {
  return DType::kI64;
}
template <>
constexpr DType DTypeOf<std::uint8_t>() {
  return DType::kU8;
}

using Shape = std::vector<std::int64_t>;

std::int64_t NumElements(const Shape& shape);
std::string ShapeToString(const Shape& shape);

// A non-owning view of contiguous row-major data. Cheap to copy; the owner must outlive it.
class TensorView {
 public:
  TensorView() = default;
  TensorView(const void* data, DType dtype, Shape shape)
      : data_(data), dtype_(dtype), shape_(std::move(shape)) {}

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  std::int64_t dim(int i) const { return shape_.at(static_cast<std::size_t>(i)); }
  std::int64_t size() const { return NumElements(shape_); }
  const void* raw() const { return data_; }

  template <typename T>
  const T* data() const {
    CheckType(DTypeOf<T>());
    return static_cast<const T*>(data_);
  }
  // Rows [begin, end) of the leading dimension, zero-copy.
  TensorView Rows(std::int64_t begin, std::int64_t end) const;

 private:
  void CheckType(DType expected) const;

  const void* data_ = nullptr;
  DType dtype_ = DType::kF64;
  Shape shape_;
};

// An owning, 64-byte-aligned, zero-initialised tensor. Copies share nothing (deep copy).
class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, Shape shape);
  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

  template <typename T>
  static Tensor FromVector(const std::vector<T>& values, Shape shape);
  // A tensor whose elements are unspecified until written, for a caller that writes every one: a large
  // one's memory is then not touched (not resident) until written (Dataset::ShareMatrix fills hundreds
  // of MB a block at a time while it releases the columns it copies).
  static Tensor Uninitialized(DType dtype, Shape shape);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  std::int64_t dim(int i) const { return shape_.at(static_cast<std::size_t>(i)); }
  std::int64_t size() const { return NumElements(shape_); }
  std::size_t nbytes() const { return static_cast<std::size_t>(size()) * DTypeSize(dtype_); }

  template <typename T>
  T* data() {
    CheckType(DTypeOf<T>());
    return reinterpret_cast<T*>(storage_.get());
  }
  template <typename T>
  const T* data() const {
    CheckType(DTypeOf<T>());
    return reinterpret_cast<const T*>(storage_.get());
  }
  void* raw() { return storage_.get(); }
  const void* raw() const { return storage_.get(); }

  TensorView view() const { return TensorView(storage_.get(), dtype_, shape_); }
  operator TensorView() const { return view(); }  // NOLINT(google-explicit-constructor)

 private:
  struct AlignedFree {
    void operator()(std::byte* p) const;
  };
  void CheckType(DType expected) const;

  DType dtype_ = DType::kF64;
  Shape shape_;
  std::unique_ptr<std::byte[], AlignedFree> storage_;
};

template <typename T>
Tensor Tensor::FromVector(const std::vector<T>& values, Shape shape) {
  Tensor t(DTypeOf<T>(), std::move(shape));
  T* out = t.data<T>();
  const std::size_t n = std::min(values.size(), static_cast<std::size_t>(t.size()));
  for (std::size_t i = 0; i < n; ++i) out[i] = values[i];
  return t;
}

}  // namespace loupe
