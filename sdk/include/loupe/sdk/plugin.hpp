// LOUPE_PLUGIN — turns explainer definitions into a loadable Loupe plugin. Include this header (it brings
// the whole C++ SDK) and write, once per plugin, at file scope:
//
//   LOUPE_PLUGIN("occlusion", "1.0.0", "Occlusion attributions for tabular models.",
//                loupe::sdk::ExplainerDef::Of<Occlusion>("occlusion.ablation").Summary("...") ...);
//
// The macro generates:
//  - the static LoupePluginInfo / LoupeExplainerVTable / LoupeParamSpec tables, built once on the first
//    call of the entry (a function-local static) and valid while the library stays loaded;
//  - the exported entry `loupe_plugin_entry_v1` (LOUPE_DEFINE_PLUGIN_ENTRY), which refuses, with a
//    sentence written into `error`, a host whose ABI major differs from the plugin's or whose ABI minor is
//    older than the plugin's;
//  - noexcept create/explain/destroy trampolines that catch every exception and report it with set_error:
//    loupe::sdk::Error -> its status, std::bad_alloc -> LOUPE_ERROR_OUT_OF_MEMORY, anything else ->
//    LOUPE_ERROR_INTERNAL.
// Build the plugin with loupe_add_plugin() (CMake), which exports only the entry.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "loupe/c/loupe_plugin.h"
#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/error.hpp"
#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/params.hpp"
#include "loupe/sdk/random.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::sdk {

// A plugin: its name, version, one-sentence description and explainers.
struct PluginDef {
  std::string name;
  std::string version;
  std::string description;
  std::vector<ExplainerDef> explainers;
};

namespace detail {

// Owns a PluginDef and the C tables that point into it. Never copied or moved once built, so every
// pointer handed to the host stays valid for the storage's lifetime.
class PluginStorage {
 public:
  explicit PluginStorage(PluginDef def) : def_(std::move(def)) {
    const std::size_t n = def_.explainers.size();
    specs_.resize(n);
    choices_.resize(n);
    capabilities_.resize(n);
    vtables_.resize(n);
    for (std::size_t i = 0; i < n; ++i) BuildExplainer(i);
    for (const auto& vtable : vtables_) vtable_pointers_.push_back(&vtable);
    info_ = LoupePluginInfo{};
    info_.struct_size = sizeof(LoupePluginInfo);
    info_.abi_major = LOUPE_PLUGIN_ABI_MAJOR;
    info_.abi_minor = LOUPE_PLUGIN_ABI_MINOR;
    info_.magic = LOUPE_PLUGIN_MAGIC;
    info_.name = def_.name.c_str();
    info_.version = def_.version.c_str();
    info_.description = def_.description.c_str();
    info_.explainers = vtable_pointers_.data();
    info_.n_explainers = static_cast<std::int64_t>(n);
  }
  PluginStorage(const PluginStorage&) = delete;
  PluginStorage& operator=(const PluginStorage&) = delete;

  const LoupePluginInfo* info() const { return &info_; }

 private:
  void BuildExplainer(std::size_t index) {
    const ExplainerDef& def = def_.explainers[index];
    const auto& params = def.params();
    choices_[index].resize(params.size());
    for (std::size_t p = 0; p < params.size(); ++p) {
      for (const auto& choice : params[p].choices()) choices_[index][p].push_back(choice.c_str());
    }
    for (std::size_t p = 0; p < params.size(); ++p) {
      specs_[index].push_back(ToSpec(params[p], choices_[index][p]));
    }
    for (const auto& capability : def.capabilities()) capabilities_[index].push_back(capability.c_str());

    LoupeExplainerVTable& vtable = vtables_[index];
    vtable = LoupeExplainerVTable{};
    vtable.struct_size = sizeof(LoupeExplainerVTable);
    vtable.scope = def.scope();
    vtable.name = def.name().c_str();
    vtable.summary = def.summary().c_str();
    vtable.output_kind = def.output_kind().c_str();
    vtable.params = specs_[index].data();
    vtable.n_params = static_cast<std::int64_t>(specs_[index].size());
    vtable.required_capabilities = capabilities_[index].data();
    vtable.n_required_capabilities = static_cast<std::int64_t>(capabilities_[index].size());
    vtable.create = def.create();
    vtable.explain = &ExplainTrampoline;
    vtable.destroy = &DestroyTrampoline;
  }

