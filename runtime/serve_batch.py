"""``--max-batch-size N --max-batch-delay-us T``: concurrent infer requests of one model version coalesced into one
model run of at most N rows, the first request waiting at most T microseconds for others; each answered with its rows.

The batch runs on the event loop's thread, as an unbatched request does: while a batch waits, the loop reads the next
requests, which is what fills it. A request of N rows or more runs alone.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from .serve_infer import Busy, Limits


class Batcher:
    """The open batch of one model version (label and probabilities: the predict session)."""

    def __init__(self, entry, limits: Limits) -> None:
        self.entry = entry
        self.max_rows = limits.max_batch_size
        self.delay = limits.max_batch_delay_us / 1e6
        self.timeout = limits.request_timeout or None
        self.pending: list[tuple[np.ndarray, np.ndarray | None, asyncio.Future, int]] = []
        self.rows = 0
        self.timer: asyncio.TimerHandle | None = None

    async def submit(self, numeric: np.ndarray, categories: np.ndarray | None):
        """(labels, probabilities, ns waited, ns of the model run) for these rows, run with the others pending."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((numeric, categories, future, time.perf_counter_ns()))
        self.rows += len(numeric)
        if self.rows >= self.max_rows:
            self.flush()
        elif self.timer is None:
            self.timer = loop.call_later(self.delay, self.flush)
        if self.timeout is None:
            return await future
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise Busy(f"the request waited over {self.timeout:g} s for its batch (--request-timeout); retry") from None

    def flush(self) -> None:
        """Run everything pending as one batch (or several, when over the size) and answer each request."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        pending, self.pending, self.rows = self.pending, [], 0
        pending = [item for item in pending if not item[2].done()]  # timed out: nobody waits for these
        while pending:
            batch, size = [], 0
            while pending and (not batch or size + len(pending[0][0]) <= self.max_rows):
                batch.append(pending.pop(0))
                size += len(batch[-1][0])
            self._run(batch)

    def _run(self, batch: list) -> None:
        entry = self.entry
        started = time.perf_counter_ns()
        numeric = batch[0][0] if len(batch) == 1 else np.concatenate([item[0] for item in batch])
        categories = None
        if batch[0][1] is not None:
            categories = batch[0][1] if len(batch) == 1 else np.concatenate([item[1] for item in batch])
        try:
            labels, probabilities = entry.model.run_inputs(numeric, categories)
        except Exception as exc:  # every request of the batch gets the error (a bad row was refused before)
            for item in batch:
                item[2].set_exception(exc)
            return
        took = time.perf_counter_ns() - started
        entry.stats.execution()
        if entry.window is not None:
            entry.window.append(numeric, categories, probabilities)
        at = 0
        for rows, _, future, queued in batch:
            n = len(rows)
            if not future.done():
                future.set_result((labels[at : at + n], probabilities[at : at + n], started - queued, took))
            at += n
