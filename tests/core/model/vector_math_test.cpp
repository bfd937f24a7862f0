// The vector kernels of core/src/model/vector_math.hpp: exp, tanh and erf within 2 ulp of glibc's on dense
// sweeps of their whole range (plus random bit patterns: subnormal, huge, negative), the special values
// (±0, ±inf, NaN, subnormal inputs and results, the overflow and underflow edges), the scalar and AVX2
// kernels equal bit for bit, a value's result independent of its place in the array, and the activations
// (sigmoid, GELU) against their libm formulas. Then the double-precision network path that uses them: a
// row's outputs have the same bits alone, in any block of a batch, and on two threads.
#include "model/vector_math.hpp"

#include <unistd.h>
#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "loupe/core/model.hpp"

namespace loupe::model::vmath {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kMinSubnormal = std::numeric_limits<double>::denorm_min();

using ArrayFn = void (*)(const double*, double*, std::int64_t, Isa);

// Distance in units in the last place: the count of doubles between a and b (0 for two NaNs).
std::int64_t UlpDistance(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : INT64_MAX;
  const auto ordered = [](double d) {
    const auto i = std::bit_cast<std::int64_t>(d);
    return i < 0 ? INT64_MIN - i : i;
  };
  const std::int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

// `n` evenly spaced points of [lo, hi], random bit patterns (every exponent), and the special values.
std::vector<double> Sweep(double lo, double hi, std::int64_t n) {
  std::vector<double> x;
  for (std::int64_t i = 0; i < n; ++i) x.push_back(lo + (hi - lo) * static_cast<double>(i) / (n - 1));
  std::mt19937_64 rng(7);
  for (std::int64_t i = 0; i < n / 8; ++i) x.push_back(std::bit_cast<double>(rng()));
  for (double v : {0.0,
                   -0.0,
                   kInf,
                   -kInf,
                   kNan,
                   kMinSubnormal,
                   -kMinSubnormal,
                   1e-310,
                   -1e-310,
                   1e-300,
                   -1e-300,
                   2.2250738585072014e-308,
                   709.782712893384,
                   709.7827128933841,
                   -708.3964185322641,
                   -745.1332191019411,
                   -745.1332191019412,
                   0.75,
                   -0.75,
                   1.0,
                   -1.0,
                   1.5,
                   2.25,
                   3.5,
                   5.9,
                   6.0,
                   19.1,
                   20.0,
                   0.7499999999999999,
                   0.9999999999999999})
    x.push_back(v);
  return x;
}

// The largest ulp distance from libm over `x`, on the best kernel.
std::int64_t WorstUlp(ArrayFn fn, double (*libm)(double), const std::vector<double>& x, double* where) {
  std::vector<double> y(x.size());
  fn(x.data(), y.data(), static_cast<std::int64_t>(x.size()), BestIsa());
  std::int64_t worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::int64_t d = UlpDistance(y[i], libm(x[i]));
    if (d > worst) {
      worst = d;
      *where = x[i];
    }
  }
  return worst;
}

double LibmExp(double x) { return std::exp(x); }
double LibmTanh(double x) { return std::tanh(x); }
double LibmErf(double x) { return std::erf(x); }

TEST(VectorMathTest, ExpTanhErfAreWithinTwoUlpOfLibm) {
  struct Case {
    const char* name;
    ArrayFn fn;
    double (*libm)(double);
    double lo, hi;
  };
  const Case cases[] = {{"exp", Exp, LibmExp, -746.0, 710.0},  {"exp", Exp, LibmExp, -2.0, 2.0},
                        {"tanh", Tanh, LibmTanh, -21.0, 21.0}, {"tanh", Tanh, LibmTanh, -1.5, 1.5},
                        {"erf", Erf, LibmErf, -6.5, 6.5},      {"erf", Erf, LibmErf, -1.5, 1.5}};
  for (const Case& c : cases) {
    double where = 0;
    const std::int64_t worst = WorstUlp(c.fn, c.libm, Sweep(c.lo, c.hi, 400000), &where);
    EXPECT_LE(worst, 2) << c.name << " on [" << c.lo << ", " << c.hi << "]: " << worst << " ulp at " << where;
    RecordProperty(std::string(c.name) + "_max_ulp", std::to_string(worst));
  }
}

TEST(VectorMathTest, SpecialValuesAreLibms) {
  const std::vector<double> x = {0.0,     -0.0,   kInf,    -kInf,         kNan,  709.79, -745.2,
                                 -745.13, 1e-310, -1e-310, kMinSubnormal, 800.0, -800.0};
  std::vector<double> e(x.size()), t(x.size()), f(x.size());
  Exp(x.data(), e.data(), static_cast<std::int64_t>(x.size()));
  Tanh(x.data(), t.data(), static_cast<std::int64_t>(x.size()));
  Erf(x.data(), f.data(), static_cast<std::int64_t>(x.size()));
  EXPECT_EQ(e[0], 1.0);
  EXPECT_EQ(e[1], 1.0);
  EXPECT_EQ(e[2], kInf);
  EXPECT_EQ(e[3], 0.0);
  EXPECT_TRUE(std::isnan(e[4]) && std::isnan(t[4]) && std::isnan(f[4]));
  EXPECT_EQ(e[5], kInf);               // overflow
  EXPECT_EQ(e[6], 0.0);                // below half the smallest subnormal
  EXPECT_EQ(e[7], std::exp(-745.13));  // a subnormal result
  EXPECT_GT(e[7], 0.0);
  EXPECT_EQ(e[11], kInf);
  EXPECT_EQ(e[12], 0.0);
  for (const auto* y : {&t, &f}) {
    EXPECT_EQ((*y)[0], 0.0);
    EXPECT_FALSE(std::signbit((*y)[0]));
    EXPECT_EQ((*y)[1], 0.0);
    EXPECT_TRUE(std::signbit((*y)[1]));  // −0.0 stays −0.0
    EXPECT_EQ((*y)[2], 1.0);
    EXPECT_EQ((*y)[3], -1.0);
    EXPECT_EQ((*y)[11], 1.0);
    EXPECT_EQ((*y)[12], -1.0);
  }
  EXPECT_EQ(t[8], 1e-310);  // tanh x = x for subnormal x
  EXPECT_EQ(t[9], -1e-310);
  EXPECT_EQ(t[10], kMinSubnormal);
  EXPECT_EQ(f[8], std::erf(1e-310));
  EXPECT_EQ(f[9], std::erf(-1e-310));
}

TEST(VectorMathTest, ScalarAndAvx2KernelsAgreeBitForBit) {
  if (BestIsa() != Isa::kAvx2) GTEST_SKIP() << "this CPU has no AVX2 and FMA: only the scalar kernels run";
  for (const ArrayFn fn : {Exp, Tanh, Erf, Sigmoid, GeluErf, GeluTanh}) {
    const std::vector<double> x = Sweep(-50.0, 50.0, 100000);
    std::vector<double> scalar(x.size()), vector(x.size());
    fn(x.data(), scalar.data(), static_cast<std::int64_t>(x.size()), Isa::kScalar);
    fn(x.data(), vector.data(), static_cast<std::int64_t>(x.size()), Isa::kAvx2);
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(std::bit_cast<std::uint64_t>(scalar[i]), std::bit_cast<std::uint64_t>(vector[i]))
          << "x = " << x[i] << ": scalar " << scalar[i] << ", AVX2 " << vector[i];
    }
  }
}

