// The host's C form of the "row_variants" capability (loupe_plugin.h v1.4): it maps the pipeline's
// features onto the model's inputs (another column order, a feature the model ignores, dataset level codes
// that are not the model's, a level the model does not know) and gives what model_predict gives on the
// materialised rows, to 1e-12; it falls back to those rows when the model cannot encode a base row on its
// own; it refuses malformed calls with a sentence.
#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"
#include "plugin/host_context.hpp"

namespace loupe {
namespace {

// One explain call's host over `csv` and a model written from `model_yaml`, features in `features` order.
class VariantsHost {
 public:
  VariantsHost(const std::string& csv, const std::string& model_yaml, std::vector<std::string> features) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("loupe-variants-host-" + std::to_string(::getpid()) + ".yaml");
    std::ofstream(path) << model_yaml;
    auto model = LoadModel(path);
    std::filesystem::remove(path);
    EXPECT_TRUE(model.ok()) << model.status().message();
    CsvOptions options;
    options.categorical = {"home"};
    auto data = ParseCsv(csv, "d.csv", options);
    EXPECT_TRUE(data.ok()) << data.status().message();
    dataset_ = std::make_unique<Dataset>(std::move(*data));
    auto feature_model = FeatureModel::Create(*model, *dataset_, features);
    EXPECT_TRUE(feature_model.ok()) << feature_model.status().message();
    auto matrix = dataset_->Matrix(features);
    EXPECT_TRUE(matrix.ok());
    request_.dataset = dataset_.get();
    request_.feature_names = features;
    request_.features = std::make_shared<const Tensor>(std::move(*matrix));
    request_.model = *feature_model;
    host_.request = &request_;
    host_detail::DescribeCapabilities(host_);
  }

  const LoupeRowVariants* capability() {
    return static_cast<const LoupeRowVariants*>(
        host_detail::ModelCapability(&host_, LOUPE_ROW_VARIANTS_CAPABILITY, 1));
  }
  LoupeHost* host() { return &host_; }
  const Tensor& features() const { return *request_.features; }

  // model_predict on every (variant, row) materialised.
  std::vector<double> Materialised(const std::vector<std::int64_t>& offsets,
                                   const std::vector<std::int64_t>& columns,
                                   const std::vector<double>& values) {
    const std::int64_t n = features().dim(0), width = features().dim(1);
    std::vector<double> out;
    for (std::size_t v = 0; v + 1 < offsets.size(); ++v) {
      std::vector<double> rows(features().data<double>(), features().data<double>() + n * width);
      for (std::int64_t k = offsets[v]; k < offsets[v + 1]; ++k) {
        for (std::int64_t r = 0; r < n; ++r)
          rows[static_cast<std::size_t>(r * width + columns[k])] = values[k];
      }
      const std::int64_t shape[2] = {n, width};
      LoupeTensorView view{};
      view.struct_size = sizeof(view);
      view.dtype = LOUPE_DTYPE_F64;
      view.ndim = 2;
      view.data = rows.data();
      view.shape = shape;
      std::vector<double> predicted(static_cast<std::size_t>(n));
      EXPECT_EQ(host_detail::ModelPredict(&host_, &view, LOUPE_OUTPUT_RAW, predicted.data(), n), LOUPE_OK)
          << host_.error_message;
      out.insert(out.end(), predicted.begin(), predicted.end());
    }
    return out;
  }

  LoupeStatus Variants(const std::vector<std::int64_t>& offsets, const std::vector<std::int64_t>& columns,
                       const std::vector<double>& values, std::vector<double>& out) {
    const std::int64_t shape[2] = {features().dim(0), features().dim(1)};
    LoupeTensorView view{};
    view.struct_size = sizeof(view);
    view.dtype = LOUPE_DTYPE_F64;
    view.ndim = 2;
    view.data = const_cast<double*>(features().data<double>());
    view.shape = shape;
    out.assign(static_cast<std::size_t>(static_cast<std::int64_t>(offsets.size() - 1) * shape[0]), -1.0);
    return capability()->predict(&host_, &view, static_cast<std::int64_t>(offsets.size()) - 1, offsets.data(),
                                 columns.data(), values.data(), LOUPE_OUTPUT_RAW, out.data(),
                                 static_cast<std::int64_t>(out.size()));
  }

