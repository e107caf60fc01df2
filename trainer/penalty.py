"""``--l2 auto``: the penalty chosen by stratified k-fold cross-validated log-loss over a path of values, from the
strongest to the weakest, each fit starting where the previous one ended (warm starts: along the path the optimum
moves little, so each fit takes a few Newton steps). The data is standardized once, on every training row, as the
final model is; scikit-learn's LogisticRegressionCV on the same standardized data, folds and grid (with
``C = 1 / (l2 * rows of the fold's training part)``) chooses the same value (tests/trainer/test_penalty.py)."""

from __future__ import annotations

import math

import numpy as np
import torch

from .errors import OptionError
from .newton import MAX_NEWTON_PARAMS, newton_step

GRID = tuple(float(v) for v in np.logspace(0, -6, 13))  # 1, 0.316, 0.1, ... 1e-6
_TOLERANCE = 1e-7  # half the squared Newton decrement, relative to the objective: far below the folds' noise
_ARMIJO = 1e-4
# The Hessian from at most this many evenly spread rows: within a percent or so of the full one, so Newton still
# converges in a few steps from a warm start (the line search keeps each a descent), at a fraction of the cost.
HESSIAN_ROWS = 8192


def stratified_folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The fold (0 .. k-1) of each row: each class shuffled (seeded) and dealt round-robin, so every fold holds
    each class in proportion."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    offset = 0
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        rng.shuffle(rows)
        fold[rows] = (np.arange(len(rows)) + offset) % k
        offset += len(rows)  # the next class continues the deal, so fold sizes differ by one row at most
    return fold


