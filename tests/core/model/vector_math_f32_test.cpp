// The single-precision kernels of model/vector_math.hpp (the f32 network path's row variants): accuracy
// against the double-precision functions rounded to float, the scalar and AVX2 paths computing the same
// bits, a value's bits independent of its place in the array, and special values.
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "model/vector_math.hpp"

namespace loupe::model::vmath {
namespace {

// Distance in representable floats (0 for equal values, ±0 included).
std::int64_t UlpDistance(float a, float b) {
  if (a == b) return 0;
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<std::int64_t>::max();
  const auto ordered = [](float v) {
    const auto bits = static_cast<std::int64_t>(std::bit_cast<std::int32_t>(v));
    return bits < 0 ? std::int64_t{INT32_MIN} - bits : bits;
  };
  return std::abs(ordered(a) - ordered(b));
}

std::vector<float> Sweep(float lo, float hi, std::int64_t n) {
  std::vector<float> x(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    x[static_cast<std::size_t>(i)] = lo + (hi - lo) * static_cast<float>(i) / static_cast<float>(n - 1);
  return x;
}

using Kernel = void (*)(const float*, float*, std::int64_t, Isa);

// The GELUs in double from the kernels' own f32 arguments (x·(1/√2), and √(2/π)·(x + 0.044715·x³) with
// its FMA, each rounded to float): how far the kernel is from the exact function of the argument it
// computed. The rounding of that argument moves a GELU's far negative tail by its condition number (~x²),
// as it does PyTorch's float32 GELU.
double GeluErfRef(double x) {
  const float y = static_cast<float>(x) * 0x1.6a09e6p-1f;
  return 0.5 * x * std::erfc(-static_cast<double>(y));
}
double GeluTanhRef(double x) {
  const auto xf = static_cast<float>(x);
  const float cube = 0.044715f * xf * xf;
  const float z = 0x1.988454p-1f * std::fma(cube, xf, xf);
  return 0.5 * x * (2.0 / (1.0 + std::exp(-2.0 * static_cast<double>(z))));
}
double SigmoidRef(double x) { return 1.0 / (1.0 + std::exp(-x)); }

struct Case {
  const char* name;
  Kernel kernel;
  double (*reference)(double);
  float lo, hi;
  std::int64_t max_ulp;  // the worst measured on the sweep, rounded up
};

const Case kCases[] = {
    {"exp", Exp, [](double x) { return std::exp(x); }, -87.0f, 88.0f, 2},
    {"tanh", Tanh, [](double x) { return std::tanh(x); }, -12.0f, 12.0f, 3},
    {"sigmoid", Sigmoid, SigmoidRef, -80.0f, 30.0f, 3},
    {"gelu", GeluErf, GeluErfRef, -12.0f, 12.0f, 8},
    {"gelu_tanh", GeluTanh, GeluTanhRef, -12.0f, 12.0f, 8},
};

TEST(VectorMathF32Test, KernelsAreWithinAFewUlpOfTheDoublePrecisionFunctions) {
  for (const Case& c : kCases) {
    const std::vector<float> x = Sweep(c.lo, c.hi, 400001);
    std::vector<float> y(x.size());
    c.kernel(x.data(), y.data(), static_cast<std::int64_t>(x.size()), BestIsa());
    std::int64_t worst = 0;
    float where = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const auto expected = static_cast<float>(c.reference(static_cast<double>(x[i])));
      if (std::abs(expected) < std::numeric_limits<float>::min()) continue;  // subnormal results
      const std::int64_t d = UlpDistance(y[i], expected);
      if (d > worst) {
        worst = d;
        where = x[i];
      }
    }
    std::printf("%s: worst %lld ulp at %.9g\n", c.name, static_cast<long long>(worst), where);
    EXPECT_LE(worst, c.max_ulp) << c.name << " at " << where;
  }
}

TEST(VectorMathF32Test, ScalarAndAvx2KernelsAgreeBitForBit) {
  if (BestIsa() != Isa::kAvx2) GTEST_SKIP() << "this CPU has no AVX2 + FMA";
  std::vector<float> x = Sweep(-100.0f, 100.0f, 200003);
  for (const float special : {0.0f, -0.0f, 1e-30f, -1e-40f, std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(), std::nanf("")})
    x.push_back(special);
  for (const Case& c : kCases) {
    std::vector<float> scalar(x.size()), vector(x.size());
    c.kernel(x.data(), scalar.data(), static_cast<std::int64_t>(x.size()), Isa::kScalar);
    c.kernel(x.data(), vector.data(), static_cast<std::int64_t>(x.size()), Isa::kAvx2);
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(std::bit_cast<std::uint32_t>(scalar[i]), std::bit_cast<std::uint32_t>(vector[i]))
          << c.name << "(" << x[i] << ")";
    }
  }
}

TEST(VectorMathF32Test, AValuesResultDoesNotDependOnItsPlaceInTheArray) {
  const std::vector<float> x = Sweep(-9.0f, 9.0f, 37);
  for (const Case& c : kCases) {
    std::vector<float> whole(x.size());
    c.kernel(x.data(), whole.data(), static_cast<std::int64_t>(x.size()), BestIsa());
    for (std::size_t start = 0; start < x.size(); ++start) {
      for (std::size_t length = 1; start + length <= x.size(); length += 3) {
        std::vector<float> part(length);
        c.kernel(x.data() + start, part.data(), static_cast<std::int64_t>(length), BestIsa());
        for (std::size_t i = 0; i < length; ++i)
          ASSERT_EQ(std::bit_cast<std::uint32_t>(part[i]), std::bit_cast<std::uint32_t>(whole[start + i]))
              << c.name << " start " << start << " length " << length;
      }
    }
  }
}

TEST(VectorMathF32Test, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {0.0f, -0.0f, inf, -inf, std::nanf(""), 89.0f, -104.0f};
  std::vector<float> y(x.size());
  Exp(x.data(), y.data(), 7);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[2], inf);
  EXPECT_EQ(y[3], 0.0f);
  EXPECT_TRUE(std::isnan(y[4]));
  EXPECT_EQ(y[5], inf);
  EXPECT_EQ(y[6], 0.0f);
  Tanh(x.data(), y.data(), 5);
  EXPECT_EQ(std::bit_cast<std::uint32_t>(y[1]), std::bit_cast<std::uint32_t>(-0.0f));
  EXPECT_EQ(y[2], 1.0f);
  EXPECT_EQ(y[3], -1.0f);
  EXPECT_TRUE(std::isnan(y[4]));
  GeluErf(x.data(), y.data(), 5);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[2], inf);
  EXPECT_TRUE(std::isnan(y[4]));
  GeluTanh(x.data(), y.data(), 5);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_TRUE(std::isnan(y[4]));
}

