// Planning and running an ONNX graph (see session.hpp).
#include "onnx/session.hpp"

#include <algorithm>
#include <map>

namespace loupe::onnx {

namespace {

Status Refuse(const Graph& graph, const std::string& what) {
  return InvalidArgument("ONNX model '" + graph.source + "': " + what);
}

}  // namespace

int Session::Slot(const std::string& name) {
  const auto [it, added] = slot_index_.emplace(name, static_cast<int>(slot_names_.size()));
  if (!added) return it->second;
  slot_names_.push_back(name);
  constants_.push_back(nullptr);
  producer_step_.push_back(-1);
  producer_node_.push_back(nullptr);
  producer_kernel_.push_back(nullptr);
  return static_cast<int>(slot_names_.size() - 1);
}

Result<std::unique_ptr<Session>> Session::Create(Graph graph) {
  std::unique_ptr<Session> session(new Session(std::move(graph)));
  LOUPE_RETURN_IF_ERROR(session->Plan());
  return session;
}

// Kahn's algorithm in the file's order among ready nodes, so that the plan is the same on every load.
Result<std::vector<int>> Session::TopologicalOrder() const {
  std::map<std::string, int> available;
  for (const auto& [name, value] : graph_.initializers) available[name] = 1;
  for (const ValueInfo& input : graph_.inputs) available[input.name] = 1;
  std::vector<int> order;
  std::vector<std::uint8_t> done(graph_.nodes.size(), 0);
  bool progress = true;
  while (progress) {
    progress = false;
    for (std::size_t k = 0; k < graph_.nodes.size(); ++k) {
      if (done[k]) continue;
      const Node& node = graph_.nodes[k];
      bool ready = true;
      for (const std::string& input : node.inputs)
        ready = ready && (input.empty() || available.contains(input));
      if (!ready) continue;
      done[k] = 1;
      progress = true;
      order.push_back(static_cast<int>(k));
      for (const std::string& output : node.outputs) {
        if (!output.empty()) available[output] = 1;
      }
    }
  }
  if (order.size() == graph_.nodes.size()) return order;
  std::map<std::string, int> produced;
  for (const Node& node : graph_.nodes)
    for (const std::string& output : node.outputs) produced[output] = 1;
  for (std::size_t k = 0; k < graph_.nodes.size(); ++k) {
    if (done[k]) continue;
    for (const std::string& input : graph_.nodes[k].inputs) {
      if (!input.empty() && !available.contains(input) && !produced.contains(input)) {
        return Refuse(graph_, "node '" + graph_.nodes[k].name + "' (" + graph_.nodes[k].op_type +
                                  ") reads '" + input +
                                  "', which no node, graph input or initializer produces.");
      }
    }
  }
  for (std::size_t k = 0; k < graph_.nodes.size(); ++k) {
    if (!done[k]) return Refuse(graph_, "the graph has a cycle through node '" + graph_.nodes[k].name + "'.");
  }
  return order;
}

Status Session::BuildStep(const Node& node) {
  const OpSchema* op = FindOp(node.domain, node.op_type);
  const std::int64_t opset = graph_.Opset(node.domain);
  if (op == nullptr) {
    return Refuse(graph_, "node '" + node.name + "' uses the operator " + node.op_type + " of domain " +
                              (node.domain.empty() ? std::string("ai.onnx") : node.domain) + " (opset " +
                              std::to_string(opset) +
                              "), which Loupe does not execute; supported: " + SupportedOpsText() + ".");
  }
  KernelBuild build{node, opset, {}};
  Step step;
  step.node = &node;
  bool all_constant = true;
  for (const std::string& input : node.inputs) {
    const int slot = input.empty() ? -1 : Slot(input);
    step.inputs.push_back(slot);
    build.constants.push_back(slot < 0 ? nullptr : constants_[static_cast<std::size_t>(slot)]);
    all_constant = all_constant && (slot < 0 || constants_[static_cast<std::size_t>(slot)] != nullptr);
  }
  for (const std::string& output : node.outputs) step.outputs.push_back(output.empty() ? -1 : Slot(output));
  auto made = op->make(build);
  if (!made.ok()) return Refuse(graph_, made.status().message());
  step.kernel = std::move(made).value();
  for (const int slot : step.outputs) {
    if (slot < 0) continue;
    producer_node_[static_cast<std::size_t>(slot)] = &node;
    producer_kernel_[static_cast<std::size_t>(slot)] = step.kernel.get();
  }
  if (!all_constant) {
    for (const int slot : step.outputs) {
      if (slot >= 0) producer_step_[static_cast<std::size_t>(slot)] = static_cast<int>(steps_.size());
    }
    steps_.push_back(std::move(step));
    return Status::Ok();
  }
  // Every input is known: run the node now and keep its outputs as constants.
  std::vector<Value> outputs(node.outputs.size());
  if (Status s = step.kernel->Run(build.constants, outputs, RunContext{}); !s.ok())
    return Refuse(graph_, s.message());
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    if (step.outputs[k] < 0) continue;
    folded_.push_back(std::make_unique<Value>(std::move(outputs[k])));
    constants_[static_cast<std::size_t>(step.outputs[k])] = folded_.back().get();
  }
  folded_kernels_.push_back(std::move(step.kernel));
  return Status::Ok();
}

