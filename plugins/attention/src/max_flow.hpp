// Attention flow (Abnar & Zuidema 2020): maximum flow in the layered graph of a transformer's attention.
//
// The graph has a node per (layer, position): layer 0 holds the input tokens, layer l (1..L) the outputs
// of attention layer l. Query q of layer l draws on key k of layer l-1 through an edge (l, q) -> (l-1, k)
// whose capacity is the residual-adjusted, head-combined attention weight adjusted[l-1][q][k]. The flow of
// output position q to input token k is the maximum flow from (L, q) to (0, k); each output position's
// flows are then divided by their sum (row-normalised), as the paper's reference code does.
//
// The reference code runs networkx's Edmonds–Karp once per (output, input) pair on the whole graph. Here
// most pairs need no flow of their own: FlowCertificate (below) proves, for all T² pairs at once, which
// ones reach their trivial bound. For the others, one LayeredMaxFlow per output position keeps dense residual
// matrices and its work buffers, and solves its T sinks one after another with Dinic's algorithm on the part
// of the graph that can carry flow to that sink (the source's own layer and the other input tokens drop out).
// The first phase needs no search — with no flow yet, the natural layering is the level graph — and draws
// flow from the sink upwards by a depth-first pull with current-arc cursors: a node asks its own position
// first (the residual connection's large arc), then the others in order, for what it still needs; closed
// nodes (no way up left) are skipped through a bit per node, 64 at a time, and the arcs out of the source,
// each the only way into a node of layer L-1, are taken together with the arc below them. A sink thus costs
// about (paths x L) steps rather than a pass over the L·T² arcs, and the flow shared by several paths is
// updated once, not once per path. A sink stops as soon as its flow reaches the trivial bound (1 out of
// the source, or the sink's total in-capacity), which on softmax attention is nearly always within that
// first phase; otherwise searched phases continue until no augmenting path is left. Between sinks the
// residuals are restored from a log of the changes (latest first) instead of a pass over the graph.
#pragma once

#include <algorithm>
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
  // in capacities_ and residual_ (which hold [layer][child][parent]).
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
  // Draws up to `demand` into the node at (layer, position) from the source along the natural layering,
  // depth first with current-arc cursors; returns the amount, and marks the node closed in open_ when it
  // has no way up left.
  double Pull(std::int64_t layer, std::int64_t position, double demand);
  // The next parent (a position in layer + 1) of the node at (layer, position) with residual capacity
  // and a possible way up, advancing its cursor; -1 when there is none.
  std::int64_t NextParent(std::int64_t layer, std::int64_t position, std::int32_t& cursor);
  // The first position at or after `position` of the layer whose node is open; T when none.
  std::int64_t NextOpen(std::int64_t layer, std::int64_t position);
  void Close(std::int64_t layer, std::int64_t position);
  // Later phases: levels by breadth-first search from the source, then a blocking flow by depth-first
  // search with current-arc pointers.
  bool BuildLevels();
  double Push(std::int64_t node, double limit);
  void AddFlow(std::size_t entry, double amount);
  // The flow on an arc: its capacity less its residual.
  double Flow(std::size_t entry) const { return capacities_[entry] - residual_[entry]; }

  std::vector<double> capacities_;  // [layers][child][parent]
  std::int64_t layers_, tokens_;
  std::int64_t source_ = 0, sink_ = 0;  // positions in layer L and layer 0
  std::int64_t source_node_, sink_node_;
  std::vector<double> residual_;      // capacity less flow, same layout as capacities_
  std::vector<std::int32_t> level_;   // per node, -1 unreached
  std::vector<std::int32_t> cursor_;  // per node: next neighbour to try in this phase
  std::vector<std::int64_t> queue_;
  // Every change to residual_ since the sink began: the entry and its residual before the change.
  struct Saved {
    std::size_t entry;
    double residual;
  };
  std::vector<Saved> saved_;
  // Per intermediate layer, a bit per position: set while the node may still reach the source in the
  // current phase; words_ 64-bit words a layer.
  std::int64_t words_;
  std::vector<std::uint64_t> open_;
  // Per position: the capacity out of it as the source (layer L) and into it as the sink (layer 0).
  std::vector<double> out_, in_;
  // The natural phase's residuals of the arcs out of the source, contiguous (residual_ holds them only
  // from the searched phases on).
  std::vector<double> top_;
  std::vector<double> source_arcs_;  // [source][position in layer L - 1]: the arcs out of each source
};

