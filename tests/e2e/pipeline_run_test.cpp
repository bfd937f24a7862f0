// Pipelines run through the real plugin loader and the TBB flow-graph runner.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "e2e_util.hpp"
#include "loupe/core/dataset.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"
#include "pipeline/validate.hpp"
#include "report/output_files.hpp"

namespace loupe::e2e {
namespace {

using ::testing::HasSubstr;

class PipelineRunTest : public ScratchDir {
 protected:
  void SetUp() override {
    ScratchDir::SetUp();
    ASSERT_TRUE(registry_.Load(LOUPE_PIPETEST_PLUGIN).ok());
  }

  RunReport Run(const std::string& yaml, RunOptions options = {}) {
    WriteText(dir_ / "pipeline.yaml", yaml);
    ParseOutcome parsed = ParsePipelineFile(dir_ / "pipeline.yaml");
    EXPECT_TRUE(parsed.diagnostics.empty()) << parsed.diagnostics.front().ToString();
    EXPECT_TRUE(ValidateAgainstPlugins(*parsed.spec, registry_).empty());
    return RunPipeline(*parsed.spec, registry_, options);
  }

  nlohmann::json Output(const std::string& file) const {
    return nlohmann::json::parse(ReadText(dir_ / "out" / file));
  }

  PluginRegistry registry_;
};

TEST_F(PipelineRunTest, IndependentStepsRunConcurrently) {
  // Each step waits at a rendezvous that opens only when both are inside it at the same time: run one
  // after the other, the first would give up after its timeout and fail the run.
  RunOptions options;
  options.threads = 2;
  const RunReport report = Run(Pipeline("  - {id: a, explainer: pipetest.noise, params: {rendezvous: 2}}\n"
                                        "  - {id: b, explainer: pipetest.noise, params: {rendezvous: 2}}\n"),
                               options);
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  ASSERT_EQ(report.steps.size(), 2u);
  EXPECT_EQ(report.steps[0].status, StepStatus::kOk);
  EXPECT_EQ(report.steps[1].status, StepStatus::kOk);
}

TEST_F(PipelineRunTest, StepsThatCannotMeetFailAsAPluginErrorInsteadOfHanging) {
  // The converse, so the rendezvous is known to close: a lone step never meets its partner.
  const RunReport report = Run(Pipeline(
      "  - {id: alone, explainer: pipetest.noise, params: {rendezvous: 2, rendezvous_timeout_ms: 100}}\n"));
  ASSERT_EQ(report.steps.size(), 1u);
  EXPECT_EQ(report.steps[0].status, StepStatus::kFailed);
  EXPECT_EQ(report.steps[0].failure, StepFailure::kPlugin);
  EXPECT_EQ(Output("run.json")["steps"][0]["failure"], "plugin");
}

TEST_F(PipelineRunTest, FailedStepSkipsItsDependentsAndKeepsTheOthers) {
  const RunReport report =
      Run(Pipeline("  - {id: broken, explainer: pipetest.noise, params: {fail: true}}\n"
                   "  - {id: after, explainer: pipetest.total, needs: [broken]}\n"
                   "  - {id: after_after, explainer: pipetest.total, needs: [after]}\n"
                   "  - {id: fine, explainer: pipetest.noise, rows: '0:3'}\n"));
  EXPECT_FALSE(report.status.ok());
  EXPECT_EQ(report.status.message(), "step 'broken' failed: this step was asked to fail.");
  ASSERT_EQ(report.steps.size(), 4u);
  EXPECT_EQ(report.steps[0].status, StepStatus::kFailed);
  EXPECT_EQ(report.steps[0].failure, StepFailure::kBadParameters);  // the plugin said INVALID_ARGUMENT
  EXPECT_EQ(report.steps[1].status, StepStatus::kSkipped);
  EXPECT_EQ(report.steps[1].failure, StepFailure::kNone);
  EXPECT_EQ(report.steps[1].message, "skipped because step 'broken' failed.");
  EXPECT_EQ(report.steps[2].status, StepStatus::kSkipped);
  EXPECT_EQ(report.steps[2].message, "skipped because step 'after' was skipped.");
  EXPECT_EQ(report.steps[3].status, StepStatus::kOk);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out" / "fine.json"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out" / "fine.csv"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out" / "broken.json"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out" / "after.json"));
  const auto run = Output("run.json");
  EXPECT_EQ(run["status"], "failed");
  EXPECT_EQ(run["steps"][0]["status"], "failed");
  EXPECT_EQ(run["steps"][0]["message"], "this step was asked to fail.");
  EXPECT_EQ(run["steps"][0]["failure"], "bad_parameters");
  EXPECT_EQ(run["steps"][1]["status"], "skipped");
  EXPECT_FALSE(run["steps"][1].contains("failure"));  // only failed steps carry one
  EXPECT_EQ(run["steps"][3]["status"], "ok");
  EXPECT_EQ(run["steps"][3]["files"], nlohmann::json::array({"fine.json", "fine.csv"}));
}

