#!/usr/bin/python3
"""Loupe against the reference libraries, side by side, in one run on this machine (issue 21).

For each workload the reference (shap 0.42.1 / lime from ../shared/pyrefs, XGBoost from Debian) explains
the same rows of the same data with the same model and sample counts as a whole `loupe run`:

  kernel       shap.KernelExplainer, M = 30, background 100, nsamples 2048, l1_reg off
  permutation  shap.PermutationExplainer, M = 30, background 100, max_evals 620
  exact        shap.ExactExplainer, M = 10 groups (each measurement's mean, error and worst columns),
               background 100: 1,024 coalitions
  lime         lime.lime_tabular.LimeTabularExplainer, 5,000 samples, 10 features, label 1, quartiles
  tree         xgboost pred_contribs (path-dependent TreeSHAP), credit XGBoost fixture, rows tiled
  interactions xgboost pred_interactions, the same model
  interventional shap.TreeExplainer(booster, data=background) (shap's C extension, interventional
               TreeSHAP), diabetes XGBoost fixture (numeric splits only: shap 0.42.1's C extension cannot
               take the credit model's categorical splits with a background), background rows 100:200,
               explained rows tiled

The model of the first four is the breast_cancer MLP fixture, evaluated for the Python libraries in
vectorised numpy (bench/reference/mlp_numpy.py, f32 like Loupe's network path). Background rows are
100:200 of the data for both sides.

Timing: the reference is timed in its own process around the explain calls only (imports, data loading
and explainer construction excluded: the reference's best case). Loupe is timed as whole `loupe run`
processes (start-up, model loading and output writing included: Loupe's worst case), several runs after a
warm-up, min / median / max wall seconds and the minor page faults of each run, like a benchmark driver
would, and the CPU seconds (user + sys, all threads) of each side, which a loaded shared machine disturbs
far less than wall time. The reference's runs and Loupe's take turns (reference, Loupe, reference, ...),
so that a slow spell of a shared machine falls on both sides; "paired" divides each reference run's CPU by
that of the Loupe run right after it. "1 thread": the reference with one BLAS/OpenMP thread, Loupe with --threads 1; "2 threads": two
BLAS threads (shap and lime themselves are single-threaded Python) and --threads 2.

    source ../shared/pyrefs/env.sh        # or let bench/vs_reference.sh do it
    /usr/bin/python3 bench/vs_reference.py --loupe build/bin/loupe [--runs 5] [--workloads kernel,lime]
"""
import argparse
import json
import os
import pathlib
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "breast_cancer.csv"
MLP = ROOT / "tests" / "fixtures" / "models" / "breast_cancer_mlp.yaml"
XGB_MODEL = ROOT / "tests" / "fixtures" / "xgboost" / "credit_xgb.json"
XGB_DATA = ROOT / "tests" / "data" / "credit_data.csv"
DIABETES_MODEL = ROOT / "tests" / "fixtures" / "xgboost" / "diabetes_xgb.json"
DIABETES_DATA = ROOT / "tests" / "data" / "diabetes.csv"
BACKGROUND = (100, 200)

# Explained rows per workload (the same on both sides), chosen so one reference run takes a few seconds.
ROWS = {"kernel": 6, "permutation": 16, "exact": 8, "lime": 40, "tree": 200_000, "interactions": 2_000,
        "interventional": 2_000}
DESCRIPTION = {
    "kernel": "Kernel SHAP, M = 30, background 100, 2,048 coalitions, no L1",
    "permutation": "Permutation SHAP, M = 30, background 100, max_evals 620",
    "exact": "Exact SHAP, M = 10, background 100, 1,024 coalitions",
    "lime": "LIME tabular, M = 30, 5,000 samples, 10 features",
    "tree": "path-dependent TreeSHAP, credit XGBoost model, 200k rows",
    "interactions": "TreeSHAP interaction values, 2,000 rows, same model",
    "interventional": "interventional TreeSHAP, diabetes XGBoost, background 100",
}
# Issue 21's goals, reference s/row over Loupe's s/row.
GOAL = {"kernel": 50, "permutation": 50, "exact": 50, "lime": 10, "tree": 4, "interactions": 5,
        "interventional": 10}
REFERENCE_NAME = {
    "kernel": "shap KernelExplainer",
    "permutation": "shap PermutationExplainer",
    "exact": "shap ExactExplainer",
    "lime": "lime LimeTabularExplainer",
    "tree": "xgboost pred_contribs",
    "interactions": "xgboost pred_interactions",
    "interventional": "shap TreeExplainer (cext)",
}


