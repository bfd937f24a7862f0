#include "max_flow.hpp"

#include <algorithm>
#include <cstddef>

namespace loupe::attention {
namespace {

// Residual capacities at or below this count as saturated (round-off of sums of probabilities).
constexpr double kEpsilon = 1e-14;

// [layers][T][T] with the last two axes swapped, so that the arcs into one node are contiguous.
std::vector<double> Transposed(const std::vector<double>& capacities, std::int64_t layers, std::int64_t t) {
  std::vector<double> out(capacities.size());
  for (std::int64_t l = 0; l < layers; ++l) {
    for (std::int64_t q = 0; q < t; ++q) {
      for (std::int64_t k = 0; k < t; ++k) {
        out[static_cast<std::size_t>((l * t + k) * t + q)] =
            capacities[static_cast<std::size_t>((l * t + q) * t + k)];
      }
    }
  }
  return out;
}

}  // namespace

LayeredMaxFlow::LayeredMaxFlow(const std::vector<double>& capacities, std::int64_t layers,
                               std::int64_t tokens)
    : capacities_(Transposed(capacities, layers, tokens)),
      layers_(layers),
      tokens_(tokens),
      source_node_((layers - 1) * tokens),
      sink_node_((layers - 1) * tokens + 1),
      flow_(capacities.size(), 0.0),
      level_(static_cast<std::size_t>(sink_node_ + 1), -1),
      cursor_(static_cast<std::size_t>(sink_node_ + 1), 0),
      open_(static_cast<std::size_t>(std::max<std::int64_t>(layers - 1, 0) * (tokens + 1)), 0) {}

// The neighbours of a node are enumerated by j in [0, 2T): j < T is the forward edge to position j of the
// layer below, j >= T the backward (residual) edge to position j - T of the layer above. The helpers
// below resolve one of them into the neighbour's node id, the flow entry it changes and its residual.
namespace {
struct Arc {
  std::int64_t to = -1;   // neighbour node, -1 when the arc does not exist in this sink's graph
  std::size_t entry = 0;  // index into the flow / capacity arrays
  bool forward = true;    // forward: flow += pushed; backward: flow -= pushed
};
}  // namespace

bool LayeredMaxFlow::BuildLevels() {
  std::fill(level_.begin(), level_.end(), -1);
  queue_.clear();
  level_[static_cast<std::size_t>(source_node_)] = 0;
  queue_.push_back(source_node_);
  const std::int64_t t = tokens_;
  for (std::size_t head = 0; head < queue_.size(); ++head) {
    const std::int64_t node = queue_[head];
    const std::int64_t layer = node == source_node_ ? layers_ : node / t + 1;
    const std::int64_t position = node == source_node_ ? source_ : node % t;
    const std::int32_t next = level_[static_cast<std::size_t>(node)] + 1;
    auto visit = [&](std::int64_t to) {
      if (level_[static_cast<std::size_t>(to)] >= 0) return;
      level_[static_cast<std::size_t>(to)] = next;
      queue_.push_back(to);
    };
    // forward edges (layer, position) -> (layer - 1, k)
    if (layer == 1) {
      const std::size_t entry = Entry(0, position, sink_);
      if (capacities_[entry] - flow_[entry] > kEpsilon) visit(sink_node_);
    } else {
      for (std::int64_t k = 0; k < t; ++k) {
        const std::size_t entry = Entry(layer - 1, position, k);
        if (capacities_[entry] - flow_[entry] > kEpsilon) visit(Node(layer - 1, k));
      }
    }
    // backward edges (layer, position) -> (layer + 1, q), residual = flow on (layer + 1, q) -> here
    if (layer < layers_) {
      if (layer + 1 == layers_) {
        if (flow_[Entry(layer, source_, position)] > kEpsilon) visit(source_node_);
      } else {
        for (std::int64_t q = 0; q < t; ++q) {
          if (flow_[Entry(layer, q, position)] > kEpsilon) visit(Node(layer + 1, q));
        }
      }
    }
  }
  return level_[static_cast<std::size_t>(sink_node_)] >= 0;
}

double LayeredMaxFlow::Push(std::int64_t node, double limit) {
  if (node == sink_node_) return limit;
  const std::int64_t t = tokens_;
  const std::int64_t layer = node == source_node_ ? layers_ : node / t + 1;
  const std::int64_t position = node == source_node_ ? source_ : node % t;
  const std::int32_t next = level_[static_cast<std::size_t>(node)] + 1;
  double pushed = 0.0;
  std::int32_t& cursor = cursor_[static_cast<std::size_t>(node)];
  for (; cursor < 2 * t; ++cursor) {
    Arc arc;
    double residual = 0.0;
    if (cursor < t) {  // forward
      const std::int64_t k = cursor;
      if (layer == 1 && k != sink_) continue;
      arc.to = layer == 1 ? sink_node_ : Node(layer - 1, k);
      arc.entry = Entry(layer - 1, position, k);
      residual = capacities_[arc.entry] - flow_[arc.entry];
    } else {  // backward
      const std::int64_t q = cursor - t;
      if (layer == layers_ || (layer + 1 == layers_ && q != source_)) continue;
      arc.to = layer + 1 == layers_ ? source_node_ : Node(layer + 1, q);
      arc.entry = Entry(layer, q, position);
      arc.forward = false;
      residual = flow_[arc.entry];
    }
    if (residual <= kEpsilon || level_[static_cast<std::size_t>(arc.to)] != next) continue;
    const double sent = Push(arc.to, std::min(limit - pushed, residual));
    if (sent <= 0.0) continue;
    AddFlow(arc.entry, arc.forward ? sent : -sent);
    pushed += sent;
    if (limit - pushed <= kEpsilon) return pushed;  // keep the cursor: this arc may have room left
  }
  return pushed;
}

void LayeredMaxFlow::AddFlow(std::size_t entry, double amount) {
  if (flow_[entry] == 0.0) touched_.push_back(entry);
  flow_[entry] += amount;
}

std::int64_t LayeredMaxFlow::NextOpen(std::int64_t layer, std::int64_t position) {
  std::int32_t* next = open_.data() + (layer - 1) * (tokens_ + 1);
  while (next[position] != position) {  // path halving
    next[position] = next[next[position]];
    position = next[position];
  }
  return position;
}

double LayeredMaxFlow::NaturalBlockingFlow(double limit) {
  // Paths are searched from the sink upwards: the sink has few in-arcs and bounds the flow, while every
  // node above has arcs from almost every position, so a path is usually found in L steps. A node tries
  // its own position first (the residual connection's large arc), then the others in order; nodes with
  // no way up are skipped in near-constant time through open_, so a sink costs about (paths x L) steps
  // instead of a scan of the whole graph.
  const std::int64_t t = tokens_;
  std::fill(cursor_.begin(), cursor_.end(), -1);
  for (std::int64_t layer = 1; layer < layers_; ++layer) {
    std::int32_t* next = open_.data() + (layer - 1) * (t + 1);
    for (std::int64_t i = 0; i <= t; ++i) next[i] = static_cast<std::int32_t>(i);
  }
  double value = 0.0;
  path_.clear();
  path_entries_.clear();
  path_.push_back(sink_node_);
  while (!path_.empty() && value < limit - kEpsilon) {
    const std::int64_t node = path_.back();
    if (node == source_node_) {
      value += AugmentPath(limit - value);  // keeps the path up to its first saturated arc
      continue;
    }
    // The node's layer and position; the sink sits in layer 0 at position sink_.
    const std::int64_t layer = node == sink_node_ ? 0 : node / t + 1;
    const std::int64_t position = node == sink_node_ ? sink_ : node % t;
    const std::int64_t parent = NextParent(layer, position, cursor_[static_cast<std::size_t>(node)]);
    if (parent >= 0) {
      path_.push_back(layer + 1 == layers_ ? source_node_ : Node(layer + 1, parent));
      path_entries_.push_back(Entry(layer, parent, position));
      continue;
    }
    if (node != sink_node_)
      open_[static_cast<std::size_t>((layer - 1) * (t + 1) + position)] =
          static_cast<std::int32_t>(position + 1);
    path_.pop_back();  // no way up from here in this phase
    if (!path_entries_.empty()) path_entries_.pop_back();
    if (!path_.empty()) ++cursor_[static_cast<std::size_t>(path_.back())];
  }
  return value;
}

std::int64_t LayeredMaxFlow::NextParent(std::int64_t layer, std::int64_t position, std::int32_t& cursor) {
  auto usable = [&](std::int64_t parent) {
    const std::size_t entry = Entry(layer, parent, position);
    return capacities_[entry] - flow_[entry] > kEpsilon;
  };
  if (layer + 1 == layers_) {  // the only parent is the source
    if (cursor < 0 && usable(source_)) return source_;
    cursor = 0;
    return -1;
  }
  if (cursor < 0) {
    if (NextOpen(layer + 1, position) == position && usable(position)) return position;
    cursor = 0;
  }
  for (;;) {
    const std::int64_t parent = NextOpen(layer + 1, cursor);
    if (parent >= tokens_) return -1;
    cursor = static_cast<std::int32_t>(parent);
    if (usable(parent)) return parent;
    ++cursor;
  }
}

double LayeredMaxFlow::AugmentPath(double limit) {
  // path_ holds the sink, then nodes one layer up each, ending at the source; path_entries_[i] is the arc
  // from path_[i + 1] down to path_[i].
  double bottleneck = limit;
  for (const std::size_t entry : path_entries_)
    bottleneck = std::min(bottleneck, capacities_[entry] - flow_[entry]);
  std::size_t keep = path_entries_.size();
  for (std::size_t i = 0; i < path_entries_.size(); ++i) {
    AddFlow(path_entries_[i], bottleneck);
    if (keep == path_entries_.size() && capacities_[path_entries_[i]] - flow_[path_entries_[i]] <= kEpsilon)
      keep = i;
  }
  path_.resize(keep + 1);  // resume below the first saturated arc (whose child will try its next parent)
  path_entries_.resize(keep);
  return bottleneck;
}

double LayeredMaxFlow::MaxFlow(std::int64_t source, std::int64_t sink) {
  const std::int64_t t = tokens_;
  source_ = source;
  sink_ = sink;
  for (const std::size_t entry : touched_) flow_[entry] = 0.0;
  touched_.clear();
  // Trivial bound: what leaves the source and what can enter the sink.
  double out = 0.0, in = 0.0;
  if (layers_ == 1) return capacities_[Entry(0, source, sink)];
  for (std::int64_t k = 0; k < t; ++k) {
    out += capacities_[Entry(layers_ - 1, source, k)];
    in += capacities_[Entry(0, k, sink)];
  }
  const double bound = std::min(out, in);
  // With no flow yet, the level graph is the natural layering: one blocking flow on it usually reaches
  // the bound. Otherwise Dinic continues with searched level graphs until no augmenting path is left.
  double value = NaturalBlockingFlow(bound);
  while (value < bound - kEpsilon && BuildLevels()) {
    std::fill(cursor_.begin(), cursor_.end(), 0);
    for (;;) {
      const double sent = Push(source_node_, bound - value);
      if (sent <= 0.0) break;
      value += sent;
      if (value >= bound - kEpsilon) break;
    }
  }
  return value;
}

void LayeredMaxFlow::FlowsFrom(std::int64_t source, double* out) {
  for (std::int64_t k = 0; k < tokens_; ++k) out[k] = MaxFlow(source, k);
}

void AttentionFlowRows(const std::vector<double>& capacities, std::int64_t layers, std::int64_t tokens,
                       std::int64_t begin, std::int64_t end, double* out) {
  if (layers == 0) {
    for (std::int64_t q = begin; q < end; ++q) {
      std::fill(out + q * tokens, out + (q + 1) * tokens, 0.0);
      out[q * tokens + q] = 1.0;
    }
    return;
  }
  LayeredMaxFlow solver(capacities, layers, tokens);
  for (std::int64_t q = begin; q < end; ++q) {
    double* row = out + q * tokens;
    solver.FlowsFrom(q, row);
    double total = 0.0;
    for (std::int64_t k = 0; k < tokens; ++k) total += row[k];
    if (total > 0.0) {
      for (std::int64_t k = 0; k < tokens; ++k) row[k] /= total;
    }
  }
}

std::vector<double> AttentionFlow(const std::vector<double>& capacities, std::int64_t layers,
                                  std::int64_t tokens) {
  std::vector<double> flow(static_cast<std::size_t>(tokens * tokens), 0.0);
  AttentionFlowRows(capacities, layers, tokens, 0, tokens, flow.data());
  return flow;
}

}  // namespace loupe::attention
