"""Loupe from Python: explain any model — a Loupe model file or any Python callable — with Loupe's
explainers (SHAP, LIME, surrogates, fairness, ...), numpy and pandas in, numpy, pandas and shap out.

    import loupe
    clf = sklearn.ensemble.GradientBoostingClassifier().fit(X, y)
    e = loupe.explain("shap.kernel", clf.predict_proba, X_frame, rows=range(10),
                      params={"background": 100, "nsamples": 2048}, seed=1)
    e.values                      # numpy [rows, outputs, features]
    shap.plots.waterfall(e.to_shap()[0, :, 1])

Functions: :func:`explain`, :func:`load_model`, :func:`run`, :func:`explainers`, :func:`describe`,
:func:`load_plugins`, :func:`step_seed`. Results: :class:`Explanation`, :class:`Run`. Errors:
:class:`LoupeError` and its subclasses (``loupe.errors``). python/README.md has the whole story.
"""

import json
import warnings

import numpy as np

from . import _core, _data
from . import _errors as errors
from ._errors import (CancelledError, InternalError, InvalidArgumentError, LoupeError, LoupeIOError,
                      ModelError, NotFoundError, PluginError, UnsupportedError)
from ._explanation import Explanation, Run, StepResult

__version__ = _core.__version__
plugin_abi = _core.plugin_abi

__all__ = ["explain", "load_model", "run", "explainers", "describe", "load_plugins", "step_seed", "Model",
           "Explanation", "Run", "StepResult", "LoupeError", "InvalidArgumentError", "NotFoundError",
           "UnsupportedError", "ModelError", "PluginError", "LoupeIOError", "CancelledError", "InternalError",
           "errors", "CALLABLE_BATCH_ROWS", "__version__"]

for _warning in _core.load_warnings():
    warnings.warn(f"loupe: {_warning}", RuntimeWarning, stacklevel=2)


class Model:
    """A model Loupe reads itself (:func:`load_model`): a ``loupe.model/v1`` network or an XGBoost model.

    ``name``, ``task`` ("classification" | "regression"), ``inputs`` (a list of (name, type, levels)),
    ``output_names`` (class probabilities for a classifier, the value for a regressor),
    ``raw_output_names`` (margins or logits) and ``path``.
    """

    def __init__(self, handle):
        self._handle = handle
        info = handle.describe()
        self.name, self.task, self.path = info["name"], info["task"], info["path"]
        self.inputs = [tuple(entry) for entry in info["inputs"]]
        self.output_names, self.raw_output_names = info["output_names"], info["raw_output_names"]

    def predict(self, X, output=None):
        """The model's outputs for ``X``: float64 [rows, outputs].

        ``X`` is a DataFrame (the model's inputs are read from it by name, categories by their text), or a
        float64 array [rows, inputs] in the model's input order with categories as codes into the levels of
        ``inputs``. ``output`` is None (the model's default: probabilities for a classifier), "probability"
        or "raw" (margins or logits). Runs on every core without the GIL.
        """
        return self._handle.predict(self._input_matrix(X), output or "")

    def _input_matrix(self, X):
        if isinstance(X, np.ndarray):
            return np.asarray(X, dtype=np.float64)
        columns = {c.name: c for c in _data.columns_from(X)}
        picked = []
        for name, kind, levels in self.inputs:
            if name not in columns:
                raise NotFoundError(f"model '{self.name}' reads the column '{name}', which the data does not have.")
            column = columns[name]
            if kind == "categorical" and column.kind == "categorical":
                index = {level: code for code, level in enumerate(levels)}  # the data's codes -> the model's
                to_model = np.array([index.get(level, np.nan) for level in column.levels] + [np.nan])
                codes = np.where(np.isnan(column.values), len(column.levels), column.values).astype(np.int64)
                picked.append(to_model[codes])
            elif kind == "numeric" and column.kind == "numeric":
                picked.append(column.values)
            else:
                raise InvalidArgumentError(f"model '{self.name}' reads '{name}' as {kind}, the data holds it "
                                           f"as {column.kind}.")
        return np.column_stack(picked)

    def __repr__(self):
        return f"<loupe.Model '{self.name}' ({self.task}, {len(self.inputs)} inputs -> {self.output_names})>"


