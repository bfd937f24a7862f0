// The pipeline schema of docs/architecture.md §5: good pipelines, every kind of bad one (exact message and
// position), --set overrides.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "loupe/core/pipeline.hpp"

namespace loupe {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::StartsWith;

const std::filesystem::path kFile = "/srv/audit/pipeline.yaml";

// The example of docs/architecture.md §5, with a few extra details to resolve.
constexpr const char* kFullPipeline = R"(version: 1
name: credit-audit
seed: 42
data:
  path: ./data/../data/credit.csv
  target: Status
  features: [Seniority, Home, Age, Income]
  positive: bad
  categorical: [Home, Marital]
  text: [Notes]
  sensitive: [Marital]
  missing: ["NA", "", -999]
model:
  type: xgboost
  path: /models/credit.json
steps:
  - id: shap
    explainer: shap.kernel
    rows: "0:20"
    params: {nsamples: 2048, background: 100}
  - id: fairness
    explainer: fairness.group
    params:
      sensitive: [Marital]
  - id: summary
    explainer: shap.summary
    needs: [shap]
output:
  dir: results
  formats: [json, csv, html]
plugins: [plugins/extra.so, /opt/loupe/plugins]
)";

constexpr const char* kMinimalPipeline = R"(version: 1
data: {path: d.csv}
model: {path: m.yaml}
steps:
  - {id: a, explainer: shap.kernel}
)";

std::vector<std::string> Errors(const std::string& text, const std::vector<Override>& overrides = {}) {
  ParseOutcome outcome = ParsePipelineText(text, "pipeline.yaml", overrides);
  EXPECT_FALSE(outcome.spec.has_value()) << "expected errors in:\n" << text;
  std::vector<std::string> messages;
  for (const Diagnostic& diagnostic : outcome.diagnostics) messages.push_back(diagnostic.ToString());
  return messages;
}

PipelineSpec Parse(const std::string& text, const std::vector<Override>& overrides = {}) {
  ParseOutcome outcome = ParsePipelineText(text, kFile, overrides);
  for (const Diagnostic& diagnostic : outcome.diagnostics) ADD_FAILURE() << diagnostic.ToString();
  return outcome.spec ? *outcome.spec : PipelineSpec{};
}

std::string Where(const SourcePos& pos) {
  return pos.file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
}