 private:
  std::unique_ptr<Dataset> dataset_;
  ExplainRequest request_;
  LoupeHost host_;
};

// Inputs (age, home) with home's levels [own, rent]; the data lists rent first and knows "lease".
const char* const kCsv = "home,extra,age\nrent,1,40\nown,2,\nlease,3,25\nrent,4,61\n";
std::string Model(const std::string& impute) {
  return "format: loupe.model/v1\nname: m\ntask: regression\ninputs:\n"
         "  - {name: age, type: numeric" +
         impute +
         ", standardize: {mean: 40, std: 10}}\n"
         "  - {name: home, type: categorical, levels: [own, rent]}\n"
         "layers:\n  - {type: linear, in_features: 3, out_features: 4, weight: [[1, 2, 3], [-1, 0.5, 0], "
         "[0.25, -2, 1], [3, 1, -1]], bias: [0.1, 0, -0.2, 0.3]}\n  - {type: tanh}\n"
         "  - {type: linear, in_features: 4, out_features: 1, weight: [[1, -1, 2, 0.5]], bias: [0.05]}\n";
}

TEST(RowVariantsHost, MapsFeaturesAndLevelsOntoTheModelAndEqualsModelPredict) {
  VariantsHost host(kCsv, Model(", impute: 30"), {"home", "extra", "age"});
  ASSERT_NE(host.capability(), nullptr);
  // Codes in the data's coding (its levels are lease, own, rent or in order of appearance; code 1 is own
  // either way, 2 is lease or rent). Variants: none; home → own; age → 55; extra (not read by the model);
  // home → code 2 with age missing (imputed).
  const std::vector<std::int64_t> offsets = {0, 0, 1, 2, 3, 5};
  const std::vector<std::int64_t> columns = {0, 2, 1, 0, 2};
  const std::vector<double> values = {1, 55, 7, 2, std::nan("")};
  std::vector<double> fast;
  ASSERT_EQ(host.Variants(offsets, columns, values, fast), LOUPE_OK) << host.host()->error_message;
  const std::vector<double> plain = host.Materialised(offsets, columns, values);
  ASSERT_EQ(fast.size(), plain.size());
  for (std::size_t i = 0; i < fast.size(); ++i) EXPECT_NEAR(fast[i], plain[i], 1e-12) << i;
  EXPECT_NE(plain[4], plain[0]);  // home → own changes the first row (rent)
}

TEST(RowVariantsHost, FallsBackToTheMaterialisedRowsWhenABaseRowCannotBeEncoded) {
  // No impute: the second row's missing age makes the plain path fail unless a variant sets it.
  VariantsHost host(kCsv, Model(""), {"age", "home", "extra"});
  ASSERT_NE(host.capability(), nullptr);
  const std::vector<std::int64_t> offsets = {0, 1};
  const std::vector<std::int64_t> columns = {0};
  const std::vector<double> values = {45};
  std::vector<double> fast;
  ASSERT_EQ(host.Variants(offsets, columns, values, fast), LOUPE_OK) << host.host()->error_message;
  const std::vector<double> plain = host.Materialised(offsets, columns, values);
  for (std::size_t i = 0; i < fast.size(); ++i) EXPECT_EQ(fast[i], plain[i]) << i;
}

TEST(RowVariantsHost, RefusesAColumnChangedTwiceInOneVariant) {
  VariantsHost host(kCsv, Model(", impute: 30"), {"home", "extra", "age"});
  ASSERT_NE(host.capability(), nullptr);
  std::vector<double> out;
  EXPECT_EQ(host.Variants({0, 2}, {2, 2}, {1, 2}, out), LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(host.host()->error_message, "row_variants variant 0 changes column 2 twice.");
}

}  // namespace
}  // namespace loupe
