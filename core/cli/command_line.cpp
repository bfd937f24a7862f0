// Parsing a subcommand's options from its Command description: --help/-h, usage errors that name the
// command's own options ("did you mean"), and the help texts themselves.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/cli.hpp"
#include "config/messages.hpp"
#include "http/client.hpp"
#include "loupe/c/loupe_plugin.h"
#include "mpi/world.hpp"
#include "onnx/graph.hpp"

namespace loupe::cli {
namespace {

constexpr std::size_t kMinFlagColumn = 24;
constexpr std::size_t kHelpWidth = 100;

// "output,o" -> "output".
std::string LongName(const Option& option) { return option.flags.substr(0, option.flags.find(',')); }

// "-o, --output DIR" or "    --threads N", as --help and error messages show a flag.
std::string FlagText(const Option& option) {
  const std::size_t comma = option.flags.find(',');
  std::string text = comma == std::string::npos ? "    " : "-" + option.flags.substr(comma + 1) + ", ";
  text += "--" + LongName(option);
  if (!option.value_name.empty()) text += " " + option.value_name;
  return text;
}

const Option kHelpOption{"help,h", "", "show this help and exit", nullptr};

// Every flag the command accepts (--output, -o, ..., --help, -h), for "did you mean".
std::vector<std::string> FlagNames(const Command& command) {
  std::vector<std::string> names;
  auto add = [&](const Option& option) {
    if (option.positional) return;
    names.push_back("--" + LongName(option));
    const std::size_t comma = option.flags.find(',');
    if (comma != std::string::npos) names.push_back("-" + option.flags.substr(comma + 1));
  };
  for (const Option& option : command.options) add(option);
  add(kHelpOption);
  return names;
}

// "--output, --threads, ... or --help", the command's long flags for a sentence.
std::string LongFlagList(const Command& command) {
  std::vector<std::string> flags;
  for (const std::string& name : FlagNames(command)) {
    if (name.rfind("--", 0) == 0) flags.push_back(name);
  }
  const std::string last = flags.back();
  flags.pop_back();
  return flags.empty() ? last : config::JoinNames(flags) + " or " + last;
}

int UnknownOption(const Command& command, const std::string& flag) {
  const std::string match = config::ClosestMatch(flag, FlagNames(command));
  std::string sentence = "unknown option '" + flag + "'";
  sentence += match.empty() ? "." : "; did you mean '" + match + "'?";
  sentence += " Its options are " + LongFlagList(command) + ".";
  return UsageError(command, sentence);
}

// The required options that are absent, as "PIPELINE.yaml" (positional) or "--model MODEL".
std::vector<std::string> MissingRequired(const Command& command, const po::variables_map& vm) {
  std::vector<std::string> missing;
  for (const Option& option : command.options) {
    if (!option.required || vm.count(LongName(option))) continue;
    missing.push_back(option.positional ? option.value_name
                                        : "--" + LongName(option) + " " + option.value_name);
  }
  return missing;
}

po::options_description ParserOptions(const Command& command,
                                      po::positional_options_description& positional) {
  po::options_description options;
  for (const Option& option : command.options) {
    po::value_semantic* semantic = option.semantic ? option.semantic() : po::bool_switch();
    options.add_options()(option.flags.c_str(), semantic, option.doc.c_str());
    if (option.positional) positional.add(LongName(option).c_str(), 1);
  }
  options.add_options()(kHelpOption.flags.c_str(), po::bool_switch(), kHelpOption.doc.c_str());
  return options;
}

}  // namespace

po::value_semantic* Text() { return po::value<std::string>(); }
po::value_semantic* TextList() { return po::value<std::vector<std::string>>()->composing(); }
po::value_semantic* Threads() { return po::value<int>()->default_value(0); }
po::value_semantic* Seed() { return po::value<std::uint64_t>(); }

int Dispatch(const Command& command, const std::vector<std::string>& args) {
  po::positional_options_description positional;
  const po::options_description options = ParserOptions(command, positional);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::unknown_option& error) {
    return UnknownOption(command, error.get_option_name());
  } catch (const po::too_many_positional_options_error&) {
    return UsageError(command, "too many arguments.");
  } catch (const po::error& error) {
    return UsageError(command, std::string(error.what()) + ".");
  }
  if (vm["help"].as<bool>()) {
    PrintCommandHelp(command);
    return kExitOk;
  }
  if (const auto missing = MissingRequired(command, vm); !missing.empty()) {
    return UsageError(command, "missing " + config::JoinNames(missing, " and ") + ".");
  }
  return command.run(vm);
}

