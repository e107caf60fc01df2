"""Column kinds, missing values and categorical levels: from raw tabular columns to the model's design matrix.

Rules (the README and ``runtime/contract.py`` say the same):

- a column whose values are all numbers (or missing) is numeric; any other text makes it categorical, and so does
  ``categorical=[...]``, pandas' ``category`` and ``bool`` dtypes, and booleans anywhere (``True``/``False``);
- a categorical value is its text with surrounding whitespace trimmed; a missing one (an empty cell, one of the
  ``na_values``, None, NaN, pandas' NA) is the empty string, a level of its own;
- ``missing="impute"``: a numeric column gets its training median, plus a missing-indicator design column when it had
  missing values in training;
- one design column per level (one-hot) when the fit is penalized; with ``l2=0`` the first level of each column is
  the reference and gets none (treatment coding, as statsmodels' formula ``C(col)``), so the design is identifiable;
- levels seen in fewer than ``min_frequency`` training rows fold into one "other" level, which also takes levels
  never seen in training; without an "other" level an unseen value adds nothing from its column.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from logreg_onnx.runtime.contract import ColumnSpec

from ..errors import DataError
from .table import MISSING_LEVEL, NUMBER, Table, cell_text

MISSING_NAME = "(missing)"  # how a design column or a report names that level
OTHER_NAME = "(other)"


@dataclass(frozen=True)
class Column(ColumnSpec):
    """How one raw column becomes design columns: the contract's column (name, kind, median and indicator, levels
    with ``""`` the missing one, the rare ``other`` levels, the treatment ``reference``), and its design columns.
    Written into model.pt, metrics.json and the ONNX metadata by :meth:`to_json`."""

    @property
    def design_levels(self) -> list[str]:
        """Categorical: the levels that have a design column, in order (the reference left out)."""
        return [level for level in self.levels if level != self.reference]

    def design_codes(self) -> list[int]:
        """Categorical: the codes (:meth:`Encoding.codes`) that have a design column, in design order."""
        codes = [self.levels.index(level) for level in self.design_levels]
        return [*codes, len(self.levels)] if self.other else codes

    @property
    def width(self) -> int:
        if self.kind == "numeric":
            return 1 + self.indicator
        return len(self.design_levels) + bool(self.other)


@dataclass(frozen=True)
class Encoding:
    """Every column's rule, in the user's column order. The design matrix is the numeric columns (imputed), then
    the missing indicators, then each categorical column's level columns (and its "other" column)."""

    columns: tuple[Column, ...]
    notes: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def numeric_only(cls, names: Sequence[str]) -> Encoding:
        """The encoding of a model without imputation or categories (every model.pt of format 1)."""
        return cls(tuple(Column(name, "numeric") for name in names))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def numeric(self) -> list[Column]:
        return [c for c in self.columns if c.kind == "numeric"]

    @property
    def categorical(self) -> list[Column]:
        return [c for c in self.columns if c.kind == "categorical"]

    @property
    def imputes(self) -> bool:
        return any(c.median is not None for c in self.numeric)

    @property
    def is_identity(self) -> bool:
        """True when the design matrix is the numeric input itself (no imputation, no categories)."""
        return not self.categorical and not self.imputes

    def design_names(self) -> list[str]:
        names = [c.name for c in self.numeric]
        names += [f"{c.name}[missing]" for c in self.numeric if c.indicator]
        for c in self.categorical:
            prefix = "T." if c.reference is not None else ""
            names += [f"{c.name}[{prefix}{_level_name(level)}]" for level in c.design_levels]
            if c.other:
                names.append(f"{c.name}[{prefix}{OTHER_NAME}]")
        return names

    def width(self) -> int:
        return sum(c.width for c in self.columns)

    def codes(self, categories: np.ndarray) -> np.ndarray:
        """int64 codes of shape (n_rows, n_categorical): a level's index in ``levels``; ``len(levels)`` for the
        "other" level (a folded level, or an unseen one when the column has "other"); -1 for an unseen one."""
        out = np.empty(categories.shape, dtype=np.int64)
        for j, column in enumerate(self.categorical):
            index = {level: i for i, level in enumerate(column.levels)}
            unseen = len(column.levels) if column.other else -1
            out[:, j] = [index.get(value, unseen) for value in categories[:, j].tolist()]
        return out

    def design(self, table: Table) -> np.ndarray:
        """The float32 design matrix of ``table``; the numeric input itself when nothing needs encoding."""
        if self.is_identity:
            return table.numeric
        numeric = table.numeric
        indicators = [j for j, c in enumerate(self.numeric) if c.indicator]
        # the sum is NaN when a cell is (or when infinities cancel: the mask then decides), without a mask's memory
        if not self.categorical and not indicators and not np.isnan(numeric.sum()):
            return numeric  # imputation would change nothing: no copy
        missing = np.isnan(numeric)
        if not self.categorical and not indicators and not missing.any():
            return numeric
        parts = []
        medians = np.array([np.nan if c.median is None else c.median for c in self.numeric], dtype=np.float32)
        parts.append(np.where(missing, medians, numeric))
        if indicators:
            parts.append(missing[:, indicators].astype(np.float32))
        codes = self.codes(table.categories)
        for j, column in enumerate(self.categorical):
            wanted = np.array(column.design_codes(), dtype=np.int64)
            parts.append((codes[:, j : j + 1] == wanted).astype(np.float32))
        return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)

    def prepare(self, X: object, na_values: Iterable[str] = ()) -> Table:
        """New rows (a DataFrame with these columns, or a 2-D array in :attr:`names` order) as a Table typed by this
        encoding: numeric columns as float32 (NaN where missing), categorical ones as trimmed text ("" missing)."""
        na = set(na_values)
        pandas = sys.modules.get("pandas")
        if pandas is not None and isinstance(X, pandas.DataFrame):
            missing = [name for name in self.names if name not in X.columns]
            if missing:
                raise DataError(f"X has no column {missing[0]!r}; the model's features are {', '.join(self.names)}")
            cells = {name: X[name] for name in self.names}
        else:
            array = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
            if array.ndim == 1:
                array = array.reshape(1, -1)
            if array.ndim != 2 or array.shape[1] != len(self.columns):
                raise DataError(f"X must have {len(self.columns)} columns ({', '.join(self.names)}), got {array.shape}")
            cells = {name: array[:, j] for j, name in enumerate(self.names)}
        n_rows = len(next(iter(cells.values())))
        numeric = np.empty((n_rows, len(self.numeric)), dtype=np.float32)
        for j, column in enumerate(self.numeric):
            values = cells[column.name]
            try:
                if pandas is not None and isinstance(values, pandas.Series):
                    numeric[:, j] = values.to_numpy(dtype=np.float64, na_value=np.nan)
                else:
                    numeric[:, j] = [np.nan if v is None else float(v) for v in np.asarray(values).tolist()]
            except (TypeError, ValueError):
                raise DataError(f"column {column.name!r} must hold numbers (NaN or None where missing)") from None
        categories = np.empty((n_rows, len(self.categorical)), dtype=object)
        for j, column in enumerate(self.categorical):
            values = cells[column.name]
            values = values.tolist() if hasattr(values, "tolist") else list(values)
            categories[:, j] = [MISSING_LEVEL if t in na else t for t in map(cell_text, values)]
        columns = [*self.numeric, *self.categorical]
        return Table([c.name for c in columns], [c.kind for c in columns], numeric, categories)

    def to_json(self) -> list[dict]:
        return [c.to_json() for c in self.columns]

    @classmethod
    def from_json(cls, specs: Iterable[dict]) -> Encoding:
        return cls(tuple(Column.from_json(spec) for spec in specs))


