// Loading explainer plugins and running their explainers (docs/architecture.md §2).
//
// A plugin is a shared library exporting `loupe_plugin_entry_v1` (see loupe/c/loupe_plugin.h). The
// registry inspects a library's symbols before loading it, loads it by absolute path, validates what its
// entry returns and registers its explainers. Every explainer keeps its library loaded for as long as it
// (or anything made from it) lives.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loupe/core/explainer.hpp"
#include "loupe/core/explanation.hpp"
#include "loupe/core/status.hpp"

struct LoupeExplainerVTable;

namespace loupe {

struct PluginSummary {
  std::string name;
  std::string version;
  std::string description;
  std::string path;
  unsigned abi_major = 0, abi_minor = 0;
  std::vector<std::string> explainers;
};

// One explainer of a loaded plugin. Holds its library loaded.
class LoadedExplainer {
 public:
  LoadedExplainer(ExplainerDescriptor descriptor, const LoupeExplainerVTable* vtable,
                  std::shared_ptr<const void> library)
      : descriptor_(std::move(descriptor)), vtable_(vtable), library_(std::move(library)) {}

  const ExplainerDescriptor& descriptor() const { return descriptor_; }
  // Runs create/explain/destroy through the C ABI with a host context built from `request`.
  Result<Explanation> Explain(const ExplainRequest& request) const;

 private:
  ExplainerDescriptor descriptor_;
  const LoupeExplainerVTable* vtable_;
  std::shared_ptr<const void> library_;
};

class PluginRegistry {
 public:
  // Loads one library. Each failure is a kPluginError whose message is one sentence naming the file:
  // not a shared library, not a Loupe plugin, built for another ABI major, built for a newer minor, entry
  // failed, malformed description, or an explainer name that is already registered.
  Status Load(const std::filesystem::path& library);
  // Loads every "*.so" file of `dir` (sorted by name); returns the failures, keeps the successes.
  std::vector<Status> LoadDirectory(const std::filesystem::path& dir);

  const LoadedExplainer* Find(const std::string& name) const;
  // Like Find, but shares ownership: the explainer (and its library) outlives the registry.
  std::shared_ptr<const LoadedExplainer> FindShared(const std::string& name) const;
  std::vector<const LoadedExplainer*> Explainers() const;  // sorted by name
  const std::vector<PluginSummary>& Plugins() const { return plugins_; }
  // The registered explainer name closest to `name`, for "did you mean" hints; empty when none is close.
  std::string Suggest(const std::string& name) const;

 private:
  std::vector<PluginSummary> plugins_;
  std::map<std::string, std::shared_ptr<const LoadedExplainer>> explainers_;
};

// The directories searched for plugins, in order: the built-in folder next to the running binary
// (../lib/loupe/plugins relative to bin/, or the build tree's plugins folder), then each entry of
// LOUPE_PLUGIN_PATH (':'-separated), then `extra` (from --plugin-path).
std::vector<std::filesystem::path> PluginSearchPath(const std::vector<std::filesystem::path>& extra);

}  // namespace loupe
