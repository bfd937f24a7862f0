// Core overheads, each printed as a ratio against a baseline measured in the same run:
//  - FeatureModel::Predict (the host's column mapping + the model) against Model::Predict alone, on the
//    demo's credit model: what the host adds to every model call an explainer makes;
//  - the CSV reader on credit_data.csv, as rows per second.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>

#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"

#ifndef LOUPE_SOURCE_DIR
#define LOUPE_SOURCE_DIR "."
#endif

namespace {

const std::string kData = std::string(LOUPE_SOURCE_DIR) + "/examples/credit_scoring/data/credit_data.csv";
const std::string kModel =
    std::string(LOUPE_SOURCE_DIR) + "/examples/credit_scoring/models/credit_logreg.yaml";

struct Fixture {
  loupe::Dataset data;
  std::shared_ptr<const loupe::Model> model;
  std::shared_ptr<const loupe::FeatureModel> feature_model;
  loupe::Tensor features;  // dataset coding, pipeline order
  loupe::Tensor inputs;    // the model's own coding
};

const Fixture& GetFixture() {
  static const Fixture fixture = [] {
    Fixture f;
    loupe::CsvOptions options;
    options.categorical = {"Home", "Marital", "Records", "Job"};
    f.data = std::move(loupe::ReadCsv(kData, options)).value();
    f.model = std::move(loupe::LoadModel(kModel)).value();
    std::vector<std::string> names;
    for (const auto& input : f.model->Info().inputs) names.push_back(input.name);
    f.feature_model = std::move(loupe::FeatureModel::Create(f.model, f.data, names)).value();
    f.features = std::move(f.data.Matrix(names)).value();
    // The data's level order equals the model's here (both sorted), so the same matrix feeds both.
    f.inputs = f.features;
    return f;
  }();
  return fixture;
}

void BM_ModelPredictDirect(benchmark::State& state) {
  const Fixture& f = GetFixture();
  for (auto _ : state) {
    auto out = f.model->Predict(f.inputs.view(), loupe::OutputSpace::kProbability);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * f.data.num_rows());
}
BENCHMARK(BM_ModelPredictDirect);

void BM_FeatureModelPredict(benchmark::State& state) {
  const Fixture& f = GetFixture();
  for (auto _ : state) {
    auto out = f.feature_model->Predict(f.features.view(), loupe::OutputSpace::kProbability);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * f.data.num_rows());
}
BENCHMARK(BM_FeatureModelPredict);

void BM_ReadCsvCredit(benchmark::State& state) {
  loupe::CsvOptions options;
  options.categorical = {"Home", "Marital", "Records", "Job"};
  std::int64_t rows = 0;
  for (auto _ : state) {
    auto data = loupe::ReadCsv(kData, options);
    rows = data->num_rows();
    benchmark::DoNotOptimize(data);
  }
  state.SetItemsProcessed(state.iterations() * rows);
}
BENCHMARK(BM_ReadCsvCredit);

// Keeps each benchmark's real time per iteration so main() can print ratios.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) seconds_[run.benchmark_name()] = run.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
  double Get(const std::string& name) const {
    const auto it = seconds_.find(name);
    return it == seconds_.end() ? 0 : it->second;
  }

 private:
  std::map<std::string, double> seconds_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double direct = reporter.Get("BM_ModelPredictDirect");
  const double mapped = reporter.Get("BM_FeatureModelPredict");
  if (direct > 0 && mapped > 0) {
    std::printf("\nhost column mapping overhead: FeatureModel::Predict / Model::Predict = %.3f\n",
                mapped / direct);
  }
  benchmark::Shutdown();
  return 0;
}
