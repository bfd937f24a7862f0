// grad.layer_integrated_gradients: Captum's LayerIntegratedGradients on a text model's embedding layer
// (captum/attr/_core/layer/layer_integrated_gradients.py), on the model's "text_gradient" capability
// (loupe_plugin.h v1.5). For a text with embedding-layer output x [T, d] and a baseline x0 [T, d] (the pad
// token's embedding at every position, or zeros), the attribution of token s is
//   Σ_j (x − x0)[s, j] · Σ_k w_k ∂f/∂x[s, j] at x0 + α_k (x − x0)
// with the quadrature of integrated gradients (quadrature.hpp), summed over the embedding dimension as
// Captum's tutorials do, then summed per word through the tokenizer's word indices (as lime.text and the
// attention explainers report words). Completeness: Σ_s attribution = f(x) − f(x0) − delta, delta the
// convergence delta reported per row and output.
#include <algorithm>
#include <cmath>

#include "explainers.hpp"
#include "loupe/sdk/common_params.hpp"
#include "loupe/sdk/plugin.hpp"
#include "quadrature.hpp"

namespace loupe::gradients {
namespace {

using sdk::Host;
using sdk::Param;

// Path points (steps × outputs of one text) per capability call when internal_batch_size is unset.
constexpr std::int64_t kLayerIgPointsPerCall = 512;

// One explained text as the embedding layer sees it.
struct EmbeddedText {
  std::vector<std::string> tokens, words;
  std::vector<std::int64_t> word_index;
  std::vector<float> embeddings;  // [T, width]
  std::int64_t size() const { return static_cast<std::int64_t>(tokens.size()); }
};

// One text's attributions: per output its tokens' and words' values, the delta and both ends' outputs.
struct TextAttribution {
  std::vector<double> token_values;  // [O][T]
  std::vector<double> word_values;   // [O][W]
  std::vector<double> deltas;        // [O]
  std::vector<double> baseline_outputs;
};

const LoupeTextGradient& TextGradientOf(const Host& host) {
  const auto* capability = host.Capability<LoupeTextGradient>();
  if (capability == nullptr) {
    throw sdk::Unsupported("model '" + host.ModelInfo().name +
                           "' offers no text gradient: layer integrated gradients differentiates Loupe's own "
                           "text networks (loupe.model/v1 with a token embedding), not tabular, ONNX or "
                           "Hugging Face models");
  }
  return *capability;
}

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

class LayerIntegratedGradients final : public sdk::Explainer {
 public:
  explicit LayerIntegratedGradients(const Host& host)
      : quadrature_(MakeQuadrature(host.Params().Get<std::string>("method"),
                                   static_cast<int>(host.Params().Get<std::int64_t>("n_steps")))) {
    const LoupeTextGradient& capability = TextGradientOf(host);  // refuses before the run
    if (host.Params().Get<std::string>("baselines") == "pad" && capability.pad_embedding == nullptr) {
      throw sdk::InvalidArgument(
          "parameter 'baselines' is pad but the model's tokenizer has no padding token; use zeros");
    }
  }

  void Explain(const Host& host, const sdk::ResultBuilder& result) const override {
    const LoupeTextGradient& capability = TextGradientOf(host);
    const sdk::OutputSelection output = sdk::SelectOutput(host);
    const std::vector<std::int64_t> rows = host.StepRows();
    const std::vector<EmbeddedText> texts = Embed(host, capability, rows);
    const bool pad = host.Params().Get<std::string>("baselines") == "pad";
    const std::int64_t internal = host.Params().GetOr<std::int64_t>("internal_batch_size", 0);
    const auto R = static_cast<std::int64_t>(rows.size());
    std::vector<TextAttribution> explained(rows.size());
    host.ParallelFor(0, R, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        host.ThrowIfCancelled();
        explained[static_cast<std::size_t>(i)] =
            ExplainText(host, capability, output, texts[static_cast<std::size_t>(i)], pad, internal);
        host.Progress(static_cast<std::uint64_t>(end), static_cast<std::uint64_t>(R));
      }
    });
    Write(result, output, rows, texts, explained, capability, pad);
  }