# ----------------------------------------------------------------------------------------------------------
# The reference side: runs in a child process whose BLAS thread count is fixed by its environment.


def read_breast_cancer():
    import pandas as pd

    frame = pd.read_csv(DATA, float_precision="round_trip")
    return frame.drop(columns=["target"])


def run_reference(workload, rows):
    sys.path.insert(0, str(ROOT / "bench" / "reference"))
    import numpy as np

    if workload in ("tree", "interactions"):
        return run_xgboost(workload, rows)
    if workload == "interventional":
        return run_shap_interventional(rows)
    from mlp_numpy import BreastCancerMlp

    frame = read_breast_cancer()
    model = BreastCancerMlp()
    x_all = frame[model.names].to_numpy(dtype=np.float64)
    background = x_all[BACKGROUND[0] : BACKGROUND[1]]
    explained = x_all[:rows]
    if workload == "kernel":
        import shap

        explainer = shap.KernelExplainer(model, background)
        start, cpu_start = time.perf_counter(), time.process_time()
        explainer.shap_values(explained, nsamples=2048, l1_reg=0, silent=True)
    elif workload == "permutation":
        import shap

        explainer = shap.PermutationExplainer(model, shap.maskers.Independent(background, max_samples=100))
        start, cpu_start = time.perf_counter(), time.process_time()
        explainer(explained, max_evals=620, silent=True)
    elif workload == "exact":
        import shap

        # M = 10 groups: each measurement's "mean X", "X error" and "worst X" columns (c, c + 10, c + 20)
        # form one player, as Loupe's `groups`. shap has no grouped masker for tabular data, so the game is
        # played on row ids: player g of a masked row holds the id of the row its group's columns come from
        # (background row b, or B for the explained row), which the wrapper gathers in one vectorised step.
        group_of_column = np.arange(30) % 10
        table = {"rows": None}

        def grouped_model(ids):
            return model(table["rows"][ids.astype(np.int64)[:, group_of_column], np.arange(30)])

        ids = np.repeat(np.arange(len(background), dtype=np.float64)[:, None], 10, axis=1)
        explainer = shap.explainers.Exact(grouped_model, shap.maskers.Independent(ids, max_samples=100))
        start, cpu_start = time.perf_counter(), time.process_time()
        for row in explained:
            table["rows"] = np.vstack([background, row[None, :]])
            explainer(np.full((1, 10), float(len(background))), silent=True)
    elif workload == "lime":
        import lime.lime_tabular

        explainer = lime.lime_tabular.LimeTabularExplainer(
            x_all, feature_names=model.names, class_names=["malignant", "benign"], discretize_continuous=True,
            random_state=0)
        start, cpu_start = time.perf_counter(), time.process_time()
        for row in explained:
            explainer.explain_instance(row, model, labels=(1,), num_features=10, num_samples=5000)
    else:
        raise SystemExit("unknown workload " + workload)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu_seconds": time.process_time() - cpu_start, "rows": rows,
            "model_calls": model.calls, "model_rows": model.rows}


