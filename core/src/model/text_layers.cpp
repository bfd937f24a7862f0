#include "model/text_layers.hpp"

#include <cmath>
#include <limits>

#include "nn/backward.hpp"

namespace loupe::model {

// The calling thread's spare float buffers for the transformer's passes (docs/architecture.md §4). Every
// temporary of a taped forward or backward pass is taken from here and given back, so the buffers of one
// chunk of path points are reused by the next instead of being freed: glibc then trimmed its heap and the
// next chunk faulted the pages in again and zeroed them, ~70% of layer integrated gradients' time (issue
// #17). A buffer's contents are stale: every user overwrites all it reads. Buffers over kMaxPooledFloats
// are freed rather than kept, so a large model does not pin its peak memory to every thread.
namespace text_scratch {

constexpr std::size_t kMaxPooledFloats = std::size_t{16} << 20;       // one buffer: 64 MiB
constexpr std::size_t kMaxPooledFloatsTotal = std::size_t{64} << 20;  // all of a thread's: 256 MiB

struct ThreadBuffers {
  std::vector<std::vector<float>> spare;
  std::size_t floats = 0;  // the spare buffers' capacities
};

ThreadBuffers& ThreadPool() {
  thread_local ThreadBuffers pool;
  return pool;
}

class Scratch {
 public:
  explicit Scratch(std::size_t n) {
    ThreadBuffers& pool = ThreadPool();
    if (!pool.spare.empty()) {
      buffer_.swap(pool.spare.back());
      pool.spare.pop_back();
      pool.floats -= buffer_.capacity();
    }
    buffer_.resize(n);  // value-initializes only a grown tail
  }
  ~Scratch() {
    ThreadBuffers& pool = ThreadPool();
    const std::size_t capacity = buffer_.capacity();
    if (capacity == 0 || capacity > kMaxPooledFloats || pool.floats + capacity > kMaxPooledFloatsTotal)
      return;
    pool.floats += capacity;
    pool.spare.push_back(std::move(buffer_));
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  std::vector<float>& operator*() { return buffer_; }
  std::vector<float>* operator->() { return &buffer_; }
  float* data() { return buffer_.data(); }
  float& operator[](std::size_t i) { return buffer_[i]; }

 private:
  std::vector<float> buffer_;
};

}  // namespace text_scratch

namespace {

using text_scratch::Scratch;

ActivationShape SequenceShape(std::int64_t width) {
  ActivationShape shape;
  shape.sequence = true;
  shape.width = width;
  return shape;
}

// Rejects an input that is not the sequence a layer needs.
Status ExpectSequence(const LayerContext& c, bool ids) {
  const ActivationShape& in = c.input();
  if (in.sequence && in.ids == ids) return Status::Ok();
  return c.Error("type", std::string("needs ") + (ids ? "a sequence of token ids" : "a sequence of vectors") +
                             ", but the layer before it gives " + in.ToString() + ".");
}

Result<std::int64_t> PositiveInt(const LayerContext& c, const std::string& key, double fallback) {
  LOUPE_ASSIGN_OR_RETURN(const double value, c.Number(key, fallback));
  if (!(value >= 1) || value != std::floor(value)) {
    return c.Error(key, key + " must be a positive whole number, found " + std::to_string(value) + ".");
  }
  return static_cast<std::int64_t>(value);
}

// ---------------------------------------------------------------------------------------------------------
// embedding
// ---------------------------------------------------------------------------------------------------------

// Token ids [n, t] -> rows of the table [n, t, dim] (PyTorch nn.Embedding).
class Embedding final : public Layer {
 public:
  Embedding(std::int64_t vocab, std::int64_t dim, std::vector<float> table)
      : vocab_(vocab), dim_(dim), table_(std::move(table)) {}

  ActivationShape output() const override { return SequenceShape(dim_); }

  const std::vector<float>& table() const { return table_; }
  std::int64_t dim() const { return dim_; }

  Status Forward(const Activations& in, Activations& out) const override {
    out.lengths = in.lengths;
    out.Resize(in.n, in.t, dim_);
    for (std::int64_t i = 0; i < in.n * in.t; ++i) {
      const std::int64_t id = in.ids[static_cast<std::size_t>(i)];
      if (id < 0 || id >= vocab_) {
        return InvalidArgument("token id " + std::to_string(id) + " is outside the embedding's " +
                               std::to_string(vocab_) + " rows.");
      }
      std::copy_n(table_.data() + id * dim_, dim_, out.values.data() + i * dim_);
    }
    return Status::Ok();
  }

 private:
  std::int64_t vocab_, dim_;
  std::vector<float> table_;
};

// x[n, s, :] += table[s, :] (a learned positional embedding, PyTorch nn.Embedding over positions). Its
// gradient passes through unchanged.
class PositionalEmbedding final : public Layer, public DifferentiableLayer {
 public:
  PositionalEmbedding(std::int64_t max_positions, std::int64_t dim, std::vector<float> table)
      : max_positions_(max_positions), dim_(dim), table_(std::move(table)) {}

  ActivationShape output() const override { return SequenceShape(dim_); }

  Status Forward(const Activations& in, Activations& out) const override {
    if (in.t > max_positions_) {
      return InvalidArgument("a sequence of " + std::to_string(in.t) + " tokens is longer than the " +
                             std::to_string(max_positions_) + " positions of the positional embedding.");
    }
    out.lengths = in.lengths;
    out.Resize(in.n, in.t, dim_);
    for (std::int64_t r = 0; r < in.n; ++r) {
      for (std::int64_t i = 0; i < in.t * dim_; ++i) {
        const std::int64_t at = r * in.t * dim_ + i;
        out.values[static_cast<std::size_t>(at)] =
            in.values[static_cast<std::size_t>(at)] + table_[static_cast<std::size_t>(i)];
      }
    }
    return Status::Ok();
  }

