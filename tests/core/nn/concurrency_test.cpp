// docs/architecture.md §4: the same primitives run from many TBB tasks at once must give exactly the results
// of a single-threaded run. With oneDNN's default (library) scratchpad shared between threads this fails
// (TOOLCHAIN.md gotcha 4): the matmuls here are large enough to use a scratchpad, and tasks with equal
// batch sizes run one cached primitive on both threads at the same time.
#include <atomic>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>
#include <tbb/blocked_range.h>
#include <tbb/task_arena.h>

#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"
#include "nn/ops.hpp"
#include "plugin/tbb_handoff.hpp"
#include "reference.hpp"

namespace loupe::nn {
namespace {

using testing_reference::RandomDirection;
using testing_reference::RandomVector;

constexpr std::int64_t kIn = 256, kHidden = 512, kOut = 128;

struct Network {
  DenseLayer first{kIn, kHidden, RandomVector(kIn* kHidden, 21, 0.1f), RandomVector(kHidden, 22)};
  DenseLayer second{kHidden, kOut, RandomVector(kHidden* kOut, 23, 0.1f), RandomVector(kOut, 24)};
  std::vector<float> gamma = RandomVector(kOut, 25), beta = RandomVector(kOut, 26);
  LstmLayer lstm{16, 8, {RandomDirection(16, 8, 27), RandomDirection(16, 8, 31)}};

