"""Streaming CSV input for ``logreg predict``, a chunk of rows at a time, constant memory (JSON lines:
runtime/jsonlines.py; the writers: runtime/output.py).

Two CSV engines. The base one needs nothing beyond numpy: each chunk of lines goes through numpy's C ``loadtxt``, and
only a chunk that fails is parsed again line by line to name the bad line and column. The fast one uses pyarrow's
multithreaded CSV reader and writer when pyarrow is installed (``pip install '.[fast]' in the repository's folder``).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

CHUNK_ROWS = 16384  # rows per chunk: large enough to amortize the per-call costs, small enough to keep memory flat


class BadRow(ValueError):
    """A row that cannot be scored, with its 1-based line number in the input."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        super().__init__(f"{source}:{line}: {problem}")
        self.line = line
        self.problem = problem


@dataclass
class Chunk:
    """Rows ready to score: features (float32, n x n_numeric, NaN where missing), the kept columns (one list per
    column), the input line of each row, and the categorical columns (object array of str, "" where missing)."""

    features: np.ndarray
    kept: list[list[object]]
    lines: np.ndarray
    categories: np.ndarray | None = None


@dataclass(frozen=True)
class Columns:
    """What to read: the numeric columns (the ``features`` input), the categorical ones (``categories``), whether
    a missing numeric value is allowed (the model imputes; it becomes NaN), and the texts that mean missing."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...] = ()
    missing_ok: bool = False
    na_values: frozenset[str] = frozenset()

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)

    def category(self, cell: str) -> str:
        text = cell.strip()
        return "" if text in self.na_values else text

    def categories(self, rows: list[list[str]]) -> np.ndarray:
        out = np.empty((len(rows), len(self.categorical)), dtype=object)
        for i, row in enumerate(rows):
            out[i] = [self.category(cell) for cell in row]
        return out


def columns_for(names: Sequence[str] | Columns) -> Columns:
    return names if isinstance(names, Columns) else Columns(tuple(names))


@dataclass
class Skipped:
    """Rows left out under ``--on-error skip``."""

    rows: list[BadRow] = field(default_factory=list)

    def add(self, bad: BadRow) -> None:
        self.rows.append(bad)


def has_pyarrow() -> bool:
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


def prefetch(chunks: Iterator[Chunk], depth: int = 2) -> Iterator[Chunk]:
    """Read ahead in a background thread: the next chunk is parsed while this one is scored and written.

    pyarrow's parser and onnxruntime release the GIL, so the two really run at once on two cores. An exception in
    the reader comes out here, in order, after the chunks before it.
    """
    import queue
    import threading

    slots: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def read() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        slots.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(done)
        except BaseException as exc:  # handed to the consumer, which raises it
            slots.put(exc)

    reader = threading.Thread(target=read, name="logreg-predict-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join(timeout=5)


# -- CSV -------------------------------------------------------------------------------------------------------
SAMPLE_LINES = 1000  # data lines that decimal="auto" looks at


def decimal_mark(sample: Sequence[str], delimiter: str, choice: str = "auto") -> str:
    """The decimal mark of a CSV's numbers: ``choice`` unless it is "auto"; then "," when the delimiter is not a
    comma, some column of the ``sample`` lines holds numbers with decimal commas ("29,5") and none holds numbers
    with decimal points, else ".". (The trainer reads files with the same rule, so a file it trained on is read
    here as it was there.)"""
    if choice != "auto":
        return choice
    if delimiter == ",":
        return "."
    columns: dict[int, list[str]] = {}
    for row in csv.reader(sample, delimiter=delimiter):
        for j, cell in enumerate(row):
            columns.setdefault(j, []).append(cell.strip())
    found = set()
    for cells in columns.values():
        numbers = [c for c in cells if any(ch.isdigit() for ch in c)]  # others are missing values or text
        for mark, syntax in _PLAIN_NUMBER.items():
            if numbers and any(mark in c for c in numbers) and all(syntax.fullmatch(c) for c in numbers):
                found.add(mark)
    return "," if found == {","} else "."


def numpy_decimals(text: str, delimiter: str, decimal: str) -> str | None:
    """CSV ``text`` as numpy's parser reads it, with decimal points: under decimal commas the marks swapped, or None
    when they cannot be (a comma separates fields, or a cell has a point): the careful path reads such a block."""
    if decimal != ",":
        return text
    if delimiter == "," or "." in text:
        return None
    return text.replace(",", ".")


def read_csv_header(lines: Iterator[str], source: str, delimiter: str = ",") -> list[str]:
    for line in lines:
        if line.strip():
            return [name.strip() for name in next(csv.reader([line], delimiter=delimiter))]
    raise BadRow(source, 1, "empty input; expected a CSV header line naming the columns")


def sniff_delimiter(header_line: str, choice: str = "auto") -> str:
    """``choice`` unless it is "auto": then ';' or tab when the header has it and no comma (nor the other), else ','.
    (The trainer reads files with the same rule.)"""
    if choice != "auto":
        return "\t" if choice in ("\\t", "tab") else choice
    if "," not in header_line:
        found = [d for d in (";", "\t") if d in header_line]
        if len(found) == 1:
            return found[0]
    return ","


def column_indices(
    header: Sequence[str], wanted: Sequence[str], source: str, what: str, delimiter: str = ","
) -> list[int]:
    duplicates = sorted({name for name in header if header.count(name) > 1} & set(wanted))
    if duplicates:
        raise BadRow(source, 1, f"column {duplicates[0]!r} appears more than once in the header")
    missing = [name for name in wanted if name not in header]
    if missing:
        raise BadRow(
            source,
            1,
            f"no {what} column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing[:5])}{' ...' if len(missing) > 5 else ''}; "
            f"the header has {', '.join(header[:12])}{' ...' if len(header) > 12 else ''}"
            f"{_glued_hint(header, delimiter)}",
        )
    return [header.index(name) for name in wanted]


def _glued_hint(header: Sequence[str], delimiter: str) -> str:
    glued = [d for d in (";", "\t", ",", "|") if d != delimiter and any(d in name for name in header)]
    if not glued:
        return ""
    shown = "\\t" if glued[0] == "\t" else glued[0]
    return f"; the columns look glued together: is the separator {shown!r}? (--delimiter '{shown}')"


def open_csv(
    lines: Iterator[str],
    source: str,
    feature_names: Sequence[str] | Columns,
    keep: Sequence[str],
    skipped: Skipped | None,
    delimiter: str = ",",
    decimal: str = "auto",
) -> Iterator[Chunk]:
    """Read and check the header now (so that a wrong one fails before any output), then return the chunks of the
    CSV lines that follow; the header names the features in any order, extra columns are ignored. ``decimal``: the
    numbers' decimal mark, "." or ",", or "auto" to decide from the first lines (:func:`decimal_mark`)."""
    columns = columns_for(feature_names)
    lines = iter(lines)
    header = read_csv_header(lines, source, delimiter)
    if decimal == "auto":
        sample = list(itertools.islice(lines, SAMPLE_LINES))
        decimal = decimal_mark(sample, delimiter)
        lines = itertools.chain(sample, lines)
    column_indices(header, columns.names, source, "feature", delimiter)
    feature_cols = column_indices(header, columns.numeric, source, "feature", delimiter)
    category_cols = column_indices(header, columns.categorical, source, "feature", delimiter)
    keep_cols = column_indices(header, keep, source, "--keep", delimiter)
    reader = _CsvReader(source, header, feature_cols, category_cols, keep_cols, skipped, delimiter, columns, decimal)
    return reader.chunks(lines)


