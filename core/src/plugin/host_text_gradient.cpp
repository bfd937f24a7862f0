// The "text_gradient" capability's C form (loupe_plugin.h v1.5, LoupeTextGradient): the host resolves the
// rows' texts, calls the model's TextGradientModel (loupe/core/text_gradient.hpp) and hands the plugin its
// tokens, embeddings and gradients.
#include <algorithm>
#include <new>
#include <span>

#include "loupe/core/text_gradient.hpp"
#include "plugin/host_context.hpp"

namespace loupe::host_detail {
namespace {

constexpr std::int64_t kEmbedTextBatch = 64;  // texts per Embed call

const TextGradientModel* TextGradientOf(const LoupeHost& host) {
  return host.request->model->model().text_gradient_model();
}

// LoupeTextGradient::embed_rows. Never throws.
LoupeStatus EmbedRows(LoupeHost* host, const std::int64_t* rows, std::int64_t n_rows,
                      LoupeTokenEmbeddingsSink sink, void* sink_ctx) {
  try {
    if (n_rows < 0 || (n_rows > 0 && (rows == nullptr || sink == nullptr))) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      "embed_rows needs a non-negative row count, the rows and a sink.");
    }
    std::vector<std::string> texts;
    for (std::int64_t begin = 0; begin < n_rows; begin += kEmbedTextBatch) {
      const std::int64_t end = std::min(n_rows, begin + kEmbedTextBatch);
      if (LoupeStatus s = TextsOfRows(host, rows, begin, end, texts); s != LOUPE_OK) return s;
      Result<std::vector<TokenEmbeddings>> embedded = TextGradientOf(*host)->Embed(texts);
      if (!embedded.ok()) return SetError(host, LOUPE_ERROR_MODEL, embedded.status().message().c_str());
      for (std::int64_t i = begin; i < end; ++i) {
        const TokenEmbeddings& e = (*embedded)[static_cast<std::size_t>(i - begin)];
        std::vector<const char*> tokens, words;
        for (const std::string& token : e.tokens.tokens) tokens.push_back(token.c_str());
        for (const std::string& word : e.tokens.words) words.push_back(word.c_str());
        const LoupeStatus status =
            sink(sink_ctx, i, rows[i], tokens.data(), e.tokens.word_index.data(), e.tokens.size(),
                 words.data(), static_cast<std::int64_t>(words.size()), e.values.data());
        if (status != LOUPE_OK) {
          SetError(host, status,
                   ("the sink stopped at row " + std::to_string(rows[i]) + " with status " +
                    std::to_string(status) + " without saying why.")
                       .c_str());
          return status;
        }
      }
    }
    return LOUPE_OK;
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "embed_rows ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL, (std::string("embed_rows failed: ") + e.what()).c_str());
  }
}

// LoupeTextGradient::layer_gradient. Never throws.
LoupeStatus LayerGradientFn(LoupeHost* host, const float* values, std::int64_t n, std::int64_t t,
                            const std::int64_t* lengths, LoupeOutputSpace space, const double* output_weights,
                            float* gradients, double* outputs, std::int64_t capacity) {
  try {
    const ModelInfo& info = host->request->model->model().Info();
    const OutputSpace resolved = ResolveSpace(info, space);
    if (const LoupeStatus refused = CheckSpace(host, info, resolved); refused != LOUPE_OK) return refused;
    const TextGradientModel& model = *TextGradientOf(*host);
    const std::int64_t cells = n * t * model.EmbeddingWidth();
    if (n < 0 || t < 1 || cells > capacity ||
        (n > 0 &&
         (values == nullptr || lengths == nullptr || output_weights == nullptr || gradients == nullptr))) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      ("layer_gradient needs the values, lengths and output weights of " + std::to_string(n) +
                       " rows and room for " + std::to_string(std::max<std::int64_t>(cells, 0)) +
                       " gradients, got " + std::to_string(gradients == nullptr ? 0 : capacity) + ".")
                          .c_str());
    }
    if (n == 0) return LOUPE_OK;
    const auto n_out = static_cast<std::size_t>(n) * info.OutputNames(resolved).size();
    const Status status =
        model.LayerGradient(std::span<const float>(values, static_cast<std::size_t>(cells)), n, t,
                            std::span<const std::int64_t>(lengths, static_cast<std::size_t>(n)), resolved,
                            std::span<const double>(output_weights, n_out),
                            std::span<float>(gradients, static_cast<std::size_t>(cells)),
                            outputs != nullptr ? std::span<double>(outputs, n_out) : std::span<double>());
    if (status.ok()) return LOUPE_OK;
    return SetError(
        host,
        status.code() == StatusCode::kInvalidArgument ? LOUPE_ERROR_INVALID_ARGUMENT : LOUPE_ERROR_MODEL,
        status.message().c_str());
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "layer_gradient ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL, (std::string("layer_gradient failed: ") + e.what()).c_str());
  }
}

// LoupeTextGradient::pad_embeddings (v1.6). Never throws.
LoupeStatus PadEmbeddingsFn(LoupeHost* host, std::int64_t n_tokens, float* out, std::int64_t capacity) {
  try {
    const TextGradientModel& model = *TextGradientOf(*host);
    const std::int64_t cells = n_tokens * model.EmbeddingWidth();
    if (n_tokens < 1 || out == nullptr || cells > capacity) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      ("pad_embeddings needs at least one token and room for its embeddings, got " +
                       std::to_string(n_tokens) + " tokens and room for " +
                       std::to_string(out == nullptr ? 0 : capacity) + " values.")
                          .c_str());
    }
    Result<std::vector<float>> values = model.PadEmbeddings(n_tokens);
    if (!values.ok()) return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT, values.status().message().c_str());
    std::copy(values->begin(), values->end(), out);
    return LOUPE_OK;
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "pad_embeddings ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL, (std::string("pad_embeddings failed: ") + e.what()).c_str());
  }
}

}  // namespace

void DescribeTextGradient(LoupeHost& host) {
  const TextGradientModel* model = TextGradientOf(host);
  if (model == nullptr || !model->Refusal().empty() || host.request->model->text_feature() < 0) return;
  host.text_gradient.struct_size = sizeof(LoupeTextGradient);
  host.text_gradient.width = model->EmbeddingWidth();
  host.text_gradient.pad_embedding = model->PadEmbedding().empty() ? nullptr : model->PadEmbedding().data();
  host.text_gradient.layer_name = model->EmbeddingLayerName().c_str();
  host.text_gradient.embed_rows = EmbedRows;
  host.text_gradient.layer_gradient = LayerGradientFn;
  host.text_gradient.pad_embeddings = PadEmbeddingsFn;
}

const void* FindTextGradient(const LoupeHost& host) {
  return host.text_gradient.struct_size != 0 ? &host.text_gradient : nullptr;
}

}  // namespace loupe::host_detail
