#include "model/text_model.hpp"

#include <algorithm>

#include "config/messages.hpp"
#include "loupe/core/attention.hpp"
#include "loupe/core/text_gradient.hpp"
#include "loupe/core/text_probes.hpp"
#include "model/dense_layers.hpp"
#include "model/layer_registry.hpp"
#include "model/text_layers.hpp"
#include "model/tokenizer.hpp"

namespace loupe::model {
namespace {

using nlohmann::json;

constexpr std::int64_t kChunkRows = 64;  // texts per network pass; bounds memory for any batch size

// What a pass over a chunk of texts observes or changes besides its output (all optional).
struct Probe {
  std::vector<std::vector<float>>* attention = nullptr;  // per layer index: what the layer recorded
  std::vector<std::vector<float>>* states = nullptr;     // per hidden state: [n, t, width]
  std::vector<float>* pooled = nullptr;                  // [n, width] after the pool layer
  const float* head_masks = nullptr;                     // [n, self-attention layers, heads]
};

class TextNetworkModel final : public Model,
                               public TextModel,
                               public AttentionSource,
                               public HiddenStateSource,
                               public HeadMaskedModel,
                               public TextGradientModel,
                               public Network {
 public:
  TextNetworkModel(ModelInfo info, Tokenizer tokenizer, std::vector<std::unique_ptr<Layer>> layers,
                   bool final_softmax, nn::Precision precision)
      : info_(std::move(info)),
        tokenizer_(std::move(tokenizer)),
        layers_(std::move(layers)),
        final_softmax_(final_softmax),
        precision_(precision) {
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      DescribeProbes(i);
      const auto* attention = dynamic_cast<const AttentionLayer*>(layers_[i].get());
      if (attention == nullptr || !attention->records()) continue;
      if (attention->heads() > 0) {
        self_attention_.push_back(i);
        heads_ = attention->heads();
      } else {
        pooling_ = static_cast<std::int64_t>(i);
      }
    }
    DescribeGradient();
  }

  void AttachLayers() {
    for (std::size_t i = 0; i < layers_.size(); ++i) layers_[i]->Attach(*this, i);
  }

  // --- Model ---
  const ModelInfo& Info() const override { return info_; }

  Result<Tensor> Predict(const TensorView& batch, OutputSpace space) const override {
    (void)batch;
    (void)space;
    return InvalidArgument("model '" + info_.name + "' reads text: its input '" + info_.inputs[0].name +
                           "' holds row numbers of a dataset's text column, which only the host can resolve; "
                           "evaluate it through a FeatureModel or the model's text capability.");
  }

  // --- capabilities ---
  const TextModel* text_model() const override { return this; }
  const AttentionSource* attention_source() const override {
    return !self_attention_.empty() || pooling_ >= 0 ? this : nullptr;
  }
  const HiddenStateSource* hidden_state_source() const override {
    return pool_layer_ >= 0 && !sequence_layers_.empty() ? this : nullptr;
  }
  const HeadMaskedModel* head_masked_model() const override {
    return !self_attention_.empty() ? this : nullptr;
  }
  const TextGradientModel* text_gradient_model() const override {
    return embedding_width_ > 0 ? this : nullptr;
  }

  // --- TextGradientModel (loupe/core/text_gradient.hpp) ---
  std::int64_t EmbeddingWidth() const override { return embedding_width_; }
  const std::string& EmbeddingLayerName() const override { return embedding_name_; }
  const std::vector<float>& PadEmbedding() const override { return pad_embedding_; }
  std::string Refusal() const override { return refusal_; }

  Result<std::vector<float>> PadEmbeddings(std::int64_t t) const override {
    const std::int64_t pad = tokenizer_.pad_id();
    if (pad < 0)
      return InvalidArgument("model '" + info_.name + "' has no padding token for a pad baseline.");
    std::vector<float> values;
    if (embedding_output_ != nullptr) {
      LOUPE_RETURN_IF_ERROR(embedding_output_->PaddingOutput(pad, t, values));
      return values;
    }
    LOUPE_ASSIGN_OR_RETURN(values,
                           RunEmbeddingLayer(std::vector<std::int64_t>(static_cast<std::size_t>(t), pad)));
    return values;
  }

  Result<std::vector<TokenEmbeddings>> Embed(const std::vector<std::string>& texts) const override {
    if (!refusal_.empty()) return InvalidArgument(refusal_);
    std::vector<TokenEmbeddings> embedded(texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) {
      TokenEmbeddings& e = embedded[i];
      e.tokens = tokenizer_.Tokenize(texts[i]);
      LOUPE_ASSIGN_OR_RETURN(e.values, RunEmbeddingLayer(e.tokens.ids));
    }
    return embedded;
  }

