#include "map_explainers.hpp"

#include <algorithm>
#include <optional>

#include "max_flow.hpp"

namespace loupe::attention {
namespace {

using loupe::sdk::ExplainerDef;
using loupe::sdk::Host;
using loupe::sdk::Param;
using loupe::sdk::ResultBuilder;
using nlohmann::json;

std::vector<Param> SelectionParams(const char* default_aggregate, const std::string& aggregate_doc) {
  return {Param::Json("layers").Default("all").Doc(
              "Self-attention layers to use: \"all\", an index or a list of indices (0 is the first layer; "
              "negative indices count from the last)."),
          Param::Json("heads").Default("all").Doc(
              "Heads of each layer to use: \"all\", an index or a list of indices (negative from the last)."),
          Param::Enum("aggregate", {"none", "mean", "max"}).Default(default_aggregate).Doc(aggregate_doc)};
}

Selection ReadSelection(const Host& host, const std::string& explainer, bool allow_none) {
  Selection s;
  s.layers = host.Params().GetOr<json>("layers", "all");
  s.heads = host.Params().GetOr<json>("heads", "all");
  s.aggregate = ParseAggregate(host.Params().GetOr<std::string>("aggregate", "mean"));
  if (!allow_none && s.aggregate == Aggregate::kNone) {
    throw loupe::sdk::InvalidArgument(explainer +
                                      " combines the heads of each layer into one matrix, so parameter "
                                      "'aggregate' must be mean or max, found none");
  }
  for (const char* name : {"layers", "heads"}) {  // shape-independent checks, so bad values fail in create
    const json& value = std::string(name) == "layers" ? s.layers : s.heads;
    const bool ok =
        value.is_number_integer() || (value.is_string() && value.get<std::string>() == "all") ||
        (value.is_array() && !value.empty() &&
         std::all_of(value.begin(), value.end(), [](const json& v) { return v.is_number_integer(); }));
    if (!ok) {
      throw loupe::sdk::InvalidArgument(std::string("parameter '") + name +
                                        "' must be \"all\", an index or a non-empty list of indices, found " +
                                        loupe::sdk::DescribeJson(value));
    }
  }
  return s;
}

struct Resolved {
  AttentionShape shape;
  std::vector<std::int64_t> layers, heads;
  std::vector<RowAttention> rows;
};

Resolved Resolve(const Host& host, const Selection& selection, const std::string& explainer) {
  Resolved r;
  r.shape = RequireAttention(host, explainer);
  r.layers = SelectIndices(selection.layers, r.shape.layers, "layers", "layer");
  r.heads = SelectIndices(selection.heads, r.shape.heads, "heads", "head");
  r.rows = ReadAttention(host, host.StepRows());
  return r;
}

void WriteSelection(const ResultBuilder& result, const Resolved& r) {
  result.SetJson("layers", r.layers);
  result.SetJson("heads", r.heads);
  result.SetString("pooling", PoolingName(r.shape.pooling));
  json pooling = json::array();
  for (const RowAttention& row : r.rows)
    pooling.push_back(std::vector<double>(row.pooling.begin(), row.pooling.end()));
  if (r.shape.has_pooling) result.SetJson("pooling_weights", pooling);
}

// Token importance summed per word (tokens of [CLS]/[SEP] belong to no word).
std::vector<double> WordImportance(const RowAttention& row, const std::vector<double>& importance) {
  std::vector<double> words(row.words.size(), 0.0);
  for (std::size_t k = 0; k < row.word_index.size(); ++k) {
    const std::int64_t w = row.word_index[k];
    if (w >= 0 && static_cast<std::size_t>(w) < words.size())
      words[static_cast<std::size_t>(w)] += importance[k];
  }
  return words;
}

// Writes importance[R][T] and word_importance[R][W] of per-row [T][T] matrices read through the pooling.
void WriteImportance(const ResultBuilder& result, const Resolved& r,
                     const std::vector<std::vector<double>>& matrices) {
  json importance = json::array(), words = json::array();
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    const std::vector<double> weights = PoolingWeights(r.shape.pooling, r.rows[i]);
    const std::vector<double> token = PooledImportance(matrices[i], weights, r.rows[i].size());
    importance.push_back(token);
    words.push_back(WordImportance(r.rows[i], token));
  }
  result.SetJson("importance", importance);
  result.SetJson("word_importance", words);
}

std::vector<std::vector<double>> AdjustedOfRows(const Host& host, const Resolved& r, Aggregate aggregate) {
  std::vector<std::vector<double>> adjusted(r.rows.size());
  host.ParallelFor(0, static_cast<std::int64_t>(r.rows.size()), 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      adjusted[static_cast<std::size_t>(i)] =
          AdjustedLayers(r.rows[static_cast<std::size_t>(i)], r.shape, r.layers, r.heads, aggregate);
    }
  });
  return adjusted;
}

