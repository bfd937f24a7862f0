"""Tabular data from pandas or numpy, turned into the columns Loupe's C++ dataset is built from.

Loupe's own coding is kept: numeric columns as float64 with NaN for missing values; categorical columns
as codes into levels sorted as Loupe's CSV reader sorts them (numerically when every level is a number,
otherwise by bytes), so a DataFrame read from a CSV file gives the explainers exactly what ``loupe run``
gives them for that file. A model callable receives categorical columns in its own coding instead: a
pandas ``category`` column as its ``.cat.codes``, a column of strings as codes into its sorted levels.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from ._errors import InvalidArgumentError


@dataclass
class Column:
    """One column: ``values`` in Loupe's coding, ``callable_values`` and levels in a callable's."""

    name: str
    kind: str  # numeric | categorical | text
    values: object
    levels: list = field(default_factory=list)
    callable_levels: list = field(default_factory=list)
    callable_values: object = None
    label: object = None  # the DataFrame's own column label (``name`` is its text)
    pandas_dtype: object = None  # a pandas category column's dtype, to rebuild it (frame_maker)


def _number(text):
    """The number Loupe's CSV reader reads from ``text``, or None (no NaN, no underscores)."""
    text = text.strip(" \t")
    if not text or "_" in text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def sort_levels(levels):
    """Levels in Loupe's order: numerically when every level is a number (ties by bytes), else by bytes."""
    numbers = [_number(level) for level in levels]
    if any(number is None for number in numbers):
        return sorted(levels, key=lambda level: level.encode())
    return [level for _, level in sorted(zip(numbers, levels), key=lambda p: (p[0], p[1].encode()))]


def _coded(strings, missing, levels):
    index = {level: code for code, level in enumerate(levels)}
    return np.array([np.nan if gone else index[s] for s, gone in zip(strings, missing)], dtype=np.float64)


def _categorical_from_pandas(name, series):
    categories = [str(c) for c in series.cat.categories]
    levels = sort_levels(categories)
    pandas_codes = series.cat.codes.to_numpy()
    code_of = {level: code for code, level in enumerate(levels)}
    to_loupe = np.array([code_of[c] for c in categories], dtype=np.float64)
    missing = pandas_codes < 0
    values = np.where(missing, np.nan, to_loupe[np.maximum(pandas_codes, 0)]) if len(categories) else \
        np.full(len(series), np.nan)
    callable_values = np.where(missing, np.nan, pandas_codes.astype(np.float64))
    return Column(name, "categorical", values, levels, categories, callable_values, pandas_dtype=series.dtype)


def _strings(name, cells, missing):
    strings = ["" if gone else str(cell) for cell, gone in zip(cells, missing)]
    levels = sort_levels(sorted({s for s, gone in zip(strings, missing) if not gone}))
    values = _coded(strings, missing, levels)
    return Column(name, "categorical", values, levels, levels, values)


def _from_series(name, series, text):
    import pandas as pd

    name = str(name)
    if name in text:
        cells = [None if pd.isna(cell) else str(cell) for cell in series.tolist()]
        return Column(name, "text", cells)
    if isinstance(series.dtype, pd.CategoricalDtype):
        return _categorical_from_pandas(name, series)
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        if pd.api.types.is_complex_dtype(series.dtype):
            raise InvalidArgumentError(f"column '{name}' holds complex numbers, which Loupe cannot explain.")
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return Column(name, "numeric", values, callable_values=values)
    if pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype):
        return _strings(name, series.tolist(), series.isna().to_numpy())
    raise InvalidArgumentError(
        f"column '{name}' has dtype {series.dtype}, which Loupe cannot explain; convert it to numbers or to "
        f"a category.")


def _from_numpy(array, feature_names):
    if array.ndim != 2:
        raise InvalidArgumentError(f"data must be a 2-D array (rows, features), found {array.ndim} dimensions.")
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(array.shape[1])]
    if len(names) != array.shape[1]:
        raise InvalidArgumentError(
            f"feature_names has {len(names)} names for {array.shape[1]} columns of data.")
    columns = []
    for j, name in enumerate(names):
        cells = array[:, j]
        if np.issubdtype(array.dtype, np.number) or array.dtype == bool:
            values = cells.astype(np.float64)
            columns.append(Column(str(name), "numeric", values, callable_values=values))
        else:
            missing = np.array([cell is None or (isinstance(cell, float) and math.isnan(cell)) for cell in cells])
            columns.append(_strings(str(name), cells.tolist(), missing))
    return columns


def columns_from(data, feature_names=None, text=()):
    """The columns of ``data``: a pandas DataFrame, or a 2-D numpy array with optional ``feature_names``."""
    text = set(text or ())
    try:
        import pandas as pd
    except ImportError:  # numpy input needs no pandas
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        if feature_names is not None:
            raise InvalidArgumentError("feature_names is for numpy data; a DataFrame names its own columns.")
        columns = [_from_series(name, data[name], text) for name in data.columns]
        for column, label in zip(columns, data.columns):
            column.label = label
        return columns
    if isinstance(data, np.ndarray):
        return _from_numpy(data, feature_names)
    raise InvalidArgumentError(
        f"data must be a pandas DataFrame or a 2-D numpy array, found {type(data).__name__}.")


def to_core(columns):
    """The (name, kind, values, levels) tuples loupe._core builds its dataset from."""
    return [(c.name, c.kind, c.values, c.levels) for c in columns]


def matrix(columns, names, coding="loupe"):
    """float64 [rows, len(names)] of the named numeric or categorical columns, in Loupe's or the callable's coding."""
    by_name = {c.name: c for c in columns}
    picked = [by_name[name].values if coding == "loupe" else by_name[name].callable_values for name in names]
    return np.column_stack(picked).astype(np.float64, copy=False) if picked else np.empty((0, 0))


def frame_maker(columns, names):
    """A function turning the float64 [n, len(names)] a callable receives (the callable's coding) back into
    a pandas DataFrame like the user's: the original column labels, a ``category`` column as a Categorical
    of its own dtype (same categories, same order), a column of strings as those strings (object dtype),
    missing values as NaN, numbers (and bools) as float64. For ``explain(..., pass_dataframe=True)``."""
    import pandas as pd

    by_name = {c.name: c for c in columns}
    labels, converters = [], []
    for name in names:
        column = by_name[name]
        labels.append(column.label if column.label is not None else name)
        if column.pandas_dtype is not None:
            converters.append(lambda v, dtype=column.pandas_dtype: pd.Categorical.from_codes(
                np.where(np.isnan(v), -1, v).astype(np.int64), dtype=dtype))
        elif column.kind == "categorical":  # codes into the sorted strings; the last entry is "missing"
            table = np.array(list(column.callable_levels) + [np.nan], dtype=object)
            missing = len(column.callable_levels)
            converters.append(lambda v, table=table, missing=missing: table[
                np.where(np.isnan(v), missing, v).astype(np.int64)])
        else:
            converters.append(None)

    def make(X):
        return pd.DataFrame({label: X[:, j] if convert is None else convert(X[:, j])
                             for j, (label, convert) in enumerate(zip(labels, converters))})

    return make
