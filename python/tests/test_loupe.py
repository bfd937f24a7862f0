"""Tests of the loupe Python package (python/README.md), run by ctest as `python_api` with Debian's
/usr/bin/python3 and PYTHONPATH=<build>/lib/python. They need numpy and pandas; the scikit-learn tests
skip without scikit-learn, the shap comparisons without shap (../shared/pyrefs, see its env.sh)."""

import itertools
import json
import math
import os
import subprocess
import tempfile
import threading
import time
import unittest
from pathlib import Path

import numpy as np
import pandas as pd

import loupe

SOURCE = Path(os.environ.get("LOUPE_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BINARY = Path(os.environ.get("LOUPE_BINARY_DIR", SOURCE / "build"))
CREDIT_CSV = SOURCE / "examples/credit_scoring/data/credit_data.csv"
CREDIT_LOGREG = SOURCE / "examples/credit_scoring/models/credit_logreg.yaml"
CREDIT_XGB = SOURCE / "examples/credit_scoring/models/credit_xgb.json"

try:
    import sklearn.datasets
    import sklearn.ensemble
    import sklearn.linear_model
except ImportError:
    sklearn = None
try:
    import shap
except ImportError:
    shap = None
try:
    import lime.lime_base
    import lime.lime_tabular
except ImportError:
    lime = None

PIPELINE = """version: 1
name: python-vs-cli
seed: 7
data:
  path: {csv}
  target: Status
  positive: bad
  categorical: [Home, Marital, Records, Job]
  missing: ["NA", ""]
model:
  type: native
  path: {model}
steps:
  - id: shap
    explainer: shap.exact
    rows: "0:4"
    params: {{background: 30, output: probability}}
  - id: lime
    explainer: lime.tabular
    rows: [3, 1]
    params: {{num_samples: 1000, num_features: 5}}
  - id: kernel
    explainer: shap.kernel
    rows: 3
    params: {{background: 20, nsamples: 300}}
output:
  dir: out
  formats: [json]
"""


def credit_frame():
    return pd.read_csv(CREDIT_CSV, float_precision="round_trip")


def same_bits(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def without_elapsed(text):
    document = json.loads(text)
    document.pop("elapsed_ms")
    return document


class SameAsCli(unittest.TestCase):
    """The same step through loupe.explain, loupe.run and `loupe run` gives the same bits."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.pipeline = Path(cls.tmp.name) / "pipeline.yaml"
        cls.pipeline.write_text(PIPELINE.format(csv=CREDIT_CSV, model=CREDIT_LOGREG))
        cli = BINARY / "bin" / "loupe"
        subprocess.run([str(cli), "run", str(cls.pipeline), "-o", str(Path(cls.tmp.name) / "cli"), "--quiet",
                        "--threads", "2"], check=True)
        cls.model = loupe.load_model(CREDIT_LOGREG)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def cli_document(self, step):
        return (Path(self.tmp.name) / "cli" / f"{step}.json").read_text()

    def explain_step(self, step, explainer, rows, params, threads=None):
        return loupe.explain(explainer, self.model, credit_frame(), rows=rows, params=params,
                             seed=loupe.step_seed(7, step), threads=threads, target="Status", positive="bad",
                             step_id=step)

    def test_explain_writes_the_cli_document_for_exact_shap(self):
        e = self.explain_step("shap", "shap.exact", "0:4", {"background": 30, "output": "probability"})
        self.assertEqual(without_elapsed(e.to_json()), without_elapsed(self.cli_document("shap")))
        cli = loupe._core.read_explanation(str(Path(self.tmp.name) / "cli" / "shap.json"))
        self.assertTrue(same_bits(e.values, cli.array("values")))
        self.assertTrue(same_bits(e.base_values, cli.array("base_values")))

    def test_explain_equals_cli_for_lime_and_kernel_shap_on_one_and_two_threads(self):
        for threads in (1, 2):
            lime = self.explain_step("lime", "lime.tabular", [3, 1], {"num_samples": 1000, "num_features": 5},
                                     threads)
            self.assertEqual(without_elapsed(lime.to_json()), without_elapsed(self.cli_document("lime")))
            kernel = self.explain_step("kernel", "shap.kernel", 3, {"background": 20, "nsamples": 300}, threads)
            self.assertEqual(without_elapsed(kernel.to_json()), without_elapsed(self.cli_document("kernel")))

    def test_run_returns_the_cli_values(self):
        run = loupe.run(self.pipeline, output_dir=Path(self.tmp.name) / "py", threads=1)
        self.assertTrue(run.ok, run.error)
        self.assertEqual([s.status for s in run.steps.values()], ["ok", "ok", "ok"])
        cli = json.loads(self.cli_document("shap"))
        self.assertTrue(same_bits(run["shap"].values, np.array(cli["values"], dtype=np.float64)))
        self.assertEqual(list(run["shap"].rows), [0, 1, 2, 3])
        self.assertEqual(without_elapsed(run["kernel"].to_json()), without_elapsed(self.cli_document("kernel")))

    def test_run_overrides_change_the_step(self):
        run = loupe.run(self.pipeline, {"steps.shap.rows": "0:2"}, output_dir=Path(self.tmp.name) / "over")
        self.assertEqual(run["shap"].values.shape, (2, 2, 13))


class Models(unittest.TestCase):
    def test_native_and_xgboost_models_load_and_predict(self):
        frame = credit_frame()
        for path in (CREDIT_LOGREG, CREDIT_XGB):
            model = loupe.load_model(path)
            p = model.predict(frame)
            self.assertEqual(p.shape, (len(frame), len(model.output_names)))
            np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
            raw = model.predict(frame, output="raw")
            self.assertEqual(raw.shape[0], len(frame))

    def test_load_model_takes_a_pipelines_model_keys(self):
        bert = SOURCE / "examples/text_classifier/bert"
        self.assertEqual([name for name, *_ in loupe.load_model(bert).inputs], ["text"])
        self.assertEqual([name for name, *_ in loupe.load_model(bert, features=["saying"]).inputs], ["saying"])
        with self.assertRaisesRegex(ValueError, "precision must be 'f32' or 'bf16', found 'f16'"):
            loupe.load_model(bert, precision="f16")
        with self.assertRaisesRegex(Exception, "features, attention and tokenizer apply to onnx and huggingface"):
            loupe.load_model(CREDIT_LOGREG, tokenizer=SOURCE / "examples/text_classifier/bert/tokenizer.json")

    def test_predict_reads_numpy_in_input_order(self):
        model = loupe.load_model(CREDIT_LOGREG)
        frame = credit_frame()
        as_matrix = model._input_matrix(frame.head(50))
        self.assertTrue(same_bits(model.predict(as_matrix), model.predict(frame.head(50))))


def brute_force_shapley(f, x, background):
    """Exact interventional Shapley values of f at x over the mean of f on background rows."""
    m = len(x)
    def v(subset):
        rows = background.copy()
        rows[:, list(subset)] = x[list(subset)]
        return f(rows).mean(axis=0)
    phi = np.zeros((m,) + np.shape(v(())))
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for size in range(m):
            weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            for subset in itertools.combinations(others, size):
                phi[i] += weight * (v(subset + (i,)) - v(subset))
    return phi, v(())


@unittest.skipIf(sklearn is None, "scikit-learn is not importable")
class SklearnCallables(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        data = sklearn.datasets.load_breast_cancer()
        cls.X = data.data[:120, :5]
        cls.names = list(data.feature_names[:5])
        cls.clf = sklearn.ensemble.GradientBoostingClassifier(n_estimators=20, random_state=0).fit(cls.X, data.target[:120])

    def test_kernel_and_exact_shap_equal_brute_force_shapley(self):
        background = self.X[:12]
        for explainer, params in (("shap.exact", {"background": "0:12"}),
                                  ("shap.kernel", {"background": "0:12", "nsamples": 30})):
            e = loupe.explain(explainer, self.clf.predict_proba, self.X, rows=[20, 50], params=params,
                              feature_names=self.names)
            self.assertEqual(list(e.output_names), ["0", "1"])
            for r, row in enumerate((20, 50)):
                phi, base = brute_force_shapley(self.clf.predict_proba, self.X[row], background)
                np.testing.assert_allclose(e.values[r], phi.T, atol=1e-9, rtol=0, err_msg=explainer)
                np.testing.assert_allclose(e.base_values[r], base, atol=1e-12, rtol=0)

    def test_efficiency_sum_of_values_is_prediction_minus_expectation(self):
        e = loupe.explain("shap.permutation", self.clf.predict_proba, self.X, rows="0:10",
                          params={"background": "0:40", "max_evals": 200}, feature_names=self.names)
        f = self.clf.predict_proba
        expected = f(self.X[:10]) - f(self.X[:40]).mean(axis=0)
        np.testing.assert_allclose(e.values.sum(axis=2), expected, atol=1e-9)
        self.assertGreater(e.callable_stats["calls"], 0)
        self.assertGreaterEqual(e.callable_stats["rows"], 10 * 40)

    def test_raw_output_of_a_binary_classifier_is_its_margin(self):
        # output: raw explains log(p1 / p0), what a logistic model's raw output is: the same values as
        # explaining that margin as a regression callable.
        def margin(X):
            p = self.clf.predict_proba(X)
            return np.log(p[:, 1] / p[:, 0])
        params = {"background": "0:12"}
        raw = loupe.explain("shap.exact", self.clf.predict_proba, self.X, rows=[20, 50],
                            params=dict(params, output="raw"), feature_names=self.names)
        direct = loupe.explain("shap.exact", margin, self.X, rows=[20, 50], params=params,
                               feature_names=self.names, task="regression")
        self.assertEqual(list(raw.output_names), ["1"])
        np.testing.assert_allclose(raw.values, direct.values, atol=1e-12, rtol=0)
        np.testing.assert_allclose(raw.base_values, direct.base_values, atol=1e-12, rtol=0)

    def test_a_multiclass_callable_has_no_raw_output(self):
        def proba(X):
            z = np.stack([X[:, 0], X[:, 1], -X[:, 0]], axis=1)
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        with self.assertRaisesRegex(loupe.UnsupportedError, "has no outputs in the space chosen by parameter .output."):
            loupe.explain("shap.exact", proba, self.X, rows=[0], params={"background": 5, "output": "raw"})

    def test_lime_on_a_callable_is_reproducible_across_threads(self):
        runs = [loupe.explain("lime.tabular", self.clf.predict_proba, self.X, rows="0:4", seed=11, threads=t,
                              params={"num_samples": 500}, feature_names=self.names) for t in (1, 2, 2)]
        for other in runs[1:]:
            self.assertEqual(without_elapsed(runs[0].to_json()), without_elapsed(other.to_json()))
        self.assertNotEqual(without_elapsed(runs[0].to_json()),
                            without_elapsed(loupe.explain("lime.tabular", self.clf.predict_proba, self.X,
                                                          rows="0:4", seed=12, params={"num_samples": 500},
                                                          feature_names=self.names).to_json()))

    def test_kernel_shap_same_bits_on_one_and_two_threads(self):
        a, b = (loupe.explain("shap.kernel", self.clf.predict_proba, self.X, rows="0:6", seed=3, threads=t,
                              params={"background": 10, "nsamples": 20}) for t in (1, 2))
        self.assertTrue(same_bits(a.values, b.values))

    @unittest.skipIf(shap is None, "shap is not importable")
    def test_kernel_shap_equals_shap_kernel_explainer_with_full_enumeration(self):
        background = self.X[:10]
        ours = loupe.explain("shap.kernel", self.clf.predict_proba, self.X, rows=[30, 31],
                             params={"background": "0:10", "nsamples": 30})
        theirs = shap.KernelExplainer(self.clf.predict_proba, background).shap_values(self.X[30:32], nsamples=2 ** 5,
                                                                                      silent=True)
        theirs = np.stack(theirs, axis=1)  # [rows, outputs, features]
        np.testing.assert_allclose(ours.values, theirs, atol=1e-9, rtol=0)

    @unittest.skipIf(shap is None, "shap is not importable")
    def test_exact_shap_equals_shap_exact_explainer(self):
        data = sklearn.datasets.load_breast_cancer()
        X = data.data[:150, :8]  # M = 8: 256 coalitions
        clf = sklearn.ensemble.GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, data.target[:150])
        ours = loupe.explain("shap.exact", clf.predict_proba, X, rows=[40, 41, 99], params={"background": "0:10"})
        masker = shap.maskers.Independent(X[:10], max_samples=10)
        theirs = shap.explainers.Exact(clf.predict_proba, masker)(X[[40, 41, 99]], silent=True)
        np.testing.assert_allclose(ours.values, np.transpose(theirs.values, (0, 2, 1)), atol=1e-9, rtol=0)
        np.testing.assert_allclose(ours.base_values, theirs.base_values, atol=1e-9, rtol=0)

    @unittest.skipIf(lime is None, "lime is not importable")
    def test_lime_local_model_equals_lime_on_the_same_samples(self):
        """lime draws its own neighbourhood, so the samples cannot match; what both define the same way is
        the local model on given samples: lime's discretizer gives the binary representation of the samples
        Loupe drew (recorded from the callable), and lime's LimeBase fits it. Loupe's weights, intercept,
        score and local prediction must equal lime's on those samples."""
        samples = []
        def f(Z):
            samples.append(Z.copy())
            return self.clf.predict_proba(Z)
        rows = [20, 50]
        e = loupe.explain("lime.tabular", f, self.X, rows=rows, seed=5, threads=1, batch_rows=5000,
                          params={"num_samples": 1000, "num_features": 3}, feature_names=self.names)
        reference = lime.lime_tabular.LimeTabularExplainer(self.X, discretize_continuous=True)
        kernel_width = 0.75 * np.sqrt(self.X.shape[1])
        base = lime.lime_base.LimeBase(lambda d: np.sqrt(np.exp(-(d ** 2) / kernel_width ** 2)))
        drawn = [Z for Z in samples if len(Z) == 1000]
        self.assertEqual(len(drawn), len(rows))
        for Z in drawn:
            r = next(i for i, row in enumerate(rows) if np.array_equal(Z[0], self.X[row]))
            bins = reference.discretizer.discretize(Z)
            binary = (bins == bins[0]).astype(np.float64)
            distances = np.sqrt(((binary - binary[0]) ** 2).sum(axis=1))
            labels = self.clf.predict_proba(Z)
            for label in (0, 1):
                intercept, weights, score, local_pred = base.explain_instance_with_data(
                    binary, labels, distances, label, 3, feature_selection="auto")
                expected = np.zeros(self.X.shape[1])
                for feature, weight in weights:
                    expected[feature] = weight
                np.testing.assert_allclose(e.values[r, label], expected, atol=1e-9, rtol=0)
                self.assertAlmostEqual(e.base_values[r, label], intercept, delta=1e-9)
                self.assertAlmostEqual(e["score"][r][label], score, delta=1e-9)
                self.assertAlmostEqual(e["local_pred"][r][label], local_pred[0], delta=1e-9)

    def test_batch_rows_bounds_each_call_and_changes_no_bit(self):
        sizes = []
        def f(Z):
            sizes.append(len(Z))
            return self.clf.predict_proba(Z)
        small = loupe.explain("shap.kernel", f, self.X, rows="0:3", seed=2, batch_rows=100,
                              params={"background": 20, "nsamples": 64})
        self.assertLessEqual(max(sizes), 100)
        default = loupe.explain("shap.kernel", self.clf.predict_proba, self.X, rows="0:3", seed=2,
                                params={"background": 20, "nsamples": 64})
        self.assertTrue(same_bits(small.values, default.values))
        with self.assertRaisesRegex(ValueError, "batch_rows must be a positive number of rows"):
            loupe.explain("shap.kernel", f, self.X, batch_rows=0)

    @unittest.skipIf(shap is None, "shap is not importable")
    def test_to_shap_goes_through_shap_plots(self):
        import matplotlib
        matplotlib.use("Agg")
        e = loupe.explain("shap.exact", self.clf.predict_proba, self.X, rows="0:8", params={"background": 10},
                          feature_names=self.names)
        explanation = e.to_shap()
        self.assertIsInstance(explanation, shap.Explanation)
        self.assertEqual(explanation.values.shape, (8, 5, 2))
        self.assertTrue(same_bits(explanation.data, self.X[:8]))
        shap.plots.waterfall(explanation[0, :, 1], show=False)
        shap.plots.beeswarm(explanation[:, :, 1], show=False)
        shap.plots.bar(explanation[:, :, 1], show=False)


class EveryExplainer(unittest.TestCase):
    """Each tabular explainer runs through loupe.explain on a loaded model and on a Python callable."""

    STEPS = [("shap.exact", "0:2", {"background": 10}), ("shap.kernel", "0:2", {"background": 10, "nsamples": 64}),
             ("shap.permutation", "0:2", {"background": 10, "max_evals": 40}),
             ("lime.tabular", "0:2", {"num_samples": 200}), ("surrogate.tree", None, {"max_depth": 2}),
             ("fairness.group", None, {"sensitive": ["Marital"], "favorable": "good"}),
             ("fairness.counterfactual", None, {"sensitive": ["Marital"], "favorable": "good"})]

    def check(self, model, **callable_options):
        frame = credit_frame().head(200)
        for explainer, rows, params in self.STEPS:
            with self.subTest(explainer=explainer):
                e = loupe.explain(explainer, model, frame, rows=rows, params=params, target="Status", positive="bad",
                                  sensitive=["Marital"], **callable_options)
                self.assertEqual(e.explainer, explainer)
                self.assertEqual(json.loads(e.to_json())["kind"], e.kind)

    def test_on_a_loaded_model(self):
        model = loupe.load_model(CREDIT_LOGREG)
        self.check(model)
        tree = loupe.explain("shap.tree", loupe.load_model(CREDIT_XGB), credit_frame(), rows="0:3", target="Status")
        self.assertEqual(tree.values.shape[0], 3)

    def test_linear_shap_on_a_linear_callable_is_weight_times_deviation(self):
        X = np.random.default_rng(2).normal(size=(40, 4))
        w = np.array([0.5, -2.0, 0.0, 3.0])
        e = loupe.explain("shap.linear", lambda Z: Z @ w + 1.0, X, rows="0:5", params={"background": "0:20"})
        np.testing.assert_allclose(e.values[:, 0, :], w * (X[:5] - X[:20].mean(axis=0)), atol=1e-12)

    def test_on_a_callable(self):
        model = loupe.load_model(CREDIT_LOGREG)
        frame = credit_frame().head(200).drop(columns="Status")
        columns = {c.name: c for c in loupe._data.columns_from(frame)}
        inputs = [name for name, _, _ in model.inputs]
        def proba(X):  # the callable sees the data's features, in the data's order, strings as sorted codes
            by_name = dict(zip([c for c in frame.columns], X.T))
            mapped = [by_name[name] for name in inputs]
            return model.predict(np.column_stack(mapped))
        self.assertTrue(all(columns[name].levels == list(levels) for name, kind, levels in model.inputs
                            if kind == "categorical"))
        self.check(lambda X: proba(X), output_names=["bad", "good"], task="classification")


class DataFrames(unittest.TestCase):
    def frame(self):
        return pd.DataFrame({
            "color": pd.Categorical(["red", "blue", None, "green", "red", "blue"],
                                    categories=["red", "green", "blue"]),
            "city": ["b", "a", "c", None, "a", "b"],
            "size": [1.5, np.nan, 3.0, 4.0, 2.0, 1.0],
            "flag": [True, False, True, True, False, False],
        })

    def test_callable_receives_its_own_codes_and_nan_for_missing(self):
        seen = []
        lock = threading.Lock()
        def f(X):
            with lock:
                seen.append(X.copy())
            return np.nan_to_num(X).sum(axis=1)
        e = loupe.explain("shap.exact", f, self.frame(), params={"background": "0:6"}, rows="0:6")
        first = seen[0]  # the probe: the rows as given
        np.testing.assert_array_equal(first[:, 0], [0, 2, np.nan, 1, 0, 2])   # pandas' .cat.codes
        np.testing.assert_array_equal(first[:, 1], [1, 0, 2, np.nan, 0, 1])   # sorted levels a, b, c
        np.testing.assert_array_equal(first[:, 2], [1.5, np.nan, 3.0, 4.0, 2.0, 1.0])
        self.assertEqual(list(e.data[2]), ["NA", "c", "3", "1"])
        self.assertEqual(list(e.data[0]), ["red", "b", "1.5", "1"])
        self.assertEqual(list(e.feature_names), ["color", "city", "size", "flag"])
        self.assertEqual(list(e.output_names), ["output"])

    def test_loaded_model_on_a_frame_with_categories_and_missing_values(self):
        frame = credit_frame()
        for column in ("Home", "Marital", "Records", "Job"):
            frame[column] = frame[column].astype("category")
        self.assertTrue(frame.isna().any().any())
        e = loupe.explain("shap.exact", loupe.load_model(CREDIT_LOGREG), frame.drop(columns="Status"),
                          rows="0:3", params={"background": 20})
        self.assertLess(e.quality["additivity_residual"], 1e-9)
        self.assertEqual(e.to_pandas().shape, (6, 14))

    def test_fairness_report_as_a_data_frame(self):
        frame = credit_frame()
        e = loupe.explain("fairness.group", loupe.load_model(CREDIT_LOGREG), frame, target="Status", positive="bad",
                          sensitive=["Marital"], params={"sensitive": ["Marital"], "favorable": "good",
                                                         "privileged": {"Marital": "married"}})
        groups = e.to_pandas()
        self.assertGreaterEqual(len(groups), 2)
        self.assertIn("metrics", e.fields)


@unittest.skipIf(sklearn is None, "scikit-learn is not importable")
class DataFrameCallables(unittest.TestCase):
    """pass_dataframe=True: a scikit-learn pipeline fitted on a DataFrame receives one like it."""

    CATEGORICAL = ["Home", "Marital", "Records", "Job"]

    @classmethod
    def setUpClass(cls):
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        frame = credit_frame().head(600)
        # One column as a pandas category whose categories are not in sorted order, the rest as strings.
        frame["Home"] = pd.Categorical(frame["Home"], categories=sorted(frame["Home"].dropna().unique())[::-1])
        cls.frame = frame
        cls.X = frame.drop(columns="Status")
        numeric = [c for c in cls.X.columns if c not in cls.CATEGORICAL]
        cls.pipeline = make_pipeline(
            ColumnTransformer([("categories", OneHotEncoder(handle_unknown="ignore"), cls.CATEGORICAL),
                               ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), numeric)]),
            sklearn.linear_model.LogisticRegression(max_iter=1000)).fit(cls.X, frame["Status"])

    def test_the_callable_receives_the_original_columns_and_levels(self):
        seen = []
        def f(X):
            seen.append(X)
            return self.pipeline.predict_proba(X)
        loupe.explain("shap.kernel", f, self.frame, rows="0:1", target="Status", pass_dataframe=True,
                      params={"background": "0:2", "nsamples": 20})
        probe = seen[0]
        self.assertIsInstance(probe, pd.DataFrame)
        self.assertEqual(list(probe.columns), list(self.X.columns))
        self.assertEqual(probe["Home"].dtype, self.X["Home"].dtype)  # the same categories, same order
        for column in self.X.columns:
            expected = self.X[column].head(len(probe)).reset_index(drop=True)
            if column in self.CATEGORICAL:
                self.assertEqual(list(probe[column].astype(object)), list(expected.astype(object)), column)
            else:
                np.testing.assert_array_equal(probe[column].to_numpy(), expected.to_numpy(dtype=np.float64))
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "X does not have valid feature names" would fail the test
            e = loupe.explain("shap.kernel", self.pipeline.predict_proba, self.frame, rows="0:3", target="Status",
                              pass_dataframe=True, params={"background": "0:10", "nsamples": 200}, threads=2)
        self.assertEqual(list(e.output_names), ["bad", "good"])  # the pipeline's classes_
        # Efficiency against the pipeline on the original rows: the frames rebuilt inside are the user's.
        f_x = self.pipeline.predict_proba(self.X.iloc[0:3])
        base = self.pipeline.predict_proba(self.X.iloc[0:10]).mean(axis=0)
        np.testing.assert_allclose(e.base_values, np.tile(base, (3, 1)), atol=1e-12)
        np.testing.assert_allclose(e.values.sum(axis=2), f_x - base, atol=1e-9)

    def test_without_pass_dataframe_the_pipeline_cannot_read_the_array(self):
        with self.assertRaisesRegex(loupe.ModelError, "the model callable raised ValueError"):
            loupe.explain("shap.kernel", self.pipeline.predict_proba, self.frame, rows="0:1", target="Status")
        with self.assertRaisesRegex(loupe.InvalidArgumentError, "pass_dataframe is for a Python callable"):
            loupe.explain("shap.kernel", loupe.load_model(CREDIT_LOGREG), self.frame, pass_dataframe=True)


class Errors(unittest.TestCase):
    X = np.random.default_rng(0).normal(size=(30, 3))

    def test_unknown_explainer_names_the_nearest(self):
        with self.assertRaises(loupe.NotFoundError) as raised:
            loupe.explain("shap.kernal", lambda X: X.sum(axis=1), self.X)
        self.assertIsInstance(raised.exception, ValueError)
        self.assertIn("did you mean 'shap.kernel'", str(raised.exception))

    def test_bad_parameters_are_sentences(self):
        with self.assertRaisesRegex(loupe.InvalidArgumentError, "parameter 'nsamples' must be between 1 and .*, found 0"):
            loupe.explain("shap.kernel", lambda X: X.sum(axis=1), self.X, params={"nsamples": 0})
        with self.assertRaisesRegex(ValueError, "has no parameter 'nsample'; its parameters are .*nsamples"):
            loupe.explain("shap.kernel", lambda X: X.sum(axis=1), self.X, params={"nsample": 10})
        with self.assertRaisesRegex(loupe.LoupeError, "row 30"):
            loupe.explain("shap.exact", lambda X: X.sum(axis=1), self.X, rows=[30])
        with self.assertRaisesRegex(ValueError, "pandas DataFrame or a 2-D numpy array"):
            loupe.explain("shap.exact", lambda X: X.sum(axis=1), [[1, 2]])

    def test_a_raising_callable_is_a_model_error_with_its_cause(self):
        calls = []
        def f(X):
            calls.append(len(X))
            if len(calls) > 1:
                raise ZeroDivisionError("no luck")
            return X.sum(axis=1)
        with self.assertRaises(loupe.ModelError) as raised:
            loupe.explain("shap.exact", f, self.X, params={"background": 5})
        self.assertIsInstance(raised.exception, RuntimeError)
        self.assertIn("the model callable raised ZeroDivisionError: no luck", str(raised.exception))
        self.assertIsInstance(raised.exception.__cause__, ZeroDivisionError)

    def test_a_callable_returning_the_wrong_shape(self):
        def f(X):
            return np.zeros((len(X), 2)) if len(X) <= 8 else np.zeros((len(X), 3))
        with self.assertRaisesRegex(loupe.ModelError, r"shape \(\d+, 3\) for \d+ rows, expected \(\d+, 2\)"):
            loupe.explain("shap.exact", f, self.X, params={"background": 5})

    def test_missing_model_file_and_bad_pipeline(self):
        with self.assertRaises(loupe.LoupeError) as raised:
            loupe.load_model("/nonexistent/model.yaml")
        self.assertIn("/nonexistent/model.yaml", str(raised.exception))
        with tempfile.TemporaryDirectory() as tmp:
            bad = Path(tmp) / "bad.yaml"
            bad.write_text("version: 1\nname: x\ndata: {path: nowhere.csv}\nmodel: {path: m.yaml}\n"
                           "steps:\n  - id: a\n    explainer: shap.kernel\n    params: {nsample: 3}\n")
            with self.assertRaises(loupe.InvalidArgumentError) as raised:
                loupe.run(bad)
            self.assertRegex(str(raised.exception), r"bad\.yaml:\d+:\d+: .*nsample")


class Plugins(unittest.TestCase):
    FIXTURES = BINARY / "tests" / "plugin_loader" / "fixtures"

    def test_built_in_plugins_are_loaded_on_import(self):
        for name in ("shap.kernel", "lime.tabular", "surrogate.tree", "fairness.group"):
            self.assertIn(name, loupe.explainers())
        self.assertEqual(loupe.describe("shap.kernel")["kind"], "feature_attribution")

    def test_load_plugins_refuses_with_the_loaders_sentence(self):
        with self.assertRaisesRegex(loupe.NotFoundError, "does not exist"):
            loupe.load_plugins("/nonexistent/plugins")
        newer = self.FIXTURES / "libnewer_minor.so"
        if not newer.exists():
            self.skipTest("the plugin loader fixtures are not built")
        with self.assertRaises(loupe.PluginError) as raised:
            loupe.load_plugins(newer)
        self.assertIn("libnewer_minor.so", str(raised.exception))

    def test_load_plugins_adds_explainers(self):
        good = self.FIXTURES / "libgood.so"
        if not good.exists():
            self.skipTest("the plugin loader fixtures are not built")
        before = set(loupe.explainers())
        loupe.load_plugins(good)
        self.assertGreater(len(set(loupe.explainers()) - before), 0)


class Cancellation(unittest.TestCase):
    def test_ctrl_c_cancels_a_running_explanation(self):
        import signal
        X = np.random.default_rng(1).normal(size=(400, 6))
        calls = []
        def slow(batch):
            calls.append(len(batch))
            if len(calls) == 3:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, delivered while the explainer runs
            time.sleep(0.01)
            return batch.sum(axis=1)
        start = time.monotonic()
        with self.assertRaises(KeyboardInterrupt):
            loupe.explain("shap.kernel", slow, X, params={"background": 50, "nsamples": 60}, threads=2)
        self.assertLess(time.monotonic() - start, 20)
        made = len(calls)
        time.sleep(0.2)
        self.assertEqual(len(calls), made)  # nothing runs on after the exception
        # A whole run would need one call per chunk of rows: far more than were made.
        self.assertLess(made, 60)

    def test_ctrl_c_cancels_a_pipeline_run(self):
        import signal
        slow_step = "explainer: shap.kernel\n    rows: \"0:3000\"\n    params: {background: 100, nsamples: 2048}"
        steps = "".join(f"  - id: step{i}\n    {slow_step}\n" for i in range(3))
        text = PIPELINE.format(csv=CREDIT_CSV, model=CREDIT_LOGREG).split("steps:\n")[0] + "steps:\n" + steps + \
            "output:\n  dir: out\n  formats: [json]\n"
        with tempfile.TemporaryDirectory() as tmp:
            pipeline = Path(tmp) / "slow.yaml"
            pipeline.write_text(text)
            timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
            start = time.monotonic()
            timer.start()
            try:
                with self.assertRaises(KeyboardInterrupt):
                    loupe.run(pipeline, output_dir=Path(tmp) / "out", threads=1)
            finally:
                timer.cancel()
            self.assertLess(time.monotonic() - start, 15)  # one step alone runs for minutes
            record = json.loads((Path(tmp) / "out" / "run.json").read_text())
            self.assertEqual(record["status"], "failed")
            self.assertEqual([s["failure"] for s in record["steps"]], ["cancelled"] * 3)
            # The first step stopped inside its explainer (or, on a slow machine, before it started).
            self.assertGreaterEqual(sum("before this step started" in s["message"] for s in record["steps"]), 2)


if __name__ == "__main__":
    unittest.main()
