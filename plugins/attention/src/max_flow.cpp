#include "max_flow.hpp"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <optional>

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
      residual_(capacities_),
      level_(static_cast<std::size_t>(sink_node_ + 1), -1),
      cursor_(static_cast<std::size_t>(sink_node_ + 1), 0),
      words_((tokens + 63) / 64),
      open_(static_cast<std::size_t>(std::max<std::int64_t>(layers - 1, 0) * words_), 0),
      out_(static_cast<std::size_t>(tokens), 0.0),
      in_(static_cast<std::size_t>(tokens), 0.0),
      top_(static_cast<std::size_t>(tokens), 0.0) {
  if (layers == 0) return;
  // [source][j]: the arc from the source to position j of layer L - 1, as given (rows of the last layer).
  source_arcs_.assign(capacities.end() - tokens * tokens, capacities.end());
  for (std::int64_t i = 0; i < tokens; ++i) {
    for (std::int64_t k = 0; k < tokens; ++k) {
      out_[static_cast<std::size_t>(i)] += capacities_[Entry(layers - 1, i, k)];
      in_[static_cast<std::size_t>(i)] += capacities_[Entry(0, k, i)];
    }
  }
}

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
      if (residual_[Entry(0, position, sink_)] > kEpsilon) visit(sink_node_);
    } else {
      for (std::int64_t k = 0; k < t; ++k) {
        if (residual_[Entry(layer - 1, position, k)] > kEpsilon) visit(Node(layer - 1, k));
      }
    }
    // backward edges (layer, position) -> (layer + 1, q), residual = flow on (layer + 1, q) -> here
    if (layer < layers_) {
      if (layer + 1 == layers_) {
        if (Flow(Entry(layer, source_, position)) > kEpsilon) visit(source_node_);
      } else {
        for (std::int64_t q = 0; q < t; ++q) {
          if (Flow(Entry(layer, q, position)) > kEpsilon) visit(Node(layer + 1, q));
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
      residual = residual_[arc.entry];
    } else {  // backward
      const std::int64_t q = cursor - t;
      if (layer == layers_ || (layer + 1 == layers_ && q != source_)) continue;
      arc.to = layer + 1 == layers_ ? source_node_ : Node(layer + 1, q);
      arc.entry = Entry(layer, q, position);
      arc.forward = false;
      residual = Flow(arc.entry);
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
  saved_.push_back({entry, residual_[entry]});
  residual_[entry] -= amount;
}

inline std::int64_t LayeredMaxFlow::NextOpen(std::int64_t layer, std::int64_t position) {
  if (position >= tokens_) return tokens_;
  const std::uint64_t* bits = open_.data() + (layer - 1) * words_;
  std::int64_t word = position >> 6;
  std::uint64_t m = bits[word] & (~std::uint64_t{0} << (position & 63));
  while (m == 0) {
    if (++word == words_) return tokens_;
    m = bits[word];
  }
  return word * 64 + std::countr_zero(m);
}

inline void LayeredMaxFlow::Close(std::int64_t layer, std::int64_t position) {
  open_[static_cast<std::size_t>((layer - 1) * words_ + (position >> 6))] &=
      ~(std::uint64_t{1} << (position & 63));
}

inline std::int64_t LayeredMaxFlow::NextParent(std::int64_t layer, std::int64_t position,
                                               std::int32_t& cursor) {
  // Only called below layer L - 1 (whose nodes' one parent is the source).
  auto usable = [&](std::int64_t parent) { return residual_[Entry(layer, parent, position)] > kEpsilon; };
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

double LayeredMaxFlow::NaturalBlockingFlow(double limit) {
  // Flow is drawn from the sink upwards: the sink has few in-arcs and bounds the flow, while every node
  // above has arcs from almost every position, so a path is usually found in L steps. A node tries its
  // own position first (the residual connection's large arc), then the others in order; nodes with no
  // way up are skipped through their bits in open_, so a sink costs about (paths x L) steps instead of
  // a scan of the whole graph.
  const std::int64_t t = tokens_;
  std::fill(cursor_.begin(), cursor_.end(), -1);
  for (std::int64_t layer = 1; layer < layers_; ++layer) {
    std::uint64_t* bits = open_.data() + (layer - 1) * words_;
    for (std::int64_t w = 0; w < words_; ++w) {
      const std::int64_t n = std::min<std::int64_t>(64, t - w * 64);
      bits[w] = n == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
    }
  }
  return Pull(0, sink_, limit);
}

double LayeredMaxFlow::Pull(std::int64_t layer, std::int64_t position, double demand) {
  const std::size_t base = Entry(layer, 0, position);
  double* residual = residual_.data() + base;
  const std::size_t node =
      layer == 0 ? static_cast<std::size_t>(sink_node_) : static_cast<std::size_t>(Node(layer, position));
  std::int32_t& cursor = cursor_[node];
  double pulled = 0.0;
  if (layer + 2 == layers_) {
    // The parents (layer L - 1) hang from the source by one arc each: draw along both arcs here, and
    // close a parent once its arc from the source is saturated.
    for (;;) {
      const std::int64_t parent = NextParent(layer, position, cursor);
      if (parent < 0) break;
      double& from_source = top_[static_cast<std::size_t>(parent)];
      const double got = std::min(demand - pulled, std::min(residual[parent], from_source));
      if (got > 0.0) {
        saved_.push_back({base + static_cast<std::size_t>(parent), residual[parent]});
        residual[parent] -= got;
        from_source -= got;
        pulled += got;
        if (from_source <= kEpsilon) Close(layers_ - 1, parent);
        if (demand - pulled <= kEpsilon) return pulled;
      }
      if (cursor < 0) {
        cursor = 0;
      } else {
        ++cursor;
      }
    }
  } else {
    for (;;) {
      const std::int64_t parent = NextParent(layer, position, cursor);
      if (parent < 0) break;
      const double room = residual[parent];
      const double ask = std::min(demand - pulled, room);
      const double got = Pull(layer + 1, parent, ask);
      if (got > 0.0) {
        saved_.push_back({base + static_cast<std::size_t>(parent), room});
        residual[parent] = room - got;
        pulled += got;
        if (demand - pulled <= kEpsilon) return pulled;  // keep the cursor: this arc may have room left
      }
      if (cursor < 0) {
        cursor = 0;
      } else {
        ++cursor;
      }
    }
  }
  if (layer > 0) Close(layer, position);  // no way up from here in this phase
  return pulled;
}

double LayeredMaxFlow::MaxFlow(std::int64_t source, std::int64_t sink) {
  source_ = source;
  sink_ = sink;
  // Undo the previous sink's flow, latest change first, so that every residual is its capacity again.
  for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) residual_[it->entry] = it->residual;
  saved_.clear();
  if (layers_ == 1) return capacities_[Entry(0, source, sink)];
  std::copy_n(source_arcs_.begin() + source * tokens_, tokens_, top_.begin());
  // Trivial bound: what leaves the source and what can enter the sink.
  const double bound = std::min(out_[static_cast<std::size_t>(source)], in_[static_cast<std::size_t>(sink)]);
  // With no flow yet, the level graph is the natural layering: one blocking flow on it usually reaches
  // the bound. Otherwise Dinic continues with searched level graphs until no augmenting path is left.
  double value = NaturalBlockingFlow(bound);
  if (value < bound - kEpsilon) {
    // The searched phases work on residual_ alone: move the source's arcs there.
    for (std::int64_t j = 0; j < tokens_; ++j) {
      const std::size_t entry = Entry(layers_ - 1, source_, j);
      saved_.push_back({entry, residual_[entry]});
      residual_[entry] = top_[static_cast<std::size_t>(j)];
    }
  }
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

FlowCertificate::FlowCertificate(const std::vector<double>& capacities, std::int64_t layers,
                                 std::int64_t tokens)
    : out_(static_cast<std::size_t>(tokens), 0.0), in_(static_cast<std::size_t>(tokens), 0.0) {
  static_assert(kTolerance == kEpsilon);
  if (layers < 2 || tokens == 0) return;  // one layer: each flow is one arc, nothing to share
  const auto tt = static_cast<std::size_t>(tokens * tokens);
  const double* top = capacities.data() + static_cast<std::size_t>(layers - 1) * tt;
  for (std::int64_t i = 0; i < tokens; ++i) {
    for (std::int64_t j = 0; j < tokens; ++j) {
      out_[static_cast<std::size_t>(i)] += top[i * tokens + j];
      in_[static_cast<std::size_t>(j)] += capacities[static_cast<std::size_t>(i * tokens + j)];
    }
  }
  const double total = *std::max_element(out_.begin(), out_.end());
  if (!(total > 0.0)) return;
  const double share = total / static_cast<double>(tokens);  // w_i
  const std::int64_t middle = layers / 2;
  // Above the middle layer: layer 0 of this graph is a supersink (position 0) fed by w, layers 1.. are
  // layers middle.. of the sequence's graph.
  std::vector<double> upper(static_cast<std::size_t>(layers - middle + 1) * tt, 0.0);
  for (std::int64_t i = 0; i < tokens; ++i) upper[static_cast<std::size_t>(i * tokens)] = share;
  std::copy(capacities.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(middle) * tt),
            capacities.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(layers) * tt),
            upper.begin() + static_cast<std::ptrdiff_t>(tt));
  // Below it: layers 0..middle of the sequence's graph under a supersource (position 0) that feeds w.
  std::vector<double> lower(static_cast<std::size_t>(middle + 1) * tt, 0.0);
  std::copy(capacities.begin(),
            capacities.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(middle) * tt),
            lower.begin());
  std::fill_n(lower.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(middle) * tt), tokens,
              share);
  delivers_.assign(static_cast<std::size_t>(tokens), 0);
  absorbs_.assign(static_cast<std::size_t>(tokens), 0.0);
  LayeredMaxFlow up(upper, layers - middle + 1, tokens);
  double target = 0.0;  // the capacity of w, summed as the solver sums it
  for (std::int64_t i = 0; i < tokens; ++i) target += share;
  // A flow that falls short of w needs the solver's searched phases, which cost several times one that
  // reaches it: when the first sources all fall short (shallow or peaked attention), the certificate
  // gives up rather than add that cost to the solver's.
  constexpr std::int64_t kTrial = 8;
  bool any = false;
  for (std::int64_t s = 0; s < tokens && (any || s < kTrial); ++s) {
    const bool full = up.MaxFlow(s, 0) >= target - kEpsilon;
    delivers_[static_cast<std::size_t>(s)] = full ? 1 : 0;
    any = any || full;
  }
  if (!any) {
    delivers_.clear();  // the certificate proves nothing: spare the sinks
    return;
  }
  LayeredMaxFlow down(lower, middle + 1, tokens);
  for (std::int64_t k = 0; k < tokens; ++k) absorbs_[static_cast<std::size_t>(k)] = down.MaxFlow(0, k);
}

void AttentionFlowRows(const std::vector<double>& capacities, std::int64_t layers, std::int64_t tokens,
                       std::int64_t begin, std::int64_t end, double* out,
                       const FlowCertificate* certificate) {
  if (layers == 0) {
    for (std::int64_t q = begin; q < end; ++q) {
      std::fill(out + q * tokens, out + (q + 1) * tokens, 0.0);
      out[q * tokens + q] = 1.0;
    }
    return;
  }
  std::optional<FlowCertificate> own;
  if (certificate == nullptr) certificate = &own.emplace(capacities, layers, tokens);
  std::optional<LayeredMaxFlow> solver;  // built for the first pair the certificate does not prove
  for (std::int64_t q = begin; q < end; ++q) {
    double* row = out + q * tokens;
    for (std::int64_t k = 0; k < tokens; ++k) {
      if (certificate->Proves(q, k)) {
        row[k] = certificate->Bound(q, k);
      } else {
        if (!solver) solver.emplace(capacities, layers, tokens);
        row[k] = solver->MaxFlow(q, k);
      }
    }
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
