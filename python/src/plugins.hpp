// The explainer plugins the Python package runs (python/README.md "Plugins"): the built-in ones, found
// beside the module in the build tree and once installed, then LOUPE_PLUGIN_PATH, then whatever
// loupe.load_plugins() added. One registry per process, loaded on first use.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "loupe/core/plugin.hpp"
#include "loupe/core/status.hpp"

namespace loupe::python {

// The process's registry, loading the built-in plugins and LOUPE_PLUGIN_PATH the first time. Load
// failures there are kept for LoadWarnings() rather than raised: a stray library in a plugin folder must
// not make `import loupe` unusable (the CLI warns the same way).
PluginRegistry& Registry();
const std::vector<std::string>& LoadWarnings();

// Loads a plugin library, or every "*.so" of a folder, into Registry(), and remembers it for the
// registries loupe.run() builds. The first failure is the error.
Status LoadPlugins(const std::filesystem::path& path);

// Every folder and library Registry() loaded from, in order: what a pipeline run loads too.
std::vector<std::filesystem::path> PluginLocations();

// The folder of this extension module (found through dladdr), for the built-in plugin search.
std::filesystem::path ModuleFolder();

}  // namespace loupe::python