namespace {

// `text` wrapped at kHelpWidth columns, for the paragraphs of --help; a line's leading spaces are kept
// as the indent of its continuation lines.
std::string Wrap(const std::string& text) {
  std::string wrapped;
  std::istringstream paragraphs(text);
  for (std::string paragraph; std::getline(paragraphs, paragraph);) {
    const std::size_t indent = std::min(paragraph.find_first_not_of(' '), paragraph.size());
    std::string line = paragraph.substr(0, indent);
    bool line_has_word = false;
    std::istringstream words(paragraph);
    for (std::string word; words >> word;) {
      if (line_has_word && line.size() + 1 + word.size() > kHelpWidth) {
        wrapped += line + "\n";
        line = std::string(indent, ' ');
        line_has_word = false;
      }
      line += (line_has_word ? " " : "") + word;
      line_has_word = true;
    }
    wrapped += line + "\n";
  }
  return wrapped;
}

// "runs a pipeline" -> "Runs a pipeline."
std::string AsSentence(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
  return text + ".";
}

}  // namespace

void PrintCommandHelp(const Command& command) {
  std::printf("usage: %s\n\n%s", command.usage.c_str(), Wrap(AsSentence(command.summary)).c_str());
  if (!command.details.empty()) std::printf("\n%s", Wrap(command.details).c_str());
  std::vector<const Option*> listed;
  for (const Option& option : command.options) {
    if (!option.positional) listed.push_back(&option);
  }
  listed.push_back(&kHelpOption);
  std::size_t width = kMinFlagColumn;
  for (const Option* option : listed) width = std::max(width, FlagText(*option).size() + 2);
  std::printf("\noptions:\n");
  for (const Option* option : listed) {
    std::printf("  %-*s%s\n", static_cast<int>(width), FlagText(*option).c_str(), option->doc.c_str());
  }
  std::printf("\n%s:\n", command.examples.size() == 1 ? "example" : "examples");
  for (const std::string& example : command.examples) std::printf("  %s\n", example.c_str());
}

void PrintGlobalHelp(std::FILE* stream) {
  std::fprintf(stream, "usage: loupe <command> [options]\n\ncommands:\n");
  for (const Command& command : Commands()) {
    std::fprintf(stream, "  %-10s%s\n", command.name.c_str(), command.summary.c_str());
  }
  std::fprintf(
      stream,
      "\n'loupe <command> --help' lists a command's options with an example; 'loupe --version' prints "
      "the version.\n"
      "exit codes: 0 success, 1 a step failed, 2 bad usage/configuration/input, 3 a plugin could not "
      "be loaded\n");
}

