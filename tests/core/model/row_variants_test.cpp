// The "row_variants" capability of native models (loupe/core/row_variants.hpp): base rows with a few
// inputs changed, evaluated from the first layer's pre-activations, against the plain path (PredictInto
// on the materialised rows) to 1e-12 — the two differ only in the order of the first layer's sums. On the
// credit logistic regression and on the credit MLP (relu, gelu, layer norm, four categoricals) in double
// precision, with missing values imputed, unknown level codes, changes to NaN and to unknown levels.
#include <unistd.h>
#include <cmath>
#include <cstdint>
#include <cstdio>
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

// A fixture MLP (`name`.yaml) with `precision: <precision>` (none: the file's own, f32).
std::shared_ptr<const Model> FixtureMlp(const std::string& name, const std::string& precision) {
  std::ifstream in(kRowVariantsSource / ("tests/fixtures/models/" + name + ".yaml"));
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  const std::string weights = "weights: " + name + ".safetensors";
  yaml.replace(
      yaml.find(weights), weights.size(),
      "weights: " + (kRowVariantsSource / ("tests/fixtures/models/" + name + ".safetensors")).string() +
          (precision.empty() ? "" : "\nprecision: " + precision));
  const auto path =
      std::filesystem::temp_directory_path() / ("loupe-variants-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << yaml;
  auto model = LoadOrFail(path);
  std::filesystem::remove(path);
  return model;
}

// The fixture credit MLP with `precision: f64`: the same weights on the double-precision path.
std::shared_ptr<const Model> CreditMlpInDoublePrecision() { return FixtureMlp("credit_mlp", "f64"); }

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

// --- the f32 network path (PredictVariantsF32) ---

// The first `n` rows of tests/data/`name`.csv in the model's input order (numeric inputs only).
Tensor CsvRows(const ModelInfo& info, const std::string& name, std::int64_t n) {
  std::ifstream in(kRowVariantsSource / ("tests/data/" + name + ".csv"));
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream names(line);
  for (std::string cell; std::getline(names, cell, ',');) header.push_back(cell);
  std::vector<std::size_t> column_of;
  for (const ModelInput& input : info.inputs)
    column_of.push_back(
        static_cast<std::size_t>(std::find(header.begin(), header.end(), input.name) - header.begin()));
  std::vector<double> values;
  for (std::int64_t r = 0; r < n && std::getline(in, line); ++r) {
    std::vector<std::string> cells;
    std::stringstream row(line);
    for (std::string cell; std::getline(row, cell, ',');) cells.push_back(cell);
    for (const std::size_t c : column_of) values.push_back(std::stod(cells.at(c)));
  }
  return Tensor::FromVector(
      values, {static_cast<std::int64_t>(values.size()) / static_cast<std::int64_t>(info.inputs.size()),
               static_cast<std::int64_t>(info.inputs.size())});
}

// EveryKindOfChange plus variants changing all inputs but two, to row 7's values (taken from the unchanged
// side: the variant's own cells summed once, the base rows' other cells added).
Variants F32Variants(const ModelInfo& info, const Tensor& base) {
  Variants v = EveryKindOfChange(info);
  const auto width = static_cast<std::int64_t>(info.inputs.size());
  const double* explained = base.data<double>() + 7 * width;
  for (const std::int64_t kept : {std::int64_t{0}, width / 2, width - 1}) {
    std::vector<std::pair<std::int64_t, double>> changes;
    for (std::int64_t j = width - 1; j >= 0; --j) {
      if (j != kept && j != (kept + 3) % width) changes.push_back({j, explained[j]});
    }
    v.Add(changes);
  }
  return v;
}

// The f32 variants against the materialised f32 rows (oneDNN): the same network in f32, with the sums
// in another order and other f32 activations, so they agree to f32 rounding (measured worst printed).
void ExpectF32PathsAgree(const Model& model, const Tensor& base, double tolerance) {
  const Variants variants = F32Variants(model.Info(), base);
  for (const OutputSpace space : {OutputSpace::kProbability, OutputSpace::kRaw}) {
    const std::vector<double> plain = Materialised(model, base, variants, space);
    const std::vector<double> fast = ThroughVariants(model, base, variants, space);
    ASSERT_EQ(plain.size(), fast.size());
    double worst = 0.0;
    for (std::size_t i = 0; i < plain.size(); ++i)
      worst = std::max(worst, std::abs(plain[i] - fast[i]) / std::max(1.0, std::abs(plain[i])));
    std::printf("%s %s: worst relative difference %.3g\n", model.Info().name.c_str(),
                space == OutputSpace::kRaw ? "raw" : "probability", worst);
    EXPECT_LT(worst, tolerance) << model.Info().name
                                << (space == OutputSpace::kRaw ? " raw" : " probability");
  }
}

TEST(RowVariants, F32BreastCancerMlpAgreesWithTheMaterialisedF32Rows) {
  const auto model = FixtureMlp("breast_cancer_mlp", "");
  ASSERT_NE(model, nullptr);
  ExpectF32PathsAgree(*model, CsvRows(model->Info(), "breast_cancer", 300), 2e-5);
}

TEST(RowVariants, F32CreditMlpWithCategoricalsAndLayerNormAgreesWithTheMaterialisedF32Rows) {
  const auto model = FixtureMlp("credit_mlp", "");
  ASSERT_NE(model, nullptr);
  ExpectF32PathsAgree(*model, BaseRows(model->Info(), 300), 2e-5);
}

// A (variant, row)'s bits on the f32 path do not depend on the other variants of the call, nor on the
// rows around it (the 64-row blocks fall elsewhere when the call starts 5 rows later): what makes the
// shap explainers' results the same for any thread count and max_batch_rows.
TEST(RowVariants, F32VariantBitsDoNotDependOnTheOtherVariantsOrRowsOfTheCall) {
  for (const char* name : {"breast_cancer_mlp", "credit_mlp"}) {
    const auto model = FixtureMlp(name, "");
    ASSERT_NE(model, nullptr);
    const std::int64_t n = 150, skip = 5;
    const Tensor base = BaseRows(model->Info(), n);
    const auto width = base.dim(1);
    const Tensor later = Tensor::FromVector(
        std::vector<double>(base.data<double>() + skip * width, base.data<double>() + n * width),
        {n - skip, width});
    const Variants all = F32Variants(model->Info(), base);
    const std::vector<double> together = ThroughVariants(*model, base, all, OutputSpace::kProbability);
    const std::vector<double> shifted = ThroughVariants(*model, later, all, OutputSpace::kProbability);
    for (std::size_t v = 0; v + 1 < all.offsets.size(); ++v) {
      Variants one;
      std::vector<std::pair<std::int64_t, double>> changes;
      for (std::int64_t k = all.offsets[v]; k < all.offsets[v + 1]; ++k)
        changes.push_back({all.inputs[k], all.values[k]});
      one.Add(changes);
      const std::vector<double> alone = ThroughVariants(*model, base, one, OutputSpace::kProbability);
      for (std::int64_t r = 0; r < n; ++r) {
        for (std::size_t o = 0; o < 2; ++o) {
          const double x = together[(v * n + r) * 2 + o];
          ASSERT_EQ(alone[r * 2 + o], x) << name << " variant " << v << " row " << r;
          if (r >= skip) {
            ASSERT_EQ(shifted[(v * (n - skip) + r - skip) * 2 + o], x) << name << " row " << r;
          }
        }
      }
    }
  }
}

TEST(RowVariants, IsOfferedByF32And64NetworksWithALinearFirstLayerNotByBf16OrTrees) {
  const auto f32 = LoadOrFail(kRowVariantsSource / "tests/fixtures/models/credit_mlp.yaml");
  ASSERT_NE(f32, nullptr);
  EXPECT_NE(f32->row_variant_model(), nullptr);
  const auto bf16 = FixtureMlp("credit_mlp", "bf16");
  ASSERT_NE(bf16, nullptr);
  EXPECT_EQ(bf16->row_variant_model(), nullptr);
  const auto trees = LoadOrFail(kRowVariantsSource / "tests/fixtures/xgboost/credit_xgb.json");
  ASSERT_NE(trees, nullptr);
  EXPECT_EQ(trees->row_variant_model(), nullptr);
}

}  // namespace
}  // namespace loupe
