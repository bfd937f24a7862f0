"""The breast_cancer MLP fixture (tests/fixtures/models/breast_cancer_mlp.*) evaluated in vectorised numpy,
for the reference libraries in bench/vs_reference.py.

Computes what Loupe's f32 path computes: mean imputation and standardisation in double precision, then the
network (linear, tanh, linear, GELU (erf), linear, softmax) in float32 on the whole batch at once, the
probabilities returned as float64 [n, 2]. Reads the weights with numpy alone (no safetensors package).
"""
import json
import math
import pathlib
import re
import struct

import numpy as np
from scipy.special import erf

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "models"


def read_safetensors(path):
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        assert info["dtype"] == "F32", name
        data = np.frombuffer(raw[8 + length + begin : 8 + length + end], dtype="<f4")
        tensors[name] = data.reshape(info["shape"]).astype(np.float32)
    return tensors


def read_model(yaml_path):
    """(input names, impute, mean, std, layer list) of a model file written by train_mlp.py."""
    names, impute, mean, std, layers = [], [], [], [], []
    input_line = re.compile(
        r"  - \{name: '(.*)', type: numeric, impute: (\S+), standardize: \{mean: (\S+), std: (\S+)\}\}")
    section = None
    for line in yaml_path.read_text().splitlines():
        if not line.startswith(" "):
            section = line.split(":")[0]
            continue
        if section == "inputs":
            match = input_line.match(line)
            assert match, line
            names.append(match.group(1))
            impute.append(float(match.group(2)))
            mean.append(float(match.group(3)))
            std.append(float(match.group(4)))
        elif section == "layers":
            layers.append(dict(item.split(": ", 1) for item in line.strip()[3:-1].split(", ")))
    return names, np.array(impute), np.array(mean), np.array(std), layers


class BreastCancerMlp:
    """Callable f(X [n, 30] float64) -> probabilities [n, 2] float64."""

    def __init__(self, name="breast_cancer_mlp"):
        yaml_path = FIXTURES / (name + ".yaml")
        self.names, self.impute, self.mean, self.std, self.layers = read_model(yaml_path)
        weights = read_safetensors(FIXTURES / (name + ".safetensors"))
        self.steps = []
        for layer in self.layers:
            kind = layer["type"]
            if kind == "linear":
                w = np.ascontiguousarray(weights[layer["name"] + ".weight"].T)  # [in, out]
                b = weights[layer["name"] + ".bias"]
                self.steps.append(("linear", w, b))
            else:
                self.steps.append((kind, None, None))
        self.calls = 0
        self.rows = 0

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        self.calls += 1
        self.rows += x.shape[0]
        x = np.where(np.isnan(x), self.impute, x)
        a = ((x - self.mean) / self.std).astype(np.float32)
        for kind, w, b in self.steps:
            if kind == "linear":
                a = a @ w + b
            elif kind == "tanh":
                a = np.tanh(a)
            elif kind == "relu":
                a = np.maximum(a, 0)
            elif kind == "gelu":
                a = (0.5 * a * (1.0 + erf(a / np.float32(math.sqrt(2.0))))).astype(np.float32)
            elif kind == "softmax":
                a = np.exp(a - a.max(axis=1, keepdims=True))
                a /= a.sum(axis=1, keepdims=True)
            else:
                raise ValueError("layer type %s is not in this numpy model" % kind)
        return a.astype(np.float64)
