// `loupe serve` (docs/serve.md): the KServe v1 and Open Inference Protocol v2 answers of the Service
// (no sockets), their values against the same work done in-process, then the HTTP server on loopback:
// keep-alive, 413, 429, deadlines, a client that disconnects mid-explanation, graceful shutdown, and
// SIGTERM to the real binary. Every wait is bounded.
#include <signal.h>
#include <sys/wait.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <regex>
#include <thread>

#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"
#include "pipeline/validate.hpp"
#include "serve/http_server.hpp"
#include "serve/service.hpp"
#include "serve_http_client.hpp"

namespace loupe::serve {
namespace {

using testing::Connection;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

const std::string kSource = LOUPE_SOURCE_DIR;
const std::string kCreditCsv = kSource + "/examples/credit_scoring/data/credit_data.csv";
const std::string kCreditXgb = kSource + "/examples/credit_scoring/models/credit_xgb.json";
const std::string kCreditLogreg = kSource + "/examples/credit_scoring/models/credit_logreg.yaml";

std::shared_ptr<const PluginRegistry> Plugins() {
  static const std::shared_ptr<const PluginRegistry> registry = [] {
    auto loaded = std::make_shared<PluginRegistry>();
    loaded->LoadDirectory(LOUPE_PLUGIN_DIR);
    loaded->LoadDirectory(LOUPE_PIPETEST_DIR);
    return loaded;
  }();
  return registry;
}

std::string ModelYaml(const std::string& name, const std::string& path, const std::string& explainer,
                      const std::string& params) {
  return "  - {name: " + name + ", path: '" + path + "', data: '" + kCreditCsv +
         "', target: Status, positive: bad, categorical: [Home, Marital, Records, Job], explainer: " +
         explainer + ", params: " + params + "}\n";
}

// The credit models: TreeSHAP on XGBoost, Kernel SHAP on the logistic regression, a slow Kernel SHAP
// (cancellable: it checks between rows) and a sleeping fixture explainer (uncancellable, for the queue).
std::string ConfigYaml(const std::string& extra = "") {
  return "version: 1\nlisten: {port: 0}\naccess_log: false\n" + extra + "models:\n" +
         ModelYaml("credit", kCreditXgb, "shap.tree", "{output: raw}") +
         ModelYaml("logreg", kCreditLogreg, "shap.kernel", "{nsamples: 256, background: '0:50'}") +
         ModelYaml("slow", kCreditLogreg, "shap.kernel", "{nsamples: 200000, background: '0:200'}") +
         ModelYaml("sleepy", kCreditXgb, "pipetest.noise", "{sleep_ms: 1500}");
}

std::unique_ptr<Service> MakeService(const std::string& extra = "") {
  ServeConfigOutcome parsed = ParseServeConfig(ConfigYaml(extra), "serve.yaml", kSource);
  EXPECT_TRUE(parsed.config) << (parsed.diagnostics.empty() ? "" : parsed.diagnostics[0].ToString());
  std::vector<Diagnostic> diagnostics;
  std::unique_ptr<Service> service = Service::Create(std::move(*parsed.config), Plugins(), diagnostics);
  EXPECT_TRUE(diagnostics.empty()) << diagnostics[0].ToString();
  return service;
}

Service& SharedService() {
  static std::unique_ptr<Service> service = MakeService();
  return *service;
}

HttpResponse Call(const Service& service, const std::string& method, const std::string& target,
                  const std::string& body = "", const std::string& authorization = "") {
  return service.Handle(HttpRequest{method, target, body, authorization});
}

nlohmann::json Json(const HttpResponse& response) { return nlohmann::json::parse(response.body); }

// The first `n` rows of the credit CSV as v1 instances, lists in feature order (the target dropped).
nlohmann::json CreditInstances(int n, bool as_objects = false) {
  std::ifstream in(kCreditCsv);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  for (const auto& cell : nlohmann::json::parse("[" + line + "]")) header.push_back(cell.get<std::string>());
  nlohmann::json instances = nlohmann::json::array();
  for (int row = 0; row < n && std::getline(in, line); ++row) {
    const nlohmann::json cells = nlohmann::json::parse("[" + line + "]");
    nlohmann::json list = nlohmann::json::array(), object = nlohmann::json::object();
    for (std::size_t c = 1; c < header.size(); ++c) {
      list.push_back(cells[c]);
      object[header[c]] = cells[c];
    }
    instances.push_back(as_objects ? object : list);
  }
  return instances;
}

std::string InstancesBody(int n, bool as_objects = false) {
  return nlohmann::json{{"instances", CreditInstances(n, as_objects)}}.dump();
}

// The explanation a pipeline step would make of the first `n` rows of the credit data, in-process.
Explanation InProcessExplanation(const std::string& model_path, const std::string& explainer,
                                 const nlohmann::json& params, int n) {
  CsvOptions options;
  options.categorical = {"Home", "Marital", "Records", "Job"};
  options.target = "Status";
  const Dataset dataset = ReadCsv(kCreditCsv, options).value();
  const std::shared_ptr<const Model> model = LoadModel(model_path).value();
  std::vector<std::string> features;
  for (const ModelInput& input : model->Info().inputs) features.push_back(input.name);
  const LoadedExplainer* loaded = Plugins()->Find(explainer);
  StepSpec step;
  step.id = "x";
  step.explainer = explainer;
  step.params = params;
  EXPECT_TRUE(ValidateStepParams(step, loaded->descriptor()).empty());
  ExplainRequest request;
  request.step_id = "x";
  request.dataset = &dataset;
  request.feature_names = features;
  request.model = FeatureModel::Create(model, dataset, features).value();
  request.features = std::make_shared<const Tensor>(dataset.Matrix(features).value());
  for (int row = 0; row < n; ++row) request.rows.push_back(row);
  request.params = step.params;
  request.positive_label = "bad";
  return loaded->Explain(request).value();
}

void ExpectValuesNear(const nlohmann::json& served, const Explanation& expected, double tolerance) {
  const Tensor* values = expected.TypedArray("values");
  ASSERT_NE(values, nullptr);
  std::vector<double> flat;
  for (const auto& row : served["values"])
    for (const auto& output : row)
      for (const auto& value : output) flat.push_back(value.get<double>());
  ASSERT_EQ(static_cast<std::int64_t>(flat.size()), values->size());
  for (std::size_t i = 0; i < flat.size(); ++i)
    EXPECT_NEAR(flat[i], values->data<double>()[i], tolerance) << i;
}

// --- the Service, without sockets ---------------------------------------------------------------

TEST(ServeService, ListsItsModelsAndDescribesEachInBothProtocols) {
  const Service& service = SharedService();
  EXPECT_EQ(Json(Call(service, "GET", "/v1/models")),
            (nlohmann::json{{"models", {"credit", "logreg", "sleepy", "slow"}}}));
  const nlohmann::json v1 = Json(Call(service, "GET", "/v1/models/credit"));
  EXPECT_EQ(v1["name"], "credit");
  EXPECT_EQ(v1["ready"], true);
  EXPECT_EQ(v1["features"].size(), 13u);
  const nlohmann::json v2 = Json(Call(service, "GET", "/v2/models/credit"));
  EXPECT_EQ(v2["name"], "credit");
  EXPECT_EQ(v2["inputs"][0], (nlohmann::json{{"name", "Seniority"}, {"datatype", "FP64"}, {"shape", {-1}}}));
  EXPECT_EQ(v2["inputs"][1]["datatype"], "BYTES");  // Home, a categorical
  EXPECT_EQ(v2["outputs"][0]["shape"], (nlohmann::json{-1, 2}));
  EXPECT_EQ(Json(Call(service, "GET", "/v2/models/credit/ready")),
            (nlohmann::json{{"name", "credit"}, {"ready", true}}));
  EXPECT_EQ(Call(service, "GET", "/v2/health/live").status, 200);
  EXPECT_EQ(Call(service, "GET", "/v2/health/ready").status, 200);
}

TEST(ServeService, V1PredictEqualsTheModelInProcess) {
  const HttpResponse response = Call(SharedService(), "POST", "/v1/models/credit:predict", InstancesBody(5));
  ASSERT_EQ(response.status, 200) << response.body;
  const nlohmann::json predictions = Json(response)["predictions"];
  ASSERT_EQ(predictions.size(), 5u);
  CsvOptions options;
  options.categorical = {"Home", "Marital", "Records", "Job"};
  options.target = "Status";
  const Dataset dataset = ReadCsv(kCreditCsv, options).value();
  const std::shared_ptr<const Model> model = LoadModel(kCreditXgb).value();
  std::vector<std::string> features;
  for (const ModelInput& input : model->Info().inputs) features.push_back(input.name);
  const auto feature_model = FeatureModel::Create(model, dataset, features).value();
  const Tensor matrix = dataset.Matrix(features).value();
  const Tensor expected = feature_model->Predict(matrix.view().Rows(0, 5), OutputSpace::kProbability).value();
  for (int row = 0; row < 5; ++row) {
    for (int output = 0; output < 2; ++output)
      EXPECT_EQ(predictions[row][output].get<double>(), expected.data<double>()[row * 2 + output]);
  }
}

TEST(ServeService, InstancesAsObjectsByColumnNameEqualInstancesAsLists) {
  const HttpResponse lists = Call(SharedService(), "POST", "/v1/models/credit:predict", InstancesBody(3));
  const HttpResponse objects =
      Call(SharedService(), "POST", "/v1/models/credit:predict", InstancesBody(3, true));
  ASSERT_EQ(objects.status, 200) << objects.body;
  EXPECT_EQ(lists.body, objects.body);
}

TEST(ServeService, V1ExplainIsTheTreeShapExplanationOfThePipeline) {
  const HttpResponse response = Call(SharedService(), "POST", "/v1/models/credit:explain", InstancesBody(3));
  ASSERT_EQ(response.status, 200) << response.body;
  const nlohmann::json served = Json(response);
  EXPECT_EQ(served["schema"], "loupe.explanation/v1");
  EXPECT_EQ(served["kind"], "feature_attribution");
  EXPECT_EQ(served["rows"], (nlohmann::json{0, 1, 2}));
  EXPECT_EQ(served["data"][0][1], "rent");
  ExpectValuesNear(served, InProcessExplanation(kCreditXgb, "shap.tree", {{"output", "raw"}}, 3), 1e-9);
}

TEST(ServeService, V1ExplainWithABackgroundEqualsThePipelineOnTheSameRows) {
  const HttpResponse response = Call(SharedService(), "POST", "/v1/models/logreg:explain", InstancesBody(2));
  ASSERT_EQ(response.status, 200) << response.body;
  ExpectValuesNear(
      Json(response),
      InProcessExplanation(kCreditLogreg, "shap.kernel", {{"nsamples", 256}, {"background", "0:50"}}, 2),
      1e-9);
}

TEST(ServeService, V2InferWithOneTensorPerFeatureEqualsV1Predict) {
  const nlohmann::json instances = CreditInstances(2);
  const nlohmann::json metadata = Json(Call(SharedService(), "GET", "/v2/models/credit"));
  nlohmann::json inputs = nlohmann::json::array();
  for (std::size_t f = 0; f < metadata["inputs"].size(); ++f) {
    const nlohmann::json& input = metadata["inputs"][f];
    const bool bytes = input["datatype"] == "BYTES";
    nlohmann::json data = {instances[0][f], instances[1][f]};
    inputs.push_back(
        {{"name", input["name"]}, {"shape", {2}}, {"datatype", bytes ? "BYTES" : "INT64"}, {"data", data}});
  }
  const HttpResponse response = Call(SharedService(), "POST", "/v2/models/credit/infer",
                                     nlohmann::json{{"id", "r1"}, {"inputs", inputs}}.dump());
  ASSERT_EQ(response.status, 200) << response.body;
  const nlohmann::json v2 = Json(response);
  EXPECT_EQ(v2["id"], "r1");
  EXPECT_EQ(v2["model_name"], "credit");
  EXPECT_EQ(v2["outputs"][0]["datatype"], "FP64");
  EXPECT_EQ(v2["outputs"][0]["shape"], (nlohmann::json{2, 2}));
  const nlohmann::json v1 =
      Json(Call(SharedService(), "POST", "/v1/models/credit:predict", InstancesBody(2)));
  EXPECT_EQ(v2["outputs"][0]["data"], (nlohmann::json{v1["predictions"][0][0], v1["predictions"][0][1],
                                                      v1["predictions"][1][0], v1["predictions"][1][1]}));
}

TEST(ServeService, V2InferWithOneTensorOfRowsInFeatureOrderEqualsV1Predict) {
  nlohmann::json data = nlohmann::json::array();  // BYTES: numbers as text, categoricals as their levels
  for (const auto& row : CreditInstances(2))
    for (const auto& cell : row) data.push_back(cell.is_string() ? cell.get<std::string>() : cell.dump());
  const nlohmann::json request = {
      {"inputs", {{{"name", "input-0"}, {"shape", {2, 13}}, {"datatype", "BYTES"}, {"data", data}}}}};
  const HttpResponse response = Call(SharedService(), "POST", "/v2/models/credit/infer", request.dump());
  ASSERT_EQ(response.status, 200) << response.body;
  const nlohmann::json v1 =
      Json(Call(SharedService(), "POST", "/v1/models/credit:predict", InstancesBody(2)));
  EXPECT_EQ(Json(response)["outputs"][0]["data"],
            (nlohmann::json{v1["predictions"][0][0], v1["predictions"][0][1], v1["predictions"][1][0],
                            v1["predictions"][1][1]}));
}

TEST(ServeService, BadRequestsAreOneSentenceEach) {
  const Service& service = SharedService();
  const auto error = [&](const std::string& method, const std::string& target, const std::string& body) {
    const HttpResponse response = Call(service, method, target, body);
    return std::to_string(response.status) + " " + Json(response)["error"].get<std::string>();
  };
  EXPECT_EQ(error("POST", "/v1/models/credit:predict", "{\"instances\": [1,"),
            "400 the request body is not valid JSON.");
  EXPECT_EQ(error("POST", "/v1/models/credit:predict", "{\"rows\": []}"),
            "400 the request body must have 'instances'.");
  EXPECT_THAT(error("POST", "/v1/models/credit:predict", "{\"instances\": [[1, 2, 3]]}"),
              HasSubstr("400 instances[0] has 3 values, expected 13 (Seniority, Home,"));
  nlohmann::json castle = CreditInstances(1);
  castle[0][1] = "castle";
  EXPECT_THAT(error("POST", "/v1/models/credit:explain", nlohmann::json{{"instances", castle}}.dump()),
              HasSubstr("400 instances[0]: feature 'Home' has no level \"castle\"; expected one of:"));
  nlohmann::json word = CreditInstances(1);
  word[0][0] = "nine";
  EXPECT_EQ(error("POST", "/v1/models/credit:predict", nlohmann::json{{"instances", word}}.dump()),
            "400 instances[0]: feature 'Seniority' must be a number or null, found \"nine\".");
  EXPECT_EQ(error("POST", "/v1/models/nope:predict", InstancesBody(1)), "404 no model is called 'nope'.");
  EXPECT_EQ(error("GET", "/v1/models/..%2F..%2Fetc", ""), "404 no route for '/v1/models/..%2F..%2Fetc'.");
  EXPECT_EQ(error("GET", "/v1/models/credit:predict", ""),
            "405 /v1/models/{name}:predict answers POST, not GET.");
  EXPECT_EQ(error("POST", "/v2/models/credit/infer",
                  R"({"inputs": [{"name": "Age", "shape": [2], "datatype": "INT32", "data": [1, 2]}]})"),
            "400 input 'Age' has datatype 'INT32'; expected FP32, FP64, INT64 or BYTES.");
  EXPECT_EQ(error("POST", "/v2/models/credit/infer",
                  R"({"inputs": [{"name": "Age", "shape": [3], "datatype": "FP64", "data": [1, 2]}]})"),
            "400 input 'Age' has shape [3] but 2 values.");
  EXPECT_EQ(error("POST", "/v2/models/credit/infer",
                  R"({"inputs": [{"name": "Age", "shape": [1], "datatype": "FP64", "data": [30]}]})"),
            "400 the inputs lack feature 'Seniority'.");
}

TEST(ServeService, LimitsOnRowsAndBodySize) {
  const std::unique_ptr<Service> service = MakeService("limits: {max_rows: 2, max_body_bytes: 2000}\n");
  EXPECT_EQ(Json(Call(*service, "POST", "/v1/models/credit:predict", InstancesBody(3)))["error"],
            "the request has 3 instances, more than this server's limit of 2.");
  const HttpResponse large = Call(*service, "POST", "/v1/models/credit:predict", std::string(2001, ' '));
  EXPECT_EQ(large.status, 413);
}

TEST(ServeService, BearerTokensAre401WhenMissingAnd403WhenWrong) {
  ::setenv("LOUPE_SERVE_E2E_TOKENS", "s3cret,other", 1);
  const std::unique_ptr<Service> service = MakeService("auth: {tokens_env: LOUPE_SERVE_E2E_TOKENS}\n");
  const HttpResponse missing = Call(*service, "GET", "/v1/models");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.headers, (decltype(missing.headers){{"WWW-Authenticate", "Bearer"}}));
  EXPECT_EQ(Call(*service, "GET", "/v1/models", "", "Basic czNjcmV0").status, 401);
  EXPECT_EQ(Call(*service, "GET", "/v1/models", "", "Bearer s3cre").status, 403);
  EXPECT_EQ(Call(*service, "GET", "/v1/models", "", "Bearer s3cret!").status, 403);
  EXPECT_EQ(Call(*service, "GET", "/metrics", "", "Bearer nope").status, 403);
  EXPECT_EQ(Call(*service, "GET", "/v1/models", "", "Bearer s3cret").status, 200);
  EXPECT_EQ(Call(*service, "GET", "/v1/models", "", "Bearer other").status, 200);
  EXPECT_EQ(Call(*service, "GET", "/v2/health/ready").status, 200);  // probes carry no token
  ::unsetenv("LOUPE_SERVE_E2E_TOKENS");
}

TEST(ServeService, ConfigurationErrorsNameTheModelsKeys) {
  ServeConfigOutcome parsed =
      ParseServeConfig("version: 1\nmodels:\n" + ModelYaml("a", kCreditXgb, "shap.tre", "{}") +
                           ModelYaml("b", kCreditLogreg, "shap.tree", "{}") +
                           ModelYaml("c", kCreditXgb, "shap.kernel", "{nsample: 3}"),
                       "serve.yaml", kSource);
  ASSERT_TRUE(parsed.config);
  std::vector<Diagnostic> diagnostics;
  EXPECT_EQ(Service::Create(std::move(*parsed.config), Plugins(), diagnostics), nullptr);
  std::vector<std::string> messages;
  for (const Diagnostic& d : diagnostics) messages.push_back(d.ToString());
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_THAT(messages[0], HasSubstr("serve.yaml:3:"));
  EXPECT_THAT(messages[0], HasSubstr("explainer 'shap.tre' is not loaded; did you mean 'shap.tree'?"));
  EXPECT_THAT(messages[1], HasSubstr("needs the model capability 'tree_ensemble'"));
  EXPECT_THAT(messages[2], HasSubstr("serve.yaml:5:"));
  EXPECT_THAT(messages[2], HasSubstr("nsample"));
}

// --- over HTTP on loopback -------------------------------------------------------------------------

class ServeHttp : public ::testing::Test {
 protected:
  void Start(const std::string& extra) {
    service_ = MakeService(extra);
    server_ = HttpServer::Start(*service_).value();
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(0));
  }
  std::uint16_t port() const { return server_->port(); }
  // Polls /metrics (bounded) until `line` appears in it.
  bool MetricsShow(const std::string& line, std::chrono::seconds within = std::chrono::seconds(20)) {
    const auto until = Clock::now() + within;
    while (Clock::now() < until) {
      if (Call(*service_, "GET", "/metrics").body.find(line) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::unique_ptr<Service> service_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(ServeHttp, AnswersSeveralRequestsOnOneKeptAliveConnection) {
  Start("");
  Connection connection(port());
  const auto live = connection.Request("GET", "/v2/health/live");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  EXPECT_EQ(live->body, R"({"live":true})");
  const auto predicted = connection.Request("POST", "/v1/models/credit:predict", InstancesBody(1));
  ASSERT_TRUE(predicted);
  EXPECT_EQ(predicted->status, 200);
  EXPECT_EQ(predicted->body, Call(*service_, "POST", "/v1/models/credit:predict", InstancesBody(1)).body);
  const auto explained = connection.Request("POST", "/v1/models/credit:explain", InstancesBody(2));
  ASSERT_TRUE(explained);
  EXPECT_EQ(explained->status, 200);
  EXPECT_EQ(nlohmann::json::parse(explained->body)["rows"], (nlohmann::json{0, 1}));
  const auto metrics = connection.Request("GET", "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body,
              HasSubstr("loupe_http_requests_total{route=\"/v1/models/{name}:predict\",code=\"200\"} 1"));
  EXPECT_THAT(metrics->body,
              HasSubstr("loupe_http_request_duration_seconds_count{route=\"/v1/models/{name}:explain\"} 1"));
  std::smatch evaluations;  // the prediction's row and at least the explanation's two
  ASSERT_TRUE(
      std::regex_search(metrics->body, evaluations,
                        std::regex("loupe_model_evaluations_total\\{model=\"credit\"\\} ([0-9]+)\n")));
  EXPECT_GE(std::stoi(evaluations[1]), 3);
  EXPECT_THAT(metrics->body, HasSubstr("loupe_explanations_queued 0"));
}

TEST_F(ServeHttp, AnOversizedBodyIs413AndClosesTheConnection) {
  Start("limits: {max_body_bytes: 1024}\n");
  Connection connection(port());
  const auto response = connection.Request("POST", "/v1/models/credit:predict", std::string(5000, ' '));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->headers.at("connection"), "close");
  Connection next(port());  // the server goes on
  EXPECT_EQ(next.Request("GET", "/v2/health/live")->status, 200);
}

TEST_F(ServeHttp, AFullQueueIs429WithRetryAfter) {
  Start("limits: {max_concurrent_explanations: 1, queue_length: 0, retry_after_s: 3}\n");
  Connection first(port());
  ASSERT_TRUE(first.Send(testing::RawRequest("POST", "/v1/models/sleepy:explain", InstancesBody(1))));
  ASSERT_TRUE(MetricsShow("loupe_explanations_running 1"));
  Connection second(port());
  const auto refused = second.Request("POST", "/v1/models/sleepy:explain", InstancesBody(1));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  EXPECT_EQ(refused->headers.at("retry-after"), "3");
  EXPECT_EQ(second.Request("POST", "/v1/models/credit:predict", InstancesBody(1))->status,
            200);  // predictions go on
  const auto answered = first.Receive();
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->status, 200);
}

TEST_F(ServeHttp, AnExplanationPastItsDeadlineIsCancelledWith504) {
  Start("limits: {deadline_ms: 300}\n");
  Connection connection(port());
  const auto started = Clock::now();
  const auto response = connection.Request("POST", "/v1/models/slow:explain", InstancesBody(20));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 504);
  EXPECT_THAT(response->body, HasSubstr("ran past the request deadline of 300 ms and was cancelled"));
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(20));
  EXPECT_EQ(connection.Request("GET", "/v2/health/live")->status, 200);
}

