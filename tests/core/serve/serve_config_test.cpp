// serve.yaml (core/src/serve/serve_config.hpp): keys, types and limits become a ServeConfig, and every
// mistake is one positioned sentence. Models are not loaded here (tests/e2e/serve_e2e_test.cpp does).
#include "serve/serve_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

namespace loupe::serve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Messages(const ServeConfigOutcome& outcome) {
  std::vector<std::string> messages;
  for (const Diagnostic& d : outcome.diagnostics) messages.push_back(d.ToString());
  return messages;
}

ServeConfigOutcome Parse(const std::string& text) {
  return ParseServeConfig(text, "serve.yaml", "/srv/loupe");
}

constexpr const char* kModel = R"(
models:
  - name: credit
    path: models/credit.json
    data: data/credit.csv
    explainer: shap.tree
)";

TEST(ServeConfig, ReadsEveryKeyAndResolvesPathsAgainstTheFile) {
  const ServeConfigOutcome outcome = Parse(std::string(R"(version: 1
listen: {address: 0.0.0.0, port: 9000}
threads: 4
shutdown_grace_ms: 500
access_log: false
plugins: [plugins]
limits: {max_body_bytes: 4096, max_rows: 10, deadline_ms: 250, max_concurrent_explanations: 3,
         queue_length: 0, retry_after_s: 7, idle_timeout_ms: 1000}
models:
  - name: credit.v2
    type: xgboost
    path: models/credit.json
    data: ../data/credit.csv
    target: Status
    positive: bad
    features: [Age, Income]
    categorical: [Home]
    missing: ["?"]
    explainer: shap.tree
    params: {output: raw}
    seed: 7
)"));
  ASSERT_TRUE(outcome.config) << Messages(outcome).front();
  const ServeConfig& config = *outcome.config;
  EXPECT_EQ(config.address, "0.0.0.0");
  EXPECT_EQ(config.port, 9000);
  EXPECT_EQ(config.threads, 4);
  EXPECT_EQ(config.shutdown_grace_ms, 500);
  EXPECT_FALSE(config.access_log);
  EXPECT_THAT(config.plugins, ElementsAre(std::filesystem::path("/srv/loupe/plugins")));
  EXPECT_EQ(config.limits.max_body_bytes, 4096);
  EXPECT_EQ(config.limits.max_rows, 10);
  EXPECT_EQ(config.limits.deadline_ms, 250);
  EXPECT_EQ(config.limits.max_concurrent_explanations, 3);
  EXPECT_EQ(config.limits.queue_length, 0);
  EXPECT_EQ(config.limits.retry_after_s, 7);
  EXPECT_EQ(config.limits.idle_timeout_ms, 1000);
  ASSERT_EQ(config.models.size(), 1u);
  const ServedModelSpec& model = config.models[0];
  EXPECT_EQ(model.name, "credit.v2");
  EXPECT_EQ(model.type, "xgboost");
  EXPECT_EQ(model.path, "/srv/loupe/models/credit.json");
  EXPECT_EQ(model.data, "/srv/data/credit.csv");
  EXPECT_EQ(model.target, "Status");
  EXPECT_EQ(model.positive, "bad");
  EXPECT_THAT(model.features, ElementsAre("Age", "Income"));
  EXPECT_THAT(model.missing, ElementsAre("?"));
  EXPECT_EQ(model.params, nlohmann::json({{"output", "raw"}}));
  EXPECT_EQ(model.seed, 7u);
  EXPECT_EQ(model.param_pos.at("output").line, 20);
}

TEST(ServeConfig, DefaultsAreTheDocumentedOnes) {
  const ServeConfigOutcome outcome = Parse(std::string("version: 1\n") + kModel);
  ASSERT_TRUE(outcome.config);
  EXPECT_EQ(outcome.config->address, "127.0.0.1");
  EXPECT_EQ(outcome.config->port, 8080);
  EXPECT_EQ(outcome.config->limits.max_body_bytes, 1 << 20);
  EXPECT_EQ(outcome.config->limits.queue_length, 16);
  EXPECT_TRUE(outcome.config->tokens.empty());
}

TEST(ServeConfig, UnknownKeysArePositionedWithDidYouMean) {
  const ServeConfigOutcome outcome =
      Parse(std::string("version: 1\nlimts: {}\nlimits: {max_row: 3}\n") + kModel);
  EXPECT_THAT(Messages(outcome),
              ElementsAre("serve.yaml:2:1: unknown key 'limts' in serve.yaml; did you mean 'limits'?",
                          "serve.yaml:3:10: unknown key 'max_row' in limits; did you mean 'max_rows'?"));
}

TEST(ServeConfig, BadValuesAndMissingKeysAreEachOneSentence) {
  const ServeConfigOutcome outcome = Parse(R"(version: 1
listen: {port: 70000}
limits: {queue_length: -1}
models:
  - name: ../etc
    path: m.json
    explainer: shap.tree
)");
  EXPECT_THAT(
      Messages(outcome),
      ElementsAre("serve.yaml:2:16: 'port' must be an integer from 0 to 65535, found 70000.",
                  "serve.yaml:3:24: 'queue_length' must be an integer from 0 to 100000, found -1.",
                  "serve.yaml:5:11: a model's name may hold only letters, digits, '_', '.' and '-', found "
                  "'../etc'.",
                  "serve.yaml:5:5: missing required key 'data'."));
}

TEST(ServeConfig, DuplicateModelNamesAndAMissingVersionAreRefused) {
  const ServeConfigOutcome outcome = Parse(R"(models:
  - {name: a, path: m, data: d, explainer: x}
  - {name: a, path: m, data: d, explainer: x}
)");
  EXPECT_THAT(Messages(outcome), ElementsAre("serve.yaml:1:1: serve.yaml must start with 'version: 1'.",
                                             "serve.yaml:3:12: two models are called 'a'."));
}

TEST(ServeConfig, TokensComeFromAnEnvironmentVariableAndAreNeverQuoted) {
  ::setenv("LOUPE_SERVE_TEST_TOKENS", "alpha, beta ,", 1);
  const ServeConfigOutcome outcome =
      Parse(std::string("version: 1\nauth: {tokens_env: LOUPE_SERVE_TEST_TOKENS}\n") + kModel);
  ASSERT_TRUE(outcome.config);
  EXPECT_THAT(outcome.config->tokens, ElementsAre("alpha", "beta"));
  ::unsetenv("LOUPE_SERVE_TEST_TOKENS");
  const ServeConfigOutcome unset =
      Parse(std::string("version: 1\nauth: {tokens_env: LOUPE_SERVE_TEST_TOKENS}\n") + kModel);
  EXPECT_THAT(Messages(unset),
              ElementsAre("serve.yaml:2:20: the environment variable 'LOUPE_SERVE_TEST_TOKENS' "
                          "is not set or empty."));
}

TEST(ServeConfig, AMissingTokensFileIsNamed) {
  const ServeConfigOutcome outcome =
      Parse(std::string("version: 1\nauth: {tokens_file: /nonexistent/tokens}\n") + kModel);
  ASSERT_EQ(outcome.diagnostics.size(), 1u);
  EXPECT_THAT(outcome.diagnostics[0].message, HasSubstr("cannot read the tokens file '/nonexistent/tokens'"));
}

}  // namespace
}  // namespace loupe::serve

