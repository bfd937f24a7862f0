// grad.integrated_gradients through the real host on the breast_cancer MLP (tests/fixtures/models/
// breast_cancer_mlp.yaml on tests/data/breast_cancer.csv): 50 Gauss–Legendre steps, the probabilities of
// both classes, 1 thread. Reports ms per explained row and the share of the time spent inside the model's
// gradient capability (GradientModel::Gradient: the encoding, the forward and backward oneDNN primitives
// and the map back to the model's inputs; the primitives are not timed apart from that small remainder).
// BM_LayerIntegratedGradients_Transformer does the same for grad.layer_integrated_gradients on the
// transformer text fixture (tests/fixtures/text/transformer.yaml on tests/data/fortunes_topics.csv): 50
// Gauss–Legendre steps from the [PAD] embedding, all 8 classes' probabilities, 1 thread; its
// gradient_fraction is the share inside the text_gradient capability (TextGradientModel::LayerGradient:
// the taped forward and the backward passes).
// bench/grad_vs_torch.py runs this and the PyTorch autograd loop Captum runs (same steps, same batch) in one
// go and prints the ratio.
#include <benchmark/benchmark.h>
#include <tbb/global_control.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <numeric>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/gradient.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/plugin.hpp"
#include "loupe/core/text_gradient.hpp"

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t NanosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

// The model's gradient capability, timed.
class TimedGradient final : public loupe::GradientModel {
 public:
  TimedGradient(const loupe::GradientModel* inner, std::atomic<std::int64_t>* nanos)
      : inner_(inner), nanos_(nanos) {}
  loupe::Status Gradient(const loupe::TensorView& batch, loupe::OutputSpace space,
                         std::span<const double> weights, std::span<double> gradients) const override {
    const auto start = Clock::now();
    loupe::Status status = inner_->Gradient(batch, space, weights, gradients);
    *nanos_ += NanosSince(start);
    return status;
  }
  const std::string& DeepLiftRefusal() const override { return inner_->DeepLiftRefusal(); }
  loupe::Status DeepLift(const loupe::TensorView& batch, const loupe::TensorView& references,
                         loupe::OutputSpace space, std::span<const double> weights,
                         std::span<double> attributions) const override {
    return inner_->DeepLift(batch, references, space, weights, attributions);
  }

 private:
  const loupe::GradientModel* inner_;
  std::atomic<std::int64_t>* nanos_;
};

// A model whose gradient capability is timed (its Predict is the inner model's).
class TimedModel final : public loupe::Model {
 public:
  explicit TimedModel(std::shared_ptr<const loupe::Model> inner)
      : inner_(std::move(inner)), gradient_(inner_->gradient_model(), &nanos_) {}
  const loupe::ModelInfo& Info() const override { return inner_->Info(); }
  loupe::Result<loupe::Tensor> Predict(const loupe::TensorView& batch,
                                       loupe::OutputSpace space) const override {
    return inner_->Predict(batch, space);
  }
  loupe::Status PredictInto(const loupe::TensorView& batch, loupe::OutputSpace space,
                            std::span<double> out) const override {
    return inner_->PredictInto(batch, space, out);
  }
  const loupe::GradientModel* gradient_model() const override { return &gradient_; }
  std::int64_t TakeNanos() const { return nanos_.exchange(0); }

 private:
  std::shared_ptr<const loupe::Model> inner_;
  mutable std::atomic<std::int64_t> nanos_{0};
  TimedGradient gradient_;
};