  Status LayerGradient(std::span<const float> values, std::int64_t n, std::int64_t t,
                       std::span<const std::int64_t> lengths, OutputSpace space,
                       std::span<const double> weights, std::span<float> gradients,
                       std::span<double> outputs) const override {
    if (!refusal_.empty()) return InvalidArgument(refusal_);
    const auto n_out = static_cast<std::int64_t>(info_.OutputNames(space).size());
    LOUPE_RETURN_IF_ERROR(
        CheckLayerGradientShapes(values, n, t, lengths, n_out, weights, gradients, outputs));
    const std::size_t end =
        final_softmax_ && space == OutputSpace::kRaw ? layers_.size() - 1 : layers_.size();
    const std::int64_t per_row = t * embedding_width_;
    for (std::int64_t begin = 0; begin < n; begin += kChunkRows) {
      const std::int64_t rows = std::min(n, begin + kChunkRows) - begin;
      LOUPE_RETURN_IF_ERROR(LayerGradientChunk(values.data() + begin * per_row, rows, t,
                                               lengths.data() + begin, end, weights.data() + begin * n_out,
                                               gradients.data() + begin * per_row,
                                               outputs.empty() ? nullptr : outputs.data() + begin * n_out));
    }
    return Status::Ok();
  }

  // --- TextModel ---
  Result<TokenizedText> Tokenize(std::string_view text) const override { return tokenizer_.Tokenize(text); }

  Result<Tensor> PredictText(const std::vector<std::string>& texts, OutputSpace space) const override {
    return Evaluate(texts, nullptr, space);
  }

  // --- HeadMaskedModel ---
  std::int64_t MaskLayers() const override { return AttentionLayers(); }
  std::int64_t MaskHeads() const override { return heads_; }
  Result<Tensor> PredictMasked(const std::vector<std::string>& texts, const std::vector<float>& masks,
                               OutputSpace space) const override {
    const std::size_t per_text = static_cast<std::size_t>(AttentionLayers() * heads_);
    if (masks.size() != texts.size() * per_text) {
      return InvalidArgument("head masks for " + std::to_string(texts.size()) + " texts need " +
                             std::to_string(texts.size() * per_text) + " values ([texts][" +
                             std::to_string(AttentionLayers()) + " layers][" + std::to_string(heads_) +
                             " heads]), got " + std::to_string(masks.size()) + ".");
    }
    return Evaluate(texts, masks.data(), space);
  }

  // --- HiddenStateSource ---
  Pooling PoolingMode() const override { return pooling_mode_; }
  const std::vector<std::string>& StateNames() const override { return state_names_; }
  const std::vector<std::int64_t>& StateWidths() const override { return state_widths_; }
  std::int64_t PooledWidth() const override { return pooled_width_; }

  Result<std::vector<HiddenStates>> Hidden(const std::vector<std::string>& texts) const override {
    std::vector<HiddenStates> hidden(texts.size());
    const auto n = static_cast<std::int64_t>(texts.size());
    Activations out;
    for (std::int64_t begin = 0; begin < n; begin += kChunkRows) {
      const std::int64_t stop = std::min(n, begin + kChunkRows);
      std::vector<std::vector<float>> states(state_widths_.size());
      std::vector<float> pooled;
      std::vector<TokenizedText> tokens;
      std::int64_t t = 0;
      Probe probe;
      probe.states = &states;
      probe.pooled = &pooled;
      LOUPE_RETURN_IF_ERROR(
          RunTexts(texts, begin, stop, static_cast<std::size_t>(pool_layer_) + 1, out, t, probe, &tokens));
      for (std::int64_t r = 0; r < stop - begin; ++r) {
        HiddenStates& h = hidden[static_cast<std::size_t>(begin + r)];
        h.tokens = std::move(tokens[static_cast<std::size_t>(r)]);
        const std::int64_t len = h.tokens.size();
        for (std::size_t s = 0; s < states.size(); ++s) {
          const std::int64_t width = state_widths_[s];
          const float* first = states[s].data() + r * t * width;
          h.states.emplace_back(first, first + len * width);
        }
        h.pooled.assign(pooled.begin() + r * pooled_width_, pooled.begin() + (r + 1) * pooled_width_);
      }
    }
    return hidden;
  }

