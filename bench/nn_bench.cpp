// Predict throughput of the credit MLP (tests/fixtures/models/credit_mlp.yaml) at batch 1 … 65,536, in
// f32 and bf16 on oneDNN and in the naive double-precision reference path, as rows/s and GFLOP/s, with
// ratios against the oneDNN GEMM peak (1024³ f32 and bf16) and against the reference, all measured in
// this run (timings on shared 2-core machines vary: compare ratios, not absolute figures).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "loupe/core/model.hpp"
#include "nn/ops.hpp"

namespace {

const std::filesystem::path kFixtures = std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/models";

// Seconds per call of `run`, repeated until at least `budget` seconds have passed.
double SecondsPerCall(const std::function<void()>& run, double budget = 0.3) {
  run();  // warm-up: primitive creation and weight reorders happen here
  int calls = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    run();
    ++calls;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < budget);
  return elapsed / calls;
}

double GemmGflops(loupe::nn::Precision precision) {
  constexpr std::int64_t kN = 1024;
  std::vector<float> weight(kN * kN, 0.01f), x(kN * kN, 1.0f), y(kN * kN);
  const loupe::nn::DenseLayer layer(kN, kN, weight, {});
  const double seconds = SecondsPerCall([&] { (void)layer.Forward(x.data(), kN, y.data(), precision); }, 1.0);
  return 2.0 * kN * kN * kN / seconds / 1e9;
}

// The fixture's model file with `precision:` set, pointing at the fixture's weights.
std::filesystem::path WithPrecision(const std::string& precision) {
  const auto path = std::filesystem::temp_directory_path() / ("loupe_nn_bench_" + precision + ".yaml");
  std::ifstream in(kFixtures / "credit_mlp.yaml");
  std::ofstream out(path);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("weights: ", 0) == 0) {
      out << "weights: " << (kFixtures / line.substr(9)).string() << "\nprecision: " << precision << "\n";
    } else {
      out << line << "\n";
    }
  }
  return path;
}

}  // namespace

int main() {
  const double peak_f32 = GemmGflops(loupe::nn::Precision::kF32);
  const double peak_bf16 = loupe::nn::Bf16Supported() ? GemmGflops(loupe::nn::Precision::kBF16) : peak_f32;
  std::printf("oneDNN 1024^3 GEMM peak, one thread: f32 %.1f GFLOP/s, bf16 %.1f GFLOP/s%s\n", peak_f32,
              peak_bf16, loupe::nn::Bf16Supported() ? "" : " (no native bf16: f32)");

  const char* precisions[] = {"f32", "bf16", "f64"};
  std::shared_ptr<const loupe::Model> models[3];
  for (int p = 0; p < 3; ++p) {
    auto model = loupe::LoadModel(WithPrecision(precisions[p]));
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().message().c_str());
      return 1;
    }
    models[p] = *model;
  }
  // Multiply-adds per row of the credit MLP: 26→32, 32→16, 16→1 (activations and layer norm excluded).
  const double flops_per_row = 2.0 * (26 * 32 + 32 * 16 + 16 * 1);
  const auto width = static_cast<std::int64_t>(models[0]->Info().inputs.size());
  std::vector<double> values(65536 * static_cast<std::size_t>(width));
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<double>((i * 7919) % 97) / 13.0 - 3.0;
  const loupe::Tensor batch = loupe::Tensor::FromVector(values, {65536, width});

  std::printf("\n%7s | %12s %12s %12s | %8s %8s | %8s %8s | %9s %9s\n", "batch", "f32 rows/s", "bf16 rows/s",
              "f64 rows/s", "f32 GF/s", "bf16 GF", "f32/peak", "bf16/pk", "f32/naive", "bf16/naive");
  for (std::int64_t n = 1; n <= 65536; n *= 4) {
    double rows_per_second[3];
    for (int p = 0; p < 3; ++p) {
      const loupe::TensorView rows = batch.view().Rows(0, n);
      const double seconds = SecondsPerCall([&] {
        auto result = models[p]->Predict(rows, loupe::OutputSpace::kProbability);
        if (!result.ok()) std::fprintf(stderr, "%s\n", result.status().message().c_str());
      });
      rows_per_second[p] = static_cast<double>(n) / seconds;
    }
    const double gf32 = rows_per_second[0] * flops_per_row / 1e9,
                 gbf16 = rows_per_second[1] * flops_per_row / 1e9;
    std::printf("%7lld | %12.0f %12.0f %12.0f | %8.2f %8.2f | %8.3f %8.3f | %9.1f %9.1f\n",
                static_cast<long long>(n), rows_per_second[0], rows_per_second[1], rows_per_second[2], gf32,
                gbf16, gf32 / peak_f32, gbf16 / peak_bf16, rows_per_second[0] / rows_per_second[2],
                rows_per_second[1] / rows_per_second[2]);
  }
  return 0;
}
