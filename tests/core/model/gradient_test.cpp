// The "gradient" capability of native networks (loupe/core/gradient.hpp) against PyTorch autograd: the
// references of plugins/gradients/tests/make_fixtures.py (float64 copies of the fixture networks, the
// standardisation chained, categoricals summed over their one-hot columns) agree to 1e-5 relative to the
// largest gradient of their row and output, in both output spaces. Also: weighted sums of outputs, the
// same bits from two threads at once, DeepLIFT's refusal of layers the rescale rule does not define, and
// models without the capability.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loupe/core/gradient.hpp"
#include "loupe/core/model.hpp"

namespace loupe {
namespace {

const std::filesystem::path kSource(LOUPE_SOURCE_DIR);

const nlohmann::json& Reference() {
  static const nlohmann::json reference = [] {
    std::ifstream in(kSource / "plugins/gradients/tests/fixtures/reference.json");
    std::stringstream text;
    text << in.rdbuf();
    return nlohmann::json::parse(text.str());
  }();
  return reference;
}

std::shared_ptr<const Model> Load(const std::string& name) {
  auto model = LoadModel(kSource / Reference()["cases"][name]["model"].get<std::string>());
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? *model : nullptr;
}

// The case's rows in the model's input coding (NaN where missing).
Tensor Inputs(const std::string& name) {
  const nlohmann::json& c = Reference()["cases"][name];
  const auto n = static_cast<std::int64_t>(c["inputs"].size()),
             f = static_cast<std::int64_t>(c["inputs"][0].size());
  std::vector<double> values;
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t j = 0; j < f; ++j)
      values.push_back(c["missing"][r][j].get<bool>() ? std::nan("") : c["inputs"][r][j].get<double>());
  return Tensor::FromVector(values, {n, f});
}

// Gradient of output `o` for every row (one-hot weights).
std::vector<double> GradientOf(const GradientModel& gradient, const Tensor& x, OutputSpace space,
                               std::int64_t outputs, std::int64_t o) {
  const std::int64_t n = x.dim(0);
  std::vector<double> weights(static_cast<std::size_t>(n * outputs), 0.0),
      out(static_cast<std::size_t>(x.size()));
  for (std::int64_t r = 0; r < n; ++r) weights[static_cast<std::size_t>(r * outputs + o)] = 1.0;
  const Status status = gradient.Gradient(x, space, weights, out);
  EXPECT_TRUE(status.ok()) << status.message();
  return out;
}

// Relative to the row and output's largest gradient. Logits hold to 1e-5 (7.4e-7 measured). A saturated
// probability (breast_cancer's rows sit at p = 1 − 3e-12) has gradient p (1 − p) ∇Δz, and 1 − p = e^−Δz
// moves relatively by the f32 network's absolute error in the logits Δz ≈ 27 (about 1e-5 at that scale):
// 5.8e-5 measured, whoever differentiates in f32. The link itself is differentiated in double.
double Tolerance(const std::string& space) { return space == "raw" ? 1e-5 : 1e-4; }

void CheckAgainstAutograd(const std::string& name) {
  const auto model = Load(name);
  ASSERT_NE(model, nullptr);
  const GradientModel* gradient = model->gradient_model();
  ASSERT_NE(gradient, nullptr) << name;
  const Tensor x = Inputs(name);
  for (const auto& [space_name, expected] : Reference()["cases"][name]["gradient"].items()) {
    double worst = 0.0;  // the largest error relative to its row and output's largest gradient
    const OutputSpace space = space_name == "raw" ? OutputSpace::kRaw : OutputSpace::kProbability;
    const auto outputs = static_cast<std::int64_t>(model->Info().OutputNames(space).size());
    ASSERT_EQ(static_cast<std::int64_t>(expected[0].size()), outputs);
    for (std::int64_t o = 0; o < outputs; ++o) {
      const std::vector<double> got = GradientOf(*gradient, x, space, outputs, o);
      for (std::int64_t r = 0; r < x.dim(0); ++r) {
        const nlohmann::json& want = expected[r][o];
        double scale = 1e-12;
        for (const auto& v : want) scale = std::max(scale, std::abs(v.get<double>()));
        for (std::int64_t j = 0; j < x.dim(1); ++j) {
          const double error =
              std::abs(got[static_cast<std::size_t>(r * x.dim(1) + j)] - want[j].get<double>());
          worst = std::max(worst, error / scale);
          EXPECT_LE(error, Tolerance(space_name) * scale)
              << name << " " << space_name << " row " << r << " output " << o << " input " << j;
        }
      }
    }
    std::printf("%s %s: largest error %.2e of the row's largest gradient\n", name.c_str(), space_name.c_str(),
                worst);
  }
}

TEST(NativeGradient, EqualsAutogradOnTheBreastCancerMlp) { CheckAgainstAutograd("breast_cancer"); }
TEST(NativeGradient, EqualsAutogradOnTheCreditMlpWithCategoricalsLayerNormAndGelu) {
  CheckAgainstAutograd("credit");
}
TEST(NativeGradient, EqualsAutogradOnTheDeepLiftFixture) { CheckAgainstAutograd("deeplift"); }

TEST(NativeGradient, AWeightedSumOfOutputsIsTheWeightedSumOfTheirGradients) {
  const auto model = Load("breast_cancer");
  const GradientModel& gradient = *model->gradient_model();
  const Tensor x = Inputs("breast_cancer");
  const std::vector<double> g0 = GradientOf(gradient, x, OutputSpace::kRaw, 2, 0),
                            g1 = GradientOf(gradient, x, OutputSpace::kRaw, 2, 1);
  std::vector<double> weights, out(static_cast<std::size_t>(x.size()));
  for (std::int64_t r = 0; r < x.dim(0); ++r) weights.insert(weights.end(), {0.25, -1.5});
  ASSERT_TRUE(gradient.Gradient(x, OutputSpace::kRaw, weights, out).ok());
  for (std::size_t k = 0; k < out.size(); ++k) {
    const double want = 0.25 * g0[k] - 1.5 * g1[k];
    EXPECT_NEAR(out[k], want, 1e-5 * std::max(1.0, std::abs(want)));  // f32 sums in another order
  }
}

TEST(NativeGradient, TwoThreadsAtOnceGiveTheSameBitsAsOne) {
  const auto model = Load("credit");
  const GradientModel& gradient = *model->gradient_model();
  const Tensor x = Inputs("credit");
  const std::vector<double> alone = GradientOf(gradient, x, OutputSpace::kProbability, 2, 1);
  std::vector<std::vector<double>> seen(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int repeat = 0; repeat < 20; ++repeat)
        seen[t] = GradientOf(gradient, x, OutputSpace::kProbability, 2, 1);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(seen[0], alone);
  EXPECT_EQ(seen[1], alone);
}

TEST(NativeGradient, DeepLiftIsRefusedForLayersTheRescaleRuleDoesNotDefine) {
  EXPECT_NE(Load("credit")->gradient_model()->DeepLiftRefusal().find("layer 4 "),
            std::string::npos);  // its gelu
  EXPECT_NE(Load("breast_cancer")->gradient_model()->DeepLiftRefusal().find("gelu"), std::string::npos);
  const auto model = Load("deeplift");
  EXPECT_TRUE(model->gradient_model()->DeepLiftRefusal().empty());
  const Tensor x = Inputs("credit");
  std::vector<double> weights(static_cast<std::size_t>(x.dim(0) * 2), 0.5),
      out(static_cast<std::size_t>(x.size()));
  const Status refused =
      Load("credit")->gradient_model()->DeepLift(x, x, OutputSpace::kProbability, weights, out);
  EXPECT_EQ(refused.code(), StatusCode::kUnsupported);
}

TEST(NativeGradient, DeepLiftSumsToTheOutputDifference) {
  const auto model = Load("deeplift");
  const Tensor x = Inputs("deeplift");
  std::vector<double> reference_values(static_cast<std::size_t>(x.size()), 0.0);  // zeros, level code 0
  const Tensor reference = Tensor::FromVector(reference_values, {x.dim(0), x.dim(1)});
  // Exact for the logits (linear layers, elementwise rescaling); Captum's softmax handler, used for the
  // probabilities, trades summation for its mean correction.
  for (const OutputSpace space : {OutputSpace::kRaw}) {
    std::vector<double> weights, out(static_cast<std::size_t>(x.size()));
    for (std::int64_t r = 0; r < x.dim(0); ++r) weights.insert(weights.end(), {1.0, 0.0});
    ASSERT_TRUE(model->gradient_model()->DeepLift(x, reference, space, weights, out).ok());
    const Tensor fx = *model->Predict(x, space), f0 = *model->Predict(reference, space);
    for (std::int64_t r = 0; r < x.dim(0); ++r) {
      double sum = 0;
      for (std::int64_t j = 0; j < x.dim(1); ++j) sum += out[static_cast<std::size_t>(r * x.dim(1) + j)];
      const double difference = fx.data<double>()[r * fx.dim(1)] - f0.data<double>()[r * f0.dim(1)];
      EXPECT_NEAR(sum, difference, 1e-5 * std::max(1.0, std::abs(difference))) << r;
    }
  }
}

TEST(NativeGradient, IsNotOfferedByTreeEnsembles) {
  auto model = LoadModel(kSource / "tests/fixtures/xgboost/credit_xgb.json");
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_EQ((*model)->gradient_model(), nullptr);
}

}  // namespace
}  // namespace loupe
