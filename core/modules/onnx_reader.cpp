// The ONNX reader module: reads a .onnx file (a protobuf ModelProto) into the plain Graph of
// onnx/graph.hpp. The only file of Loupe that includes protobuf or ONNX headers, built into its own shared
// object (lib/loupe/modules/loupe_onnx_reader.so) that core/src/onnx/reader.cpp loads the first time a
// process reads an ONNX model (docs/architecture.md §1); every protobuf quirk becomes one sentence here.
// It links no core code (core/src/onnx/reader_module.hpp says why).
#include <cstring>
#include <fstream>
#include <sstream>

#include <onnx/onnx_pb.h>

#include "onnx/graph.hpp"
#include "onnx/reader_module.hpp"

namespace loupe::onnx {

namespace {

Status Refuse(const std::string& source, const std::string& what) {
  return InvalidArgument("ONNX model '" + source + "': " + what);
}

Result<std::string> ReadBytes(const std::filesystem::path& path, std::int64_t offset, std::int64_t length) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot open '" + path.string() + "'.");
  std::string bytes;
  if (length < 0) {
    std::ostringstream all;
    in.seekg(offset);
    all << in.rdbuf();
    return all.str();
  }
  bytes.resize(static_cast<std::size_t>(length));
  in.seekg(offset);
  // append, not "'" + path.string(): GCC 12 -O3 warns on that here (-Wrestrict, a false positive).
  if (!in.read(bytes.data(), length))
    return IoError(std::string("'").append(path.string()).append("' is shorter than its tensor."));
  return bytes;
}

// The bytes of a tensor stored outside the model (TensorProto.data_location = EXTERNAL), read from the
// file named by its "location" entry, relative to the model's folder.
Result<std::string> ExternalBytes(const ::onnx::TensorProto& proto, const std::filesystem::path& model_path) {
  std::string location;
  std::int64_t offset = 0;
  std::int64_t length = -1;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") location = entry.value();
    if (entry.key() == "offset") offset = std::stoll(entry.value());
    if (entry.key() == "length") length = std::stoll(entry.value());
  }
  const std::filesystem::path file = model_path.parent_path() / location;
  std::error_code ec;
  if (location.empty() || !std::filesystem::is_regular_file(file, ec)) {
    return Refuse(model_path.string(), "tensor '" + proto.name() + "' is stored in the external data file '" +
                                           location + "', which is not beside the model (expected '" +
                                           file.string() + "').");
  }
  return ReadBytes(file, offset, length);
}

template <typename T>
std::vector<T> FromRaw(const std::string& raw) {
  std::vector<T> out(raw.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), raw.data(), out.size() * sizeof(T));
  return out;
}

