// shap.tree throughput (rows/s) on the XGBoost fixtures through the SDK's mock host, side by side with
// XGBoost's own pred_contribs (Booster predict, option_mask 4) on the same model and rows when
// libxgboost.so.0 can be loaded at run time (Debian's libxgboost0; the C API is declared here, so no
// XGBoost header is needed at build time).
//
//   loupe_shap_tree_bench [repeat=20]     rows of diabetes.csv repeated `repeat` times
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "loupe/c/loupe_plugin.h"
#include "loupe/testing/conformance.hpp"
#include "tree_model.hpp"
#include "xgboost_fixture.hpp"

extern "C" const LoupePluginEntryFn loupe_plugin_entry_v1;

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// The part of XGBoost's C API the benchmark calls (xgboost/c_api.h, stable since 1.0).
struct XgbApi {
  using Handle = void*;
  int (*booster_create)(const Handle*, std::uint64_t, Handle*) = nullptr;
  int (*booster_load)(Handle, const char*) = nullptr;
  int (*booster_set_param)(Handle, const char*, const char*) = nullptr;
  int (*dmatrix_from_mat)(const float*, std::uint64_t, std::uint64_t, float, Handle*) = nullptr;
  int (*booster_predict)(Handle, Handle, int, unsigned, int, std::uint64_t*, const float**) = nullptr;
  int (*dmatrix_free)(Handle) = nullptr;
  int (*booster_free)(Handle) = nullptr;
  const char* (*last_error)() = nullptr;

  bool Load() {
    void* lib = dlopen("libxgboost.so.0", RTLD_NOW);
    if (lib == nullptr) lib = dlopen("libxgboost.so", RTLD_NOW);
    if (lib == nullptr) return false;
    auto get = [lib](auto* fn, const char* name) { *fn = reinterpret_cast<std::remove_pointer_t<decltype(fn)>>(dlsym(lib, name)); };
    get(&booster_create, "XGBoosterCreate");
    get(&booster_load, "XGBoosterLoadModel");
    get(&booster_set_param, "XGBoosterSetParam");
    get(&dmatrix_from_mat, "XGDMatrixCreateFromMat");
    get(&booster_predict, "XGBoosterPredict");
    get(&dmatrix_free, "XGDMatrixFree");
    get(&booster_free, "XGBoosterFree");
    get(&last_error, "XGBGetLastError");
    return booster_create && booster_load && booster_set_param && dmatrix_from_mat && booster_predict && dmatrix_free &&
           booster_free && last_error;
  }
};

const LoupeExplainerVTable& Tree() {
  char error[256] = "";
  const LoupePluginInfo* info = loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  return *loupe::testing::FindExplainer(*info, "shap.tree");
}

}  // namespace

