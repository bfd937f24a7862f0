#!/usr/bin/env python3
"""Text references of the "text_gradient" capability and of grad.layer_integrated_gradients, by autograd.

The companion of make_fixtures.py (tabular networks) for the committed text fixtures of
tests/fixtures/text (the transformer, the bidirectional LSTM with attention pooling and the tiny hybrid of
a 2-layer LSTM and a pre-norm GELU encoder). Each is rebuilt in PyTorch as train_text_models.py defines it,
with float64 copies of its float32 weights, but run FROM THE OUTPUT OF ITS EMBEDDING LAYER (what Captum's
LayerIntegratedGradients on the embedding replaces). For a few texts of tests/fixtures/text/reference.json
(their token ids and word indices are Loupe's tokenizer's, checked there) it writes:
  - the gradient of the predicted class (probability and raw space) w.r.t. the embedding output [T, d];
  - layer integrated gradients with Captum's formulas (captum/attr/_core/layer/layer_integrated_gradients.py
    and _utils/approximation_methods.py; Captum is not installable here): baseline the [PAD] embedding at
    every position, attributions (x − x0) ⊙ Σ_k w_k ∇f(x0 + α_k (x − x0)), summed over the embedding
    dimension per token, then per word (word_index ≥ 0); convergence delta Σ attributions − (f(x) − f(x0)),
    for gausslegendre (50 and 8 steps) and riemann_trapezoid (20 steps).

    /usr/bin/python3 plugins/gradients/tests/make_text_fixtures.py   # writes fixtures/text_reference.json
"""
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from make_fixtures import read_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
TEXT = os.path.join(ROOT, "tests", "fixtures", "text")
OUT = os.path.join(HERE, "fixtures", "text_reference.json")
TEXT_INDICES = [7, 11, 0]  # reference.json texts of 12, 8 and 21 tokens
torch.set_default_dtype(torch.float64)


class TransformerFromEmbeddings(nn.Module):
    """train_text_models.py's TransformerClassifier after its token embedding."""

    def __init__(self, vocab_size, n_classes):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, 32)
        self.pos = nn.Embedding(64, 32)
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(32, 2, 64, dropout=0.0, activation="relu", batch_first=True, norm_first=False),
            nn.TransformerEncoderLayer(32, 2, 64, dropout=0.0, activation="gelu", batch_first=True, norm_first=True),
        ])
        self.norm = nn.LayerNorm(32)
        self.head1 = nn.Linear(32, 32)
        self.head2 = nn.Linear(32, n_classes)

    def forward(self, e, mask):
        x = e + self.pos(torch.arange(e.shape[1]))[None]
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=~mask)
        m = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(1) / m.sum(1)
        return self.head2(torch.tanh(self.head1(self.norm(pooled))))


class LstmFromEmbeddings(nn.Module):
    """train_text_models.py's LstmAttentionClassifier after its embedding."""

    def __init__(self, vocab_size, n_classes):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, 24, padding_idx=0)
        self.lstm = nn.LSTM(24, 24, num_layers=1, bidirectional=True, batch_first=True)
        self.attn = nn.Linear(48, 1)
        self.head = nn.Linear(48, n_classes)

    def forward(self, e, mask):
        lengths = mask.sum(1)
        packed = nn.utils.rnn.pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=e.shape[1])
        scores = self.attn(out).squeeze(-1).masked_fill(~mask, float("-inf"))
        w = torch.softmax(scores, dim=-1)
        return self.head((w.unsqueeze(-1) * out).sum(1))


class TinyFromEmbeddings(nn.Module):
    """train_text_models.py's TinyHybrid after its embedding."""

    def __init__(self, vocab_size, n_classes):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, 8)
        self.rnn = nn.LSTM(8, 4, num_layers=2, bidirectional=True, batch_first=True)
        self.enc = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True,
                                              norm_first=True, layer_norm_eps=1e-6)
        self.out = nn.Linear(8, n_classes)

    def forward(self, e, mask):
        lengths = mask.sum(1)
        packed = nn.utils.rnn.pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
        x, _ = self.rnn(packed)
        x, _ = nn.utils.rnn.pad_packed_sequence(x, batch_first=True, total_length=e.shape[1])
        x = self.enc(x, src_key_padding_mask=~mask)
        return self.out(x[:, 0])


