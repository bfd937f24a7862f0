// `loupe serve --config serve.yaml` (docs/serve.md): the models of serve.yaml behind KServe v1 and Open
// Inference Protocol v2 endpoints until SIGTERM or SIGINT, which shut the server down gracefully.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "cli/cli.hpp"
#include "serve/http_server.hpp"
#include "serve/service.hpp"

namespace loupe::cli {
namespace {

// Loads serve.yaml, its plugins and its models; prints every problem and returns the exit code when it
// must stop.
std::unique_ptr<serve::Service> PrepareService(const po::variables_map& vm, int& exit_code) {
  serve::ServeConfigOutcome loaded = serve::LoadServeConfig(vm["config"].as<std::string>());
  for (const Diagnostic& d : loaded.diagnostics) std::cerr << d.ToString() << "\n";
  exit_code = kExitBadInput;
  if (!loaded.config) return nullptr;
  serve::ServeConfig config = std::move(*loaded.config);
  if (vm.count("port")) config.port = static_cast<std::uint16_t>(vm["port"].as<int>());
  std::vector<Status> failures;
  LoadedPlugins plugins = LoadPlugins(PluginPaths(vm), config.plugins, &failures);
  for (const Status& failure : failures) std::cerr << "loupe: " << failure.message() << "\n";
  exit_code = kExitPlugin;
  if (!failures.empty()) return nullptr;
  auto registry = std::make_shared<const PluginRegistry>(std::move(plugins.registry));
  std::vector<Diagnostic> diagnostics;
  std::unique_ptr<serve::Service> service = serve::Service::Create(std::move(config), registry, diagnostics);
  for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
  exit_code = kExitBadInput;
  return service;
}

int Serve(const po::variables_map& vm) {
  if (vm.count("port") && (vm["port"].as<int>() < 0 || vm["port"].as<int>() > 65535))
    return Fail(kExitBadInput, "--port must be from 0 to 65535.");
  // SIGTERM and SIGINT are taken by sigwait below: blocked now, before any thread starts, so that every
  // thread inherits the mask and none of them is interrupted by one.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  int exit_code = kExitOk;
  std::unique_ptr<serve::Service> service = PrepareService(vm, exit_code);
  if (service == nullptr) return exit_code;
  const serve::ServeConfig& config = service->config();
  if (vm["check"].as<bool>()) {
    std::printf("%s: valid (%zu models)\n", vm["config"].as<std::string>().c_str(), config.models.size());
    return kExitOk;
  }
  Result<std::unique_ptr<serve::HttpServer>> server = serve::HttpServer::Start(*service);
  if (!server.ok()) return FailWith(server.status());
  std::fprintf(stderr, "loupe serve: listening on http://%s:%u (%zu models, %s)\n", config.address.c_str(),
               static_cast<unsigned>((*server)->port()), config.models.size(),
               config.tokens.empty() ? "no authentication" : "bearer tokens");
  int received = 0;
  sigwait(&signals, &received);
  std::fprintf(stderr, "loupe serve: %s, shutting down (grace %lld ms)\n",
               received == SIGTERM ? "SIGTERM" : "SIGINT", static_cast<long long>(config.shutdown_grace_ms));
  (*server)->Shutdown(std::chrono::milliseconds(config.shutdown_grace_ms));
  std::fprintf(stderr, "loupe serve: stopped\n");
  return kExitOk;
}

po::value_semantic* Port() { return po::value<int>(); }

}  // namespace

Command ServeCommand() {
  return {
      "serve",
      "serves models over HTTP: KServe v1 predict/explain and Open Inference Protocol v2",
      "loupe serve --config serve.yaml [options]",
      "Answers GET /v1/models, POST /v1/models/NAME:predict and :explain, the v2 health, metadata and infer "
      "endpoints, and /metrics (docs/serve.md). SIGTERM or SIGINT stop it gracefully.",
      {{"config,c", "serve.yaml", "the server's configuration", Text, false, true},
       {"port,p", "PORT", "listen on this port instead of serve.yaml's (0: any free port)", Port},
       {"check", "", "load and check the configuration, its plugins and its models, then exit"},
       {"plugin-path", "DIR", "also load the plugins of DIR (repeatable)", TextList}},
      {"loupe serve --config examples/serving/serve_credit.yaml",
       "curl -s localhost:8080/v1/models/credit-xgb:explain -d '{\"instances\": [[9, \"rent\", 60, 30, "
       "\"married\", \"no\", \"freelance\", 73, 129, 0, 0, 800, 846]]}'"},
      Serve};
}

}  // namespace loupe::cli
