#!/usr/bin/env python3
"""References of the gradients plugin and of the "gradient" model capability, by PyTorch autograd.

Loads Loupe's native fixture networks (tests/fixtures/models/*.yaml with their safetensors weights) into
PyTorch (float64 copies of the float32 weights) with the preprocessing the loupe.model/v1 `inputs` describe,
and computes on the first rows of the data:
  - the gradient of each output (probability and raw space) w.r.t. every input, by autograd: numeric
    inputs through their standardisation (0 where a missing value is imputed), categoricals as the sum
    over their one-hot columns (loupe/core/gradient.hpp);
  - every explainer of the plugin with Captum's formulas (Captum itself is not installable here; the
    definitions followed are captum/attr/_core/{saliency,input_x_gradient,integrated_gradients,
    noise_tunnel,gradient_shap,deep_lift}.py and _utils/approximation_methods.py): Saliency (abs),
    InputXGradient, IntegratedGradients (gausslegendre and the Riemann rules, convergence delta),
    NoiseTunnel (smoothgrad), GradientShap and DeepLift (rescale rule, Captum's `nonlinear` and `softmax`
    handlers, the latter per row). The noise and samples are the plugin's: Loupe's counter-based RNG
    (Philox4x32-10 keyed by step seed, data row and stream, sdk/include/loupe/sdk/random.hpp) is
    re-implemented below, with the step seed of core/src/pipeline/run.cpp.
It also writes the DeepLIFT fixture network deeplift_mlp (linear, relu, tanh, sigmoid and softmax layers
on numeric and categorical columns of credit_data.csv; seeded random weights, no training needed).

    /usr/bin/python3 plugins/gradients/tests/make_fixtures.py      # writes plugins/gradients/tests/fixtures/
"""
import csv
import json
import math
import os
import struct

import numpy as np
import torch
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
OUT = os.path.join(HERE, "fixtures")
MISSING = {"NA", ""}
ROWS = list(range(8))
PIPELINE_SEED = 11
MASK64 = (1 << 64) - 1
torch.set_default_dtype(torch.float64)

# ---------------------------------------------------------------------------------------------------
# Loupe's RNG (sdk/include/loupe/sdk/random.hpp) and step seed (core/src/pipeline/run.cpp)


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def philox4x32x10(ctr, key0, key1):
    ctr = list(ctr)
    for _ in range(10):
        p0 = 0xD2511F53 * ctr[0]
        p1 = 0xCD9E8D57 * ctr[2]
        hi0, lo0 = p0 >> 32, p0 & 0xFFFFFFFF
        hi1, lo1 = p1 >> 32, p1 & 0xFFFFFFFF
        ctr = [hi1 ^ ctr[1] ^ key0, lo1, hi0 ^ ctr[3] ^ key1, lo0]
        key0 = (key0 + 0x9E3779B9) & 0xFFFFFFFF
        key1 = (key1 + 0xBB67AE85) & 0xFFFFFFFF
    return ctr


def philox_fill(seed, row, stream, counter, n):
    key = splitmix64(seed)
    lane = splitmix64(row ^ splitmix64((stream + 0x632BE59BD9B4E019) & MASK64))
    out, i = [], 0
    while i < n:
        word = counter + i
        block = word >> 1
        c = philox4x32x10([block & 0xFFFFFFFF, block >> 32, lane & 0xFFFFFFFF, lane >> 32],
                          key & 0xFFFFFFFF, key >> 32)
        words = [(c[1] << 32) | c[0], (c[3] << 32) | c[2]]
        half = word & 1
        while half < 2 and i < n:
            out.append(words[half])
            half += 1
            i += 1
    return out


class Rng:
    def __init__(self, seed, row, stream):
        self.seed, self.row, self.stream, self.counter, self.buffer = seed, row, stream, 0, []

    def next_u64(self):
        if not self.buffer:
            self.buffer = philox_fill(self.seed, self.row, self.stream, self.counter, 16)
            self.counter += 16
        return self.buffer.pop(0)

    def uniform(self):
        return (self.next_u64() >> 11) * 2.0 ** -53

    def below(self, bound):
        if bound <= 1:
            return 0
        threshold = ((1 << 64) - bound) % bound
        while True:
            m = self.next_u64() * bound
            if (m & MASK64) >= threshold:
                return m >> 64

    def normal(self):
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586476925 * u2)


