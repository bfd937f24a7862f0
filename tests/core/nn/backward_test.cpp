// The backward ops of nn/backward.hpp against central finite differences of a double-precision forward
// written here, one test per layer type: for a random upstream gradient dy, dx must equal
// ∂(Σ dy ⊙ op(x)) / ∂x to 1e-5 (relative to max(1, |dx|)). Also: the same bits from two threads at once.
#include "nn/backward.hpp"

#include <cmath>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "reference.hpp"

namespace loupe::nn {
namespace {

using testing_reference::RandomVector;
using Forward = std::function<std::vector<double>(const std::vector<double>&)>;

// ∂(Σ dy ⊙ forward(x)) / ∂x_k by central differences in double precision.
std::vector<double> FiniteDifference(const Forward& forward, const std::vector<float>& x,
                                     const std::vector<float>& dy) {
  std::vector<double> point(x.begin(), x.end()), gradient(x.size());
  const double h = 1e-6;
  auto loss = [&](const std::vector<double>& at) {
    const std::vector<double> y = forward(at);
    double sum = 0;
    for (std::size_t i = 0; i < y.size(); ++i) sum += dy[i] * y[i];
    return sum;
  };
  for (std::size_t k = 0; k < x.size(); ++k) {
    const double saved = point[k];
    point[k] = saved + h;
    const double up = loss(point);
    point[k] = saved - h;
    const double down = loss(point);
    point[k] = saved;
    gradient[k] = (up - down) / (2 * h);
  }
  return gradient;
}

void ExpectGradient(const std::vector<float>& dx, const std::vector<double>& want, double tolerance = 1e-5) {
  ASSERT_EQ(dx.size(), want.size());
  for (std::size_t i = 0; i < dx.size(); ++i)
    ASSERT_NEAR(dx[i], want[i], tolerance * std::max(1.0, std::abs(want[i]))) << "at index " << i;
}

Forward Elementwise(double (*f)(double)) {
  return [f](const std::vector<double>& x) {
    std::vector<double> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = f(x[i]);
    return y;
  };
}

// Values away from ReLU's kink, where a finite difference is defined.
std::vector<float> AwayFromZero(std::vector<float> x) {
  for (float& v : x) v = v >= 0 ? v + 0.05f : v - 0.05f;
  return x;
}

void CheckActivation(Activation activation, double (*f)(double)) {
  const std::vector<float> x = AwayFromZero(RandomVector(96, 3, 2.0f)), dy = RandomVector(96, 4);
  std::vector<float> dx(x.size());
  ASSERT_TRUE(ActivateBackward(activation, x.data(), dy.data(), dx.data(), 96).ok());
  ExpectGradient(dx, FiniteDifference(Elementwise(f), x, dy));
}

TEST(NnBackward, ReluMatchesFiniteDifferences) {
  CheckActivation(Activation::kRelu, [](double v) { return v > 0 ? v : 0.0; });
}
TEST(NnBackward, TanhMatchesFiniteDifferences) {
  CheckActivation(Activation::kTanh, [](double v) { return std::tanh(v); });
}
TEST(NnBackward, SigmoidMatchesFiniteDifferences) {
  CheckActivation(Activation::kSigmoid, [](double v) { return 1 / (1 + std::exp(-v)); });
}
TEST(NnBackward, GeluErfMatchesFiniteDifferences) {
  CheckActivation(Activation::kGeluErf,
                  [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); });
}
TEST(NnBackward, GeluTanhMatchesFiniteDifferences) {
  CheckActivation(Activation::kGeluTanh, [](double v) {
    return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  });
}

TEST(NnBackward, DenseBackwardDataMatchesFiniteDifferences) {
  const std::int64_t n = 5, in = 7, out = 4;
  const DenseLayer layer(in, out, RandomVector(in * out, 5), RandomVector(out, 6));
  const std::vector<float> x = RandomVector(n * in, 7), dy = RandomVector(n * out, 8);
  std::vector<float> dx(x.size());
  ASSERT_TRUE(DenseBackwardData(layer, dy.data(), n, dx.data()).ok());
  const Forward forward = [&](const std::vector<double>& at) {
    std::vector<double> y(static_cast<std::size_t>(n * out));
    for (std::int64_t r = 0; r < n; ++r)
      for (std::int64_t o = 0; o < out; ++o) {
        double sum = layer.bias()[static_cast<std::size_t>(o)];
        for (std::int64_t i = 0; i < in; ++i)
          sum +=
              at[static_cast<std::size_t>(r * in + i)] * layer.weight()[static_cast<std::size_t>(o * in + i)];
        y[static_cast<std::size_t>(r * out + o)] = sum;
      }
    return y;
  };
  ExpectGradient(dx, FiniteDifference(forward, x, dy));
}

Forward SoftmaxRows(std::int64_t cols) {
  return [cols](const std::vector<double>& x) {
    std::vector<double> y(x.size());
    for (std::size_t r = 0; r < x.size() / static_cast<std::size_t>(cols); ++r) {
      double max = -INFINITY, sum = 0;
      for (std::int64_t c = 0; c < cols; ++c) max = std::max(max, x[r * cols + c]);
      for (std::int64_t c = 0; c < cols; ++c) sum += y[r * cols + c] = std::exp(x[r * cols + c] - max);
      for (std::int64_t c = 0; c < cols; ++c) y[r * cols + c] /= sum;
    }
    return y;
  };
}

TEST(NnBackward, SoftmaxMatchesFiniteDifferences) {
  const std::int64_t rows = 6, cols = 5;
  const std::vector<float> x = RandomVector(rows * cols, 9, 2.0f), dy = RandomVector(rows * cols, 10);
  std::vector<float> y = x, dx(x.size());
  ASSERT_TRUE(Softmax(y.data(), rows, cols).ok());
  ASSERT_TRUE(SoftmaxBackward(y.data(), dy.data(), dx.data(), rows, cols).ok());
  ExpectGradient(dx, FiniteDifference(SoftmaxRows(cols), x, dy));
}

TEST(NnBackward, LayerNormMatchesFiniteDifferences) {
  const std::int64_t rows = 4, cols = 9;
  const float eps = 1e-5f;
  const std::vector<float> x = RandomVector(rows * cols, 11, 3.0f), dy = RandomVector(rows * cols, 12),
                           gamma = RandomVector(cols, 13);
  std::vector<float> dx(x.size());
  const Status status = LayerNormBackward(x.data(), dy.data(), rows, cols, gamma.data(), eps, dx.data());
  ASSERT_TRUE(status.ok()) << status.message();
  const Forward forward = [&](const std::vector<double>& at) {
    std::vector<double> y(at.size());
    for (std::int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (std::int64_t c = 0; c < cols; ++c) mean += at[r * cols + c] / cols;
      for (std::int64_t c = 0; c < cols; ++c)
        var += (at[r * cols + c] - mean) * (at[r * cols + c] - mean) / cols;
      for (std::int64_t c = 0; c < cols; ++c)
        y[r * cols + c] =
            (at[r * cols + c] - mean) / std::sqrt(var + eps) * gamma[static_cast<std::size_t>(c)];
    }
    return y;
  };
  ExpectGradient(dx, FiniteDifference(forward, x, dy), 1e-4);  // f32 statistics of a 9-wide row
}

TEST(NnBackward, TwoThreadsAtOnceGiveTheSameBitsAsOne) {
  const std::int64_t n = 64, in = 33, out = 17;
  const DenseLayer layer(in, out, RandomVector(in * out, 14), {});
  const std::vector<float> dy = RandomVector(n * out, 15);
  std::vector<float> alone(static_cast<std::size_t>(n * in));
  ASSERT_TRUE(DenseBackwardData(layer, dy.data(), n, alone.data()).ok());
  std::vector<std::vector<float>> results(2, std::vector<float>(alone.size()));
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int repeat = 0; repeat < 50; ++repeat)
        ASSERT_TRUE(DenseBackwardData(layer, dy.data(), n, results[t].data()).ok());
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(results[0], alone);
  EXPECT_EQ(results[1], alone);
}

}  // namespace
}  // namespace loupe::nn
