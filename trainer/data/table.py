"""Raw tabular columns before any encoding (:class:`Table`), and how cells of a CSV, a DataFrame or an array become
one: a column of numbers (or missing values) is numeric, anything else is text."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from logreg_onnx.runtime.contract import MISSING_LEVEL

from ..errors import DataError

# A number in a cell: decimal notation with an optional exponent. Python's float() also takes "1_000", "nan", "inf"
# and other scripts' digits, which would make such a column numeric in one reader and text in another.
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# The same with a decimal comma, as Excel and pandas' to_csv(decimal=",") write numbers in much of Europe.
COMMA_NUMBER = re.compile(r"[+-]?(\d+,?\d*|,\d+)([eE][+-]?\d+)?")
NUMBER_SYNTAX = {".": NUMBER, ",": COMMA_NUMBER}
_INFINITY = re.compile(r"[+-]?inf(inity)?", re.IGNORECASE)


@dataclass
class Table:
    """Raw feature columns after reading, before any encoding.

    Attributes
    ----------
    names : list of str, every feature column in the user's order
    kinds : list of str, "numeric" or "categorical", one per name
    numeric : ndarray of shape (n_rows, n_numeric), float32, NaN for a missing value
    categories : ndarray of shape (n_rows, n_categorical), object (str), "" for a missing value
    """

    names: list[str]
    kinds: list[str]
    numeric: np.ndarray
    categories: np.ndarray

    @property
    def numeric_names(self) -> list[str]:
        return [n for n, k in zip(self.names, self.kinds, strict=True) if k == "numeric"]

    @property
    def categorical_names(self) -> list[str]:
        return [n for n, k in zip(self.names, self.kinds, strict=True) if k == "categorical"]

    def __len__(self) -> int:
        return len(self.numeric)

    def take(self, rows: np.ndarray) -> Table:
        return Table(self.names, self.kinds, self.numeric[rows], self.categories[rows])


class InfiniteValue(ValueError):
    """A cell reads as infinity: not a value a feature can have, nor a category."""

    def __init__(self, row: int, text: str) -> None:
        super().__init__(f"{text!r} is not a finite number")
        self.row = row


def parse_texts(texts: Sequence[str], na_values: set[str], decimal: str = ".") -> np.ndarray | None:
    """The column as float64 (NaN where missing) when every present cell is a number written with ``decimal`` as
    its decimal mark, else None. Cells are already trimmed; an empty one or one of ``na_values`` is missing. Raises
    :class:`InfiniteValue` for "inf" and its kin in a column that is otherwise numeric (an overflow upstream, not a
    category)."""
    out = np.empty(len(texts), dtype=np.float64)
    infinite = None
    syntax = NUMBER_SYNTAX[decimal]
    for i, text in enumerate(texts):
        if not text or text in na_values:
            out[i] = np.nan
        elif syntax.fullmatch(text):
            out[i] = float(text if decimal == "." else text.replace(",", "."))
        elif _INFINITY.fullmatch(text):
            infinite = i if infinite is None else infinite
        else:
            return None
    if infinite is not None:
        raise InfiniteValue(infinite, texts[infinite])
    return out


def notation_share(counts: dict[str, int], decimal: str) -> tuple[float, str | None]:
    """Of a text column's present cells (``counts``: each distinct trimmed text and its rows, "" for missing), the
    share that are numbers written with ``decimal`` as their decimal mark and use it, and the first such cell."""
    syntax = NUMBER_SYNTAX[decimal]
    present = sum(n for text, n in counts.items() if text)
    matching = [(text, n) for text, n in counts.items() if text and decimal in text and syntax.fullmatch(text)]
    if not present or not matching:
        return 0.0, None
    return sum(n for _, n in matching) / present, matching[0][0]


def text_column(texts: Sequence[str], na_values: set[str]) -> np.ndarray:
    """Trimmed texts as an object array, "" for a missing value."""
    return np.array([MISSING_LEVEL if (not t or t in na_values) else t for t in texts], dtype=object)


def cell_text(value: object) -> str:
    """A categorical value from Python or pandas, as the text a CSV written by pandas would hold ("" if missing)."""
    if value is None:
        return MISSING_LEVEL
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return MISSING_LEVEL
    pandas = sys.modules.get("pandas")
    if pandas is not None and (value is pandas.NA or value is pandas.NaT):
        return MISSING_LEVEL
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        value = value.item()
    return str(value).strip()


_NULLABLE_NUMBERS = {f"{p}{n}" for p in ("Int", "UInt") for n in (8, 16, 32, 64)} | {"Float32", "Float64"}


def table_from_frame(frame, categorical: Sequence[str], na_values: set[str]) -> Table:
    """A pandas DataFrame's columns, typed as the same data read from a CSV would be."""
    columns = []
    for name in frame.columns:
        series = frame[name]
        dtype = series.dtype
        kind = str(dtype)
        forced = str(name) in categorical or kind in ("category", "bool", "boolean")
        if not forced and (dtype.kind in "iuf" or kind in _NULLABLE_NUMBERS):
            columns.append((str(name), series.to_numpy(dtype=np.float64, na_value=np.nan)))
            continue
        values = series.tolist()
        texts = [cell_text(v) for v in values]
        columns.append((str(name), texts if forced else _typed(texts, na_values, values)))
    return build_table(columns, categorical, na_values)


def _typed(texts: list[str], na_values: set[str], values: list) -> np.ndarray | list[str]:
    if any(isinstance(v, (bool, np.bool_)) for v in values):
        return texts
    try:
        numbers = parse_texts(texts, na_values)
    except InfiniteValue as exc:
        raise DataError(f"X: row {exc.row}: {exc}; features must be finite numbers (NaN is a missing value)") from None
    return texts if numbers is None else numbers


def table_from_array(X: np.ndarray, names: Sequence[str], categorical: Sequence[str], na_values: set[str]) -> Table:
    """A 2-D numpy array (numbers, or objects such as strings) as a Table."""
    columns = []
    for j, name in enumerate(names):
        values = X[:, j]
        if values.dtype.kind in "iufb" and name not in categorical:
            columns.append((name, values.astype(np.float64)))
        else:
            items = values.tolist()
            columns.append(
                (
                    name,
                    [cell_text(v) for v in items]
                    if name in categorical
                    else _typed([cell_text(v) for v in items], na_values, items),
                )
            )
    return build_table(columns, categorical, na_values)


def build_table(columns: list[tuple[str, np.ndarray | list[str]]], categorical: Sequence[str], na_values) -> Table:
    """Columns given as float64 arrays (numeric) or lists of trimmed texts (categorical) into a Table."""
    names, kinds, numeric, texts = [], [], [], []
    n_rows = len(columns[0][1]) if columns else 0
    for name, values in columns:
        names.append(name)
        if isinstance(values, np.ndarray) and values.dtype.kind == "f" and name not in categorical:
            kinds.append("numeric")
            numeric.append(values)
        else:
            kinds.append("categorical")
            texts.append(text_column(values, na_values))
    numeric_block = (
        np.ascontiguousarray(np.stack(numeric, axis=1), dtype=np.float32)
        if numeric
        else np.zeros((n_rows, 0), dtype=np.float32)
    )
    categories = np.stack(texts, axis=1) if texts else np.empty((n_rows, 0), dtype=object)
    return Table(names, kinds, numeric_block, categories)
