"""The penalized log-loss on standardized data, and the ways to minimize it: full-batch L-BFGS and mini-batch SGD/Adam
(Newton's method, the default for small models, is in trainer/engine/newton.py); and the l2 penalty term, written
once for every solver.

Parameters are one float64 matrix ``V`` of shape (out, n_features + 1): the Linear layer's weight with its bias as
the last column (``out`` is 1 for a binary model). The data stay float32; each pass computes in float32 (fast) or,
for the last digits, in float64 one chunk of rows at a time (no float64 copy of the data).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F

from ..errors import TrainingError
from ..stats.hessian import hessian_sum
from .callbacks import Callback, TrainingState, end_epoch

CHUNK_ROWS = 65536
_FLAT_STREAK = 3  # L-BFGS iterations in a row with no visible progress before a phase is over


class Objective:
    """Weighted mean log-loss plus ``l2 / 2 * ||W||^2`` (not the bias), on standardized float32 data ``X``;
    ``offsets`` (float64, shape (n_rows,), a binary model's) are added to the rows' logits."""

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        weights: torch.Tensor | None,
        *,
        binary: bool,
        l2: float,
        offsets: torch.Tensor | None = None,
    ):
        self.X, self.y, self.weights, self.binary, self.l2 = X, y, weights, binary, l2
        self.offsets = offsets
        self.total_weight = float(weights.sum()) if weights is not None else float(len(y))
        self.n_rows = len(y)
        self._y_as: dict[torch.dtype, torch.Tensor] = {}
        self.hessian_rows: tuple | None = None  # set once by trainer.newton: the rows its Hessian is estimated from

    def labels_as(self, dtype: torch.dtype) -> torch.Tensor:
        """The 0/1 labels of a binary model as floats, converted once per dtype."""
        if dtype not in self._y_as:
            self._y_as[dtype] = self.y.to(dtype)
        return self._y_as[dtype]

    def row_losses(self, logits: torch.Tensor, y: torch.Tensor, y_float: torch.Tensor | None = None) -> torch.Tensor:
        if self.binary:
            target = y_float if y_float is not None else y.to(logits.dtype)
            return F.binary_cross_entropy_with_logits(logits[:, 0], target, reduction="none")
        return F.cross_entropy(logits, y, reduction="none")

    def residuals(self, logits: torch.Tensor, y: torch.Tensor, y_float: torch.Tensor | None = None) -> torch.Tensor:
        """d(row loss)/d(logits): ``p - y`` (binary) or ``softmax - one_hot`` (multiclass)."""
        if self.binary:
            target = y_float if y_float is not None else y.to(logits.dtype)
            return (torch.sigmoid(logits[:, 0]) - target)[:, None]
        return torch.softmax(logits, dim=1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)

    def loss_grad(self, V: torch.Tensor, *, float64: bool = False, keep_logits: bool = False, hessian: bool = False):
        """Objective, gradient (float64, shape of ``V``), count of correctly classified rows, and (``keep_logits``)
        the logits of every row. ``float64`` computes in float64 a chunk at a time; else in float32, full batch.
        ``hessian``: also the sum over every row of the log-loss's Hessian (:func:`trainer.stats.hessian.hessian_sum`,
        weighted, unscaled, no penalty), kept in ``self.last_hessian``."""
        dtype = torch.float64 if float64 else torch.float32
        step = CHUNK_ROWS if float64 or hessian else self.n_rows
        logits = torch.empty((self.n_rows, V.shape[0]), dtype=torch.float64, device=V.device) if keep_logits else None
        sums = Sums(V, hessian=hessian, logits=logits)
        # one chunk buffer, reused: a new float64 chunk each time, between the small arrays kept, would fragment the
        # heap and grow the resident memory by a chunk per chunk
        buffer = torch.empty((min(step, self.n_rows), self.X.shape[1]), dtype=dtype, device=self.X.device)
        for start in range(0, self.n_rows, step):
            rows = slice(start, min(start + step, self.n_rows))
            y_float = self.labels_as(dtype)[rows] if self.binary else None
            weights = None if self.weights is None else self.weights[rows]
            offsets = None if self.offsets is None else self.offsets[rows]
            source = self.X[rows]
            chunk = source if dtype == source.dtype else buffer[: len(source)].copy_(source)
            sums.add(
                self, chunk, self.y[rows], weights, y_float, keep_logits=keep_logits, rows32=source, offsets=offsets
            )
        self.last_hessian = sums.hessian
        return sums.result(self, V, self.total_weight)


class Sums:
    """The sums over rows that the objective and its gradient are made of, added a batch at a time (in float32 or
    float64 as the rows come), so that a streamed or distributed objective adds its chunks and ranks the same way."""

    def __init__(self, V: torch.Tensor, *, hessian: bool = False, logits: torch.Tensor | None = None) -> None:
        """``hessian``: also sum the log-loss's Hessian; ``logits``: (rows, out) float64, filled with each row's
        logits in the order the rows are added (when they are kept)."""
        self.W, self.b = V[:, :-1], V[:, -1]
        self.loss = torch.zeros((), dtype=torch.float64, device=V.device)
        self.grad = torch.zeros_like(V)
        self.correct = 0
        self.kept: list[torch.Tensor] = []
        self.logits, self.filled = logits, 0
        size = V.numel()
        self.hessian = torch.zeros((size, size), dtype=torch.float64, device=V.device) if hessian else None

    def add(
        self, objective, X, y, weights=None, y_float=None, *, keep_logits: bool = False, rows32=None, offsets=None
    ) -> None:
        """Add rows ``X`` (float32 or float64, standardized) with labels ``y``, optional row ``weights`` and (a
        binary model's) ``offsets`` on the logits; ``rows32``: the same rows in float32, for the Hessian's products
        (when the sums keep one)."""
        dtype = X.dtype
        if objective.binary:  # one logit: vector kernels, and the loss from the margin (exact in the tails)
            logits = torch.addmv(self.b.to(dtype), X, self.W[0].to(dtype))
            if offsets is not None:
                logits = logits + offsets.to(dtype)
            target = y_float if y_float is not None else y.to(dtype)
            margin = logits * (1.0 - 2.0 * target)  # -z for the second class, z for the first: loss = softplus
            losses = F.softplus(margin, threshold=20.0 if dtype == torch.float32 else 40.0)  # exact to dtype
            probability = torch.sigmoid(logits)
            residual = probability - target
            if weights is not None:
                w = weights.to(dtype)
                losses, residual = losses * w, residual * w
            self.loss += losses.sum(dtype=torch.float64)
            self.grad[0, :-1] += (X.T @ residual).double()
            self.grad[0, -1] += residual.sum(dtype=torch.float64)
            # predicted second class when z > 0: right when the margin is negative, or z == 0 for the first class
            self.correct += int((margin < 0).sum()) + int(((logits == 0) & (target == 0)).sum())
            if self.hessian is not None:
                self.hessian += hessian_sum(rows32 if rows32 is not None else X, probability[:, None], weights)
            if keep_logits:
                self._keep(logits[:, None])
            return
        logits = torch.addmm(self.b.to(dtype), X, self.W.to(dtype).T)
        losses = objective.row_losses(logits, y, y_float)
        residual = objective.residuals(logits, y, y_float)
        if weights is not None:
            w = weights.to(dtype)
            losses, residual = losses * w, residual * w[:, None]
        self.loss += losses.sum(dtype=torch.float64)
        self.grad[:, :-1] += (residual.T @ X).double()
        self.grad[:, -1] += residual.sum(dim=0, dtype=torch.float64)
        self.correct += int(_count_correct(logits, y, objective.binary))
        if self.hessian is not None:
            self.hessian += hessian_sum(rows32 if rows32 is not None else X, torch.softmax(logits, dim=1), weights)
        if keep_logits:
            self._keep(logits)

    def _keep(self, logits: torch.Tensor) -> None:
        if self.logits is None:
            self.kept.append(logits.double())
        else:
            self.logits[self.filled : self.filled + len(logits)] = logits
            self.filled += len(logits)

    def result(self, objective, V: torch.Tensor, total_weight: float):
        """(objective, gradient, correct rows, logits or None): the sums over ``total_weight``, plus the penalty."""
        value, penalty_grad = penalty(V, objective.l2)
        loss, grad = self.loss / total_weight + value, self.grad / total_weight + penalty_grad
        kept = self.logits if self.logits is not None else (torch.cat(self.kept) if self.kept else None)
        return float(loss), grad, self.correct, kept


def weight_penalty(W: torch.Tensor, l2: float) -> torch.Tensor:
    """The l2 term ``l2 / 2 * ||W||^2`` of weights ``W`` (..., out, features), one value per leading index; it
    differentiates through autograd (the mini-batch solvers) as well."""
    return 0.5 * l2 * (W**2).sum(dim=(-2, -1))


def penalty(V: torch.Tensor, l2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`weight_penalty` of parameters ``V`` (..., out, width), the bias (last column) unpenalized: its value
    and its gradient (the shape of ``V``)."""
    grad = torch.zeros_like(V)
    grad[..., :-1] = l2 * V[..., :-1]
    return weight_penalty(V[..., :-1], l2), grad


def penalty_diagonal(out: int, width: int, l2: float, device=None) -> torch.Tensor:
    """The l2 term's Hessian, a diagonal of ``out * width`` entries in ``V``'s flattened layout (the biases 0)."""
    diagonal = torch.full((out, width), float(l2), dtype=torch.float64, device=device)
    diagonal[:, -1] = 0.0
    return torch.diag(diagonal.ravel())


def _count_correct(logits: torch.Tensor, y: torch.Tensor, binary: bool) -> torch.Tensor:
    predicted = (logits[:, 0] > 0).long() if binary else logits.argmax(dim=1)
    return (predicted == y).sum()


def check_finite(loss: float, V: torch.Tensor, where: str, hint: str) -> None:
    if not math.isfinite(loss) or not bool(torch.isfinite(V).all()):
        raise TrainingError("lr", f"is too large: training diverged {where} (the loss became {loss}); {hint}")


def run_lbfgs(
    state: TrainingState,
    objective: Objective,
    V: torch.Tensor,
    callbacks: Sequence[Callback],
    evaluate_validation: Callable[[], tuple[float | None, float | None]],
    *,
    history_size: int = 20,
) -> tuple[torch.Tensor, bool]:
    """L-BFGS (two-loop recursion, backtracking to the Armijo condition) from ``V``: a float32 phase, then a float64
    one for the last digits. Returns the parameters and whether it converged before ``state.max_epochs``."""
    converged = False
    for float64, flat in ((False, 1e-7), (True, 1e-13)):
        V, converged = _lbfgs_phase(state, objective, V, callbacks, evaluate_validation, float64, flat, history_size)
        if state.stop_training or state.epoch >= state.max_epochs:
            return V, False
    return V, converged


def _lbfgs_phase(state, objective, V, callbacks, evaluate_validation, float64, flat, history_size):
    loss, grad, correct, _ = objective.loss_grad(V, float64=float64)
    s_list: list[torch.Tensor] = []
    y_list: list[torch.Tensor] = []
    flat_streak = 0
    while state.epoch < state.max_epochs and not state.stop_training:
        g = grad.ravel()
        if float(g.abs().max()) <= 1e-12:
            return V, True
        direction = -_two_loop(g, s_list, y_list)
        slope = float(g @ direction)
        if slope >= 0:  # not a descent direction (curvature pairs gone stale): restart from steepest descent
            s_list.clear()
            y_list.clear()
            direction, slope = -g, -float(g @ g)
        t = 1.0 if s_list else min(1.0, 1.0 / float(g.abs().sum()))
        for _ in range(40):
            candidate = V + t * direction.view_as(V)
            new_loss, new_grad, new_correct, _ = objective.loss_grad(candidate, float64=float64)
            if math.isfinite(new_loss) and new_loss <= loss + 1e-4 * t * slope:
                break
            t *= 0.5
            if t * -slope <= flat * abs(loss):
                # the decrease this step could bring is below what this phase's arithmetic resolves (summing a
                # million float32 losses is noisy at 1e-9): halving further only measures the noise
                return V, True
        else:
            return V, True  # no lower objective is representable along this direction
        s, yv = (candidate - V).ravel(), (new_grad - grad).ravel()
        if float(s @ yv) > 1e-12 * float(yv @ yv):
            s_list.append(s)
            y_list.append(yv)
            if len(s_list) > history_size:
                s_list.pop(0)
                y_list.pop(0)
        flat_streak = flat_streak + 1 if abs(loss - new_loss) <= flat * max(abs(new_loss), 1e-30) else 0
        V, loss, grad, correct = candidate, new_loss, new_grad, new_correct
        report_iterate(state, callbacks, objective, V, loss, correct, evaluate_validation)
        if flat_streak >= _FLAT_STREAK:
            return V, True
    return V, False


def report_iterate(state, callbacks, objective: Objective, V, loss: float, correct: int, evaluate_validation) -> None:
    """End one full-batch iteration (Newton or L-BFGS): record it and call the hooks, validation measured at ``V``."""
    end_epoch(
        state,
        callbacks,
        train_loss=loss,
        train_accuracy=correct / objective.n_rows,
        validation=functools.partial(evaluate_validation, V),
    )


def _two_loop(g: torch.Tensor, s_list: list[torch.Tensor], y_list: list[torch.Tensor]) -> torch.Tensor:
    """The L-BFGS approximation of ``H^-1 g`` (Nocedal and Wright, algorithm 7.4)."""
    q = g.clone()
    alphas = []
    for s, y in zip(reversed(s_list), reversed(y_list), strict=True):
        alpha = float(s @ q) / float(y @ s)
        q -= alpha * y
        alphas.append(alpha)
    if s_list:
        q *= float(s_list[-1] @ y_list[-1]) / float(y_list[-1] @ y_list[-1])
    for (s, y), alpha in zip(zip(s_list, y_list, strict=True), reversed(alphas), strict=True):
        beta = float(y @ q) / float(y @ s)
        q += (alpha - beta) * s
    return q


EpochBatches = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]]


