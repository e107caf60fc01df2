"""The objective and the mini-batches of a streamed fit: :class:`trainer.optim.Objective`'s sums over a row cache,
added chunk by chunk and all-reduced over the ranks of a torch.distributed job; and the SGD/Adam batches, from a
shuffled window of chunks, for the one mini-batch loop (:func:`trainer.engine.optim.run_minibatch`)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..engine import optim
from ..engine.model import LogisticModel
from .distributed import Comm
from .rowcache import RowCache


class StreamObjective:
    """:class:`trainer.optim.Objective` over a row cache: the same penalized weighted mean log-loss, its sums added
    chunk by chunk and over every rank, so that all ranks hold the same loss and gradient and take the same step."""

    def __init__(
        self, cache: RowCache, mean, scale, *, comm: Comm, binary, l2, class_weights, totals, device, chunk_rows
    ):
        """``totals``: the rows over every rank and their total weight (what the weighted mean divides by)."""
        self.cache, self.comm, self.binary, self.l2, self.device = cache, comm, binary, l2, device
        self.mean, self.scale = torch.from_numpy(mean), torch.from_numpy(scale)
        self.class_weights = None if class_weights is None else torch.from_numpy(class_weights)
        self.chunk_rows = chunk_rows
        self._buffer: torch.Tensor | None = None
        self._converted: torch.Tensor | None = None
        self.n_rows, self.total_weight = int(totals[0]), float(totals[1])

    row_losses = optim.Objective.row_losses
    residuals = optim.Objective.residuals

    def standardized(self, X: np.ndarray, dtype=torch.float32) -> torch.Tensor:
        """(x - mean) / scale in float32, exactly as the model and the in-memory fit compute it; into buffers reused
        from one chunk to the next (valid until the next call)."""
        rows = len(X)
        if self._buffer is None or len(self._buffer) < rows:
            self._buffer = torch.empty((rows, X.shape[1]), dtype=torch.float32)
        out = torch.sub(torch.from_numpy(X), self.mean, out=self._buffer[:rows]).div_(self.scale)
        if out.device != self.device or dtype != torch.float32:
            if self._converted is None or len(self._converted) < rows or self._converted.dtype != dtype:
                self._converted = torch.empty((rows, X.shape[1]), dtype=dtype, device=self.device)
            out = self._converted[:rows].copy_(out)
        return out

    def loss_grad(self, V: torch.Tensor, *, float64: bool = False, keep_logits: bool = False):
        dtype = torch.float64 if float64 else torch.float32
        sums = optim.Sums(V)
        for X, y in self.cache.chunks(self.chunk_rows):
            y_t = torch.from_numpy(y).to(self.device)
            weights = None if self.class_weights is None else self.class_weights.to(self.device)[y_t]
            sums.add(self, self.standardized(X, dtype), y_t, weights)
        packed = torch.cat(
            [
                sums.loss.reshape(1).cpu(),
                torch.tensor([float(sums.correct)], dtype=torch.float64),
                sums.grad.cpu().ravel(),
            ]
        )
        self.comm.all_sum(packed)
        sums.loss = packed[0].to(V.device)
        sums.correct = int(packed[1])
        sums.grad = packed[2:].reshape(V.shape).to(V.device)
        loss, grad, correct, _ = sums.result(self, V, self.total_weight)
        return loss, grad, correct, None

    def evaluator(self, model: LogisticModel):
        """Validation loss and accuracy over every rank's held-out rows (unweighted), at ``V`` when given."""

        def evaluate(V: torch.Tensor | None = None):
            if V is None:
                V = optim.parameters_of(model.linear)
            else:
                optim.set_parameters(model.linear, V)
            with torch.no_grad():
                loss, _, correct, _ = self.loss_grad(V.double())
            return loss, correct / self.n_rows

        return evaluate


def stream_batches(objective: StreamObjective, linear, *, comm: Comm, seed: int, window: int, batch_size: int):
    """A streamed fit's batches for :func:`trainer.engine.optim.run_minibatch`: chunks in a seeded random order,
    ``window`` chunks pooled and shuffled at a time, and the module computing the logits. Across ranks the layer is
    wrapped in DistributedDataParallel (gradients averaged at each step); every rank takes the same number of steps
    an epoch, as DistributedSampler pads, the ranks with fewer rows going round their shard again. ``batch_size`` is
    per process. Returns ``(epoch_batches, module)``."""
    module = linear
    if comm.world > 1:
        module = torch.nn.parallel.DistributedDataParallel(linear)
    steps = math.ceil(max(comm.gather(objective.cache.n_rows)) / batch_size)
    rng = np.random.default_rng([seed, comm.rank])
    device = objective.device
    weights = None if objective.class_weights is None else objective.class_weights.to(device)

    def epoch():
        batches = _batches(objective, batch_size, window, rng)  # a new pass over the chunks, the seeded rng going on
        for _ in range(steps):
            X, y = next(batches)
            y_t = torch.from_numpy(y).to(device)
            # the standardized rows are a buffer reused by the next batch: the loop is done with them by then
            yield objective.standardized(X), y_t, None if weights is None else weights[y_t]

    return epoch, module


def _batches(objective: StreamObjective, batch_size: int, window: int, rng):
    """Batches from the shuffled cache, going round again (reshuffled) when it runs out; a rank without rows
    contributes empty batches (it still joins every step's all-reduce)."""
    cache = objective.cache
    if cache.n_rows == 0:
        while True:
            yield np.zeros((0, cache.width), np.float32), np.zeros(0, np.int64)
    while True:
        yield from cache.shuffled_batches(batch_size, objective.chunk_rows, window, rng)
