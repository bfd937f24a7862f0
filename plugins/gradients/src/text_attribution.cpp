#include "text_attribution.hpp"

#include <algorithm>
#include <cstddef>

#include "loupe/sdk/error.hpp"

namespace loupe::gradients::text {
namespace {

// Where embed_rows' sink puts each row.
struct EmbeddedTexts {
  std::vector<EmbeddedText> texts;
  std::int64_t width = 0;
};

LoupeStatus CollectEmbeddedText(void* ctx, std::int64_t index, std::int64_t row, const char* const* tokens,
                                const std::int64_t* word_index, std::int64_t n_tokens,
                                const char* const* words, std::int64_t n_words, const float* embeddings) {
  (void)row;
  auto& collected = *static_cast<EmbeddedTexts*>(ctx);
  EmbeddedText& text = collected.texts[static_cast<std::size_t>(index)];
  text.tokens.assign(tokens, tokens + n_tokens);
  text.word_index.assign(word_index, word_index + n_tokens);
  text.words.assign(words, words + n_words);
  text.embeddings.assign(embeddings, embeddings + n_tokens * collected.width);
  return LOUPE_OK;
}

}  // namespace

const LoupeTextGradient* TextGradientOrNull(const sdk::Host& host) {
  return host.Capability<LoupeTextGradient>();
}

const LoupeTextGradient& TextGradientOf(const sdk::Host& host, const std::string& explainer) {
  const LoupeTextGradient* capability = TextGradientOrNull(host);
  if (capability == nullptr) {
    throw sdk::Unsupported("model '" + host.ModelInfo().name + "' offers no text gradient: " + explainer +
                           " differentiates loupe.model/v1 text networks with a token embedding and Hugging "
                           "Face encoders in f32, not tabular, ONNX or bf16 models");
  }
  return *capability;
}

bool HasPadEmbeddings(const LoupeTextGradient& capability) {
  return capability.struct_size >=
             offsetof(LoupeTextGradient, pad_embeddings) + sizeof(capability.pad_embeddings) &&
         capability.pad_embeddings != nullptr;
}

std::vector<float> PadBaseline(const sdk::Host& host, const LoupeTextGradient& capability, std::int64_t T) {
  std::vector<float> baseline(static_cast<std::size_t>(T * capability.width));
  if (HasPadEmbeddings(capability)) {
    const LoupeStatus status =
        capability.pad_embeddings(host.raw(), T, baseline.data(), static_cast<std::int64_t>(baseline.size()));
    if (status != LOUPE_OK) throw sdk::Error(status, "the model failed to embed padding tokens");
    return baseline;
  }
  if (capability.pad_embedding == nullptr) {
    throw sdk::InvalidArgument("the model's tokenizer has no padding token for a pad baseline; use zeros");
  }
  for (std::int64_t s = 0; s < T; ++s)
    std::copy_n(capability.pad_embedding, capability.width, baseline.begin() + s * capability.width);
  return baseline;
}

std::vector<EmbeddedText> EmbedRows(const sdk::Host& host, const LoupeTextGradient& capability,
                                    const std::vector<std::int64_t>& rows) {
  EmbeddedTexts collected;
  collected.texts.resize(rows.size());
  collected.width = capability.width;
  const LoupeStatus status = capability.embed_rows(
      host.raw(), rows.data(), static_cast<std::int64_t>(rows.size()), &CollectEmbeddedText, &collected);
  if (status != LOUPE_OK) throw sdk::Error(status, "the model failed to embed the step's texts");
  return std::move(collected.texts);
}

void Differentiate(const sdk::Host& host, const LoupeTextGradient& capability, LoupeOutputSpace space,
                   const std::vector<float>& values, std::int64_t n, std::int64_t t,
                   const std::vector<double>& weights, std::vector<float>& gradients, double* outputs) {
  const std::vector<std::int64_t> lengths(static_cast<std::size_t>(n), t);
  gradients.resize(values.size());
  const LoupeStatus status =
      capability.layer_gradient(host.raw(), values.data(), n, t, lengths.data(), space, weights.data(),
                                gradients.data(), outputs, static_cast<std::int64_t>(gradients.size()));
  if (status != LOUPE_OK) {
    throw sdk::Error(status, "the model failed to differentiate " + std::to_string(n) + " points");
  }
}

void SumTokens(const EmbeddedText& text, const double* cells, std::int64_t width, double* token_values,
               double* word_values) {
  const auto W = static_cast<std::int64_t>(text.words.size());
  for (std::int64_t s = 0; s < text.size(); ++s) {
    double token = 0.0;
    for (std::int64_t j = 0; j < width; ++j) token += cells[s * width + j];
    token_values[s] = token;
    const std::int64_t word = text.word_index[static_cast<std::size_t>(s)];
    if (word >= 0 && word < W) word_values[word] += token;
  }
}

void WriteTokenAttribution(const sdk::ResultBuilder& result, const sdk::OutputSelection& output,
                           const std::vector<std::int64_t>& rows, const std::vector<EmbeddedText>& texts,
                           const std::vector<TokenAttribution>& explained,
                           const LoupeTextGradient& capability) {
  const auto O = static_cast<std::int64_t>(output.names.size());
  std::size_t width = 0;
  for (const EmbeddedText& text : texts) width = std::max(width, text.words.size());
  sdk::FeatureAttribution attribution;
  attribution.output_names = output.names;
  attribution.rows = rows;
  for (std::size_t f = 0; f < width; ++f) attribution.feature_names.push_back("word_" + std::to_string(f));
  nlohmann::json tokens = nlohmann::json::array(), token_values = nlohmann::json::array(),
                 word_index = nlohmann::json::array(), words = nlohmann::json::array();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const EmbeddedText& text = texts[i];
    const TokenAttribution& a = explained[i];
    const auto T = static_cast<std::size_t>(text.size()), W = text.words.size();
    std::vector<std::string> shown(width);
    std::copy(text.words.begin(), text.words.end(), shown.begin());
    attribution.data.push_back(shown);
    nlohmann::json per_output = nlohmann::json::array();
    for (std::int64_t o = 0; o < O; ++o) {
      const auto at = static_cast<std::size_t>(o);
      per_output.push_back(
          std::vector<double>(a.token_values.begin() + static_cast<std::ptrdiff_t>(at * T),
                              a.token_values.begin() + static_cast<std::ptrdiff_t>((at + 1) * T)));
      for (std::size_t f = 0; f < width; ++f)
        attribution.values.push_back(f < W ? a.word_values[at * W + f] : 0.0);
      attribution.base_values.push_back(a.base_values[at]);
    }
    tokens.push_back(text.tokens);
    token_values.push_back(std::move(per_output));
    word_index.push_back(text.word_index);
    words.push_back(text.words);
  }
  std::move(attribution).Write(result);
  result.SetJson("tokens", tokens);
  result.SetJson("token_values", token_values);
  result.SetJson("word_index", word_index);
  result.SetJson("words", words);
  result.SetString("layer", capability.layer_name != nullptr ? capability.layer_name : "");
}

}  // namespace loupe::gradients::text