class FoldProblem:
    """The penalized mean log-loss on one fold's training rows, in float64 throughout: the rows are converted once
    per fold, so each Newton step costs two matrix products over them (the path has 13 values a fold, a few steps
    each, which made the trainer's general objective, with its per-call conversions and accuracy counts, the cost)."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, binary: bool, n_classes: int) -> None:
        self.X = X.contiguous()  # float32: the products over every row are memory-bound, half the bytes of float64
        self.n = len(y)
        self.binary = binary
        self.y = y.double() if binary else y
        self.Y = None if binary else torch.nn.functional.one_hot(y, n_classes).double()
        step = max(1, self.n // HESSIAN_ROWS)
        self.H_rows = torch.nn.functional.pad(self.X[::step][:HESSIAN_ROWS].double(), (0, 1), value=1.0)

    def logits(self, X: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        """float32 products, float64 results: the logits are exact to float32's 1e-7, far below what the choice of
        the penalty can notice."""
        return (X @ V[:, :-1].T.float()).double() + V[:, -1]  # (addmm's broadcast bias is 4x slower here)

    def loss(self, V: torch.Tensor, l2: float) -> tuple[float, torch.Tensor]:
        """The objective at ``V`` and the logits it came from (for :meth:`grad` at the same point)."""
        Z = self.logits(self.X, V)
        if self.binary:
            rows = torch.nn.functional.softplus(Z[:, 0]) - self.y * Z[:, 0]
        else:
            rows = torch.logsumexp(Z, dim=1) - Z.gather(1, self.y[:, None])[:, 0]
        return float(rows.mean()) + 0.5 * l2 * float((V[:, :-1] ** 2).sum()), Z

    def grad(self, V: torch.Tensor, Z: torch.Tensor, l2: float) -> torch.Tensor:
        R = (torch.sigmoid(Z[:, 0]) - self.y)[:, None] if self.binary else torch.softmax(Z, dim=1) - self.Y
        weights = (R.T.float() @ self.X).double() / self.n + l2 * V[:, :-1]
        return torch.cat([weights, R.mean(dim=0)[:, None]], dim=1)

    def hessian(self, V: torch.Tensor, l2: float) -> torch.Tensor:
        X = self.H_rows
        Z = X @ V.T
        out, width = V.shape
        if self.binary:
            p = torch.sigmoid(Z[:, 0])
            H = (X * (p * (1 - p))[:, None]).T @ X / len(X)
        else:
            P = torch.softmax(Z, dim=1)
            H = torch.empty((out * width, out * width), dtype=torch.float64)
            for a in range(out):
                for b in range(a, out):
                    block = (X * (P[:, a] * ((1.0 if a == b else 0.0) - P[:, b]))[:, None]).T @ X / len(X)
                    H[a * width : (a + 1) * width, b * width : (b + 1) * width] = block
                    H[b * width : (b + 1) * width, a * width : (a + 1) * width] = block.T
        penalty = torch.full((out, width), l2, dtype=torch.float64)
        penalty[:, -1] = 0.0
        return H + torch.diag(penalty.ravel())


def solve(problem: FoldProblem, V: torch.Tensor, l2: float, max_iterations: int = 100) -> torch.Tensor:
    """Damped Newton from ``V`` (float64). With a penalty the Hessian is positive definite: a linear solve; without,
    the minimum-norm direction of :func:`trainer.newton.newton_step`."""
    loss, Z = problem.loss(V, l2)
    grad = problem.grad(V, Z, l2)
    for _ in range(max_iterations):
        H = problem.hessian(V, l2)
        if not problem.binary:
            # a softmax's biases are defined up to a common shift (the gradient has no part along it): a ridge far
            # below the curvature makes the system solvable without moving the optimum
            H = H + torch.eye(len(H), dtype=H.dtype) * (1e-10 * float(H.diagonal().max()))
        try:
            step = torch.linalg.solve(H, -grad.ravel()).view_as(V)
        except RuntimeError:  # singular: no penalty and collinear columns
            step = newton_step(H, grad.ravel()).view_as(V)
        slope = float((grad * step).sum())
        if -slope / 2 <= _TOLERANCE * max(abs(loss), 1e-300):
            break
        t = 1.0
        for _ in range(40):  # Armijo backtracking on the objective alone
            candidate = V + t * step
            value, Z = problem.loss(candidate, l2)
            if math.isfinite(value) and value <= loss + _ARMIJO * t * slope:
                break
            t *= 0.5
        else:
            break
        V, loss = candidate, value
        grad = problem.grad(V, Z, l2)  # from the accepted point's logits: no second pass for them
    return V


def validation_loss(X: torch.Tensor, y: torch.Tensor, V: torch.Tensor, binary: bool) -> float:
    """Mean log-loss of ``V`` on standardized rows ``X``, float64."""
    logits = X.double() @ V[:, :-1].double().T + V[:, -1].double()
    if binary:
        return float(torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y.double()))
    return float(torch.nn.functional.cross_entropy(logits, y))


def cross_validate(
    X: torch.Tensor, y: np.ndarray, *, binary: bool, n_classes: int, folds: int, seed: int, grid=GRID
) -> tuple[float, list[dict]]:
    """(best l2, path): for each value of ``grid`` the mean and spread (standard deviation over folds) of the
    validation log-loss. ``X``: standardized float32 training rows."""
    width = X.shape[1] + 1
    outputs = 1 if binary else n_classes
    if outputs * width > MAX_NEWTON_PARAMS:
        raise OptionError(
            "l2",
            f"auto is for models of at most {MAX_NEWTON_PARAMS} parameters (Newton steps along the path); this one "
            f"has {outputs * width}: give a value",
        )
    counts = np.bincount(y, minlength=n_classes)
    if counts.min() < folds:
        raise OptionError(
            "l2",
            f"auto needs at least {folds} rows of every class ({folds} folds); the smallest class has "
            f"{counts.min()}: give a value, or fewer --folds",
        )
    fold = stratified_folds(y, folds, seed)
    labels = torch.from_numpy(y)
    losses = np.empty((folds, len(grid)))
    for f in range(folds):
        train, test = torch.from_numpy(fold != f), torch.from_numpy(fold == f)
        problem = FoldProblem(X[train], labels[train], binary, n_classes)
        V = torch.zeros((outputs, width), dtype=torch.float64)
        for g, l2 in enumerate(grid):
            V = solve(problem, V, l2)
            losses[f, g] = validation_loss(X[test], labels[test], V, binary)
    mean, spread = losses.mean(axis=0), losses.std(axis=0)
    best = int(np.argmin(mean))
    path = [
        {"l2": float(l2), "mean": float(m), "std": float(s), "folds": [float(v) for v in losses[:, g]]}
        for g, (l2, m, s) in enumerate(zip(grid, mean, spread, strict=True))
    ]
    if not math.isfinite(mean[best]):
        raise OptionError("l2", "auto: every value of the path gave a non-finite validation log-loss")
    return float(grid[best]), path
