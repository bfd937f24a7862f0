// Pipeline jobs of `loupe serve` (docs/serve.md "Pipeline jobs"): submit, poll, fetch a step's JSON and
// the report, cancel, a bad pipeline refused with `loupe validate`'s positioned sentences, no path out of
// the base folder or a job's folder, and a restart that keeps finished jobs and marks interrupted ones.
// Every wait is bounded.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"
#include "serve/service.hpp"

namespace loupe::serve {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kJobsSource = LOUPE_SOURCE_DIR;
const std::string kBase = kJobsSource + "/examples/credit_scoring";

std::shared_ptr<const PluginRegistry> JobsPlugins() {
  static const std::shared_ptr<const PluginRegistry> registry = [] {
    auto loaded = std::make_shared<PluginRegistry>();
    loaded->LoadDirectory(LOUPE_PLUGIN_DIR);
    return loaded;
  }();
  return registry;
}

// Relative paths: they resolve against jobs.base_dir (the credit example's folder).
const std::string kData =
    "data: {path: data/credit_data.csv, target: Status, positive: bad, categorical: [Home, Marital, Records, "
    "Job]}\n";
const std::string kFastPipeline = "version: 1\n" + kData +
                                  "model: {type: xgboost, path: models/credit_xgb.json}\n"
                                  "steps:\n"
                                  "  - {id: tree, explainer: shap.tree, rows: '0:5'}\n";
// Kernel SHAP with a huge nsamples: runs for minutes unless cancelled (it checks between rows).
const std::string kSlowPipeline = "version: 1\n" + kData +
                                  "model: {path: models/credit_logreg.yaml}\n"
                                  "steps:\n"
                                  "  - {id: slow, explainer: shap.kernel, rows: '0:100', params: {nsamples: "
                                  "400000, background: '0:300'}}\n";

class ServeJobs : public ::testing::Test {
 protected:
  void SetUp() override {
    if (JobsPlugins()->Find("shap.tree") == nullptr) GTEST_SKIP() << "the shap plugin is not built";
    dir_ = fs::temp_directory_path() / ("loupe_jobs_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    Start();
  }
  void TearDown() override {
    service_.reset();
    fs::remove_all(dir_);
  }
  void Start() {
    const std::string config =
        "version: 1\nlisten: {port: 0}\naccess_log: false\njobs: {dir: '" + dir_.string() + "', base_dir: '" +
        kBase + "', max_running: 1, threads: 2}\nmodels:\n  - {name: credit, path: '" + kBase +
        "/models/credit_xgb.json', data: '" + kBase +
        "/data/credit_data.csv', target: Status, categorical: [Home, Marital, Records, "
        "Job], explainer: shap.tree}\n";
    ServeConfigOutcome parsed = ParseServeConfig(config, "serve.yaml", kJobsSource);
    ASSERT_TRUE(parsed.config) << parsed.diagnostics[0].ToString();
    std::vector<Diagnostic> diagnostics;
    service_ = Service::Create(std::move(*parsed.config), JobsPlugins(), diagnostics);
    ASSERT_TRUE(diagnostics.empty()) << diagnostics[0].ToString();
  }
  HttpResponse Call(const std::string& method, const std::string& target, const std::string& body = "") {
    return service_->Handle(HttpRequest{method, target, body, ""});
  }
  std::string Submit(const std::string& yaml) {
    const HttpResponse response = Call("POST", "/v1/runs", yaml);
    EXPECT_EQ(response.status, 202) << response.body;
    return nlohmann::json::parse(response.body).value("id", "");
  }
  // Polls the job (bounded) until its status is `status`; returns its last description.
  nlohmann::json WaitFor(const std::string& id, const std::string& status,
                         std::chrono::seconds within = std::chrono::seconds(60)) {
    const auto until = Clock::now() + within;
    nlohmann::json job;
    while (Clock::now() < until) {
      job = nlohmann::json::parse(Call("GET", "/v1/runs/" + id).body);
      if (job.value("status", "") == status) return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "job " << id << " did not become " << status << ": " << job.dump();
    return job;
  }

  fs::path dir_;
  std::unique_ptr<Service> service_;
};

TEST_F(ServeJobs, SubmitPollAndFetchTheOutputs) {
  const std::string id = Submit(kFastPipeline);
  ASSERT_EQ(id.size(), 16u);
  const nlohmann::json job = WaitFor(id, "succeeded");
  ASSERT_EQ(job["steps"].size(), 1u);
  EXPECT_EQ(job["steps"][0]["id"], "tree");
  EXPECT_EQ(job["steps"][0]["status"], "ok");
  EXPECT_EQ(job["progress"]["steps_done"], 1);
  const HttpResponse step = Call("GET", "/v1/runs/" + id + "/steps/tree");
  ASSERT_EQ(step.status, 200) << step.body;
  const nlohmann::json explanation = nlohmann::json::parse(step.body);
  EXPECT_EQ(explanation["values"].size(), 5u);
  const HttpResponse report = Call("GET", "/v1/runs/" + id + "/report.html");
  EXPECT_EQ(report.status, 200);
  EXPECT_EQ(report.content_type, "text/html; charset=utf-8");
  EXPECT_THAT(report.body, HasSubstr("<html"));
  EXPECT_TRUE(fs::exists(dir_ / id / "pipeline.yaml"));
  EXPECT_EQ(Call("DELETE", "/v1/runs/" + id).status, 409);  // already ended
}

TEST_F(ServeJobs, RefusesABadPipelineWithTheSentencesOfLoupeValidate) {
  const std::string bad =
      kFastPipeline + "  - {id: more, explainer: shap.tree, rows: '0:5', params: {outptu: raw}}\n";
  const HttpResponse response = Call("POST", "/v1/runs", bad);
  ASSERT_EQ(response.status, 400) << response.body;
  // The same sentence `loupe validate` prints for this file, position included.
  ParseOutcome parsed = ParsePipelineText(bad, fs::path(kBase) / "pipeline.yaml", {});
  ASSERT_TRUE(parsed.spec);
  PipelineCheck check = ValidatePipeline(*parsed.spec, *JobsPlugins());
  ASSERT_FALSE(check.diagnostics.empty());
  EXPECT_EQ(nlohmann::json::parse(response.body)["error"], check.diagnostics[0].ToString());
  EXPECT_THAT(check.diagnostics[0].ToString(), HasSubstr("pipeline.yaml:6:"));
  const HttpResponse not_yaml = Call("POST", "/v1/runs", "version: [1\n");
  EXPECT_EQ(not_yaml.status, 400);
  EXPECT_THAT(nlohmann::json::parse(not_yaml.body)["error"].get<std::string>(), HasSubstr("pipeline.yaml:"));
}

TEST_F(ServeJobs, NoPathLeadsOutOfTheBaseFolderOrAJobsFolder) {
  std::string outside = kFastPipeline;
  outside.replace(outside.find("data/credit_data.csv"), 20, "../../../etc/passwd");
  const HttpResponse escaped = Call("POST", "/v1/runs", outside);
  EXPECT_EQ(escaped.status, 400);
  EXPECT_THAT(escaped.body, HasSubstr("outside the server's base folder"));
  const HttpResponse plugins = Call("POST", "/v1/runs", kFastPipeline + "plugins: [/tmp]\n");
  EXPECT_EQ(plugins.status, 400);
  EXPECT_THAT(plugins.body, HasSubstr("cannot load plugins"));
  const std::string id = Submit(kFastPipeline);
  WaitFor(id, "succeeded");
  EXPECT_EQ(Call("GET", "/v1/runs/" + id + "/steps/..").status, 404);
  EXPECT_EQ(Call("GET", "/v1/runs/" + id + "/steps/run").status, 404);  // run.json is not a step
  EXPECT_EQ(Call("GET", "/v1/runs/" + id + "/steps/..%2Fjob").status, 404);
  EXPECT_EQ(Call("GET", "/v1/runs/../" + id).status, 404);
  EXPECT_EQ(Call("GET", "/v1/runs/0123456789abcdeg").status, 404);
}

TEST_F(ServeJobs, DeleteCancelsARunningJob) {
  const std::string id = Submit(kSlowPipeline);
  WaitFor(id, "running");
  const HttpResponse cancel = Call("DELETE", "/v1/runs/" + id);
  EXPECT_EQ(cancel.status, 202);
  const nlohmann::json job = WaitFor(id, "cancelled", std::chrono::seconds(30));
  ASSERT_EQ(job["steps"].size(), 1u);
  EXPECT_EQ(job["steps"][0]["failure"], "cancelled");
}

TEST_F(ServeJobs, ARestartKeepsFinishedJobsAndMarksInterruptedOnes) {
  const std::string finished = Submit(kFastPipeline);
  WaitFor(finished, "succeeded");
  const std::string running = Submit(kSlowPipeline);
  WaitFor(running, "running");
  const std::string queued = Submit(kSlowPipeline);  // max_running 1: waits behind the running one
  service_.reset();                                  // a shutdown: the running job is cancelled
  // A job a crashed server left "running" in its job.json.
  const std::string crashed = "00000000deadbeef";
  fs::create_directories(dir_ / crashed / "out");
  std::ofstream(dir_ / crashed / "job.json")
      << R"({"id": "00000000deadbeef", "status": "running", "step_ids": ["tree"]})";
  Start();
  EXPECT_EQ(WaitFor(finished, "succeeded")["steps"][0]["status"], "ok");
  EXPECT_EQ(Call("GET", "/v1/runs/" + finished + "/steps/tree").status, 200);
  EXPECT_EQ(WaitFor(running, "interrupted", std::chrono::seconds(1))["status"], "interrupted");
  EXPECT_EQ(WaitFor(queued, "interrupted", std::chrono::seconds(1))["status"], "interrupted");
  EXPECT_EQ(WaitFor(crashed, "interrupted", std::chrono::seconds(1))["message"],
            "the server stopped before the job finished.");
}

TEST(ServeJobsOff, RunsAre404WithoutAJobsFolder) {
  const std::string config = "version: 1\nmodels:\n  - {name: credit, path: '" + kBase +
                             "/models/credit_xgb.json', data: '" + kBase +
                             "/data/credit_data.csv', target: Status, explainer: shap.tree}\n";
  ServeConfigOutcome parsed = ParseServeConfig(config, "serve.yaml", kJobsSource);
  ASSERT_TRUE(parsed.config);
  std::vector<Diagnostic> diagnostics;
  auto service = Service::Create(std::move(*parsed.config), JobsPlugins(), diagnostics);
  if (service == nullptr) GTEST_SKIP() << "the shap plugin is not built";
  const HttpResponse response = service->Handle(HttpRequest{"POST", "/v1/runs", kFastPipeline, ""});
  EXPECT_EQ(response.status, 404);
  EXPECT_THAT(response.body, HasSubstr("no jobs.dir"));
}

}  // namespace
}  // namespace loupe::serve
