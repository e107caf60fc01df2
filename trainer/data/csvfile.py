"""Reading a training CSV: a header, then blocks of 65,536 lines parsed by numpy's C parser when they hold plain
numbers, and cell by cell when they hold text, empty cells or a problem (named by file, line and column)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# one rule for the delimiter and the decimal mark, in training and at predict time
from logreg_onnx.runtime.stream import SAMPLE_LINES, decimal_mark, numpy_decimals, sniff_delimiter

from ..errors import DataError, Setting
from ..options import ReadOptions
from .table import InfiniteValue, Table, notation_share, parse_texts, text_column


@dataclass
class CsvData:
    """A CSV's feature columns, its label texts (rows with a missing label left out, unless missing="error"), notes
    on dropped rows, and the SHA-256 of its bytes."""

    table: Table
    labels: list[str]
    notes: list[str]
    sha256: str
    doubts: list[tuple] = field(default_factory=list)  # messages (parts) of what is probably a mistake, to warn of


def read_csv(path: Path, read: ReadOptions, missing: str, na_values: set[str], categorical: tuple[str, ...]) -> CsvData:
    """Read ``path`` as ``read`` says, typing each feature column (numbers, or text), dropping or refusing rows by the
    ``missing`` policy; :class:`DataError` names the file, line and column of any problem."""
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: the file is empty; expected a header line naming the columns, then data rows")
    lines = decode_text(path, raw, read.encoding).splitlines()
    header, delimiter = parse_header(path, lines[0], read.delimiter)
    decimal = decimal_mark(lines[1 : 1 + SAMPLE_LINES], delimiter, read.decimal)
    label_col, feature_cols = select_columns(path, header, read, delimiter)
    names = [header[c] for c in feature_cols]
    for name in categorical:
        if name not in names:
            _column(path, header, name, "categorical", delimiter)
            raise DataError(f"{path}:1: ", Setting("categorical"), f" names {name!r}, which is not a feature column")

    parse = RowParser(path, header, label_col, feature_cols, na_values, missing, decimal)
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
    if decimal != "." and table.numeric_names:
        notes.append("numbers read with decimal commas")
    doubts = [d for d in (unnamed_index(path, header, read),) if d]
    doubts += notation_doubts(path, table, decimal, forced={names[j] for j in forced})
    return CsvData(table, labels, notes, hashlib.sha256(raw).hexdigest(), doubts)


def unnamed_index(path: Path, header: list[str], read: ReadOptions) -> tuple | None:
    """The warning to give when the first column has no name (pandas' ``to_csv`` writes its index so, R's
    ``write.csv`` its row names) and the features are every column: it is left out, as an index."""
    if header[0] or read.features is not None:
        return None
    return (
        f"{path}:1:1: the first column has no name in the header, as pandas' to_csv writes its index: read as row "
        "labels, not a feature. Name it in the header to use it as a feature, or write the file with "
        "to_csv(index=False)",
    )


def notation_doubts(path: Path, table: Table, decimal: str, forced: set[str]) -> list[tuple]:
    """Warnings for text columns whose cells are nearly all numbers in the other decimal notation (29,5 under
    decimal='.', 29.5 under decimal=','): numbers read as categories by mistake."""
    other = "," if decimal == "." else "."
    doubts = []
    for j, name in enumerate(table.categorical_names):
        if name in forced:
            continue
        counts = Counter(table.categories[:, j].tolist())
        share, example = notation_share(counts, other)
        if share >= NEARLY_ALL:
            mark = "commas" if other == "," else "points"
            doubts.append(
                (
                    f"{path}: column {name!r} is read as text ({len(counts):,} levels), yet {share:.0%} of its cells "
                    f"are numbers written with decimal {mark}, such as {example!r}: if they are numbers, read the "
                    "file with ",
                    Setting("decimal", other),
                )
            )
    return doubts


NEARLY_ALL = 0.9  # the share of a text column's cells in the other notation that makes a warning


def parse_header(path: Path, line: str, delimiter_option: str) -> tuple[list[str], str]:
    """A CSV's header line: its column names (trimmed, checked: none twice, none empty but the first, which pandas
    leaves empty for its index) and its delimiter."""
    delimiter = sniff_delimiter(line, delimiter_option)
    header = [name.strip() for name in next(csv.reader([line], delimiter=delimiter))]
    _check_header(path, header)
    return header, delimiter


def select_columns(path: Path, header: list[str], read: ReadOptions, delimiter: str) -> tuple[int, list[int]]:
    """The label's column and the feature columns, in order, as ``read`` names them (``--label``, ``--features``,
    ``--drop``); :class:`DataError` names any column that is not there, or used twice."""
    label, label_col = read.label, _column(path, header, read.label, "label", delimiter)
    for name in read.drop:
        _column(path, header, name, "drop", delimiter)
    if read.features is None:  # every named column (an unnamed first one is an index: see unnamed_index)
        feature_cols = [i for i, name in enumerate(header) if name and i != label_col and name not in read.drop]
    else:
        feature_cols = [_column(path, header, name, "features", delimiter) for name in read.features]
        if label in read.features:
            raise DataError(f"{path}:1: column {label!r} cannot be both the label and a feature")
        if len(set(read.features)) != len(read.features):
            raise DataError(f"{path}: ", Setting("features"), f" names a column twice: {', '.join(read.features)}")
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


class RowParser:
    """Parse CSV lines a block at a time: numpy's C parser on blocks of plain numbers (the usual case, and the only
    fast one for a million rows), and the careful cell-by-cell path, which names the line and column of any problem,
    keeps text, and drops rows by the missing-value policy, on blocks that need it."""

    def __init__(self, path, header, label_col, feature_cols, na_values, missing, decimal: str = ".") -> None:
        self.path, self.header, self.label_col = path, header, label_col
        self.feature_cols, self.na_values, self.missing = feature_cols, na_values, missing
        self.decimal = decimal  # of the numbers, as decimal_mark resolved it

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
        text = numpy_decimals("\n".join(block), delimiter, self.decimal)
        if text is None:
            return None
        try:
            values = np.loadtxt(
                io.StringIO(text),
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
                    raise DataError(*gap.args) from None
                dropped_label += 1
                continue
            values = [row[c].strip() for c in self.feature_cols]
            if self.missing != "impute":
                gaps = [j for j, v in enumerate(values) if not v or v in self.na_values]
                if gaps:
                    if self.missing == "error":
                        c = self.feature_cols[gaps[0]]
                        raise DataError(*_missing_message(self.path, line_no, c, self.header, row[c]))
                    dropped += 1
                    continue
            labels.append(label_value)
            line_numbers.append(line_no)
            for column, value in zip(cells, values, strict=True):
                column.append(value)
        columns = []
        for j, texts in enumerate(cells):
            try:
                numbers = None if j in text else parse_texts(texts, self.na_values, self.decimal)
            except InfiniteValue as exc:
                c = self.feature_cols[j]
                raise DataError(
                    f"{self.path}:{line_numbers[exc.row]}:{c + 1}: column {self.header[c]!r}: {exc}"
                ) from None
            columns.append(texts if numbers is None else numbers)
        return _Block(columns, labels, dropped, dropped_label, line_numbers)


def _missing_message(path, line_no: int, col: int, header: list[str], cell: str) -> tuple:
    what = "empty cell" if not cell.strip() else f"{cell!r} is a missing value"
    return (
        f"{path}:{line_no}:{col + 1}: column {header[col]!r}: {what}; with ",
        Setting("missing", "error"),
        " every feature needs a value (impute it with ",
        Setting("missing", "impute"),
        ", or leave such rows out with ",
        Setting("missing", "drop"),
        ")",
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
            f"{path}:{line}: not {encoding} text (byte 0x{byte}); give its encoding, e.g. ",
            Setting("encoding", "latin-1"),
            " or ",
            Setting("encoding", "cp1252"),
        ) from None


def _column(path: Path, header: list[str], name: str, option: str, delimiter: str) -> int:
    if name in header:
        return header.index(name)
    hint: tuple = ()
    glued = [d for d in (";", "\t", ",", "|") if d != delimiter and any(d in h for h in header)]
    if glued:
        shown = "\\t" if glued[0] == "\t" else glued[0]
        hint = (
            f"; the columns look glued together: the separator may be {shown!r} (",
            Setting("delimiter", shown),
            ")",
        )
    raise DataError(
        f"{path}:1: no column named {name!r} for ", Setting(option), f"; columns are: {', '.join(header)}", *hint
    )


def _check_header(path: Path, header: list[str]) -> None:
    seen: dict[str, int] = {}
    for col, name in enumerate(header, start=1):
        if not name and col > 1:  # the first may be unnamed: an index (see unnamed_index)
            raise DataError(f"{path}:1:{col}: empty column name in the header; name every column but an index")
        if name in seen:
            raise DataError(f"{path}:1:{col}: duplicate column name {name!r} (also column {seen[name]})")
        seen[name] = col


def _label_cell(path: Path, line_no: int, col: int, header: list[str], cell: str, na_values: set[str]) -> str:
    text = cell.strip()
    if not text or text in na_values:
        what = "empty label" if not text else f"label {cell!r} looks like a missing value"
        raise _MissingValue(
            f"{path}:{line_no}:{col + 1}: column {header[col]!r}: {what}, not a class; leave such rows out with ",
            Setting("missing", "drop"),
            " (or change ",
            Setting("na_values"),
            " if it is a real class)",
        )
    return text