 private:
  // Runs texts (optionally with head masks [texts][L][H]) through the whole model.
  Result<Tensor> Evaluate(const std::vector<std::string>& texts, const float* masks,
                          OutputSpace space) const {
    const std::size_t n_out = info_.OutputNames(space).size();
    const auto n = static_cast<std::int64_t>(texts.size());
    Tensor result(DType::kF64, {n, static_cast<std::int64_t>(n_out)});
    const std::size_t end =
        final_softmax_ && space == OutputSpace::kRaw ? layers_.size() - 1 : layers_.size();
    Activations out;
    for (std::int64_t begin = 0; begin < n; begin += kChunkRows) {
      const std::int64_t stop = std::min(n, begin + kChunkRows);
      std::int64_t length = 0;
      Probe probe;
      if (masks != nullptr) probe.head_masks = masks + begin * AttentionLayers() * heads_;
      LOUPE_RETURN_IF_ERROR(RunTexts(texts, begin, stop, end, out, length, probe, nullptr));
      double* dst = result.data<double>() + begin * static_cast<std::int64_t>(n_out);
      std::copy(out.values.begin(), out.values.begin() + (stop - begin) * static_cast<std::int64_t>(n_out),
                dst);
    }
    return result;
  }

 public:
  // --- AttentionSource ---
  std::int64_t AttentionLayers() const override { return static_cast<std::int64_t>(self_attention_.size()); }
  std::int64_t AttentionHeads() const override { return heads_; }
  bool HasPooling() const override { return pooling_ >= 0; }

  Result<std::vector<AttentionMaps>> Attention(const std::vector<std::string>& texts) const override {
    std::vector<AttentionMaps> maps(texts.size());
    const auto n = static_cast<std::int64_t>(texts.size());
    const std::size_t end = pooling_ >= 0             ? static_cast<std::size_t>(pooling_) + 1
                            : self_attention_.empty() ? 0
                                                      : self_attention_.back() + 1;
    Activations out;
    for (std::int64_t begin = 0; begin < n; begin += kChunkRows) {
      const std::int64_t stop = std::min(n, begin + kChunkRows);
      std::vector<std::vector<float>> recorded(layers_.size());
      std::vector<TokenizedText> tokens;
      std::int64_t t = 0;
      Probe probe;
      probe.attention = &recorded;
      LOUPE_RETURN_IF_ERROR(RunTexts(texts, begin, stop, end, out, t, probe, &tokens));
      for (std::int64_t r = 0; r < stop - begin; ++r) {
        AttentionMaps& m = maps[static_cast<std::size_t>(begin + r)];
        m.tokens = std::move(tokens[static_cast<std::size_t>(r)]);
        const std::int64_t len = m.tokens.size();
        m.layers = AttentionLayers();
        m.heads = heads_;
        m.probabilities.reserve(static_cast<std::size_t>(m.layers * m.heads * len * len));
        for (std::size_t l : self_attention_) {
          const std::vector<float>& a = recorded[l];  // [n, H, t, t]
          for (std::int64_t h = 0; h < heads_; ++h) {
            for (std::int64_t q = 0; q < len; ++q) {
              const float* row = a.data() + ((r * heads_ + h) * t + q) * t;
              m.probabilities.insert(m.probabilities.end(), row, row + len);
            }
          }
        }
        if (pooling_ >= 0) {
          const float* w = recorded[static_cast<std::size_t>(pooling_)].data() + r * t;
          m.pooling.assign(w, w + len);
        }
      }
    }
    return maps;
  }

  // --- Network ---
  Status Run(const TensorView& batch, std::size_t end, Activations& out) const override {
    (void)end;
    (void)out;
    return Predict(batch, OutputSpace::kRaw).status();
  }

 private:
  // Offers the text gradient when the first layer is an embedding (a token embedding, or an
  // EmbeddingOutputLayer such as the Hugging Face embeddings) and every later one is differentiable.
  void DescribeGradient() {
    if (layers_.empty()) return;
    std::int64_t width = 0;
    const std::vector<float>* table = EmbeddingTable(*layers_[0], width);
    embedding_output_ = dynamic_cast<const EmbeddingOutputLayer*>(layers_[0].get());
    if (embedding_output_ != nullptr) width = layers_[0]->output().width;
    if ((table == nullptr && embedding_output_ == nullptr) || width < 1) return;
    dense_views_.resize(layers_.size());
    for (std::size_t l = 1; l < layers_.size(); ++l) {
      if (AsDifferentiable(*layers_[l]) != nullptr) continue;
      const std::optional<DenseLayerView> view = AsDenseLayer(*layers_[l]);
      if (!view.has_value()) return;
      dense_views_[l] = *view;
    }
    embedding_width_ = width;
    if (embedding_output_ != nullptr) embedding_name_ = embedding_output_->LayerName();
    const std::int64_t pad = tokenizer_.pad_id();
    if (table != nullptr && pad >= 0 && (pad + 1) * width <= static_cast<std::int64_t>(table->size())) {
      pad_embedding_.assign(table->begin() + pad * width, table->begin() + (pad + 1) * width);
    }
    if (precision_ == nn::Precision::kBF16) {
      // Refused on every CPU, also where bf16 falls back to f32, so a pipeline is valid everywhere or
      // nowhere.
      refusal_ = "model '" + info_.name +
                 "' asks for bf16 dense layers (precision: bf16) while gradients are computed in f32, which "
                 "would give attributions inconsistent with its own outputs; load it with precision f32 to "
                 "differentiate it.";
    }
  }

