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
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "fast_tree_shap.hpp"
#include "loupe/c/loupe_plugin.h"
#include "loupe/testing/conformance.hpp"
#include "tree_model.hpp"
#include "xgboost_fixture.hpp"

extern "C" const LoupePluginEntryFn loupe_plugin_entry_v1;

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

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
    auto get = [lib](auto* fn, const char* name) {
      *fn = reinterpret_cast<std::remove_pointer_t<decltype(fn)>>(dlsym(lib, name));
    };
    get(&booster_create, "XGBoosterCreate");
    get(&booster_load, "XGBoosterLoadModel");
    get(&booster_set_param, "XGBoosterSetParam");
    get(&dmatrix_from_mat, "XGDMatrixCreateFromMat");
    get(&booster_predict, "XGBoosterPredict");
    get(&dmatrix_free, "XGDMatrixFree");
    get(&booster_free, "XGBoosterFree");
    get(&last_error, "XGBGetLastError");
    return booster_create && booster_load && booster_set_param && dmatrix_from_mat && booster_predict &&
           dmatrix_free && booster_free && last_error;
  }
};

const LoupeExplainerVTable& Tree() {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  return *loupe::testing::FindExplainer(*info, "shap.tree");
}

// A complete tree of depth `depth` over `n_features` inputs with random splits (thresholds drawn from the
// data's values), random positive leaf covers (inner covers their sums) and random leaf values.
struct SyntheticTree {
  std::vector<std::int32_t> left, right, feature;
  std::vector<double> threshold, value, cover;
  std::vector<std::uint8_t> default_left, is_leaf, is_categorical;
  std::vector<std::int64_t> offsets;
  LoupeTree tree{};

  SyntheticTree(int depth, std::int32_t n_features, const std::vector<double>& x, std::mt19937_64* random) {
    const std::int32_t n = (2 << depth) - 1, inner = (1 << depth) - 1;
    std::uniform_int_distribution<std::int32_t> pick_feature(0, n_features - 1);
    std::uniform_int_distribution<std::size_t> pick_row(0,
                                                        x.size() / static_cast<std::size_t>(n_features) - 1);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    for (std::int32_t i = 0; i < n; ++i) {
      const bool leaf = i >= inner;
      const std::int32_t j = pick_feature(*random);
      left.push_back(leaf ? -1 : 2 * i + 1);
      right.push_back(leaf ? -1 : 2 * i + 2);
      feature.push_back(leaf ? -1 : j);
      threshold.push_back(
          leaf ? NAN
               : x[pick_row(*random) * static_cast<std::size_t>(n_features) + static_cast<std::size_t>(j)]);
      value.push_back(leaf ? uniform(*random) - 0.5 : 0.0);
      cover.push_back(leaf ? 1.0 + 9.0 * uniform(*random) : 0.0);
      default_left.push_back(uniform(*random) < 0.5 ? 1 : 0);
      is_leaf.push_back(leaf ? 1 : 0);
    }
    for (std::int32_t i = inner - 1; i >= 0; --i)
      cover[static_cast<std::size_t>(i)] =
          cover[static_cast<std::size_t>(2 * i + 1)] + cover[static_cast<std::size_t>(2 * i + 2)];
    is_categorical.assign(static_cast<std::size_t>(n), 0);
    offsets.assign(static_cast<std::size_t>(n) + 1, 0);
    tree.struct_size = sizeof(LoupeTree);
    tree.n_nodes = n;
    tree.max_depth = depth;
    tree.left = left.data();
    tree.right = right.data();
    tree.feature = feature.data();
    tree.threshold = threshold.data();
    tree.default_left = default_left.data();
    tree.is_leaf = is_leaf.data();
    tree.is_categorical = is_categorical.data();
    tree.value = value.data();
    tree.cover = cover.data();
    tree.category_offsets = offsets.data();
  }
};