class _CsvReader:
    """The base engine: numpy's C parser a chunk at a time, and the careful line-by-line path for chunks it cannot
    take (empty cells, quotes, bad lines)."""

    def __init__(
        self, source, header, feature_cols, category_cols, keep_cols, skipped, delimiter, columns, decimal="."
    ) -> None:
        self.source, self.header, self.feature_cols, self.category_cols = source, header, feature_cols, category_cols
        self.keep_cols, self.skipped, self.delimiter, self.columns = keep_cols, skipped, delimiter, columns
        self.decimal = decimal  # of the numbers, "." or ","

    def chunks(self, lines) -> Iterator[Chunk]:
        n_fields, delimiter = len(self.header), self.delimiter
        line_no = 1
        while True:
            block = list(itertools.islice(lines, CHUNK_ROWS))
            if not block:
                return
            numbers = np.arange(line_no + 1, line_no + 1 + len(block))
            line_no += len(block)
            present = [i for i, text in enumerate(block) if text.strip()]
            if len(present) != len(block):
                block, numbers = [block[i] for i in present], numbers[present]
            if not block:
                continue
            chunk = _fast_csv_chunk(
                block, numbers, self.feature_cols, self.keep_cols, n_fields, delimiter, self.decimal
            )
            if chunk is not None and self.category_cols:
                split = [line.rstrip("\r\n").split(delimiter) for line in block]
                chunk.categories = self.columns.categories([[row[c] for c in self.category_cols] for row in split])
            if chunk is None:
                chunk = _careful_csv_chunk(block, numbers, self)
            yield chunk


