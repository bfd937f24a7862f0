// Captum's gradient attribution methods (README.md gives the definitions and where Captum's code states
// them), on the model's "gradient" capability. Every explainer fills a feature_attribution for the step's
// rows and every output of the chosen space; rows are explained in parallel chunks whose boundaries depend
// only on the row count, and noise is drawn from the host's counter-based RNG keyed by the data row, so the
// bits do not depend on the thread count (docs/architecture.md §4).
#include "explainers.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include "baselines.hpp"
#include "gradient_calls.hpp"
#include "loupe/sdk/common_params.hpp"
#include "loupe/sdk/plugin.hpp"
#include "quadrature.hpp"
#include "text_attribution.hpp"

namespace loupe::gradients {
namespace {

using sdk::Host;
using sdk::Param;

// Model rows (all outputs, samples and steps of a chunk of explained rows) per capability call.
constexpr std::int64_t kModelRows = 8192;

// Streams of the host's RNG, one per purpose (keyed with the data row: docs/architecture.md §4).
constexpr std::uint64_t kSmoothGradStream = 1;
constexpr std::uint64_t kGradientShapStream = 2;
// RNG stream of a sampled `background` (a count).
constexpr std::uint64_t kBackgroundStream = 3;

// What every explainer of the plugin shares: the explained rows, outputs and features, the model's
// gradient capability and the attribution being filled.
class Step {
 public:
  Step(const Host& host, bool need_deeplift)
      : host_(host),
        data(host.Dataset()),
        output(sdk::SelectOutput(host)),
        x(host.Features()),
        rows(host.StepRows()),
        calls(host, output, need_deeplift),
        R(static_cast<std::int64_t>(rows.size())),
        O(static_cast<std::int64_t>(output.names.size())),
        F(x.cols()) {
    attribution.feature_names = data.FeatureNames();
    attribution.output_names = output.names;
    attribution.rows = rows;
    attribution.base_values.assign(static_cast<std::size_t>(R * O), 0.0);
  }

  // True for a feature gradient methods move along a path or perturb with noise: a numeric feature whose
  // value in `row` is present. Categoricals (no path between levels) and missing values are held.
  bool Moves(const double* row, std::int64_t j) const {
    return data.features[static_cast<std::size_t>(j)].IsNumeric() && !std::isnan(row[j]);
  }

  // The model's outputs in the explained space for `n` rows [n, F]: [n][O].
  std::vector<double> Predict(const std::vector<double>& batch, std::int64_t n) const {
    return n == 0 ? std::vector<double>() : host_.Predict(batch.data(), n, output.space);
  }

  // Runs body(begin, end) over chunks of the explained rows in parallel, `cost` model rows per explained
  // row per output (steps, samples), then writes the attribution with its data rows.
  void Run(const sdk::ResultBuilder& result, std::int64_t cost,
           const std::function<void(std::int64_t, std::int64_t, double*)>& body) {
    double* values = attribution.ValuesInHost(result);
    const std::int64_t grain = std::max<std::int64_t>(1, kModelRows / std::max<std::int64_t>(1, cost * O));
    host_.ParallelFor(0, R, grain, [&](std::int64_t begin, std::int64_t end) {
      host_.ThrowIfCancelled();
      body(begin, end, values);
      host_.Progress(static_cast<std::uint64_t>(end), static_cast<std::uint64_t>(R));
    });
    for (const std::int64_t row : rows) {
      std::vector<std::string> shown;
      for (std::int64_t j = 0; j < F; ++j)
        shown.push_back(sdk::FormatValue(data.features[static_cast<std::size_t>(j)], x(row, j)));
      attribution.data.push_back(shown);
    }
    std::move(attribution).Write(result);
    result.SetNumber("quality.model_evaluations", static_cast<double>(R * cost * O));
  }

  // The explained rows [begin, end) as a batch [n, F].
  std::vector<double> Rows(std::int64_t begin, std::int64_t end) const {
    std::vector<double> batch;
    for (std::int64_t i = begin; i < end; ++i) batch.insert(batch.end(), x.Row(rows[i]), x.Row(rows[i]) + F);
    return batch;
  }