  Status ForwardTaped(const Activations& in, Activations& out, LayerTape& tape) const override {
    (void)tape;
    return Forward(in, out);
  }
  Status Backward(const Activations& in, const Activations& out, const LayerTape& tape,
                  const std::vector<float>& dy, std::vector<float>& dx) const override {
    (void)in;
    (void)out;
    (void)tape;
    dx = dy;
    return Status::Ok();
  }

 private:
  std::int64_t max_positions_, dim_;
  std::vector<float> table_;
};

// ---------------------------------------------------------------------------------------------------------
// transformer_encoder
// ---------------------------------------------------------------------------------------------------------

struct Norm {
  std::vector<float> gamma, beta;
};

class TransformerEncoder final : public AttentionLayer, public DifferentiableLayer {
 public:
  struct Parts {
    std::int64_t d = 0, heads = 0;
    bool norm_first = false;
    nn::Activation activation = nn::Activation::kRelu;
    float eps = 1e-5f;
    nn::Precision precision = nn::Precision::kF32;  // of the four dense projections
  };
  TransformerEncoder(Parts parts, nn::DenseLayer in_proj, nn::DenseLayer out_proj, nn::DenseLayer linear1,
                     nn::DenseLayer linear2, Norm norm1, Norm norm2)
      : p_(parts),
        in_proj_(std::move(in_proj)),
        out_proj_(std::move(out_proj)),
        linear1_(std::move(linear1)),
        linear2_(std::move(linear2)),
        norm1_(std::move(norm1)),
        norm2_(std::move(norm2)) {}

  ActivationShape output() const override { return SequenceShape(p_.d); }
  std::int64_t heads() const override { return p_.heads; }

  Status Forward(const Activations& in, Activations& out) const override {
    return Run(in, out, nullptr, nullptr, nullptr);
  }
  Status ForwardProbed(const Activations& in, Activations& out, std::vector<float>* attention,
                       const float* head_mask) const override {
    return Run(in, out, attention, head_mask, nullptr);
  }
  Status ForwardTaped(const Activations& in, Activations& out, LayerTape& tape) const override {
    tape.saved.resize(kTapeSize);  // a reused tape keeps its buffers: every slot is overwritten
    return Run(in, out, nullptr, nullptr, &tape);
  }
  Status Backward(const Activations& in, const Activations& out, const LayerTape& tape,
                  const std::vector<float>& dy, std::vector<float>& dx) const override;

 private:
  // What ForwardTaped keeps: the attention's q, k, v ([n, heads, t, hd]) and probabilities ([n, heads, t,
  // t]), the inputs of the two layer norms, and the feed-forward block's hidden layer before its
  // activation.
  enum TapeSlot : std::size_t {
    kTapeQ,
    kTapeK,
    kTapeV,
    kTapeProbs,
    kTapeNorm1In,
    kTapeNorm2In,
    kTapeHidden,
    kTapeSize
  };

  // x [rows, d] -> y [rows, d]
  Status LayerNormRows(const float* x, std::int64_t rows, const Norm& norm, float* y) const {
    return nn::LayerNorm(x, rows, p_.d, norm.gamma.data(), norm.beta.data(), p_.eps, y);
  }

  // out = self-attention of h [n, t, d] (PyTorch nn.MultiheadAttention with key_padding_mask).
  Status SelfAttention(const std::vector<float>& h, const Activations& in, std::vector<float>& out,
                       std::vector<float>* attention, const float* head_mask, LayerTape* tape) const {
    const std::int64_t n = in.n, t = in.t, d = p_.d, heads = p_.heads, hd = d / heads;
    const std::int64_t rows = n * t;
    Scratch qkv(static_cast<std::size_t>(rows * 3 * d));
    LOUPE_RETURN_IF_ERROR(in_proj_.Forward(h.data(), rows, qkv.data(), p_.precision));
    // [n, t, 3, heads, hd] -> q, k, v as [n, heads, t, hd]
    const std::size_t per = static_cast<std::size_t>(n * heads * t * hd);
    Scratch q(per), k(per), v(per);
    for (std::int64_t r = 0; r < n; ++r) {
      for (std::int64_t s = 0; s < t; ++s) {
        const float* src = qkv.data() + (r * t + s) * 3 * d;
        for (std::int64_t hh = 0; hh < heads; ++hh) {
          const std::int64_t dst = ((r * heads + hh) * t + s) * hd;
          for (std::int64_t j = 0; j < hd; ++j) {
            q[static_cast<std::size_t>(dst + j)] = src[hh * hd + j];
            k[static_cast<std::size_t>(dst + j)] = src[d + hh * hd + j];
            v[static_cast<std::size_t>(dst + j)] = src[2 * d + hh * hd + j];
          }
        }
      }
    }
    Scratch scores(static_cast<std::size_t>(n * heads * t * t));
    LOUPE_RETURN_IF_ERROR(nn::BatchedMatmul(q.data(), k.data(), scores.data(), n * heads, t, hd, t, true,
                                            1.0f / std::sqrt(static_cast<float>(hd))));
    const float minus_inf = -std::numeric_limits<float>::infinity();
    for (std::int64_t r = 0; r < n; ++r) {
      const std::int64_t length = in.lengths[static_cast<std::size_t>(r)];
      for (std::int64_t row = 0; row < heads * t; ++row) {
        float* s = scores.data() + (r * heads * t + row) * t;
        for (std::int64_t key = length; key < t; ++key) s[key] = minus_inf;
      }
    }
    LOUPE_RETURN_IF_ERROR(nn::Softmax(scores.data(), n * heads * t, t));
    if (attention != nullptr) *attention = *scores;
    if (head_mask != nullptr) {
      for (std::int64_t rh = 0; rh < n * heads; ++rh) {
        float* p = scores.data() + rh * t * t;
        for (std::int64_t i = 0; i < t * t; ++i) p[i] *= head_mask[rh];
      }
    }
    Scratch context(per);
    LOUPE_RETURN_IF_ERROR(
        nn::BatchedMatmul(scores.data(), v.data(), context.data(), n * heads, t, t, hd, false));
    Scratch merged(static_cast<std::size_t>(rows * d));
    for (std::int64_t r = 0; r < n; ++r) {
      for (std::int64_t hh = 0; hh < heads; ++hh) {
        for (std::int64_t s = 0; s < t; ++s) {
          const float* src = context.data() + ((r * heads + hh) * t + s) * hd;
          float* dst = merged.data() + (r * t + s) * d + hh * hd;
          for (std::int64_t j = 0; j < hd; ++j) dst[j] = src[j];
        }
      }
    }
    if (tape != nullptr) {  // the tape's previous buffers go back to the pool
      tape->saved[kTapeQ].swap(*q);
      tape->saved[kTapeK].swap(*k);
      tape->saved[kTapeV].swap(*v);
      tape->saved[kTapeProbs].swap(*scores);
    }
    out.resize(static_cast<std::size_t>(rows * d));
    return out_proj_.Forward(merged.data(), rows, out.data(), p_.precision);
  }