// The text model's text_gradient capability, timed.
class TimedTextGradient final : public loupe::TextGradientModel {
 public:
  TimedTextGradient(const loupe::TextGradientModel* inner, std::atomic<std::int64_t>* nanos)
      : inner_(inner), nanos_(nanos) {}
  std::int64_t EmbeddingWidth() const override { return inner_->EmbeddingWidth(); }
  const std::string& EmbeddingLayerName() const override { return inner_->EmbeddingLayerName(); }
  const std::vector<float>& PadEmbedding() const override { return inner_->PadEmbedding(); }
  loupe::Result<std::vector<float>> PadEmbeddings(std::int64_t t) const override {
    return inner_->PadEmbeddings(t);
  }
  std::string Refusal() const override { return inner_->Refusal(); }
  loupe::Result<std::vector<loupe::TokenEmbeddings>> Embed(
      const std::vector<std::string>& texts) const override {
    return inner_->Embed(texts);
  }
  loupe::Status LayerGradient(std::span<const float> values, std::int64_t n, std::int64_t t,
                              std::span<const std::int64_t> lengths, loupe::OutputSpace space,
                              std::span<const double> weights, std::span<float> gradients,
                              std::span<double> outputs) const override {
    const auto start = Clock::now();
    loupe::Status status = inner_->LayerGradient(values, n, t, lengths, space, weights, gradients, outputs);
    *nanos_ += NanosSince(start);
    return status;
  }

 private:
  const loupe::TextGradientModel* inner_;
  std::atomic<std::int64_t>* nanos_;
};

// A text model whose text_gradient capability is timed (everything else is the inner model's).
class TimedTextModel final : public loupe::Model {
 public:
  explicit TimedTextModel(std::shared_ptr<const loupe::Model> inner)
      : inner_(std::move(inner)), gradient_(inner_->text_gradient_model(), &nanos_) {}
  const loupe::ModelInfo& Info() const override { return inner_->Info(); }
  loupe::Result<loupe::Tensor> Predict(const loupe::TensorView& batch,
                                       loupe::OutputSpace space) const override {
    return inner_->Predict(batch, space);
  }
  const loupe::TextModel* text_model() const override { return inner_->text_model(); }
  const loupe::TextGradientModel* text_gradient_model() const override { return &gradient_; }
  std::int64_t TakeNanos() const { return nanos_.exchange(0); }

 private:
  std::shared_ptr<const loupe::Model> inner_;
  mutable std::atomic<std::int64_t> nanos_{0};
  TimedTextGradient gradient_;
};

template <typename T>
T Value(loupe::Result<T> result, const std::string& what) {
  if (!result.ok()) throw std::runtime_error(what + ": " + result.status().message());
  return std::move(result).value();
}

