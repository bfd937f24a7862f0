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
  EXPECT_EQ(r.err,
            "loupe: unknown command 'explain'; expected run, validate, predict, report, plugins, describe or "
            "version.\n");
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

// XGBoost models (tests/fixtures/xgboost): `loupe predict` on the JSON file itself, an unsupported
// objective as bad input, and a pipeline explaining the credit classifier with shap.exact.
const std::filesystem::path kXgbFixtures = std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/xgboost";
const std::filesystem::path kCreditCsv = std::filesystem::path(LOUPE_TEST_DATA_DIR) / "credit_data.csv";

TEST_F(CliTest, PredictReadsAnXGBoostJsonModel) {
  const CliResult r = Loupe("predict --model '" + (kXgbFixtures / "credit_xgb.json").string() + "' --data '" +
                            kCreditCsv.string() + "' -o p.csv");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(ReadText(dir_ / "p.csv"));
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "good,bad");
  const auto reference = nlohmann::json::parse(ReadText(kXgbFixtures / "credit_xgb_reference.json"));
  int rows = 0;
  while (std::getline(lines, line)) {
    const double good = std::stod(line.substr(0, line.find(',')));
    const double bad = std::stod(line.substr(line.find(',') + 1));
    EXPECT_NEAR(good + bad, 1.0, 1e-12);
    if (rows < 300) {
      EXPECT_NEAR(bad, reference["prediction"][rows][0].get<double>(), 1e-5) << "row " << rows;
    }
    ++rows;
  }
  EXPECT_EQ(rows, 4454);
}

TEST_F(CliTest, PredictWithAnUnsupportedXGBoostObjectiveExitsTwo) {
  std::string model = ReadText(kXgbFixtures / "diabetes_xgb.json");
  model.replace(model.find("reg:squarederror"), 16, "reg:tweedie");
  WriteText(dir_ / "tweedie.json", model);
  const CliResult r = Loupe("predict --model tweedie.json --data data.csv");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "loupe: tweedie.json: /learner/objective/name: expected one of the objectives binary:logistic, "
            "reg:squarederror, multi:softprob or multi:softmax, found 'reg:tweedie'.\n");
}

TEST_F(CliTest, ShapExactExplainsAnXGBoostClassifier) {
  WriteText(dir_ / "p.yaml", "version: 1\nname: credit-xgb\nseed: 3\ndata:\n  path: '" + kCreditCsv.string() +
                                 "'\n  target: Status\n  positive: bad\nmodel:\n  type: xgboost\n  path: '" +
                                 (kXgbFixtures / "credit_xgb.json").string() +
                                 "'\nsteps:\n  - {id: shap, explainer: shap.exact, rows: '0:3', params: "
                                 "{background: 20}}\noutput:\n  dir: out\n  formats: [json]\n");
  const CliResult r = Loupe("run p.yaml -q --plugin-path '" + std::string(LOUPE_PLUGIN_DIR) + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = nlohmann::json::parse(ReadText(dir_ / "out" / "shap.json"));
  EXPECT_EQ(out["kind"], "feature_attribution");
  EXPECT_EQ(out["output_names"], nlohmann::json::array({"good", "bad"}));
  ASSERT_EQ(out["feature_names"].size(), 13u);
  ASSERT_EQ(out["values"].size(), 3u);
  EXPECT_LT(out["quality"]["additivity_residual"].get<double>(), 1e-9);
  // base + sum of attributions = the model's P(bad), which equals XGBoost's prediction.
  const auto reference = nlohmann::json::parse(ReadText(kXgbFixtures / "credit_xgb_reference.json"));
  for (int row = 0; row < 3; ++row) {
    double total = out["base_values"][row][1];
    double spread = 0;
    for (const auto& v : out["values"][row][1]) {
      total += v.get<double>();
      spread += std::abs(v.get<double>());
    }
    EXPECT_NEAR(total, reference["prediction"][row][0].get<double>(), 1e-5) << "row " << row;
    EXPECT_GT(spread, 1e-3) << "row " << row;
  }
}

}  // namespace
}  // namespace loupe::e2e