  // A Predict-like chain: dense, gelu, dense, layer norm, softmax; then an LSTM over the result viewed as
  // [n, 8, 16] sequences with lengths that depend on the row.
  std::vector<float> Run(const std::vector<float>& x, std::int64_t n) const {
    std::vector<float> h(static_cast<std::size_t>(n * kHidden)), o(static_cast<std::size_t>(n * kOut));
    std::vector<float> normed(o.size()), sequence(static_cast<std::size_t>(n * 8 * 16));
    EXPECT_TRUE(first.Forward(x.data(), n, h.data()).ok());
    EXPECT_TRUE(Activate(Activation::kGeluErf, h.data(), n * kHidden).ok());
    EXPECT_TRUE(second.Forward(h.data(), n, o.data()).ok());
    EXPECT_TRUE(LayerNorm(o.data(), n, kOut, gamma.data(), beta.data(), 1e-5f, normed.data()).ok());
    EXPECT_TRUE(Softmax(normed.data(), n, kOut).ok());
    std::vector<std::int64_t> lengths;
    for (std::int64_t r = 0; r < n; ++r) lengths.push_back(1 + r % 8);
    EXPECT_TRUE(lstm.Forward(normed.data(), n, 8, lengths.data(), sequence.data()).ok());
    normed.insert(normed.end(), sequence.begin(), sequence.end());
    return normed;
  }
};

TEST(ConcurrencyTest, ManyTasksOnTwoThreadsGiveTheSingleThreadedResultsBitForBit) {
  const Network network;
  constexpr int kTasks = 64;
  const std::int64_t batch_sizes[] = {1, 33, 512, 1024};
  std::vector<std::vector<float>> inputs, expected(kTasks), got(kTasks);
  for (int task = 0; task < kTasks; ++task) {
    const std::int64_t n = batch_sizes[task % 4];
    inputs.push_back(RandomVector(static_cast<std::size_t>(n * kIn), 1000 + static_cast<unsigned>(task)));
  }
  for (int task = 0; task < kTasks; ++task) expected[task] = network.Run(inputs[task], batch_sizes[task % 4]);

  tbb::task_arena arena(2);
  plugin::TbbHandoff handoff;  // for ThreadSanitizer, as every hand-off to TBB (plugin/tbb_handoff.hpp)
  handoff.BeforeSpawn();
  arena.execute([&] {
    tbb_spawn::ChunksInParallel(kTasks, [&](const tbb::blocked_range<std::int64_t>& range) {
      handoff.TaskStarts();
      for (auto task = static_cast<int>(range.begin()); task < range.end(); ++task) {
        got[task] = network.Run(inputs[task], batch_sizes[task % 4]);
      }
      handoff.TaskEnds();
    });
  });
  handoff.AfterJoin();
  int mismatched = 0;
  for (int task = 0; task < kTasks; ++task) {
    ASSERT_EQ(got[task].size(), expected[task].size());
    mismatched += std::memcmp(got[task].data(), expected[task].data(), got[task].size() * sizeof(float)) != 0;
  }
  EXPECT_EQ(mismatched, 0) << mismatched << " of " << kTasks
                           << " concurrent runs differ from the single-threaded run.";
}

// A fixture model behind the host's column mapping, with the data it reads.
struct MappedModel {
  std::shared_ptr<const FeatureModel> model;
  Tensor matrix;
};

// A void helper so that its ASSERTs stop the test: call it through ASSERT_NO_FATAL_FAILURE.
void LoadMapped(const std::string& model_file, const std::string& csv, MappedModel* out) {
  auto model = LoadModel(std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures" / model_file);
  ASSERT_TRUE(model.ok()) << model.status().message();
  std::vector<std::string> names;
  CsvOptions options;
  for (const ModelInput& input : (*model)->Info().inputs) {
    names.push_back(input.name);
    if (input.type == ColumnType::kCategorical) options.categorical.push_back(input.name);
  }
  auto data = ReadCsv(std::filesystem::path(LOUPE_TEST_DATA_DIR) / csv, options);
  ASSERT_TRUE(data.ok()) << data.status().message();
  auto mapped = FeatureModel::Create(*model, *data, names);
  ASSERT_TRUE(mapped.ok()) << mapped.status().message();
  auto matrix = data->Matrix(names);
  ASSERT_TRUE(matrix.ok()) << matrix.status().message();
  *out = {*mapped, std::move(*matrix)};
}

// PredictInto borrows per-thread scratch (the gather, the encoding, the activations) and writes into the
// caller's buffer: many tasks on two threads, with batch sizes from one row to more than one gather chunk,
// must each get exactly what a sequential Predict of the same rows gives.
TEST(ConcurrencyTest, ConcurrentPredictIntoEqualsSequentialPredictBitForBit) {
  const std::pair<std::string, std::string> fixtures[] = {
      {"models/credit_mlp.yaml", "credit_data.csv"},
      {"models/breast_cancer_mlp.yaml", "breast_cancer.csv"},
      {"xgboost/credit_xgb.json", "credit_data.csv"}};
  for (const auto& [model_file, csv] : fixtures) {
    MappedModel mapped;
    ASSERT_NO_FATAL_FAILURE(LoadMapped(model_file, csv, &mapped));
    const std::int64_t rows = mapped.matrix.dim(0);
    constexpr int kTasks = 48;
    const std::int64_t sizes[] = {1, 7, 64, 2048, 4097, 5000};
    const auto batch = [&](int task) {
      const std::int64_t n = std::min(rows, sizes[task % 6]);
      const std::int64_t begin = (task * 37) % (rows - n + 1);
      return mapped.matrix.view().Rows(begin, begin + n);
    };
    for (const OutputSpace space : {OutputSpace::kProbability, OutputSpace::kRaw}) {
      std::vector<Tensor> expected;
      for (int task = 0; task < kTasks; ++task) {
        auto predicted = mapped.model->Predict(batch(task), space);
        ASSERT_TRUE(predicted.ok()) << predicted.status().message();
        expected.push_back(std::move(predicted).value());
      }
      std::vector<std::vector<double>> got(kTasks);
      std::atomic<int> failed{0};
      tbb::task_arena arena(2);
      plugin::TbbHandoff handoff;  // for ThreadSanitizer (plugin/tbb_handoff.hpp)
      handoff.BeforeSpawn();
      arena.execute([&] {
        tbb_spawn::ChunksInParallel(kTasks, [&](const tbb::blocked_range<std::int64_t>& range) {
          handoff.TaskStarts();
          for (auto task = static_cast<int>(range.begin()); task < range.end(); ++task) {
            got[task].assign(static_cast<std::size_t>(expected[task].size()), -1.0);
            failed += !mapped.model->PredictInto(batch(task), space, got[task]).ok();
          }
          handoff.TaskEnds();
        });
      });
      handoff.AfterJoin();
      ASSERT_EQ(failed.load(), 0) << model_file;
      for (int task = 0; task < kTasks; ++task) {
        EXPECT_EQ(std::memcmp(got[task].data(), expected[task].raw(), expected[task].nbytes()), 0)
            << model_file << " task " << task << " (" << OutputSpaceName(space) << ")";
      }
    }
  }
}

}  // namespace
}  // namespace loupe::nn