def tiled_credit_rows(rows):
    """The credit data (XGBoost's features, missing values as NaN) repeated to `rows` rows."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(XGB_DATA, float_precision="round_trip", na_values=["NA", ""])
    model = json.loads(XGB_MODEL.read_text())
    names = model["learner"]["feature_names"]
    types = model["learner"]["feature_types"]
    frame = frame[[c for c in frame.columns if c != "Status"]]
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("category").cat.codes.replace(-1, np.nan)
    repeats = -(-rows // len(frame))
    return pd.concat([frame] * repeats, ignore_index=True).iloc[:rows], names, types


def run_xgboost(workload, rows):
    import xgboost

    frame, names, types = tiled_credit_rows(rows)
    booster = xgboost.Booster()
    booster.load_model(str(XGB_MODEL))
    booster.set_param({"nthread": int(os.environ.get("OMP_NUM_THREADS", "1"))})
    matrix = xgboost.DMatrix(frame[names].to_numpy(dtype="float64"), feature_names=names, feature_types=types,
                             enable_categorical=True, missing=float("nan"))
    start, cpu_start = time.perf_counter(), time.process_time()
    if workload == "tree":
        booster.predict(matrix, pred_contribs=True)
    else:
        booster.predict(matrix, pred_interactions=True)
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start, "rows": rows}


def tiled_diabetes_rows(rows):
    """diabetes.csv's features repeated to `rows` rows (the rows of write_tiled_csv)."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(DIABETES_DATA, float_precision="round_trip").drop(columns=["target"])
    x = frame.to_numpy(dtype=np.float64)
    return x, np.concatenate([x] * -(-rows // len(x)))[:rows]


def run_shap_interventional(rows):
    import shap
    import xgboost

    data, explained = tiled_diabetes_rows(rows)
    booster = xgboost.Booster()
    booster.load_model(str(DIABETES_MODEL))
    booster.set_param({"nthread": 1})
    explainer = shap.TreeExplainer(booster, data=data[BACKGROUND[0]:BACKGROUND[1]],
                                   feature_perturbation="interventional")
    start, cpu_start = time.perf_counter(), time.process_time()
    explainer.shap_values(explained, check_additivity=False)
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start, "rows": rows}


# ----------------------------------------------------------------------------------------------------------
# The Loupe side: pipelines written to a temporary folder, run as whole processes.


def mlp_model_file(folder, precision):
    """The MLP fixture's model file, or a copy of it asking for `precision` (f64: the double-precision path,
    which offers the "row_variants" capability that shap's coalition explainers use)."""
    if precision == "f32":
        return MLP
    path = folder / ("breast_cancer_mlp_%s.yaml" % precision)
    text = MLP.read_text().replace("weights: breast_cancer_mlp.safetensors",
                                   "weights: %s\nprecision: %s" % (MLP.parent / "breast_cancer_mlp.safetensors",
                                                                   precision))
    path.write_text(text)
    return path


def loupe_pipeline(workload, rows, folder, precision="f32"):
    background = "'%d:%d'" % BACKGROUND
    data = "{path: %s, target: target}" % DATA
    model = "{type: native, path: %s}" % mlp_model_file(folder, precision)
    if workload == "kernel":
        explainer, params = "shap.kernel", "{nsamples: 2048, background: %s, l1_reg: 'off'}" % background
    elif workload == "permutation":
        explainer, params = "shap.permutation", "{max_evals: 620, background: %s}" % background
    elif workload == "exact":
        header = read_header()
        groups = ", ".join("'%s': ['%s', '%s', '%s']" % (header[g][5:], header[g], header[g + 10], header[g + 20])
                           for g in range(10))
        explainer, params = "shap.exact", "{background: %s, groups: {%s}}" % (background, groups)
    elif workload == "lime":
        explainer, params = "lime.tabular", "{num_samples: 5000, num_features: 10, labels: [1]}"
    elif workload == "interventional":
        csv = folder / "diabetes_tiled.csv"
        write_tiled_csv(DIABETES_DATA, csv, rows)
        data = "{path: %s, target: target}" % csv
        model = "{type: xgboost, path: %s}" % DIABETES_MODEL
        explainer, params = "shap.tree", "{background: %s}" % background
    else:
        csv = folder / "credit_tiled.csv"
        if not csv.exists() or sum(1 for _ in open(csv)) != rows + 1:
            write_tiled_csv(XGB_DATA, csv, rows)
        data = "{path: %s, target: Status, missing: ['NA', '']}" % csv
        model = "{type: xgboost, path: %s}" % XGB_MODEL
        explainer = "shap.tree"
        params = "{interactions: true}" if workload == "interactions" else "{}"
    text = (
        "version: 1\nname: vs-%s\nseed: 7\ndata: %s\nmodel: %s\nsteps:\n"
        "  - {id: step, explainer: %s, rows: '0:%d', params: %s}\noutput: {dir: %s, formats: [json]}\n"
        % (workload, data, model, explainer, rows, params, folder / ("out-" + workload)))
    path = folder / (workload + ".yaml")
    path.write_text(text)
    return path


def read_header():
    with open(DATA) as f:
        return f.readline().strip().split(",")


def write_tiled_csv(source, path, rows):
    lines = source.read_text().splitlines()
    header, body = lines[0], lines[1:]
    with open(path, "w") as out:
        out.write(header + "\n")
        for i in range(rows):
            out.write(body[i % len(body)] + "\n")


def time_loupe_once(loupe, pipeline, threads):
    """One run: (wall seconds, user + sys seconds, minor page faults, the step's own seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([loupe, "run", str(pipeline), "--threads", str(threads)], capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit("loupe run %s failed:\n%s%s" % (pipeline, done.stdout, done.stderr))
    match = re.search(r"^step\s+ok\s+([0-9.]+)\s*(ms|s)\b", done.stdout, re.M)
    step = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1) if match else float("nan")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_minflt - before.ru_minflt, step


def time_loupe(loupe, pipeline, threads, runs):
    """Per counted run: time_loupe_once's figures, after a first run that warms the page cache."""
    time_loupe_once(loupe, pipeline, threads)
    return [time_loupe_once(loupe, pipeline, threads) for _ in range(runs)]


def time_alternating(workload, rows, threads, reference_runs, loupe, pipeline, runs):
    """The reference's runs and Loupe's counted runs taken in turn (reference, Loupe, reference, ...), so
    that a slow spell of the machine falls on both sides rather than on one. Returns (the reference's
    fastest run or None, the error if it failed, every reference run, Loupe's runs)."""
    time_loupe_once(loupe, pipeline, threads)  # warms the page cache; not counted
    references, figures, error = [], [], None
    for turn in range(max(reference_runs, runs)):
        if turn < reference_runs and error is None:
            attempt, error = time_reference(workload, rows, threads)
            if attempt is not None:
                references.append(attempt)
        if turn < runs:
            figures.append(time_loupe_once(loupe, pipeline, threads))
    fastest = min(references, key=lambda r: r["seconds"]) if references and error is None else None
    return fastest, error, references, figures


def fixed_and_per_row(workload, rows, threads, runs, loupe, folder, precision, cpu_per_row):
    """Loupe's CPU as a fixed cost per process plus a cost per row, from one-row runs and the n-row runs'
    median CPU per row: how much of the whole-process ratio the start-up takes at n rows."""
    if rows < 2:
        return None
    folder = folder / "one-row"  # its own pipeline file and outputs: the n-row pipeline is timed again later
    folder.mkdir(exist_ok=True)
    one_row = loupe_pipeline(workload, 1, folder, precision)
    cpu_one = statistics.median(f[1] for f in time_loupe(loupe, one_row, threads, runs))
    per_row = (cpu_per_row * rows - cpu_one) / (rows - 1)
    return cpu_one - per_row, per_row


def describe_fixed_cost(workload, rows, threads, fixed, per_row, ref_cpu):
    goal = GOAL[workload]
    # Rows from which the whole process reaches the goal: ref_cpu / (per_row + fixed / n) >= goal.
    margin = ref_cpu / goal - per_row
    reach = "from %d rows on" % -(-fixed // margin) if margin > 0 else "at no row count (%.1fx per row alone)" % (
        ref_cpu / per_row)
    return ("%-12s %-3d fixed %6.1f ms + %7.3f ms a row; at %d rows %.1fx, rows alone %.1fx; %dx %s" % (
        workload, threads, fixed * 1e3, per_row * 1e3, rows, ref_cpu / (per_row + fixed / rows),
        ref_cpu / per_row, goal, reach))


def time_reference(workload, rows, threads):
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(threads)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, __file__, "--reference", workload, "--rows", str(rows)], env=env,
                          capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        return None, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    # The whole Python process (interpreter, imports, data, model), timed as a `loupe run` is.
    figures["process_cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return figures, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loupe", default=str(ROOT / "build" / "bin" / "loupe"))
    parser.add_argument("--runs", type=int, default=5, help="counted loupe runs per case (after one warm-up)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--workloads", default="kernel,permutation,exact,lime,tree,interactions,interventional")
    parser.add_argument("--reference-runs", type=int, default=1,
                        help="reference processes per case; the fastest counts (this VM's speed drifts)")
    parser.add_argument("--rows-scale", type=float, default=1.0, help="multiplies every workload's rows")
    parser.add_argument("--mlp-precision", default="f32", choices=("f32", "f64"),
                        help="precision of Loupe's MLP (f64: the row_variants path of shap's explainers)")
    parser.add_argument("--fixed-cost", action="store_true",
                        help="also time one-row runs: Loupe's CPU as a fixed cost a process plus a cost a row")
    parser.add_argument("--reference", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        print(json.dumps(run_reference(args.reference, args.rows)))
        return
    print("machine: %s, %d cores; loupe: %s; Loupe's MLP in %s" % (os.uname().nodename, os.cpu_count(),
                                                                 args.loupe, args.mlp_precision))
    header = "%-58s %-3s %-26s %10s %30s %7s %10s %10s %7s %11s %9s %7s %9s %20s" % (
        "workload", "thr", "reference", "ref s/row", "loupe s/row min/med/max", "ratio", "ref cpu/row",
        "loupe cpu", "ratio", "faults", "best/best", "step", "proc/proc", "paired")
    print(header)
    print("-" * len(header))
    results, fixed_costs = [], []
    with tempfile.TemporaryDirectory(prefix="loupe-vs-") as folder:
        folder = pathlib.Path(folder)
        for workload in args.workloads.split(","):
            rows = max(1, int(ROWS[workload] * args.rows_scale))
            pipeline = loupe_pipeline(workload, rows, folder, args.mlp_precision)
            for threads in (int(t) for t in args.threads.split(",")):
                # The reference's fastest run: the least disturbed by the machine.
                reference, error, references, figures = time_alternating(
                    workload, rows, threads, args.reference_runs, args.loupe, pipeline, args.runs)
                # Each reference run over the Loupe run that followed it, in CPU per row: the two sides of a
                # pair ran within seconds of each other.
                paired = sorted(r["cpu_seconds"] / f[1] for r, f in zip(references, figures)) if reference else []
                walls = sorted(f[0] / rows for f in figures)
                cpus = sorted(f[1] / rows for f in figures)
                faults = sorted(f[2] for f in figures)
                steps = sorted(f[3] / rows for f in figures)
                ref = reference["seconds"] / rows if reference else float("nan")
                ref_cpu = reference["cpu_seconds"] / rows if reference else float("nan")
                ref_process = reference["process_cpu_seconds"] if reference else float("nan")
                paired_text = "%.1fx (%.1f-%.1f)" % (statistics.median(paired), paired[0], paired[-1]) if paired else "-"
                print("%-58s %-3d %-26s %10.4g %10.4g/%.4g/%.4g %6.1fx %10.4g %10.4g %6.1fx %5d-%d %8.1fx %6.1fx %8.1fx %20s" % (
                    DESCRIPTION[workload], threads, REFERENCE_NAME[workload] if reference else error[:26],
                    ref, walls[0], statistics.median(walls), walls[-1], ref / statistics.median(walls), ref_cpu,
                    statistics.median(cpus), ref_cpu / statistics.median(cpus), faults[0], faults[-1],
                    ref_cpu / cpus[0], ref / statistics.median(steps),
                    ref_process / (statistics.median(cpus) * rows), paired_text),
                    flush=True)
                split = (fixed_and_per_row(workload, rows, threads, args.runs, args.loupe, folder,
                                           args.mlp_precision, statistics.median(cpus))
                         if args.fixed_cost and reference else None)
                if split:
                    fixed_costs.append(describe_fixed_cost(workload, rows, threads, *split, ref_cpu))
                results.append({"workload": workload, "threads": threads, "rows": rows, "reference": reference,
                                "reference_runs": references, "paired_cpu_ratios": paired,
                                "loupe_wall_s": [f[0] for f in figures], "loupe_cpu_s": [f[1] for f in figures],
                                "loupe_step_s": [f[3] for f in figures], "loupe_minor_faults": [f[2] for f in figures]})
    if fixed_costs:
        print("\nLoupe's CPU as fixed + per row (one-row runs against the runs above), the ratio to the reference's"
              " cpu/row it gives:")
        print("\n".join(fixed_costs))
    out = os.environ.get("LOUPE_VS_JSON")
    if out:
        pathlib.Path(out).write_text(json.dumps(results, indent=1))
    print("\nratio = reference s/row / Loupe median s/row (Loupe as a whole process, reference in-process);"
          " cpu = user + sys seconds per row (all threads; the fair figure on a loaded machine);"
          " faults = minor page faults per loupe run, min-max; best/best = the fastest reference run's cpu/row"
          " over Loupe's fastest (--reference-runs N runs the reference N times); step = ref s/row over the"
          " median of Loupe's step time alone (timed as the reference is: no start-up, loading or output);"
          " proc/proc = the reference's whole Python process (interpreter, imports, data, model, explaining)"
          " over Loupe's whole process, both in CPU seconds; paired = median (min-max) over the reference's runs of"
          " its cpu/row over that of the Loupe run that followed it (the two sides run in turn, so a slow spell of"
          " the machine falls on both)")


if __name__ == "__main__":
    main()
