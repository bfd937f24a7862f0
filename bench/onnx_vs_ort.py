#!/usr/bin/python3
"""Loupe's ONNX execution against ONNX Runtime, in one run: an MLP and a transformer exported by PyTorch and
a random-forest TreeEnsembleClassifier, at batch 1, 64 and 4,096 on 1 and 2 threads.

    NODE_PATH=/path/to/node_modules /usr/bin/python3 bench/onnx_vs_ort.py build-x/bin/onnx_bench [WORKDIR] [ROUNDS]

NODE_PATH names the node_modules of `npm install --ignore-scripts onnxruntime-node`. The models are written
into WORKDIR (default /tmp/loupe_onnx_bench) by PyTorch 1.13 and scikit-learn (Debian's python3-torch and
python3-sklearn; tests/fixtures/onnx/make_onnx_fixtures.py converts the forest):
  mlp          64 → 256 → 256 → 10 (ReLU, softmax), opset 13;
  transformer  token embedding (1,000) + positions, nn.TransformerEncoder of 2 layers (d 64, 4 heads,
               feed-forward 128, GELU), [CLS] pooling, 4 classes, opset 17; 32 tokens per row;
  forest       RandomForestClassifier, 100 trees of depth ≤ 8, on the 30 breast-cancer features.
Each configuration runs in a fresh process of each runtime (bench/onnx_bench.cpp, bench/onnx_ort_bench.js),
which prints the median seconds per batch after a warm-up run and the process's CPU seconds (user + system,
all threads) per batch; ROUNDS (default 3) repeats the whole sweep, alternating the runtimes, and the table
gives each runtime's median wall and CPU milliseconds and the ratio ORT time / Loupe time (> 1: Loupe is
faster) as min – max over the rounds, of wall time and of CPU time. Threads: ONNX Runtime's intra-op threads; Loupe splits
the rows over threads as its host does (one session run per thread), so batch 1 gains nothing from a
second thread there. Never needed by Loupe or its tests.
"""
import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
BATCHES = (1, 64, 4096)
THREADS = (1, 2)
TOKENS = 32


def make_models(workdir):
    import onnx
    import torch
    from torch import nn
    torch.manual_seed(0)
    paths = {name: os.path.join(workdir, name + ".onnx") for name in ("mlp", "transformer", "forest")}
    mlp = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10),
                        nn.Softmax(dim=1)).eval()
    torch.onnx.export(mlp, torch.randn(2, 64), paths["mlp"], input_names=["input"], output_names=["probabilities"],
                      dynamic_axes={"input": {0: "batch"}, "probabilities": {0: "batch"}}, opset_version=13)

    class Text(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(1000, 64)
            self.position = nn.Parameter(torch.randn(TOKENS, 64) * 0.1)
            layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, activation="gelu", batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(64, 4)

        def forward(self, ids):
            h = self.encoder(self.embed(ids) + self.position[: ids.shape[1]])
            return torch.softmax(self.head(h[:, 0]), dim=-1)
    torch.onnx.export(Text().eval(), torch.randint(4, 100, (2, TOKENS)), paths["transformer"],
                      input_names=["input_ids"], output_names=["probabilities"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "probabilities": {0: "batch"}},
                      opset_version=17)

    spec = importlib.util.spec_from_file_location(
        "make_onnx_fixtures", ROOT / "tests" / "fixtures" / "onnx" / "make_onnx_fixtures.py")
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    from sklearn.ensemble import RandomForestClassifier
    from onnx import TensorProto, helper
    x, y, features = fixtures.read("breast_cancer.csv", "target")
    forest = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0).fit(x, y)
    parts = []
    for i, est in enumerate(forest.estimators_):
        values = est.tree_.value[:, 0, :]

        def leaf(node, values=values):
            fractions = values[node] / values[node].sum()
            return [(c, fixtures.f32(fractions[c] / 100)) for c in range(2)]
        nodes, weights = fixtures.tree_attributes(est, i, leaf)
        parts.append(nodes)
        parts.append({"class_" + k: v for k, v in weights.items()})
    ensemble = helper.make_node("TreeEnsembleClassifier", ["input"], ["label", "probabilities"], domain=fixtures.ML,
                                classlabels_int64s=[0, 1], post_transform="NONE", **fixtures.merge(parts))
    graph = helper.make_graph([ensemble], "forest", [fixtures.float_input(30)],
                              [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
                               helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(fixtures.ML, 1)])
    model.ir_version = 8
    onnx.save(model, paths["forest"])
    return paths


def run(command):
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds"], result.get("cpu_seconds", float("nan"))


def main():
    onnx_bench = sys.argv[1]
    workdir = sys.argv[2] if len(sys.argv) > 2 else "/tmp/loupe_onnx_bench"
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    os.makedirs(workdir, exist_ok=True)
    paths = make_models(workdir)
    features = {"mlp": 64, "transformer": 0, "forest": 30}
    times = {}
    for r in range(rounds):
        for name, path in paths.items():
            for batch in BATCHES:
                for threads in THREADS:
                    key = (name, batch, threads)
                    loupe = run([onnx_bench, path, str(batch), str(threads), str(TOKENS)])
                    ort = run(["node", str(ROOT / "bench" / "onnx_ort_bench.js"), path, str(batch), str(threads),
                               str(TOKENS), "probabilities", str(features[name])])
                    times.setdefault(key, []).append((loupe, ort))
        print("round %d of %d done" % (r + 1, rounds), file=sys.stderr)
    print("| model | batch | threads | Loupe ms | ORT ms | ORT / Loupe (min – max) | Loupe CPU ms | ORT CPU ms "
          "| CPU ORT / Loupe (min – max) |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |")
    for (name, batch, threads), pairs in times.items():
        ratios = [o[0] / l[0] for l, o in pairs]
        cpu_ratios = [o[1] / l[1] for l, o in pairs]
        print("| %s | %d | %d | %.3f | %.3f | %.2f – %.2f | %.3f | %.3f | %.2f – %.2f |" % (
            name, batch, threads, 1e3 * statistics.median(l[0] for l, _ in pairs),
            1e3 * statistics.median(o[0] for _, o in pairs), min(ratios), max(ratios),
            1e3 * statistics.median(l[1] for l, _ in pairs), 1e3 * statistics.median(o[1] for _, o in pairs),
            min(cpu_ratios), max(cpu_ratios)))


if __name__ == "__main__":
    main()
