"""The two ways to minimize the penalized log-loss: full-batch L-BFGS to the exact optimum, and mini-batch SGD/Adam."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from .callbacks import Callback, TrainingState, end_epoch

# float32 cannot see a relative change in the loss below a few units of its epsilon (1.2e-7).
_FLOAT32_FLAT = 1e-7
_FLOAT64_FLAT = 1e-13
_FLAT_STREAK = 3  # iterations in a row with no visible progress before a phase is over
_POLISH_CHUNK_ROWS = 65536
_MAX_NEWTON_ITERATIONS = 50  # from an L-BFGS start Newton needs a handful; more means separable data


class Objective:
    """Weighted mean log-loss plus ``l2 / 2 * ||W||^2`` (not the bias) on standardized training data.

    ``X`` stays float32 on its device. :meth:`evaluate` can compute in float64 one chunk of rows at a time, which
    gives float64 accuracy without a float64 copy of the data.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None, *, binary: bool, l2: float):
        self.X, self.y, self.weights, self.binary, self.l2 = X, y, weights, binary, l2
        self.total_weight = float(weights.sum()) if weights is not None else float(len(y))

    def row_losses(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.binary:
            return F.binary_cross_entropy_with_logits(logits[:, 0], y.to(logits.dtype), reduction="none")
        return F.cross_entropy(logits, y, reduction="none")

    def evaluate(self, linear: torch.nn.Linear, *, chunk_rows: int | None = None) -> tuple[torch.Tensor, int]:
        """Objective value (with gradients accumulated into ``linear``) and the count of correctly classified rows."""
        dtype = linear.weight.dtype
        n = len(self.y)
        step = chunk_rows or n
        data_loss = torch.zeros((), dtype=dtype, device=self.X.device)
        correct = 0
        for start in range(0, n, step):
            rows = slice(start, min(start + step, n))
            logits = linear(self.X[rows].to(dtype))
            losses = self.row_losses(logits, self.y[rows])
            if self.weights is not None:
                losses = losses * self.weights[rows].to(dtype)
            chunk_loss = losses.sum() / self.total_weight
            if torch.is_grad_enabled():
                chunk_loss.backward()  # per chunk, so only one chunk's graph is alive at a time
            data_loss += chunk_loss.detach()
            correct += int(_count_correct(logits.detach(), self.y[rows], self.binary))
        penalty = 0.5 * self.l2 * (linear.weight**2).sum()
        if torch.is_grad_enabled() and self.l2:
            penalty.backward()
        return data_loss + penalty.detach(), correct


def _count_correct(logits: torch.Tensor, y: torch.Tensor, binary: bool) -> torch.Tensor:
    predicted = (logits[:, 0] > 0).long() if binary else logits.argmax(dim=1)
    return (predicted == y).sum()


def run_lbfgs(
    state: TrainingState,
    objective: Objective,
    linear: torch.nn.Linear,
    callbacks: Sequence[Callback],
    evaluate_validation: Callable[[], tuple[float | None, float | None]],
) -> bool:
    """Full-batch L-BFGS with a strong-Wolfe line search, run to convergence or ``state.max_epochs`` iterations.

    Phase 1 works in float32 (fast, and where most of the descent happens). Phase 2 polishes in float64, the data
    cast one chunk at a time (no float64 copy): Newton's method when the model has few parameters (quadratic
    convergence, unbothered by the ill-conditioning that makes L-BFGS crawl), else more L-BFGS. The result is the
    optimum to float64 accuracy rather than float32's. Returns whether it converged before the iteration cap.
    """
    converged = _lbfgs_phase(
        state, objective, linear, callbacks, evaluate_validation, torch.float32, None, _FLOAT32_FLAT
    )
    if state.stop_training or state.epoch >= state.max_epochs:
        return converged and not state.stop_training
    from .newton import MAX_NEWTON_PARAMS, run_newton

    if linear.weight.numel() + linear.bias.numel() <= MAX_NEWTON_PARAMS:

        def write_back(V: torch.Tensor) -> None:
            with torch.no_grad():
                linear.weight.copy_(V[:, :-1])
                linear.bias.copy_(V[:, -1])

        return run_newton(
            state,
            objective,
            linear,
            callbacks,
            evaluate_validation,
            chunk_rows=_POLISH_CHUNK_ROWS,
            max_iterations=_MAX_NEWTON_ITERATIONS,
            on_update=write_back,
        )
    polish = torch.nn.Linear(linear.in_features, linear.out_features, dtype=torch.float64, device=linear.weight.device)
    with torch.no_grad():
        polish.weight.copy_(linear.weight)
        polish.bias.copy_(linear.bias)
    converged = _lbfgs_phase(
        state, objective, polish, callbacks, evaluate_validation, torch.float64, _POLISH_CHUNK_ROWS, _FLOAT64_FLAT
    )
    with torch.no_grad():
        linear.weight.copy_(polish.weight)
        linear.bias.copy_(polish.bias)
    return converged


def _lbfgs_phase(state, objective, linear, callbacks, evaluate_validation, dtype, chunk_rows, flat) -> bool:
    optimizer = torch.optim.LBFGS(
        linear.parameters(),
        lr=1.0,
        max_iter=1,  # one iteration per step() call, so every iteration is recorded and hooks can stop training
        max_eval=25,
        history_size=20,
        tolerance_grad=1e-12 if dtype == torch.float64 else 1e-9,
        tolerance_change=0.0,  # we judge progress ourselves, relative to the loss, below
        line_search_fn="strong_wolfe",
    )
    closure = _CachedClosure(optimizer, objective, linear, chunk_rows)
    previous = closure.value()[0]
    flat_streak = 0
    while state.epoch < state.max_epochs and not state.stop_training:
        n_iter_before = optimizer.state[linear.weight].get("n_iter", 0)
        optimizer.step(closure)
        if optimizer.state[linear.weight].get("n_iter", 0) == n_iter_before:
            return True  # the gradient was already below tolerance: nothing left to do
        loss, correct = closure.value()
        if not math.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss} at iteration {state.epoch + 1}; try --l2 > 0")
        end_epoch(
            state, callbacks, train_loss=loss, train_accuracy=correct / len(objective.y), validation=evaluate_validation
        )
        flat_streak = flat_streak + 1 if abs(previous - loss) <= flat * max(abs(loss), 1e-30) else 0
        previous = loss
        if flat_streak >= _FLAT_STREAK:
            return True
    return False


