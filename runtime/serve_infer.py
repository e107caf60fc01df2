"""The part of an infer request that REST and gRPC share: the model run on the graph's inputs (batched with
``--max-batch-size``), the statistics of each request, and admission (``--max-queue``)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from . import contract
from .repository import Served
from .v2 import ProtocolError

PREDICTION_OUTPUTS = frozenset(contract.OUTPUT_NAMES)  # what the predict session answers (format 3: the pruned one)


class TooManyRows(Exception):
    """More rows in one request than ``--max-rows``: answered 413 (REST) or RESOURCE_EXHAUSTED (gRPC)."""


class Busy(Exception):
    """More requests are waiting than ``--max-queue`` allows: answered at once with 503 (REST) or UNAVAILABLE (gRPC)."""


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 64 << 20
    max_rows: int = 100_000
    max_queue: int = 0  # requests admitted at once, in one process (0: no limit)
    request_timeout: float = 0.0  # seconds a request may wait for its batch before a 503 (0: no limit)
    max_batch_size: int = 1  # rows coalesced into one model run (1: no batching)
    max_batch_delay_us: int = 500


class Admission:
    """Counts the requests admitted and not yet answered, in one server process (REST and gRPC together)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.shed = 0  # requests refused as busy since the start

    async def enter(self) -> None:
        """Admit one request, or raise :class:`Busy`; every admitted request calls :meth:`leave` once.

        With a limit, an admitted request yields to the event loop once before it goes on. Requests that arrive
        together are otherwise run one after another, each to its end without a pause (a one-row model run awaits
        nothing), so the count in progress would never pass 1 while hundreds wait their turn in the loop and the
        sockets: measured with 256 connections, no request was shed and the p99 grew past 100 ms. Yielding first,
        every request of a loop turn is counted before any is answered, and those past the limit are answered busy
        at once."""
        if self.limit and self.active >= self.limit:
            self.shed += 1
            raise Busy(f"the server is busy ({self.active} requests in progress, --max-queue {self.limit}); retry")
        self.active += 1
        if self.limit:
            try:
                await asyncio.sleep(0)
            except BaseException:  # cancelled while yielding: never admitted
                self.active -= 1
                raise

    def leave(self) -> None:
        self.active -= 1


def check_rows(rows: int, limits: Limits) -> None:
    """The request's row count against ``--max-rows``: :class:`TooManyRows`, or ProtocolError for none at all."""
    if rows > limits.max_rows:
        raise TooManyRows(f"{rows:,} rows in one request; this server takes at most {limits.max_rows:,} (--max-rows)")
    if rows == 0:
        raise ProtocolError("the request has no rows")


def wants_whole_graph(entry: Served, names) -> bool:
    """Whether outputs ``names`` need the whole graph (a format 3 model's explain outputs), not the predict session."""
    return entry.explains and any(name not in PREDICTION_OUTPUTS for name in names)


async def run_model(
    entry: Served, numeric: np.ndarray, categories: np.ndarray | None, names, offsets: np.ndarray | None = None
) -> tuple[dict, int, int]:
    """The outputs ``names`` of ``entry`` for the graph's inputs (the drift window fed): (results, queue ns, infer
    ns). Label and probabilities go through the batcher when there is one (a model without an offset input); the
    explain outputs run the whole graph. ``offsets``: the ``offset`` input, 0 for every row when not given."""
    if wants_whole_graph(entry, names):
        started = time.perf_counter_ns()
        results = run_whole_graph(entry, numeric, categories, list(names), offsets)
        entry.stats.execution()
        return results, 0, time.perf_counter_ns() - started
    if entry.batcher is not None and entry.model.offset_column is None:
        labels, probabilities, queue_ns, infer_ns = await entry.batcher.submit(numeric, categories)
    else:
        started = time.perf_counter_ns()
        labels, probabilities = entry.model.run_inputs(numeric, categories, offsets=offsets)
        queue_ns, infer_ns = 0, time.perf_counter_ns() - started
        entry.stats.execution()
        if entry.window is not None:
            entry.window.append(numeric, categories, probabilities)
    return {contract.LABEL_OUTPUT: labels, contract.PROBABILITIES_OUTPUT: probabilities}, queue_ns, infer_ns


def run_whole_graph(
    entry: Served, numeric: np.ndarray, categories, names: list[str], offsets: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The outputs ``names`` of a format 3 model, some of them explain outputs: one run of the whole graph (the
    probabilities too, for the drift window)."""
    if entry.window is not None:
        names = [*names, contract.PROBABILITIES_OUTPUT]
    results = entry.model.run_outputs(numeric, categories, list(dict.fromkeys(names)), offsets=offsets)
    if entry.window is not None:
        entry.window.append(numeric, categories, results[contract.PROBABILITIES_OUTPUT])
    return results
