// The ai.onnx.ml operators around tree ensembles in scikit-learn pipelines (skl2onnx's output): Scaler,
// Normalizer, Imputer, Binarizer, ArrayFeatureExtractor, LinearClassifier, LinearRegressor and ZipMap.
// Numbers are read as float32 and written as float32, as ONNX Runtime does; sums accumulate in double.
#include <algorithm>
#include <cmath>

#include "onnx/ops.hpp"

namespace loupe::onnx {

namespace {

// Rows and width of a [N, F] (or [F]) input.
struct Matrix {
  std::int64_t rows = 0, cols = 0;
};

Result<Matrix> AsMatrix(const Node& node, const Value& x) {
  if (x.shape.size() == 2) return Matrix{x.shape[0], x.shape[1]};
  if (x.shape.size() == 1) return Matrix{1, x.shape[0]};
  return NodeError(node, "expects a [N, F] input, found " + ShapeText(x.shape) + ".");
}

// A per-feature parameter given once for all features or once per feature.
Result<std::vector<float>> Broadcast(const Node& node, const std::string& name, std::vector<float> values,
                                     std::int64_t cols, float fallback) {
  if (values.empty()) return std::vector<float>(static_cast<std::size_t>(cols), fallback);
  if (values.size() == 1) return std::vector<float>(static_cast<std::size_t>(cols), values[0]);
  if (static_cast<std::int64_t>(values.size()) != cols) {
    return NodeError(node, name + " holds " + std::to_string(values.size()) + " values for an input of " +
                               std::to_string(cols) + " features.");
  }
  return values;
}

Result<std::unique_ptr<Kernel>> MakeScaler(const KernelBuild& build) {
  const std::vector<float> offset = FloatsAttr(build.node, "offset");
  const std::vector<float> scale = FloatsAttr(build.node, "scale");
  return MakeKernel(build.node,
                    [offset, scale](const Node& node, const std::vector<const Value*>& in,
                                    std::vector<Value>& out, const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
                      LOUPE_ASSIGN_OR_RETURN(const Matrix m, AsMatrix(node, *in[0]));
                      LOUPE_ASSIGN_OR_RETURN(const auto o, Broadcast(node, "offset", offset, m.cols, 0.0f));
                      LOUPE_ASSIGN_OR_RETURN(const auto s, Broadcast(node, "scale", scale, m.cols, 1.0f));
                      std::vector<float> y = AsFloats(*in[0]);
                      for (std::int64_t r = 0; r < m.rows; ++r) {
                        for (std::int64_t c = 0; c < m.cols; ++c) {
                          float& v = y[static_cast<std::size_t>(r * m.cols + c)];
                          v = (v - o[static_cast<std::size_t>(c)]) * s[static_cast<std::size_t>(c)];
                        }
                      }
                      out[0] = Value::Floats(in[0]->shape, std::move(y));
                      return Status::Ok();
                    });
}

Result<std::unique_ptr<Kernel>> MakeNormalizer(const KernelBuild& build) {
  const std::string norm = StringAttr(build.node, "norm", "MAX");
  if (norm != "MAX" && norm != "L1" && norm != "L2") {
    return NodeError(build.node, "norm '" + norm + "' is not MAX, L1 or L2.");
  }
  return MakeKernel(build.node,
                    [norm](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                           const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
                      LOUPE_ASSIGN_OR_RETURN(const Matrix m, AsMatrix(node, *in[0]));
                      std::vector<float> y = AsFloats(*in[0]);
                      for (std::int64_t r = 0; r < m.rows; ++r) {
                        float* row = y.data() + r * m.cols;
                        double scale = 0.0;
                        for (std::int64_t c = 0; c < m.cols; ++c) {
                          if (norm == "MAX") scale = c == 0 ? row[c] : std::max<double>(scale, row[c]);
                          if (norm == "L1") scale += std::abs(row[c]);
                          if (norm == "L2") scale += static_cast<double>(row[c]) * row[c];
                        }
                        if (norm == "L2") scale = std::sqrt(scale);
                        for (std::int64_t c = 0; c < m.cols; ++c) row[c] = static_cast<float>(row[c] / scale);
                      }
                      out[0] = Value::Floats(in[0]->shape, std::move(y));
                      return Status::Ok();
                    });
}

Result<std::unique_ptr<Kernel>> MakeImputer(const KernelBuild& build) {
  const std::vector<float> imputed = FloatsAttr(build.node, "imputed_value_floats");
  const float replaced = FloatAttr(build.node, "replaced_value_float", 0.0f);
  if (imputed.empty()) {
    return NodeError(build.node, "only imputed_value_floats is supported (the int64 form is not).");
  }
  return MakeKernel(build.node,
                    [imputed, replaced](const Node& node, const std::vector<const Value*>& in,
                                        std::vector<Value>& out, const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
                      LOUPE_ASSIGN_OR_RETURN(const Matrix m, AsMatrix(node, *in[0]));
                      LOUPE_ASSIGN_OR_RETURN(const auto fill,
                                             Broadcast(node, "imputed_value_floats", imputed, m.cols, 0.0f));
                      std::vector<float> y = AsFloats(*in[0]);
                      const bool nan = std::isnan(replaced);
                      for (std::size_t k = 0; k < y.size(); ++k) {
                        if (nan ? std::isnan(y[k]) : y[k] == replaced)
                          y[k] = fill[k % static_cast<std::size_t>(m.cols)];
                      }
                      out[0] = Value::Floats(in[0]->shape, std::move(y));
                      return Status::Ok();
                    });
}

Result<std::unique_ptr<Kernel>> MakeBinarizer(const KernelBuild& build) {
  const float threshold = FloatAttr(build.node, "threshold", 0.0f);
  return MakeKernel(build.node,
                    [threshold](const Node& node, const std::vector<const Value*>& in,
                                std::vector<Value>& out, const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
                      std::vector<float> y = AsFloats(*in[0]);
                      for (float& v : y) v = v > threshold ? 1.0f : 0.0f;
                      out[0] = Value::Floats(in[0]->shape, std::move(y));
                      return Status::Ok();
                    });
}

Result<std::unique_ptr<Kernel>> MakeArrayFeatureExtractor(const KernelBuild& build) {
  return MakeKernel(
      build.node,
      [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
         const RunContext&) -> Status {
        LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
        LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 1));
        const Value& x = *in[0];
        const Value& indices = *in[1];
        if (x.shape.empty()) return NodeError(node, "expects a tensor of rank 1 or more.");
        const std::int64_t cols = x.shape.back();
        const std::int64_t rows = x.size() / std::max<std::int64_t>(cols, 1);
        std::vector<std::int64_t> shape = x.shape;
        shape.back() = indices.size();
        Value y = Value::Zeros(x.type == DataType::kString ? DataType::kString : DataType::kFloat, shape);
        const std::vector<float> xs = x.type == DataType::kString ? std::vector<float>() : AsFloats(x);
        for (std::int64_t k = 0; k < indices.size(); ++k) {
          const std::int64_t c = IntegerAt(indices, k);
          if (c < 0 || c >= cols) {
            return NodeError(node, "index " + std::to_string(c) + " is outside the last dimension of " +
                                       ShapeText(x.shape) + ".");
          }
          for (std::int64_t r = 0; r < rows; ++r) {
            const auto to = static_cast<std::size_t>(r * indices.size() + k);
            const auto from = static_cast<std::size_t>(r * cols + c);
            if (x.type == DataType::kString)
              y.s[to] = x.s[from];
            else
              y.f[to] = xs[from];
          }
        }
        out[0] = std::move(y);
        return Status::Ok();
      });
}

