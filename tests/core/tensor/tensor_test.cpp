#include "loupe/core/tensor.hpp"

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace loupe {
namespace {

TEST(TensorTest, DTypeSizesAndNames) {
  EXPECT_EQ(DTypeSize(DType::kF32), 4u);
  EXPECT_EQ(DTypeSize(DType::kF64), 8u);
  EXPECT_EQ(DTypeSize(DType::kI32), 4u);
  EXPECT_EQ(DTypeSize(DType::kI64), 8u);
  EXPECT_EQ(DTypeSize(DType::kU8), 1u);
  EXPECT_STREQ(DTypeName(DType::kF32), "f32");
  EXPECT_STREQ(DTypeName(DType::kF64), "f64");
  EXPECT_STREQ(DTypeName(DType::kI32), "i32");
  EXPECT_STREQ(DTypeName(DType::kI64), "i64");
  EXPECT_STREQ(DTypeName(DType::kU8), "u8");
}

TEST(TensorTest, ShapesCountAndPrint) {
  EXPECT_EQ(NumElements({3, 4}), 12);
  EXPECT_EQ(NumElements({}), 1);
  EXPECT_EQ(NumElements({5, 0, 2}), 0);
  EXPECT_EQ(ShapeToString({3, 4}), "[3, 4]");
  EXPECT_EQ(ShapeToString({7}), "[7]");
  EXPECT_EQ(ShapeToString({}), "[]");
}

TEST(TensorTest, StorageIsZeroedAndAligned) {
  Tensor t(DType::kF32, {3, 5});
  EXPECT_EQ(t.size(), 15);
  EXPECT_EQ(t.nbytes(), 60u);
  EXPECT_EQ(t.ndim(), 2);
  EXPECT_EQ(t.dim(1), 5);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw()) % 64, 0u);
  const float* data = t.data<float>();
  for (std::int64_t i = 0; i < t.size(); ++i) EXPECT_EQ(data[i], 0.0f) << "element " << i;
}

TEST(TensorTest, EmptyTensorHasNoStorage) {
  Tensor t(DType::kF64, {0, 4});
  EXPECT_EQ(t.size(), 0);
  EXPECT_EQ(t.nbytes(), 0u);
  EXPECT_EQ(t.view().Rows(0, 0).shape(), (Shape{0, 4}));
}

TEST(TensorTest, CopiesAreDeep) {
  Tensor original = Tensor::FromVector<std::int32_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor copy = original;
  copy.data<std::int32_t>()[0] = 100;
  EXPECT_EQ(original.data<std::int32_t>()[0], 1);
  EXPECT_NE(copy.raw(), original.raw());

  Tensor assigned(DType::kU8, {1});
  assigned = original;
  assigned.data<std::int32_t>()[5] = -7;
  EXPECT_EQ(assigned.shape(), (Shape{2, 3}));
  EXPECT_EQ(original.data<std::int32_t>()[5], 6);
  EXPECT_EQ(assigned.data<std::int32_t>()[4], 5);
}

TEST(TensorTest, MovesTransferStorage) {
  Tensor original = Tensor::FromVector<double>({1.5, 2.5}, {2});
  const void* storage = original.raw();
  Tensor moved = std::move(original);
  EXPECT_EQ(moved.raw(), storage);
  EXPECT_EQ(moved.data<double>()[1], 2.5);
}

TEST(TensorTest, FromVectorFillsRowMajor) {
  const Tensor t = Tensor::FromVector<double>({1, 2, 3, 4, 5, 6}, {3, 2});
  const double* data = t.data<double>();
  EXPECT_EQ(data[0 * 2 + 1], 2.0);
  EXPECT_EQ(data[2 * 2 + 0], 5.0);
}

TEST(TensorTest, RowsAreZeroCopySlicesOfTheLeadingDimension) {
  const Tensor t = Tensor::FromVector<std::int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {4, 3});
  const TensorView rows = t.view().Rows(1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 3}));
  EXPECT_EQ(rows.dtype(), DType::kI64);
  EXPECT_EQ(rows.raw(), t.data<std::int64_t>() + 3);
  EXPECT_EQ(rows.data<std::int64_t>()[0], 3);
  EXPECT_EQ(rows.data<std::int64_t>()[5], 8);
  EXPECT_EQ(rows.Rows(1, 2).data<std::int64_t>()[2], 8);
}

TEST(TensorDeathTest, ReadingTheWrongTypeStopsWithAMessage) {
  const Tensor t(DType::kF32, {2});
  EXPECT_DEATH(t.data<double>(), "a tensor of dtype f32 was accessed as f64");
  EXPECT_DEATH(t.view().data<std::int32_t>(), "a tensor view of dtype f32 was read as i32");
}

TEST(TensorDeathTest, RowsOutsideTheTensorStopWithAMessage) {
  const Tensor t(DType::kU8, {4, 2});
  EXPECT_DEATH(t.view().Rows(2, 5), "TensorView::Rows\\(2, 5\\) outside a tensor of shape \\[4, 2\\]");
  EXPECT_DEATH(t.view().Rows(3, 1), "TensorView::Rows\\(3, 1\\) outside a tensor of shape \\[4, 2\\]");
}

TEST(TensorDeathTest, NegativeDimensionsStopWithAMessage) {
  EXPECT_DEATH(NumElements({2, -1}), "shape \\[2, -1\\] has a negative dimension");
}

}  // namespace
}  // namespace loupe
