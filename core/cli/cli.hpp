// What the `loupe` subcommands share (docs/architecture.md §5 "CLI"): exit codes, the declarative
// description of a command (from which its parser, its --help and its "did you mean" are all made),
// plugin loading, and the entry point of each command.
#pragma once

#include <boost/program_options.hpp>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "loupe/core/model.hpp"
#include "loupe/core/plugin.hpp"
#include "loupe/core/status.hpp"

namespace loupe::cli {

namespace po = boost::program_options;
namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitStepFailed = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitPlugin = 3;

// One option of a command. `flags` is Boost's "long,s" form; `value_name` is what --help shows after the
// flag ("DIR"), empty for a switch. A positional option is hidden from the option list and named in the
// command's usage line instead.
struct Option {
  std::string flags;
  std::string value_name;
  std::string doc;
  po::value_semantic* (*semantic)() = nullptr;  // makes the value's parser; nullptr: a switch
  bool positional = false;
  bool required = false;
};

// A subcommand: its parser, help and completion all come from this one description.
struct Command {
  std::string name;
  std::string summary;  // one line, for `loupe --help`
  std::string usage;    // "loupe run PIPELINE.yaml [options]"
  std::string details;  // a paragraph under the usage line; may be empty
  std::vector<Option> options;
  std::vector<std::string> examples;
  std::function<int(const po::variables_map&)> run;
};

// Option value kinds (Option::semantic), so command tables read as a list. Each call makes a new
// semantic, which the options_description it is added to owns.
po::value_semantic* Text();
po::value_semantic* TextList();  // repeatable
po::value_semantic* Threads();   // int, default 0
po::value_semantic* Seed();      // uint64

// Every subcommand, in the order `loupe --help` lists them.
const std::vector<Command>& Commands();
const Command* FindCommand(const std::string& name);

// Parses `args` for `command`, prints its help (exit 0) or a usage error naming its valid options (exit 2)
// when needed, and otherwise runs it.
int Dispatch(const Command& command, const std::vector<std::string>& args);
void PrintCommandHelp(const Command& command);
void PrintGlobalHelp(std::FILE* stream);

// "loupe COMMAND: SENTENCE", the command's usage and where its help is, on stderr; returns exit code 2.
int UsageError(const Command& command, const std::string& sentence);

// "loupe: MESSAGE" on stderr; returns `code`.
int Fail(int code, const std::string& message);
int FailWith(const Status& status);

// The values of a repeatable option, empty when it was not given.
std::vector<std::string> Repeated(const po::variables_map& vm, const char* option);
// --plugin-path, for the commands that load plugins; PluginPaths reads its values.
Option PluginPathOption();
std::vector<fs::path> PluginPaths(const po::variables_map& vm);

struct LoadedPlugins {
  PluginRegistry registry;
  std::vector<Status> failures;
};
// Loads every plugin of the search path, then each extra library or folder a pipeline names (whose
// failures go to `pipeline_failures`).
LoadedPlugins LoadPlugins(const std::vector<fs::path>& plugin_paths,
                          const std::vector<fs::path>& pipeline_plugins,
                          std::vector<Status>* pipeline_failures);

// Refuses a CSV that lacks some of the model's inputs, naming all of them and the model file that
// declares them (predict.cpp). Reads the file without forcing any column's type, so the message is about
// the model's inputs rather than about reader options.
Status CheckModelInputsPresent(const Model& model, const fs::path& model_file, const fs::path& data_file);

// The commands, one table entry each (the files holding them say what they do).
Command RunCommand();
Command ValidateCommand();
Command PredictCommand();
Command InitCommand();
Command PluginsCommand();
Command DescribeCommand();
Command SchemaCommand();
Command ReportCommand();
Command ServeCommand();
Command VersionCommand();

}  // namespace loupe::cli