namespace loupe::serve {
namespace {

TEST(ServeConfigPart2, ReadsJobsTlsAndARemoteModel) {
  const ServeConfigOutcome outcome = ParseServeConfig(R"(version: 1
jobs: {dir: jobs, base_dir: ../shared, max_running: 3, threads: 2}
tls: {cert: tls/cert.pem, key: tls/key.pem}
models:
  - name: far
    type: remote
    url: https://models.internal:8443/v2/models/credit
    max_batch_rows: 64
    retries: 2
    data: data/credit.csv
    text: [review]
    explainer: shap.kernel
)",
                                                      "serve.yaml", "/srv/loupe");
  ASSERT_TRUE(outcome.config) << outcome.diagnostics.front().ToString();
  const ServeConfig& config = *outcome.config;
  EXPECT_EQ(config.jobs.dir, "/srv/loupe/jobs");
  EXPECT_EQ(config.jobs.base_dir, "/srv/shared");
  EXPECT_EQ(config.jobs.max_running, 3);
  EXPECT_EQ(config.jobs.threads, 2);
  EXPECT_EQ(config.tls_cert, "/srv/loupe/tls/cert.pem");
  EXPECT_EQ(config.tls_key, "/srv/loupe/tls/key.pem");
  const ServedModelSpec& model = config.models.at(0);
  EXPECT_EQ(model.type, "remote");
  EXPECT_EQ(model.url, "https://models.internal:8443/v2/models/credit");
  EXPECT_TRUE(model.path.empty());
  EXPECT_EQ(model.remote_options, (nlohmann::json{{"max_batch_rows", 64}, {"retries", 2}}));
  EXPECT_EQ(model.text, std::vector<std::string>{"review"});
}

// A pipeline's model keys (precision, tokenizer, attention, and model.features as model_features) reach
// LoadModel; a remote model refuses them, and a precision is f32 or bf16.
TEST(ServeConfigPart2, ReadsAPipelinesModelKeys) {
  const ServeConfigOutcome outcome = ParseServeConfig(R"(version: 1
models:
  - name: sayings
    type: onnx
    path: models/text.onnx
    tokenizer: models/tokenizer.json
    attention: [/layers.0/Softmax, /layers.1/Softmax]
    model_features: [saying]
    precision: bf16
    data: data/sayings.csv
    text: [saying]
    explainer: attention.rollout
)",
                                                      "serve.yaml", "/srv/loupe");
  ASSERT_TRUE(outcome.config) << outcome.diagnostics.front().ToString();
  const ModelLoadOptions& load = outcome.config->models.at(0).load;
  EXPECT_TRUE(load.bf16);
  EXPECT_EQ(load.tokenizer, "/srv/loupe/models/tokenizer.json");
  EXPECT_THAT(load.attention, ElementsAre("/layers.0/Softmax", "/layers.1/Softmax"));
  EXPECT_THAT(load.features, ElementsAre("saying"));
  EXPECT_THAT(
      Messages(Parse(R"(version: 1
models:
  - name: far
    type: remote
    url: http://models.internal:8000/v2/models/credit
    tokenizer: t.json
    data: d.csv
    explainer: shap.kernel
  - name: near
    path: m.onnx
    precision: f16
    data: d.csv
    explainer: shap.kernel
)")),
      ElementsAre("serve.yaml:6:16: 'tokenizer' applies to a model Loupe runs itself, not to a remote one.",
                  "serve.yaml:11:16: a model's precision must be f32 or bf16, found 'f16'."));
}

TEST(ServeConfigPart2, JobsDefaultToTheFilesFolderAndNeedADir) {
  const ServeConfigOutcome defaults =
      ParseServeConfig(std::string("version: 1\njobs: {dir: /var/jobs}\n") + R"(
models:
  - {name: m, path: m.json, data: d.csv, explainer: shap.tree}
)",
                       "serve.yaml", "/srv/loupe");
  ASSERT_TRUE(defaults.config);
  EXPECT_EQ(defaults.config->jobs.base_dir, "/srv/loupe");
  EXPECT_EQ(defaults.config->jobs.max_running, 1);
  const ServeConfigOutcome no_dir =
      ParseServeConfig(std::string("version: 1\njobs: {max_running: 0}\ntls: {cert: c.pem}\n") + R"(
models:
  - {name: m, type: remote, data: d.csv, explainer: shap.tree}
)",
                       "serve.yaml", "/srv/loupe");
  std::vector<std::string> messages;
  for (const Diagnostic& d : no_dir.diagnostics) messages.push_back(d.ToString());
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_THAT(messages[0], HasSubstr("missing required key 'dir'"));
  EXPECT_THAT(messages[1], HasSubstr("'max_running' must be an integer from 1 to 64, found 0"));
  EXPECT_THAT(messages[2], HasSubstr("serve.yaml:3:"));
  EXPECT_THAT(messages[2], HasSubstr("missing required key 'key'"));
  EXPECT_THAT(messages[3], HasSubstr("missing required key 'url'"));
}

}  // namespace
}  // namespace loupe::serve
