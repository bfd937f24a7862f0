// The pieces of the complete validation that need no plugin: the CSV profile (header, row count, distinct
// values), label matching, label parameters, and the writers' temporary files.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pipeline/validate.hpp"
#include "report/output_files.hpp"

namespace loupe {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class DataChecksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("loupe-data-checks-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  }
  fs::path dir_;
};

TEST_F(DataChecksTest, ProfileReadsHeaderRowCountAndDistinctValuesOfTheAskedColumns) {
  const fs::path csv = Write("d.csv", "a,b,\"c,d\"\n1,x,\"q\nr\"\n2,NA,s\n3,x,\n");
  Result<DataProfile> profile = ProfileCsv(csv, {"NA", ""}, {"b", "c,d"});
  ASSERT_TRUE(profile.ok()) << profile.status().message();
  EXPECT_THAT(profile->columns, ElementsAre("a", "b", "c,d"));
  EXPECT_EQ(profile->rows, 3);
  EXPECT_THAT(profile->values["b"], ElementsAre("x"));  // NA is missing
  EXPECT_THAT(profile->values["c,d"], ElementsAre("q\nr", "s"));
  EXPECT_EQ(profile->values.count("a"), 0u);  // not asked for
}

TEST_F(DataChecksTest, ProfileRefusesEmptyRaggedAndRowlessFiles) {
  EXPECT_THAT(ProfileCsv(Write("e.csv", ""), {}, {}).status().message(), HasSubstr("the file is empty"));
  EXPECT_THAT(ProfileCsv(Write("h.csv", "a,b\n"), {}, {}).status().message(), HasSubstr("no data rows"));
  EXPECT_THAT(ProfileCsv(Write("r.csv", "a,b\n1,2\n3\n"), {}, {}).status().message(),
              HasSubstr("r.csv:3: the record has 1 fields, the header 2"));
  EXPECT_FALSE(ProfileCsv(dir_ / "absent.csv", {}, {}).ok());
}

TEST(FindLabelTest, MatchesTextNumbersAndBooleansAsTheDataSpellsThem) {
  const std::set<std::string> values = {"0", "1.0", "True", "bad"};
  EXPECT_EQ(FindLabel(values, "bad"), "bad");
  EXPECT_EQ(FindLabel(values, "1"), "1.0");
  EXPECT_EQ(FindLabel(values, "0.0"), "0");
  EXPECT_EQ(FindLabel(values, "true"), "True");
  EXPECT_EQ(FindLabel(values, "Bad"), "");  // text is matched exactly
  EXPECT_EQ(FindLabel(values, "2"), "");
}

TEST(LabelParamTest, AcceptsStringsNumbersAndBooleansAndHandsThePluginText) {
  ParamSpec favorable;
  favorable.name = "favorable";
  favorable.type = ParamType::kString;
  favorable.role = ParamRole::kLabel;
  EXPECT_TRUE(CheckParamValue(favorable, "yes").ok());
  EXPECT_TRUE(CheckParamValue(favorable, 1).ok());
  EXPECT_TRUE(CheckParamValue(favorable, true).ok());
  EXPECT_THAT(CheckParamValue(favorable, nlohmann::json::array({1})).message(),
              HasSubstr("must be a class label (a string, a number or a boolean)"));
  ParamSpec plain = favorable;
  plain.role = ParamRole::kNone;
  EXPECT_FALSE(CheckParamValue(plain, 1).ok());  // an ordinary string parameter still wants a string

  ExplainerDescriptor descriptor;
  descriptor.name = "fairness.group";
  descriptor.params = {favorable};
  StepSpec step;
  step.id = "f";
  step.params = {{"favorable", 1}};
  EXPECT_TRUE(ValidateStepParams(step, descriptor).empty());
  EXPECT_EQ(step.params["favorable"], "1");
}

TEST_F(DataChecksTest, TemporaryFilesAreRecognisableAndStaleOnesAreRemoved) {
  EXPECT_TRUE(report::IsTemporaryOutput(".shap.json.loupe-tmp.123.0"));
  EXPECT_FALSE(report::IsTemporaryOutput("shap.json"));
  EXPECT_FALSE(report::IsTemporaryOutput(".hidden"));
  ASSERT_TRUE(report::WriteFileAtomically(dir_ / "a.json", "{}\n").ok());
  // A writer that is gone (a pid far beyond pid_max) and one that still runs (this process).
  Write(".a.json.loupe-tmp.2147483646.0", "{");
  Write(".b.json.loupe-tmp." + std::to_string(::getppid()) + ".0", "{");
  EXPECT_EQ(report::RemoveStaleTemporaries(dir_), 1);
  EXPECT_FALSE(fs::exists(dir_ / ".a.json.loupe-tmp.2147483646.0"));
  EXPECT_TRUE(fs::exists(dir_ / (".b.json.loupe-tmp." + std::to_string(::getppid()) + ".0")));
  EXPECT_TRUE(fs::exists(dir_ / "a.json"));
}

}  // namespace
}  // namespace loupe
