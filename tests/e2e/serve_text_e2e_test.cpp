// Text models in `loupe serve` (docs/serve.md "Text models"): the native transformer text fixture served
// with its text column, instances as strings: :predict gives the probabilities the model gives the same
// text in-process, and :explain runs lime.text and attention.rollout on the request's texts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "loupe/core/attention.hpp"
#include "loupe/core/plugin.hpp"
#include "serve/service.hpp"

namespace loupe::serve {
namespace {

using ::testing::HasSubstr;

const std::string kTextSource = LOUPE_SOURCE_DIR;
const std::string kModel = kTextSource + "/tests/fixtures/text/transformer.yaml";
const std::vector<std::string> kTexts = {"Your lucky number is seven; the computer will crash on Tuesday.",
                                         "A friend asks only for your time, not your money."};

std::shared_ptr<const PluginRegistry> TextPlugins() {
  static const std::shared_ptr<const PluginRegistry> registry = [] {
    auto loaded = std::make_shared<PluginRegistry>();
    loaded->LoadDirectory(LOUPE_PLUGIN_DIR);
    return loaded;
  }();
  return registry;
}

std::string ModelYaml(const std::string& name, const std::string& explainer, const std::string& params) {
  return "  - {name: " + name + ", path: '" + kModel + "', data: '" + kTextSource +
         "/tests/data/fortunes_topics.csv', target: topic, text: [text], explainer: " + explainer +
         ", params: " + params + "}\n";
}

class ServeText : public ::testing::Test {
 protected:
  void SetUp() override {
    if (TextPlugins()->Find("lime.text") == nullptr || TextPlugins()->Find("attention.rollout") == nullptr)
      GTEST_SKIP() << "the lime and attention plugins are not built";
    const std::string config = "version: 1\naccess_log: false\nmodels:\n" +
                               ModelYaml("topics", "lime.text", "{num_samples: 300, num_features: 4}") +
                               ModelYaml("rollout", "attention.rollout", "{}");
    ServeConfigOutcome parsed = ParseServeConfig(config, "serve.yaml", kTextSource);
    ASSERT_TRUE(parsed.config) << parsed.diagnostics[0].ToString();
    std::vector<Diagnostic> diagnostics;
    service_ = Service::Create(std::move(*parsed.config), TextPlugins(), diagnostics);
    ASSERT_TRUE(diagnostics.empty()) << diagnostics[0].ToString();
  }
  HttpResponse Post(const std::string& target, const nlohmann::json& body) {
    return service_->Handle(HttpRequest{"POST", target, body.dump(), ""});
  }
  std::unique_ptr<Service> service_;
};

TEST_F(ServeText, PredictGivesTheModelsProbabilitiesForTheRequestsTexts) {
  const HttpResponse response =
      Post("/v1/models/topics:predict", {{"instances", {{kTexts[0]}, {{"text", kTexts[1]}}}}});
  ASSERT_EQ(response.status, 200) << response.body;
  const nlohmann::json predictions = nlohmann::json::parse(response.body)["predictions"];
  const std::shared_ptr<const Model> model = LoadModel(kModel).value();
  const Tensor expected = model->text_model()->PredictText(kTexts, OutputSpace::kProbability).value();
  ASSERT_EQ(predictions.size(), 2u);
  ASSERT_EQ(static_cast<std::int64_t>(predictions[0].size()), expected.dim(1));
  for (std::int64_t row = 0; row < 2; ++row) {
    for (std::int64_t k = 0; k < expected.dim(1); ++k)
      EXPECT_NEAR(predictions[row][k].get<double>(), expected.data<double>()[row * expected.dim(1) + k],
                  1e-12);
  }
  // v2: a BYTES tensor of the texts.
  const HttpResponse v2 =
      Post("/v2/models/topics/infer",
           {{"inputs", {{{"name", "text"}, {"datatype", "BYTES"}, {"shape", {2}}, {"data", kTexts}}}}});
  ASSERT_EQ(v2.status, 200) << v2.body;
  EXPECT_NEAR(nlohmann::json::parse(v2.body)["outputs"][0]["data"][0].get<double>(),
              expected.data<double>()[0], 1e-12);
}

TEST_F(ServeText, ExplainRunsLimeTextAndAttentionOnTheRequestsTexts) {
  const HttpResponse lime = Post("/v1/models/topics:explain", {{"instances", {{kTexts[0]}}}});
  ASSERT_EQ(lime.status, 200) << lime.body;
  EXPECT_THAT(lime.body, HasSubstr("lucky"));  // the words of the request's text, not of the data's
  const HttpResponse rollout = Post("/v1/models/rollout:explain", {{"instances", {{kTexts[1]}}}});
  ASSERT_EQ(rollout.status, 200) << rollout.body;
  EXPECT_THAT(rollout.body, HasSubstr("friend"));
  const HttpResponse not_text = Post("/v1/models/topics:predict", {{"instances", {{7}}}});
  EXPECT_EQ(not_text.status, 400);
  EXPECT_THAT(not_text.body, HasSubstr("feature 'text' is text, found 7"));
}

}  // namespace
}  // namespace loupe::serve
