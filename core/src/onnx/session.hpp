// An ONNX graph made ready to run (docs/architecture.md §3, §4): the nodes in topological order, each with
// the kernel of its operator (onnx/ops.hpp), the nodes whose inputs are all known at load time folded to
// constants (the shape sub-graphs of exported networks), and a check by a one-row dry run that the
// shapes agree. Run is const and reentrant: every call keeps its tensors in its own slots, so many TBB
// tasks may run one Session at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "onnx/graph.hpp"
#include "onnx/ops.hpp"

namespace loupe::onnx {

struct SessionOptions {
  // kBF16: the dense layers (MatMul / Gemm with constant weights) compute in bf16 where the CPU has it.
  nn::Precision precision = nn::Precision::kF32;
};

class Session {
 public:
  // Refuses (one sentence, kInvalidArgument) an operator the registry lacks (naming the op, node, domain
  // and opset and listing what is supported), a node reading a tensor nothing produces, a cycle, and
  // attributes or constant shapes a kernel rejects.
  static Result<std::unique_ptr<Session>> Create(Graph graph, SessionOptions options = {});

  const Graph& graph() const { return graph_; }

  // Runs the graph on `inputs` (one per graph input, in order) and returns the tensors named `wanted`
  // (graph outputs or any intermediate tensor), computing only the nodes they need.
  Result<std::vector<Value>> Run(const std::vector<Value>& inputs, const std::vector<std::string>& wanted,
                                 const RunContext& context = {}) const;

  // The node producing `tensor` and its kernel, or nullptr (a graph input, an initializer, a folded
  // constant or an unknown name).
  const Node* Producer(const std::string& tensor) const;
  const Kernel* ProducerKernel(const std::string& tensor) const;
  // A tensor known at load time (initializer or folded), or nullptr.
  const Value* ConstantValue(const std::string& tensor) const;

 private:
  struct Step {
    const Node* node = nullptr;
    std::unique_ptr<Kernel> kernel;
    std::vector<int> inputs;   // slot per input, -1 for an omitted one
    std::vector<int> outputs;  // slot per output, -1 for an omitted one
    // Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout: output 0 holds input 0's elements in the
    // same order, so Run hands it input 0's buffer when this step is that tensor's last reader.
    bool reuses_input = false;
    // Fusion (Fuse): a step folded into a later one is skipped by fused runs, and the step that absorbs
    // others runs `fused_kernel` on `fused_inputs` instead of its own kernel.
    bool fused_away = false;
    std::unique_ptr<Kernel> fused_kernel;
    std::vector<int> fused_inputs;
  };

  Session(Graph graph, SessionOptions options) : graph_(std::move(graph)), options_(options) {}
  int Slot(const std::string& name);
  Status Plan();
  Status BuildStep(const Node& node);
  Status Fuse();
  bool FuseGelu(std::size_t erf_step, const std::vector<int>& readers, const std::vector<int>& reader);
  Status FuseBias(std::size_t matmul_step, const std::vector<int>& readers, const std::vector<int>& reader);
  Result<std::vector<int>> TopologicalOrder() const;

  Graph graph_;
  SessionOptions options_;
  std::vector<std::string> slot_names_;
  std::unordered_map<std::string, int> slot_index_;
  std::vector<const Value*> constants_;  // per slot, when known at load time
  std::vector<std::unique_ptr<Value>> folded_;
  std::vector<int> input_slots_;        // per graph input
  std::vector<Step> steps_;             // topological order, folded nodes removed
  std::vector<int> producer_step_;      // per slot: the step writing it, or -1
  std::vector<int> last_reader_step_;   // per slot: the last step reading it, or -1 (Run recycles after it)
  std::vector<int> last_reader_fused_;  // the same in fused runs
  // Per slot: 1 for a tensor only unfused runs compute (inside a fused pattern); a run wanting one is
  // unfused.
  std::vector<std::uint8_t> fused_intermediate_;
  std::vector<const Node*> producer_node_;  // per slot, folded nodes included
  std::vector<const Kernel*> producer_kernel_;
  std::vector<std::unique_ptr<Kernel>> folded_kernels_;
};

}  // namespace loupe::onnx
