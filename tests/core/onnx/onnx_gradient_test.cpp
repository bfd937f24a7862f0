// Gradients of ONNX networks (core/src/onnx/backward.cpp, the "gradient" capability of
// model/onnx_model.cpp): the exported breast_cancer MLP and the operator network against PyTorch autograd
// (tests/fixtures/onnx/make_onnx_gradients.py) in both output spaces; central finite differences on a
// small graph per operator; the same bits from concurrent threads; the refusals (one sentence naming the
// node and its operator) with predictions still working.
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loupe/core/dataset.hpp"
#include "loupe/core/gradient.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/text_gradient.hpp"
#include "model/onnx_model.hpp"
#include "onnx/backward.hpp"
#include "onnx/graph.hpp"
#include "onnx/ops.hpp"
#include "onnx/session.hpp"

// A named namespace: the test folder is built as one unity source with onnx_model_test.cpp's helpers.
namespace loupe::onnx_gradient_test {
namespace {

const std::filesystem::path kFixtures = std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/onnx";
const std::filesystem::path kData = LOUPE_TEST_DATA_DIR;

class OnnxGradient : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!onnx::OnnxSupported()) GTEST_SKIP() << "this build has no ONNX support (libonnx-dev missing)";
  }
};

nlohmann::json ReadJson(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::shared_ptr<const Model> Load(const std::string& name) {
  auto model = LoadModel(kFixtures / (name + ".onnx"));
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? *model : nullptr;
}

// breast_cancer.csv's first `rows` rows as the model's inputs, f64 [rows, inputs].
Tensor Inputs(const Model& model, std::int64_t rows) {
  auto dataset = ReadCsv(kData / "breast_cancer.csv");
  EXPECT_TRUE(dataset.ok()) << dataset.status().message();
  const auto& inputs = model.Info().inputs;
  const auto width = static_cast<std::int64_t>(inputs.size());
  Tensor x(DType::kF64, {rows, width});
  for (std::int64_t j = 0; j < width; ++j) {
    const Column* column = dataset->Find(inputs[static_cast<std::size_t>(j)].name);
    EXPECT_NE(column, nullptr);
    for (std::int64_t r = 0; r < rows; ++r)
      x.data<double>()[r * width + j] = column->values()[static_cast<std::size_t>(r % 569)];
  }
  return x;
}

// Gradients against PyTorch autograd at points on integrated gradients' paths, relative to the row's
// largest gradient. A row where float32 autograd is within 1e-6 of float64 autograd must equal float32
// autograd to 1e-5. The MLP is trained to saturation: on some rows a tanh unit sits at 1 - 1e-7 in float32
// and any float32 gradient is rounding noise (float32 autograd is up to 100% off float64 there), so every
// row must be no further from float64 autograd than 1e-5 plus three times float32 autograd's own error.
void ExpectAutogradGradients(const std::string& name) {
  const auto model = Load(name);
  ASSERT_NE(model, nullptr);
  const GradientModel* gradient = model->gradient_model();
  ASSERT_NE(gradient, nullptr) << model->GradientRefusal();
  EXPECT_EQ(model->GradientRefusal(), "");
  const nlohmann::json reference = ReadJson(kFixtures / (name + "_gradients.json"));
  const auto rows = static_cast<std::int64_t>(reference["inputs"].size());
  Tensor x(DType::kF64, {rows, 30});
  std::vector<double> weights;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t f = 0; f < 30; ++f)
      x.data<double>()[r * 30 + f] = reference["inputs"][r][f].get<double>();
    for (const auto& w : reference["weights"][r]) weights.push_back(w.get<double>());
  }
  for (const auto& [key, space] :
       {std::pair{"probability", OutputSpace::kProbability}, std::pair{"raw", OutputSpace::kRaw}}) {
    std::vector<double> got(static_cast<std::size_t>(rows * 30));
    const Status status = gradient->Gradient(x.view(), space, weights, got);
    ASSERT_TRUE(status.ok()) << status.message();
    const auto& want = reference[key]["gradients"];
    const auto& exact = reference[key]["float64"];
    double worst_clean = 0.0;
    int clean = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
      double scale = 0.0, noise = 0.0, error = 0.0, from_exact = 0.0;
      for (std::int64_t f = 0; f < 30; ++f) {
        scale = std::max(scale, std::abs(want[r][f].get<double>()));
        noise = std::max(noise, std::abs(want[r][f].get<double>() - exact[r][f].get<double>()));
        error =
            std::max(error, std::abs(got[static_cast<std::size_t>(r * 30 + f)] - want[r][f].get<double>()));
        from_exact = std::max(
            from_exact, std::abs(got[static_cast<std::size_t>(r * 30 + f)] - exact[r][f].get<double>()));
      }
      // Every row: no further from float64 autograd than 1e-5 plus three times float32 autograd's own error.
      EXPECT_LE(from_exact, 1e-5 * scale + 3.0 * noise) << name << " " << key << " row " << r;
      if (noise < 1e-6 * scale) {
        ++clean;
        worst_clean = std::max(worst_clean, error / scale);
        EXPECT_LE(error, 1e-5 * scale) << name << " " << key << " row " << r;
      }
    }
    std::printf(
        "%s %s: %d of %lld rows with float32 noise < 1e-6; their largest error %.3g of the row's "
        "largest gradient\n",
        name.c_str(), key, clean, static_cast<long long>(rows), worst_clean);
  }
}

