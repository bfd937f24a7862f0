// An ONNX graph made ready to run (docs/architecture.md §3, §4): the nodes in topological order, each with
// the kernel of its operator (onnx/ops.hpp), the nodes whose inputs are all known at load time folded to
// constants (the shape sub-graphs of exported networks), and a check by a one-row dry run that the
// shapes agree. Run is const and reentrant: every call keeps its tensors in its own slots, so many TBB
// tasks may run one Session at once.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "onnx/graph.hpp"
#include "onnx/ops.hpp"

namespace loupe::onnx {

class Session {
 public:
  // Refuses (one sentence, kInvalidArgument) an operator the registry lacks (naming the op, node, domain
  // and opset and listing what is supported), a node reading a tensor nothing produces, a cycle, and
  // attributes or constant shapes a kernel rejects.
  static Result<std::unique_ptr<Session>> Create(Graph graph);

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
  };

  explicit Session(Graph graph) : graph_(std::move(graph)) {}
  int Slot(const std::string& name);
  Status Plan();
  Status BuildStep(const Node& node);
  Result<std::vector<int>> TopologicalOrder() const;

  Graph graph_;
  std::vector<std::string> slot_names_;
  std::unordered_map<std::string, int> slot_index_;
  std::vector<const Value*> constants_;  // per slot, when known at load time
  std::vector<std::unique_ptr<Value>> folded_;
  std::vector<int> input_slots_;       // per graph input
  std::vector<Step> steps_;            // topological order, folded nodes removed
  std::vector<int> producer_step_;     // per slot: the step writing it, or -1
  std::vector<int> last_reader_step_;  // per slot: the last step reading it, or -1 (Run recycles after it)
  std::vector<const Node*> producer_node_;  // per slot, folded nodes included
  std::vector<const Kernel*> producer_kernel_;
  std::vector<std::unique_ptr<Kernel>> folded_kernels_;
};

}  // namespace loupe::onnx
