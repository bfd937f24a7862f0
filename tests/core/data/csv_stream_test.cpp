// The CSV reader reads a file a block at a time: the same records, lines, offsets, columns and errors as
// from the whole text in memory, wherever the blocks end. And Dataset::ShareMatrix: the feature matrix
// holding the feature columns' values, the same numbers as Matrix().
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "data/csv_tokenizer.hpp"
#include "loupe/core/dataset.hpp"

namespace loupe {
namespace {

class CsvStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("loupe_csv_stream_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
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

struct Record {
  std::vector<std::string> fields;
  std::int64_t line = 0;
  std::uint64_t offset = 0;
  bool operator==(const Record&) const = default;
};

// Every record, or the error's message as the last record's only field (line -1).
std::vector<Record> Records(data::CsvTokenizer& tokenizer) {
  std::vector<Record> records;
  std::vector<std::string> fields;
  for (;;) {
    const Result<bool> next = tokenizer.Next(&fields);
    if (!next.ok()) {
      records.push_back(Record{{next.status().message()}, -1, 0});
      return records;
    }
    if (!*next) return records;
    records.push_back(Record{fields, tokenizer.record_line(), tokenizer.record_offset()});
  }
}

// Text with every construct the tokenizer knows, so that block ends fall inside each of them.
const char* const kTrickyText =
    "\xEF\xBB\xBF"
    "a, b ,c\r\n"
    "1,\"x, y\",\"he said \"\"hi\"\"\"\n"
    "\n"
    "  \t \n"
    "\"multi\nline\",plain,\"crlf\r\ninside\"\r"
    "2 ,  \" q \"  ,\"\"\"\"\n"
    "3,NA,\n"
    ",,last";

TEST_F(CsvStreamTest, ABlockAtATimeGivesTheRecordsLinesAndOffsetsOfTheWholeText) {
  const std::string text = kTrickyText;
  const std::string path = Write("tricky.csv", text);
  data::CsvTokenizer whole(text, "tricky.csv");
  const std::vector<Record> expected = Records(whole);
  ASSERT_EQ(expected.size(), 6u);
  EXPECT_EQ(expected[2].fields, (std::vector<std::string>{"multi\nline", "plain", "crlf\r\ninside"}));
  EXPECT_EQ(expected[2].line, 5);
  EXPECT_EQ(expected[3].fields, (std::vector<std::string>{"2", " q ", "\""}));
  EXPECT_EQ(expected[3].line, 8);
  EXPECT_EQ(expected[5].line, 10);
  EXPECT_EQ(expected[0].offset, 3u);   // after the byte order mark
  EXPECT_EQ(expected[1].offset, 12u);  // and the header's 9 bytes
  EXPECT_EQ(text.substr(expected[5].offset), ",,last");
  for (const std::size_t block : {1, 2, 3, 5, 8, 13, 64, 1 << 20}) {
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    ASSERT_NE(file, nullptr);
    data::CsvTokenizer streamed(file.get(), "tricky.csv", block);
    EXPECT_EQ(Records(streamed), expected) << "block of " << block << " bytes";
  }
}

// Once the file is exhausted, every later look past its end answers "no more records" at once (the
// tokenizer remembers the end instead of growing its buffer by a block to read nothing), whether the text
// ends inside a block or exactly at a block's end.
TEST_F(CsvStreamTest, AnExhaustedFileKeepsAnsweringNoMoreRecords) {
  const std::string text = "a,b\n1,2\n";  // 8 bytes: blocks of 4 and 8 end exactly at its end
  const std::string path = Write("short.csv", text);
  for (const std::size_t block : {1, 3, 4, 8, 1 << 20}) {
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    ASSERT_NE(file, nullptr);
    data::CsvTokenizer streamed(file.get(), "short.csv", block);
    ASSERT_EQ(Records(streamed), (std::vector<Record>{{{"a", "b"}, 1, 0}, {{"1", "2"}, 2, 4}}))
        << "block of " << block << " bytes";
    std::vector<std::string> fields{"stale"};
    for (int again = 0; again < 3; ++again) {
      const Result<bool> next = streamed.Next(&fields);
      ASSERT_TRUE(next.ok()) << next.status().message();
      EXPECT_FALSE(*next) << "block of " << block << " bytes, look " << again;
      EXPECT_TRUE(fields.empty());
    }
  }
}

TEST_F(CsvStreamTest, ErrorsAreTheSameWhereverTheBlocksEnd) {
  for (const std::string& text : {std::string("a,b\n1,2\n\"open,3\n4,5\n"), std::string("a,b\n1,\"x\"y,2\n"),
                                  std::string("a,b\n1,\"x\"                            y\n")}) {
    const std::string path = Write("bad.csv", text);
    data::CsvTokenizer whole(text, "bad.csv");
    const std::vector<Record> expected = Records(whole);
    ASSERT_EQ(expected.back().line, -1) << text;
    for (const std::size_t block : {1, 2, 7, 1 << 20}) {
      const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                                 &std::fclose);
      data::CsvTokenizer streamed(file.get(), "bad.csv", block);
      EXPECT_EQ(Records(streamed), expected)
          << "block of " << block << " bytes: " << expected.back().fields[0];
    }
  }
}

// Every cell as people read it, every column's type and levels.
void ExpectSameData(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.num_rows(), b.num_rows());
  ASSERT_EQ(a.num_columns(), b.num_columns());
  for (std::size_t j = 0; j < static_cast<std::size_t>(a.num_columns()); ++j) {
    const Column& x = a.column(j);
    const Column& y = b.column(j);
    ASSERT_EQ(x.name(), y.name());
    ASSERT_EQ(x.type(), y.type()) << x.name();
    ASSERT_EQ(x.schema().levels, y.schema().levels) << x.name();
    ASSERT_EQ(x.missing_count(), y.missing_count()) << x.name();
    for (std::int64_t row = 0; row < a.num_rows(); ++row) {
      ASSERT_EQ(x.is_missing(row), y.is_missing(row)) << x.name() << " row " << row;
      ASSERT_EQ(x.Format(row), y.Format(row)) << x.name() << " row " << row;
      if (x.type() != ColumnType::kText && !x.is_missing(row)) {
        ASSERT_EQ(x.value(row), y.value(row));
      }
    }
  }
}

// A file of several read blocks (1 MiB each): numeric columns with missing cells, a categorical one, a
// text one with quoted line breaks, a column numeric until its last rows and one missing until a late
// category (the reader keeps numbers, not text, until a cell is not a number).
std::string LargeText(std::int64_t rows) {
  std::mt19937_64 rng(19);
  std::string text = "num,cat,note,late_category,late_first,int\n";
  const char* const colors[] = {"red", "green", "blue", "10", "9"};
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::uint64_t r = rng();
    text += r % 17 == 0 ? "NA" : std::to_string(static_cast<double>(r % 100000) / 64.0);
    text += ",";
    text += colors[r % 5];
    text += ",\"note " + std::to_string(r % 1000003) +
            (r % 7 == 0 ? "\nwith a second line, \"\"quoted\"\"" : "") +
            " and some words to pass twenty characters\"";
    text += ",";
    text += i == rows - 3 ? std::string("level") : std::to_string(r % 13);
    text += ",";
    text += i < rows - 5 ? std::string(r % 3 == 0 ? "NA" : "") : std::string("b") + std::to_string(r % 3);
    text += ",";
    text += std::to_string(static_cast<std::int64_t>(r % 2001) - 1000);
    text += i % 3 == 0 ? "\r\n" : "\n";
  }
  return text;
}

