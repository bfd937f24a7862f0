// The model evaluations a step on MPI rank 0 shares among the ranks (core/src/mpi/shared_predict.hpp):
// how a call is cut into blocks, and that every kind of model gives the same bits for a call predicted
// whole and for its blocks predicted as the ranks predict them (a request encoded, answered on another
// rank's threads, decoded), on 2, 3 and 4 ranks. No MPI is needed: the ranks' side is called directly.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include <gtest/gtest.h>

#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"
#include "mpi/shared_predict.hpp"
#include "onnx/graph.hpp"
#include "plugin/row_variants_predict.hpp"

namespace loupe::mpi {
namespace {

const std::filesystem::path kSource(LOUPE_SOURCE_DIR);
const std::filesystem::path kTestData(LOUPE_TEST_DATA_DIR);

std::vector<std::pair<std::int64_t, std::int64_t>> Pairs(const std::vector<PredictBlock>& blocks) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (const PredictBlock& block : blocks) out.emplace_back(block.begin, block.end);
  return out;
}

TEST(PredictBlocks, CutsCallsAtGranulesOnly) {
  using P = std::vector<std::pair<std::int64_t, std::int64_t>>;
  // Fewer than two whole granules: rank 0 takes the call whole.
  EXPECT_EQ(Pairs(PredictBlocks(4095, 2)), (P{{0, 4095}, {4095, 4095}}));
  EXPECT_EQ(Pairs(PredictBlocks(4097, 2)), (P{{0, 4096}, {4096, 4097}}));
  EXPECT_EQ(Pairs(PredictBlocks(0, 3)), (P{{0, 0}, {0, 0}, {0, 0}}));
  EXPECT_EQ(Pairs(PredictBlocks(4096, 2)), (P{{0, 2048}, {2048, 4096}}));
  // 5 granules on 3 ranks: 2, 2, 1, the last one partial.
  EXPECT_EQ(Pairs(PredictBlocks(10000, 3)), (P{{0, 4096}, {4096, 8192}, {8192, 10000}}));
  // 3 granules on 4 ranks: the last rank gets nothing.
  EXPECT_EQ(Pairs(PredictBlocks(5000, 4)), (P{{0, 2048}, {2048, 4096}, {4096, 5000}, {5000, 5000}}));
  EXPECT_EQ(Pairs(PredictBlocks(16384, 1)), (P{{0, 16384}}));
}

// A model file with `precision: f64` added, next to a copy pointing at the fixture's weights.
std::filesystem::path WithF64(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("loupe-shared-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto fixtures = kSource / "tests/fixtures/models";
  std::ifstream in(fixtures / (name + ".yaml"));
  std::ofstream out(dir / (name + "_f64.yaml"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("weights: ", 0) == 0) {
      out << "weights: " << (fixtures / line.substr(9)).string() << "\nprecision: f64\n";
    } else {
      out << line << "\n";
    }
  }
  return dir / (name + "_f64.yaml");
}

struct ModelCase {
  std::string label;
  std::filesystem::path model, data;
};

class SharedPredictBits : public ::testing::TestWithParam<ModelCase> {};

// 10,357 rows (5 granules and a partial one) drawn from the data set's rows in a scrambled order,
// predicted whole and in the blocks of 2, 3 and 4 ranks: the same bytes, in every output space.
TEST_P(SharedPredictBits, BlocksGiveTheBitsOfTheWholeCall) {
  if (GetParam().model.extension() == ".onnx" && !onnx::OnnxSupported()) {
    GTEST_SKIP() << "this build has no ONNX support (libonnx-dev missing)";
  }
  auto model = LoadModel(GetParam().model);
  ASSERT_TRUE(model.ok()) << model.status().message();
  std::vector<std::string> names;
  CsvOptions options;
  for (const ModelInput& input : (*model)->Info().inputs) {
    names.push_back(input.name);
    if (input.type == ColumnType::kCategorical) options.categorical.push_back(input.name);
  }
  auto data = ReadCsv(GetParam().data, options);
  ASSERT_TRUE(data.ok()) << data.status().message();
  auto features = FeatureModel::Create(*model, *data, names);
  ASSERT_TRUE(features.ok()) << features.status().message();
  auto matrix = data->Matrix(names);
  ASSERT_TRUE(matrix.ok()) << matrix.status().message();
  const std::int64_t n = 5 * kPredictGranuleRows + 117, width = matrix->dim(1), source_rows = matrix->dim(0);
  std::vector<double> rows(static_cast<std::size_t>(n * width));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t from = (i * 7919) % source_rows;
    std::memcpy(rows.data() + i * width, matrix->data<double>() + from * width,
                static_cast<std::size_t>(width) * sizeof(double));
  }
  const FeatureModel& fm = **features;
  const ModelInfo& info = (*model)->Info();
  int spaces = 0;
  for (const OutputSpace space : {OutputSpace::kProbability, OutputSpace::kRaw}) {
    if (space == OutputSpace::kProbability && info.task != Task::kClassification) continue;
    if (info.OutputNames(space).empty()) continue;
    ++spaces;
    const auto n_out = static_cast<std::int64_t>(info.OutputNames(space).size());
    std::vector<double> whole(static_cast<std::size_t>(n * n_out));
    ASSERT_TRUE(fm.PredictInto(TensorView(rows.data(), DType::kF64, {n, width}), space, whole).ok());
    for (const int ranks : {2, 3, 4}) {
      std::vector<double> shared(whole.size(), -1.0);
      const std::vector<PredictBlock> blocks = PredictBlocks(n, ranks);
      for (int r = 0; r < ranks; ++r) {
        const PredictBlock& block = blocks[static_cast<std::size_t>(r)];
        const std::span<double> out = std::span<double>(shared).subspan(
            static_cast<std::size_t>(block.begin * n_out), static_cast<std::size_t>(block.size() * n_out));
        if (r == 0) {  // rank 0 predicts its block itself, in one call
          ASSERT_TRUE(
              fm.PredictInto(TensorView(rows.data(), DType::kF64, {block.size(), width}), space, out).ok());
          continue;
        }
        const std::string answer = AnswerPredictRequest(
            fm, EncodePredictRequest(rows.data() + block.begin * width, block.size(), width, space),
            Status::Ok());
        const Status decoded = DecodePredictAnswer(answer, out);
        ASSERT_TRUE(decoded.ok()) << decoded.message();
      }
      EXPECT_EQ(std::memcmp(shared.data(), whole.data(), whole.size() * sizeof(double)), 0)
          << GetParam().label << " on " << ranks << " ranks, space " << OutputSpaceName(space);
    }
  }
  EXPECT_GT(spaces, 0);
}

INSTANTIATE_TEST_SUITE_P(
    EveryKindOfModel, SharedPredictBits,
    ::testing::Values(ModelCase{"native_f32", kSource / "tests/fixtures/models/credit_mlp.yaml",
                                kTestData / "credit_data.csv"},
                      ModelCase{"native_f64", WithF64("credit_mlp"), kTestData / "credit_data.csv"},
                      ModelCase{"native_breast_cancer",
                                kSource / "tests/fixtures/models/breast_cancer_mlp.yaml",
                                kTestData / "breast_cancer.csv"},
                      ModelCase{"xgboost", kSource / "tests/fixtures/xgboost/credit_xgb.json",
                                kTestData / "credit_data.csv"},
                      ModelCase{"onnx_mlp", kSource / "tests/fixtures/onnx/breast_cancer_mlp.onnx",
                                kTestData / "breast_cancer.csv"},
                      ModelCase{"onnx_pipeline", kSource / "tests/fixtures/onnx/credit_pipeline.onnx",
                                kTestData / "credit_data.csv"}),
    [](const ::testing::TestParamInfo<ModelCase>& info) { return info.param.label; });

// The first 4 shared calls of a step decide: more than 2 that took longer than 0.9 × the time rank 0
// alone would have taken stop the sharing; later calls change nothing.
TEST(SharingPolicy, StopsWhenMostProbeCallsTookLongerShared) {
  SharingPolicy slow;
  slow.Record(2.0, 1.0);
  slow.Record(0.5, 1.0);
  slow.Record(0.95, 1.0);  // shared, but not 10 % faster: a loss
  EXPECT_TRUE(slow.Share());
  slow.Record(3.0, 1.0);
  EXPECT_FALSE(slow.Share());
  SharingPolicy even;
  for (int i = 0; i < 2; ++i) {
    even.Record(2.0, 1.0);
    even.Record(0.5, 1.0);
  }
  for (int i = 0; i < 10; ++i) even.Record(5.0, 1.0);  // after the probes
  EXPECT_TRUE(even.Share());
}

TEST(VariantBlocks, CutsTheVariantsIntoContiguousRuns) {
  using P = std::vector<std::pair<std::int64_t, std::int64_t>>;
  EXPECT_EQ(Pairs(VariantBlocks(10, 3)), (P{{0, 4}, {4, 7}, {7, 10}}));
  EXPECT_EQ(Pairs(VariantBlocks(2, 3)), (P{{0, 1}, {1, 2}, {2, 2}}));
}

// The "row_variants" calls partial dependence makes (a grid over one column, and variants changing two
// columns, one categorical): predicted whole and in the variant blocks of 2, 3 and 4 ranks, the same
// bytes, for the credit network in f32 and f64, on base rows without missing values (the model's fast
// path) and with them (every row materialised).
TEST(SharedPredictVariants, BlocksGiveTheBitsOfTheWholeCall) {
  for (const std::filesystem::path& path :
       {kSource / "tests/fixtures/models/credit_mlp.yaml", WithF64("credit_mlp")}) {
    auto model = LoadModel(path);
    ASSERT_TRUE(model.ok()) << model.status().message();
    ASSERT_NE((*model)->row_variant_model(), nullptr);
    std::vector<std::string> names;
    CsvOptions options;
    for (const ModelInput& input : (*model)->Info().inputs) {
      names.push_back(input.name);
      if (input.type == ColumnType::kCategorical) options.categorical.push_back(input.name);
    }
    auto data = ReadCsv(kTestData / "credit_data.csv", options);
    ASSERT_TRUE(data.ok()) << data.status().message();
    auto features = FeatureModel::Create(*model, *data, names);
    ASSERT_TRUE(features.ok()) << features.status().message();
    auto matrix = data->Matrix(names);
    ASSERT_TRUE(matrix.ok()) << matrix.status().message();
    const std::int64_t width = matrix->dim(1);
    const auto column = [&](const std::string& name) {
      return static_cast<std::int64_t>(std::find(names.begin(), names.end(), name) - names.begin());
    };
    // 40 values of Income, then 10 variants setting Home (level code v mod 6) and Age.
    std::vector<std::int64_t> offsets{0}, columns;
    std::vector<double> values;
    for (int v = 0; v < 40; ++v) {
      columns.push_back(column("Income"));
      values.push_back(20.0 + 15.0 * v);
      offsets.push_back(static_cast<std::int64_t>(columns.size()));
    }
    for (int v = 0; v < 10; ++v) {
      columns.insert(columns.end(), {column("Home"), column("Age")});
      values.insert(values.end(), {static_cast<double>(v % 6), 20.0 + 4.0 * v});
      offsets.push_back(static_cast<std::int64_t>(columns.size()));
    }
    const auto n_variants = static_cast<std::int64_t>(offsets.size()) - 1;
    for (const bool complete : {true, false}) {
      std::vector<double> base;
      bool has_missing = false;
      for (std::int64_t r = 0; r < matrix->dim(0) && static_cast<std::int64_t>(base.size()) < 300 * width;
           ++r) {
        const double* row = matrix->data<double>() + r * width;
        const bool missing = std::any_of(row, row + width, [](double x) { return std::isnan(x); });
        if (complete && missing) continue;
        has_missing = has_missing || missing;
        base.insert(base.end(), row, row + width);
      }
      ASSERT_EQ(has_missing, !complete);
      const std::int64_t n = static_cast<std::int64_t>(base.size()) / width;
      const TensorView base_view(base.data(), DType::kF64, {n, width});
      const auto n_out = static_cast<std::int64_t>((*model)->Info().output_names.size());
      const OutputSpace space = OutputSpace::kProbability;
      std::vector<double> whole(static_cast<std::size_t>(n_variants * n * n_out));
      ASSERT_TRUE(plugin::PredictFeatureRowVariants(**features, base_view, n_variants, offsets.data(),
                                                    columns.data(), values.data(), space, whole)
                      .ok());
      for (const int ranks : {2, 3, 4}) {
        std::vector<double> shared(whole.size(), -1.0);
        const std::vector<PredictBlock> blocks = VariantBlocks(n_variants, ranks);
        for (int r = 0; r < ranks; ++r) {
          const PredictBlock& block = blocks[static_cast<std::size_t>(r)];
          const std::span<double> out =
              std::span<double>(shared).subspan(static_cast<std::size_t>(block.begin * n * n_out),
                                                static_cast<std::size_t>(block.size() * n * n_out));
          if (r == 0) {
            ASSERT_TRUE(plugin::PredictFeatureRowVariants(**features, base_view, block.size(), offsets.data(),
                                                          columns.data(), values.data(), space, out)
                            .ok());
            continue;
          }
          const std::string request =
              EncodeVariantsRequest(base.data(), n, width, block.size(), offsets.data() + block.begin,
                                    columns.data(), values.data(), space);
          const Status decoded =
              DecodePredictAnswer(AnswerPredictRequest(**features, request, Status::Ok()), out);
          ASSERT_TRUE(decoded.ok()) << decoded.message();
        }
        EXPECT_EQ(std::memcmp(shared.data(), whole.data(), whole.size() * sizeof(double)), 0)
            << path << (complete ? ", complete rows" : ", rows with missing values") << ", " << ranks
            << " ranks";
      }
    }
  }
}

TEST(SharedPredictAnswers, CarryAFailureWithItsKindAndSentence) {
  auto model = LoadModel(kSource / "tests/fixtures/models/credit_mlp.yaml");
  ASSERT_TRUE(model.ok()) << model.status().message();
  CsvOptions options;
  for (const ModelInput& input : (*model)->Info().inputs) {
    if (input.type == ColumnType::kCategorical) options.categorical.push_back(input.name);
  }
  auto data = ReadCsv(kTestData / "credit_data.csv", options);
  ASSERT_TRUE(data.ok()) << data.status().message();
  std::vector<std::string> names;
  for (const ModelInput& input : (*model)->Info().inputs) names.push_back(input.name);
  auto features = FeatureModel::Create(*model, *data, names);
  ASSERT_TRUE(features.ok()) << features.status().message();
  const std::vector<double> row(names.size(), 1.0);
  std::vector<double> out(2, -1.0);
  // An injected fault is the answer, whatever the rows.
  const std::string faulted =
      AnswerPredictRequest(**features, EncodePredictRequest(row.data(), 1, 13, OutputSpace::kProbability),
                           Status(StatusCode::kPluginError, "a fault was injected."));
  Status s = DecodePredictAnswer(faulted, out);
  EXPECT_EQ(s.code(), StatusCode::kPluginError);
  EXPECT_EQ(s.message(), "a fault was injected.");
  // Rows of another width than the features: refused, not read out of bounds.
  s = DecodePredictAnswer(
      AnswerPredictRequest(**features, EncodePredictRequest(row.data(), 1, 12, OutputSpace::kProbability),
                           Status::Ok()),
      out);
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(s.message(), "a request for predictions from rank 0 is malformed (120 bytes).");
  // The model's own refusal: a regressor's probabilities are not asked here, so raw outputs of a
  // classifier whose last layer is a sigmoid: one logit.
  ASSERT_TRUE(DecodePredictAnswer(
                  AnswerPredictRequest(**features, EncodePredictRequest(row.data(), 1, 13, OutputSpace::kRaw),
                                       Status::Ok()),
                  std::span<double>(out).subspan(0, 1))
                  .ok());
  // An answer of another size than its block.
  s = DecodePredictAnswer(
      AnswerPredictRequest(**features, EncodePredictRequest(row.data(), 1, 13, OutputSpace::kProbability),
                           Status::Ok()),
      std::span<double>(out).subspan(0, 1));
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(s.message(), "an answer holds 2 predictions, but its block needs 1.");
}

}  // namespace
}  // namespace loupe::mpi
