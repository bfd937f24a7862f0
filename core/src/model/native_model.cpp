#include "model/native_model.hpp"

#include <cmath>
#include <optional>
#include <span>
#include <sstream>

#include "config/yaml_document.hpp"
#include "loupe/core/gradient.hpp"
#include "loupe/core/row_variants.hpp"
#include "model/dense_layers.hpp"
#include "model/layer_registry.hpp"
#include "model/predict_buffers.hpp"
#include "model/safetensors.hpp"
#include "model/text_model.hpp"
#include "model/vector_math.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace loupe {
namespace {

using nlohmann::json;

struct InputEncoding {
  ModelInput input;
  bool has_impute = false;
  double impute = 0;
  double mean = 0, scale = 1;  // standardize: (x - mean) / scale
};

// Makes a scratch vector hold at least n values, never shrinking it: a block's scratch shrinks from layer
// to layer, and a vector resized down and up again zero-fills the regrown part every time (every value
// read is written first, so the bits do not depend on it).
template <typename T>
void GrowScratch(std::vector<T>& scratch, std::int64_t n) {
  if (scratch.size() < static_cast<std::size_t>(n)) scratch.resize(static_cast<std::size_t>(n));
}

enum class LayerKind { kLinear, kRelu, kTanh, kSigmoid, kSoftmax, kGelu, kGeluTanh, kLayerNorm, kIdentity };

// A layer of the double-precision reference path: inline-weight models, and `precision: f64`.
struct RefLayer {
  LayerKind kind = LayerKind::kLinear;
  std::int64_t in = 0, out = 0;
  std::vector<double> weight;   // linear: [out, in], PyTorch nn.Linear layout; layer_norm: gamma [in]
  std::vector<double> columns;  // linear: the weight by input, [in, out] (made by the reference model)
  std::vector<double> bias;     // linear: [out]; layer_norm: beta [in] or empty
  double eps = 1e-5;
};

// The same layer computed by the reference path, from the spec the nn path computes.
RefLayer ToReference(const model::DenseSpec& spec) {
  static const LayerKind kKinds[] = {LayerKind::kLinear,   LayerKind::kRelu,      LayerKind::kGelu,
                                     LayerKind::kGeluTanh, LayerKind::kTanh,      LayerKind::kSigmoid,
                                     LayerKind::kSoftmax,  LayerKind::kLayerNorm, LayerKind::kIdentity};
  RefLayer layer;
  layer.kind = kKinds[static_cast<int>(spec.kind)];
  layer.in = spec.in;
  layer.out = spec.out;
  layer.weight.assign(spec.weight.begin(), spec.weight.end());
  layer.bias.assign(spec.bias.begin(), spec.bias.end());
  layer.eps = spec.eps;
  return layer;
}

// A network input: the built-in tabular encodings, or a registered kind (text) through its encoder.
struct NetInput {
  InputEncoding tabular;
  std::unique_ptr<model::InputEncoder> encoder;  // null for numeric and categorical inputs
};

// The network run on the nn ops (f32 or bf16).
struct Net {
  std::vector<NetInput> inputs;
  model::ActivationShape input_shape;
  std::vector<std::unique_ptr<model::Layer>> layers;
};

class NativeModel final : public Model, public model::Network, public GradientModel, public RowVariantModel {
 public:
  // The reference path: `layers` computed in double precision, row by row.
  NativeModel(ModelInfo info, std::vector<InputEncoding> inputs, std::vector<RefLayer> layers,
              std::int64_t encoded_width)
      : info_(std::move(info)),
        inputs_(std::move(inputs)),
        layers_(std::move(layers)),
        encoded_width_(encoded_width) {
    for (RefLayer& layer : layers_) {
      if (layer.kind == LayerKind::kLinear) layer.columns = Transposed(layer.weight, layer.out, layer.in);
    }
    PrepareRowVariants();
  }
  // The nn path: `net` on oneDNN, in chunks of rows.
  NativeModel(ModelInfo info, Net net, bool sigmoid_output, std::int64_t encoded_width,
              nn::Precision precision)
      : info_(std::move(info)),
        net_(std::move(net)),
        sigmoid_output_(sigmoid_output),
        encoded_width_(encoded_width) {
    for (std::size_t i = 0; i < net_.layers.size(); ++i) net_.layers[i]->Attach(*this, i);
    PrepareNumericRows();
    PrepareGradient();
    if (precision == nn::Precision::kF32) PrepareF32Variants();
  }

  const ModelInfo& Info() const override { return info_; }

  Result<Tensor> Predict(const TensorView& batch, OutputSpace space) const override {
    return PredictThroughInto(batch, space);
  }

  // Writes straight into `out`; the encoding and the activations live in per-thread scratch.
  Status PredictInto(const TensorView& batch, OutputSpace space, std::span<double> out) const override {
    const auto n_inputs = static_cast<std::int64_t>(info_.inputs.size());
    if (batch.ndim() != 2 || batch.dim(1) != n_inputs) {
      return InvalidArgument("model '" + info_.name + "' expects a batch of shape [n, " +
                             std::to_string(n_inputs) + "], found " + ShapeToString(batch.shape()) + ".");
    }
    LOUPE_RETURN_IF_ERROR(model::CheckOutputBuffer(info_, batch.dim(0), space, out.size()));
    return net_.layers.empty() ? PredictReference(batch, space, out.data())
                               : PredictNet(batch, space, out.data());
  }

  // "gradient": the nn path of a tabular network made only of dense layers (docs/architecture.md §3).
  const GradientModel* gradient_model() const override { return dense_views_.empty() ? nullptr : this; }
  const std::string& DeepLiftRefusal() const override { return deeplift_refusal_; }

  // "row_variants": a model whose first layer is linear, on the double-precision path or (f32) a tabular
  // network of dense layers (PredictVariantsF32).
  const RowVariantModel* row_variant_model() const override { return offers_row_variants_ ? this : nullptr; }
  Status PredictVariants(const TensorView& base, const RowVariants& variants, OutputSpace space,
                         std::span<double> out) const override;
  Status PredictVariantsF32(const TensorView& base, const RowVariants& variants, OutputSpace space,
                            std::span<double> out) const;

  Status Gradient(const TensorView& batch, OutputSpace space, std::span<const double> weights,
                  std::span<double> gradients) const override {
    LOUPE_RETURN_IF_ERROR(CheckGradientCall(batch, nullptr, space, weights, gradients));
    GradientPass pass;
    for (std::int64_t begin = 0; begin < batch.dim(0); begin += kChunkRows) {
      const std::int64_t end = std::min(batch.dim(0), begin + kChunkRows);
      // A classifier's probabilities: the link (sigmoid or softmax) is differentiated in double from the
      // logits, below; the network up to the logits on oneDNN.
      const bool link = info_.task == Task::kClassification && space == OutputSpace::kProbability;
      const OutputSpace network_space = link ? OutputSpace::kRaw : space;
      LOUPE_RETURN_IF_ERROR(ForwardKeeping(batch, begin, end, network_space, pass.acts));
      if (link) {
        LinkBackward(pass.acts.back(), weights, begin, end, pass.dy);
      } else {
        SeedTop(space, weights, begin, end, pass.dy);
      }
      for (std::size_t l = GradientDepth(network_space); l-- > 0;) {
        const model::Activations &x = pass.acts[l], &y = pass.acts[l + 1];
        pass.dx.assign(x.values.size(), 0.0f);
        LOUPE_RETURN_IF_ERROR(model::DenseLayerBackward(dense_views_[l], x.values.data(), y.values.data(),
                                                        end - begin, x.width, y.width, pass.dy.data(),
                                                        pass.dx.data()));
        std::swap(pass.dy, pass.dx);
      }
      GradientToInputs(batch, begin, end, pass.dy, gradients.data());
    }
    return Status::Ok();
  }

  Status DeepLift(const TensorView& batch, const TensorView& references, OutputSpace space,
                  std::span<const double> weights, std::span<double> attributions) const override {
    if (!deeplift_refusal_.empty()) return Unsupported(deeplift_refusal_);
    LOUPE_RETURN_IF_ERROR(CheckGradientCall(batch, &references, space, weights, attributions));
    GradientPass pass, reference;
    for (std::int64_t begin = 0; begin < batch.dim(0); begin += kChunkRows) {
      const std::int64_t end = std::min(batch.dim(0), begin + kChunkRows);
      LOUPE_RETURN_IF_ERROR(ForwardKeeping(batch, begin, end, space, pass.acts));
      LOUPE_RETURN_IF_ERROR(ForwardKeeping(references, begin, end, space, reference.acts));
      SeedTop(space, weights, begin, end, pass.dy);
      for (std::size_t l = GradientDepth(space); l-- > 0;) {
        LOUPE_RETURN_IF_ERROR(RescaleBackward(l, pass.acts, reference.acts, end - begin, pass));
        std::swap(pass.dy, pass.dx);
      }
      MultipliersToInputs(pass.acts[0], reference.acts[0], begin, end, pass.dy, attributions.data());
    }
    return Status::Ok();
  }

  Status Run(const TensorView& batch, std::size_t end, model::Activations& out) const override {
    model::Activations a;
    LOUPE_RETURN_IF_ERROR(EncodeNet(batch, a));
    LOUPE_RETURN_IF_ERROR(RunLayers(0, std::min(end, net_.layers.size()), a, out));
    return Status::Ok();
  }

 private:
  // Rows per oneDNN call: large enough to keep the GEMMs efficient, small enough that activations stay
  // in cache and a huge batch does not need one huge buffer.
  static constexpr std::int64_t kChunkRows = 2048;

  // The nn path into `result` (f64 [n, outputs(space)]), chunk by chunk: the f32 outputs of the last layer
  // computed are widened straight into the caller's rows.
  Status PredictNet(const TensorView& batch, OutputSpace space, double* result) const {
    const std::int64_t n = batch.dim(0);
    const auto n_out = static_cast<std::int64_t>(info_.OutputNames(space).size());
    const bool classification = info_.task == Task::kClassification;
    // A classifier's last layer (sigmoid or softmax) maps logits to probabilities: raw outputs stop before
    // it.
    const std::size_t hidden = classification ? net_.layers.size() - 1 : net_.layers.size();
    model::Scratch<model::Activations> encoded, logits, probabilities;
    for (std::int64_t begin = 0; begin < n; begin += kChunkRows) {
      const std::int64_t end = std::min(n, begin + kChunkRows);
      LOUPE_RETURN_IF_ERROR(EncodeNetRows(batch, begin, end, *encoded));
      LOUPE_RETURN_IF_ERROR(RunLayers(0, hidden, *encoded, *logits));
      const model::Activations* final = &*logits;
      if (classification && space == OutputSpace::kProbability && !sigmoid_output_) {
        LOUPE_RETURN_IF_ERROR(net_.layers.back()->Forward(*logits, *probabilities));
        final = &*probabilities;
      }
      double* out = result + begin * n_out;
      for (std::int64_t row = 0; row < end - begin; ++row) {
        const float* values = final->values.data() + row * final->width;
        if (classification && space == OutputSpace::kProbability && sigmoid_output_) {
          const double p = 1.0 / (1.0 + std::exp(-static_cast<double>(values[0])));
          out[row * n_out] = 1.0 - p;
          out[row * n_out + 1] = p;
        } else {
          std::copy(values, values + n_out, out + row * n_out);
        }
      }
    }
    return Status::Ok();
  }

