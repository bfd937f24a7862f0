// LstmLayer on oneDNN's LSTM primitive (see ops.hpp).
//
// oneDNN orders the gates i, f, c̃, o — PyTorch's i, f, g, o — so PyTorch's weight_ih [4H, in] is oneDNN's
// `ldgoi` layout as it stands and only the layout oneDNN prefers needs a reorder. oneDNN has no sequence
// lengths, so rows are run in groups of equal length on the valid steps only: the forward direction then
// stops at a row's last real step and the reverse direction starts there, as PyTorch's packed sequences.
#include <algorithm>
#include <map>
#include <mutex>

#include "nn/ops.hpp"
#include "nn/runtime.hpp"

namespace loupe::nn {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct LstmLayer::Prepared {
  // PyTorch's weights with the directions stacked: ldgoi for the two weights, ldgo for the summed biases.
  std::vector<float> weights_layer, weights_iter, bias;
  std::mutex mutex;
  struct Reordered {
    dnnl::memory::desc layer_desc, iter_desc;
    dnnl::memory layer, iter;
  };
  std::vector<Reordered> reordered;
  // Per direction, the gate projections the gradient path runs (lstm_backward.cpp).
  std::vector<DenseLayer> input_gates, hidden_gates;

  std::pair<dnnl::memory, dnnl::memory> WeightsFor(const detail::CachedPrimitive& primitive, std::int64_t in,
                                                   std::int64_t hidden, std::int64_t dirs) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const Reordered& r : reordered) {
      if (r.layer_desc == primitive.weights && r.iter_desc == primitive.weights_iter)
        return {r.layer, r.iter};
    }
    Reordered r{primitive.weights, primitive.weights_iter,
                Reorder({1, dirs, in, 4, hidden}, weights_layer, primitive.weights),
                Reorder({1, dirs, hidden, 4, hidden}, weights_iter, primitive.weights_iter)};
    reordered.push_back(r);
    return {r.layer, r.iter};
  }

  static dnnl::memory Reorder(const dnnl::memory::dims& dims, const std::vector<float>& data,
                              const dnnl::memory::desc& layout) {
    const dnnl::memory::desc user(dims, dt::f32, tag::ldgoi);
    dnnl::memory out(layout, detail::Engine());
    const dnnl::reorder::primitive_desc pd(detail::Engine(), user, detail::Engine(), layout,
                                           detail::UserScratchpadAttr());
    detail::Execute(dnnl::reorder(pd), pd.scratchpad_desc(),
                    {{DNNL_ARG_FROM, detail::Wrap(user, data.data())}, {DNNL_ARG_TO, out}});
    return out;
  }
};

LstmLayer::LstmLayer(std::int64_t input_size, std::int64_t hidden_size, std::vector<LstmDirection> directions)
    : input_size_(input_size),
      hidden_size_(hidden_size),
      directions_(std::move(directions)),
      prepared_(std::make_unique<Prepared>()) {
  for (const LstmDirection& d : directions_) {
    prepared_->weights_layer.insert(prepared_->weights_layer.end(), d.weight_ih.begin(), d.weight_ih.end());
    prepared_->weights_iter.insert(prepared_->weights_iter.end(), d.weight_hh.begin(), d.weight_hh.end());
    for (std::size_t i = 0; i < static_cast<std::size_t>(4 * hidden_size_); ++i) {
      const float ih = i < d.bias_ih.size() ? d.bias_ih[i] : 0.0f;
      const float hh = i < d.bias_hh.size() ? d.bias_hh[i] : 0.0f;
      prepared_->bias.push_back(ih + hh);  // the two biases are always added together
    }
    const auto gates = static_cast<std::size_t>(4 * hidden_size_);
    prepared_->input_gates.emplace_back(
        input_size_, 4 * hidden_size_, d.weight_ih,
        std::vector<float>(prepared_->bias.end() - static_cast<std::ptrdiff_t>(gates),
                           prepared_->bias.end()));
    prepared_->hidden_gates.emplace_back(hidden_size_, 4 * hidden_size_, d.weight_hh, std::vector<float>{});
  }
}
const DenseLayer& LstmLayer::input_gates(std::size_t direction) const {
  return prepared_->input_gates[direction];
}
const DenseLayer& LstmLayer::hidden_gates(std::size_t direction) const {
  return prepared_->hidden_gates[direction];
}
LstmLayer::~LstmLayer() = default;
LstmLayer::LstmLayer(LstmLayer&&) noexcept = default;
LstmLayer& LstmLayer::operator=(LstmLayer&&) noexcept = default;