// A proof, shared by all output positions of one sequence, that many of its maximum flows equal their
// trivial bound min(out(source), in(sink)), so that those pairs need no flow of their own. The graph is cut
// at a middle layer m = L / 2 and a common profile w is placed on it: W / T at each position, W the largest
// capacity out of a source. Above m, one maximum flow per source decides whether the source can deliver
// all of w to layer m (a flow into a supersink fed by arcs of capacity w_i); below m, one maximum flow per
// sink measures how much of w it can absorb (from a supersource over arcs of capacity w_i). When source s
// delivers w in full and sink k absorbs y <= w of value b_k, the two flows use disjoint arcs and meet at
// layer m, where the part of the upper flow that ends in position i is cut down to y_i (a flow in a
// layered graph decomposes into paths, so it can): together they are a flow from s to k of value b_k.
// Hence max flow(s, k) >= b_k, and when b_k reaches the bound the bound is the maximum flow (to within
// 3·kTolerance, the solvers' own allowance for round-off). The proof costs 2T maximum flows on half-height
// graphs instead of T² on the whole one; pairs it does not prove are solved by LayeredMaxFlow, so the
// results are exact maximum flows either way. On softmax attention with the residual adjustment and L >= 6
// it proves every pair in practice (the diagonal's 1/2 lets flow spread over ~3 layers on each side);
// shallower networks and peaked heads leave pairs to the solver, and when the first 8 sources all fall
// short of w the certificate stops there and proves nothing (its cost is then a few flows).
class FlowCertificate {
 public:
  // `capacities` as for LayeredMaxFlow.
  FlowCertificate(const std::vector<double>& capacities, std::int64_t layers, std::int64_t tokens);

  // True when the maximum flow from output position `source` to input token `sink` is proven to be
  // Bound(source, sink).
  bool Proves(std::int64_t source, std::int64_t sink) const {
    const auto s = static_cast<std::size_t>(source), k = static_cast<std::size_t>(sink);
    return !delivers_.empty() && delivers_[s] != 0 && absorbs_[k] >= Bound(source, sink) - 2 * kTolerance;
  }
  // The trivial bound min(capacity out of the source, capacity into the sink).
  double Bound(std::int64_t source, std::int64_t sink) const {
    return std::min(out_[static_cast<std::size_t>(source)], in_[static_cast<std::size_t>(sink)]);
  }

  // Residual capacities at or below this count as saturated in the solvers; the certificate's two flows
  // may each fall short of their target by this much.
  static constexpr double kTolerance = 1e-14;

 private:
  std::vector<double> out_, in_;  // per position: capacity out of it as a source, into it as a sink
  std::vector<char> delivers_;    // per source: delivers all of w to the middle layer; empty: no proof
  std::vector<double> absorbs_;   // per sink: the maximum flow from w at the middle layer into it
};

// Attention flow of one sequence: out[q][k] (T x T, row-major) is the maximum flow from output position q
// to input token k divided by the sum over k. `capacities` as for LayeredMaxFlow. With no layers, the
// identity (each position is its own token).
std::vector<double> AttentionFlow(const std::vector<double>& capacities, std::int64_t layers,
                                  std::int64_t tokens);

// Rows [begin, end) of AttentionFlow, written to out[q * T .. (q + 1) * T) (out holds the whole T x T).
// `certificate`: the sequence's FlowCertificate, built once and shared by the callers that split its rows;
// null builds one here.
void AttentionFlowRows(const std::vector<double>& capacities, std::int64_t layers, std::int64_t tokens,
                       std::int64_t begin, std::int64_t end, double* out,
                       const FlowCertificate* certificate = nullptr);

}  // namespace loupe::attention