  // Layers [begin, end) from `in` into `out`, ping-ponging between two buffers.
  Status RunLayers(std::size_t begin, std::size_t end, const model::Activations& in,
                   model::Activations& out) const {
    if (begin >= end) {
      out = in;
      return Status::Ok();
    }
    model::Scratch<model::Activations> scratch;
    const model::Activations* current = &in;
    for (std::size_t l = begin; l < end; ++l) {
      // The last layer writes `out`; the others alternate so that a layer never reads what it writes.
      model::Activations* target = (end - l) % 2 == 1 ? &out : &*scratch;
      LOUPE_RETURN_IF_ERROR(net_.layers[l]->Forward(*current, *target));
      current = target;
    }
    return Status::Ok();
  }

  Status EncodeNet(const TensorView& batch, model::Activations& out) const {
    return EncodeNetRows(batch, 0, batch.dim(0), out);
  }

  // Encodes rows [begin, end) of `batch`. Tabular inputs are read in place; only a registered encoder
  // (text) is handed a view of the rows, which allocates its shape.
  Status EncodeNetRows(const TensorView& batch, std::int64_t begin, std::int64_t end,
                       model::Activations& out) const {
    if (net_.input_shape.sequence) return net_.inputs[0].encoder->Encode(batch.Rows(begin, end), 0, 0, out);
    const std::int64_t n = end - begin;
    out.lengths.clear();
    out.Resize(n, 0, encoded_width_);
    if (n == 0) return Status::Ok();
    const auto n_inputs = static_cast<std::int64_t>(net_.inputs.size());
    const double* rows = batch.data<double>() + begin * n_inputs;
    if (!numeric_mean_.empty() && EncodeNumericRows(rows, n, out.values.data())) return Status::Ok();
    std::int64_t offset = 0;
    for (std::int64_t i = 0; i < n_inputs; ++i) {
      const NetInput& input = net_.inputs[static_cast<std::size_t>(i)];
      if (input.encoder != nullptr) {
        LOUPE_RETURN_IF_ERROR(input.encoder->Encode(batch.Rows(begin, end), i, offset, out));
        offset += input.encoder->output().width;
        continue;
      }
      LOUPE_RETURN_IF_ERROR(EncodeColumn(input.tabular, rows + i, n_inputs, begin, n,
                                         out.values.data() + offset, encoded_width_));
      offset += EncodedWidth(input.tabular);
    }
    return Status::Ok();
  }

  // A network whose inputs are all numbers (no categorical, no registered encoder) encodes input i of a row
  // into cell i: then rows can be encoded row by row, over contiguous values (the column-by-column loop
  // strides through the whole batch once per input, ~11% of a LIME run on a 30-input MLP).
  void PrepareNumericRows() {
    if (net_.input_shape.sequence || encoded_width_ != static_cast<std::int64_t>(net_.inputs.size())) return;
    for (const NetInput& input : net_.inputs) {
      if (input.encoder != nullptr || input.tabular.input.type == ColumnType::kCategorical) return;
    }
    for (const NetInput& input : net_.inputs) {
      numeric_mean_.push_back(input.tabular.mean);
      numeric_scale_.push_back(input.tabular.scale);
    }
    for (int copy = 0; copy < 4; ++copy) {
      numeric_mean4_.insert(numeric_mean4_.end(), numeric_mean_.begin(), numeric_mean_.end());
      numeric_scale4_.insert(numeric_scale4_.end(), numeric_scale_.begin(), numeric_scale_.end());
    }
  }

  // `n` rows of `values` ([n, inputs]) into `cells` ([n, inputs]) with EncodeColumn's arithmetic, so the
  // same bits; false (and the caller encodes by column, which imputes or names the missing value) when a
  // value is missing.
  bool EncodeNumericRows(const double* values, std::int64_t n, float* cells) const {
    const auto width = static_cast<std::int64_t>(numeric_mean_.size());
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (avx2) return EncodeNumericRowsAvx2(values, n, cells);
#endif
    const double* mean = numeric_mean_.data();
    const double* scale = numeric_scale_.data();
    bool missing = false;
    for (std::int64_t row = 0; row < n; ++row) {
      const double* x = values + row * width;
      float* out = cells + row * width;
      for (std::int64_t i = 0; i < width; ++i) {
        missing |= x[i] != x[i];
        out[i] = static_cast<float>((x[i] - mean[i]) / scale[i]);
      }
    }
    return !missing;
  }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // EncodeNumericRows four values at a time (the scalar loop is bound by one division per value): the same
  // IEEE subtraction, division and rounding to float, so the same bits. Four rows (4 * width values, a
  // multiple of four) at a time against the means and scales repeated four times; the last rows by scalars.
  __attribute__((target("avx2"))) bool EncodeNumericRowsAvx2(const double* values, std::int64_t n,
                                                             float* cells) const {
    const auto width = static_cast<std::int64_t>(numeric_mean_.size());
    const double* mean4 = numeric_mean4_.data();
    const double* scale4 = numeric_scale4_.data();
    __m256d unordered = _mm256_setzero_pd();
    std::int64_t row = 0;
    for (; row + 4 <= n; row += 4) {
      const double* x = values + row * width;
      float* out = cells + row * width;
      for (std::int64_t j = 0; j < 4 * width; j += 4) {
        const __m256d v = _mm256_loadu_pd(x + j);
        unordered = _mm256_or_pd(unordered, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
        const __m256d z =
            _mm256_div_pd(_mm256_sub_pd(v, _mm256_loadu_pd(mean4 + j)), _mm256_loadu_pd(scale4 + j));
        _mm_storeu_ps(out + j, _mm256_cvtpd_ps(z));
      }
    }
    bool missing = _mm256_movemask_pd(unordered) != 0;
    for (; row < n; ++row) {
      for (std::int64_t i = 0; i < width; ++i) {
        const double v = values[row * width + i];
        missing |= v != v;
        cells[row * width + i] = static_cast<float>((v - mean4[i]) / scale4[i]);
      }
    }
    return !missing;
  }
#endif

  // One tabular input of `n` rows (`values[row * stride]`) into its encoded cells (row r's first cell at
  // `cells[r * row_width]`, already zero): the one-hot level or the standardized number. The arithmetic is
  // EncodeValue's, in double precision, so the f32 cells of the nn path hold the same bits as before; a
  // column at a time because a call and a Status per value cost a third of Kernel SHAP's time on small
  // networks.
  template <typename Cell>
  Status EncodeColumn(const InputEncoding& enc, const double* values, std::int64_t stride,
                      std::int64_t first_row, std::int64_t n, Cell* cells, std::int64_t row_width) const {
    if (enc.input.type == ColumnType::kCategorical) {
      const std::size_t n_levels = enc.input.levels.size();
      for (std::int64_t row = 0; row < n; ++row) {
        const double x = values[row * stride];
        if (!(x > -1.0)) continue;  // NaN (missing) or no level: no cell set, as in EncodeValue
        const auto level = static_cast<std::size_t>(x);
        if (level < n_levels) cells[row * row_width + static_cast<std::int64_t>(level)] = Cell{1};
      }
      return Status::Ok();
    }
    for (std::int64_t row = 0; row < n; ++row) {
      double x = values[row * stride];
      if (std::isnan(x)) {
        if (!enc.has_impute) {
          double unused = 0.0;
          return EncodeValue(enc, x, first_row + row, &unused);  // the missing-value sentence
        }
        x = enc.impute;
      }
      cells[row * row_width] = static_cast<Cell>((x - enc.mean) / enc.scale);
    }
    return Status::Ok();
  }

  // Rows per block of the double-precision path: a block's activations stay in cache.
  static constexpr std::int64_t kReferenceBlockRows = 64;

  // The double-precision path into `result` (f64 [n, outputs(space)]), a block of rows at a time on
  // per-thread scratch: the block is encoded column by column, then each layer runs over the block. Each
  // row's arithmetic, and its order, are those of a row on its own, so the bits do not depend on blocks.
  Status PredictReference(const TensorView& batch, OutputSpace space, double* result) const {
    const std::int64_t n = batch.dim(0);
    const auto n_out = static_cast<std::int64_t>(info_.OutputNames(space).size());
    model::Scratch<std::vector<double>> a_scratch, b_scratch;
    for (std::int64_t begin = 0; begin < n; begin += kReferenceBlockRows) {
      const std::int64_t m = std::min(kReferenceBlockRows, n - begin);
      LOUPE_RETURN_IF_ERROR(EncodeReferenceBlock(batch, begin, m, *a_scratch));
      FinishReferenceBlock(0, encoded_width_, m, space, *a_scratch, *b_scratch, result + begin * n_out);
    }
    return Status::Ok();
  }

  // Rows [begin, begin + m) of `batch` encoded into `encoded` ([m, encoded_width_]), column by column.
  Status EncodeReferenceBlock(const TensorView& batch, std::int64_t begin, std::int64_t m,
                              std::vector<double>& encoded) const {
    const auto n_inputs = static_cast<std::int64_t>(inputs_.size());
    encoded.assign(static_cast<std::size_t>(m * encoded_width_), 0.0);
    const double* raw = batch.data<double>() + begin * n_inputs;
    for (std::int64_t i = 0; i < n_inputs; ++i) {
      const InputEncoding& input = inputs_[static_cast<std::size_t>(i)];
      LOUPE_RETURN_IF_ERROR(
          EncodeColumn(input, raw + i, n_inputs, begin, m, encoded.data() + input_offset(i), encoded_width_));
    }
    return Status::Ok();
  }

  // Layers [first, ...) of the double-precision path over the m rows of `width` values in `a`, and the
  // outputs in `space` into `out` (m rows of outputs(space)). `a` and `b` are scratch (overwritten).
  void FinishReferenceBlock(std::size_t first, std::int64_t width, std::int64_t m, OutputSpace space,
                            std::vector<double>& a_buffer, std::vector<double>& b_buffer, double* out) const {
    const bool classification = info_.task == Task::kClassification;
    const std::size_t last_hidden = classification ? layers_.size() - 1 : layers_.size();
    std::vector<double>* a = &a_buffer;
    std::vector<double>* b = &b_buffer;
    for (std::size_t l = first; l < last_hidden; ++l) {
      width = ApplyToBlock(layers_[l], *a, width, m, *b);
      std::swap(a, b);
    }
    if (!classification || space == OutputSpace::kRaw) {
      std::copy_n(a->data(), m * width, out);
    } else if (layers_.back().kind == LayerKind::kSigmoid) {
      // The logits' sigmoids in one call (in place: `a` is scratch), then the pairs [1 − p, p].
      double* logits = a->data();
      if (width != 1) {
        b->resize(static_cast<std::size_t>(m));
        for (std::int64_t row = 0; row < m; ++row) (*b)[row] = (*a)[row * width];
        logits = b->data();
      }
      model::vmath::Sigmoid(logits, logits, m);
      for (std::int64_t row = 0; row < m; ++row) {
        const double p = logits[row];
        out[row * 2] = 1.0 - p;
        out[row * 2 + 1] = p;
      }
    } else {
      width = ApplyToBlock(layers_.back(), *a, width, m, *b);
      std::copy_n(b->data(), m * width, out);
    }
  }

  // The first encoded column of input i.
  std::int64_t input_offset(std::int64_t i) const { return input_offsets_[static_cast<std::size_t>(i)]; }

  // Each input's first encoded column; "row_variants" when the first layer is linear and something
  // follows it or the model is a regressor (a classifier's last layer is its link, which the variants path
  // applies after the rest).
  void PrepareRowVariants() {
    std::int64_t offset = 0;
    for (const InputEncoding& input : inputs_) {
      input_offsets_.push_back(offset);
      offset += EncodedWidth(input);
    }
    offers_row_variants_ = !layers_.empty() && layers_[0].kind == LayerKind::kLinear &&
                           (info_.task != Task::kClassification || layers_.size() >= 2);
  }

  // A row-major [rows, cols] matrix as [cols, rows].
  static std::vector<double> Transposed(const std::vector<double>& m, std::int64_t rows, std::int64_t cols) {
    std::vector<double> t(m.size());
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t c = 0; c < cols; ++c)
        t[static_cast<std::size_t>(c * rows + r)] = m[static_cast<std::size_t>(r * cols + c)];
    }
    return t;
  }

