#include "text_rows.hpp"

#include <algorithm>
#include <cstddef>

#include "loupe/sdk/error.hpp"

namespace loupe::attention {
namespace {

using loupe::sdk::Error;
using loupe::sdk::Host;

std::vector<std::string> Strings(const char* const* items, std::int64_t n) {
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out.emplace_back(items[i] != nullptr ? items[i] : "");
  return out;
}

std::string ModelName(const Host& host) {
  const std::string name = host.ModelInfo().name;
  return name.empty() ? "the model" : "model '" + name + "'";
}

struct AttentionSinkContext {
  RowAttention* out;
  std::int64_t layers, heads;
};

LoupeStatus AttentionSink(void* ctx, std::int64_t index, std::int64_t row, const char* const* tokens,
                          const std::int64_t* word_index, std::int64_t n_tokens, const char* const* words,
                          std::int64_t n_words, const float* attention, const float* pooling) {
  const auto* c = static_cast<const AttentionSinkContext*>(ctx);
  RowAttention& r = c->out[index];
  r.row = row;
  r.tokens = Strings(tokens, n_tokens);
  r.word_index.assign(word_index, word_index + n_tokens);
  r.words = Strings(words, n_words);
  if (attention != nullptr)
    r.attention.assign(attention, attention + c->layers * c->heads * n_tokens * n_tokens);
  if (pooling != nullptr) r.pooling.assign(pooling, pooling + n_tokens);
  return LOUPE_OK;
}

struct HiddenSinkContext {
  RowHidden* out;
  const HiddenShape* shape;
};

LoupeStatus HiddenSink(void* ctx, std::int64_t index, std::int64_t row, const char* const* tokens,
                       const std::int64_t* word_index, std::int64_t n_tokens, const char* const* words,
                       std::int64_t n_words, const float* const* states, const float* pooled) {
  const auto* c = static_cast<const HiddenSinkContext*>(ctx);
  RowHidden& r = c->out[index];
  r.row = row;
  r.tokens = Strings(tokens, n_tokens);
  r.word_index.assign(word_index, word_index + n_tokens);
  r.words = Strings(words, n_words);
  for (std::size_t s = 0; s < c->shape->widths.size(); ++s) {
    r.states.emplace_back(states[s], states[s] + n_tokens * c->shape->widths[s]);
  }
  r.pooled.assign(pooled, pooled + c->shape->pooled_width);
  return LOUPE_OK;
}

}  // namespace

void RequireTextData(const Host& host, const std::string& explainer) {
  const loupe::sdk::DatasetInfo data = host.Dataset();
  for (const auto& feature : data.features) {
    if (feature.type == LOUPE_FEATURE_TEXT) return;
  }
  std::string names;
  for (const auto& feature : data.features) names += (names.empty() ? "" : ", ") + feature.name;
  throw loupe::sdk::Unsupported(explainer +
                                " explains models that read text, but none of the step's features (" + names +
                                ") is a text column");
}

AttentionShape RequireAttention(const Host& host, const std::string& explainer) {
  RequireTextData(host, explainer);
  const auto* source =
      static_cast<const LoupeAttentionSource*>(host.Capability(LOUPE_ATTENTION_CAPABILITY, 1));
  if (source == nullptr || source->compute == nullptr) {
    throw loupe::sdk::Unsupported(
        ModelName(host) +
        " offers no '" LOUPE_ATTENTION_CAPABILITY
        "' capability (it has neither self-attention layers nor attention pooling), "
        "which " +
        explainer + " needs");
  }
  AttentionShape shape;
  shape.layers = source->n_layers;
  shape.heads = source->n_heads;
  shape.has_pooling = source->has_pooling != 0;
  if (source->struct_size >= offsetof(LoupeAttentionSource, pooling) + sizeof(source->pooling)) {
    shape.pooling = source->pooling;
  }
  return shape;
}

std::vector<RowAttention> ReadAttention(const Host& host, const std::vector<std::int64_t>& rows) {
  const auto* source =
      static_cast<const LoupeAttentionSource*>(host.Capability(LOUPE_ATTENTION_CAPABILITY, 1));
  std::vector<RowAttention> out(rows.size());
  host.ParallelFor(0, static_cast<std::int64_t>(rows.size()), kRowBatch,
                   [&](std::int64_t begin, std::int64_t end) {
                     AttentionSinkContext ctx{out.data() + begin, source->n_layers, source->n_heads};
                     const LoupeStatus status =
                         source->compute(host.raw(), rows.data() + begin, end - begin, &AttentionSink, &ctx);
                     if (status != LOUPE_OK) throw Error::AlreadyReported(status);
                     host.ThrowIfCancelled();
                   });
  return out;
}

HiddenShape RequireHiddenStates(const Host& host, const std::string& explainer) {
  RequireTextData(host, explainer);
  const auto* hidden =
      static_cast<const LoupeHiddenStates*>(host.Capability(LOUPE_HIDDEN_STATES_CAPABILITY, 1));
  if (hidden == nullptr || hidden->compute == nullptr) {
    throw loupe::sdk::Unsupported(ModelName(host) +
                                  " offers no '" LOUPE_HIDDEN_STATES_CAPABILITY "' capability, which " +
                                  explainer + " needs");
  }
  HiddenShape shape;
  shape.names = Strings(hidden->names, hidden->n_states);
  shape.widths.assign(hidden->widths, hidden->widths + hidden->n_states);
  shape.pooled_width = hidden->pooled_width;
  shape.pooling = hidden->pooling;
  return shape;
}

std::vector<RowHidden> ReadHiddenStates(const Host& host, const std::vector<std::int64_t>& rows) {
  const auto* hidden =
      static_cast<const LoupeHiddenStates*>(host.Capability(LOUPE_HIDDEN_STATES_CAPABILITY, 1));
  HiddenShape shape;
  shape.widths.assign(hidden->widths, hidden->widths + hidden->n_states);
  shape.pooled_width = hidden->pooled_width;
  std::vector<RowHidden> out(rows.size());
  host.ParallelFor(0, static_cast<std::int64_t>(rows.size()), kRowBatch,
                   [&](std::int64_t begin, std::int64_t end) {
                     HiddenSinkContext ctx{out.data() + begin, &shape};
                     const LoupeStatus status =
                         hidden->compute(host.raw(), rows.data() + begin, end - begin, &HiddenSink, &ctx);
                     if (status != LOUPE_OK) throw Error::AlreadyReported(status);
                     host.ThrowIfCancelled();
                   });
  return out;
}

std::vector<std::int64_t> SelectIndices(const nlohmann::json& selection, std::int64_t count,
                                        const std::string& parameter, const std::string& what) {
  std::vector<std::int64_t> out;
  if (selection.is_null() || (selection.is_string() && selection.get<std::string>() == "all")) {
    for (std::int64_t i = 0; i < count; ++i) out.push_back(i);
    return out;
  }
  const nlohmann::json items = selection.is_array() ? selection : nlohmann::json::array({selection});
  for (const auto& item : items) {
    if (!item.is_number_integer()) {
      throw loupe::sdk::InvalidArgument("parameter '" + parameter +
                                        "' must be \"all\", an index or a list of " + what +
                                        " indices, found " + loupe::sdk::DescribeJson(item));
    }
    std::int64_t index = item.get<std::int64_t>();
    if (index < -count || index >= count) {
      throw loupe::sdk::InvalidArgument("parameter '" + parameter + "' names " + what + " " +
                                        std::to_string(index) + " but the model has " +
                                        std::to_string(count) + " " + what + (count == 1 ? "" : "s") +
                                        " (0 to " + std::to_string(count - 1) + ")");
    }
    if (index < 0) index += count;
    if (std::find(out.begin(), out.end(), index) == out.end()) out.push_back(index);
  }
  if (out.empty()) throw loupe::sdk::InvalidArgument("parameter '" + parameter + "' selects no " + what);
  return out;
}

std::vector<double> PoolingWeights(std::int32_t pooling, const RowAttention& row) {
  const std::int64_t t = row.size();
  std::vector<double> w(static_cast<std::size_t>(t), 0.0);
  if (t == 0) return w;
  switch (pooling) {
    case LOUPE_POOLING_MEAN:
      std::fill(w.begin(), w.end(), 1.0 / static_cast<double>(t));
      break;
    case LOUPE_POOLING_LAST:
      w.back() = 1.0;
      break;
    case LOUPE_POOLING_ATTENTION:
      if (!row.pooling.empty()) {
        std::copy(row.pooling.begin(), row.pooling.end(), w.begin());
        break;
      }
      [[fallthrough]];
    default:
      w.front() = 1.0;
  }
  return w;
}

std::string PoolingName(std::int32_t pooling) {
  switch (pooling) {
    case LOUPE_POOLING_CLS:
      return "cls";
    case LOUPE_POOLING_MEAN:
      return "mean";
    case LOUPE_POOLING_LAST:
      return "last";
    case LOUPE_POOLING_ATTENTION:
      return "attention";
    default:
      return "unknown";
  }
}

void WriteTokens(const loupe::sdk::ResultBuilder& result, const std::vector<RowAttention>& rows) {
  nlohmann::json row_ids = nlohmann::json::array(), tokens = nlohmann::json::array(),
                 word_index = nlohmann::json::array(), words = nlohmann::json::array();
  for (const RowAttention& r : rows) {
    row_ids.push_back(r.row);
    tokens.push_back(r.tokens);
    word_index.push_back(r.word_index);
    words.push_back(r.words);
  }
  result.SetJson("rows", row_ids);
  result.SetJson("tokens", tokens);
  result.SetJson("word_index", word_index);
  result.SetJson("words", words);
}

nlohmann::json MatrixJson(const double* data, std::int64_t n, std::int64_t m) {
  nlohmann::json out = nlohmann::json::array();
  for (std::int64_t i = 0; i < n; ++i) out.push_back(std::vector<double>(data + i * m, data + (i + 1) * m));
  return out;
}

nlohmann::json VectorJson(const std::vector<double>& values) { return nlohmann::json(values); }

}  // namespace loupe::attention
