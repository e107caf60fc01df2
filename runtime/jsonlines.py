"""JSON lines input for ``logreg predict``: one object per line, keyed by column name, a chunk of rows at a time."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Sequence

import numpy as np

from .stream import CHUNK_ROWS, BadRow, Chunk, Columns, Skipped, columns_for


def jsonl_chunks(
    text_lines: Iterator[str],
    source: str,
    feature_names: Sequence[str] | Columns,
    keep: Sequence[str],
    skipped: Skipped | None,
) -> Iterator[Chunk]:
    """Chunks of JSON lines, one object per line with the features (and --keep keys) as keys, other keys ignored. A
    numeric feature is a number, not a boolean (or null, a missing value, for a model that imputes); a categorical
    one a string, a number, a boolean (its text, ``True``/``False``) or null (docs/inputs.md)."""
    columns = columns_for(feature_names)
    line_no = 0
    text_lines = iter(text_lines)
    while True:
        block = list(itertools.islice(text_lines, CHUNK_ROWS))
        if not block:
            return
        features, categories, kept_rows, lines = [], [], [], []
        for text in block:
            line_no += 1
            if not text.strip():
                continue
            try:
                numbers, texts, record = _json_row(text, columns, keep, source, line_no)
            except BadRow as bad:
                if skipped is None:
                    raise
                skipped.add(bad)
                continue
            features.append(numbers)
            categories.append(texts)
            kept_rows.append([record[k] for k in keep])
            lines.append(line_no)
        if lines:
            yield Chunk(
                np.array(features, dtype=np.float32).reshape(len(lines), len(columns.numeric)),
                [list(c) for c in zip(*kept_rows, strict=True)] if keep else [],
                np.array(lines, dtype=np.int64),
                np.array(categories, dtype=object).reshape(len(lines), -1) if columns.categorical else None,
            )


def _json_row(text: str, columns: Columns, keep, source: str, line_no: int):
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise BadRow(source, line_no, f"not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise BadRow(source, line_no, f"expected a JSON object of feature name to value, got {type(record).__name__}")
    missing = [name for name in (*columns.names, *keep) if name not in record]
    if missing:
        raise BadRow(source, line_no, f"missing key {missing[0]!r}")
    values = []
    for name in columns.numeric:
        value = record[name]
        if value is None and columns.missing_ok:
            values.append(math.nan)
            continue
        if isinstance(value, bool):  # the input rules (docs/inputs.md): a boolean is not a number
            raise BadRow(source, line_no, f"key {name!r}: {json.dumps(value)} is a boolean, not a number (send 1 or 0)")
        if not isinstance(value, (int, float)):
            raise BadRow(source, line_no, f"key {name!r}: {json.dumps(value)[:60]} is not a number")
        values.append(float(value))
    texts = []
    for name in columns.categorical:
        value = record[name]
        if value is None:
            texts.append("")
        elif isinstance(value, bool):
            texts.append("True" if value else "False")
        elif isinstance(value, (str, int, float)):
            texts.append(columns.category(str(value)))
        else:
            raise BadRow(source, line_no, f"key {name!r}: {json.dumps(value)[:60]} is not a text, number or null")
    return values, texts, record
