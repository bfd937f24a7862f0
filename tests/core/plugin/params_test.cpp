// CheckParamValue against hand-made ParamSpecs: every type, bounds and choices.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "loupe/core/explainer.hpp"

namespace loupe {
namespace {

using nlohmann::json;

ParamSpec Spec(const std::string& name, ParamType type) {
  ParamSpec spec;
  spec.name = name;
  spec.type = type;
  return spec;
}

std::string ErrorOf(const ParamSpec& spec, const json& value) {
  const Status status = CheckParamValue(spec, value);
  EXPECT_FALSE(status.ok()) << spec.name << " accepted " << value.dump();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  return status.message();
}

void ExpectAccepted(const ParamSpec& spec, const json& value) {
  const Status status = CheckParamValue(spec, value);
  EXPECT_TRUE(status.ok()) << value.dump() << ": " << status.message();
}

TEST(ParamTypeNameTest, NamesEveryType) {
  EXPECT_STREQ(ParamTypeName(ParamType::kBool), "bool");
  EXPECT_STREQ(ParamTypeName(ParamType::kInt), "int");
  EXPECT_STREQ(ParamTypeName(ParamType::kFloat), "float");
  EXPECT_STREQ(ParamTypeName(ParamType::kString), "string");
  EXPECT_STREQ(ParamTypeName(ParamType::kEnum), "enum");
  EXPECT_STREQ(ParamTypeName(ParamType::kRows), "rows");
  EXPECT_STREQ(ParamTypeName(ParamType::kJson), "json");
  EXPECT_STREQ(ParamTypeName(ParamType::kStringList), "string_list");
}

TEST(FindParamTest, FindsByExactName) {
  ExplainerDescriptor descriptor;
  descriptor.params = {Spec("nsamples", ParamType::kInt), Spec("output", ParamType::kEnum)};
  ASSERT_NE(descriptor.FindParam("output"), nullptr);
  EXPECT_EQ(descriptor.FindParam("output")->type, ParamType::kEnum);
  EXPECT_EQ(descriptor.FindParam("Output"), nullptr);
  EXPECT_EQ(descriptor.FindParam("nsample"), nullptr);
}

TEST(CheckParamValueTest, BoolTakesOnlyJsonBooleans) {
  const ParamSpec spec = Spec("interactions", ParamType::kBool);
  ExpectAccepted(spec, true);
  ExpectAccepted(spec, false);
  EXPECT_EQ(ErrorOf(spec, "yes"), "parameter 'interactions' must be true or false, found \"yes\"");
  EXPECT_EQ(ErrorOf(spec, 1), "parameter 'interactions' must be true or false, found 1");
}

TEST(CheckParamValueTest, IntTakesOnlyValuesWrittenAsIntegers) {
  const ParamSpec spec = Spec("max_depth", ParamType::kInt);
  ExpectAccepted(spec, 3);
  ExpectAccepted(spec, -3);
  ExpectAccepted(spec, json(std::uint64_t{18446744073709551615u}));
  EXPECT_EQ(ErrorOf(spec, 3.0), "parameter 'max_depth' must be an integer, found 3.0");
  EXPECT_EQ(ErrorOf(spec, 2.5), "parameter 'max_depth' must be an integer, found 2.5");
  EXPECT_EQ(ErrorOf(spec, "3"), "parameter 'max_depth' must be an integer, found \"3\"");
  EXPECT_EQ(ErrorOf(spec, nullptr), "parameter 'max_depth' must be an integer, found null");
}

TEST(CheckParamValueTest, IntBoundsAreInclusive) {
  ParamSpec spec = Spec("nsamples", ParamType::kInt);
  spec.min_value = 1;
  spec.max_value = 100000;
  ExpectAccepted(spec, 1);
  ExpectAccepted(spec, 100000);
  EXPECT_EQ(ErrorOf(spec, 0), "parameter 'nsamples' must be >= 1, found 0");
  EXPECT_EQ(ErrorOf(spec, -3), "parameter 'nsamples' must be >= 1, found -3");
  EXPECT_EQ(ErrorOf(spec, 100001), "parameter 'nsamples' must be <= 100000, found 100001");
}

TEST(CheckParamValueTest, FloatTakesAnyNumberWithinBounds) {
  ParamSpec spec = Spec("kernel_width", ParamType::kFloat);
  spec.min_value = 0.25;
  spec.max_value = 1e6;
  ExpectAccepted(spec, 0.75);
  ExpectAccepted(spec, 3);  // integers are numbers too
  ExpectAccepted(spec, 0.25);
  EXPECT_EQ(ErrorOf(spec, 0.1), "parameter 'kernel_width' must be >= 0.25, found 0.1");
  EXPECT_EQ(ErrorOf(spec, 2e6), "parameter 'kernel_width' must be <= 1000000, found 2000000.0");
  EXPECT_EQ(ErrorOf(spec, "wide"), "parameter 'kernel_width' must be a number, found \"wide\"");
  EXPECT_EQ(ErrorOf(spec, NAN), "parameter 'kernel_width' must be a number, found .nan");
  EXPECT_EQ(ErrorOf(spec, INFINITY), "parameter 'kernel_width' must be <= 1000000, found .inf");
  ExpectAccepted(Spec("unbounded", ParamType::kFloat), -INFINITY);
}

TEST(CheckParamValueTest, StringTakesOnlyStrings) {
  const ParamSpec spec = Spec("criterion", ParamType::kString);
  ExpectAccepted(spec, "gini");
  ExpectAccepted(spec, "");
  EXPECT_EQ(ErrorOf(spec, json::array({"gini"})), "parameter 'criterion' must be a string, found [\"gini\"]");
}

TEST(CheckParamValueTest, EnumTakesOneOfItsChoices) {
  ParamSpec spec = Spec("output", ParamType::kEnum);
  spec.choices = {"probability", "raw"};
  ExpectAccepted(spec, "raw");
  EXPECT_EQ(ErrorOf(spec, "prob"), "parameter 'output' must be one of probability, raw; found 'prob'");
  EXPECT_EQ(ErrorOf(spec, "Raw"), "parameter 'output' must be one of probability, raw; found 'Raw'");
  EXPECT_EQ(ErrorOf(spec, 1), "parameter 'output' must be one of probability, raw; found 1");
}

TEST(CheckParamValueTest, RowsTakesARowSelection) {
  const ParamSpec spec = Spec("background", ParamType::kRows);
  ExpectAccepted(spec, "0:100");
  ExpectAccepted(spec, "all");
  ExpectAccepted(spec, json::parse("[3, 1, 2]"));
  ExpectAccepted(spec, 100);
  const std::string error = ErrorOf(spec, "first");
  EXPECT_THAT(error, ::testing::StartsWith("parameter 'background' "));
  EXPECT_THAT(error, ::testing::EndsWith("found \"first\""));
  EXPECT_THAT(ErrorOf(spec, true), ::testing::StartsWith("parameter 'background' "));
}

TEST(CheckParamValueTest, StringListTakesAListOfStrings) {
  const ParamSpec spec = Spec("sensitive", ParamType::kStringList);
  ExpectAccepted(spec, json::parse(R"(["Marital", "Age"])"));
  ExpectAccepted(spec, json::array());
  EXPECT_EQ(ErrorOf(spec, "Marital"), "parameter 'sensitive' must be a list of strings, found \"Marital\"");
  EXPECT_EQ(ErrorOf(spec, json::parse(R"(["Marital", 3])")),
            "parameter 'sensitive' must be a list of strings, found [\"Marital\",3]");
}

TEST(CheckParamValueTest, JsonTakesAnything) {
  const ParamSpec spec = Spec("privileged", ParamType::kJson);
  ExpectAccepted(spec, nullptr);
  ExpectAccepted(spec, json::parse(R"({"Marital": ["married"], "n": [1, 2.5]})"));
  ExpectAccepted(spec, "x");
}

}  // namespace
}  // namespace loupe
