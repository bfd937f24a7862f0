// One host-conformance suite, run against every implementation of LoupeHostApi: the SDK's mock host
// (loupe/testing/mock_host.hpp, what plugin authors test with) and the real host (LoadedExplainer through
// the plugin registry). Each probe of probe_plugin.cpp exercises one area of the API on the same data,
// model, rows, seed and inputs; both hosts must give what the ABI promises (docs/architecture.md §2, §4):
// error reporting, parallel_for chunking, random numbers, dataset views, step rows, row selections, model
// description and predictions, capabilities, inputs and results.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/explanation.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/plugin.hpp"
#include "loupe/core/tree_ensemble.hpp"
#include "loupe/sdk/detail/host_rules.hpp"
#include "loupe/sdk/random.hpp"
#include "loupe/testing/mock_host.hpp"

namespace loupe {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------------
// The scenario every host runs: five rows, a numeric feature with a missing value, a categorical one, a
// target; a regressor y_hat = 2 * x0 + code(color) that also offers a one-tree ensemble.

const std::vector<double> kX0 = {1.5, std::nan(""), 3, 4, 5};
const std::vector<double> kColor = {1, 0, 1, 0, 1};  // codes of {"blue", "red"}
const std::vector<double> kY = {10, 20, 30, 40, 50};
const std::vector<std::int64_t> kRows = {0, 2, 4};
constexpr std::uint64_t kSeed = 1234;

void PredictLinear(const double* rows, std::int64_t n, double* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = 2 * rows[2 * i] + rows[2 * i + 1];
}

TreeEnsembleView OneLeafEnsemble(const std::vector<ModelInput>& inputs) {
  Tree tree;
  tree.left = {-1};
  tree.right = {-1};
  tree.feature = {-1};
  tree.threshold = {std::nan("")};
  tree.default_left = {0};
  tree.is_leaf = {1};
  tree.is_categorical = {0};
  tree.value = {0.5};
  tree.cover = {1};
  tree.category_offsets = {0, 0};
  TreeEnsembleView view;
  view.base_margin = {0.0};
  view.features = inputs;
  view.trees = {tree};
  return view;
}

class ProbeModel final : public Model {
 public:
  ProbeModel() {
    info_.name = "probe_model";
    info_.task = Task::kRegression;
    info_.inputs = {ModelInput{"x0", ColumnType::kNumeric, {}},
                    ModelInput{"color", ColumnType::kCategorical, {"blue", "red"}}};
    info_.output_names = {"y_hat"};
    info_.raw_output_names = {"y_hat"};
    trees_ = std::make_unique<TreeEnsembleCapability>(OneLeafEnsemble(info_.inputs));
  }
  const ModelInfo& Info() const override { return info_; }
  Result<Tensor> Predict(const TensorView& batch, OutputSpace space) const override {
    if (space == OutputSpace::kProbability) return InvalidArgument("probe_model is a regressor.");
    Tensor out(DType::kF64, Shape{batch.dim(0), 1});
    PredictLinear(batch.data<double>(), batch.dim(0), out.data<double>());
    return out;
  }
  const TreeEnsembleCapability* tree_ensemble() const override { return trees_.get(); }

