#!/usr/bin/python3
"""fairness.group against fairlearn 0.9's MetricFrame and AIF360 0.6.1's ClassificationMetric on the same
1,000,000 rows, in the same run (issue 21).

Writes N seeded rows (a score, a 4-level group with unequal shares, a label drawn from the score), a native
logistic model on the score and a pipeline with one fairness.group step (groups by `g`, privileged `a`, no
bootstrap; consistency is skipped past consistency_max_rows), runs `loupe run` RUNS times on 1 and 2
threads and takes the step's median `elapsed_ms` from run.json: the model's predictions of every row and
every metric of the report (docs: plugins/fairness/README.md). Then, on the same rows and the same decisions
(the model's formula in numpy, not timed), it times
  - fairlearn: a MetricFrame over the per-group metrics fairness.group reports under `fairlearn.*`
    (selection rate, TPR, FPR, TNR, FNR, accuracy, balanced accuracy, precision, recall, F1, zero-one
    loss), their difference / ratio / group_min / group_max, and demographic parity and equalized odds
    difference and ratio;
  - AIF360: the two BinaryLabelDatasets (true and predicted labels) and a ClassificationMetric, and the
    metrics fairness.group reports under `aif360.*` that AIF360 computes from them (statistical parity,
    disparate impact, equal opportunity, average (abs) odds, the FPR/FNR/FDR/FOR/error-rate differences
    and ratios, the generalized entropy index, Theil index, coefficient of variation and their
    between-group forms);
each the best of RUNS calls in one warm process, and prints the ratios. Loupe does more in its step (it
also predicts, and computes both libraries' metrics and its own), so the ratios are conservative.

    source ../shared/pyrefs/env.sh
    /usr/bin/python3 plugins/fairness/bench/compare_references.py build/bin/loupe [ROWS] [RUNS]
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

GROUPS = np.array(["a", "b", "c", "d"])
GROUP_SHARES = [0.5, 0.25, 0.15, 0.10]
WEIGHT, BIAS = 6.0, -3.2  # p(favourable) = sigmoid(WEIGHT * score + BIAS)

MODEL = f"""format: loupe.model/v1
name: score_logreg
task: classification
classes: ["0", "1"]
inputs:
  - {{name: score, type: numeric}}
layers:
  - {{type: linear, in_features: 1, out_features: 1, weight: [[{WEIGHT!r}]], bias: [{BIAS!r}]}}
  - {{type: sigmoid}}
"""

PIPELINE = """version: 1
name: fairness-bench
seed: 0
data:
  path: rows.csv
  target: y
  positive: "1"
  categorical: [g, y]
  sensitive: [g]
  features: [score]
model:
  type: native
  path: model.yaml
steps:
  - id: fairness
    explainer: fairness.group
    params: {sensitive: [g], privileged: {g: a}, n_boot: 0}
output:
  dir: out
  formats: [json]