TEST_F(OnnxGradient, MlpEqualsAutogradInBothSpaces) { ExpectAutogradGradients("breast_cancer_mlp"); }

TEST_F(OnnxGradient, OperatorNetworkEqualsAutogradInBothSpaces) {
  ExpectAutogradGradients("breast_cancer_ops");
}

TEST_F(OnnxGradient, ConcurrentThreadsGiveTheSameBits) {
  for (const char* name : {"breast_cancer_mlp", "breast_cancer_ops"}) {
    const auto model = Load(name);
    ASSERT_NE(model, nullptr);
    const GradientModel* gradient = model->gradient_model();
    ASSERT_NE(gradient, nullptr);
    const std::int64_t rows = 300;
    const Tensor x = Inputs(*model, rows);
    std::vector<double> weights(static_cast<std::size_t>(rows * 2));
    for (std::size_t k = 0; k < weights.size(); ++k) weights[k] = std::sin(static_cast<double>(k));
    std::vector<double> alone(static_cast<std::size_t>(rows * 30));
    ASSERT_TRUE(gradient->Gradient(x.view(), OutputSpace::kRaw, weights, alone).ok());
    // Two threads at once, each on the whole batch, and one on a half: the same bits as alone.
    std::vector<double> first(alone.size()), second(alone.size()), half(alone.size() / 2);
    std::thread a([&] { EXPECT_TRUE(gradient->Gradient(x.view(), OutputSpace::kRaw, weights, first).ok()); });
    std::thread b(
        [&] { EXPECT_TRUE(gradient->Gradient(x.view(), OutputSpace::kRaw, weights, second).ok()); });
    a.join();
    b.join();
    const Tensor top = Inputs(*model, rows / 2);
    ASSERT_TRUE(gradient
                    ->Gradient(top.view(), OutputSpace::kRaw,
                               std::span<const double>(weights).subspan(0, weights.size() / 2), half)
                    .ok());
    EXPECT_EQ(std::memcmp(alone.data(), first.data(), alone.size() * sizeof(double)), 0) << name;
    EXPECT_EQ(std::memcmp(alone.data(), second.data(), alone.size() * sizeof(double)), 0) << name;
    EXPECT_EQ(std::memcmp(alone.data(), half.data(), half.size() * sizeof(double)), 0) << name;
  }
}

