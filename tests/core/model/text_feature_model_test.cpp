// Text models wired into the host: LoadModel opens them, Dataset::Matrix carries text handles and
// FeatureModel::Predict resolves them to the data's texts. Predictions on tests/data/fortunes_topics.csv
// must equal PyTorch's (tests/fixtures/text/reference.json: "rows" are the data rows of the texts).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "loupe/core/attention.hpp"
#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"

namespace loupe {
namespace {

const std::filesystem::path kFeatureSource(LOUPE_SOURCE_DIR);
const std::filesystem::path kTextFixtures = kFeatureSource / "tests/fixtures/text";
const std::filesystem::path kFortunes = kFeatureSource / "tests/data/fortunes_topics.csv";

nlohmann::json TextFeatureReference() {
  std::ifstream in(kTextFixtures / "reference.json");
  return nlohmann::json::parse(in);
}

Dataset Fortunes() {
  CsvOptions options;
  options.text = {"text"};
  Result<Dataset> data = ReadCsv(kFortunes, options);
  EXPECT_TRUE(data.ok()) << data.status().message();
  return data.ok() ? std::move(*data) : Dataset();
}

// The reference texts that are rows of the data (the last ones are made-up texts, row -1).
std::vector<std::int64_t> DataRows(const nlohmann::json& ref) {
  std::vector<std::int64_t> rows;
  for (const auto& row : ref["rows"]) {
    if (row.get<std::int64_t>() >= 0) rows.push_back(row.get<std::int64_t>());
  }
  return rows;
}

Tensor SelectRows(const Tensor& matrix, const std::vector<std::int64_t>& rows) {
  const std::int64_t width = matrix.dim(1);
  Tensor out(DType::kF64, {static_cast<std::int64_t>(rows.size()), width});
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::int64_t j = 0; j < width; ++j) {
      out.data<double>()[static_cast<std::int64_t>(i) * width + j] =
          matrix.data<double>()[rows[i] * width + j];
    }
  }
  return out;
}

void ExpectFeatureModelEqualsPyTorch(const std::string& name) {
  const nlohmann::json ref = TextFeatureReference();
  Result<std::shared_ptr<const Model>> model = LoadModel(kTextFixtures / (name + ".yaml"));
  ASSERT_TRUE(model.ok()) << model.status().message();
  ASSERT_EQ((*model)->Info().inputs.size(), 1u);
  EXPECT_EQ((*model)->Info().inputs[0].type, ColumnType::kText);
  EXPECT_NE((*model)->text_model(), nullptr);
  const Dataset data = Fortunes();
  ASSERT_EQ(data.Find("text")->type(), ColumnType::kText);
  // The target rides along as an unused feature: the model picks its input by name.
  Result<std::shared_ptr<const FeatureModel>> fm = FeatureModel::Create(*model, data, {"topic", "text"});
  ASSERT_TRUE(fm.ok()) << fm.status().message();
  EXPECT_EQ((*fm)->text_feature(), 1);
  Result<Tensor> matrix = data.Matrix({"topic", "text"});
  ASSERT_TRUE(matrix.ok()) << matrix.status().message();
  const std::vector<std::int64_t> rows = DataRows(ref);
  ASSERT_GE(rows.size(), 40u);
  const Tensor batch = SelectRows(*matrix, rows);
  Result<Tensor> p = (*fm)->Predict(batch.view(), OutputSpace::kProbability);
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_EQ(p->dim(0), static_cast<std::int64_t>(rows.size()));
  ASSERT_EQ(p->dim(1), 8);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (int c = 0; c < 8; ++c) {
      EXPECT_NEAR(p->data<double>()[r * 8 + c], ref[name][r][c].get<double>(), 1e-5)
          << name << " row " << rows[r] << " class " << c;
    }
  }
}

TEST(TextFeatureModelTest, TransformerThroughLoadModelAndFeatureModelEqualsPyTorch) {
  ExpectFeatureModelEqualsPyTorch("transformer");
}

TEST(TextFeatureModelTest, LstmThroughLoadModelAndFeatureModelEqualsPyTorch) {
  ExpectFeatureModelEqualsPyTorch("lstm");
}

TEST(TextFeatureModelTest, MissingTextIsTheEmptyTextAndBadHandlesAreRefused) {
  Result<std::shared_ptr<const Model>> model = LoadModel(kTextFixtures / "transformer.yaml");
  ASSERT_TRUE(model.ok()) << model.status().message();
  const Dataset data = Fortunes();
  Result<std::shared_ptr<const FeatureModel>> fm = FeatureModel::Create(*model, data, {"text"});
  ASSERT_TRUE(fm.ok()) << fm.status().message();
  Tensor batch(DType::kF64, {2, 1});
  batch.data<double>()[0] = std::nan("");
  batch.data<double>()[1] = 3;
  Result<Tensor> p = (*fm)->Predict(batch.view(), OutputSpace::kRaw);
  ASSERT_TRUE(p.ok()) << p.status().message();
  const auto* text = (*model)->text_model();
  Result<Tensor> direct = text->PredictText({"", data.Find("text")->text()[3]}, OutputSpace::kRaw);
  ASSERT_TRUE(direct.ok());
  for (int k = 0; k < 16; ++k) EXPECT_EQ(p->data<double>()[k], direct->data<double>()[k]) << k;

  batch.data<double>()[1] = 1.5;
  EXPECT_EQ((*fm)->Predict(batch.view(), OutputSpace::kRaw).status().message(),
            "text feature 'text' holds 1.5, which is not a row number of the data (0 to 2682) nor NaN.");
  batch.data<double>()[1] = 2683;
  EXPECT_FALSE((*fm)->Predict(batch.view(), OutputSpace::kRaw).ok());
}

TEST(TextFeatureModelTest, TextInputFromANonTextColumnIsRefused) {
  Result<std::shared_ptr<const Model>> model = LoadModel(kTextFixtures / "transformer.yaml");
  ASSERT_TRUE(model.ok()) << model.status().message();
  CsvOptions options;
  options.categorical = {"text"};
  Result<Dataset> data = ReadCsv(kFortunes, options);
  ASSERT_TRUE(data.ok()) << data.status().message();
  Result<std::shared_ptr<const FeatureModel>> fm = FeatureModel::Create(*model, *data, {"text"});
  ASSERT_FALSE(fm.ok());
  EXPECT_EQ(fm.status().message(), "column 'text' of '" + kFortunes.string() +
                                       "' is categorical but model 'transformer' reads it as text; list it "
                                       "under data.text.");
}

}  // namespace
}  // namespace loupe