  // The data gradient of SelfAttention: dh [rows, d] from dout [rows, d], by the matmuls' transposes.
  Status SelfAttentionBackward(const Activations& in, const LayerTape& tape, const std::vector<float>& dout,
                               std::vector<float>& dh) const;

  // out = linear2(act(linear1(h))) over rows of h [rows, d]; `hidden`, when given, keeps linear1's output.
  Status FeedForward(const std::vector<float>& h, std::int64_t rows, std::vector<float>& out,
                     std::vector<float>* kept_hidden) const {
    Scratch hidden(static_cast<std::size_t>(rows * linear1_.out()));
    LOUPE_RETURN_IF_ERROR(linear1_.Forward(h.data(), rows, hidden.data(), p_.precision));
    if (kept_hidden != nullptr) *kept_hidden = *hidden;
    LOUPE_RETURN_IF_ERROR(
        nn::Activate(p_.activation, hidden.data(), static_cast<std::int64_t>(hidden->size())));
    out.resize(static_cast<std::size_t>(rows * p_.d));
    return linear2_.Forward(hidden.data(), rows, out.data(), p_.precision);
  }

  // The data gradient of FeedForward: dh [rows, d] from dout [rows, d] and the kept hidden layer.
  Status FeedForwardBackward(const std::vector<float>& hidden, std::int64_t rows,
                             const std::vector<float>& dout, std::vector<float>& dh) const {
    Scratch dhidden(hidden.size());
    LOUPE_RETURN_IF_ERROR(nn::DenseBackwardData(linear2_, dout.data(), rows, dhidden.data()));
    LOUPE_RETURN_IF_ERROR(nn::ActivateBackward(p_.activation, hidden.data(), dhidden.data(), dhidden.data(),
                                               static_cast<std::int64_t>(hidden.size())));
    dh.resize(static_cast<std::size_t>(rows * p_.d));
    return nn::DenseBackwardData(linear1_, dhidden.data(), rows, dh.data());
  }

  // dx [rows, d] from dy through a layer norm whose input was x.
  Status LayerNormRowsBackward(const std::vector<float>& x, std::int64_t rows, const Norm& norm,
                               const std::vector<float>& dy, std::vector<float>& dx) const {
    dx.resize(static_cast<std::size_t>(rows * p_.d));
    return nn::LayerNormBackward(x.data(), dy.data(), rows, p_.d, norm.gamma.data(), p_.eps, dx.data());
  }

  Status Run(const Activations& in, Activations& out, std::vector<float>* attention, const float* head_mask,
             LayerTape* tape) const {
    const std::int64_t rows = in.n * in.t;
    const auto size = static_cast<std::size_t>(rows * p_.d);
    Scratch x_buffer(size), h_buffer(size), sub_buffer(size);
    std::vector<float>& x = *x_buffer;
    std::vector<float>& h = *h_buffer;
    std::vector<float>& sub = *sub_buffer;
    std::copy_n(in.values.begin(), size, x.begin());
    std::vector<float>* hidden = tape != nullptr ? &tape->saved[kTapeHidden] : nullptr;
    if (p_.norm_first) {  // x + SA(LN1(x)), then x + FF(LN2(x))
      LOUPE_RETURN_IF_ERROR(LayerNormRows(x.data(), rows, norm1_, h.data()));
      LOUPE_RETURN_IF_ERROR(SelfAttention(h, in, sub, attention, head_mask, tape));
      for (std::size_t i = 0; i < size; ++i) x[i] += sub[i];
      if (tape != nullptr) tape->saved[kTapeNorm2In] = x;
      LOUPE_RETURN_IF_ERROR(LayerNormRows(x.data(), rows, norm2_, h.data()));
      LOUPE_RETURN_IF_ERROR(FeedForward(h, rows, sub, hidden));
      for (std::size_t i = 0; i < size; ++i) x[i] += sub[i];
    } else {  // LN1(x + SA(x)), then LN2(x + FF(x))
      LOUPE_RETURN_IF_ERROR(SelfAttention(x, in, sub, attention, head_mask, tape));
      for (std::size_t i = 0; i < size; ++i) h[i] = x[i] + sub[i];
      if (tape != nullptr) tape->saved[kTapeNorm1In] = h;
      LOUPE_RETURN_IF_ERROR(LayerNormRows(h.data(), rows, norm1_, x.data()));
      LOUPE_RETURN_IF_ERROR(FeedForward(x, rows, sub, hidden));
      for (std::size_t i = 0; i < size; ++i) h[i] = x[i] + sub[i];
      if (tape != nullptr) tape->saved[kTapeNorm2In] = h;
      LOUPE_RETURN_IF_ERROR(LayerNormRows(h.data(), rows, norm2_, x.data()));
    }
    out.lengths = in.lengths;
    out.n = in.n;  // not Resize: it would zero a buffer about to be swapped out
    out.t = in.t;
    out.width = p_.d;
    out.values.swap(x);  // out's previous buffer goes back to the pool
    return Status::Ok();
  }