// Algorithm 2 against the leaf tables on synthetic ensembles deeper than the fixtures (1 thread, the
// tables' build included), where the gain of O(L D) over O(L D^2) shows; fewer rows as the depth grows.
void SyntheticDepths(const loupe::testing::MockDataset& data, std::int64_t n_rows) {
  const auto f = static_cast<std::int32_t>(data.cols());
  std::vector<double> x(static_cast<std::size_t>(n_rows * f));
  for (std::int32_t j = 0; j < f; ++j) {
    for (std::int64_t i = 0; i < n_rows; ++i)
      x[static_cast<std::size_t>(i * f + j)] =
          data.features[static_cast<std::size_t>(j)].values[static_cast<std::size_t>(i)];
  }
  loupe::sdk::DatasetInfo info;
  info.n_rows = n_rows;
  std::vector<LoupeColumnInfo> columns;
  for (const auto& column : data.features) {
    info.features.push_back({column.name, column.type, column.levels, 0});
    columns.push_back(
        LoupeColumnInfo{sizeof(LoupeColumnInfo), LOUPE_FEATURE_NUMERIC, column.name.c_str(), nullptr, 0, 0});
  }
  std::mt19937_64 random(7);
  for (const int depth : {4, 6, 8, 10}) {
    const std::int64_t n = depth <= 6 ? n_rows : n_rows >> (depth - 6);  // Algorithm 2 slows as L D^2
    std::vector<std::unique_ptr<SyntheticTree>> trees;
    std::vector<const LoupeTree*> pointers;
    for (int t = 0; t < 50; ++t) {
      trees.push_back(std::make_unique<SyntheticTree>(depth, f, x, &random));
      pointers.push_back(&trees.back()->tree);
    }
    const double base_margin = 0.0;
    LoupeTreeEnsemble ensemble{};
    ensemble.struct_size = sizeof(ensemble);
    ensemble.split_rule = LOUPE_TREE_SPLIT_LESS;
    ensemble.link = LOUPE_TREE_LINK_IDENTITY;
    ensemble.max_depth = depth;
    ensemble.n_outputs = 1;
    ensemble.base_margin = &base_margin;
    ensemble.n_features = f;
    ensemble.features = columns.data();
    ensemble.n_trees = static_cast<std::int64_t>(pointers.size());
    ensemble.trees = pointers.data();
    const loupe::shap::TreeModel model(ensemble, info);

    std::vector<double> reference(static_cast<std::size_t>(n * f), 0.0), phi = reference;
    auto start = Clock::now();
    std::vector<loupe::shap::PathElement> path(model.PathBufferSize());
    for (std::int64_t i = 0; i < n; ++i) {
      for (const auto& tree : model.trees())
        model.PathDependent(tree, x.data() + i * f, 0, -1, path.data(), reference.data() + i * f);
    }
    const double slow = Seconds(start);
    start = Clock::now();
    loupe::shap::FastTreeShap fast(model);
    fast.BuildAllTables();
    const double build = Seconds(start);
    loupe::shap::FastTreeShap::Scratch scratch = fast.MakeScratch();
    for (std::int64_t i = 0; i < n; ++i) fast.Row(x.data() + i * f, &scratch, phi.data() + i * f);
    const double quick = Seconds(start);
    double worst = 0;
    for (std::size_t i = 0; i < phi.size(); ++i) worst = std::max(worst, std::fabs(phi[i] - reference[i]));
    std::printf(
        "synthetic d=%-2d   50 trees: Algorithm 2 %9.0f rows/s, tables %9.0f rows/s (%lld/50 trees, build "
        "%.4f s), "
        "x%.1f, max |diff| %.1e\n",
        depth, static_cast<double>(n) / slow, static_cast<double>(n) / quick,
        static_cast<long long>(fast.n_fast_trees()), build, slow / quick, worst);
  }
}

using EnsemblePtr = std::shared_ptr<const loupe::shap::testing::XgbEnsemble>;