def load_model(path, type="auto", *, tokenizer=None, attention=None, features=None, precision="f32"):
    """Loads a model Loupe reads: a ``loupe.model/v1`` YAML file (``type="native"``), the JSON
    XGBoost's ``save_model`` writes (``type="xgboost"``), an ONNX file (``"onnx"``) or a Hugging Face
    ``save_pretrained`` directory (``"huggingface"``); ``"auto"`` tells them apart. Returns a :class:`Model`.

    The keyword arguments are a pipeline's ``model`` keys (docs/pipeline.md, docs/onnx.md): ``tokenizer``
    (an ONNX text model's tokenizer.json), ``attention`` (the tensors holding an ONNX model's attention
    maps), ``features`` (an ONNX model's input feature names; a Hugging Face model's text column) and
    ``precision`` (``"bf16"``: the products by the weights of an ONNX or Hugging Face model in bfloat16)."""
    return Model(_core.load_model(str(path), type, tokenizer="" if tokenizer is None else str(tokenizer),
                                  attention=list(attention or []), features=list(features or []),
                                  precision=precision))


def load_plugins(path):
    """Loads an explainer plugin library, or every library of a folder; its explainers are then usable
    by :func:`explain` and :func:`run`. The built-in plugins and those on ``LOUPE_PLUGIN_PATH`` are
    loaded on import."""
    _core.load_plugins(str(path))


def explainers():
    """The names of the loaded explainers, sorted."""
    return [entry["name"] for entry in _core.explainers()]


def describe(explainer):
    """An explainer's description: summary, kind, scope, plugin and its parameters (name, type, doc,
    default, choices), as a dict."""
    for entry in _core.explainers():
        if entry["name"] == explainer:
            entry = dict(entry)
            for param in entry["params"]:
                param["default"] = json.loads(param["default"])
            return entry
    raise NotFoundError(f"explainer '{explainer}' is not loaded; loupe.explainers() lists the loaded ones.")


def step_seed(pipeline_seed, step_id):
    """The seed ``loupe run`` gives the step ``step_id`` of a pipeline with seed ``pipeline_seed``: pass
    it as ``explain(..., seed=...)`` to get the same bits as that step."""
    return _core.step_seed(int(pipeline_seed), str(step_id))


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (np.ndarray, range, tuple, set)):
        return [_json_default(v) if isinstance(v, (np.generic,)) else v for v in list(value)]
    raise TypeError(f"{type(value).__name__} cannot be a parameter value")


def _rows_json(rows):
    if rows is None:
        return "null"
    if isinstance(rows, (str, int, np.integer)):
        return json.dumps(int(rows) if isinstance(rows, np.integer) else rows)
    return json.dumps([int(r) for r in rows])