TEST(VectorMathTest, AValuesResultDoesNotDependOnItsPlaceInTheArray) {
  const std::vector<double> x = {-3.7, -0.9, -0.2, 0.0, 0.4, 0.8, 1.3, 2.6, 4.1, 7.5, -12.0};
  const auto n = static_cast<std::int64_t>(x.size());
  for (const ArrayFn fn : {Exp, Tanh, Erf, Sigmoid, GeluErf, GeluTanh}) {
    std::vector<double> whole(x.size());
    fn(x.data(), whole.data(), n, BestIsa());
    for (std::int64_t begin = 0; begin < n; ++begin) {
      for (std::int64_t end = begin + 1; end <= n; ++end) {  // every sub-array: vector lanes and tails
        std::vector<double> part(static_cast<std::size_t>(end - begin));
        fn(x.data() + begin, part.data(), end - begin, BestIsa());
        for (std::int64_t i = begin; i < end; ++i)
          ASSERT_EQ(std::bit_cast<std::uint64_t>(part[static_cast<std::size_t>(i - begin)]),
                    std::bit_cast<std::uint64_t>(whole[static_cast<std::size_t>(i)]));
      }
    }
    std::vector<double> in_place = x;  // y may be x
    fn(in_place.data(), in_place.data(), n, BestIsa());
    EXPECT_EQ(in_place, whole);
  }
}

