// FindModule (modules/find_module.hpp): the one search for core's modules, the ONNX reader's and MPI's.
#include "modules/find_module.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <sstream>
#include <system_error>

namespace loupe::modules {

namespace fs = std::filesystem;

namespace {

// The file that holds this function: the loupe executable, the Python extension module, or an application
// that links core from the CMake package.
fs::path CoreObject() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&FindModule), &info) == 0 || info.dli_fname == nullptr) return {};
  std::error_code ec;
  fs::path object = fs::canonical(info.dli_fname, ec);
  return ec ? fs::path() : object;
}

void AddFolder(std::vector<fs::path>& folders, fs::path folder) {
  folder = folder.lexically_normal();
  if (!folder.has_filename() && folder.has_parent_path()) folder = folder.parent_path();
  for (const fs::path& known : folders)
    if (known == folder) return;
  folders.push_back(std::move(folder));
}

// The folders searched, in order (FindModule).
std::vector<fs::path> SearchFolders(const fs::path& object) {
  std::vector<fs::path> folders;
  fs::path up = object.parent_path();
  for (int level = 0; level < 5 && !up.empty(); ++level) {
    for (const fs::path& candidate : {up / "lib" / "loupe" / "modules", up / LOUPE_MODULE_INSTALL_DIR}) {
      std::error_code ec;
      if (fs::is_directory(candidate, ec)) AddFolder(folders, candidate);
    }
    if (!folders.empty() || up == up.root_path()) break;
    up = up.parent_path();
  }
  if (const char* env = std::getenv("LOUPE_MODULE_PATH"); env != nullptr) {
    std::istringstream entries(env);
    for (std::string entry; std::getline(entries, entry, ':');) {
      if (!entry.empty()) AddFolder(folders, entry);
    }
  }
  if (const char* env = std::getenv("LOUPE_PLUGIN_PATH"); env != nullptr) {
    std::istringstream entries(env);
    for (std::string entry; std::getline(entries, entry, ':');) {
      if (entry.empty()) continue;
      fs::path plugins = fs::path(entry).lexically_normal();
      if (!plugins.has_filename()) plugins = plugins.parent_path();  // "a/plugins/" is "a/plugins"
      const fs::path beside = plugins.parent_path() / "modules";
      std::error_code ec;
      if (fs::is_directory(beside, ec)) AddFolder(folders, beside);
    }
  }
  AddFolder(folders, LOUPE_MODULE_INSTALL_FULL_DIR);
  return folders;
}

}  // namespace

std::string ModuleLookup::Where() const {
  std::string text =
      "above " + (object.empty() ? std::string("the program") : object.string()) + " for lib/loupe/modules";
  for (std::size_t k = 0; k < searched.size(); ++k)
    text += (k == 0 ? ", then in " : ", ") + searched[k].string();
  return text;
}

ModuleLookup FindModule(std::string_view file_name) {
  ModuleLookup lookup;
  lookup.object = CoreObject();
  lookup.searched = SearchFolders(lookup.object);
  for (const fs::path& folder : lookup.searched) {
    std::error_code ec;
    if (fs::is_regular_file(folder / file_name, ec)) {
      lookup.module = folder / file_name;
      break;
    }
  }
  return lookup;
}

}  // namespace loupe::modules