 private:
  ModelInfo info_;
  std::unique_ptr<TreeEnsembleCapability> trees_;
};

// The explanation of an earlier step the probes read as their input.
Explanation InputExplanation() {
  Explanation e;
  e.kind = "probe_input";
  e.step = "earlier";
  e.explainer = "probe.earlier";
  e.body = {{"values", {{1, 2}, {3, nullptr}}}, {"meta", {{"score", 0.25}}}, {"label", "text"}};
  return e;
}

// ---------------------------------------------------------------------------------------------------
// Hosts under test.

struct RunOutcome {
  LoupeStatus status = LOUPE_OK;
  std::string error;
  json body = json::object();
};

class HostUnderTest {
 public:
  virtual ~HostUnderTest() = default;
  // Runs the probe explainer `name` (create, explain, destroy) on the scenario.
  virtual RunOutcome Run(const std::string& name) = 0;
};

const std::string kProbePlugin = HOST_PROBE_PLUGIN;

// The real host: the probe plugin loaded by the registry, run by LoadedExplainer::Explain.
class RealHost final : public HostUnderTest {
 public:
  RealHost() : input_(InputExplanation()) {
    const Status loaded = registry_.Load(kProbePlugin);
    if (!loaded.ok()) throw std::runtime_error(loaded.message());
    CsvOptions options;
    options.target = "y";
    options.sensitive = {"color"};
    Result<Dataset> data =
        ParseCsv("x0,color,y\n1.5,red,10\nNA,blue,20\n3,red,30\n4,blue,40\n5,red,50\n", "probe.csv", options);
    if (!data.ok()) throw std::runtime_error(data.status().message());
    data_ = std::move(*data);
    request_.step_id = "probe";
    request_.dataset = &data_;
    request_.feature_names = {"x0", "color"};
    // As a run holds them: the feature columns are views of the matrix (dataset_column then copies them).
    request_.features = Value(data_.ShareMatrix(request_.feature_names));
    request_.model =
        Value(FeatureModel::Create(std::make_shared<const ProbeModel>(), data_, request_.feature_names));
    request_.rows = kRows;
    request_.seed = kSeed;
    request_.inputs = {&input_};
  }

  RunOutcome Run(const std::string& name) override {
    const LoadedExplainer* explainer = registry_.Find(name);
    if (explainer == nullptr) throw std::runtime_error("the probe plugin has no " + name);
    Result<Explanation> explanation = explainer->Explain(request_);
    RunOutcome outcome;
    if (!explanation.ok()) {
      outcome.status = ToLoupeStatus(explanation.status().code());
      outcome.error = explanation.status().message();
      return outcome;
    }
    outcome.body = explanation->BodyJson();
    return outcome;
  }

 private:
  template <typename T>
  static T Value(Result<T> result) {
    if (!result.ok()) throw std::runtime_error(result.status().message());
    return std::move(*result);
  }
  static LoupeStatus ToLoupeStatus(StatusCode code) {
    switch (code) {
      case StatusCode::kInvalidArgument:
        return LOUPE_ERROR_INVALID_ARGUMENT;
      case StatusCode::kUnsupported:
        return LOUPE_ERROR_UNSUPPORTED;
      case StatusCode::kModelError:
        return LOUPE_ERROR_MODEL;
      case StatusCode::kCancelled:
        return LOUPE_ERROR_CANCELLED;
      case StatusCode::kNotFound:
        return LOUPE_ERROR_NOT_FOUND;
      default:
        return LOUPE_ERROR_INTERNAL;
    }
  }

  PluginRegistry registry_;
  Explanation input_;
  Dataset data_;
  ExplainRequest request_;
};

// The SDK's mock host, running the same probe plugin's vtables (read from its entry with dlopen).
class MockHostUnderTest final : public HostUnderTest {
 public:
  MockHostUnderTest()
      : trees_(OneLeafEnsemble(ProbeModel().Info().inputs)), host_(MockData(), MockModelOf(trees_)) {
    library_ = dlopen(kProbePlugin.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library_ == nullptr) throw std::runtime_error(dlerror());
    const auto* entry = static_cast<const LoupePluginEntryFn*>(dlsym(library_, LOUPE_PLUGIN_ENTRY_SYMBOL));
    if (entry == nullptr) throw std::runtime_error("the probe plugin has no entry");
    char error[256] = {};
    info_ = (*entry)(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof error);
    if (info_ == nullptr) throw std::runtime_error(error);
    options_.rows = kRows;
    options_.seed = kSeed;
    options_.threads = 3;
    const Explanation input = InputExplanation();
    options_.inputs = {testing::MockInput{input.step, input.kind, input.ToJson()}};
  }
  ~MockHostUnderTest() override {
    if (library_ != nullptr) dlclose(library_);
  }

  RunOutcome Run(const std::string& name) override {
    for (std::int64_t i = 0; i < info_->n_explainers; ++i) {
      const LoupeExplainerVTable& vtable = *info_->explainers[i];
      if (name != vtable.name) continue;
      const testing::MockRunResult run = host_.Run(vtable, options_);
      return RunOutcome{run.status, run.error, run.json};
    }
    throw std::runtime_error("the probe plugin has no " + name);
  }