void BM_IntegratedGradients_BreastCancerMlp(benchmark::State& state) {
  static const loupe::PluginRegistry registry = [] {
    loupe::PluginRegistry r;
    for (const auto& dir : loupe::PluginSearchPath({})) r.LoadDirectory(dir);
    return r;
  }();
  const std::string source = LOUPE_SOURCE_DIR;
  loupe::CsvOptions options;
  options.target = "target";
  const loupe::Dataset data =
      Value(loupe::ReadCsv(source + "/tests/data/breast_cancer.csv", options), "data");
  const auto model = std::make_shared<TimedModel>(
      Value(loupe::LoadModel(source + "/tests/fixtures/models/breast_cancer_mlp.yaml"), "model"));
  const auto explainer = registry.FindShared("grad.integrated_gradients");
  if (!explainer) {
    state.SkipWithError("the gradients plugin is not in the plugin search path (build loupe_gradients)");
    return;
  }
  std::vector<std::string> features;
  for (const auto& input : model->Info().inputs) features.push_back(input.name);
  loupe::ExplainRequest request;
  request.step_id = "bench";
  request.dataset = &data;
  request.feature_names = features;
  request.features = std::make_shared<const loupe::Tensor>(Value(data.Matrix(features), "features"));
  request.model = Value(loupe::FeatureModel::Create(model, data, features), "feature model");
  request.rows.resize(static_cast<std::size_t>(state.range(0)));
  std::iota(request.rows.begin(), request.rows.end(), 0);
  request.params = {{"n_steps", 50}, {"method", "gausslegendre"}, {"baselines", "zeros"}};
  tbb::global_control one_thread(tbb::global_control::max_allowed_parallelism, 1);
  std::int64_t wall = 0, gradient = 0;
  double worst_delta = 0.0;
  for (auto _ : state) {
    model->TakeNanos();
    const auto start = Clock::now();
    auto explanation = explainer->Explain(request);
    wall += NanosSince(start);
    gradient += model->TakeNanos();
    if (!explanation.ok()) {
      state.SkipWithError(explanation.status().message().c_str());
      return;
    }
    worst_delta = explanation->quality.value("convergence_delta", 0.0);
    benchmark::DoNotOptimize(explanation);
  }
  const double rows = static_cast<double>(request.rows.size()) * static_cast<double>(state.iterations());
  state.counters["ms_per_row"] = static_cast<double>(wall) / 1e6 / rows;
  state.counters["gradient_fraction"] = static_cast<double>(gradient) / static_cast<double>(wall);
  // The largest |convergence delta| over rows and outputs (bench/grad_vs_torch.py prints it beside
  // PyTorch's: the same quadrature error, not a disagreement).
  state.counters["max_delta"] = worst_delta;
}
BENCHMARK(BM_IntegratedGradients_BreastCancerMlp)
    ->Arg(64)
    ->Arg(569)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_LayerIntegratedGradients_Transformer(benchmark::State& state) {
  static const loupe::PluginRegistry registry = [] {
    loupe::PluginRegistry r;
    for (const auto& dir : loupe::PluginSearchPath({})) r.LoadDirectory(dir);
    return r;
  }();
  const std::string source = LOUPE_SOURCE_DIR;
  loupe::CsvOptions options;
  options.target = "topic";
  options.text = {"text"};
  const loupe::Dataset data =
      Value(loupe::ReadCsv(source + "/tests/data/fortunes_topics.csv", options), "data");
  const auto model = std::make_shared<TimedTextModel>(
      Value(loupe::LoadModel(source + "/tests/fixtures/text/transformer.yaml"), "model"));
  const auto explainer = registry.FindShared("grad.layer_integrated_gradients");
  if (!explainer) {
    state.SkipWithError("the gradients plugin is not in the plugin search path (build loupe_gradients)");
    return;
  }
  const std::vector<std::string> features{"text"};
  loupe::ExplainRequest request;
  request.step_id = "bench";
  request.dataset = &data;
  request.feature_names = features;
  request.features = std::make_shared<const loupe::Tensor>(Value(data.Matrix(features), "features"));
  request.model = Value(loupe::FeatureModel::Create(model, data, features), "feature model");
  // The first texts of the runtime's text reference (bench/grad_vs_torch.py reads the same ones).
  std::ifstream reference(source + "/tests/fixtures/text/reference.json");
  const auto reference_rows = nlohmann::json::parse(reference)["rows"].get<std::vector<std::int64_t>>();
  request.rows.assign(reference_rows.begin(), reference_rows.begin() + state.range(0));
  request.params = {{"n_steps", 50}, {"method", "gausslegendre"}, {"baselines", "pad"}};
  tbb::global_control one_thread(tbb::global_control::max_allowed_parallelism, 1);
  std::int64_t wall = 0, gradient = 0;
  for (auto _ : state) {
    model->TakeNanos();
    const auto start = Clock::now();
    auto explanation = explainer->Explain(request);
    wall += NanosSince(start);
    gradient += model->TakeNanos();
    if (!explanation.ok()) {
      state.SkipWithError(explanation.status().message().c_str());
      return;
    }
    benchmark::DoNotOptimize(explanation);
  }
  const double rows = static_cast<double>(request.rows.size()) * static_cast<double>(state.iterations());
  state.counters["ms_per_row"] = static_cast<double>(wall) / 1e6 / rows;
  state.counters["gradient_fraction"] = static_cast<double>(gradient) / static_cast<double>(wall);
}
BENCHMARK(BM_LayerIntegratedGradients_Transformer)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