// The rows of diabetes.csv repeated `repeat` times.
loupe::testing::MockDataset RepeatedDiabetes(int repeat) {
  const std::vector<std::string> order = {"age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"};
  loupe::testing::MockDataset base =
      loupe::shap::testing::CsvDataset(std::string(LOUPE_TEST_DATA) + "/diabetes.csv", order, {});
  loupe::testing::MockDataset data = base;
  for (auto& column : data.features) {
    column.values.clear();
    for (int k = 0; k < repeat; ++k)
      column.values.insert(column.values.end(), base.features[&column - &data.features[0]].values.begin(),
                           base.features[&column - &data.features[0]].values.end());
  }
  return data;
}

// shap.tree end to end through the mock host, with and without interactions, on 1 and 2 threads. `ours`
// receives the values of the single-threaded run without interactions. False when shap.tree failed.
bool BenchShapTree(const char* name, const loupe::testing::MockDataset& data, const EnsemblePtr& ensemble,
                   std::vector<double>* ours) {
  const std::int64_t n = data.rows();
  std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) rows[static_cast<std::size_t>(i)] = i;
  const loupe::testing::MockHost host(data, loupe::shap::testing::XgbModel(ensemble, data));
  for (const bool interactions : {false, true}) {
    for (const int threads : {1, 2}) {
      loupe::testing::MockRunOptions options;
      options.rows = interactions ? std::vector<std::int64_t>(rows.begin(),
                                                              rows.begin() + std::min<std::int64_t>(n, 2000))
                                  : rows;
      options.threads = threads;
      options.params = {{"interactions", interactions}};
      const auto start = Clock::now();
      const loupe::testing::MockRunResult run = host.Run(Tree(), options);
      const double seconds = Seconds(start);
      if (!run.ok()) {
        std::fprintf(stderr, "shap.tree failed: %s\n", run.error.c_str());
        return false;
      }
      if (!interactions && threads == 1) {
        for (const auto& row : run.json["values"]) {
          for (const auto& output : row) {
            for (const auto& v : output) ours->push_back(v.get<double>());
          }
        }
      }
      std::printf("%-16s %-26s %8d %12.0f %12.4f\n", name,
                  interactions ? "shap.tree interactions" : "shap.tree", threads,
                  static_cast<double>(options.rows.size()) / seconds, seconds);
    }
  }
  return true;
}

// The algorithm alone (no mock host: its JSON results and the test evaluator's margins dominate the
// end-to-end figures): path-dependent values of every row, rows split over `threads` threads, then
// FastTreeSHAP v2's leaf tables (what shap.tree runs), the table build counted in the time.
void BenchTreeShapCore(const char* name, const loupe::testing::MockDataset& data, const EnsemblePtr& ensemble,
                       const std::vector<double>& ours) {
  const std::int64_t n = data.rows();
  const std::int64_t f = data.cols();
  loupe::sdk::DatasetInfo info;
  info.n_rows = n;
  for (const auto& column : data.features)
    info.features.push_back({column.name, column.type, column.levels, 0});
  const loupe::shap::TreeModel model(*ensemble->capability(), info);
  std::vector<double> x(static_cast<std::size_t>(n * f));
  for (std::int64_t j = 0; j < f; ++j) {
    for (std::int64_t i = 0; i < n; ++i)
      x[static_cast<std::size_t>(i * f + j)] = data.features[j].values[static_cast<std::size_t>(i)];
  }
  const std::int64_t k = model.n_outputs();
  auto worst_difference = [&](const std::vector<double>& phi) {
    double worst = 0;
    for (std::size_t i = 0; i < phi.size() && !ours.empty(); ++i)
      worst = std::max(worst, std::fabs(phi[i] - ours[i]));
    return worst;
  };
  for (const int threads : {1, 2}) {
    std::vector<double> phi(static_cast<std::size_t>(n * k * f), 0.0);
    const auto start = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        std::vector<loupe::shap::PathElement> path(model.PathBufferSize());
        for (std::int64_t i = t; i < n; i += threads) {
          for (const auto& tree : model.trees()) {
            model.PathDependent(tree, x.data() + i * f, 0, -1, path.data(),
                                phi.data() + (i * k + tree.output) * f);
          }
        }
      });
    }
    for (auto& thread : pool) thread.join();
    const double seconds = Seconds(start);
    std::printf("%-16s %-26s %8d %12.0f %12.4f   max |diff| vs shap.tree %.2e\n", name,
                "TreeSHAP core (no host)", threads, static_cast<double>(n) / seconds, seconds,
                worst_difference(phi));
  }
  for (const int threads : {1, 2}) {
    std::vector<double> phi(static_cast<std::size_t>(n * k * f), 0.0);
    const auto start = Clock::now();
    loupe::shap::FastTreeShap fast(model);
    fast.BuildAllTables();
    const double build = Seconds(start);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        loupe::shap::FastTreeShap::Scratch scratch = fast.MakeScratch();
        for (std::int64_t i = t; i < n; i += threads)
          fast.Row(x.data() + i * f, &scratch, phi.data() + i * k * f);
      });
    }
    for (auto& thread : pool) thread.join();
    const double seconds = Seconds(start);
    std::printf(
        "%-16s %-26s %8d %12.0f %12.4f   max |diff| vs shap.tree %.2e (tables %lld/%zu trees, %.4f s)\n",
        name, "FastTreeSHAP core", threads, static_cast<double>(n) / seconds, seconds, worst_difference(phi),
        static_cast<long long>(fast.n_fast_trees()), model.trees().size(), build);
  }
}

