"""Validate once, at the edge: every accepted input form becomes one float32, C-contiguous, 2-D array of the right
width, or an :class:`InputError` that names the row, the column and what is wrong.

The input rules (docs/inputs.md), the same in every client of a model (this module, the server, ``logreg predict``'s
JSON lines and CSV, the Node.js and browser clients):

- a row names its values by column: every feature must be there; other keys or columns are ignored (an id, a note);
- a numeric column takes a number; a boolean is not a number (send 1 or 0), nor is text, even "86"; a missing value
  (None, NaN) is scored only by a model that imputes it;
- a text column takes text (trimmed), a number or a boolean (its text: ``True``/``False``, as Python writes it), and
  None, NaN, "" or one of the model's ``na_values`` for a missing value;
- column numbers in messages count every feature in the model's order (``Model.feature_names``), text ones included.
"""

from __future__ import annotations

import itertools
import math
import numbers
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from .errors import InputError

_NUMERIC_KINDS = "fiu"  # numpy dtype kinds that are numbers; booleans ("b") are not
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32 = np.dtype(np.float32)


def to_matrix(X: object, feature_names: Sequence[str], *, missing_ok: bool = False) -> np.ndarray:
    """Turn ``X`` into a float32 array of shape (n_rows, n_features).

    Accepts a 2-D or 1-D (one row) array, a list of lists, a dict of feature name to value (one row), a list of such
    dicts, or a pandas DataFrame with the model's feature names as columns. Dict keys and DataFrame columns are
    matched by name, whatever their order; other keys and columns are ignored. One rule for every form: a value must
    be a number (int, float, or a numpy number; a boolean is not one); a string is never read as a number, even
    "86", and None is a missing value, which the model cannot score unless ``missing_ok`` (a model that imputes: None
    becomes NaN). NaN and infinity are left for :meth:`runtime.Model.nonfinite_error`, which runs only when the
    model's output shows they are there. An empty list is refused (it has no rows to score); an array or DataFrame
    with zero rows gives zero rows.
    """
    n_features = len(feature_names)
    if type(X) is np.ndarray and X.dtype is _FLOAT32 and X.flags.c_contiguous:  # already what the model takes
        if X.ndim == 2 and X.shape[1] == n_features:
            return X
        if X.ndim == 1 and X.shape[0] == n_features:
            return X.reshape(1, n_features)
    if isinstance(X, np.ndarray) and X.dtype.kind in _NUMERIC_KINDS:
        array = X
    elif isinstance(X, Mapping):
        _check_one_row(X)
        array = _rows_from_dicts([X], feature_names, missing_ok)
    elif _is_dataframe(X):
        array = _from_dataframe(X, feature_names, missing_ok)
    elif isinstance(X, (list, tuple)) and X and isinstance(X[0], Mapping):
        array = _rows_from_dicts(X, feature_names, missing_ok)
    elif isinstance(X, (str, bytes)) or X is None or isinstance(X, numbers.Number):
        raise InputError(f"features must be a row or rows of {n_features} numbers, got {type(X).__name__} {X!r:.80}")
    else:
        _check_not_empty(X)
        array = _numeric_array(X, feature_names, missing_ok)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise InputError(f"features must be 2-D (rows x {n_features} features) or one 1-D row, got shape {array.shape}")
    if array.shape[1] != n_features:
        raise InputError(
            f"expected {n_features} features per row ({describe_names(feature_names)}), got {array.shape[1]}"
        )
    if array.dtype != np.float32 and array.dtype.kind == "f" and array.size:
        _check_float32_range(array, feature_names)
    return np.ascontiguousarray(array, dtype=np.float32)


