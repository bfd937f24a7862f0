// Finding core's modules (docs/architecture.md §1, "Modules loaded on first use"): the shared objects in
// lib/loupe/modules/ that core loads with dlopen the first time a process needs them, so that a process
// that does not need them does not load the libraries they link (the ONNX reader: protobuf and libonnx,
// onnx/reader.cpp; MPI: libmpi and the six libraries it needs, mpi/world.cpp).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace loupe::modules {

// Where one module is, found without loading it: `module` is empty when no folder of `searched` holds it.
struct ModuleLookup {
  std::filesystem::path module;
  std::filesystem::path object;                 // the file holding core's code, whose folders were searched
  std::vector<std::filesystem::path> searched;  // the folders that exist or were named, in search order
  // "above OBJECT for lib/loupe/modules, then in A, B": for sentences.
  std::string Where() const;
};

// Looks for the module file `file_name` ("loupe_mpi.so"), in order: lib/loupe/modules (or
// <libdir>/loupe/modules) above the object holding core's code, the nearest up to four levels up
// (bin/loupe -> ../lib; build/lib/python/loupe/_core*.so -> build/lib; PREFIX/lib/python3.X/dist-packages/
// loupe/_core*.so -> PREFIX/<libdir>); then each folder of LOUPE_MODULE_PATH; then the modules folder beside
// each plugin folder of LOUPE_PLUGIN_PATH (an embedding application run against an installed Loupe sets
// that one already); then the configured install prefix's. The environment comes before the prefix so that
// it can point past a stale install there.
ModuleLookup FindModule(std::string_view file_name);

}  // namespace loupe::modules
