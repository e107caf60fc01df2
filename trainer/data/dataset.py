"""Loading and validating training data (CSV with a header, or .npz with arrays X and y) into one checked shape."""

from __future__ import annotations

import hashlib
import math
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, Placeholder, Setting, TrainerWarning
from ..options import DEFAULT_NA_VALUES, ReadOptions
from .columns import Encoding
from .csvfile import BLOCK_LINES, read_csv  # noqa: F401 (BLOCK_LINES: the block size, for callers and tests)
from .table import Table, table_from_array, table_from_frame

FEW_ROWS = 10  # a class with fewer training rows than this gets a warning
MANY_LEVELS = 20  # a categorical column with more distinct values than this and than half the rows gets a warning


class DataWarning(TrainerWarning):
    """Something in the data that is probably a mistake: an ID column, a class with very few rows, labels that
    differ only in case."""


@dataclass(frozen=True)
class Dataset:
    """Training data after validation.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features), float32, C-contiguous: the numeric columns as read (NaN where a
        value is missing), or, once :func:`trainer.training.fit_dataset` has encoded them, the design matrix
    y : ndarray of shape (n_samples,), int64, indices into ``class_names``
    feature_names : list of str, one per column of ``X``
    class_names : list of str, at least two, in their stable sorted order
    source : str, where the data came from (a path, or ``"<array>"``)
    sha256 : str or None, hash of the source file's bytes
    table : :class:`~trainer.columns.Table` or None, every raw column (numeric and categorical) in the user's order
    encoding : :class:`~trainer.columns.Encoding` or None, set once ``X`` is the design matrix
    weights : ndarray of shape (n_samples,), float64, or None: each row's frequency weight (``weight=COL``,
        ``sample_weight=``), checked by :func:`check_weights`
    offsets : ndarray of shape (n_samples,), float64, or None: each row's known term of the logit (``offset=COL``,
        ``fit(offset=o)``), checked by :func:`check_offsets`
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    source: str = "<array>"
    sha256: str | None = None
    notes: list[str] = field(default_factory=list)
    table: Table | None = None
    encoding: Encoding | None = None
    weights: np.ndarray | None = None
    offsets: np.ndarray | None = None
    offset_name: str | None = None  # the offsets' column (``offset=COL``), or "offset" for fit(offset=o)

    @classmethod
    def from_table(cls, table: Table, y: np.ndarray, class_names: list[str], **kwargs) -> Dataset:
        return cls(
            X=table.numeric, y=y, feature_names=table.numeric_names, class_names=class_names, table=table, **kwargs
        )


def load_dataset(
    path: str | os.PathLike[str],
    read: ReadOptions | None = None,
    *,
    missing: str = "impute",
    na_values: Sequence[str] = DEFAULT_NA_VALUES,
    categorical: Sequence[str] = (),
) -> Dataset:
    """Read a CSV (``read.label`` names the label column) or an ``.npz`` with arrays ``X`` and ``y``.

    ``read.features`` selects and orders feature columns by name; by default every column but the label and
    ``read.drop`` is a feature. A column of numbers is numeric, any other text (or a name in ``categorical``) makes it
    categorical. A missing value (an empty cell, or one of ``na_values``) is kept for imputation
    (``missing="impute"``; a row with a missing label is dropped), drops its row (``"drop"``), or stops with its place
    (``"error"``); dropped rows are counted in ``Dataset.notes``. Raises :class:`DataError` with
    ``file:line:column`` for any unusable input; warns (:class:`DataWarning`) about likely mistakes.
    """
    read = read or ReadOptions()
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        dataset = _load_npz(path, read.features, read.drop)
        if categorical:
            raise DataError(f"{path}: an .npz holds numbers only; categorical columns come from a CSV or a DataFrame")
    elif suffix in (".csv", ".txt", ".tsv") or not suffix:
        if read.label is None:
            raise DataError(f"{path}: a CSV needs ", Setting("label"), ", the name of its label column")
        dataset = _load_csv(path, read, missing, set(na_values), tuple(categorical))
    else:
        raise DataError(
            f"{path}: unsupported file type {suffix!r}; expected a .csv with a header or an .npz with arrays X, y"
        )
    review(dataset)
    return dataset


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def encode_labels(values: Sequence[object] | np.ndarray, *, source: str = "labels") -> tuple[np.ndarray, list[str]]:
    """Map label values of any type to indices into a stable, sorted list of class names (as strings).

    Numbers sort numerically (``2`` before ``10``), booleans false before true, anything else as text. Raises
    :class:`DataError` if fewer than two distinct values are present.
    """
    array = np.asarray(values)
    if array.dtype.kind in "iu" and array.size and array.min() >= 0 and array.max() < 1 << 20:
        # small non-negative integers (the usual 0/1 or class codes): counting beats sorting a million labels
        present = np.flatnonzero(np.bincount(array.ravel()))
        if len(present) >= 2:
            lookup = np.zeros(int(present[-1]) + 1, dtype=np.int64)
            lookup[present] = np.arange(len(present))
            return lookup[array.ravel()], [str(v) for v in present.tolist()]
    if array.dtype.kind in "iub" or (array.dtype.kind == "f" and np.isfinite(array).all()):
        # numbers and booleans: vectorized, no Python object per row (a million labels are common)
        distinct_values, indices = np.unique(array.ravel(), return_inverse=True)
        if len(distinct_values) < 2:
            raise DataError(one_class_message(source, [label_text(v) for v in distinct_values.tolist()]))
        return indices.astype(np.int64), [label_text(v) for v in distinct_values.tolist()]
    texts = [label_text(v) for v in np.asarray(values, dtype=object).ravel()]
    distinct = sorted(set(texts), key=class_sort_key(set(texts)))
    if len(distinct) < 2:
        raise DataError(one_class_message(source, distinct))
    index = {name: i for i, name in enumerate(distinct)}
    return np.fromiter((index[t] for t in texts), dtype=np.int64, count=len(texts)), distinct


def one_class_message(source: str, distinct: Sequence[str]) -> str:
    """What to say when the labels hold fewer than two classes (``distinct``: the class names found)."""
    if not distinct:
        return f"{source}: no labels (0 samples); a classifier needs at least two classes"
    return (
        f"{source}: found only {distinct[0]!r} as label; a classifier needs at least two classes, and these rows "
        "hold one class"
    )


def check_features(X: object, *, source: str = "X") -> np.ndarray:
    """Return ``X`` as a finite float32 C-contiguous 2-D array, or raise :class:`DataError` naming a bad cell.

    A float32 C-contiguous array comes back as itself (no copy); others are converted once, straight to float32.
    """
    if isinstance(X, np.ndarray) and X.dtype.kind in "fiub":
        array = X
    else:
        try:
            array = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{source}: features must be numbers ({exc})") from None
    if array.ndim != 2:
        raise DataError(f"{source}: features must be 2-D (rows x features), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"{source}: features are empty (shape {array.shape})")
    if array.dtype.kind == "f":
        _check_finite(array, source)
    if array.dtype == np.float64 and np.abs(array).max() > np.finfo(np.float32).max:
        row, col = (int(i) for i in np.argwhere(np.abs(array) > np.finfo(np.float32).max)[0])
        raise DataError(f"{source}: row {row}, column {col} is {float(array[row, col])}, beyond float32's range")
    return np.ascontiguousarray(array, dtype=np.float32)


def table_from_input(
    X: object, feature_names: Sequence[str] | None, categorical: Sequence[str], na_values: set[str]
) -> Table:
    """Features given to ``trainer.fit`` (a numeric or object array, nested lists, or a pandas DataFrame of any
    dtypes) as a :class:`Table`, typed as the same data in a CSV would be. NaN and None are missing values;
    infinity is an error."""
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(X, pandas.DataFrame):
        if feature_names is not None and list(feature_names) != [str(c) for c in X.columns]:
            raise DataError(f"feature_names {list(feature_names)!r} differ from the DataFrame's columns; omit them")
        _unknown_categorical(categorical, [str(c) for c in X.columns])
        table = table_from_frame(X, categorical, na_values)
    else:
        array = X if isinstance(X, np.ndarray) else np.asarray(X, dtype=object)
        if array.ndim != 2:
            raise DataError(f"X: features must be 2-D (rows x features), got shape {array.shape}")
        if array.dtype == object and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in array.ravel().tolist()
        ):
            array = array.astype(np.float64)
        names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(array.shape[1])]
        if len(names) != array.shape[1] or len(set(names)) != len(names):
            raise DataError(f"feature_names must be {array.shape[1]} distinct names, got {names!r}")
        _unknown_categorical(categorical, names)
        if array.dtype.kind in "fiub" and not categorical:
            if array.dtype.kind == "f":
                check_no_infinity(array, "X")
            if array.dtype == np.float64 and np.nanmax(np.abs(array), initial=0.0) > np.finfo(np.float32).max:
                raise DataError("X: a value is beyond float32's range; the model computes in float32")
            numeric = np.ascontiguousarray(array, dtype=np.float32)
            return Table(names, ["numeric"] * len(names), numeric, np.empty((len(numeric), 0), dtype=object))
        table = table_from_array(array, names, categorical, na_values)
    if table.numeric.shape[0] == 0 or not table.names:
        raise DataError(f"X: features are empty ({table.numeric.shape[0]} rows, {len(table.names)} columns)")
    check_no_infinity(table.numeric, "X")
    return table


def _unknown_categorical(categorical: Sequence[str], names: Sequence[str]) -> None:
    unknown = [name for name in categorical if name not in names]
    if unknown:
        raise DataError(f"categorical names {unknown[0]!r}, which is not a feature; features are: {', '.join(names)}")


def check_no_infinity(array: np.ndarray, source: str) -> None:
    """Refuse an infinite cell of a float ``array`` (NaN is a missing value), naming its row and column."""
    if array.dtype.kind != "f":
        return
    with np.errstate(invalid="ignore"):
        bad = np.isinf(array)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{source}: row {row}, column {col} is {float(array[row, col])}; features must be finite "
            "numbers (NaN is a missing value)"
        )


def _check_finite(array: np.ndarray, source: str, chunk_rows: int = 65536) -> None:
    for start in range(0, len(array), chunk_rows):
        bad = ~np.isfinite(array[start : start + chunk_rows])
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            row += start
            value = float(array[row, col])
            raise DataError(f"{source}: row {row}, column {col} is {value}; features must be finite numbers")


def label_text(value: object) -> str:
    """A label value as its class name: booleans "true"/"false", whole floats as integers (1.0 -> "1")."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def class_sort_key(names: set[str]):
    """The sort key that puts class names in their stable order: numbers numerically, false before true, else
    as text."""

    def as_number(text: str) -> float | None:
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None

    if all(as_number(n) is not None for n in names):
        return lambda n: (as_number(n), n)
    if {n.lower() for n in names} <= {"true", "false"}:
        return lambda n: n.lower() == "true"
    return lambda n: n