  // The embedding layer's output for one text's token ids, [ids.size(), width].
  Result<std::vector<float>> RunEmbeddingLayer(const std::vector<std::int64_t>& ids) const {
    Activations in, out;
    in.n = 1;
    in.t = static_cast<std::int64_t>(ids.size());
    in.ids = ids;
    in.lengths = {in.t};
    if (in.t == 0) return std::vector<float>{};
    LOUPE_RETURN_IF_ERROR(layers_[0]->Forward(in, out));
    return std::move(out.values);
  }

  Status CheckLayerGradientShapes(std::span<const float> values, std::int64_t n, std::int64_t t,
                                  std::span<const std::int64_t> lengths, std::int64_t n_out,
                                  std::span<const double> weights, std::span<float> gradients,
                                  std::span<double> outputs) const {
    const auto cells = static_cast<std::size_t>(n * t * embedding_width_);
    if (n < 0 || t < 1 || values.size() != cells || gradients.size() != cells ||
        lengths.size() != static_cast<std::size_t>(n) ||
        weights.size() != static_cast<std::size_t>(n * n_out) ||
        (!outputs.empty() && outputs.size() != weights.size())) {
      return InvalidArgument("the layer gradient of " + std::to_string(n) + " rows of " + std::to_string(t) +
                             " steps needs " + std::to_string(cells) + " values and gradients, " +
                             std::to_string(n) + " lengths and " + std::to_string(n * n_out) +
                             " output weights.");
    }
    for (std::int64_t r = 0; r < n; ++r) {
      const std::int64_t length = lengths[static_cast<std::size_t>(r)];
      if (length < 1 || length > t) {
        return InvalidArgument("row " + std::to_string(r) + " of the layer gradient has length " +
                               std::to_string(length) + ", expected 1 to " + std::to_string(t) + ".");
      }
    }
    return Status::Ok();
  }

  // One chunk of LayerGradient: layers [1, end) forward with their tapes, then backward from the output
  // weights to the embedding layer's output.
  // The activations, tapes and gradients of LayerGradientChunk, kept per thread between calls so that
  // their buffers (and the transformer's scratch, text_layers.cpp) are reused instead of being freed and
  // faulted in again for every chunk of path points (issue #17).
  struct GradientWorkspace {
    std::vector<Activations> acts;  // acts[l]: the input of layer l (acts[end] the output)
    std::vector<LayerTape> tapes;
    std::vector<float> dy, dx;
    bool busy = false;  // a nested call on the same thread (TBB work stealing) takes a fresh workspace
  };

  Status LayerGradientChunk(const float* values, std::int64_t rows, std::int64_t t,
                            const std::int64_t* lengths, std::size_t end, const double* weights,
                            float* gradients, double* outputs) const {
    thread_local GradientWorkspace reused;
    GradientWorkspace fresh;
    GradientWorkspace& workspace = reused.busy ? fresh : reused;
    workspace.busy = true;
    const Status status =
        LayerGradientChunkIn(workspace, values, rows, t, lengths, end, weights, gradients, outputs);
    workspace.busy = false;
    return status;
  }

  Status LayerGradientChunkIn(GradientWorkspace& workspace, const float* values, std::int64_t rows,
                              std::int64_t t, const std::int64_t* lengths, std::size_t end,
                              const double* weights, float* gradients, double* outputs) const {
    std::vector<Activations>& acts = workspace.acts;
    std::vector<LayerTape>& tapes = workspace.tapes;
    acts.resize(std::max(acts.size(), end + 1));
    tapes.resize(std::max(tapes.size(), end));
    Activations& first = acts[1];
    first.n = rows;
    first.t = t;
    first.width = embedding_width_;
    first.values.assign(values, values + rows * t * embedding_width_);
    first.lengths.assign(lengths, lengths + rows);
    for (std::size_t l = 1; l < end; ++l) {
      if (const DifferentiableLayer* layer = AsDifferentiable(*layers_[l])) {
        LOUPE_RETURN_IF_ERROR(layer->ForwardTaped(acts[l], acts[l + 1], tapes[l]));
      } else {
        LOUPE_RETURN_IF_ERROR(layers_[l]->Forward(acts[l], acts[l + 1]));
      }
    }
    const Activations& result = acts[end];
    const std::int64_t n_out = result.width;
    if (outputs != nullptr) std::copy_n(result.values.begin(), rows * n_out, outputs);
    std::vector<float>& dy = workspace.dy;
    std::vector<float>& dx = workspace.dx;
    dy.assign(weights, weights + rows * n_out);
    for (std::size_t l = end; l-- > 1;) {
      const Activations& in = acts[l];
      if (const DifferentiableLayer* layer = AsDifferentiable(*layers_[l])) {
        LOUPE_RETURN_IF_ERROR(layer->Backward(in, acts[l + 1], tapes[l], dy, dx));
      } else {
        const std::int64_t steps = in.sequence() ? in.n * in.t : in.n;
        dx.resize(static_cast<std::size_t>(steps * in.width));
        LOUPE_RETURN_IF_ERROR(DenseLayerBackward(dense_views_[l], in.values.data(), acts[l + 1].values.data(),
                                                 steps, in.width, acts[l + 1].width, dy.data(), dx.data()));
      }
      std::swap(dy, dx);
    }
    std::copy_n(dy.begin(), rows * t * embedding_width_, gradients);
    return Status::Ok();
  }