  // Sets base_values[i][o] from predictions [n][O] of rows [begin, end).
  void SetBase(std::int64_t begin, std::int64_t end, const std::vector<double>& predicted) {
    std::copy(predicted.begin(), predicted.end(), attribution.base_values.begin() + begin * O);
    (void)end;
  }

  const Host& host_;
  sdk::DatasetInfo data;
  sdk::OutputSelection output;
  sdk::Matrix x;
  std::vector<std::int64_t> rows;
  GradientCalls calls;
  std::int64_t R, O, F;
  sdk::FeatureAttribution attribution;
};

// Writes convergence deltas [R][O] and their largest magnitude.
void WriteDeltas(const sdk::ResultBuilder& result, const std::vector<double>& deltas, std::int64_t r,
                 std::int64_t o) {
  double worst = 0.0;
  for (const double d : deltas) worst = std::max(worst, std::abs(d));
  result.SetTensor("convergence_delta", {r, o}, deltas.data());
  result.SetNumber("quality.convergence_delta", worst);
}

// --- grad.saliency and grad.input_x_gradient -------------------------------------------------------

// On a text model (the "text_gradient" capability): Captum's Saliency and InputXGradient with respect to the
// embedding layer's output, per embedding unit, then summed over the embedding dimension per token and per
// word as grad.layer_integrated_gradients sums: saliency Σ_j |∂f/∂x_sj| (abs, Captum's default; the L1
// norm of the token's gradient) or Σ_j ∂f/∂x_sj, input × gradient Σ_j x_sj · ∂f/∂x_sj. Base values f(x).
class TokenGradients {
 public:
  TokenGradients(bool times_input, bool take_abs) : times_input_(times_input), take_abs_(take_abs) {}

  void Explain(const Host& host, const sdk::ResultBuilder& result) const {
    const LoupeTextGradient& capability = text::TextGradientOf(host, "token saliency");
    const sdk::OutputSelection output = sdk::SelectOutput(host);
    const std::vector<std::int64_t> rows = host.StepRows();
    const std::vector<text::EmbeddedText> texts = text::EmbedRows(host, capability, rows);
    const auto R = static_cast<std::int64_t>(rows.size());
    std::vector<text::TokenAttribution> explained(rows.size());
    host.ParallelFor(0, R, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        host.ThrowIfCancelled();
        explained[static_cast<std::size_t>(i)] =
            OneText(host, capability, output, texts[static_cast<std::size_t>(i)]);
        host.Progress(static_cast<std::uint64_t>(end), static_cast<std::uint64_t>(R));
      }
    });
    text::WriteTokenAttribution(result, output, rows, texts, explained, capability);
  }

 private:
  // One call of O rows (the text once per output, one-hot weights), then the sums per token and word.
  text::TokenAttribution OneText(const Host& host, const LoupeTextGradient& capability,
                                 const sdk::OutputSelection& output, const text::EmbeddedText& text) const {
    const std::int64_t T = text.size(), d = capability.width, cells = T * d;
    const auto O = static_cast<std::int64_t>(output.names.size());
    const auto W = static_cast<std::int64_t>(text.words.size());
    std::vector<float> values, gradients;
    std::vector<double> weights(static_cast<std::size_t>(O * O), 0.0), outputs(weights.size());
    for (std::int64_t o = 0; o < O; ++o) {
      values.insert(values.end(), text.embeddings.begin(), text.embeddings.end());
      weights[static_cast<std::size_t>(o * O + o)] = 1.0;
    }
    text::Differentiate(host, capability, output.space, values, O, T, weights, gradients, outputs.data());
    text::TokenAttribution a;
    a.token_values.assign(static_cast<std::size_t>(O * T), 0.0);
    a.word_values.assign(static_cast<std::size_t>(O * W), 0.0);
    std::vector<double> per_unit(static_cast<std::size_t>(cells));
    for (std::int64_t o = 0; o < O; ++o) {
      const float* g = gradients.data() + o * cells;
      for (std::int64_t c = 0; c < cells; ++c) {
        const double grad = g[c];
        per_unit[static_cast<std::size_t>(c)] =
            times_input_ ? static_cast<double>(text.embeddings[static_cast<std::size_t>(c)]) * grad
            : take_abs_  ? std::abs(grad)
                         : grad;
      }
      text::SumTokens(text, per_unit.data(), d, a.token_values.data() + o * T, a.word_values.data() + o * W);
      a.base_values.push_back(outputs[static_cast<std::size_t>(o * O + o)]);
    }
    return a;
  }

