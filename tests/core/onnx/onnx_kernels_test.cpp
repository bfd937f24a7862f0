// The fast paths of Loupe's ONNX execution (core/src/onnx, nn/tensor_ops.cpp): the vectorised Erf and the
// oneDNN element-wise maps against the C library's functions, MatMul's NumPy broadcasting and Transpose
// against index arithmetic, the session's fusions (GELU, MatMul + bias) against the unfused steps and a
// double-precision reference, the per-thread reuse of large buffers, bit-identical results from concurrent
// runs, and the bf16 opt-in (model.precision: bf16) within bf16's tolerance of f32.
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>

#include <gtest/gtest.h>

#include "loupe/core/model.hpp"
#include "model/onnx_model.hpp"
#include "nn/ops.hpp"
#include "onnx/graph.hpp"
#include "onnx/ops.hpp"
#include "onnx/session.hpp"
#include "onnx/tree_ensemble_op.hpp"

namespace loupe::onnx {
namespace {

const std::filesystem::path kKernelFixtures = std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/onnx";

Node MakeNode(const std::string& op_type, std::vector<std::string> inputs, std::vector<std::string> outputs) {
  Node node;
  node.name = op_type + "_node";
  node.op_type = op_type;
  node.inputs = std::move(inputs);
  node.outputs = std::move(outputs);
  return node;
}

// Runs the registry's kernel of `node` on runtime inputs (none known at load).
Value RunKernel(const Node& node, const std::vector<const Value*>& inputs, std::int64_t opset = 17) {
  const OpSchema* op = FindOp(node.domain, node.op_type);
  EXPECT_NE(op, nullptr) << node.op_type;
  auto kernel = op->make(KernelBuild{node, opset, std::vector<const Value*>(inputs.size(), nullptr)});
  EXPECT_TRUE(kernel.ok()) << kernel.status().message();
  std::vector<Value> out(node.outputs.size());
  const Status status = (*kernel)->Run(inputs, out, RunContext{});
  EXPECT_TRUE(status.ok()) << status.message();
  return out[0];
}

Value Grid(float from, float to, float step) {
  std::vector<float> values;
  for (float v = from; v <= to; v += step) values.push_back(v);
  const auto n = static_cast<std::int64_t>(values.size());
  return Value::Floats({n}, std::move(values));
}

TEST(OnnxKernels, ErfIsWithinFourFloatStepsOfTheExactErf) {
  Value x = Grid(-6.0f, 6.0f, 1.0f / 1024);
  for (const float special : {0.0f, -0.0f, 1e-30f, -1e-30f, 3.196422f, -3.196422f}) x.f.push_back(special);
  x.f.push_back(std::numeric_limits<float>::infinity());
  x.f.push_back(-std::numeric_limits<float>::infinity());
  x.f.push_back(std::numeric_limits<float>::quiet_NaN());
  x.shape = {static_cast<std::int64_t>(x.f.size())};
  const Value y = RunKernel(MakeNode("Erf", {"x"}, {"y"}), {&x});
  ASSERT_EQ(y.f.size(), x.f.size());
  double worst = 0.0;
  for (std::size_t k = 0; k + 1 < x.f.size(); ++k) {
    const double exact = std::erf(static_cast<double>(x.f[k]));
    worst = std::max(worst, std::abs(y.f[k] - exact));
    // Near 0 the error is relative (erf(x) ≈ 1.128 x).
    if (std::abs(x.f[k]) < 1e-3f) {
      EXPECT_NEAR(y.f[k], exact, 1e-6 * std::abs(exact)) << x.f[k];
    }
  }
  EXPECT_LT(worst, 5e-7);
  EXPECT_EQ(y.f[x.f.size() - 3], 1.0f);
  EXPECT_EQ(y.f[x.f.size() - 2], -1.0f);
  EXPECT_TRUE(std::isnan(y.f.back()));
}

TEST(OnnxKernels, ElementwiseMapsEqualTheStandardFunctions) {
  const Value x = Grid(-8.0f, 8.0f, 1.0f / 64);
  const Value positive = Grid(1.0f / 64, 16.0f, 1.0f / 64);
  struct Case {
    std::string op;
    const Value* input;
    double (*expected)(double);
    std::string approximate;  // Gelu's attribute
  };
  const std::vector<Case> cases = {
      {"Exp", &x, [](double v) { return std::exp(v); }, ""},
      {"Log", &positive, [](double v) { return std::log(v); }, ""},
      {"Sqrt", &positive, [](double v) { return std::sqrt(v); }, ""},
      {"Tanh", &x, [](double v) { return std::tanh(v); }, ""},
      {"Sigmoid", &x, [](double v) { return 1.0 / (1.0 + std::exp(-v)); }, ""},
      {"Abs", &x, [](double v) { return std::abs(v); }, ""},
      {"Neg", &x, [](double v) { return -v; }, ""},
      {"Relu", &x, [](double v) { return v > 0.0 ? v : 0.0; }, ""},
      {"LeakyRelu", &x, [](double v) { return v >= 0.0 ? v : 0.25 * v; }, ""},
      {"Gelu", &x, [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }, "none"},
      {"Gelu", &x,
       [](double v) {
         return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
       },
       "tanh"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op + " " + c.approximate);
    Node node = MakeNode(c.op, {"x"}, {"y"});
    if (c.op == "LeakyRelu") {
      node.attributes["alpha"].kind = Attribute::Kind::kFloat;
      node.attributes["alpha"].f = 0.25f;
    }
    if (!c.approximate.empty()) {
      node.attributes["approximate"].kind = Attribute::Kind::kString;
      node.attributes["approximate"].s = c.approximate;
    }
    const Value y = RunKernel(node, {c.input}, 20);
    ASSERT_EQ(y.f.size(), c.input->f.size());
    // Within a few float32 steps of the exact value (relative above 1, absolute below: GELU's tail, where
    // 0.5·x·(1 + erf) cancels, is exact to 1e-7 absolute only, in ONNX Runtime's decomposed form too).
    double worst = 0.0;
    float worst_x = 0.0f;
    for (std::size_t k = 0; k < y.f.size(); ++k) {
      const double want = c.expected(c.input->f[k]);
      const double error = std::abs(y.f[k] - want) / std::max(1.0, std::abs(want));
      if (error > worst) {
        worst = error;
        worst_x = c.input->f[k];
      }
    }
    EXPECT_LT(worst, 1e-6) << "at x = " << worst_x;
  }
}

// y = a · b for float tensors with NumPy's MatMul broadcasting, in double.
std::vector<double> ReferenceMatMul(const Value& a, const Value& b, std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> as = a.shape, bs = b.shape;
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const std::size_t rank = std::max(as.size(), bs.size());
  while (as.size() < rank) as.insert(as.begin(), 1);
  while (bs.size() < rank) bs.insert(bs.begin(), 1);
  const std::int64_t m = as[rank - 2], k = as[rank - 1], n = bs[rank - 1];
  std::vector<std::int64_t> batch(rank - 2);
  for (std::size_t d = 0; d + 2 < rank; ++d) batch[d] = std::max(as[d], bs[d]);
  std::int64_t count = 1;
  for (const std::int64_t d : batch) count *= d;
  std::vector<double> y(static_cast<std::size_t>(count * m * n));
  for (std::int64_t i = 0; i < count; ++i) {
    std::int64_t rest = i, a_off = 0, b_off = 0, a_step = 1, b_step = 1;
    for (std::size_t d = rank - 2; d-- > 0;) {
      const std::int64_t index = rest % batch[d];
      rest /= batch[d];
      a_off += (as[d] == 1 ? 0 : index) * a_step;
      b_off += (bs[d] == 1 ? 0 : index) * b_step;
      a_step *= as[d];
      b_step *= bs[d];
    }
    for (std::int64_t r = 0; r < m; ++r)
      for (std::int64_t c = 0; c < n; ++c) {
        double sum = 0.0;
        for (std::int64_t j = 0; j < k; ++j)
          sum += static_cast<double>(a.f[static_cast<std::size_t>((a_off * m + r) * k + j)]) *
                 b.f[static_cast<std::size_t>((b_off * k + j) * n + c)];
        y[static_cast<std::size_t>((i * m + r) * n + c)] = sum;
      }
  }
  shape = batch;
  if (a.shape.size() > 1) shape.push_back(m);
  if (b.shape.size() > 1) shape.push_back(n);
  return y;
}

Value Counting(std::vector<std::int64_t> shape, float scale) {
  Value v = Value::Zeros(DataType::kFloat, std::move(shape));
  for (std::size_t k = 0; k < v.f.size(); ++k)
    v.f[k] = scale * static_cast<float>(static_cast<int>(k % 13) - 6);
  return v;
}

TEST(OnnxKernels, MatMulBroadcastsAsNumPy) {
  const std::vector<std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>>> shapes = {
      {{2, 3, 4}, {2, 4, 5}}, {{2, 3, 4}, {4, 5}},          {{3, 4}, {2, 4, 5}},        {{4}, {2, 4, 5}},
      {{3, 4}, {4}},          {{2, 1, 3, 4}, {1, 3, 4, 5}}, {{8, 32, 16}, {8, 16, 32}}, {{1, 1}, {1, 1}}};
  for (const auto& [a_shape, b_shape] : shapes) {
    SCOPED_TRACE(ShapeText(a_shape) + " x " + ShapeText(b_shape));
    const Value a = Counting(a_shape, 0.5f), b = Counting(b_shape, 0.25f);
    const Value y = RunKernel(MakeNode("MatMul", {"a", "b"}, {"y"}), {&a, &b});
    std::vector<std::int64_t> shape;
    const std::vector<double> expected = ReferenceMatMul(a, b, shape);
    EXPECT_EQ(y.shape, shape);
    ASSERT_EQ(y.f.size(), expected.size());
    for (std::size_t k = 0; k < expected.size(); ++k) EXPECT_NEAR(y.f[k], expected[k], 1e-5) << k;
  }
}

TEST(OnnxKernels, TransposeMovesEachElementWherePermSays) {
  const std::vector<std::int64_t> shape = {3, 4, 5};
  for (const std::vector<std::int64_t>& perm : std::vector<std::vector<std::int64_t>>{
           {0, 1, 2}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {0, 2, 1}, {2, 1, 0}}) {
    SCOPED_TRACE(ShapeText(perm));
    const Value x = Counting(shape, 1.0f);
    Value xi = Value::Zeros(DataType::kInt64, shape);
    for (std::size_t k = 0; k < xi.i.size(); ++k) xi.i[k] = static_cast<std::int64_t>(k);
    Node node = MakeNode("Transpose", {"x"}, {"y"});
    node.attributes["perm"].kind = Attribute::Kind::kInts;
    node.attributes["perm"].ints = perm;
    const Value y = RunKernel(node, {&x}), yi = RunKernel(node, {&xi});
    const std::vector<std::int64_t> out = {shape[perm[0]], shape[perm[1]], shape[perm[2]]};
    ASSERT_EQ(y.shape, out);
    for (std::int64_t i = 0; i < out[0]; ++i)
      for (std::int64_t j = 0; j < out[1]; ++j)
        for (std::int64_t l = 0; l < out[2]; ++l) {
          std::int64_t index[3];
          index[perm[0]] = i;
          index[perm[1]] = j;
          index[perm[2]] = l;
          const std::int64_t from = (index[0] * shape[1] + index[1]) * shape[2] + index[2];
          const auto to = static_cast<std::size_t>((i * out[1] + j) * out[2] + l);
          ASSERT_EQ(y.f[to], x.f[static_cast<std::size_t>(from)]);
          ASSERT_EQ(yi.i[to], from);
        }
  }
}

// x [N, 4] → MatMul W [4, 6] → Add bias → Div √2 → Erf → Add 1 → Mul (by the biased product) → Mul 0.5 →
// Reshape [N, 2, 3] → Relu: what torch.onnx.export writes for Linear + GELU (erf).
Graph GeluGraph() {
  Graph graph;
  graph.source = "gelu_fixture.onnx";
  graph.ir_version = 8;
  graph.opsets[""] = 17;
  graph.initializers["W"] = Counting({4, 6}, 0.125f);
  graph.initializers["bias"] = Value::Floats({6}, {0.5f, -0.25f, 0.0f, 1.0f, -1.0f, 0.75f});
  graph.initializers["sqrt2"] = Value::Floats({}, {1.4142135381698608f});
  graph.initializers["one"] = Value::Floats({}, {1.0f});
  graph.initializers["half"] = Value::Floats({}, {0.5f});
  graph.initializers["shape"] = Value::Ints({3}, {-1, 2, 3});
  graph.nodes = {MakeNode("MatMul", {"x", "W"}, {"product"}),
                 MakeNode("Add", {"bias", "product"}, {"h"}),
                 MakeNode("Div", {"h", "sqrt2"}, {"scaled"}),
                 MakeNode("Erf", {"scaled"}, {"erf"}),
                 MakeNode("Add", {"erf", "one"}, {"erf1"}),
                 MakeNode("Mul", {"h", "erf1"}, {"gated"}),
                 MakeNode("Mul", {"gated", "half"}, {"gelu"}),
                 MakeNode("Reshape", {"gelu", "shape"}, {"r"}),
                 MakeNode("Relu", {"r"}, {"y"})};
  for (std::size_t k = 0; k < graph.nodes.size(); ++k) graph.nodes[k].name = "node" + std::to_string(k);
  ValueInfo input;
  input.name = "x";
  input.type = DataType::kFloat;
  input.shape = {-1, 4};
  input.has_shape = true;
  graph.inputs = {input};
  ValueInfo output = input;
  output.name = "y";
  output.shape = {-1, 2, 3};
  graph.outputs = {output};
  return graph;
}

TEST(OnnxKernels, FusedGeluAndBiasEqualTheUnfusedStepsAndADoubleReference) {
  auto session = Session::Create(GeluGraph());
  ASSERT_TRUE(session.ok()) << session.status().message();
  const Value x = Counting({5, 4}, 0.75f);
  // Wanting only y runs the fused steps; wanting an inner tensor (erf) runs the unfused ones.
  auto fused = (*session)->Run({x}, {"y"});
  auto unfused = (*session)->Run({x}, {"y", "erf", "h"});
  ASSERT_TRUE(fused.ok()) << fused.status().message();
  ASSERT_TRUE(unfused.ok()) << unfused.status().message();
  const Value& w = (*session)->graph().initializers.at("W");
  const Value& bias = (*session)->graph().initializers.at("bias");
  ASSERT_EQ((*fused)[0].shape, (std::vector<std::int64_t>{5, 2, 3}));
  for (std::int64_t r = 0; r < 5; ++r) {
    for (std::int64_t c = 0; c < 6; ++c) {
      double h = bias.f[static_cast<std::size_t>(c)];
      for (std::int64_t j = 0; j < 4; ++j)
        h += static_cast<double>(x.f[static_cast<std::size_t>(r * 4 + j)]) *
             w.f[static_cast<std::size_t>(j * 6 + c)];
      const double gelu = 0.5 * h * (1.0 + std::erf(h / std::sqrt(2.0)));
      const auto at = static_cast<std::size_t>(r * 6 + c);
      EXPECT_NEAR((*fused)[0].f[at], std::max(gelu, 0.0), 1e-5) << at;
      EXPECT_NEAR((*unfused)[0].f[at], std::max(gelu, 0.0), 1e-5) << at;
      EXPECT_NEAR((*unfused)[1].f[at], std::erf(h / std::sqrt(2.0)), 1e-6) << at;
      EXPECT_NEAR((*unfused)[2].f[at], h, 1e-5) << at;
    }
  }
}

TEST(OnnxKernels, LargeBuffersAreReusedByTheNextRun) {
  constexpr std::size_t kFloats = std::size_t{8} << 20;  // 32 MiB: above the small-buffer limit
  const float* first = nullptr;
  {
    const FloatRunScope run;
    std::vector<float> buffer = TakeFloats(kFloats);
    buffer.resize(kFloats, 1.0f);
    first = buffer.data();
    RecycleFloats(std::move(buffer));
  }
  {
    const FloatRunScope run;
    std::vector<float> buffer = TakeFloats(kFloats);
    EXPECT_EQ(buffer.data(), first);
    EXPECT_TRUE(buffer.empty());
    RecycleFloats(std::move(buffer));
  }
  {
    // A run that does not take it frees it; outside a run a large buffer is not kept.
    const FloatRunScope run;
  }
  std::vector<float> outside = TakeFloats(kFloats);
  outside.resize(kFloats);
  RecycleFloats(std::move(outside));
  EXPECT_TRUE(TakeFloats(16).capacity() < kFloats);
}

// The text transformer fixture (every fused pattern: GELU, MatMul + bias, attention transposes) run by two
// threads at once, each with a different batch: the same bits as one thread running the rows alone.
TEST(OnnxKernels, ConcurrentTransformerRunsEqualSequentialBitForBit) {
  if (!OnnxSupported()) GTEST_SKIP() << "this build has no ONNX support (libonnx-dev missing)";
  auto graph = ReadGraph(kKernelFixtures / "text_transformer_opset17.onnx");
  ASSERT_TRUE(graph.ok()) << graph.status().message();
  const std::string output = graph->outputs[0].name;
  auto session = Session::Create(std::move(*graph));
  ASSERT_TRUE(session.ok()) << session.status().message();
  const auto ids = [](std::int64_t rows, std::int64_t seed) {
    Value v = Value::Zeros(DataType::kInt64, {rows, 7});
    for (std::size_t k = 0; k < v.i.size(); ++k) v.i[k] = 4 + static_cast<std::int64_t>((k * 7 + seed) % 40);
    return v;
  };
  const Value a = ids(6, 1), b = ids(9, 3);
  const auto sequential_a = (*session)->Run({a}, {output}), sequential_b = (*session)->Run({b}, {output});
  ASSERT_TRUE(sequential_a.ok()) << sequential_a.status().message();
  ASSERT_TRUE(sequential_b.ok());
  std::vector<Value> got(2);
  std::thread first([&] {
    for (int repeat = 0; repeat < 20; ++repeat) got[0] = std::move((*(*session)->Run({a}, {output}))[0]);
  });
  std::thread second([&] {
    for (int repeat = 0; repeat < 20; ++repeat) got[1] = std::move((*(*session)->Run({b}, {output}))[0]);
  });
  first.join();
  second.join();
  ASSERT_EQ(got[0].f.size(), (*sequential_a)[0].f.size());
  ASSERT_EQ(got[1].f.size(), (*sequential_b)[0].f.size());
  EXPECT_EQ(std::memcmp(got[0].f.data(), (*sequential_a)[0].f.data(), got[0].f.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(got[1].f.data(), (*sequential_b)[0].f.data(), got[1].f.size() * sizeof(float)), 0);
}

// model.precision: bf16 on the PyTorch MLP fixture: within bf16's tolerance of f32 (8 significant bits per
// product: a few 1e-3 on probabilities), and different from f32 when the CPU has bf16 (else the same bits).
TEST(OnnxKernels, Bf16MatmulsAreWithinBf16ToleranceOfF32) {
  if (!OnnxSupported()) GTEST_SKIP() << "this build has no ONNX support (libonnx-dev missing)";
  const auto path = kKernelFixtures / "breast_cancer_mlp.onnx";
  auto f32 = LoadModel(path, "onnx");
  auto bf16 = LoadModel(path, "auto", {.bf16 = true});
  ASSERT_TRUE(f32.ok()) << f32.status().message();
  ASSERT_TRUE(bf16.ok()) << bf16.status().message();
  const std::int64_t rows = 64, width = static_cast<std::int64_t>((*f32)->Info().inputs.size());
  Tensor x(DType::kF64, {rows, width});
  for (std::int64_t k = 0; k < rows * width; ++k)
    x.data<double>()[k] =
        10.0 * std::sin(0.37 * static_cast<double>(k)) + 5.0 * static_cast<double>(k % width);
  auto p32 = (*f32)->Predict(x.view(), OutputSpace::kProbability);
  auto p16 = (*bf16)->Predict(x.view(), OutputSpace::kProbability);
  ASSERT_TRUE(p32.ok()) << p32.status().message();
  ASSERT_TRUE(p16.ok()) << p16.status().message();
  double largest = 0.0;
  for (std::int64_t k = 0; k < p32->size(); ++k) {
    const double d = std::abs(p32->data<double>()[k] - p16->data<double>()[k]);
    largest = std::max(largest, d);
    EXPECT_LT(d, 2e-2) << k;
  }
  if (nn::Bf16Supported()) {
    EXPECT_GT(largest, 0.0) << "bf16 gave f32's bits: the bf16 path did not run";
  } else {
    EXPECT_EQ(largest, 0.0);
  }
}

// Every aggregate of a tree ensemble over a block of rows equals it row by row (Scores is a block of
// one), on two one-leaf trees (weights 3 and -2, base value 0.5) whose rows differ only in where they sit.
TEST(OnnxTreeEnsembleScores, EveryAggregateOfABlockEqualsItsRows) {
  TreeEnsembleData data;
  data.n_scores = data.n_outputs = 1;
  data.n_features = 1;
  data.base_values = {0.5};
  for (const double weight : {3.0, -2.0}) {
    EnsembleTree tree;
    tree.mode = {NodeMode::kLeaf};
    tree.feature = {0};
    tree.threshold = {0.0f};
    tree.true_child = tree.false_child = {-1};
    tree.missing_tracks_true = {0};
    tree.weight_offset = {0, 1};
    tree.weight_target = {0};
    tree.weight = {weight};
    data.trees.push_back(tree);
  }
  using Aggregate = TreeEnsembleData::Aggregate;
  const std::vector<std::pair<Aggregate, double>> expected = {
      {Aggregate::kSum, 1.5}, {Aggregate::kAverage, 1.0}, {Aggregate::kMin, -1.5}, {Aggregate::kMax, 3.5}};
  const float rows[3] = {0.0f, 1.0f, 2.0f};
  for (const auto& [aggregate, value] : expected) {
    data.aggregate = aggregate;
    double block[3], one = 0.0;
    data.ScoresOfBlock(rows, 3, 1, block);
    data.Scores(rows + 1, &one);
    for (const double score : block) EXPECT_EQ(score, value) << static_cast<int>(aggregate);
    EXPECT_EQ(one, value) << static_cast<int>(aggregate);
  }
}

}  // namespace
}  // namespace loupe::onnx
