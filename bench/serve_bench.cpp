// The overhead of `loupe serve` per request (docs/serve.md "Load and overhead"): the same :predict and
// :explain (TreeSHAP on the XGBoost credit model, output raw), 1 and 100 rows per request, three ways in one
// run:
//   Model/...    the work alone: ServedModel::Predict / Explain on rows already encoded;
//   Handler/...  Service::Handle on the JSON body: parsing, encoding, the work, the JSON answer (no socket);
//   Http/...     the same request over HTTP/1.1 on loopback, one kept-alive connection (http::Client).
// Http minus Model is what the server adds per request; Handler minus Model is the JSON part of it.
#include <benchmark/benchmark.h>

#include <fstream>
#include <stdexcept>

#include "http/client.hpp"
#include "loupe/core/plugin.hpp"
#include "serve/http_server.hpp"
#include "serve/service.hpp"

namespace {

using namespace loupe;
using namespace loupe::serve;

const std::string kSource = LOUPE_SOURCE_DIR;

struct Fixture {
  std::unique_ptr<Service> service;
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<http::Client> client;
  std::shared_ptr<const PluginRegistry> registry;
};

Fixture& Shared() {
  static Fixture fixture = [] {
    Fixture f;
    auto registry = std::make_shared<PluginRegistry>();
    for (const auto& dir : PluginSearchPath({})) registry->LoadDirectory(dir);
    f.registry = registry;
    const std::string base = kSource + "/examples/credit_scoring";
    const std::string config =
        "version: 1\nlisten: {port: 0}\naccess_log: false\nthreads: 2\nlimits: {max_concurrent_explanations: "
        "1}\nmodels:\n  - {name: credit, path: '" +
        base + "/models/credit_xgb.json', data: '" + base +
        "/data/credit_data.csv', target: Status, positive: bad, categorical: [Home, Marital, Records, Job], "
        "explainer: shap.tree, params: {output: raw}}\n";
    ServeConfigOutcome parsed = ParseServeConfig(config, "serve.yaml", kSource);
    if (!parsed.config) throw std::runtime_error(parsed.diagnostics[0].ToString());
    std::vector<Diagnostic> diagnostics;
    f.service = Service::Create(std::move(*parsed.config), registry, diagnostics);
    if (!f.service) throw std::runtime_error(diagnostics[0].ToString());
    f.server = HttpServer::Start(*f.service).value();
    const http::Url url = http::Url::Parse("http://127.0.0.1:" + std::to_string(f.server->port())).value();
    http::ClientOptions options;
    options.connections = 1;
    f.client = http::Client::Create(url, options).value();
    return f;
  }();
  return fixture;
}

// The first `n` rows of the credit CSV as v1 instances (the target dropped).
std::string Body(int n) {
  std::ifstream in(kSource + "/examples/credit_scoring/data/credit_data.csv");
  std::string line;
  std::getline(in, line);
  nlohmann::json instances = nlohmann::json::array();
  for (int row = 0; row < n && std::getline(in, line); ++row) {
    for (std::size_t at = line.find("NA"); at != std::string::npos; at = line.find("NA", at + 1)) {
      if ((at == 0 || line[at - 1] == ',') && (at + 2 == line.size() || line[at + 2] == ','))
        line.replace(at, 2, "null");  // a missing cell
    }
    nlohmann::json cells = nlohmann::json::parse("[" + line + "]");
    cells.erase(cells.begin());
    instances.push_back(cells);
  }
  return nlohmann::json{{"instances", instances}}.dump();
}

// The same model as the service's, loaded on its own so the work can be timed without the service.
const ServedModel& Model() {
  static std::shared_ptr<const ServedModel> model = [] {
    ServedModelSpec spec;
    const std::string base = kSource + "/examples/credit_scoring";
    spec.name = "credit";
    spec.type = "auto";
    spec.path = base + "/models/credit_xgb.json";
    spec.data = base + "/data/credit_data.csv";
    spec.target = "Status";
    spec.positive = "bad";
    spec.categorical = {"Home", "Marital", "Records", "Job"};
    spec.explainer = "shap.tree";
    spec.params = {{"output", "raw"}};
    std::vector<Diagnostic> diagnostics;
    auto loaded = ServedModel::Load(spec, *Shared().registry, diagnostics);
    if (!loaded) throw std::runtime_error(diagnostics[0].ToString());
    return loaded;
  }();
  return *model;
}

void ModelPredict(benchmark::State& state) {
  const auto rows = Model().EncodeInstances(nlohmann::json::parse(Body(state.range(0)))["instances"]).value();
  for (auto _ : state) benchmark::DoNotOptimize(Model().Predict(rows).value());
}

void ModelExplain(benchmark::State& state) {
  const auto rows = Model().EncodeInstances(nlohmann::json::parse(Body(state.range(0)))["instances"]).value();
  for (auto _ : state) benchmark::DoNotOptimize(Model().Explain(rows, nullptr).value());
}

void HandlerCall(benchmark::State& state, const std::string& verb) {
  const HttpRequest request{"POST", "/v1/models/credit:" + verb, Body(state.range(0)), ""};
  for (auto _ : state) {
    const HttpResponse response = Shared().service->Handle(request);
    if (response.status != 200) state.SkipWithError(response.body.c_str());
  }
}

void HttpCall(benchmark::State& state, const std::string& verb) {
  const std::string body = Body(state.range(0));
  for (auto _ : state) {
    auto response = Shared().client->Send("POST", "/v1/models/credit:" + verb, body);
    if (!response.ok() || response->status != 200) state.SkipWithError("the request failed");
  }
}

void HandlerPredict(benchmark::State& state) { HandlerCall(state, "predict"); }
void HandlerExplain(benchmark::State& state) { HandlerCall(state, "explain"); }
void HttpPredict(benchmark::State& state) { HttpCall(state, "predict"); }
void HttpExplain(benchmark::State& state) { HttpCall(state, "explain"); }

BENCHMARK(ModelPredict)->Name("Model/predict")->Arg(1)->Arg(100)->Unit(benchmark::kMicrosecond);
BENCHMARK(HandlerPredict)->Name("Handler/predict")->Arg(1)->Arg(100)->Unit(benchmark::kMicrosecond);
BENCHMARK(HttpPredict)->Name("Http/predict")->Arg(1)->Arg(100)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(ModelExplain)->Name("Model/explain")->Arg(1)->Arg(100)->Unit(benchmark::kMicrosecond);
BENCHMARK(HandlerExplain)->Name("Handler/explain")->Arg(1)->Arg(100)->Unit(benchmark::kMicrosecond);
BENCHMARK(HttpExplain)->Name("Http/explain")->Arg(1)->Arg(100)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