// Interaction values and interventional values, the algorithm alone on one thread: the leaf tables
// (fast_tree_shap.hpp, their build included) against what they replace, XGBoost's conditional passes and
// the recursion per background row (the same object with no room for tables), and the largest difference.
void BenchTablesAgainstFallbacks(const char* name, const loupe::testing::MockDataset& data,
                                 const EnsemblePtr& ensemble) {
  const std::int64_t f = data.cols();
  loupe::sdk::DatasetInfo info;
  info.n_rows = data.rows();
  for (const auto& column : data.features)
    info.features.push_back({column.name, column.type, column.levels, 0});
  const loupe::shap::TreeModel model(*ensemble->capability(), info);
  std::vector<double> x(static_cast<std::size_t>(data.rows() * f));
  for (std::int64_t j = 0; j < f; ++j) {
    for (std::int64_t i = 0; i < data.rows(); ++i)
      x[static_cast<std::size_t>(i * f + j)] = data.features[j].values[static_cast<std::size_t>(i)];
  }
  const std::int64_t k = model.n_outputs();
  for (const bool interventional : {false, true}) {
    const std::int64_t n = std::min<std::int64_t>(data.rows(), interventional ? 400 : 2000);
    std::vector<double> results[2];
    double seconds[2] = {0, 0};
    for (const int tabulated : {0, 1}) {
      loupe::shap::FastTreeShapOptions options;
      if (tabulated == 0) options.limits = {12, 0};
      options.interactions = !interventional;
      if (interventional) {
        for (std::int64_t r = 100; r < 200; ++r) options.background.push_back(x.data() + r * f);
        options.explained_rows = n;
      }
      const auto start = Clock::now();
      loupe::shap::FastTreeShap fast(model, options);
      fast.BuildAllTables();
      loupe::shap::FastTreeShap::Scratch scratch = fast.MakeScratch();
      std::vector<double>& out = results[tabulated];
      out.assign(static_cast<std::size_t>(n * k * f * (interventional ? 1 : f + 1)), 0.0);
      for (std::int64_t i = 0; i < n; ++i) {
        if (interventional) {
          fast.RowInterventional(x.data() + i * f, &scratch, out.data() + i * k * f);
        } else {
          fast.RowInteractions(x.data() + i * f, &scratch, out.data() + i * k * f * (f + 1),
                               out.data() + i * k * f * (f + 1) + k * f);
        }
      }
      seconds[tabulated] = Seconds(start);
    }
    double worst = 0;
    for (std::size_t i = 0; i < results[0].size(); ++i)
      worst = std::max(worst, std::fabs(results[0][i] - results[1][i]));
    std::printf("%-16s %-26s %8d %12.0f %12.4f   %s %.0f rows/s, x%.1f, max |diff| %.1e\n", name,
                interventional ? "interventional tables" : "interaction tables", 1,
                static_cast<double>(n) / seconds[1], seconds[1],
                interventional ? "recursion per background row (100)" : "conditional passes",
                static_cast<double>(n) / seconds[0], seconds[0] / seconds[1], worst);
  }
}