TEST_F(CsvStreamTest, AFileOfManyBlocksReadsAsTheSameTextInMemory) {
  const std::string text = LargeText(40000);
  ASSERT_GT(text.size(), std::size_t{3} << 20);
  const std::string path = Write("large.csv", text);
  const Result<Dataset> from_file = ReadCsv(path);
  ASSERT_TRUE(from_file.ok()) << from_file.status().message();
  const Result<Dataset> in_memory = ParseCsv(text, path);
  ASSERT_TRUE(in_memory.ok()) << in_memory.status().message();
  ExpectSameData(*from_file, *in_memory);
  EXPECT_EQ(from_file->column(0).type(), ColumnType::kNumeric);
  EXPECT_EQ(from_file->column(1).type(), ColumnType::kCategorical);
  EXPECT_EQ(from_file->column(1).schema().levels,
            (std::vector<std::string>{"10", "9", "blue", "green", "red"}));
  EXPECT_EQ(from_file->column(2).type(), ColumnType::kText);
  // Numeric for 39,997 rows, then "level": a categorical column of every value's text, sorted by bytes.
  const Column& late = from_file->column(3);
  ASSERT_EQ(late.type(), ColumnType::kCategorical);
  EXPECT_EQ(late.schema().levels.size(), 14u);
  EXPECT_EQ(late.schema().levels.front(), "0");
  EXPECT_EQ(late.schema().levels[2], "10");  // by bytes: "0" "1" "10" "11" "12" "2" ...
  EXPECT_EQ(late.schema().levels.back(), "level");
  EXPECT_EQ(late.Format(39997), "level");
  // Missing until the last five rows: no number came first, the column is categorical all the same.
  const Column& late_first = from_file->column(4);
  ASSERT_EQ(late_first.type(), ColumnType::kCategorical);
  EXPECT_EQ(late_first.schema().levels, (std::vector<std::string>{"b0", "b1", "b2"}));
  EXPECT_EQ(late_first.missing_count(), 39995);
  EXPECT_EQ(from_file->column(5).type(), ColumnType::kNumeric);
}

