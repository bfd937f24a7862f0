// The gradients plugin on the SDK's mock host, with a model whose gradient is known in closed form:
// f_o(x) = tanh(a_o · x + b_o) over the numeric features (a categorical feature adds c_o per level code).
// Checks Captum's quadrature rules, each method's definition, integrated gradients' completeness within
// its reported delta (and the delta shrinking with n_steps), identical bits on 1 and 2 threads, the
// refusals, and the conformance kit. Agreement with Captum's formulas on Loupe's networks (PyTorch
// autograd references) is tests/e2e/gradients_e2e_test.cpp.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "loupe/sdk/error.hpp"
#include "loupe/testing/conformance.hpp"
#include "loupe/testing/mock_host.hpp"
#include "quadrature.hpp"

extern "C" const LoupePluginEntryFn loupe_plugin_entry_v1;

namespace {

using loupe::testing::MockColumn;
using loupe::testing::MockDataset;
using loupe::testing::MockHost;
using loupe::testing::MockModel;
using loupe::testing::MockRunOptions;
using loupe::testing::MockRunResult;

constexpr int kOutputs = 2;
// a_o for the 3 numeric features, b_o, and the categorical's effect per level code.
const double kA[kOutputs][3] = {{0.8, -0.5, 0.3}, {-0.2, 0.6, 0.9}};
const double kB[kOutputs] = {0.1, -0.3};
const double kC[kOutputs] = {0.4, -0.7};

double Margin(const double* x, int o) {
  return kA[o][0] * x[0] + kA[o][1] * x[1] + kA[o][2] * x[2] + kB[o] + kC[o] * x[3];
}

MockDataset Data() {
  MockDataset data;
  std::vector<double> a, b, c, color;
  for (int i = 0; i < 40; ++i) {
    a.push_back(std::sin(i * 0.7) * 2.0);
    b.push_back(std::cos(i * 1.3) * 1.5);
    c.push_back(0.1 * i - 2.0);
    color.push_back(i % 3);
  }
  data.features = {MockColumn::Numeric("a", a), MockColumn::Numeric("b", b), MockColumn::Numeric("c", c),
                   MockColumn::Categorical("color", {"red", "green", "blue"}, color)};
  return data;
}

MockModel TanhModel(bool with_gradient = true) {
  MockModel model = MockModel::Regressor({"y0", "y1"}, [](const double* x, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i)
      for (int o = 0; o < kOutputs; ++o) out[i * kOutputs + o] = std::tanh(Margin(x + i * 4, o));
  });
  if (!with_gradient) return model;
  model.gradient = [](const double* x, std::int64_t n, LoupeOutputSpace, const double* w, double* out) {
    for (std::int64_t i = 0; i < n; ++i) {
      for (int j = 0; j < 4; ++j) out[i * 4 + j] = 0.0;
      for (int o = 0; o < kOutputs; ++o) {
        const double t = std::tanh(Margin(x + i * 4, o));
        const double d = w[i * kOutputs + o] * (1.0 - t * t);
        for (int j = 0; j < 3; ++j) out[i * 4 + j] += d * kA[o][j];
        out[i * 4 + 3] += d * kC[o];  // the categorical: a sum over its (here single) encoded column
      }
    }
  };
  return model;
}

MockRunResult RunGrad(const std::string& explainer, const nlohmann::json& params, int threads = 1,
                      MockModel model = TanhModel()) {
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, nullptr, 0);
  const LoupeExplainerVTable* vtable = loupe::testing::FindExplainer(*info, explainer);
  EXPECT_NE(vtable, nullptr) << explainer;
  MockHost host(Data(), std::move(model));
  MockRunOptions run;
  run.params = params;
  run.rows = {0, 5, 17, 39};
  run.threads = threads;
  run.seed = 7;
  return host.Run(*vtable, run);
}

double Value(const MockRunResult& r, int row, int output, int feature) {
  return r.json["values"][row][output][feature].get<double>();
}

