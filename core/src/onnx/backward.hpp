// Reverse-mode differentiation of an ONNX graph Loupe runs (core/src/onnx/session.hpp), f32: what the
// `gradient` model capability of ONNX networks (core/src/model/onnx_model.cpp, loupe/core/gradient.hpp)
// chains to differentiate an output tensor with respect to input tensors.
//
// A GradientProgram is made once per (inputs, output) pair when the model loads: it finds the nodes on a
// path from the inputs to the output (nodes whose every input is known at load time, and the shape
// sub-graphs behind Shape / Size / comparisons / integer Casts, carry no gradient) and refuses, with one
// sentence naming the node and its operator, a graph in which such a node has no backward here. Each Run
// is a forward pass over the nodes the output needs, on the session's own kernels, keeping every tensor
// (the unfused plan: the GELU and MatMul + bias fusions are differentiated in their unfused form), and a
// backward pass over the nodes on the path in reverse order, accumulating each tensor's gradient.
//
// Run is const and reentrant: every call keeps its tensors in its own vectors (no shared mutable state),
// and every backward is a fixed-order loop in one thread, summing in double, so the same call gives the same
// bits on any thread and any thread count. Data gradients only: the weights are constants of an explanation.
//
// Data-movement operators (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout, Transpose, Slice,
// Gather, Concat, Split, Expand) are differentiated by running the node's own kernel on tensors holding
// each element's index: the result says which input element every output element copies, and the gradient
// flows back along that map (scatter-add). The indices are float, so a node moving more than 2^24 elements
// is refused at Run with a sentence.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loupe/core/status.hpp"
#include "onnx/session.hpp"

namespace loupe::onnx {

class GradientProgram {
 public:
  // `wrt`: tensors (graph inputs, or any tensor computed from them, e.g. an embedding Gather's output) to
  // differentiate with respect to; `output` the differentiated tensor. Refuses (kInvalidArgument) a node on
  // the path whose operator has no backward: "ONNX model 'm.onnx' offers no gradient: node 'n' (op Foo)
  // has no backward in Loupe."
  static Result<std::unique_ptr<GradientProgram>> Create(const Session& session, std::vector<std::string> wrt,
                                                         std::string output);

  struct Pass {
    Value output;  // the output tensor of the forward pass
    // Per wrt tensor: ∂(Σ seed ⊙ output) / ∂wrt, a double tensor of that tensor's shape (the backward sums
    // in double; the caller rounds).
    std::vector<Value> gradient;
  };

  // Runs the graph on `inputs` (one per graph input) and back. `seed` is called with the output tensor and
  // returns the weights of its elements (a float tensor of the same element count). `overrides`, when not
  // empty, holds one tensor per wrt tensor that REPLACES the value the graph computes for it (e.g.
  // interpolated embeddings); an empty Value leaves that wrt tensor as computed.
  Result<Pass> Run(const std::vector<Value>& inputs, const std::function<Result<Value>(const Value&)>& seed,
                   const std::vector<Value>& overrides = {}) const;

  const std::vector<std::string>& wrt() const { return wrt_; }

 private:
  struct Step {
    const Node* node = nullptr;
    const Kernel* kernel = nullptr;
    std::int64_t opset = 0;
    std::vector<int> inputs;   // tensor ids, -1 for omitted
    std::vector<int> outputs;  // tensor ids, -1 for omitted
  };
  int Id(const std::string& name);
  GradientProgram(const Session& session) : session_(session) {}

  const Session& session_;
  std::vector<std::string> wrt_;
  std::string output_;
  std::vector<std::string> names_;       // tensor id → name
  std::vector<const Value*> constants_;  // tensor id → its load-time value, or nullptr
  std::vector<std::uint8_t> active_;     // tensor id → carries a gradient
  std::vector<int> wrt_ids_;
  int output_id_ = -1;
  std::vector<Step> steps_;  // topological order: the nodes the output needs (folded ones excepted)
  std::vector<std::uint8_t> backward_;  // per step: on a path from a wrt tensor to the output
  std::vector<int> input_ids_;          // per graph input: its tensor id, or -1 when the output needs none
};

}  // namespace loupe::onnx
