"""Loading and validating training data (CSV with a header, or .npz with arrays X and y) into one checked shape."""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.stream import sniff_delimiter

from .columns import Encoding, InfiniteValue, Table, parse_texts, table_from_array, table_from_frame, text_column
from .errors import DataError
from .options import DEFAULT_NA_VALUES, ReadOptions

FEW_ROWS = 10  # a class with fewer training rows than this gets a warning


class DataWarning(UserWarning):
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
            raise DataError(f"{path}: a CSV needs --label, the name of its label column")
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
                _check_no_infinity(array, "X")
            if array.dtype == np.float64 and np.nanmax(np.abs(array), initial=0.0) > np.finfo(np.float32).max:
                raise DataError("X: a value is beyond float32's range; the model computes in float32")
            numeric = np.ascontiguousarray(array, dtype=np.float32)
            return Table(names, ["numeric"] * len(names), numeric, np.empty((len(numeric), 0), dtype=object))
        table = table_from_array(array, names, categorical, na_values)
    if table.numeric.shape[0] == 0 or not table.names:
        raise DataError(f"X: features are empty ({table.numeric.shape[0]} rows, {len(table.names)} columns)")
    _check_no_infinity(table.numeric, "X")
    return table


def _unknown_categorical(categorical: Sequence[str], names: Sequence[str]) -> None:
    unknown = [name for name in categorical if name not in names]
    if unknown:
        raise DataError(f"categorical names {unknown[0]!r}, which is not a feature; features are: {', '.join(names)}")


def _check_no_infinity(array: np.ndarray, source: str) -> None:
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


def _load_csv(
    path: Path, read: ReadOptions, missing: str, na_values: set[str], categorical: tuple[str, ...]
) -> Dataset:
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: the file is empty; expected a header line naming the columns, then data rows")
    lines = decode_text(path, raw, read.encoding).splitlines()
    delimiter = sniff_delimiter(lines[0], read.delimiter)
    header = [name.strip() for name in next(csv.reader(lines[:1], delimiter=delimiter))]
    _check_header(path, header)
    label, label_col = read.label, _column(path, header, read.label, "--label", delimiter)
    for name in read.drop:
        _column(path, header, name, "--drop", delimiter)
    if read.features is None:
        feature_cols = [i for i, name in enumerate(header) if i != label_col and name not in read.drop]
    else:
        feature_cols = [_column(path, header, name, "--features", delimiter) for name in read.features]
        if label in read.features:
            raise DataError(f"{path}:1: column {label!r} cannot be both the label and a feature")
        if len(set(read.features)) != len(read.features):
            raise DataError(f"{path}: --features names a column twice: {', '.join(read.features)}")
    if not feature_cols:
        raise DataError(f"{path}:1: no feature columns besides the label {label!r}")
    names = [header[c] for c in feature_cols]
    for name in categorical:
        if name not in names:
            _column(path, header, name, "--categorical", delimiter)
            raise DataError(f"{path}:1: --categorical names {name!r}, which is not a feature column")

    parse = _RowParser(path, header, label_col, feature_cols, na_values, missing)
    forced = {names.index(name) for name in categorical}
    starts = list(range(1, len(lines), BLOCK_LINES))
    blocks = [parse.block(lines[s : s + BLOCK_LINES], s + 1, delimiter, forced) for s in starts]
    # a column with text in any block is categorical in every block: re-read blocks that parsed it as numbers
    text = forced | {j for b in blocks for j, column in enumerate(b.columns) if not isinstance(column, np.ndarray)}
    for i, (s, b) in enumerate(zip(starts, blocks, strict=True)):
        if any(isinstance(b.columns[j], np.ndarray) for j in text):
            blocks[i] = parse.block(lines[s : s + BLOCK_LINES], s + 1, delimiter, text, careful=True)
    dropped_label = sum(b.dropped_label for b in blocks)
    dropped = sum(b.dropped for b in blocks)
    if not blocks:
        if dropped or dropped_label:
            raise DataError(f"{path}: no data rows left after dropping {dropped + dropped_label} with missing values")
        raise DataError(f"{path}: only a header, no data rows")
    blocks = [b for b in blocks if b.labels]
    table = _assemble(blocks, names, text, na_values)
    labels = [label for b in blocks for label in b.labels]
    y, class_names = encode_labels(labels, source=f"{path}: column {label!r}")
    notes = []
    if dropped_label:
        notes.append(f"dropped {dropped_label} row{'s' if dropped_label != 1 else ''} with a missing label")
    if dropped:
        notes.append(f"dropped {dropped} row{'s' if dropped != 1 else ''} with a missing value")
    return Dataset.from_table(
        table, y, class_names, source=str(path), sha256=hashlib.sha256(raw).hexdigest(), notes=notes
    )