  bool times_input_, take_abs_;
};

class Saliency final : public sdk::Explainer {
 public:
  // A text model is explained per token (TokenGradients); any other needs the "gradient" capability.
  explicit Saliency(const Host& host, bool times_input = false) : times_input_(times_input) {
    if (text::TextGradientOrNull(host) != nullptr) return;
    GradientCalls(host, sdk::SelectOutput(host));  // refuses a model without gradients before the run
  }
  void Explain(const Host& host, const sdk::ResultBuilder& result) const override {
    const bool take_abs = !times_input_ && host.Params().Get<bool>("abs");
    if (text::TextGradientOrNull(host) != nullptr)
      return TokenGradients(times_input_, take_abs).Explain(host, result);
    Step step(host, false);
    step.Run(result, 1, [&](std::int64_t begin, std::int64_t end, double* values) {
      const std::int64_t n = end - begin, F = step.F, O = step.O;
      const std::vector<double> batch = step.Rows(begin, end);
      std::vector<double> g;
      step.calls.Gradients(batch.data(), n, g);
      for (std::int64_t i = 0; i < n; ++i) {
        const double* row = batch.data() + i * F;
        for (std::int64_t o = 0; o < O; ++o) {
          for (std::int64_t j = 0; j < F; ++j) {
            const double grad = g[static_cast<std::size_t>((o * n + i) * F + j)];
            double value = take_abs ? std::abs(grad) : grad;
            if (times_input_) value = step.Moves(row, j) ? row[j] * grad : 0.0;
            values[((begin + i) * O + o) * F + j] = value;
          }
        }
      }
      step.SetBase(begin, end, step.Predict(batch, n));
    });
  }

 private:
  bool times_input_;
};

class InputXGradient final : public sdk::Explainer {
 public:
  explicit InputXGradient(const Host& host) : saliency_(host, true) {}
  void Explain(const Host& host, const sdk::ResultBuilder& result) const override {
    saliency_.Explain(host, result);
  }

 private:
  Saliency saliency_;
};

// --- grad.integrated_gradients ---------------------------------------------------------------------

class IntegratedGradients final : public sdk::Explainer {
 public:
  explicit IntegratedGradients(const Host& host)
      : quadrature_(MakeQuadrature(host.Params().Get<std::string>("method"),
                                   static_cast<int>(host.Params().Get<std::int64_t>("n_steps")))) {
    GradientCalls(host, sdk::SelectOutput(host));
  }