Result<Value> ConvertTensor(const ::onnx::TensorProto& proto, const std::filesystem::path& model_path) {
  Value value;
  value.type = static_cast<DataType>(proto.data_type());
  value.shape.assign(proto.dims().begin(), proto.dims().end());
  std::string raw = proto.raw_data();
  const bool external = proto.data_location() == ::onnx::TensorProto::EXTERNAL;
  if (external) {
    LOUPE_ASSIGN_OR_RETURN(raw, ExternalBytes(proto, model_path));
  }
  const bool from_raw = external || proto.has_raw_data();
  switch (value.type) {
    case DataType::kFloat:
      value.f = from_raw ? FromRaw<float>(raw)
                         : std::vector<float>(proto.float_data().begin(), proto.float_data().end());
      break;
    case DataType::kDouble:
      value.d = from_raw ? FromRaw<double>(raw)
                         : std::vector<double>(proto.double_data().begin(), proto.double_data().end());
      break;
    case DataType::kInt64:
      value.i = from_raw ? FromRaw<std::int64_t>(raw)
                         : std::vector<std::int64_t>(proto.int64_data().begin(), proto.int64_data().end());
      break;
    case DataType::kInt32:
    case DataType::kBool:
    case DataType::kUint8:
    case DataType::kInt8:
      if (from_raw) {
        if (value.type == DataType::kInt32) {
          for (const std::int32_t v : FromRaw<std::int32_t>(raw)) value.i.push_back(v);
        } else {
          for (const char c : raw)
            value.i.push_back(value.type == DataType::kInt8 ? static_cast<std::int8_t>(c)
                                                            : static_cast<std::uint8_t>(c));
        }
      } else {
        value.i.assign(proto.int32_data().begin(), proto.int32_data().end());
      }
      break;
    case DataType::kString:
      value.s.assign(proto.string_data().begin(), proto.string_data().end());
      break;
    default:
      return Refuse(model_path.string(),
                    "tensor '" + proto.name() + "' has element type " + std::to_string(proto.data_type()) +
                        ", which Loupe does not execute (float, double, int8, uint8, int32, "
                        "int64, bool and string are supported).");
  }
  const std::int64_t stored =
      static_cast<std::int64_t>(value.f.size() + value.d.size() + value.i.size() + value.s.size());
  if (stored != value.size()) {
    return Refuse(model_path.string(), "tensor '" + proto.name() + "' of shape " + ShapeText(value.shape) +
                                           " holds " + std::to_string(stored) + " values instead of " +
                                           std::to_string(value.size()) + " (a truncated file?).");
  }
  return value;
}

Result<Attribute> ConvertAttribute(const ::onnx::AttributeProto& proto, const std::filesystem::path& path) {
  Attribute a;
  switch (proto.type()) {
    case ::onnx::AttributeProto::FLOAT:
      a.kind = Attribute::Kind::kFloat;
      a.f = proto.f();
      break;
    case ::onnx::AttributeProto::INT:
      a.kind = Attribute::Kind::kInt;
      a.i = proto.i();
      break;
    case ::onnx::AttributeProto::STRING:
      a.kind = Attribute::Kind::kString;
      a.s = proto.s();
      break;
    case ::onnx::AttributeProto::TENSOR: {
      a.kind = Attribute::Kind::kTensor;
      LOUPE_ASSIGN_OR_RETURN(a.tensor, ConvertTensor(proto.t(), path));
      break;
    }
    case ::onnx::AttributeProto::FLOATS:
      a.kind = Attribute::Kind::kFloats;
      a.floats.assign(proto.floats().begin(), proto.floats().end());
      break;
    case ::onnx::AttributeProto::INTS:
      a.kind = Attribute::Kind::kInts;
      a.ints.assign(proto.ints().begin(), proto.ints().end());
      break;
    case ::onnx::AttributeProto::STRINGS:
      a.kind = Attribute::Kind::kStrings;
      a.strings.assign(proto.strings().begin(), proto.strings().end());
      break;
    default:
      a.kind = Attribute::Kind::kOther;  // graphs, sparse tensors, type protos: no supported op reads them
  }
  return a;
}

ValueInfo ConvertValueInfo(const ::onnx::ValueInfoProto& proto) {
  ValueInfo info;
  info.name = proto.name();
  if (!proto.type().has_tensor_type()) {
    info.is_tensor = false;
    return info;
  }
  const auto& tensor = proto.type().tensor_type();
  info.type = static_cast<DataType>(tensor.elem_type());
  info.has_shape = tensor.has_shape();
  for (const auto& dim : tensor.shape().dim())
    info.shape.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
  return info;
}

Status CheckVersions(const Graph& graph) {
  if (graph.ir_version < kMinIrVersion || graph.ir_version > kMaxIrVersion) {
    return Refuse(graph.source, "IR version " + std::to_string(graph.ir_version) +
                                    " is outside the versions " + std::to_string(kMinIrVersion) + " to " +
                                    std::to_string(kMaxIrVersion) + " Loupe reads.");
  }
  const std::int64_t opset = graph.Opset("");
  if (opset < kMinOpset || opset > kMaxOpset) {
    const bool ml_only = opset == 0 && graph.Opset(kMlDomain) > 0;
    if (!ml_only) {
      return Refuse(graph.source,
                    "opset " + std::to_string(opset) + " of the default domain is outside the opsets " +
                        std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) + " Loupe reads.");
    }
  }
  if (graph.Opset(kMlDomain) > kMaxMlOpset) {
    return Refuse(graph.source, "opset " + std::to_string(graph.Opset(kMlDomain)) +
                                    " of domain ai.onnx.ml is newer " + "than the opsets 1 to " +
                                    std::to_string(kMaxMlOpset) + " Loupe reads.");
  }
  return Status::Ok();
}