  // Adds one change of variant (input i → raw value `x`) to the pre-activations `pre` ([m, out] of the
  // first layer) of the m base rows whose raw values are `raw` (stride n_inputs) and encodings `encoded`:
  // W · (e(x) − e(base)), only the changed input's columns of W.
  Status AddChange(std::int64_t i, double x, const double* raw, const std::vector<double>& encoded,
                   std::int64_t first_row, std::int64_t m, std::vector<double>& pre) const {
    const RefLayer& layer = layers_[0];
    const InputEncoding& enc = inputs_[static_cast<std::size_t>(i)];
    const auto n_inputs = static_cast<std::int64_t>(inputs_.size());
    const std::int64_t offset = input_offsets_[static_cast<std::size_t>(i)];
    const std::int64_t h = layer.out;
    if (enc.input.type == ColumnType::kCategorical) {
      const auto n_levels = static_cast<std::int64_t>(enc.input.levels.size());
      // EncodeColumn's rule: a level code in range sets its cell; NaN and other codes set none.
      const auto level_of = [n_levels](double v) -> std::int64_t {
        if (!(v > -1.0)) return -1;
        const auto level = static_cast<std::size_t>(v);
        return level < static_cast<std::size_t>(n_levels) ? static_cast<std::int64_t>(level) : -1;
      };
      const std::int64_t to = level_of(x);
      for (std::int64_t row = 0; row < m; ++row) {
        const std::int64_t from = level_of(raw[row * n_inputs + i]);
        if (from == to) continue;
        double* z = pre.data() + row * h;
        if (from >= 0) {
          const double* w = layers_[0].columns.data() + (offset + from) * h;
          for (std::int64_t o = 0; o < h; ++o) z[o] -= w[o];
        }
        if (to >= 0) {
          const double* w = layers_[0].columns.data() + (offset + to) * h;
          for (std::int64_t o = 0; o < h; ++o) z[o] += w[o];
        }
      }
      return Status::Ok();
    }
    double changed = 0.0;
    LOUPE_RETURN_IF_ERROR(EncodeValue(enc, x, first_row, &changed));  // the missing-value sentence
    if (h == 1) {  // one output (a logistic regression): the same sums without the inner loop
      const double w = layers_[0].columns[static_cast<std::size_t>(offset)];
      const double* e = encoded.data() + offset;
      for (std::int64_t row = 0; row < m; ++row) {
        const double delta = changed - e[row * encoded_width_];
        if (delta != 0.0) pre[row] += w * delta;
      }
      return Status::Ok();
    }
    double deltas[kReferenceBlockRows];  // m ≤ kReferenceBlockRows: a block of PredictVariants
    for (std::int64_t row = 0; row < m; ++row)
      deltas[row] = changed - encoded[static_cast<std::size_t>(row * encoded_width_ + offset)];
    model::vmath::AddScaledRows(pre.data(), layers_[0].columns.data() + offset * h, deltas, m, h);
    return Status::Ok();
  }

  static std::int64_t EncodedWidth(const InputEncoding& enc) {
    return enc.input.type == ColumnType::kCategorical ? static_cast<std::int64_t>(enc.input.levels.size())
                                                      : 1;
  }

  // One raw value of one input → its encoded columns (one-hot levels, or the standardized number).
  Status EncodeValue(const InputEncoding& enc, double x, std::int64_t row, double* encoded) const {
    if (enc.input.type == ColumnType::kCategorical) {
      for (std::size_t level = 0; level < enc.input.levels.size(); ++level) {
        encoded[level] = (!std::isnan(x) && static_cast<std::size_t>(x) == level) ? 1.0 : 0.0;
      }
      return Status::Ok();
    }
    if (std::isnan(x)) {
      if (!enc.has_impute) {
        return ModelError("input '" + enc.input.name + "' is missing in batch row " + std::to_string(row) +
                          " and model '" + info_.name + "' has no impute value for it.");
      }
      x = enc.impute;
    }
    encoded[0] = (x - enc.mean) / enc.scale;
    return Status::Ok();
  }

  // `layer` over `m` rows of `width` values in `in` into `out`; returns the output width. Linear and layer
  // norm layers row by row; the elementwise ones and softmax's exponentials over the whole block at once,
  // on the vector kernels of vector_math.hpp (whose results do not depend on a value's place in the block).
  static std::int64_t ApplyToBlock(const RefLayer& layer, const std::vector<double>& in, std::int64_t width,
                                   std::int64_t m, std::vector<double>& out) {
    const std::int64_t out_width = layer.kind == LayerKind::kLinear ? layer.out : width;
    out.resize(static_cast<std::size_t>(m * out_width));
    const std::int64_t count = m * width;
    switch (layer.kind) {
      case LayerKind::kLinear:
        if (layer.out < kFewOutputs) {
          LinearFewOutputs(layer, in.data(), m, out.data());
          break;
        }
        [[fallthrough]];
      case LayerKind::kLayerNorm:
        for (std::int64_t row = 0; row < m; ++row) {
          const std::span<const double> x(in.data() + row * width, static_cast<std::size_t>(width));
          const std::span<double> y(out.data() + row * out_width, static_cast<std::size_t>(out_width));
          if (layer.kind == LayerKind::kLinear) {
            ApplyLinear(layer, x, y);
          } else {
            ApplyLayerNorm(layer, x, y);
          }
        }
        break;
      case LayerKind::kSoftmax:
        SoftmaxBlock(in.data(), width, m, out.data());
        break;
      case LayerKind::kRelu:
        for (std::int64_t i = 0; i < count; ++i) out[i] = in[i] > 0 ? in[i] : 0;
        break;
      case LayerKind::kTanh:
        model::vmath::Tanh(in.data(), out.data(), count);
        break;
      case LayerKind::kSigmoid:
        model::vmath::Sigmoid(in.data(), out.data(), count);
        break;
      case LayerKind::kGelu:
        model::vmath::GeluErf(in.data(), out.data(), count);
        break;
      case LayerKind::kGeluTanh:
        model::vmath::GeluTanh(in.data(), out.data(), count);
        break;
      case LayerKind::kIdentity:
        std::copy_n(in.data(), count, out.data());  // dropout, flatten
        break;
    }
    return out_width;
  }

  // Softmax over each of the m rows of `width` values: the row's maximum subtracted, the block's
  // exponentials in one call, then each row divided by its sum (summed in column order).
  static void SoftmaxBlock(const double* in, std::int64_t width, std::int64_t m, double* out) {
    for (std::int64_t row = 0; row < m; ++row) {
      const double* x = in + row * width;
      double max = width == 0 ? 0 : x[0];
      for (std::int64_t c = 0; c < width; ++c) max = std::max(max, x[c]);
      for (std::int64_t c = 0; c < width; ++c) out[row * width + c] = x[c] - max;
    }
    model::vmath::Exp(out, out, m * width);
    for (std::int64_t row = 0; row < m; ++row) {
      double* y = out + row * width;
      double sum = 0;
      for (std::int64_t c = 0; c < width; ++c) sum += y[c];
      for (std::int64_t c = 0; c < width; ++c) y[c] /= sum;
    }
  }

  // A linear layer with fewer outputs than this is computed as one dot product per output (ApplyLinear).
  static constexpr std::int64_t kFewOutputs = 4;

  // ApplyLinear's dot products over the m rows of `in` for a layer of few outputs, without a call per row
  // (a one-feature logistic model over a million rows is mostly call overhead otherwise): each output
  // starts at its bias and adds w[o][i]·x[i] in the order of i, an input at a time across the rows.
  static void LinearFewOutputs(const RefLayer& layer, const double* __restrict in, std::int64_t m,
                               double* __restrict out) {
    const std::int64_t n_in = layer.in, n_out = layer.out;
    for (std::int64_t o = 0; o < n_out; ++o) {
      const double bias = layer.bias.empty() ? 0.0 : layer.bias[static_cast<std::size_t>(o)];
      for (std::int64_t row = 0; row < m; ++row) out[row * n_out + o] = bias;
    }
    for (std::int64_t i = 0; i < n_in; ++i) {
      for (std::int64_t o = 0; o < n_out; ++o) {
        const double w = layer.weight[static_cast<std::size_t>(o * n_in + i)];
        for (std::int64_t row = 0; row < m; ++row) out[row * n_out + o] += w * in[row * n_in + i];
      }
    }
  }