MODELS = {
    "transformer": (TransformerFromEmbeddings, "tok.weight"),
    "lstm": (LstmFromEmbeddings, "emb.weight"),
    "tiny": (TinyFromEmbeddings, "emb.weight"),
}


def load(name, vocab_size, n_classes):
    cls, table = MODELS[name]
    model = cls(vocab_size, n_classes)
    state = read_safetensors(os.path.join(TEXT, name + ".safetensors"))
    model.load_state_dict(state)
    model.eval()
    return model, state[table]


def output(model, e, space):
    logits = model(e[None], torch.ones(1, e.shape[0], dtype=torch.bool))[0]
    return torch.softmax(logits, -1) if space == "probability" else logits


def gradient(model, e, space, target):
    e = e.clone().requires_grad_(True)
    f = output(model, e, space)[target]
    (g,) = torch.autograd.grad(f, e)
    return g, f.item()


def quadrature(method, n):
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(n)
        return list(0.5 * (x + 1)), list(0.5 * w)
    if method == "riemann_trapezoid":
        alphas = list(np.linspace(0, 1, n))
        weights = [1.0 / n] * n
        weights[0] /= 2
        weights[-1] /= 2
        return alphas, weights
    raise ValueError(method)


def layer_ig(model, e, baseline, space, target, method, n_steps):
    alphas, weights = quadrature(method, n_steps)
    total = torch.zeros_like(e)
    for a, w in zip(alphas, weights):
        g, _ = gradient(model, baseline + a * (e - baseline), space, target)
        total += w * g
    attributions = (e - baseline) * total
    per_token = attributions.sum(-1)
    with torch.no_grad():
        delta = per_token.sum().item() - (output(model, e, space)[target].item() -
                                          output(model, baseline, space)[target].item())
    return per_token, delta


def main():
    with open(os.path.join(TEXT, "reference.json")) as f:
        ref = json.load(f)
    vocab_size = sum(1 for _ in open(os.path.join(TEXT, "vocab.txt"), encoding="utf-8"))
    n_classes = len(ref["classes"])
    result = {"texts": [], "rows": [], "ids": [], "tokens": [], "word_index": [], "words": [], "models": {}}
    for i in TEXT_INDICES:
        for key, out_key in (("texts", "texts"), ("rows", "rows"), ("ids", "ids"), ("tokens", "tokens"),
                             ("word_index", "word_index"), ("words", "words")):
            result[out_key].append(ref[key][i])
    for name in MODELS:
        model, table = load(name, vocab_size, n_classes)
        pad = table[0]
        cases = []
        for k, ids in enumerate(result["ids"]):
            e = table[torch.tensor(ids)]
            baseline = pad.expand_as(e).clone()
            probabilities = output(model, e, "probability")
            target = int(probabilities.argmax())
            case = {"target": target, "probabilities": probabilities.tolist()}
            for space in ("probability", "raw"):
                g, f = gradient(model, e, space, target)
                case[space] = {"gradient": g.flatten().tolist(), "output": f}
            for method, n_steps in (("gausslegendre", 50), ("gausslegendre", 8), ("riemann_trapezoid", 20)):
                per_token, delta = layer_ig(model, e, baseline, "probability", target, method, n_steps)
                words = [0.0] * len(result["words"][k])
                for t, w in enumerate(result["word_index"][k]):
                    if w >= 0:
                        words[w] += per_token[t].item()
                case[f"ig_{method}_{n_steps}"] = {"token_values": per_token.tolist(), "word_values": words,
                                                  "delta": delta}
            cases.append(case)
        result["models"][name] = cases
        result.setdefault("pad_embedding", {})[name] = pad.tolist()
        print(name, [c["target"] for c in cases], [c["ig_gausslegendre_50"]["delta"] for c in cases])
    with open(OUT, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