// The exported transformer's text_gradient (the embedding Gather's output) against autograd, at opsets 14
// (LayerNormalization decomposed) and 17, all texts in one padded batch of mixed lengths, both spaces.
TEST_F(OnnxGradient, TextTransformerLayerGradientEqualsAutograd) {
  const nlohmann::json reference = ReadJson(kFixtures / "text_transformer_gradients.json");
  const auto& texts = reference["texts"];
  const auto n = static_cast<std::int64_t>(texts.size());
  for (const int opset : {14, 17}) {
    OnnxLoadOptions options;
    options.tokenizer = kFixtures / "text_tokenizer.json";
    auto model =
        LoadOnnxModel(kFixtures / ("text_transformer_opset" + std::to_string(opset) + ".onnx"), options);
    ASSERT_TRUE(model.ok()) << model.status().message();
    const TextGradientModel* gradient = (*model)->text_gradient_model();
    ASSERT_NE(gradient, nullptr) << (*model)->GradientRefusal();
    const std::int64_t width = gradient->EmbeddingWidth();
    ASSERT_EQ(width, 16);
    EXPECT_EQ(gradient->EmbeddingLayerName(), "embed.weight");
    std::int64_t t = 0;
    std::vector<std::int64_t> lengths;
    for (const auto& text : texts) {
      lengths.push_back(static_cast<std::int64_t>(text["ids"].size()));
      t = std::max(t, lengths.back());
    }
    std::vector<float> values(static_cast<std::size_t>(n * t * width), 0.0f);
    std::vector<double> weights;
    for (std::int64_t r = 0; r < n; ++r) {
      for (std::int64_t s = 0; s < lengths[static_cast<std::size_t>(r)]; ++s)
        for (std::int64_t j = 0; j < width; ++j)
          values[static_cast<std::size_t>((r * t + s) * width + j)] = texts[r]["values"][s][j].get<float>();
      for (const auto& w : texts[r]["weights"]) weights.push_back(w.get<double>());
    }
    const std::string key = "opset" + std::to_string(opset);
    for (const auto& [space_name, space] :
         {std::pair{"probability", OutputSpace::kProbability}, std::pair{"raw", OutputSpace::kRaw}}) {
      std::vector<float> got(values.size(), 1.0f);
      std::vector<double> outputs(static_cast<std::size_t>(n * 8));
      const Status status = gradient->LayerGradient(values, n, t, lengths, space, weights, got, outputs);
      ASSERT_TRUE(status.ok()) << status.message();
      double worst = 0.0;
      for (std::int64_t r = 0; r < n; ++r) {
        const auto& want = texts[r][key][space_name]["gradients"];
        const auto& exact = texts[r][key][space_name]["float64"];
        double scale = 0.0, noise = 0.0, error = 0.0;
        for (std::int64_t s = 0; s < t; ++s) {
          for (std::int64_t j = 0; j < width; ++j) {
            const float g = got[static_cast<std::size_t>((r * t + s) * width + j)];
            if (s >= lengths[static_cast<std::size_t>(r)]) {
              EXPECT_EQ(g, 0.0f) << "padding";
              continue;
            }
            scale = std::max(scale, std::abs(want[s][j].get<double>()));
            noise = std::max(noise, std::abs(want[s][j].get<double>() - exact[s][j].get<double>()));
            error = std::max(error, std::abs(g - want[s][j].get<double>()));
          }
        }
        // The transformer is not saturated: float32 autograd is within 1e-6 of float64 on every text.
        EXPECT_LE(noise, 1e-6 * scale) << key << " " << space_name << " text " << r;
        EXPECT_LE(error, 1e-5 * scale) << key << " " << space_name << " text " << r;
        worst = std::max(worst, error / scale);
      }
      std::printf("text transformer %s %s: largest error %.3g of the text's largest gradient\n", key.c_str(),
                  space_name, worst);
    }
    // Embed gives the table's rows for the tokenizer's ids; 1 and 2 threads give the same bits.
    auto embedded = gradient->Embed({"Help! I'm trapped in a PDP 11/70!"});
    ASSERT_TRUE(embedded.ok());
    EXPECT_EQ((*embedded)[0].values.size(), (*embedded)[0].tokens.ids.size() * 16);
    std::vector<float> a(values.size()), b(values.size());
    std::thread other([&] {
      EXPECT_TRUE(gradient->LayerGradient(values, n, t, lengths, OutputSpace::kRaw, weights, b, {}).ok());
    });
    EXPECT_TRUE(gradient->LayerGradient(values, n, t, lengths, OutputSpace::kRaw, weights, a, {}).ok());
    other.join();
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  }
}