def run_minibatch(
    state: TrainingState,
    objective,
    linear: torch.nn.Linear,
    callbacks: Sequence[Callback],
    evaluate_validation: Callable[[], tuple[float | None, float | None]],
    *,
    algorithm: str,
    lr: float,
    epoch_batches: EpochBatches,
    module: torch.nn.Module | None = None,
) -> None:
    """Classic mini-batch training with torch.optim, one optimizer step per batch of ``epoch_batches()`` (called once
    an epoch: each batch standardized float32 rows, their labels and row weights or None, on the device), in memory
    (:func:`shuffled_slices`) or streamed from a row cache. ``module`` is what computes the logits (``linear``, or
    ``linear`` in DistributedDataParallel, which averages the gradients over ranks). Early stopping (a hook) or the
    epoch count ends it; after each epoch the objective's full-batch loss is recorded. Raises
    :class:`TrainingError` if it diverges."""
    module = module if module is not None else linear
    optimizer_class = torch.optim.SGD if algorithm == "sgd" else torch.optim.Adam
    optimizer = optimizer_class(module.parameters(), lr=lr)
    hint = f"lower it (now {lr:g})"
    while state.epoch < state.max_epochs and not state.stop_training:
        where = f"in epoch {state.epoch + 1}"
        for X, y, weights in epoch_batches():
            optimizer.zero_grad()
            losses = objective.row_losses(module(X), y)
            loss = losses.mean() if weights is None else (losses * weights).sum() / weights.sum()
            if objective.l2:
                loss = loss + weight_penalty(linear.weight, objective.l2)
            loss.backward()
            try:
                optimizer.step()
            except RuntimeError:  # e.g. Adam's "value cannot be converted to type float without overflow"
                check_finite(float("inf"), torch.zeros(1), where, hint)
        V = parameters_of(linear)
        with torch.no_grad():
            train_loss, _, correct, _ = objective.loss_grad(V)
        check_finite(train_loss, V, where, hint)
        end_epoch(
            state,
            callbacks,
            train_loss=train_loss,
            train_accuracy=correct / objective.n_rows,
            validation=evaluate_validation,
        )


def shuffled_slices(objective: Objective, batch_size: int, generator: torch.Generator) -> EpochBatches:
    """An in-memory fit's batches: the training rows reshuffled every epoch, cut into ``batch_size`` slices."""
    X, y, weights = objective.X, objective.y, objective.weights

    def epoch():
        order = torch.randperm(len(y), generator=generator).to(X.device)
        for start in range(0, len(y), batch_size):
            batch = order[start : start + batch_size]
            yield X[batch], y[batch], None if weights is None else weights[batch]

    return epoch


def parameters_of(linear: torch.nn.Linear) -> torch.Tensor:
    """``[W | b]`` of a Linear layer as one float64 matrix."""
    return torch.cat([linear.weight.detach(), linear.bias.detach()[:, None]], dim=1).double()


def set_parameters(linear: torch.nn.Linear, V: torch.Tensor) -> None:
    with torch.no_grad():
        linear.weight.copy_(V[:, :-1])
        linear.bias.copy_(V[:, -1])
