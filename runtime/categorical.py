"""A model's categorical columns at predict time: values never seen in training counted (or refused under
``unseen="error"``), and one dict row's lean path to ``session.run`` (onnxruntime's Python IOBinding cannot bind the
string input, so such a model has no IOBinding path)."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence

import numpy as np
import onnxruntime as ort

from . import contract
from .errors import UnseenLevelError


class TextColumns:
    """The categorical side of one model, safe to use from several threads at once.

    ``columns``: every column of the model (:class:`runtime.contract.ColumnSpec`, in the model's order);
    ``na_values``: the texts that mean missing; ``strict``: raise :class:`UnseenLevelError` for an unseen value
    instead of counting it."""

    def __init__(
        self,
        session: ort.InferenceSession,
        columns: Sequence[contract.ColumnSpec],
        na_values: frozenset[str],
        *,
        strict: bool,
        codes: bool = False,
    ) -> None:
        self._session = session
        self._output_names = list(contract.OUTPUT_NAMES)
        numeric = [c for c in columns if c.kind == "numeric"]
        self._numeric_names = tuple(c.name for c in numeric)
        self._imputed = tuple(c.imputed for c in numeric)
        self._categorical = tuple(c for c in columns if c.kind == "categorical")
        self._na_values = na_values
        self._known = tuple(frozenset((*c.levels, *c.other)) for c in self._categorical)
        # a portable graph takes int64 codes for the texts (contract.KEY_CATEGORY_CODES): mapped here, by one table
        self._tables = tuple(contract.code_table(c) for c in self._categorical) if codes else None
        self._strict = strict
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    @property
    def unseen_counts(self) -> dict[str, int]:
        """Column name to the number of unseen values scored so far."""
        with self._lock:
            return dict(self._counts)

    def check_unseen(self, categories: np.ndarray) -> None:
        """Count the values of ``categories`` (n_rows, n_categorical) never seen in training, or (``strict``) raise
        :class:`UnseenLevelError` for the first, with its row."""
        for j, (column, known) in enumerate(zip(self._categorical, self._known, strict=True)):
            values = categories[:, j].tolist()
            if set(values) <= known:  # the usual case, at C speed: every value a training level
                continue
            unseen = [v for v in values if v not in known]
            if self._strict:
                levels = ", ".join(repr(v) for v in column.levels[:20])
                raise UnseenLevelError(
                    f"column {column.name!r}: {unseen[0]!r} was not seen in training; known levels: {levels}"
                    f"{' ...' if len(column.levels) > 20 else ''} (load with unseen='predict' to score it anyway)",
                    values.index(unseen[0]),
                )
            with self._lock:
                self._counts[column.name] = self._counts.get(column.name, 0) + len(unseen)

    def graph_feed(self, categories: np.ndarray) -> np.ndarray:
        """What the graph's ``categories`` input takes for ``categories`` (object array of str, "" where missing):
        the texts, or a portable graph's int64 codes (:func:`codes_of`)."""
        if self._tables is None:
            return np.ascontiguousarray(categories, dtype=object)
        return codes_of(categories, self._tables)

    def dict_row(self, row: Mapping) -> tuple[np.ndarray, np.ndarray] | None:
        """Both outputs for one dict row, through a lean path (plain numbers, None, and text only: what JSON gives);
        None when the row needs the careful path, which converts every other form and names what is wrong."""
        try:
            numeric, categories, feed = self._local.row_buffers
        except AttributeError:
            numeric = np.empty((1, len(self._numeric_names)), dtype=np.float32)
            categories = np.empty((1, len(self._categorical)), dtype=object if self._tables is None else np.int64)
            feed = {contract.CATEGORIES_INPUT: categories}
            if self._numeric_names:
                feed[contract.INPUT_NAME] = numeric
            self._local.row_buffers = numeric, categories, feed
        try:
            values = [row[name] for name in self._numeric_names]
            texts = [row[column.name] for column in self._categorical]
        except KeyError:
            return None
        for j, value in enumerate(values):
            kind = type(value)
            if kind is float or kind is int:
                continue
            if value is None and self._imputed[j]:
                values[j] = math.nan
                continue
            return None
        for k, value in enumerate(texts):
            if type(value) is str:
                value = value.strip()
                texts[k] = "" if value in self._na_values else value
            elif value is None:
                texts[k] = ""
            else:
                return None
            if texts[k] not in self._known[k]:
                return None  # counted, or refused, by the careful path
        try:
            numeric[0] = values
        except OverflowError:
            return None
        if self._tables is None:
            categories[0] = texts
        else:
            categories[0] = [_code(text, table) for text, table in zip(texts, self._tables, strict=True)]
        labels, probabilities = self._session.run(self._output_names, feed)
        if probabilities.item(0) != probabilities.item(0):  # NaN: an infinite or unimputable value, named there
            return None
        return labels, probabilities


def graph_texts(metadata: Mapping[str, str], categories: np.ndarray) -> np.ndarray:
    """What a graph's ``categories`` input takes for ``categories`` (texts, "" where missing), from the file's
    metadata: the texts themselves, or a portable graph's codes. For code that feeds a session or onnx's reference
    evaluator itself (the exporter's proofs); a loaded Model does this in :meth:`TextColumns.graph_feed`."""
    if not contract.is_portable(metadata):
        return categories
    columns = [c for c in contract.columns_of(metadata) or [] if c.kind == "categorical"]
    if categories.ndim != 2 or categories.shape[1] != len(columns):
        raise ValueError(
            f"expected texts for {len(columns)} categorical column(s) (the metadata's), got an array of shape "
            f"{categories.shape}"
        )
    return codes_of(categories, [contract.code_table(c) for c in columns])


def codes_of(categories: np.ndarray, tables: Sequence[dict[str, int]]) -> np.ndarray:
    """A portable graph's int64 ``categories`` (n_rows, n_categorical) for texts ("" where missing), column ``j``
    coded by ``tables[j]`` (:func:`runtime.contract.code_table`), by the rule of
    :data:`runtime.contract.CATEGORY_CODES`."""
    codes = np.empty(categories.shape, dtype=np.int64)
    for j, table in enumerate(tables):
        codes[:, j] = [_code(text, table) for text in categories[:, j].tolist()]
    return codes


def _code(text: str, table: dict[str, int]) -> int:
    found = table.get(text)
    if found is not None:
        return found
    return contract.CODE_MISSING if text == "" else contract.CODE_UNSEEN