// Replaces the first occurrence of `from` in the minimal pipeline.
std::string Minimal(const std::string& from, const std::string& to) {
  std::string text = kMinimalPipeline;
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(DiagnosticTest, PrintsFileLineAndColumnOrJustTheFile) {
  Diagnostic diagnostic;
  diagnostic.message = "bad";
  diagnostic.pos = SourcePos{"p.yaml", 3, 7};
  EXPECT_EQ(diagnostic.ToString(), "p.yaml:3:7: bad");
  diagnostic.pos = SourcePos{"--set seed", 0, 0};
  EXPECT_EQ(diagnostic.ToString(), "--set seed: bad");
  diagnostic.pos = SourcePos{};
  EXPECT_EQ(diagnostic.ToString(), "bad");
}

// ----- good pipelines ------------------------------------------------------------------------------

TEST(PipelineParserTest, ReadsTheFullExample) {
  const PipelineSpec spec = Parse(kFullPipeline);
  EXPECT_EQ(spec.file, kFile);
  EXPECT_EQ(spec.version, 1);
  EXPECT_EQ(spec.name, "credit-audit");
  EXPECT_EQ(spec.seed, 42u);
  EXPECT_EQ(spec.data.path, "/srv/audit/data/credit.csv");
  EXPECT_EQ(spec.data.target, "Status");
  EXPECT_THAT(spec.data.features, ElementsAre("Seniority", "Home", "Age", "Income"));
  EXPECT_EQ(spec.data.positive, "bad");
  EXPECT_THAT(spec.data.categorical, ElementsAre("Home", "Marital"));
  EXPECT_THAT(spec.data.text, ElementsAre("Notes"));
  EXPECT_THAT(spec.data.sensitive, ElementsAre("Marital"));
  EXPECT_THAT(spec.data.missing, ElementsAre("NA", "", "-999"));
  EXPECT_EQ(spec.model.type, "xgboost");
  EXPECT_EQ(spec.model.path, "/models/credit.json");
  ASSERT_EQ(spec.steps.size(), 3u);
  EXPECT_EQ(spec.steps[0].id, "shap");
  EXPECT_EQ(spec.steps[0].explainer, "shap.kernel");
  EXPECT_EQ(spec.steps[0].rows, json("0:20"));
  EXPECT_EQ(spec.steps[0].params, json::parse(R"({"nsamples": 2048, "background": 100})"));
  EXPECT_TRUE(spec.steps[0].needs.empty());
  EXPECT_EQ(spec.steps[1].params, json::parse(R"({"sensitive": ["Marital"]})"));
  EXPECT_TRUE(spec.steps[1].rows.is_null());
  EXPECT_THAT(spec.steps[2].needs, ElementsAre("shap"));
  EXPECT_EQ(spec.output.dir, "/srv/audit/results");
  EXPECT_THAT(spec.output.formats, ElementsAre("json", "csv", "html"));
  EXPECT_THAT(spec.plugins, ElementsAre("/srv/audit/plugins/extra.so", "/opt/loupe/plugins"));
}

TEST(PipelineParserTest, RecordsPositionsOfDataStepsAndParams) {
  const PipelineSpec spec = Parse(kFullPipeline);
  const std::string file = kFile.string();
  EXPECT_EQ(Where(spec.data.pos), file + ":5:3");
  EXPECT_EQ(Where(spec.data.field_pos.at("features")), file + ":7:13");
  EXPECT_EQ(Where(spec.data.field_pos.at("missing")), file + ":12:12");
  EXPECT_EQ(spec.data.field_pos.count("path"), 1u);
  EXPECT_EQ(Where(spec.model.pos), file + ":14:3");
  EXPECT_EQ(Where(spec.steps[0].pos), file + ":17:5");
  EXPECT_EQ(Where(spec.steps[0].field_pos.at("explainer")), file + ":18:16");
  EXPECT_EQ(Where(spec.steps[0].field_pos.at("rows")), file + ":19:11");
  EXPECT_EQ(Where(spec.steps[0].param_pos.at("nsamples")), file + ":20:24");
  EXPECT_EQ(Where(spec.steps[0].param_pos.at("background")), file + ":20:42");
  EXPECT_EQ(Where(spec.steps[1].param_pos.at("sensitive")), file + ":24:18");
  EXPECT_EQ(spec.steps[2].field_pos.count("params"), 0u);
}

TEST(PipelineParserTest, FillsDefaults) {
  const PipelineSpec spec = Parse(kMinimalPipeline);
  EXPECT_EQ(spec.name, "pipeline");  // the file stem
  EXPECT_EQ(spec.seed, 0u);
  EXPECT_EQ(spec.data.path, "/srv/audit/d.csv");
  EXPECT_FALSE(spec.data.target.has_value());
  EXPECT_TRUE(spec.data.features.empty());
  EXPECT_THAT(spec.data.missing, ElementsAre("NA", ""));
  EXPECT_EQ(spec.model.type, "native");
  EXPECT_EQ(spec.model.path, "/srv/audit/m.yaml");
  EXPECT_TRUE(spec.steps[0].rows.is_null());
  EXPECT_EQ(spec.steps[0].params, json::object());
  EXPECT_EQ(spec.output.dir, "/srv/audit/out/pipeline");
  EXPECT_THAT(spec.output.formats, ElementsAre("json"));
  EXPECT_TRUE(spec.plugins.empty());
}

TEST(PipelineParserTest, DefaultOutputDirFollowsTheName) {
  EXPECT_EQ(Parse(Minimal("version: 1\n", "version: 1\nname: audit\n")).output.dir, "/srv/audit/out/audit");
}

TEST(PipelineParserTest, EmptyOptionalValuesMeanTheirDefaults) {
  const PipelineSpec spec = Parse(R"(version: 1
data: {path: d.csv, features:}
model: {path: m.yaml, type:}
steps:
  - id: a
    explainer: shap.kernel
    params:
    needs:
    rows:
output:
)");
  EXPECT_TRUE(spec.data.features.empty());
  EXPECT_EQ(spec.model.type, "native");
  EXPECT_EQ(spec.steps[0].params, json::object());
  EXPECT_TRUE(spec.steps[0].rows.is_null());
}

TEST(PipelineParserTest, IntegerLabelsAndRowListsAreAccepted) {
  const PipelineSpec spec = Parse(R"(version: 1
data: {path: d.csv, positive: 1}
model: {path: m.yaml}
steps:
  - {id: a, explainer: shap.kernel, rows: [1, 5, 9]}
  - {id: b-2, explainer: lime.tabular, rows: 50, needs: [a]}
  - {id: _c, explainer: surrogate.tree, rows: all, needs: [a, b-2]}
)");
  EXPECT_EQ(spec.data.positive, "1");
  EXPECT_EQ(spec.steps[0].rows, json::parse("[1, 5, 9]"));
  EXPECT_EQ(spec.steps[1].rows, json(50));
  EXPECT_THAT(spec.steps[2].needs, ElementsAre("a", "b-2"));
}

TEST(PipelineParserTest, ParsesAFileOnDisk) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "loupe_pipeline_parser_test";
  std::filesystem::create_directories(dir);
  const std::filesystem::path file = dir / "audit.yaml";
  std::ofstream(file) << kMinimalPipeline;
  ParseOutcome outcome = ParsePipelineFile(file);
  ASSERT_TRUE(outcome.spec.has_value());
  EXPECT_EQ(outcome.spec->name, "audit");
  EXPECT_EQ(outcome.spec->data.path, dir / "d.csv");
  std::filesystem::remove_all(dir);

  outcome = ParsePipelineFile(dir / "gone.yaml");
  ASSERT_EQ(outcome.diagnostics.size(), 1u);
  EXPECT_EQ(outcome.diagnostics[0].ToString(),
            (dir / "gone.yaml").string() + ": cannot read the file: No such file or directory");
}