def _describe_callable(model, call, columns, features, output_names, task):
    """The callable's outputs and task, from one call of ``call`` (``model``, or the wrapper that gives it a
    DataFrame) on the first rows (a few, so it is cheap)."""
    for name in features:
        column = next(c for c in columns if c.name == name)
        if column.kind == "text":
            raise InvalidArgumentError(f"feature '{name}' is text, which a Python callable cannot read; "
                                       f"leave it out of features.")
    probe = _data.matrix(columns, features, coding="callable")[:8].copy()
    try:
        out = np.asarray(call(probe), dtype=np.float64)
    except Exception as raised:
        raise ModelError(f"the model callable raised {type(raised).__name__}: {raised}") from raised
    if out.ndim not in (1, 2) or out.shape[0] != probe.shape[0]:
        raise ModelError(f"the model callable returned an array of shape {out.shape} for {probe.shape[0]} rows, "
                         f"expected (rows,) or (rows, outputs).")
    outputs = 1 if out.ndim == 1 else out.shape[1]
    owner = getattr(model, "__self__", None)
    name = getattr(model, "__qualname__", None) or getattr(model, "__name__", None) or repr(model)
    if output_names is None:
        classes = getattr(owner, "classes_", None)
        if classes is not None and len(classes) == outputs and outputs > 1:
            output_names = [str(c) for c in classes]
        else:
            output_names = ["output"] if outputs == 1 else [f"output_{i}" for i in range(outputs)]
    output_names = [str(n) for n in output_names]
    if len(output_names) != outputs:
        raise InvalidArgumentError(f"output_names has {len(output_names)} names, the callable returns {outputs} outputs.")
    if task is None:
        looks_like_probabilities = (outputs > 1 and np.all((out >= 0) & (out <= 1)) and
                                    np.allclose(out.sum(axis=1), 1.0, atol=1e-6))
        task = "classification" if name.endswith("predict_proba") or looks_like_probabilities else "regression"
    if task not in ("classification", "regression"):
        raise InvalidArgumentError(f"task is '{task}', expected 'classification' or 'regression'.")
    by_name = {c.name: c for c in columns}
    return {"input_levels": [by_name[f].callable_levels for f in features], "output_names": output_names,
            "task": task, "name": name}


CALLABLE_BATCH_ROWS = 1024
"""The most rows a Python callable receives in one call, unless ``explain(..., batch_rows=N)`` says
otherwise. Explainers build batches of up to ``max_batch_rows`` (8192) rows; each is cut into calls of at
most this many. A scikit-learn MLP runs twice as fast per row on 1,024-row calls as on 2,048 or more (its
activations stay in the cache), while a gradient-boosting model's fixed cost per call stays small at
1,024 rows (python/README.md "Batch size": 512 to 8192 measured)."""


def _batch_rows(batch_rows):
    if batch_rows is None:
        return CALLABLE_BATCH_ROWS
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, (int, np.integer)) or batch_rows < 1:
        raise InvalidArgumentError(f"batch_rows must be a positive number of rows, found {batch_rows!r}.")
    return int(batch_rows)