  Parts p_;
  nn::DenseLayer in_proj_, out_proj_, linear1_, linear2_;
  Norm norm1_, norm2_;
};

// b[i] = a[i]^T for `batch` square [t, t] blocks: the transposed operand of a matmul's backward.
void TransposeSquareBlocks(const std::vector<float>& a, std::int64_t batch, std::int64_t t,
                           std::vector<float>& b) {
  b.resize(a.size());
  for (std::int64_t i = 0; i < batch; ++i) {
    const float* from = a.data() + i * t * t;
    float* to = b.data() + i * t * t;
    for (std::int64_t r = 0; r < t; ++r) {
      for (std::int64_t c = 0; c < t; ++c) to[c * t + r] = from[r * t + c];
    }
  }
}

// context = P · V and scores = scale · Q · K^T, so dP = dcontext · V^T, dV = P^T · dcontext, and after the
// softmax's backward dS: dQ = scale · dS · K, dK = scale · dS^T · Q. Masked keys have P = 0, hence dS = 0:
// no gradient reaches a padding step through them, and a padding query's dcontext is 0 (nothing after
// the pool reads it).
Status TransformerEncoder::SelfAttentionBackward(const Activations& in, const LayerTape& tape,
                                                 const std::vector<float>& dout,
                                                 std::vector<float>& dh) const {
  const std::int64_t n = in.n, t = in.t, d = p_.d, heads = p_.heads, hd = d / heads;
  const std::int64_t rows = n * t, batch = n * heads;
  const std::vector<float>& q = tape.saved[kTapeQ];
  const std::vector<float>& k = tape.saved[kTapeK];
  const std::vector<float>& v = tape.saved[kTapeV];
  const std::vector<float>& probs = tape.saved[kTapeProbs];
  Scratch dmerged(static_cast<std::size_t>(rows * d));
  LOUPE_RETURN_IF_ERROR(nn::DenseBackwardData(out_proj_, dout.data(), rows, dmerged.data()));
  Scratch dcontext(q.size());
  for (std::int64_t r = 0; r < n; ++r) {
    for (std::int64_t hh = 0; hh < heads; ++hh) {
      for (std::int64_t s = 0; s < t; ++s) {
        std::copy_n(dmerged.data() + (r * t + s) * d + hh * hd, hd,
                    dcontext.data() + ((r * heads + hh) * t + s) * hd);
      }
    }
  }
  Scratch dprobs(probs.size()), transposed_buffer(probs.size()), dq(q.size()), dk(k.size()), dv(v.size());
  std::vector<float>& transposed = *transposed_buffer;
  LOUPE_RETURN_IF_ERROR(nn::BatchedMatmul(dcontext.data(), v.data(), dprobs.data(), batch, t, hd, t, true));
  TransposeSquareBlocks(probs, batch, t, transposed);
  LOUPE_RETURN_IF_ERROR(
      nn::BatchedMatmul(transposed.data(), dcontext.data(), dv.data(), batch, t, t, hd, false));
  LOUPE_RETURN_IF_ERROR(nn::SoftmaxBackward(probs.data(), dprobs.data(), dprobs.data(), batch * t, t));
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  LOUPE_RETURN_IF_ERROR(nn::BatchedMatmul(dprobs.data(), k.data(), dq.data(), batch, t, t, hd, false, scale));
  TransposeSquareBlocks(*dprobs, batch, t, transposed);
  LOUPE_RETURN_IF_ERROR(
      nn::BatchedMatmul(transposed.data(), q.data(), dk.data(), batch, t, t, hd, false, scale));
  Scratch dqkv(static_cast<std::size_t>(rows * 3 * d));
  for (std::int64_t r = 0; r < n; ++r) {
    for (std::int64_t s = 0; s < t; ++s) {
      float* dst = dqkv.data() + (r * t + s) * 3 * d;
      for (std::int64_t hh = 0; hh < heads; ++hh) {
        const std::int64_t src = ((r * heads + hh) * t + s) * hd;
        std::copy_n(dq.data() + src, hd, dst + hh * hd);
        std::copy_n(dk.data() + src, hd, dst + d + hh * hd);
        std::copy_n(dv.data() + src, hd, dst + 2 * d + hh * hd);
      }
    }
  }
  dh.resize(static_cast<std::size_t>(rows * d));
  return nn::DenseBackwardData(in_proj_, dqkv.data(), rows, dh.data());
}

// The two arrangements of Run, backwards. Post-norm: y = LN2(x1 + FF(x1)), x1 = LN1(x + SA(x)).
// Pre-norm: y = x1 + FF(LN2(x1)), x1 = x + SA(LN1(x)).
Status TransformerEncoder::Backward(const Activations& in, const Activations& out, const LayerTape& tape,
                                    const std::vector<float>& dy, std::vector<float>& dx) const {
  (void)out;
  const std::int64_t rows = in.n * in.t;
  const auto size = static_cast<std::size_t>(rows * p_.d);
  Scratch a_buffer(size), b_buffer(size), dx1_buffer(size);
  std::vector<float>& a = *a_buffer;
  std::vector<float>& b = *b_buffer;
  std::vector<float>& dx1 = *dx1_buffer;
  if (p_.norm_first) {
    LOUPE_RETURN_IF_ERROR(FeedForwardBackward(tape.saved[kTapeHidden], rows, dy, a));
    LOUPE_RETURN_IF_ERROR(LayerNormRowsBackward(tape.saved[kTapeNorm2In], rows, norm2_, a, b));
    dx1.resize(size);
    for (std::size_t i = 0; i < size; ++i) dx1[i] = dy[i] + b[i];
    LOUPE_RETURN_IF_ERROR(SelfAttentionBackward(in, tape, dx1, a));
    Scratch x(size);
    std::copy_n(in.values.begin(), size, x->begin());
    LOUPE_RETURN_IF_ERROR(LayerNormRowsBackward(*x, rows, norm1_, a, b));
    dx.resize(size);
    for (std::size_t i = 0; i < size; ++i) dx[i] = dx1[i] + b[i];
    return Status::Ok();
  }
  Scratch dh2_buffer(size);
  std::vector<float>& dh2 = *dh2_buffer;
  LOUPE_RETURN_IF_ERROR(LayerNormRowsBackward(tape.saved[kTapeNorm2In], rows, norm2_, dy, dh2));
  LOUPE_RETURN_IF_ERROR(FeedForwardBackward(tape.saved[kTapeHidden], rows, dh2, a));
  dx1.resize(size);
  for (std::size_t i = 0; i < size; ++i) dx1[i] = dh2[i] + a[i];
  Scratch dh1_buffer(size);
  std::vector<float>& dh1 = *dh1_buffer;
  LOUPE_RETURN_IF_ERROR(LayerNormRowsBackward(tape.saved[kTapeNorm1In], rows, norm1_, dx1, dh1));
  LOUPE_RETURN_IF_ERROR(SelfAttentionBackward(in, tape, dh1, a));
  dx.resize(size);
  for (std::size_t i = 0; i < size; ++i) dx[i] = dh1[i] + a[i];
  return Status::Ok();
}

Result<nn::DenseLayer> Dense(const LayerContext& c, const std::string& prefix, std::int64_t out,
                             std::int64_t in) {
  LOUPE_ASSIGN_OR_RETURN(std::vector<float> weight, c.Weight(prefix + "weight", {out, in}));
  LOUPE_ASSIGN_OR_RETURN(std::vector<float> bias, c.Weight(prefix + "bias", {out}));
  return nn::DenseLayer(in, out, std::move(weight), std::move(bias));
}

Result<Norm> ReadNorm(const LayerContext& c, const std::string& prefix, std::int64_t d) {
  Norm norm;
  LOUPE_ASSIGN_OR_RETURN(norm.gamma, c.Weight(prefix + "weight", {d}));
  LOUPE_ASSIGN_OR_RETURN(norm.beta, c.Weight(prefix + "bias", {d}));
  return norm;
}

// ---------------------------------------------------------------------------------------------------------
// lstm
// ---------------------------------------------------------------------------------------------------------

class Lstm final : public Layer, public DifferentiableLayer {
 public:
  Lstm(std::vector<nn::LstmLayer> layers, std::int64_t width) : layers_(std::move(layers)), width_(width) {}