  // Notes what layer `i` contributes to the probes: hidden states, pooling.
  void DescribeProbes(std::size_t i) {
    const Layer& layer = *layers_[i];
    if (const char* kind = SequenceLayerKind(layer)) {
      if (sequence_layers_.empty()) {
        state_names_.push_back("embeddings");
        state_widths_.push_back(i > 0 ? layers_[i - 1]->output().width : 0);
      }
      sequence_layers_.push_back(i);
      state_names_.push_back(std::string(kind) + " " + std::to_string(i));
      state_widths_.push_back(layer.output().width);
    }
    Pooling pooling = Pooling::kUnknown;
    if (pool_layer_ < 0 && PoolingOf(layer, pooling)) {
      pool_layer_ = static_cast<std::int64_t>(i);
      pooling_mode_ = pooling;
      pooled_width_ = layer.output().width;
    }
  }

  // Runs layer `l` on `a` into `b`, recording its attention or masking its heads when the probe asks.
  Status RunLayer(std::size_t l, const Activations& a, Activations& b, const Probe& probe) const {
    const auto* attention = dynamic_cast<const AttentionLayer*>(layers_[l].get());
    const bool record = attention != nullptr && probe.attention != nullptr && attention->records();
    const bool mask = attention != nullptr && probe.head_masks != nullptr && attention->heads() > 0;
    if (!record && !mask) return layers_[l]->Forward(a, b);
    std::vector<float> head_mask;
    if (mask) {  // this layer's [n, heads] slice of the [n, L, H] masks
      const auto j = static_cast<std::int64_t>(std::find(self_attention_.begin(), self_attention_.end(), l) -
                                               self_attention_.begin());
      const std::int64_t layers = AttentionLayers();
      for (std::int64_t r = 0; r < a.n; ++r) {
        const float* m = probe.head_masks + (r * layers + j) * heads_;
        head_mask.insert(head_mask.end(), m, m + heads_);
      }
    }
    return attention->ForwardProbed(a, b, record ? &(*probe.attention)[l] : nullptr,
                                    mask ? head_mask.data() : nullptr);
  }

  // Runs layers [0, end) on texts [begin, stop); `length` receives the padded token length. The probe's
  // attention, hidden states and pooled vectors are filled as the layers run, and its head masks applied;
  // `tokens` receives the tokens.
  Status RunTexts(const std::vector<std::string>& texts, std::int64_t begin, std::int64_t stop,
                  std::size_t end, Activations& out, std::int64_t& length, const Probe& probe,
                  std::vector<TokenizedText>* tokens) const {
    std::vector<TokenizedText> tokenized;
    for (std::int64_t i = begin; i < stop; ++i) {
      tokenized.push_back(tokenizer_.Tokenize(texts[static_cast<std::size_t>(i)]));
    }
    TokenBatch batch = tokenizer_.Pad(tokenized);
    length = batch.length;
    Activations a, b;
    a.n = batch.rows;
    a.t = batch.length;
    a.ids = std::move(batch.ids);
    a.lengths = std::move(batch.lengths);
    if (probe.attention != nullptr) probe.attention->resize(layers_.size());
    std::size_t state = 0;
    for (std::size_t l = 0; l < end; ++l) {
      if (probe.states != nullptr && !sequence_layers_.empty() && l == sequence_layers_.front()) {
        (*probe.states)[state++] = a.values;  // the input of the first sequence layer
      }
      LOUPE_RETURN_IF_ERROR(RunLayer(l, a, b, probe));
      std::swap(a, b);
      if (probe.states != nullptr && SequenceLayerKind(*layers_[l]) != nullptr)
        (*probe.states)[state++] = a.values;
      if (probe.pooled != nullptr && static_cast<std::int64_t>(l) == pool_layer_) *probe.pooled = a.values;
    }
    out = std::move(a);
    if (tokens != nullptr) *tokens = std::move(tokenized);
    return Status::Ok();
  }

