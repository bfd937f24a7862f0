// Chunked input's seek-and-fill (data/csv_rows.hpp): every chunk of rows read again from the file, at
// every chunk size and index spacing, equals the same rows of the matrix of the whole read, bit for bit.
#include "data/csv_rows.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "loupe/core/dataset.hpp"

namespace loupe {
namespace {

class CsvRowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("loupe_csv_rows_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }

  std::filesystem::path dir_;
};

// A file with a byte order mark, CRLF and LF line ends, blank lines, quoted fields holding commas, quotes
// and line breaks; numeric, inferred categorical, forced categorical (numbers), text and a column that is
// numeric until a late category; missing values in every kind.
std::string TrickyCsv(int rows) {
  std::mt19937 rng(7);
  std::string text = "\xEF\xBB\xBFx,colour,grade,note,late,y\r\n";
  const char* colours[] = {"red", "\"gr,een\"", "blue", "NA", "\"sa \"\"y\"\"\""};
  for (int i = 0; i < rows; ++i) {
    const unsigned r = rng();
    text += (r % 11 == 0) ? "" : std::to_string(static_cast<double>(static_cast<int>(r % 2001) - 1000) / 8.0);
    text += ",";
    text += colours[r % 5];
    text += ",";
    text += (r % 13 == 0) ? "NA" : std::to_string(r % 4 + 1);
    text += ",";
    text += (r % 17 == 0) ? "" : "\"a note that runs\nover two lines, number " + std::to_string(i) + "\"";
    text += ",";
    text += (i == rows - 3) ? "other" : ((r % 7 == 0) ? "NA" : std::to_string(r % 5));
    text += ",";
    text += std::to_string(r % 3);
    text += (i % 3 == 0) ? "\r\n" : "\n";
    if (i % 29 == 0) text += "  \n";
  }
  return text;
}

bool SameBits(const double* a, const double* b, std::size_t n) {
  return std::memcmp(a, b, n * sizeof(double)) == 0;
}

TEST_F(CsvRowsTest, EveryChunkEqualsTheWholeReadAtEveryChunkSizeAndSpacing) {
  constexpr int kRows = 157;
  const std::string path = Write("tricky.csv", TrickyCsv(kRows));
  const std::vector<std::string> names = {"late", "x", "colour", "grade", "note", "x"};
  for (const std::int64_t every : {1, 2, 3, 16, 64, 1000}) {
    CsvOptions options;
    options.categorical = {"grade"};
    options.index_every = every;
    Result<Dataset> dataset = ReadCsv(path, options);
    ASSERT_TRUE(dataset.ok()) << dataset.status().message();
    ASSERT_EQ(dataset->num_rows(), kRows);
    ASSERT_EQ(dataset->Find("note")->type(), ColumnType::kText);
    ASSERT_EQ(dataset->Find("colour")->type(), ColumnType::kCategorical);
    ASSERT_EQ(dataset->Find("late")->type(), ColumnType::kCategorical);
    ASSERT_EQ(dataset->Find("x")->type(), ColumnType::kNumeric);
    ASSERT_EQ(dataset->row_index().offsets.size(), static_cast<std::size_t>((kRows + every - 1) / every));
    Result<Tensor> whole = dataset->Matrix(names);
    ASSERT_TRUE(whole.ok());
    const double* expected = whole->data<double>();
    Result<data::CsvRowReader> reader = data::CsvRowReader::Create(*dataset, options, names);
    ASSERT_TRUE(reader.ok()) << reader.status().message();
    const auto width = static_cast<std::size_t>(reader->width());
    std::vector<double> chunk;
    for (std::int64_t size = 1; size <= kRows; ++size) {
      for (std::int64_t begin = 0; begin < kRows; begin += size) {
        const std::int64_t end = std::min<std::int64_t>(kRows, begin + size);
        chunk.assign(static_cast<std::size_t>(end - begin) * width, -1.0);
        const Status status = reader->Fill(begin, end, chunk.data());
        ASSERT_TRUE(status.ok()) << status.message();
        ASSERT_TRUE(SameBits(chunk.data(), expected + begin * static_cast<std::int64_t>(width), chunk.size()))
            << "every " << every << ", chunk size " << size << ", rows " << begin << ":" << end;
      }
    }
  }
}

// Chunked input's first pass: the feature columns unheld (their types, levels and missing flags only), the
// matrix left unfilled, then filled chunk by chunk from the file: the same data set and matrix as the
// whole read, at every chunk size.
TEST_F(CsvRowsTest, UnheldFeaturesFilledChunkByChunkEqualTheWholeRead) {
  constexpr int kRows = 157;
  const std::string path = Write("tricky.csv", TrickyCsv(kRows));
  CsvOptions held;
  held.categorical = {"grade"};
  held.target = "y";
  Result<Dataset> whole = ReadCsv(path, held);
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  const std::vector<std::string> names = {"x", "colour", "grade", "note", "late"};
  Result<Tensor> expected = whole->Matrix(names);
  ASSERT_TRUE(expected.ok());
  for (const bool listed : {false, true}) {
    CsvOptions options = held;
    options.unheld_features = true;
    if (listed) options.features = names;
    options.index_every = 16;
    Result<Dataset> dataset = ReadCsv(path, options);
    ASSERT_TRUE(dataset.ok()) << dataset.status().message();
    ASSERT_EQ(dataset->num_columns(), whole->num_columns());
    for (std::size_t c = 0; c < whole->columns().size(); ++c) {
      const Column& a = whole->column(c);
      const Column& b = dataset->column(c);
      EXPECT_EQ(a.name(), b.name());
      EXPECT_EQ(a.type(), b.type()) << a.name();
      EXPECT_EQ(a.schema().levels, b.schema().levels) << a.name();
      EXPECT_EQ(a.missing_count(), b.missing_count()) << a.name();
      EXPECT_EQ(a.size(), b.size()) << a.name();
    }
    EXPECT_EQ(dataset->Find("note")->text(), whole->Find("note")->text());  // text: held after all
    EXPECT_EQ(dataset->Find("y")->values(), whole->Find("y")->values());    // the target: held
    Result<data::CsvRowReader> reader = data::CsvRowReader::Create(*dataset, options, names);
    ASSERT_TRUE(reader.ok());
    for (std::int64_t size = 1; size <= kRows; ++size) {
      Result<std::shared_ptr<Tensor>> matrix = dataset->ShareUnfilledMatrix(names);
      ASSERT_TRUE(matrix.ok());
      for (std::int64_t begin = 0; begin < kRows; begin += size) {
        const std::int64_t end = std::min<std::int64_t>(kRows, begin + size);
        ASSERT_TRUE(reader->Fill(begin, end, (*matrix)->data<double>() + begin * 5).ok());
      }
      ASSERT_TRUE(SameBits((*matrix)->data<double>(), expected->data<double>(), kRows * 5))
          << "chunk " << size;
      for (std::int64_t row = 0; row < kRows; ++row) {  // the columns are views of it
        ASSERT_TRUE(SameBits(&dataset->Find("colour")->values_view().data[row * 5],
                             &(*matrix)->data<double>()[row * 5 + 1], 1));
      }
    }
  }
}

TEST_F(CsvRowsTest, AnUnheldColumnsErrorsAreTheWholeReadsSentences) {
  std::string text = "a,b,c\n";
  for (int i = 0; i < 5000; ++i) text += std::to_string(i) + "," + std::to_string(i % 7) + ",u\n";
  text += "1,abc,u\n2,3,u\n";
  const std::string path = Write("late.csv", text);
  CsvOptions options;
  options.numeric = {"b"};
  const Result<Dataset> whole = ReadCsv(path, options);
  options.unheld_features = true;
  options.index_every = 256;
  const Result<Dataset> unheld = ReadCsv(path, options);
  ASSERT_FALSE(whole.ok());
  ASSERT_FALSE(unheld.ok());
  EXPECT_EQ(unheld.status().message(), whole.status().message());
  EXPECT_EQ(unheld.status().message(), path + ":5002: column 'b': expected a number, found 'abc'");
}

TEST_F(CsvRowsTest, AFileChangedAfterItWasReadIsAnErrorNamingIt) {
  const std::string path = Write("data.csv", "a,b\n1,x\n2,y\n3,x\n");
  CsvOptions options;
  options.index_every = 2;
  Result<Dataset> dataset = ReadCsv(path, options);
  ASSERT_TRUE(dataset.ok());
  Result<data::CsvRowReader> reader = data::CsvRowReader::Create(*dataset, options, {"a", "b"});
  ASSERT_TRUE(reader.ok());
  std::vector<double> rows(6);
  ASSERT_TRUE(reader->Fill(0, 3, rows.data()).ok());
  EXPECT_EQ(rows[5], 0.0);  // "x" is level 0
  Write("data.csv", "a,b\n1,x\n2,y\n3,z\n");
  Status status = reader->Fill(2, 3, rows.data());
  EXPECT_EQ(status.message(), "'" + path +
                                  "' changed after it was read: data row 3 holds 'z', a level it did not "
                                  "have; run again on a file that is not being written.");
  Write("data.csv", "a,b\n1,x\n2,y\n");
  status = reader->Fill(1, 3, rows.data());
  EXPECT_EQ(status.message(), "'" + path +
                                  "' changed after it was read: data row 3 is gone; run again on a file "
                                  "that is not being written.");
}

TEST_F(CsvRowsTest, ADatasetReadWithoutAnIndexCannotBeReadAgain) {
  const std::string path = Write("data.csv", "a\n1\n");
  Result<Dataset> dataset = ReadCsv(path, {});
  ASSERT_TRUE(dataset.ok());
  EXPECT_TRUE(dataset->row_index().offsets.empty());
  EXPECT_FALSE(data::CsvRowReader::Create(*dataset, {}, {"a"}).ok());
}

}  // namespace
}  // namespace loupe
