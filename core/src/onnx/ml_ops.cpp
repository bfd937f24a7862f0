// The ai.onnx.ml operators around tree ensembles in scikit-learn pipelines (skl2onnx's output): Scaler,
// Normalizer, Imputer, Binarizer, ArrayFeatureExtractor, OneHotEncoder, LabelEncoder, LinearClassifier,
// LinearRegressor and ZipMap.
// Numbers are read as float32 and written as float32, as ONNX Runtime does; sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <unordered_map>

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

// OneHotEncoder: [..] → [.., K] floats, one column per category of cats_strings or cats_int64s (numbers
// are truncated to int64, as ONNX Runtime does). A value outside the categories gives zeros (zeros = 1,
// the default) or is an error (zeros = 0).
Result<std::unique_ptr<Kernel>> MakeOneHotEncoder(const KernelBuild& build) {
  const std::vector<std::string> strings = StringsAttr(build.node, "cats_strings");
  const std::vector<std::int64_t> ints = IntsAttr(build.node, "cats_int64s");
  if (strings.empty() == ints.empty()) {
    return NodeError(build.node, "needs exactly one of cats_strings and cats_int64s.");
  }
  const bool zeros = IntAttr(build.node, "zeros", 1) != 0;
  std::unordered_map<std::string, std::int64_t> string_index;
  std::unordered_map<std::int64_t, std::int64_t> int_index;
  for (std::size_t k = 0; k < strings.size(); ++k)
    string_index.emplace(strings[k], static_cast<std::int64_t>(k));
  for (std::size_t k = 0; k < ints.size(); ++k) int_index.emplace(ints[k], static_cast<std::int64_t>(k));
  const auto categories = static_cast<std::int64_t>(std::max(strings.size(), ints.size()));
  return MakeKernel(
      build.node,
      [string_index, int_index, categories, zeros](const Node& node, const std::vector<const Value*>& in,
                                                   std::vector<Value>& out, const RunContext&) -> Status {
        if (in.empty() || in[0] == nullptr) return NodeError(node, "input 0 is required but missing.");
        const Value& x = *in[0];
        const bool by_string = !string_index.empty();
        if (by_string != (x.type == DataType::kString)) {
          return NodeError(node, std::string("reads a ") + DataTypeName(x.type) +
                                     " tensor, but its categories are " +
                                     (by_string ? "strings." : "integers."));
        }
        std::vector<std::int64_t> shape = x.shape;
        shape.push_back(categories);
        Value y = Value::Zeros(DataType::kFloat, std::move(shape));
        for (std::int64_t k = 0; k < x.size(); ++k) {
          std::int64_t column = -1;
          if (by_string) {
            const auto it = string_index.find(x.s[static_cast<std::size_t>(k)]);
            if (it != string_index.end()) column = it->second;
          } else {
            const auto it = int_index.find(IntegerAt(x, k));
            if (it != int_index.end()) column = it->second;
          }
          if (column >= 0) {
            y.f[static_cast<std::size_t>(k * categories + column)] = 1.0f;
          } else if (!zeros) {
            return NodeError(node, "met a value outside its categories, and zeros = 0 forbids that.");
          }
        }
        out[0] = std::move(y);
        return Status::Ok();
      });
}

// LabelEncoder. Opsets 2 and 3: keys_* → values_* (strings, int64s or floats), default_* for keys not
// found. Opset 1: classes_strings, a string becomes its index (default_int64) and an integer the string
// at that index (default_string).
struct LabelMap {
  DataType key_type = DataType::kUndefined, value_type = DataType::kUndefined;
  std::unordered_map<std::string, std::size_t> by_string;
  std::unordered_map<std::int64_t, std::size_t> by_int;
  std::vector<std::pair<float, std::size_t>> by_float;
  std::vector<std::string> strings;
  std::vector<std::int64_t> ints;
  std::vector<float> floats;
  std::string default_string;
  std::int64_t default_int = -1;
  float default_float = -0.0f;
};

