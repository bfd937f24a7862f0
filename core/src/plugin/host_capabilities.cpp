// The C capabilities the host offers plugins: the table of names, versions and builders, the C forms of
// the text capabilities (attention, hidden states, head mask, text), which the host builds itself because
// only it can map rows to texts, and the lookup plugins call (LoupeHostApi::model_capability).
#include <iterator>
#include <new>
#include <string_view>

#include "loupe/core/attention.hpp"
#include "loupe/core/text_probes.hpp"
#include "loupe/core/tree_ensemble.hpp"
#include "loupe/sdk/detail/host_rules.hpp"
#include "plugin/host_context.hpp"

namespace loupe::host_detail {
namespace {

// The texts of data rows [begin, end) of `rows`, through the feature matrix's text handles.
LoupeStatus RowTexts(LoupeHost* host, const std::int64_t* rows, std::int64_t begin, std::int64_t end,
                     std::vector<std::string>& texts) {
  const ExplainRequest& r = *host->request;
  const Tensor& features = *r.features;
  const std::int64_t data_rows = features.dim(0), width = features.dim(1);
  texts.clear();
  for (std::int64_t i = begin; i < end; ++i) {
    if (rows[i] < 0 || rows[i] >= data_rows) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      ("a text capability was given row " + std::to_string(rows[i]) + " but the data has " +
                       std::to_string(data_rows) + " rows.")
                          .c_str());
    }
    Result<std::string_view> text =
        r.model->ResolveText(features.data<double>()[rows[i] * width + r.model->text_feature()]);
    if (!text.ok()) return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT, text.status().message().c_str());
    texts.emplace_back(*text);
  }
  return LOUPE_OK;
}

LoupeStatus CheckRowsAndSink(LoupeHost* host, const std::int64_t* rows, std::int64_t n_rows, bool has_sink) {
  if (n_rows < 0 || (n_rows > 0 && (rows == nullptr || !has_sink))) {
    return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                    "a text capability needs a non-negative row count, the rows and a sink.");
  }
  return LOUPE_OK;
}

LoupeStatus SinkStopped(LoupeHost* host, LoupeStatus status, std::int64_t row) {
  SetError(host, status,
           ("the sink stopped at row " + std::to_string(row) + " with status " + std::to_string(status) +
            " without saying why.")
               .c_str());
  return status;
}

constexpr std::int64_t kTextBatch = 64;  // texts per model call of the text capabilities

// LoupeAttentionSource::compute: resolves the rows' text handles in the feature matrix, runs the model's
// AttentionSource over them in batches and hands each row to the sink. Never throws.
LoupeStatus ComputeAttention(LoupeHost* host, const std::int64_t* rows, std::int64_t n_rows,
                             LoupeAttentionSink sink, void* sink_ctx) {
  try {
    const AttentionSource* source = host->request->model->model().attention_source();
    if (LoupeStatus s = CheckRowsAndSink(host, rows, n_rows, sink != nullptr); s != LOUPE_OK) return s;
    std::vector<std::string> texts;
    for (std::int64_t begin = 0; begin < n_rows; begin += kTextBatch) {
      const std::int64_t end = std::min(n_rows, begin + kTextBatch);
      if (LoupeStatus s = RowTexts(host, rows, begin, end, texts); s != LOUPE_OK) return s;
      Result<std::vector<AttentionMaps>> maps = source->Attention(texts);
      if (!maps.ok()) return SetError(host, LOUPE_ERROR_MODEL, maps.status().message().c_str());
      for (std::int64_t i = begin; i < end; ++i) {
        const AttentionMaps& m = (*maps)[static_cast<std::size_t>(i - begin)];
        std::vector<const char*> tokens, words;
        for (const std::string& token : m.tokens.tokens) tokens.push_back(token.c_str());
        for (const std::string& word : m.tokens.words) words.push_back(word.c_str());
        const LoupeStatus status =
            sink(sink_ctx, i, rows[i], tokens.data(), m.tokens.word_index.data(), m.tokens.size(),
                 words.data(), static_cast<std::int64_t>(words.size()),
                 m.probabilities.empty() ? nullptr : m.probabilities.data(),
                 m.pooling.empty() ? nullptr : m.pooling.data());
        if (status != LOUPE_OK) return SinkStopped(host, status, rows[i]);
      }
    }
    return LOUPE_OK;
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "attention compute ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL,
                    (std::string("attention compute failed: ") + e.what()).c_str());
  }
}

