// The `loupe` command as a user runs it: exit codes, one-sentence errors, outputs.
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e_util.hpp"
#include "loupe/c/loupe_plugin.h"

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
  EXPECT_THAT(r.out, HasSubstr("(plugin ABI " + std::to_string(LOUPE_PLUGIN_ABI_MAJOR) + "." +
                               std::to_string(LOUPE_PLUGIN_ABI_MINOR) + ")"));
}

TEST_F(CliTest, UnknownCommandIsBadUsage) {
  const CliResult r = Loupe("explain");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(
      r.err,
      "loupe: unknown command 'explain'; expected one of: run, validate, init, predict, plugins, describe, "
      "schema, report, serve, version.\n");
  EXPECT_THAT(Loupe("rnu p.yaml").err, HasSubstr("unknown command 'rnu'; did you mean 'run'?"));
}

const char* const kCommands[] = {"run",      "validate", "init",   "predict", "plugins",
                                 "describe", "schema",   "report", "serve",   "version"};

TEST_F(CliTest, EverySubcommandAnswersHelpWithItsUsageOptionsAndAnExample) {
  for (const char* command : kCommands) {
    const CliResult r = Loupe(std::string(command) + " --help");
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_EQ(r.err, "") << command;
    EXPECT_THAT(r.out, StartsWith(std::string("usage: loupe ") + command)) << command;
    EXPECT_THAT(r.out, HasSubstr("\noptions:\n")) << command;
    EXPECT_THAT(r.out, HasSubstr("  -h, --help")) << command;
    EXPECT_THAT(r.out, ::testing::ContainsRegex("\nexamples?:\n  loupe ")) << command;
    // Every option line has a description after the flag.
    std::istringstream lines(r.out.substr(r.out.find("\noptions:\n") + 10));
    for (std::string line; std::getline(lines, line) && !line.empty();) {
      EXPECT_THAT(line, ::testing::MatchesRegex("  (-[a-zA-Z], |    )--[a-z-]+( [A-Za-z.=_]+)? +[a-z(].*"))
          << command;
    }
    EXPECT_EQ(Loupe(std::string(command) + " -h").out, r.out) << command;
  }
}

TEST_F(CliTest, RunHelpListsEveryOptionItAccepts) {
  const std::string help = Loupe("run --help").out;
  for (const char* flag : {"-o, --output DIR", "--threads N", "--seed N", "--set KEY.PATH=VALUE",
                           "--plugin-path DIR", "-q, --quiet"}) {
    EXPECT_THAT(help, HasSubstr(flag));
  }
}