  void Explain(const Host& host, const sdk::ResultBuilder& result) const override {
    Step step(host, false);
    const std::vector<double> baseline =
        ResolveBaseline(host, host.Params().Get<nlohmann::json>("baselines"), step.data, step.x);
    const auto S = static_cast<std::int64_t>(quadrature_.alphas.size());
    const std::int64_t internal = host.Params().GetOr<std::int64_t>("internal_batch_size", 0);
    std::vector<double> deltas(static_cast<std::size_t>(step.R * step.O), 0.0);
    step.Run(result, S + 2, [&](std::int64_t begin, std::int64_t end, double* values) {
      const std::int64_t n = end - begin, F = step.F, O = step.O;
      const std::vector<double> inputs = step.Rows(begin, end);
      std::vector<double> starts(inputs.size()), points(static_cast<std::size_t>(n * S * F));
      for (std::int64_t i = 0; i < n; ++i) {
        const double* row = inputs.data() + i * F;
        double* start = starts.data() + i * F;
        BaselineFor(row, baseline, step.data, false, start);
        for (std::int64_t k = 0; k < S; ++k) {
          double* point = points.data() + (i * S + k) * F;
          for (std::int64_t j = 0; j < F; ++j)
            point[j] = step.Moves(row, j)
                           ? start[j] + quadrature_.alphas[static_cast<std::size_t>(k)] * (row[j] - start[j])
                           : row[j];
        }
      }
      const std::vector<double> totals = WeightedGradients(step, points, n, internal);  // [O][n][F]
      const std::vector<double> f_inputs = step.Predict(inputs, n), f_starts = step.Predict(starts, n);
      for (std::int64_t i = 0; i < n; ++i) {
        const double* row = inputs.data() + i * F;
        for (std::int64_t o = 0; o < O; ++o) {
          double sum = 0.0;
          for (std::int64_t j = 0; j < F; ++j) {
            const double difference =
                step.Moves(row, j) ? row[j] - starts[static_cast<std::size_t>(i * F + j)] : 0.0;
            const double a = difference * totals[static_cast<std::size_t>((o * n + i) * F + j)];
            values[((begin + i) * O + o) * F + j] = a;
            sum += a;
          }
          const auto at = static_cast<std::size_t>(i * O + o);
          deltas[static_cast<std::size_t>((begin + i) * O + o)] = sum - (f_inputs[at] - f_starts[at]);
        }
      }
      step.SetBase(begin, end, f_starts);
    });
    WriteDeltas(result, deltas, step.R, step.O);
  }

 private:
  // Σ_k weight_k · ∇f(point_{i,k}) for each output and row: [O][n][F]. The points go to the model in
  // pieces of at most `internal` rows (Captum's internal_batch_size; 0: as many as a chunk holds).
  std::vector<double> WeightedGradients(const Step& step, const std::vector<double>& points, std::int64_t n,
                                        std::int64_t internal) const {
    const auto S = static_cast<std::int64_t>(quadrature_.alphas.size());
    const std::int64_t F = step.F, O = step.O, total = n * S;
    const std::int64_t piece = internal > 0 ? internal : total;
    std::vector<double> sums(static_cast<std::size_t>(O * n * F), 0.0), g;
    for (std::int64_t first = 0; first < total; first += piece) {
      const std::int64_t count = std::min(piece, total - first);
      step.calls.Gradients(points.data() + first * F, count, g);
      for (std::int64_t o = 0; o < O; ++o) {
        for (std::int64_t p = first; p < first + count; ++p) {
          const std::int64_t i = p / S, k = p % S;
          const double w = quadrature_.weights[static_cast<std::size_t>(k)];
          for (std::int64_t j = 0; j < F; ++j)
            sums[static_cast<std::size_t>((o * n + i) * F + j)] +=
                w * g[static_cast<std::size_t>((o * count + p - first) * F + j)];
        }
      }
    }
    return sums;
  }

  Quadrature quadrature_;
};

// --- grad.smoothgrad ---------------------------------------------------------------------------------

class SmoothGrad final : public sdk::Explainer {
 public:
  explicit SmoothGrad(const Host& host) { GradientCalls(host, sdk::SelectOutput(host)); }