// ---- Central finite differences, one small graph per operator ------------------------------------------

using onnx::Attribute;
using onnx::DataType;
using onnx::Graph;
using onnx::Node;
using onnx::Value;

Node MakeNode(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
              std::map<std::string, Attribute> attributes = {}) {
  Node node;
  node.op_type = op;
  node.inputs = std::move(inputs);
  node.outputs = std::move(outputs);
  node.attributes = std::move(attributes);
  return node;
}

Attribute IntAttr(std::int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}
Attribute FloatAttr(float v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloat;
  a.f = v;
  return a;
}
Attribute IntsAttr(std::vector<std::int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}
Attribute StringAttr(std::string v) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = std::move(v);
  return a;
}

// Values in ±[0.2, 1.4], away from the kinks of Relu, Abs and ReduceMax ties.
std::vector<float> Values(std::int64_t n, std::uint32_t seed) {
  std::vector<float> v(static_cast<std::size_t>(n));
  std::uint32_t s = seed * 2654435761u + 12345u;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    const float u = static_cast<float>(s >> 8) / 16777216.0f;
    x = (0.2f + 1.2f * u) * ((s >> 3) & 1 ? 1.0f : -1.0f);
  }
  return v;
}

// A graph reading x [2, 3, 4] (float) through `nodes` to "y".
Graph TestGraph(const std::string& label, std::vector<Node> nodes, std::map<std::string, Value> initializers,
                std::int64_t opset = 17) {
  Graph graph;
  graph.source = label + ".onnx";
  graph.ir_version = 8;
  graph.opsets[""] = opset;
  graph.opsets[onnx::kMlDomain] = 1;
  graph.initializers = std::move(initializers);
  graph.nodes = std::move(nodes);
  for (std::size_t k = 0; k < graph.nodes.size(); ++k)
    graph.nodes[k].name = label + "_" + std::to_string(k) + "_" + graph.nodes[k].op_type;
  onnx::ValueInfo input;
  input.name = "x";
  input.type = DataType::kFloat;
  input.shape = {2, 3, 4};
  input.has_shape = true;
  graph.inputs = {input};
  onnx::ValueInfo output;
  output.name = "y";
  output.type = DataType::kFloat;
  graph.outputs = {output};
  return graph;
}

// Checks the backward of `graph` against central differences of its f32 forward pass (h = 1e-3 on values
// of size ~1: the difference's rounding is ~1e-4 of the output, its truncation ~1e-6).
void ExpectFiniteDifferences(Graph graph) {
  const std::string label = graph.source;
  auto session = onnx::Session::Create(std::move(graph));
  ASSERT_TRUE(session.ok()) << label << ": " << session.status().message();
  auto program = onnx::GradientProgram::Create(**session, {"x"}, "y");
  ASSERT_TRUE(program.ok()) << label << ": " << program.status().message();
  const Value x = Value::Floats({2, 3, 4}, Values(24, 7));
  std::vector<float> w;
  const auto seed = [&](const Value& y) -> Result<Value> {
    w = Values(y.size(), 11);
    return Value::Floats(y.shape, w);
  };
  auto pass = (*program)->Run({x}, seed);
  ASSERT_TRUE(pass.ok()) << label << ": " << pass.status().message();
  const auto loss = [&](const Value& at) {
    auto y = (*session)->Run({at}, {"y"});
    EXPECT_TRUE(y.ok()) << y.status().message();
    double sum = 0.0;
    for (std::size_t k = 0; k < w.size(); ++k) sum += static_cast<double>(w[k]) * (*y)[0].f[k];
    return sum;
  };
  const double h = 1e-3;
  double largest = 0.0;
  std::vector<double> numeric(24);
  for (std::size_t i = 0; i < 24; ++i) {
    Value up = x, down = x;
    up.f[i] += static_cast<float>(h);
    down.f[i] -= static_cast<float>(h);
    numeric[i] = (loss(up) - loss(down)) / (static_cast<double>(up.f[i]) - down.f[i]);
    largest = std::max(largest, std::abs(numeric[i]));
  }
  bool any = false;
  for (std::size_t i = 0; i < 24; ++i) {
    any = any || pass->gradient[0].d[i] != 0.0;
    EXPECT_NEAR(pass->gradient[0].d[i], numeric[i], 2e-3 * std::max(largest, 1.0))
        << label << " element " << i;
  }
  EXPECT_TRUE(any) << label << ": the gradient is all zeros";
}