// ----- bad pipelines: one test per mistake, exact message and position -----------------------------

TEST(PipelineErrorsTest, UnknownTopLevelKeySuggestsTheClosestKey) {
  EXPECT_THAT(Errors(Minimal("version: 1\n", "version: 1\nsed: 3\n")),
              ElementsAre("pipeline.yaml:2:1: unknown key 'sed' in the pipeline; did you mean 'seed'?"));
}

TEST(PipelineErrorsTest, UnknownKeyFarFromAnyListsTheAllowedKeys) {
  EXPECT_THAT(
      Errors(Minimal("version: 1\n", "version: 1\ncolour: red\n")),
      ElementsAre("pipeline.yaml:2:1: unknown key 'colour' in the pipeline; expected one of: version, "
                  "name, seed, data, model, steps, output, plugins"));
}

TEST(PipelineErrorsTest, SeedMustBeANonNegativeInteger) {
  EXPECT_THAT(Errors(Minimal("version: 1\n", "version: 1\nseed: abc\n")),
              ElementsAre("pipeline.yaml:2:7: 'seed' must be a non-negative integer, found \"abc\""));
  EXPECT_THAT(Errors(Minimal("version: 1\n", "version: 1\nseed: -1\n")),
              ElementsAre("pipeline.yaml:2:7: 'seed' must be a non-negative integer, found -1"));
  EXPECT_THAT(Errors(Minimal("version: 1\n", "version: 1\nseed: 4.0\n")),
              ElementsAre("pipeline.yaml:2:7: 'seed' must be a non-negative integer, found 4.0"));
}

