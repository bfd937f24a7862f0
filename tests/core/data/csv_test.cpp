// The CSV reader on small texts: RFC 4180 quoting, line ends, type inference, overrides and every error.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "loupe/core/dataset.hpp"

namespace loupe {
namespace {

using Levels = std::vector<std::string>;

Dataset ParseOk(const std::string& text, const CsvOptions& options = {}) {
  Result<Dataset> result = ParseCsv(text, "mem.csv", options);
  EXPECT_TRUE(result.ok()) << result.status().message();
  return result.ok() ? std::move(result).value() : Dataset();
}

std::string ParseError(const std::string& text, const CsvOptions& options = {}) {
  const Result<Dataset> result = ParseCsv(text, "mem.csv", options);
  EXPECT_FALSE(result.ok()) << "parsed without error: " << text;
  return result.ok() ? std::string() : result.status().message();
}

TEST(CsvQuotingTest, QuotedFieldsHoldCommasQuotesAndLineBreaks) {
  const Dataset data = ParseOk(
      "a,b\n"
      "\"x, y\",\"he said \"\"hi\"\"\"\n"
      "\"multi\nline\",plain\n"
      "\"\"\"\",\"crlf\r\ninside\"\n");
  ASSERT_EQ(data.num_rows(), 3);
  ASSERT_EQ(data.num_columns(), 2);
  EXPECT_EQ(data.column(0).Format(0), "x, y");
  EXPECT_EQ(data.column(1).Format(0), "he said \"hi\"");
  EXPECT_EQ(data.column(0).Format(1), "multi\nline");
  EXPECT_EQ(data.column(1).Format(1), "plain");
  EXPECT_EQ(data.column(0).Format(2), "\"");
  EXPECT_EQ(data.column(1).Format(2), "crlf\r\ninside");
}

TEST(CsvQuotingTest, SpacesOutsideQuotesAreDroppedAndInsideKept) {
  const Dataset data = ParseOk(" a , b \n x ,  \" y \"  \n");
  EXPECT_EQ(data.schema().columns[0].name, "a");
  EXPECT_EQ(data.schema().columns[1].name, "b");
  EXPECT_EQ(data.column(0).Format(0), "x");
  EXPECT_EQ(data.column(1).Format(0), " y ");
}

TEST(CsvQuotingTest, AQuoteInsideAnUnquotedFieldIsAnOrdinaryCharacter) {
  const Dataset data = ParseOk("size\n12\"\n");
  EXPECT_EQ(data.column(0).type(), ColumnType::kCategorical);
  EXPECT_EQ(data.column(0).Format(0), "12\"");
}

TEST(CsvLineEndTest, CrlfByteOrderMarkAndNoFinalLineEnd) {
  const Dataset data = ParseOk("\xEF\xBB\xBFid,v\r\n1,2\r\n3,4");
  ASSERT_EQ(data.num_rows(), 2);
  EXPECT_EQ(data.schema().columns[0].name, "id");
  EXPECT_EQ(data.column(1).values()[1], 4.0);
}

TEST(CsvLineEndTest, BareCarriageReturnsEndLines) {
  const Dataset data = ParseOk("id,v\r1,2\r3,4\r");
  ASSERT_EQ(data.num_rows(), 2);
  EXPECT_EQ(data.column(0).values()[1], 3.0);
}

TEST(CsvLineEndTest, BlankLinesAreSkippedButCounted) {
  EXPECT_EQ(ParseOk("a\n\n1\n  \n2\n\n").num_rows(), 2);
  EXPECT_EQ(ParseError("a\n\n1\n\nx,y\n"), "mem.csv:5: expected 1 field as in the header, found 2");
}

TEST(CsvLineEndTest, ATrailingCommaIsAnEmptyLastField) {
  const Dataset data = ParseOk("a,b\n1,\n2,3");
  EXPECT_TRUE(data.column(1).is_missing(0));
  EXPECT_EQ(data.column(1).values()[1], 3.0);
}

TEST(CsvErrorTest, WrongFieldCountNamesThePhysicalLineWhereTheRecordStarts) {
  // The quoted field of the second record spans lines 3 and 4, so the short record starts on line 5.
  EXPECT_EQ(ParseError("a,b,c\n1,2,3\n\"x\ny\",2,3\n4,5\n"),
            "mem.csv:5: expected 3 fields as in the header, found 2");
  EXPECT_EQ(ParseError("a,b\n1,2,3\n"), "mem.csv:2: expected 2 fields as in the header, found 3");
}

TEST(CsvErrorTest, UnterminatedQuoteNamesTheLineWhereItOpened) {
  EXPECT_EQ(ParseError("a,b\n1,2\n3,\"open\n4,5\n6,7\n"),
            "mem.csv:3: expected a closing quote for the field that opens on this line, found the end of "
            "the file");
}

TEST(CsvErrorTest, TextAfterAClosingQuote) {
  EXPECT_EQ(ParseError("a,b\n1,\"x\"yz,\n"),
            "mem.csv:2: expected a comma or a line end after the closing quote of field 2, found 'yz'");
}

TEST(CsvErrorTest, EmptyFileAndHeaderOnly) {
  EXPECT_EQ(ParseError(""), "mem.csv: expected a header line, found an empty file");
  EXPECT_EQ(ParseError("\xEF\xBB\xBF\n \r\n"), "mem.csv: expected a header line, found an empty file");
  EXPECT_EQ(ParseError("a,b\n"), "mem.csv: expected at least one data row after the header, found none");
}

TEST(CsvErrorTest, BadHeaderNames) {
  EXPECT_EQ(
      ParseError("a,b,a\n1,2,3\n"),
      "mem.csv:1: column name 'a' appears twice in the header (columns 1 and 3); expected unique names");
  EXPECT_EQ(ParseError("\na,,c\n1,2,3\n"),
            "mem.csv:2: expected a name for column 2 in the header, found an empty field");
}

TEST(CsvErrorTest, ForcedNumericNamesTheCellLineAndColumn) {
  CsvOptions options;
  options.numeric = {"x"};
  EXPECT_EQ(ParseError("id,x\n1,2\n\"two\nlines\",3\n4,abc\n", options),
            "mem.csv:5: column 'x': expected a number, found 'abc'");
}

TEST(CsvErrorTest, OverridesMustNameColumnsOfTheHeader) {
  CsvOptions categorical;
  categorical.categorical = {"x", "nope"};
  EXPECT_EQ(ParseError("x,y\n1,2\n", categorical),
            "mem.csv:1: the categorical list names column 'nope', which is not in the header");
  CsvOptions sensitive;
  sensitive.sensitive = {"race"};
  EXPECT_EQ(ParseError("x,y\n1,2\n", sensitive),
            "mem.csv:1: the sensitive list names column 'race', which is not in the header");
  CsvOptions target;
  target.target = "label";
  EXPECT_EQ(ParseError("x,y\n1,2\n", target),
            "mem.csv:1: the target names column 'label', which is not in the header");
  CsvOptions twice;
  twice.categorical = {"x"};
  twice.text = {"x"};
  EXPECT_EQ(ParseError("x,y\n1,2\n", twice),
            "mem.csv:1: column 'x' is in both the categorical and the text list; expected at most one type "
            "for a column");
}

TEST(CsvErrorTest, UnknownOverrideIsNotFound) {
  CsvOptions options;
  options.text = {"nope"};
  EXPECT_EQ(ParseCsv("x\n1\n", "mem.csv", options).status().code(), StatusCode::kNotFound);
}

TEST(CsvMissingTest, DefaultTokensAreNaAndEmptyQuotedOrNot) {
  const Dataset data = ParseOk("x,c\n1,a\nNA,NA\n,\"\"\n\"NA\",b\n");
  const Column& x = data.column(0);
  EXPECT_EQ(x.type(), ColumnType::kNumeric);
  EXPECT_EQ(x.missing_count(), 3);
  EXPECT_TRUE(std::isnan(x.values()[1]));
  EXPECT_EQ(x.Format(1), "NA");
  const Column& c = data.column(1);
  EXPECT_EQ(c.schema().levels, (Levels{"a", "b"}));
  EXPECT_EQ(c.missing_count(), 2);
  EXPECT_TRUE(std::isnan(c.values()[2]));
}

TEST(CsvMissingTest, CustomTokensReplaceTheDefaults) {
  CsvOptions options;
  options.missing = {"?"};
  const Dataset data = ParseOk("x,c\n1,NA\n?,?\n", options);
  EXPECT_EQ(data.column(0).type(), ColumnType::kNumeric);
  EXPECT_TRUE(data.column(0).is_missing(1));
  EXPECT_EQ(data.column(1).schema().levels, (Levels{"NA"}));
  EXPECT_TRUE(data.column(1).is_missing(1));
}

TEST(CsvMissingTest, AColumnWithOnlyMissingValuesIsNumeric) {
  const Dataset data = ParseOk("x,y\n1,NA\n2,\n");
  EXPECT_EQ(data.column(1).type(), ColumnType::kNumeric);
  EXPECT_EQ(data.column(1).missing_count(), 2);
}

TEST(CsvInferenceTest, NumbersInEveryForm) {
  const Dataset data = ParseOk("x\n 3 \n1e-3\n-2\n+4\n\"5\"\n0.5\ninf\n");
  const Column& x = data.column(0);
  ASSERT_EQ(x.type(), ColumnType::kNumeric);
  EXPECT_EQ(x.values(), (std::vector<double>{3, 0.001, -2, 4, 5, 0.5, INFINITY}));
}

TEST(CsvInferenceTest, OneNonNumberMakesAColumnCategorical) {
  EXPECT_EQ(ParseOk("x\n1\n2\nnan\n").column(0).type(), ColumnType::kCategorical);
  EXPECT_EQ(ParseOk("x\n1\n0x10\n").column(0).type(), ColumnType::kCategorical);
  EXPECT_EQ(ParseOk("x\n1\n1e999\n").column(0).type(), ColumnType::kCategorical);
  EXPECT_EQ(ParseOk("x\n1\n+-1\n").column(0).type(), ColumnType::kCategorical);
}

TEST(CsvInferenceTest, LongMostlyDistinctValuesAreText) {
  const std::string long_a = "the quick brown fox jumps";     // 25 characters
  const std::string long_b = "over the lazy dog once again";  // 28
  const std::string exactly_20 = "twenty characters!!!";      // 20
  const std::string also_20 = "another twenty chars";         // 20
  EXPECT_EQ(ParseOk("t\n" + long_a + "\n" + long_b + "\nshort text here\n").column(0).type(),
            ColumnType::kText);
  // Mean length must exceed 20.
  EXPECT_EQ(ParseOk("t\n" + exactly_20 + "\n" + also_20 + "\n").column(0).type(), ColumnType::kCategorical);
  // More than half of the rows must be distinct: 2 distinct of 4 is not enough.
  EXPECT_EQ(ParseOk("t\n" + long_a + "\n" + long_a + "\n" + long_b + "\n" + long_b + "\n").column(0).type(),
            ColumnType::kCategorical);
  // Length counts characters, not UTF-8 bytes: 20 two-byte characters are 20 long, not 40.
  std::string accents_19;
  for (int i = 0; i < 19; ++i) accents_19 += "\xC3\xA9";
  EXPECT_EQ(ParseOk("t\n" + accents_19 + "a\n" + accents_19 + "b\n").column(0).type(),
            ColumnType::kCategorical);
}

TEST(CsvInferenceTest, OverridesForceTypes) {
  CsvOptions options;
  options.categorical = {"code"};
  options.text = {"word"};
  options.numeric = {"n"};
  const Dataset data = ParseOk("code,word,n\n10,a,1\n2,b,2\n1.0,a,NA\n1,c,4\n", options);
  EXPECT_EQ(data.column(0).type(), ColumnType::kCategorical);
  EXPECT_EQ(data.column(1).type(), ColumnType::kText);
  EXPECT_EQ(data.column(2).type(), ColumnType::kNumeric);
  EXPECT_EQ(data.column(1).text(), (std::vector<std::string>{"a", "b", "a", "c"}));
}

TEST(CsvInferenceTest, NumericLevelsSortByValueThenBytes) {
  CsvOptions options;
  options.categorical = {"code"};
  const Dataset data = ParseOk("code\n10\n2\n1.0\n1\n2\n", options);
  const Column& code = data.column(0);
  EXPECT_EQ(code.schema().levels, (Levels{"1", "1.0", "2", "10"}));
  EXPECT_EQ(code.values(), (std::vector<double>{3, 2, 1, 0, 2}));
  EXPECT_EQ(code.Format(0), "10");
}

TEST(CsvInferenceTest, OtherLevelsSortByBytes) {
  const Dataset data = ParseOk("c\nb\nB\na\n\xC3\xA9\nb\n10\n");
  EXPECT_EQ(data.column(0).schema().levels, (Levels{"10", "B", "a", "b", "\xC3\xA9"}));
  EXPECT_EQ(data.column(0).values(), (std::vector<double>{3, 1, 2, 4, 3, 0}));
}

TEST(CsvInferenceTest, TextColumnsKeepEmptyStringsWhereMissing) {
  CsvOptions options;
  options.text = {"t"};
  const Dataset data = ParseOk("t\nhello\nNA\n", options);
  EXPECT_EQ(data.column(0).text(), (std::vector<std::string>{"hello", ""}));
  EXPECT_TRUE(data.column(0).is_missing(1));
  EXPECT_EQ(data.column(0).Format(1), "NA");
  EXPECT_TRUE(data.column(0).values().empty());
}

TEST(CsvSchemaTest, TargetAndSensitiveAreCarried) {
  CsvOptions options;
  options.target = "y";
  options.sensitive = {"g"};
  const Dataset data = ParseOk("g,x,y\na,1,0\nb,2,1\n", options);
  EXPECT_EQ(data.schema().target, std::optional<std::string>("y"));
  EXPECT_EQ(data.schema().sensitive, (std::vector<std::string>{"g"}));
  EXPECT_EQ(data.source(), "mem.csv");
}

class CsvFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("loupe_csv_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
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

TEST_F(CsvFileTest, ReadsAFileAndNamesItAsSource) {
  const std::string path = Write("ok.csv", "x,y\n1,a\n2,b\n");
  const Result<Dataset> data = ReadCsv(path);
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_EQ(data->source(), path);
  EXPECT_EQ(data->num_rows(), 2);
}

TEST_F(CsvFileTest, ErrorsNameTheFile) {
  const std::string path = Write("broken.csv", "x,y\n1,2\n3\n");
  const Result<Dataset> data = ReadCsv(path);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(data.status().message(), path + ":3: expected 2 fields as in the header, found 1");
}

TEST_F(CsvFileTest, MissingFile) {
  const std::string path = (dir_ / "absent.csv").string();
  const Result<Dataset> data = ReadCsv(path);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(data.status().message(), "cannot open '" + path + "': No such file or directory");
}

TEST_F(CsvFileTest, DirectoryInsteadOfAFile) {
  const Result<Dataset> data = ReadCsv(dir_);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), StatusCode::kIoError);
  EXPECT_EQ(data.status().message(), "cannot read '" + dir_.string() + "': Is a directory");
}

}  // namespace
}  // namespace loupe