LoupePoolingMode PoolingCode(Pooling pooling) {
  switch (pooling) {
    case Pooling::kCls:
      return LOUPE_POOLING_CLS;
    case Pooling::kMean:
      return LOUPE_POOLING_MEAN;
    case Pooling::kLast:
      return LOUPE_POOLING_LAST;
    case Pooling::kAttention:
      return LOUPE_POOLING_ATTENTION;
    default:
      return LOUPE_POOLING_UNKNOWN;
  }
}

// LoupeHiddenStates::compute: like ComputeAttention, with the model's HiddenStateSource. Never throws.
LoupeStatus ComputeHiddenStates(LoupeHost* host, const std::int64_t* rows, std::int64_t n_rows,
                                LoupeHiddenStatesSink sink, void* sink_ctx) {
  try {
    const HiddenStateSource* source = host->request->model->model().hidden_state_source();
    if (LoupeStatus s = CheckRowsAndSink(host, rows, n_rows, sink != nullptr); s != LOUPE_OK) return s;
    std::vector<std::string> texts;
    for (std::int64_t begin = 0; begin < n_rows; begin += kTextBatch) {
      const std::int64_t end = std::min(n_rows, begin + kTextBatch);
      if (LoupeStatus s = RowTexts(host, rows, begin, end, texts); s != LOUPE_OK) return s;
      Result<std::vector<HiddenStates>> hidden = source->Hidden(texts);
      if (!hidden.ok()) return SetError(host, LOUPE_ERROR_MODEL, hidden.status().message().c_str());
      for (std::int64_t i = begin; i < end; ++i) {
        const HiddenStates& h = (*hidden)[static_cast<std::size_t>(i - begin)];
        std::vector<const char*> tokens, words;
        std::vector<const float*> states;
        for (const std::string& token : h.tokens.tokens) tokens.push_back(token.c_str());
        for (const std::string& word : h.tokens.words) words.push_back(word.c_str());
        for (const std::vector<float>& state : h.states) states.push_back(state.data());
        const LoupeStatus status =
            sink(sink_ctx, i, rows[i], tokens.data(), h.tokens.word_index.data(), h.tokens.size(),
                 words.data(), static_cast<std::int64_t>(words.size()), states.data(), h.pooled.data());
        if (status != LOUPE_OK) return SinkStopped(host, status, rows[i]);
      }
    }
    return LOUPE_OK;
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "hidden-state compute ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL,
                    (std::string("hidden-state compute failed: ") + e.what()).c_str());
  }
}