// Binary one-row linear classifiers report [−s, s] (NONE) or [sigmoid(−s), sigmoid(s)] (LOGISTIC), as
// ONNX Runtime does; raw scores are s alone.
struct LinearLayout {
  std::int64_t classes = 0;  // rows of coefficients
  std::int64_t outputs = 0;  // columns of the scores output
  bool binary_one_row = false;
  std::string post_transform;
};

Result<std::unique_ptr<Kernel>> MakeLinear(const KernelBuild& build, bool classifier) {
  const Node& node = build.node;
  const std::vector<float> coefficients = FloatsAttr(node, "coefficients");
  std::vector<float> intercepts = FloatsAttr(node, "intercepts");
  LinearLayout layout;
  layout.post_transform = StringAttr(node, "post_transform", "NONE");
  std::vector<std::int64_t> int_labels = IntsAttr(node, "classlabels_ints");
  std::vector<std::string> string_labels = StringsAttr(node, "classlabels_strings");
  if (classifier) {
    layout.outputs = static_cast<std::int64_t>(std::max(int_labels.size(), string_labels.size()));
    if (layout.outputs == 0)
      return NodeError(node, "a classifier needs classlabels_ints or classlabels_strings.");
    layout.classes = intercepts.empty() ? layout.outputs : static_cast<std::int64_t>(intercepts.size());
    layout.binary_one_row = layout.outputs == 2 && layout.classes == 1;
  } else {
    layout.classes = layout.outputs = IntAttr(node, "targets", 1);
  }
  if (layout.post_transform != "NONE" && layout.post_transform != "LOGISTIC" &&
      layout.post_transform != "SOFTMAX") {
    return NodeError(node, "post_transform '" + layout.post_transform +
                               "' is not supported (NONE, LOGISTIC, SOFTMAX are).");
  }
  if (layout.classes <= 0 || coefficients.size() % static_cast<std::size_t>(layout.classes) != 0) {
    return NodeError(node, "holds " + std::to_string(coefficients.size()) +
                               " coefficients, not a multiple of its " + std::to_string(layout.classes) +
                               " classes or targets.");
  }
  intercepts.resize(static_cast<std::size_t>(layout.classes), 0.0f);
  const auto width = static_cast<std::int64_t>(coefficients.size()) / layout.classes;
  auto body = [=](const Node& n, const std::vector<const Value*>& in, std::vector<Value>& out,
                  const RunContext& context) -> Status {
    LOUPE_RETURN_IF_ERROR(RequireInput(n, in, 0));
    LOUPE_ASSIGN_OR_RETURN(const Matrix m, AsMatrix(n, *in[0]));
    if (m.cols != width) {
      return NodeError(n, "the input " + ShapeText(in[0]->shape) + " has " + std::to_string(m.cols) +
                              " features, but the coefficients are for " + std::to_string(width) + ".");
    }
    const std::vector<float> x = AsFloats(*in[0]);
    const bool raw = context.raw_scores || !classifier;
    const std::int64_t columns = raw ? layout.classes : layout.outputs;
    Value scores = Value::Zeros(DataType::kFloat, {m.rows, columns});
    std::vector<std::int64_t> best(static_cast<std::size_t>(m.rows));
    std::vector<double> s(static_cast<std::size_t>(layout.classes)),
        shown(static_cast<std::size_t>(layout.outputs));
    for (std::int64_t r = 0; r < m.rows; ++r) {
      for (std::int64_t c = 0; c < layout.classes; ++c) {
        double sum = intercepts[static_cast<std::size_t>(c)];
        for (std::int64_t f = 0; f < width; ++f)
          sum += static_cast<double>(coefficients[static_cast<std::size_t>(c * width + f)]) *
                 x[static_cast<std::size_t>(r * width + f)];
        s[static_cast<std::size_t>(c)] = sum;
      }
      if (layout.binary_one_row) {
        shown = {-s[0], s[0]};
      } else {
        shown.assign(s.begin(), s.end());
      }
      if (layout.post_transform == "LOGISTIC") {
        for (double& v : shown) v = 1.0 / (1.0 + std::exp(-v));
      } else if (layout.post_transform == "SOFTMAX") {
        const double top = *std::max_element(shown.begin(), shown.end());
        double sum = 0.0;
        for (double& v : shown) sum += (v = std::exp(v - top));
        for (double& v : shown) v /= sum;
      }
      const std::vector<double>& written = raw ? s : shown;
      for (std::int64_t c = 0; c < columns; ++c)
        scores.f[static_cast<std::size_t>(r * columns + c)] =
            static_cast<float>(written[static_cast<std::size_t>(c)]);
      best[static_cast<std::size_t>(r)] = std::max_element(shown.begin(), shown.end()) - shown.begin();
    }
    if (!classifier) {
      out[0] = std::move(scores);
      return Status::Ok();
    }
    if (!string_labels.empty()) {
      std::vector<std::string> labels;
      for (const std::int64_t b : best) labels.push_back(string_labels[static_cast<std::size_t>(b)]);
      out[0] = Value::Strings({m.rows}, std::move(labels));
    } else {
      std::vector<std::int64_t> labels;
      for (const std::int64_t b : best) labels.push_back(int_labels[static_cast<std::size_t>(b)]);
      out[0] = Value::Ints({m.rows}, std::move(labels));
    }
    if (out.size() > 1) out[1] = std::move(scores);
    return Status::Ok();
  };
  return MakeKernel(node, body);
}

