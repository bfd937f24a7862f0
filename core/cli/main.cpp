// The `loupe` command (DESIGN.md §5 "CLI").
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "loupe/c/loupe_plugin.h"
#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"
#include "loupe/core/report.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitStepFailed = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitPlugin = 3;

const char* const kUsage = R"(usage: loupe <command> [options]

commands:
  run PIPELINE.yaml [-o DIR] [--threads N] [--seed N] [--set KEY.PATH=VALUE]... [--plugin-path DIR]... [--quiet]
  validate PIPELINE.yaml [--plugin-path DIR]...
  predict --model MODEL --data CSV [-o OUT.csv]
  plugins [--json] [--plugin-path DIR]...
  describe EXPLAINER|--all [--markdown] [--plugin-path DIR]...
  report DIR                 renders DIR/report.html again from DIR/run.json and the step JSON files
  version

exit codes: 0 success, 1 a step failed, 2 bad usage/configuration/input, 3 a plugin could not be loaded
)";

int Fail(int code, const std::string& message) {
  std::cerr << "loupe: " << message << "\n";
  return code;
}

int FailWith(const loupe::Status& status) {
  return Fail(loupe::ExitCodeFor(status.code()), status.message());
}

struct LoadedPlugins {
  loupe::PluginRegistry registry;
  std::vector<loupe::Status> failures;
};

// Loads every plugin of the search path, then each extra library or folder a pipeline names.
LoadedPlugins LoadPlugins(const std::vector<fs::path>& plugin_paths,
                          const std::vector<fs::path>& pipeline_plugins,
                          std::vector<loupe::Status>* pipeline_failures) {
  LoadedPlugins loaded;
  for (const fs::path& dir : loupe::PluginSearchPath(plugin_paths)) {
    for (loupe::Status& failure : loaded.registry.LoadDirectory(dir))
      loaded.failures.push_back(std::move(failure));
  }
  for (const fs::path& entry : pipeline_plugins) {
    std::vector<loupe::Status> failures;
    std::error_code ec;
    if (fs::is_directory(entry, ec)) {
      failures = loaded.registry.LoadDirectory(entry);
    } else if (loupe::Status s = loaded.registry.Load(entry); !s.ok()) {
      failures.push_back(s);
    }
    for (auto& f : failures) pipeline_failures->push_back(std::move(f));
  }
  return loaded;
}

// The values of a repeatable option, empty when it was not given.
std::vector<std::string> Repeated(const po::variables_map& vm, const char* option) {
  return vm.count(option) ? vm[option].as<std::vector<std::string>>() : std::vector<std::string>{};
}

std::vector<fs::path> PluginPaths(const po::variables_map& vm) {
  const std::vector<std::string> values = Repeated(vm, "plugin-path");
  return {values.begin(), values.end()};
}

// Parses the options of one command; returns false after printing a usage error.
bool ParseCommandLine(const std::vector<std::string>& args, const po::options_description& options,
                      const po::positional_options_description& positional, po::variables_map& vm) {
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    po::notify(vm);
    return true;
  } catch (const po::error& error) {
    std::cerr << "loupe: " << error.what() << ".\n" << kUsage;
    return false;
  }
}

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

void PrintDiagnostics(const std::vector<loupe::Diagnostic>& diagnostics) {
  for (const loupe::Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
}

// Parses, loads the plugins the pipeline needs and validates. Returns an exit code when it must stop.
std::optional<int> PreparePipeline(const std::string& file, const std::vector<loupe::Override>& overrides,
                                   const std::vector<fs::path>& plugin_paths, bool quiet,
                                   std::optional<loupe::PipelineSpec>& spec, LoadedPlugins& plugins) {
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
  std::vector<loupe::Diagnostic> diagnostics = loupe::ValidateAgainstPlugins(*spec, plugins.registry);
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
    std::printf("%-20s %-8s %10s  %s\n", step.id.c_str(), step.status.c_str(),
                FormatMs(step.elapsed_ms).c_str(), output.c_str());
  }
  std::printf("outputs in %s\n", report.output_dir.string().c_str());
  if (wrote_html) {
    std::printf("report: %s\n", (report.output_dir / "report.html").string().c_str());
  }
}

