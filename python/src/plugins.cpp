#include "plugins.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <sstream>

namespace fs = std::filesystem;

namespace loupe::python {

namespace {

struct RegistryState {
  PluginRegistry registry;
  std::vector<std::string> warnings;
  std::vector<fs::path> locations;
};

// The built-in plugin folder: build/lib/loupe/plugins when the module is build/lib/python/loupe/_core*.so;
// PREFIX/<libdir>/loupe/plugins when it is PREFIX/lib/python3.X/dist-packages/loupe/_core*.so.
std::vector<fs::path> BuiltInFolders() {
  std::vector<fs::path> found;
  std::error_code ec;
  fs::path folder = ModuleFolder();
  for (int up = 0; up < 5 && !folder.empty(); ++up, folder = folder.parent_path()) {
    for (const fs::path& candidate : {folder / "loupe" / "plugins", folder / LOUPE_PLUGIN_INSTALL_DIR}) {
      if (fs::is_directory(candidate, ec)) found.push_back(fs::canonical(candidate, ec));
    }
    if (!found.empty()) break;
  }
  return found;
}

// The built-in folder, then each entry of LOUPE_PLUGIN_PATH. Not PluginSearchPath(): its first folder is
// the one beside the running program, here the Python interpreter's, which holds no Loupe plugins (or
// those of another Loupe installation, whose explainers would shadow these).
std::vector<fs::path> SearchPath() {
  std::vector<fs::path> path = BuiltInFolders();
  if (const char* env = std::getenv("LOUPE_PLUGIN_PATH"); env != nullptr) {
    std::istringstream entries(env);
    for (std::string entry; std::getline(entries, entry, ':');) {
      if (!entry.empty()) path.emplace_back(entry);
    }
  }
  return path;
}

RegistryState& State() {
  static RegistryState state = [] {
    RegistryState initial;
    for (const fs::path& dir : SearchPath()) {
      initial.locations.push_back(dir);
      for (const Status& failure : initial.registry.LoadDirectory(dir))
        initial.warnings.push_back(failure.message());
    }
    return initial;
  }();
  return state;
}

std::mutex& RegistryMutex() {
  static std::mutex mutex;
  return mutex;
}

}  // namespace

fs::path ModuleFolder() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&ModuleFolder), &info) == 0 || info.dli_fname == nullptr)
    return {};
  std::error_code ec;
  const fs::path module = fs::canonical(info.dli_fname, ec);
  return ec ? fs::path() : module.parent_path();
}

PluginRegistry& Registry() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  return State().registry;
}

const std::vector<std::string>& LoadWarnings() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  return State().warnings;
}

Status LoadPlugins(const fs::path& path) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  RegistryState& state = State();
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec).lexically_normal();
  if (!fs::exists(absolute, ec)) return NotFound("plugin path '" + path.string() + "' does not exist.");
  if (fs::is_directory(absolute, ec)) {
    const std::vector<Status> failures = state.registry.LoadDirectory(absolute);
    if (!failures.empty()) return failures.front();
  } else {
    LOUPE_RETURN_IF_ERROR(state.registry.Load(absolute));
  }
  state.locations.push_back(absolute);
  return Status::Ok();
}

std::vector<fs::path> PluginLocations() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  return State().locations;
}

}  // namespace loupe::python