 private:
  static testing::MockDataset MockData() {
    testing::MockDataset data;
    data.features = {testing::MockColumn::Numeric("x0", kX0),
                     testing::MockColumn::Categorical("color", {"blue", "red"}, kColor)};
    data.others = {testing::MockColumn::Numeric("y", kY)};
    data.target = "y";
    data.sensitive = {"color"};
    return data;
  }
  static testing::MockModel MockModelOf(const TreeEnsembleCapability& trees) {
    testing::MockModel model = testing::MockModel::Regressor({"y_hat"}, &PredictLinear);
    model.name = "probe_model";
    model.capabilities = {LOUPE_TREE_ENSEMBLE_CAPABILITY};
    model.capability_structs[LOUPE_TREE_ENSEMBLE_CAPABILITY] = &trees.c_view();
    return model;
  }

  TreeEnsembleCapability trees_;
  testing::MockHost host_;
  testing::MockRunOptions options_;
  void* library_ = nullptr;
  const LoupePluginInfo* info_ = nullptr;
};

// ---------------------------------------------------------------------------------------------------
// The suite, parameterised by a host factory.

struct HostFactory {
  const char* name;
  std::function<std::unique_ptr<HostUnderTest>()> make;
};

class HostConformanceTest : public ::testing::TestWithParam<HostFactory> {
 protected:
  void SetUp() override { host_ = GetParam().make(); }
  // Runs a probe that must succeed and returns what it wrote.
  json Body(const std::string& probe) {
    const RunOutcome run = host_->Run(probe);
    EXPECT_EQ(run.status, LOUPE_OK) << probe << ": " << run.error;
    return run.body;
  }
  std::unique_ptr<HostUnderTest> host_;
};

// --- errors ---

TEST_P(HostConformanceTest, ReportsTheExplainersSentenceAndStatus) {
  const RunOutcome run = host_->Run("probe.errors");
  EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(run.error, "the one error is the cause.");
}

TEST_P(HostConformanceTest, NamesAChunkThatFailedSilently) {
  const RunOutcome run = host_->Run("probe.silent_chunk");
  EXPECT_EQ(run.status, LOUPE_ERROR_MODEL);
  EXPECT_EQ(run.error, sdk::detail::kSilentChunkFailure);
}

TEST_P(HostConformanceTest, RefusesParallelForWithoutABody) {
  const RunOutcome run = host_->Run("probe.no_body");
  EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(run.error, "parallel_for needs a body.");
}

TEST_P(HostConformanceTest, RefusesACreateThatReturnsNoInstance) {
  const RunOutcome run = host_->Run("probe.null_instance");
  EXPECT_EQ(run.status, LOUPE_ERROR_INTERNAL);
  EXPECT_EQ(run.error, "explainer 'probe.null_instance' returned no instance from create.");
}

// --- parallel_for ---

// The chunks of [begin, end) at `grain` by the shared rule, computed here independently of any host.
json ExpectedChunks(std::int64_t begin, std::int64_t end, std::int64_t grain) {
  if (grain <= 0) grain = std::max<std::int64_t>(1, (end - begin + 63) / 64);
  json chunks = json::array();
  for (std::int64_t b = begin; b < end; b += grain) chunks.push_back({b, std::min(end, b + grain)});
  return chunks;
}

TEST_P(HostConformanceTest, ChunksDependOnlyOnTheRangeAndTheGrain) {
  const json ranges = Body("probe.chunks").at("ranges");
  const std::int64_t asked[][3] = {{0, 1000, 0}, {5, 40, 7},     {0, 1, 0},
                                   {3, 3, 5},    {0, 200, 1000}, {-10, 10, 3}};
  ASSERT_EQ(ranges.size(), std::size(asked));
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    EXPECT_EQ(ranges[i].at("status"), LOUPE_OK);
    EXPECT_EQ(ranges[i].at("chunks"), ExpectedChunks(asked[i][0], asked[i][1], asked[i][2])) << "range " << i;
  }
  EXPECT_EQ(ranges[0].at("chunks").size(), 63u);  // ceil(1000 / 16): the default grain of 1000 is 16
}