Value Floats(std::vector<std::int64_t> shape, std::uint32_t seed) {
  const std::int64_t n = onnx::ElementCount(shape);
  return Value::Floats(std::move(shape), Values(n, seed));
}
Value Ints(std::vector<std::int64_t> v) {
  const auto n = static_cast<std::int64_t>(v.size());
  return Value::Ints({n}, std::move(v));
}
Value Scalar(float v) { return Value::Floats({}, {v}); }

TEST_F(OnnxGradient, EveryOperatorMatchesCentralDifferences) {
  // Element-wise maps.
  for (const char* op : {"Relu", "Tanh", "Sigmoid", "Erf", "Exp", "Neg", "Abs", "Identity", "Dropout"})
    ExpectFiniteDifferences(TestGraph(op, {MakeNode(op, {"x"}, {"y"})}, {}));
  ExpectFiniteDifferences(
      TestGraph("LeakyRelu", {MakeNode("LeakyRelu", {"x"}, {"y"}, {{"alpha", FloatAttr(0.3f)}})}, {}));
  ExpectFiniteDifferences(TestGraph("Gelu", {MakeNode("Gelu", {"x"}, {"y"})}, {}, 20));
  ExpectFiniteDifferences(
      TestGraph("GeluTanh", {MakeNode("Gelu", {"x"}, {"y"}, {{"approximate", StringAttr("tanh")}})}, {}, 20));
  // Log and Sqrt of x² + 1; Pow with exponents 2 and 3.
  ExpectFiniteDifferences(TestGraph(
      "LogSqrt",
      {MakeNode("Mul", {"x", "x"}, {"x2"}), MakeNode("Add", {"x2", "one"}, {"p"}),
       MakeNode("Log", {"p"}, {"l"}), MakeNode("Sqrt", {"p"}, {"s"}), MakeNode("Add", {"l", "s"}, {"y"})},
      {{"one", Scalar(1.0f)}}));
  ExpectFiniteDifferences(
      TestGraph("Pow",
                {MakeNode("Pow", {"x", "two"}, {"a"}), MakeNode("Pow", {"x", "three"}, {"b"}),
                 MakeNode("Sub", {"a", "b"}, {"y"})},
                {{"two", Scalar(2.0f)}, {"three", Scalar(3.0f)}}));
  // Broadcasting binary operators, the constant on either side, and both operands computed (one broadcast).
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    ExpectFiniteDifferences(
        TestGraph(std::string(op) + "Right", {MakeNode(op, {"x", "c"}, {"y"})}, {{"c", Floats({3, 1}, 3)}}));
    ExpectFiniteDifferences(
        TestGraph(std::string(op) + "Left", {MakeNode(op, {"c", "x"}, {"y"})}, {{"c", Floats({4}, 5)}}));
    ExpectFiniteDifferences(
        TestGraph(std::string(op) + "Both",
                  {MakeNode("ReduceSum", {"x", "axes"}, {"r"}, {{"keepdims", IntAttr(1)}}),
                   MakeNode(op, {"x", "r"}, {"y"})},
                  {{"axes", Ints({1})}}));
  }
  // Matrix products: by constant weights (batched, broadcast), of two computed tensors, and Gemm.
  ExpectFiniteDifferences(
      TestGraph("MatMul", {MakeNode("MatMul", {"x", "w"}, {"y"})}, {{"w", Floats({4, 5}, 9)}}));
  ExpectFiniteDifferences(TestGraph("MatMulBoth",
                                    {MakeNode("Transpose", {"x"}, {"t"}, {{"perm", IntsAttr({0, 2, 1})}}),
                                     MakeNode("MatMul", {"x", "t"}, {"y"})},
                                    {}));
  ExpectFiniteDifferences(
      TestGraph("MatMulLeft", {MakeNode("MatMul", {"w", "x"}, {"y"})}, {{"w", Floats({5, 3}, 13)}}));
  ExpectFiniteDifferences(
      TestGraph("Gemm",
                {MakeNode("Reshape", {"x", "shape"}, {"m"}),
                 MakeNode("Gemm", {"m", "w", "c"}, {"y"},
                          {{"transB", IntAttr(1)}, {"alpha", FloatAttr(0.7f)}, {"beta", FloatAttr(1.3f)}})},
                {{"shape", Ints({6, 4})}, {"w", Floats({5, 4}, 17)}, {"c", Floats({5}, 19)}}));
  ExpectFiniteDifferences(TestGraph(
      "GemmBoth",
      {MakeNode("Reshape", {"x", "shape"}, {"m"}),
       MakeNode("Gemm", {"m", "m", "c"}, {"y"}, {{"transA", IntAttr(1)}, {"alpha", FloatAttr(0.5f)}})},
      {{"shape", Ints({6, 4})}, {"c", Floats({4, 4}, 21)}}));
  // Softmax and LogSoftmax on the last and a middle axis, and at opset 11 (coerced to 2-D).
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    ExpectFiniteDifferences(TestGraph(op, {MakeNode(op, {"x"}, {"y"})}, {}));
    ExpectFiniteDifferences(
        TestGraph(std::string(op) + "Axis1", {MakeNode(op, {"x"}, {"y"}, {{"axis", IntAttr(1)}})}, {}));
    ExpectFiniteDifferences(TestGraph(std::string(op) + "Opset11", {MakeNode(op, {"x"}, {"y"})}, {}, 11));
  }
  // Normalisations: LayerNormalization (last axis; the last two), its decomposed form, BatchNormalization.
  ExpectFiniteDifferences(TestGraph("LayerNormalization",
                                    {MakeNode("LayerNormalization", {"x", "g", "b"}, {"y"})},
                                    {{"g", Floats({4}, 23)}, {"b", Floats({4}, 29)}}));
  ExpectFiniteDifferences(TestGraph(
      "LayerNormalizationAxis1", {MakeNode("LayerNormalization", {"x", "g"}, {"y"}, {{"axis", IntAttr(1)}})},
      {{"g", Floats({3, 4}, 31)}}));
  ExpectFiniteDifferences(
      TestGraph("LayerNormDecomposed",
                {MakeNode("ReduceMean", {"x"}, {"mean"}, {{"axes", IntsAttr({-1})}}),
                 MakeNode("Sub", {"x", "mean"}, {"d"}), MakeNode("Pow", {"d", "two"}, {"d2"}),
                 MakeNode("ReduceMean", {"d2"}, {"var"}, {{"axes", IntsAttr({-1})}}),
                 MakeNode("Add", {"var", "eps"}, {"ve"}), MakeNode("Sqrt", {"ve"}, {"sd"}),
                 MakeNode("Div", {"d", "sd"}, {"y"})},
                {{"two", Scalar(2.0f)}, {"eps", Scalar(1e-5f)}}));
  ExpectFiniteDifferences(TestGraph(
      "BatchNormalization",
      {MakeNode("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"}, {{"epsilon", FloatAttr(1e-3f)}})},
      {{"s", Floats({3}, 37)},
       {"b", Floats({3}, 41)},
       {"m", Floats({3}, 43)},
       {"v", Value::Floats({3}, {0.5f, 2.0f, 1.5f})}}));
  // Reductions.
  ExpectFiniteDifferences(TestGraph(
      "ReduceMean",
      {MakeNode("ReduceMean", {"x"}, {"y"}, {{"axes", IntsAttr({0, 2})}, {"keepdims", IntAttr(0)}})}, {}));
  ExpectFiniteDifferences(
      TestGraph("ReduceSum", {MakeNode("ReduceSum", {"x", "axes"}, {"y"})}, {{"axes", Ints({1})}}));
  ExpectFiniteDifferences(
      TestGraph("ReduceMax", {MakeNode("ReduceMax", {"x"}, {"y"}, {{"axes", IntsAttr({2})}})}, {}));
  // Data movement.
  ExpectFiniteDifferences(
      TestGraph("Reshape", {MakeNode("Reshape", {"x", "shape"}, {"r"}), MakeNode("Tanh", {"r"}, {"y"})},
                {{"shape", Ints({4, -1})}}));
  ExpectFiniteDifferences(
      TestGraph("Flatten", {MakeNode("Flatten", {"x"}, {"y"}, {{"axis", IntAttr(2)}})}, {}));
  ExpectFiniteDifferences(TestGraph("Transpose",
                                    {MakeNode("Transpose", {"x"}, {"t"}, {{"perm", IntsAttr({2, 0, 1})}}),
                                     MakeNode("MatMul", {"t", "w"}, {"y"})},
                                    {{"w", Floats({3, 2}, 47)}}));
  ExpectFiniteDifferences(
      TestGraph("SqueezeUnsqueeze",
                {MakeNode("Unsqueeze", {"x", "a"}, {"u"}), MakeNode("Squeeze", {"u", "a"}, {"s"}),
                 MakeNode("Mul", {"s", "s"}, {"y"})},
                {{"a", Ints({1})}}));
  ExpectFiniteDifferences(TestGraph("Concat",
                                    {MakeNode("Mul", {"x", "x"}, {"x2"}),
                                     MakeNode("Concat", {"x2", "c", "x"}, {"y"}, {{"axis", IntAttr(1)}})},
                                    {{"c", Floats({2, 1, 4}, 53)}}));
  ExpectFiniteDifferences(TestGraph(
      "Slice", {MakeNode("Slice", {"x", "st", "en", "ax", "sp"}, {"y"})},
      {{"st", Ints({2, 0})}, {"en", Ints({-100, 3})}, {"ax", Ints({2, 1})}, {"sp", Ints({-1, 2})}}));
  ExpectFiniteDifferences(TestGraph("Gather", {MakeNode("Gather", {"x", "i"}, {"y"}, {{"axis", IntAttr(1)}})},
                                    {{"i", Value::Ints({2, 2}, {2, 0, 2, 1})}}));
  ExpectFiniteDifferences(TestGraph("Split",
                                    {MakeNode("Split", {"x", "parts"}, {"a", "b"}, {{"axis", IntAttr(2)}}),
                                     MakeNode("Mul", {"a", "b"}, {"y"})},
                                    {{"parts", Ints({2, 2})}}));
  ExpectFiniteDifferences(TestGraph(
      "Expand",
      {MakeNode("Slice", {"x", "st", "en", "ax"}, {"s"}), MakeNode("Expand", {"s", "shape"}, {"y"})},
      {{"st", Ints({0})}, {"en", Ints({1})}, {"ax", Ints({1})}, {"shape", Ints({2, 5, 4})}}));
  // Where over a comparison (no gradient through the condition), and a float Cast.
  ExpectFiniteDifferences(TestGraph(
      "WhereCast",
      {MakeNode("Greater", {"x", "zero"}, {"c"}), MakeNode("Mul", {"x", "x"}, {"x2"}),
       MakeNode("Cast", {"x"}, {"f"}, {{"to", IntAttr(1)}}), MakeNode("Where", {"c", "f", "x2"}, {"y"})},
      {{"zero", Scalar(0.0f)}}));
  // The shape sub-graph of exported networks (Shape → Gather → Concat → Reshape) carries no gradient.
  ExpectFiniteDifferences(TestGraph(
      "ShapeSubgraph",
      {MakeNode("Shape", {"x"}, {"s"}), MakeNode("Gather", {"s", "zero"}, {"n"}, {{"axis", IntAttr(0)}}),
       MakeNode("Unsqueeze", {"n", "a0"}, {"n1"}),
       MakeNode("Concat", {"n1", "minus1"}, {"shape"}, {{"axis", IntAttr(0)}}),
       MakeNode("Reshape", {"x", "shape"}, {"r"}), MakeNode("Softmax", {"r"}, {"y"})},
      {{"zero", Value::Ints({}, {0})}, {"a0", Ints({0})}, {"minus1", Ints({-1})}}));
}

