// Planning and running an ONNX graph (see session.hpp).
#include "onnx/session.hpp"

#include <algorithm>
#include <cmath>
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

Result<std::unique_ptr<Session>> Session::Create(Graph graph, SessionOptions options) {
  std::unique_ptr<Session> session(new Session(std::move(graph), options));
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
  KernelBuild build{node, opset, {}, options_.precision};
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
  static const std::vector<std::string> kReusingOps = {"Reshape",   "Flatten",  "Squeeze",
                                                       "Unsqueeze", "Identity", "Dropout"};
  step.reuses_input = node.domain.empty() && !step.inputs.empty() && step.inputs[0] >= 0 &&
                      std::find(kReusingOps.begin(), kReusingOps.end(), node.op_type) != kReusingOps.end() &&
                      std::count(step.inputs.begin(), step.inputs.end(), step.inputs[0]) == 1;
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
  LOUPE_RETURN_IF_ERROR(Fuse());
  last_reader_step_.assign(slot_names_.size(), -1);
  last_reader_fused_.assign(slot_names_.size(), -1);
  for (std::size_t s = 0; s < steps_.size(); ++s) {
    for (const int in : steps_[s].inputs) {
      if (in >= 0) last_reader_step_[static_cast<std::size_t>(in)] = static_cast<int>(s);
    }
    if (steps_[s].fused_away) continue;
    for (const int in : steps_[s].fused_kernel ? steps_[s].fused_inputs : steps_[s].inputs) {
      if (in >= 0) last_reader_fused_[static_cast<std::size_t>(in)] = static_cast<int>(s);
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

// ---- Fusion ---------------------------------------------------------------------------------------------
// What ONNX Runtime's graph optimisations also fuse in exported networks, where the pattern's inner tensors
// have no other reader and are no graph output: the erf form of GELU torch.onnx.export writes
// (Div(x, √2) → Erf → Add 1 → Mul x → Mul 0.5) becomes one GELU on oneDNN's eltwise primitive, and a MatMul
// by constant weights followed by the Add of a constant bias becomes one dense layer with its bias. A run
// that asks for an inner tensor runs the unfused steps.

namespace {

// A constant float scalar within float32 rounding of `want`.
bool IsScalarNear(const Value* value, double want) {
  return value != nullptr && value->type == DataType::kFloat && value->f.size() == 1 &&
         std::abs(static_cast<double>(value->f[0]) - want) <= 1e-6 * std::abs(want);
}

bool IsOp(const Node& node, const char* op_type) { return node.domain.empty() && node.op_type == op_type; }

}  // namespace

bool Session::FuseGelu(std::size_t erf_step, const std::vector<int>& readers,
                       const std::vector<int>& reader) {
  const auto constant = [&](int slot) {
    return slot < 0 ? nullptr : constants_[static_cast<std::size_t>(slot)];
  };
  const auto only_reader = [&](int slot) -> int {
    return slot >= 0 && readers[static_cast<std::size_t>(slot)] == 1 ? reader[static_cast<std::size_t>(slot)]
                                                                     : -1;
  };
  // The other input of a two-input step, given one of its inputs.
  const auto other = [](const Step& step, int slot) {
    return step.inputs.size() != 2 ? -2 : step.inputs[0] == slot ? step.inputs[1] : step.inputs[0];
  };
  Step& erf = steps_[erf_step];
  if (erf.inputs.size() != 1 || erf.outputs.size() != 1 || erf.inputs[0] < 0) return false;
  const int scaled = erf.inputs[0];
  const int div_step = producer_step_[static_cast<std::size_t>(scaled)];
  if (div_step < 0 || only_reader(scaled) != static_cast<int>(erf_step)) return false;
  Step& div = steps_[static_cast<std::size_t>(div_step)];
  if (div.inputs.size() != 2 || div.outputs.size() != 1) return false;
  int x = -1;
  if (IsOp(*div.node, "Div") && IsScalarNear(constant(div.inputs[1]), std::sqrt(2.0)))
    x = div.inputs[0];
  else if (IsOp(*div.node, "Mul") && IsScalarNear(constant(div.inputs[1]), std::sqrt(0.5)))
    x = div.inputs[0];
  else if (IsOp(*div.node, "Mul") && IsScalarNear(constant(div.inputs[0]), std::sqrt(0.5)))
    x = div.inputs[1];
  if (x < 0 || constant(x) != nullptr) return false;
  const int add_step = only_reader(erf.outputs[0]);
  if (add_step < 0) return false;
  Step& add = steps_[static_cast<std::size_t>(add_step)];
  if (!IsOp(*add.node, "Add") || add.outputs.size() != 1 ||
      !IsScalarNear(constant(other(add, erf.outputs[0])), 1.0))
    return false;
  const int mul_step = only_reader(add.outputs[0]);
  if (mul_step < 0) return false;
  Step& mul = steps_[static_cast<std::size_t>(mul_step)];
  if (!IsOp(*mul.node, "Mul") || mul.outputs.size() != 1 || other(mul, add.outputs[0]) != x) return false;
  const int half_step = only_reader(mul.outputs[0]);
  if (half_step < 0) return false;
  Step& half = steps_[static_cast<std::size_t>(half_step)];
  if (!IsOp(*half.node, "Mul") || half.outputs.size() != 1 || half.fused_kernel ||
      !IsScalarNear(constant(other(half, mul.outputs[0])), 0.5))
    return false;
  const OpSchema* gelu = FindOp("", "Gelu");
  if (gelu == nullptr) return false;
  auto kernel = gelu->make(KernelBuild{*half.node, graph_.Opset(""), {nullptr}, options_.precision});
  if (!kernel.ok()) return false;
  half.fused_kernel = std::move(kernel).value();
  half.fused_inputs = {x};
  for (Step* step : {&div, &erf, &add, &mul}) {
    step->fused_away = true;
    fused_intermediate_[static_cast<std::size_t>(step->outputs[0])] = 1;
  }
  return true;
}

Status Session::FuseBias(std::size_t matmul_step, const std::vector<int>& readers,
                         const std::vector<int>& reader) {
  Step& matmul = steps_[matmul_step];
  if (!IsOp(*matmul.node, "MatMul") || matmul.inputs.size() != 2 || matmul.outputs.size() != 1 ||
      matmul.fused_away || matmul.fused_kernel || matmul.inputs[1] < 0 || matmul.outputs[0] < 0)
    return Status::Ok();
  const Value* weight = constants_[static_cast<std::size_t>(matmul.inputs[1])];
  if (weight == nullptr || weight->shape.size() != 2) return Status::Ok();
  const int product = matmul.outputs[0];
  // One reader, a step (a product that is only a graph output has no step reading it).
  if (readers[static_cast<std::size_t>(product)] != 1 || reader[static_cast<std::size_t>(product)] < 0)
    return Status::Ok();
  Step& add = steps_[static_cast<std::size_t>(reader[static_cast<std::size_t>(product)])];
  if (!IsOp(*add.node, "Add") || add.inputs.size() != 2 || add.outputs.size() != 1 || add.fused_away ||
      add.fused_kernel)
    return Status::Ok();
  const int bias_slot = add.inputs[0] == product ? add.inputs[1] : add.inputs[0];
  const Value* bias = bias_slot < 0 ? nullptr : constants_[static_cast<std::size_t>(bias_slot)];
  const std::int64_t n = weight->shape[1];
  // A bias [N] of the product's columns (a [1, N] bias could add a dimension to a 1-D product).
  if (bias == nullptr || bias->type != DataType::kFloat || bias->shape.size() != 1 || bias->shape[0] != n)
    return Status::Ok();
  LOUPE_ASSIGN_OR_RETURN(add.fused_kernel, MakeDenseKernel(*add.node, *weight, bias, options_.precision));
  add.fused_inputs = {matmul.inputs[0]};
  matmul.fused_away = true;
  fused_intermediate_[static_cast<std::size_t>(product)] = 1;
  return Status::Ok();
}

Status Session::Fuse() {
  fused_intermediate_.assign(slot_names_.size(), 0);
  // Per slot: how many steps read it (graph outputs count as a reader) and the last of them.
  std::vector<int> readers(slot_names_.size(), 0), reader(slot_names_.size(), -1);
  for (std::size_t s = 0; s < steps_.size(); ++s) {
    for (const int in : steps_[s].inputs) {
      if (in < 0) continue;
      ++readers[static_cast<std::size_t>(in)];
      reader[static_cast<std::size_t>(in)] = static_cast<int>(s);
    }
  }
  for (const ValueInfo& output : graph_.outputs) {
    const auto it = slot_index_.find(output.name);
    if (it != slot_index_.end()) ++readers[static_cast<std::size_t>(it->second)];
  }
  for (std::size_t s = 0; s < steps_.size(); ++s) {
    if (IsOp(*steps_[s].node, "Erf")) FuseGelu(s, readers, reader);
  }
  for (std::size_t s = 0; s < steps_.size(); ++s) LOUPE_RETURN_IF_ERROR(FuseBias(s, readers, reader));
  return Status::Ok();
}

Result<std::vector<Value>> Session::Run(const std::vector<Value>& inputs,
                                        const std::vector<std::string>& wanted,
                                        const RunContext& context) const {
  if (inputs.size() != input_slots_.size()) {
    return InvalidArgument("ONNX model '" + graph_.source + "' takes " + std::to_string(input_slots_.size()) +
                           " inputs, but " + std::to_string(inputs.size()) + " were given.");
  }
  const FloatRunScope buffers;  // large float buffers stay with the thread while runs reuse them
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
  // Fused steps unless the caller wants a tensor inside a fused pattern.
  const bool fused = std::none_of(wanted_slots.begin(), wanted_slots.end(), [&](int slot) {
    return fused_intermediate_[static_cast<std::size_t>(slot)] != 0;
  });
  const std::vector<int>& last_reader = fused ? last_reader_fused_ : last_reader_step_;
  const auto inputs_of = [fused](const Step& step) -> const std::vector<int>& {
    return fused && step.fused_kernel ? step.fused_inputs : step.inputs;
  };
  for (std::size_t s = steps_.size(); s-- > 0;) {
    if (fused && steps_[s].fused_away) continue;
    for (const int out : steps_[s].outputs)
      needed_step[s] = needed_step[s] || (out >= 0 && needed_slot[static_cast<std::size_t>(out)]);
    if (!needed_step[s]) continue;
    for (const int in : inputs_of(steps_[s])) {
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
  Value shell;  // a reshaping step's view of the tensor whose buffer it takes over
  for (std::size_t s = 0; s < steps_.size(); ++s) {
    if (!needed_step[s]) continue;
    const Step& step = steps_[s];
    const std::vector<int>& step_input_slots = inputs_of(step);
    const Kernel& kernel = fused && step.fused_kernel ? *step.fused_kernel : *step.kernel;
    step_inputs.clear();
    for (const int in : step_input_slots)
      step_inputs.push_back(in < 0 ? nullptr : current[static_cast<std::size_t>(in)]);
    step_outputs.assign(step.outputs.size(), Value());
    // A reshaping step that is the last reader of a float tensor this run computed takes over its buffer:
    // the kernel sees the tensor's type and shape only, and the elements move instead of being copied.
    Value* donor = nullptr;
    if (step.reuses_input && &kernel == step.kernel.get()) {
      const auto at = static_cast<std::size_t>(step.inputs[0]);
      if (current[at] == &values[at] && values[at].type == DataType::kFloat && !wanted_slot[at] &&
          last_reader[at] == static_cast<int>(s)) {
        donor = &values[at];
        shell.type = DataType::kFloat;
        shell.shape = donor->shape;
        step_inputs[0] = &shell;
      }
    }
    LOUPE_RETURN_IF_ERROR(kernel.Run(step_inputs, step_outputs, context));
    if (donor != nullptr) {
      Value& y = step_outputs[0];
      if (y.type != DataType::kFloat || ElementCount(y.shape) != donor->size())
        return Internal("ONNX model '" + graph_.source + "': node '" + step.node->name +
                        "' changed the element count of a reshaped tensor.");
      RecycleFloats(std::move(y.f));
      y.f = std::move(donor->f);
    }
    for (std::size_t k = 0; k < step.outputs.size(); ++k) {
      const int slot = step.outputs[k];
      if (slot < 0) continue;
      values[static_cast<std::size_t>(slot)] = std::move(step_outputs[k]);
      current[static_cast<std::size_t>(slot)] = &values[static_cast<std::size_t>(slot)];
    }
    for (const int in : step_input_slots) {
      if (in >= 0 && last_reader[static_cast<std::size_t>(in)] == static_cast<int>(s)) release(in);
    }
    for (const int out : step.outputs) {
      if (out >= 0 && last_reader[static_cast<std::size_t>(out)] < 0) release(out);  // read by no one
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