BLOCK_LINES = 65536


def _assemble(blocks: list, names: list[str], text: set[int], na_values: set[str]) -> Table:
    """The blocks' columns as one Table, numbers written straight into its float32 block (no float64 copy of the
    whole data)."""
    n_rows = sum(len(b.labels) for b in blocks)
    numeric_cols = [j for j in range(len(names)) if j not in text]
    numeric = np.empty((n_rows, len(numeric_cols)), dtype=np.float32)
    categories = np.empty((n_rows, len(text)), dtype=object)
    start = 0
    for b in blocks:
        stop = start + len(b.labels)
        for k, j in enumerate(numeric_cols):
            numeric[start:stop, k] = b.columns[j]
        for k, j in enumerate(sorted(text)):
            categories[start:stop, k] = text_column(b.columns[j], na_values)
        start = stop
    kinds = ["categorical" if j in text else "numeric" for j in range(len(names))]
    return Table(list(names), kinds, numeric, categories)


@dataclass
class _Block:
    """One block of parsed lines: per feature column, float64 numbers (NaN where missing) or trimmed texts."""

    columns: list
    labels: list[str]
    dropped: int = 0  # rows with a missing feature value, under missing="drop"
    dropped_label: int = 0  # rows with a missing label, under "drop" or "impute"


class _RowParser:
    """Parse CSV lines a block at a time: numpy's C parser on blocks of plain numbers (the usual case, and the only
    fast one for a million rows), and the careful cell-by-cell path, which names the line and column of any problem,
    keeps text, and drops rows by the missing-value policy, on blocks that need it."""

    def __init__(self, path, header, label_col, feature_cols, na_values, missing) -> None:
        self.path, self.header, self.label_col = path, header, label_col
        self.feature_cols, self.na_values, self.missing = feature_cols, na_values, missing

    def block(self, block: list[str], first_line: int, delimiter: str, text: set[int], careful: bool = False):
        fast = None if (careful or text) else self._fast(block, delimiter)
        return fast if fast is not None else self._careful(block, first_line, delimiter, text)

    def _fast(self, block, delimiter):
        n_fields = len(self.header)
        if any('"' in line or line.count(delimiter) != n_fields - 1 for line in block):
            return None
        labels = [line.split(delimiter)[self.label_col].strip() for line in block]
        if any(not label or label in self.na_values for label in labels):
            return None
        try:
            values = np.loadtxt(
                io.StringIO("\n".join(block)),
                delimiter=delimiter,
                usecols=self.feature_cols,
                dtype=np.float64,
                ndmin=2,
                comments=None,
            )
        except ValueError:
            return None
        if len(values) != len(block) or not np.isfinite(values).all():
            return None
        return _Block([values[:, j] for j in range(values.shape[1])], labels)

    def _careful(self, block, first_line, delimiter, text):
        cells: list[list[str]] = [[] for _ in self.feature_cols]
        labels, line_numbers, dropped, dropped_label = [], [], 0, 0
        for line_no, row in enumerate(csv.reader(block, delimiter=delimiter), start=first_line):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank lines, e.g. a trailing newline
            if len(row) != len(self.header):
                raise DataError(
                    f"{self.path}:{line_no}: expected {len(self.header)} fields as in the header, got {len(row)}"
                )
            try:
                label_value = _label_cell(
                    self.path, line_no, self.label_col, self.header, row[self.label_col], self.na_values
                )
            except _MissingValue as gap:
                if self.missing == "error":
                    raise DataError(str(gap)) from None
                dropped_label += 1
                continue
            values = [row[c].strip() for c in self.feature_cols]
            if self.missing != "impute":
                gaps = [j for j, v in enumerate(values) if not v or v in self.na_values]
                if gaps:
                    if self.missing == "error":
                        c = self.feature_cols[gaps[0]]
                        raise DataError(_missing_message(self.path, line_no, c, self.header, row[c]))
                    dropped += 1
                    continue
            labels.append(label_value)
            line_numbers.append(line_no)
            for column, value in zip(cells, values, strict=True):
                column.append(value)
        columns = []
        for j, texts in enumerate(cells):
            try:
                numbers = None if j in text else parse_texts(texts, self.na_values)
            except InfiniteValue as exc:
                c = self.feature_cols[j]
                raise DataError(
                    f"{self.path}:{line_numbers[exc.row]}:{c + 1}: column {self.header[c]!r}: {exc}"
                ) from None
            columns.append(texts if numbers is None else numbers)
        return _Block(columns, labels, dropped, dropped_label)


