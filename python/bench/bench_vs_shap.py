"""Times loupe.explain against shap's KernelExplainer and PermutationExplainer and lime's
LimeTabularExplainer on the same scikit-learn callables, in the same run, one thread, the same sample
counts (issue 20, "Performance"). Prints each pair's time, the ratio and the share of each side's time
spent inside the callable (Loupe's own overhead is the rest).

    source ../shared/pyrefs/env.sh
    PYTHONPATH=build/lib/python:$PYTHONPATH /usr/bin/python3 python/bench/bench_vs_shap.py [--quick]

--batch-sweep instead times Loupe alone with the callable receiving at most 512, 1024, 2048 and 8192 rows a
call (``explain(..., batch_rows=N)``), which is how loupe.CALLABLE_BATCH_ROWS was chosen.
"""

import argparse
import time
import warnings

import numpy as np

import loupe

warnings.filterwarnings("ignore")


class Timed:
    """Wraps a callable and sums the wall time spent inside it."""

    def __init__(self, f):
        self.f, self.seconds, self.calls = f, 0.0, 0

    def __call__(self, X):
        start = time.perf_counter()
        try:
            return self.f(X)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


def models(X, y):
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier

    yield "GradientBoostingClassifier", GradientBoostingClassifier(n_estimators=100, random_state=0).fit(X, y)
    yield "MLPClassifier", MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=300, random_state=0).fit(X, y)


def time_loupe(explainer, f, X, rows, params, batch_rows=None):
    start = time.perf_counter()
    e = loupe.explain(explainer, f, X, rows=rows, params=params, seed=0, threads=1, batch_rows=batch_rows)
    return time.perf_counter() - start, e.callable_stats["seconds"]


def batch_sweep(X, y, background, rows, sizes, repeats=3):
    """Loupe's Kernel SHAP and LIME with each batch size; the best of `repeats` runs (the machine is shared)."""
    batches = (512, 1024, 2048, 8192)
    print(f"{'model':<28}{'method':<18}" + "".join(f"{b:>16}" for b in batches) + "   (s, share in the callable)")
    for model_name, model in models(X, y):
        for method, explainer, params, _ in workloads(X, background, rows, sizes):
            if explainer == "shap.permutation":
                continue
            time_loupe(explainer, model.predict_proba, X, rows[:1], params)  # warm-up
            cells = []
            for batch in batches:
                best = min((time_loupe(explainer, model.predict_proba, X, rows, params, batch)
                            for _ in range(repeats)), key=lambda timing: timing[0])
                cells.append(f"{best[0]:>8.3f} {100 * best[1] / best[0]:>5.0f}%")
            print(f"{model_name:<28}{method:<18}" + "".join(f"{cell:>16}" for cell in cells), flush=True)


def time_reference(run, f):
    timed = Timed(f)
    start = time.perf_counter()
    run(timed)
    return time.perf_counter() - start, timed.seconds


def workloads(X, background, rows, sizes):
    import lime.lime_tabular
    import shap

    explained = X[rows]
    nsamples, max_evals, lime_samples = sizes
    yield ("Kernel SHAP", "shap.kernel", {"background": f"0:{len(background)}", "nsamples": nsamples},
           lambda f: shap.KernelExplainer(f, background).shap_values(explained, nsamples=nsamples, silent=True))
    yield ("Permutation SHAP", "shap.permutation", {"background": f"0:{len(background)}", "max_evals": max_evals},
           lambda f: shap.PermutationExplainer(f, shap.maskers.Independent(background, max_samples=len(background)))(
               explained, max_evals=max_evals, silent=True))

    def run_lime(f):
        explainer = lime.lime_tabular.LimeTabularExplainer(X, discretize_continuous=True, random_state=0)
        for x in explained:
            explainer.explain_instance(x, f, num_samples=lime_samples, num_features=X.shape[1])

    yield "LIME", "lime.tabular", {"num_samples": lime_samples, "num_features": X.shape[1]}, run_lime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sample counts (a smoke test)")
    parser.add_argument("--batch-sweep", action="store_true",
                        help="time Loupe alone for callable batches of 512 to 8192 rows")
    args = parser.parse_args()
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    X, y = data.data[:, :10].astype(np.float64), data.target
    background, rows = X[:50], list(range(100, 110 if not args.quick else 102))
    sizes = (256, 200, 1000) if args.quick else (1000, 500, 5000)
    print(f"loupe {loupe.__version__}; {len(rows)} rows x {X.shape[1]} features, background {len(background)} rows, "
          f"1 thread; nsamples {sizes[0]}, max_evals {sizes[1]}, lime num_samples {sizes[2]}; callable batches of "
          f"at most {loupe.CALLABLE_BATCH_ROWS} rows")
    if args.batch_sweep:
        batch_sweep(X, y, background, rows, sizes)
        return
    print(f"{'model':<28}{'method':<18}{'loupe s':>9}{'ref s':>9}{'ratio':>8}{'loupe in f':>12}{'ref in f':>10}")
    for model_name, model in models(X, y):
        # One untimed pass on one row first: shap compiles its numba code and both sides warm their caches.
        for method, explainer, params, reference in workloads(X, background, rows[:1], sizes):
            time_loupe(explainer, model.predict_proba, X, rows[:1], params)
            time_reference(reference, model.predict_proba)
        for method, explainer, params, reference in workloads(X, background, rows, sizes):
            ours, ours_in_f = time_loupe(explainer, model.predict_proba, X, rows, params)
            theirs, theirs_in_f = time_reference(reference, model.predict_proba)
            print(f"{model_name:<28}{method:<18}{ours:>9.3f}{theirs:>9.3f}{theirs / ours:>7.1f}x"
                  f"{100 * ours_in_f / ours:>11.0f}%{100 * theirs_in_f / theirs:>9.0f}%", flush=True)


if __name__ == "__main__":
    main()