const Command* FindCommand(const std::string& name) {
  for (const Command& command : Commands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

int UsageError(const Command& command, const std::string& sentence) {
  std::cerr << "loupe " << command.name << ": " << sentence << "\nusage: " << command.usage
            << "\n(see 'loupe " << command.name << " --help')\n";
  return kExitBadInput;
}

int Fail(int code, const std::string& message) {
  std::cerr << "loupe: " << message << "\n";
  return code;
}

int FailWith(const Status& status) { return Fail(ExitCodeFor(status.code()), status.message()); }

std::vector<std::string> Repeated(const po::variables_map& vm, const char* option) {
  return vm.count(option) ? vm[option].as<std::vector<std::string>>() : std::vector<std::string>{};
}

Option PluginPathOption() {
  return {"plugin-path", "DIR", "also load the plugins of DIR (repeatable)", TextList};
}

std::vector<fs::path> PluginPaths(const po::variables_map& vm) {
  const std::vector<std::string> values = Repeated(vm, "plugin-path");
  return {values.begin(), values.end()};
}

LoadedPlugins LoadPlugins(const std::vector<fs::path>& plugin_paths,
                          const std::vector<fs::path>& pipeline_plugins,
                          std::vector<Status>* pipeline_failures) {
  LoadedPlugins loaded;
  for (const fs::path& dir : PluginSearchPath(plugin_paths)) {
    for (Status& failure : loaded.registry.LoadDirectory(dir)) loaded.failures.push_back(std::move(failure));
  }
  for (const fs::path& entry : pipeline_plugins) {
    std::vector<Status> failures;
    std::error_code ec;
    if (fs::is_directory(entry, ec)) {
      failures = loaded.registry.LoadDirectory(entry);
    } else if (Status s = loaded.registry.Load(entry); !s.ok()) {
      failures.push_back(s);
    }
    for (auto& f : failures) pipeline_failures->push_back(std::move(f));
  }
  return loaded;
}

Command VersionCommand() {
  Command command{"version",
                  "prints the version of loupe and of the plugin ABI it loads",
                  "loupe version",
                  "'loupe --version' prints the same line.",
                  {},
                  {"loupe version"},
                  nullptr};
  command.run = [](const po::variables_map&) {
    std::printf("loupe %s (plugin ABI %d.%d)\n", LOUPE_VERSION, LOUPE_PLUGIN_ABI_MAJOR,
                LOUPE_PLUGIN_ABI_MINOR);
    // Optional features of this build (docs/architecture.md §1): ONNX models need libonnx-dev, and the
    // reader module that links it, loaded on the first ONNX model (found here, not loaded).
    if (onnx::OnnxSupported()) {
      const onnx::OnnxModuleLookup lookup = onnx::FindOnnxModule();
      if (!lookup.module.empty()) {
        std::printf("ONNX models: supported (libonnx %s; IR %d-%d, opsets %d-%d; reader module %s)\n",
                    onnx::OnnxLibraryVersion().c_str(), onnx::kMinIrVersion, onnx::kMaxIrVersion,
                    onnx::kMinOpset, onnx::kMaxOpset, lookup.module.c_str());
      } else {
        std::printf(
            "ONNX models: not available: this build reads them, but its reader module "
            "loupe_onnx_reader.so was not found (looked %s; reinstall Loupe, or set "
            "LOUPE_MODULE_PATH to the folder that holds it)\n",
            lookup.Where().c_str());
      }
    } else {
      std::printf("ONNX models: not supported by this build (built without libonnx-dev)\n");
    }
    // TLS in `loupe serve` and https:// remote models needs libssl-dev (docs/serve.md "TLS").
    std::printf(http::TlsAvailable() ? "TLS: supported (OpenSSL)\n"
                                     : "TLS: not supported by this build (built without libssl-dev)\n");
    // `mpirun -n K loupe run` splitting steps across ranks needs libopenmpi-dev (docs/scale_out.md).
    // The version comes from the MPI module, loaded here (docs/architecture.md §1).
    if (mpi::Available()) {
      if (const Result<std::string> version = mpi::LibraryVersion(); version.ok()) {
        std::printf("MPI runs: supported (%s)\n", version->c_str());
      } else {
        std::printf("MPI runs: not available: %s\n", version.status().message().c_str());
      }
    } else {
      std::printf("MPI runs: not supported by this build (built without libopenmpi-dev)\n");
    }
    return kExitOk;
  };
  return command;
}

}  // namespace loupe::cli
