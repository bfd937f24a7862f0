// LstmLayer against a reference loop in double precision: forward and bidirectional, with padding.
#include <gtest/gtest.h>

#include "nn/ops.hpp"
#include "reference.hpp"

namespace loupe::nn {
namespace {

using namespace testing_reference;  // NOLINT(google-build-using-namespace)

void CheckLstm(bool bidirectional, const std::vector<std::int64_t>& lengths) {
  const std::int64_t n = static_cast<std::int64_t>(lengths.size()), t = 7, in = 5, hidden = 6;
  std::vector<LstmDirection> dirs{RandomDirection(in, hidden, 100)};
  if (bidirectional) dirs.push_back(RandomDirection(in, hidden, 200));
  const LstmLayer layer(in, hidden, dirs);
  const std::vector<float> x = RandomVector(static_cast<std::size_t>(n * t * in), 300);
  const std::int64_t width = hidden * (bidirectional ? 2 : 1);
  std::vector<float> y(static_cast<std::size_t>(n * t * width), -1.0f);
  const Status status = layer.Forward(x.data(), n, t, lengths.data(), y.data());
  ASSERT_TRUE(status.ok()) << status.message();
  const std::vector<double> want = LstmReference(dirs, x, n, t, in, hidden, lengths);
  for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-5) << "at index " << i;
}

TEST(LstmLayerTest, ForwardMatchesReference) { CheckLstm(false, {7, 7, 7}); }
TEST(LstmLayerTest, BidirectionalMatchesReference) { CheckLstm(true, {7, 7}); }
TEST(LstmLayerTest, ForwardWithPaddingMatchesPackedSequences) { CheckLstm(false, {7, 3, 5, 3, 1}); }
TEST(LstmLayerTest, BidirectionalWithPaddingStartsReverseAtLastRealStep) { CheckLstm(true, {2, 7, 4, 0, 4}); }

TEST(LstmLayerTest, RejectsLengthBeyondSteps) {
  const LstmLayer layer(2, 3, {RandomDirection(2, 3, 1)});
  std::vector<float> x(2 * 4 * 2), y(2 * 4 * 3);
  const std::vector<std::int64_t> lengths{4, 5};
  const Status status = layer.Forward(x.data(), 2, 4, lengths.data(), y.data());
  EXPECT_EQ(status.message(), "LSTM row 1 has length 5, expected 0 to 4.");
}

TEST(LstmLayerTest, RejectsWeightsOfTheWrongSize) {
  LstmDirection wrong = RandomDirection(2, 3, 1);
  wrong.weight_hh.pop_back();
  const LstmLayer layer(2, 3, {wrong});
  std::vector<float> x(4 * 2), y(4 * 3);
  EXPECT_EQ(layer.Forward(x.data(), 1, 4, nullptr, y.data()).message(),
            "LSTM direction 0 expects weight_ih [12, 2], weight_hh [12, 3] and biases [12], found 24, 35, 12 "
            "and 12 "
            "values.");
}

}  // namespace
}  // namespace loupe::nn