int main(int argc, char** argv) {
  const int repeat = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
  const std::string fixtures = LOUPE_XGBOOST_FIXTURES;
  const std::vector<std::string> order = {"age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"};
  loupe::testing::MockDataset base = loupe::shap::testing::CsvDataset(std::string(LOUPE_TEST_DATA) + "/diabetes.csv", order, {});
  loupe::testing::MockDataset data = base;
  for (auto& column : data.features) {
    column.values.clear();
    for (int k = 0; k < repeat; ++k) column.values.insert(column.values.end(), base.features[&column - &data.features[0]].values.begin(),
                                                           base.features[&column - &data.features[0]].values.end());
  }
  const std::int64_t n = data.rows();
  const std::int64_t f = data.cols();
  std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) rows[static_cast<std::size_t>(i)] = i;

  std::printf("%-16s %-26s %8s %12s %12s\n", "model", "method", "threads", "rows/s", "seconds");
  for (const char* name : {"diabetes_xgb", "diabetes3_xgb"}) {
    auto ensemble = std::make_shared<const loupe::shap::testing::XgbEnsemble>(fixtures + "/" + name + ".json");
    const loupe::testing::MockHost host(data, loupe::shap::testing::XgbModel(ensemble, data));
    std::vector<double> ours;
    for (const bool interactions : {false, true}) {
      for (const int threads : {1, 2}) {
        loupe::testing::MockRunOptions options;
        options.rows = interactions ? std::vector<std::int64_t>(rows.begin(), rows.begin() + std::min<std::int64_t>(n, 2000)) : rows;
        options.threads = threads;
        options.params = {{"interactions", interactions}};
        const auto start = Clock::now();
        const loupe::testing::MockRunResult run = host.Run(Tree(), options);
        const double seconds = Seconds(start);
        if (!run.ok()) {
          std::fprintf(stderr, "shap.tree failed: %s\n", run.error.c_str());
          return 1;
        }
        if (!interactions && threads == 1) {
          for (const auto& row : run.json["values"]) {
            for (const auto& output : row) {
              for (const auto& v : output) ours.push_back(v.get<double>());
            }
          }
        }
        std::printf("%-16s %-26s %8d %12.0f %12.4f\n", name, interactions ? "shap.tree interactions" : "shap.tree",
                    threads, static_cast<double>(options.rows.size()) / seconds, seconds);
      }
    }

    // The algorithm alone (no mock host: its JSON results and the test evaluator's margins dominate the
    // end-to-end figures above): path-dependent values of every row, rows split over `threads` threads.
    {
      loupe::sdk::DatasetInfo info;
      info.n_rows = n;
      for (const auto& column : data.features) info.features.push_back({column.name, column.type, column.levels, 0});
      const loupe::shap::TreeModel model(*ensemble->capability(), info);
      std::vector<double> x(static_cast<std::size_t>(n * f));
      for (std::int64_t j = 0; j < f; ++j) {
        for (std::int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(i * f + j)] = data.features[j].values[static_cast<std::size_t>(i)];
      }
      const std::int64_t k = model.n_outputs();
      for (const int threads : {1, 2}) {
        std::vector<double> phi(static_cast<std::size_t>(n * k * f), 0.0);
        const auto start = Clock::now();
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) {
          pool.emplace_back([&, t] {
            std::vector<loupe::shap::PathElement> path(model.PathBufferSize());
            for (std::int64_t i = t; i < n; i += threads) {
              for (const auto& tree : model.trees()) {
                model.PathDependent(tree, x.data() + i * f, 0, -1, path.data(), phi.data() + (i * k + tree.output) * f);
              }
            }
          });
        }
        for (auto& thread : pool) thread.join();
        const double seconds = Seconds(start);
        double worst = 0;
        for (std::size_t i = 0; i < phi.size() && !ours.empty(); ++i) worst = std::max(worst, std::fabs(phi[i] - ours[i]));
        std::printf("%-16s %-26s %8d %12.0f %12.4f   max |diff| vs shap.tree %.2e\n", name, "TreeSHAP core (no host)",
                    threads, static_cast<double>(n) / seconds, seconds, worst);
      }
    }

    XgbApi xgb;
    if (!xgb.Load()) {
      std::printf("%-16s %-26s (libxgboost.so.0 not found: no side-by-side)\n", name, "xgboost pred_contribs");
      continue;
    }
    std::vector<float> matrix(static_cast<std::size_t>(n * f));
    for (std::int64_t j = 0; j < f; ++j) {
      for (std::int64_t i = 0; i < n; ++i) matrix[static_cast<std::size_t>(i * f + j)] = static_cast<float>(data.features[j].values[static_cast<std::size_t>(i)]);
    }
    XgbApi::Handle dmatrix = nullptr, booster = nullptr;
    if (xgb.dmatrix_from_mat(matrix.data(), static_cast<std::uint64_t>(n), static_cast<std::uint64_t>(f), NAN, &dmatrix) != 0 ||
        xgb.booster_create(&dmatrix, 1, &booster) != 0 ||
        xgb.booster_load(booster, (fixtures + "/" + name + ".json").c_str()) != 0) {
      std::printf("xgboost: %s\n", xgb.last_error());
      return 1;
    }
    for (const int threads : {1, 2}) {
      xgb.booster_set_param(booster, "nthread", std::to_string(threads).c_str());
      std::uint64_t length = 0;
      const float* result = nullptr;
      const auto start = Clock::now();
      if (xgb.booster_predict(booster, dmatrix, /*option_mask pred_contribs*/ 4, 0, 0, &length, &result) != 0) {
        std::printf("xgboost: %s\n", xgb.last_error());
        return 1;
      }
      const double seconds = Seconds(start);
      // Agreement on the same rows (XGBoost: [n][K][F+1], bias last; ours: [n][K][F]).
      double worst = 0;
      const std::int64_t k = ensemble->n_outputs();
      for (std::int64_t i = 0; i < n && !ours.empty(); ++i) {
        for (std::int64_t o = 0; o < k; ++o) {
          for (std::int64_t j = 0; j < f; ++j) {
            const double theirs = result[(i * k + o) * (f + 1) + j];
            worst = std::max(worst, std::fabs(theirs - ours[static_cast<std::size_t>((i * k + o) * f + j)]));
          }
        }
      }
      std::printf("%-16s %-26s %8d %12.0f %12.4f   max |diff| vs shap.tree %.2e\n", name, "xgboost pred_contribs",
                  threads, static_cast<double>(n) / seconds, seconds, worst);
    }
    xgb.dmatrix_free(dmatrix);
    xgb.booster_free(booster);
  }
  return 0;
}