def _missing_message(path, line_no: int, col: int, header: list[str], cell: str) -> str:
    what = "empty cell" if not cell.strip() else f"{cell!r} is a missing value"
    return (
        f"{path}:{line_no}:{col + 1}: column {header[col]!r}: {what}; with missing='error' every feature needs a "
        "value (impute it with missing='impute', or leave such rows out with missing='drop')"
    )


class _MissingValue(Exception):
    """A missing label or feature cell; becomes a DataError, or a dropped row with missing='drop'."""


def decode_text(path: Path, raw: bytes, encoding: str) -> str:
    """The file's text; a decoding error names the line and byte, and suggests an encoding."""
    try:
        return raw.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise DataError(
            f"{path}:{line}: not {encoding} text (byte 0x{byte}); give its encoding, e.g. encoding='latin-1' "
            "or encoding='cp1252'"
        ) from None


def _column(path: Path, header: list[str], name: str, option: str, delimiter: str) -> int:
    if name in header:
        return header.index(name)
    hint = ""
    glued = [d for d in (";", "\t", ",", "|") if d != delimiter and any(d in h for h in header)]
    if glued:
        shown = "\\t" if glued[0] == "\t" else glued[0]
        hint = f"; the columns look glued together: the separator may be {shown!r} (delimiter='{shown}')"
    return_name = option.removeprefix("--")
    raise DataError(f"{path}:1: no column named {name!r} for {return_name}; columns are: {', '.join(header)}{hint}")


def _check_header(path: Path, header: list[str]) -> None:
    seen: dict[str, int] = {}
    for col, name in enumerate(header, start=1):
        if not name:
            raise DataError(f"{path}:1:{col}: empty column name in the header")
        if name in seen:
            raise DataError(f"{path}:1:{col}: duplicate column name {name!r} (also column {seen[name]})")
        seen[name] = col


def _label_cell(path: Path, line_no: int, col: int, header: list[str], cell: str, na_values: set[str]) -> str:
    text = cell.strip()
    if not text or text in na_values:
        what = "empty label" if not text else f"label {cell!r} looks like a missing value"
        raise _MissingValue(
            f"{path}:{line_no}:{col + 1}: column {header[col]!r}: {what}, not a class; leave such rows out with "
            "missing='drop' (or change na_values if it is a real class)"
        )
    return text


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
            raise DataError(f"{path}: no feature named {unknown[0]!r} for drop; features are: {', '.join(names)}")
        features = [n for n in (features or names) if n not in drop]
    if features is not None:
        unknown = [f for f in features if f not in names]
        if unknown:
            raise DataError(f"{path}: no feature named {unknown[0]!r} for features; features are: {', '.join(names)}")
        cols = [names.index(f) for f in features]
        X, names = np.ascontiguousarray(X[:, cols]), list(features)
    y, class_names = encode_labels(y_raw, source=f"{path}: array 'y'")
    table = Table(list(names), ["numeric"] * len(names), X, np.empty((len(X), 0), dtype=object))
    return Dataset.from_table(table, y, class_names, source=str(path), sha256=file_sha256(path))


def review(dataset: Dataset) -> None:
    """Warn (:class:`DataWarning`) about what is probably a mistake: a class with very few rows, labels that differ
    only in case, a feature that looks like a row ID."""
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
        warnings.warn(
            f"feature {name!r} has a different value on every row and grows with the row number, like a row ID: the "
            f"model would learn the file's order, which will not hold for new rows. Leave it out with "
            f"drop='{name}' unless it is a real feature",
            DataWarning,
            stacklevel=3,
        )


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