TEST_F(ServeHttp, AClientThatDisconnectsMidExplanationCancelsIt) {
  Start("");
  {
    Connection leaving(port());
    ASSERT_TRUE(leaving.Send(testing::RawRequest("POST", "/v1/models/slow:explain", InstancesBody(20))));
    ASSERT_TRUE(MetricsShow("loupe_explanations_running 1"));
  }  // closes the socket
  EXPECT_TRUE(MetricsShow("loupe_http_requests_total{route=\"/v1/models/{name}:explain\",code=\"499\"} 1"));
  EXPECT_TRUE(MetricsShow("loupe_explanations_running 0"));
  Connection next(port());
  EXPECT_EQ(next.Request("POST", "/v1/models/credit:explain", InstancesBody(1))->status, 200);
}

TEST_F(ServeHttp, ShutdownCancelsWhatOutlivesTheGracePeriodAndStopsAccepting) {
  Start("");
  Connection running(port());
  ASSERT_TRUE(running.Send(testing::RawRequest("POST", "/v1/models/slow:explain", InstancesBody(20))));
  ASSERT_TRUE(MetricsShow("loupe_explanations_running 1"));
  const auto started = Clock::now();
  server_->Shutdown(std::chrono::milliseconds(200));
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(20));
  const auto answered = running.Receive();
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->status, 503);
  EXPECT_EQ(answered->headers.at("connection"), "close");
  EXPECT_THROW(Connection refused(port()), std::runtime_error);
}