  static LoupeParamSpec ToSpec(const Param& param, const std::vector<const char*>& choices) {
    LoupeParamSpec spec{};
    spec.struct_size = sizeof(LoupeParamSpec);
    spec.type = param.type();
    spec.name = param.name().c_str();
    spec.doc = param.doc().c_str();
    spec.default_json = param.has_default() ? param.default_json().c_str() : nullptr;
    spec.required = param.required() ? 1 : 0;
    spec.has_min = param.has_min() ? 1 : 0;
    spec.has_max = param.has_max() ? 1 : 0;
    spec.min_value = param.min();
    spec.max_value = param.max();
    spec.choices = choices.empty() ? nullptr : choices.data();
    spec.n_choices = static_cast<std::int64_t>(choices.size());
#if LOUPE_PLUGIN_ABI_MINOR >= 2
    spec.role = param.role();
#endif
    return spec;
  }

  const PluginDef def_;
  std::vector<std::vector<LoupeParamSpec>> specs_;
  std::vector<std::vector<std::vector<const char*>>> choices_;
  std::vector<std::vector<const char*>> capabilities_;
  std::vector<LoupeExplainerVTable> vtables_;
  std::vector<const LoupeExplainerVTable*> vtable_pointers_;
  LoupePluginInfo info_{};
};

// The explainers given to LOUPE_PLUGIN, moved into the list when they are temporaries (a braced list copies
// each definition, with all its parameter specs, and then destroys the original).
template <class... Defs>
std::vector<ExplainerDef> ExplainerList(Defs&&... defs) {
  std::vector<ExplainerDef> list;
  list.reserve(sizeof...(defs));
  (list.push_back(std::forward<Defs>(defs)), ...);
  return list;
}

// True when a host of ABI minor `host` is older than a plugin built for minor `plugin`. (A function, so
// that comparing against a minor of 0 does not trip -Wtype-limits.)
inline bool HostIsOlder(std::uint32_t host, std::uint32_t plugin) noexcept { return host < plugin; }

inline void WriteEntryError(char* error, std::size_t capacity, const std::string& message) noexcept {
  if (error != nullptr && capacity > 0) std::snprintf(error, capacity, "%s", message.c_str());
}

// The body of loupe_plugin_entry_v1: checks the host's ABI version, then returns the (once built) tables.
inline const LoupePluginInfo* Entry(std::uint32_t host_major, std::uint32_t host_minor, char* error,
                                    std::size_t capacity, const char* plugin_name,
                                    const PluginStorage& (*storage)()) noexcept {
  try {
    // Built with append(): GCC 12 warns falsely (-Wrestrict, PR 105651) on literal + std::string temporaries.
    std::string plugin = std::string("plugin '").append(plugin_name).append("' was built for plugin ABI v");
    plugin.append(std::to_string(LOUPE_PLUGIN_ABI_MAJOR))
        .append(".")
        .append(std::to_string(LOUPE_PLUGIN_ABI_MINOR));
    std::string host = std::string("this host supports v").append(std::to_string(host_major)).append(".0");
    if (host_minor != 0) {
      host.append(" to v").append(std::to_string(host_major)).append(".").append(std::to_string(host_minor));
    }
    if (host_major != LOUPE_PLUGIN_ABI_MAJOR) {
      WriteEntryError(error, capacity, plugin + " but " + host);
      return nullptr;
    }
    if (HostIsOlder(host_minor, LOUPE_PLUGIN_ABI_MINOR)) {
      WriteEntryError(error, capacity, plugin + ", newer than the host: " + host + "; update Loupe");
      return nullptr;
    }
    return storage().info();
  } catch (const std::exception& failure) {
    WriteEntryError(error, capacity,
                    std::string("plugin '") + plugin_name + "' failed to describe itself: " + failure.what());
  } catch (...) {
    WriteEntryError(error, capacity, std::string("plugin '") + plugin_name + "' failed to describe itself");
  }
  return nullptr;
}

}  // namespace detail
}  // namespace loupe::sdk

// Defines the plugin: LOUPE_PLUGIN(name, version, description, ExplainerDef...). Use once per plugin, at
// file scope, in exactly one source file.
#define LOUPE_PLUGIN(plugin_name, plugin_version, plugin_description, ...)                                   \
  namespace {                                                                                                \
  const ::loupe::sdk::detail::PluginStorage& LoupeSdkPluginStorage() {                                       \
    static const ::loupe::sdk::detail::PluginStorage storage(::loupe::sdk::PluginDef{                        \
        plugin_name, plugin_version, plugin_description, ::loupe::sdk::detail::ExplainerList(__VA_ARGS__)}); \
    return storage;                                                                                          \
  }                                                                                                          \
  const LoupePluginInfo* LoupeSdkPluginEntry(std::uint32_t host_major, std::uint32_t host_minor,             \
                                             char* error, std::size_t capacity) noexcept {                   \
    return ::loupe::sdk::detail::Entry(host_major, host_minor, error, capacity, plugin_name,                 \
                                       &LoupeSdkPluginStorage);                                              \
  }                                                                                                          \
  }                                                                                                          \
  LOUPE_DEFINE_PLUGIN_ENTRY(LoupeSdkPluginEntry)