"""


def make_rows(n):
    rng = np.random.default_rng(21)
    group = rng.choice(len(GROUPS), size=n, p=GROUP_SHARES)
    score = np.round(0.15 * group + 0.55 * rng.random(n), 4)
    label = (rng.random(n) < score).astype(np.int64)
    return score, GROUPS[group], label


def loupe_seconds(loupe, work, runs):
    times = {}
    for threads in (1, 2):
        samples = []
        for _ in range(runs):
            subprocess.run([loupe, "run", "bench.yaml", "-q", "--threads", str(threads)], cwd=work, check=True)
            with open(os.path.join(work, "out", "run.json")) as f:
                samples.append(json.load(f)["steps"][0]["elapsed_ms"] * 1e-3)
        times[threads] = statistics.median(samples)
    with open(os.path.join(work, "out", "fairness.json")) as f:
        report = json.load(f)
    return times, report


def best_of(fn, runs):
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def fairlearn_report(y, y_pred, group):
    from fairlearn.metrics import (MetricFrame, demographic_parity_difference, demographic_parity_ratio,
                                   equalized_odds_difference, equalized_odds_ratio, false_negative_rate,
                                   false_positive_rate, selection_rate, true_negative_rate,
                                   true_positive_rate)
    from sklearn.metrics import (accuracy_score, balanced_accuracy_score, f1_score, precision_score,
                                 recall_score, zero_one_loss)
    metrics = {
        "selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
        "false_positive_rate": false_positive_rate, "true_negative_rate": true_negative_rate,
        "false_negative_rate": false_negative_rate, "accuracy_score": accuracy_score,
        "balanced_accuracy_score": balanced_accuracy_score, "precision_score": precision_score,
        "recall_score": recall_score, "f1_score": f1_score, "zero_one_loss": zero_one_loss,
    }
    frame = MetricFrame(metrics=metrics, y_true=y, y_pred=y_pred, sensitive_features=group)
    out = {"difference": frame.difference(), "ratio": frame.ratio(), "group_min": frame.group_min(),
           "group_max": frame.group_max()}
    for name, fn in [("demographic_parity_difference", demographic_parity_difference),
                     ("demographic_parity_ratio", demographic_parity_ratio),
                     ("equalized_odds_difference", equalized_odds_difference),
                     ("equalized_odds_ratio", equalized_odds_ratio)]:
        out[name] = fn(y, y_pred, sensitive_features=group)
    return out


def aif360_report(y, y_pred, group):
    from aif360.datasets import BinaryLabelDataset
    from aif360.metrics import ClassificationMetric
    privileged = (group == "a").astype(np.float64)
    truth = BinaryLabelDataset(df=pd.DataFrame({"g": privileged, "y": y.astype(np.float64)}),
                               label_names=["y"], protected_attribute_names=["g"],
                               favorable_label=1.0, unfavorable_label=0.0)
    predicted = truth.copy(deepcopy=True)
    predicted.labels = y_pred.astype(np.float64).reshape(-1, 1)
    metric = ClassificationMetric(truth, predicted, unprivileged_groups=[{"g": 0.0}],
                                  privileged_groups=[{"g": 1.0}])
    names = ["statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
             "true_positive_rate_difference", "average_odds_difference", "average_abs_odds_difference",
             "false_positive_rate_difference", "false_positive_rate_ratio", "false_negative_rate_difference",
             "false_negative_rate_ratio", "false_discovery_rate_difference", "false_discovery_rate_ratio",
             "false_omission_rate_difference", "false_omission_rate_ratio", "error_rate_difference",
             "error_rate_ratio", "generalized_entropy_index", "theil_index", "coefficient_of_variation",
             "between_group_generalized_entropy_index", "between_group_theil_index",
             "between_group_coefficient_of_variation"]
    return {name: getattr(metric, name)() for name in names}


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    loupe = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    score, group, label = make_rows(n)
    y_pred = (1.0 / (1.0 + np.exp(-(WEIGHT * score + BIAS))) >= 0.5).astype(np.int64)
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as work:
        pd.DataFrame({"score": score, "g": group, "y": label}).to_csv(os.path.join(work, "rows.csv"),
                                                                     index=False)
        with open(os.path.join(work, "model.yaml"), "w") as f:
            f.write(MODEL)
        with open(os.path.join(work, "bench.yaml"), "w") as f:
            f.write(PIPELINE)
        loupe_times, report = loupe_seconds(loupe, work, runs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fairlearn_out = fairlearn_report(label, y_pred, group)
        aif_out = aif360_report(label, y_pred, group)
        fairlearn_s = best_of(lambda: fairlearn_report(label, y_pred, group), runs)
        aif_s = best_of(lambda: aif360_report(label, y_pred, group), runs)

    # The same numbers: a few of each library's metrics against Loupe's report.
    checks = [
        ("fairlearn demographic_parity_difference", fairlearn_out["demographic_parity_difference"],
         report["metrics"]["fairlearn"]["demographic_parity_difference"]),
        ("fairlearn equalized_odds_ratio", fairlearn_out["equalized_odds_ratio"],
         report["metrics"]["fairlearn"]["equalized_odds_ratio"]),
        ("aif360 disparate_impact", aif_out["disparate_impact"], report["metrics"]["aif360"]["disparate_impact"]),
        ("aif360 theil_index", aif_out["theil_index"], report["metrics"]["aif360"]["theil_index"]),
    ]
    for name, reference, ours in checks:
        if abs(reference - ours) > 1e-9 * max(1.0, abs(reference)):
            print(f"MISMATCH {name}: reference {reference!r}, Loupe {ours!r}", file=sys.stderr)
            return 1
    print(f"rows: {n:,} (4 groups), decisions of a logistic model on one feature; the same metrics agree to 1e-9")
    for threads, seconds in sorted(loupe_times.items()):
        print(f"loupe fairness.group step, {threads} thread(s): {seconds * 1e3:.1f} ms (median of {runs})")
    print(f"fairlearn MetricFrame + disparities: {fairlearn_s * 1e3:.1f} ms (best of {runs})")
    print(f"AIF360 BinaryLabelDataset + ClassificationMetric: {aif_s * 1e3:.1f} ms (best of {runs})")
    for threads, seconds in sorted(loupe_times.items()):
        print(f"{threads} thread(s): fairlearn / loupe = {fairlearn_s / seconds:.1f}x, "
              f"AIF360 / loupe = {aif_s / seconds:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
