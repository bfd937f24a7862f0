// The coalition games' model loop allocates nothing once a thread has warmed up (docs/architecture.md §4):
// this binary replaces the C allocator (malloc and friends, which operator new ends in) with counting
// wrappers and counts what repeated CoalitionGame::Evaluate calls allocate on one thread, with the
// coalitions sent through the "row_variants" capability (the mock's capability allocates nothing itself,
// unlike the mock's model_predict, which copies every batch and so cannot be counted here; the model's
// side, NativeModel::PredictVariants, is counted by tests/core/model_alloc).
//
// Under AddressSanitizer and ThreadSanitizer the allocator belongs to the sanitizer: the counting is
// compiled out and the test skips (the Release suite runs it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "background.hpp"
#include "coalition_game.hpp"
#include "loupe/c/loupe_plugin.h"
#include "loupe/sdk/host.hpp"
#include "shap_test_support.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LOUPE_SHAP_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LOUPE_SHAP_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef LOUPE_SHAP_COUNT_ALLOCATIONS
#define LOUPE_SHAP_COUNT_ALLOCATIONS 1
#endif

namespace {

// Counted only on a thread that asked for it, so the test framework's other threads do not count.
thread_local bool counting_allocations = false;
thread_local std::size_t counted_allocations = 0;

[[maybe_unused]] void NoteAllocation() {
  if (counting_allocations) ++counted_allocations;
}

}  // namespace

#if LOUPE_SHAP_COUNT_ALLOCATIONS
// glibc's own entry points, which the wrappers below forward to.
extern "C" {
void* __libc_malloc(std::size_t size);
void __libc_free(void* pointer);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* pointer, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);

void* malloc(std::size_t size) {
  NoteAllocation();
  return __libc_malloc(size);
}
void free(void* pointer) { __libc_free(pointer); }
void* calloc(std::size_t count, std::size_t size) {
  NoteAllocation();
  return __libc_calloc(count, size);
}
void* realloc(void* pointer, std::size_t size) {
  NoteAllocation();
  return __libc_realloc(pointer, size);
}
void* memalign(std::size_t alignment, std::size_t size) {
  NoteAllocation();
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
  NoteAllocation();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  NoteAllocation();
  void* pointer = __libc_memalign(alignment, size);
  if (pointer == nullptr) return ENOMEM;
  *out = pointer;
  return 0;
}
}
#endif

namespace {

using namespace shap_test_support;  // NOLINT(google-build-using-namespace)

constexpr std::int64_t kAllocWidth = 6;

// A capability that allocates nothing: the variant rows built on the stack, a linear score.
LoupeStatus LinearVariants(LoupeHost* /*host*/, const LoupeTensorView* base, std::int64_t n_variants,
                           const std::int64_t* offsets, const std::int64_t* columns, const double* values,
                           LoupeOutputSpace /*space*/, double* out, std::int64_t capacity) {
  const std::int64_t n = base->shape[0];
  if (base->shape[1] != kAllocWidth || capacity < n_variants * n) return LOUPE_ERROR_INVALID_ARGUMENT;
  double row[kAllocWidth];
  for (std::int64_t v = 0; v < n_variants; ++v) {
    for (std::int64_t r = 0; r < n; ++r) {
      std::copy_n(static_cast<const double*>(base->data) + r * kAllocWidth, kAllocWidth, row);
      for (std::int64_t k = offsets[v]; k < offsets[v + 1]; ++k) row[columns[k]] = values[k];
      double score = 0;
      for (std::int64_t j = 0; j < kAllocWidth; ++j) score += static_cast<double>(j + 1) * row[j];
      out[v * n + r] = score;
    }
  }
  return LOUPE_OK;
}

// What the explain call measured: allocations of the warm-up and of the counted repeats.
struct EvaluateCounts {
  std::size_t warm_up = 0, steady = 0;
  bool used_variants = false;
};
EvaluateCounts counts;

// An "explainer" whose explain call plays a coalition game directly: Evaluate over 300 units (several
// calls of max_batch_rows), once to warm the thread's scratch up, then five times counted.
LoupeStatus CountingExplain(const LoupeExplainerInstance* /*instance*/, const LoupeHostApi* api,
                            LoupeHost* raw_host, LoupeResultBuilder* /*result*/) {
  const loupe::sdk::Host host(api, raw_host);
  const loupe::shap::Setup setup = loupe::shap::Configure(host, "alloc");
  const loupe::sdk::Matrix x = host.Features();
  const loupe::shap::Background background = loupe::shap::ResolveBackground(host, x);
  const loupe::shap::CoalitionGame game(host, x, setup.players, background, LOUPE_OUTPUT_RAW, 1,
                                        setup.max_batch_rows);
  counts.used_variants = host.Capability<LoupeRowVariants>() != nullptr;
  const auto describe = [&](std::int64_t unit, unsigned char* mask) {
    for (std::int64_t p = 0; p < game.players(); ++p) mask[p] = static_cast<unsigned char>((unit >> p) & 1);
    return std::int64_t{40 + unit % 3};
  };
  constexpr std::int64_t kUnits = 300;
  std::vector<double> values(kUnits);
  counted_allocations = 0;
  counting_allocations = true;
  game.Evaluate(0, kUnits, describe, values.data());
  counting_allocations = false;
  counts.warm_up = counted_allocations;
  counted_allocations = 0;
  counting_allocations = true;
  for (int repeat = 0; repeat < 5; ++repeat) game.Evaluate(0, kUnits, describe, values.data());
  counting_allocations = false;
  counts.steady = counted_allocations;
  return LOUPE_OK;
}

TEST(ShapAllocation, CoalitionGameThroughRowVariantsAllocatesNothingInTheSteadyState) {
  if (!LOUPE_SHAP_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocations are not counted under a sanitizer";
  static const LoupeRowVariants variants{sizeof(LoupeRowVariants), 0, &LinearVariants};
  MockModel model = Regressor(kAllocWidth, [](const double* row) { return row[0]; });
  model.capabilities = {LOUPE_ROW_VARIANTS_CAPABILITY};
  model.capability_structs[LOUPE_ROW_VARIANTS_CAPABILITY] = &variants;
  // The kernel explainer's parameter specs (background, max_batch_rows, ...), this test's explain call.
  LoupeExplainerVTable vtable = Explainer("shap.kernel");
  vtable.explain = &CountingExplain;
  MockRunOptions options;
  options.params = {{"background", 25}, {"max_batch_rows", 700}};  // 28 units per call: 11 calls
  options.rows = {40, 41, 42};
  const MockRunResult run = MockHost(NormalData(60, kAllocWidth, 3), model).Run(vtable, options);
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_TRUE(counts.used_variants);
  EXPECT_GT(counts.warm_up, 0u);  // the counting sees the scratch's first allocations
  EXPECT_EQ(counts.steady, 0u) << "allocations over 5 Evaluate calls of 300 coalitions";
}

}  // namespace