TEST(PipelineErrorsTest, VersionIsRequired) {
  EXPECT_THAT(Errors(Minimal("version: 1\n", "name: x\n")),
              ElementsAre("pipeline.yaml:1:1: missing required key 'version' in the pipeline"));
}

TEST(PipelineErrorsTest, VersionMustBeOne) {
  EXPECT_THAT(Errors(Minimal("version: 1", "version: 2")),
              ElementsAre("pipeline.yaml:1:10: 'version' must be 1, found 2"));
  EXPECT_THAT(Errors(Minimal("version: 1", "version: \"1\"")),
              ElementsAre("pipeline.yaml:1:10: 'version' must be 1, found \"1\""));
}

TEST(PipelineErrorsTest, NameMustBeANonEmptyString) {
  EXPECT_THAT(Errors(Minimal("version: 1\n", "version: 1\nname: \"\"\n")),
              ElementsAre("pipeline.yaml:2:7: 'name' must be a non-empty string, found \"\""));
}

TEST(PipelineErrorsTest, DataIsRequired) {
  EXPECT_THAT(Errors(Minimal("data: {path: d.csv}\n", "")),
              ElementsAre("pipeline.yaml:1:1: missing required key 'data' in the pipeline"));
}

TEST(PipelineErrorsTest, DataMustBeAMapping) {
  EXPECT_THAT(
      Errors(Minimal("data: {path: d.csv}", "data: [d.csv]")),
      ElementsAre("pipeline.yaml:2:7: 'data' must be a mapping of keys (path, target, features, positive, "
                  "categorical, text, sensitive, missing), found [\"d.csv\"]"));
}

TEST(PipelineErrorsTest, MissingDataPathPointsAtTheDataMapping) {
  EXPECT_THAT(Errors(Minimal("data: {path: d.csv}", "data:\n  target: y")),
              ElementsAre("pipeline.yaml:3:3: missing required key 'path' in 'data'"));
}

TEST(PipelineErrorsTest, EmptyDataPathPointsAtItsKey) {
  EXPECT_THAT(Errors(Minimal("data: {path: d.csv}", "data:\n  path:\n  target: y")),
              ElementsAre("pipeline.yaml:3:3: 'data.path' must be a non-empty string, found null"));
}

TEST(PipelineErrorsTest, MisspeltDataKey) {
  EXPECT_THAT(Errors(Minimal("data: {path: d.csv}", "data: {path: d.csv, featrues: [a]}")),
              ElementsAre("pipeline.yaml:2:21: unknown key 'featrues' in 'data'; did you mean 'features'?"));
}

TEST(PipelineErrorsTest, FeaturesMustBeAList) {
  EXPECT_THAT(Errors(Minimal("data: {path: d.csv}", "data: {path: d.csv, features: Age}")),
              ElementsAre("pipeline.yaml:2:31: 'data.features' must be a list of strings, found \"Age\""));
}

TEST(PipelineErrorsTest, FeatureNamesMustBeStrings) {
  EXPECT_THAT(
      Errors(Minimal("data: {path: d.csv}", "data: {path: d.csv, sensitive: [Age, 3]}")),
      ElementsAre("pipeline.yaml:2:38: each item of 'data.sensitive' must be a non-empty string, found 3"));
}

TEST(PipelineErrorsTest, ColumnListsMustNotRepeatAName) {
  EXPECT_THAT(Errors(Minimal("data: {path: d.csv}", "data: {path: d.csv, categorical: [Home, Job, Home]}")),
              ElementsAre("pipeline.yaml:2:46: 'data.categorical' lists 'Home' twice"));
}

TEST(PipelineErrorsTest, PositiveMustBeALabel) {
  EXPECT_THAT(
      Errors(Minimal("data: {path: d.csv}", "data: {path: d.csv, positive: [1, 2]}")),
      ElementsAre("pipeline.yaml:2:31: 'data.positive' must be a class label (a string, a number or a "
                  "boolean), found [1,2]"));
}