  // out[o] = bias[o] + Σ_i w[o][i]·in[i], summed in the order of i for every o. With a few outputs, one
  // dot product per output; with more, a column of w at a time, so that the compiler vectorises across
  // the outputs' independent sums. That form skips an input of 0 (a one-hot encoding's other levels, a
  // ReLU's zeros): its zero products change no sum, short of the sign of a zero.
  static void ApplyLinear(const RefLayer& layer, std::span<const double> in, std::span<double> out) {
    if (layer.out < kFewOutputs) {
      LinearFewOutputs(layer, in.data(), 1, out.data());
      return;
    }
    if (layer.bias.empty()) {
      std::fill(out.begin(), out.end(), 0.0);
    } else {
      std::copy(layer.bias.begin(), layer.bias.end(), out.begin());
    }
    model::vmath::AddScaledColumns(out.data(), layer.columns.data(), in.data(), layer.in, layer.out);
  }

  static void ApplyLayerNorm(const RefLayer& layer, std::span<const double> in, std::span<double> out) {
    double mean = 0, var = 0;
    for (double v : in) mean += v;
    mean /= static_cast<double>(in.size());
    for (double v : in) var += (v - mean) * (v - mean);
    var /= static_cast<double>(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
      out[i] = (in[i] - mean) / std::sqrt(var + layer.eps) * layer.weight[i] +
               (layer.bias.empty() ? 0 : layer.bias[i]);
    }
  }

  // --- the "row_variants" capability on the f32 network path ---

  // A dense layer of the f32 variants path: the nn layer's f32 weights, and a linear layer's columns.
  struct F32Layer {
    model::DenseKind kind = model::DenseKind::kIdentity;
    std::int64_t in = 0, out = 0;
    std::vector<float> columns;  // linear: the weight by input, [in, out]
    std::vector<float> bias;     // linear: [out] (zeros when the layer has none); layer_norm: beta or zeros
    std::vector<float> gamma;    // layer_norm
    float eps = 1e-5f;           // layer_norm
  };

  // Offered when the network is all dense layers (the gradient capability's views exist: tabular inputs,
  // no sequence), the first linear, and a classifier has a layer after it.
  void PrepareF32Variants() {
    if (dense_views_.empty() || dense_views_[0].kind != DenseKind::kLinear) return;
    if (info_.task == Task::kClassification && dense_views_.size() < 2) return;
    std::vector<F32Layer> layers;
    for (const model::DenseLayerView& view : dense_views_) {
      F32Layer layer;
      layer.kind = view.kind;
      if (view.kind == DenseKind::kLayerNorm) {
        layer.gamma = view.spec->weight;
        layer.bias = view.spec->bias;
        layer.bias.resize(layer.gamma.size(), 0.0f);
        layer.eps = static_cast<float>(view.spec->eps);
      }
      if (view.kind == DenseKind::kLinear) {
        const nn::DenseLayer& dense = *view.linear;
        layer.in = dense.in();
        layer.out = dense.out();
        layer.columns.resize(dense.weight().size());
        for (std::int64_t o = 0; o < layer.out; ++o) {
          for (std::int64_t i = 0; i < layer.in; ++i)
            layer.columns[static_cast<std::size_t>(i * layer.out + o)] =
                dense.weight()[static_cast<std::size_t>(o * layer.in + i)];
        }
        layer.bias = dense.bias();
        layer.bias.resize(static_cast<std::size_t>(layer.out), 0.0f);
      }
      layers.push_back(std::move(layer));
    }
    f32_layers_ = std::move(layers);
    std::int64_t offset = 0;
    for (const NetInput& input : net_.inputs) {
      input_offsets_.push_back(offset);
      offset += EncodedWidth(input.tabular);
    }
    offers_row_variants_ = true;
  }

  // Layers [first, ...) of the f32 variants path over a block of rows held lane-major (`a` is [width][lanes]:
  // a[c·lanes + r] is value c of row r; lanes ≥ m, a multiple of 8), and the outputs in `space` of its
  // first m rows into `out` (m rows of outputs(space)), as PredictNet gives them: raw outputs before a
  // classifier's link, a sigmoid's probabilities in double from the logit, a softmax's in f32. A row's
  // arithmetic is the same whatever its lane and the other rows (the FMAs of a linear layer in the order of
  // its inputs, the elementwise kernels lane by lane), so the bits do not depend on the block. `a`, `b`
  // and `pointers` are scratch.
  void FinishF32Block(std::size_t first, std::int64_t width, std::int64_t m, std::int64_t lanes,
                      OutputSpace space, std::vector<float>& a_buffer, std::vector<float>& b_buffer,
                      std::vector<const float*>& pointers, double* out) const {
    const bool classification = info_.task == Task::kClassification;
    const std::size_t last_hidden = classification ? f32_layers_.size() - 1 : f32_layers_.size();
    std::vector<float>* a = &a_buffer;
    std::vector<float>* b = &b_buffer;
    for (std::size_t l = first; l < last_hidden; ++l) {
      width = ApplyF32(f32_layers_[l], *a, width, lanes, *b, pointers);
      std::swap(a, b);
    }
    if (classification && space == OutputSpace::kProbability && sigmoid_output_) {
      for (std::int64_t row = 0; row < m; ++row) {
        const double p = 1.0 / (1.0 + std::exp(-static_cast<double>((*a)[row])));
        out[row * 2] = 1.0 - p;
        out[row * 2 + 1] = p;
      }
      return;
    }
    if (classification && space == OutputSpace::kProbability) {
      width = ApplyF32(f32_layers_.back(), *a, width, lanes, *b, pointers);
      std::swap(a, b);
    }
    for (std::int64_t row = 0; row < m; ++row) {
      for (std::int64_t c = 0; c < width; ++c) out[row * width + c] = (*a)[c * lanes + row];
    }
  }

  // Softmax over the lane-major [width][lanes] values `in` into `out`: each row's maximum subtracted (in the
  // order of its values), the block's exponentials in one call, then each row divided by its sum (summed in
  // the order of its values). The rows are the lanes, so each step runs across all of them at once: the same
  // operations in the same order for every row.
  static void SoftmaxLanes(const float* in, std::int64_t width, std::int64_t lanes, float* out) {
    if (width == 0) return;
    float* max = out;  // row r's running maximum, then its sum, in out's first value of row r
    std::copy_n(in, lanes, max);
    for (std::int64_t c = 0; c < width; ++c) {
      const float* value = in + c * lanes;
      for (std::int64_t r = 0; r < lanes; ++r) max[r] = std::max(max[r], value[r]);
    }
    for (std::int64_t c = width - 1; c >= 0; --c) {  // value 0 last: it overwrites the maxima
      const float* value = in + c * lanes;
      float* shifted = out + c * lanes;
      for (std::int64_t r = 0; r < lanes; ++r) shifted[r] = value[r] - max[r];
    }
    model::vmath::Exp(out, out, width * lanes);
    constexpr std::int64_t kSumLanes = 64;
    for (std::int64_t first = 0; first < lanes; first += kSumLanes) {
      const std::int64_t n = std::min(kSumLanes, lanes - first);
      float sum[kSumLanes] = {};
      for (std::int64_t c = 0; c < width; ++c) {
        const float* e = out + c * lanes + first;
        for (std::int64_t r = 0; r < n; ++r) sum[r] += e[r];
      }
      for (std::int64_t c = 0; c < width; ++c) {
        float* e = out + c * lanes + first;
        for (std::int64_t r = 0; r < n; ++r) e[r] /= sum[r];
      }
    }
  }

