// What the explainer benchmarks (shap_bench, lime_bench) share: a model decorator that times every
// Predict / PredictText call, the build's plugin registry, and a `Case` = data + timed model + the step
// request that explains its first rows. Header-only, included by one benchmark program each.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>

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

const std::string kSource = LOUPE_SOURCE_DIR;  // the source tree: data and model paths below are relative to it

inline std::int64_t NanosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

// Forwards PredictText and Tokenize to the model's own text capability, adding PredictText's time.
class TimedTextModel final : public loupe::TextModel {
 public:
  TimedTextModel(const loupe::TextModel* inner, std::atomic<std::int64_t>* nanos) : inner_(inner), nanos_(nanos) {}
  loupe::Result<loupe::TokenizedText> Tokenize(std::string_view text) const override { return inner_->Tokenize(text); }
  loupe::Result<loupe::Tensor> PredictText(const std::vector<std::string>& texts, loupe::OutputSpace space) const override {
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
    if (const void* text = inner_->Capability(loupe::kTextCapability)) {
      text_ = std::make_unique<TimedTextModel>(static_cast<const loupe::TextModel*>(text), &nanos_);
    }
  }
  const loupe::ModelInfo& Info() const override { return inner_->Info(); }
  loupe::Result<loupe::Tensor> Predict(const loupe::TensorView& batch, loupe::OutputSpace space) const override {
    const auto start = Clock::now();
    auto out = inner_->Predict(batch, space);
    nanos_ += NanosSince(start);
    return out;
  }
  const void* Capability(std::string_view name) const override {
    if (name == loupe::kTextCapability && text_) return text_.get();
    return inner_->Capability(name);
  }
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
inline void Fill(Case& c, const std::string& csv, const loupe::CsvOptions& options, const std::string& model_path,
          const std::string& explainer, nlohmann::json params, std::int64_t rows) {
  c.data = Value(loupe::ReadCsv(kSource + csv, options), csv);
  c.model = std::make_shared<TimedModel>(Value(loupe::LoadModel(kSource + model_path), model_path));
  std::vector<std::string> features;
  for (const auto& input : c.model->Info().inputs) features.push_back(input.name);
  c.explainer = Registry().FindShared(explainer);
  if (!c.explainer) {
    const std::string plugin = explainer.substr(0, explainer.find('.'));
    throw std::runtime_error("the " + plugin + " plugin is not in the plugin search path (build loupe_" + plugin + ")");
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

}  // namespace loupe::bench