// XGBoost's own pred_contribs on the same model and rows, when libxgboost.so.0 loads. False on an
// XGBoost error.
bool BenchXgboost(const char* name, const std::string& model_path, const loupe::testing::MockDataset& data,
                  const EnsemblePtr& ensemble, const std::vector<double>& ours) {
  const std::int64_t n = data.rows();
  const std::int64_t f = data.cols();
  XgbApi xgb;
  if (!xgb.Load()) {
    std::printf("%-16s %-26s (libxgboost.so.0 not found: no side-by-side)\n", name, "xgboost pred_contribs");
    return true;
  }
  std::vector<float> matrix(static_cast<std::size_t>(n * f));
  for (std::int64_t j = 0; j < f; ++j) {
    for (std::int64_t i = 0; i < n; ++i)
      matrix[static_cast<std::size_t>(i * f + j)] =
          static_cast<float>(data.features[j].values[static_cast<std::size_t>(i)]);
  }
  XgbApi::Handle dmatrix = nullptr, booster = nullptr;
  if (xgb.dmatrix_from_mat(matrix.data(), static_cast<std::uint64_t>(n), static_cast<std::uint64_t>(f), NAN,
                           &dmatrix) != 0 ||
      xgb.booster_create(&dmatrix, 1, &booster) != 0 || xgb.booster_load(booster, model_path.c_str()) != 0) {
    std::printf("xgboost: %s\n", xgb.last_error());
    return false;
  }
  for (const int threads : {1, 2}) {
    xgb.booster_set_param(booster, "nthread", std::to_string(threads).c_str());
    std::uint64_t length = 0;
    const float* result = nullptr;
    const auto start = Clock::now();
    if (xgb.booster_predict(booster, dmatrix, /*option_mask pred_contribs*/ 4, 0, 0, &length, &result) != 0) {
      std::printf("xgboost: %s\n", xgb.last_error());
      return false;
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
    std::printf("%-16s %-26s %8d %12.0f %12.4f   max |diff| vs shap.tree %.2e\n", name,
                "xgboost pred_contribs", threads, static_cast<double>(n) / seconds, seconds, worst);
  }
  xgb.dmatrix_free(dmatrix);
  xgb.booster_free(booster);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const int repeat = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
  const std::string fixtures = LOUPE_XGBOOST_FIXTURES;
  const loupe::testing::MockDataset data = RepeatedDiabetes(repeat);
  std::printf("%-16s %-26s %8s %12s %12s\n", "model", "method", "threads", "rows/s", "seconds");
  for (const char* name : {"diabetes_xgb", "diabetes3_xgb"}) {
    const std::string model_path = fixtures + "/" + name + ".json";
    const auto ensemble = std::make_shared<const loupe::shap::testing::XgbEnsemble>(model_path);
    std::vector<double> ours;
    if (!BenchShapTree(name, data, ensemble, &ours)) return 1;
    BenchTreeShapCore(name, data, ensemble, ours);
    BenchTablesAgainstFallbacks(name, data, ensemble);
    if (!BenchXgboost(name, model_path, data, ensemble, ours)) return 1;
  }
  SyntheticDepths(data, std::min<std::int64_t>(data.rows(), 2000));
  return 0;
}
