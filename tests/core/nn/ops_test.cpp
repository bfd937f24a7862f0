// Each nn op against a naive double-precision reference written here (tolerance 1e-5).
#include "nn/ops.hpp"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "reference.hpp"

namespace loupe::nn {
namespace {

using testing_reference::RandomVector;

constexpr double kTolerance = 1e-5;

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want,
                double tolerance = kTolerance) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tolerance * std::max(1.0, std::abs(want[i]))) << "at index " << i;
  }
}

std::vector<double> DenseReference(const std::vector<float>& x, std::int64_t n, const DenseLayer& layer) {
  std::vector<double> y(static_cast<std::size_t>(n * layer.out()));
  for (std::int64_t r = 0; r < n; ++r) {
    for (std::int64_t o = 0; o < layer.out(); ++o) {
      double sum = layer.bias().empty() ? 0.0 : layer.bias()[static_cast<std::size_t>(o)];
      for (std::int64_t i = 0; i < layer.in(); ++i) {
        sum += static_cast<double>(x[static_cast<std::size_t>(r * layer.in() + i)]) *
               layer.weight()[static_cast<std::size_t>(o * layer.in() + i)];
      }
      y[static_cast<std::size_t>(r * layer.out() + o)] = sum;
    }
  }
  return y;
}

TEST(DenseLayerTest, MatchesReferenceWithAndWithoutBias) {
  for (const std::int64_t n : {1, 7, 64, 1000}) {
    DenseLayer layer(37, 19, RandomVector(37 * 19, 1), RandomVector(19, 2));
    DenseLayer no_bias(37, 19, RandomVector(37 * 19, 3), {});
    const std::vector<float> x = RandomVector(static_cast<std::size_t>(n * 37), 4);
    std::vector<float> y(static_cast<std::size_t>(n * 19));
    ASSERT_TRUE(layer.Forward(x.data(), n, y.data()).ok());
    ExpectNear(y, DenseReference(x, n, layer));
    ASSERT_TRUE(no_bias.Forward(x.data(), n, y.data()).ok());
    ExpectNear(y, DenseReference(x, n, no_bias));
  }
}

// bf16 rounds inputs and weights to 8 significant bits (relative error 2^-9 each); with 64 products of
// values in [-1, 1] summed in f32 the error stays well below 0.05 absolute. Documented as
// "bf16 within 5e-2 of f32 for unit-scale layers".
TEST(DenseLayerTest, Bf16IsCloseToF32) {
  DenseLayer layer(64, 32, RandomVector(64 * 32, 5), RandomVector(32, 6));
  const std::vector<float> x = RandomVector(128 * 64, 7);
  std::vector<float> f32(128 * 32), bf16(128 * 32);
  ASSERT_TRUE(layer.Forward(x.data(), 128, f32.data(), Precision::kF32).ok());
  ASSERT_TRUE(layer.Forward(x.data(), 128, bf16.data(), Precision::kBF16).ok());
  double worst = 0;
  bool differs = false;
  for (std::size_t i = 0; i < f32.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::abs(f32[i] - bf16[i])));
    differs = differs || f32[i] != bf16[i];
  }
  EXPECT_LT(worst, 5e-2);
  // On a bf16 CPU the two paths really differ (the bf16 primitive ran); elsewhere bf16 falls back to f32.
  EXPECT_EQ(differs, Bf16Supported());
}

TEST(BatchedMatmulTest, MatchesReferencePlainAndTransposed) {
  const std::int64_t batch = 3, m = 5, k = 8, n = 6;
  const std::vector<float> a = RandomVector(batch * m * k, 8), b = RandomVector(batch * k * n, 9);
  for (const bool transpose : {false, true}) {
    std::vector<float> c(batch * m * n);
    ASSERT_TRUE(BatchedMatmul(a.data(), b.data(), c.data(), batch, m, k, n, transpose, 0.5f).ok());
    std::vector<double> want(c.size());
    for (std::int64_t p = 0; p < batch; ++p) {
      for (std::int64_t i = 0; i < m; ++i) {
        for (std::int64_t j = 0; j < n; ++j) {
          double sum = 0;
          for (std::int64_t q = 0; q < k; ++q) {
            const float bv = transpose ? b[static_cast<std::size_t>((p * n + j) * k + q)]
                                       : b[static_cast<std::size_t>((p * k + q) * n + j)];
            sum += static_cast<double>(a[static_cast<std::size_t>((p * m + i) * k + q)]) * bv;
          }
          want[static_cast<std::size_t>((p * m + i) * n + j)] = 0.5 * sum;
        }
      }
    }
    ExpectNear(c, want);
  }
}

TEST(ActivateTest, EachActivationMatchesReference) {
  const std::vector<float> x = RandomVector(257, 10, 4.0f);
  const struct {
    Activation activation;
    double (*f)(double);
  } cases[] = {
      {Activation::kRelu, [](double v) { return v > 0 ? v : 0.0; }},
      {Activation::kGeluErf, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }},
      {Activation::kGeluTanh,
       [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); }},
      {Activation::kTanh, [](double v) { return std::tanh(v); }},
      {Activation::kSigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }},
  };
  for (const auto& c : cases) {
    std::vector<float> y = x;
    ASSERT_TRUE(Activate(c.activation, y.data(), static_cast<std::int64_t>(y.size())).ok());
    std::vector<double> want;
    for (const float v : x) want.push_back(c.f(v));
    SCOPED_TRACE(static_cast<int>(c.activation));
    ExpectNear(y, want);
  }
}

TEST(SoftmaxTest, RowsSumToOneAndMatchReference) {
  const std::int64_t rows = 9, cols = 13;
  std::vector<float> x = RandomVector(rows * cols, 11, 6.0f);
  const std::vector<float> original = x;
  ASSERT_TRUE(Softmax(x.data(), rows, cols).ok());
  std::vector<double> want(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    double max = -1e300, sum = 0;
    for (std::int64_t c = 0; c < cols; ++c) max = std::max<double>(max, original[r * cols + c]);
    for (std::int64_t c = 0; c < cols; ++c) sum += std::exp(original[r * cols + c] - max);
    for (std::int64_t c = 0; c < cols; ++c) want[r * cols + c] = std::exp(original[r * cols + c] - max) / sum;
  }
  ExpectNear(x, want);
}

TEST(LayerNormTest, MatchesReferenceWithScaleAndShift) {
  const std::int64_t rows = 6, cols = 24;
  const std::vector<float> x = RandomVector(rows * cols, 12, 3.0f), gamma = RandomVector(cols, 13),
                           beta = RandomVector(cols, 14);
  std::vector<float> y(x.size());
  ASSERT_TRUE(LayerNorm(x.data(), rows, cols, gamma.data(), beta.data(), 1e-5f, y.data()).ok());
  std::vector<double> want(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (std::int64_t c = 0; c < cols; ++c) mean += x[r * cols + c];
    mean /= cols;
    for (std::int64_t c = 0; c < cols; ++c) var += (x[r * cols + c] - mean) * (x[r * cols + c] - mean);
    var /= cols;
    for (std::int64_t c = 0; c < cols; ++c) {
      want[r * cols + c] = (x[r * cols + c] - mean) / std::sqrt(var + 1e-5) * gamma[c] + beta[c];
    }
  }
  ExpectNear(y, want);
}

}  // namespace
}  // namespace loupe::nn