TEST_F(CliTest, GlobalHelpListsEveryCommand) {
  const CliResult r = Loupe("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* command : kCommands) EXPECT_THAT(r.out, HasSubstr(std::string("\n  ") + command + " "));
  EXPECT_EQ(Loupe("help predict").out, Loupe("predict --help").out);
  EXPECT_EQ(Loupe("").exit_code, 2);
}

TEST_F(CliTest, VersionFlagPrintsWhatVersionPrints) {
  const CliResult flag = Loupe("--version");
  EXPECT_EQ(flag.exit_code, 0);
  EXPECT_EQ(flag.out, Loupe("version").out);
}

TEST_F(CliTest, UnknownOptionNamesTheCommandsOptionsWithADidYouMean) {
  const CliResult r = Loupe("run p.yaml --treads 2");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(
      r.err,
      "loupe run: unknown option '--treads'; did you mean '--threads'? Its options are --output, --threads, "
      "--seed, --set, --plugin-path, --isolate, --max-memory, --resume, --chunk-rows, --quiet or "
      "--help.\nusage: "
      "loupe run PIPELINE.yaml [options] | loupe run --resume DIR [options]\n"
      "(see 'loupe run --help')\n");
  EXPECT_THAT(Loupe("predict --modle m.yaml --data d.csv").err, HasSubstr("did you mean '--model'?"));
  EXPECT_THAT(Loupe("validate --frobnicate p.yaml").err,
              HasSubstr("unknown option '--frobnicate'. Its options are --plugin-path or --help."));
}

TEST_F(CliTest, MissingArgumentsAreNamedAllAtOnce) {
  const CliResult r = Loupe("predict");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("loupe predict: missing --model MODEL and --data CSV.\n"));
  EXPECT_THAT(Loupe("run").err, StartsWith("loupe run: missing PIPELINE.yaml.\n"));
  EXPECT_THAT(Loupe("run a.yaml b.yaml").err, StartsWith("loupe run: too many arguments.\n"));
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
      EXPECT_EQ(p["abi"],
                std::to_string(LOUPE_PLUGIN_ABI_MAJOR) + "." + std::to_string(LOUPE_PLUGIN_ABI_MINOR));
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

// A run names, as warnings in file-name order, every library of its plugin path that cannot be loaded (used
// by the pipeline or not), and still resolves its explainer: a change in how plugins are found or loaded
// that skips a library, or reorders them (which decides who keeps a duplicated name), fails here.
TEST_F(CliTest, RunWarnsOfEveryPluginItCannotLoadAndStillRuns) {
  WriteText(dir_ / "p.yaml", Pipeline("  - {id: a, explainer: pipetest.noise}\n"));
  const std::string fixtures = LOUPE_LOADER_FIXTURES_DIR;
  const CliResult r = Loupe("run p.yaml --plugin-path '" + fixtures + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> warned;  // the library each warning names
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("loupe: warning: ", 0) != 0) continue;
    const std::size_t at = line.find(fixtures + "/lib");
    const std::size_t end = line.find(".so'", at);
    ASSERT_TRUE(at != std::string::npos && end != std::string::npos) << line;
    const std::size_t name = at + fixtures.size() + 4;
    warned.push_back(line.substr(name, end - name));
  }
  EXPECT_THAT(warned,
              ::testing::ElementsAre("bad_magic", "bad_name", "default_not_json", "default_rejected",
                                     "entry_outside_section", "enum_without_choices", "good_duplicate",
                                     "newer_minor", "no_explain", "not_a_library", "plain_library", "refuses",
                                     "throws", "throws_unknown", "twice", "unresolved", "wrong_major"));
  EXPECT_THAT(r.err, HasSubstr("loupe: warning: '" + fixtures +
                               "/libgood_duplicate.so' defines explainer 'good.alpha', which '" + fixtures +
                               "/libgood.so' already defines\n"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out" / "a.json"));
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

TEST_F(CliTest, PredictNamesEveryModelInputTheDataLacks) {
  WriteText(dir_ / "other.csv", "x1,colour\n1,red\n2,blue\n");
  const CliResult r = Loupe("predict --model model.yaml --data other.csv");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(
      r.err,
      "loupe: other.csv has no column for the model inputs 'x2' and 'c' (declared in model.yaml); the model "
      "reads each input from the column of the same name.\n");
}

TEST_F(CliTest, APipelineColumnListNamingAMissingColumnSaysWhichKey) {
  WriteText(dir_ / "p.yaml", Pipeline("  - {id: a, explainer: pipetest.noise}\n"));
  std::string text = ReadText(dir_ / "p.yaml");
  text.replace(text.find("  target: y\n"), 12, "  target: y\n  categorical: [c, colour]\n");
  WriteText(dir_ / "p.yaml", text);
  const CliResult r = Loupe("run p.yaml -q");
  EXPECT_EQ(r.exit_code, 2);
  // Refused by the validation before anything runs, at the key in the pipeline (issue 14).
  EXPECT_THAT(r.err,
              ::testing::ContainsRegex("p\\.yaml:[0-9]+:[0-9]+: data\\.categorical lists 'colour', but "
                                       "'data\\.csv' has no column 'colour'"));
}

TEST_F(CliTest, PredictGivesTheSameBitsOnAnyThreadCount) {
  const std::string args = "predict --model '" + (kXgbFixtures / "credit_xgb.json").string() + "' --data '" +
                           kCreditCsv.string() + "' --threads ";
  const CliResult one = Loupe(args + "1");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(Loupe(args + "2").out, one.out);
  EXPECT_EQ(Loupe(args + "0").out, one.out);
  EXPECT_EQ(Loupe(args + "-1").exit_code, 2);
}

// `loupe init` on every data set and model the repository bundles: the pipeline it writes (in a subfolder,
// so its relative paths are tested) passes `loupe validate` and `loupe run` as written.
struct InitCase {
  const char* data;
  const char* model;
  const char* expect_shap;    // the explainer init picks for the model, or "" for text models
  const char* expect_target;  // "target: COLUMN"
};

const InitCase kInitCases[] = {
    {"examples/credit_scoring/data/credit_data.csv", "examples/credit_scoring/models/credit_logreg.yaml",
     "explainer: shap.kernel", "target: Status"},
    {"examples/credit_scoring/data/credit_data.csv", "examples/credit_scoring/models/credit_xgb.json",
     "explainer: shap.tree", "target: Status"},
    {"examples/mortgage_denials/data/hmda.csv", "examples/mortgage_denials/models/hmda_logreg.yaml",
     "explainer: shap.kernel", "target: deny"},
    {"tests/data/fortunes_topics.csv", "tests/fixtures/text/transformer.yaml", "explainer: lime.text",
     "target: topic"},
    {"tests/data/fortunes_topics.csv", "tests/fixtures/text/lstm.yaml", "explainer: lime.text",
     "target: topic"},
};

TEST_F(CliTest, InitWritesAPipelineThatValidatesAndRunsOnEveryBundledModel) {
  const std::filesystem::path source = LOUPE_SOURCE_DIR;
  for (const InitCase& c : kInitCases) {
    const std::string label = std::string(c.model);
    const CliResult init = Loupe("init --data '" + (source / c.data).string() + "' --model '" +
                                 (source / c.model).string() + "' -o starter/pipeline.yaml --force");
    ASSERT_EQ(init.exit_code, 0) << label << ": " << init.err;
    EXPECT_THAT(init.out, StartsWith("wrote starter/pipeline.yaml: ")) << label;
    const std::string yaml = ReadText(dir_ / "starter/pipeline.yaml");
    EXPECT_THAT(yaml, HasSubstr(c.expect_shap)) << label;
    EXPECT_THAT(yaml, HasSubstr(c.expect_target)) << label;
    const CliResult validate = Loupe("validate starter/pipeline.yaml");
    EXPECT_EQ(validate.exit_code, 0) << label << ": " << validate.err;
    const CliResult run = Loupe("run starter/pipeline.yaml -q");
    EXPECT_EQ(run.exit_code, 0) << label << ": " << run.err << "\n" << yaml;
    std::filesystem::path out = dir_ / "starter/out";
    ASSERT_TRUE(std::filesystem::is_directory(out)) << label;
    const auto run_dir = std::filesystem::directory_iterator(out)->path();
    EXPECT_TRUE(std::filesystem::exists(run_dir / "report.html")) << label;
    std::filesystem::remove_all(out);
  }
}

TEST_F(CliTest, InitLeavesFairnessOnSensitiveColumnsCommentedOut) {
  const std::filesystem::path source = LOUPE_SOURCE_DIR;
  const CliResult r =
      Loupe("init --data '" + (source / "examples/credit_scoring/data/credit_data.csv").string() +
            "' --model '" + (source / "examples/credit_scoring/models/credit_logreg.yaml").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string yaml = ReadText(dir_ / "pipeline.yaml");
  EXPECT_THAT(yaml, HasSubstr("  # - id: fairness\n  #   explainer: fairness.group\n"));
  EXPECT_THAT(yaml, HasSubstr("#     sensitive: [Age, Marital]\n"));
  EXPECT_THAT(yaml, HasSubstr("#     bins: {Age: ["));
  EXPECT_THAT(yaml, HasSubstr("  positive: good   # the class whose probability is the model's last output"));
  EXPECT_THAT(yaml, HasSubstr("  categorical: [Home, Marital, Records, Job]"));
}

TEST_F(CliTest, InitWritesPathsRelativeToThePipelineAndFitsSmallData) {
  const CliResult r = Loupe("init --data data.csv --model model.yaml -o sub/p.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string yaml = ReadText(dir_ / "sub/p.yaml");
  EXPECT_THAT(yaml, HasSubstr("explainer: shap.exact   # exact Shapley values: 3 features"));
  EXPECT_THAT(yaml, HasSubstr("  path: ../data.csv   # relative to this file\n"));
  EXPECT_THAT(yaml, HasSubstr("  path: ../model.yaml\n"));
  EXPECT_THAT(
      yaml, HasSubstr("target: \"y\"   # picked: not a model input, 2 distinct values, named like a target"));
  EXPECT_THAT(yaml, HasSubstr("params: {num_samples: 2000, num_features: 3}"));
  const CliResult run = Loupe("run sub/p.yaml -q");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  // Run again on the same file: init refuses to replace it without --force.
  const CliResult again = Loupe("init --data data.csv --model model.yaml -o sub/p.yaml");
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_EQ(again.err,
            "loupe: sub/p.yaml already exists; choose another file with -o or replace it with --force.\n");
}

TEST_F(CliTest, InitRefusesATargetTheDataLacksOrTheModelReads) {
  EXPECT_EQ(Loupe("init --data data.csv --model model.yaml --target why").err,
            "loupe: --target names the column 'why', which data.csv does not have; expected one of: x1, x2, "
            "c, y.\n");
  EXPECT_EQ(
      Loupe("init --data data.csv --model model.yaml --target x1").err,
      "loupe: --target names 'x1', which is an input of the model (declared in model.yaml); the target must "
      "be a column the model does not read.\n");
}

}  // namespace
}  // namespace loupe::e2e
