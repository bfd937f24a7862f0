// Remote models (docs/serve.md "Remote models") end to end: `loupe serve` serves the credit XGBoost
// model, and a pipeline whose model is `type: remote` pointing at that server's own v2 (or v1) endpoint
// explains it with Kernel SHAP and LIME. Its values equal the same pipeline's on the local model file
// (1e-9), so every explainer works through a model served elsewhere.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"
#include "serve/http_server.hpp"
#include "serve/service.hpp"

namespace loupe::serve {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

const std::string kRemoteSource = LOUPE_SOURCE_DIR;
const std::string kRemoteCreditCsv = kRemoteSource + "/examples/credit_scoring/data/credit_data.csv";
const std::string kRemoteCreditXgb = kRemoteSource + "/examples/credit_scoring/models/credit_xgb.json";
const std::string kCreditData =
    "{path: '" + kRemoteCreditCsv +
    "', target: Status, positive: bad, categorical: [Home, Marital, Records, Job]}";

std::shared_ptr<const PluginRegistry> RemotePlugins() {
  static const std::shared_ptr<const PluginRegistry> registry = [] {
    auto loaded = std::make_shared<PluginRegistry>();
    loaded->LoadDirectory(LOUPE_PLUGIN_DIR);
    return loaded;
  }();
  return registry;
}

// Kernel SHAP and LIME on rows 0-3 of the credit data (row 3 and others hold missing values).
std::string PipelineYaml(const std::string& model, const fs::path& out) {
  return "version: 1\nseed: 11\ndata: " + kCreditData + "\nmodel: " + model +
         "\nsteps:\n"
         "  - {id: kernel, explainer: shap.kernel, rows: '0:4', params: {nsamples: 200, background: "
         "'0:30'}}\n"
         "  - {id: lime, explainer: lime.tabular, rows: '0:4', params: {num_samples: 600, num_features: 5}}\n"
         "output: {dir: '" +
         out.string() + "', formats: [json]}\n";
}

// Validates and runs a pipeline; the run's diagnostics and failures are test failures.
void RunPipelineText(const std::string& yaml) {
  ParseOutcome parsed = ParsePipelineText(yaml, kRemoteSource + "/remote.yaml", {});
  ASSERT_TRUE(parsed.spec) << (parsed.diagnostics.empty() ? "" : parsed.diagnostics[0].ToString());
  PipelineCheck check = ValidatePipeline(*parsed.spec, *RemotePlugins());
  ASSERT_TRUE(check.diagnostics.empty()) << check.diagnostics[0].ToString();
  RunOptions options;
  options.quiet = true;
  options.threads = 2;
  options.model = check.model;
  const RunReport report = RunPipeline(*parsed.spec, *RemotePlugins(), options);
  ASSERT_TRUE(report.status.ok()) << report.status.message();
}

nlohmann::json ReadJson(const fs::path& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

// Every number of `expected` against `actual` at the same place, within 1e-9.
void ExpectNumbersNear(const nlohmann::json& expected, const nlohmann::json& actual, const std::string& at) {
  if (expected.is_number()) {
    ASSERT_TRUE(actual.is_number()) << at;
    EXPECT_NEAR(expected.get<double>(), actual.get<double>(), 1e-9) << at;
  } else if (expected.is_array()) {
    ASSERT_TRUE(actual.is_array() && actual.size() == expected.size()) << at;
    for (std::size_t i = 0; i < expected.size(); ++i)
      ExpectNumbersNear(expected[i], actual[i], at + "/" + std::to_string(i));
  }
}

class RemoteModelThroughServe : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RemotePlugins()->Find("shap.kernel") == nullptr || RemotePlugins()->Find("lime.tabular") == nullptr)
      GTEST_SKIP() << "the shap and lime plugins are not built";
    const std::string config =
        "version: 1\nlisten: {port: 0}\naccess_log: false\nthreads: 2\n"
        "limits: {max_body_bytes: 67108864, max_rows: 100000}\nmodels:\n"
        "  - {name: credit, path: '" +
        kRemoteCreditXgb + "', data: '" + kRemoteCreditCsv +
        "', target: Status, positive: bad, categorical: [Home, Marital, Records, Job], explainer: "
        "shap.tree}\n";
    ServeConfigOutcome parsed = ParseServeConfig(config, "serve.yaml", kRemoteSource);
    ASSERT_TRUE(parsed.config) << parsed.diagnostics[0].ToString();
    std::vector<Diagnostic> diagnostics;
    service_ = Service::Create(std::move(*parsed.config), RemotePlugins(), diagnostics);
    ASSERT_TRUE(diagnostics.empty()) << diagnostics[0].ToString();
    server_ = HttpServer::Start(*service_).value();
    dir_ = fs::temp_directory_path() / ("loupe_remote_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    RunPipelineText(PipelineYaml("{type: xgboost, path: '" + kRemoteCreditXgb + "'}", dir_ / "local"));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(0));
    fs::remove_all(dir_);
  }
  std::string Url(const std::string& protocol) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/" + protocol + "/models/credit";
  }
  void ExpectSameExplanations(const fs::path& remote) {
    for (const std::string step : {"kernel", "lime"}) {
      const nlohmann::json local = ReadJson(dir_ / "local" / (step + ".json"));
      const nlohmann::json served = ReadJson(remote / (step + ".json"));
      for (const std::string key : {"values", "base_values"}) {
        ASSERT_TRUE(local.contains(key)) << step << " has no " << key;
        ExpectNumbersNear(local[key], served[key], step + "/" + key);
      }
    }
  }

  std::unique_ptr<Service> service_;
  std::unique_ptr<HttpServer> server_;
  fs::path dir_;
};