TEST(VectorMathTest, ActivationsEqualTheirLibmFormulas) {
  const std::vector<double> x = Sweep(-40.0, 40.0, 200001);
  std::vector<double> sigmoid(x.size()), gelu(x.size()), gelu_tanh(x.size());
  const auto n = static_cast<std::int64_t>(x.size());
  Sigmoid(x.data(), sigmoid.data(), n);
  GeluErf(x.data(), gelu.data(), n);
  GeluTanh(x.data(), gelu_tanh.data(), n);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    if (!std::isfinite(v) || std::abs(v) > 1e300) continue;
    const double s = 1.0 / (1.0 + std::exp(-v));
    const double g = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    const double gt = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    // Sigmoid: an ulp of e^{-x} can move 1 + e^{-x} by two once e^{-x} > 2^52 (the sum's tie), then the
    // quotient rounds: 4 ulp.
    EXPECT_LE(UlpDistance(sigmoid[i], s), 4) << "sigmoid(" << v << ")";
    // GELU: 1 + erf cancels for negative x; its error is erf's absolute one (an ulp of 1) times x / 2.
    const double tolerance = 4e-16 * std::max(1.0, std::abs(v));
    ASSERT_NEAR(gelu[i], g, tolerance) << "gelu(" << v << ")";
    ASSERT_NEAR(gelu_tanh[i], gt, tolerance) << "gelu_tanh(" << v << ")";
  }
}

TEST(VectorMathTest, AddScaledRoundsTheProductAndTheSumSeparatelyAndSkipsZeroScales) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0.0, 3.0);
  for (std::int64_t n = 0; n < 23; ++n) {  // vector lanes and every tail length
    constexpr std::int64_t kCount = 5;     // columns, or rows
    std::vector<double> z(static_cast<std::size_t>(kCount * n)), w(z.size()), s(kCount);
    for (double& v : z) v = normal(rng);
    for (double& v : w) v = normal(rng);
    for (double& v : s) v = normal(rng);
    s[2] = 0.0;
    if (n > 0) w[static_cast<std::size_t>(2 * n)] = kInf;  // a skipped scale: no inf · 0 = NaN
    // Columns: z[0, n) += Σ_j columns_j · s[j], in the order of j.
    std::vector<double> columns = z, expected = z;
    for (std::int64_t j = 0; j < kCount; ++j) {
      if (s[static_cast<std::size_t>(j)] == 0.0) continue;
      for (std::int64_t o = 0; o < n; ++o) {
        volatile double product = w[static_cast<std::size_t>(j * n + o)] * s[static_cast<std::size_t>(j)];
        expected[static_cast<std::size_t>(o)] = expected[static_cast<std::size_t>(o)] + product;
      }
    }
    AddScaledColumns(columns.data(), w.data(), s.data(), kCount, n);
    for (std::size_t k = 0; k < z.size(); ++k)
      ASSERT_EQ(std::bit_cast<std::uint64_t>(columns[k]), std::bit_cast<std::uint64_t>(expected[k])) << n;
    // Rows: z[r·n + o] += w[o] · s[r].
    std::vector<double> rows = z;
    expected = z;
    for (std::int64_t r = 0; r < kCount; ++r) {
      if (s[static_cast<std::size_t>(r)] == 0.0) continue;
      for (std::int64_t o = 0; o < n; ++o) {
        volatile double product = w[static_cast<std::size_t>(o)] * s[static_cast<std::size_t>(r)];
        expected[static_cast<std::size_t>(r * n + o)] =
            expected[static_cast<std::size_t>(r * n + o)] + product;
      }
    }
    AddScaledRows(rows.data(), w.data(), s.data(), kCount, n);
    for (std::size_t k = 0; k < z.size(); ++k)
      ASSERT_EQ(std::bit_cast<std::uint64_t>(rows[k]), std::bit_cast<std::uint64_t>(expected[k])) << n;
  }
}