std::vector<double> Row(int i) {
  const MockDataset data = Data();
  std::vector<double> x;
  for (const auto& column : data.features) x.push_back(column.values[static_cast<std::size_t>(i)]);
  return x;
}

TEST(Quadrature, GaussLegendreMatchesTheClosedFormThreePointRule) {
  const loupe::gradients::Quadrature q = loupe::gradients::MakeQuadrature("gausslegendre", 3);
  const double r = std::sqrt(3.0 / 5.0);
  EXPECT_NEAR(q.alphas[0], 0.5 * (1 - r), 1e-15);
  EXPECT_NEAR(q.alphas[1], 0.5, 1e-15);
  EXPECT_NEAR(q.alphas[2], 0.5 * (1 + r), 1e-15);
  EXPECT_NEAR(q.weights[0], 5.0 / 18.0, 1e-15);
  EXPECT_NEAR(q.weights[1], 8.0 / 18.0, 1e-15);
}

TEST(Quadrature, GaussLegendreIntegratesPolynomialsOfDegreeTwoNMinusOneExactly) {
  for (int n : {1, 2, 7, 50, 128}) {
    const loupe::gradients::Quadrature q = loupe::gradients::MakeQuadrature("gausslegendre", n);
    double integral = 0.0;  // ∫_0^1 x^(2n-1) dx = 1 / (2n)
    for (int k = 0; k < n; ++k) integral += q.weights[k] * std::pow(q.alphas[k], 2 * n - 1);
    EXPECT_NEAR(integral, 1.0 / (2.0 * n), 1e-13) << n;
  }
}

