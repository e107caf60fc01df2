"""The first passes of a streamed fit: what the model needs to know about the data before it can encode a row.

Pass 1 counts rows and classes, types each column (numbers, or text: categorical), counts the levels of categorical
columns and the missing cells, and histograms the numeric values of the training rows by the top 16 bits of their
float32 bit pattern. Pass 2 (only with ``missing="impute"``) histograms the low 16 bits of the values in the bucket
that holds each column's middle rows: together they give the **exact** median (the mean of the two middle values
for an even count, as ``np.median``), with 65,536 counts a numeric column in memory, whatever the number of rows.
Every tally is a sum, so ranks merge theirs (:meth:`trainer.distributed.Comm.gather` and ``all_sum``).

Medians and levels come from the training rows only, as in memory; the class list from every row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.columns import Column, Encoding, categorical_column, encoding_of
from ..data.dataset import class_sort_key, label_text, one_class_message
from ..data.table import text_column
from ..errors import DataError
from .distributed import Comm
from .sources import Source

BUCKETS = 1 << 16


def validation_rows(row_ids: np.ndarray, seed: int, fraction: float) -> np.ndarray:
    """Whether each row (by its global id) is held out for validation: a seeded 64-bit hash (splitmix64) of the id,
    below ``fraction``. The same rows whatever the chunking or the number of processes."""
    if fraction == 0:
        return np.zeros(len(row_ids), dtype=bool)
    with np.errstate(over="ignore"):
        z = row_ids.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % (1 << 64))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53)) < fraction


def sort_keys(values: np.ndarray) -> np.ndarray:
    """uint32 keys that sort as the float32 ``values`` do (sign flipped for positives, all bits for negatives)."""
    bits = values.astype(np.float32).view(np.uint32)
    return np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000))


def from_keys(keys: np.ndarray) -> np.ndarray:
    keys = np.asarray(keys, dtype=np.uint32)
    bits = np.where(keys & np.uint32(0x80000000), keys & np.uint32(0x7FFFFFFF), ~keys)
    return bits.view(np.float32)


@dataclass
class Tally:
    """One rank's pass-1 counts."""

    rows: int = 0
    val_rows: int = 0
    dropped: int = 0
    dropped_label: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    train_labels: dict[str, int] = field(default_factory=dict)  # the training rows' classes
    missing: dict[int, int] = field(default_factory=dict)  # every row
    train_missing: dict[int, int] = field(default_factory=dict)
    train_present: dict[int, int] = field(default_factory=dict)
    levels: dict[int, dict[str, int]] = field(default_factory=dict)
    text: set[int] = field(default_factory=set)
    numeric_seen: set[int] = field(default_factory=set)  # read as numbers in some chunk

    def merge(self, other: Tally) -> None:
        self.rows += other.rows
        self.val_rows += other.val_rows
        self.dropped += other.dropped
        self.dropped_label += other.dropped_label
        for mine, theirs in (
            (self.labels, other.labels),
            (self.train_labels, other.train_labels),
            (self.missing, other.missing),
            (self.train_missing, other.train_missing),
            (self.train_present, other.train_present),
        ):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count
        for j, counts in other.levels.items():
            mine = self.levels.setdefault(j, {})
            for level, count in counts.items():
                mine[level] = mine.get(level, 0) + count
        self.text |= other.text
        self.numeric_seen |= other.numeric_seen


@dataclass
class Scan:
    """What the passes found, merged over every rank: the encoding, the classes and the counts."""

    encoding: Encoding
    class_names: list[str]
    tally: Tally
    text: frozenset[int]

    @property
    def class_counts(self) -> dict[str, int]:
        return {name: self.tally.labels.get(name, 0) for name in self.class_names}

    @property
    def split_rows(self) -> dict[str, int]:
        """Rows of each split over every rank: the split is a hash of the row id, so the scan knows them already."""
        return {"train": self.tally.rows - self.tally.val_rows, "validation": self.tally.val_rows}


def label_texts(labels) -> list[str] | np.ndarray:
    """A chunk's labels as class-name texts (numbers as ``label_text`` writes them: 1.0 -> "1")."""
    if isinstance(labels, np.ndarray):
        values, inverse = np.unique(labels, return_inverse=True)
        return np.array([label_text(v) for v in values.tolist()], dtype=object)[inverse]
    return labels


