#!/usr/bin/python3
"""Loupe's effects explainers against scikit-learn's partial_dependence and permutation_importance on the
same model and rows, in the same run.

Runs loupe_effects_bench (the demo's logistic-regression credit model from tests/fixtures/fixtures.json on
its 400 credit rows tiled 10 times, through the SDK's mock host on 1 and 2 threads), then times
scikit-learn 1.2.1 on the same rows with the same model wrapped as a classifier whose predict_proba is the
forward pass in numpy (make_fixtures.py's LoupeLogreg):
  - partial_dependence(features Income and Age, grid_resolution 100, kind "average") -> BM_PartialDependence
  - permutation_importance(scoring "neg_log_loss", n_repeats 5, n_jobs None)          -> BM_PermutationImportance
and prints mean times and the ratios sklearn / Loupe.

    /usr/bin/python3 plugins/effects/bench/compare_sklearn.py build/bin/loupe_effects_bench
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.inspection import partial_dependence, permutation_importance

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
from make_fixtures import LoupeLogreg  # noqa: E402  (the fixtures' scikit-learn wrapper)

TILES = 10


def loupe_times(bench):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        subprocess.run([bench, "--benchmark_filter=PartialDependence|PermutationImportance",
                        f"--benchmark_out={out}", "--benchmark_out_format=json"], check=True)
        with open(out) as f:
            report = json.load(f)
    times = {}
    for run in report["benchmarks"]:
        if run.get("run_type") != "iteration" or run.get("error_occurred"):
            continue
        name, threads = run["name"].split("/")[0], int(run["name"].split("threads:")[1].split("/")[0])
        unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[run["time_unit"]]
        times[(name, threads)] = (run["real_time"] * unit, run["iterations"])
    return times


def mean_seconds(fn, repeats):
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return sum(seconds) / len(seconds)


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: compare_sklearn.py PATH/TO/loupe_effects_bench", file=sys.stderr)
        return 2
    with open(os.path.join(HERE, "..", "tests", "fixtures", "fixtures.json")) as f:
        fixtures = json.load(f)
    names = fixtures["feature_names"]
    X = np.tile(np.array(fixtures["X"]), (TILES, 1))
    y = np.tile(np.array(fixtures["y"]), TILES)
    model = dict(fixtures["model"])
    model["inputs"] = [
        {"name": n, "type": "categorical", "levels": levels} if cat else
        {"name": n, "type": "numeric", "impute": mean, "standardize": {"mean": mean, "std": std}}
        for n, cat, levels, mean, std in zip(names, fixtures["categorical"], fixtures["levels"], model["mean"],
                                             model["std"])]
    est = LoupeLogreg(model).fit()

    loupe = loupe_times(sys.argv[1])
    cases = {
        "BM_PartialDependence": lambda: [partial_dependence(est, X, [names.index(f)], grid_resolution=100,
                                                            kind="average") for f in ("Income", "Age")],
        "BM_PermutationImportance": lambda: permutation_importance(est, X, y, scoring="neg_log_loss", n_repeats=5,
                                                                   random_state=0),
    }
    print(f"data: {X.shape[0]} rows x {X.shape[1]} features (credit rows tiled {TILES}x), model: credit_logreg")
    for name, fn in cases.items():
        repeats = max(loupe.get((name, 1), (0, 3))[1], 3)
        sk = mean_seconds(fn, repeats)
        print(f"{name}: sklearn {sk * 1e3:.1f} ms (mean of {repeats})")
        for threads in (1, 2):
            if (name, threads) in loupe:
                t = loupe[(name, threads)][0]
                print(f"  loupe {threads} thread(s): {t * 1e3:.1f} ms  -> sklearn / loupe = {sk / t:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