TEST(PipelineErrorsTest, ModelTypeIsAnEnum) {
  EXPECT_THAT(Errors(Minimal("model: {path: m.yaml}", "model: {path: m.yaml, type: pmml}")),
              ElementsAre("pipeline.yaml:3:29: 'model.type' must be one of native, xgboost, onnx, remote, "
                          "huggingface; found \"pmml\""));
}

TEST(PipelineErrorsTest, PrecisionIsForHuggingFaceModelsAndF32OrBf16) {
  EXPECT_EQ(Parse(Minimal("model: {path: m.yaml}", "model: {type: huggingface, path: m, precision: bf16}"))
                .model.precision,
            "bf16");
  EXPECT_THAT(
      Errors(Minimal("model: {path: m.yaml}", "model: {path: m.yaml, precision: bf16}")),
      ElementsAre("pipeline.yaml:3:34: model.precision applies to huggingface models and onnx models; "
                  "a loupe.model/v1 file states its own precision"));
  EXPECT_EQ(Parse(Minimal("model: {path: m.yaml}", "model: {type: onnx, path: m.onnx, precision: bf16}"))
                .model.precision,
            "bf16");
  EXPECT_THAT(Errors(Minimal("model: {path: m.yaml}", "model: {type: huggingface, path: m, precision: f16}")),
              ElementsAre("pipeline.yaml:3:48: 'model.precision' must be one of f32, bf16; found \"f16\""));
}

// A huggingface model reads one text column, which model.features may name; the other onnx keys stay
// onnx's.
TEST(PipelineErrorsTest, HuggingFaceFeaturesNameOneTextColumn) {
  EXPECT_THAT(
      Parse(Minimal("model: {path: m.yaml}", "model: {type: huggingface, path: m, features: [review]}"))
          .model.features,
      ElementsAre("review"));
  EXPECT_THAT(
      Errors(Minimal("model: {path: m.yaml}", "model: {type: huggingface, path: m, features: [a, b]}")),
      ElementsAre("pipeline.yaml:3:47: model.features of a huggingface model names the one text column "
                  "it reads"));
  EXPECT_THAT(
      Errors(Minimal("model: {path: m.yaml}", "model: {type: huggingface, path: m, tokenizer: t.json}")),
      ElementsAre("pipeline.yaml:3:48: model.tokenizer applies to onnx models only (type: onnx)"));
}

TEST(PipelineErrorsTest, ModelPathIsRequired) {
  EXPECT_THAT(Errors(Minimal("model: {path: m.yaml}", "model: {type: native}")),
              ElementsAre("pipeline.yaml:3:8: missing required key 'path' in 'model'"));
}

TEST(PipelineErrorsTest, StepsMustNotBeEmpty) {
  EXPECT_THAT(Errors(Minimal("steps:\n  - {id: a, explainer: shap.kernel}", "steps: []")),
              ElementsAre("pipeline.yaml:4:8: 'steps' must be a non-empty list of steps, found []"));
}

TEST(PipelineErrorsTest, EachStepMustBeAMapping) {
  EXPECT_THAT(Errors(Minimal("  - {id: a, explainer: shap.kernel}", "  - shap.kernel")),
              ElementsAre("pipeline.yaml:5:5: each step must be a mapping with an id and an explainer, found "
                          "\"shap.kernel\""));
}

TEST(PipelineErrorsTest, StepIdIsRequired) {
  EXPECT_THAT(Errors(Minimal("{id: a, explainer: shap.kernel}", "{explainer: shap.kernel}")),
              ElementsAre("pipeline.yaml:5:5: missing required key 'id' in 'steps.0'"));
}

TEST(PipelineErrorsTest, StepIdMustBeAnIdentifier) {
  EXPECT_THAT(
      Errors(Minimal("id: a,", "id: my step,")),
      ElementsAre("pipeline.yaml:5:10: 'steps.0.id' must match [A-Za-z_][A-Za-z0-9_-]*, found \"my step\""));
  EXPECT_THAT(Errors(Minimal("id: a,", "id: 7,")),
              ElementsAre("pipeline.yaml:5:10: 'steps.0.id' must be a string, found 7"));
}

