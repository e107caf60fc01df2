"""Training data read a chunk at a time, never whole: CSV files, ``.npy`` and ``.npz`` arrays, a folder or a glob of
them, each process of a distributed job reading only its shard.

Sharding: with at least as many files as processes, process ``r`` of ``n`` reads files ``r, r + n, ...``; with
fewer files, it reads chunks ``r, r + n, ...`` of every file. Every row has a global id (the file's position in the
sorted list and the row's line or index in it), the same however many processes read it, so the validation split
(a seeded hash of the id) and the result do not depend on the number of processes.
"""

from __future__ import annotations

import glob
import itertools
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.csvfile import (
    SAMPLE_LINES,
    RowParser,
    decimal_mark,
    parse_header,
    python_encoding,
    select_columns,
    unnamed_index,
)
from ..data.dataset import DataWarning
from ..errors import DataError, Setting
from ..options import ReadOptions

SUFFIXES = (".csv", ".tsv", ".txt", ".npy", ".npz")
ROW_BITS = 40  # a row id is (file index << ROW_BITS) | row: 1e12 rows a file


@dataclass
class Chunk:
    """Rows of one chunk: per feature column numbers (float64, or float32 as an array stores them; NaN where
    missing) or trimmed texts, labels (texts for a CSV, numbers for arrays), and the rows' global ids.

    Consumers ``del`` their chunk at the end of each loop body, so that it is freed before the next one is read:
    one chunk in memory, not two."""

    columns: list
    labels: list[str] | np.ndarray
    row_ids: np.ndarray
    dropped: int = 0
    dropped_label: int = 0


def resolve_files(data: str | Path) -> list[Path]:
    """The files DATA names: a file, a folder (its data files, sorted) or a glob pattern (sorted matches)."""
    text = str(data)
    path = Path(text)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
        where = f"{path}/ holds no data files"
    elif glob.has_magic(text):
        files = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        where = f"{text} matches no files"
    else:
        raise DataError(f"{path}: no such file, folder or glob pattern")
    if not files:
        raise DataError(f"{where}; expected {', '.join(SUFFIXES)} files")
    kinds = {_kind(p) for p in files}
    if len(kinds) > 1:
        raise DataError(f"{text}: mixes file types ({', '.join(sorted(kinds))}); give files of one type")
    return files


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        return suffix[1:]
    if suffix in (".csv", ".tsv", ".txt", ""):
        return "csv"
    raise DataError(f"{path}: unsupported file type {suffix!r}; expected .csv, .npy or .npz")


