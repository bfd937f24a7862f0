// DESIGN.md §4: the same primitives run from many TBB tasks at once must give exactly the results of a
// single-threaded run. With oneDNN's default (library) scratchpad shared between threads this fails
// (TOOLCHAIN.md gotcha 4): the matmuls here are large enough to use a scratchpad, and tasks with equal
// batch sizes run one cached primitive on both threads at the same time.
#include <cstring>

#include <gtest/gtest.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "nn/ops.hpp"
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
  arena.execute([&] {
    tbb::parallel_for(0, kTasks, 1,
                      [&](int task) { got[task] = network.Run(inputs[task], batch_sizes[task % 4]); });
  });
  int mismatched = 0;
  for (int task = 0; task < kTasks; ++task) {
    ASSERT_EQ(got[task].size(), expected[task].size());
    mismatched += std::memcmp(got[task].data(), expected[task].data(), got[task].size() * sizeof(float)) != 0;
  }
  EXPECT_EQ(mismatched, 0) << mismatched << " of " << kTasks
                           << " concurrent runs differ from the single-threaded run.";
}

}  // namespace
}  // namespace loupe::nn