// --- randomness, cancellation, parameters ---

TEST_P(HostConformanceTest, RandomWordsArePhiloxKeyedByTheStepSeed) {
  const json rng = Body("probe.rng").at("rng");
  EXPECT_EQ(rng.at("seed"), std::to_string(kSeed));
  std::uint64_t words[4] = {};
  sdk::PhiloxFill(kSeed, 3, 2, 5, words, 4);
  ASSERT_EQ(rng.at("words").size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(rng.at("words")[i], std::to_string(words[i]));
  EXPECT_EQ(rng.at("is_cancelled"), 0);
  EXPECT_EQ(rng.at("params"), json::object());
}

// --- data ---

TEST_P(HostConformanceTest, DescribesTheDatasetAndItsColumns) {
  const json body = Body("probe.dataset");
  const json& info = body.at("info");
  EXPECT_EQ(info.at("n_rows"), 5);
  EXPECT_EQ(info.at("n_features"), 2);
  EXPECT_EQ(info.at("target"), "y");
  EXPECT_TRUE(info.at("positive_label").is_null());
  EXPECT_EQ(info.at("sensitive"), json({"color"}));
  const json x0 = {{"name", "x0"},
                   {"type", LOUPE_FEATURE_NUMERIC},
                   {"levels", nullptr},
                   {"n_levels", 0},
                   {"n_missing", 1}};
  const json color = {{"name", "color"},
                      {"type", LOUPE_FEATURE_CATEGORICAL},
                      {"levels", {"blue", "red"}},
                      {"n_levels", 2},
                      {"n_missing", 0}};
  EXPECT_EQ(info.at("features"), json({x0, color}));
  EXPECT_EQ(body.at("matrix_read_only"), 1);
  EXPECT_EQ(body.at("matrix"), json({{1.5, 1.0}, {nullptr, 0.0}, {3.0, 1.0}, {4.0, 0.0}, {5.0, 1.0}}));
  EXPECT_EQ(body.at("columns").at("y").at("values"), json({10.0, 20.0, 30.0, 40.0, 50.0}));
  EXPECT_EQ(body.at("columns").at("y").at("info").at("type"), LOUPE_FEATURE_NUMERIC);
  EXPECT_EQ(body.at("columns").at("color").at("info"), color);
  EXPECT_EQ(body.at("columns").at("color").at("values"), json({1.0, 0.0, 1.0, 0.0, 1.0}));
  EXPECT_EQ(body.at("absent_column_status"), LOUPE_ERROR_NOT_FOUND);
}

TEST_P(HostConformanceTest, GivesTheStepRowsAndResolvesSelections) {
  const json body = Body("probe.rows");
  EXPECT_EQ(body.at("step_rows"), json(kRows));
  const json& resolved = body.at("resolved");
  ASSERT_EQ(resolved.size(), 7u);
  EXPECT_EQ(resolved[0], json({{"status", LOUPE_OK}, {"rows", {1, 2}}}));  // "1:3" is half-open
  EXPECT_EQ(resolved[1].at("status"), LOUPE_OK);                           // a list, as given
  EXPECT_EQ(std::set<std::int64_t>(resolved[1].at("rows").begin(), resolved[1].at("rows").end()),
            (std::set<std::int64_t>{0, 4}));
  EXPECT_EQ(resolved[2], json({{"status", LOUPE_OK}, {"rows", {0, 1, 2, 3, 4}}}));  // "all"
  // A count: a seeded sample without replacement (the exact rows may differ between hosts).
  EXPECT_EQ(resolved[3].at("status"), LOUPE_OK);
  const std::vector<std::int64_t> sample = resolved[3].at("rows").get<std::vector<std::int64_t>>();
  EXPECT_EQ(sample.size(), 3u);
  EXPECT_EQ(std::set<std::int64_t>(sample.begin(), sample.end()).size(), 3u);
  for (std::int64_t row : sample) EXPECT_TRUE(row >= 0 && row < 5) << row;
  EXPECT_EQ(resolved[4].at("status"), LOUPE_ERROR_INVALID_ARGUMENT);  // "9:2"
  EXPECT_EQ(resolved[5].at("status"), LOUPE_ERROR_INVALID_ARGUMENT);  // not JSON
  EXPECT_EQ(resolved[6].at("status"), LOUPE_ERROR_INVALID_ARGUMENT);  // a row past the end
}

// --- model ---

TEST_P(HostConformanceTest, DescribesTheModelAndPredictsInEachSpace) {
  const json body = Body("probe.model");
  EXPECT_EQ(body.at("info"), json({{"task", LOUPE_TASK_REGRESSION},
                                   {"default_space", LOUPE_OUTPUT_RAW},
                                   {"n_outputs", 1},
                                   {"output_names", {"y_hat"}},
                                   {"n_raw_outputs", 1},
                                   {"raw_output_names", {"y_hat"}},
                                   {"name", "probe_model"}}));
  const json expected = json::parse("[[4.0], [7.0], [11.0]]");  // 2 * x0 + code(color) of rows 0, 2, 4
  for (const char* space : {"default", "raw"}) {
    EXPECT_EQ(body.at("predict").at(space).at("status"), LOUPE_OK) << space;
    EXPECT_EQ(body.at("predict").at(space).at("values"), expected) << space;
  }
  EXPECT_EQ(body.at("small_capacity_status"), LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(body.at("bad_shape_status"), LOUPE_ERROR_INVALID_ARGUMENT);
}

TEST_P(HostConformanceTest, HandsOutOnlyKnownCapabilitiesAtSupportedVersions) {
  const json capabilities = Body("probe.capabilities").at("capabilities");
  EXPECT_EQ(capabilities.at("tree_ensemble@1"), true);
  EXPECT_EQ(capabilities.at("tree_ensemble@2"), false);      // a version no host builds
  EXPECT_EQ(capabilities.at("tree_ensemble@0"), false);      // versions start at 1
  EXPECT_EQ(capabilities.at("tree_ensemble/cpp@1"), false);  // no C++ object crosses the ABI
  EXPECT_EQ(capabilities.at("attention@1"), false);
  EXPECT_EQ(capabilities.at("text@1"), false);
  EXPECT_EQ(capabilities.at("hidden_states@1"), false);
  EXPECT_EQ(capabilities.at("head_mask@1"), false);
  EXPECT_EQ(capabilities.at("no_such_capability@1"), false);
  EXPECT_EQ(capabilities.at("has.tree_ensemble"), 1);
  EXPECT_EQ(capabilities.at("has.attention"), 0);
  EXPECT_EQ(capabilities.at("trees"),
            json({{"struct_size", sizeof(LoupeTreeEnsemble)}, {"n_trees", 1}, {"n_outputs", 1}}));
}

// --- inputs ---

TEST_P(HostConformanceTest, ReadsTheInputsOfNeededSteps) {
  const json body = Body("probe.inputs");
  const json& inputs = body.at("inputs");
  EXPECT_EQ(inputs.at("count"), 1);
  EXPECT_EQ(inputs.at("step"), "earlier");
  EXPECT_EQ(inputs.at("kind"), "probe_input");
  EXPECT_TRUE(inputs.at("step_out_of_range").is_null());
  EXPECT_TRUE(inputs.at("json_out_of_range").is_null());
  EXPECT_EQ(inputs.at("json_values"), json({{1, 2}, {3, nullptr}}));
  EXPECT_EQ(inputs.at("json_label"), "text");
  const json& arrays = inputs.at("arrays");
  EXPECT_EQ(arrays.at("values").at("status"), LOUPE_OK);
  EXPECT_EQ(arrays.at("values").at("read_only"), 1);
  EXPECT_EQ(arrays.at("values").at("shape"), json({2, 2}));
  EXPECT_EQ(body.at("arrays").at("values"), json({{1.0, 2.0}, {3.0, nullptr}}));
  EXPECT_EQ(arrays.at("meta.score").at("status"), LOUPE_OK);
  EXPECT_EQ(arrays.at("meta.score").at("shape"), json::array());
  EXPECT_EQ(body.at("arrays").at("score"), 0.25);
  EXPECT_EQ(arrays.at("label").at("status"), LOUPE_ERROR_INVALID_ARGUMENT);  // text is not numeric
  EXPECT_EQ(arrays.at("absent").at("status"), LOUPE_ERROR_NOT_FOUND);
  EXPECT_EQ(arrays.at("meta.absent").at("status"), LOUPE_ERROR_NOT_FOUND);
  EXPECT_EQ(arrays.at("index_out_of_range").at("status"), LOUPE_ERROR_NOT_FOUND);
}

// --- results ---

TEST_P(HostConformanceTest, StoresResultsAsTheAbiPromises) {
  const json body = Body("probe.results");
  const json& statuses = body.at("statuses");
  for (const char* ok :
       {"number",      "nan",          "infinity", "nested",      "replaced",   "replaced_again",
        "string",      "strings",      "f32",      "i64_strided", "i64",        "i32",
        "u8",          "scalar",       "json",     "text",        "text_empty", "text_start",
        "text_append", "text_append2", "new_f64",  "new_i32",     "new_empty",  "new_empty_is_null"}) {
    EXPECT_EQ(statuses.at(ok), LOUPE_OK) << ok;
  }
  for (const char* refused : {"null_string", "strings_with_null", "empty_path", "null_path", "bad_dtype",
                              "null_tensor", "bad_json", "text_decreasing", "text_not_utf8", "text_rank0",
                              "text_append_not_utf8", "new_negative", "new_bad_dtype", "new_no_out"}) {
    EXPECT_EQ(statuses.at(refused), LOUPE_ERROR_INVALID_ARGUMENT) << refused;
  }
  EXPECT_EQ(body.at("number"), 1.25);
  EXPECT_TRUE(body.at("nan").is_null());
  EXPECT_TRUE(body.at("infinity").is_null());
  EXPECT_EQ(body.at("a"), json({{"b", {{"c", 3.0}}}}));
  EXPECT_EQ(body.at("replaced"), "second");
  EXPECT_EQ(body.at("string"), "text");
  EXPECT_EQ(body.at("strings"), json({"x", "y"}));
  EXPECT_FALSE(body.contains("null_string"));
  EXPECT_FALSE(body.contains("strings_with_null"));
  const json& tensors = body.at("tensors");
  EXPECT_EQ(tensors.at("f32"), json({{0.5, nullptr}, {-2.0, nullptr}}));
  EXPECT_EQ(tensors.at("i64"), json({{1, -2, 3}, {4, 5, 6}}));
  EXPECT_EQ(tensors.at("i64_strided"), json({{1, 4}, {-2, 5}, {3, 6}}));
  EXPECT_EQ(tensors.at("i32"), json({7, -8}));
  EXPECT_EQ(tensors.at("u8"), json({0, 255}));
  EXPECT_EQ(tensors.at("scalar"), 9.5);
  EXPECT_FALSE(tensors.contains("bad_dtype"));
  EXPECT_EQ(statuses.at("text_append_missing"), LOUPE_ERROR_NOT_FOUND);
  EXPECT_EQ(body.at("in_place"),
            json({{"f64", {{1.5, 0.0}, {0.0, -2.0}}}, {"i32", {0, 7}}, {"empty", json::array()}}));
  EXPECT_EQ(body.at("texts"), json({{"grid", {{"a", "", "\u00e9\"q"}, {"x\ny", "z", ""}}},
                                    {"empty", {json::array(), json::array()}},
                                    {"grown", json::array({json::array({"a", "bc"}), json::array({"", "d"}),
                                                           json::array({"e", ""})})}}));
  EXPECT_EQ(body.at("json"), json::parse(R"({"k": [1, 2.5, null, "s"]})"));
  EXPECT_FALSE(body.contains("bad_json"));
}

INSTANTIATE_TEST_SUITE_P(
    Hosts, HostConformanceTest,
    ::testing::Values(
        HostFactory{"mock",
                    [] { return std::unique_ptr<HostUnderTest>(std::make_unique<MockHostUnderTest>()); }},
        HostFactory{"real", [] { return std::unique_ptr<HostUnderTest>(std::make_unique<RealHost>()); }}),
    [](const ::testing::TestParamInfo<HostFactory>& info) { return info.param.name; });

}  // namespace
}  // namespace loupe