  ModelInfo info_;
  Tokenizer tokenizer_;
  std::vector<std::unique_ptr<Layer>> layers_;
  bool final_softmax_;
  nn::Precision precision_;
  std::vector<std::size_t> self_attention_;
  std::int64_t heads_ = 0;
  std::int64_t pooling_ = -1;
  // Hidden-state probes: the sequence layers, the states' names and widths, the pool layer.
  std::vector<std::size_t> sequence_layers_;
  std::vector<std::string> state_names_;
  std::vector<std::int64_t> state_widths_;
  std::int64_t pool_layer_ = -1;
  Pooling pooling_mode_ = Pooling::kUnknown;
  std::int64_t pooled_width_ = 0;
  // The text gradient: the embedding layer's width (0 when the capability is not offered), name and
  // pad token's row (a token embedding's), the layer itself when it adds positions, why the model refuses
  // gradients (bf16), and per layer the dense view of a layer that is not a sequence layer.
  std::int64_t embedding_width_ = 0;
  std::string embedding_name_ = "embedding";
  std::vector<float> pad_embedding_;
  const EmbeddingOutputLayer* embedding_output_ = nullptr;
  std::string refusal_;
  std::vector<DenseLayerView> dense_views_;
};

const json* Find(const config::YamlDocument& doc, const std::string& pointer) {
  const json::json_pointer p(pointer);
  return doc.value.contains(p) ? &doc.value.at(p) : nullptr;
}

Result<std::string> String(const config::YamlDocument& doc, const std::string& pointer,
                           const std::string& what) {
  const json* v = Find(doc, pointer);
  if (v == nullptr)
    return ErrorAt(doc, pointer.substr(0, pointer.rfind('/')), "the model has no '" + what + "'.");
  if (!v->is_string())
    return ErrorAt(doc, pointer, "'" + what + "' must be a string, found " + config::ValueText(*v) + ".");
  return v->get<std::string>();
}

Status CheckKeys(const config::YamlDocument& doc, const std::string& pointer,
                 const std::vector<std::string>& allowed, const std::string& where) {
  const json* node = Find(doc, pointer);
  if (node == nullptr || !node->is_object()) return ErrorAt(doc, pointer, where + " must be a mapping.");
  for (const auto& [key, value] : node->items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string list;
    for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
    return InvalidArgument(
        Diagnostic{doc.KeyAt(pointer + "/" + key),
                   "unknown key '" + key + "' in " + where + "; expected one of: " + list + "."}
            .ToString());
  }
  return Status::Ok();
}

// tokenizer: {type: huggingface, file: tokenizer.json, max_length: N}: the file's own normalizer,
// pre-tokenizer, model, post-processor and added tokens; max_length overrides its truncation.
Result<Tokenizer> ReadHuggingFaceTokenizer(const config::YamlDocument& doc,
                                           const std::filesystem::path& dir) {
  LOUPE_RETURN_IF_ERROR(CheckKeys(doc, "/tokenizer", {"type", "file", "max_length"}, "the tokenizer"));
  std::optional<std::int64_t> max_length;
  if (const json* max = Find(doc, "/tokenizer/max_length")) {
    if (!max->is_number_integer() || max->get<std::int64_t>() < 2) {
      return ErrorAt(doc, "/tokenizer/max_length",
                     "tokenizer.max_length must be a whole number of at least 2, found " +
                         config::ValueText(*max) + ".");
    }
    max_length = max->get<std::int64_t>();
  }
  LOUPE_ASSIGN_OR_RETURN(const std::string file, String(doc, "/tokenizer/file", "tokenizer.file"));
  Result<Tokenizer> tokenizer = Tokenizer::FromHuggingFace(dir / file, max_length);
  if (!tokenizer.ok()) return ErrorAt(doc, "/tokenizer/file", tokenizer.status().message());
  return tokenizer;
}

Result<Tokenizer> ReadTokenizer(const config::YamlDocument& doc, const std::filesystem::path& dir) {
  LOUPE_ASSIGN_OR_RETURN(const std::string type, String(doc, "/tokenizer/type", "tokenizer.type"));
  if (type == "huggingface") return ReadHuggingFaceTokenizer(doc, dir);
  LOUPE_RETURN_IF_ERROR(
      CheckKeys(doc, "/tokenizer", {"type", "vocab", "lowercase", "max_length"}, "the tokenizer"));
  TokenizerOptions options;
  if (type == "wordpiece") {
    options.kind = TokenizerKind::kWordPiece;
  } else if (type != "whitespace") {
    return ErrorAt(doc, "/tokenizer/type",
                   "unknown tokenizer type '" + type + "'; expected whitespace, wordpiece or huggingface.");
  }
  if (const json* lower = Find(doc, "/tokenizer/lowercase")) {
    if (!lower->is_boolean())
      return ErrorAt(doc, "/tokenizer/lowercase", "tokenizer.lowercase must be true or false.");
    options.lowercase = lower->get<bool>();
  }
  if (const json* max = Find(doc, "/tokenizer/max_length")) {
    if (!max->is_number_integer() || max->get<std::int64_t>() < 2) {
      return ErrorAt(doc, "/tokenizer/max_length",
                     "tokenizer.max_length must be a whole number of at least 2, found " +
                         config::ValueText(*max) + ".");
    }
    options.max_length = max->get<std::int64_t>();
  }
  LOUPE_ASSIGN_OR_RETURN(const std::string vocab, String(doc, "/tokenizer/vocab", "tokenizer.vocab"));
  Result<Tokenizer> tokenizer = Tokenizer::FromFile(dir / vocab, options);
  if (!tokenizer.ok()) return ErrorAt(doc, "/tokenizer/vocab", tokenizer.status().message());
  return tokenizer;
}

}  // namespace

