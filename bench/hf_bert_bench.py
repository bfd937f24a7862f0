#!/usr/bin/python3
"""A BERT-base-shaped encoder (12 layers, hidden 768, 12 heads, feed-forward 3072, sequence 128, random
weights) run by Loupe (`model: {type: huggingface}`, bench/hf_bench.cpp) and by PyTorch in the same run, at
batch 1 and 16 on 1 and 2 threads; f32 for both, and Loupe bf16 against PyTorch f32 where the CPU has bf16.

    /usr/bin/python3 bench/hf_bert_bench.py build-hfm/bin/hf_bench [WORKDIR] [--skip-blas]

The model is BertForSequenceClassification as tests/fixtures/hf_models/make_fixtures.py defines it (Hugging
Face's parameter names), written as a save_pretrained directory into WORKDIR (default /tmp/loupe_hf_bench,
about 350 MB) with the fixture's WordPiece tokenizer.json. Each configuration runs in a fresh process of its
own (both sides), which prints seconds per batch (median) and the peak resident memory the batches added
over the loaded model. Threads: PyTorch uses intra-op threads (torch.set_num_threads); Loupe runs oneDNN on
one thread per call and splits a batch's rows over threads as its host does, so batch 1 gains nothing from
a second thread there. PyTorch's inputs are token ids of the same length (its time excludes tokenization;
Loupe's includes it). PyTorch runs twice: as built (Debian's python3-torch uses the generic BLAS, netlib's
reference implementation unless OpenBLAS is installed: very slow; --skip-blas leaves this run out) and with
its nn.Linear layers on oneDNN (torch.utils.mkldnn.to_mkldnn), the fair baseline; speed-ups are against the
faster of the two. Needs Debian's python3-torch; never needed by Loupe.
"""
import importlib.util
import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "hf_models"
SEQUENCE = 128


def fixtures_module():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def base_config(vocab_size):
    fx = fixtures_module()
    config = fx.bert_config(vocab_size)
    config.update({"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                   "intermediate_size": 3072, "max_position_embeddings": 512, **fx.labels_of(["no", "yes"])})
    return config


def read_safetensors(path):
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + length])
    out = {}
    for name, info in header.items():
        if name != "__metadata__":
            begin, end = info["data_offsets"]
            data = torch.frombuffer(bytearray(raw[8 + length + begin:8 + length + end]), dtype=torch.float32)
            out[name] = data.reshape(info["shape"])
    return out


