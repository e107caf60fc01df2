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
        self._writers["X"].write(np.ascontiguousarray(X, dtype=np.float32).tobytes())
        self._writers["y"].write(np.ascontiguousarray(y, dtype=np.int64).tobytes())
        self._writers["ids"].write(np.ascontiguousarray(ids, dtype=np.uint64).tobytes())
        self.n_rows += len(y)

    def finish(self) -> None:
        for handle in self._writers.values():
            handle.close()

    def chunks(self, chunk_rows: int, *, with_ids: bool = False) -> Iterator[tuple[np.ndarray, ...]]:
        """``(X, y)`` (and the row ids) a chunk at a time, in the order written. The arrays are fresh each chunk."""
        with (
            open(self._paths["X"], "rb") as xs,
            open(self._paths["y"], "rb") as ys,
            open(self._paths["ids"], "rb") as ids,
        ):
            for start in range(0, self.n_rows, chunk_rows):
                rows = min(chunk_rows, self.n_rows - start)
                X = np.fromfile(xs, dtype=np.float32, count=rows * self.width).reshape(rows, self.width)
                y = np.fromfile(ys, dtype=np.int64, count=rows)
                if with_ids:
                    yield X, y, np.fromfile(ids, dtype=np.uint64, count=rows)
                else:
                    yield X, y

    def _read(self, handle_X, handle_y, start: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        handle_X.seek(start * self.width * 4)
        handle_y.seek(start * 8)
        X = np.fromfile(handle_X, dtype=np.float32, count=rows * self.width).reshape(rows, self.width)
        return X, np.fromfile(handle_y, dtype=np.int64, count=rows)

    def shuffled(self, chunk_rows: int, window_chunks: int, rng: np.random.Generator):
        """Rows in a random order with bounded memory: chunks in a random order, ``window_chunks`` of them at a time
        pooled and their rows permuted. Yields ``(X, y)`` windows of at most ``chunk_rows * window_chunks`` rows."""
        starts = rng.permutation(np.arange(0, self.n_rows, chunk_rows)) if self.n_rows else np.zeros(0, np.int64)
        with open(self._paths["X"], "rb") as xs, open(self._paths["y"], "rb") as ys:
            for first in range(0, len(starts), window_chunks):
                parts = [
                    self._read(xs, ys, int(s), min(chunk_rows, self.n_rows - int(s)))
                    for s in starts[first : first + window_chunks]
                ]
                X = np.concatenate([p[0] for p in parts])
                y = np.concatenate([p[1] for p in parts])
                order = rng.permutation(len(y))
                yield X[order], y[order]