Result<Graph> ConvertModel(const ::onnx::ModelProto& model, const std::filesystem::path& path) {
  Graph graph;
  graph.source = path.string();
  graph.ir_version = model.ir_version();
  for (const auto& opset : model.opset_import()) {
    graph.opsets[opset.domain() == "ai.onnx" ? "" : opset.domain()] = opset.version();
  }
  LOUPE_RETURN_IF_ERROR(CheckVersions(graph));
  for (const auto& entry : model.metadata_props()) graph.metadata[entry.key()] = entry.value();
  const auto& g = model.graph();
  graph.name = g.name();
  for (const auto& tensor : g.initializer()) {
    LOUPE_ASSIGN_OR_RETURN(Value value, ConvertTensor(tensor, path));
    graph.initializers[tensor.name()] = std::move(value);
  }
  for (const auto& input : g.input()) {
    if (!graph.initializers.contains(input.name())) graph.inputs.push_back(ConvertValueInfo(input));
  }
  for (const auto& output : g.output()) graph.outputs.push_back(ConvertValueInfo(output));
  for (int k = 0; k < g.node_size(); ++k) {
    const auto& proto = g.node(k);
    Node node;
    node.op_type = proto.op_type();
    node.name = proto.name().empty() ? proto.op_type() + "#" + std::to_string(k) : proto.name();
    node.domain = proto.domain() == "ai.onnx" ? "" : proto.domain();
    node.inputs.assign(proto.input().begin(), proto.input().end());
    node.outputs.assign(proto.output().begin(), proto.output().end());
    for (const auto& attribute : proto.attribute()) {
      LOUPE_ASSIGN_OR_RETURN(node.attributes[attribute.name()], ConvertAttribute(attribute, path));
    }
    graph.nodes.push_back(std::move(node));
  }
  if (graph.outputs.empty()) return Refuse(graph.source, "the graph declares no outputs.");
  return graph;
}

Result<Graph> ReadGraph(const std::filesystem::path& path) {
  LOUPE_ASSIGN_OR_RETURN(const std::string bytes, ReadBytes(path, 0, -1));
  ::onnx::ModelProto model;
  if (bytes.empty() || !model.ParseFromString(bytes)) {
    return Refuse(path.string(), "the file is not a complete ONNX protobuf (" + std::to_string(bytes.size()) +
                                     " bytes that do not parse as a ModelProto: truncated or not ONNX).");
  }
  if (!model.has_graph()) return Refuse(path.string(), "the file holds no graph (truncated or not ONNX).");
  return ConvertModel(model, path);
}

void ReadGraphEntry(const char* path, Graph* graph, Status* status) {
  Result<Graph> read = ReadGraph(std::filesystem::path(path));
  if (read.ok()) {
    *graph = std::move(read).value();
    *status = Status::Ok();
  } else {
    *status = read.status();
  }
}

}  // namespace

}  // namespace loupe::onnx

extern "C" __attribute__((visibility("default"))) const loupe::onnx::ReaderModule*
loupe_onnx_reader_module() {
  static const loupe::onnx::ReaderModule module{.loupe_version = LOUPE_VERSION,
                                                .graph_size = sizeof(loupe::onnx::Graph),
                                                .value_size = sizeof(loupe::onnx::Value),
                                                .status_size = sizeof(loupe::Status),
                                                .read_graph = &loupe::onnx::ReadGraphEntry};
  return &module;
}
