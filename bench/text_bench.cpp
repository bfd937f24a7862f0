// Predict throughput of the transformer text classifier (tests/fixtures/text/transformer.yaml: 2 encoder
// layers, d_model 32, 2 heads, feed-forward 64) over batch × sequence length, f32 on oneDNN, as texts/s
// and GFLOP/s, against a naive C++ reference of the same layers (plain loops, one text at a time) measured
// in the same run. The reference's probabilities are checked against Loupe's first, so the ratio compares
// two implementations of the same function. Timings on shared 2-core machines vary: compare ratios.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "loupe/core/attention.hpp"
#include "loupe/core/model.hpp"
#include "model/safetensors.hpp"

namespace {

const std::filesystem::path kFixtures = std::filesystem::path(LOUPE_SOURCE_DIR) / "tests/fixtures/text";
constexpr int kD = 32, kHeads = 2, kFf = 64, kLayers = 2;

double SecondsPerCall(const std::function<void()>& run, double budget = 0.3) {
  run();  // warm-up: primitive creation happens here
  int calls = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    run();
    ++calls;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < budget);
  return elapsed / calls;
}

// The transformer computed with plain loops, one text at a time, no padding.
class NaiveTransformer {
 public:
  explicit NaiveTransformer(const loupe::model::SafetensorsFile& w) {
    auto get = [&](const std::string& name) { return w.Floats(name).value(); };
    tok_ = get("tok.weight");
    pos_ = get("pos.weight");
    for (int l = 0; l < kLayers; ++l) {
      const std::string p = "layers." + std::to_string(l) + ".";
      layers_.push_back({get(p + "self_attn.in_proj_weight"), get(p + "self_attn.in_proj_bias"),
                         get(p + "self_attn.out_proj.weight"), get(p + "self_attn.out_proj.bias"),
                         get(p + "linear1.weight"), get(p + "linear1.bias"), get(p + "linear2.weight"),
                         get(p + "linear2.bias"), get(p + "norm1.weight"), get(p + "norm1.bias"),
                         get(p + "norm2.weight"), get(p + "norm2.bias")});
    }
    norm_w_ = get("norm.weight");
    norm_b_ = get("norm.bias");
    head1_w_ = get("head1.weight");
    head1_b_ = get("head1.bias");
    head2_w_ = get("head2.weight");
    head2_b_ = get("head2.bias");
    classes_ = static_cast<int>(head2_b_.size());
  }

  int classes() const { return classes_; }

