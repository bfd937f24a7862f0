"""Explanations and pipeline runs as Python objects: numpy arrays, shap and pandas views, the JSON text."""

import json
from typing import NamedTuple

import numpy as np

from ._errors import InvalidArgumentError, NotFoundError


def _walk(document, path):
    node = document
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None, False
        node = node[key]
    return node, True


class Explanation:
    """One explainer's result (a ``loupe.explanation/v1`` document), with its arrays as numpy arrays.

    Attributes: ``kind`` (``feature_attribution``, ``fairness_report``, ``surrogate_tree``, ...), ``step``,
    ``explainer``, ``plugin`` (``{"name", "version"}``), ``params`` (the canonical parameters, defaults
    filled in), ``seed``, ``elapsed_ms`` and ``quality`` (additivity residual, sampling error, fidelity...).

    Every field of the document is an item, and also an attribute when its name allows it:
    ``e["values"]`` or ``e.values``; dotted paths reach nested fields (``e["stats.mean"]``). Numeric arrays
    come back as numpy arrays with the dtype the explainer wrote (float64 for attributions), string arrays
    (``data`` of a feature attribution) as numpy object arrays, other fields as Python values.
    ``fields`` lists the top-level field names.

    For a model callable, ``callable_stats`` holds ``{"calls", "rows", "seconds"}``: how often and how long
    the explainer spent inside the callable.
    """

    def __init__(self, handle, numeric_data=None, callable_stats=None):
        self._handle = handle
        self._numeric_data = numeric_data  # float64 [data rows, features] in Loupe's coding, for to_shap
        self.callable_stats = callable_stats
        self._body = json.loads(handle.body_json())

    kind = property(lambda self: self._handle.kind, doc="The kind of result (docs/architecture.md §3).")
    step = property(lambda self: self._handle.step, doc="The step id (loupe.explain's step_id).")
    explainer = property(lambda self: self._handle.explainer, doc="The explainer, 'plugin.explainer'.")
    seed = property(lambda self: self._handle.seed, doc="The seed the explainer ran with.")
    elapsed_ms = property(lambda self: self._handle.elapsed_ms, doc="The explainer's run time in ms.")

    @property
    def plugin(self):
        """``{"name", "version"}`` of the plugin that made it."""
        return {"name": self._handle.plugin_name, "version": self._handle.plugin_version}

    @property
    def params(self):
        """The parameters it ran with, defaults filled in."""
        return json.loads(self._handle.params_json())

    @property
    def quality(self):
        """Its quality figures (additivity residual, sampling error, fidelity, ... by explainer)."""
        return json.loads(self._handle.quality_json())

    @property
    def fields(self):
        """The names of the kind-specific top-level fields."""
        names = set(self._body)
        for path in self._handle.array_paths() + self._handle.text_paths():
            names.add(path.split(".")[0])
        return sorted(names)

    def __getitem__(self, path):
        if path in self._handle.array_paths():
            return self._handle.array(path)
        if path in self._handle.text_paths():
            return self._handle.text(path)
        value, found = _walk(self._body, path)
        if not found:
            raise KeyError(f"the {self.kind} explanation has no field '{path}'; its fields are "
                           f"{', '.join(self.fields)}.")
        if isinstance(value, list) and value and isinstance(value[0], list):
            numbers = self._handle.array(path)  # a numeric array read back from a file
            return numbers if numbers is not None else np.array(value, dtype=object)
        if isinstance(value, list) and value and all(isinstance(v, (int, float)) or v is None for v in value):
            numbers = self._handle.array(path)
            if path == "rows" and numbers is not None:
                return numbers.astype(np.int64)
            return numbers if numbers is not None else value
        return value

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as missing:
            raise AttributeError(missing.args[0]) from None

    def __contains__(self, path):
        try:
            self[path]
            return True
        except KeyError:
            return False

    def __repr__(self):
        return f"<loupe.Explanation {self.kind} of {self.explainer}, step '{self.step}', fields {self.fields}>"

    def to_json(self):
        """The ``loupe.explanation/v1`` document as text, byte for byte what ``loupe run`` writes to
        ``DIR/<step>.json`` for the same step (``elapsed_ms`` aside)."""
        return self._handle.to_json()

    def to_shap(self):
        """A ``shap.Explanation`` of a feature attribution, so that shap's plots work on it.

        ``values`` are [rows, features, outputs] (shap's layout; [rows, features] with one output),
        ``base_values`` [rows, outputs] (or [rows]), ``data`` the explained inputs as numbers (categories
        as Loupe's codes), ``display_data`` the same as text, ``feature_names`` and ``output_names``.
        Needs shap to be importable.
        """
        if self.kind != "feature_attribution":
            raise InvalidArgumentError(f"to_shap needs a feature_attribution, this is a {self.kind}.")
        try:
            import shap
        except ImportError as missing:
            raise ImportError("to_shap needs the shap package, which is not importable.") from missing
        values = np.transpose(np.asarray(self["values"], dtype=np.float64), (0, 2, 1))
        base_values = np.asarray(self["base_values"], dtype=np.float64)
        output_names = list(self["output_names"])
        if values.shape[2] == 1:
            values, base_values = values[:, :, 0], base_values[:, 0]
        return shap.Explanation(values=values, base_values=base_values, data=self._shap_data(),
                                display_data=np.asarray(self["data"], dtype=object),
                                feature_names=list(self["feature_names"]),
                                output_names=output_names if len(output_names) > 1 else output_names[0])

    def _shap_data(self):
        rows = np.asarray(self["rows"], dtype=np.int64)
        if self._numeric_data is not None:
            return self._numeric_data[rows]
        def number(cell):
            try:
                return float(cell)
            except (TypeError, ValueError):
                return np.nan
        return np.vectorize(number, otypes=[np.float64])(np.asarray(self["data"], dtype=object))

    def to_pandas(self):
        """A pandas DataFrame: a feature attribution's values, one row per (row, output) with its
        ``base_value``; a fairness report's ``groups``; any other kind's list of records."""
        import pandas as pd

        if self.kind == "feature_attribution":
            values = np.asarray(self["values"], dtype=np.float64)
            rows, outputs = np.asarray(self["rows"]), list(self["output_names"])
            index = pd.MultiIndex.from_product([rows, outputs], names=["row", "output"])
            frame = pd.DataFrame(values.reshape(-1, values.shape[2]), index=index,
                                 columns=list(self["feature_names"]))
            frame.insert(0, "base_value", np.asarray(self["base_values"], dtype=np.float64).reshape(-1))
            return frame
        if self.kind == "fairness_report":
            return pd.DataFrame(self["groups"])
        for name in self.fields:
            value = self[name]
            if isinstance(value, list) and value and isinstance(value[0], dict):
                return pd.DataFrame(value)
        raise InvalidArgumentError(f"a {self.kind} has no table to turn into a DataFrame.")