  void Explain(const Host& host, const sdk::ResultBuilder& result) const override {
    Step step(host, false);
    const std::int64_t N = host.Params().Get<std::int64_t>("nt_samples");
    const double stdevs = host.Params().Get<double>("stdevs");
    const std::string type = host.Params().Get<std::string>("nt_type");
    const bool take_abs = host.Params().Get<bool>("abs");
    step.Run(result, N + 1, [&](std::int64_t begin, std::int64_t end, double* values) {
      const std::int64_t n = end - begin, F = step.F, O = step.O;
      const std::vector<double> inputs = step.Rows(begin, end);
      std::vector<double> noisy(static_cast<std::size_t>(n * N * F));
      for (std::int64_t i = 0; i < n; ++i) {
        const double* row = inputs.data() + i * F;
        sdk::Rng rng = host.Rng(static_cast<std::uint64_t>(step.rows[begin + i]), kSmoothGradStream);
        for (std::int64_t s = 0; s < N; ++s) {
          for (std::int64_t j = 0; j < F; ++j) {
            const double z = rng.Normal();  // drawn for every feature: the stream's layout is fixed
            noisy[static_cast<std::size_t>((i * N + s) * F + j)] =
                step.Moves(row, j) ? row[j] + stdevs * z : row[j];
          }
        }
      }
      std::vector<double> g;
      step.calls.Gradients(noisy.data(), n * N, g);
      for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t o = 0; o < O; ++o) {
          for (std::int64_t j = 0; j < F; ++j) {
            double sum = 0.0, squares = 0.0;
            for (std::int64_t s = 0; s < N; ++s) {
              const double grad = g[static_cast<std::size_t>((o * n * N + i * N + s) * F + j)];
              const double a = take_abs ? std::abs(grad) : grad;
              sum += a;
              squares += a * a;
            }
            const double mean = sum / static_cast<double>(N), mean_sq = squares / static_cast<double>(N);
            values[((begin + i) * O + o) * F + j] = type == "smoothgrad"      ? mean
                                                    : type == "smoothgrad_sq" ? mean_sq
                                                                              : mean_sq - mean * mean;
          }
        }
      }
      step.SetBase(begin, end, step.Predict(inputs, n));
    });
  }
};

// --- grad.gradient_shap ------------------------------------------------------------------------------

class GradientShap final : public sdk::Explainer {
 public:
  explicit GradientShap(const Host& host) { GradientCalls(host, sdk::SelectOutput(host)); }

  void Explain(const Host& host, const sdk::ResultBuilder& result) const override {
    Step step(host, false);
    const std::int64_t N = host.Params().Get<std::int64_t>("n_samples");
    const double stdevs = host.Params().Get<double>("stdevs");
    nlohmann::json selection = host.Params().Get<nlohmann::json>("background");
    if (selection.is_number_integer() && selection.get<std::int64_t>() >= step.x.rows()) selection = "all";
    const std::vector<std::int64_t> background = host.ResolveRows(selection, kBackgroundStream, "background");
    if (background.empty()) throw sdk::InvalidArgument("parameter 'background' selects no row");
    step.Run(result, 2 * N, [&](std::int64_t begin, std::int64_t end, double* values) {
      const std::int64_t n = end - begin, F = step.F, O = step.O;
      const std::vector<double> inputs = step.Rows(begin, end);
      // Per sample: the noisy input, its baseline and the point between them.
      std::vector<double> moved(static_cast<std::size_t>(n * N * F)), starts(moved.size()),
          points(moved.size());
      for (std::int64_t i = 0; i < n; ++i) {
        const double* row = inputs.data() + i * F;
        sdk::Rng rng = host.Rng(static_cast<std::uint64_t>(step.rows[begin + i]), kGradientShapStream);
        for (std::int64_t s = 0; s < N; ++s) {
          const auto at = static_cast<std::size_t>((i * N + s) * F);
          const double* base = step.x.Row(background[rng.Below(background.size())]);
          const double alpha = rng.Uniform();
          for (std::int64_t j = 0; j < F; ++j) {
            const double z = rng.Normal();
            const bool moves = step.Moves(row, j) && !std::isnan(base[j]);
            moved[at + j] = moves ? row[j] + stdevs * z : row[j];
            starts[at + j] = moves ? base[j] : row[j];
            points[at + j] = starts[at + j] + alpha * (moved[at + j] - starts[at + j]);
          }
        }
      }
      std::vector<double> g;
      step.calls.Gradients(points.data(), n * N, g);
      const std::vector<double> f_starts = step.Predict(starts, n * N);
      for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t o = 0; o < O; ++o) {
          double base_value = 0.0;
          for (std::int64_t s = 0; s < N; ++s)
            base_value += f_starts[static_cast<std::size_t>((i * N + s) * O + o)];
          step.attribution.base_values[static_cast<std::size_t>((begin + i) * O + o)] =
              base_value / static_cast<double>(N);
          for (std::int64_t j = 0; j < F; ++j) {
            double sum = 0.0;
            for (std::int64_t s = 0; s < N; ++s) {
              const auto at = static_cast<std::size_t>((i * N + s) * F + j);
              const double difference =
                  std::isnan(moved[at]) ? 0.0 : moved[at] - starts[at];  // missing: held
              sum += difference * g[static_cast<std::size_t>((o * n * N + i * N + s) * F + j)];
            }
            values[((begin + i) * O + o) * F + j] = sum / static_cast<double>(N);
          }
        }
      }
    });
  }
};