class _CachedClosure:
    """The L-BFGS closure, remembering its last evaluations by parameter values.

    ``LBFGS.step`` starts by evaluating the point where the previous line search ended, which that search has just
    evaluated; the cache answers that call instead of making another pass over the data.
    """

    def __init__(self, optimizer, objective: Objective, linear: torch.nn.Linear, chunk_rows: int | None):
        self.optimizer, self.objective, self.linear, self.chunk_rows = optimizer, objective, linear, chunk_rows
        self._cache: list[tuple[torch.Tensor, torch.Tensor, float, int]] = []

    def __call__(self) -> torch.Tensor:
        params = torch.cat([self.linear.weight.detach().ravel(), self.linear.bias.detach()])
        for cached_params, cached_grads, loss, _ in self._cache:
            if torch.equal(cached_params, params):
                self._set_grads(cached_grads)
                return torch.tensor(loss, dtype=params.dtype)
        self.optimizer.zero_grad()
        with torch.enable_grad():
            loss, correct = self.objective.evaluate(self.linear, chunk_rows=self.chunk_rows)
        grads = torch.cat([self.linear.weight.grad.ravel(), self.linear.bias.grad]).clone()
        self._cache = [*self._cache[-3:], (params.clone(), grads, float(loss), correct)]
        return loss

    def value(self) -> tuple[float, int]:
        """Loss and correct count at the current parameters (usually a cache hit)."""
        self()
        _, _, loss, correct = self._cache_entry()
        return loss, correct

    def _cache_entry(self):
        params = torch.cat([self.linear.weight.detach().ravel(), self.linear.bias.detach()])
        return next(entry for entry in self._cache if torch.equal(entry[0], params))

    def _set_grads(self, grads: torch.Tensor) -> None:
        n_weight = self.linear.weight.numel()
        self.linear.weight.grad = grads[:n_weight].view_as(self.linear.weight).clone()
        self.linear.bias.grad = grads[n_weight:].clone()


def run_minibatch(
    state: TrainingState,
    objective: Objective,
    linear: torch.nn.Linear,
    callbacks: Sequence[Callback],
    evaluate_validation: Callable[[], tuple[float | None, float | None]],
    *,
    algorithm: str,
    lr: float,
    batch_size: int,
    generator: torch.Generator,
) -> bool:
    """Classic mini-batch training: reshuffle every epoch, one optimizer step per batch. Returns False (no
    convergence test; early stopping or the epoch count ends it)."""
    if algorithm == "sgd":
        optimizer = torch.optim.SGD(linear.parameters(), lr=lr)
    else:
        optimizer = torch.optim.Adam(linear.parameters(), lr=lr)
    X, y, weights = objective.X, objective.y, objective.weights
    n = len(y)
    while state.epoch < state.max_epochs and not state.stop_training:
        order = torch.randperm(n, generator=generator).to(X.device)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            losses = objective.row_losses(linear(X[batch]), y[batch])
            batch_weights = None if weights is None else weights[batch]
            loss = losses.mean() if batch_weights is None else (losses * batch_weights).sum() / batch_weights.sum()
            if objective.l2:
                loss = loss + 0.5 * objective.l2 * (linear.weight**2).sum()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            train_loss, correct = objective.evaluate(linear)
        if not math.isfinite(float(train_loss)):
            raise FloatingPointError(f"the loss became {float(train_loss)} in epoch {state.epoch + 1}; lower --lr")
        end_epoch(
            state, callbacks, train_loss=float(train_loss), train_accuracy=correct / n, validation=evaluate_validation
        )
    return False
