// The one validation `loupe validate` and `loupe run` share (docs/architecture.md §5 "Validation"): a table
// of bad pipelines, each refused by both commands with exit code 2 and a positioned sentence before any
// step runs, and the good pipelines of the tree, which still validate.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "e2e_util.hpp"

namespace loupe::e2e {
namespace {

using ::testing::HasSubstr;

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

// One bad pipeline: the parts that differ from the good base pipeline, and a substring of the sentence
// expected on stderr, which must come as FILE:LINE:COL: sentence.
struct BadPipeline {
  const char* name;
  const char* data;   // the `data:` mapping's body (indented two spaces)
  const char* model;  // the `model:` mapping's body
  const char* steps;  // the steps' list items
  const char* expected;
};

constexpr const char* kData = "  path: data.csv\n  target: y\n  positive: 'yes'\n  sensitive: [c]\n";
constexpr const char* kModel = "  path: model.yaml\n";
constexpr const char* kShapStep = "  - {id: s, explainer: shap.exact, rows: '0:4'}\n";

// clang-format off
const BadPipeline kBadPipelines[] = {
    // The five of issue 14.
    {"DataFileMissing", "  path: nowhere.csv\n  target: y\n", kModel, kShapStep,
     "data.path names '"},
    {"TargetNotAColumn", "  path: data.csv\n  target: z\n", kModel, kShapStep,
     "data.target is 'z', but 'data.csv' has no column 'z'"},
    {"ModelFileMissing", kData, "  path: nowhere.yaml\n", kShapStep, "model.path names '"},
    {"FairnessSensitiveNamesNoColumn", kData, kModel,
     "  - {id: f, explainer: fairness.group, params: {sensitive: [colour]}}\n",
     "parameter 'sensitive' names the column 'colour', but 'data.csv' has no column 'colour'"},
    {"RowsBeyondTheData", kData, kModel, "  - {id: s, explainer: shap.exact, rows: '0:50'}\n",
     "'steps.s.rows' lies outside the data (rows \"0:50\" reach past the last row: the data has 12 rows)"},
    // The data section.
    {"DataPathIsAFolder", "  path: folder\n", kModel, kShapStep, "which is not a file"},
    {"DataHasNoRows", "  path: header_only.csv\n", kModel, kShapStep, "the file has a header but no data rows"},
    {"DataRecordTooShort", "  path: ragged.csv\n", kModel, kShapStep, "the record has 3 fields, the header 4"},
    {"FeatureNotAColumn", "  path: data.csv\n  target: y\n  features: [x1, x2, c, x9]\n", kModel, kShapStep,
     "data.features lists 'x9', but 'data.csv' has no column 'x9'"},
    {"FeatureMisspelt", "  path: data.csv\n  target: y\n  features: [x1, x22, c]\n", kModel, kShapStep,
     "has no column 'x22'; did you mean 'x2'?"},
    {"CategoricalNotAColumn", "  path: data.csv\n  target: y\n  categorical: [colour]\n", kModel, kShapStep,
     "data.categorical lists 'colour'"},
    {"TextNotAColumn", "  path: data.csv\n  target: y\n  text: [review]\n", kModel, kShapStep,
     "data.text lists 'review'"},
    {"SensitiveNotAColumn", "  path: data.csv\n  target: y\n  sensitive: [gender]\n", kModel, kShapStep,
     "data.sensitive lists 'gender'"},
    {"PositiveNotALabel", "  path: data.csv\n  target: y\n  positive: maybe\n", kModel, kShapStep,
     "data.positive is 'maybe', which is not a value of 'y' (its values are 'no', 'yes')"},
    {"PositiveNumberNotALabel", "  path: data.csv\n  target: y\n  positive: 3\n", kModel, kShapStep,
     "data.positive is '3', which is not a value of 'y'"},
    {"TargetAmongFeatures", "  path: data.csv\n  target: y\n  features: [x1, x2, c, y]\n", kModel, kShapStep,
     "data.features lists the target 'y'"},
    // The model against the data.
    {"ModelInputLeftOutOfFeatures", "  path: data.csv\n  target: y\n  features: [x1, x2]\n", kModel, kShapStep,
     "data.features leaves out 'c', an input of model 'tiny_logreg'"},
    {"ModelInputNotInData", "  path: no_x2.csv\n  target: y\n", kModel, kShapStep,
     "model 'tiny_logreg' reads the input 'x2', but 'no_x2.csv' has no column 'x2'"},
    {"TargetIsAModelInput", "  path: data.csv\n  target: x1\n", kModel, kShapStep,
     "data.target is 'x1', which model 'tiny_logreg' reads as an input"},
    {"ModelFileDoesNotParse", kData, "  path: broken_model.yaml\n", kShapStep, "model.path: "},
    {"ModelOfTheWrongType", kData, "  type: xgboost\n  path: model.yaml\n", kShapStep, "model.path: "},
    // Capabilities the explainers declare.
    {"LimeTextOnATabularModel", kData, kModel, "  - {id: t, explainer: lime.text, rows: '0:2'}\n",
     "explainer 'lime.text' needs the model capability 'text', which model 'tiny_logreg' does not offer"},
    {"ShapTreeOnANetwork", kData, kModel, "  - {id: t, explainer: shap.tree, rows: '0:2'}\n",
     "explainer 'shap.tree' needs the model capability 'tree_ensemble'"},
    {"AttentionOnATabularModel", kData, kModel, "  - {id: a, explainer: attention.inspect, rows: '0:2'}\n",
     "needs the model capability 'attention'"},
    // Row selections.
    {"RowListBeyondTheData", kData, kModel, "  - {id: s, explainer: shap.exact, rows: [1, 99]}\n",
     "'steps.s.rows' lies outside the data (row 99 is out of range: the data has 12 rows)"},
    {"RowCountLargerThanTheData", kData, kModel, "  - {id: s, explainer: shap.exact, rows: 100}\n",
     "cannot sample 100 rows without repeats: the data has 12 rows"},
    {"OpenRangeStartsBeyondTheData", kData, kModel, "  - {id: s, explainer: shap.exact, rows: '20:'}\n",
     "reach past the last row"},
    {"RowsParameterBeyondTheData", kData, kModel,
     "  - {id: g, explainer: surrogate.tree, params: {paths_for: '5:40'}}\n",
     "parameter 'paths_for' lies outside the data (rows \"5:40\" reach past the last row"},
    {"BackgroundRowsBeyondTheData", kData, kModel,
     "  - {id: l, explainer: lime.tabular, rows: '0:2', params: {background: [0, 40]}}\n",
     "parameter 'background' lies outside the data (row 40 is out of range"},
    // Parameters that name columns, labels and groups.
    {"SampleWeightNotAColumn", kData, kModel,
     "  - {id: f, explainer: fairness.group, params: {sample_weight: w}}\n",
     "parameter 'sample_weight' names the column 'w'"},
    {"SurrogateSampleWeightNotAColumn", kData, kModel,
     "  - {id: g, explainer: surrogate.tree, params: {sample_weight: weight}}\n",
     "parameter 'sample_weight' names the column 'weight'"},
    {"BinsKeyNotAColumn", kData, kModel,
     "  - {id: f, explainer: fairness.group, params: {bins: {age: [0, 10, 20]}}}\n",
     "parameter 'bins' names the column 'age'"},
    {"FavorableNotALabel", kData, kModel,
     "  - {id: f, explainer: fairness.group, params: {favorable: maybe}}\n",
     "parameter 'favorable' is 'maybe', which is not a class of model 'tiny_logreg' (its values are 'no', 'yes')"},
    {"FavorableNotALabelAsANumber", kData, kModel,
     "  - {id: f, explainer: fairness.group, params: {favorable: 7}}\n",
     "parameter 'favorable' is '7', which is not a class of model 'tiny_logreg'"},
    {"FavorableAList", kData, kModel,
     "  - {id: f, explainer: fairness.group, params: {favorable: [yes]}}\n",
     "parameter 'favorable' must be a class label (a string, a number or a boolean)"},
    {"PrivilegedValueNotInItsColumn", kData, kModel,
     "  - {id: f, explainer: fairness.group, params: {privileged: {c: purple}}}\n",
     "parameter 'privileged' names the group 'purple', which is not a value of 'c'"},
    {"PrivilegedColumnNotAColumn", kData, kModel,
     "  - {id: f, explainer: fairness.group, params: {privileged: {colour: red}}}\n",
     "parameter 'privileged' names the column 'colour'"},
    {"PrivilegedBareValueNotInTheSensitiveColumn", kData, kModel,
     "  - {id: f, explainer: fairness.group, params: {privileged: [red, purple]}}\n",
     "parameter 'privileged' names the group 'purple'"},
    {"CounterfactualSensitiveNotAColumn", kData, kModel,
     "  - {id: f, explainer: fairness.counterfactual, params: {sensitive: [zz]}}\n",
     "parameter 'sensitive' names the column 'zz'"},
};
// clang-format on

class ValidationTest : public ScratchDir {
 protected:
  void SetUp() override {
    ScratchDir::SetUp();
    std::filesystem::create_directories(dir_ / "folder");
    WriteText(dir_ / "header_only.csv", "x1,x2,c,y\n");
    WriteText(dir_ / "ragged.csv", "x1,x2,c,y\n1,2,red,no\n3,4,blue\n");
    std::string no_x2 = "x1,c,y\n";
    for (int i = 0; i < 12; ++i) no_x2 += std::to_string(i) + "," + (i % 2 ? "red" : "blue") + ",no\n";
    WriteText(dir_ / "no_x2.csv", no_x2);
    WriteText(dir_ / "broken_model.yaml", "format: loupe.model/v1\nname: broken\nlayers: 3\n");
  }

