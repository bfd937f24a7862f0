// shap.kernel, shap.exact and shap.permutation through the "row_variants" model capability (loupe_plugin.h
// v1.4): the coalitions are sent as variants of the background rows instead of materialised rows. The
// mock's capability materialises each variant from the changes it is given and evaluates the same function
// as the model, so a coalition whose changes are wrong (a missing or extra column, a value from the wrong
// row, outputs in the wrong order) changes the values; equal capability output gives the same bits as the
// plain path. The host's first-layer arithmetic has its own tests (tests/core/model/row_variants_test.cpp,
// tests/core/plugin/row_variants_host_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "shap_test_support.hpp"

namespace {

using namespace shap_test_support;  // NOLINT(google-build-using-namespace)

constexpr std::int64_t kWidth = 10;

std::atomic<int> variant_calls{0};
std::atomic<std::int64_t> variant_rows{0};
std::atomic<std::int64_t> largest_variant_call{0};

// The capability of a mock model whose score is Wide: every (variant, base row) materialised, then the
// score's two softmax probabilities (or the score itself for raw output), as NonlinearClassifier computes.
LoupeStatus WideVariants(LoupeHost* /*host*/, const LoupeTensorView* base, std::int64_t n_variants,
                         const std::int64_t* offsets, const std::int64_t* columns, const double* values,
                         LoupeOutputSpace space, double* out, std::int64_t capacity) {
  const std::int64_t n = base->shape[0], width = base->shape[1];
  const std::int64_t n_out = space == LOUPE_OUTPUT_RAW ? 1 : 2;
  if (width != kWidth || capacity < n_variants * n * n_out) return LOUPE_ERROR_INVALID_ARGUMENT;
  ++variant_calls;
  variant_rows += n_variants * n;
  std::int64_t seen = largest_variant_call.load();
  while (seen < n_variants * n && !largest_variant_call.compare_exchange_weak(seen, n_variants * n)) {
  }
  std::vector<double> row(static_cast<std::size_t>(width));
  for (std::int64_t v = 0; v < n_variants; ++v) {
    for (std::int64_t r = 0; r < n; ++r) {
      const double* from = static_cast<const double*>(base->data) + r * width;
      std::copy(from, from + width, row.begin());
      for (std::int64_t k = offsets[v]; k < offsets[v + 1]; ++k)
        row[static_cast<std::size_t>(columns[k])] = values[k];
      const double score = Wide(row.data());
      double* cell = out + (v * n + r) * n_out;
      if (n_out == 1) {
        cell[0] = score;
      } else {
        const double p = 1.0 / (1.0 + std::exp(-score));
        cell[0] = 1.0 - p;
        cell[1] = p;
      }
    }
  }
  return LOUPE_OK;
}

MockModel WideWithVariants() {
  static const LoupeRowVariants variants{sizeof(LoupeRowVariants), 0, &WideVariants};
  MockModel model = NonlinearClassifier(kWidth, Wide);
  model.capabilities = {LOUPE_ROW_VARIANTS_CAPABILITY};
  model.capability_structs[LOUPE_ROW_VARIANTS_CAPABILITY] = &variants;
  return model;
}

struct Case {
  const char* explainer;
  nlohmann::json params;
};

// Every coalition explainer, with plain and weighted (k-means) backgrounds, groups, raw output, and a
// batch bound below the background size (one unit's background split over several calls).
std::vector<Case> Cases() {
  const nlohmann::json groups = {{"a", {"x0", "x1"}}, {"b", {"x2"}}, {"c", {"x3", "x4", "x5"}},
                                 {"d", {"x6"}},       {"e", {"x7"}}, {"f", {"x8", "x9"}}};
  return {
      {"shap.kernel", {{"background", 25}, {"nsamples", 300}}},
      {"shap.kernel", {{"background", {{"kmeans", 6}}}, {"nsamples", 200}, {"output", "raw"}}},
      {"shap.kernel", {{"background", 25}, {"nsamples", 120}, {"max_batch_rows", 7}}},
      {"shap.exact", {{"background", 20}}},
      {"shap.exact", {{"background", 30}, {"groups", groups}, {"max_batch_rows", 64}}},
      {"shap.permutation", {{"background", 25}, {"max_evals", 200}}},
      {"shap.permutation", {{"background", {{"kmeans", 5}}}, {"max_evals", 100}, {"max_batch_rows", 3}}},
  };
}

TEST(ShapRowVariants, CoalitionsAsVariantsGiveThePlainPathsBitsOnOneAndTwoThreads) {
  const MockDataset data = NormalData(60, kWidth, 31);
  const MockModel plain = NonlinearClassifier(kWidth, Wide);
  const MockModel with_variants = WideWithVariants();
  const std::vector<std::int64_t> rows = {40, 41, 42, 43, 44};
  for (const Case& c : Cases()) {
    SCOPED_TRACE(std::string(c.explainer) + " " + c.params.dump());
    const MockRunResult reference = RunShap(c.explainer, data, plain, c.params, rows, 1);
    ASSERT_TRUE(reference.ok()) << reference.error;
    const int calls_before = variant_calls.load();
    const std::int64_t rows_before = variant_rows.load();
    largest_variant_call = 0;
    const MockRunResult one = RunShap(c.explainer, data, with_variants, c.params, rows, 1);
    ASSERT_TRUE(one.ok()) << one.error;
    EXPECT_GT(variant_calls.load(), calls_before);
    // Every coalition row went through the capability; only f(x) of the explained rows is predicted.
    EXPECT_EQ(one.predict_rows, static_cast<std::int64_t>(rows.size()));
    EXPECT_EQ(variant_rows.load() - rows_before + one.predict_rows, reference.predict_rows);
    const std::int64_t bound = c.params.value("max_batch_rows", std::int64_t{8192});
    EXPECT_LE(largest_variant_call.load(), bound);
    EXPECT_EQ(one.json["values"].dump(), reference.json["values"].dump());
    EXPECT_EQ(one.json["base_values"].dump(), reference.json["base_values"].dump());
    const MockRunResult two = RunShap(c.explainer, data, with_variants, c.params, rows, 2);
    ASSERT_TRUE(two.ok()) << two.error;
    EXPECT_EQ(one.json.dump(), two.json.dump());
  }
}

// A capability that answers with another function must change the values: the test above can fail.
LoupeStatus WrongVariants(LoupeHost* host, const LoupeTensorView* base, std::int64_t n_variants,
                          const std::int64_t* offsets, const std::int64_t* columns, const double* values,
                          LoupeOutputSpace space, double* out, std::int64_t capacity) {
  // Drops each variant's last change: a coalition missing one of its columns.
  std::vector<std::int64_t> shortened(offsets, offsets + n_variants + 1);
  for (std::int64_t v = 1; v <= n_variants; ++v) {
    if (offsets[v] > offsets[v - 1]) shortened[static_cast<std::size_t>(v)] = offsets[v] - 1;
  }
  std::vector<std::int64_t> packed_columns;
  std::vector<double> packed_values;
  std::vector<std::int64_t> packed_offsets = {0};
  for (std::int64_t v = 0; v < n_variants; ++v) {
    for (std::int64_t k = offsets[v]; k < shortened[static_cast<std::size_t>(v) + 1]; ++k) {
      packed_columns.push_back(columns[k]);
      packed_values.push_back(values[k]);
    }
    packed_offsets.push_back(static_cast<std::int64_t>(packed_columns.size()));
  }
  return WideVariants(host, base, n_variants, packed_offsets.data(), packed_columns.data(),
                      packed_values.data(), space, out, capacity);
}

TEST(ShapRowVariants, AVariantMissingAColumnChangesTheValues) {
  static const LoupeRowVariants wrong{sizeof(LoupeRowVariants), 0, &WrongVariants};
  const MockDataset data = NormalData(60, kWidth, 31);
  MockModel model = NonlinearClassifier(kWidth, Wide);
  const MockRunResult reference = RunShap("shap.exact", data, model, {{"background", 20}}, {40, 41}, 1);
  model.capabilities = {LOUPE_ROW_VARIANTS_CAPABILITY};
  model.capability_structs[LOUPE_ROW_VARIANTS_CAPABILITY] = &wrong;
  const MockRunResult run = RunShap("shap.exact", data, model, {{"background", 20}}, {40, 41}, 1);
  ASSERT_TRUE(reference.ok() && run.ok()) << reference.error << run.error;
  EXPECT_GT(MaxDifference(reference, run), 1e-3);
}

}  // namespace
