#!/usr/bin/python3
"""Integrated gradients on the breast_cancer MLP: Loupe's grad.integrated_gradients (bench/grad_bench) vs
the PyTorch autograd loop Captum's IntegratedGradients runs, in one run, one thread each; and layer
integrated gradients on the transformer text fixture (grad.layer_integrated_gradients vs the loop of
Captum's LayerIntegratedGradients on the token embedding: the 32 first texts of
tests/fixtures/text/reference.json, all 8 classes, 50 Gauss-Legendre steps from the [PAD] embedding, the
50 steps of one text in one batch per target, torch.autograd.grad of the unbound outputs).

Both explain the same rows (the 569 of breast_cancer.csv) for both classes' probabilities, with 50
Gauss–Legendre steps from the zero baseline, and compute the convergence delta. The PyTorch side is
Captum's algorithm written out (Captum is not installable here): for each target, the scaled inputs of
every step of every row in one batch (internal_batch_size = all), one forward pass with the
standardisation and softmax, torch.autograd.grad, the step-weighted sum, times (input − baseline); then
the forward passes of the delta. torch.set_num_threads(1), as Loupe runs oneDNN single-threaded per task.

The tabular max |delta| (1.69 at 50 steps) is the quadrature error of 50 Gauss-Legendre steps, not a bug
of either side: the zero baseline lies up to 7 standard deviations outside the data after
standardisation, and along the path of row 0 class 1's probability falls from 0.999995 to 3e-12 within a
short stretch that 50 nodes resolve badly. The same loop in float64 gives the same 1.69; with 200 steps
0.023, with 1000 steps 9e-13. Loupe reports the same delta (its max |convergence_delta| is printed beside
PyTorch's), and `--check-delta` reruns the PyTorch loop in float64 at 200 and 1000 steps to show it shrink.

    /usr/bin/python3 bench/grad_vs_torch.py build-grad/bin/grad_bench
    /usr/bin/python3 bench/grad_vs_torch.py --check-delta      # the tabular delta as the steps grow
"""
import json
import pathlib
import subprocess
import sys
import time

import numpy as np

try:
    import torch
except ImportError:
    sys.exit("python3-torch is not installed; nothing to compare")

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(ROOT / "plugins" / "gradients" / "tests"))
import make_fixtures  # noqa: E402  (its Network reads Loupe's model files)

STEPS = 50
REPEATS = 3


def torch_ig_seconds(unbind=True, steps=STEPS, dtype=torch.float32, repeats=REPEATS):
    """Captum's loop; unbind=False differentiates outputs.sum() instead of Captum's
    torch.autograd.grad(torch.unbind(outputs), inputs) (captum/_utils/gradient.py), the same gradients
    without one autograd root per scaled row. Returns the best time, the rows and the max |delta|."""
    torch.set_num_threads(1)
    net = make_fixtures.Network(str(ROOT / "tests/fixtures/models/breast_cancer_mlp.yaml"))
    data = make_fixtures.read_rows(str(ROOT / "tests/data/breast_cancer.csv"), net)
    mean = torch.tensor([s["standardize"]["mean"] for s in net.inputs], dtype=dtype)
    std = torch.tensor([s["standardize"]["std"] for s in net.inputs], dtype=dtype)
    layers = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8), torch.nn.GELU(),
                                 torch.nn.Linear(8, 2), torch.nn.Softmax(dim=1)).to(dtype)
    with torch.no_grad():
        for module, layer in zip([layers[0], layers[2], layers[4]], [l for l in net.layers if l[0] == "linear"]):
            module.weight.copy_(layer[1].to(dtype))
            module.bias.copy_(layer[2].to(dtype))

    def forward(x):
        return layers((x - mean) / std)

    x = torch.tensor(data, dtype=dtype)
    baseline = torch.zeros_like(x)
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas, step_sizes = 0.5 * (1 + nodes), torch.tensor(0.5 * weights, dtype=dtype)
    best, worst = float("inf"), 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for target in range(2):
            scaled = torch.cat([baseline + float(a) * (x - baseline) for a in alphas]).requires_grad_()
            outputs = forward(scaled)[:, target]
            roots = torch.unbind(outputs) if unbind else outputs.sum()
            (grads,) = torch.autograd.grad(roots, scaled)
            total = (grads.view(steps, -1) * step_sizes.view(steps, 1)).sum(0).view(x.shape)
            attributions = total * (x - baseline)
            with torch.no_grad():
                delta = attributions.sum(1) - (forward(x)[:, target] - forward(baseline)[:, target])
            worst = max(worst, float(delta.abs().max()))  # over both targets
        best = min(best, time.perf_counter() - start)
    return best, len(x), worst


TEXTS = 32


