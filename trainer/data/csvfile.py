"""Reading a training CSV: a header, then blocks of 65,536 lines parsed by numpy's C parser when they hold plain
numbers, and cell by cell when they hold text, empty cells or a problem (named by file, line and column)."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from logreg_onnx.runtime.stream import sniff_delimiter

from ..errors import DataError
from ..options import ReadOptions
from .table import InfiniteValue, Table, parse_texts, text_column


@dataclass
class CsvData:
    """A CSV's feature columns, its label texts (rows with a missing label left out, unless missing="error"), notes
    on dropped rows, and the SHA-256 of its bytes."""

    table: Table
    labels: list[str]
    notes: list[str]
    sha256: str


def read_csv(path: Path, read: ReadOptions, missing: str, na_values: set[str], categorical: tuple[str, ...]) -> CsvData:
    """Read ``path`` as ``read`` says, typing each feature column (numbers, or text), dropping or refusing rows by the
    ``missing`` policy; :class:`DataError` names the file, line and column of any problem."""
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: the file is empty; expected a header line naming the columns, then data rows")
    lines = decode_text(path, raw, read.encoding).splitlines()
    header, delimiter = parse_header(path, lines[0], read.delimiter)
    label_col, feature_cols = select_columns(path, header, read, delimiter)
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
    notes = []
    if dropped_label:
        notes.append(f"dropped {dropped_label} row{'s' if dropped_label != 1 else ''} with a missing label")
    if dropped:
        notes.append(f"dropped {dropped} row{'s' if dropped != 1 else ''} with a missing value")
    return CsvData(table, labels, notes, hashlib.sha256(raw).hexdigest())


def parse_header(path: Path, line: str, delimiter_option: str) -> tuple[list[str], str]:
    """A CSV's header line: its column names (trimmed, checked: none empty, none twice) and its delimiter."""
    delimiter = sniff_delimiter(line, delimiter_option)
    header = [name.strip() for name in next(csv.reader([line], delimiter=delimiter))]
    _check_header(path, header)
    return header, delimiter


def select_columns(path: Path, header: list[str], read: ReadOptions, delimiter: str) -> tuple[int, list[int]]:
    """The label's column and the feature columns, in order, as ``read`` names them (``--label``, ``--features``,
    ``--drop``); :class:`DataError` names any column that is not there, or used twice."""
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
    return label_col, feature_cols


def python_encoding(encoding: str) -> str:
    """The codec to read a text file with: UTF-8 drops a byte-order mark if there is one."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


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
    line_numbers: list[int] | None = None  # of the kept rows (the careful path; the fast one keeps every line)


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
        return _Block(columns, labels, dropped, dropped_label, line_numbers)


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
        return raw.decode(python_encoding(encoding))
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