def _fast_csv_chunk(block, numbers, feature_cols, keep_cols, n_fields, delimiter, decimal=".") -> Chunk | None:
    """numpy's C parser on the whole block; None if anything is unusual (quotes, wrong field counts, bad cells)."""
    text = "".join(block)
    if '"' in text or any(line.count(delimiter) != n_fields - 1 for line in block):
        return None
    text = numpy_decimals(text, delimiter, decimal)
    if text is None:
        return None
    try:
        features = np.loadtxt(
            io.StringIO(text),
            delimiter=delimiter,
            usecols=feature_cols,
            dtype=np.float32,
            ndmin=2,
            comments=None,
            encoding=None,
        )
    except ValueError:
        return None
    if len(features) != len(block):
        return None
    kept: list[list[object]] = []
    if keep_cols:
        last = max(keep_cols)
        split = [line.rstrip("\r\n").split(delimiter, last + 1) for line in block]  # only as far as the kept columns
        kept = [[row[c] for row in split] for c in keep_cols]
    return Chunk(features, kept, numbers)


def _careful_csv_chunk(block, numbers, reader: _CsvReader) -> Chunk:
    source, header, keep_cols, skipped = reader.source, reader.header, reader.keep_cols, reader.skipped
    n_fields = len(header)
    missing = reader.columns.na_values if reader.columns.missing_ok else None
    features, categories, kept_rows, lines = [], [], [], []
    for line_no, fields in zip(numbers.tolist(), csv.reader(block, delimiter=reader.delimiter), strict=True):
        try:
            if len(fields) != n_fields:
                raise BadRow(source, line_no, f"expected {n_fields} fields as in the header, got {len(fields)}")
            features.append(
                [_number(fields[c], header[c], source, line_no, missing, reader.decimal) for c in reader.feature_cols]
            )
        except BadRow as bad:
            if skipped is None:
                raise
            skipped.add(bad)
            continue
        categories.append([fields[c] for c in reader.category_cols])
        kept_rows.append([fields[c] for c in keep_cols])
        lines.append(line_no)
    array = np.array(features, dtype=np.float32).reshape(len(features), len(reader.feature_cols))
    return Chunk(
        array,
        [list(column) for column in zip(*kept_rows, strict=True)] if keep_cols else [],
        np.array(lines, dtype=np.int64),
        reader.columns.categories(categories) if reader.category_cols else None,
    )


# What a number looks like in a CSV cell, for both engines: decimal notation with an optional exponent, surrounding
# spaces ignored (Python's float() would also take "1_000" and other scripts' digits, which pyarrow rejects); with
# a decimal comma instead of the point when the file writes numbers so (Excel, pandas' to_csv(decimal=",")).
_SPECIAL = r"|\s*[+-]?(nan|inf|infinity)\s*"
_NUMBER = {
    ".": re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*" + _SPECIAL, re.IGNORECASE),
    ",": re.compile(r"\s*[+-]?(\d+,?\d*|,\d+)([eE][+-]?\d+)?\s*" + _SPECIAL, re.IGNORECASE),
}
# A trimmed cell holding a number written with that mark (no nan or inf: they say nothing of the mark).
_PLAIN_NUMBER = {
    ".": re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"),
    ",": re.compile(r"[+-]?(\d+,?\d*|,\d+)([eE][+-]?\d+)?"),
}


