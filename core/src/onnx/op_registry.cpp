// The registry of supported ONNX operators, its text for refusals and its Markdown table for the docs.
#include <algorithm>

#include "onnx/ops.hpp"

namespace loupe::onnx {

const std::vector<OpSchema>& OpRegistry() {
  static const std::vector<OpSchema> registry = [] {
    std::vector<OpSchema> ops;
    AddMathOps(ops);
    AddShapeOps(ops);
    AddMlOps(ops);
    AddTreeEnsembleOps(ops);
    std::sort(ops.begin(), ops.end(), [](const OpSchema& a, const OpSchema& b) {
      return std::tie(a.domain, a.op_type) < std::tie(b.domain, b.op_type);
    });
    return ops;
  }();
  return registry;
}

const OpSchema* FindOp(const std::string& domain, const std::string& op_type) {
  for (const OpSchema& op : OpRegistry()) {
    if (op.domain == domain && op.op_type == op_type) return &op;
  }
  return nullptr;
}

std::string SupportedOpsText() {
  std::string text;
  std::string domain = "-";
  for (const OpSchema& op : OpRegistry()) {
    if (op.domain != domain) {
      if (!text.empty()) text += "; ";
      text += (op.domain.empty() ? "ai.onnx" : op.domain) + ": ";
      domain = op.domain;
    } else {
      text += ", ";
    }
    text += op.op_type;
  }
  return text;
}

std::string OpsMarkdown() {
  std::string text =
      "| domain | operator | notes |\n"
      "| --- | --- | --- |\n";
  for (const OpSchema& op : OpRegistry()) {
    text += "| " + (op.domain.empty() ? std::string("ai.onnx") : op.domain) + " | " + op.op_type + " | " +
            op.notes + " |\n";
  }
  return text;
}

Status NodeError(const Node& node, const std::string& what) {
  return InvalidArgument("node '" + node.name + "' (" + node.op_type + "): " + what);
}

std::int64_t IntAttr(const Node& node, const std::string& name, std::int64_t fallback) {
  const Attribute* a = node.Find(name);
  return a != nullptr && a->kind == Attribute::Kind::kInt ? a->i : fallback;
}

float FloatAttr(const Node& node, const std::string& name, float fallback) {
  const Attribute* a = node.Find(name);
  return a != nullptr && a->kind == Attribute::Kind::kFloat ? a->f : fallback;
}

std::string StringAttr(const Node& node, const std::string& name, const std::string& fallback) {
  const Attribute* a = node.Find(name);
  return a != nullptr && a->kind == Attribute::Kind::kString ? a->s : fallback;
}

std::vector<std::int64_t> IntsAttr(const Node& node, const std::string& name) {
  const Attribute* a = node.Find(name);
  return a != nullptr ? a->ints : std::vector<std::int64_t>();
}

std::vector<float> FloatsAttr(const Node& node, const std::string& name) {
  const Attribute* a = node.Find(name);
  if (a == nullptr) return {};
  // ai.onnx.ml opset 3 stores some lists as tensors (`nodes_values_as_tensor`, ...).
  if (a->kind == Attribute::Kind::kTensor) return AsFloats(a->tensor);
  return a->floats;
}

std::vector<std::string> StringsAttr(const Node& node, const std::string& name) {
  const Attribute* a = node.Find(name);
  return a != nullptr ? a->strings : std::vector<std::string>();
}

std::vector<float> AsFloats(const Value& value) {
  std::vector<float> out = TakeFloats(static_cast<std::size_t>(value.size()));
  if (value.type == DataType::kFloat) {
    out.assign(value.f.begin(), value.f.end());
    return out;
  }
  out.resize(static_cast<std::size_t>(value.size()));
  for (std::int64_t k = 0; k < value.size(); ++k)
    out[static_cast<std::size_t>(k)] = static_cast<float>(NumberAt(value, k));
  return out;
}

Status RequireInput(const Node& node, const std::vector<const Value*>& inputs, std::size_t k) {
  if (k >= inputs.size() || inputs[k] == nullptr) {
    return NodeError(node, "input " + std::to_string(k) + " is required but missing.");
  }
  const DataType type = inputs[k]->type;
  if (type != DataType::kFloat && type != DataType::kDouble && !IsIntegral(type)) {
    return NodeError(node, "input " + std::to_string(k) + " is a " + DataTypeName(type) +
                               " tensor where a number tensor is expected.");
  }
  return Status::Ok();
}

}  // namespace loupe::onnx
