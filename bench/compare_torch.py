#!/usr/bin/python3
"""PyTorch CPU throughput of the credit MLP (tests/fixtures/models/credit_mlp.*), for comparison with
bench/nn_bench (run both in one session: `build/bin/nn_bench; /usr/bin/python3 bench/compare_torch.py`).

Builds the same network from the model YAML's layer list and the safetensors weights, and times the
network alone (f32, torch.inference_mode) on encoded inputs at batch 1 ... 65,536, with one thread per
call as Loupe runs oneDNN (torch.set_num_threads(1)). Needs Debian's python3-torch; never needed by Loupe.
"""
import json
import pathlib
import struct
import sys
import time

try:
    import torch
except ImportError:
    sys.exit("python3-torch is not installed; nothing to compare")

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "models"


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
        data = torch.frombuffer(bytearray(raw[8 + length + begin : 8 + length + end]), dtype=torch.float32)
        tensors[name] = data.reshape(info["shape"])
    return tensors


def read_layers(yaml_path):
    """The `layers:` flow mappings of a model file written by train_mlp.py (one mapping per line)."""
    layers, inside = [], False
    for line in yaml_path.read_text().splitlines():
        if line.startswith("layers:"):
            inside = True
        elif inside and line.startswith("  - {"):
            fields = dict(item.split(": ", 1) for item in line.strip()[3:-1].split(", "))
            layers.append(fields)
        elif inside and not line.startswith(" "):
            break
    return layers


def build(layers, weights):
    modules = []
    for layer in layers:
        kind = layer["type"]
        if kind == "linear":
            w, b = weights[layer["name"] + ".weight"], weights[layer["name"] + ".bias"]
            linear = torch.nn.Linear(w.shape[1], w.shape[0])
            linear.weight.data.copy_(w)
            linear.bias.data.copy_(b)
            modules.append(linear)
        elif kind == "relu":
            modules.append(torch.nn.ReLU())
        elif kind == "gelu":
            modules.append(torch.nn.GELU(approximate=layer.get("approximate", "none")))
        elif kind == "layer_norm":
            w = weights[layer["name"] + ".weight"]
            norm = torch.nn.LayerNorm(w.shape[0], eps=float(layer.get("eps", 1e-5)))
            norm.weight.data.copy_(w)
            norm.bias.data.copy_(weights[layer["name"] + ".bias"])
            modules.append(norm)
        elif kind == "sigmoid":
            modules.append(torch.nn.Sigmoid())
        elif kind == "dropout":
            continue
        else:
            raise ValueError("layer type %s is not in this comparison" % kind)
    return torch.nn.Sequential(*modules).eval()


def seconds_per_call(run, budget=0.3):
    run()
    calls, start = 0, time.perf_counter()
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            return elapsed / calls


def main():
    torch.set_num_threads(1)
    layers = read_layers(FIXTURES / "credit_mlp.yaml")
    net = build(layers, read_safetensors(FIXTURES / "credit_mlp.safetensors"))
    width = net[0].in_features
    print("PyTorch %s CPU, 1 thread: credit MLP (%d encoded inputs)" % (torch.__version__, width))
    print("%8s %14s" % ("batch", "rows/s"))
    generator = torch.Generator().manual_seed(0)
    for batch in [1, 16, 256, 4096, 65536]:
        x = torch.randn(batch, width, generator=generator)
        with torch.inference_mode():
            seconds = seconds_per_call(lambda: net(x))
        print("%8d %14.0f" % (batch, batch / seconds))


if __name__ == "__main__":
    main()