TEST_F(CsvStreamTest, ALateErrorNamesItsFileAndLine) {
  std::string text = LargeText(20000);
  const std::string good = text;
  // A forced numeric column's first non-number, 20,000 records into the file (and a second one later).
  CsvOptions options;
  options.numeric = {"late_category"};
  std::string path = Write("late_number.csv", text);
  Result<Dataset> data = ReadCsv(path, options);
  ASSERT_FALSE(data.ok());
  const Result<Dataset> in_memory = ParseCsv(text, path, options);
  ASSERT_FALSE(in_memory.ok());
  EXPECT_EQ(data.status().message(), in_memory.status().message());
  EXPECT_NE(data.status().message().find(path + ":"), std::string::npos);
  EXPECT_NE(data.status().message().find(": column 'late_category': expected a number, found 'level'"),
            std::string::npos)
      << data.status().message();
  // A record of the wrong shape after it is the error: the shape of the records is checked first.
  text += "1,2\n";
  path = Write("late_shape.csv", text);
  data = ReadCsv(path, options);
  ASSERT_FALSE(data.ok());
  std::int64_t lines = 0;
  for (const char c : good) lines += c == '\n' ? 1 : 0;
  for (std::size_t i = 0; i + 1 < good.size(); ++i) lines += good[i] == '\r' && good[i + 1] != '\n' ? 1 : 0;
  EXPECT_EQ(data.status().message(),
            path + ":" + std::to_string(lines + 1) + ": expected 6 fields as in the header, found 2");
}

TEST(ShareMatrixTest, TheMatrixHoldsTheFeatureColumnsWithTheSameNumbers) {
  // More rows than a block of ShareMatrix (65,536), so that columns are released a block at a time.
  std::string text = "x,cat,note,y\n";
  const std::int64_t rows = 150000;
  for (std::int64_t i = 0; i < rows; ++i) {
    text += (i % 11 == 0 ? std::string("NA") : std::to_string(i * 0.25)) + "," + (i % 3 == 0 ? "b" : "a") +
            "," + (i % 5 == 0 ? "NA" : "text") + "," + std::to_string(i % 7) + "\n";
  }
  CsvOptions options;
  options.text = {"note"};
  Result<Dataset> data = ParseCsv(text, "mem.csv", options);
  ASSERT_TRUE(data.ok()) << data.status().message();
  const Dataset copy = *data;  // owns its columns: the reference
  const std::vector<std::string> names = {"cat", "x", "note", "cat"};
  const Result<Tensor> expected = copy.Matrix(names);
  ASSERT_TRUE(expected.ok());
  const Result<std::shared_ptr<const Tensor>> matrix = data->ShareMatrix(names);
  ASSERT_TRUE(matrix.ok()) << matrix.status().message();
  ASSERT_EQ((*matrix)->shape(), (Shape{rows, 4}));
  const double* m = (*matrix)->data<double>();
  const double* e = expected->data<double>();
  for (std::int64_t i = 0; i < rows * 4; ++i) {
    ASSERT_TRUE(m[i] == e[i] || (std::isnan(m[i]) && std::isnan(e[i]))) << "element " << i;
  }
  EXPECT_TRUE(data->Find("x")->in_matrix());
  EXPECT_TRUE(data->Find("cat")->in_matrix());
  EXPECT_FALSE(data->Find("note")->in_matrix());
  EXPECT_FALSE(data->Find("y")->in_matrix());
  EXPECT_EQ(data->Find("x")->values_view().stride, 4);
  EXPECT_EQ(data->Find("x")->values_view().data, m + 1);
  EXPECT_EQ(data->Find("cat")->values_view().data, m);  // a name listed twice: its first place
  // A matrix column without missing values drops its mask; one with missing values keeps it.
  EXPECT_TRUE(data->Find("cat")->missing().empty());
  EXPECT_EQ(data->Find("cat")->size(), rows);
  EXPECT_EQ(data->Find("x")->missing().size(), static_cast<std::size_t>(rows));
  EXPECT_EQ(data->Find("x")->missing_count(), (rows + 10) / 11);
  ExpectSameData(*data, copy);
  // Matrix() reads the columns where they are now: the same matrix again.
  const Result<Tensor> again = data->Matrix(names);
  ASSERT_TRUE(again.ok());
  for (std::int64_t i = 0; i < rows * 4; ++i) {
    const double a = again->data<double>()[i];
    ASSERT_TRUE(a == e[i] || (std::isnan(a) && std::isnan(e[i]))) << "element " << i;
  }
  const Result<std::shared_ptr<const Tensor>> unknown = data->ShareMatrix({"x", "zzz"});
  EXPECT_EQ(unknown.status().message(), "'mem.csv' has no column named 'zzz'");
}

TEST(ShareMatrixDeathTest, AColumnInTheMatrixHasNoVector) {
  Result<Dataset> data = ParseCsv("x,y\n1,2\n3,4\n", "mem.csv");
  ASSERT_TRUE(data.ok());
  ASSERT_TRUE(data->ShareMatrix({"x", "y"}).ok());
  EXPECT_DEATH((void)data->Find("x")->values(), "column 'x' is held in the feature matrix");
}

}  // namespace
}  // namespace loupe