TEST_F(PipelineRunTest, TheReportShowsTheKindOfFailureOfAFailedStep) {
  std::string yaml = Pipeline("  - {id: broken, explainer: pipetest.noise, params: {fail: true}}\n");
  const std::string formats = "formats: [json, csv]";
  ASSERT_NE(yaml.find(formats), std::string::npos);
  yaml.replace(yaml.find(formats), formats.size(), "formats: [json, html]");
  const RunReport report = Run(yaml);
  ASSERT_EQ(report.steps.size(), 1u);
  EXPECT_EQ(report.steps[0].failure, StepFailure::kBadParameters);
  EXPECT_THAT(ReadText(dir_ / "out" / "report.html"), HasSubstr(">failed (bad_parameters)</td>"));
}

TEST(StepFailureTest, TheStatusCodeTellsTheKindOfFailure) {
  EXPECT_EQ(StepFailureFor(StatusCode::kOk), StepFailure::kNone);
  EXPECT_EQ(StepFailureFor(StatusCode::kInvalidArgument), StepFailure::kBadParameters);
  EXPECT_EQ(StepFailureFor(StatusCode::kNotFound), StepFailure::kBadParameters);
  EXPECT_EQ(StepFailureFor(StatusCode::kUnsupported), StepFailure::kUnsupported);
  EXPECT_EQ(StepFailureFor(StatusCode::kModelError), StepFailure::kModel);
  EXPECT_EQ(StepFailureFor(StatusCode::kPluginError), StepFailure::kPlugin);
  EXPECT_EQ(StepFailureFor(StatusCode::kInternal), StepFailure::kPlugin);
  EXPECT_EQ(StepFailureFor(StatusCode::kIoError), StepFailure::kOutput);
  EXPECT_EQ(StepFailureFor(StatusCode::kCancelled), StepFailure::kCancelled);
  EXPECT_STREQ(StepFailureName(StepFailure::kNone), "");
  EXPECT_STREQ(StepFailureName(StepFailure::kBadParameters), "bad_parameters");
  EXPECT_STREQ(StepFailureName(StepFailure::kModel), "model");
  EXPECT_STREQ(StepFailureName(StepFailure::kCancelled), "cancelled");
  // run.json's status strings are a contract (docs/architecture.md §5 "Output files").
  EXPECT_STREQ(StepStatusName(StepStatus::kOk), "ok");
  EXPECT_STREQ(StepStatusName(StepStatus::kFailed), "failed");
  EXPECT_STREQ(StepStatusName(StepStatus::kSkipped), "skipped");
}