namespace {

Status CheckDirections(const std::vector<LstmDirection>& directions, std::int64_t in, std::int64_t hidden) {
  if (directions.empty() || directions.size() > 2) {
    return InvalidArgument("an LSTM layer has 1 or 2 directions, found " + std::to_string(directions.size()) +
                           ".");
  }
  const auto gates = static_cast<std::size_t>(4 * hidden);
  for (std::size_t d = 0; d < directions.size(); ++d) {
    const LstmDirection& w = directions[d];
    const bool ok = w.weight_ih.size() == gates * static_cast<std::size_t>(in) &&
                    w.weight_hh.size() == gates * static_cast<std::size_t>(hidden) &&
                    (w.bias_ih.empty() || w.bias_ih.size() == gates) &&
                    (w.bias_hh.empty() || w.bias_hh.size() == gates);
    if (!ok) {
      return InvalidArgument("LSTM direction " + std::to_string(d) + " expects weight_ih [" +
                             std::to_string(gates) + ", " + std::to_string(in) + "], weight_hh [" +
                             std::to_string(gates) + ", " + std::to_string(hidden) + "] and biases [" +
                             std::to_string(gates) + "], found " + std::to_string(w.weight_ih.size()) + ", " +
                             std::to_string(w.weight_hh.size()) + ", " + std::to_string(w.bias_ih.size()) +
                             " and " + std::to_string(w.bias_hh.size()) + " values.");
    }
  }
  return Status::Ok();
}

detail::CachedPrimitive MakeLstm(std::int64_t steps, std::int64_t rows, std::int64_t in, std::int64_t hidden,
                                 std::int64_t dirs) {
  const dnnl::memory::desc src({steps, rows, in}, dt::f32, tag::tnc);
  const dnnl::memory::desc dst({steps, rows, dirs * hidden}, dt::f32, tag::tnc);
  // format_tag::any lets oneDNN pick its fast (brgemm) layout; plain ldigo selects the reference kernel.
  const dnnl::memory::desc weights_layer({1, dirs, in, 4, hidden}, dt::f32, tag::any);
  const dnnl::memory::desc weights_iter({1, dirs, hidden, 4, hidden}, dt::f32, tag::any);
  const dnnl::memory::desc bias({1, dirs, 4, hidden}, dt::f32, tag::ldgo);
  const auto direction =
      dirs == 2 ? dnnl::rnn_direction::bidirectional_concat : dnnl::rnn_direction::unidirectional_left2right;
  // Zero descriptors for the states: initial h and c are zero, final states are not needed.
  const dnnl::lstm_forward::desc desc(dnnl::prop_kind::forward_inference, direction, src,
                                      dnnl::memory::desc(), dnnl::memory::desc(), weights_layer, weights_iter,
                                      bias, dst, dnnl::memory::desc(), dnnl::memory::desc());
  const dnnl::lstm_forward::primitive_desc pd(desc, detail::UserScratchpadAttr(), detail::Engine());
  return {dnnl::lstm_forward(pd), pd.scratchpad_desc(), pd.weights_layer_desc(), pd.weights_iter_desc(),
          pd.impl_info_str()};
}

}  // namespace

Status LstmLayer::Forward(const float* x, std::int64_t n, std::int64_t t, const std::int64_t* lengths,
                          float* y) const {
  LOUPE_RETURN_IF_ERROR(CheckDirections(directions_, input_size_, hidden_size_));
  const auto dirs = static_cast<std::int64_t>(directions_.size());
  const std::int64_t in = input_size_, out_width = dirs * hidden_size_;
  std::map<std::int64_t, std::vector<std::int64_t>> groups;  // length → rows
  for (std::int64_t row = 0; row < n; ++row) {
    const std::int64_t length = lengths == nullptr ? t : lengths[row];
    if (length < 0 || length > t) {
      return InvalidArgument("LSTM row " + std::to_string(row) + " has length " + std::to_string(length) +
                             ", expected 0 to " + std::to_string(t) + ".");
    }
    if (length > 0) groups[length].push_back(row);
  }
  std::fill(y, y + n * t * out_width, 0.0f);  // padding steps (and empty rows) output zeros
  std::string shape = "[";
  shape += std::to_string(n) + ", " + std::to_string(t) + ", " + std::to_string(in) + "]";
  shape.append(" hidden ").append(std::to_string(hidden_size_)).append(dirs == 2 ? " bidirectional" : "");
  return detail::Guard("LSTM layer " + shape, [&] {
    thread_local std::vector<float> src, dst;
    for (const auto& [steps, rows] : groups) {
      const auto g = static_cast<std::int64_t>(rows.size());
      src.resize(static_cast<std::size_t>(steps * g * in));
      dst.resize(static_cast<std::size_t>(steps * g * out_width));
      for (std::int64_t s = 0; s < steps; ++s) {
        for (std::int64_t j = 0; j < g; ++j) {
          const float* from = x + (rows[static_cast<std::size_t>(j)] * t + s) * in;
          std::copy(from, from + in, src.data() + (s * g + j) * in);
        }
      }
      // `steps = steps`: clang 14 (the fuzz build) cannot capture a structured binding by reference.
      const auto primitive = detail::PrimitiveCache::Instance().Get(
          "lstm:" + std::to_string(steps) + ":" + std::to_string(g) + ":" + std::to_string(in) + ":" +
              std::to_string(hidden_size_) + ":" + std::to_string(dirs),
          [&, steps = steps] { return MakeLstm(steps, g, in, hidden_size_, dirs); });
      const auto [weights_layer, weights_iter] = prepared_->WeightsFor(*primitive, in, hidden_size_, dirs);
      const dnnl::memory::desc src_desc({steps, g, in}, dt::f32, tag::tnc);
      const dnnl::memory::desc dst_desc({steps, g, out_width}, dt::f32, tag::tnc);
      const dnnl::memory::desc bias_desc({1, dirs, 4, hidden_size_}, dt::f32, tag::ldgo);
      detail::Execute(primitive->primitive, primitive->scratchpad,
                      {{DNNL_ARG_SRC_LAYER, detail::Wrap(src_desc, src.data())},
                       {DNNL_ARG_WEIGHTS_LAYER, weights_layer},
                       {DNNL_ARG_WEIGHTS_ITER, weights_iter},
                       {DNNL_ARG_BIAS, detail::Wrap(bias_desc, prepared_->bias.data())},
                       {DNNL_ARG_DST_LAYER, detail::Wrap(dst_desc, dst.data())}});
      for (std::int64_t s = 0; s < steps; ++s) {
        for (std::int64_t j = 0; j < g; ++j) {
          const float* from = dst.data() + (s * g + j) * out_width;
          std::copy(from, from + out_width, y + (rows[static_cast<std::size_t>(j)] * t + s) * out_width);
        }
      }
    }
  });
}

}  // namespace loupe::nn
