// The commands that show what is installed and what a run wrote: `loupe plugins`, `loupe describe`
// (an explainer's parameters, as text or as the Markdown of docs/explainers.md) and `loupe report`.
#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cli.hpp"
#include "loupe/core/report.hpp"

namespace loupe::cli {
namespace {

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

int Plugins(const po::variables_map& vm) {
  std::vector<loupe::Status> ignored;
  LoadedPlugins loaded = LoadPlugins(PluginPaths(vm), {}, &ignored);
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

int Describe(const po::variables_map& vm) {
  const bool all = vm["all"].as<bool>();
  if (all == (vm.count("explainer") > 0)) {
    return Fail(kExitBadInput, "describe expects an explainer name or --all, not both or neither.");
  }
  std::vector<loupe::Status> ignored;
  LoadedPlugins loaded = LoadPlugins(PluginPaths(vm), {}, &ignored);
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

int Report(const po::variables_map& vm) {
  const fs::path dir = vm["dir"].as<std::string>();
  if (loupe::Status s = loupe::RenderReportDirectory(dir); !s.ok()) return FailWith(s);
  std::printf("%s\n", (dir / "report.html").string().c_str());
  return kExitOk;
}

}  // namespace

Command PluginsCommand() {
  return {"plugins",
          "lists the loaded plugins and their explainers",
          "loupe plugins [options]",
          "Plugins load from the folder next to the loupe binary, then from each folder of LOUPE_PLUGIN_PATH "
          "(':'-separated), then from each --plugin-path. A library that cannot be loaded is named on stderr "
          "(exit code 3).",
          {{"json", "", "machine-readable output: name, version, ABI, path and explainers of each plugin"},
           PluginPathOption()},
          {"loupe plugins --json"},
          Plugins};
}

Command DescribeCommand() {
  return {"describe",
          "shows an explainer's parameters: type, default, bounds and meaning",
          "loupe describe EXPLAINER|--all [options]",
          "",
          {{"explainer", "EXPLAINER", "plugin.explainer, as 'loupe plugins' lists them", Text, true},
           {"all", "", "describe every loaded explainer"},
           {"markdown", "", "tables in Markdown (docs/generate.sh writes docs/explainers.md with them)"},
           PluginPathOption()},
          {"loupe describe shap.kernel", "loupe describe --all --markdown"},
          Describe};
}

Command ReportCommand() {
  return {"report",
          "renders DIR/report.html again from a run's DIR/run.json and step JSON files",
          "loupe report DIR",
          "",
          {{"dir", "DIR", "a run's output folder", Text, true, true}},
          {"loupe report out/credit-audit"},
          Report};
}

}  // namespace loupe::cli
