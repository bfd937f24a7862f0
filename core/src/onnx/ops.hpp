// The operator registry of Loupe's ONNX execution (docs/architecture.md §1, core/src/onnx): one entry per
// (domain, op type) Loupe executes, each with a kernel factory. A kernel is built once per node when the
// model loads (reading the node's attributes and its constant inputs, e.g. weights prepared for the nn
// runtime) and then runs many times, from many TBB tasks at once: Run is const and reentrant.
//
// The registry is the single list of what is supported: refusals of unsupported operators list it, and
// docs/onnx_operators.md is generated from it (tests/core/onnx/onnx_model_test.cpp compares the two).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "loupe/core/status.hpp"
#include "nn/ops.hpp"
#include "onnx/graph.hpp"
#include "onnx/value.hpp"

namespace loupe::onnx {

struct RunContext {
  // Classifiers (TreeEnsembleClassifier, LinearClassifier) skip their post_transform and give their raw
  // scores (margins): the model's raw output space.
  bool raw_scores = false;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  // inputs: one per node input, nullptr for an omitted optional input; outputs: one per node output, to
  // be filled (an omitted optional output may be left empty).
  virtual Status Run(const std::vector<const Value*>& inputs, std::vector<Value>& outputs,
                     const RunContext& context) const = 0;
};

// A kernel whose Run is a function of the node (and of what the factory captured from it at load).
template <typename Body>
class FunctionKernel final : public Kernel {
 public:
  FunctionKernel(const Node& node, Body body) : node_(node), body_(std::move(body)) {}
  Status Run(const std::vector<const Value*>& inputs, std::vector<Value>& outputs,
             const RunContext& context) const override {
    return body_(node_, inputs, outputs, context);
  }

 private:
  Node node_;
  Body body_;
};
template <typename Body>
Result<std::unique_ptr<Kernel>> MakeKernel(const Node& node, Body body) {
  return std::unique_ptr<Kernel>(std::make_unique<FunctionKernel<Body>>(node, std::move(body)));
}

// What a kernel factory sees when the model loads.
struct KernelBuild {
  const Node& node;
  std::int64_t opset;                   // the model's opset of the node's domain
  std::vector<const Value*> constants;  // per input: its value when known at load time, else nullptr
  // The dense layers' (MatMul / Gemm with constant weights) precision: kBF16 runs them in bf16 where the
  // CPU has it (nn::Bf16Supported), as a native model's `precision: bf16` does.
  nn::Precision precision = nn::Precision::kF32;
};

using KernelFactory = Result<std::unique_ptr<Kernel>> (*)(const KernelBuild&);

struct OpSchema {
  std::string domain;  // "" (ai.onnx) or "ai.onnx.ml"
  std::string op_type;
  std::string notes;  // one line for the docs table: attributes or cases not supported, semantics chosen
  KernelFactory make;
};

const std::vector<OpSchema>& OpRegistry();
const OpSchema* FindOp(const std::string& domain, const std::string& op_type);
// "Abs, Add, ... ; ai.onnx.ml: ArrayFeatureExtractor, ..." for refusals.
std::string SupportedOpsText();
// The Markdown table of docs/onnx_operators.md.
std::string OpsMarkdown();

// Registration, one function per ops file.
void AddMathOps(std::vector<OpSchema>& ops);
void AddShapeOps(std::vector<OpSchema>& ops);
void AddMlOps(std::vector<OpSchema>& ops);
void AddTreeEnsembleOps(std::vector<OpSchema>& ops);

// A kernel computing x · weight + bias on the nn runtime's dense layer, for rows of x [..., K]: weight a
// constant [K, N] (MatMul's B), bias a constant of N values or null. The session fuses MatMul + Add into it.
Result<std::unique_ptr<Kernel>> MakeDenseKernel(const Node& node, const Value& weight, const Value* bias,
                                                nn::Precision precision);

// Helpers for kernels: one sentence naming the node.
Status NodeError(const Node& node, const std::string& what);
// Attribute readers with defaults.
std::int64_t IntAttr(const Node& node, const std::string& name, std::int64_t fallback);
float FloatAttr(const Node& node, const std::string& name, float fallback);
std::string StringAttr(const Node& node, const std::string& name, const std::string& fallback);
std::vector<std::int64_t> IntsAttr(const Node& node, const std::string& name);
std::vector<float> FloatsAttr(const Node& node, const std::string& name);
std::vector<std::string> StringsAttr(const Node& node, const std::string& name);
// A float copy of a numeric tensor (float, double or integral).
std::vector<float> AsFloats(const Value& value);
// Checks that input `k` exists and is a tensor of one of the numeric types.
Status RequireInput(const Node& node, const std::vector<const Value*>& inputs, std::size_t k);

}  // namespace loupe::onnx