TEST_F(RemoteModelThroughServe, V2GivesTheLocalModelsValues) {
  RunPipelineText(
      PipelineYaml("{type: remote, url: '" + Url("v2") + "', max_batch_rows: 2000}", dir_ / "v2"));
  ExpectSameExplanations(dir_ / "v2");
  EXPECT_THAT(service_->Handle(HttpRequest{"GET", "/metrics", "", ""}).body,
              HasSubstr("loupe_http_requests_total{route=\"/v2/models/{name}/infer\",code=\"200\"}"));
}

TEST_F(RemoteModelThroughServe, V1GivesTheLocalModelsValues) {
  RunPipelineText(PipelineYaml("{type: remote, url: '" + Url("v1") + "', protocol: v1, max_batch_rows: 2000}",
                               dir_ / "v1"));
  ExpectSameExplanations(dir_ / "v1");
}

TEST_F(RemoteModelThroughServe, ValidateSaysWhyARemoteModelCannotBeUsed) {
  ParseOutcome parsed =
      ParsePipelineText(PipelineYaml("{type: remote, url: '" + Url("v2") + "nope'}", dir_ / "x"),
                        kRemoteSource + "/remote.yaml", {});
  ASSERT_TRUE(parsed.spec);
  PipelineCheck check = ValidatePipeline(*parsed.spec, *RemotePlugins());
  ASSERT_EQ(check.diagnostics.size(), 1u);
  EXPECT_THAT(check.diagnostics[0].ToString(), HasSubstr("remote.yaml:4:"));
  EXPECT_THAT(check.diagnostics[0].ToString(), HasSubstr("model.url: the remote model at"));
  ParseOutcome no_url = ParsePipelineText(PipelineYaml("{type: remote, path: x.json}", dir_ / "x"),
                                          kRemoteSource + "/remote.yaml", {});
  ASSERT_EQ(no_url.diagnostics.size(), 2u);
  EXPECT_THAT(no_url.diagnostics[0].ToString() + no_url.diagnostics[1].ToString(),
              HasSubstr("a remote model has a url, not a path"));
  ParseOutcome stray =
      ParsePipelineText(PipelineYaml("{type: xgboost, path: x.json, retries: 2}", dir_ / "x"),
                        kRemoteSource + "/remote.yaml", {});
  ASSERT_EQ(stray.diagnostics.size(), 1u);
  EXPECT_THAT(stray.diagnostics[0].ToString(), HasSubstr("model.retries applies to remote models only"));
}

}  // namespace
}  // namespace loupe::serve
