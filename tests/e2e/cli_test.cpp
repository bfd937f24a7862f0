// The `loupe` command as a user runs it: exit codes, one-sentence errors, outputs.
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e_util.hpp"

namespace loupe::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

class CliTest : public ScratchDir {
 protected:
  // Runs `loupe ARGS` in the scratch folder with LOUPE_PLUGIN_PATH pointing at the test plugin.
  CliResult Loupe(const std::string& args) {
    const std::string command = "cd '" + dir_.string() + "' && LOUPE_PLUGIN_PATH='" + LOUPE_PIPETEST_DIR +
                                "' '" + LOUPE_EXE + "' " + args + " > stdout.txt 2> stderr.txt";
    const int status = std::system(command.c_str());
    CliResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = ReadText(dir_ / "stdout.txt");
    result.err = ReadText(dir_ / "stderr.txt");
    return result;
  }
};

TEST_F(CliTest, VersionNamesTheAbi) {
  const CliResult r = Loupe("version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, StartsWith("loupe "));
  EXPECT_THAT(r.out, HasSubstr("(plugin ABI 1.0)"));
}

TEST_F(CliTest, UnknownCommandIsBadUsage) {
  const CliResult r = Loupe("explain");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(
      r.err,
      "loupe: unknown command 'explain'; expected run, validate, predict, plugins, describe or version.\n");
}

TEST_F(CliTest, ValidateAcceptsAGoodPipeline) {
  WriteText(dir_ / "p.yaml", Pipeline("  - {id: a, explainer: pipetest.noise}\n"));
  const CliResult r = Loupe("validate p.yaml");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "p.yaml: valid (1 steps)\n");
}

TEST_F(CliTest, ValidatePrintsEveryErrorWithItsPosition) {
  WriteText(dir_ / "p.yaml",
            "version: 1\nsed: 3\ndata:\n  path: data.csv\nmodel:\n  path: model.yaml\n"
            "steps:\n  - {id: a, explainer: pipetest.noise, params: {sleep_ms: -5}}\n");
  const CliResult r = Loupe("validate p.yaml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("p.yaml:2:1: unknown key 'sed'"));
}

TEST_F(CliTest, ParameterOutOfBoundsIsReportedAtItsPosition) {
  WriteText(dir_ / "p.yaml", Pipeline("  - {id: a, explainer: pipetest.noise, params: {sleep_ms: -5}}\n"));
  const CliResult r = Loupe("validate p.yaml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("p.yaml:"));
  EXPECT_THAT(r.err, HasSubstr("sleep_ms"));
  EXPECT_THAT(r.err, HasSubstr("-5"));
}

TEST_F(CliTest, RunWritesOutputsAndASummaryTable) {
  WriteText(dir_ / "p.yaml", Pipeline("  - {id: a, explainer: pipetest.noise, rows: '0:4'}\n"));
  const CliResult r = Loupe("run p.yaml --threads 2");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("a                    ok"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out" / "a.json"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out" / "run.json"));
}

TEST_F(CliTest, FailingStepExitsOneAndKeepsTheOtherOutputs) {
  WriteText(dir_ / "p.yaml", Pipeline("  - {id: bad, explainer: pipetest.noise, params: {fail: true}}\n"
                                      "  - {id: good, explainer: pipetest.noise}\n"));
  const CliResult r = Loupe("run p.yaml -q -o elsewhere");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "loupe: step 'bad' failed: this step was asked to fail.\n");
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(std::filesystem::exists(dir_ / "elsewhere" / "good.json"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "elsewhere" / "run.json"));
}

TEST_F(CliTest, SetOverridesAParameterWithTheSameValidation) {
  WriteText(dir_ / "p.yaml", Pipeline("  - {id: a, explainer: pipetest.noise, rows: '0:2'}\n"));
  EXPECT_EQ(Loupe("run p.yaml -q --set steps.a.params.fail=true").exit_code, 1);
  const CliResult r = Loupe("run p.yaml -q --set steps.a.params.sleep_ms=oops");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("sleep_ms"));
}

TEST_F(CliTest, PredictWritesOneColumnPerOutput) {
  const CliResult r = Loupe("predict --model model.yaml --data data.csv");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string header, first;
  std::getline(lines, header);
  std::getline(lines, first);
  EXPECT_EQ(header, "no,yes");
  // Row 0: x1 = 0, x2 = 0 -> -1, c = red.
  const double p = 1 / (1 + std::exp(-(0.5 * 0 - 1.0 * -1 - 0.5 - 1.5)));
  const double yes = std::stod(first.substr(first.find(',') + 1));
  EXPECT_NEAR(yes, p, 1e-15);
}

TEST_F(CliTest, PredictWithAModelWhoseShapesDoNotMatchExitsTwo) {
  WriteText(dir_ / "bad.yaml", R"(format: loupe.model/v1
name: bad
task: classification
classes: [no, yes]
inputs:
  - {name: x1, type: numeric}
layers:
  - {type: linear, in_features: 1, out_features: 1, weight: [[0.5, 1.0]], bias: [0]}
  - {type: sigmoid}
)");
  const CliResult r = Loupe("predict --model bad.yaml --data data.csv");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "loupe: bad.yaml:8:61: layer 0 (linear) weight has shape [1, 2], expected [1, 1].\n");
}

TEST_F(CliTest, PluginsListsTheLoadedPluginsAsJson) {
  const CliResult r = Loupe("plugins --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto plugins = nlohmann::json::parse(r.out);
  bool found = false;
  for (const auto& p : plugins) {
    if (p["name"] == "pipetest") {
      found = true;
      EXPECT_EQ(p["explainers"], nlohmann::json::array({"pipetest.noise", "pipetest.total"}));
      EXPECT_EQ(p["abi"], "1.0");
    }
  }
  EXPECT_TRUE(found) << r.out;
}

TEST_F(CliTest, PluginsNamesEveryLibraryItCannotLoadAndExitsThree) {
  const CliResult r = Loupe(std::string("plugins --plugin-path '") + LOUPE_LOADER_FIXTURES_DIR + "'");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("plugin ABI v2"));
  EXPECT_THAT(r.err, HasSubstr("is not a shared library"));
  EXPECT_THAT(r.err, HasSubstr("is not a Loupe plugin"));
}

TEST_F(CliTest, PipelineNamingABrokenPluginFailsBeforeAnyStep) {
  WriteText(dir_ / "broken.so", "this is not a library\n");
  WriteText(dir_ / "p.yaml", Pipeline("  - {id: a, explainer: pipetest.noise}\n", "plugins: [broken.so]\n"));
  const CliResult r = Loupe("run p.yaml");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("broken.so"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out"));
}

TEST_F(CliTest, DescribeShowsTheParameterSpec) {
  const CliResult r = Loupe("describe pipetest.noise");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("sleep_ms"));
  EXPECT_THAT(r.out, HasSubstr("default 0"));
  EXPECT_EQ(Loupe("describe pipetest.nois").err,
            "loupe: unknown explainer 'pipetest.nois'; did you mean 'pipetest.noise'?\n");
}

}  // namespace
}  // namespace loupe::e2e
