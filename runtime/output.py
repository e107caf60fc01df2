"""The writers of ``logreg predict``: CSV (csv module, or pyarrow's writer) and JSON lines, with the --keep columns,
``label``, one ``p_<class>`` probability column per class, and the ``--explain`` columns (reasons: text, "" or null
where there is none; numbers: float32, "" or null where there is none); both CSV writers produce the same bytes."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence

import numpy as np


def output_columns(keep: Sequence[str], classes: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    return [*keep, "label", *(f"p_{name}" for name in classes), *extra]


def _extra_texts(column: np.ndarray) -> list[str]:
    """An --explain column as CSV cells: text as it is, numbers by numpy's shortest repr, "" for NaN."""
    if column.dtype == object:
        return column.tolist()
    return [t if t != "nan" else "" for t in column.astype(str).tolist()]


def _extra_json(column: np.ndarray) -> list[str]:
    if column.dtype == object:
        return [json.dumps(v) if v else "null" for v in column.tolist()]
    return _json_numbers(column)


class CsvOutput:
    """CSV with a header: the --keep columns, ``label`` (a class name), one ``p_<class>`` column per class."""

    def __init__(
        self, stream: io.TextIOBase, keep: Sequence[str], classes: Sequence[str], extra: Sequence[str] = ()
    ) -> None:
        self.stream = stream
        self.columns = output_columns(keep, classes, extra)
        self.class_array = np.array(classes, dtype=object)
        csv.writer(stream, lineterminator="\n").writerow(self.columns)

    def write(
        self, kept: list[list[object]], labels: np.ndarray, probabilities: np.ndarray, extra: Sequence = ()
    ) -> None:
        labels = self.class_array[labels].tolist()
        # float32 to text by numpy's shortest round-trip repr: every digit printed is meaningful, none missing
        texts = [_extra_texts(column) for column in extra]
        columns = [
            *([str(v) for v in column] for column in kept),
            labels,
            *(probabilities[:, k].astype(str) for k in range(probabilities.shape[1])),
            *texts,
        ]
        quoted = [*columns[: len(kept) + 1], *(t for t, c in zip(texts, extra, strict=True) if c.dtype == object)]
        if any(_needs_quoting(column) for column in quoted):
            csv.writer(self.stream, lineterminator="\n").writerows(zip(*columns, strict=True))
        else:
            self.stream.write("\n".join(map(",".join, zip(*columns, strict=True))) + "\n")


def _needs_quoting(values: Sequence[str]) -> bool:
    return any(("," in v or '"' in v or "\n" in v or "\r" in v) for v in set(values))


class JsonlOutput:
    """One JSON object per row: the --keep keys, ``label``, and one ``p_<class>`` key per class."""

    def __init__(
        self, stream: io.TextIOBase, keep: Sequence[str], classes: Sequence[str], extra: Sequence[str] = ()
    ) -> None:
        self.stream = stream
        self.keys = [json.dumps(name) for name in output_columns(keep, classes, extra)]
        self.quoted_classes = np.array([json.dumps(name) for name in classes], dtype=object)

    def write(
        self, kept: list[list[object]], labels: np.ndarray, probabilities: np.ndarray, extra: Sequence = ()
    ) -> None:
        text_columns = [
            *([json.dumps(v) for v in column] for column in kept),
            self.quoted_classes[labels].tolist(),
            *(_json_numbers(probabilities[:, k]) for k in range(probabilities.shape[1])),
            *(_extra_json(column) for column in extra),
        ]
        lines = (
            "{" + ", ".join(f"{key}: {value}" for key, value in zip(self.keys, row, strict=True)) + "}"
            for row in zip(*text_columns, strict=True)
        )
        self.stream.write("\n".join(lines) + "\n")


def _json_numbers(values: np.ndarray) -> list[str]:
    texts = values.astype(str).tolist()
    return [t if math.isfinite(float(t)) else "null" for t in texts]


class ArrowCsvOutput:
    """The same bytes as :class:`CsvOutput`, with each chunk written by pyarrow's C++ writer, never leaving Arrow.

    Probabilities are turned into text by numpy, as :class:`CsvOutput` does (pyarrow's own float formatting differs:
    ``9.909546e-05`` against ``0.00009909546``), and a chunk with a value that needs quotes goes through Python's csv
    module, whose quoting (only where needed) pyarrow's writer does not reproduce.
    """

    def __init__(self, binary_stream, keep: Sequence[str], classes: Sequence[str], extra: Sequence[str] = ()) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv

        self.pa, self.pc, self.pacsv, self.stream = pa, pc, pacsv, binary_stream
        names = output_columns(keep, classes, extra)
        header = io.StringIO()
        csv.writer(header, lineterminator="\n").writerow(names)
        binary_stream.write(header.getvalue().encode("utf-8"))
        self.class_names = pa.array(list(classes), pa.string())
        self.classes_need_quotes = _needs_quoting(list(classes))
        self.schema = pa.schema([pa.field(n, pa.string()) for n in names])

    def write(self, kept: list, labels: np.ndarray, probabilities: np.ndarray, extra: Sequence = ()) -> None:
        pa, pc = self.pa, self.pc
        arrays = [
            column if isinstance(column, (pa.Array, pa.ChunkedArray)) else pa.array([str(v) for v in column])
            for column in kept
        ]
        arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
        needs = self.classes_need_quotes or any(pc.any(pc.match_substring_regex(a, '[,"\r\n]')).as_py() for a in arrays)
        arrays.append(self.class_names.take(pa.array(labels)))
        arrays += [pa.array(probabilities[:, k].astype(str)) for k in range(probabilities.shape[1])]
        texts = [pa.array(_extra_texts(column), pa.string()) for column in extra]
        needs = needs or any(
            pc.any(pc.match_substring_regex(a, '[,"\r\n]')).as_py()
            for a, c in zip(texts, extra, strict=True)
            if c.dtype == object
        )
        arrays += texts
        if needs:
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerows(zip(*(a.to_pylist() for a in arrays), strict=True))
            self.stream.write(text.getvalue().encode("utf-8"))
            return
        self.pacsv.write_csv(
            pa.RecordBatch.from_arrays(arrays, schema=self.schema),
            self.stream,
            write_options=self.pacsv.WriteOptions(include_header=False, quoting_style="none"),
        )