std::vector<std::vector<double>> RolloutOfRows(const Resolved& r,
                                               const std::vector<std::vector<double>>& adjusted) {
  std::vector<std::vector<double>> rollout;
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    rollout.push_back(Rollout(adjusted[i], static_cast<std::int64_t>(r.layers.size()), r.rows[i].size()));
  }
  return rollout;
}

json MatricesJson(const Resolved& r, const std::vector<std::vector<double>>& matrices) {
  json out = json::array();
  for (std::size_t i = 0; i < r.rows.size(); ++i)
    out.push_back(MatrixJson(matrices[i].data(), r.rows[i].size(), r.rows[i].size()));
  return out;
}

}  // namespace

std::vector<double> AdjustedLayers(const RowAttention& row, const AttentionShape& shape,
                                   const std::vector<std::int64_t>& layers,
                                   const std::vector<std::int64_t>& heads, Aggregate aggregate) {
  if (layers.empty() || row.attention.empty()) return {};
  std::vector<double> combined =
      CombineHeads(row.attention.data(), shape.heads, row.size(), layers, heads, aggregate);
  AddResidual(combined, static_cast<std::int64_t>(layers.size()), row.size());
  return combined;
}

std::vector<std::vector<double>> FlowOfRows(const Host& host,
                                            const std::vector<std::vector<double>>& adjusted,
                                            const std::vector<std::int64_t>& tokens, std::int64_t layers) {
  std::vector<std::vector<double>> flow(tokens.size());
  std::vector<std::pair<std::size_t, std::int64_t>> tasks;  // (row, output position)
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    flow[i].assign(static_cast<std::size_t>(tokens[i] * tokens[i]), 0.0);
    for (std::int64_t q = 0; q < tokens[i]; ++q) tasks.emplace_back(i, q);
  }
  // Each row's FlowCertificate once, shared by the chunks of its output positions.
  std::vector<std::optional<FlowCertificate>> certificates(tokens.size());
  host.ParallelFor(0, static_cast<std::int64_t>(tokens.size()), 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t row = begin; row < end; ++row) {
      const auto r = static_cast<std::size_t>(row);
      certificates[r].emplace(adjusted[r], layers, tokens[r]);
      host.ThrowIfCancelled();
    }
  });
  host.ParallelFor(0, static_cast<std::int64_t>(tasks.size()), 4, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t task = begin; task < end;) {  // consecutive output positions of a row share a solver
      const auto [row, first] = tasks[static_cast<std::size_t>(task)];
      std::int64_t last = first + 1;
      while (task + (last - first) < end && last < tokens[row]) ++last;
      AttentionFlowRows(adjusted[row], layers, tokens[row], first, last, flow[row].data(),
                        &*certificates[row]);
      task += last - first;
    }
    host.ThrowIfCancelled();
    host.Progress(static_cast<std::uint64_t>(end), tasks.size());
  });
  return flow;
}

// --- attention.inspect ---------------------------------------------------------------------------------

InspectExplainer::InspectExplainer(const Host& host)
    : selection_(ReadSelection(host, "attention.inspect", true)),
      bertviz_(host.Params().GetOr<bool>("bertviz", false)) {}

ExplainerDef InspectExplainer::Definition() {
  std::vector<Param> params = SelectionParams(
      "none",
      "How the selected heads of a layer are shown: none (every head), mean or max (one combined map).");
  params.push_back(
      Param::Bool("bertviz").Default(false).Doc("Also write 'bertviz': per row the tokens and the attention "
                                                "as BertViz's head_view/model_view take it."));
  return ExplainerDef::Of<InspectExplainer>("attention.inspect")
      .Summary("The tokens of each explained text and the attention probabilities of every layer and head.")
      .Kind("attention_maps")
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters(std::move(params))
      .Requires({LOUPE_ATTENTION_CAPABILITY});
}