// --- the double-precision network path ------------------------------------------------------------------

const std::filesystem::path kSource(LOUPE_SOURCE_DIR);

// The breast_cancer MLP fixture (linear, tanh, linear, gelu, linear, softmax) with `precision: f64`.
std::shared_ptr<const Model> BreastCancerMlpInDoublePrecision() {
  std::ifstream in(kSource / "tests/fixtures/models/breast_cancer_mlp.yaml");
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  const std::string weights = "weights: breast_cancer_mlp.safetensors";
  yaml.replace(yaml.find(weights), weights.size(),
               "weights: " + (kSource / "tests/fixtures/models/breast_cancer_mlp.safetensors").string() +
                   "\nprecision: f64");
  const auto path =
      std::filesystem::temp_directory_path() / ("loupe-vecmath-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << yaml;
  auto model = LoadModel(path);
  std::filesystem::remove(path);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? *model : nullptr;
}

TEST(VectorMathTest, NetworkRowsHaveTheSameBitsAloneInBlocksAndOnTwoThreads) {
  const auto model = BreastCancerMlpInDoublePrecision();
  ASSERT_NE(model, nullptr);
  const auto width = static_cast<std::int64_t>(model->Info().inputs.size());
  constexpr std::int64_t kRows = 203;  // blocks of 64 and a tail of 11
  std::vector<double> values(static_cast<std::size_t>(kRows * width));
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<double>((i * 7919) % 97) * 9.0 - 40.0;
  const Tensor batch = Tensor::FromVector(values, {kRows, width});
  for (const OutputSpace space : {OutputSpace::kProbability, OutputSpace::kRaw}) {
    auto whole = model->Predict(batch, space);
    ASSERT_TRUE(whole.ok()) << whole.status().message();
    const std::int64_t n_out = whole->dim(1);
    for (std::int64_t r = 0; r < kRows; r += 5) {  // rows alone
      auto alone = model->Predict(batch.view().Rows(r, r + 1), space);
      ASSERT_TRUE(alone.ok());
      for (std::int64_t o = 0; o < n_out; ++o)
        ASSERT_EQ(std::bit_cast<std::uint64_t>(alone->data<double>()[o]),
                  std::bit_cast<std::uint64_t>(whole->data<double>()[r * n_out + o]))
            << "row " << r;
    }
    std::vector<double> halves(static_cast<std::size_t>(kRows * n_out));  // two threads, split at row 77
    std::thread other([&] {
      ASSERT_TRUE(model
                      ->PredictInto(batch.view().Rows(77, kRows), space,
                                    std::span<double>(halves.data() + 77 * n_out, (kRows - 77) * n_out))
                      .ok());
    });
    ASSERT_TRUE(
        model->PredictInto(batch.view().Rows(0, 77), space, std::span<double>(halves.data(), 77 * n_out))
            .ok());
    other.join();
    for (std::size_t k = 0; k < halves.size(); ++k)
      ASSERT_EQ(std::bit_cast<std::uint64_t>(halves[k]),
                std::bit_cast<std::uint64_t>(whole->data<double>()[k]));
  }
}

}  // namespace
}  // namespace loupe::model::vmath
