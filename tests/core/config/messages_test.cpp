#include "config/messages.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace loupe::config {
namespace {

using nlohmann::json;

TEST(MessagesTest, EditDistanceCountsAnAdjacentSwapAsOneEdit) {
  EXPECT_EQ(EditDistance("seed", "seed"), 0);
  EXPECT_EQ(EditDistance("sed", "seed"), 1);
  EXPECT_EQ(EditDistance("nsampels", "nsamples"), 1);
  EXPECT_EQ(EditDistance("Seed", "seed"), 0);
  EXPECT_EQ(EditDistance("", "abc"), 3);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3);
}

TEST(MessagesTest, ClosestMatchSuggestsOnlyPlausibleTypos) {
  const std::vector<std::string> keys = {"version", "name",  "seed",   "data",
                                         "model",   "steps", "output", "plugins"};
  EXPECT_EQ(ClosestMatch("sed", keys), "seed");
  EXPECT_EQ(ClosestMatch("modle", keys), "model");
  EXPECT_EQ(ClosestMatch("plugin", keys), "plugins");
  EXPECT_EQ(ClosestMatch("colour", keys), "");
  EXPECT_EQ(ClosestMatch("ab", {"id"}), "");  // distance 2 equals the length: not a typo
  // Long names allow a third of their length: 3 edits in "feature_selection".
  EXPECT_EQ(ClosestMatch("featur_selectoin", {"feature_selection", "num_features"}), "feature_selection");
}

TEST(MessagesTest, SuggestionSuffixFallsBackToTheAllowedNames) {
  EXPECT_EQ(SuggestionSuffix("paht", {"path", "target"}), "; did you mean 'path'?");
  EXPECT_EQ(SuggestionSuffix("zzz", {"path", "target"}), "; expected one of: path, target");
  EXPECT_EQ(SuggestionSuffix("zzz", {}), "");
}

TEST(MessagesTest, ValueTextPrintsValuesAsWritten) {
  EXPECT_EQ(ValueText(json("abc")), "\"abc\"");
  EXPECT_EQ(ValueText(json(3)), "3");
  EXPECT_EQ(ValueText(json(2.5)), "2.5");
  EXPECT_EQ(ValueText(json(nullptr)), "null");
  EXPECT_EQ(ValueText(json::parse("[1, \"a\"]")), "[1,\"a\"]");
  EXPECT_EQ(ValueText(json(NAN)), ".nan");
  EXPECT_EQ(ValueText(json(-INFINITY)), "-.inf");
  EXPECT_EQ(ValueText(json(std::string(100, 'x'))), "\"" + std::string(56, 'x') + "...");
}

TEST(MessagesTest, NumberTextAndRenameSubject) {
  EXPECT_EQ(NumberText(1), "1");
  EXPECT_EQ(NumberText(0.5), "0.5");
  EXPECT_EQ(NumberText(1e-6), "1e-06");
  EXPECT_EQ(NumberText(100000), "100000");
  EXPECT_EQ(NumberText(-3), "-3");
  EXPECT_EQ(NumberText(1e20), "1e+20");
  EXPECT_EQ(RenameSubject("rows must be x", "rows", "'steps.a.rows'"), "'steps.a.rows' must be x");
  EXPECT_EQ(RenameSubject("cannot sample", "rows", "'r'"), "'r': cannot sample");
}

}  // namespace
}  // namespace loupe::config