Result<LabelMap> ReadLabelMap(const Node& node) {
  LabelMap m;
  m.default_string = StringAttr(node, "default_string", "_Unused");
  m.default_int = IntAttr(node, "default_int64", -1);
  m.default_float = FloatAttr(node, "default_float", -0.0f);
  std::vector<std::string> key_strings = StringsAttr(node, "keys_strings");
  std::vector<std::int64_t> key_ints = IntsAttr(node, "keys_int64s");
  std::vector<float> key_floats = FloatsAttr(node, "keys_floats");
  m.strings = StringsAttr(node, "values_strings");
  m.ints = IntsAttr(node, "values_int64s");
  m.floats = FloatsAttr(node, "values_floats");
  const std::vector<std::string> classes = StringsAttr(node, "classes_strings");
  if (!classes.empty()) {  // opset 1: both directions through the class list
    key_strings = classes;
    for (std::size_t k = 0; k < classes.size(); ++k) m.ints.push_back(static_cast<std::int64_t>(k));
    m.strings = classes;
    key_ints = m.ints;
  }
  const std::size_t n_keys = key_strings.size() + key_ints.size() + key_floats.size();
  if (classes.empty() && (static_cast<int>(!key_strings.empty()) + static_cast<int>(!key_ints.empty()) +
                              static_cast<int>(!key_floats.empty()) !=
                          1)) {
    return NodeError(node,
                     "needs exactly one of keys_strings, keys_int64s and keys_floats (keys_tensor of "
                     "opset 4 is not supported).");
  }
  const std::size_t n_values = m.strings.size() + m.ints.size() + m.floats.size();
  if (classes.empty() && n_values != n_keys) {
    return NodeError(node,
                     "has " + std::to_string(n_keys) + " keys but " + std::to_string(n_values) + " values.");
  }
  for (std::size_t k = 0; k < key_strings.size(); ++k) m.by_string.emplace(key_strings[k], k);
  for (std::size_t k = 0; k < key_ints.size(); ++k) m.by_int.emplace(key_ints[k], k);
  for (std::size_t k = 0; k < key_floats.size(); ++k) m.by_float.emplace_back(key_floats[k], k);
  return m;
}

Result<std::unique_ptr<Kernel>> MakeLabelEncoder(const KernelBuild& build) {
  LOUPE_ASSIGN_OR_RETURN(LabelMap map, ReadLabelMap(build.node));
  const bool opset1 = !StringsAttr(build.node, "classes_strings").empty();
  return MakeKernel(
      build.node,
      [map, opset1](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                    const RunContext&) -> Status {
        if (in.empty() || in[0] == nullptr) return NodeError(node, "input 0 is required but missing.");
        const Value& x = *in[0];
        const bool string_in = x.type == DataType::kString;
        // The value kind written: strings, int64s or floats (opset 1: the other kind than the input's).
        const bool write_strings = opset1 ? !string_in : !map.strings.empty();
        const bool write_ints = opset1 ? string_in : !map.ints.empty();
        Value y = Value::Zeros(write_strings ? DataType::kString
                               : write_ints  ? DataType::kInt64
                                             : DataType::kFloat,
                               x.shape);
        for (std::int64_t k = 0; k < x.size(); ++k) {
          std::size_t found = static_cast<std::size_t>(-1);
          if (string_in) {
            const auto it = map.by_string.find(x.s[static_cast<std::size_t>(k)]);
            if (it != map.by_string.end()) found = it->second;
          } else if (!map.by_int.empty() && x.type != DataType::kFloat && x.type != DataType::kDouble) {
            const auto it = map.by_int.find(IntegerAt(x, k));
            if (it != map.by_int.end()) found = it->second;
          } else {
            const auto v = static_cast<float>(NumberAt(x, k));
            for (const auto& [key, index] : map.by_float) {
              if (key == v) found = index;
            }
          }
          const bool hit = found != static_cast<std::size_t>(-1);
          const auto at = static_cast<std::size_t>(k);
          if (write_strings)
            y.s[at] = hit ? map.strings[found] : map.default_string;
          else if (write_ints)
            y.i[at] = hit ? map.ints[found] : map.default_int;
          else
            y.f[at] = hit ? map.floats[found] : map.default_float;
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
  ops.push_back({kMlDomain, "LabelEncoder",
                 "keys and values as strings, int64s or floats, with defaults; opset 1's classes_strings "
                 "(no keys_tensor)",
                 &MakeLabelEncoder});
  ops.push_back({kMlDomain, "Normalizer", "MAX, L1, L2", &MakeNormalizer});
  ops.push_back({kMlDomain, "OneHotEncoder",
                 "cats_strings or cats_int64s; zeros = 1 gives zeros for unknowns", &MakeOneHotEncoder});
  ops.push_back({kMlDomain, "Scaler", "", &MakeScaler});
  ops.push_back({kMlDomain, "ZipMap", "kept as the scores tensor (outputs are named by the class labels)",
                 &MakeZipMap});
}

}  // namespace loupe::onnx
