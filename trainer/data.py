"""Loading and validating training data (CSV with a header, or .npz with arrays X and y) into one checked shape."""

from __future__ import annotations

import csv
import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError


@dataclass(frozen=True)
class Dataset:
    """Training data after validation.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features), float32, finite, C-contiguous
    y : ndarray of shape (n_samples,), int64, indices into ``class_names``
    feature_names : list of str, one per column of ``X``
    class_names : list of str, at least two, in their stable sorted order
    source : str, where the data came from (a path, or ``"<array>"``)
    sha256 : str or None, hash of the source file's bytes
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    source: str = "<array>"
    sha256: str | None = None


def load_dataset(
    path: str | os.PathLike[str], *, label: str | None = None, features: Sequence[str] | None = None
) -> Dataset:
    """Read a CSV (``label`` names the label column) or an ``.npz`` with arrays ``X`` and ``y``.

    ``features`` selects and orders feature columns by name; by default every column but the label is a feature.
    Raises :class:`DataError` with ``file:line:column`` for any unusable input.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path, features)
    if suffix in (".csv", ".txt", ".tsv") or not suffix:
        if label is None:
            raise DataError(f"{path}: a CSV needs --label, the name of its label column")
        return _load_csv(path, label, features)
    raise DataError(
        f"{path}: unsupported file type {suffix!r}; expected a .csv with a header or an .npz with arrays X, y"
    )


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
    if array.dtype.kind in "iub" or (array.dtype.kind == "f" and np.isfinite(array).all()):
        # numbers and booleans: vectorized, no Python object per row (a million labels are common)
        distinct_values, indices = np.unique(array.ravel(), return_inverse=True)
        if len(distinct_values) < 2:
            only = repr(_label_text(distinct_values[0])) if len(distinct_values) else "nothing"
            raise DataError(f"{source}: found only {only} as label; a classifier needs at least two classes")
        return indices.astype(np.int64), [_label_text(v) for v in distinct_values.tolist()]
    texts = [_label_text(v) for v in np.asarray(values, dtype=object).ravel()]
    distinct = sorted(set(texts), key=_class_sort_key(set(texts)))
    if len(distinct) < 2:
        only = repr(distinct[0]) if distinct else "nothing"
        raise DataError(f"{source}: found only {only} as label; a classifier needs at least two classes")
    index = {name: i for i, name in enumerate(distinct)}
    return np.fromiter((index[t] for t in texts), dtype=np.int64, count=len(texts)), distinct


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


def _check_finite(array: np.ndarray, source: str, chunk_rows: int = 65536) -> None:
    for start in range(0, len(array), chunk_rows):
        bad = ~np.isfinite(array[start : start + chunk_rows])
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            row += start
            value = float(array[row, col])
            raise DataError(f"{source}: row {row}, column {col} is {value}; features must be finite numbers")


def _label_text(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _class_sort_key(names: set[str]):
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


def _load_csv(path: Path, label: str, features: Sequence[str] | None) -> Dataset:
    with open(path, "rb") as handle:
        raw = handle.read()
    if not raw.strip():
        raise DataError(f"{path}: the file is empty; expected a header line naming the columns, then data rows")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}); is this really a CSV file?") from None
    rows = csv.reader(text.splitlines())
    header = [name.strip() for name in next(rows)]
    _check_header(path, header)
    if label not in header:
        raise DataError(f"{path}:1: no column named {label!r} for --label; columns are: {', '.join(header)}")
    label_col = header.index(label)
    if features is None:
        feature_cols = [i for i in range(len(header)) if i != label_col]
    else:
        unknown = [f for f in features if f not in header]
        if unknown:
            raise DataError(
                f"{path}:1: no column named {unknown[0]!r} for --features; columns are: {', '.join(header)}"
            )
        if label in features:
            raise DataError(f"{path}:1: column {label!r} cannot be both the label and a feature")
        if len(set(features)) != len(features):
            raise DataError(f"{path}: --features names a column twice: {', '.join(features)}")
        feature_cols = [header.index(f) for f in features]
    if not feature_cols:
        raise DataError(f"{path}:1: no feature columns besides the label {label!r}")

    values: list[list[float]] = []
    labels: list[str] = []
    for line_no, row in enumerate(rows, start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank lines, e.g. a trailing newline
        if len(row) != len(header):
            raise DataError(f"{path}:{line_no}: expected {len(header)} fields as in the header, got {len(row)}")
        labels.append(_label_cell(path, line_no, label_col, header, row[label_col]))
        values.append([_number_cell(path, line_no, c, header, row[c]) for c in feature_cols])
    if not values:
        raise DataError(f"{path}: only a header, no data rows")
    y, class_names = encode_labels(labels, source=f"{path}: column {label!r}")
    return Dataset(
        X=np.ascontiguousarray(values, dtype=np.float32),
        y=y,
        feature_names=[header[c] for c in feature_cols],
        class_names=class_names,
        source=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def _check_header(path: Path, header: list[str]) -> None:
    seen: dict[str, int] = {}
    for col, name in enumerate(header, start=1):
        if not name:
            raise DataError(f"{path}:1:{col}: empty column name in the header")
        if name in seen:
            raise DataError(f"{path}:1:{col}: duplicate column name {name!r} (also column {seen[name]})")
        seen[name] = col


def _number_cell(path: Path, line_no: int, col: int, header: list[str], cell: str) -> float:
    where = f"{path}:{line_no}:{col + 1}: column {header[col]!r}"
    text = cell.strip()
    if not text:
        raise DataError(f"{where}: empty cell; every feature needs a value")
    try:
        number = float(text)
    except ValueError:
        raise DataError(f"{where}: {cell!r} is not a number") from None
    if not math.isfinite(number):
        raise DataError(f"{where}: {cell!r} is not a finite number")
    return number


def _label_cell(path: Path, line_no: int, col: int, header: list[str], cell: str) -> str:
    text = cell.strip()
    if not text:
        raise DataError(f"{path}:{line_no}:{col + 1}: column {header[col]!r}: empty label")
    return text


def _load_npz(path: Path, features: Sequence[str] | None) -> Dataset:
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
    if features is not None:
        unknown = [f for f in features if f not in names]
        if unknown:
            raise DataError(f"{path}: no feature named {unknown[0]!r} for --features; features are: {', '.join(names)}")
        cols = [names.index(f) for f in features]
        X, names = np.ascontiguousarray(X[:, cols]), list(features)
    y, class_names = encode_labels(y_raw, source=f"{path}: array 'y'")
    return Dataset(X=X, y=y, feature_names=names, class_names=class_names, source=str(path), sha256=file_sha256(path))