int RunCommand(const std::vector<std::string>& args) {
  po::options_description options("run");
  options.add_options()("pipeline", po::value<std::string>()->required(), "pipeline file")(
      "output,o", po::value<std::string>(), "output folder (overrides output.dir)")(
      "threads", po::value<int>()->default_value(0), "worker threads (0: all cores)")(
      "seed", po::value<std::uint64_t>(), "overrides the pipeline's seed")(
      "set", po::value<std::vector<std::string>>()->composing(), "KEY.PATH=VALUE override")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(), "extra plugin folder")(
      "quiet,q", po::bool_switch(), "no progress bars or summary");
  po::positional_options_description positional;
  positional.add("pipeline", 1);
  po::variables_map vm;
  if (!ParseCommandLine(args, options, positional, vm)) return kExitBadInput;
  if (vm["threads"].as<int>() < 0) return Fail(kExitBadInput, "--threads must be 0 (all cores) or more.");

  std::string error;
  const auto overrides = ParseOverrides(Repeated(vm, "set"), &error);
  if (!error.empty()) return Fail(kExitBadInput, error);
  const bool quiet = vm["quiet"].as<bool>();
  std::optional<loupe::PipelineSpec> spec;
  LoadedPlugins plugins;
  const auto plugin_paths = PluginPaths(vm);
  if (auto code =
          PreparePipeline(vm["pipeline"].as<std::string>(), overrides, plugin_paths, quiet, spec, plugins)) {
    return *code;
  }
  loupe::RunOptions run;
  if (vm.count("output")) run.output_dir = fs::absolute(vm["output"].as<std::string>()).lexically_normal();
  if (vm.count("seed")) run.seed = vm["seed"].as<std::uint64_t>();
  run.threads = vm["threads"].as<int>();
  run.quiet = quiet;
  run.progress = !quiet && ::isatty(STDERR_FILENO);
  const loupe::RunReport report = loupe::RunPipeline(*spec, plugins.registry, run);
  const auto& formats = spec->output.formats;
  const bool wrote_html = std::find(formats.begin(), formats.end(), "html") != formats.end();
  if (!quiet && !report.steps.empty()) PrintRunTable(report, wrote_html);
  if (report.status.ok()) return kExitOk;
  if (report.steps.empty()) return FailWith(report.status);  // failed before any step ran
  return Fail(kExitStepFailed, report.status.message());
}

int ValidateCommand(const std::vector<std::string>& args) {
  po::options_description options("validate");
  options.add_options()("pipeline", po::value<std::string>()->required(), "pipeline file")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(), "extra plugin folder");
  po::positional_options_description positional;
  positional.add("pipeline", 1);
  po::variables_map vm;
  if (!ParseCommandLine(args, options, positional, vm)) return kExitBadInput;
  std::optional<loupe::PipelineSpec> spec;
  LoadedPlugins plugins;
  const auto plugin_paths = PluginPaths(vm);
  if (auto code = PreparePipeline(vm["pipeline"].as<std::string>(), {}, plugin_paths, false, spec, plugins)) {
    return *code;
  }
  std::printf("%s: valid (%zu steps)\n", vm["pipeline"].as<std::string>().c_str(), spec->steps.size());
  return kExitOk;
}

std::string PredictionsCsv(const loupe::Tensor& predictions, const std::vector<std::string>& names) {
  std::ostringstream csv;
  csv.precision(17);
  for (std::size_t i = 0; i < names.size(); ++i) csv << (i ? "," : "") << names[i];
  csv << "\n";
  const double* p = predictions.data<double>();
  for (std::int64_t r = 0; r < predictions.dim(0); ++r) {
    for (std::int64_t c = 0; c < predictions.dim(1); ++c)
      csv << (c ? "," : "") << p[r * predictions.dim(1) + c];
    csv << "\n";
  }
  return csv.str();
}

int PredictCommand(const std::vector<std::string>& args) {
  po::options_description options("predict");
  options.add_options()("model", po::value<std::string>()->required(), "loupe.model/v1 YAML or XGBoost JSON")(
      "data", po::value<std::string>()->required(), "CSV file")("output,o", po::value<std::string>(),
                                                                "output CSV");
  po::variables_map vm;
  if (!ParseCommandLine(args, options, {}, vm)) return kExitBadInput;
  auto model = loupe::LoadModel(vm["model"].as<std::string>());
  if (!model.ok()) return FailWith(model.status());
  loupe::CsvOptions csv;
  std::vector<std::string> inputs;
  for (const loupe::ModelInput& input : (*model)->Info().inputs) {
    inputs.push_back(input.name);
    if (input.type == loupe::ColumnType::kCategorical) csv.categorical.push_back(input.name);
    if (input.type == loupe::ColumnType::kText) csv.text.push_back(input.name);
  }
  auto data = loupe::ReadCsv(vm["data"].as<std::string>(), csv);
  if (!data.ok()) return FailWith(data.status());
  auto feature_model = loupe::FeatureModel::Create(*model, *data, inputs);
  if (!feature_model.ok()) return FailWith(feature_model.status());
  auto matrix = data->Matrix(inputs);
  if (!matrix.ok()) return FailWith(matrix.status());
  const loupe::OutputSpace space = (*model)->Info().default_space();
  auto predictions = (*feature_model)->Predict(matrix->view(), space);
  if (!predictions.ok()) return FailWith(predictions.status());
  const std::string text = PredictionsCsv(*predictions, (*model)->Info().OutputNames(space));
  if (!vm.count("output")) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kExitOk;
  }
  std::ofstream out(vm["output"].as<std::string>(), std::ios::binary);
  out << text;
  if (!out) return Fail(kExitBadInput, "cannot write '" + vm["output"].as<std::string>() + "'.");
  return kExitOk;
}