  // `layer` over the lane-major [width][lanes] values `in` into `out` ([out_width][lanes]); returns the
  // output width. A linear layer is bias + the FMAs of its inputs in order (vmath::AddScaledLanes); the
  // elementwise ones run on the f32 kernels of vector_math.hpp over the whole block; softmax (SoftmaxLanes)
  // and layer norm per row (lane) over its values in order.
  static std::int64_t ApplyF32(const F32Layer& layer, const std::vector<float>& in, std::int64_t width,
                               std::int64_t lanes, std::vector<float>& out,
                               std::vector<const float*>& pointers) {
    const std::int64_t out_width = layer.kind == DenseKind::kLinear ? layer.out : width;
    GrowScratch(out, out_width * lanes);
    const std::int64_t count = width * lanes;
    switch (layer.kind) {
      case DenseKind::kLinear:
        for (std::int64_t o = 0; o < out_width; ++o)
          std::fill_n(out.data() + o * lanes, lanes, layer.bias[static_cast<std::size_t>(o)]);
        pointers.resize(static_cast<std::size_t>(width));
        for (std::int64_t i = 0; i < width; ++i)
          pointers[static_cast<std::size_t>(i)] = in.data() + i * lanes;
        model::vmath::AddScaledLanes(out.data(), layer.columns.data(), out_width, pointers.data(), nullptr,
                                     width, lanes);
        break;
      case DenseKind::kSoftmax:
        SoftmaxLanes(in.data(), width, lanes, out.data());
        break;
      case DenseKind::kRelu:
        for (std::int64_t i = 0; i < count; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
        break;
      case DenseKind::kTanh:
        model::vmath::Tanh(in.data(), out.data(), count);
        break;
      case DenseKind::kSigmoid:
        model::vmath::Sigmoid(in.data(), out.data(), count);
        break;
      case DenseKind::kGelu:
        model::vmath::GeluErf(in.data(), out.data(), count);
        break;
      case DenseKind::kGeluTanh:
        model::vmath::GeluTanh(in.data(), out.data(), count);
        break;
      case DenseKind::kLayerNorm:
        for (std::int64_t r = 0; r < lanes; ++r) {
          float mean = 0.0f, var = 0.0f;
          for (std::int64_t c = 0; c < width; ++c) mean += in[c * lanes + r];
          mean /= static_cast<float>(width);
          for (std::int64_t c = 0; c < width; ++c) {
            const float d = in[c * lanes + r] - mean;
            var += d * d;
          }
          var /= static_cast<float>(width);
          const float inv = 1.0f / std::sqrt(var + layer.eps);
          for (std::int64_t c = 0; c < width; ++c) {
            const auto k = static_cast<std::size_t>(c);
            out[c * lanes + r] = (in[c * lanes + r] - mean) * inv * layer.gamma[k] + layer.bias[k];
          }
        }
        break;
      case DenseKind::kIdentity:
        std::copy_n(in.data(), count, out.data());  // dropout, flatten
        break;
    }
    return out_width;
  }

  // --- the "gradient" capability (loupe/core/gradient.hpp) ---

  // Offered when every layer is a dense one and every input tabular; DeepLIFT only when every layer is one
  // the rescale rule defines (Captum's linear, ReLU, tanh, sigmoid, softmax; dropout and flatten pass).
  void PrepareGradient() {
    if (net_.input_shape.sequence) return;
    for (const NetInput& input : net_.inputs) {
      if (input.encoder != nullptr) return;
    }
    std::vector<model::DenseLayerView> views;
    for (std::size_t l = 0; l < net_.layers.size(); ++l) {
      const std::optional<model::DenseLayerView> view = model::AsDenseLayer(*net_.layers[l]);
      if (!view) return;
      const DenseKind kind = view->kind;
      if (deeplift_refusal_.empty() &&
          (kind == DenseKind::kGelu || kind == DenseKind::kGeluTanh || kind == DenseKind::kLayerNorm)) {
        deeplift_refusal_ =
            "DeepLIFT's rescale rule is defined for linear, relu, tanh, sigmoid and softmax "
            "layers, but layer " +
            std::to_string(l) + " of model '" + info_.name + "' is a " +
            (kind == DenseKind::kLayerNorm ? "layer_norm" : "gelu") + ".";
      }
      views.push_back(*view);
    }
    dense_views_ = std::move(views);
  }

  using DenseKind = model::DenseKind;

  // One thread's buffers of a gradient pass over a chunk of rows.
  struct GradientPass {
    std::vector<model::Activations> acts;  // acts[0] the encoded rows, acts[l + 1] layer l's output
    std::vector<float> dy, dx;             // the gradient (or multiplier) above and below a layer
  };

  Status CheckGradientCall(const TensorView& batch, const TensorView* references, OutputSpace space,
                           std::span<const double> weights, std::span<double> out) const {
    const auto n_inputs = static_cast<std::int64_t>(info_.inputs.size());
    for (const TensorView* view : {&batch, references}) {
      if (view != nullptr &&
          (view->ndim() != 2 || view->dim(1) != n_inputs || view->dim(0) != batch.dim(0))) {
        return InvalidArgument("model '" + info_.name + "' differentiates batches of shape [n, " +
                               std::to_string(n_inputs) + "], found " + ShapeToString(view->shape()) + ".");
      }
    }
    if (info_.task == Task::kRegression && space == OutputSpace::kProbability) {
      return InvalidArgument("model '" + info_.name +
                             "' is a regressor: it has no probabilities to differentiate.");
    }
    const auto n = static_cast<std::size_t>(batch.dim(0));
    const std::size_t n_out = info_.OutputNames(space).size();
    if (weights.size() != n * n_out || out.size() != n * static_cast<std::size_t>(n_inputs)) {
      return InvalidArgument("a gradient of model '" + info_.name + "' over " + std::to_string(n) +
                             " rows needs " + std::to_string(n * n_out) + " output weights and room for " +
                             std::to_string(n * static_cast<std::size_t>(n_inputs)) + " values.");
    }
    return Status::Ok();
  }

  // Layers the explained space runs through: a classifier's raw outputs stop before its sigmoid or
  // softmax, its probabilities include it.
  std::size_t GradientDepth(OutputSpace space) const {
    const bool stop_before_link = info_.task == Task::kClassification && space == OutputSpace::kRaw;
    return stop_before_link ? net_.layers.size() - 1 : net_.layers.size();
  }

  // Encodes rows [begin, end) and runs the layers, keeping every activation for the backward pass.
  Status ForwardKeeping(const TensorView& batch, std::int64_t begin, std::int64_t end, OutputSpace space,
                        std::vector<model::Activations>& acts) const {
    const std::size_t depth = GradientDepth(space);
    acts.resize(depth + 1);
    LOUPE_RETURN_IF_ERROR(EncodeNetRows(batch, begin, end, acts[0]));
    for (std::size_t l = 0; l < depth; ++l)
      LOUPE_RETURN_IF_ERROR(net_.layers[l]->Forward(acts[l], acts[l + 1]));
    return Status::Ok();
  }

  // The gradient of Σ_o w[r, o] f_o with respect to the last activation kept: the weights themselves,
  // except for a binary classifier's probabilities [1 − s, s], whose sigmoid output s receives w1 − w0.
  void SeedTop(OutputSpace space, std::span<const double> weights, std::int64_t begin, std::int64_t end,
               std::vector<float>& dy) const {
    const auto n_out = static_cast<std::int64_t>(info_.OutputNames(space).size());
    const bool sigmoid_pair =
        info_.task == Task::kClassification && space == OutputSpace::kProbability && sigmoid_output_;
    const std::int64_t width = sigmoid_pair ? 1 : n_out;
    dy.assign(static_cast<std::size_t>((end - begin) * width), 0.0f);
    for (std::int64_t r = begin; r < end; ++r) {
      const double* w = weights.data() + r * n_out;
      float* top = dy.data() + (r - begin) * width;
      if (sigmoid_pair) {
        top[0] = static_cast<float>(w[1] - w[0]);
      } else {
        for (std::int64_t o = 0; o < n_out; ++o) top[o] = static_cast<float>(w[o]);
      }
    }
  }

  // The gradient of Σ_o w[r, o] p_o with respect to the logits z, in double: a saturated probability
  // rounds to 1 in f32, where p (1 − p) and softmax's y ⊙ (dy − Σ dy ⊙ y) cancel to 0 (by a factor of 2
  // or more on the breast_cancer fixture; Captum's float32 autograd loses the same). Binary:
  // p = [1 − s, s], ∂/∂z = (w1 − w0) s (1 − s) with s (1 − s) = e / (1 + e)² for e = exp(−|z|). Softmax:
  // ∂/∂z_j = p_j Σ_{k≠j} p_k (w_j − w_k), which sums the small probabilities instead of subtracting.
  void LinkBackward(const model::Activations& logits, std::span<const double> weights, std::int64_t begin,
                    std::int64_t end, std::vector<float>& dz) const {
    const auto n_out = static_cast<std::int64_t>(info_.output_names.size());
    const std::int64_t width = logits.width;
    dz.assign(static_cast<std::size_t>((end - begin) * width), 0.0f);
    std::vector<double> p(static_cast<std::size_t>(width));
    for (std::int64_t r = begin; r < end; ++r) {
      const double* w = weights.data() + r * n_out;
      const float* z = logits.values.data() + (r - begin) * width;
      float* out = dz.data() + (r - begin) * width;
      if (sigmoid_output_) {
        const double e = std::exp(-std::abs(static_cast<double>(z[0])));
        out[0] = static_cast<float>((w[1] - w[0]) * e / ((1.0 + e) * (1.0 + e)));
        continue;
      }
      const double max = *std::max_element(z, z + width);
      double sum = 0.0;
      for (std::int64_t k = 0; k < width; ++k) sum += p[static_cast<std::size_t>(k)] = std::exp(z[k] - max);
      for (double& v : p) v /= sum;
      for (std::int64_t j = 0; j < width; ++j) {
        double g = 0.0;
        for (std::int64_t k = 0; k < width; ++k) {
          if (k != j) g += p[static_cast<std::size_t>(k)] * (w[j] - w[k]);
        }
        out[j] = static_cast<float>(p[static_cast<std::size_t>(j)] * g);
      }
    }
  }

  // Encoded-column gradients [rows, encoded_width] → one value per model input: a numeric input's
  // gradient divided by its standardisation scale (0 where a missing value was imputed: a constant), a
  // categorical input's one-hot columns summed (loupe/core/gradient.hpp says what that means).
  void GradientToInputs(const TensorView& batch, std::int64_t begin, std::int64_t end,
                        const std::vector<float>& encoded, double* gradients) const {
    const auto n_inputs = static_cast<std::int64_t>(net_.inputs.size());
    for (std::int64_t r = begin; r < end; ++r) {
      const float* row = encoded.data() + (r - begin) * encoded_width_;
      std::int64_t offset = 0;
      for (std::int64_t i = 0; i < n_inputs; ++i) {
        const InputEncoding& enc = net_.inputs[static_cast<std::size_t>(i)].tabular;
        const std::int64_t width = EncodedWidth(enc);
        double g = 0.0;
        if (enc.input.type == ColumnType::kCategorical) {
          for (std::int64_t c = 0; c < width; ++c) g += row[offset + c];
        } else if (!std::isnan(batch.data<double>()[r * n_inputs + i])) {
          g = static_cast<double>(row[offset]) / enc.scale;
        }
        gradients[r * n_inputs + i] = g;
        offset += width;
      }
    }
  }

  // DeepLIFT's multipliers [rows, encoded_width] → attributions per model input: Σ over the input's
  // encoded columns of (e − e0) · m, so a categorical's level change is attributed exactly.
  void MultipliersToInputs(const model::Activations& encoded, const model::Activations& reference,
                           std::int64_t begin, std::int64_t end, const std::vector<float>& m,
                           double* attributions) const {
    const auto n_inputs = static_cast<std::int64_t>(net_.inputs.size());
    for (std::int64_t r = begin; r < end; ++r) {
      const std::int64_t row = (r - begin) * encoded_width_;
      std::int64_t offset = 0;
      for (std::int64_t i = 0; i < n_inputs; ++i) {
        const std::int64_t width = EncodedWidth(net_.inputs[static_cast<std::size_t>(i)].tabular);
        double a = 0.0;
        for (std::int64_t c = row + offset; c < row + offset + width; ++c) {
          const auto k = static_cast<std::size_t>(c);
          a += static_cast<double>(encoded.values[k] - reference.values[k]) * static_cast<double>(m[k]);
        }
        attributions[r * n_inputs + i] = a;
        offset += width;
      }
    }
  }

  // DeepLIFT through layer l: pass.dy holds the multipliers of its output; writes its input's to pass.dx.
  // Linear layers (and dropout/flatten) pass them as gradients. An elementwise nonlinearity scales them by
  // Δout / Δin where |Δin| ≥ 1e-10, else uses its gradient (Captum's `nonlinear`, in f32 as Captum).
  // Softmax does the same, then subtracts the row's mean (Captum's `softmax` handler, which subtracts the
  // mean over its whole input batch; per row, Loupe's result equals Captum's called one row at a time and
  // never depends on the batch).
  Status RescaleBackward(std::size_t l, const std::vector<model::Activations>& acts,
                         const std::vector<model::Activations>& reference, std::int64_t rows,
                         GradientPass& pass) const {
    const model::DenseLayerView& view = dense_views_[l];
    const model::Activations &x = acts[l], &y = acts[l + 1], &x0 = reference[l], &y0 = reference[l + 1];
    pass.dx.assign(x.values.size(), 0.0f);
    LOUPE_RETURN_IF_ERROR(model::DenseLayerBackward(view, x.values.data(), y.values.data(), rows, x.width,
                                                    y.width, pass.dy.data(), pass.dx.data()));
    if (view.kind == DenseKind::kLinear || view.kind == DenseKind::kIdentity) return Status::Ok();
    for (std::size_t k = 0; k < pass.dx.size(); ++k) {
      const float delta_in = x.values[k] - x0.values[k];
      if (std::abs(delta_in) < 1e-10f) continue;  // keep the gradient
      const float delta_out = y.values[k] - y0.values[k];
      pass.dx[k] = pass.dy[k] * delta_out / delta_in;
    }
    if (view.kind == DenseKind::kSoftmax) {
      for (std::int64_t r = 0; r < rows; ++r) {
        float* row = pass.dx.data() + r * x.width;
        float sum = 0.0f;
        for (std::int64_t c = 0; c < x.width; ++c) sum += row[c];
        const float mean = sum * (1.0f / static_cast<float>(x.width));
        for (std::int64_t c = 0; c < x.width; ++c) row[c] -= mean;
      }
    }
    return Status::Ok();
  }

  ModelInfo info_;
  std::vector<InputEncoding> inputs_;
  std::vector<RefLayer> layers_;
  Net net_;
  bool sigmoid_output_ = false;
  std::int64_t encoded_width_;
  std::vector<double> numeric_mean_, numeric_scale_;    // all-numeric nn inputs: per input; else empty
  std::vector<double> numeric_mean4_, numeric_scale4_;  // the same, repeated four times
  std::vector<std::int64_t> input_offsets_;             // per input, its first encoded column (row variants)
  bool offers_row_variants_ = false;
  std::vector<F32Layer> f32_layers_;                // the f32 network path's row variants; empty: not offered
  std::vector<model::DenseLayerView> dense_views_;  // per layer; empty: no "gradient" capability
  std::string deeplift_refusal_;
};

// Per block of base rows: the block is encoded and its first layer computed once; each variant then
// starts from those pre-activations, adds W · (e(new) − e(old)) for its changed inputs only, and runs the
// rest of the network. The base pre-activation of a row is the plain path's (same arithmetic), so a
// variant differs from PredictInto on its materialised row only by the order of the first layer's sums.
Status NativeModel::PredictVariants(const TensorView& base, const RowVariants& variants, OutputSpace space,
                                    std::span<double> out) const {
  const auto n_inputs = static_cast<std::int64_t>(info_.inputs.size());
  if (!offers_row_variants_) return Unsupported("model '" + info_.name + "' has no linear first layer.");
  if (base.ndim() != 2 || base.dim(1) != n_inputs || base.dtype() != DType::kF64) {
    return InvalidArgument("model '" + info_.name + "' expects base rows of shape [n, " +
                           std::to_string(n_inputs) + "], found " + ShapeToString(base.shape()) + ".");
  }
  const std::int64_t n = base.dim(0), n_variants = variants.count();
  const auto n_out = static_cast<std::int64_t>(info_.OutputNames(space).size());
  LOUPE_RETURN_IF_ERROR(model::CheckOutputBuffer(info_, n_variants * n, space, out.size()));
  for (const std::int64_t input : variants.inputs) {
    if (input < 0 || input >= n_inputs) {
      return InvalidArgument("a row variant of model '" + info_.name + "' changes input " +
                             std::to_string(input) + " of " + std::to_string(n_inputs) + ".");
    }
  }
  if (!net_.layers.empty()) return PredictVariantsF32(base, variants, space, out);
  const RefLayer& first = layers_[0];
  model::Scratch<std::vector<double>> encoded, base_pre, a, b;
  for (std::int64_t begin = 0; begin < n; begin += kReferenceBlockRows) {
    const std::int64_t m = std::min(kReferenceBlockRows, n - begin);
    if (const Status encoding = EncodeReferenceBlock(base, begin, m, *encoded); !encoding.ok()) {
      return Unsupported(encoding.message());  // a change might have replaced the missing value
    }
    ApplyToBlock(first, *encoded, encoded_width_, m, *base_pre);
    const double* raw = base.data<double>() + begin * n_inputs;
    for (std::int64_t v = 0; v < n_variants; ++v) {
      a->assign(base_pre->begin(), base_pre->end());
      const auto from = static_cast<std::size_t>(variants.offsets[static_cast<std::size_t>(v)]);
      const auto to = static_cast<std::size_t>(variants.offsets[static_cast<std::size_t>(v) + 1]);
      for (std::size_t k = from; k < to; ++k) {
        LOUPE_RETURN_IF_ERROR(AddChange(variants.inputs[k], variants.values[k], raw, *encoded, begin, m, *a));
      }
      FinishReferenceBlock(1, first.out, m, space, *a, *b, out.data() + (v * n + begin) * n_out);
    }
  }
  return Status::Ok();
}

// The f32 network path, per block of up to 64 base rows held lane-major (a row per lane: the block's
// encoded column c is the vector et[c·lanes ...]): the block is encoded as EncodeNetRows encodes it and its
// first layer computed once (bias + FMAs over the encoded columns in order); a variant's first-layer
// pre-activations then come from whichever side has fewer encoded columns to add: the base rows' plus
// W·(e(new) − e(old)) over the changed columns, or the variant's own sum bias + W·e(new) over its changed
// columns (once per variant and block) plus W·e(old) over the unchanged ones. The side depends on the
// variant only, so a (variant, row)'s bits depend neither on the block nor on the other variants; they
// differ from PredictNet's on the materialised row by f32 rounding (another order of the sums, and
// vector_math's f32 activations instead of oneDNN's).
Status NativeModel::PredictVariantsF32(const TensorView& base, const RowVariants& variants, OutputSpace space,
                                       std::span<double> out) const {
  const auto n_inputs = static_cast<std::int64_t>(net_.inputs.size());
  const std::int64_t n = base.dim(0), n_variants = variants.count();
  const auto n_out = static_cast<std::int64_t>(info_.OutputNames(space).size());
  const F32Layer& first = f32_layers_[0];
  const std::int64_t h = first.out, e_width = encoded_width_;
  model::Scratch<std::vector<float>> encoded, et, base_pre, a, b, changed, deltas, sum;
  model::Scratch<std::vector<std::int64_t>> columns;  // the variant's changed encoded columns, or the rest
  model::Scratch<std::vector<unsigned char>> is_changed;
  model::Scratch<std::vector<const float*>> pointers;
  changed->assign(static_cast<std::size_t>(e_width), 0.0f);
  sum->resize(static_cast<std::size_t>(h));
  for (std::int64_t begin = 0; begin < n; begin += kReferenceBlockRows) {
    const std::int64_t m = std::min(kReferenceBlockRows, n - begin);
    const std::int64_t lanes = (m + 7) / 8 * 8;
    encoded->assign(static_cast<std::size_t>(m * e_width), 0.0f);
    const double* raw = base.data<double>() + begin * n_inputs;
    for (std::int64_t i = 0; i < n_inputs; ++i) {
      const Status encoding = EncodeColumn(net_.inputs[static_cast<std::size_t>(i)].tabular, raw + i,
                                           n_inputs, begin, m, encoded->data() + input_offset(i), e_width);
      if (!encoding.ok()) return Unsupported(encoding.message());  // a change might replace the missing value
    }
    et->assign(static_cast<std::size_t>(e_width * lanes), 0.0f);
    for (std::int64_t r = 0; r < m; ++r) {
      for (std::int64_t c = 0; c < e_width; ++c) (*et)[c * lanes + r] = (*encoded)[r * e_width + c];
    }
    base_pre->resize(static_cast<std::size_t>(h * lanes));
    for (std::int64_t o = 0; o < h; ++o)
      std::fill_n(base_pre->data() + o * lanes, lanes, first.bias[static_cast<std::size_t>(o)]);
    pointers->resize(static_cast<std::size_t>(e_width));
    for (std::int64_t c = 0; c < e_width; ++c)
      (*pointers)[static_cast<std::size_t>(c)] = et->data() + c * lanes;
    model::vmath::AddScaledLanes(base_pre->data(), first.columns.data(), h, pointers->data(), nullptr,
                                 e_width, lanes);
    for (std::int64_t v = 0; v < n_variants; ++v) {
      // The variant's changed encoded columns and their new cells.
      const auto from = static_cast<std::size_t>(variants.offsets[static_cast<std::size_t>(v)]);
      const auto to = static_cast<std::size_t>(variants.offsets[static_cast<std::size_t>(v) + 1]);
      is_changed->assign(static_cast<std::size_t>(e_width), 0);
      columns->clear();
      for (std::size_t k = from; k < to; ++k) {
        const std::int64_t i = variants.inputs[k];
        const InputEncoding& enc = net_.inputs[static_cast<std::size_t>(i)].tabular;
        const std::int64_t offset = input_offset(i), width = EncodedWidth(enc);
        std::fill_n(changed->data() + offset, width, 0.0f);
        LOUPE_RETURN_IF_ERROR(
            EncodeColumn(enc, &variants.values[k], 1, begin, 1, changed->data() + offset, 1));
        for (std::int64_t c = offset; c < offset + width; ++c) {
          (*is_changed)[static_cast<std::size_t>(c)] = 1;
          columns->push_back(c);
        }
      }
      const auto n_changed = static_cast<std::int64_t>(columns->size());
      GrowScratch(*a, h * lanes);
      pointers->clear();
      if (n_changed <= e_width - n_changed) {
        // From the base rows: + W·(e(new) − e(old)) over the changed columns.
        std::copy(base_pre->begin(), base_pre->end(), a->begin());
        GrowScratch(*deltas, n_changed * lanes);
        for (std::int64_t j = 0; j < n_changed; ++j) {
          const std::int64_t c = (*columns)[static_cast<std::size_t>(j)];
          const float x = (*changed)[static_cast<std::size_t>(c)];
          float* d = deltas->data() + j * lanes;
          const float* e = et->data() + c * lanes;
          for (std::int64_t r = 0; r < lanes; ++r) d[r] = x - e[r];
          pointers->push_back(d);
        }
      } else {
        // From the variant's side: bias + W·e(new) over the changed columns, then + W·e(old) over the rest.
        std::copy(first.bias.begin(), first.bias.end(), sum->begin());
        model::vmath::AddScaledGathered(sum->data(), first.columns.data(), changed->data(), columns->data(),
                                        n_changed, h);
        for (std::int64_t o = 0; o < h; ++o)
          std::fill_n(a->data() + o * lanes, lanes, (*sum)[static_cast<std::size_t>(o)]);
        columns->clear();
        for (std::int64_t c = 0; c < e_width; ++c) {
          if ((*is_changed)[static_cast<std::size_t>(c)] == 0) {
            columns->push_back(c);
            pointers->push_back(et->data() + c * lanes);
          }
        }
      }
      model::vmath::AddScaledLanes(a->data(), first.columns.data(), h, pointers->data(), columns->data(),
                                   static_cast<std::int64_t>(columns->size()), lanes);
      FinishF32Block(1, h, m, lanes, space, *a, *b, *pointers, out.data() + (v * n + begin) * n_out);
    }
  }
  return Status::Ok();
}

// Reads a model document, collecting the first error as "FILE:LINE:COL: message".
class ModelReader {
 public:
  explicit ModelReader(const config::YamlDocument& doc) : doc_(doc) {}

