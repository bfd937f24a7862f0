// loupe::sdk::FeatureAttribution and TextRows against the SDK's mock host: `data` sent a block of rows at a
// time (SendDataRows) gives the same result as `data` sent whole by Write, and the checks name the field.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "loupe/sdk/attribution.hpp"
#include "loupe/testing/mock_host.hpp"

namespace {

using loupe::sdk::FeatureAttribution;
using loupe::sdk::ResultBuilder;
using loupe::sdk::TextRows;

// A result builder writing into a fresh mock call's result.
struct MockResult {
  loupe::testing::detail::MockCall call;
  ResultBuilder builder{&loupe::testing::detail::Api(), reinterpret_cast<LoupeResultBuilder*>(&call)};
};

FeatureAttribution Example(std::size_t rows) {
  FeatureAttribution a;
  a.feature_names = {"age", "city"};
  a.output_names = {"p"};
  for (std::size_t r = 0; r < rows; ++r) {
    a.rows.push_back(static_cast<std::int64_t>(r));
    a.base_values.push_back(0.5);
    a.values.insert(a.values.end(), {0.1 * static_cast<double>(r), -0.2});
  }
  return a;
}

std::vector<std::string> Row(std::size_t r) {
  return {std::to_string(30 + r), r % 2 ? "Zürich" : "\"Bern\""};
}

TEST(FeatureAttribution, DataSentInBlocksEqualsDataSentWhole) {
  FeatureAttribution whole = Example(5);
  for (std::size_t r = 0; r < 5; ++r) whole.data.push_back(Row(r));
  MockResult expected;
  whole.Write(expected.builder);

  FeatureAttribution streamed = Example(5);
  MockResult got;
  TextRows first, second;
  first.push_back(Row(0));
  first.push_back(Row(1));
  second.push_back(Row(2));
  streamed.SendDataRows(got.builder, first);
  streamed.SendDataRows(got.builder, TextRows());  // an empty block sends nothing
  streamed.SendDataRows(got.builder, second);
  streamed.data.push_back(Row(3));  // the rest goes with Write
  streamed.data.push_back(Row(4));
  std::move(streamed).Write(got.builder);
  EXPECT_EQ(got.call.result, expected.call.result);
  EXPECT_EQ(got.call.result.at("data").size(), 5u);
  EXPECT_EQ(got.call.result.at("data")[1][1], "Zürich");
}

TEST(FeatureAttribution, ValuesWrittenInTheHostEqualValuesSentByWrite) {
  FeatureAttribution sent = Example(3);
  for (std::size_t r = 0; r < 3; ++r) sent.data.push_back(Row(r));
  MockResult expected;
  sent.Write(expected.builder);

  FeatureAttribution in_place = Example(3);
  const std::vector<double> computed = in_place.values;
  MockResult got;
  double* values = in_place.ValuesInHost(got.builder);
  EXPECT_TRUE(in_place.values.empty());
  std::copy(computed.begin(), computed.end(), values);
  for (std::size_t r = 0; r < 3; ++r) in_place.data.push_back(Row(r));
  in_place.Write(got.builder);
  loupe::testing::detail::MaterializeNewTensors(got.call);
  EXPECT_EQ(got.call.result, expected.call.result);
}

TEST(FeatureAttribution, RefusesDataOfTheWrongShape) {
  FeatureAttribution missing_row = Example(3);
  missing_row.data.push_back(Row(0));
  MockResult result;
  EXPECT_THROW(missing_row.Write(result.builder), loupe::sdk::Error);

  FeatureAttribution narrow = Example(1);
  TextRows block;
  block.push_back({"30"});
  EXPECT_THROW(narrow.SendDataRows(result.builder, block), loupe::sdk::Error);
}

TEST(TextRows, HoldsRowsAsOneBufferAndReportsRaggedRows) {
  TextRows rows;
  rows.push_back({"a", "", "ccc"});
  rows.push_back({"d", "e", "f"});
  EXPECT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows.Rectangular());
  EXPECT_EQ(rows.At(0, 2), "ccc");
  EXPECT_EQ(rows.At(1, 0), "d");
  EXPECT_EQ(rows.At(0, 1), "");
  EXPECT_EQ(rows.chars(), "acccdef");
  rows.push_back({"g"});
  EXPECT_FALSE(rows.Rectangular());
  EXPECT_EQ(rows.Width(), 1u);
}

}  // namespace