TEST(PipelineErrorsTest, StepIdsMustBeUnique) {
  EXPECT_THAT(Errors(std::string(kMinimalPipeline) + "  - {id: b, explainer: lime.tabular}\n" +
                     "  - {id: a, explainer: shap.exact}\n"),
              ElementsAre("pipeline.yaml:7:10: duplicate step id 'a' (first used at line 5)"));
}

TEST(PipelineErrorsTest, ExplainerIsRequired) {
  EXPECT_THAT(Errors(Minimal("{id: a, explainer: shap.kernel}", "{id: a}")),
              ElementsAre("pipeline.yaml:5:5: missing required key 'explainer' in 'steps.a'"));
}

TEST(PipelineErrorsTest, ExplainerNamesThePluginToo) {
  EXPECT_THAT(Errors(Minimal("shap.kernel", "kernel")),
              ElementsAre("pipeline.yaml:5:24: 'steps.a.explainer' must be written plugin.explainer (like "
                          "shap.kernel), found \"kernel\""));
}

TEST(PipelineErrorsTest, MisspeltStepKey) {
  EXPECT_THAT(Errors(Minimal("shap.kernel}", "shap.kernel, param: {}}")),
              ElementsAre("pipeline.yaml:5:37: unknown key 'param' in 'steps.a'; did you mean 'params'?"));
}

TEST(PipelineErrorsTest, ParamsMustBeAMapping) {
  EXPECT_THAT(
      Errors(Minimal("shap.kernel}", "shap.kernel, params: [1, 2]}")),
      ElementsAre("pipeline.yaml:5:45: 'steps.a.params' must be a mapping of parameter names to values, "
                  "found [1,2]"));
}