  CommandResult Loupe(const std::string& args) {
    const std::string command =
        "cd '" + dir_.string() + "' && '" + LOUPE_EXE + "' " + args + " > stdout.txt 2> stderr.txt";
    const int status = std::system(command.c_str());
    CommandResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = ReadText(dir_ / "stdout.txt");
    result.err = ReadText(dir_ / "stderr.txt");
    return result;
  }

  static std::string PipelineText(const BadPipeline& bad) {
    return std::string("version: 1\nname: bad\ndata:\n") + bad.data + "model:\n" + bad.model + "steps:\n" +
           bad.steps + "output:\n  dir: out\n";
  }
};

// The line of `err` holding `expected`, which must start FILE:LINE:COL: with a position in pipeline.yaml.
void ExpectPositioned(const std::string& err, const std::string& expected, const std::string& context) {
  const std::size_t at = err.find(expected);
  ASSERT_NE(at, std::string::npos) << context << ": expected '" << expected << "' in:\n" << err;
  const std::size_t begin = err.rfind('\n', at) == std::string::npos ? 0 : err.rfind('\n', at) + 1;
  const std::string line = err.substr(begin, err.find('\n', at) - begin);
  EXPECT_TRUE(std::regex_search(line, std::regex(R"(^.*pipeline\.yaml:[0-9]+:[0-9]+: )")))
      << context << ": not positioned: " << line;
}

TEST_F(ValidationTest, EveryBadPipelineIsRefusedByValidateAndRunWithAPositionedSentence) {
  for (const BadPipeline& bad : kBadPipelines) {
    SCOPED_TRACE(bad.name);
    WriteText(dir_ / "pipeline.yaml", PipelineText(bad));
    const CommandResult validate = Loupe("validate pipeline.yaml");
    EXPECT_EQ(validate.exit_code, 2) << validate.out << validate.err;
    ExpectPositioned(validate.err, bad.expected, std::string(bad.name) + " (validate)");
    const CommandResult run = Loupe("run pipeline.yaml --quiet");
    EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
    ExpectPositioned(run.err, bad.expected, std::string(bad.name) + " (run)");
    EXPECT_FALSE(std::filesystem::exists(dir_ / "out")) << "a step ran although the pipeline is invalid";
  }
}

TEST_F(ValidationTest, EveryErrorIsListedAtOnce) {
  WriteText(
      dir_ / "pipeline.yaml",
      "version: 1\ndata:\n  path: data.csv\n  target: z\n  sensitive: [gender]\nmodel:\n  path: model.yaml\n"
      "steps:\n  - {id: s, explainer: shap.exact, rows: '0:50'}\n"
      "  - {id: f, explainer: fairness.group, params: {favorable: maybe, sample_weight: w}}\n");
  const CommandResult r = Loupe("validate pipeline.yaml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("pipeline.yaml:4:11: data.target is 'z'"));
  EXPECT_THAT(r.err, HasSubstr("pipeline.yaml:5:14: data.sensitive lists 'gender'"));
  EXPECT_THAT(r.err, HasSubstr("pipeline.yaml:9:42: 'steps.s.rows' lies outside the data"));
  EXPECT_THAT(r.err,
              HasSubstr("pipeline.yaml:10:60: parameter 'favorable' is 'maybe', which is not a class of"));
  EXPECT_THAT(r.err, HasSubstr("pipeline.yaml:10:82: parameter 'sample_weight' names the column 'w'"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 5) << r.err;
}

// Labels are written as the data holds them: `favorable: 1` and `positive: 1` for a 0/1 target.
TEST_F(ValidationTest, LabelsWrittenAsNumbersValidateAndRun) {
  std::string csv = "x1,x2,c,y\n";
  for (int i = 0; i < 12; ++i) {
    csv += std::to_string(i) + "," + std::to_string((i * 7) % 5) + "," + (i % 2 ? "red" : "blue") + "," +
           (i % 3 ? "1" : "0") + "\n";
  }
  WriteText(dir_ / "numeric.csv", csv);
  std::string model = ReadText(dir_ / "model.yaml");
  model.replace(model.find("classes: [no, yes]"), 18, "classes: ['0', '1']");
  WriteText(dir_ / "model01.yaml", model);
  WriteText(dir_ / "pipeline.yaml",
            "version: 1\ndata:\n  path: numeric.csv\n  target: y\n  positive: 1\n  sensitive: [c]\nmodel:\n"
            "  path: model01.yaml\nsteps:\n"
            "  - {id: f, explainer: fairness.group, params: {favorable: 1, privileged: {c: red}}}\n"
            "output:\n  dir: out\n");
  const CommandResult validate = Loupe("validate pipeline.yaml");
  EXPECT_EQ(validate.exit_code, 0) << validate.err;
  const CommandResult run = Loupe("run pipeline.yaml --quiet");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(ReadText(dir_ / "out" / "f.json"), HasSubstr("\"favorable\":\"1\""));
}

// A file validation's scan accepts but the reader refuses (a column name twice): `loupe run` reads the CSV
// once, in validation, and when that read fails the run reads the file again and fails with the reader's
// sentence before any step, as it did when validation only scanned the file.
TEST_F(ValidationTest, AFileTheReaderRefusesFailsTheRunWithTheReadersSentenceBeforeAnyStep) {
  std::string csv = ReadText(dir_ / "data.csv");
  csv.replace(csv.find('\n'), 1, ",c\n");
  for (std::size_t at = csv.find('\n', csv.find('\n') + 1); at != std::string::npos;
       at = csv.find('\n', at + 3))
    csv.replace(at, 1, ",z\n");
  WriteText(dir_ / "twice.csv", csv);
  WriteText(dir_ / "pipeline.yaml",
            "version: 1\nname: twice\ndata:\n  path: twice.csv\n  target: y\n"
            "  features: [x1, x2]\nmodel:\n  path: model.yaml\nsteps:\n" +
                std::string(kShapStep) + "output:\n  dir: out\n");
  const CommandResult validate = Loupe("validate pipeline.yaml");
  EXPECT_EQ(validate.exit_code, 2) << validate.err;  // the model reads c, which features leave out
  const CommandResult run = Loupe("run pipeline.yaml --quiet");
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_EQ(validate.err, run.err);
  WriteText(dir_ / "pipeline.yaml",
            "version: 1\nname: twice\ndata:\n  path: twice.csv\n  target: y\n"
            "model:\n  path: model.yaml\nsteps:\n" +
                std::string(kShapStep) + "output:\n  dir: out\n");
  EXPECT_EQ(Loupe("validate pipeline.yaml").exit_code, 0);
  const CommandResult refused = Loupe("run pipeline.yaml --quiet");
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_EQ(refused.err, "loupe: " + (dir_ / "twice.csv").string() +
                             ":1: column name 'c' appears twice in the header (columns 3 and 5); expected "
                             "unique names\n");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out"));
}

// Whether every line of `err` is an "unknown explainer" error.
bool OnlyUnknownExplainers(const std::string& err) {
  std::istringstream lines(err);
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    if (line.find(": unknown explainer '") == std::string::npos) return false;
  }
  return count > 0;
}

// The example pipelines of the tree still validate with the complete checks.
TEST_F(ValidationTest, TheExamplePipelinesStillValidate) {
  std::vector<std::filesystem::path> pipelines;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(LOUPE_SOURCE_DIR) / "configs")) {
    if (entry.path().extension() == ".yaml") pipelines.push_back(entry.path());
  }
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::filesystem::path(LOUPE_SOURCE_DIR) / "examples")) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".yaml" && name.find("pipeline") != std::string::npos)
      pipelines.push_back(entry.path());
  }
  ASSERT_FALSE(pipelines.empty());
  for (const auto& pipeline : pipelines) {
    const CommandResult r = Loupe("validate '" + pipeline.string() + "'");
    // A partial build (cmake --build --target ...) may lack the plugin a pipeline uses: not this test's.
    if (r.exit_code == 2 && OnlyUnknownExplainers(r.err)) {
      std::cout << "skipped (its plugin is not built): " << pipeline << "\n";
      continue;
    }
    EXPECT_EQ(r.exit_code, 0) << pipeline << "\n" << r.err;
  }
}

}  // namespace
}  // namespace loupe::e2e
