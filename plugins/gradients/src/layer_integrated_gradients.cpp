// grad.layer_integrated_gradients: Captum's LayerIntegratedGradients on a text model's embedding layer
// (captum/attr/_core/layer/layer_integrated_gradients.py), on the model's "text_gradient" capability
// (loupe_plugin.h v1.5, pad_embeddings v1.6). For a text with embedding-layer output x [T, d] and a baseline
// x0 [T, d] (the embedding layer's output for T padding tokens, or zeros), the attribution of token s is
//   Σ_j (x − x0)[s, j] · Σ_k w_k ∂f/∂x[s, j] at x0 + α_k (x − x0)
// with the quadrature of integrated gradients (quadrature.hpp), summed over the embedding dimension as
// Captum's tutorials do, then summed per word through the tokenizer's word indices (as lime.text and the
// attention explainers report words). Completeness: Σ_s attribution = f(x) − f(x0) − delta, delta the
// convergence delta reported per row and output.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "explainers.hpp"
#include "loupe/sdk/common_params.hpp"
#include "loupe/sdk/plugin.hpp"
#include "quadrature.hpp"
#include "text_attribution.hpp"

namespace loupe::gradients {
namespace {

using sdk::Host;
using sdk::Param;

constexpr const char* kLayerIgName = "layer integrated gradients";

// Path points (steps × outputs of one text) per capability call when internal_batch_size is unset.
constexpr std::int64_t kLayerIgPointsPerCall = 512;

using text::EmbeddedText;

// One text's attributions: per output its tokens' and words' values, f(x0), and the delta.
struct TextAttribution : text::TokenAttribution {
  std::vector<double> deltas;  // [O]
};

class LayerIntegratedGradients final : public sdk::Explainer {
 public:
  explicit LayerIntegratedGradients(const Host& host)
      : quadrature_(MakeQuadrature(host.Params().Get<std::string>("method"),
                                   static_cast<int>(host.Params().Get<std::int64_t>("n_steps")))) {
    const LoupeTextGradient& capability = text::TextGradientOf(host, kLayerIgName);  // refuses before the run
    if (host.Params().Get<std::string>("baselines") == "pad" && capability.pad_embedding == nullptr &&
        !text::HasPadEmbeddings(capability)) {
      throw sdk::InvalidArgument(
          "parameter 'baselines' is pad but the model's tokenizer has no padding token; use zeros");
    }
  }

  void Explain(const Host& host, const sdk::ResultBuilder& result) const override {
    const LoupeTextGradient& capability = text::TextGradientOf(host, kLayerIgName);
    const sdk::OutputSelection output = sdk::SelectOutput(host);
    const std::vector<std::int64_t> rows = host.StepRows();
    const std::vector<EmbeddedText> texts = text::EmbedRows(host, capability, rows);
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
  // Every output's path points of one text, in pieces of the capability's calls, then the sums.
  TextAttribution ExplainText(const Host& host, const LoupeTextGradient& capability,
                              const sdk::OutputSelection& output, const EmbeddedText& text, bool pad,
                              std::int64_t internal) const {
    const std::int64_t T = text.size(), d = capability.width, cells = T * d;
    const auto O = static_cast<std::int64_t>(output.names.size());
    const auto S = static_cast<std::int64_t>(quadrature_.alphas.size());
    const std::vector<float> baseline = pad ? text::PadBaseline(host, capability, T)
                                            : std::vector<float>(static_cast<std::size_t>(cells), 0.0f);
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
      text::Differentiate(host, capability, output.space, values, count, T, weights, gradients, nullptr);
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
    text::Differentiate(host, capability, output.space, values, 2, T, weights, gradients, ends.data());
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
    a.base_values.assign(ends.begin() + O, ends.end());  // f(x0)
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

  // The feature_attribution (text_attribution.hpp) with the baseline and the convergence deltas.
  static void Write(const sdk::ResultBuilder& result, const sdk::OutputSelection& output,
                    const std::vector<std::int64_t>& rows, const std::vector<EmbeddedText>& texts,
                    const std::vector<TextAttribution>& explained, const LoupeTextGradient& capability,
                    bool pad) {
    const std::vector<text::TokenAttribution> sums(explained.begin(), explained.end());
    text::WriteTokenAttribution(result, output, rows, texts, sums, capability);
    result.SetString("baseline", pad ? "pad" : "zeros");
    std::vector<double> deltas;
    for (const TextAttribution& a : explained) deltas.insert(deltas.end(), a.deltas.begin(), a.deltas.end());
    double worst = 0.0;
    for (const double d : deltas) worst = std::max(worst, std::abs(d));
    result.SetTensor("convergence_delta",
                     {static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(output.names.size())},
                     deltas.data());
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
              .Doc(
                  "The embedding-layer output the path starts from: the layer's output for a text of padding "
                  "tokens ([PAD], <pad>; Captum's usual choice for text) or zero vectors."),
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
