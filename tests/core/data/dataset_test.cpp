// Column formatting, lookups and the feature matrix.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "loupe/core/dataset.hpp"

namespace loupe {
namespace {

Dataset Parse(const std::string& text) {
  Result<Dataset> result = ParseCsv(text, "mem.csv");
  EXPECT_TRUE(result.ok()) << result.status().message();
  return result.ok() ? std::move(result).value() : Dataset();
}

TEST(ColumnTest, FormatPrintsShortestRoundTripNumbers) {
  const Column column(ColumnSchema{"x", ColumnType::kNumeric, {}},
                      std::vector<double>{45, 0.5, 1e-7, -2.25, 0.1 + 0.2, NAN, 1e21},
                      std::vector<std::uint8_t>{0, 0, 0, 0, 0, 1, 0});
  EXPECT_EQ(column.Format(0), "45");
  EXPECT_EQ(column.Format(1), "0.5");
  EXPECT_EQ(column.Format(2), "1e-07");
  EXPECT_EQ(column.Format(3), "-2.25");
  EXPECT_EQ(column.Format(4), "0.30000000000000004");
  EXPECT_EQ(column.Format(5), "NA");
  EXPECT_EQ(column.Format(6), "1e+21");
  EXPECT_EQ(column.missing_count(), 1);
}

TEST(ColumnTest, FormatPrintsLevelsAndText) {
  const Column levels(ColumnSchema{"c", ColumnType::kCategorical, {"no", "yes"}},
                      std::vector<double>{1, 0, NAN}, std::vector<std::uint8_t>{0, 0, 1});
  EXPECT_EQ(levels.Format(0), "yes");
  EXPECT_EQ(levels.Format(1), "no");
  EXPECT_EQ(levels.Format(2), "NA");
  const Column text(ColumnSchema{"t", ColumnType::kText, {}}, std::vector<std::string>{"a b", ""},
                    std::vector<std::uint8_t>{0, 1});
  EXPECT_EQ(text.Format(0), "a b");
  EXPECT_EQ(text.Format(1), "NA");
}

TEST(ColumnDeathTest, CodesOutsideTheLevelsStopWithAMessage) {
  EXPECT_DEATH(Column(ColumnSchema{"c", ColumnType::kCategorical, {"a"}}, std::vector<double>{0, 1},
                      std::vector<std::uint8_t>{0, 0}),
               "column 'c' row 1 holds code 1 but has 1 levels");
}

TEST(ColumnTypeTest, Names) {
  EXPECT_STREQ(ColumnTypeName(ColumnType::kNumeric), "numeric");
  EXPECT_STREQ(ColumnTypeName(ColumnType::kCategorical), "categorical");
  EXPECT_STREQ(ColumnTypeName(ColumnType::kText), "text");
}

TEST(DatasetTest, FindAndIndexOf) {
  const Dataset data = Parse("a,b\n1,x\n2,y\n");
  EXPECT_EQ(data.schema().IndexOf("b"), 1);
  EXPECT_EQ(data.schema().IndexOf("zzz"), -1);
  ASSERT_NE(data.Find("b"), nullptr);
  EXPECT_EQ(data.Find("b")->name(), "b");
  EXPECT_EQ(data.Find("zzz"), nullptr);
}

TEST(DatasetTest, MatrixHoldsValuesCodesAndNaNRowMajor) {
  const Dataset data = Parse("num,cat,more\n1.5,b,10\nNA,a,20\n3,NA,30\n");
  const Result<Tensor> matrix = data.Matrix({"cat", "num"});
  ASSERT_TRUE(matrix.ok()) << matrix.status().message();
  EXPECT_EQ(matrix->dtype(), DType::kF64);
  EXPECT_EQ(matrix->shape(), (Shape{3, 2}));
  const double* m = matrix->data<double>();
  EXPECT_EQ(m[0], 1.0);  // "b"
  EXPECT_EQ(m[1], 1.5);
  EXPECT_EQ(m[2], 0.0);  // "a"
  EXPECT_TRUE(std::isnan(m[3]));
  EXPECT_TRUE(std::isnan(m[4]));
  EXPECT_EQ(m[5], 3.0);
}

TEST(DatasetTest, MatrixRejectsUnknownColumnsAndWritesTextHandles) {
  CsvOptions options;
  options.text = {"note"};
  const Result<Dataset> data = ParseCsv("x,note\n1,hello\n2,NA\n3,bye\n", "mem.csv", options);
  ASSERT_TRUE(data.ok()) << data.status().message();
  const Result<Tensor> unknown = data->Matrix({"x", "y"});
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(), "'mem.csv' has no column named 'y'");
  // A text column carries each row's index (its text handle), NaN where the text is missing.
  const Result<Tensor> text = data->Matrix({"note", "x"});
  ASSERT_TRUE(text.ok()) << text.status().message();
  const double* m = text->data<double>();
  EXPECT_EQ(m[0], 0.0);
  EXPECT_EQ(m[1], 1.0);
  EXPECT_TRUE(std::isnan(m[2]));
  EXPECT_EQ(m[3], 2.0);
  EXPECT_EQ(m[4], 2.0);
  EXPECT_EQ(m[5], 3.0);
}

TEST(DatasetTest, EmptyDataset) {
  const Dataset data;
  EXPECT_EQ(data.num_rows(), 0);
  EXPECT_EQ(data.num_columns(), 0);
  EXPECT_EQ(data.Find("a"), nullptr);
}

}  // namespace
}  // namespace loupe