TEST_F(PipelineRunTest, DependentStepReadsTheExplanationItNeeds) {
  const RunReport report =
      Run(Pipeline("  - {id: noise, explainer: pipetest.noise, rows: [1, 4, 9]}\n"
                   "  - {id: total, explainer: pipetest.total, needs: [noise]}\n"));
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  const auto noise = Output("noise.json");
  double expected = 0;
  for (const auto& row : noise["values"]) {
    for (const auto& output : row) {
      for (const auto& v : output) expected += v.get<double>();
    }
  }
  const auto total = Output("total.json");
  EXPECT_EQ(total["source"], "noise");
  EXPECT_EQ(total["count"], 3 * 2 * 3);  // rows x outputs (no, yes) x features (x1, x2, c)
  EXPECT_DOUBLE_EQ(total["total"].get<double>(), expected);
  EXPECT_EQ(noise["rows"], nlohmann::json::array({1, 4, 9}));
  EXPECT_EQ(noise["feature_names"], nlohmann::json::array({"x1", "x2", "c"}));
  EXPECT_EQ(noise["output_names"], nlohmann::json::array({"no", "yes"}));
}

TEST_F(PipelineRunTest, ModelPredictionsReachThePlugin) {
  ASSERT_TRUE(Run(Pipeline("  - {id: noise, explainer: pipetest.noise, rows: [3]}\n")).status.ok());
  // Row 3: x1 = 3, x2 = 1 -> (1 - 2) / 2 = -0.5, c = red -> one-hot [0, 0, 1].
  const double logit = 0.5 * 3 - 1.0 * -0.5 + -0.5 * 1 - 1.5;
  const double p = 1 / (1 + std::exp(-logit));
  const auto base = Output("noise.json")["base_values"][0];
  EXPECT_NEAR(base[0].get<double>(), 1 - p, 1e-15);
  EXPECT_NEAR(base[1].get<double>(), p, 1e-15);
}

// loupe run reads its CSV once: the data set validation read (ValidateOptions::read_data) is the one the
// run explains. The file is changed between the two here, so which read the run used shows in its
// predictions; without the data set, or with one read for another decision (chunked input), the run reads
// the file itself.
TEST_F(PipelineRunTest, TheRunTakesTheDataSetValidationReadAndReadsTheFileOnlyWithoutIt) {
  WriteText(dir_ / "pipeline.yaml", Pipeline("  - {id: noise, explainer: pipetest.noise, rows: [3]}\n"));
  ParseOutcome parsed = ParsePipelineFile(dir_ / "pipeline.yaml");
  ASSERT_TRUE(parsed.spec);
  const PipelineCheck check = ValidatePipeline(*parsed.spec, registry_, {.read_data = true});
  ASSERT_TRUE(check.diagnostics.empty()) << check.diagnostics.front().ToString();
  ASSERT_NE(check.data, nullptr);
  EXPECT_EQ(check.data->num_rows(), 12);
  // Row 3's x1 becomes 30 on disk.
  std::string csv = ReadText(dir_ / "data.csv");
  csv.replace(csv.find("\n3,"), 3, "\n30,");
  WriteText(dir_ / "data.csv", csv);
  const auto probability = [](double x1) {  // as in ModelPredictionsReachThePlugin: x2 = 1, c = red
    return 1 / (1 + std::exp(-(0.5 * x1 - 1.0 * -0.5 + -0.5 * 1 - 1.5)));
  };
  RunOptions options;
  options.model = check.model;
  options.data = check.data;
  ASSERT_TRUE(RunPipeline(*parsed.spec, registry_, options).status.ok());
  EXPECT_NEAR(Output("noise.json")["base_values"][0][1].get<double>(), probability(3), 1e-15);
  EXPECT_EQ(check.data->num_columns(), 0);  // taken by the run
  options.data = nullptr;
  ASSERT_TRUE(RunPipeline(*parsed.spec, registry_, options).status.ok());
  EXPECT_NEAR(Output("noise.json")["base_values"][0][1].get<double>(), probability(30), 1e-15);
  // Read for chunked input while this run reads the whole file: not taken.
  Result<Dataset> chunked = ReadCsv(dir_ / "data.csv", RunCsvOptions(parsed.spec->data, 256));
  ASSERT_TRUE(chunked.ok());
  csv.replace(csv.find("\n30,"), 4, "\n3,");
  WriteText(dir_ / "data.csv", csv);
  options.data = std::make_shared<Dataset>(std::move(*chunked));
  ASSERT_EQ(RunIndexEvery(*parsed.spec, false), 0);
  ASSERT_TRUE(RunPipeline(*parsed.spec, registry_, options).status.ok());
  EXPECT_NEAR(Output("noise.json")["base_values"][0][1].get<double>(), probability(3), 1e-15);
  EXPECT_EQ(options.data->num_columns(), 4);  // left as it was
}