def describe_names(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def _is_dataframe(X: object) -> bool:
    # pandas is not a dependency: if it was never imported, X cannot be one of its DataFrames
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(X, pandas.DataFrame)


def _check_not_empty(X: object) -> None:
    if isinstance(X, (list, tuple)) and not X:
        raise InputError(
            f"no rows: got an empty {type(X).__name__}; pass one row (a dict of column name to value) or a list of rows"
        )


def _check_one_row(row: Mapping) -> None:
    """A dict is one row. A dict whose every value is a list (or array) is a table by columns, which it is not: say
    how to pass one, rather than failing on the first value."""
    if row and all(_is_sequence(v) for v in row.values()):
        name = next(iter(row))
        raise InputError(
            f"a dict is one row of column name to value, but every value of this one is a list (column {name!r}: "
            f"{row[name]!r:.40}); for several rows pass a list of dicts, or pandas.DataFrame(your_dict)"
        )


def _is_sequence(value: object) -> bool:
    return isinstance(value, (list, tuple, np.ndarray)) or type(value).__name__ == "Series"


def _check_names(keys: Sequence[object], feature_names: Sequence[str], where: str) -> None:
    """Raise when a feature is missing; keys the model does not use are ignored, and named in the message (a
    misspelled feature is the likeliest reason one is missing)."""
    present = {str(k) for k in keys}
    missing = [name for name in feature_names if name not in present]
    if not missing:
        return
    expected = set(feature_names)
    unused = [str(k) for k in keys if str(k) not in expected]
    hint = (
        f" (the row also has {', '.join(repr(u) for u in unused[:5])}{' ...' if len(unused) > 5 else ''}, which the "
        "model does not use: a misspelling?)"
        if unused
        else ""
    )
    raise InputError(
        f"{where}missing feature{'s' if len(missing) > 1 else ''} "
        f"{', '.join(repr(m) for m in missing[:5])}{' ...' if len(missing) > 5 else ''}{hint}"
    )


def _rows_from_dicts(rows: Sequence[Mapping], feature_names: Sequence[str], missing_ok: bool = False) -> np.ndarray:
    values = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InputError(
                f"row {index}: expected a dict of feature name to value like the rows before it, got "
                f"{type(row).__name__}"
            )
        try:
            values.append([row[name] for name in feature_names])
        except KeyError:
            _check_names(list(row), feature_names, f"row {index}: ")
            raise
    return _numeric_array(values, feature_names, missing_ok)


def _from_dataframe(
    frame, feature_names: Sequence[str], missing_ok: bool = False, positions: Sequence[int] | None = None
) -> np.ndarray:
    """The feature columns (selected by name; others ignored) as float64, or an :class:`InputError` naming the first
    cell that is not a number by its row position, its index label and its column (``positions``: the columns'
    numbers among all the model's features, when ``feature_names`` are only the numeric ones)."""
    missing = [name for name in feature_names if name not in frame.columns]
    if missing:
        _check_names(list(frame.columns), feature_names, "DataFrame: ")
    out = np.empty((len(frame), len(feature_names)), dtype=np.float64)
    for col, name in enumerate(feature_names):
        column = frame[name]
        kind, dtype_name = column.dtype.kind, str(column.dtype)
        if kind in _NUMERIC_KINDS and dtype_name not in ("Int64", "Float64"):  # numpy-backed numbers
            out[:, col] = column.to_numpy(dtype=np.float64)
            continue
        if kind != "b" and dtype_name != "boolean":
            try:  # pandas' nullable Int64 and Float64: missing cells become NaN, reported as missing below
                out[:, col] = column.to_numpy(dtype=np.float64, na_value=np.nan)
                if kind in _NUMERIC_KINDS:
                    continue
            except (TypeError, ValueError):
                pass
        for position, value in enumerate(column.tolist()):  # object, string, category, bool: find the bad cell
            if missing_ok and is_missing(value):
                out[position, col] = np.nan
                continue
            if not _is_number(value):
                label = frame.index[position]
                where = f"row {position}" + ("" if label == position else f" (index {label!r})")
                number = positions[col] if positions is not None else col
                raise InputError(f"{where}, column {number} ({name!r}): {_describe(value)}")
    return out


def _is_number(value: object) -> bool:
    return isinstance(value, (numbers.Real, np.number)) and not isinstance(value, (bool, np.bool_, str, np.datetime64))


def _describe(value: object) -> str:
    pandas = sys.modules.get("pandas")
    if value is None or (pandas is not None and (value is pandas.NA or value is pandas.NaT)):
        return (
            f"missing ({value}), not a number: this model cannot impute a missing value (it was trained without "
            "missing='impute')"
        )
    if isinstance(value, (bool, np.bool_)):
        return f"{bool(value)} is a boolean, not a number (send 1 or 0)"
    return f"{value!r:.60} is a {type(value).__name__}, not a number"


def _numeric_array(
    values: object, feature_names: Sequence[str], missing_ok: bool = False, positions: Sequence[int] | None = None
) -> np.ndarray:
    """``values`` as numbers, or an error naming the first cell that is not one; ``positions``: the columns' positions
    in the caller's rows (when ``values`` holds only some of them: the numeric columns of a row with text ones too)."""
    try:
        array = np.asarray(values)
    except ValueError as exc:  # ragged rows
        raise InputError(f"rows of different lengths; each row needs {len(feature_names)} values ({exc})") from None
    if not feature_names and array.ndim == 2:  # a model without numeric columns: nothing to read
        return np.zeros((len(array), 0))
    if array.dtype.kind in _NUMERIC_KINDS and not (isinstance(values, (list, tuple)) and _holds_booleans(values)):
        return array
    # strings, None, booleans, objects: find the first cell that is not a real number and say so, in the caller's terms
    try:
        cells = np.asarray(values, dtype=object)
    except ValueError:
        cells = array.astype(object)
    cells = cells.reshape(-1, cells.shape[-1]) if cells.ndim >= 1 else cells.reshape(1, 1)
    if missing_ok:
        flat = [math.nan if is_missing(v) else v for v in cells.ravel().tolist()]
        cells = np.array(flat, dtype=object).reshape(cells.shape)
    for row_index, row in enumerate(cells):
        for col, value in enumerate(row):
            if not _is_number(value):
                name = f" ({feature_names[col]!r})" if col < len(feature_names) else ""
                position = positions[col] if positions is not None and col < len(positions) else col
                raise InputError(f"row {row_index}, column {position}{name}: {_describe(value)}")
    return cells.astype(np.float64) if missing_ok else array.astype(np.float64)


def _holds_booleans(values: list | tuple) -> bool:
    """Whether nested lists hold a Python or numpy boolean, which numpy would silently read as 1 or 0 (a C-speed pass
    over the cells' types)."""
    if values and isinstance(values[0], (list, tuple)):
        types = set(map(type, itertools.chain.from_iterable(values)))
    else:
        types = set(map(type, values))
    return bool in types or np.bool_ in types


def is_missing(value: object) -> bool:
    """None, NaN, pandas' NA or NaT."""
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and (value is pandas.NA or value is pandas.NaT)


# -- models with categorical columns (contract format 2) ---------------------------------------------------------
def category_text(value: object, na_values: frozenset[str]) -> str | None:
    """A categorical cell as the model compares it: trimmed text, "" for a missing value; None if it is not a
    value a column can hold (a list, a dict...). A number or a boolean is its Python text (``True``, ``2008``)."""
    if isinstance(value, str):
        text = value.strip()
        return "" if text in na_values else text
    if is_missing(value):
        return ""
    if isinstance(value, (bool, np.bool_, numbers.Number)):
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and value != value:
            return ""
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    return None


def to_columns(X: object, columns: Sequence, na_values: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a model with categorical columns as its two inputs: numeric values (float32, NaN where missing) and
    categorical texts (object array of str).

    Accepts a dict of column name to value (one row), a list of such dicts, a pandas DataFrame (columns selected by
    name, others ignored), or rows as lists in the model's column order. Numeric columns take numbers (None and NaN
    are missing; a boolean is not a number); categorical ones take text, numbers and booleans (their text), and
    None, NaN or an ``na_values`` text (missing). Keys a dict row has beyond the model's columns are ignored.
    """
    names = [c.name for c in columns]
    numeric_cols = [j for j, c in enumerate(columns) if c.kind == "numeric"]
    categorical_cols = [j for j, c in enumerate(columns) if c.kind == "categorical"]
    numeric_names = [names[j] for j in numeric_cols]
    if _is_dataframe(X):
        missing = [name for name in names if name not in X.columns]
        if missing:
            _check_names(list(X.columns), names, "DataFrame: ")
        numeric = (
            _from_dataframe(X, numeric_names, missing_ok=True, positions=numeric_cols)
            if numeric_cols
            else np.zeros((len(X), 0))
        )
        cells = [X[names[j]].tolist() for j in categorical_cols]
        categories = np.empty((len(X), len(categorical_cols)), dtype=object)
        for k, values in enumerate(cells):
            j = categorical_cols[k]
            categories[:, k] = _texts(values, j, names[j], na_values, lambda i: _frame_row(X, i))
        return _finish(numeric, categories, numeric_names, numeric_cols)
    if isinstance(X, Mapping):
        _check_one_row(X)
        rows = [X]
    elif isinstance(X, (list, tuple)) and X and isinstance(X[0], Mapping):
        rows = list(X)
    elif isinstance(X, (list, tuple, np.ndarray)):
        _check_not_empty(X)
        array = np.asarray(X, dtype=object)
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if array.ndim != 2 or array.shape[1] != len(names):
            raise InputError(
                f"expected rows of {len(names)} values ({describe_names(names)}), got shape {array.shape}; "
                "rows as dicts of column name to value need no particular order"
            )
        rows = None
    else:
        raise InputError(
            f"features must be a dict of column name to value, a list of such dicts, a DataFrame or rows of "
            f"{len(names)} values, got {type(X).__name__}"
        )
    if rows is not None:
        array = np.empty((len(rows), len(names)), dtype=object)
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise InputError(
                    f"row {index}: expected a dict of column name to value like the rows before it, got "
                    f"{type(row).__name__}"
                )
            try:
                array[index] = [row[name] for name in names]
            except KeyError:
                _check_names(list(row), names, f"row {index}: ")
                raise
    numeric = _numeric_array(array[:, numeric_cols], numeric_names, missing_ok=True, positions=numeric_cols)
    categories = np.empty((len(array), len(categorical_cols)), dtype=object)
    for k, j in enumerate(categorical_cols):
        categories[:, k] = _texts(array[:, j].tolist(), j, names[j], na_values, lambda i: f"row {i}")
    return _finish(numeric, categories, numeric_names, numeric_cols)


def _frame_row(frame, position: int) -> str:
    label = frame.index[position]
    return f"row {position}" + ("" if label == position else f" (index {label!r})")


def _texts(values: list, position: int, name: str, na_values: frozenset[str], where) -> list[str]:
    out = []
    for i, value in enumerate(values):
        text = category_text(value, na_values)
        if text is None:
            raise InputError(
                f"{where(i)}, column {position} ({name!r}): {value!r:.60} is a {type(value).__name__}, not a value"
            )
        out.append(text)
    return out


def _finish(
    numeric: np.ndarray, categories: np.ndarray, numeric_names: list[str], positions: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    numeric = np.asarray(numeric)
    if numeric.dtype != np.float32 and numeric.size:
        _check_float32_range(numeric.astype(np.float64), numeric_names, positions)
    return np.ascontiguousarray(numeric, dtype=np.float32).reshape(len(categories), len(numeric_names)), categories


def _check_float32_range(
    array: np.ndarray, feature_names: Sequence[str], positions: Sequence[int] | None = None
) -> None:
    with np.errstate(invalid="ignore"):
        too_big = np.abs(array) > _FLOAT32_MAX
    if too_big.any():
        row, col = (int(i) for i in np.argwhere(too_big)[0])
        value = float(array[row, col])
        if math.isfinite(value):
            number = positions[col] if positions is not None else col
            raise InputError(
                f"row {row}, column {number} ({feature_names[col]!r}) is {value}, beyond float32's range "
                f"(+-{_FLOAT32_MAX:.4g}); the model computes in float32"
            )


def to_offsets(values: object, n_rows: int) -> np.ndarray:
    """A model's ``offset`` input from ``values`` (a number per row, or one number for every row): float32 of shape
    (n_rows,), each finite. Raises :class:`InputError` naming the row and the value."""
    if isinstance(values, (str, bytes)) or values is None:
        raise InputError(f"offset must be a number per row ({n_rows}), got {type(values).__name__} {values!r:.40}")
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"offset must be numbers, one per row ({n_rows}), got {values!r:.60}") from None
    if array.ndim == 0:
        array = np.full(n_rows, float(array))
    if array.shape != (n_rows,):
        raise InputError(f"offset must have one number per row: expected shape ({n_rows},), got {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(f"row {first}: offset must be a finite number, got {float(array[first])!r}")
    if array.size and np.abs(array).max() > _FLOAT32_MAX:
        raise InputError(f"offset {float(np.abs(array).max())!r} is beyond float32's range (about 3.4e38)")
    return np.ascontiguousarray(array, dtype=np.float32)


def offsets_in_rows(X: object, column: str, n_rows: int) -> np.ndarray:
    """The offsets rows ``X`` give under their ``column`` (a dict, a list of dicts, a DataFrame): float32 of shape
    (n_rows,), 0 for a row without the column or with a missing value there (None, NaN); zeros for rows in any
    other form (an array has no names). A value that is not a number raises :class:`InputError`."""
    if isinstance(X, Mapping):
        cells = [X.get(column)]
    elif isinstance(X, (list, tuple)) and X and isinstance(X[0], Mapping):
        cells = [row.get(column) if isinstance(row, Mapping) else None for row in X]
    elif _is_dataframe(X) and column in X.columns:
        cells = X[column].tolist()
    else:
        return np.zeros(n_rows, dtype=np.float32)
    out = np.zeros(len(cells), dtype=np.float64)
    for i, value in enumerate(cells):
        if is_missing(value):
            continue
        if not _is_number(value):
            raise InputError(
                f"row {i}: column {column!r} is the model's offset and takes a number, got {_describe(value)}"
            )
        out[i] = float(value)
    return to_offsets(out, n_rows)