def step_seed(pipeline_seed, step_id):
    h = 0xCBF29CE484222325
    for c in step_id.encode():
        h = ((h ^ c) * 0x100000001B3) & MASK64
    return splitmix64(h ^ splitmix64(pipeline_seed))


# ---------------------------------------------------------------------------------------------------
# Loupe's native networks in PyTorch


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans (true/false only), as yaml-cpp reads Loupe's files: `no` and `yes` stay strings."""


Yaml12Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", __import__("re").compile(r"^(?:true|false)$"), list("tf"))


def load_yaml(path):
    with open(path) as f:
        return yaml.load(f, Loader=Yaml12Loader)


def read_safetensors(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        values = np.frombuffer(data[start:end], dtype="<f4").astype(np.float64)
        tensors[name] = torch.tensor(values.reshape(entry["shape"]))
    return tensors


class Network:
    """A loupe.model/v1 tabular network: its inputs' preprocessing and its layers, in float64."""

    def __init__(self, yaml_path):
        doc = load_yaml(yaml_path)
        self.doc = doc
        self.inputs = doc["inputs"]
        self.classes = doc.get("classes")
        w = read_safetensors(os.path.join(os.path.dirname(yaml_path), doc["weights"]))
        self.layers = []
        for layer in doc["layers"]:
            kind, name = layer["type"], str(layer.get("name", ""))
            if kind == "linear":
                self.layers.append(("linear", w[name + ".weight"], w.get(name + ".bias")))
            elif kind == "layer_norm":
                self.layers.append(("layer_norm", w[name + ".weight"], w.get(name + ".bias"), float(layer.get("eps", 1e-5))))
            elif kind == "gelu":
                self.layers.append(("gelu", layer.get("approximate", "none")))
            elif kind in ("dropout", "flatten"):
                self.layers.append(("identity",))
            else:
                self.layers.append((kind,))
        self.sigmoid_pair = self.layers[-1][0] == "sigmoid"

    def output_names(self, space):
        if space == "raw":
            return [self.classes[1]] if self.sigmoid_pair else list(self.classes)
        return list(self.classes)

    @staticmethod
    def apply(layer, a):
        kind = layer[0]
        if kind == "linear":
            y = a @ layer[1].T
            return y + layer[2] if layer[2] is not None else y
        if kind == "relu":
            return torch.relu(a)
        if kind == "tanh":
            return torch.tanh(a)
        if kind == "sigmoid":
            return torch.sigmoid(a)
        if kind == "softmax":
            return torch.softmax(a, dim=-1)
        if kind == "gelu":
            return torch.nn.functional.gelu(a, approximate=layer[1])
        if kind == "layer_norm":
            return torch.nn.functional.layer_norm(a, (a.shape[-1],), layer[1], layer[2], layer[3])
        return a

    def encode(self, raw):
        """raw: float64 [n, inputs] in the model's coding → (leaf tensors, encoded [n, width])."""
        n = raw.shape[0]
        filled = np.where(np.isnan(raw), 0.0, raw)
        numeric = torch.tensor(filled, requires_grad=True)
        parts, onehots = [], {}
        for i, spec in enumerate(self.inputs):
            if spec["type"] == "categorical":
                levels = len(spec["levels"])
                oh = torch.zeros(n, levels)
                for r in range(n):
                    if not math.isnan(raw[r, i]) and 0 <= int(raw[r, i]) < levels:
                        oh[r, int(raw[r, i])] = 1.0
                oh.requires_grad_()
                onehots[i] = oh
                parts.append(oh)
            else:
                mean = spec.get("standardize", {}).get("mean", 0.0)
                std = spec.get("standardize", {}).get("std", 1.0)
                missing = torch.tensor(np.isnan(raw[:, i]))
                value = torch.where(missing, torch.tensor(float(spec.get("impute", 0.0))), numeric[:, i])
                parts.append(((value - mean) / std).unsqueeze(1))
        return numeric, onehots, torch.cat(parts, dim=1)

    def depth(self, space):
        return len(self.layers) - 1 if space == "raw" else len(self.layers)

    def probabilities(self, z):
        """A classifier's probabilities from its logits, in forms whose autograd does not cancel: a
        saturated probability is 1 − 1e-12 even in float64, where softmax's backward y (dy − Σ dy y) and
        1 − s lose the digits of the small one. p_o = 1 / Σ_k exp(z_k − z_o); binary [σ(−z), σ(z)]."""
        if self.sigmoid_pair:
            return torch.cat([torch.sigmoid(-z), torch.sigmoid(z)], dim=1)
        return torch.stack([1.0 / torch.exp(z - z[:, o:o + 1]).sum(dim=1) for o in range(z.shape[1])], dim=1)

    def forward(self, raw, space):
        numeric, onehots, a = self.encode(raw)
        for layer in self.layers[: self.depth("raw")]:
            a = self.apply(layer, a)
        return numeric, onehots, self.probabilities(a) if space == "probability" else a

    def predict(self, raw, space):
        with torch.no_grad():
            return self.forward(raw, space)[2].numpy()

    def gradient(self, raw, weights, space):
        """∂(Σ_o w[r, o] f_o(x_r)) / ∂x_r per input: [n, inputs]."""
        numeric, onehots, y = self.forward(raw, space)
        (y * torch.tensor(weights)).sum().backward()
        g = numeric.grad.numpy().copy()
        g[np.isnan(raw)] = 0.0
        for i, oh in onehots.items():
            g[:, i] = oh.grad.sum(dim=1).numpy()
        return g

    def deeplift(self, raw, reference, weights, space):
        """Captum's DeepLift (rescale rule) attributions per input: [n, inputs]."""
        with torch.no_grad():
            _, _, e = self.encode(raw)
            _, _, e0 = self.encode(reference)
            acts, acts0 = [e], [e0]
            for layer in self.layers[: self.depth(space)]:
                acts.append(self.apply(layer, acts[-1]))
                acts0.append(self.apply(layer, acts0[-1]))
        w = torch.tensor(weights)
        pair = space == "probability" and self.sigmoid_pair
        m = (w[:, 1:2] - w[:, 0:1]) if pair else w  # p = [1 − s, s] is linear in s
        for l in reversed(range(self.depth(space))):
            layer, a, a0, b, b0 = self.layers[l], acts[l], acts0[l], acts[l + 1], acts0[l + 1]
            if layer[0] == "linear":
                m = m @ layer[1]
                continue
            if layer[0] == "identity":
                continue
            x = a.clone().requires_grad_()
            (grad_input,) = torch.autograd.grad(self.apply(layer, x), x, m)  # the layer's own gradient
            delta_in = a - a0
            rescaled = torch.where(delta_in.abs() < 1e-10, grad_input, m * (b - b0) / delta_in)
            if layer[0] == "softmax":
                rescaled = rescaled - rescaled.mean(dim=1, keepdim=True)  # Captum's softmax handler, per row
            m = rescaled
        contributions = ((e - e0) * m).numpy()
        out = np.zeros(raw.shape)
        column = 0
        for i, spec in enumerate(self.inputs):
            width = len(spec["levels"]) if spec["type"] == "categorical" else 1
            out[:, i] = contributions[:, column:column + width].sum(axis=1)
            column += width
        return out


# ---------------------------------------------------------------------------------------------------
# Data as the pipeline sees it, in the model's input coding


def read_rows(csv_path, net):
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    matrix = []
    for r in rows:
        values = []
        for spec in net.inputs:
            v = r[spec["name"]]
            if v in MISSING:
                values.append(math.nan)
            elif spec["type"] == "categorical":
                values.append(float(spec["levels"].index(v)))
            else:
                values.append(float(v))
        matrix.append(values)
    return np.array(matrix)


def categorical(net):
    return [spec["type"] == "categorical" for spec in net.inputs]


def moves(net, row, j):
    return not categorical(net)[j] and not math.isnan(row[j])


def per_output(net, space, fn):
    """[R][O][F] from fn(weights [n, O]) → [n, F], one output at a time (Captum's `target`)."""
    n_out = len(net.output_names(space))
    result = []
    for o in range(n_out):
        result.append(fn(o, n_out))
    return np.stack(result, axis=1)  # [n, O, F]


def one_hot_weights(n, o, n_out):
    w = np.zeros((n, n_out))
    w[:, o] = 1.0
    return w


# ---------------------------------------------------------------------------------------------------
# Captum's methods on Loupe's feature space


def gausslegendre(n):
    x, w = np.polynomial.legendre.leggauss(n)
    return list(0.5 * (1 + x)), list(0.5 * w)


def riemann(method, n):
    steps = [1.0 / n] * n
    if method == "riemann_trapezoid":
        steps[0] /= 2
        steps[-1] /= 2
        return list(np.linspace(0, 1, n)), steps
    if method == "riemann_left":
        return list(np.linspace(0, 1 - 1.0 / n, n)), steps
    if method == "riemann_middle":
        return list(np.linspace(1.0 / (2 * n), 1 - 1.0 / (2 * n), n)), steps
    return list(np.linspace(1.0 / n, 1, n)), steps


def baseline_of(spec, data, net):
    if spec == "zeros":
        return np.zeros(data.shape[1])
    if spec == "mean":
        out = np.nanmean(data, axis=0)
        out[np.array(categorical(net))] = math.nan
        return out
    raise ValueError(spec)


def held(x, baseline, net, categorical_levels):
    out = baseline.copy()
    for j in range(len(x)):
        if math.isnan(out[j]) or math.isnan(x[j]) or (categorical(net)[j] and not categorical_levels):
            out[j] = x[j]
    return out


def saliency(net, x, space, take_abs=True):
    g = per_output(net, space, lambda o, n_out: net.gradient(x, one_hot_weights(len(x), o, n_out), space))
    return np.abs(g) if take_abs else g


def input_x_gradient(net, x, space):
    g = saliency(net, x, space, take_abs=False)
    mask = np.array([[moves(net, row, j) for j in range(x.shape[1])] for row in x])
    return np.where(mask[:, None, :], np.nan_to_num(x)[:, None, :] * g, 0.0)


def integrated_gradients(net, x, data, space, baselines="zeros", n_steps=50, method="gausslegendre"):
    alphas, steps = gausslegendre(n_steps) if method == "gausslegendre" else riemann(method, n_steps)
    base = baseline_of(baselines, data, net)
    starts = np.array([held(row, base, net, False) for row in x])
    n, f = x.shape
    diff = np.where(np.isnan(x) | np.isnan(starts), 0.0, np.nan_to_num(x) - np.nan_to_num(starts))
    attributions = []
    for o in range(len(net.output_names(space))):
        total = np.zeros((n, f))
        for alpha, step in zip(alphas, steps):
            points = np.array([[starts[r, j] + alpha * (x[r, j] - starts[r, j]) if moves(net, x[r], j) else x[r, j]
                                for j in range(f)] for r in range(n)])
            total += step * net.gradient(points, one_hot_weights(n, o, len(net.output_names(space))), space)
        attributions.append(diff * total)
    values = np.stack(attributions, axis=1)
    delta = values.sum(axis=2) - (net.predict(x, space) - net.predict(starts, space))
    return values, delta, net.predict(starts, space)


def smoothgrad(net, x, rows, space, seed, nt_samples=5, stdevs=1.0):
    n, f = x.shape
    sums = 0.0
    noisy_sets = []
    for s in range(nt_samples):
        noisy_sets.append(np.empty((n, f)))
    for r in range(n):
        rng = Rng(seed, rows[r], 1)
        for s in range(nt_samples):
            for j in range(f):
                z = rng.normal()
                noisy_sets[s][r, j] = x[r, j] + stdevs * z if moves(net, x[r], j) else x[r, j]
    for s in range(nt_samples):
        sums = sums + np.abs(saliency(net, noisy_sets[s], space, take_abs=False))
    return sums / nt_samples


def gradient_shap(net, x, rows, data, background, space, seed, n_samples=5, stdevs=0.0):
    n, f = x.shape
    n_out = len(net.output_names(space))
    values = np.zeros((n, n_out, f))
    base_values = np.zeros((n, n_out))
    for r in range(n):
        rng = Rng(seed, rows[r], 2)
        moved, starts, points = np.empty((n_samples, f)), np.empty((n_samples, f)), np.empty((n_samples, f))
        for s in range(n_samples):
            base = data[background[rng.below(len(background))]]
            alpha = rng.uniform()
            for j in range(f):
                z = rng.normal()
                ok = moves(net, x[r], j) and not math.isnan(base[j])
                moved[s, j] = x[r, j] + stdevs * z if ok else x[r, j]
                starts[s, j] = base[j] if ok else x[r, j]
                points[s, j] = starts[s, j] + alpha * (moved[s, j] - starts[s, j])
        for o in range(n_out):
            g = net.gradient(points, one_hot_weights(n_samples, o, n_out), space)
            diff = np.where(np.isnan(moved), 0.0, moved - np.nan_to_num(starts))
            values[r, o] = (diff * g).mean(axis=0)
        base_values[r] = net.predict(starts, space).mean(axis=0)
    return values, base_values


def deeplift(net, x, data, space, baselines="zeros"):
    base = baseline_of(baselines, data, net)
    references = np.array([held(row, base, net, True) for row in x])
    n_out = len(net.output_names(space))
    values = per_output(net, space, lambda o, _: net.deeplift(x, references, one_hot_weights(len(x), o, n_out), space))
    delta = values.sum(axis=2) - (net.predict(x, space) - net.predict(references, space))
    return values, delta


# ---------------------------------------------------------------------------------------------------


def write_deeplift_network():
    """deeplift_mlp: seeded random weights over 4 numeric and 2 categorical credit columns."""
    net_doc = load_yaml(os.path.join(ROOT, "tests/fixtures/models/credit_mlp.yaml"))
    keep = ["Seniority", "Home", "Age", "Records", "Income", "Amount"]
    inputs = [spec for spec in net_doc["inputs"] if spec["name"] in keep]
    width = sum(len(s["levels"]) if s["type"] == "categorical" else 1 for s in inputs)
    generator = torch.Generator().manual_seed(17)
    sizes = [(width, 12), (12, 10), (10, 8), (8, 2)]
    tensors = {}
    for k, (fan_in, fan_out) in enumerate(sizes):
        bound = 1.0 / math.sqrt(fan_in)
        tensors["l%d.weight" % k] = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound * 2
        tensors["l%d.bias" % k] = (torch.rand(fan_out, generator=generator) * 2 - 1) * bound
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(OUT, "deeplift_mlp.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    with open(os.path.join(OUT, "deeplift_mlp.yaml"), "w") as out:
        out.write("# A DeepLIFT fixture (linear, relu, tanh, sigmoid, softmax). Written by make_fixtures.py; do not edit.\n")
        out.write("format: loupe.model/v1\nname: deeplift_mlp\ntask: classification\nclasses: [bad, good]\n")
        out.write("weights: deeplift_mlp.safetensors\ninputs:\n")
        for s in inputs:
            if s["type"] == "categorical":
                out.write("  - {name: %s, type: categorical, levels: [%s]}\n" % (s["name"], ", ".join(s["levels"])))
            else:
                st = s["standardize"]
                out.write("  - {name: '%s', type: numeric, impute: %r, standardize: {mean: %r, std: %r}}\n" % (
                    s["name"], s["impute"], st["mean"], st["std"]))
        out.write("layers:\n  - {type: linear, name: l0}\n  - {type: relu}\n  - {type: linear, name: l1}\n"
                  "  - {type: tanh}\n  - {type: linear, name: l2}\n  - {type: sigmoid}\n"
                  "  - {type: linear, name: l3}\n  - {type: softmax}\n")


def case(name, yaml_path, csv_path, steps):
    net = Network(yaml_path)
    data = read_rows(csv_path, net)
    x = data[ROWS]
    out = {"model": os.path.relpath(yaml_path, ROOT), "data": os.path.relpath(csv_path, ROOT), "rows": ROWS,
           "features": [s["name"] for s in net.inputs], "inputs": np.nan_to_num(x, nan=-1e300).tolist(),
           "missing": np.isnan(x).tolist(), "gradient": {}, "steps": {}}
    for space in ("probability", "raw"):
        out["gradient"][space] = per_output(net, space, lambda o, n_out: net.gradient(
            x, one_hot_weights(len(x), o, n_out), space)).tolist()
    for step_id, (explainer, params, compute) in steps(net, data, x).items():
        result = compute(step_seed(PIPELINE_SEED, step_id))
        entry = {"explainer": explainer, "params": params, "values": np.asarray(result[0]).tolist()}
        if len(result) > 1 and result[1] is not None:
            entry["convergence_delta"] = np.asarray(result[1]).tolist()
        out["steps"][step_id] = entry
    print(name, "done")
    return out


def tabular_steps(net, data, x):
    p = "probability"
    return {
        "saliency": ("grad.saliency", {}, lambda seed: (saliency(net, x, p),)),
        "input_x_gradient": ("grad.input_x_gradient", {}, lambda seed: (input_x_gradient(net, x, p),)),
        "ig": ("grad.integrated_gradients", {}, lambda seed: integrated_gradients(net, x, data, p)[:2]),
        "ig_raw_trapezoid": ("grad.integrated_gradients",
                             {"output": "raw", "method": "riemann_trapezoid", "n_steps": 20, "baselines": "mean"},
                             lambda seed: integrated_gradients(net, x, data, "raw", "mean", 20, "riemann_trapezoid")[:2]),
        "ig_left": ("grad.integrated_gradients", {"method": "riemann_left", "n_steps": 16},
                    lambda seed: integrated_gradients(net, x, data, p, "zeros", 16, "riemann_left")[:2]),
        "ig_right": ("grad.integrated_gradients", {"method": "riemann_right", "n_steps": 16},
                     lambda seed: integrated_gradients(net, x, data, p, "zeros", 16, "riemann_right")[:2]),
        "ig_middle": ("grad.integrated_gradients", {"method": "riemann_middle", "n_steps": 16},
                      lambda seed: integrated_gradients(net, x, data, p, "zeros", 16, "riemann_middle")[:2]),
        "smoothgrad": ("grad.smoothgrad", {"stdevs": 0.1},
                       lambda seed: (smoothgrad(net, x, ROWS, p, seed, 5, 0.1),)),
        "gradient_shap": ("grad.gradient_shap", {"background": "0:20"},
                          lambda seed: (gradient_shap(net, x, ROWS, data, list(range(20)), p, seed)[0],)),
    }


def deeplift_steps(net, data, x):
    return dict(tabular_steps(net, data, x), **{
        "deeplift": ("grad.deeplift", {}, lambda seed: deeplift(net, x, data, "probability")),
        "deeplift_mean_raw": ("grad.deeplift", {"baselines": "mean", "output": "raw"},
                              lambda seed: deeplift(net, x, data, "raw", "mean")),
    })


def main():
    os.makedirs(OUT, exist_ok=True)
    write_deeplift_network()
    models = os.path.join(ROOT, "tests/fixtures/models")
    data = os.path.join(ROOT, "tests/data")
    reference = {
        "seed": PIPELINE_SEED,
        "cases": {
            "breast_cancer": case("breast_cancer", os.path.join(models, "breast_cancer_mlp.yaml"),
                                  os.path.join(data, "breast_cancer.csv"), tabular_steps),
            "credit": case("credit", os.path.join(models, "credit_mlp.yaml"), os.path.join(data, "credit_data.csv"),
                           tabular_steps),
            "deeplift": case("deeplift", os.path.join(OUT, "deeplift_mlp.yaml"), os.path.join(data, "credit_data.csv"),
                             deeplift_steps),
        },
    }
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(reference, f, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