// ---- Refusals --------------------------------------------------------------------------------------------

TEST_F(OnnxGradient, AnOperatorWithoutBackwardIsNamedInOneSentence) {
  Graph graph = TestGraph(
      "scaled",
      {MakeNode("Flatten", {"x"}, {"f"}), MakeNode("Scaler", {"f"}, {"s"}), MakeNode("Relu", {"s"}, {"y"})},
      {});
  graph.nodes[1].domain = onnx::kMlDomain;
  graph.nodes[1].attributes["scale"].kind = Attribute::Kind::kFloats;
  graph.nodes[1].attributes["scale"].floats = std::vector<float>(12, 2.0f);
  auto session = onnx::Session::Create(graph);
  ASSERT_TRUE(session.ok()) << session.status().message();
  auto program = onnx::GradientProgram::Create(**session, {"x"}, "y");
  ASSERT_FALSE(program.ok());
  EXPECT_EQ(
      program.status().message(),
      "ONNX model 'scaled.onnx' offers no gradient: node 'scaled_1_Scaler' (op Scaler) has no backward in "
      "Loupe.");
  // A Pow whose exponent is computed from the input, and a cast to double.
  auto pow = onnx::Session::Create(
      TestGraph("pow", {MakeNode("Pow", {"two", "x"}, {"y"})}, {{"two", Scalar(2.0f)}}));
  ASSERT_TRUE(pow.ok());
  EXPECT_EQ(
      onnx::GradientProgram::Create(**pow, {"x"}, "y").status().message(),
      "ONNX model 'pow.onnx' offers no gradient: node 'pow_0_Pow' (op Pow) has no backward in Loupe with "
      "respect to its input 'x'.");
}