def scan(source: Source, comm: Comm, *, forced_text: frozenset[int], seed: int, val_fraction: float, opts) -> Scan:
    """Passes 1 and 2 over this rank's shard, merged over all ranks, and the encoding they give."""
    text = forced_text
    for _ in range(2):  # a second time only when a column turned out to hold text after chunks read it as numbers
        tally, top = comm.agree(_pass_one, source, comm, text, seed, val_fraction)
        merged = Tally()
        for other in comm.gather(tally):
            merged.merge(other)
        if not (merged.text & merged.numeric_seen) or merged.text <= text:
            break
        text = frozenset(merged.text | text)
    text = frozenset(merged.text | text)
    if merged.rows == 0:
        raise DataError(
            f"{source.data}: no data rows"
            + (" left after dropping rows with missing values" if (merged.dropped or merged.dropped_label) else "")
        )
    names = sorted(merged.labels, key=class_sort_key(set(merged.labels)))
    if len(names) < 2:
        raise DataError(one_class_message(source.data, names))
    numeric = [j for j in range(len(source.names)) if j not in text]
    medians: dict[int, float] = {}
    if opts.missing == "impute" and numeric:
        for j in numeric:
            if merged.train_present.get(j, 0) == 0:
                raise DataError(
                    f"{source.data}: column {source.names[j]!r} has no values in the training rows; leave it out"
                )
        histogram = comm.all_sum(torch.from_numpy(top))
        medians = comm.agree(_exact_medians, source, comm, text, numeric, histogram.numpy(), merged, seed, val_fraction)
    columns: list[Column] = []
    treatment = opts.l2 == 0
    for j, name in enumerate(source.names):
        if j in text:
            columns.append(
                categorical_column(
                    name, merged.levels.get(j, {}), min_frequency=opts.min_frequency, treatment=treatment
                )
            )
        elif opts.missing == "impute":
            columns.append(Column(name, "numeric", median=medians[j], indicator=merged.train_missing.get(j, 0) > 0))
        else:
            columns.append(Column(name, "numeric"))
    return Scan(encoding_of(columns, treatment=treatment), names, merged, text)


def _pass_one(source: Source, comm: Comm, text: frozenset[int], seed: int, val_fraction: float):
    tally = Tally(text=set(text))
    top = np.zeros((len(source.names), BUCKETS), dtype=np.int64)  # a column's row stays unused if it holds text
    for chunk in source.chunks(comm.rank, comm.world, text):
        tally.rows += len(chunk.row_ids)
        tally.dropped += chunk.dropped
        tally.dropped_label += chunk.dropped_label
        val = validation_rows(chunk.row_ids, seed, val_fraction)
        train = ~val
        tally.val_rows += int(val.sum())
        texts = np.asarray(label_texts(chunk.labels), dtype=object).astype(str)
        for counted, rows in ((tally.labels, slice(None)), (tally.train_labels, train)):
            names, counts = np.unique(texts[rows], return_counts=True)
            for name, count in zip(names.tolist(), counts.tolist(), strict=True):
                counted[name] = counted.get(name, 0) + count
        for j, column in enumerate(chunk.columns):
            if isinstance(column, np.ndarray):
                tally.numeric_seen.add(j)
                gaps = np.isnan(column)
                tally.missing[j] = tally.missing.get(j, 0) + int(gaps.sum())
                tally.train_missing[j] = tally.train_missing.get(j, 0) + int((gaps & train).sum())
                present = column[train & ~gaps]
                tally.train_present[j] = tally.train_present.get(j, 0) + len(present)
                top[j] += np.bincount(sort_keys(present) >> np.uint32(16), minlength=BUCKETS)
                continue
            tally.text.add(j)
            texts = text_column(column, source.na_values)
            tally.missing[j] = tally.missing.get(j, 0) + int((texts == "").sum())
            levels, counts = np.unique(texts[train].astype(str), return_counts=True)
            mine = tally.levels.setdefault(j, {})
            for level, count in zip(levels.tolist(), counts.tolist(), strict=True):
                mine[level] = mine.get(level, 0) + count
        del chunk, column
    return tally, top


def _middle(counts: np.ndarray, rank: int) -> tuple[int, int]:
    """The bucket holding the ``rank``-th value (0-based) and the value's rank inside it."""
    cumulative = np.cumsum(counts)
    bucket = int(np.searchsorted(cumulative, rank, side="right"))
    return bucket, rank - (int(cumulative[bucket - 1]) if bucket else 0)


def _exact_medians(source, comm, text, numeric, top, merged: Tally, seed, val_fraction) -> dict[int, float]:
    targets = {}
    for j in numeric:
        n = merged.train_present[j]
        targets[j] = [_middle(top[j], (n - 1) // 2), _middle(top[j], n // 2)]
    low = np.zeros((len(source.names), 2, BUCKETS), dtype=np.int64)  # int64: a bucket may hold 2**31 equal values
    for chunk in source.chunks(comm.rank, comm.world, text):
        train = ~validation_rows(chunk.row_ids, seed, val_fraction)
        for j in numeric:
            column = chunk.columns[j]
            keys = sort_keys(column[train & ~np.isnan(column)])
            high = keys >> np.uint32(16)
            for t, (bucket, _) in enumerate(targets[j]):
                low[j, t] += np.bincount(keys[high == bucket] & np.uint32(0xFFFF), minlength=BUCKETS)
        del chunk, column
    low = comm.all_sum(torch.from_numpy(low)).numpy()
    medians = {}
    for j in numeric:
        values = []
        for t, (bucket, inside) in enumerate(targets[j]):
            low_bits, _ = _middle(low[j, t], inside)
            values.append(float(from_keys(np.array([(bucket << 16) | low_bits]))[0]))
        medians[j] = (values[0] + values[1]) / 2
    return medians