TEST(VectorMathF32Test, AddScaledIsOneFmaPerTermInOrderAndSkipsZeroScales) {
  const std::vector<float> columns = {1e8f, 1.0f, 3.0f, -1e8f, 7.0f, 0.1f, 0.3f, 5.0f, 0.7f};
  const std::vector<float> s = {1.0f, 0.0f, 1.0f / 3.0f};
  for (const Isa isa : {Isa::kScalar, BestIsa()}) {
    std::vector<float> z = {0.5f, -2.0f, 1.0f};
    AddScaledColumns(z.data(), columns.data(), s.data(), 3, 3, isa);
    float expected[3] = {0.5f, -2.0f, 1.0f};
    for (int j : {0, 2})
      for (int o = 0; o < 3; ++o) expected[o] = std::fma(columns[j * 3 + o], s[j], expected[o]);
    for (int o = 0; o < 3; ++o) EXPECT_EQ(z[o], expected[o]) << o;
    std::vector<float> gathered = {0.5f, -2.0f, 1.0f};
    const std::int64_t index[] = {2, 1, 0};
    AddScaledGathered(gathered.data(), columns.data(), s.data(), index, 3, 3, isa);
    float in_order[3] = {0.5f, -2.0f, 1.0f};
    for (int j : {2, 0})
      for (int o = 0; o < 3; ++o) in_order[o] = std::fma(columns[j * 3 + o], s[j], in_order[o]);
    for (int o = 0; o < 3; ++o) EXPECT_EQ(gathered[o], in_order[o]) << o;
  }
}

// The lane-major linear update: each lane (row) gets the FMAs of its own scales in the order given, the
// same bits on the scalar path and on AVX2 (eight rows in registers), for every output-block size.
TEST(VectorMathF32Test, AddScaledLanesIsThePlainFmaLoopOnEveryPath) {
  std::uint32_t state = 7;
  const auto next = [&state] {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / 16777216.0f - 0.5f;
  };
  const std::int64_t lanes = 24, count = 11;
  for (const std::int64_t n : {1, 2, 3, 7, 8, 13, 16}) {
    std::vector<float> columns(static_cast<std::size_t>(20 * n)),
        scales(static_cast<std::size_t>(count * lanes)), start(static_cast<std::size_t>(n * lanes));
    for (float& v : columns) v = next();
    for (float& v : scales) v = next() * 100.0f;
    for (float& v : start) v = next();
    std::vector<const float*> pointers;
    for (std::int64_t j = 0; j < count; ++j) pointers.push_back(scales.data() + j * lanes);
    const std::vector<std::int64_t> index = {19, 0, 3, 3, 12, 7, 1, 18, 5, 9, 2};
    std::vector<float> expected = start;
    for (std::int64_t o = 0; o < n; ++o) {
      for (std::int64_t r = 0; r < lanes; ++r) {
        float z = start[static_cast<std::size_t>(o * lanes + r)];
        for (std::int64_t j = 0; j < count; ++j)
          z = std::fma(columns[static_cast<std::size_t>(index[j] * n + o)], pointers[j][r], z);
        expected[static_cast<std::size_t>(o * lanes + r)] = z;
      }
    }
    for (const Isa isa : {Isa::kScalar, BestIsa()}) {
      std::vector<float> z = start;
      AddScaledLanes(z.data(), columns.data(), n, pointers.data(), index.data(), count, lanes, isa);
      for (std::size_t i = 0; i < z.size(); ++i)
        ASSERT_EQ(std::bit_cast<std::uint32_t>(z[i]), std::bit_cast<std::uint32_t>(expected[i]))
            << n << " " << i;
    }
  }
}

}  // namespace
}  // namespace loupe::model::vmath