void InspectExplainer::Explain(const Host& host, const ResultBuilder& result) const {
  const Resolved r = Resolve(host, selection_, "attention.inspect");
  WriteTokens(result, r.rows);
  WriteSelection(result, r);
  const std::int64_t h = r.shape.heads;
  json attentions = json::array(), bertviz = json::array();
  for (const RowAttention& row : r.rows) {
    const std::int64_t t = row.size(), tt = t * t;
    json layers = json::array();
    for (std::size_t li = 0; li < r.layers.size() && !row.attention.empty(); ++li) {
      json heads = json::array();
      if (selection_.aggregate == Aggregate::kNone) {
        for (const std::int64_t head : r.heads) {
          const float* a = row.attention.data() + (r.layers[li] * h + head) * tt;
          const std::vector<double> copy(a, a + tt);
          heads.push_back(MatrixJson(copy.data(), t, t));
        }
      } else {
        const std::vector<double> combined =
            CombineHeads(row.attention.data(), h, t, {r.layers[li]}, r.heads, selection_.aggregate);
        heads.push_back(MatrixJson(combined.data(), t, t));
      }
      layers.push_back(std::move(heads));
    }
    if (bertviz_) {
      json per_layer = json::array();  // BertViz: one [batch = 1][heads][T][T] tensor per layer
      for (const json& heads : layers) per_layer.push_back(json::array({heads}));
      bertviz.push_back({{"tokens", row.tokens}, {"attention", std::move(per_layer)}});
    }
    attentions.push_back(std::move(layers));
  }
  result.SetJson("attentions", attentions);
  if (selection_.aggregate != Aggregate::kNone) {
    result.SetJson("head_labels", json::array({selection_.aggregate == Aggregate::kMean ? "mean" : "max"}));
  }
  if (bertviz_) result.SetJson("bertviz", bertviz);
}

// --- attention.rollout ---------------------------------------------------------------------------------

RolloutExplainer::RolloutExplainer(const Host& host)
    : selection_(ReadSelection(host, "attention.rollout", false)) {}

ExplainerDef RolloutExplainer::Definition() {
  return ExplainerDef::Of<RolloutExplainer>("attention.rollout")
      .Summary(
          "Attention rollout (Abnar & Zuidema 2020): residual-adjusted attention multiplied through the "
          "layers, and each token's share of the pooled output.")
      .Kind("attention_maps")
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters(
          SelectionParams("mean", "How the heads of a layer are combined: mean (the paper's) or max."))
      .Requires({LOUPE_ATTENTION_CAPABILITY});
}

void RolloutExplainer::Explain(const Host& host, const ResultBuilder& result) const {
  const Resolved r = Resolve(host, selection_, "attention.rollout");
  WriteTokens(result, r.rows);
  WriteSelection(result, r);
  const std::vector<std::vector<double>> rollout =
      RolloutOfRows(r, AdjustedOfRows(host, r, selection_.aggregate));
  result.SetJson("rollout", MatricesJson(r, rollout));
  WriteImportance(result, r, rollout);
}

// --- attention.flow ------------------------------------------------------------------------------------

FlowExplainer::FlowExplainer(const Host& host) : selection_(ReadSelection(host, "attention.flow", false)) {}

ExplainerDef FlowExplainer::Definition() {
  return ExplainerDef::Of<FlowExplainer>("attention.flow")
      .Summary(
          "Attention flow (Abnar & Zuidema 2020): the maximum flow from each output position to each input "
          "token through the residual-adjusted attention graph, row-normalised.")
      .Kind("attention_maps")
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters(
          SelectionParams("mean", "How the heads of a layer are combined: mean (the paper's) or max."))
      .Requires({LOUPE_ATTENTION_CAPABILITY});
}

void FlowExplainer::Explain(const Host& host, const ResultBuilder& result) const {
  const Resolved r = Resolve(host, selection_, "attention.flow");
  WriteTokens(result, r.rows);
  WriteSelection(result, r);
  const std::vector<std::vector<double>> adjusted = AdjustedOfRows(host, r, selection_.aggregate);
  std::vector<std::int64_t> tokens;
  for (const RowAttention& row : r.rows) tokens.push_back(row.size());
  const auto layers = static_cast<std::int64_t>(r.layers.size());
  const std::vector<std::vector<double>> flow = FlowOfRows(host, adjusted, tokens, layers);
  result.SetJson("flow", MatricesJson(r, flow));
  result.SetJson("rollout", MatricesJson(r, RolloutOfRows(r, adjusted)));
  WriteImportance(result, r, flow);
}

}  // namespace loupe::attention
