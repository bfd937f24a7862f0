// What one model call of an explainer costs through the host, on one thread: the column mapping, the
// model, and the hand-over into the plugin's output buffer. Fixtures: the credit MLP and the
// breast-cancer MLP (f32 on oneDNN) and the credit XGBoost model, at batches of 1, 64 and 4096 rows.
//
// BM_HostPredict is what the host's model_predict does. The source also builds against trees without
// FeatureModel::PredictInto (it then predicts into a new tensor and copies, as the host used to), so the
// same file measures before and after.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"

#ifndef LOUPE_SOURCE_DIR
#define LOUPE_SOURCE_DIR "."
#endif

namespace {

const std::filesystem::path kSource = LOUPE_SOURCE_DIR;

template <typename M>
concept HasPredictInto = requires(const M& model, const loupe::TensorView& view, std::span<double> out) {
  {model.PredictInto(view, loupe::OutputSpace::kProbability, out)};
};

struct Fixture {
  std::shared_ptr<const loupe::FeatureModel> model;
  loupe::Tensor batch;  // 4096 rows of the data, repeated when the data is shorter
};

Fixture Load(const std::string& model_file, const std::string& csv) {
  auto model = std::move(loupe::LoadModel(kSource / "tests/fixtures" / model_file)).value();
  std::vector<std::string> names;
  loupe::CsvOptions options;
  for (const loupe::ModelInput& input : model->Info().inputs) {
    names.push_back(input.name);
    if (input.type == loupe::ColumnType::kCategorical) options.categorical.push_back(input.name);
  }
  const loupe::Dataset data = std::move(loupe::ReadCsv(kSource / "tests/data" / csv, options)).value();
  const loupe::Tensor matrix = std::move(data.Matrix(names)).value();
  constexpr std::int64_t kRows = 4096;
  const auto width = static_cast<std::int64_t>(names.size());
  loupe::Tensor batch(loupe::DType::kF64, {kRows, width});
  for (std::int64_t row = 0; row < kRows; ++row) {
    std::copy_n(matrix.data<double>() + (row % matrix.dim(0)) * width, width,
                batch.data<double>() + row * width);
  }
  return {std::move(loupe::FeatureModel::Create(model, data, names)).value(), std::move(batch)};
}

const Fixture& Get(const std::string& name) {
  static const std::map<std::string, Fixture> fixtures = [] {
    std::map<std::string, Fixture> loaded;
    loaded.emplace("credit_mlp", Load("models/credit_mlp.yaml", "credit_data.csv"));
    loaded.emplace("breast_cancer_mlp", Load("models/breast_cancer_mlp.yaml", "breast_cancer.csv"));
    loaded.emplace("credit_xgb", Load("xgboost/credit_xgb.json", "credit_data.csv"));
    return loaded;
  }();
  return fixtures.at(name);
}

// The host's model_predict: into the plugin's buffer, or (a tree without PredictInto) into a new tensor
// that is then copied. A template, so that the branch a tree cannot compile is discarded.
template <typename M>
bool PredictForHost(const M& model, const loupe::TensorView& view, loupe::OutputSpace space,
                    std::span<double> outputs) {
  if constexpr (HasPredictInto<M>) {
    return model.PredictInto(view, space, outputs).ok();
  } else {
    auto predicted = model.Predict(view, space);
    if (!predicted.ok()) return false;
    std::copy_n(predicted->template data<double>(), outputs.size(), outputs.data());
    return true;
  }
}

// One model_predict of `state.range(0)` rows into a buffer the plugin owns.
void HostPredict(benchmark::State& state, const std::string& name) {
  const Fixture& f = Get(name);
  const std::int64_t rows = state.range(0);
  const loupe::TensorView view = f.batch.view().Rows(0, rows);
  const auto space = loupe::OutputSpace::kProbability;
  std::vector<double> outputs(static_cast<std::size_t>(rows) *
                              f.model->model().Info().OutputNames(space).size());
  for (auto _ : state) {
    if (!PredictForHost(*f.model, view, space, outputs)) state.SkipWithError("predict failed");
    benchmark::DoNotOptimize(outputs.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * rows);
  state.SetLabel(HasPredictInto<loupe::FeatureModel> ? "into the caller's buffer" : "new tensor + copy");
}

void BM_HostPredict_CreditMlp(benchmark::State& state) { HostPredict(state, "credit_mlp"); }
void BM_HostPredict_BreastCancerMlp(benchmark::State& state) { HostPredict(state, "breast_cancer_mlp"); }
void BM_HostPredict_CreditXGBoost(benchmark::State& state) { HostPredict(state, "credit_xgb"); }
BENCHMARK(BM_HostPredict_CreditMlp)->Arg(1)->Arg(64)->Arg(4096);
BENCHMARK(BM_HostPredict_BreastCancerMlp)->Arg(1)->Arg(64)->Arg(4096);
BENCHMARK(BM_HostPredict_CreditXGBoost)->Arg(1)->Arg(64)->Arg(4096);

}  // namespace

BENCHMARK_MAIN();