def fit_encoding(
    table: Table, rows: np.ndarray | None = None, *, missing: str, min_frequency: int, treatment: bool, source: str
) -> Encoding:
    """Learn medians and levels from the training rows of ``table`` (``rows``, or all), a column at a time."""
    columns, numeric_j, categorical_j = [], 0, 0
    if missing == "impute":
        medians, present, n_rows = *column_medians(table.numeric, rows), len(table) if rows is None else len(rows)
    for name, kind in zip(table.names, table.kinds, strict=True):
        if kind == "numeric":
            j = numeric_j
            numeric_j += 1
            if missing != "impute":
                columns.append(Column(name, "numeric"))
                continue
            if not present[j]:
                raise DataError(f"{source}: column {name!r} has no values in the training rows; leave it out")
            # a complete column's median still goes into the model: it imputes a value missing in later use
            columns.append(Column(name, "numeric", median=float(medians[j]), indicator=bool(present[j] < n_rows)))
            continue
        values = table.categories[:, categorical_j] if rows is None else table.categories[rows, categorical_j]
        categorical_j += 1
        counts: dict[str, int] = {}
        for value in values.tolist():
            counts[value] = counts.get(value, 0) + 1
        columns.append(categorical_column(name, counts, min_frequency=min_frequency, treatment=treatment))
    return encoding_of(columns, treatment=treatment)