  ActivationShape output() const override { return SequenceShape(width_); }

  Status Forward(const Activations& in, Activations& out) const override {
    std::vector<float> x(in.values.begin(), in.values.begin() + in.n * in.t * in.width), y;
    for (const nn::LstmLayer& layer : layers_) {
      const std::int64_t width = layer.hidden_size() * (layer.bidirectional() ? 2 : 1);
      y.assign(static_cast<std::size_t>(in.n * in.t * width), 0.0f);
      LOUPE_RETURN_IF_ERROR(layer.Forward(x.data(), in.n, in.t, in.lengths.data(), y.data()));
      std::swap(x, y);
    }
    out.lengths = in.lengths;
    out.Resize(in.n, in.t, width_);
    out.values = std::move(x);
    return Status::Ok();
  }

  // The tape holds, per stacked layer l, its equations' tape (saved[2l]) and its output (saved[2l + 1]).
  Status ForwardTaped(const Activations& in, Activations& out, LayerTape& tape) const override {
    tape.saved.assign(2 * layers_.size(), {});
    const float* x = in.values.data();
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const nn::LstmLayer& layer = layers_[l];
      const std::int64_t width = layer.hidden_size() * (layer.bidirectional() ? 2 : 1);
      std::vector<float>& y = tape.saved[2 * l + 1];
      y.assign(static_cast<std::size_t>(in.n * in.t * width), 0.0f);
      LOUPE_RETURN_IF_ERROR(
          layer.ForwardTaped(x, in.n, in.t, in.lengths.data(), y.data(), tape.saved[2 * l]));
      x = y.data();
    }
    out.lengths = in.lengths;
    out.Resize(in.n, in.t, width_);
    out.values = tape.saved.back();
    return Status::Ok();
  }

  Status Backward(const Activations& in, const Activations& out, const LayerTape& tape,
                  const std::vector<float>& dy, std::vector<float>& dx) const override {
    (void)out;
    std::vector<float> gradient = dy;
    for (std::size_t l = layers_.size(); l-- > 0;) {
      const nn::LstmLayer& layer = layers_[l];
      const float* x = l == 0 ? in.values.data() : tape.saved[2 * l - 1].data();
      dx.assign(static_cast<std::size_t>(in.n * in.t * layer.input_size()), 0.0f);
      LOUPE_RETURN_IF_ERROR(layer.BackwardData(x, tape.saved[2 * l + 1].data(), in.n, in.t, in.lengths.data(),
                                               tape.saved[2 * l], gradient.data(), dx.data()));
      gradient.swap(dx);
    }
    dx = std::move(gradient);
    return Status::Ok();
  }

