#include "heads_explainer.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace loupe::attention {
namespace {

using loupe::sdk::ExplainerDef;
using loupe::sdk::Host;
using loupe::sdk::Param;
using loupe::sdk::ResultBuilder;
using nlohmann::json;

constexpr std::array<const char*, 8> kFields = {"entropy",    "max_weight",       "to_cls",
                                                "to_sep",     "to_punctuation",   "distance",
                                                "importance", "importance_change"};
constexpr std::size_t kAttentionFields = 6;  // the first six come from the attention, the rest from ablation

std::array<double, kAttentionFields> AsArray(const HeadStatistics& s) {
  return {s.entropy, s.max_weight, s.to_cls, s.to_sep, s.to_punctuation, s.distance};
}

// values[row][field][head] for the selected heads (head = layer index * n_heads + head index, compact).
using PerRow = std::vector<std::vector<std::vector<double>>>;

PerRow AttentionStatistics(const Host& host, const std::vector<RowAttention>& rows,
                           const AttentionShape& shape, const std::vector<std::int64_t>& layers,
                           const std::vector<std::int64_t>& heads) {
  const std::size_t n_heads = layers.size() * heads.size();
  PerRow out(rows.size(),
             std::vector<std::vector<double>>(kFields.size(), std::vector<double>(n_heads, NAN)));
  host.ParallelFor(0, static_cast<std::int64_t>(rows.size()), 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const RowAttention& row = rows[static_cast<std::size_t>(i)];
      const TokenClasses classes = ClassifyTokens(row.tokens, row.word_index);
      const std::int64_t t = row.size();
      for (std::size_t li = 0; li < layers.size(); ++li) {
        for (std::size_t hi = 0; hi < heads.size(); ++hi) {
          const float* a = row.attention.data() + ((layers[li] * shape.heads + heads[hi]) * t) * t;
          const auto values = AsArray(Statistics(a, t, classes));
          for (std::size_t f = 0; f < kAttentionFields; ++f)
            out[static_cast<std::size_t>(i)][f][li * heads.size() + hi] = values[f];
        }
      }
    }
  });
  return out;
}

// Fills the ablation fields of `stats`: per row, the drop of the probability (or value) of the output the
// unmasked model ranks first, and half the L1 change of all outputs, when the head is masked.
void Ablation(const Host& host, const LoupeHeadMask& capability, const std::vector<std::int64_t>& rows,
              const std::vector<std::int64_t>& layers, const std::vector<std::int64_t>& heads,
              PerRow& stats) {
  const std::int64_t l_all = capability.n_layers, h_all = capability.n_heads;
  const std::size_t n_selected = layers.size() * heads.size();
  const std::int64_t n_masks = static_cast<std::int64_t>(n_selected) + 1;  // mask 0 keeps every head
  std::vector<float> masks(static_cast<std::size_t>(n_masks * l_all * h_all), 1.0f);
  for (std::size_t li = 0; li < layers.size(); ++li) {
    for (std::size_t hi = 0; hi < heads.size(); ++hi) {
      const std::size_t m = 1 + li * heads.size() + hi;
      masks[m * static_cast<std::size_t>(l_all * h_all) +
            static_cast<std::size_t>(layers[li] * h_all + heads[hi])] = 0.0f;
    }
  }
  const auto n_rows = static_cast<std::int64_t>(rows.size());
  const std::int64_t n_out = host.OutputCount(LOUPE_OUTPUT_DEFAULT);
  std::vector<double> outputs(static_cast<std::size_t>(n_masks * n_rows * n_out));
  const std::int64_t grain = std::max<std::int64_t>(1, 512 / std::max<std::int64_t>(1, n_rows));
  host.ParallelFor(0, n_masks, grain, [&](std::int64_t begin, std::int64_t end) {
    double* out = outputs.data() + begin * n_rows * n_out;
    const LoupeStatus status =
        capability.predict_rows(host.raw(), rows.data(), n_rows, masks.data() + begin * l_all * h_all,
                                end - begin, LOUPE_OUTPUT_DEFAULT, out, (end - begin) * n_rows * n_out);
    if (status != LOUPE_OK) throw loupe::sdk::Error::AlreadyReported(status);
    host.ThrowIfCancelled();
  });
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const double* base = outputs.data() + r * n_out;
    const auto top = static_cast<std::int64_t>(std::max_element(base, base + n_out) - base);
    for (std::size_t k = 0; k < n_selected; ++k) {
      const double* masked = outputs.data() + ((static_cast<std::int64_t>(k) + 1) * n_rows + r) * n_out;
      double change = 0.0;
      for (std::int64_t o = 0; o < n_out; ++o) change += std::fabs(masked[o] - base[o]);
      stats[static_cast<std::size_t>(r)][6][k] = base[top] - masked[top];
      stats[static_cast<std::size_t>(r)][7][k] = 0.5 * change;
    }
  }
}