// --- grad.deeplift -----------------------------------------------------------------------------------

class DeepLift final : public sdk::Explainer {
 public:
  explicit DeepLift(const Host& host) { GradientCalls(host, sdk::SelectOutput(host), true); }

  void Explain(const Host& host, const sdk::ResultBuilder& result) const override {
    Step step(host, true);
    const std::vector<double> baseline =
        ResolveBaseline(host, host.Params().Get<nlohmann::json>("baselines"), step.data, step.x);
    std::vector<double> deltas(static_cast<std::size_t>(step.R * step.O), 0.0);
    step.Run(result, 3, [&](std::int64_t begin, std::int64_t end, double* values) {
      const std::int64_t n = end - begin, F = step.F, O = step.O;
      const std::vector<double> inputs = step.Rows(begin, end);
      std::vector<double> references(inputs.size());
      for (std::int64_t i = 0; i < n; ++i)
        BaselineFor(inputs.data() + i * F, baseline, step.data, true, references.data() + i * F);
      std::vector<double> a;
      step.calls.DeepLift(inputs.data(), references.data(), n, a);
      const std::vector<double> f_inputs = step.Predict(inputs, n),
                                f_references = step.Predict(references, n);
      for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t o = 0; o < O; ++o) {
          double sum = 0.0;
          for (std::int64_t j = 0; j < F; ++j) {
            const double value = a[static_cast<std::size_t>((o * n + i) * F + j)];
            values[((begin + i) * O + o) * F + j] = value;
            sum += value;
          }
          const auto at = static_cast<std::size_t>(i * O + o);
          deltas[static_cast<std::size_t>((begin + i) * O + o)] = sum - (f_inputs[at] - f_references[at]);
        }
      }
      step.SetBase(begin, end, f_references);
    });
    WriteDeltas(result, deltas, step.R, step.O);
  }
};

// --- parameters ------------------------------------------------------------------------------------

Param BaselinesParam() {
  return Param::Json("baselines")
      .Default("zeros")
      .Doc(
          "The reference input in the pipeline's raw feature space: \"zeros\" (Captum's default), \"mean\" "
          "(each numeric feature's mean over the data), {\"rows\": SELECTION} (the mean of those rows; one "
          "row: that row) or {\"values\": {FEATURE: NUMBER}} (others 0). Categorical features are held at "
          "the explained row's level (DeepLIFT uses the baseline's level).");
}

Param StdevsParam(double default_value) {
  return Param::Float("stdevs")
      .Default(default_value)
      .Min(0.0)
      .Doc(
          "Standard deviation of the Gaussian noise added to each numeric feature, in the feature's raw "
          "units "
          "(Captum's `stdevs`).");
}

// `capability` is the required entry: "gradient", or "gradient|text_gradient" for the explainers that
// also explain text models per token (loupe_plugin.h v1.6 alternatives).
sdk::ExplainerDef Define(sdk::ExplainerDef def, std::string summary, std::vector<Param> params,
                         std::string capability = LOUPE_GRADIENT_CAPABILITY) {
  params.insert(params.begin(), sdk::OutputParam());
  return std::move(def)
      .Summary(std::move(summary))
      .Kind(sdk::kFeatureAttribution)
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters(std::move(params))
      .Requires({std::move(capability)});
}