def make_model_dir(workdir):
    """The save_pretrained directory and 16 texts of exactly SEQUENCE tokens ([CLS] + 126 words + [SEP])."""
    fx = fixtures_module()
    tokenizer = json.loads((ROOT / "tests/fixtures/tokenizers/bert_wordpiece.json").read_text())
    workdir.mkdir(parents=True, exist_ok=True)
    config = base_config(len(tokenizer["model"]["vocab"]))
    tokenizer["truncation"] = {"direction": "Right", "max_length": SEQUENCE, "strategy": "LongestFirst", "stride": 0}
    if not (workdir / "model.safetensors").exists():
        torch.manual_seed(0)
        model = fx.BertForSequenceClassification(config).eval()
        (workdir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        fx.write_safetensors(workdir / "model.safetensors", model.state_dict())
    (workdir / "tokenizer.json").write_text(json.dumps(tokenizer))
    words = sorted(t for t in tokenizer["model"]["vocab"] if t.isascii() and t.isalpha() and t.islower() and len(t) > 2)
    rng = random.Random(0)
    texts = [" ".join(rng.choice(words) for _ in range(SEQUENCE - 2)) for _ in range(16)]
    (workdir / "texts.txt").write_text("\n".join(texts) + "\n")
    return config


def peak_resident_mib():
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def torch_child(workdir, batch, threads, backend):
    """One configuration in this (fresh) process: prints the same JSON line as hf_bench. backend "blas" runs
    the nn.Linear layers on the BLAS PyTorch was built with; "onednn" converts them with
    torch.utils.mkldnn.to_mkldnn (oneDNN's inner product, as Loupe uses)."""
    torch.set_num_threads(threads)
    fx = fixtures_module()
    config = json.loads((workdir / "config.json").read_text())
    model = fx.BertForSequenceClassification(config).eval()
    model.load_state_dict(read_safetensors(workdir / "model.safetensors"))
    if backend == "onednn":
        from torch.utils import mkldnn as mkldnn_utils

        model = mkldnn_utils.to_mkldnn(model)
    ids = torch.randint(5, config["vocab_size"] - 3, (batch, SEQUENCE), generator=torch.Generator().manual_seed(1))
    ids[:, 0], ids[:, -1] = 2, 3
    mask = torch.ones_like(ids)
    seconds = []
    with torch.inference_mode():
        torch.softmax(model(ids, mask)[0], -1)  # warm-up, as hf_bench's
        pathlib.Path("/proc/self/clear_refs").write_text("5")
        before = peak_resident_mib()
        start = time.perf_counter()
        while len(seconds) < 2 or (len(seconds) < 50 and time.perf_counter() - start < 10.0):
            t0 = time.perf_counter()
            torch.softmax(model(ids, mask)[0], -1)
            seconds.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": statistics.median(seconds), "memory_mib": peak_resident_mib() - before}))


def run_json(command):
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--torch-child":
        backend = sys.argv[5] if len(sys.argv) > 5 else "blas"
        return torch_child(pathlib.Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), backend)
    skip_blas = "--skip-blas" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--skip-blas"]
    if not args:
        sys.exit(__doc__)
    hf_bench = args[0]
    workdir = pathlib.Path(args[1] if len(args) > 1 else "/tmp/loupe_hf_bench")
    make_model_dir(workdir)
    flags = pathlib.Path("/proc/cpuinfo").read_text()
    has_bf16 = "avx512_bf16" in flags or "amx_bf16" in flags
    print(f"CPU bf16: avx512_bf16={'avx512_bf16' in flags} amx_bf16={'amx_bf16' in flags}; torch {torch.__version__}")
    print(f"torch BLAS: {'BLAS_INFO=generic' if 'BLAS_INFO=generic' in torch.__config__.show() else 'optimised'}")
    print("| batch | threads | PyTorch f32 BLAS s/batch | PyTorch f32 oneDNN s/batch | Loupe f32 s/batch | f32 speed-up"
          " | Loupe bf16 s/batch | bf16 speed-up | memory MiB (PyTorch oneDNN / Loupe f32 / bf16) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for batch in (1, 16):
        for threads in (1, 2):
            child = [sys.executable, __file__, "--torch-child", str(workdir), str(batch), str(threads)]
            blas = None if skip_blas else run_json(child + ["blas"])
            onednn = run_json(child + ["onednn"])
            f32 = run_json([hf_bench, str(workdir), str(workdir / "texts.txt"), str(batch), str(threads), "f32"])
            assert f32["tokens"] == SEQUENCE, f32
            bf16 = (run_json([hf_bench, str(workdir), str(workdir / "texts.txt"), str(batch), str(threads), "bf16"])
                    if has_bf16 else None)
            # Speed-ups against the faster of the PyTorch runs.
            best = min(onednn["seconds"], blas["seconds"] if blas else float("inf"))
            bf16_cells = f"{bf16['seconds']:.3f} | {best / bf16['seconds']:.2f}x" if bf16 else "n/a | n/a"
            print(f"| {batch} | {threads} | {blas['seconds'] if blas else float('nan'):.3f} | {onednn['seconds']:.3f} | "
                  f"{f32['seconds']:.3f} | {best / f32['seconds']:.2f}x | {bf16_cells} | "
                  f"{onednn['memory_mib']:.0f} / {f32['memory_mib']:.0f} / {bf16['memory_mib'] if bf16 else 0:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
