// Reads every data set in tests/data and checks its shape, column types, missing values and a few
// exact cells. The expected numbers were counted independently with Python's csv module.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "loupe/core/dataset.hpp"

namespace loupe {
namespace {

using Levels = std::vector<std::string>;

Dataset ReadTestData(const std::string& name) {
  Result<Dataset> result = ReadCsv(std::string(LOUPE_TEST_DATA_DIR) + "/" + name);
  EXPECT_TRUE(result.ok()) << result.status().message();
  return result.ok() ? std::move(result).value() : Dataset();
}

const Column& ColumnNamed(const Dataset& data, const std::string& name) {
  const Column* column = data.Find(name);
  EXPECT_NE(column, nullptr) << "no column " << name;
  return column != nullptr ? *column : data.column(0);
}

TEST(RealDataTest, CreditData) {
  const Dataset data = ReadTestData("credit_data.csv");
  ASSERT_EQ(data.num_rows(), 4454);
  ASSERT_EQ(data.num_columns(), 14);
  const std::map<std::string, std::int64_t> missing = {
      {"Status", 0},  {"Seniority", 0}, {"Home", 6},   {"Time", 0},     {"Age", 0},
      {"Marital", 1}, {"Records", 0},   {"Job", 2},    {"Expenses", 0}, {"Income", 381},
      {"Assets", 47}, {"Debt", 18},     {"Amount", 0}, {"Price", 0}};
  const std::vector<std::string> categorical = {"Status", "Home", "Marital", "Records", "Job"};
  for (const Column& column : data.columns()) {
    const bool is_categorical =
        std::find(categorical.begin(), categorical.end(), column.name()) != categorical.end();
    EXPECT_EQ(column.type(), is_categorical ? ColumnType::kCategorical : ColumnType::kNumeric)
        << column.name();
    EXPECT_EQ(column.missing_count(), missing.at(column.name())) << column.name();
  }
  EXPECT_EQ(ColumnNamed(data, "Status").schema().levels, (Levels{"bad", "good"}));
  EXPECT_EQ(ColumnNamed(data, "Home").schema().levels,
            (Levels{"ignore", "other", "owner", "parents", "priv", "rent"}));
  EXPECT_EQ(ColumnNamed(data, "Job").schema().levels, (Levels{"fixed", "freelance", "others", "partime"}));

  // Row 0: "good",9,"rent",60,30,"married","no","freelance",73,129,0,0,800,846
  EXPECT_EQ(ColumnNamed(data, "Status").Format(0), "good");
  EXPECT_EQ(ColumnNamed(data, "Status").values()[0], 1.0);
  EXPECT_EQ(ColumnNamed(data, "Seniority").values()[0], 9.0);
  EXPECT_EQ(ColumnNamed(data, "Home").values()[0], 5.0);  // rent
  EXPECT_EQ(ColumnNamed(data, "Price").values()[0], 846.0);
  // Row 29: "bad",0,NA,48,37,"single","no",NA,35,NA,NA,NA,1500,1850
  EXPECT_TRUE(ColumnNamed(data, "Home").is_missing(29));
  EXPECT_TRUE(std::isnan(ColumnNamed(data, "Income").values()[29]));
  EXPECT_EQ(ColumnNamed(data, "Job").Format(29), "NA");
  EXPECT_EQ(ColumnNamed(data, "Amount").Format(29), "1500");
  // Last row: "good",5,"owner",60,32,"married","no","freelance",60,140,4000,1000,1350,1650
  EXPECT_EQ(ColumnNamed(data, "Assets").values()[4453], 4000.0);
  EXPECT_EQ(ColumnNamed(data, "Home").Format(4453), "owner");
}

TEST(RealDataTest, Hmda) {
  const Dataset data = ReadTestData("hmda.csv");
  ASSERT_EQ(data.num_rows(), 2380);
  ASSERT_EQ(data.num_columns(), 14);
  const std::vector<std::string> numeric = {"pirat", "hirat", "lvrat", "chist", "mhist", "unemp"};
  for (const Column& column : data.columns()) {
    const bool is_numeric = std::find(numeric.begin(), numeric.end(), column.name()) != numeric.end();
    EXPECT_EQ(column.type(), is_numeric ? ColumnType::kNumeric : ColumnType::kCategorical) << column.name();
    EXPECT_EQ(column.missing_count(), 0) << column.name();
  }
  EXPECT_EQ(ColumnNamed(data, "afam").schema().levels, (Levels{"no", "yes"}));
  EXPECT_EQ(ColumnNamed(data, "pirat").values()[0], 0.221000003814697);
  EXPECT_EQ(ColumnNamed(data, "pirat").Format(0), "0.221000003814697");
  EXPECT_EQ(ColumnNamed(data, "lvrat").values()[2379], 0.813559322033898);
  EXPECT_EQ(ColumnNamed(data, "deny").Format(2379), "yes");
}

TEST(RealDataTest, HmdaCodesAsCategories) {
  CsvOptions options;
  options.categorical = {"chist", "mhist"};
  options.target = "deny";
  options.sensitive = {"afam", "single"};
  const Result<Dataset> data = ReadCsv(std::string(LOUPE_TEST_DATA_DIR) + "/hmda.csv", options);
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_EQ(data->Find("chist")->schema().levels, (Levels{"1", "2", "3", "4", "5", "6"}));
  EXPECT_EQ(data->Find("chist")->values()[0], 4.0);  // "5"
  EXPECT_EQ(data->Find("mhist")->schema().levels, (Levels{"1", "2", "3", "4"}));
  EXPECT_EQ(data->schema().target, std::optional<std::string>("deny"));
}

TEST(RealDataTest, BreastCancer) {
  const Dataset data = ReadTestData("breast_cancer.csv");
  ASSERT_EQ(data.num_rows(), 569);
  ASSERT_EQ(data.num_columns(), 31);
  for (const Column& column : data.columns()) {
    EXPECT_EQ(column.type(), ColumnType::kNumeric) << column.name();
    EXPECT_EQ(column.missing_count(), 0) << column.name();
  }
  EXPECT_EQ(data.schema().columns[0].name, "mean radius");
  EXPECT_EQ(data.schema().IndexOf("worst radius"), 20);
  EXPECT_EQ(data.schema().IndexOf("target"), 30);
  EXPECT_EQ(data.column(0).values()[0], 17.99);
  EXPECT_EQ(data.column(0).values()[568], 7.76);
  EXPECT_EQ(data.column(30).values()[568], 1.0);
}

TEST(RealDataTest, Diabetes) {
  const Dataset data = ReadTestData("diabetes.csv");
  ASSERT_EQ(data.num_rows(), 442);
  ASSERT_EQ(data.num_columns(), 11);
  for (const Column& column : data.columns()) EXPECT_EQ(column.type(), ColumnType::kNumeric) << column.name();
  EXPECT_EQ(ColumnNamed(data, "s5").values()[1], 3.8918);
  EXPECT_EQ(ColumnNamed(data, "s5").Format(441), "4.5951");
  EXPECT_EQ(ColumnNamed(data, "target").Format(441), "57");
}

TEST(RealDataTest, FortunesTopics) {
  const Dataset data = ReadTestData("fortunes_topics.csv");
  ASSERT_EQ(data.num_rows(), 2683);
  ASSERT_EQ(data.num_columns(), 2);
  const Column& text = ColumnNamed(data, "text");
  const Column& topic = ColumnNamed(data, "topic");
  EXPECT_EQ(text.type(), ColumnType::kText);
  EXPECT_EQ(topic.type(), ColumnType::kCategorical);
  EXPECT_EQ(topic.schema().levels,
            (Levels{"computers", "food", "law", "love", "medicine", "politics", "science", "sports"}));
  EXPECT_EQ(text.text()[0], "!07/11 PDP a ni deppart m'I !pleH");
  EXPECT_EQ(
      text.text()[3],
      "... A booming voice says, \"Wrong, cretin!\", and you notice that you have turned into a pile of "
      "dust.");
  EXPECT_EQ(topic.Format(2682), "law");
  EXPECT_EQ(text.missing_count(), 0);
}

}  // namespace
}  // namespace loupe