Status Session::Plan() {
  for (const ValueInfo& input : graph_.inputs) input_slots_.push_back(Slot(input.name));
  for (const auto& [name, value] : graph_.initializers)
    constants_[static_cast<std::size_t>(Slot(name))] = &value;
  LOUPE_ASSIGN_OR_RETURN(const std::vector<int> order, TopologicalOrder());
  for (const int k : order) LOUPE_RETURN_IF_ERROR(BuildStep(graph_.nodes[static_cast<std::size_t>(k)]));
  last_reader_step_.assign(slot_names_.size(), -1);
  for (std::size_t s = 0; s < steps_.size(); ++s) {
    for (const int in : steps_[s].inputs) {
      if (in >= 0) last_reader_step_[static_cast<std::size_t>(in)] = static_cast<int>(s);
    }
  }
  for (const ValueInfo& output : graph_.outputs) {
    const int slot = Slot(output.name);
    const bool is_input = std::find(input_slots_.begin(), input_slots_.end(), slot) != input_slots_.end();
    if (producer_node_[static_cast<std::size_t>(slot)] == nullptr &&
        constants_[static_cast<std::size_t>(slot)] == nullptr && !is_input) {
      return Refuse(graph_, "the graph output '" + output.name + "' is produced by no node.");
    }
  }
  return Status::Ok();
}