def _load_csv(
    path: Path, read: ReadOptions, missing: str, na_values: set[str], categorical: tuple[str, ...]
) -> Dataset:
    data = read_csv(path, read, missing, na_values, categorical)
    for parts in data.doubts:
        warnings.warn(DataWarning(*parts), stacklevel=3)
    y, class_names = encode_labels(data.labels, source=f"{path}: column {read.label!r}")
    return Dataset.from_table(data.table, y, class_names, source=str(path), sha256=data.sha256, notes=data.notes)


def _load_npz(path: Path, features: Sequence[str] | None, drop: Sequence[str]) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as exc:  # object arrays need pickle, which we refuse
        raise DataError(
            f"{path}: cannot read without unpickling ({exc}); store numbers and plain strings only"
        ) from None
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from None
    missing = [name for name in ("X", "y") if name not in arrays]
    if missing:
        raise DataError(f"{path}: missing array {missing[0]!r}; an .npz needs X (rows x features) and y (labels)")
    X = check_features(arrays["X"], source=f"{path}: array 'X'")
    y_raw = arrays["y"]
    if y_raw.ndim != 1 or len(y_raw) != len(X):
        raise DataError(
            f"{path}: array 'y' must be 1-D with one label per row of X ({len(X)}), got shape {y_raw.shape}"
        )
    if y_raw.dtype.kind == "f" and not np.isfinite(y_raw).all():
        row = int(np.flatnonzero(~np.isfinite(y_raw))[0])
        raise DataError(f"{path}: array 'y' row {row} is {float(y_raw[row])}; labels must be finite")
    names = [str(n) for n in arrays["feature_names"]] if "feature_names" in arrays else None
    if names is None:
        names = [f"x{i}" for i in range(X.shape[1])]
    elif len(names) != X.shape[1] or len(set(names)) != len(names):
        raise DataError(f"{path}: 'feature_names' must give {X.shape[1]} distinct names, got {len(names)}")
    if drop:
        unknown = [f for f in drop if f not in names]
        if unknown:
            raise DataError(
                f"{path}: no feature named {unknown[0]!r} for ", Setting("drop"), f"; features are: {', '.join(names)}"
            )
        features = [n for n in (features or names) if n not in drop]
    if features is not None:
        unknown = [f for f in features if f not in names]
        if unknown:
            raise DataError(
                f"{path}: no feature named {unknown[0]!r} for ",
                Setting("features"),
                f"; features are: {', '.join(names)}",
            )
        cols = [names.index(f) for f in features]
        X, names = np.ascontiguousarray(X[:, cols]), list(features)
    y, class_names = encode_labels(y_raw, source=f"{path}: array 'y'")
    table = Table(list(names), ["numeric"] * len(names), X, np.empty((len(X), 0), dtype=object))
    return Dataset.from_table(table, y, class_names, source=str(path), sha256=file_sha256(path))


