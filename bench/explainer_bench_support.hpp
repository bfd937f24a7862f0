// What the explainer benchmarks (shap_bench, lime_bench) share: a model decorator that times every
// Predict / PredictText call, the build's plugin registry, a `Case` = data + timed model + the step
// request that explains its first rows, RunCase (one benchmark iteration = one step) and a reporter that
// prints ms per row and the Predict fraction. Header-only, included by one benchmark program each.
#pragma once

#include <benchmark/benchmark.h>
#include <tbb/global_control.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "loupe/core/attention.hpp"
#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/plugin.hpp"

#ifndef LOUPE_SOURCE_DIR
#define LOUPE_SOURCE_DIR "."
#endif

namespace loupe::bench {

using Clock = std::chrono::steady_clock;

const std::string kSource =
    LOUPE_SOURCE_DIR;  // the source tree: data and model paths below are relative to it

inline std::int64_t NanosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

// Forwards PredictText and Tokenize to the model's own text capability, adding PredictText's time.
class TimedTextModel final : public loupe::TextModel {
 public:
  TimedTextModel(const loupe::TextModel* inner, std::atomic<std::int64_t>* nanos)
      : inner_(inner), nanos_(nanos) {}
  loupe::Result<loupe::TokenizedText> Tokenize(std::string_view text) const override {
    return inner_->Tokenize(text);
  }
  loupe::Result<loupe::Tensor> PredictText(const std::vector<std::string>& texts,
                                           loupe::OutputSpace space) const override {
    const auto start = Clock::now();
    auto out = inner_->PredictText(texts, space);
    *nanos_ += NanosSince(start);
    return out;
  }

 private:
  const loupe::TextModel* inner_;
  std::atomic<std::int64_t>* nanos_;
};

// A model that adds the time of every Predict / PredictText call to a counter.
class TimedModel final : public loupe::Model {
 public:
  explicit TimedModel(std::shared_ptr<const loupe::Model> inner) : inner_(std::move(inner)) {
    if (const loupe::TextModel* text = inner_->text_model()) {
      text_ = std::make_unique<TimedTextModel>(text, &nanos_);
    }
  }
  const loupe::ModelInfo& Info() const override { return inner_->Info(); }
  loupe::Result<loupe::Tensor> Predict(const loupe::TensorView& batch,
                                       loupe::OutputSpace space) const override {
    const auto start = Clock::now();
    auto out = inner_->Predict(batch, space);
    nanos_ += NanosSince(start);
    return out;
  }
  loupe::Status PredictInto(const loupe::TensorView& batch, loupe::OutputSpace space,
                            std::span<double> out) const override {
    const auto start = Clock::now();
    loupe::Status status = inner_->PredictInto(batch, space, out);
    nanos_ += NanosSince(start);
    return status;
  }
  // The text capability is timed; the others are the inner model's own.
  const loupe::TextModel* text_model() const override { return text_ ? text_.get() : inner_->text_model(); }
  const loupe::AttentionSource* attention_source() const override { return inner_->attention_source(); }
  const loupe::HiddenStateSource* hidden_state_source() const override {
    return inner_->hidden_state_source();
  }
  const loupe::HeadMaskedModel* head_masked_model() const override { return inner_->head_masked_model(); }
  const loupe::TreeEnsembleCapability* tree_ensemble() const override { return inner_->tree_ensemble(); }
  std::int64_t TakeNanos() const { return nanos_.exchange(0); }

 private:
  std::shared_ptr<const loupe::Model> inner_;
  std::unique_ptr<TimedTextModel> text_;
  mutable std::atomic<std::int64_t> nanos_{0};
};

template <typename T>
T Value(loupe::Result<T> result, const std::string& what) {
  if (!result.ok()) throw std::runtime_error(what + ": " + result.status().message());
  return std::move(result).value();
}

// A dataset, a timed model on it, and the step request that explains `rows` of it with `explainer`.
struct Case {
  loupe::Dataset data;
  std::shared_ptr<const TimedModel> model;
  std::shared_ptr<const loupe::LoadedExplainer> explainer;
  loupe::ExplainRequest request;
};

inline const loupe::PluginRegistry& Registry() {
  static const loupe::PluginRegistry registry = [] {
    loupe::PluginRegistry r;
    for (const auto& dir : loupe::PluginSearchPath({})) r.LoadDirectory(dir);
    return r;
  }();
  return registry;
}

// Fills `c` in place (the request points at c.data, so a Case never moves).
inline void Fill(Case& c, const std::string& csv, const loupe::CsvOptions& options,
                 const std::string& model_path, const std::string& explainer, nlohmann::json params,
                 std::int64_t rows) {
  c.data = Value(loupe::ReadCsv(kSource + csv, options), csv);
  c.model = std::make_shared<TimedModel>(Value(loupe::LoadModel(kSource + model_path), model_path));
  std::vector<std::string> features;
  for (const auto& input : c.model->Info().inputs) features.push_back(input.name);
  c.explainer = Registry().FindShared(explainer);
  if (!c.explainer) {
    const std::string plugin = explainer.substr(0, explainer.find('.'));
    throw std::runtime_error("the " + plugin + " plugin is not in the plugin search path (build loupe_" +
                             plugin + ")");
  }
  c.request.step_id = "bench";
  c.request.dataset = &c.data;
  c.request.feature_names = features;
  c.request.features = std::make_shared<const loupe::Tensor>(Value(c.data.Matrix(features), "features"));
  c.request.model = Value(loupe::FeatureModel::Create(c.model, c.data, features), "model");
  c.request.rows.resize(static_cast<std::size_t>(rows));
  std::iota(c.request.rows.begin(), c.request.rows.end(), 0);
  c.request.params = std::move(params);
  c.request.seed = 42;
}

// Runs the case's step once per iteration on `threads` threads; reports ms per row and the model's share.
inline void RunCase(benchmark::State& state, Case& c) {
  const auto threads = static_cast<int>(state.range(0));
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  std::int64_t wall = 0, model = 0;
  for (auto _ : state) {
    c.model->TakeNanos();
    const auto start = Clock::now();
    auto explanation = c.explainer->Explain(c.request);
    wall += NanosSince(start);
    model += c.model->TakeNanos();
    if (!explanation.ok()) {
      state.SkipWithError(explanation.status().message().c_str());
      return;
    }
    benchmark::DoNotOptimize(explanation);
  }
  const double rows = static_cast<double>(c.request.rows.size()) * static_cast<double>(state.iterations());
  state.counters["ms_per_row"] = static_cast<double>(wall) / 1e6 / rows;
  state.counters["predict_fraction"] = static_cast<double>(model) / (static_cast<double>(wall) * threads);
}

// Keeps each run's per-row time and Predict fraction (the counters RunCase sets) to print them as a table.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const auto row = run.counters.find("ms_per_row");
      const auto fraction = run.counters.find("predict_fraction");
      if (row != run.counters.end() && fraction != run.counters.end()) {
        lines_[run.benchmark_name()] = {row->second.value, fraction->second.value};
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // Milliseconds per row of the named run, 0 when it did not run.
  double Ms(const std::string& name) const {
    const auto it = lines_.find(name);
    return it == lines_.end() ? 0.0 : it->second.first;
  }
  void PrintTable() const {
    std::printf("\n%-52s %12s %18s\n", "benchmark/threads", "ms per row", "Predict fraction");
    for (const auto& [name, figures] : lines_) {
      std::printf("%-52s %12.1f %18.3f\n", name.c_str(), figures.first, figures.second);
    }
  }

 private:
  std::map<std::string, std::pair<double, double>> lines_;
};

}  // namespace loupe::bench