class StepResult(NamedTuple):
    """How one step of a pipeline run ended, as run.json records it."""

    id: str
    status: str  # ok | failed | skipped
    failure: str  # "" or bad_parameters | unsupported | model | plugin | output | cancelled | crashed
    message: str
    elapsed_ms: float
    files: list


class Run:
    """A pipeline run (loupe.run): its steps and, for each step that succeeded, its Explanation.

    ``ok`` is True when every step succeeded; ``error`` says why not. ``steps`` maps step ids to
    :class:`StepResult`; ``run["shap"]`` (or ``run.explanation("shap")``) is the step's Explanation, read
    from the ``DIR/<step>.json`` file the run wrote, so its values are those of the file exactly.
    ``output_dir`` is where the files are.
    """

    def __init__(self, report, read_explanation):
        self.ok = report["ok"]
        self.error = None if self.ok else report["message"]
        self.output_dir = report["output_dir"]
        self.steps = {s["id"]: StepResult(s["id"], s["status"], s["failure"], s["message"], s["elapsed_ms"],
                                          s["files"]) for s in report["steps"]}
        self._read = read_explanation
        self._cache = {}

    def explanation(self, step):
        """The Explanation of ``step``; raises when the step did not succeed."""
        if step not in self.steps:
            raise NotFoundError(f"the run has no step '{step}'; its steps are {', '.join(self.steps)}.")
        result = self.steps[step]
        if result.status != "ok":
            raise InvalidArgumentError(f"step '{step}' {result.status}: {result.message}")
        if step not in self._cache:
            json_file = next(f for f in result.files if f.endswith(".json"))
            self._cache[step] = Explanation(self._read(json_file))
        return self._cache[step]

    __getitem__ = explanation

    def __repr__(self):
        states = ", ".join(f"{s.id}: {s.status}" for s in self.steps.values())
        return f"<loupe.Run {'ok' if self.ok else 'failed'} in {self.output_dir} ({states})>"