 private:
  static std::vector<EmbeddedText> Embed(const Host& host, const LoupeTextGradient& capability,
                                         const std::vector<std::int64_t>& rows) {
    EmbeddedTexts collected;
    collected.texts.resize(rows.size());
    collected.width = capability.width;
    const LoupeStatus status = capability.embed_rows(
        host.raw(), rows.data(), static_cast<std::int64_t>(rows.size()), &CollectEmbeddedText, &collected);
    if (status != LOUPE_OK) throw sdk::Error(status, "the model failed to embed the step's texts");
    return std::move(collected.texts);
  }

  // Every output's path points of one text, in pieces of the capability's calls, then the sums.
  TextAttribution ExplainText(const Host& host, const LoupeTextGradient& capability,
                              const sdk::OutputSelection& output, const EmbeddedText& text, bool pad,
                              std::int64_t internal) const {
    const std::int64_t T = text.size(), d = capability.width, cells = T * d;
    const auto O = static_cast<std::int64_t>(output.names.size());
    const auto S = static_cast<std::int64_t>(quadrature_.alphas.size());
    std::vector<float> baseline(static_cast<std::size_t>(cells), 0.0f);
    for (std::int64_t s = 0; s < T && pad; ++s)
      std::copy_n(capability.pad_embedding, d, baseline.begin() + s * d);
    // Path point p = o · S + k (output o, step k); two more rows give f(x) and f(x0).
    const std::int64_t points = O * S, piece = internal > 0 ? internal : kLayerIgPointsPerCall;
    std::vector<double> totals(static_cast<std::size_t>(O * cells), 0.0);  // [O][T][d]
    std::vector<float> values, gradients;
    std::vector<double> weights;
    std::vector<std::int64_t> lengths;
    for (std::int64_t first = 0; first < points; first += piece) {
      const std::int64_t count = std::min(piece, points - first);
      values.resize(static_cast<std::size_t>(count * cells));
      weights.assign(static_cast<std::size_t>(count * O), 0.0);
      for (std::int64_t p = first; p < first + count; ++p) {
        const std::int64_t o = p / S, k = p % S;
        const auto alpha = static_cast<float>(quadrature_.alphas[static_cast<std::size_t>(k)]);
        float* point = values.data() + (p - first) * cells;
        for (std::int64_t c = 0; c < cells; ++c) {
          const float x0 = baseline[static_cast<std::size_t>(c)];
          point[c] = x0 + alpha * (text.embeddings[static_cast<std::size_t>(c)] - x0);
        }
        weights[static_cast<std::size_t>((p - first) * O + o)] = 1.0;
      }
      Differentiate(host, capability, output, values, count, T, weights, gradients, nullptr);
      for (std::int64_t p = first; p < first + count; ++p) {
        const std::int64_t o = p / S, k = p % S;
        const double w = quadrature_.weights[static_cast<std::size_t>(k)];
        const float* g = gradients.data() + (p - first) * cells;
        double* total = totals.data() + o * cells;
        for (std::int64_t c = 0; c < cells; ++c) total[c] += w * g[c];
      }
    }
    // f(x) and f(x0) from one more call (zero weights: only the outputs are needed).
    values.assign(text.embeddings.begin(), text.embeddings.end());
    values.insert(values.end(), baseline.begin(), baseline.end());
    weights.assign(static_cast<std::size_t>(2 * O), 0.0);
    std::vector<double> ends(static_cast<std::size_t>(2 * O));
    Differentiate(host, capability, output, values, 2, T, weights, gradients, ends.data());
    return Sum(text, baseline, totals, ends, O, d);
  }

  // Attributions per token, per word and the convergence delta from the weighted gradient sums.
  static TextAttribution Sum(const EmbeddedText& text, const std::vector<float>& baseline,
                             const std::vector<double>& totals, const std::vector<double>& ends,
                             std::int64_t O, std::int64_t d) {
    const std::int64_t T = text.size();
    const auto W = static_cast<std::int64_t>(text.words.size());
    TextAttribution a;
    a.token_values.assign(static_cast<std::size_t>(O * T), 0.0);
    a.word_values.assign(static_cast<std::size_t>(O * W), 0.0);
    a.deltas.resize(static_cast<std::size_t>(O));
    a.baseline_outputs.assign(ends.begin() + O, ends.end());
    for (std::int64_t o = 0; o < O; ++o) {
      double sum = 0.0;
      for (std::int64_t s = 0; s < T; ++s) {
        double token = 0.0;
        for (std::int64_t j = 0; j < d; ++j) {
          const auto c = static_cast<std::size_t>(s * d + j);
          token += (static_cast<double>(text.embeddings[c]) - baseline[c]) *
                   totals[static_cast<std::size_t>(o * T * d) + c];
        }
        a.token_values[static_cast<std::size_t>(o * T + s)] = token;
        const std::int64_t word = text.word_index[static_cast<std::size_t>(s)];
        if (word >= 0 && word < W) a.word_values[static_cast<std::size_t>(o * W + word)] += token;
        sum += token;
      }
      a.deltas[static_cast<std::size_t>(o)] =
          sum - (ends[static_cast<std::size_t>(o)] - ends[static_cast<std::size_t>(O + o)]);
    }
    return a;
  }