std::string JsonOf(const loupe::PluginRegistry& registry) {
  nlohmann::json plugins = nlohmann::json::array();
  for (const loupe::PluginSummary& p : registry.Plugins()) {
    plugins.push_back({{"name", p.name},
                       {"version", p.version},
                       {"description", p.description},
                       {"path", p.path},
                       {"abi", std::to_string(p.abi_major) + "." + std::to_string(p.abi_minor)},
                       {"explainers", p.explainers}});
  }
  return plugins.dump(2);
}

int PluginsCommand(const std::vector<std::string>& args) {
  po::options_description options("plugins");
  options.add_options()("json", po::bool_switch(), "machine-readable output")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(), "extra plugin folder");
  po::variables_map vm;
  if (!ParseCommandLine(args, options, {}, vm)) return kExitBadInput;
  std::vector<loupe::Status> ignored;
  const auto plugin_paths = PluginPaths(vm);
  LoadedPlugins loaded = LoadPlugins(plugin_paths, {}, &ignored);
  if (vm["json"].as<bool>()) {
    std::printf("%s\n", JsonOf(loaded.registry).c_str());
  } else {
    for (const loupe::PluginSummary& p : loaded.registry.Plugins()) {
      std::printf("%s %s (ABI %u.%u) %s\n", p.name.c_str(), p.version.c_str(), p.abi_major, p.abi_minor,
                  p.path.c_str());
      for (const std::string& e : p.explainers) std::printf("  %s\n", e.c_str());
    }
  }
  for (const loupe::Status& f : loaded.failures) std::cerr << "loupe: " << f.message() << "\n";
  return loaded.failures.empty() ? kExitOk : kExitPlugin;
}

// A bound as written in a pipeline: 1 rather than 1.0 for whole numbers.
std::string BoundText(double value) {
  if (value == std::floor(value) && std::fabs(value) < 1e15)
    return std::to_string(static_cast<long long>(value));
  return nlohmann::json(value).dump();
}

// "int, >= 1, <= 100, default 5" or "enum {a, b}, required".
std::string ParamDetail(const loupe::ParamSpec& p) {
  std::string detail = loupe::ParamTypeName(p.type);
  if (!p.choices.empty()) {
    detail += " {";
    for (std::size_t i = 0; i < p.choices.size(); ++i) detail += (i ? ", " : "") + p.choices[i];
    detail += "}";
  }
  if (p.min_value) detail += ", >= " + BoundText(*p.min_value);
  if (p.max_value) detail += ", <= " + BoundText(*p.max_value);
  detail += p.default_value ? ", default " + p.default_value->dump() : (p.required ? ", required" : "");
  return detail;
}

void PrintExplainerText(const loupe::ExplainerDescriptor& d) {
  std::printf("%s — %s\n  plugin: %s %s\n  output: %s (%s)\n", d.name.c_str(), d.summary.c_str(),
              d.plugin_name.c_str(), d.plugin_version.c_str(), d.output_kind.c_str(),
              d.scope == loupe::ExplainerScope::kLocal ? "explains rows" : "global");
  std::printf("  parameters:%s\n", d.params.empty() ? " none" : "");
  for (const loupe::ParamSpec& p : d.params) {
    std::printf("    %-22s %s\n      %s\n", p.name.c_str(), ParamDetail(p).c_str(), p.doc.c_str());
  }
}