class Source:
    """Files of one kind with the same columns, read in chunks of ``chunk_rows``.

    Attributes: ``files``, ``kind`` ("csv", "npy" or "npz"), ``names`` (feature columns), ``label`` (its name).
    """

    def __init__(self, data: str | Path, read: ReadOptions, *, missing: str, na_values: set[str], chunk_rows: int):
        self.data, self.read, self.missing, self.na_values = str(data), read, missing, na_values
        self.chunk_rows = chunk_rows
        self.files = resolve_files(data)
        self.kind = _kind(self.files[0])
        if self.kind == "csv":
            self._init_csv()
        else:
            self._init_arrays()

    def _init_csv(self) -> None:
        read = self.read
        if read.label is None:
            raise DataError(f"{self.files[0]}: a CSV needs ", Setting("label"), ", the name of its label column")
        headers = [self._csv_header(path) for path in self.files]
        first_path, (header, delimiter) = self.files[0], headers[0]
        for path, (other, _) in zip(self.files[1:], headers[1:], strict=True):
            if other != header:
                raise DataError(f"{path}:1: header differs from {first_path}'s; every file needs the same columns")
        self.header, self.delimiter = header, delimiter
        self.decimal = decimal_mark(self._sample(first_path), delimiter, read.decimal)  # the first file's, for all
        self.label_col, self.feature_cols = select_columns(first_path, header, read, delimiter)
        doubt = unnamed_index(first_path, header, read)
        if doubt:
            warnings.warn(DataWarning(*doubt), stacklevel=3)
        self.names = [header[c] for c in self.feature_cols]
        self.label = read.label

    def _csv_header(self, path: Path) -> tuple[list[str], str]:
        first = next(iter(self._lines(path, 1)), "")
        if not first.strip():
            raise DataError(f"{path}: the file is empty; expected a header line naming the columns, then data rows")
        return parse_header(path, first, self.read.delimiter)

    def _sample(self, path: Path) -> list[str]:
        """The data lines after the header that decide ``decimal="auto"``, as in memory."""
        return self._lines(path, 1 + SAMPLE_LINES)[1:]

    def _lines(self, path: Path, count: int) -> list[str]:
        """The first ``count`` lines of a CSV (fewer if it is shorter); a decoding error names the encoding to give."""
        try:
            with self._open_text(path) as handle:
                return [line.rstrip("\r\n") for line in itertools.islice(handle, count)]
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path}: not {self.read.encoding} text ({exc.reason}, near its start); give its encoding, e.g. ",
                Setting("encoding", "latin-1"),
            ) from None

    def _open_text(self, path: Path):
        return open(path, encoding=python_encoding(self.read.encoding), newline="")

    def _init_arrays(self) -> None:
        shapes = [self._array_header(path)[1] for path in self.files]
        widths = {shape[1] for shape in shapes}
        if len(widths) > 1:
            raise DataError(f"{self.data}: the arrays have different widths ({sorted(widths)}); they must match")
        width = widths.pop()
        if self.kind == "npy":
            label = self.read.label
            try:
                self.label_col = width - 1 if label is None else int(label) % width
            except ValueError:
                raise DataError(
                    f"{self.files[0]}: ",
                    Setting("label"),
                    f" for an .npy is a column number (default: the last), got {label!r}",
                ) from None
            self.feature_cols = [j for j in range(width) if j != self.label_col]
            self.label = f"column {self.label_col}"
        else:
            self.feature_cols, self.label = list(range(width)), "y"
        names = [f"x{j}" for j in self.feature_cols]
        if self.kind == "npz":  # named columns, as the in-memory reader names them
            with zipfile.ZipFile(self.files[0]) as archive:
                if "feature_names.npy" in archive.namelist():
                    with archive.open("feature_names.npy") as handle:
                        names = [str(n) for n in np.load(handle, allow_pickle=False)]
            if len(names) != width or len(set(names)) != len(names):
                raise DataError(f"{self.files[0]}: 'feature_names' must give {width} distinct names, got {len(names)}")
        if self.read.features is not None or self.read.drop:
            raise DataError(
                f"{self.files[0]}: ", Setting("features"), " and ", Setting("drop"), " apply to a CSV's named columns"
            )
        self.names = names

    def _array_header(self, path: Path):
        """(dtype, shape, data offset) of an .npy file, or of the ``X`` member of an .npz (no offset)."""
        try:
            if self.kind == "npy":
                with open(path, "rb") as handle:
                    dtype, shape = _npy_header(handle, path)
                    return dtype, shape, handle.tell()
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                if not {"X.npy", "y.npy"} <= names:
                    raise DataError(f"{path}: an .npz needs arrays X (rows x features) and y (labels)")
                with archive.open("X.npy") as handle:
                    dtype, shape = _npy_header(handle, path)
                with archive.open("y.npy") as handle:
                    _, y_shape = _npy_header(handle, path, ndim=1, kinds="biufU")
                if y_shape[0] != shape[0]:
                    raise DataError(f"{path}: array 'y' has {y_shape[0]} labels but X has {shape[0]} rows")
                return dtype, shape, None
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            raise DataError(f"{path}: not a readable .{self.kind} file ({exc})") from None

    def chunks(self, rank: int = 0, world: int = 1, text: frozenset[int] = frozenset()) -> Iterator[Chunk]:
        """This process's chunks, in order. ``text``: feature positions to read as text (categorical)."""
        by_file = len(self.files) >= world
        for index, path in enumerate(self.files):
            if by_file and index % world != rank:
                continue
            mine = (lambda i: True) if by_file else (lambda i: i % world == rank)
            if self.kind == "csv":
                yield from self._csv_chunks(index, path, mine, text)
            else:
                yield from self._array_chunks(index, path, mine)

    def _csv_chunks(self, index: int, path: Path, mine, text: frozenset[int]) -> Iterator[Chunk]:
        parse = RowParser(
            path, self.header, self.label_col, self.feature_cols, self.na_values, self.missing, self.decimal
        )
        with self._open_text(path) as handle:
            try:
                handle.readline()
                number = 0
                while True:
                    block = [line.rstrip("\r\n") for line in itertools.islice(handle, self.chunk_rows)]
                    if not block:
                        return
                    first_line = 2 + number * self.chunk_rows
                    if mine(number):
                        parsed = parse.block(block, first_line, self.delimiter, set(text))
                        ids = _row_ids(index, first_line, len(block), parsed, block)
                        yield Chunk(parsed.columns, parsed.labels, ids, parsed.dropped, parsed.dropped_label)
                    number += 1
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}: not {self.read.encoding} text ({exc.reason} near line {2 + number * self.chunk_rows}); "
                    "give its encoding, e.g. ",
                    Setting("encoding", "latin-1"),
                ) from None

    def _array_chunks(self, index: int, path: Path, mine) -> Iterator[Chunk]:
        dtype, shape, offset = self._array_header(path)
        n_rows, width = shape
        if self.kind == "npy":
            with open(path, "rb") as handle:
                for number, start in enumerate(range(0, n_rows, self.chunk_rows)):
                    if not mine(number):
                        continue
                    stop = min(start + self.chunk_rows, n_rows)
                    handle.seek(offset + start * width * dtype.itemsize)
                    block = _read_rows(handle, dtype, stop - start, width, path)
                    labels = block[:, self.label_col]
                    features = block[:, self.feature_cols]
                    yield self._array_chunk(index, start, features, labels, path)
            return
        with zipfile.ZipFile(path) as archive, archive.open("X.npy") as xs, archive.open("y.npy") as ys:
            x_dtype, _ = _npy_header(xs, path)
            y_dtype, _ = _npy_header(ys, path, ndim=1, kinds="biufU")
            for number, start in enumerate(range(0, n_rows, self.chunk_rows)):
                rows = min(self.chunk_rows, n_rows - start)
                features = _read_rows(xs, x_dtype, rows, width, path)  # sequential: read even the chunks not ours
                labels = _read_rows(ys, y_dtype, rows, None, path)
                if mine(number):
                    yield self._array_chunk(index, start, features, labels, path)

    def _array_chunk(self, index: int, start: int, features: np.ndarray, labels: np.ndarray, path: Path) -> Chunk:
        features = features if features.dtype == np.float32 else np.asarray(features, dtype=np.float64)
        infinite = np.isinf(features)
        if infinite.any():
            row, col = np.argwhere(infinite)[0]
            raise DataError(
                f"{path}: row {start + row}, column {self.names[col]!r} is {features[row, col]}; features must be "
                "finite (NaN means missing)"
            )
        ids = (np.uint64(index) << np.uint64(ROW_BITS)) | np.arange(start, start + len(features), dtype=np.uint64)
        if labels.dtype.kind == "f" and not np.isfinite(labels).all():
            row = int(np.flatnonzero(~np.isfinite(labels))[0])
            if self.missing == "error" or not np.isnan(labels[row]):
                raise DataError(f"{path}: row {start + row}: the label is {labels[row]}; labels must be finite")
            keep = ~np.isnan(labels)
            chunk = self._array_chunk(index, start, features[keep], labels[keep], path)
            chunk.row_ids, chunk.dropped_label = ids[keep], int((~keep).sum())
            return chunk
        columns = [features[:, j] for j in range(features.shape[1])]
        if self.missing != "impute":
            gaps = np.isnan(features).any(axis=1)
            if gaps.any():
                if self.missing == "error":
                    row = int(np.flatnonzero(gaps)[0])
                    raise DataError(
                        f"{path}: row {start + row} has a missing value (NaN); impute it with ",
                        Setting("missing", "impute"),
                        ", or leave such rows out with ",
                        Setting("missing", "drop"),
                    )
                keep = ~gaps
                return Chunk([c[keep] for c in columns], labels[keep], ids[keep], dropped=int(gaps.sum()))
        return Chunk(columns, labels, ids)


