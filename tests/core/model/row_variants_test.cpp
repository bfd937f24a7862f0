// The "row_variants" capability of native models (loupe/core/row_variants.hpp): base rows with a few
// inputs changed, evaluated from the first layer's pre-activations, against the plain path (PredictInto
// on the materialised rows) to 1e-12 — the two differ only in the order of the first layer's sums. On the
// credit logistic regression and on the credit MLP (relu, gelu, layer norm, four categoricals) in double
// precision, with missing values imputed, unknown level codes, changes to NaN and to unknown levels.
#include <unistd.h>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "loupe/core/model.hpp"
#include "loupe/core/row_variants.hpp"

namespace loupe {
namespace {

const std::filesystem::path kRowVariantsSource(LOUPE_SOURCE_DIR);

std::shared_ptr<const Model> LoadOrFail(const std::filesystem::path& path) {
  auto model = LoadModel(path);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? *model : nullptr;
}

// The fixture credit MLP with `precision: f64`: the same weights on the double-precision path.
std::shared_ptr<const Model> CreditMlpInDoublePrecision() {
  std::ifstream in(kRowVariantsSource / "tests/fixtures/models/credit_mlp.yaml");
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  const std::string weights = "weights: credit_mlp.safetensors";
  yaml.replace(yaml.find(weights), weights.size(),
               "weights: " + (kRowVariantsSource / "tests/fixtures/models/credit_mlp.safetensors").string() +
                   "\nprecision: f64");
  const auto path =
      std::filesystem::temp_directory_path() / ("loupe-variants-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << yaml;
  auto model = LoadOrFail(path);
  std::filesystem::remove(path);
  return model;
}

// `n` rows in the model's input coding: numbers around their standardisation's mean (every seventh
// missing, which the model imputes), level codes in range, and now and then an unknown code or NaN.
Tensor BaseRows(const ModelInfo& info, std::int64_t n) {
  const auto width = static_cast<std::int64_t>(info.inputs.size());
  std::vector<double> values;
  std::uint64_t state = 12345;
  const auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;  // [0, 1)
  };
  for (std::int64_t r = 0; r < n; ++r) {
    for (std::int64_t j = 0; j < width; ++j) {
      const ModelInput& input = info.inputs[static_cast<std::size_t>(j)];
      const double u = next();
      if (input.type == ColumnType::kCategorical) {
        const auto levels = static_cast<double>(input.levels.size());
        values.push_back(u < 0.05 ? std::nan("") : u < 0.1 ? levels + 3 : std::floor(next() * levels));
      } else {
        values.push_back((r * width + j) % 7 == 3 ? std::nan("") : 40.0 + 200.0 * (u - 0.5));
      }
    }
  }
  return Tensor::FromVector(values, {n, width});
}

// Variants covering every kind of change: none, one number, one level, two at once, a number made
// missing (imputed), a level made missing or unknown.
struct Variants {
  std::vector<std::int64_t> offsets{0}, inputs;
  std::vector<double> values;