Result<std::unique_ptr<Kernel>> MakeLinearClassifier(const KernelBuild& build) {
  return MakeLinear(build, true);
}
Result<std::unique_ptr<Kernel>> MakeLinearRegressor(const KernelBuild& build) {
  return MakeLinear(build, false);
}

// ZipMap turns the scores into a sequence of {label: probability} maps. Loupe keeps the scores tensor as
// it is (the model's outputs are named by the labels anyway), so the node passes its input through.
Result<std::unique_ptr<Kernel>> MakeZipMap(const KernelBuild& build) {
  return MakeKernel(build.node,
                    [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                       const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(RequireInput(node, in, 0));
                      out[0] = *in[0];
                      return Status::Ok();
                    });
}

}  // namespace

void AddMlOps(std::vector<OpSchema>& ops) {
  ops.push_back({kMlDomain, "ArrayFeatureExtractor", "numbers and strings", &MakeArrayFeatureExtractor});
  ops.push_back({kMlDomain, "Binarizer", "", &MakeBinarizer});
  ops.push_back({kMlDomain, "Imputer", "imputed_value_floats only", &MakeImputer});
  ops.push_back(
      {kMlDomain, "LinearClassifier",
       "post_transform NONE / LOGISTIC / SOFTMAX; one coefficient row with two labels is the binary form",
       &MakeLinearClassifier});
  ops.push_back({kMlDomain, "LinearRegressor", "", &MakeLinearRegressor});
  ops.push_back({kMlDomain, "Normalizer", "MAX, L1, L2", &MakeNormalizer});
  ops.push_back({kMlDomain, "Scaler", "", &MakeScaler});
  ops.push_back({kMlDomain, "ZipMap", "kept as the scores tensor (outputs are named by the class labels)",
                 &MakeZipMap});
}

}  // namespace loupe::onnx