  // Class probabilities of one tokenized text.
  void Predict(const std::vector<std::int64_t>& ids, float* out) const {
    const int t = static_cast<int>(ids.size());
    std::vector<float> x(static_cast<std::size_t>(t) * kD), h(x.size()), a(x.size());
    for (int i = 0; i < t; ++i) {
      for (int c = 0; c < kD; ++c) x[i * kD + c] = tok_[ids[i] * kD + c] + pos_[i * kD + c];
    }
    for (int l = 0; l < kLayers; ++l) {
      const Layer& L = layers_[static_cast<std::size_t>(l)];
      const bool norm_first = l == 1;  // as transformer.yaml: layer 0 post-norm relu, layer 1 pre-norm gelu
      if (norm_first) {
        LayerNorm(x, t, L.n1w, L.n1b, h);
        Attention(L, h, t, a);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] += a[i];
        LayerNorm(x, t, L.n2w, L.n2b, h);
        FeedForward(L, h, t, /*gelu=*/true, a);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] += a[i];
      } else {
        Attention(L, x, t, a);
        for (std::size_t i = 0; i < x.size(); ++i) a[i] += x[i];
        LayerNorm(a, t, L.n1w, L.n1b, x);
        FeedForward(L, x, t, /*gelu=*/false, a);
        for (std::size_t i = 0; i < x.size(); ++i) a[i] += x[i];
        LayerNorm(a, t, L.n2w, L.n2b, x);
      }
    }
    std::vector<float> pooled(kD, 0.0f), normed(kD), hidden(kD);
    for (int i = 0; i < t; ++i)
      for (int c = 0; c < kD; ++c) pooled[c] += x[i * kD + c] / static_cast<float>(t);
    LayerNorm(pooled, 1, norm_w_, norm_b_, normed);
    Linear(head1_w_, head1_b_, normed.data(), kD, kD, hidden.data());
    for (float& v : hidden) v = std::tanh(v);
    std::vector<float> logits(static_cast<std::size_t>(classes_));
    Linear(head2_w_, head2_b_, hidden.data(), kD, classes_, logits.data());
    const float max = *std::max_element(logits.begin(), logits.end());
    float sum = 0;
    for (float& v : logits) sum += (v = std::exp(v - max));
    for (int k = 0; k < classes_; ++k) out[k] = logits[static_cast<std::size_t>(k)] / sum;
  }

 private:
  struct Layer {
    std::vector<float> in_w, in_b, out_w, out_b, l1w, l1b, l2w, l2b, n1w, n1b, n2w, n2b;
  };

  static void Linear(const std::vector<float>& w, const std::vector<float>& b, const float* in, int n_in,
                     int n_out, float* out) {
    for (int o = 0; o < n_out; ++o) {
      float s = b[static_cast<std::size_t>(o)];
      for (int i = 0; i < n_in; ++i) s += w[static_cast<std::size_t>(o) * n_in + i] * in[i];
      out[o] = s;
    }
  }

  static void LayerNorm(const std::vector<float>& in, int t, const std::vector<float>& w,
                        const std::vector<float>& b, std::vector<float>& out) {
    for (int i = 0; i < t; ++i) {
      float mean = 0, var = 0;
      for (int c = 0; c < kD; ++c) mean += in[i * kD + c] / kD;
      for (int c = 0; c < kD; ++c) var += (in[i * kD + c] - mean) * (in[i * kD + c] - mean) / kD;
      for (int c = 0; c < kD; ++c)
        out[i * kD + c] = (in[i * kD + c] - mean) / std::sqrt(var + 1e-5f) * w[c] + b[c];
    }
  }

  static void Attention(const Layer& L, const std::vector<float>& x, int t, std::vector<float>& out) {
    constexpr int kHd = kD / kHeads;
    std::vector<float> qkv(static_cast<std::size_t>(t) * 3 * kD), ctx(static_cast<std::size_t>(t) * kD),
        scores(static_cast<std::size_t>(t));
    for (int i = 0; i < t; ++i) Linear(L.in_w, L.in_b, &x[i * kD], kD, 3 * kD, &qkv[i * 3 * kD]);
    const float scale = 1.0f / std::sqrt(static_cast<float>(kHd));
    for (int h = 0; h < kHeads; ++h) {
      for (int q = 0; q < t; ++q) {
        float max = -INFINITY;
        for (int k = 0; k < t; ++k) {
          float s = 0;
          for (int c = 0; c < kHd; ++c)
            s += qkv[q * 3 * kD + h * kHd + c] * qkv[k * 3 * kD + kD + h * kHd + c];
          scores[k] = s * scale;
          max = std::max(max, scores[k]);
        }
        float sum = 0;
        for (int k = 0; k < t; ++k) sum += (scores[k] = std::exp(scores[k] - max));
        for (int c = 0; c < kHd; ++c) {
          float v = 0;
          for (int k = 0; k < t; ++k) v += scores[k] / sum * qkv[k * 3 * kD + 2 * kD + h * kHd + c];
          ctx[q * kD + h * kHd + c] = v;
        }
      }
    }
    for (int i = 0; i < t; ++i) Linear(L.out_w, L.out_b, &ctx[i * kD], kD, kD, &out[i * kD]);
  }

  static void FeedForward(const Layer& L, const std::vector<float>& x, int t, bool gelu,
                          std::vector<float>& out) {
    std::vector<float> hidden(kFf);
    for (int i = 0; i < t; ++i) {
      Linear(L.l1w, L.l1b, &x[i * kD], kD, kFf, hidden.data());
      for (float& v : hidden) {
        v = gelu ? 0.5f * v * (1.0f + std::erf(v / std::sqrt(2.0f))) : std::max(v, 0.0f);
      }
      Linear(L.l2w, L.l2b, hidden.data(), kFf, kD, &out[i * kD]);
    }
  }

  std::vector<float> tok_, pos_, norm_w_, norm_b_, head1_w_, head1_b_, head2_w_, head2_b_;
  std::vector<Layer> layers_;
  int classes_ = 0;
};

