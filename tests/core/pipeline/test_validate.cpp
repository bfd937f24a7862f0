// Step parameters against hand-made explainer descriptors (no plugins needed), and explainer names
// against a registry.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "loupe/core/plugin.hpp"
#include "pipeline/validate.hpp"

namespace loupe {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

ParamSpec Param(const std::string& name, ParamType type, std::optional<json> default_value = std::nullopt) {
  ParamSpec spec;
  spec.name = name;
  spec.type = type;
  spec.default_value = std::move(default_value);
  return spec;
}

ExplainerDescriptor KernelShap() {
  ExplainerDescriptor descriptor;
  descriptor.name = "shap.kernel";
  descriptor.scope = ExplainerScope::kLocal;
  ParamSpec nsamples = Param("nsamples", ParamType::kInt, 2048);
  nsamples.min_value = 1;
  ParamSpec output = Param("output", ParamType::kEnum, "probability");
  output.choices = {"probability", "raw"};
  descriptor.params = {nsamples, output, Param("background", ParamType::kRows, 100),
                       Param("groups", ParamType::kJson)};
  return descriptor;
}

ExplainerDescriptor GroupFairness() {
  ExplainerDescriptor descriptor;
  descriptor.name = "fairness.group";
  descriptor.scope = ExplainerScope::kGlobal;
  ParamSpec sensitive = Param("sensitive", ParamType::kStringList);
  sensitive.required = true;
  ParamSpec ci = Param("ci", ParamType::kFloat, 0.95);
  ci.min_value = 0;
  ci.max_value = 1;
  descriptor.params = {sensitive, ci, Param("n_boot", ParamType::kInt, 0),
                       Param("favorable", ParamType::kString)};
  return descriptor;
}

// Parses a pipeline whose steps are `steps_yaml` (so steps carry real positions) and returns its steps.
std::vector<StepSpec> Steps(const std::string& steps_yaml) {
  const std::string text = "version: 1\ndata: {path: d.csv}\nmodel: {path: m.yaml}\nsteps:\n" + steps_yaml;
  ParseOutcome outcome = ParsePipelineText(text, "p.yaml");
  for (const Diagnostic& diagnostic : outcome.diagnostics) ADD_FAILURE() << diagnostic.ToString();
  return outcome.spec ? outcome.spec->steps : std::vector<StepSpec>{};
}

std::vector<std::string> Messages(const std::vector<Diagnostic>& diagnostics) {
  std::vector<std::string> messages;
  for (const Diagnostic& diagnostic : diagnostics) messages.push_back(diagnostic.ToString());
  return messages;
}

TEST(ValidateStepParamsTest, FillsDefaultsAndKeepsGivenValues) {
  std::vector<StepSpec> steps = Steps("  - {id: shap, explainer: shap.kernel, params: {nsamples: 512}}\n");
  EXPECT_THAT(ValidateStepParams(steps[0], KernelShap()), IsEmpty());
  EXPECT_EQ(steps[0].params, json::parse(R"({"nsamples": 512, "output": "probability", "background": 100})"));
}

TEST(ValidateStepParamsTest, ALocalExplainerWithoutRowsOrParamsIsFine) {
  std::vector<StepSpec> steps = Steps("  - {id: shap, explainer: shap.kernel}\n");
  EXPECT_THAT(ValidateStepParams(steps[0], KernelShap()), IsEmpty());
  EXPECT_TRUE(steps[0].rows.is_null());
  EXPECT_EQ(steps[0].params["nsamples"], 2048);
}

TEST(ValidateStepParamsTest, UnknownParamSuggestsTheClosestName) {
  std::vector<StepSpec> steps =
      Steps("  - id: shap\n    explainer: shap.kernel\n    params:\n      nsampels: 10\n");
  EXPECT_THAT(
      Messages(ValidateStepParams(steps[0], KernelShap())),
      ElementsAre("p.yaml:8:17: unknown parameter 'nsampels' for explainer 'shap.kernel'; did you mean "
                  "'nsamples'?"));
}

TEST(ValidateStepParamsTest, UnknownParamFarFromAnyListsTheParams) {
  std::vector<StepSpec> steps = Steps("  - {id: shap, explainer: shap.kernel, params: {link: logit}}\n");
  EXPECT_THAT(
      Messages(ValidateStepParams(steps[0], KernelShap())),
      ElementsAre("p.yaml:5:55: unknown parameter 'link' for explainer 'shap.kernel'; expected one of: "
                  "nsamples, output, background, groups"));
}

TEST(ValidateStepParamsTest, AnExplainerWithoutParamsSaysSo) {
  ExplainerDescriptor descriptor;
  descriptor.name = "attention.inspect";
  std::vector<StepSpec> steps = Steps("  - {id: att, explainer: attention.inspect, params: {layers: [0]}}\n");
  EXPECT_THAT(
      Messages(ValidateStepParams(steps[0], descriptor)),
      ElementsAre("p.yaml:5:62: unknown parameter 'layers' for explainer 'attention.inspect', which takes "
                  "no parameters"));
}

TEST(ValidateStepParamsTest, EachValueIsCheckedAgainstItsSpec) {
  std::vector<StepSpec> steps = Steps(
      "  - id: shap\n"
      "    explainer: shap.kernel\n"
      "    params:\n"
      "      nsamples: 0\n"
      "      output: prob\n"
      "      groups: {a: [1, 2]}\n");
  EXPECT_THAT(Messages(ValidateStepParams(steps[0], KernelShap())),
              ElementsAre("p.yaml:8:17: parameter 'nsamples' must be >= 1, found 0",
                          "p.yaml:9:15: parameter 'output' must be one of probability, raw; found 'prob'"));
}

TEST(ValidateStepParamsTest, IntegralFloatsAreNotIntegers) {
  std::vector<StepSpec> steps = Steps("  - {id: shap, explainer: shap.kernel, params: {nsamples: 3.0}}\n");
  EXPECT_THAT(Messages(ValidateStepParams(steps[0], KernelShap())),
              ElementsAre("p.yaml:5:59: parameter 'nsamples' must be an integer, found 3.0"));
}

TEST(ValidateStepParamsTest, MissingRequiredParamPointsAtParamsOrTheStep) {
  std::vector<StepSpec> steps = Steps(
      "  - {id: fair, explainer: fairness.group, params: {ci: 0.9}}\n"
      "  - {id: fair2, explainer: fairness.group}\n");
  EXPECT_THAT(
      Messages(ValidateStepParams(steps[0], GroupFairness())),
      ElementsAre("p.yaml:5:51: missing required parameter 'sensitive' for explainer 'fairness.group'"));
  EXPECT_THAT(
      Messages(ValidateStepParams(steps[1], GroupFairness())),
      ElementsAre("p.yaml:6:5: missing required parameter 'sensitive' for explainer 'fairness.group'"));
}

TEST(ValidateStepParamsTest, GlobalExplainerGetsItsDefaults) {
  std::vector<StepSpec> steps =
      Steps("  - {id: fair, explainer: fairness.group, params: {sensitive: [afam]}}\n");
  EXPECT_THAT(ValidateStepParams(steps[0], GroupFairness()), IsEmpty());
  // A param without a default stays absent rather than being invented.
  EXPECT_EQ(steps[0].params, json::parse(R"({"sensitive": ["afam"], "ci": 0.95, "n_boot": 0})"));
}

TEST(ValidateStepParamsTest, OverriddenParamsAreReportedAtTheOverride) {
  ParseOutcome outcome = ParsePipelineText(
      "version: 1\ndata: {path: d.csv}\nmodel: {path: m.yaml}\nsteps:\n  - {id: fair, explainer: "
      "fairness.group}\n",
      "p.yaml", {{"steps.fair.params.ci", "1.5"}});
  ASSERT_TRUE(outcome.spec.has_value());
  EXPECT_THAT(Messages(ValidateStepParams(outcome.spec->steps[0], GroupFairness())),
              ElementsAre("--set steps.fair.params.ci: parameter 'ci' must be <= 1, found 1.5",
                          "--set steps.fair.params.ci: missing required parameter 'sensitive' for explainer "
                          "'fairness.group'"));
}

TEST(ValidateAgainstPluginsTest, UnknownExplainerWithNoPluginsLoaded) {
  ParseOutcome outcome = ParsePipelineText(
      "version: 1\ndata: {path: d.csv}\nmodel: {path: m.yaml}\nsteps:\n  - {id: a, explainer: shap.kernl}\n",
      "p.yaml");
  ASSERT_TRUE(outcome.spec.has_value());
  const PluginRegistry registry;
  EXPECT_THAT(Messages(ValidateAgainstPlugins(*outcome.spec, registry)),
              ElementsAre("p.yaml:5:24: unknown explainer 'shap.kernl'; no explainer plugins are loaded"));
}

}  // namespace
}  // namespace loupe
