"""``logreg serve --drift-window N``: the last N rows a model scored, kept in ring buffers, and their drift from the
model's training profile as Prometheus gauges, computed when /metrics is scraped (scoring never bins a value)."""

from __future__ import annotations

import threading

import numpy as np

_BANDS = "under 0.1 stable, 0.1 to 0.25 moderate shift, above 0.25 major shift"


class DriftWindow:
    """The last ``size`` rows scored: the graph's inputs and the probabilities, in preallocated ring buffers.

    Parameters
    ----------
    size : rows kept (the oldest are overwritten)
    n_numeric, n_categorical, n_classes : the widths of the ``features`` and ``categories`` inputs and of the
        probabilities
    """

    def __init__(self, size: int, n_numeric: int, n_categorical: int, n_classes: int) -> None:
        if size < 1:
            raise ValueError(f"a drift window holds at least one row, got size={size!r}")
        self.size = size
        self._numeric = np.full((size, n_numeric), np.nan, dtype=np.float32)
        self._categories = np.full((size, n_categorical), "", dtype=object)
        self._probabilities = np.zeros((size, n_classes), dtype=np.float32)
        self._next = 0  # where the next row goes
        self._count = 0  # rows held, up to size
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def append(self, numeric: np.ndarray, categories: np.ndarray | None, probabilities: np.ndarray) -> None:
        """Keep rows just scored: ``numeric`` (n_rows, n_numeric), ``categories`` (n_rows, n_categorical) or None
        for a numeric model, ``probabilities`` (n_rows, n_classes). The request path: copies only."""
        n_rows = len(probabilities)
        if n_rows == 1:  # the usual request: no slices to compute (1.6 us here, against 4 for the general case)
            with self._lock:
                i = self._next
                self._probabilities[i] = probabilities[0]
                if self._numeric.shape[1]:
                    self._numeric[i] = numeric[0]
                if categories is not None and self._categories.shape[1]:
                    self._categories[i] = categories[0]
                self._next = (i + 1) % self.size
                self._count = min(self._count + 1, self.size)
            return
        if n_rows > self.size:  # only the newest fit
            numeric, probabilities = numeric[-self.size :], probabilities[-self.size :]
            categories = None if categories is None else categories[-self.size :]
            n_rows = self.size
        with self._lock:
            start = self._next
            first = min(n_rows, self.size - start)  # rows before the buffer's end; the rest wrap to its start
            self._write(slice(start, start + first), slice(0, first), numeric, categories, probabilities)
            if first < n_rows:
                self._write(slice(0, n_rows - first), slice(first, n_rows), numeric, categories, probabilities)
            self._next = (start + n_rows) % self.size
            self._count = min(self._count + n_rows, self.size)

    def _write(self, into: slice, rows: slice, numeric, categories, probabilities) -> None:
        self._probabilities[into] = probabilities[rows]
        if self._numeric.shape[1]:
            self._numeric[into] = numeric[rows]
        if categories is not None and self._categories.shape[1]:
            self._categories[into] = categories[rows]

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of the rows held, oldest first: (numeric, categories, probabilities)."""
        with self._lock:
            count, start = self._count, self._next
            order = np.arange(start - count, start) % self.size
            return self._numeric[order], self._categories[order], self._probabilities[order]


class DriftCollector:
    """A prometheus_client collector: ``logreg_drift_psi{model, version, column}`` and ``logreg_score_psi{model,
    version}`` of each window against its model's profile, computed at each scrape (nothing while the window is
    empty). ``served``: a callable giving the versions served now (runtime/repository.py Served: name, version,
    model, profile, window)."""

    def __init__(self, served) -> None:
        self.served = served

    def describe(self) -> list:
        return []  # no collection at registration: the gauges exist only once rows are scored

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        columns = GaugeMetricFamily(
            "logreg_drift_psi",
            f"PSI of each column over the last rows scored against the training profile ({_BANDS})",
            labels=["model", "version", "column"],
        )
        scores = GaugeMetricFamily(
            "logreg_score_psi",
            f"PSI of the score over the last rows scored against the training profile ({_BANDS})",
            labels=["model", "version"],
        )
        for entry in self.served():
            window = entry.window
            if window is None or entry.profile is None or not len(window):
                continue
            numeric, categories, probabilities = window.rows()
            report = entry.profile.compare(entry.model.numeric_names, numeric, categories, probabilities)
            for column in report["columns"]:
                columns.add_metric([entry.name, entry.version, column["column"]], column["psi"])
            scores.add_metric([entry.name, entry.version], report["score"]["psi"])
        yield columns
        yield scores
