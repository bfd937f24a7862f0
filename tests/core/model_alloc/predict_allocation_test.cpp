// Predict into the caller's buffer allocates nothing once a thread has warmed up (docs/architecture.md §4):
// this binary replaces the C allocator (malloc and friends, which operator new and oneDNN both end in) with
// counting wrappers and counts what repeated FeatureModel::PredictInto calls on one thread allocate.
//
// Under AddressSanitizer the allocator belongs to the sanitizer: the counting is compiled out and the tests
// skip (the Release suite runs them).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/row_variants.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define LOUPE_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOUPE_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef LOUPE_COUNT_ALLOCATIONS
#define LOUPE_COUNT_ALLOCATIONS 1
#endif

namespace {

// Counted only on a thread that asked for it, so TBB's or the test framework's own threads do not count.
thread_local bool counting = false;
thread_local std::size_t allocations = 0;
thread_local std::size_t allocated_bytes = 0;
thread_local std::size_t largest_allocation = 0;

[[maybe_unused]] void Note(std::size_t bytes) {
  if (!counting) return;
  ++allocations;
  allocated_bytes += bytes;
  if (bytes > largest_allocation) largest_allocation = bytes;
}

}  // namespace

#if LOUPE_COUNT_ALLOCATIONS
// glibc's own entry points, which the wrappers below forward to.
extern "C" {
void* __libc_malloc(std::size_t size);
void __libc_free(void* pointer);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* pointer, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);

void* malloc(std::size_t size) {
  Note(size);
  return __libc_malloc(size);
}
void free(void* pointer) { __libc_free(pointer); }
void* calloc(std::size_t count, std::size_t size) {
  Note(count * size);
  return __libc_calloc(count, size);
}
void* realloc(void* pointer, std::size_t size) {
  Note(size);
  return __libc_realloc(pointer, size);
}
void* memalign(std::size_t alignment, std::size_t size) {
  Note(size);
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
  Note(size);
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  Note(size);
  void* pointer = __libc_memalign(alignment, size);
  if (pointer == nullptr) return ENOMEM;
  *out = pointer;
  return 0;
}
}
#endif

namespace loupe {
namespace {

const std::filesystem::path kSource = LOUPE_SOURCE_DIR;
const std::filesystem::path kData = LOUPE_TEST_DATA_DIR;

// What the calls inside one Count() allocated on this thread.
struct Counted {
  std::size_t allocations = 0, bytes = 0, largest = 0;
};

template <typename Body>
Counted Count(const Body& body) {
  allocations = allocated_bytes = largest_allocation = 0;
  counting = true;
  body();
  counting = false;
  return {allocations, allocated_bytes, largest_allocation};
}

// A model over the first rows of a CSV, through the host's column mapping, with an output buffer.
struct LoadedModel {
  std::shared_ptr<const FeatureModel> model;
  Tensor matrix;
  std::vector<double> out;

