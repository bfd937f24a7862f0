#!/usr/bin/python3
"""Loupe's CART fit against scikit-learn's DecisionTreeClassifier on the same data, in the same run.

Runs loupe_surrogate_bench (which writes its generated 100,000 x 30 rows to a CSV and times Loupe's fit,
gini, max_depth 10, on 1 and 2 threads), then fits sklearn's DecisionTreeClassifier(criterion="gini",
max_depth=10) on the CSV's rows as many times as the benchmark iterates, and prints both mean times and
their ratios, in wall time and in CPU time (user + sys, all threads: what a loaded machine
disturbs least).

    /usr/bin/python3 plugins/surrogate/bench/compare_sklearn.py build/bin/loupe_surrogate_bench
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.tree import DecisionTreeClassifier


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: compare_sklearn.py PATH/TO/loupe_surrogate_bench", file=sys.stderr)
        return 2
    bench = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "cart_bench.csv")
        out = os.path.join(tmp, "bench.json")
        subprocess.run([bench, f"--csv={csv}", f"--benchmark_out={out}", "--benchmark_out_format=json"],
                       check=True)
        with open(out) as f:
            report = json.load(f)
        data = np.loadtxt(csv, delimiter=",", skiprows=1)
    x, y = data[:, :-1].astype(np.float32), data[:, -1].astype(np.int64)

    loupe = {}
    for run in report["benchmarks"]:
        if run.get("run_type") != "iteration" or run.get("error_occurred"):
            continue
        threads = int(run["name"].split("threads:")[1].split("/")[0])
        unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[run["time_unit"]]
        loupe[threads] = (run["real_time"] * unit, run["iterations"], int(run["leaves"]), run["cpu_time"] * unit)
    if 1 not in loupe:
        print("the benchmark reported no 1-thread fit", file=sys.stderr)
        return 1

    repeats = loupe[1][1]
    seconds, cpu_seconds = [], []
    tree = None
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        tree = DecisionTreeClassifier(criterion="gini", max_depth=10, random_state=0).fit(x, y)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    sk, sk_cpu = sum(seconds) / len(seconds), sum(cpu_seconds) / len(cpu_seconds)

    print(f"data: {x.shape[0]} rows x {x.shape[1]} features, gini, max_depth 10, mean of {repeats} fits")
    for threads, (t, _, leaves, cpu) in sorted(loupe.items()):
        print(f"loupe CART, {threads} thread(s): {t:.3f} s wall, {cpu:.3f} s CPU ({leaves} leaves)")
    print(f"sklearn DecisionTreeClassifier: {sk:.3f} s wall, {sk_cpu:.3f} s CPU ({tree.get_n_leaves()} leaves)")
    for threads, (t, _, _, cpu) in sorted(loupe.items()):
        print(f"sklearn / loupe ({threads} thread(s)): {sk / t:.2f}x wall, {sk_cpu / cpu:.2f}x CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
