#!/usr/bin/python3
"""attention.flow against the paper's networkx code on the same tensors, in the same run (issue 21).

Runs loupe_attention_bench RUNS times with --dump (6 layers x 8 heads of random softmax attention, one
thread; the flow's CPU time of each run), then, for each T in TOKENS, builds the paper's graph in networkx
from the dumped residual-adjusted layers (a node per (layer, position), an edge (l, q) -> (l - 1, k) of
capacity adjusted[l - 1][q][k], as attention_graph_util.py in Abnar & Zuidema's repository) and times
networkx.maximum_flow_value with Edmonds-Karp (the paper's flow_func) on PAIRS seeded random
(output position, input token) pairs, one thread. Every sampled value must equal the benchmark's maximum
flow for that pair to 1e-9 (exit status 1 otherwise). networkx's time for all T^2 pairs is the per-pair
time times T^2 (the paper's code also computes flows from every inner layer's nodes, L times more; not
counted here), and the ratio is that over Loupe's CPU time for all T^2 pairs.

    /usr/bin/python3 plugins/attention/bench/compare_networkx.py build/bin/loupe_attention_bench \
        [--tokens 32,128] [--pairs 4] [--runs 3]
"""
import argparse
import random
import re
import subprocess
import sys
import tempfile
import time

import networkx as nx
import numpy as np
from networkx.algorithms.flow import edmonds_karp

LAYERS = 6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", help="path of loupe_attention_bench")
    parser.add_argument("--tokens", default="32,128", help="sequence lengths, powers of two from 32")
    parser.add_argument("--pairs", type=int, default=4, help="networkx pairs timed per sequence length")
    parser.add_argument("--runs", type=int, default=3, help="benchmark runs (CPU time min-max)")
    args = parser.parse_args()
    tokens = [int(t) for t in args.tokens.split(",")]
    loupe_cpu = {t: [] for t in tokens}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.runs):
            out = subprocess.run([args.bench, str(max(tokens)), "--dump", folder], check=True,
                                 capture_output=True, text=True).stdout
            for line in out.splitlines():
                fields = line.split()
                if fields and re.fullmatch(r"\d+", fields[0]) and int(fields[0]) in loupe_cpu:
                    loupe_cpu[int(fields[0])].append(float(fields[4]) / 1e3)  # flow_cpu_ms
        failed = False
        for t in tokens:
            adjusted = np.fromfile(f"{folder}/adjusted_{t}.f64").reshape(LAYERS, t, t)
            maxflow = np.fromfile(f"{folder}/maxflow_{t}.f64").reshape(t, t)
            graph = nx.DiGraph()
            for layer in range(1, LAYERS + 1):
                for q in range(t):
                    for k in range(t):
                        graph.add_edge(layer * t + q, (layer - 1) * t + k,
                                       capacity=float(adjusted[layer - 1, q, k]))
            rng = random.Random(t)
            pairs = [(rng.randrange(t), rng.randrange(t)) for _ in range(args.pairs)]
            worst = 0.0
            cpu = time.process_time()
            for q, k in pairs:
                value = nx.maximum_flow_value(graph, LAYERS * t + q, k, flow_func=edmonds_karp)
                worst = max(worst, abs(value - maxflow[q, k]))
            per_pair = (time.process_time() - cpu) / len(pairs)
            total = per_pair * t * t
            low, high = min(loupe_cpu[t]), max(loupe_cpu[t])
            print(f"T = {t}: Loupe attention.flow {low * 1e3:.1f}-{high * 1e3:.1f} ms CPU for all {t * t} pairs "
                  f"({len(loupe_cpu[t])} runs); networkx Edmonds-Karp {per_pair:.3f} s CPU per pair "
                  f"({len(pairs)} pairs), {total:.0f} s for all pairs; ratio {total / high:.3g}-{total / low:.3g}; "
                  f"max |networkx - Loupe| over the sampled pairs {worst:.1e}")
            if not worst <= 1e-9:
                print(f"T = {t}: networkx and Loupe disagree by {worst:.3g}", file=sys.stderr)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