// LoupeHeadMask::predict_rows: every row under every mask, mask-major, in batches of texts. Never throws.
LoupeStatus PredictRowsMasked(LoupeHost* host, const std::int64_t* rows, std::int64_t n_rows,
                              const float* masks, std::int64_t n_masks, LoupeOutputSpace space,
                              double* outputs, std::int64_t capacity) {
  try {
    const Model& model = host->request->model->model();
    const HeadMaskedModel* masked = model.head_masked_model();
    if (n_rows < 0 || n_masks < 0 ||
        (n_rows > 0 && n_masks > 0 && (rows == nullptr || masks == nullptr || outputs == nullptr))) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      "predict_rows needs non-negative counts, the rows, the masks and an output buffer.");
    }
    const ModelInfo& info = model.Info();
    const OutputSpace resolved = ResolveSpace(info, space);
    if (const LoupeStatus refused = CheckSpace(host, info, resolved); refused != LOUPE_OK) return refused;
    const auto n_out = static_cast<std::int64_t>(info.OutputNames(resolved).size());
    if (n_masks * n_rows * n_out > capacity) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      ("predict_rows needs room for " + std::to_string(n_masks * n_rows * n_out) +
                       " outputs, got " + std::to_string(capacity) + ".")
                          .c_str());
    }
    const std::int64_t per_mask = masked->MaskLayers() * masked->MaskHeads();
    std::vector<std::string> row_texts;
    if (LoupeStatus s = RowTexts(host, rows, 0, n_rows, row_texts); s != LOUPE_OK) return s;
    const std::int64_t total = n_masks * n_rows;
    for (std::int64_t begin = 0; begin < total;
         begin += kTextBatch) {  // item i: mask i / n_rows, row i % n_rows
      const std::int64_t end = std::min(total, begin + kTextBatch);
      std::vector<std::string> texts;
      std::vector<float> batch_masks;
      for (std::int64_t i = begin; i < end; ++i) {
        texts.push_back(row_texts[static_cast<std::size_t>(i % n_rows)]);
        const float* m = masks + (i / n_rows) * per_mask;
        batch_masks.insert(batch_masks.end(), m, m + per_mask);
      }
      Result<Tensor> predicted = masked->PredictMasked(texts, batch_masks, resolved);
      if (!predicted.ok()) return SetError(host, LOUPE_ERROR_MODEL, predicted.status().message().c_str());
      std::copy_n(predicted->data<double>(), predicted->size(), outputs + begin * n_out);
    }
    return LOUPE_OK;
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "predict_rows ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL, (std::string("predict_rows failed: ") + e.what()).c_str());
  }
}

// LoupeTextModel::tokenize_rows. Never throws.
LoupeStatus TokenizeRows(LoupeHost* host, const std::int64_t* rows, std::int64_t n_rows, LoupeTokensSink sink,
                         void* sink_ctx) {
  try {
    const TextModel* model = host->request->model->model().text_model();
    if (LoupeStatus s = CheckRowsAndSink(host, rows, n_rows, sink != nullptr); s != LOUPE_OK) return s;
    std::vector<std::string> texts;
    for (std::int64_t begin = 0; begin < n_rows; begin += kTextBatch) {
      const std::int64_t end = std::min(n_rows, begin + kTextBatch);
      if (LoupeStatus s = RowTexts(host, rows, begin, end, texts); s != LOUPE_OK) return s;
      for (std::int64_t i = begin; i < end; ++i) {
        Result<TokenizedText> t = model->Tokenize(texts[static_cast<std::size_t>(i - begin)]);
        if (!t.ok()) return SetError(host, LOUPE_ERROR_MODEL, t.status().message().c_str());
        std::vector<const char*> tokens, words;
        for (const std::string& token : t->tokens) tokens.push_back(token.c_str());
        for (const std::string& word : t->words) words.push_back(word.c_str());
        const LoupeStatus status = sink(sink_ctx, i, rows[i], tokens.data(), t->word_index.data(), t->size(),
                                        words.data(), static_cast<std::int64_t>(words.size()));
        if (status != LOUPE_OK) return SinkStopped(host, status, rows[i]);
      }
    }
    return LOUPE_OK;
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "tokenize_rows ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL, (std::string("tokenize_rows failed: ") + e.what()).c_str());
  }
}

