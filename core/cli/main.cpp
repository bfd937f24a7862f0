// The `loupe` command (docs/architecture.md §5 "CLI"): the command table and the pipeline commands, run
// and validate. Each other command lives in a file of its own (predict.cpp, init.cpp, inspect.cpp,
// schema.cpp); command_line.cpp turns a Command into its parser and its --help.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/cli.hpp"
#include "config/messages.hpp"
#include "loupe/core/pipeline.hpp"
#include "mpi/world.hpp"
#include "pipeline/checkpoint.hpp"
#include "pipeline/isolate.hpp"

namespace loupe::cli {
namespace {

std::vector<loupe::Override> ParseOverrides(const std::vector<std::string>& sets, std::string* error) {
  std::vector<loupe::Override> overrides;
  for (const std::string& set : sets) {
    const auto eq = set.find('=');
    if (eq == std::string::npos || eq == 0) {
      *error = "--set expects KEY.PATH=VALUE, found '" + set + "'.";
      return {};
    }
    overrides.push_back({set.substr(0, eq), set.substr(eq + 1)});
  }
  return overrides;
}

po::value_semantic* ChunkRows() { return po::value<std::int64_t>(); }

// Ctrl-C (SIGINT) or SIGTERM during `loupe run`: the first one cancels the run (RunOptions::cancelled:
// the running steps stop at their next check and no other step starts; finished steps and chunks keep
// their outputs and the record --resume continues from); a second one ends the process at once. A
// plain run only: under MPI, mpirun owns the ranks' signals.
class InterruptCancelsRun {
 public:
  InterruptCancelsRun() {
    struct sigaction action {};
    action.sa_handler = Handle;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~InterruptCancelsRun() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }
  InterruptCancelsRun(const InterruptCancelsRun&) = delete;
  InterruptCancelsRun& operator=(const InterruptCancelsRun&) = delete;

  const std::atomic<bool>* cancelled() const { return &cancelled_; }
  // The signal that cancelled the run, 0 when none did.
  int signal() const { return signal_.load(); }

