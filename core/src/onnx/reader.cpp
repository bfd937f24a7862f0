// ReadGraph (onnx/graph.hpp): hands each .onnx file to the ONNX reader module (core/modules/
// onnx_reader.cpp, the only code of Loupe that includes protobuf or ONNX headers), which this file loads
// with dlopen the first time a process reads an ONNX model, so a run that reads none does not load
// protobuf and libonnx (docs/architecture.md §1, "Modules loaded on first use"). Built without libonnx-dev
// (LOUPE_WITH_ONNX off), ReadGraph refuses every file with a sentence saying so.
#include <dlfcn.h>

#include "onnx/graph.hpp"
#include "onnx/reader_module.hpp"

namespace loupe::onnx {

const Attribute* Node::Find(const std::string& attribute) const {
  const auto it = attributes.find(attribute);
  return it == attributes.end() ? nullptr : &it->second;
}

#if !LOUPE_WITH_ONNX

bool OnnxSupported() { return false; }
std::string OnnxLibraryVersion() { return ""; }
OnnxModuleLookup FindOnnxModule() { return {}; }

Result<Graph> ReadGraph(const std::filesystem::path& path) {
  return InvalidArgument(
      "model '" + path.string() +
      "' is an ONNX model, but this build of Loupe has no ONNX support (it was built without "
      "libonnx-dev and libprotobuf-dev; see `loupe version`).");
}

#else

bool OnnxSupported() { return true; }
std::string OnnxLibraryVersion() { return LOUPE_ONNX_LIBRARY_VERSION; }

namespace {

constexpr const char* kModuleFile = "loupe_onnx_reader.so";

// The module, loaded once per process (on the first ONNX model), or why it could not be.
struct LoadedModule {
  const ReaderModule* module = nullptr;
  std::string error;  // a sentence's end: "... cannot be read: <error>"
};

LoadedModule Load() {
  const OnnxModuleLookup lookup = FindOnnxModule();
  if (lookup.module.empty()) {
    return {nullptr, "Loupe's ONNX reader module " + std::string(kModuleFile) + " was not found (looked " +
                         lookup.Where() +
                         "); reinstall Loupe, or set LOUPE_MODULE_PATH to the folder that holds it."};
  }
  // RTLD_LOCAL: protobuf's and libonnx's symbols stay the module's. RTLD_LAZY, as the objects loaded at
  // start-up are bound: RTLD_NOW resolved every PLT entry of protobuf at once, 5 M instructions more (an
  // ONNX `loupe predict` of 4,454 rows ran 191.3 M instructions instead of 186.2 M; 184.2 M when core
  // linked protobuf). The module is from the same build (checked below), so no symbol is missing later.
  void* handle = dlopen(lookup.module.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return {nullptr, "Loupe's ONNX reader module '" + lookup.module.string() + "' could not be loaded (" +
                         (why != nullptr ? why : "unknown error") +
                         "); install libonnx and libprotobuf (scripts/install-deps.sh), or rebuild Loupe."};
  }
  using Entry = const ReaderModule* (*)();
  const auto entry = reinterpret_cast<Entry>(dlsym(handle, LOUPE_ONNX_READER_ENTRY));
  const ReaderModule* module = entry != nullptr ? entry() : nullptr;
  if (module == nullptr || std::string(module->loupe_version) != LOUPE_VERSION ||
      module->graph_size != sizeof(Graph) || module->value_size != sizeof(Value) ||
      module->status_size != sizeof(Status)) {
    dlclose(handle);
    return {nullptr, "Loupe's ONNX reader module '" + lookup.module.string() +
                         "' is not from this build of Loupe " + LOUPE_VERSION + " (" +
                         (module == nullptr ? std::string("it has no ") + LOUPE_ONNX_READER_ENTRY
                                            : "it comes from Loupe " + std::string(module->loupe_version)) +
                         "); reinstall Loupe, or set LOUPE_MODULE_PATH to this build's lib/loupe/modules."};
  }
  return {module, ""};  // never closed: the graphs it read own no memory of it, but protobuf stays loaded
}

}  // namespace

OnnxModuleLookup FindOnnxModule() { return modules::FindModule(kModuleFile); }

Result<Graph> ReadGraph(const std::filesystem::path& path) {
  static const LoadedModule loaded = Load();  // thread-safe: the first caller loads, the others wait
  if (loaded.module == nullptr) {
    return NotFound("model '" + path.string() + "' is an ONNX model, but " + loaded.error);
  }
  Graph graph;
  Status status;
  loaded.module->read_graph(path.c_str(), &graph, &status);
  if (!status.ok()) return status;
  return graph;
}

#endif

}  // namespace loupe::onnx