def _row_ids(index: int, first_line: int, n_lines: int, parsed, block: list[str]) -> np.ndarray:
    """Global ids of a CSV block's kept rows: the file index and the line number. The fast parser keeps every line;
    the careful one may skip blank lines and drop rows, so those ids come from its line numbers."""
    base = np.uint64(index) << np.uint64(ROW_BITS)
    if len(parsed.labels) == n_lines:
        return base | np.arange(first_line, first_line + n_lines, dtype=np.uint64)
    return base | np.asarray(parsed.line_numbers, dtype=np.uint64)


def _npy_header(handle, path: Path, ndim: int = 2, kinds: str = "biuf"):
    """(dtype, shape) of the array whose .npy header starts at ``handle``'s position; labels may also be texts."""
    version = np.lib.format.read_magic(handle)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = reader(handle)
    if dtype.hasobject or dtype.kind not in kinds:
        raise DataError(f"{path}: holds {dtype} values; training data must be numbers")
    if len(shape) != ndim:
        raise DataError(f"{path}: expected a {ndim}-D array, got shape {shape}")
    if fortran and ndim == 2:
        raise DataError(f"{path}: a Fortran-ordered array cannot be read by rows; save it with np.ascontiguousarray")
    return dtype, shape


def _read_rows(handle, dtype: np.dtype, rows: int, width: int | None, path: Path) -> np.ndarray:
    count = rows * (width or 1)
    raw = handle.read(count * dtype.itemsize)
    if len(raw) != count * dtype.itemsize:
        raise DataError(f"{path}: ends early (truncated?): expected {count} more values")
    values = np.frombuffer(raw, dtype=dtype)
    return values.reshape(rows, width) if width else values