def explain(explainer, model, data, rows=None, params=None, seed=0, threads=None, *, feature_names=None,
            features=None, target=None, positive=None, sensitive=None, text=None, output_names=None, task=None,
            step_id=None, pass_dataframe=False, batch_rows=None):
    """Explains ``model`` on ``data`` with one explainer; returns an :class:`Explanation`.

    explainer: its name, "plugin.explainer": "shap.kernel", "shap.exact", "shap.permutation",
        "lime.tabular", "surrogate.tree", "fairness.group", ... (:func:`explainers` lists them).
    model: a :class:`Model` from :func:`load_model`, or any Python callable ``f(X) -> array``, such as a
        scikit-learn ``clf.predict_proba``. A callable receives float64 [n, features] (categorical features
        as codes: a pandas category column's ``.cat.codes``, a string column's codes into its sorted levels;
        NaN where missing) and returns [n, outputs] or [n]. It is called in large batches, from Loupe's
        threads, holding the GIL only during the call. Its outputs are named by ``output_names``, else by
        the ``classes_`` of the object it is a method of, else "output"/"output_i"; it is a classifier when
        ``task="classification"`` or, by default, when it is a ``predict_proba`` or its outputs are
        probabilities. With ``pass_dataframe=True`` it receives a pandas DataFrame instead, shaped like
        ``data``: the original column labels, category columns as Categoricals of their own dtype, string
        columns as strings, NaN where missing, numbers as float64 — for a scikit-learn pipeline fitted on a
        DataFrame (a ColumnTransformer selecting columns by name, a OneHotEncoder on strings).
        ``batch_rows`` is the most rows it receives in one call (default :data:`CALLABLE_BATCH_ROWS`); it
        changes no result, only the speed.
    data: a pandas DataFrame (numeric, bool, category and string columns, missing values as NaN/None), or
        a 2-D numpy array whose columns ``feature_names`` names (default x0, x1, ...).
    rows: the rows to explain: None (every row), "a:b", a list or range of row numbers, or a count N (a
        seeded sample), as a pipeline step's ``rows``.
    params: the explainer's parameters, as in a pipeline (:func:`describe` lists them); checked first.
    seed: the seed; :func:`step_seed` gives the one ``loupe run`` uses for a step, for the same bits.
    threads: how many threads (None: every core). Results are bit-identical for any number.
    features: the columns to explain (default: every column but ``target``); target, positive (the
        positive label) and sensitive (protected attributes) are for explainers that need them
        (fairness.group); ``text`` lists columns to read as text.
    step_id: the explanation's ``step`` (default: the explainer's name).

    Raises a :class:`LoupeError` subclass carrying Loupe's sentence; Ctrl-C cancels the explanation and
    raises KeyboardInterrupt. Warnings an explainer logs become Python warnings.
    """
    columns = _data.columns_from(data, feature_names, text)
    names = [c.name for c in columns]
    if features is None:  # every column but the target; for a callable, which reads numbers, no text column
        features = [c.name for c in columns
                    if c.name != target and (c.kind != "text" or isinstance(model, Model))]
    features = [str(f) for f in features]
    for name in features:
        if name not in names:
            raise NotFoundError(f"features names the column '{name}', which the data does not have.")
    sensitive = [str(s) for s in (sensitive or [])]
    if isinstance(model, Model):
        if pass_dataframe:
            raise InvalidArgumentError("pass_dataframe is for a Python callable; a loupe.Model reads the data itself.")
        handle, callable_info = model._handle, None
    elif callable(model):
        handle = model
        if pass_dataframe:
            make_frame = _data.frame_maker(columns, features)
            def handle(X):
                return model(make_frame(X))
        callable_info = _describe_callable(model, handle, columns, features, output_names, task)
        callable_info["batch_rows"] = _batch_rows(batch_rows)
    else:
        raise InvalidArgumentError(
            f"model must be a loupe.Model or a callable f(X) -> array, found {type(model).__name__}.")
    handle_result, stats, log = _core.explain(
        explainer, handle, callable_info, _data.to_core(columns), features, target,
        None if positive is None else str(positive), sensitive, _rows_json(rows),
        json.dumps(params or {}, default=_json_default), int(seed), int(threads or 0), step_id or explainer)
    for level, message in log:
        if level >= 2:
            warnings.warn(f"loupe: {explainer}: {message}", RuntimeWarning, stacklevel=2)
    numeric = _data.matrix(columns, features) if all(
        c.kind != "text" for c in columns if c.name in features) else None
    return Explanation(handle_result, numeric, stats)


def run(pipeline, overrides=None, *, output_dir=None, threads=None, seed=None):
    """Runs a pipeline file as ``loupe run`` does: validates it completely, runs its steps and writes
    their files; returns a :class:`Run` whose items are the steps' Explanations.

    overrides: ``{"steps.shap.params.nsamples": 512, "seed": 3}``, as ``loupe run --set KEY.PATH=VALUE``.
    output_dir overrides ``output.dir`` (``-o``), threads ``--threads``, seed ``--seed``.
    Raises InvalidArgumentError with every validation error (one ``FILE:LINE:COL: sentence`` per line), or
    the error that stopped the run before any step; a step that fails does not raise: the Run records it
    (``run.ok``, ``run.steps[id].status``). Ctrl-C cancels the run: no further step starts, the running one
    stops at its next check, run.json records them as failed with ``failure: cancelled``, and
    KeyboardInterrupt is raised.
    """
    pairs = [(str(key), json.dumps(value, default=_json_default)) for key, value in (overrides or {}).items()]
    report = _core.run(str(pipeline), pairs, None if output_dir is None else str(output_dir), int(threads or 0),
                       None if seed is None else int(seed))
    return Run(report, _core.read_explanation)
