"""Encoded rows on local disk: what a streamed fit reads at every iteration or epoch instead of parsing the source
again. One cache per split and rank: float32 design rows, int64 class indices and uint64 row ids, in three flat
files, read a chunk at a time into reused buffers (the data are never in memory whole, nor memory-mapped)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np


class RowCache:
    """Rows appended in order, then read back in chunks of ``chunk_rows``: sequentially, or in a shuffled order
    within a bounded window (:meth:`shuffled`)."""

    def __init__(self, folder: Path, name: str, width: int) -> None:
        self.width = width
        self.n_rows = 0
        self._paths = {kind: folder / f"{name}.{kind}" for kind in ("X", "y", "ids")}
        # open across append() calls, closed by finish()
        self._writers = {kind: open(path, "wb") for kind, path in self._paths.items()}  # noqa: SIM115

    def append(self, X: np.ndarray, y: np.ndarray, ids: np.ndarray) -> None:
        if not len(y):
            return
        for kind, values, dtype in (("X", X, np.float32), ("y", y, np.int64), ("ids", ids, np.uint64)):
            self._writers[kind].write(memoryview(np.ascontiguousarray(values, dtype=dtype)).cast("B"))
        self.n_rows += len(y)

    def finish(self) -> None:
        for handle in self._writers.values():
            handle.close()

    def chunks(self, chunk_rows: int, *, with_ids: bool = False) -> Iterator[tuple[np.ndarray, ...]]:
        """``(X, y)`` (and the row ids) a chunk at a time, in the order written, read into buffers reused from one
        chunk to the next (no allocation a chunk): a caller copies what it keeps beyond the loop body."""
        rows = min(chunk_rows, self.n_rows)
        buffers = (
            np.empty((rows, self.width), dtype=np.float32),
            np.empty(rows, dtype=np.int64),
            np.empty(rows, dtype=np.uint64),
        )
        with (
            open(self._paths["X"], "rb") as xs,
            open(self._paths["y"], "rb") as ys,
            open(self._paths["ids"], "rb") as ids,
        ):
            handles = (xs, ys, ids) if with_ids else (xs, ys)
            for start in range(0, self.n_rows, chunk_rows):
                rows = min(chunk_rows, self.n_rows - start)
                views = [buffer[:rows] for buffer in buffers[: len(handles)]]
                for handle, view in zip(handles, views, strict=True):
                    handle.readinto(memoryview(view).cast("B"))
                yield tuple(views)

    def shuffled_batches(self, batch_size: int, chunk_rows: int, window_chunks: int, rng: np.random.Generator):
        """Batches ``(X, y)`` of the rows in a random order, with bounded memory: the chunks in a random order,
        ``window_chunks`` of them at a time read into one reused buffer and their rows permuted. Memory: the buffer,
        ``chunk_rows * window_chunks`` rows; each batch is a copy gathered from it."""
        starts = rng.permutation(np.arange(0, self.n_rows, chunk_rows)) if self.n_rows else np.zeros(0, np.int64)
        window = min(chunk_rows * window_chunks, self.n_rows)
        X_buffer = np.empty((window, self.width), dtype=np.float32)
        y_buffer = np.empty(window, dtype=np.int64)
        with open(self._paths["X"], "rb") as xs, open(self._paths["y"], "rb") as ys:
            for first in range(0, len(starts), window_chunks):
                filled = 0
                for start in starts[first : first + window_chunks].tolist():
                    rows = min(chunk_rows, self.n_rows - start)
                    xs.seek(start * self.width * 4)
                    ys.seek(start * 8)
                    xs.readinto(memoryview(X_buffer[filled : filled + rows]).cast("B"))
                    ys.readinto(memoryview(y_buffer[filled : filled + rows]).cast("B"))
                    filled += rows
                order = rng.permutation(filled)
                for batch in range(0, filled, batch_size):
                    rows = order[batch : batch + batch_size]
                    yield X_buffer[rows], y_buffer[rows]
