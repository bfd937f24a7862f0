// Attention flow (Abnar & Zuidema 2020): maximum flow in the layered graph of a transformer's attention.
//
// The graph has a node per (layer, position): layer 0 holds the input tokens, layer l (1..L) the outputs
// of attention layer l. Query q of layer l draws on key k of layer l-1 through an edge (l, q) -> (l-1, k)
// whose capacity is the residual-adjusted, head-combined attention weight adjusted[l-1][q][k]. The flow of
// output position q to input token k is the maximum flow from (L, q) to (0, k); each output position's
// flows are then divided by their sum (row-normalised), as the paper's reference code does.
//
// The reference code runs networkx's Edmonds–Karp once per (output, input) pair on the whole graph. Here
// one LayeredMaxFlow per output position keeps dense residual matrices and its work buffers, and solves
// its T sinks one after another with Dinic's algorithm on the part of the graph that can carry flow to
// that sink (the source's own layer and the other input tokens drop out). The first phase needs no
// search — with no flow yet, the natural layering is the level graph — and looks for paths from the sink
// upwards, skipping nodes with no way up through a union-find, so a sink costs about (paths x L) steps
// rather than a pass over the L·T² arcs. A sink stops as soon as its flow reaches the trivial bound (1
// out of the source, or the sink's total in-capacity), which on softmax attention is nearly always
// within that first phase; otherwise searched phases continue until no augmenting path is left.
#pragma once

#include <cstdint>
#include <vector>

namespace loupe::attention {

// Maximum flows from one output position to every input token.
class LayeredMaxFlow {
 public:
  // `capacities`: [layers][T][T] row-major, capacities[l][q][k] the edge from query q of layer l+1 to key
  // k of layer l; non-negative. Copied (transposed, so that the arcs into a node are contiguous).
  LayeredMaxFlow(const std::vector<double>& capacities, std::int64_t layers, std::int64_t tokens);

  // The maximum flow from output position `source` (layer L) to input token `sink` (layer 0).
  double MaxFlow(std::int64_t source, std::int64_t sink);

  // out[k] = MaxFlow(source, k) for every input token k (not normalised).
  void FlowsFrom(std::int64_t source, double* out);

 private:
  // The entry of the arc from position `parent` of layer `layer` + 1 to position `child` of layer `layer`
  // in capacities_ and flow_ (which hold [layer][child][parent]).
  std::size_t Entry(std::int64_t layer, std::int64_t parent, std::int64_t child) const {
    return static_cast<std::size_t>((layer * tokens_ + child) * tokens_ + parent);
  }
  // Node ids: layer l (1..L-1) position i -> (l - 1) * T + i; the source and the sink after them.
  std::int64_t Node(std::int64_t layer, std::int64_t position) const {
    return (layer - 1) * tokens_ + position;
  }
  // The first phase of Dinic's algorithm, on the natural layering, searched from the sink up; returns
  // the flow it adds (at most `limit`).
  double NaturalBlockingFlow(double limit);
  // The next parent (a position in layer + 1) of the node at (layer, position) with residual capacity
  // and a possible way up, advancing its cursor; -1 when there is none.
  std::int64_t NextParent(std::int64_t layer, std::int64_t position, std::int32_t& cursor);
  std::int64_t NextOpen(std::int64_t layer, std::int64_t position);
  // Sends min(limit, bottleneck) along path_ (sink ... source) and shortens the path to below its first
  // saturated arc; returns the amount.
  double AugmentPath(double limit);
  // Later phases: levels by breadth-first search from the source, then a blocking flow by depth-first
  // search with current-arc pointers.
  bool BuildLevels();
  double Push(std::int64_t node, double limit);
  void AddFlow(std::size_t entry, double amount);

  std::vector<double> capacities_;  // [layers][child][parent]
  std::int64_t layers_, tokens_;
  std::int64_t source_ = 0, sink_ = 0;  // positions in layer L and layer 0
  std::int64_t source_node_, sink_node_;
  std::vector<double> flow_;          // same layout as capacities_
  std::vector<std::int32_t> level_;   // per node, -1 unreached
  std::vector<std::int32_t> cursor_;  // per node: next neighbour to try in this phase
  std::vector<std::int64_t> queue_;
  std::vector<std::int64_t> path_;
  std::vector<std::size_t> path_entries_;  // path_entries_[i]: the arc from path_[i + 1] to path_[i]
  std::vector<std::size_t> touched_;       // flow entries that may be non-zero
  // Per intermediate layer, positions 0..T: the first position at or after i whose node may still reach
  // the source in the current phase (T when none); a union-find with path halving.
  std::vector<std::int32_t> open_;
};

// Attention flow of one sequence: out[q][k] (T x T, row-major) is the maximum flow from output position q
// to input token k divided by the sum over k. `capacities` as for LayeredMaxFlow. With no layers, the
// identity (each position is its own token).
std::vector<double> AttentionFlow(const std::vector<double>& capacities, std::int64_t layers,
                                  std::int64_t tokens);

// Rows [begin, end) of AttentionFlow, written to out[q * T .. (q + 1) * T) (out holds the whole T x T).
void AttentionFlowRows(const std::vector<double>& capacities, std::int64_t layers, std::int64_t tokens,
                       std::int64_t begin, std::int64_t end, double* out);

}  // namespace loupe::attention