def _number(
    cell: str, column: str, source: str, line_no: int, missing: frozenset[str] | None = None, decimal: str = "."
) -> float:
    """A numeric cell's value; with ``missing`` (the model imputes), an empty cell or one of those texts is NaN."""
    text = cell.strip()
    if missing is not None and (not text or text in missing):
        return math.nan
    if not text:
        raise BadRow(source, line_no, f"column {column!r}: empty cell")
    if not _NUMBER[decimal].fullmatch(cell):
        raise BadRow(source, line_no, f"column {column!r}: {cell!r} is not a number{_notation_hint(text, decimal)}")
    return float(text if decimal == "." else text.replace(",", "."))


def _notation_hint(text: str, decimal: str) -> str:
    """For a cell that is a number in the other decimal notation: the flag that reads it."""
    other = "," if decimal == "." else "."
    if other not in text or not _PLAIN_NUMBER[other].fullmatch(text):
        return ""
    marks = {".": "points", ",": "commas"}
    return f" with decimal {marks[decimal]}; if the file writes decimal {marks[other]}, say --decimal '{other}'"


def open_arrow_csv(
    path: str,
    feature_names: Sequence[str] | Columns,
    keep: Sequence[str],
    *,
    delimiter: str,
    encoding: str,
    decimal: str = "auto",
) -> Iterator[Chunk]:
    """pyarrow's streaming reader (multithreaded parsing), after the header is read and checked, and the decimal mark
    decided, like the base engine's. Lines of only spaces are skipped, as the base engine does; anything else it
    cannot convert raises pyarrow.ArrowInvalid, and the caller re-reads the file with the base engine to name the
    line."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, encoding=python_encoding(encoding), newline="") as handle:
        header_lines = 0
        for line in handle:
            header_lines += 1
            if line.strip():
                header = [name.strip() for name in next(csv.reader([line], delimiter=delimiter))]
                break
        else:
            raise BadRow(path, 1, "empty input; expected a CSV header line naming the columns")
        if decimal == "auto":
            decimal = decimal_mark(list(itertools.islice(handle, SAMPLE_LINES)), delimiter)
    columns = columns_for(feature_names)
    column_indices(header, columns.names, path, "feature", delimiter)
    column_indices(header, keep, path, "--keep", delimiter)
    types = {name: pa.string() for name in (*keep, *columns.categorical)} | {
        name: pa.float32() for name in columns.numeric
    }
    # a missing numeric value: null (NaN for a model that imputes; the base engine names it for one that does not)
    null_values = ["", *sorted(columns.na_values)] if columns.missing_ok else [""]
    reader = pacsv.open_csv(
        pa.OSFile(path),  # a plain file stream: a path would be memory-mapped, and the mapped pages count as RSS
        read_options=pacsv.ReadOptions(
            block_size=1 << 22, column_names=header, skip_rows=header_lines, encoding=encoding
        ),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=_skip_blank_rows),
        convert_options=pacsv.ConvertOptions(
            include_columns=list(dict.fromkeys([*columns.names, *keep])),
            column_types=types,
            strings_can_be_null=False,
            null_values=null_values,
            decimal_point=decimal,
        ),
    )
    return _arrow_chunks(reader, columns, keep, header_lines)


def _skip_blank_rows(row) -> str:
    return "skip" if not row.text.strip() else "error"


def _arrow_chunks(reader, columns: Columns, keep, header_lines) -> Iterator[Chunk]:
    line_no = header_lines
    for batch in reader:
        numeric = [batch.column(batch.schema.get_field_index(name)) for name in columns.numeric]
        if not columns.missing_ok and any(column.null_count for column in numeric):
            raise ValueError("empty cell in a feature column")  # the caller re-reads with the base engine
        features = np.empty((batch.num_rows, len(numeric)), dtype=np.float32)
        for j, column in enumerate(numeric):
            features[:, j] = column.to_numpy(zero_copy_only=False)  # null -> NaN
        categories = None
        if columns.categorical:
            texts = [batch.column(batch.schema.get_field_index(name)).to_pylist() for name in columns.categorical]
            categories = columns.categories([list(row) for row in zip(*texts, strict=True)])
        kept = [batch.column(batch.schema.get_field_index(name)) for name in keep]  # stay Arrow arrays
        yield Chunk(features, kept, np.arange(line_no + 1, line_no + 1 + batch.num_rows), categories)
        line_no += batch.num_rows


def python_encoding(encoding: str) -> str:
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
