// attention.inspect, attention.rollout and attention.flow: the attention maps of the explained text rows
// (docs/architecture.md §5, kind attention_maps). See README.md for every output field.
//
// Shared parameters: `layers` and `heads` ("all", an index or a list; negative indices count from the
// end) select what is shown or combined; `aggregate` (none | mean | max) combines the selected heads of
// each layer. Rollout and flow follow Abnar & Zuidema (2020): heads combined (mean by default), the
// identity added and rows re-normalised (the residual connection), then multiplied through the layers
// (rollout) or used as capacities of a layered max-flow graph (flow).
#pragma once

#include <cstdint>
#include <vector>

#include "attention_math.hpp"
#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"
#include "text_rows.hpp"

namespace loupe::attention {

// The layer/head selection and head combination shared by the map explainers.
struct Selection {
  nlohmann::json layers, heads;
  Aggregate aggregate = Aggregate::kMean;
};

// The residual-adjusted, head-combined layers [L'][T][T] of one row (the capacities of the flow graph).
std::vector<double> AdjustedLayers(const RowAttention& row, const AttentionShape& shape,
                                   const std::vector<std::int64_t>& layers,
                                   const std::vector<std::int64_t>& heads, Aggregate aggregate);

// Attention flow of every row, [T_r][T_r] each, computed on the host's threads one (row, output position)
// at a time, so the result does not depend on the thread count.
std::vector<std::vector<double>> FlowOfRows(const loupe::sdk::Host& host,
                                            const std::vector<std::vector<double>>& adjusted,
                                            const std::vector<std::int64_t>& tokens, std::int64_t layers);

class InspectExplainer final : public loupe::sdk::Explainer {
 public:
  explicit InspectExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;
  static loupe::sdk::ExplainerDef Definition();

 private:
  Selection selection_;
  bool bertviz_;
};

class RolloutExplainer final : public loupe::sdk::Explainer {
 public:
  explicit RolloutExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;
  static loupe::sdk::ExplainerDef Definition();

 private:
  Selection selection_;
};

class FlowExplainer final : public loupe::sdk::Explainer {
 public:
  explicit FlowExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;
  static loupe::sdk::ExplainerDef Definition();

 private:
  Selection selection_;
};

}  // namespace loupe::attention