  Status Error(const std::string& pointer, const std::string& message) const {
    return InvalidArgument(Diagnostic{doc_.At(pointer), message}.ToString());
  }
  // An error about a key itself (an unknown key), placed at the key rather than its value.
  Status KeyError(const std::string& pointer, const std::string& message) const {
    return InvalidArgument(Diagnostic{doc_.KeyAt(pointer), message}.ToString());
  }
  const json* Find(const std::string& pointer) const {
    const json::json_pointer p(pointer);
    return doc_.value.contains(p) ? &doc_.value.at(p) : nullptr;
  }
  Result<std::string> String(const std::string& pointer, const std::string& what) const {
    const json* v = Find(pointer);
    if (v == nullptr) return Error(Parent(pointer), "the model has no '" + what + "'.");
    if (!v->is_string())
      return Error(pointer, "'" + what + "' must be a string, found " +
                                v->dump(-1, ' ', false, json::error_handler_t::replace) + ".");
    return v->get<std::string>();
  }
  Result<double> Number(const std::string& pointer, const std::string& what) const {
    const json* v = Find(pointer);
    if (v == nullptr) return Error(Parent(pointer), "'" + what + "' is missing.");
    if (!v->is_number())
      return Error(pointer, "'" + what + "' must be a number, found " +
                                v->dump(-1, ' ', false, json::error_handler_t::replace) + ".");
    return v->get<double>();
  }
  // A count, such as a layer's number of features: a whole number from 1 to 2^31 (found by fuzz_native_model:
  // a number past int64 made the cast undefined).
  Result<std::int64_t> Count(const std::string& pointer, const std::string& what) const {
    LOUPE_ASSIGN_OR_RETURN(const double value, Number(pointer, what));
    if (!(value >= 1 && value <= 2147483648.0) || value != std::floor(value)) {
      return Error(pointer, "'" + what + "' must be a whole number of at least 1, found " +
                                Find(pointer)->dump(-1, ' ', false, json::error_handler_t::replace) + ".");
    }
    return static_cast<std::int64_t>(value);
  }
  Result<std::vector<std::string>> Strings(const std::string& pointer, const std::string& what) const {
    const json* v = Find(pointer);
    if (v == nullptr) return Error(Parent(pointer), "'" + what + "' is missing.");
    std::vector<std::string> out;
    if (v->is_array()) {
      for (const json& item : *v) {
        if (!item.is_string() && !item.is_number()) break;
        out.push_back(item.is_string() ? item.get<std::string>()
                                       : item.dump(-1, ' ', false, json::error_handler_t::replace));
      }
      if (out.size() == v->size()) return out;
    }
    return Error(pointer, "'" + what + "' must be a list of names, found " +
                              v->dump(-1, ' ', false, json::error_handler_t::replace) + ".");
  }
  // A numeric array of exactly `shape`, flattened row-major.
  Result<std::vector<double>> Array(const std::string& pointer, const std::string& what,
                                    const Shape& shape) const {
    const json* v = Find(pointer);
    if (v == nullptr) return Error(Parent(pointer), "'" + what + "' is missing.");
    std::vector<double> flat;
    if (!FlattenExact(*v, shape, 0, flat)) {
      return Error(pointer, what + " has shape " + ShapeToString(ShapeOf(*v)) + ", expected " +
                                ShapeToString(shape) + ".");
    }
    return flat;
  }