 private:
  // Async-signal-safe: lock-free atomics and write(2) only.
  static void Handle(int received) {
    if (cancelled_.exchange(true)) {  // the second one: die of it, as without this handler
      ::signal(received, SIG_DFL);
      ::raise(received);  // delivered when this handler returns
      return;
    }
    signal_.store(received);
    static constexpr char kMessage[] =
        "\nloupe run: interrupted; stopping the running steps (finished work is kept: loupe run --resume "
        "continues it). Interrupt again to quit at once.\n";
    [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  }

  static inline std::atomic<bool> cancelled_{false};
  static inline std::atomic<int> signal_{0};
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

void PrintDiagnostics(const std::vector<loupe::Diagnostic>& diagnostics) {
  for (const loupe::Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
}

// Parses, loads the plugins the pipeline needs and validates it completely (loupe::ValidatePipeline: the
// same checks for validate and run). Returns an exit code when it must stop. `run`: the options of the
// run that follows, which receive the model and the data set the validation loaded, for the run to reuse
// (the CSV read once); null for `loupe validate`, which only scans the CSV.
std::optional<int> PreparePipeline(const std::string& file, const std::vector<loupe::Override>& overrides,
                                   const std::vector<fs::path>& plugin_paths, bool quiet,
                                   std::optional<loupe::PipelineSpec>& spec, LoadedPlugins& plugins,
                                   loupe::RunOptions* run = nullptr) {
  loupe::ParseOutcome parsed = loupe::ParsePipelineFile(file, overrides);
  if (!parsed.diagnostics.empty()) {
    PrintDiagnostics(parsed.diagnostics);
    return kExitBadInput;
  }
  spec = std::move(parsed.spec);
  std::vector<loupe::Status> pipeline_failures;
  plugins = LoadPlugins(plugin_paths, spec->plugins, &pipeline_failures);
  if (!pipeline_failures.empty()) {
    for (const auto& f : pipeline_failures) std::cerr << "loupe: " << f.message() << "\n";
    return kExitPlugin;
  }
  loupe::PipelineCheck check = loupe::ValidatePipeline(
      *spec, plugins.registry, {.read_data = run != nullptr, .isolate = run != nullptr && run->isolate});
  const std::vector<loupe::Diagnostic>& diagnostics = check.diagnostics;
  if (run != nullptr) {
    run->model = check.model;
    run->data = check.data;
  }
  if (!diagnostics.empty()) {
    PrintDiagnostics(diagnostics);
    bool missing_explainer = false;
    for (const auto& step : spec->steps)
      missing_explainer |= plugins.registry.Find(step.explainer) == nullptr;
    if (missing_explainer && !plugins.failures.empty()) {
      for (const auto& f : plugins.failures) std::cerr << "loupe: " << f.message() << "\n";
      return kExitPlugin;
    }
    return kExitBadInput;
  }
  if (!quiet) {
    for (const auto& f : plugins.failures) std::cerr << "loupe: warning: " << f.message() << "\n";
  }
  return std::nullopt;
}

std::string FormatMs(double ms) {
  char buffer[32];
  if (ms < 1000)
    std::snprintf(buffer, sizeof buffer, "%.0f ms", ms);
  else
    std::snprintf(buffer, sizeof buffer, "%.1f s", ms / 1000);
  return buffer;
}

// The step table after a run: step, status, time, its output files (or why it failed).
void PrintRunTable(const loupe::RunReport& report, bool wrote_html) {
  std::printf("%-20s %-8s %10s  %s\n", "step", "status", "time", "output");
  for (const loupe::StepOutcome& step : report.steps) {
    std::string output;
    for (const fs::path& file : step.files) output += (output.empty() ? "" : ", ") + file.filename().string();
    if (output.empty()) output = step.message.empty() ? "-" : step.message;
    if (step.failure != loupe::StepFailure::kNone)  // which kind of failure: parameters, model, plugin...
      output = std::string("[") + loupe::StepFailureName(step.failure) + "] " + output;
    std::printf("%-20s %-8s %10s  %s\n", step.id.c_str(), loupe::StepStatusName(step.status),
                FormatMs(step.elapsed_ms).c_str(), output.c_str());
  }
  std::printf("outputs in %s\n", report.output_dir.string().c_str());
  if (wrote_html) {
    std::printf("report: %s\n", (report.output_dir / "report.html").string().c_str());
  }
}

// `loupe run --resume DIR`: the pipeline file, --set overrides, seed and chunk size of the run DIR
// holds, and DIR as the output folder; any of them given again on the command line is refused.
std::optional<int> ResumeFrom(const po::variables_map& vm, std::string& pipeline,
                              std::vector<loupe::Override>& overrides, loupe::RunOptions& run) {
  for (const char* option : {"pipeline", "set", "seed", "output", "chunk-rows"}) {
    if (vm.count(option) > 0 && !vm[option].defaulted()) {
      return Fail(kExitBadInput,
                  std::string("--resume continues a run as it was started; drop ") +
                      (std::string(option) == "pipeline" ? "the pipeline file" : "--" + std::string(option)) +
                      ".");
    }
  }
  const fs::path dir = fs::absolute(vm["resume"].as<std::string>()).lexically_normal();
  const auto record = loupe::checkpoint::ReadRunRecord(dir);
  if (!record.ok()) return FailWith(record.status());
  pipeline = record->pipeline.string();
  overrides = record->overrides;
  run.output_dir = dir;
  run.seed = record->seed;
  run.chunk_rows = record->chunk_rows;
  run.resume = true;
  return std::nullopt;
}

int Run(const po::variables_map& vm) {
  if (vm["threads"].as<int>() < 0) return Fail(kExitBadInput, "--threads must be 0 (all cores) or more.");
  std::string error;
  auto overrides = ParseOverrides(Repeated(vm, "set"), &error);
  if (!error.empty()) return Fail(kExitBadInput, error);
  loupe::RunOptions run;
  std::string pipeline_file = vm.count("pipeline") ? vm["pipeline"].as<std::string>() : "";
  if (vm.count("resume")) {
    if (auto code = ResumeFrom(vm, pipeline_file, overrides, run)) return *code;
  } else if (pipeline_file.empty()) {
    return UsageError(*FindCommand("run"), "missing PIPELINE.yaml.");
  }
  if (vm.count("chunk-rows")) {
    if (vm["chunk-rows"].as<std::int64_t>() < 1)
      return Fail(kExitBadInput, "--chunk-rows must be 1 or more.");
    run.chunk_rows = vm["chunk-rows"].as<std::int64_t>();
  }
  // Under mpirun or srun, MPI for this run (docs/scale_out.md); a plain run never starts it. Rank 0 prints
  // and writes; the other ranks explain their rows quietly and exit with rank 0's code.
  if (const loupe::Status launch = loupe::mpi::CheckLaunch(); !launch.ok()) return FailWith(launch);
  const loupe::mpi::Session mpi_session(nullptr, nullptr);
  const bool quiet = vm["quiet"].as<bool>() || !loupe::mpi::IsRoot();
  std::optional<loupe::PipelineSpec> spec;
  LoadedPlugins plugins;
  const auto plugin_paths = PluginPaths(vm);
  run.isolate = vm["isolate"].as<bool>();  // before validation, which reads the data as the run will
  if (auto code = PreparePipeline(pipeline_file, overrides, plugin_paths, quiet, spec, plugins, &run)) {
    return *code;
  }
  run.overrides = overrides;
  if (vm.count("output")) run.output_dir = fs::absolute(vm["output"].as<std::string>()).lexically_normal();
  if (vm.count("seed")) run.seed = vm["seed"].as<std::uint64_t>();
  run.threads = vm["threads"].as<int>();
  if (vm.count("max-memory")) {
    if (!run.isolate) {
      return Fail(kExitBadInput, "--max-memory limits the child processes of --isolate; add --isolate.");
    }
    const auto max_memory = loupe::ParseMemorySize(vm["max-memory"].as<std::string>());
    if (!max_memory.ok()) return FailWith(max_memory.status());
    run.max_memory_bytes = *max_memory;
  }
  run.quiet = quiet;
  run.progress = !quiet && ::isatty(STDERR_FILENO);
  std::optional<InterruptCancelsRun> interrupt;
  if (!loupe::mpi::Distributed()) run.cancelled = interrupt.emplace().cancelled();
  const loupe::RunReport report = loupe::RunPipeline(*spec, plugins.registry, run);
  const int interrupted_by = interrupt ? interrupt->signal() : 0;
  interrupt.reset();
  if (!loupe::mpi::IsRoot()) {  // rank 0 says why; every rank ends with its exit code
    if (report.status.ok()) return kExitOk;
    return report.steps.empty() ? loupe::ExitCodeFor(report.status.code()) : kExitStepFailed;
  }
  const auto& formats = spec->output.formats;
  const bool wrote_html = std::find(formats.begin(), formats.end(), "html") != formats.end();
  if (!quiet && !report.steps.empty()) PrintRunTable(report, wrote_html);
  if (interrupted_by != 0 && report.status.code() == loupe::StatusCode::kCancelled) {
    std::fprintf(stderr, "loupe run: stopped by %s; `loupe run --resume %s` computes what is missing.\n",
                 interrupted_by == SIGINT ? "SIGINT (Ctrl-C)" : "SIGTERM",
                 report.output_dir.string().c_str());
    return 128 + interrupted_by;  // the shell's code for a process ended by that signal
  }
  if (report.status.ok()) return kExitOk;
  if (report.steps.empty()) return FailWith(report.status);  // failed before any step ran
  return Fail(kExitStepFailed, report.status.message());
}

int Validate(const po::variables_map& vm) {
  std::optional<loupe::PipelineSpec> spec;
  LoadedPlugins plugins;
  const auto plugin_paths = PluginPaths(vm);
  if (auto code = PreparePipeline(vm["pipeline"].as<std::string>(), {}, plugin_paths, false, spec, plugins)) {
    return *code;
  }
  std::printf("%s: valid (%zu steps)\n", vm["pipeline"].as<std::string>().c_str(), spec->steps.size());
  return kExitOk;
}

}  // namespace

Command RunCommand() {
  return {
      "run",
      "runs a pipeline's steps and writes their outputs (JSON, CSV, report.html)",
      "loupe run PIPELINE.yaml [options] | loupe run --resume DIR [options]",
      "Independent steps run at the same time; a failed step's dependents are skipped and the others still "
      "write their outputs (exit code 1). A run records what it finishes in its output folder until it "
      "ends with every step ok; after a crash, a kill or Ctrl-C (which stops the running steps, exit code "
      "130), --resume DIR computes only what is missing.",
      {{"pipeline", "PIPELINE.yaml", "the pipeline file", Text, true, false},
       {"output,o", "DIR", "output folder (overrides the pipeline's output.dir)", Text},
       {"threads", "N", "worker threads; 0 (the default) uses every core", Threads},
       {"seed", "N", "seed for every random draw (overrides the pipeline's seed)", Seed},
       {"set", "KEY.PATH=VALUE", "override one pipeline value, e.g. steps.shap.params.background=100",
        TextList},
       PluginPathOption(),
       {"isolate", "", "run each step's plugin in a child process: a crash fails that step, not the run"},
       {"max-memory", "SIZE", "with --isolate: the most each step may allocate, e.g. 512M or 2G", Text},
       {"resume", "DIR",
        "continue the interrupted run whose output folder is DIR (its pipeline, --set and seed)", Text},
       {"chunk-rows", "N", "rows per recorded chunk of a step that explains rows independently (4096)",
        ChunkRows},
       {"quiet,q", "", "no progress bars, warnings or summary table"}},
      {"loupe run configs/credit_audit.yaml -o out/audit --threads 4 --set steps.shap.rows=0:50"},
      Run};
}

Command ValidateCommand() {
  return {"validate",
          "checks a pipeline without running it: every error at once, each FILE:LINE:COL: message",
          "loupe validate PIPELINE.yaml [options]",
          "Checks the keys, the step graph, each explainer's parameters against its spec, and the data and "
          "the model: files, columns, row selections, labels, the model's inputs and capabilities. 'loupe "
          "run' makes the same checks before any step runs.",
          {{"pipeline", "PIPELINE.yaml", "the pipeline file", Text, true, true}, PluginPathOption()},
          {"loupe validate configs/credit_audit.yaml"},
          Validate};
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      RunCommand(),      ValidateCommand(), InitCommand(),   PredictCommand(), PluginsCommand(),
      DescribeCommand(), SchemaCommand(),   ReportCommand(), ServeCommand(),   VersionCommand()};
  return commands;
}

}  // namespace loupe::cli

int main(int argc, char** argv) {
  using namespace loupe::cli;
  if (argc < 2) {
    PrintGlobalHelp(stderr);
    return kExitBadInput;
  }
  const std::string name = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (name == "--version" || name == "-V") return Dispatch(*FindCommand("version"), {});
  if (name == "help" || name == "--help" || name == "-h") {
    if (!args.empty() && FindCommand(args.front()) != nullptr) {
      PrintCommandHelp(*FindCommand(args.front()));
    } else {
      PrintGlobalHelp(stdout);
    }
    return kExitOk;
  }
  if (const Command* command = FindCommand(name)) return Dispatch(*command, args);
  std::vector<std::string> names;
  for (const Command& command : Commands()) names.push_back(command.name);
  const std::string suffix = loupe::config::SuggestionSuffix(name, names);
  return Fail(kExitBadInput, "unknown command '" + name + "'" + suffix + (suffix.ends_with("?") ? "" : "."));
}