// LoupeTextModel::predict_texts. Never throws.
LoupeStatus PredictTexts(LoupeHost* host, const char* const* texts, std::int64_t n_texts,
                         LoupeOutputSpace space, double* outputs, std::int64_t capacity) {
  try {
    const Model& model = host->request->model->model();
    const TextModel* text_model = model.text_model();
    if (n_texts < 0 || (n_texts > 0 && (texts == nullptr || outputs == nullptr))) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      "predict_texts needs a non-negative count, the texts and an output buffer.");
    }
    const ModelInfo& info = model.Info();
    const OutputSpace resolved = ResolveSpace(info, space);
    if (const LoupeStatus refused = CheckSpace(host, info, resolved); refused != LOUPE_OK) return refused;
    const auto n_out = static_cast<std::int64_t>(info.OutputNames(resolved).size());
    if (n_texts * n_out > capacity) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      ("predict_texts needs room for " + std::to_string(n_texts * n_out) + " outputs, got " +
                       std::to_string(capacity) + ".")
                          .c_str());
    }
    std::vector<std::string> batch;
    batch.reserve(static_cast<std::size_t>(n_texts));
    for (std::int64_t i = 0; i < n_texts; ++i) {
      if (texts[i] == nullptr) {
        return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                        ("predict_texts was given a NULL text at index " + std::to_string(i) + ".").c_str());
      }
      batch.emplace_back(texts[i]);
    }
    Result<Tensor> predicted = text_model->PredictText(batch, resolved);
    if (!predicted.ok()) return SetError(host, LOUPE_ERROR_MODEL, predicted.status().message().c_str());
    std::copy_n(predicted->data<double>(), predicted->size(), outputs);
    return LOUPE_OK;
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "predict_texts ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL, (std::string("predict_texts failed: ") + e.what()).c_str());
  }
}

// --- how the host builds each C form, once per explain call (DescribeCapabilities) ---

void DescribeAttention(LoupeHost& host) {
  const Model& model = host.request->model->model();
  const AttentionSource* attention = model.attention_source();
  if (attention == nullptr || host.request->model->text_feature() < 0) return;
  host.attention.struct_size = sizeof(LoupeAttentionSource);
  host.attention.has_pooling = attention->HasPooling() ? 1 : 0;
  host.attention.n_layers = attention->AttentionLayers();
  host.attention.n_heads = attention->AttentionLayers() > 0 ? attention->AttentionHeads() : 0;
  host.attention.compute = ComputeAttention;
  const HiddenStateSource* hidden = model.hidden_state_source();
  host.attention.pooling = hidden != nullptr ? PoolingCode(hidden->PoolingMode()) : LOUPE_POOLING_UNKNOWN;
}

void DescribeHiddenStates(LoupeHost& host) {
  const HiddenStateSource* hidden = host.request->model->model().hidden_state_source();
  if (hidden == nullptr || host.request->model->text_feature() < 0) return;
  for (const std::string& name : hidden->StateNames()) host.hidden_names.push_back(name.c_str());
  host.hidden.struct_size = sizeof(LoupeHiddenStates);
  host.hidden.pooling = PoolingCode(hidden->PoolingMode());
  host.hidden.n_states = static_cast<std::int64_t>(hidden->StateWidths().size());
  host.hidden.widths = hidden->StateWidths().data();
  host.hidden.names = host.hidden_names.data();
  host.hidden.pooled_width = hidden->PooledWidth();
  host.hidden.compute = ComputeHiddenStates;
}

void DescribeHeadMask(LoupeHost& host) {
  const HeadMaskedModel* masked = host.request->model->model().head_masked_model();
  if (masked == nullptr || host.request->model->text_feature() < 0) return;
  host.head_mask.struct_size = sizeof(LoupeHeadMask);
  host.head_mask.n_layers = masked->MaskLayers();
  host.head_mask.n_heads = masked->MaskHeads();
  host.head_mask.predict_rows = PredictRowsMasked;
}

void DescribeText(LoupeHost& host) {
  if (host.request->model->model().text_model() == nullptr || host.request->model->text_feature() < 0) return;
  host.text.struct_size = sizeof(LoupeTextModel);
  host.text.tokenize_rows = TokenizeRows;
  host.text.predict_texts = PredictTexts;
}

// The tree ensemble's C form is the model's own (it points into the model's trees): nothing to build.
void DescribeNothing(LoupeHost& /*host*/) {}

// --- where each C form is for this call: nullptr when the model lacks the capability ---