  static std::string Parent(const std::string& pointer) {
    const auto slash = pointer.rfind('/');
    return slash == std::string::npos ? "" : pointer.substr(0, slash);
  }

 private:
  static bool FlattenExact(const json& v, const Shape& shape, std::size_t depth, std::vector<double>& flat) {
    if (depth == shape.size()) {
      if (!v.is_number()) return false;
      flat.push_back(v.get<double>());
      return true;
    }
    if (!v.is_array() || static_cast<std::int64_t>(v.size()) != shape[depth]) return false;
    for (const json& item : v) {
      if (!FlattenExact(item, shape, depth + 1, flat)) return false;
    }
    return true;
  }
  // The shape along the first elements (what a person would call the array's shape).
  static Shape ShapeOf(const json& v) {
    Shape shape;
    for (const json* node = &v; node->is_array(); node = &node->front()) {
      shape.push_back(static_cast<std::int64_t>(node->size()));
      if (node->empty()) break;
    }
    return shape;
  }

  const config::YamlDocument& doc_;
};

Status CheckKeys(const ModelReader& reader, const json& object, const std::string& pointer,
                 std::initializer_list<const char*> allowed, const std::string& where) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    std::string list;
    for (const char* a : allowed) {
      known = known || key == a;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    if (!known) {
      return reader.KeyError(pointer + "/" + key,
                             "unknown key '" + key + "' in " + where + "; expected one of: " + list + ".");
    }
  }
  return Status::Ok();
}

Result<InputEncoding> ReadInput(const ModelReader& reader, const std::string& p, std::size_t index) {
  const json& node = *reader.Find(p);
  const std::string where = "input " + std::to_string(index);
  if (!node.is_object()) return reader.Error(p, where + " must be a mapping with name and type.");
  LOUPE_RETURN_IF_ERROR(
      CheckKeys(reader, node, p, {"name", "type", "levels", "impute", "standardize"}, where));
  InputEncoding enc;
  LOUPE_ASSIGN_OR_RETURN(enc.input.name, reader.String(p + "/name", where + " name"));
  LOUPE_ASSIGN_OR_RETURN(const std::string type, reader.String(p + "/type", where + " type"));
  if (type == "categorical") {
    enc.input.type = ColumnType::kCategorical;
    LOUPE_ASSIGN_OR_RETURN(enc.input.levels,
                           reader.Strings(p + "/levels", "levels of '" + enc.input.name + "'"));
    return enc;
  }
  if (type != "numeric") {
    return reader.Error(p + "/type", "input '" + enc.input.name + "' has type '" + type +
                                         "'; expected numeric or categorical.");
  }
  if (reader.Find(p + "/impute") != nullptr) {
    enc.has_impute = true;
    LOUPE_ASSIGN_OR_RETURN(enc.impute, reader.Number(p + "/impute", "impute of '" + enc.input.name + "'"));
  }
  if (reader.Find(p + "/standardize") != nullptr) {
    LOUPE_ASSIGN_OR_RETURN(enc.mean, reader.Number(p + "/standardize/mean", "standardize.mean"));
    LOUPE_ASSIGN_OR_RETURN(enc.scale, reader.Number(p + "/standardize/std", "standardize.std"));
    if (!(enc.scale > 0)) return reader.Error(p + "/standardize/std", "standardize.std must be positive.");
  }
  return enc;
}

Result<RefLayer> ReadLayer(const ModelReader& reader, const std::string& p, std::size_t index,
                           std::int64_t width) {
  const json& node = *reader.Find(p);
  const std::string where = "layer " + std::to_string(index);
  if (!node.is_object()) return reader.Error(p, where + " must be a mapping with a type.");
  LOUPE_ASSIGN_OR_RETURN(const std::string type, reader.String(p + "/type", where + " type"));
  RefLayer layer;
  layer.in = layer.out = width;
  if (type == "linear") {
    LOUPE_RETURN_IF_ERROR(
        CheckKeys(reader, node, p, {"type", "in_features", "out_features", "weight", "bias"}, where));
    LOUPE_ASSIGN_OR_RETURN(layer.in, reader.Count(p + "/in_features", where + " in_features"));
    LOUPE_ASSIGN_OR_RETURN(layer.out, reader.Count(p + "/out_features", where + " out_features"));
    if (layer.in != width) {
      return reader.Error(p + "/in_features", where + " (linear) takes " + std::to_string(layer.in) +
                                                  " features but receives " + std::to_string(width) + ".");
    }
    LOUPE_ASSIGN_OR_RETURN(layer.weight,
                           reader.Array(p + "/weight", where + " (linear) weight", {layer.out, layer.in}));
    if (reader.Find(p + "/bias") != nullptr) {
      LOUPE_ASSIGN_OR_RETURN(layer.bias, reader.Array(p + "/bias", where + " (linear) bias", {layer.out}));
    }
    return layer;
  }
  LOUPE_RETURN_IF_ERROR(CheckKeys(reader, node, p, {"type"}, where));
  if (type == "relu")
    layer.kind = LayerKind::kRelu;
  else if (type == "tanh")
    layer.kind = LayerKind::kTanh;
  else if (type == "sigmoid")
    layer.kind = LayerKind::kSigmoid;
  else if (type == "softmax")
    layer.kind = LayerKind::kSoftmax;
  else {
    return reader.Error(
        p + "/type", "unknown layer type '" + type + "'; expected linear, relu, tanh, sigmoid or softmax.");
  }
  return layer;
}

// The `layers` list in double precision: inline weights (the foundation's format), or dense layers named
// into the weights file when `precision: f64` asks for the reference path.
Result<std::vector<RefLayer>> ReadReferenceLayers(const ModelReader& reader, const config::YamlDocument& doc,
                                                  const model::SafetensorsFile* weights, std::int64_t width,
                                                  const std::filesystem::path& dir) {
  const json& list = *reader.Find("/layers");
  std::vector<RefLayer> layers;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string p = "/layers/" + std::to_string(i);
    if (weights == nullptr) {
      LOUPE_ASSIGN_OR_RETURN(RefLayer layer, ReadLayer(reader, p, i, width));
      width = layer.out;
      layers.push_back(std::move(layer));
      continue;
    }
    model::ActivationShape shape;
    shape.width = width;
    const model::LayerContext context(doc, p, i, shape, weights, nn::Precision::kF32, dir);
    if (!model::IsDenseType(context.type())) {
      return context.Error("type",
                           "precision f64 (the double-precision reference) computes dense layers only.");
    }
    LOUPE_ASSIGN_OR_RETURN(const model::DenseSpec spec, model::ReadDenseSpec(context));
    width = spec.out;
    layers.push_back(ToReference(spec));
  }
  return layers;
}