 private:
  std::vector<nn::LstmLayer> layers_;
  std::int64_t width_;
};

// ---------------------------------------------------------------------------------------------------------
// pool
// ---------------------------------------------------------------------------------------------------------

enum class PoolMode { kCls, kMean, kLast, kAttention };

class Pool final : public AttentionLayer, public DifferentiableLayer {
 public:
  Pool(PoolMode mode, std::int64_t width, std::vector<float> score_weight, float score_bias)
      : mode_(mode), width_(width), score_weight_(std::move(score_weight)), score_bias_(score_bias) {}

  ActivationShape output() const override {
    ActivationShape shape;
    shape.width = width_;
    return shape;
  }
  std::int64_t heads() const override { return 0; }

  Status Forward(const Activations& in, Activations& out) const override {
    std::vector<float> unused;
    return Run(in, out, mode_ == PoolMode::kAttention ? &unused : nullptr);
  }
  Status ForwardProbed(const Activations& in, Activations& out, std::vector<float>* attention,
                       const float* head_mask) const override {
    (void)head_mask;
    std::vector<float> unused;
    return Run(in, out, attention != nullptr ? attention : mode_ == PoolMode::kAttention ? &unused : nullptr);
  }
  bool records() const override { return mode_ == PoolMode::kAttention; }
  PoolMode mode() const { return mode_; }

  // The tape keeps attention pooling's weights [n, t].
  Status ForwardTaped(const Activations& in, Activations& out, LayerTape& tape) const override {
    tape.saved.assign(1, {});
    return Run(in, out, mode_ == PoolMode::kAttention ? &tape.saved[0] : nullptr);
  }

  // Each mode's pooling backwards, only ever onto a row's real steps. Attention pooling y = Σ_s a_s x_s
  // with a = softmax(x_s · w + b): dx_s = a_s dy + a_s (dy · x_s − Σ_u a_u dy · x_u) w.
  Status Backward(const Activations& in, const Activations& out, const LayerTape& tape,
                  const std::vector<float>& dy, std::vector<float>& dx) const override {
    (void)out;
    dx.assign(static_cast<std::size_t>(in.n * in.t * width_), 0.0f);
    for (std::int64_t r = 0; r < in.n; ++r) {
      const std::int64_t length = in.lengths[static_cast<std::size_t>(r)];
      const float* g = dy.data() + r * width_;
      float* d = dx.data() + r * in.t * width_;
      switch (mode_) {
        case PoolMode::kCls:
          std::copy(g, g + width_, d);
          break;
        case PoolMode::kLast:
          std::copy(g, g + width_, d + (length - 1) * width_);
          break;
        case PoolMode::kMean:
          for (std::int64_t s = 0; s < length; ++s) {
            for (std::int64_t j = 0; j < width_; ++j) d[s * width_ + j] = g[j] / static_cast<float>(length);
          }
          break;
        case PoolMode::kAttention:
          PoolAttentionBackward(in.values.data() + r * in.t * width_, tape.saved[0].data() + r * in.t, length,
                                g, d);
          break;
      }
    }
    return Status::Ok();
  }

 private:
  Status Run(const Activations& in, Activations& out, std::vector<float>* weights) const {
    out.lengths.clear();
    out.Resize(in.n, 0, width_);
    if (weights != nullptr) weights->assign(static_cast<std::size_t>(in.n * in.t), 0.0f);
    for (std::int64_t r = 0; r < in.n; ++r) {
      const std::int64_t length = in.lengths[static_cast<std::size_t>(r)];
      const float* x = in.values.data() + r * in.t * width_;
      float* y = out.values.data() + r * width_;
      switch (mode_) {
        case PoolMode::kCls:
          std::copy(x, x + width_, y);
          break;
        case PoolMode::kLast:
          std::copy(x + (length - 1) * width_, x + length * width_, y);
          break;
        case PoolMode::kMean:
          for (std::int64_t s = 0; s < length; ++s) {
            for (std::int64_t j = 0; j < width_; ++j) y[j] += x[s * width_ + j];
          }
          for (std::int64_t j = 0; j < width_; ++j) y[j] /= static_cast<float>(length);
          break;
        case PoolMode::kAttention: {
          std::vector<float> scores(static_cast<std::size_t>(length));
          LOUPE_RETURN_IF_ERROR(
              nn::BatchedMatmul(x, score_weight_.data(), scores.data(), 1, length, width_, 1, true));
          for (float& s : scores) s += score_bias_;
          LOUPE_RETURN_IF_ERROR(nn::Softmax(scores.data(), 1, length));
          for (std::int64_t s = 0; s < length; ++s) {
            const float w = scores[static_cast<std::size_t>(s)];
            for (std::int64_t j = 0; j < width_; ++j) y[j] += w * x[s * width_ + j];
          }
          std::copy(scores.begin(), scores.end(), weights->begin() + r * in.t);
          break;
        }
      }
    }
    return Status::Ok();
  }

  // One row of attention pooling's backward (see Backward): x [length, width], weights a [length].
  void PoolAttentionBackward(const float* x, const float* a, std::int64_t length, const float* dy,
                             float* dx) const {
    std::vector<double> da(static_cast<std::size_t>(length));
    double mean = 0;
    for (std::int64_t s = 0; s < length; ++s) {
      double dot = 0;
      for (std::int64_t j = 0; j < width_; ++j) dot += static_cast<double>(dy[j]) * x[s * width_ + j];
      da[static_cast<std::size_t>(s)] = dot;
      mean += a[s] * dot;
    }
    for (std::int64_t s = 0; s < length; ++s) {
      const double dscore = a[s] * (da[static_cast<std::size_t>(s)] - mean);
      for (std::int64_t j = 0; j < width_; ++j) {
        dx[s * width_ + j] = static_cast<float>(a[s] * static_cast<double>(dy[j]) +
                                                dscore * score_weight_[static_cast<std::size_t>(j)]);
      }
    }
  }