Result<std::vector<Value>> Session::Run(const std::vector<Value>& inputs,
                                        const std::vector<std::string>& wanted,
                                        const RunContext& context) const {
  if (inputs.size() != input_slots_.size()) {
    return InvalidArgument("ONNX model '" + graph_.source + "' takes " + std::to_string(input_slots_.size()) +
                           " inputs, but " + std::to_string(inputs.size()) + " were given.");
  }
  const std::size_t n_slots = slot_names_.size();
  std::vector<const Value*> current(constants_.begin(), constants_.end());
  for (std::size_t k = 0; k < inputs.size(); ++k)
    current[static_cast<std::size_t>(input_slots_[k])] = &inputs[k];
  // The steps the wanted tensors need, found backwards.
  std::vector<std::uint8_t> needed_slot(n_slots, 0), needed_step(steps_.size(), 0);
  std::vector<int> wanted_slots;
  for (const std::string& name : wanted) {
    const auto it = std::find(slot_names_.begin(), slot_names_.end(), name);
    if (it == slot_names_.end()) {
      return InvalidArgument("ONNX model '" + graph_.source + "' has no tensor named '" + name + "'.");
    }
    wanted_slots.push_back(static_cast<int>(it - slot_names_.begin()));
    needed_slot[static_cast<std::size_t>(wanted_slots.back())] = 1;
  }
  for (std::size_t s = steps_.size(); s-- > 0;) {
    for (const int out : steps_[s].outputs)
      needed_step[s] = needed_step[s] || (out >= 0 && needed_slot[static_cast<std::size_t>(out)]);
    if (!needed_step[s]) continue;
    for (const int in : steps_[s].inputs) {
      if (in >= 0) needed_slot[static_cast<std::size_t>(in)] = 1;
    }
  }
  std::vector<Value> values(n_slots);
  // A tensor a step computed is recycled (onnx/value.hpp, TakeFloats) once its last reader has run, unless
  // the caller wants it: the next steps reuse its memory.
  std::vector<std::uint8_t> wanted_slot(n_slots, 0);
  for (const int slot : wanted_slots) wanted_slot[static_cast<std::size_t>(slot)] = 1;
  auto release = [&](int slot) {
    const auto at = static_cast<std::size_t>(slot);
    if (wanted_slot[at] || current[at] != &values[at]) return;
    RecycleFloats(std::move(values[at].f));
    values[at] = Value();
    current[at] = nullptr;
  };
  std::vector<const Value*> step_inputs;
  std::vector<Value> step_outputs;
  for (std::size_t s = 0; s < steps_.size(); ++s) {
    if (!needed_step[s]) continue;
    const Step& step = steps_[s];
    step_inputs.clear();
    for (const int in : step.inputs)
      step_inputs.push_back(in < 0 ? nullptr : current[static_cast<std::size_t>(in)]);
    step_outputs.assign(step.outputs.size(), Value());
    LOUPE_RETURN_IF_ERROR(step.kernel->Run(step_inputs, step_outputs, context));
    for (std::size_t k = 0; k < step.outputs.size(); ++k) {
      const int slot = step.outputs[k];
      if (slot < 0) continue;
      values[static_cast<std::size_t>(slot)] = std::move(step_outputs[k]);
      current[static_cast<std::size_t>(slot)] = &values[static_cast<std::size_t>(slot)];
    }
    for (const int in : step.inputs) {
      if (in >= 0 && last_reader_step_[static_cast<std::size_t>(in)] == static_cast<int>(s)) release(in);
    }
    for (const int out : step.outputs) {
      if (out >= 0 && last_reader_step_[static_cast<std::size_t>(out)] < 0) release(out);  // read by no one
    }
  }
  std::vector<Value> result;
  for (const int slot : wanted_slots) {
    const auto at = static_cast<std::size_t>(slot);
    if (current[at] == nullptr) {
      return Internal("ONNX model '" + graph_.source + "': tensor '" + slot_names_[at] +
                      "' was not computed.");
    }
    // A computed tensor wanted once moves out; a constant, an input or a repeated name is copied.
    const bool once = std::count(wanted_slots.begin(), wanted_slots.end(), slot) == 1;
    if (once && current[at] == &values[at])
      result.push_back(std::move(values[at]));
    else
      result.push_back(*current[at]);
  }
  return result;
}

const Node* Session::Producer(const std::string& tensor) const {
  const auto it = std::find(slot_names_.begin(), slot_names_.end(), tensor);
  return it == slot_names_.end() ? nullptr
                                 : producer_node_[static_cast<std::size_t>(it - slot_names_.begin())];
}

const Kernel* Session::ProducerKernel(const std::string& tensor) const {
  const auto it = std::find(slot_names_.begin(), slot_names_.end(), tensor);
  return it == slot_names_.end() ? nullptr
                                 : producer_kernel_[static_cast<std::size_t>(it - slot_names_.begin())];
}

const Value* Session::ConstantValue(const std::string& tensor) const {
  const auto it = std::find(slot_names_.begin(), slot_names_.end(), tensor);
  return it == slot_names_.end() ? nullptr : constants_[static_cast<std::size_t>(it - slot_names_.begin())];
}

}  // namespace loupe::onnx
