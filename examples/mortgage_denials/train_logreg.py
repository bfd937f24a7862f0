#!/usr/bin/env python3
"""Trains the mortgage example's logistic-regression denial model and writes it as a loupe.model/v1 file.

The model is trained, as the historical lender's decisions were made, on every column of the Boston HMDA
data — race (`afam`) included. That is the point of the example: the fairness audit and the
counterfactual flip test of configs/mortgage_fairness.yaml find out how much the model uses it.

Pure Python (no numpy needed): mean imputation and standardisation of the numeric columns, one-hot
encoding of the categorical ones with sorted level lists (a missing or unknown level encodes as all
zeros), then L2-regularised logistic regression (scikit-learn's LogisticRegression(C=1) objective:
sum of log-losses + 0.5 * ||w||^2, intercept not penalised) fitted by Newton's method.

    python3 train_logreg.py data/hmda.csv models/hmda_logreg.yaml
"""
import csv
import math
import sys

TARGET = "deny"
CATEGORICAL = ["phist", "selfemp", "insurance", "condomin", "afam", "single", "hschool"]
MISSING = {"NA", ""}


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows, [c for c in rows[0].keys()]


def solve(a, b):
    """Solves a x = b by Gaussian elimination with partial pivoting."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            factor = m[r][col] / m[col][col]
            if factor:
                for c in range(col, n + 1):
                    m[r][c] -= factor * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def main(data_path, model_path):
    rows, columns = read(data_path)
    features = [c for c in columns if c != TARGET]
    inputs, encoders = [], []
    for name in features:
        values = [r[name] for r in rows if r[name] not in MISSING]
        if name in CATEGORICAL:
            levels = sorted(set(values))
            inputs.append({"name": name, "type": "categorical", "levels": levels})
            encoders.append(lambda v, levels=levels: [1.0 if v == l else 0.0 for l in levels])
        else:
            xs = [float(v) for v in values]
            mean = sum(xs) / len(xs)
            std = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))
            inputs.append({"name": name, "type": "numeric", "impute": mean, "standardize": {"mean": mean, "std": std}})
            encoders.append(lambda v, mean=mean, std=std: [((float(v) if v not in MISSING else mean) - mean) / std])
    classes = sorted(set(r[TARGET] for r in rows if r[TARGET] not in MISSING))
    data = [(sum((enc(r[name]) for name, enc in zip(features, encoders)), []), 1.0 if r[TARGET] == classes[1] else 0.0)
            for r in rows if r[TARGET] not in MISSING]
    d = len(data[0][0])
    w = [0.0] * (d + 1)  # last entry: intercept
    for iteration in range(25):
        grad = [0.0] * (d + 1)
        hess = [[0.0] * (d + 1) for _ in range(d + 1)]
        for x, y in data:
            xb = x + [1.0]
            p = 1.0 / (1.0 + math.exp(-sum(wi * xi for wi, xi in zip(w, xb))))
            s = p * (1 - p)
            for i in range(d + 1):
                grad[i] += (p - y) * xb[i]
                si = s * xb[i]
                if si:
                    row = hess[i]
                    for j in range(i + 1):
                        row[j] += si * xb[j]
        for i in range(d + 1):
            for j in range(i):
                hess[j][i] = hess[i][j]
        for i in range(d):  # the L2 penalty, intercept excluded
            grad[i] += w[i]
            hess[i][i] += 1.0
        step = solve(hess, grad)
        w = [wi - si for wi, si in zip(w, step)]
        if max(abs(s) for s in step) < 1e-10:
            break
    with open(model_path, "w") as out:
        out.write("# Logistic regression on hmda.csv, written by train_logreg.py. Do not edit by hand.\n")
        out.write("format: loupe.model/v1\nname: hmda_logreg\ntask: classification\n")
        out.write("classes: [%s]\n" % ", ".join(classes))
        out.write("inputs:\n")
        for spec in inputs:
            if spec["type"] == "categorical":
                out.write("  - {name: %s, type: categorical, levels: [%s]}\n" % (spec["name"], ", ".join(spec["levels"])))
            else:
                out.write("  - {name: %s, type: numeric, impute: %r, standardize: {mean: %r, std: %r}}\n" % (
                    spec["name"], spec["impute"], spec["standardize"]["mean"], spec["standardize"]["std"]))
        out.write("layers:\n")
        out.write("  - type: linear\n    in_features: %d\n    out_features: 1\n" % d)
        out.write("    weight: [[%s]]\n" % ", ".join(repr(v) for v in w[:d]))
        out.write("    bias: [%r]\n" % w[d])
        out.write("  - type: sigmoid\n")
    correct = sum((sum(wi * xi for wi, xi in zip(w, x + [1.0])) > 0) == (y == 1.0) for x, y in data)
    print("training accuracy %.4f on %d rows, %d iterations" % (correct / len(data), len(data), iteration + 1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