// The `layers` list on the nn ops, each built by its registered kind.
Result<std::vector<std::unique_ptr<model::Layer>>> ReadNetLayers(
    const ModelReader& reader, const config::YamlDocument& doc, const model::SafetensorsFile* weights,
    model::ActivationShape shape, nn::Precision precision, const std::filesystem::path& dir) {
  const json& list = *reader.Find("/layers");
  std::vector<std::unique_ptr<model::Layer>> layers;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string p = "/layers/" + std::to_string(i);
    if (!list[i].is_object())
      return reader.Error(p, "layer " + std::to_string(i) + " must be a mapping with a type.");
    LOUPE_ASSIGN_OR_RETURN(const std::string type,
                           reader.String(p + "/type", "layer " + std::to_string(i) + " type"));
    const model::LayerFactory* factory = model::Kinds().FindLayer(type);
    if (factory == nullptr) {
      return reader.Error(p + "/type", "unknown layer type '" + type +
                                           "'; expected one of: " + model::Kinds().LayerTypes() + ".");
    }
    const model::LayerContext context(doc, p, i, shape, weights, precision, dir);
    LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<model::Layer> layer, (*factory)(context));
    shape = layer->output();
    layers.push_back(std::move(layer));
  }
  return layers;
}

// The inputs: numeric and categorical ones with their preprocessing, or a registered kind (text).
Result<std::vector<NetInput>> ReadInputs(const ModelReader& reader, const config::YamlDocument& doc,
                                         const std::filesystem::path& dir) {
  const json* inputs = reader.Find("/inputs");
  if (inputs == nullptr || !inputs->is_array() || inputs->empty()) {
    return reader.Error(inputs ? "/inputs" : "", "the model needs a non-empty list of 'inputs'.");
  }
  std::vector<NetInput> result;
  for (std::size_t i = 0; i < inputs->size(); ++i) {
    const std::string p = "/inputs/" + std::to_string(i);
    const json& node = (*inputs)[i];
    const std::string type = node.is_object() && node.contains("type") && node["type"].is_string()
                                 ? node["type"].get<std::string>()
                                 : "";
    NetInput input;
    if (const model::InputFactory* factory = model::Kinds().FindInput(type)) {
      LOUPE_ASSIGN_OR_RETURN(input.encoder, (*factory)(model::InputContext(doc, p, i, dir)));
      input.tabular.input = input.encoder->input();
    } else {
      LOUPE_ASSIGN_OR_RETURN(input.tabular, ReadInput(reader, p, i));
    }
    result.push_back(std::move(input));
  }
  for (std::size_t i = 0; i < result.size(); ++i) {
    if (result.size() > 1 && result[i].encoder != nullptr && result[i].encoder->output().sequence) {
      return reader.Error("/inputs/" + std::to_string(i),
                          "input '" + result[i].tabular.input.name +
                              "' is a sequence, which must be the model's only input.");
    }
  }
  return result;
}

Result<nn::Precision> ReadPrecision(const ModelReader& reader, bool has_weights, bool& reference) {
  std::string precision = has_weights ? "f32" : "f64";
  if (reader.Find("/precision") != nullptr) {
    LOUPE_ASSIGN_OR_RETURN(precision, reader.String("/precision", "precision"));
  }
  if (precision != "f32" && precision != "bf16" && precision != "f64") {
    return reader.Error("/precision", "precision must be f32, bf16 or f64, found '" + precision + "'.");
  }
  if (precision != "f64" && !has_weights) {
    return reader.Error("/precision", "precision " + precision +
                                          " needs a 'weights' file; inline weights are computed in f64.");
  }
  reference = precision == "f64";
  return precision == "bf16" ? nn::Precision::kBF16 : nn::Precision::kF32;
}

// Names the outputs and checks the last layer fits the task.
Status ReadOutputs(const ModelReader& reader, const std::string& final_type, std::int64_t width,
                   std::size_t layer_count, ModelInfo& info) {
  const std::string last = "/layers/" + std::to_string(layer_count - 1);
  if (info.task == Task::kClassification) {
    LOUPE_ASSIGN_OR_RETURN(const std::vector<std::string> classes, reader.Strings("/classes", "classes"));
    const bool binary = final_type == "sigmoid" && width == 1 && classes.size() == 2;
    const bool multi = final_type == "softmax" && width == static_cast<std::int64_t>(classes.size());
    if (!binary && !multi) {
      return reader.Error(last,
                          "a classifier must end in sigmoid over 1 output (2 classes) or softmax over one "
                          "output per class; the last layer gives " +
                              std::to_string(width) + " outputs for " + std::to_string(classes.size()) +
                              " classes.");
    }
    info.output_names = classes;
    info.raw_output_names = binary ? std::vector<std::string>{classes[1]} : classes;
    return Status::Ok();
  }
  if (width != 1)
    return reader.Error(last, "a regressor must end with 1 output, found " + std::to_string(width) + ".");
  info.output_names = {"value"};
  if (reader.Find("/outputs") != nullptr) {
    LOUPE_ASSIGN_OR_RETURN(info.output_names, reader.Strings("/outputs", "outputs"));
  }
  info.raw_output_names = info.output_names;
  return Status::Ok();
}

Result<std::shared_ptr<const Model>> BuildModel(const config::YamlDocument& doc,
                                                const std::filesystem::path& dir) {
  const ModelReader reader(doc);
  if (!doc.value.is_object()) return reader.Error("", "a loupe.model/v1 file must be a mapping.");
  LOUPE_RETURN_IF_ERROR(
      CheckKeys(reader, doc.value, "",
                {"format", "name", "task", "classes", "outputs", "inputs", "layers", "weights", "precision"},
                "the model"));
  LOUPE_ASSIGN_OR_RETURN(const std::string format, reader.String("/format", "format"));
  if (format != "loupe.model/v1") {
    return reader.Error("/format", "unsupported model format '" + format + "'; expected loupe.model/v1.");
  }
  ModelInfo info;
  LOUPE_ASSIGN_OR_RETURN(info.name, reader.String("/name", "name"));
  LOUPE_ASSIGN_OR_RETURN(const std::string task, reader.String("/task", "task"));
  if (task != "classification" && task != "regression") {
    return reader.Error("/task", "task must be classification or regression, found '" + task + "'.");
  }
  info.task = task == "classification" ? Task::kClassification : Task::kRegression;

  std::optional<model::SafetensorsFile> weights;
  if (reader.Find("/weights") != nullptr) {
    LOUPE_ASSIGN_OR_RETURN(const std::string file, reader.String("/weights", "weights"));
    LOUPE_ASSIGN_OR_RETURN(weights, model::SafetensorsFile::Open(dir / file));
  }
  bool reference = false;
  LOUPE_ASSIGN_OR_RETURN(const nn::Precision precision,
                         ReadPrecision(reader, weights.has_value(), reference));

  LOUPE_ASSIGN_OR_RETURN(std::vector<NetInput> inputs, ReadInputs(reader, doc, dir));
  model::ActivationShape shape;
  for (const NetInput& input : inputs) {
    info.inputs.push_back(input.tabular.input);
    if (input.encoder != nullptr && input.encoder->output().sequence) {
      shape = input.encoder->output();
      continue;
    }
    shape.width += input.encoder != nullptr ? input.encoder->output().width
                   : input.tabular.input.type == ColumnType::kCategorical
                       ? static_cast<std::int64_t>(input.tabular.input.levels.size())
                       : 1;
  }
  const std::int64_t encoded_width = shape.width;
  const json* layers_node = reader.Find("/layers");
  if (layers_node == nullptr || !layers_node->is_array() || layers_node->empty()) {
    return reader.Error(layers_node ? "/layers" : "", "the model needs a non-empty list of 'layers'.");
  }
  const std::string final_path = "/layers/" + std::to_string(layers_node->size() - 1) + "/type";
  const std::string final_type = reader.Find(final_path) != nullptr && reader.Find(final_path)->is_string()
                                     ? reader.Find(final_path)->get<std::string>()
                                     : "";

  if (reference) {
    std::vector<InputEncoding> encodings;
    for (NetInput& input : inputs) {
      if (input.encoder != nullptr) {
        return reader.Error("/precision",
                            "precision f64 (the double-precision reference) takes numeric and "
                            "categorical inputs only.");
      }
      encodings.push_back(std::move(input.tabular));
    }
    LOUPE_ASSIGN_OR_RETURN(
        std::vector<RefLayer> layers,
        ReadReferenceLayers(reader, doc, weights ? &*weights : nullptr, encoded_width, dir));
    LOUPE_RETURN_IF_ERROR(ReadOutputs(reader, final_type, layers.back().out, layers.size(), info));
    return std::shared_ptr<const Model>(std::make_shared<NativeModel>(std::move(info), std::move(encodings),
                                                                      std::move(layers), encoded_width));
  }
  Net net;
  net.input_shape = shape;
  net.inputs = std::move(inputs);
  LOUPE_ASSIGN_OR_RETURN(net.layers, ReadNetLayers(reader, doc, &*weights, shape, precision, dir));
  const model::ActivationShape output = net.layers.back()->output();
  if (output.sequence) {
    return reader.Error("/layers/" + std::to_string(net.layers.size() - 1),
                        "the model must end with one vector per row, but its last layer gives " +
                            output.ToString() + "; pool the sequence first.");
  }
  LOUPE_RETURN_IF_ERROR(ReadOutputs(reader, final_type, output.width, net.layers.size(), info));
  const bool sigmoid_output = info.task == Task::kClassification && final_type == "sigmoid";
  return std::shared_ptr<const Model>(std::make_shared<NativeModel>(
      std::move(info), std::move(net), sigmoid_output, encoded_width, precision));
}

}  // namespace

Result<std::shared_ptr<const Model>> LoadNativeModel(const std::filesystem::path& path) {
  config::YamlParseOutcome parsed = config::LoadYamlFile(path);
  if (!parsed.diagnostics.empty()) return InvalidArgument(parsed.diagnostics.front().ToString());
  // A model with a tokenizer or a text `input` reads strings (loupe/core/attention.hpp).
  if (model::IsTextModel(*parsed.document)) return model::LoadTextModel(*parsed.document, path);
  return BuildModel(*parsed.document, path.parent_path());
}

}  // namespace loupe