def torch_layer_ig_seconds():
    """Captum's LayerIntegratedGradients loop on the transformer's token embedding, float32, 1 thread: one
    attribute() call per text and target, as Captum's tutorials explain a sentence (the 50 scaled copies of
    the text's embeddings in one batch, internal_batch_size = all; no padding)."""
    import make_text_fixtures
    torch.set_num_threads(1)
    ref = json.loads((ROOT / "tests/fixtures/text/reference.json").read_text())
    vocab_size = sum(1 for _ in open(ROOT / "tests/fixtures/text/vocab.txt", encoding="utf-8"))
    model, table = make_text_fixtures.load("transformer", vocab_size, len(ref["classes"]))
    model = model.float()
    table = table.float()
    nodes, weights = np.polynomial.legendre.leggauss(STEPS)
    alphas, step_sizes = 0.5 * (1 + nodes), torch.tensor(0.5 * weights, dtype=torch.float32)
    texts = [table[torch.tensor(ids)][None] for ids in ref["ids"][:TEXTS]]
    best, worst_delta = float("inf"), 0.0
    for _ in range(REPEATS):
        start = time.perf_counter()
        for e in texts:
            baseline = table[0].expand_as(e).clone()
            mask = torch.ones(1, e.shape[1], dtype=torch.bool)
            masks = mask.repeat(STEPS, 1)
            for target in range(len(ref["classes"])):
                scaled = torch.cat([baseline + float(a) * (e - baseline) for a in alphas]).requires_grad_()
                outputs = torch.softmax(model(scaled, masks), -1)[:, target]
                (grads,) = torch.autograd.grad(torch.unbind(outputs), scaled)
                total = (grads.view(STEPS, -1) * step_sizes.view(STEPS, 1)).sum(0).view(e.shape)
                per_token = (total * (e - baseline)).sum(-1)
                with torch.no_grad():
                    delta = per_token.sum() - (torch.softmax(model(e, mask), -1)[0, target] -
                                               torch.softmax(model(baseline, mask), -1)[0, target])
                worst_delta = max(worst_delta, float(delta.abs()))
        best = min(best, time.perf_counter() - start)
    return best, len(texts), worst_delta


def onednn_share(binary, benchmark_filter):
    """The share of the wall time oneDNN reports executing primitives (DNNL_VERBOSE=1 exec lines) in one
    run of the benchmark; the verbose printing itself slows the run, so this is a lower bound."""
    import os
    env = dict(os.environ, DNNL_VERBOSE="1", ONEDNN_VERBOSE="1")
    start = time.perf_counter()
    out = subprocess.run([binary, "--benchmark_filter=" + benchmark_filter, "--benchmark_min_time=0"],
                         check=True, capture_output=True, text=True, env=env).stdout
    wall_ms = (time.perf_counter() - start) * 1000
    exec_ms = sum(float(line.rsplit(",", 1)[1]) for line in out.splitlines()
                  if line.startswith(("dnnl_verbose,exec", "onednn_verbose,exec")))
    return exec_ms / wall_ms


def loupe_text_ms_per_row(binary):
    out = subprocess.run([binary, "--benchmark_format=json", "--benchmark_filter=LayerIntegratedGradients",
                          "--benchmark_repetitions=%d" % REPEATS],
                         check=True, capture_output=True, text=True).stdout
    runs = [b for b in json.loads(out)["benchmarks"] if b.get("run_type") == "iteration"]
    best = min(runs, key=lambda b: b["ms_per_row"])
    return best["ms_per_row"], best["gradient_fraction"]


def loupe_ms_per_row(binary):
    out = subprocess.run([binary, "--benchmark_format=json", "--benchmark_filter=/569",
                          "--benchmark_repetitions=%d" % REPEATS],
                         check=True, capture_output=True, text=True).stdout
    runs = [b for b in json.loads(out)["benchmarks"] if b.get("run_type") == "iteration"]
    best = min(runs, key=lambda b: b["ms_per_row"])
    return best["ms_per_row"], best["gradient_fraction"], best.get("max_delta", float("nan"))


def check_delta():
    """The PyTorch loop's max |delta| in float64 as the steps grow: quadrature error shrinks, a bug would not."""
    for steps in (STEPS, 200, 1000):
        print("  float64, %4d steps: max |delta| %.2e" % (steps, torch_ig_seconds(False, steps, torch.float64, 1)[2]))


def main():
    if "--check-delta" in sys.argv:
        check_delta()
        return
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    binary = args[0] if args else str(ROOT / "build/bin/grad_bench")
    loupe_ms, fraction, loupe_delta = loupe_ms_per_row(binary)
    seconds, rows, delta = torch_ig_seconds()
    torch_ms = seconds * 1000 / rows
    summed_ms = torch_ig_seconds(unbind=False)[0] * 1000 / rows
    print("integrated gradients, breast_cancer MLP, %d rows x 2 outputs, %d Gauss-Legendre steps, 1 thread" % (
        rows, STEPS))
    print("  Loupe (grad.integrated_gradients):   %.4f ms per row; %.0f%% of it in the gradient capability "
          "(max |delta| %.2e)" % (loupe_ms, 100 * fraction, loupe_delta))
    print("  PyTorch autograd loop (Captum's):    %.4f ms per row (max |delta| %.2e: 50 steps' quadrature "
          "error from the zero baseline, see the docstring)" % (torch_ms, delta))
    print("  PyTorch, outputs.sum() instead:      %.4f ms per row" % summed_ms)
    print("  ratio PyTorch / Loupe:               %.2fx (Captum's loop), %.2fx (summed outputs)" % (
        torch_ms / loupe_ms, summed_ms / loupe_ms))
    text_ms, text_fraction = loupe_text_ms_per_row(binary)
    seconds, texts, delta = torch_layer_ig_seconds()
    torch_text_ms = seconds * 1000 / texts
    share = onednn_share(binary, "LayerIntegratedGradients")
    print("layer integrated gradients, transformer text fixture, %d texts x 8 outputs, %d Gauss-Legendre steps, "
          "1 thread" % (texts, STEPS))
    print("  Loupe (grad.layer_integrated_gradients): %.3f ms per text; %.0f%% of it in the text_gradient "
          "capability, >= %.0f%% in oneDNN primitives (DNNL_VERBOSE)" % (text_ms, 100 * text_fraction, 100 * share))
    print("  PyTorch autograd loop (Captum's):        %.3f ms per text (max |delta| %.2e)" % (torch_text_ms, delta))
    print("  ratio PyTorch / Loupe:                   %.2fx" % (torch_text_ms / text_ms))


if __name__ == "__main__":
    main()