def review(dataset: Dataset) -> None:
    """Warn (:class:`DataWarning`) about what is probably a mistake: a class with very few rows, labels that differ
    only in case, a feature that looks like a row ID, a text column with about as many values as rows."""
    counts = np.bincount(dataset.y, minlength=len(dataset.class_names))
    few = [
        f"{name!r} ({count})"
        for name, count in zip(dataset.class_names, counts.tolist(), strict=True)
        if count < FEW_ROWS
    ]
    if few:
        warnings.warn(
            f"{'class' if len(few) == 1 else 'classes'} {', '.join(few)} "
            f"{'has' if len(few) == 1 else 'have'} fewer than {FEW_ROWS} rows: "
            "their estimates rest on very little data",
            DataWarning,
            stacklevel=3,
        )
    by_case: dict[str, list[str]] = {}
    for name in dataset.class_names:
        by_case.setdefault(name.casefold(), []).append(name)
    for variants in by_case.values():
        if len(variants) > 1:
            warnings.warn(
                f"labels {' and '.join(repr(v) for v in variants)} differ only in case and are separate classes; "
                "if they mean the same, fix the data",
                DataWarning,
                stacklevel=3,
            )
    for name in id_like_columns(dataset.X, dataset.feature_names):
        warning = DataWarning(
            f"feature {name!r} has a different value on every row and grows with the row number, like a row ID: the "
            "model would learn the file's order, which will not hold for new rows. Leave it out with ",
            Setting("drop", name),
            " unless it is a real feature",
        )
        warnings.warn(warning, stacklevel=3)
    table = dataset.table
    for j, name in enumerate(table.categorical_names if table is not None else []):
        distinct = len(set(table.categories[:, j].tolist()))
        if distinct > max(MANY_LEVELS, len(table) // 2):
            warning = DataWarning(
                f"categorical feature {name!r} has {distinct:,} distinct values in {len(table):,} rows, like an ID or "
                f"free text: it becomes {distinct:,} one-hot columns, and new rows will mostly hold unseen values. "
                "Leave it out with ",
                Setting("drop", name),
                ", or fold rare values with ",
                Setting("min_frequency", Placeholder("N")),
            )
            warnings.warn(warning, stacklevel=3)


def id_like_columns(X: np.ndarray, names: Sequence[str], *, min_rows: int = 20) -> list[str]:
    """Columns whose values are all distinct and strictly monotonic in row order (R's rownames, 1..n, a timestamp)."""
    if len(X) < min_rows:
        return []
    head = X[: min(len(X), 1000)]
    step = np.diff(head, axis=0)
    candidates = np.flatnonzero((step > 0).all(axis=0) | (step < 0).all(axis=0))
    found = []
    for j in candidates.tolist():
        step = np.diff(X[:, j])
        if (step > 0).all() or (step < 0).all():
            found.append(names[j])
    return found


def missing_labels(y: np.ndarray, na_values: set[str]) -> np.ndarray:
    """Boolean mask of labels that are missing: None, NaN, pandas' NA, or a text in ``na_values`` (or empty)."""
    if y.dtype.kind in "iub":
        return np.zeros(len(y), dtype=bool)
    if y.dtype.kind == "f":
        return np.isnan(y)
    pandas = sys.modules.get("pandas")
    mask = np.zeros(len(y), dtype=bool)
    for i, value in enumerate(y.tolist()):
        is_text = isinstance(value, str)
        if (
            value is None
            or (isinstance(value, float) and value != value)
            or (is_text and (not value.strip() or value.strip() in na_values))
            or (pandas is not None and (value is pandas.NA or value is pandas.NaT))
        ):
            mask[i] = True
    return mask


def take_column(dataset: Dataset, name: str, *, role: Setting) -> tuple[Dataset, np.ndarray]:
    """``dataset`` without its column ``name``, and that column's values (float64 for a numeric column, str for a
    text one): a column the fit reads for something other than a feature (the clusters of ``--se cluster:COL``).
    Raises :class:`DataError` naming ``role`` when there is no such column or a value is missing."""
    table = dataset.table
    if table is None:
        table = Table(list(dataset.feature_names), ["numeric"] * dataset.X.shape[1], dataset.X,
                      np.empty((len(dataset.X), 0), dtype=object))  # fmt: skip
    if name not in table.names:
        raise DataError(
            f"{dataset.source}: no column named {name!r} for ", role, f"; the columns are: {', '.join(table.names)}"
        )
    kind = table.kinds[table.names.index(name)]
    if kind == "numeric":
        j = table.numeric_names.index(name)
        values, missing = table.numeric[:, j].astype(np.float64), np.isnan(table.numeric[:, j])
        numeric = np.ascontiguousarray(np.delete(table.numeric, j, axis=1))
        categories = table.categories
    else:
        j = table.categorical_names.index(name)
        values, missing = table.categories[:, j].astype(str), table.categories[:, j] == ""
        numeric, categories = table.numeric, np.delete(table.categories, j, axis=1)
    if missing.any():
        raise DataError(
            f"{dataset.source}: column {name!r}, read for ",
            role,
            f", has {int(missing.sum())} missing values (the "
            f"first in row {int(np.flatnonzero(missing)[0])}); fill them in, or leave those rows out",
        )
    rest = [(n, k) for n, k in zip(table.names, table.kinds, strict=True) if n != name]
    if not rest:
        raise DataError(f"{dataset.source}: column {name!r} is the only feature; nothing would be left to fit")
    kept = Table([n for n, _ in rest], [k for _, k in rest], numeric, categories)
    return Dataset.from_table(kept, dataset.y, dataset.class_names, source=dataset.source, sha256=dataset.sha256,
                              notes=list(dataset.notes), weights=dataset.weights, offsets=dataset.offsets,
                              offset_name=dataset.offset_name), values  # fmt: skip


def _one_number_per_row(values: object, n_rows: int, *, what: str, role: Setting | str, noun: str, got: str):
    """``values`` as float64 of shape (n_rows,), or a :class:`DataError` saying they are not numbers (``got``: what
    they are) or not one ``noun`` per row."""
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{what}: expected numbers for ", role, f", got values that are {got}") from None
    if numbers.shape != (n_rows,):
        raise DataError(f"{what}: expected one {noun} per row ({n_rows}) for ", role, f", got shape {numbers.shape}")
    return numbers


def check_offsets(values: object, n_rows: int, *, what: str, role: Setting | str) -> np.ndarray:
    """Offsets as float64 of shape (n_rows,), every one a finite number. Raises :class:`DataError` naming ``role``."""
    offsets = _one_number_per_row(values, n_rows, what=what, role=role, noun="offset", got="not (text?)")
    bad = ~np.isfinite(offsets)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{what}: row {first}'s offset is {float(offsets[first])!r}; ", role, " needs a finite number in every row"
        )
    return offsets


def check_weights(values: object, n_rows: int, *, what: str, role: Setting | str) -> np.ndarray:
    """Frequency weights as float64 of shape (n_rows,): finite, non-negative numbers, not all zero. Raises
    :class:`DataError` saying which value is wrong (``what`` names where they come from)."""
    weights = _one_number_per_row(values, n_rows, what=what, role=role, noun="weight", got="not")
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{what}: row {first}'s weight is {float(weights[first])!r}; ",
            role,
            f" takes finite, non-negative numbers ({int(bad.sum())} rows are not)",
        )
    if not weights.any():
        raise DataError(f"{what}: every weight is zero; ", role, " needs some rows of positive weight")
    return weights