// [L'][H'] of one field for one row, or aggregated over rows (mean or max).
json FieldJson(const PerRow& stats, std::size_t field, std::int64_t row, Aggregate aggregate,
               std::size_t n_layers, std::size_t n_heads) {
  json out = json::array();
  for (std::size_t li = 0; li < n_layers; ++li) {
    json heads = json::array();
    for (std::size_t hi = 0; hi < n_heads; ++hi) {
      const std::size_t k = li * n_heads + hi;
      double value = 0.0;
      if (row >= 0) {
        value = stats[static_cast<std::size_t>(row)][field][k];
      } else {
        value = aggregate == Aggregate::kMax ? -INFINITY : 0.0;
        for (const auto& per_row : stats) {
          value =
              aggregate == Aggregate::kMax ? std::max(value, per_row[field][k]) : value + per_row[field][k];
        }
        if (aggregate == Aggregate::kMean) value /= static_cast<double>(stats.size());
      }
      heads.push_back(std::isfinite(value) ? json(value) : json());
    }
    out.push_back(std::move(heads));
  }
  return out;
}

}  // namespace

HeadsExplainer::HeadsExplainer(const Host& host)
    : selection_(), ablation_(host.Params().GetOr<bool>("ablation", true)) {
  selection_.layers = host.Params().GetOr<json>("layers", "all");
  selection_.heads = host.Params().GetOr<json>("heads", "all");
  selection_.aggregate = ParseAggregate(host.Params().GetOr<std::string>("aggregate", "mean"));
}

ExplainerDef HeadsExplainer::Definition() {
  return ExplainerDef::Of<HeadsExplainer>("attention.heads")
      .Summary(
          "Per layer and head over the explained texts: entropy, maximum weight, attention to special "
          "tokens and punctuation, attended distance, and importance by ablation.")
      .Kind("attention_maps")
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters(
          {Param::Json("layers").Default("all").Doc(
               "Self-attention layers to describe: \"all\", an index or a list (negative from the last)."),
           Param::Json("heads").Default("all").Doc(
               "Heads of each layer to describe: \"all\", an index or a list (negative from the last)."),
           Param::Enum("aggregate", {"none", "mean", "max"})
               .Default("mean")
               .Doc("How the statistics of the rows are combined: mean, max, or none (one table per row)."),
           Param::Bool("ablation")
               .Default(true)
               .Doc("Measure each head's importance by masking it and re-evaluating the model on the rows.")})
      .Requires({LOUPE_ATTENTION_CAPABILITY});
}

void HeadsExplainer::Explain(const Host& host, const ResultBuilder& result) const {
  const AttentionShape shape = RequireAttention(host, "attention.heads");
  if (shape.layers == 0) {
    throw loupe::sdk::Unsupported("model '" + host.ModelInfo().name +
                                  "' pools its tokens with attention but has no self-attention layers, so "
                                  "attention.heads has no heads to describe");
  }
  const std::vector<std::int64_t> layers = SelectIndices(selection_.layers, shape.layers, "layers", "layer");
  const std::vector<std::int64_t> heads = SelectIndices(selection_.heads, shape.heads, "heads", "head");
  const std::vector<std::int64_t> step_rows = host.StepRows();
  const std::vector<RowAttention> rows = ReadAttention(host, step_rows);
  PerRow stats = AttentionStatistics(host, rows, shape, layers, heads);
  json notes = json::array();
  const auto* mask = static_cast<const LoupeHeadMask*>(host.Capability(LOUPE_HEAD_MASK_CAPABILITY, 1));
  const bool ablated = ablation_ && mask != nullptr && mask->predict_rows != nullptr && !rows.empty();
  if (ablated) {
    Ablation(host, *mask, step_rows, layers, heads, stats);
  } else if (ablation_) {
    notes.push_back("importance is null: model '" + host.ModelInfo().name +
                    "' offers no 'head_mask' capability to evaluate it with a head removed");
  }
  WriteTokens(result, rows);
  result.SetJson("layers", layers);
  result.SetJson("heads", heads);
  result.SetString("aggregate", selection_.aggregate == Aggregate::kNone  ? "none"
                                : selection_.aggregate == Aggregate::kMax ? "max"
                                                                          : "mean");
  const std::size_t fields = ablated ? kFields.size() : kAttentionFields;
  for (std::size_t f = 0; f < kFields.size(); ++f) {
    json value;
    if (f < fields && !rows.empty()) {
      if (selection_.aggregate == Aggregate::kNone) {
        value = json::array();
        for (std::size_t r = 0; r < rows.size(); ++r) {
          value.push_back(FieldJson(stats, f, static_cast<std::int64_t>(r), selection_.aggregate,
                                    layers.size(), heads.size()));
        }
      } else {
        value = FieldJson(stats, f, -1, selection_.aggregate, layers.size(), heads.size());
      }
    }
    result.SetJson(std::string("statistics.") + kFields[f], value);
  }
  if (!notes.empty()) result.SetJson("notes", notes);
}

}  // namespace loupe::attention