// A run of `pipeline.yaml` in dir_ as `loupe run` makes it: validation reads the data set as the run will
// and hands it over, with LOUPE_CHUNKED_INPUT set to `mode` (null: unset) for the run.
struct ChunkedInputRun {
  RunReport report;
  std::string values;  // shap.json's values
  bool taken = false;  // the run took validation's data set
};
ChunkedInputRun RunWithChunkedInput(const std::filesystem::path& dir, const PluginRegistry& registry,
                                    const char* mode) {
  std::optional<std::string> old;
  if (const char* value = std::getenv("LOUPE_CHUNKED_INPUT")) old = value;
  const auto set = [](const char* value) {
    if (value != nullptr) {
      ::setenv("LOUPE_CHUNKED_INPUT", value, 1);
    } else {
      ::unsetenv("LOUPE_CHUNKED_INPUT");
    }
  };
  set(mode);
  ChunkedInputRun run;
  ParseOutcome parsed = ParsePipelineFile(dir / "pipeline.yaml");
  EXPECT_TRUE(parsed.spec);
  const PipelineCheck check = ValidatePipeline(*parsed.spec, registry, {.read_data = true});
  EXPECT_TRUE(check.diagnostics.empty()) << check.diagnostics.front().ToString();
  RunOptions options;
  options.model = check.model;
  options.data = check.data;
  run.report = RunPipeline(*parsed.spec, registry, options);
  run.taken = check.data != nullptr && check.data->num_columns() == 0;
  run.values = nlohmann::json::parse(ReadText(dir / "out" / "shap.json"))["values"].dump();
  set(old ? old->c_str() : nullptr);
  return run;
}

// Chunked input is for large files (docs/architecture.md §5 "Chunked input"): a run of a row-local step over
// a data file under kChunkedInputMinBytes holds validation's one read whole and reads no row of the file
// again, unless LOUPE_CHUNKED_INPUT=on (then all 12 rows again: no more than a chunk); over a file of that
// size it reads the rows of its calls' blocks again, not every row. The same values in every mode.
TEST_F(PipelineRunTest, ASmallDataFileIsHeldWholeAndALargeOneReadInChunks) {
  ASSERT_TRUE(registry_.Load(std::string(LOUPE_PLUGIN_DIR) + "/libloupe_shap.so").ok());
  WriteText(dir_ / "pipeline.yaml",
            Pipeline("  - {id: shap, explainer: shap.exact, rows: '0:3', params: {background: 20}}\n"));
  ASSERT_LT(std::filesystem::file_size(dir_ / "data.csv"),
            static_cast<std::uintmax_t>(kChunkedInputMinBytes));
  const ChunkedInputRun whole = RunWithChunkedInput(dir_, registry_, nullptr);
  ASSERT_TRUE(whole.report.status.ok()) << whole.report.status.message();
  EXPECT_TRUE(whole.taken);
  EXPECT_EQ(whole.report.rows_read_again, 0);
  const ChunkedInputRun forced = RunWithChunkedInput(dir_, registry_, "on");
  ASSERT_TRUE(forced.report.status.ok()) << forced.report.status.message();
  EXPECT_TRUE(forced.taken);
  EXPECT_EQ(forced.report.rows_read_again, 12);
  EXPECT_EQ(forced.values, whole.values);

  // The same 12 rows over and over, up to the threshold (tens of thousands of rows: many chunks).
  std::string csv = ReadText(dir_ / "data.csv");
  const std::string rows = csv.substr(csv.find('\n') + 1);
  while (csv.size() < static_cast<std::size_t>(kChunkedInputMinBytes)) csv += rows;
  WriteText(dir_ / "data.csv", csv);
  const auto total = static_cast<std::int64_t>(std::count(csv.begin(), csv.end(), '\n')) - 1;
  const ChunkedInputRun chunked = RunWithChunkedInput(dir_, registry_, nullptr);
  ASSERT_TRUE(chunked.report.status.ok()) << chunked.report.status.message();
  EXPECT_TRUE(chunked.taken);
  EXPECT_GT(chunked.report.rows_read_again, 0);
  EXPECT_LT(chunked.report.rows_read_again, total);
  const ChunkedInputRun off = RunWithChunkedInput(dir_, registry_, "off");
  ASSERT_TRUE(off.report.status.ok()) << off.report.status.message();
  EXPECT_EQ(off.report.rows_read_again, 0);
  EXPECT_EQ(chunked.values, off.values);
}