// The gradient of a tabular model, or the text gradient of a text model (TokenGradients).
constexpr const char* kGradientOrTextGradient = LOUPE_GRADIENT_CAPABILITY "|" LOUPE_TEXT_GRADIENT_CAPABILITY;

}  // namespace

sdk::ExplainerDef SaliencyDefinition() {
  return Define(
      sdk::ExplainerDef::Of<Saliency>("grad.saliency"),
      "Gradient of each output with respect to each feature (Captum's Saliency); on a text model, with "
      "respect to the embedding layer's output, summed over the embedding per token and word.",
      {Param::Bool("abs").Default(true).Doc(
          "Report the gradient's absolute value, as Captum's default (on text: Σ |gradient| per token).")},
      kGradientOrTextGradient);
}

sdk::ExplainerDef InputXGradientDefinition() {
  return Define(
      sdk::ExplainerDef::Of<InputXGradient>("grad.input_x_gradient"),
      "Feature value times the gradient (Captum's InputXGradient); categoricals get 0. On a text model, "
      "the embedding layer's output times its gradient, summed per token and word.",
      {}, kGradientOrTextGradient);
}

sdk::ExplainerDef IntegratedGradientsDefinition() {
  return Define(
      sdk::ExplainerDef::Of<IntegratedGradients>("grad.integrated_gradients"),
      "Integrated gradients from a baseline to each row (Captum's IntegratedGradients), with the convergence "
      "delta per row.",
      {BaselinesParam(),
       Param::Int("n_steps").Default(50).Min(1).Max(100000).Doc("Steps of the path integral, as Captum."),
       Param::Enum("method",
                   {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"})
           .Default("gausslegendre")
           .Doc("The integration rule, with Captum's points and weights."),
       Param::Int("internal_batch_size")
           .Min(1)
           .Doc("Path points per gradient call (Captum's internal_batch_size); unset, a chunk's points at "
                "once. "
                "The result does not depend on it.")});
}

sdk::ExplainerDef SmoothGradDefinition() {
  return Define(
      sdk::ExplainerDef::Of<SmoothGrad>("grad.smoothgrad"),
      "Saliency averaged over noisy copies of each row (Captum's NoiseTunnel over Saliency).",
      {Param::Int("nt_samples").Default(5).Min(1).Max(100000).Doc("Noisy copies per row, as Captum."),
       StdevsParam(1.0),
       Param::Enum("nt_type", {"smoothgrad", "smoothgrad_sq", "vargrad"})
           .Default("smoothgrad")
           .Doc("Mean of the attributions, mean of their squares, or their variance (Captum)."),
       Param::Bool("abs").Default(true).Doc("Absolute gradients, as Captum's Saliency.")});
}

sdk::ExplainerDef GradientShapDefinition() {
  return Define(sdk::ExplainerDef::Of<GradientShap>("grad.gradient_shap"),
                "Expected gradients over a background, at random points between baseline and noisy input "
                "(Captum's GradientShap).",
                {Param::Json("background")
                     .Default(100)
                     .Doc("Baseline rows: \"a:b\", a list of rows, or a count sampled with the step seed "
                          "(all rows when the "
                          "data has fewer)."),
                 Param::Int("n_samples").Default(5).Min(1).Max(100000).Doc("Samples per row, as Captum."),
                 StdevsParam(0.0)});
}

sdk::ExplainerDef DeepLiftDefinition() {
  return Define(sdk::ExplainerDef::Of<DeepLift>("grad.deeplift"),
                "DeepLIFT with the rescale rule against a baseline (Captum's DeepLift); refuses layers the "
                "rule does not define.",
                {BaselinesParam()});
}

}  // namespace loupe::gradients