// `precision: f32 | bf16` (default f32): bf16 applies to the dense projections (transformer, linear);
// embeddings, attention scores, layer norms and LSTMs stay in f32.
Result<nn::Precision> ReadTextPrecision(const config::YamlDocument& doc) {
  if (Find(doc, "/precision") == nullptr) return nn::Precision::kF32;
  LOUPE_ASSIGN_OR_RETURN(const std::string precision, String(doc, "/precision", "precision"));
  if (precision == "f32") return nn::Precision::kF32;
  if (precision == "bf16") return nn::Precision::kBF16;
  return ErrorAt(doc, "/precision",
                 "precision of a text model must be f32 or bf16, found '" + precision + "'.");
}

bool IsTextModel(const config::YamlDocument& doc) {
  const json* type = Find(doc, "/input/type");
  return Find(doc, "/tokenizer") != nullptr || (type != nullptr && type->is_string() && *type == "text");
}

Result<std::shared_ptr<const Model>> LoadTextModel(const config::YamlDocument& doc,
                                                   const std::filesystem::path& path) {
  LOUPE_RETURN_IF_ERROR(CheckKeys(doc, "",
                                  {"format", "name", "task", "classes", "outputs", "input", "tokenizer",
                                   "weights", "precision", "layers"},
                                  "the text model"));
  LOUPE_ASSIGN_OR_RETURN(const std::string format, String(doc, "/format", "format"));
  if (format != "loupe.model/v1") {
    return ErrorAt(doc, "/format", "unsupported model format '" + format + "'; expected loupe.model/v1.");
  }
  ModelInfo info;
  LOUPE_ASSIGN_OR_RETURN(info.name, String(doc, "/name", "name"));
  LOUPE_ASSIGN_OR_RETURN(const std::string task, String(doc, "/task", "task"));
  if (task != "classification" && task != "regression") {
    return ErrorAt(doc, "/task", "task must be classification or regression, found '" + task + "'.");
  }
  info.task = task == "classification" ? Task::kClassification : Task::kRegression;
  LOUPE_RETURN_IF_ERROR(CheckKeys(doc, "/input", {"name", "type"}, "the input"));
  ModelInput input;
  input.type = ColumnType::kText;
  LOUPE_ASSIGN_OR_RETURN(input.name, String(doc, "/input/name", "input.name"));
  LOUPE_ASSIGN_OR_RETURN(const std::string input_type, String(doc, "/input/type", "input.type"));
  if (input_type != "text") {
    return ErrorAt(
        doc, "/input/type",
        "a model with a tokenizer reads text: input.type must be text, found '" + input_type + "'.");
  }
  info.inputs.push_back(input);
  if (Find(doc, "/tokenizer") == nullptr) return ErrorAt(doc, "", "a text model needs a 'tokenizer'.");
  const std::filesystem::path dir = path.parent_path();
  LOUPE_ASSIGN_OR_RETURN(Tokenizer tokenizer, ReadTokenizer(doc, dir));
  LOUPE_ASSIGN_OR_RETURN(const std::string weights_name, String(doc, "/weights", "weights"));
  Result<SafetensorsFile> weights = SafetensorsFile::Open(dir / weights_name);
  if (!weights.ok()) return ErrorAt(doc, "/weights", weights.status().message());

  LOUPE_ASSIGN_OR_RETURN(const nn::Precision precision, ReadTextPrecision(doc));

  const json* layers_node = Find(doc, "/layers");
  if (layers_node == nullptr || !layers_node->is_array() || layers_node->empty()) {
    return ErrorAt(doc, layers_node ? "/layers" : "", "the model needs a non-empty list of 'layers'.");
  }
  ActivationShape shape;
  shape.sequence = true;
  shape.ids = true;
  std::vector<std::unique_ptr<Layer>> layers;
  std::string last_type;
  for (std::size_t i = 0; i < layers_node->size(); ++i) {
    const std::string pointer = "/layers/" + std::to_string(i);
    const LayerContext context(doc, pointer, i, shape, &*weights, precision, dir);
    const json* type = Find(doc, pointer + "/type");
    if (type == nullptr || !type->is_string())
      return ErrorAt(doc, pointer, "layer " + std::to_string(i) + " needs a type.");
    const LayerFactory* factory = Kinds().FindLayer(type->get<std::string>());
    if (factory == nullptr) {
      return ErrorAt(doc, pointer + "/type",
                     "unknown layer type '" + type->get<std::string>() +
                         "'; expected one of: " + Kinds().LayerTypes() + ".");
    }
    if (i == 0 && *type != "embedding") {
      return ErrorAt(
          doc, pointer + "/type",
          "the first layer of a text model must be an embedding, found '" + type->get<std::string>() + "'.");
    }
    if (i == 0) {
      LOUPE_ASSIGN_OR_RETURN(const Shape table, context.WeightShape("weight"));
      // More rows than tokens is fine: Hugging Face models pad their embeddings to a multiple of 8 or 64.
      if (table.empty() || table[0] < tokenizer.vocab_size()) {
        return ErrorAt(doc, pointer,
                       "layer 0 (embedding " + context.name() + "): weight has shape " +
                           ShapeToString(table) + " but the tokenizer's vocabulary has " +
                           std::to_string(tokenizer.vocab_size()) +
                           " tokens (at least as many rows needed).");
      }
    }
    LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<Layer> layer, (*factory)(context));
    shape = layer->output();
    last_type = type->get<std::string>();
    layers.push_back(std::move(layer));
  }
  const std::string last = "/layers/" + std::to_string(layers.size() - 1);
  if (shape.sequence) {
    return ErrorAt(doc, last,
                   "the model ends with a sequence " + shape.ToString() +
                       "; add a pool layer (cls, mean, last or attention) before the output.");
  }
  const bool final_softmax = last_type == "softmax";
  if (info.task == Task::kClassification) {
    const json* classes = Find(doc, "/classes");
    if (classes == nullptr || !classes->is_array() || classes->empty()) {
      return ErrorAt(doc, classes ? "/classes" : "", "a classifier needs a non-empty list of 'classes'.");
    }
    // Labels are strings or numbers; a list or a map is refused (and its dump() would throw on bytes that are
    // not UTF-8: fuzz/regressions/native_model/text_class_that_is_a_list.yaml).
    for (std::size_t i = 0; i < classes->size(); ++i) {
      const json& c = (*classes)[i];
      if (!c.is_string() && !c.is_number() && !c.is_boolean()) {
        return ErrorAt(doc, "/classes/" + std::to_string(i),
                       "each of 'classes' must be a string or a number, found " + config::ValueText(c) + ".");
      }
      info.output_names.push_back(c.is_string() ? c.get<std::string>() : c.dump());
    }
    if (!final_softmax || shape.width != static_cast<std::int64_t>(info.output_names.size())) {
      return ErrorAt(doc, last,
                     "a text classifier must end in softmax over one output per class; the last layer is " +
                         last_type + " with " + std::to_string(shape.width) + " outputs for " +
                         std::to_string(info.output_names.size()) + " classes.");
    }
    info.raw_output_names = info.output_names;
  } else {
    if (shape.width != 1) {
      return ErrorAt(doc, last,
                     "a regressor must end with 1 output, found " + std::to_string(shape.width) + ".");
    }
    info.output_names = info.raw_output_names = {"value"};
  }
  const bool softmax_output = final_softmax && info.task == Task::kClassification;
  return MakeTextNetworkModel(std::move(info), std::move(tokenizer), std::move(layers), softmax_output,
                              precision);
}

std::shared_ptr<const Model> MakeTextNetworkModel(ModelInfo info, Tokenizer tokenizer,
                                                  std::vector<std::unique_ptr<Layer>> layers,
                                                  bool final_softmax, nn::Precision precision) {
  auto model = std::make_shared<TextNetworkModel>(std::move(info), std::move(tokenizer), std::move(layers),
                                                  final_softmax, precision);
  model->AttachLayers();
  return std::shared_ptr<const Model>(std::move(model));
}

}  // namespace loupe::model