_SAMPLE_ROWS = 65536
_BLOCK_ROWS = 65536
_WORKERS = min(4, os.cpu_count() or 1)  # numpy's loops release the GIL: the medians' threads


def column_medians(numeric: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each column's median over its present values in ``numeric[rows]`` (np.median's value, in float64; NaN for a
    column without any) and its count of present values.

    Exact without sorting or partitioning whole columns: evenly spread sample rows bound each median to a window a few
    sampling deviations wide; one pass over the rows, a block at a time, counts each column's values below the
    window and keeps those inside it; the median is then the right order statistic of the few kept (a column for
    which the window missed falls back to partitioning it whole, so the value is exact whatever the data)."""
    n_rows = len(numeric) if rows is None else len(rows)
    width = numeric.shape[1]

    def block(start: int, stop: int) -> np.ndarray:
        return numeric[start:stop] if rows is None else numeric[rows[start:stop]]

    if n_rows <= 4 * _SAMPLE_ROWS or not width:
        return _exact_medians(block(0, n_rows))
    picked = np.linspace(0, n_rows - 1, _SAMPLE_ROWS).astype(np.int64)
    sample = numeric[picked if rows is None else rows[picked]]
    low, high = np.full(width, np.inf, dtype=np.float32), np.full(width, -np.inf, dtype=np.float32)
    for j in range(width):
        values = sample[:, j][~np.isnan(sample[:, j])]
        if len(values) < 2:
            continue  # an empty window: the pass keeps nothing, and the column is partitioned whole
        margin = int(4 * math.sqrt(len(values))) + 1  # 8 standard deviations of the sample median's rank
        ranks = [max(0, len(values) // 2 - margin), min(len(values) - 1, len(values) // 2 + margin)]
        low[j], high[j] = np.partition(values, ranks)[ranks]

    def count(start: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        values = block(start, start + _BLOCK_ROWS)
        below = values < low
        inside = values <= high
        inside &= ~below
        columns, row_of = np.nonzero(inside.T)  # column by column: each column's kept values in one run
        runs = np.split(values[row_of, columns], np.cumsum(np.bincount(columns, minlength=width))[:-1])
        # a block's sum is NaN when a cell is (or when infinities cancel): only then are its missing cells counted
        missing = np.count_nonzero(np.isnan(values), axis=0) if np.isnan(values.sum()) else 0
        return len(values) - missing, np.count_nonzero(below, axis=0), runs

    below, present = np.zeros(width, dtype=np.int64), np.zeros(width, dtype=np.int64)
    kept: list[list[np.ndarray]] = [[] for _ in range(width)]
    # numpy's loops release the GIL: blocks counted on every core (the order statistics do not depend on the order)
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        for block_present, block_below, runs in pool.map(count, range(0, n_rows, _BLOCK_ROWS)):
            present += block_present
            below += block_below
            for j, run in enumerate(runs):
                kept[j].append(run)
    medians = np.full(width, np.nan)
    for j in range(width):
        middle = [(present[j] - 1) // 2 - below[j], present[j] // 2 - below[j]]
        window = np.concatenate(kept[j]) if kept[j] else np.empty(0, dtype=numeric.dtype)
        if present[j] and middle[0] >= 0 and middle[1] < len(window):
            a, b = np.partition(window, middle)[middle]
            medians[j] = (float(a) + float(b)) / 2
        elif present[j]:
            medians[j] = _exact_medians(block(0, n_rows)[:, j : j + 1])[0][0]
    return medians, present


def _exact_medians(numeric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`column_medians` by partitioning each column's present values, the columns spread over the cores
    (np.partition releases the GIL)."""

    def median(j: int) -> tuple[float, int]:
        values = numeric[:, j]
        missing_cells = np.isnan(values)
        values = values[~missing_cells] if missing_cells.any() else values
        if not len(values):
            return np.nan, 0
        middle = [(len(values) - 1) // 2, len(values) // 2]
        a, b = np.partition(values, middle)[middle]
        return (float(a) + float(b)) / 2, len(values)  # np.median's value in float64, without a float64 copy

    width = numeric.shape[1]
    workers = min(_WORKERS, width) if len(numeric) * width >= 1 << 20 else 1  # threads cost ~0.1 ms each
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            found = list(pool.map(median, range(width)))
    else:
        found = [median(j) for j in range(width)]
    medians = np.array([m for m, _ in found], dtype=np.float64).reshape(width)
    return medians, np.array([n for _, n in found], dtype=np.int64).reshape(width)


def categorical_column(name: str, counts: dict[str, int], *, min_frequency: int, treatment: bool) -> Column:
    """A categorical column's rule from its level counts in the training rows (``""`` the missing level)."""
    rare = sorted(v for v, n in counts.items() if n < min_frequency and v != MISSING_LEVEL)
    kept = [v for v in counts if v not in rare]
    levels = sorted((v for v in kept if v != MISSING_LEVEL), key=level_sort_key(kept))
    if MISSING_LEVEL in counts:
        levels.append(MISSING_LEVEL)
    reference = levels[0] if treatment and levels else None
    return Column(name, "categorical", levels=tuple(levels), other=tuple(rare), reference=reference)


def encoding_of(columns: list[Column], *, treatment: bool) -> Encoding:
    """The encoding of ``columns``, with the note saying how its categorical columns are coded."""
    notes = []
    categorical = [c for c in columns if c.kind == "categorical"]
    if categorical:
        if treatment:
            refs = ", ".join(f"{c.name}={_level_name(c.reference)}" for c in categorical if c.reference is not None)
            notes.append(
                f"categorical columns in treatment coding (l2=0 needs an identifiable design); reference levels: {refs}"
            )
        else:
            notes.append(
                "categorical columns one-hot encoded with every level (the l2 penalty keeps the design identifiable)"
            )
    return Encoding(tuple(columns), tuple(notes))


def level_sort_key(values: Iterable[str]):
    """Numbers numerically ("2" before "10"), anything else as text: the order patsy and statsmodels use."""
    values = list(values)

    def number(text: str) -> float | None:
        return float(text) if NUMBER.fullmatch(text) else None

    if values and all(number(v) is not None for v in values if v != MISSING_LEVEL):
        return lambda v: (0, number(v), v) if v != MISSING_LEVEL else (1, 0.0, v)
    return lambda v: (0, 0.0, v)


def _level_name(level: str | None) -> str:
    return MISSING_NAME if level == MISSING_LEVEL else str(level)