int RunLoupe(const std::string& arguments, std::string* output) {
  const std::string command = std::string(LOUPE_EXE) + " " + arguments + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output->append(buffer, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ServeBinary, CheckLoadsTheConfigurationAndItsModelsThenExits) {
  std::string output;
  EXPECT_EQ(RunLoupe("serve --check --config " + kSource + "/examples/serving/serve_credit.yaml", &output), 0)
      << output;
  EXPECT_THAT(output, HasSubstr("serve_credit.yaml: valid (2 models)"));
  const std::string bad = ::testing::TempDir() + "/serve_bad.yaml";
  std::ofstream(bad) << "version: 1\nmodels:\n"
                     << ModelYaml("credit", kCreditXgb, "shap.tree", "{outptu: raw}");
  output.clear();
  EXPECT_EQ(RunLoupe("serve --check --config " + bad, &output), 2);
  EXPECT_THAT(output, HasSubstr(bad + ":3:"));
  EXPECT_THAT(output, HasSubstr("outptu"));
}

// The real binary: SIGTERM while an explanation runs lets it finish within the grace period, answers it,
// and exits 0.
TEST(ServeBinary, SigtermFinishesTheRunningExplanationAndExits0) {
  const std::string dir = ::testing::TempDir() + "/serve_sigterm";
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir + "/serve.yaml")
        << ConfigYaml("shutdown_grace_ms: 10000\nplugins: ['" LOUPE_PIPETEST_DIR "']\n");
  }
  int err_pipe[2];
  ASSERT_EQ(::pipe(err_pipe), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::close(err_pipe[0]);
    ::execl(LOUPE_EXE, LOUPE_EXE, "serve", "--config", (dir + "/serve.yaml").c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(err_pipe[1]);
  std::string stderr_text;
  std::smatch port_match;
  const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
  char buffer[4096];
  while (!std::regex_search(stderr_text, port_match, listening)) {
    const ssize_t n = ::read(err_pipe[0], buffer, sizeof buffer);
    ASSERT_GT(n, 0) << stderr_text;
    stderr_text.append(buffer, static_cast<std::size_t>(n));
  }
  const auto port = static_cast<std::uint16_t>(std::stoi(port_match[1]));
  Connection connection(port);
  ASSERT_TRUE(connection.Send(testing::RawRequest("POST", "/v1/models/sleepy:explain", InstancesBody(1))));
  std::this_thread::sleep_for(
      std::chrono::milliseconds(300));  // the explanation is running (it sleeps 1.5 s)
  ::kill(child, SIGTERM);
  const auto answered = connection.Receive();
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->status, 200);
  int status = 0;
  const auto until = Clock::now() + std::chrono::seconds(30);
  while (::waitpid(child, &status, WNOHANG) == 0 && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(WIFEXITED(status)) << "loupe serve did not exit within 30 s of SIGTERM";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  while (true) {
    const ssize_t n = ::read(err_pipe[0], buffer, sizeof buffer);
    if (n <= 0) break;
    stderr_text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(err_pipe[0]);
  EXPECT_THAT(stderr_text, HasSubstr("loupe serve: SIGTERM, shutting down"));
  EXPECT_THAT(stderr_text, HasSubstr("loupe serve: stopped"));
}

}  // namespace
}  // namespace loupe::serve