TEST_F(OnnxGradient, ModelsWithoutBackwardPredictButOfferNoGradient) {
  // diabetes_pipeline.onnx: Concat → Imputer (ONNX-ML) → ...; the first node on the path without a backward.
  const auto pipeline = Load("diabetes_pipeline");
  ASSERT_NE(pipeline, nullptr);
  EXPECT_EQ(pipeline->gradient_model(), nullptr);
  EXPECT_EQ(pipeline->GradientRefusal(),
            "ONNX model '" + (kFixtures / "diabetes_pipeline.onnx").string() +
                "' offers no gradient: node 'imputer' (op Imputer) has no backward in Loupe.");
  const Tensor x = Inputs(*Load("breast_cancer_logreg"), 3);
  const auto logreg = Load("breast_cancer_logreg");
  EXPECT_EQ(logreg->gradient_model(), nullptr);
  EXPECT_EQ(logreg->GradientRefusal(),
            "ONNX model '" + (kFixtures / "breast_cancer_logreg.onnx").string() +
                "' offers no gradient: node 'scaler' (op Scaler) has no backward in "
                "Loupe.");
  auto p = logreg->Predict(x.view(), OutputSpace::kProbability);
  EXPECT_TRUE(p.ok()) << p.status().message();
  // The tree models offer no gradient either.
  EXPECT_EQ(Load("breast_cancer_rf")->gradient_model(), nullptr);
}

}  // namespace
}  // namespace loupe::onnx_gradient_test