const void* FindTreeEnsemble(const LoupeHost& host) {
  const TreeEnsembleCapability* trees = host.request->model->model().tree_ensemble();
  return trees != nullptr ? &trees->c_view() : nullptr;
}
const void* FindAttention(const LoupeHost& host) {
  return host.attention.struct_size != 0 ? &host.attention : nullptr;
}
const void* FindText(const LoupeHost& host) { return host.text.struct_size != 0 ? &host.text : nullptr; }
const void* FindHiddenStates(const LoupeHost& host) {
  return host.hidden.struct_size != 0 ? &host.hidden : nullptr;
}
const void* FindHeadMask(const LoupeHost& host) {
  return host.head_mask.struct_size != 0 ? &host.head_mask : nullptr;
}

// One C capability the host offers plugins through LoupeHostApi::model_capability.
struct CCapability {
  std::string_view name;  // its LOUPE_*_CAPABILITY name
  std::uint32_t version;  // the newest version of its C layout the host builds; plugins may ask 1..version
  void (*describe)(LoupeHost& host);           // builds the C form for one explain call
  const void* (*find)(const LoupeHost& host);  // the C form, or nullptr when the model lacks it
};

// Every C capability the host offers, and nothing else: a name outside this table gets nullptr whatever
// the model holds, so no C++ object can cross the plugin ABI. The C forms of the text capabilities are
// built by the host because only it can map rows to texts.
constexpr CCapability kCCapabilities[] = {
    {LOUPE_TREE_ENSEMBLE_CAPABILITY, 1, &DescribeNothing, &FindTreeEnsemble},
    {LOUPE_ATTENTION_CAPABILITY, 1, &DescribeAttention, &FindAttention},
    {LOUPE_TEXT_CAPABILITY, 1, &DescribeText, &FindText},
    {LOUPE_HIDDEN_STATES_CAPABILITY, 1, &DescribeHiddenStates, &FindHiddenStates},
    {LOUPE_HEAD_MASK_CAPABILITY, 1, &DescribeHeadMask, &FindHeadMask},
    {LOUPE_GRADIENT_CAPABILITY, 1, &DescribeGradient, &FindGradient},
    {LOUPE_ROW_VARIANTS_CAPABILITY, 1, &DescribeRowVariants, &FindRowVariants},
    {LOUPE_TEXT_GRADIENT_CAPABILITY, 1, &DescribeTextGradient, &FindTextGradient},
};

// The versions above are the ones every host (the SDK's mock too) offers: sdk/detail/host_rules.hpp.
constexpr bool TableMatchesHostRules() {
  for (const CCapability& capability : kCCapabilities) {
    if (sdk::detail::SupportedCapabilityVersion(capability.name) != capability.version) return false;
  }
  return std::size(kCCapabilities) == std::size(sdk::detail::kCapabilityVersions);
}
static_assert(TableMatchesHostRules(),
              "the host's capability table and sdk::detail::kCapabilityVersions differ");

}  // namespace

// The C form of a capability at `version`, or nullptr: unknown name, unsupported version, or a model
// without it.
const void* ModelCapability(LoupeHost* host, const char* capability, std::uint32_t version) {
  const std::string_view name = capability != nullptr ? capability : "";
  for (const CCapability& known : kCCapabilities) {
    if (known.name != name) continue;
    return version >= 1 && version <= known.version ? known.find(*host) : nullptr;
  }
  return nullptr;
}

std::int32_t ModelHasCapability(LoupeHost* host, const char* capability) {
  return ModelCapability(host, capability, 1) != nullptr ? 1 : 0;
}

LoupeStatus TextsOfRows(LoupeHost* host, const std::int64_t* rows, std::int64_t begin, std::int64_t end,
                        std::vector<std::string>& texts) {
  return RowTexts(host, rows, begin, end, texts);
}

void DescribeCapabilities(LoupeHost& host) {
  for (const CCapability& capability : kCCapabilities) capability.describe(host);
}

}  // namespace loupe::host_detail
