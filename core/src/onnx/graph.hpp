// An ONNX model as plain C++ data: what core/src/onnx/reader.cpp reads from a .onnx file with Debian's
// libonnx-dev (protobuf) and hands to the rest of Loupe, so that no other file includes a protobuf header
// (docs/architecture.md §1, "one room per dependency"). Only what Loupe executes is kept: the main graph's
// nodes, initializers, inputs, outputs, opsets and metadata_props.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "loupe/core/status.hpp"
#include "modules/find_module.hpp"
#include "onnx/value.hpp"

namespace loupe::onnx {

// The IR versions and default-domain opsets this build reads (refused outside them, one sentence each).
inline constexpr int kMinIrVersion = 7;
inline constexpr int kMaxIrVersion = 9;
inline constexpr int kMinOpset = 11;
inline constexpr int kMaxOpset = 20;
// The ONNX-ML domain and the opsets of it the ML operators are read for.
inline constexpr const char* kMlDomain = "ai.onnx.ml";
inline constexpr int kMaxMlOpset = 3;

// One attribute of a node; which fields are set follows `kind`.
struct Attribute {
  enum class Kind { kFloat, kInt, kString, kTensor, kFloats, kInts, kStrings, kOther };
  Kind kind = Kind::kOther;
  float f = 0.0f;
  std::int64_t i = 0;
  std::string s;
  Value tensor;
  std::vector<float> floats;
  std::vector<std::int64_t> ints;
  std::vector<std::string> strings;
};

struct Node {
  std::string name;                  // may be empty in the file: the reader then names it "<op_type>#<index>"
  std::string op_type;               // "Gemm", "TreeEnsembleClassifier", ...
  std::string domain;                // "" for the default domain (ai.onnx), "ai.onnx.ml"
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;  // "" marks an omitted optional output
  std::map<std::string, Attribute> attributes;

  const Attribute* Find(const std::string& attribute) const;
};

// A graph input or output: element type and shape (a dimension < 0 is symbolic, e.g. the batch).
struct ValueInfo {
  std::string name;
  bool is_tensor = true;  // false for sequences and maps (ZipMap's output)
  DataType type = DataType::kUndefined;
  std::vector<std::int64_t> shape;
  bool has_shape = false;
};

struct Graph {
  std::string source;  // the file, for messages
  std::string name;
  std::int64_t ir_version = 0;
  std::map<std::string, std::int64_t> opsets;  // domain ("" = ai.onnx) → version
  std::vector<Node> nodes;
  std::map<std::string, Value> initializers;
  std::vector<ValueInfo> inputs;  // the graph's inputs that are not initializers
  std::vector<ValueInfo> outputs;
  std::map<std::string, std::string> metadata;  // metadata_props

  // The version of `domain` imported, 0 when it is not.
  std::int64_t Opset(const std::string& domain) const {
    const auto it = opsets.find(domain);
    return it == opsets.end() ? 0 : it->second;
  }
};

// Whether this build reads ONNX files (libonnx-dev was found: LOUPE_WITH_ONNX), and the library's version
// (as configured; neither loads the reader module).
bool OnnxSupported();
std::string OnnxLibraryVersion();

// Where the ONNX reader module (lib/loupe/modules/loupe_onnx_reader.so, core/src/onnx/reader_module.hpp)
// is, found without loading it (modules::FindModule): `module` is empty when no folder of `searched` holds
// it (and always in a build without ONNX support).
using OnnxModuleLookup = modules::ModuleLookup;
OnnxModuleLookup FindOnnxModule();

// Reads and checks the container of `path`: a parsable protobuf (a truncated file is refused), IR version
// and default-domain opset within range, tensors in external data files that exist. Errors are one
// sentence naming the file (StatusCode::kInvalidArgument: a bad model is bad input, exit 2). The first call
// of a process loads the reader module (FindOnnxModule); when it cannot be found or loaded every call
// fails with a sentence saying where it was looked for and how to fix it (kNotFound, exit 2).
Result<Graph> ReadGraph(const std::filesystem::path& path);

}  // namespace loupe::onnx