  PoolMode mode_;
  std::int64_t width_;
  std::vector<float> score_weight_;  // attention: [1, width]
  float score_bias_;
};

}  // namespace

const DifferentiableLayer* AsDifferentiable(const Layer& layer) {
  return dynamic_cast<const DifferentiableLayer*>(&layer);
}

const std::vector<float>* EmbeddingTable(const Layer& layer, std::int64_t& width) {
  const auto* embedding = dynamic_cast<const Embedding*>(&layer);
  if (embedding == nullptr) return nullptr;
  width = embedding->dim();
  return &embedding->table();
}

const char* SequenceLayerKind(const Layer& layer) {
  if (dynamic_cast<const TransformerEncoder*>(&layer) != nullptr) return "transformer_encoder";
  if (dynamic_cast<const Lstm*>(&layer) != nullptr) return "lstm";
  return nullptr;
}

bool PoolingOf(const Layer& layer, Pooling& pooling) {
  const auto* pool = dynamic_cast<const Pool*>(&layer);
  if (pool == nullptr) return false;
  switch (pool->mode()) {
    case PoolMode::kCls:
      pooling = Pooling::kCls;
      break;
    case PoolMode::kMean:
      pooling = Pooling::kMean;
      break;
    case PoolMode::kLast:
      pooling = Pooling::kLast;
      break;
    case PoolMode::kAttention:
      pooling = Pooling::kAttention;
      break;
  }
  return true;
}

Result<std::unique_ptr<Layer>> MakeEmbedding(const LayerContext& c) {
  LOUPE_RETURN_IF_ERROR(c.CheckKeys({}));
  LOUPE_RETURN_IF_ERROR(ExpectSequence(c, true));
  LOUPE_ASSIGN_OR_RETURN(const Shape shape, c.WeightShape("weight"));
  if (shape.size() != 2 || shape[0] < 1 || shape[1] < 1) {
    return c.Error("name", "weight has shape " + ShapeToString(shape) + ", expected [vocab, dim].");
  }
  LOUPE_ASSIGN_OR_RETURN(std::vector<float> table, c.Weight("weight", shape));
  return std::unique_ptr<Layer>(std::make_unique<Embedding>(shape[0], shape[1], std::move(table)));
}

Result<std::unique_ptr<Layer>> MakePositionalEmbedding(const LayerContext& c) {
  LOUPE_RETURN_IF_ERROR(c.CheckKeys({}));
  LOUPE_RETURN_IF_ERROR(ExpectSequence(c, false));
  const std::int64_t dim = c.input().width;
  LOUPE_ASSIGN_OR_RETURN(const Shape shape, c.WeightShape("weight"));
  if (shape.size() != 2 || shape[0] < 1 || shape[1] != dim) {
    return c.Error("name", "weight has shape " + ShapeToString(shape) + ", expected [max_len, " +
                               std::to_string(dim) + "].");
  }
  LOUPE_ASSIGN_OR_RETURN(std::vector<float> table, c.Weight("weight", shape));
  return std::unique_ptr<Layer>(std::make_unique<PositionalEmbedding>(shape[0], dim, std::move(table)));
}

Result<std::unique_ptr<Layer>> MakeTransformerEncoder(const LayerContext& c) {
  LOUPE_RETURN_IF_ERROR(c.CheckKeys({"nhead", "norm_first", "activation", "layer_norm_eps"}));
  LOUPE_RETURN_IF_ERROR(ExpectSequence(c, false));
  TransformerEncoder::Parts p;
  p.d = c.input().width;
  p.precision = c.precision();
  LOUPE_ASSIGN_OR_RETURN(p.heads, PositiveInt(c, "nhead", 0));
  if (p.d % p.heads != 0) {
    return c.Error("nhead", "d_model " + std::to_string(p.d) + " is not divisible by nhead " +
                                std::to_string(p.heads) + ".");
  }
  LOUPE_ASSIGN_OR_RETURN(p.norm_first, c.Bool("norm_first", false));
  LOUPE_ASSIGN_OR_RETURN(const std::string activation, c.String("activation", "relu"));
  if (activation == "gelu") {
    p.activation = nn::Activation::kGeluErf;
  } else if (activation != "relu") {
    return c.Error("activation", "activation must be relu or gelu, found '" + activation + "'.");
  }
  LOUPE_ASSIGN_OR_RETURN(const double eps, c.Number("layer_norm_eps", 1e-5));
  p.eps = static_cast<float>(eps);
  const std::int64_t d = p.d;
  LOUPE_ASSIGN_OR_RETURN(const Shape ff, c.WeightShape("linear1.weight"));
  const std::int64_t dim_ff = ff.size() == 2 ? ff[0] : -1;
  if (dim_ff < 1) {
    return c.Error("name", "linear1.weight has shape " + ShapeToString(ff) + ", expected [dim_feedforward, " +
                               std::to_string(d) + "].");
  }
  LOUPE_ASSIGN_OR_RETURN(nn::DenseLayer in_proj, Dense(c, "self_attn.in_proj_", 3 * d, d));
  LOUPE_ASSIGN_OR_RETURN(nn::DenseLayer out_proj, Dense(c, "self_attn.out_proj.", d, d));
  LOUPE_ASSIGN_OR_RETURN(nn::DenseLayer linear1, Dense(c, "linear1.", dim_ff, d));
  LOUPE_ASSIGN_OR_RETURN(nn::DenseLayer linear2, Dense(c, "linear2.", d, dim_ff));
  LOUPE_ASSIGN_OR_RETURN(Norm norm1, ReadNorm(c, "norm1.", d));
  LOUPE_ASSIGN_OR_RETURN(Norm norm2, ReadNorm(c, "norm2.", d));
  return std::unique_ptr<Layer>(
      std::make_unique<TransformerEncoder>(p, std::move(in_proj), std::move(out_proj), std::move(linear1),
                                           std::move(linear2), std::move(norm1), std::move(norm2)));
}

Result<std::unique_ptr<Layer>> MakeLstm(const LayerContext& c) {
  LOUPE_RETURN_IF_ERROR(c.CheckKeys({"num_layers", "bidirectional", "batch_first", "hidden_size"}));
  LOUPE_RETURN_IF_ERROR(ExpectSequence(c, false));
  LOUPE_ASSIGN_OR_RETURN(const std::int64_t num_layers, PositiveInt(c, "num_layers", 1));
  LOUPE_ASSIGN_OR_RETURN(const bool bidirectional, c.Bool("bidirectional", false));
  LOUPE_ASSIGN_OR_RETURN(const bool batch_first, c.Bool("batch_first", true));
  (void)batch_first;  // PyTorch's batch_first changes only the layout of its inputs, never the weights
  LOUPE_ASSIGN_OR_RETURN(const Shape hh, c.WeightShape("weight_hh_l0"));
  if (hh.size() != 2 || hh[0] != 4 * hh[1] || hh[1] < 1) {
    return c.Error(
        "name", "weight_hh_l0 has shape " + ShapeToString(hh) + ", expected [4 * hidden_size, hidden_size].");
  }
  const std::int64_t hidden = hh[1];
  if (c.Has("hidden_size")) {
    LOUPE_ASSIGN_OR_RETURN(const std::int64_t declared, PositiveInt(c, "hidden_size", 1));
    if (declared != hidden) {
      return c.Error("hidden_size", "hidden_size is " + std::to_string(declared) +
                                        " but weight_hh_l0 has shape " + ShapeToString(hh) + ".");
    }
  }
  const std::int64_t directions = bidirectional ? 2 : 1;
  std::vector<nn::LstmLayer> layers;
  std::int64_t input = c.input().width;
  for (std::int64_t l = 0; l < num_layers; ++l) {
    std::vector<nn::LstmDirection> dirs;
    for (std::int64_t dir = 0; dir < directions; ++dir) {
      const std::string suffix = "_l" + std::to_string(l) + (dir == 1 ? "_reverse" : "");
      nn::LstmDirection weights;
      LOUPE_ASSIGN_OR_RETURN(weights.weight_ih, c.Weight("weight_ih" + suffix, {4 * hidden, input}));
      LOUPE_ASSIGN_OR_RETURN(weights.weight_hh, c.Weight("weight_hh" + suffix, {4 * hidden, hidden}));
      LOUPE_ASSIGN_OR_RETURN(weights.bias_ih, c.Weight("bias_ih" + suffix, {4 * hidden}));
      LOUPE_ASSIGN_OR_RETURN(weights.bias_hh, c.Weight("bias_hh" + suffix, {4 * hidden}));
      dirs.push_back(std::move(weights));
    }
    layers.emplace_back(input, hidden, std::move(dirs));
    input = hidden * directions;
  }
  return std::unique_ptr<Layer>(std::make_unique<Lstm>(std::move(layers), input));
}

Result<std::unique_ptr<Layer>> MakePool(const LayerContext& c) {
  LOUPE_RETURN_IF_ERROR(c.CheckKeys({"mode"}));
  LOUPE_RETURN_IF_ERROR(ExpectSequence(c, false));
  LOUPE_ASSIGN_OR_RETURN(const std::string mode, c.String("mode", ""));
  const std::int64_t width = c.input().width;
  if (mode == "cls")
    return std::unique_ptr<Layer>(std::make_unique<Pool>(PoolMode::kCls, width, std::vector<float>{}, 0.0f));
  if (mode == "mean")
    return std::unique_ptr<Layer>(std::make_unique<Pool>(PoolMode::kMean, width, std::vector<float>{}, 0.0f));
  if (mode == "last")
    return std::unique_ptr<Layer>(std::make_unique<Pool>(PoolMode::kLast, width, std::vector<float>{}, 0.0f));
  if (mode != "attention") {
    return c.Error("mode", "mode must be cls, mean, last or attention, found '" + mode + "'.");
  }
  LOUPE_ASSIGN_OR_RETURN(std::vector<float> weight, c.Weight("weight", {1, width}));
  float bias = 0.0f;
  if (c.HasWeight("bias")) {
    LOUPE_ASSIGN_OR_RETURN(const std::vector<float> b, c.Weight("bias", {1}));
    bias = b[0];
  }
  return std::unique_ptr<Layer>(std::make_unique<Pool>(PoolMode::kAttention, width, std::move(weight), bias));
}

std::unique_ptr<AttentionLayer> MakeTransformerEncoderLayer(const TransformerEncoderParts& parts,
                                                            TransformerEncoderWeights weights) {
  TransformerEncoder::Parts p;
  p.d = parts.d;
  p.heads = parts.heads;
  p.norm_first = parts.norm_first;
  p.activation = parts.activation;
  p.eps = parts.eps;
  p.precision = parts.precision;
  return std::make_unique<TransformerEncoder>(
      p, std::move(weights.in_proj), std::move(weights.out_proj), std::move(weights.linear1),
      std::move(weights.linear2), Norm{std::move(weights.norm1_gamma), std::move(weights.norm1_beta)},
      Norm{std::move(weights.norm2_gamma), std::move(weights.norm2_beta)});
}

std::unique_ptr<Layer> MakeClsPool(std::int64_t width) {
  return std::make_unique<Pool>(PoolMode::kCls, width, std::vector<float>{}, 0.0f);
}

void RegisterTextKinds(KindRegistry& registry) {
  registry.AddLayer("embedding", &MakeEmbedding);
  registry.AddLayer("positional_embedding", &MakePositionalEmbedding);
  registry.AddLayer("transformer_encoder", &MakeTransformerEncoder);
  registry.AddLayer("lstm", &MakeLstm);
  registry.AddLayer("pool", &MakePool);
}

}  // namespace loupe::model
