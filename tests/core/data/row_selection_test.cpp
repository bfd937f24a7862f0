// RowSelection: parsing the pipeline's `rows`, its canonical JSON, and resolving it against a dataset.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "loupe/core/explainer.hpp"
#include "loupe/sdk/random.hpp"

namespace loupe {
namespace {

using json = nlohmann::json;
using Rows = std::vector<std::int64_t>;

RowSelection ParseRows(const json& value) {
  Result<RowSelection> result = RowSelection::FromJson(value);
  EXPECT_TRUE(result.ok()) << value.dump() << ": " << result.status().message();
  return result.ok() ? std::move(result).value() : RowSelection();
}

std::string RowsParseError(const json& value) {
  const Result<RowSelection> result = RowSelection::FromJson(value);
  EXPECT_FALSE(result.ok()) << "parsed: " << value.dump();
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  return result.status().message();
}

Rows Resolve(const json& value, std::int64_t num_rows, std::uint64_t seed = 0, std::uint64_t stream = 0) {
  Result<Rows> rows = ParseRows(value).Resolve(num_rows, seed, stream);
  EXPECT_TRUE(rows.ok()) << rows.status().message();
  return rows.ok() ? std::move(rows).value() : Rows();
}

std::string ResolveError(const json& value, std::int64_t num_rows) {
  const Result<Rows> rows = ParseRows(value).Resolve(num_rows, 0, 0);
  EXPECT_FALSE(rows.ok());
  return rows.status().message();
}

TEST(RowSelectionTest, ParsesEveryForm) {
  EXPECT_EQ(ParseRows("all").kind, RowSelection::Kind::kAll);

  const RowSelection range = ParseRows("3:7");
  EXPECT_EQ(range.kind, RowSelection::Kind::kRange);
  EXPECT_EQ(range.begin, 3);
  EXPECT_EQ(range.end, 7);

  const RowSelection open_end = ParseRows("5:");
  EXPECT_EQ(open_end.begin, 5);
  EXPECT_EQ(open_end.end, RowSelection::kToEnd);

  const RowSelection open_start = ParseRows(":4");
  EXPECT_EQ(open_start.begin, 0);
  EXPECT_EQ(open_start.end, 4);

  const RowSelection list = ParseRows(json::array({9, 2, 4}));
  EXPECT_EQ(list.kind, RowSelection::Kind::kList);
  EXPECT_EQ(list.list, (Rows{9, 2, 4}));

  const RowSelection count = ParseRows(json::parse("100"));
  EXPECT_EQ(count.kind, RowSelection::Kind::kCount);
  EXPECT_EQ(count.count, 100);
  EXPECT_EQ(ParseRows(json(12)).count, 12);  // signed JSON integers too
}

TEST(RowSelectionTest, ToJsonIsCanonical) {
  EXPECT_EQ(ParseRows("all").ToJson(), json("all"));
  EXPECT_EQ(ParseRows(" 0 : 20 ").ToJson(), json("0:20"));
  EXPECT_EQ(ParseRows(":20").ToJson(), json("0:20"));
  EXPECT_EQ(ParseRows("7:").ToJson(), json("7:"));
  EXPECT_EQ(ParseRows(json::array({3, 1})).ToJson(), json::parse("[3, 1]"));
  EXPECT_EQ(ParseRows(json(50)).ToJson(), json(50));
  EXPECT_EQ(ParseRows(ParseRows("2:9").ToJson()).ToJson(), json("2:9"));
}

TEST(RowSelectionTest, RejectsEverythingElse) {
  const std::string expected = "rows must be \"all\", \"a:b\", a list of row numbers or a count, found ";
  EXPECT_EQ(RowsParseError("some"), expected + "\"some\"");
  EXPECT_EQ(RowsParseError("1:2:3"), expected + "\"1:2:3\"");
  EXPECT_EQ(RowsParseError("-1:3"), expected + "\"-1:3\"");
  EXPECT_EQ(RowsParseError("a:b"), expected + "\"a:b\"");
  EXPECT_EQ(RowsParseError("20"), expected + "\"20\"");
  EXPECT_EQ(RowsParseError(json::parse("{\"kmeans\": 5}")), expected + "{\"kmeans\":5}");
  EXPECT_EQ(RowsParseError(json(2.5)), expected + "2.5");
  EXPECT_EQ(RowsParseError(json(true)), expected + "true");
  EXPECT_EQ(RowsParseError(json()), expected + "null");
}

TEST(RowSelectionTest, RejectsEmptyOrBadSelections) {
  EXPECT_EQ(RowsParseError("5:5"), "rows \"5:5\" is an empty range; expected a:b with a < b");
  EXPECT_EQ(RowsParseError("9:3"), "rows \"9:3\" is an empty range; expected a:b with a < b");
  EXPECT_EQ(RowsParseError(json::array()), "rows must list at least one row number, found []");
  EXPECT_EQ(RowsParseError(json::parse("[1, -2]")), "rows[1] must be a non-negative row number, found -2");
  EXPECT_EQ(RowsParseError(json::parse("[1, \"2\"]")),
            "rows[1] must be a non-negative row number, found \"2\"");
  EXPECT_EQ(RowsParseError(json::parse("[0, 1.5]")), "rows[1] must be a non-negative row number, found 1.5");
  EXPECT_EQ(RowsParseError(json::parse("[4, 2, 4]")),
            "rows lists row 4 twice; expected distinct row numbers");
  EXPECT_EQ(RowsParseError(json(0)), "rows must be a positive count of rows to sample, found 0");
  EXPECT_EQ(RowsParseError(json(-3)), "rows must be a positive count of rows to sample, found -3");
}

TEST(RowSelectionTest, ResolvesRangesAndLists) {
  EXPECT_EQ(Resolve("all", 4), (Rows{0, 1, 2, 3}));
  EXPECT_EQ(Resolve("1:3", 10), (Rows{1, 2}));
  EXPECT_EQ(Resolve("7:", 10), (Rows{7, 8, 9}));
  EXPECT_EQ(Resolve(":2", 10), (Rows{0, 1}));
  EXPECT_EQ(Resolve("0:10", 10).size(), 10u);
  EXPECT_EQ(Resolve(json::array({9, 0, 4}), 10), (Rows{9, 0, 4}));
}

TEST(RowSelectionTest, OutOfRangeNamesTheRowAndTheRowCount) {
  EXPECT_EQ(ResolveError(json::array({1, 5000}), 4454), "row 5000 is out of range: the data has 4454 rows");
  EXPECT_EQ(ResolveError(json::array({1}), 1), "row 1 is out of range: the data has 1 row");
  EXPECT_EQ(ResolveError("0:5000", 4454), "rows \"0:5000\" reach past the last row: the data has 4454 rows");
  EXPECT_EQ(ResolveError("4454:", 4454), "rows \"4454:\" reach past the last row: the data has 4454 rows");
  EXPECT_EQ(ResolveError(json(5000), 4454),
            "cannot sample 5000 rows without repeats: the data has 4454 rows");
}

TEST(RowSelectionTest, SamplesAreDistinctSortedAndDeterministic) {
  const Rows sample = Resolve(json(100), 4454, /*seed=*/42, /*stream=*/7);
  ASSERT_EQ(sample.size(), 100u);
  EXPECT_TRUE(std::is_sorted(sample.begin(), sample.end()));
  EXPECT_EQ(std::set<std::int64_t>(sample.begin(), sample.end()).size(), 100u);
  EXPECT_GE(sample.front(), 0);
  EXPECT_LT(sample.back(), 4454);

  EXPECT_EQ(Resolve(json(100), 4454, 42, 7), sample);
  EXPECT_NE(Resolve(json(100), 4454, 42, 8), sample);
  EXPECT_NE(Resolve(json(100), 4454, 43, 7), sample);
}

TEST(RowSelectionTest, SamplingEveryRowReturnsThemAll) {
  EXPECT_EQ(Resolve(json(5), 5, 3, 1), (Rows{0, 1, 2, 3, 4}));
}

TEST(RowSelectionTest, SampleFollowsTheDocumentedFisherYatesDraws) {
  // Recomputes the sample from the RNG stream the documentation names, so a change of draw order shows.
  constexpr std::int64_t kRows = 50;
  constexpr std::int64_t kCount = 5;
  Rows indices(kRows);
  for (std::int64_t i = 0; i < kRows; ++i) indices[static_cast<std::size_t>(i)] = i;
  sdk::Rng rng(/*seed=*/11, /*row=*/0, /*stream=*/2);
  for (std::int64_t i = 0; i < kCount; ++i) {
    const auto pick = i + static_cast<std::int64_t>(rng.Below(static_cast<std::uint64_t>(kRows - i)));
    std::swap(indices[static_cast<std::size_t>(i)], indices[static_cast<std::size_t>(pick)]);
  }
  Rows expected(indices.begin(), indices.begin() + kCount);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Resolve(json(kCount), kRows, 11, 2), expected);
}

}  // namespace
}  // namespace loupe