  Status Predict(std::int64_t rows, OutputSpace space) {
    out.resize(static_cast<std::size_t>(rows) * model->model().Info().OutputNames(space).size());
    return model->PredictInto(matrix.view().Rows(0, rows), space, out);
  }
};

// A void helper so that its ASSERTs stop the test: call it through ASSERT_NO_FATAL_FAILURE.
void Load(const std::filesystem::path& model_path, const std::filesystem::path& csv, LoadedModel* out) {
  auto model = LoadModel(model_path);
  ASSERT_TRUE(model.ok()) << model.status().message();
  std::vector<std::string> names;
  CsvOptions options;
  for (const ModelInput& input : (*model)->Info().inputs) {
    names.push_back(input.name);
    if (input.type == ColumnType::kCategorical) options.categorical.push_back(input.name);
  }
  auto data = ReadCsv(csv, options);
  ASSERT_TRUE(data.ok()) << data.status().message();
  auto feature_model = FeatureModel::Create(*model, *data, names);
  ASSERT_TRUE(feature_model.ok()) << feature_model.status().message();
  auto matrix = data->Matrix(names);
  ASSERT_TRUE(matrix.ok()) << matrix.status().message();
  // At least 4454 rows (the credit data's count), the data repeated when it is shorter.
  const std::int64_t rows = std::max<std::int64_t>(matrix->dim(0), 4454);
  const auto width = static_cast<std::int64_t>(names.size());
  Tensor tiled(DType::kF64, {rows, width});
  for (std::int64_t row = 0; row < rows; ++row) {
    std::copy_n(matrix->data<double>() + (row % matrix->dim(0)) * width, width,
                tiled.data<double>() + row * width);
  }
  *out = {*feature_model, std::move(tiled), {}};
}

// The credit MLP computed by the double-precision reference path (`precision: f64`).
std::filesystem::path CreditMlpInF64() {
  const auto dir = std::filesystem::temp_directory_path() / ("loupe-alloc-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto fixtures = kSource / "tests/fixtures/models";
  std::ifstream in(fixtures / "credit_mlp.yaml");
  std::ofstream out(dir / "credit_mlp_f64.yaml");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("weights: ", 0) == 0) {
      out << "weights: " << (fixtures / line.substr(9)).string() << "\nprecision: f64\n";
    } else {
      out << line << "\n";
    }
  }
  return dir / "credit_mlp_f64.yaml";
}

// Rows to predict: one row, a small batch, and more than one gather chunk (4096 rows) with a remainder.
constexpr std::int64_t kBatches[] = {1, 64, 4454};

// Warms the thread up on every batch size and space, then predicts each again and expects no allocation.
void ExpectNoSteadyStateAllocation(LoadedModel& loaded) {
  if (!LOUPE_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocations are not counted under AddressSanitizer";
  const std::int64_t rows = loaded.matrix.dim(0);
  for (const OutputSpace space : {OutputSpace::kProbability, OutputSpace::kRaw}) {
    for (const std::int64_t batch : kBatches) {
      const std::int64_t n = std::min(batch, rows);
      ASSERT_TRUE(loaded.Predict(n, space).ok());
      // The view of the caller's rows is the caller's: built outside the counted region.
      const TensorView view = loaded.matrix.view().Rows(0, n);
      const std::span<double> out(loaded.out);
      bool ok = true;
      const Counted counted = Count([&] {
        for (int repeat = 0; repeat < 5; ++repeat)
          ok = ok && loaded.model->PredictInto(view, space, out).ok();
      });
      EXPECT_TRUE(ok);
      EXPECT_EQ(counted.allocations, 0u)
          << counted.bytes << " bytes in " << counted.allocations << " allocations over 5 predictions of "
          << n << " rows (" << OutputSpaceName(space) << ")";
    }
  }
}

TEST(PredictAllocationTest, CountingSeesAnAllocation) {
  if (!LOUPE_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocations are not counted under AddressSanitizer";
  const Counted counted = Count([] {
    auto* values = new std::vector<double>(1000);
    delete values;
  });
  EXPECT_GE(counted.allocations, 2u);
  EXPECT_GE(counted.bytes, 8000u);
}

TEST(PredictAllocationTest, XGBoostAllocatesNothingInTheSteadyState) {
  LoadedModel loaded;
  ASSERT_NO_FATAL_FAILURE(
      Load(kSource / "tests/fixtures/xgboost/credit_xgb.json", kData / "credit_data.csv", &loaded));
  ExpectNoSteadyStateAllocation(loaded);
}

TEST(PredictAllocationTest, NativeF64ReferencePathAllocatesNothingInTheSteadyState) {
  LoadedModel loaded;
  ASSERT_NO_FATAL_FAILURE(Load(CreditMlpInF64(), kData / "credit_data.csv", &loaded));
  ExpectNoSteadyStateAllocation(loaded);
}

// The "row_variants" path (loupe/core/row_variants.hpp) of the same model in f64 and on its default f32
// path: a grid of 20 one-input variants and one changing 12 of the 13 inputs (the f32 path sums it from
// the variant's side) over 600 base rows (several blocks) borrows all its buffers from per-thread scratch.
TEST(PredictAllocationTest, RowVariantsAllocateNothingInTheSteadyState) {
  if (!LOUPE_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocations are not counted under AddressSanitizer";
  for (const std::filesystem::path& path :
       {CreditMlpInF64(), kSource / "tests/fixtures/models/credit_mlp.yaml"}) {
    auto model = LoadModel(path);
    ASSERT_TRUE(model.ok()) << model.status().message();
    const RowVariantModel* variants = (*model)->row_variant_model();
    ASSERT_NE(variants, nullptr) << path;
    LoadedModel loaded;
    ASSERT_NO_FATAL_FAILURE(Load(path, kData / "credit_data.csv", &loaded));
    const TensorView base = loaded.matrix.view().Rows(0, 600);  // in the model's input order and coding
    std::vector<std::int64_t> offsets = {0}, inputs;
    std::vector<double> values;
    for (int v = 0; v < 20; ++v) {
      inputs.push_back(v % 2 == 0 ? 8 : 1);  // Income (numeric), Home (categorical)
      values.push_back(v % 2 == 0 ? 10.0 * v : static_cast<double>(v % 6));
      offsets.push_back(static_cast<std::int64_t>(inputs.size()));
    }
    for (std::int64_t input = 1; input < 13; ++input) {
      inputs.push_back(input);
      values.push_back(1.0);
    }
    offsets.push_back(static_cast<std::int64_t>(inputs.size()));
    const RowVariants grid{offsets, inputs, values};
    std::vector<double> out(21 * 600 * 2);
    ASSERT_TRUE(variants->PredictVariants(base, grid, OutputSpace::kProbability, out).ok());
    bool ok = true;
    const Counted counted = Count([&] {
      for (int repeat = 0; repeat < 5; ++repeat)
        ok = ok && variants->PredictVariants(base, grid, OutputSpace::kProbability, out).ok();
    });
    EXPECT_TRUE(ok);
    EXPECT_EQ(counted.allocations, 0u)
        << path << ": " << counted.bytes << " bytes in " << counted.allocations << " allocations";
  }
}

// The f32 path runs its layers on oneDNN primitives that each thread keeps bound to their memory objects
// (core/src/nn/runtime.hpp): Loupe allocates nothing per call. What remains is oneDNN 2.6's own argument
// map, built inside dnnl_primitive_execute on every execution (4 to 7 allocations under 128 bytes per
// primitive): the same count at any batch size, never more than 8 per layer.
TEST(PredictAllocationTest, NativeNetworkAllocatesOnlyOneDnnBookkeepingInTheSteadyState) {
  if (!LOUPE_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocations are not counted under AddressSanitizer";
  for (const auto& [model, csv] :
       {std::pair{"credit_mlp", "credit_data.csv"}, std::pair{"breast_cancer_mlp", "breast_cancer.csv"}}) {
    LoadedModel loaded;
    ASSERT_NO_FATAL_FAILURE(
        Load(kSource / "tests/fixtures/models" / (std::string(model) + ".yaml"), kData / csv, &loaded));
    std::vector<Counted> per_batch;
    for (const std::int64_t batch : {std::int64_t{1}, std::int64_t{2048}}) {
      ASSERT_TRUE(loaded.Predict(batch, OutputSpace::kProbability).ok());
      const TensorView view = loaded.matrix.view().Rows(0, batch);
      const std::span<double> out(loaded.out);
      per_batch.push_back(
          Count([&] { (void)loaded.model->PredictInto(view, OutputSpace::kProbability, out); }));
      RecordProperty(std::string(model) + "_allocations_at_" + std::to_string(batch),
                     std::to_string(per_batch.back().allocations));
    }
    // 2048 rows (one chunk of activations, 2048 × 64 f32 = 512 KB per layer) allocate what one row does.
    std::cout << model << ": " << per_batch[0].allocations << " allocations (" << per_batch[0].bytes
              << " bytes) at 1 row, " << per_batch[1].allocations << " (" << per_batch[1].bytes
              << " bytes) at 2048 rows, the largest " << per_batch[1].largest << " bytes\n";
    EXPECT_EQ(per_batch[1].allocations, per_batch[0].allocations) << model;
    EXPECT_LE(per_batch[1].allocations, 8 * 8u) << model;  // at most 8 layers in these models
    EXPECT_LT(per_batch[1].largest, 256u) << model;
  }
}

}  // namespace
}  // namespace loupe