// FLOPs of one text of t tokens (multiply-adds count 2): projections, attention and feed-forward per layer,
// then the head.
double Flops(int t) {
  const double per_layer =
      2.0 * t * kD * 3 * kD + 2.0 * 2 * t * t * kD + 2.0 * t * kD * kD + 2.0 * 2 * t * kD * kFf;
  return kLayers * per_layer + 2.0 * kD * kD + 2.0 * kD * 8;
}

// `count` texts of words-only vocabulary entries, each tokenizing to exactly `tokens` tokens.
std::vector<std::string> MakeTexts(const std::vector<std::string>& words, int count, int tokens) {
  std::vector<std::string> texts;
  for (int r = 0; r < count; ++r) {
    std::string text;
    for (int w = 0; w < tokens - 2; ++w) {
      text += (w ? " " : "") + words[static_cast<std::size_t>(r * 131 + w * 17) % words.size()];
    }
    texts.push_back(text);
  }
  return texts;
}

}  // namespace

int main() {
  auto model = loupe::LoadModel(kFixtures / "transformer.yaml");
  auto weights = loupe::model::SafetensorsFile::Open(kFixtures / "transformer.safetensors");
  if (!model.ok() || !weights.ok()) {
    std::fprintf(stderr, "text_bench: %s\n",
                 (!model.ok() ? model.status() : weights.status()).message().c_str());
    return 1;
  }
  const auto* text = (*model)->text_model();
  const NaiveTransformer naive(*weights);

  std::vector<std::string> words;
  std::ifstream vocab(kFixtures / "vocab.txt");
  for (std::string line; std::getline(vocab, line);) {
    if (!line.empty() && std::all_of(line.begin(), line.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
      words.push_back(line);
    }
  }

  auto naive_predict = [&](const std::vector<std::string>& texts, std::vector<float>& out) {
    out.resize(texts.size() * static_cast<std::size_t>(naive.classes()));
    for (std::size_t i = 0; i < texts.size(); ++i) {
      naive.Predict(text->Tokenize(texts[i]).value().ids, out.data() + i * naive.classes());
    }
  };

  // The reference must compute the same function before its speed means anything.
  const std::vector<std::string> check = MakeTexts(words, 16, 32);
  std::vector<float> expected;
  naive_predict(check, expected);
  const loupe::Tensor got = text->PredictText(check, loupe::OutputSpace::kProbability).value();
  double max_diff = 0;
  for (std::int64_t i = 0; i < got.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(got.data<double>()[i] - expected[static_cast<std::size_t>(i)]));
  }
  std::printf("naive reference vs Loupe: max |difference| of probabilities %.2e\n", max_diff);
  if (max_diff > 1e-4) {
    std::fprintf(stderr, "text_bench: the naive reference disagrees with Loupe; not timing it.\n");
    return 1;
  }

  std::printf("\n%6s %6s %14s %10s %16s %10s\n", "batch", "tokens", "texts/s", "GFLOP/s", "naive texts/s",
              "speed-up");
  for (int tokens : {16, 32, 64}) {
    for (int batch : {1, 16, 64, 256, 1024}) {
      const std::vector<std::string> texts = MakeTexts(words, batch, tokens);
      const double loupe_s =
          SecondsPerCall([&] { (void)text->PredictText(texts, loupe::OutputSpace::kProbability).value(); });
      std::vector<float> out;
      const double naive_s = SecondsPerCall([&] { naive_predict(texts, out); });
      std::printf("%6d %6d %14.0f %10.2f %16.0f %9.2fx\n", batch, tokens, batch / loupe_s,
                  batch * Flops(tokens) / loupe_s / 1e9, batch / naive_s, naive_s / loupe_s);
    }
  }
  return 0;
}