// Markdown table cells: pipes and newlines would break the row.
std::string MarkdownCell(std::string text) {
  std::string out;
  for (char c : text) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

void PrintExplainerMarkdown(const loupe::ExplainerDescriptor& d) {
  std::printf("### `%s`\n\n%s\n\nPlugin `%s` %s · output kind `%s` · %s.\n\n", d.name.c_str(),
              MarkdownCell(d.summary).c_str(), d.plugin_name.c_str(), d.plugin_version.c_str(),
              d.output_kind.c_str(),
              d.scope == loupe::ExplainerScope::kLocal ? "explains the step's rows" : "global");
  if (d.params.empty()) {
    std::printf("No parameters.\n\n");
    return;
  }
  std::printf("| parameter | type | default | bounds | meaning |\n| --- | --- | --- | --- | --- |\n");
  for (const loupe::ParamSpec& p : d.params) {
    std::string type = loupe::ParamTypeName(p.type);
    for (std::size_t i = 0; i < p.choices.size(); ++i) type.append(i ? ", " : ": ").append(p.choices[i]);
    std::string bounds;
    if (p.min_value) bounds.append(">= ").append(BoundText(*p.min_value));
    if (p.max_value) bounds.append(bounds.empty() ? "" : ", ").append("<= ").append(BoundText(*p.max_value));
    std::string fallback = p.required ? "required" : "–";
    if (p.default_value) fallback = std::string("`").append(p.default_value->dump()).append("`");
    std::printf("| `%s` | %s | %s | %s | %s |\n", p.name.c_str(), MarkdownCell(type).c_str(),
                MarkdownCell(fallback).c_str(), bounds.empty() ? "–" : bounds.c_str(),
                MarkdownCell(p.doc).c_str());
  }
  std::printf("\n");
}

int DescribeCommand(const std::vector<std::string>& args) {
  po::options_description options("describe");
  options.add_options()("explainer", po::value<std::string>(), "plugin.explainer")(
      "all", po::bool_switch(), "every loaded explainer")("markdown", po::bool_switch(), "Markdown tables")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(), "extra plugin folder");
  po::positional_options_description positional;
  positional.add("explainer", 1);
  po::variables_map vm;
  if (!ParseCommandLine(args, options, positional, vm)) return kExitBadInput;
  const bool all = vm["all"].as<bool>();
  if (all == (vm.count("explainer") > 0)) {
    return Fail(kExitBadInput, "describe expects an explainer name or --all, not both or neither.");
  }
  std::vector<loupe::Status> ignored;
  const auto plugin_paths = PluginPaths(vm);
  LoadedPlugins loaded = LoadPlugins(plugin_paths, {}, &ignored);
  std::vector<const loupe::LoadedExplainer*> explainers;
  if (all) {
    explainers = loaded.registry.Explainers();
  } else {
    const std::string name = vm["explainer"].as<std::string>();
    const loupe::LoadedExplainer* explainer = loaded.registry.Find(name);
    if (explainer == nullptr) {
      const std::string hint = loaded.registry.Suggest(name);
      return Fail(kExitBadInput, "unknown explainer '" + name + "'" +
                                     (hint.empty() ? "." : "; did you mean '" + hint + "'?"));
    }
    explainers.push_back(explainer);
  }
  for (const loupe::LoadedExplainer* explainer : explainers) {
    if (vm["markdown"].as<bool>()) {
      PrintExplainerMarkdown(explainer->descriptor());
    } else {
      PrintExplainerText(explainer->descriptor());
    }
  }
  return kExitOk;
}

int ReportCommand(const std::vector<std::string>& args) {
  po::options_description options("report");
  options.add_options()("dir", po::value<std::string>()->required(), "a run's output folder");
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  if (!ParseCommandLine(args, options, positional, vm)) return kExitBadInput;
  const fs::path dir = vm["dir"].as<std::string>();
  if (loupe::Status s = loupe::RenderReportDirectory(dir); !s.ok()) return FailWith(s);
  std::printf("%s\n", (dir / "report.html").string().c_str());
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitBadInput;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "run") return RunCommand(args);
  if (command == "validate") return ValidateCommand(args);
  if (command == "predict") return PredictCommand(args);
  if (command == "plugins") return PluginsCommand(args);
  if (command == "describe") return DescribeCommand(args);
  if (command == "report") return ReportCommand(args);
  if (command == "version" || command == "--version") {
    std::printf("loupe %s (plugin ABI %d.%d)\n", LOUPE_VERSION, LOUPE_PLUGIN_ABI_MAJOR,
                LOUPE_PLUGIN_ABI_MINOR);
    return kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return kExitOk;
  }
  return Fail(kExitBadInput, "unknown command '" + command +
                                 "'; expected run, validate, predict, report, plugins, describe or version.");
}
