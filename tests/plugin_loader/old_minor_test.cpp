// Plugin ABI versioning (docs/architecture.md §2): a plugin built against v1.0 — the fixture
// old_minor_plugin.c, compiled with LOUPE_PLUGIN_ABI_MINOR_OVERRIDE=0 — loads into this host (v1.0 to the
// latest minor), reports minor 0, and runs through the whole v1.0 host API.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "loupe/c/loupe_plugin.h"
#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/plugin.hpp"

namespace loupe {
namespace {

const std::string kOldMinorPlugin = std::string(LOUPE_FIXTURE_DIR) + "/compat/libold_minor.so";

// y = 2 * x0 + 3 * x1, a regressor.
class LinearModel final : public Model {
 public:
  LinearModel() {
    info_.name = "linear";
    info_.task = Task::kRegression;
    info_.inputs = {ModelInput{"x0", ColumnType::kNumeric, {}}, ModelInput{"x1", ColumnType::kNumeric, {}}};
    info_.output_names = {"y"};
    info_.raw_output_names = {"y"};
  }
  const ModelInfo& Info() const override { return info_; }
  Result<Tensor> Predict(const TensorView& batch, OutputSpace /*space*/) const override {
    Tensor out(DType::kF64, Shape{batch.dim(0), 1});
    const double* x = batch.data<double>();
    for (std::int64_t i = 0; i < batch.dim(0); ++i) out.data<double>()[i] = 2 * x[2 * i] + 3 * x[2 * i + 1];
    return out;
  }

 private:
  ModelInfo info_;
};

TEST(OlderMinorTest, TheHeaderDescribesMinorOneAsTheLatest) {
  EXPECT_EQ(LOUPE_PLUGIN_ABI_MINOR, LOUPE_PLUGIN_ABI_MINOR_LATEST);
  EXPECT_GE(LOUPE_PLUGIN_ABI_MINOR, 1);
}

TEST(OlderMinorTest, APluginBuiltAgainstMinorZeroLoadsAndRuns) {
  PluginRegistry registry;
  const Status loaded = registry.Load(kOldMinorPlugin);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  ASSERT_EQ(registry.Plugins().size(), 1u);
  EXPECT_EQ(registry.Plugins()[0].abi_major, 1u);
  EXPECT_EQ(registry.Plugins()[0].abi_minor, 0u);
  const LoadedExplainer* probe = registry.Find("old_minor.probe");
  ASSERT_NE(probe, nullptr);

  Result<Dataset> data = ParseCsv("x0,x1\n1,2\n3,4\n5,6\n", "old_minor.csv");
  ASSERT_TRUE(data.ok()) << data.status().message();
  auto model = std::make_shared<const LinearModel>();
  ExplainRequest request;
  request.step_id = "old";
  request.dataset = &*data;
  request.feature_names = {"x0", "x1"};
  Result<Tensor> features = data->Matrix(request.feature_names);
  ASSERT_TRUE(features.ok()) << features.status().message();
  request.features = std::make_shared<const Tensor>(std::move(*features));
  Result<std::shared_ptr<const FeatureModel>> feature_model =
      FeatureModel::Create(model, *data, request.feature_names);
  ASSERT_TRUE(feature_model.ok()) << feature_model.status().message();
  request.model = *feature_model;
  request.rows = {1, 2};
  request.params = nlohmann::json::object();

  Result<Explanation> explanation = probe->Explain(request);
  ASSERT_TRUE(explanation.ok()) << explanation.status().message();
  const nlohmann::json& body = explanation->body;
  EXPECT_EQ(body.at("built_minor").get<double>(), 0.0);
  EXPECT_EQ(body.at("host_minor").get<double>(), static_cast<double>(LOUPE_PLUGIN_ABI_MINOR));
  EXPECT_EQ(body.at("n_rows").get<double>(), 3.0);
  EXPECT_EQ(body.at("n_features").get<double>(), 2.0);
  EXPECT_EQ(body.at("first_prediction").get<double>(), 2 * 3.0 + 3 * 4.0);  // row 1
  EXPECT_EQ(body.at("has_tree_ensemble").get<double>(), 0.0);
  EXPECT_EQ(body.at("params").get<std::string>(), "{}");
}

}  // namespace
}  // namespace loupe