  void Add(std::vector<std::pair<std::int64_t, double>> changes) {
    for (const auto& [input, value] : changes) {
      inputs.push_back(input);
      values.push_back(value);
    }
    offsets.push_back(static_cast<std::int64_t>(inputs.size()));
  }
  RowVariants View() const { return {offsets, inputs, values}; }
};

Variants EveryKindOfChange(const ModelInfo& info) {
  std::int64_t numeric = -1, categorical = -1;
  for (std::size_t j = 0; j < info.inputs.size(); ++j) {
    if (info.inputs[j].type == ColumnType::kCategorical) {
      if (categorical < 0) categorical = static_cast<std::int64_t>(j);
    } else if (numeric < 0) {
      numeric = static_cast<std::int64_t>(j);
    }
  }
  Variants v;
  v.Add({});
  for (const double x : {-50.0, 0.0, 17.25, 400.0}) v.Add({{numeric, x}});
  v.Add({{numeric, std::nan("")}});
  if (categorical >= 0) {
    for (const double level : {0.0, 1.0, 2.0}) v.Add({{categorical, level}});
    v.Add({{categorical, std::nan("")}});
    v.Add({{categorical, 99.0}});
    v.Add({{numeric, 123.5}, {categorical, 1.0}});
  }
  v.Add({{numeric + 2, 80.0}, {numeric, -3.0}});
  return v;
}

// The plain path: every (variant, base row) materialised and predicted.
std::vector<double> Materialised(const Model& model, const Tensor& base, const Variants& variants,
                                 OutputSpace space) {
  const std::int64_t n = base.dim(0), width = base.dim(1);
  const auto n_out = static_cast<std::int64_t>(model.Info().OutputNames(space).size());
  const auto n_variants = static_cast<std::int64_t>(variants.offsets.size()) - 1;
  std::vector<double> out(static_cast<std::size_t>(n_variants * n * n_out));
  for (std::int64_t v = 0; v < n_variants; ++v) {
    std::vector<double> rows(base.data<double>(), base.data<double>() + n * width);
    for (std::int64_t k = variants.offsets[v]; k < variants.offsets[v + 1]; ++k) {
      for (std::int64_t r = 0; r < n; ++r)
        rows[static_cast<std::size_t>(r * width + variants.inputs[k])] = variants.values[k];
    }
    const Status status =
        model.PredictInto(TensorView(rows.data(), DType::kF64, {n, width}), space,
                          {out.data() + v * n * n_out, static_cast<std::size_t>(n * n_out)});
    EXPECT_TRUE(status.ok()) << status.message();
  }
  return out;
}

std::vector<double> ThroughVariants(const Model& model, const Tensor& base, const Variants& variants,
                                    OutputSpace space) {
  const RowVariantModel* fast = model.row_variant_model();
  EXPECT_NE(fast, nullptr);
  const auto n_out = static_cast<std::int64_t>(model.Info().OutputNames(space).size());
  const auto n_variants = static_cast<std::int64_t>(variants.offsets.size()) - 1;
  std::vector<double> out(static_cast<std::size_t>(n_variants * base.dim(0) * n_out), -1.0);
  if (fast == nullptr) return out;
  const Status status = fast->PredictVariants(base, variants.View(), space, out);
  EXPECT_TRUE(status.ok()) << status.message();
  return out;
}

void ExpectBothPathsAgree(const Model& model) {
  // 600 rows: more than two of the double-precision path's 256-row blocks, the last one partial.
  const Tensor base = BaseRows(model.Info(), 600);
  const Variants variants = EveryKindOfChange(model.Info());
  for (const OutputSpace space : {OutputSpace::kProbability, OutputSpace::kRaw}) {
    const std::vector<double> plain = Materialised(model, base, variants, space);
    const std::vector<double> fast = ThroughVariants(model, base, variants, space);
    ASSERT_EQ(plain.size(), fast.size());
    double worst = 0.0;
    for (std::size_t i = 0; i < plain.size(); ++i) worst = std::max(worst, std::abs(plain[i] - fast[i]));
    EXPECT_LT(worst, 1e-12) << model.Info().name << (space == OutputSpace::kRaw ? " raw" : " probability");
  }
}

TEST(RowVariants, LogisticRegressionEqualsThePlainPath) {
  const auto model = LoadOrFail(kRowVariantsSource / "examples/credit_scoring/models/credit_logreg.yaml");
  ASSERT_NE(model, nullptr);
  ExpectBothPathsAgree(*model);
}

TEST(RowVariants, DoublePrecisionMlpWithCategoricalsEqualsThePlainPath) {
  const auto model = CreditMlpInDoublePrecision();
  ASSERT_NE(model, nullptr);
  ExpectBothPathsAgree(*model);
}

TEST(RowVariants, AVariantsBitsDoNotDependOnTheOtherVariantsOfTheCall) {
  const auto model = CreditMlpInDoublePrecision();
  ASSERT_NE(model, nullptr);
  const Tensor base = BaseRows(model->Info(), 300);
  const Variants all = EveryKindOfChange(model->Info());
  const std::vector<double> together = ThroughVariants(*model, base, all, OutputSpace::kProbability);
  const std::size_t per_variant = static_cast<std::size_t>(base.dim(0)) * 2;
  for (std::size_t v = 0; v + 1 < all.offsets.size(); ++v) {
    Variants one;
    std::vector<std::pair<std::int64_t, double>> changes;
    for (std::int64_t k = all.offsets[v]; k < all.offsets[v + 1]; ++k)
      changes.push_back({all.inputs[k], all.values[k]});
    one.Add(changes);
    const std::vector<double> alone = ThroughVariants(*model, base, one, OutputSpace::kProbability);
    for (std::size_t i = 0; i < per_variant; ++i) ASSERT_EQ(alone[i], together[v * per_variant + i]) << v;
  }
}

TEST(RowVariants, ABaseRowMissingAValueWithoutImputeIsLeftToThePlainPath) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto path = dir / ("loupe-variants-noimpute-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path)
      << "format: loupe.model/v1\nname: m\ntask: regression\ninputs:\n"
         "  - {name: a, type: numeric}\n  - {name: b, type: numeric}\n"
         "layers:\n  - {type: linear, in_features: 2, out_features: 1, weight: [[2.0, 3.0]]}\n";
  const auto model = LoadOrFail(path);
  std::filesystem::remove(path);
  ASSERT_NE(model, nullptr);
  ASSERT_NE(model->row_variant_model(), nullptr);
  const Tensor base = Tensor::FromVector<double>({1.0, std::nan("")}, {1, 2});
  Variants fill;
  fill.Add({{1, 4.0}});
  std::vector<double> out(1);
  const Status status =
      model->row_variant_model()->PredictVariants(base, fill.View(), OutputSpace::kRaw, out);
  EXPECT_EQ(status.code(), StatusCode::kUnsupported);
  EXPECT_NE(status.message().find("missing"), std::string::npos) << status.message();
}

TEST(RowVariants, IsOfferedOnlyByDoublePrecisionModelsWithALinearFirstLayer) {
  const auto f32 = LoadOrFail(kRowVariantsSource / "tests/fixtures/models/credit_mlp.yaml");
  ASSERT_NE(f32, nullptr);
  EXPECT_EQ(f32->row_variant_model(), nullptr);
  const auto trees = LoadOrFail(kRowVariantsSource / "tests/fixtures/xgboost/credit_xgb.json");
  ASSERT_NE(trees, nullptr);
  EXPECT_EQ(trees->row_variant_model(), nullptr);
}

}  // namespace
}  // namespace loupe