TEST(Quadrature, RiemannRulesUseCaptumsPointsAndWeights) {
  using loupe::gradients::MakeQuadrature;
  EXPECT_EQ(MakeQuadrature("riemann_left", 4).alphas, (std::vector<double>{0.0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(MakeQuadrature("riemann_right", 4).alphas, (std::vector<double>{0.25, 0.5, 0.75, 1.0}));
  EXPECT_EQ(MakeQuadrature("riemann_middle", 4).alphas, (std::vector<double>{0.125, 0.375, 0.625, 0.875}));
  const auto trapezoid = MakeQuadrature("riemann_trapezoid", 4);
  EXPECT_EQ(trapezoid.alphas, (std::vector<double>{0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0}));
  EXPECT_EQ(trapezoid.weights, (std::vector<double>{0.125, 0.25, 0.25, 0.125}));  // Captum: 1/n, ends halved
  EXPECT_THROW(MakeQuadrature("riemann_left", 1), loupe::sdk::Error);
}

TEST(GradSaliency, IsTheAbsoluteGradientByDefaultAndTheSignedOneWithAbsFalse) {
  const MockRunResult abs = RunGrad("grad.saliency", nlohmann::json::object());
  const MockRunResult signed_ = RunGrad("grad.saliency", {{"abs", false}});
  ASSERT_TRUE(abs.ok()) << abs.error;
  ASSERT_TRUE(signed_.ok()) << signed_.error;
  const std::vector<double> x = Row(17);
  for (int o = 0; o < kOutputs; ++o) {
    const double t = std::tanh(Margin(x.data(), o));
    for (int j = 0; j < 3; ++j) {
      EXPECT_NEAR(Value(signed_, 2, o, j), (1 - t * t) * kA[o][j], 1e-12);
      EXPECT_NEAR(Value(abs, 2, o, j), std::abs((1 - t * t) * kA[o][j]), 1e-12);
    }
  }
}

TEST(GradInputXGradient, MultipliesNumericFeaturesByTheirGradientAndGivesCategoricalsZero) {
  const MockRunResult r = RunGrad("grad.input_x_gradient", nlohmann::json::object());
  ASSERT_TRUE(r.ok()) << r.error;
  const std::vector<double> x = Row(5);
  for (int o = 0; o < kOutputs; ++o) {
    const double t = std::tanh(Margin(x.data(), o));
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(Value(r, 1, o, j), x[j] * (1 - t * t) * kA[o][j], 1e-12);
    EXPECT_EQ(Value(r, 1, o, 3), 0.0);
  }
}

TEST(GradIntegratedGradients, CompletenessHoldsWithinTheReportedDelta) {
  const MockRunResult r = RunGrad("grad.integrated_gradients", nlohmann::json::object());
  ASSERT_TRUE(r.ok()) << r.error;
  for (int i = 0; i < 4; ++i) {
    const std::vector<double> x = Row(static_cast<int>(r.json["rows"][i].get<std::int64_t>()));
    std::vector<double> baseline = {0, 0, 0, x[3]};  // zeros; the categorical held at the row's level
    for (int o = 0; o < kOutputs; ++o) {
      double sum = 0;
      for (int j = 0; j < 4; ++j) sum += Value(r, i, o, j);
      const double difference = std::tanh(Margin(x.data(), o)) - std::tanh(Margin(baseline.data(), o));
      const double delta = r.json["convergence_delta"][i][o].get<double>();
      EXPECT_NEAR(sum - difference, delta, 1e-12);
      EXPECT_LT(std::abs(delta), 1e-6);  // 50 Gauss–Legendre points on a smooth path
      EXPECT_NEAR(r.json["base_values"][i][o].get<double>(), std::tanh(Margin(baseline.data(), o)), 1e-12);
    }
  }
}

TEST(GradIntegratedGradients, DeltaShrinksAsNStepsGrows) {
  double previous = INFINITY;
  for (int steps : {4, 16, 64, 256}) {
    const MockRunResult r =
        RunGrad("grad.integrated_gradients", {{"n_steps", steps}, {"method", "riemann_trapezoid"}});
    ASSERT_TRUE(r.ok()) << r.error;
    const double delta = r.json["quality"]["convergence_delta"].get<double>();
    EXPECT_LT(delta, previous) << steps;
    previous = delta;
  }
}

TEST(GradIntegratedGradients, InternalBatchSizeDoesNotChangeTheBits) {
  const MockRunResult whole = RunGrad("grad.integrated_gradients", nlohmann::json::object());
  const MockRunResult pieces = RunGrad("grad.integrated_gradients", {{"internal_batch_size", 7}});
  ASSERT_TRUE(pieces.ok()) << pieces.error;
  EXPECT_EQ(whole.json["values"], pieces.json["values"]);
  EXPECT_GT(pieces.predict_calls, whole.predict_calls);
}

TEST(GradSmoothGrad, VarGradIsTheMeanSquareMinusTheSquaredMean) {
  const MockRunResult mean = RunGrad("grad.smoothgrad", {{"nt_samples", 8}, {"stdevs", 0.5}});
  const MockRunResult squares =
      RunGrad("grad.smoothgrad", {{"nt_samples", 8}, {"stdevs", 0.5}, {"nt_type", "smoothgrad_sq"}});
  const MockRunResult var =
      RunGrad("grad.smoothgrad", {{"nt_samples", 8}, {"stdevs", 0.5}, {"nt_type", "vargrad"}});
  ASSERT_TRUE(var.ok()) << var.error;
  for (int j = 0; j < 4; ++j) {
    const double m = Value(mean, 0, 1, j);
    EXPECT_NEAR(Value(var, 0, 1, j), Value(squares, 0, 1, j) - m * m, 1e-12);
  }
}

TEST(GradSmoothGrad, WithoutNoiseEqualsSaliency) {
  const MockRunResult smooth = RunGrad("grad.smoothgrad", {{"stdevs", 0.0}});
  const MockRunResult saliency = RunGrad("grad.saliency", nlohmann::json::object());
  ASSERT_TRUE(smooth.ok()) << smooth.error;
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(Value(smooth, 3, 0, j), Value(saliency, 3, 0, j), 1e-12);
}

TEST(GradNoiseMethods, GiveTheSameBitsOnOneAndTwoThreads) {
  for (const char* name : {"grad.smoothgrad", "grad.gradient_shap", "grad.integrated_gradients"}) {
    const MockRunResult one = RunGrad(name, nlohmann::json::object(), 1);
    const MockRunResult two = RunGrad(name, nlohmann::json::object(), 2);
    ASSERT_TRUE(one.ok()) << name << ": " << one.error;
    EXPECT_EQ(one.json.dump(), two.json.dump()) << name;
  }
}

TEST(GradGradientShap, WithOneBaselineAndNoNoiseAveragesInputTimesGradientAlongThePath) {
  // One background row r0: every sample's attribution is (x − r0) · ∇f(r0 + α (x − r0)); summed over the
  // features it equals the directional derivative, which lies between the path's extremes.
  const MockRunResult r = RunGrad("grad.gradient_shap", {{"background", "3:4"}, {"n_samples", 50}});
  ASSERT_TRUE(r.ok()) << r.error;
  const std::vector<double> base = Row(3);
  for (int i = 0; i < 4; ++i) {
    const std::vector<double> x = Row(static_cast<int>(r.json["rows"][i].get<std::int64_t>()));
    std::vector<double> held = base;
    held[3] = x[3];
    double sum = 0;
    for (int j = 0; j < 4; ++j) sum += Value(r, i, 0, j);
    const double difference = std::tanh(Margin(x.data(), 0)) - std::tanh(Margin(held.data(), 0));
    EXPECT_NEAR(sum, difference, 0.25 * std::abs(difference) + 1e-3);  // a 50-sample Monte Carlo estimate
    EXPECT_NEAR(r.json["base_values"][i][0].get<double>(), std::tanh(Margin(held.data(), 0)), 1e-12);
  }
}

TEST(GradExplainers, RefuseAModelWithoutTheGradientCapability) {
  const MockRunResult r = RunGrad("grad.saliency", nlohmann::json::object(), 1, TanhModel(false));
  EXPECT_EQ(r.status, LOUPE_ERROR_UNSUPPORTED);
  EXPECT_NE(r.error.find("offers no gradient"), std::string::npos) << r.error;
}

TEST(GradDeepLift, RefusesAModelWhoseLayersTheRescaleRuleDoesNotDefine) {
  const MockRunResult r = RunGrad("grad.deeplift", nlohmann::json::object());
  EXPECT_EQ(r.status, LOUPE_ERROR_UNSUPPORTED);
  EXPECT_NE(r.error.find("rescale rule does not define"), std::string::npos) << r.error;
}

TEST(GradDeepLift, ReportsTheSummationDelta) {
  MockModel model = TanhModel();
  // The rescale rule on one tanh unit per output: (f(x) − f(x0)) / (m − m0) · a_j (x_j − x0_j).
  model.deeplift = [](const double* x, const double* x0, std::int64_t n, LoupeOutputSpace, const double* w,
                      double* out) {
    for (std::int64_t i = 0; i < n; ++i) {
      for (int j = 0; j < 4; ++j) out[i * 4 + j] = 0.0;
      for (int o = 0; o < kOutputs; ++o) {
        const double m = Margin(x + i * 4, o), m0 = Margin(x0 + i * 4, o);
        const double ratio = std::abs(m - m0) < 1e-10 ? 1 - std::tanh(m) * std::tanh(m)
                                                      : (std::tanh(m) - std::tanh(m0)) / (m - m0);
        for (int j = 0; j < 4; ++j) {
          const double coefficient = j < 3 ? kA[o][j] : kC[o];
          out[i * 4 + j] += w[i * kOutputs + o] * ratio * coefficient * (x[i * 4 + j] - x0[i * 4 + j]);
        }
      }
    }
  };
  const MockRunResult r = RunGrad("grad.deeplift", {{"baselines", "mean"}}, 2, model);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_LT(r.json["quality"]["convergence_delta"].get<double>(), 1e-12);
}

TEST(GradIntegratedGradients, RefusesABaselineItCannotRead) {
  const MockRunResult r = RunGrad("grad.integrated_gradients", {{"baselines", {{"values", {{"nope", 1}}}}}});
  EXPECT_EQ(r.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(r.error.find("nope"), std::string::npos) << r.error;
}

// A mock text model (the "text_gradient" capability): data row r has 2 + r % 3 tokens of width 3, token s
// of word s / 2, embeddings e[s][j] = sin(r + 0.7 s + 1.3 j); f_o(x) = tanh(Σ_s Σ_j a_o[j] x_sj), so
// ∂f_o/∂x_sj = (1 − f_o²) a_o[j].
constexpr int kTextWidth = 3;
const double kTextA[kOutputs][kTextWidth] = {{0.5, -0.4, 0.2}, {-0.3, 0.25, 0.6}};

loupe::testing::MockTokenEmbeddings TextOfRow(std::int64_t row) {
  loupe::testing::MockTokenEmbeddings e;
  const std::int64_t T = 2 + row % 3;
  for (std::int64_t s = 0; s < T; ++s) {
    e.tokens.push_back("t" + std::to_string(s));
    e.word_index.push_back(s / 2);
    for (int j = 0; j < kTextWidth; ++j)
      e.embeddings.push_back(static_cast<float>(std::sin(row + 0.7 * s + 1.3 * j)));
  }
  for (std::int64_t w = 0; w <= (T - 1) / 2; ++w) e.words.push_back("w" + std::to_string(w));
  return e;
}

MockModel TextTanhModel() {
  MockModel model = TanhModel(false);
  model.text_gradient.width = kTextWidth;
  model.text_gradient.pad_embedding = {0.1f, -0.2f, 0.05f};
  model.text_gradient.embed = &TextOfRow;
  model.text_gradient.layer_gradient = [](const float* x, std::int64_t n, std::int64_t t,
                                          const std::int64_t* lengths, LoupeOutputSpace, const double* w,
                                          float* g, double* f) {
    for (std::int64_t r = 0; r < n; ++r) {
      const float* row = x + r * t * kTextWidth;
      float* grad = g + r * t * kTextWidth;
      std::fill(grad, grad + t * kTextWidth, 0.0f);
      for (int o = 0; o < kOutputs; ++o) {
        double margin = 0;
        for (std::int64_t s = 0; s < lengths[r]; ++s)
          for (int j = 0; j < kTextWidth; ++j) margin += kTextA[o][j] * row[s * kTextWidth + j];
        const double value = std::tanh(margin);
        if (f != nullptr) f[r * kOutputs + o] = value;
        for (std::int64_t s = 0; s < lengths[r]; ++s)
          for (int j = 0; j < kTextWidth; ++j)
            grad[s * kTextWidth + j] +=
                static_cast<float>(w[r * kOutputs + o] * (1 - value * value) * kTextA[o][j]);
      }
    }
  };
  return model;
}

double TextMargin(std::int64_t row, int o) {
  const auto e = TextOfRow(row);
  double margin = 0;
  for (std::size_t c = 0; c < e.embeddings.size(); ++c) margin += kTextA[o][c % kTextWidth] * e.embeddings[c];
  return margin;
}

TEST(GradTextSaliency, SumsTheAbsoluteOrSignedGradientOverTheEmbeddingPerTokenAndWord) {
  const MockRunResult abs = RunGrad("grad.saliency", nlohmann::json::object(), 1, TextTanhModel());
  const MockRunResult signed_ = RunGrad("grad.saliency", {{"abs", false}}, 2, TextTanhModel());
  ASSERT_TRUE(abs.ok()) << abs.error;
  ASSERT_TRUE(signed_.ok()) << signed_.error;
  const std::int64_t row = 17;  // the third explained row: 4 tokens, 2 words
  ASSERT_EQ(abs.json["tokens"][2].size(), 4u);
  for (int o = 0; o < kOutputs; ++o) {
    const double t = std::tanh(TextMargin(row, o)), d = 1 - t * t;
    double sum_abs = 0, sum = 0;
    for (int j = 0; j < kTextWidth; ++j) {
      sum_abs += std::abs(d * kTextA[o][j]);
      sum += d * kTextA[o][j];
    }
    for (int s = 0; s < 4; ++s) {
      EXPECT_NEAR(abs.json["token_values"][2][o][s].get<double>(), sum_abs, 1e-6);
      EXPECT_NEAR(signed_.json["token_values"][2][o][s].get<double>(), sum, 1e-6);
    }
    EXPECT_NEAR(Value(abs, 2, o, 0), 2 * sum_abs, 1e-6);  // word 0: tokens 0 and 1
    EXPECT_NEAR(abs.json["base_values"][2][o].get<double>(), t, 1e-6);
  }
  EXPECT_EQ(abs.json["layer"], "embedding");
}

TEST(GradTextInputXGradient, IsTheEmbeddingTimesItsGradientSummedPerToken) {
  const MockRunResult r = RunGrad("grad.input_x_gradient", nlohmann::json::object(), 1, TextTanhModel());
  ASSERT_TRUE(r.ok()) << r.error;
  const auto e = TextOfRow(5);  // the second explained row: 4 tokens
  for (int o = 0; o < kOutputs; ++o) {
    const double t = std::tanh(TextMargin(5, o));
    for (int s = 0; s < 4; ++s) {
      double expected = 0;
      for (int j = 0; j < kTextWidth; ++j)
        expected += e.embeddings[s * kTextWidth + j] * (1 - t * t) * kTextA[o][j];
      EXPECT_NEAR(r.json["token_values"][1][o][s].get<double>(), expected, 1e-6);
    }
  }
}

TEST(GradTextLayerIntegratedGradients, StartsFromThePadBaselineAndIsComplete) {
  const MockRunResult r =
      RunGrad("grad.layer_integrated_gradients", nlohmann::json::object(), 2, TextTanhModel());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.json["baseline"], "pad");
  EXPECT_LT(r.json["quality"]["convergence_delta"].get<double>(), 1e-5);
  // The sum of the attributions is f(x) − f(pad baseline) for f_o = tanh(a_o · Σ_s x_s).
  const auto e = TextOfRow(0);
  for (int o = 0; o < kOutputs; ++o) {
    double baseline_margin = 0;
    for (int j = 0; j < kTextWidth; ++j)
      baseline_margin += 2 * kTextA[o][j] * std::vector<double>{0.1, -0.2, 0.05}[j];
    double sum = 0;
    for (const auto& v : r.json["token_values"][0][o]) sum += v.get<double>();
    EXPECT_NEAR(sum, std::tanh(TextMargin(0, o)) - std::tanh(baseline_margin), 1e-5);
  }
}

TEST(GradExplainers, RefuseAModelWithNeitherGradientCapability) {
  const MockRunResult r = RunGrad("grad.input_x_gradient", nlohmann::json::object(), 1, TanhModel(false));
  EXPECT_EQ(r.status, LOUPE_ERROR_UNSUPPORTED);
  EXPECT_NE(r.error.find("offers no gradient"), std::string::npos) << r.error;
}

TEST(GradTextExplainers, PassTheConformanceKitOnTheMockTextGradient) {
  for (const char* name : {"grad.saliency", "grad.input_x_gradient", "grad.layer_integrated_gradients"}) {
    loupe::testing::ConformanceCase c;
    c.dataset = Data();
    c.model = TextTanhModel();
    c.rows = {0, 9, 21};
    c.threads = 2;
    const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, name, c);
    EXPECT_TRUE(failures.empty()) << name << ": " << loupe::testing::FormatFailures(failures);
  }
}

TEST(GradExplainers, PassTheConformanceKit) {
  for (const char* name : {"grad.saliency", "grad.input_x_gradient", "grad.integrated_gradients",
                           "grad.smoothgrad", "grad.gradient_shap"}) {
    loupe::testing::ConformanceCase c;
    c.dataset = Data();
    c.model = TanhModel();
    c.rows = {0, 9, 21};
    c.threads = 2;
    const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, name, c);
    EXPECT_TRUE(failures.empty()) << name << ": " << loupe::testing::FormatFailures(failures);
  }
}

}  // namespace