TEST_F(PipelineRunTest, SameSeedSameBitsOnOneAndTwoThreads) {
  const std::string yaml = Pipeline("  - {id: noise, explainer: pipetest.noise}\n");
  RunOptions one, two;
  one.threads = 1;
  two.threads = 2;
  ASSERT_TRUE(Run(yaml, one).status.ok());
  const auto first = Output("noise.json");
  ASSERT_TRUE(Run(yaml, two).status.ok());
  const auto second = Output("noise.json");
  EXPECT_EQ(first["values"].dump(), second["values"].dump());
  EXPECT_EQ(first["seed"], second["seed"]);
  RunOptions reseeded;
  reseeded.seed = 8;
  ASSERT_TRUE(Run(yaml, reseeded).status.ok());
  EXPECT_NE(Output("noise.json")["values"].dump(), first["values"].dump());
}

TEST_F(PipelineRunTest, StepSeedsDependOnPipelineSeedAndStepId) {
  EXPECT_EQ(StepSeed(42, "shap"), StepSeed(42, "shap"));
  EXPECT_NE(StepSeed(42, "shap"), StepSeed(42, "lime"));
  EXPECT_NE(StepSeed(42, "shap"), StepSeed(43, "shap"));
}

TEST_F(PipelineRunTest, BadDataFailsBeforeAnyStepWithPosition) {
  const RunReport report =
      Run("version: 1\ndata:\n  path: data.csv\n  features: [x1, nope]\nmodel:\n  path: model.yaml\n"
          "steps:\n  - {id: a, explainer: pipetest.noise}\noutput:\n  dir: out\n");
  EXPECT_EQ(report.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(report.status.message(),
            (dir_ / "pipeline.yaml").string() +
                ":4:13: data.features names the column 'nope', which 'data.csv' does not have.");
  EXPECT_TRUE(report.steps.empty());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out" / "run.json"));
}

TEST_F(PipelineRunTest, ModelNeedingAColumnOutsideTheFeaturesIsRefused) {
  const RunReport report =
      Run("version: 1\ndata:\n  path: data.csv\n  features: [x1, c]\nmodel:\n  path: model.yaml\n"
          "steps:\n  - {id: a, explainer: pipetest.noise}\noutput:\n  dir: out\n");
  EXPECT_EQ(report.status.message(),
            "model 'tiny_logreg' needs the input 'x2', which is not among the pipeline's features of '" +
                (dir_ / "data.csv").string() + "'.");
}

TEST(OutputFiles, AtomicWriteReplacesAndLeavesNoTemporaryFiles) {
  const auto dir = std::filesystem::temp_directory_path() / ("loupe-atomic-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(report::WriteFileAtomically(dir / "a.json", "first").ok());
  ASSERT_TRUE(report::WriteFileAtomically(dir / "a.json", "second").ok());
  EXPECT_EQ(ReadText(dir / "a.json"), "second");
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1);
  // A target that cannot be written (a folder is in the way) fails and leaves nothing behind.
  std::filesystem::create_directories(dir / "busy.json");
  const Status failed = report::WriteFileAtomically(dir / "busy.json", "x");
  EXPECT_FALSE(failed.ok());
  EXPECT_THAT(failed.message(), HasSubstr("busy.json"));
  entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 2);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace loupe::e2e
