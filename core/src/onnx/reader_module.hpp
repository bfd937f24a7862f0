// The interface between core's onnx/reader.cpp and the ONNX reader module (core/modules/onnx_reader.cpp),
// the one shared object of Loupe that links protobuf and libonnx (docs/architecture.md §1, "Modules loaded
// on first use"). Core loads the module with dlopen the first time a process reads an ONNX model, so a run
// that reads none does not load protobuf, whose descriptor registration costs every process that links it
// about 6 M instructions at start-up.
//
// The module is built from the same tree as core and exports one C function returning this table. It
// fills the plain Graph of onnx/graph.hpp (std containers, same compiler and standard library) and links
// no core code: Status, Graph and Value are header-only for it, so it holds no copy of core's globals.
#pragma once

#include <cstddef>

#include "loupe/core/status.hpp"
#include "onnx/graph.hpp"

namespace loupe::onnx {

struct ReaderModule {
  // The build the module comes from: core refuses a module of another version, or whose Graph, Value or
  // Status differ in size from its own (a module left over from another build).
  const char* loupe_version;
  std::size_t graph_size;
  std::size_t value_size;
  std::size_t status_size;
  // Reads `path` into `*graph`; on failure sets `*status` (one sentence naming the file) and leaves
  // `*graph` unspecified. What ReadGraph returns (graph.hpp).
  void (*read_graph)(const char* path, Graph* graph, Status* status);
};

}  // namespace loupe::onnx

// The module's one exported symbol.
#define LOUPE_ONNX_READER_ENTRY "loupe_onnx_reader_module"
extern "C" const loupe::onnx::ReaderModule* loupe_onnx_reader_module();
