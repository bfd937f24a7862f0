// Row blocks across MPI ranks (core/src/pipeline/row_shards.hpp): the split covers the rows once in
// order, an explanation survives its trip through bytes bit for bit, and the blocks of a local explainer
// join into what the whole step would have written. mpirun itself is tested in tests/e2e/mpi_run_test.sh.
#include "pipeline/row_shards.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include <gtest/gtest.h>

namespace loupe::shards {
namespace {

// A feature_attribution explanation over `rows` with F = 2 features and O = 1 output, as shap.kernel
// writes it: typed rows/values/base_values, the data as strings, a per-row JSON field and its quality.
Explanation KernelBlock(const std::vector<std::int64_t>& rows, double residual, double evaluations) {
  Explanation e;
  e.kind = "feature_attribution";
  e.step = "kernel";
  e.explainer = "shap.kernel";
  e.plugin_name = "shap";
  e.plugin_version = "0.1.0";
  e.params = {{"nsamples", 10}};
  e.seed = 99;
  const auto r = static_cast<std::int64_t>(rows.size());
  e.SetArray("rows", Tensor::FromVector(rows, {r}));
  std::vector<double> values, base;
  std::string chars;
  std::vector<std::uint64_t> ends;
  nlohmann::json error_std = nlohmann::json::array();
  for (std::int64_t row : rows) {
    values.push_back(0.5 * static_cast<double>(row));
    values.push_back(-0.25 * static_cast<double>(row));
    base.push_back(0.125);
    for (int f = 0; f < 2; ++f) {
      chars += "v" + std::to_string(row) + "_" + std::to_string(f);
      ends.push_back(chars.size());
    }
    error_std.push_back({{static_cast<double>(row) / 7.0, nullptr}});
  }
  e.SetArray("values", Tensor::FromVector(values, {r, 1, 2}));
  e.SetArray("base_values", Tensor::FromVector(base, {r, 1}));
  e.SetText("data", TextArray({r, 2}, chars, ends));
  e.SetText("feature_names", TextArray({2}, std::string("ab"), std::vector<std::uint64_t>{1, 2}));
  e.SetField("error_std", error_std);
  e.SetField("groups", {{"g", {"a", "b"}}});
  e.quality = {{"additivity_residual", residual},
               {"background_rows", 20.0},
               {"model_evaluations", evaluations},
               {"coalitions", static_cast<double>(r) * 10.0},
               {"standard_error", residual / 2}};
  return e;
}

TEST(RowShards, BlocksOfRanksCoverEveryRowOnceInOrderWithTheRemainderOnTheFirstRanks) {
  for (std::size_t n : {0u, 1u, 2u, 7u, 20u, 1045201u}) {
    for (int ranks : {1, 2, 3, 8}) {
      std::size_t next = 0;
      for (int rank = 0; rank < ranks; ++rank) {
        const RowBlock block = BlockOfRank(n, rank, ranks);
        EXPECT_EQ(block.begin, next) << n << " rows, rank " << rank << " of " << ranks;
        EXPECT_LE(block.size(), n / static_cast<std::size_t>(ranks) + 1);
        EXPECT_GE(block.size(), n / static_cast<std::size_t>(ranks));
        next = block.end;
      }
      EXPECT_EQ(next, n);
    }
  }
  EXPECT_EQ(BlockOfRank(7, 0, 3).size(), 3u);
  EXPECT_EQ(BlockOfRank(7, 2, 3).begin, 5u);
}

TEST(RowShards, OnlyLocalExplainersAreSplit) {
  for (const char* local : {"shap.kernel", "shap.exact", "shap.tree", "shap.permutation", "lime.tabular",
                            "lime.text", "grad.integrated_gradients"}) {
    EXPECT_TRUE(SplitsByRows(local)) << local;
  }
  for (const char* global : {"shap.summary", "shap.linear", "surrogate.tree", "fairness.group",
                             "effects.partial_dependence", "attention.heads", "pipetest.noise"}) {
    EXPECT_FALSE(SplitsByRows(global)) << global;
  }
}

TEST(RowShards, AnExplanationRoundTripsThroughItsBytesBitForBit) {
  Explanation e = KernelBlock({4, 9, 2}, 1e-15, 123.0);
  e.quality["nan"] = std::numeric_limits<double>::quiet_NaN();
  e.elapsed_ms = 12.5;
  bool has_explanation = false;
  const Result<Explanation> back = DecodeOutcome(EncodeOutcome(e), has_explanation);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(has_explanation);
  EXPECT_EQ(back->ToJson().dump(), e.ToJson().dump());
  EXPECT_TRUE(std::isnan(back->quality["nan"].get<double>()));
  ASSERT_NE(back->TypedArray("values"), nullptr);
  EXPECT_EQ(back->TypedArray("values")->dtype(), DType::kF64);
  EXPECT_EQ(back->Text("data")->at(5), "v2_1");
}

TEST(RowShards, AnErrorAndAnEmptyBlockRoundTripAsThemselves) {
  bool has_explanation = true;
  const Result<Explanation> error =
      DecodeOutcome(EncodeOutcome(Result<Explanation>(ModelError("the model failed."))), has_explanation);
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.status().code(), StatusCode::kModelError);
  EXPECT_EQ(error.status().message(), "the model failed.");
  EXPECT_FALSE(has_explanation);
  EXPECT_TRUE(DecodeOutcome(EncodeNothing(), has_explanation).ok());
  EXPECT_FALSE(has_explanation);
  EXPECT_FALSE(DecodeOutcome("X\x05", has_explanation).ok());  // cut short: refused, not read past its end
}

TEST(RowShards, BlocksJoinIntoTheWholeStepsExplanation) {
  // The whole step over rows 4, 9, 2, 7, 1 against blocks {4, 9} {2, 7, 1}. shap.kernel counts v({}) over
  // the background once per call: 20 evaluations each block counted and the whole step counts once.
  Explanation whole = KernelBlock({4, 9, 2, 7, 1}, 3e-15, 20 + 50 + 5);
  whole.quality["coalitions"] = 50.0;
  whole.quality["standard_error"] = 1.5e-15;
  const Explanation first = KernelBlock({4, 9}, 1e-15, 20 + 20 + 2);
  const Explanation second = KernelBlock({2, 7, 1}, 3e-15, 20 + 30 + 3);
  const Result<Explanation> joined = MergeRowBlocks({first, second});
  ASSERT_TRUE(joined.ok()) << joined.status().message();
  EXPECT_EQ(joined->ToJson().dump(), whole.ToJson().dump());
  EXPECT_EQ(joined->TypedArray("values")->shape(), (Shape{5, 1, 2}));
}

TEST(RowShards, AFieldThatDiffersAndIsNotPerRowRefusesTheJoin) {
  const Explanation first = KernelBlock({4, 9}, 1e-15, 42);
  Explanation second = KernelBlock({2, 7}, 1e-15, 42);
  second.SetField("groups", {{"g", {"b", "a"}}});
  const Result<Explanation> joined = MergeRowBlocks({first, second});
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.status().code(), StatusCode::kInternal);
  EXPECT_NE(joined.status().message().find("'groups'"), std::string::npos) << joined.status().message();

  Explanation other_background = KernelBlock({2, 7}, 1e-15, 42);
  other_background.quality["background_rows"] = 10.0;
  EXPECT_FALSE(MergeRowBlocks({first, other_background}).ok());
}

}  // namespace
}  // namespace loupe::shards