TEST(PipelineErrorsTest, RowsMustBeARowSelection) {
  const std::vector<std::string> errors = Errors(Minimal("shap.kernel}", "shap.kernel, rows: first}"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("pipeline.yaml:5:43: 'steps.a.rows' "));
  EXPECT_THAT(errors[0], ::testing::HasSubstr("\"first\""));
}

TEST(PipelineErrorsTest, NeedsMayNameOnlyEarlierSteps) {
  EXPECT_THAT(Errors(R"(version: 1
data: {path: d.csv}
model: {path: m.yaml}
steps:
  - {id: a, explainer: shap.kernel, needs: [b]}
  - {id: b, explainer: shap.summary}
)"),
              ElementsAre("pipeline.yaml:5:45: step 'a' needs 'b', which is not defined before it"));
}

TEST(PipelineErrorsTest, AStepCannotNeedItself) {
  EXPECT_THAT(Errors(Minimal("shap.kernel}", "shap.kernel, needs: [x, a]}")),
              ElementsAre("pipeline.yaml:5:45: step 'a' needs 'x', which is not defined before it",
                          "pipeline.yaml:5:48: step 'a' needs 'a', which is not defined before it"));
}

TEST(PipelineErrorsTest, NeedsMustBeAList) {
  EXPECT_THAT(Errors(std::string(kMinimalPipeline) + "  - {id: b, explainer: shap.summary, needs: a}\n"),
              ElementsAre("pipeline.yaml:6:45: 'steps.b.needs' must be a list of step ids, found \"a\""));
}

TEST(PipelineErrorsTest, OutputFormatsAreAnEnum) {
  EXPECT_THAT(
      Errors(std::string(kMinimalPipeline) + "output: {formats: [json, pdf]}\n"),
      ElementsAre("pipeline.yaml:6:26: each item of 'output.formats' must be one of json, csv, npy, html; "
                  "found \"pdf\""));
  EXPECT_THAT(Errors(std::string(kMinimalPipeline) + "output: {formats: []}\n"),
              ElementsAre("pipeline.yaml:6:19: 'output.formats' must be a non-empty list, found []"));
}

TEST(PipelineErrorsTest, MisspeltOutputKey) {
  EXPECT_THAT(Errors(std::string(kMinimalPipeline) + "output:\n  dirs: out\n"),
              ElementsAre("pipeline.yaml:7:3: unknown key 'dirs' in 'output'; did you mean 'dir'?"));
}

TEST(PipelineErrorsTest, PluginsMustBeAListOfPaths) {
  EXPECT_THAT(Errors(std::string(kMinimalPipeline) + "plugins: extra.so\n"),
              ElementsAre("pipeline.yaml:6:10: 'plugins' must be a list of paths, found \"extra.so\""));
}

TEST(PipelineErrorsTest, DuplicateKeysAreErrors) {
  EXPECT_THAT(Errors(Minimal("version: 1\n", "version: 1\nseed: 1\nname: x\nseed: 2\n")),
              ElementsAre("pipeline.yaml:4:1: duplicate key 'seed' (first defined at line 2)"));
}

TEST(PipelineErrorsTest, SyntaxErrorsAreReportedWithTheirPosition) {
  EXPECT_THAT(Errors("version: 1\ndata: {path: d.csv\nmodel: {path: m.yaml}\n"),
              ElementsAre("pipeline.yaml:3:6: invalid YAML: end of map flow not found"));
}

TEST(PipelineErrorsTest, AnEmptyFileSaysWhatIsExpected) {
  EXPECT_THAT(
      Errors("# nothing yet\n"),
      ElementsAre("pipeline.yaml: the pipeline is empty; expected a mapping with version, data, model and "
                  "steps"));
}

TEST(PipelineErrorsTest, TheTopLevelMustBeAMapping) {
  EXPECT_THAT(
      Errors("- version: 1\n"),
      ElementsAre("pipeline.yaml:1:1: the pipeline must be a mapping of keys (version, name, seed, data, "
                  "model, steps, output, plugins), found [{\"version\":1}]"));
}

TEST(PipelineErrorsTest, CollectsEveryErrorInDocumentOrderOfChecks) {
  EXPECT_THAT(
      Errors(R"(version: 1
sed: 3
data: {path: d.csv, target: 5}
model: {path: m.yaml, type: pmml}
steps:
  - {id: a, explainer: kernel}
  - {id: a, explainer: shap.exact}
)"),
      ElementsAre(
          "pipeline.yaml:2:1: unknown key 'sed' in the pipeline; did you mean 'seed'?",
          "pipeline.yaml:3:29: 'data.target' must be a non-empty string, found 5",
          "pipeline.yaml:4:29: 'model.type' must be one of native, xgboost, onnx, remote, huggingface; "
          "found \"pmml\"",
          "pipeline.yaml:6:24: 'steps.a.explainer' must be written plugin.explainer (like "
          "shap.kernel), found \"kernel\"",
          "pipeline.yaml:7:10: duplicate step id 'a' (first used at line 6)"));
}

// ----- --set overrides ---------------------------------------------------------------------------

TEST(PipelineOverridesTest, SetsAParamOfAStepChosenById) {
  const PipelineSpec spec = Parse(kFullPipeline, {{"steps.shap.params.nsamples", "512"}});
  EXPECT_EQ(spec.steps[0].params, json::parse(R"({"nsamples": 512, "background": 100})"));
  EXPECT_EQ(spec.steps[0].param_pos.at("nsamples").file, "--set steps.shap.params.nsamples");
  EXPECT_EQ(spec.steps[0].param_pos.at("nsamples").line, 0);
  EXPECT_EQ(spec.steps[0].param_pos.at("background").line, 20);
}

TEST(PipelineOverridesTest, CreatesNewParamsAndMappings) {
  const PipelineSpec spec = Parse(kFullPipeline, {{"steps.summary.params.max_display", "10"},
                                                  {"steps.fairness.params.bins", "[0, 10, 20]"}});
  EXPECT_EQ(spec.steps[2].params, json::parse(R"({"max_display": 10})"));
  EXPECT_EQ(spec.steps[1].params["bins"], json::parse("[0, 10, 20]"));
  EXPECT_EQ(Parse(kMinimalPipeline, {{"output.dir", "/tmp/out"}}).output.dir, "/tmp/out");
}

TEST(PipelineOverridesTest, ReplacesValuesAndSubtrees) {
  const PipelineSpec spec = Parse(kFullPipeline, {{"seed", "7"},
                                                  {"data.features", "[Age, Income]"},
                                                  {"data", "{path: other.csv}"},
                                                  {"steps.shap.rows", "0:5"}});
  EXPECT_EQ(spec.seed, 7u);
  EXPECT_EQ(spec.data.path, "/srv/audit/other.csv");
  EXPECT_TRUE(spec.data.features.empty());  // the later override replaced all of `data`
  EXPECT_EQ(spec.data.field_pos.at("path").file, "--set data");
  EXPECT_EQ(spec.steps[0].rows, json("0:5"));
}

TEST(PipelineOverridesTest, AnOverriddenValueMeetsTheSameChecks) {
  EXPECT_THAT(Errors(kMinimalPipeline, {{"seed", "abc"}}),
              ElementsAre("--set seed: 'seed' must be a non-negative integer, found \"abc\""));
  EXPECT_THAT(Errors(kMinimalPipeline, {{"sed", "1"}}),
              ElementsAre("--set sed: unknown key 'sed' in the pipeline; did you mean 'seed'?"));
  EXPECT_THAT(
      Errors(kMinimalPipeline, {{"steps.a.explainer", "shap"}}),
      ElementsAre("--set steps.a.explainer: 'steps.a.explainer' must be written plugin.explainer (like "
                  "shap.kernel), found \"shap\""));
}

TEST(PipelineOverridesTest, NamingAnUnknownStepIsAnError) {
  EXPECT_THAT(Errors(kFullPipeline, {{"steps.shapp.params.nsamples", "512"}}),
              ElementsAre("--set steps.shapp.params.nsamples: unknown step 'shapp'; did you mean 'shap'?"));
  EXPECT_THAT(Errors(kFullPipeline, {{"steps.lime.params.num_samples", "512"}}),
              ElementsAre("--set steps.lime.params.num_samples: unknown step 'lime'; expected one of: shap, "
                          "fairness, summary"));
}

TEST(PipelineOverridesTest, CannotDescendIntoScalarsOrLists) {
  EXPECT_THAT(
      Errors(kFullPipeline, {{"seed.x", "1"}}),
      ElementsAre("--set seed.x: 'seed' is not a mapping (found 42), so it has no key 'x'; set it as a "
                  "whole instead"));
  EXPECT_THAT(
      Errors(kFullPipeline, {{"data.features.0", "Age"}}),
      ElementsAre("--set data.features.0: 'data.features' is a list (found [\"Seniority\",\"Home\",\"Age\","
                  "\"Income\"]), so it has no key '0'; set it as a whole instead"));
}

TEST(PipelineOverridesTest, MalformedOverridesAreErrors) {
  EXPECT_THAT(Errors(kMinimalPipeline, {{"name", "[a"}}),
              ElementsAre("--set name: the value '[a' is not valid YAML"));
  EXPECT_THAT(
      Errors(kMinimalPipeline, {{"steps..id", "b"}}),
      ElementsAre("--set steps..id: expected a dotted key path such as steps.shap.params.nsamples, found "
                  "'steps..id'"));
}

TEST(PipelineOverridesTest, OverrideErrorsAndFileErrorsAreReportedTogether) {
  EXPECT_THAT(Errors(Minimal("version: 1", "version: 3"), {{"steps.b.params.k", "1"}}),
              ElementsAre("--set steps.b.params.k: unknown step 'b'; expected one of: a",
                          "pipeline.yaml:1:10: 'version' must be 1, found 3"));
}

}  // namespace
}  // namespace loupe