  static void Differentiate(const Host& host, const LoupeTextGradient& capability,
                            const sdk::OutputSelection& output, const std::vector<float>& values,
                            std::int64_t n, std::int64_t t, const std::vector<double>& weights,
                            std::vector<float>& gradients, double* outputs) {
    const std::vector<std::int64_t> lengths(static_cast<std::size_t>(n), t);
    gradients.resize(values.size());
    const LoupeStatus status = capability.layer_gradient(
        host.raw(), values.data(), n, t, lengths.data(), output.space, weights.data(), gradients.data(),
        outputs, static_cast<std::int64_t>(gradients.size()));
    if (status != LOUPE_OK) {
      throw sdk::Error(status, "the model failed to differentiate " + std::to_string(n) + " path points");
    }
  }

  // The feature_attribution: words as features (word_0.. as lime.text), per-token values for the report.
  static void Write(const sdk::ResultBuilder& result, const sdk::OutputSelection& output,
                    const std::vector<std::int64_t>& rows, const std::vector<EmbeddedText>& texts,
                    const std::vector<TextAttribution>& explained, const LoupeTextGradient& capability,
                    bool pad) {
    const auto O = static_cast<std::int64_t>(output.names.size());
    std::size_t width = 0;
    for (const EmbeddedText& text : texts) width = std::max(width, text.words.size());
    sdk::FeatureAttribution attribution;
    attribution.output_names = output.names;
    attribution.rows = rows;
    for (std::size_t f = 0; f < width; ++f) attribution.feature_names.push_back("word_" + std::to_string(f));
    nlohmann::json tokens = nlohmann::json::array(), token_values = nlohmann::json::array(),
                   word_index = nlohmann::json::array(), words = nlohmann::json::array();
    std::vector<double> deltas;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const EmbeddedText& text = texts[i];
      const TextAttribution& a = explained[i];
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
        attribution.base_values.push_back(a.baseline_outputs[at]);
        deltas.push_back(a.deltas[at]);
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
    result.SetString("baseline", pad ? "pad" : "zeros");
    double worst = 0.0;
    for (const double d : deltas) worst = std::max(worst, std::abs(d));
    result.SetTensor("convergence_delta", {static_cast<std::int64_t>(rows.size()), O}, deltas.data());
    result.SetNumber("quality.convergence_delta", worst);
  }

  Quadrature quadrature_;
};

}  // namespace

sdk::ExplainerDef LayerIntegratedGradientsDefinition() {
  return sdk::ExplainerDef::Of<LayerIntegratedGradients>("grad.layer_integrated_gradients")
      .Summary(
          "Integrated gradients through a text model's token embedding (Captum's LayerIntegratedGradients), "
          "summed over the embedding per token and per word, with the convergence delta per row.")
      .Kind(sdk::kFeatureAttribution)
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters({
          sdk::OutputParam(),
          Param::Enum("baselines", {"pad", "zeros"})
              .Default("pad")
              .Doc("The embedding-layer output the path starts from: the padding token's embedding at every "
                   "position ([PAD], <pad>; Captum's usual choice for text) or zero vectors."),
          Param::Int("n_steps").Default(50).Min(1).Max(100000).Doc("Steps of the path integral, as Captum."),
          Param::Enum("method", {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle",
                                 "riemann_trapezoid"})
              .Default("gausslegendre")
              .Doc("The integration rule, with Captum's points and weights."),
          Param::Int("internal_batch_size")
              .Min(1)
              .Doc(
                  "Path points per gradient call (Captum's internal_batch_size); unset, 512. The result does "
                  "not depend on it."),
      })
      .Requires({LOUPE_TEXT_GRADIENT_CAPABILITY});
}

}  // namespace loupe::gradients
