"""``--l2 auto``: the penalty chosen by stratified k-fold cross-validated log-loss over a path of values, from the
strongest to the weakest, each fit starting where the previous one ended (warm starts: along the path the optimum
moves little, so each fit takes a few Newton steps). The data is standardized once, on every training row, as the
final model is; scikit-learn's LogisticRegressionCV on the same standardized data, folds and grid (with
``C = 1 / (l2 * rows of the fold's training part)``) chooses the same value (tests/trainer/test_penalty.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import OptionError, Setting
from ..stats.hessian import hessian_sum, shift_ridge
from .newton import MAX_NEWTON_PARAMS, newton_step
from .optim import penalty, penalty_diagonal

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


class Folds:
    """Every fold's penalized mean log-loss at once. Fold f's model is ``V[f]`` (outputs, width), fitted on the rows
    outside fold f: one product over all rows gives every fold's logits (the rows are read once per step for all
    folds, which is what a step costs), and the same logits give each fold's validation loss on its own rows.
    ``weights``: the rows' frequency weights (a row of weight w counts w times, in training and validation alike);
    ``offsets``: a binary model's known terms of the rows' logits."""

    def __init__(
        self,
        X: torch.Tensor,
        y: np.ndarray,
        fold: np.ndarray,
        k: int,
        binary: bool,
        n_classes: int,
        weights: np.ndarray | None = None,
        offsets: np.ndarray | None = None,
    ):
        self.X = X.contiguous()  # float32: products over every row are memory-bound, half the bytes of float64
        self.k, self.binary, self.outputs = k, binary, 1 if binary else n_classes
        self.offsets = None if offsets is None else torch.from_numpy(np.asarray(offsets, dtype=np.float32))[:, None]
        membership = torch.from_numpy(fold)[:, None] == torch.arange(k)[None, :]  # (n, k): row in fold f
        train, test = (~membership).double(), membership.double()
        if weights is not None:
            w = torch.from_numpy(np.asarray(weights, dtype=np.float64))[:, None]
            train, test = train * w, test * w
        self.train_weight = train / train.sum(dim=0)  # each fold's training rows, weights summing to 1
        self.test_weight = test / test.sum(dim=0)
        labels = torch.from_numpy(y)
        self.y32 = labels.float()[:, None]  # binary targets, (n, 1)
        self.Y32 = None if binary else torch.nn.functional.one_hot(labels, n_classes).float()[:, None, :]  # (n,1,K)
        self.train_weight32 = self.train_weight.float()
        step = max(1, len(y) // HESSIAN_ROWS)
        rows = torch.arange(0, len(y), step)[:HESSIAN_ROWS]
        self.H_rows32 = self.X[rows]
        self.H_train = train[rows] / train[rows].sum(dim=0)
        self.H_offsets = None if self.offsets is None else self.offsets[rows].double()

    def logits(self, V: torch.Tensor) -> torch.Tensor:
        """(n, k, outputs), float32: each row's loss is then exact to float32's 1e-7, and the sums over rows, in
        float64, far more exact than the choice of the penalty needs (their errors are not systematic)."""
        W = V[:, :, :-1].reshape(-1, V.shape[2] - 1)  # (k*outputs, d)
        Z = (self.X @ W.T.float()).view(len(self.X), self.k, self.outputs) + V[:, :, -1].float()
        return Z if self.offsets is None else Z + self.offsets[:, :, None]

    def row_losses(self, Z: torch.Tensor) -> torch.Tensor:
        """(n, k): each row's log-loss under each fold's model, float64 from float32."""
        if self.binary:
            return (torch.nn.functional.softplus(Z[:, :, 0]) - self.y32 * Z[:, :, 0]).double()
        return (torch.logsumexp(Z, dim=2) - (Z * self.Y32).sum(dim=2)).double()

    def at(self, V: torch.Tensor) -> Point:
        """Everything the objective, its gradient and the validation loss need at ``V`` that does not depend on the
        penalty: so that the end of one fit along the path is the start of the next without computing it again."""
        Z = self.logits(V)
        return Point(V, Z, self.row_losses(Z))

    def objective(self, point: Point, l2: float) -> torch.Tensor:
        """(k,) each fold's training objective."""
        return (point.losses * self.train_weight).sum(dim=0) + penalty(point.V, l2)[0]

    def grad(self, point: Point, l2: float) -> torch.Tensor:
        if point.data_grad is None:  # the log-loss part, computed once a point
            Z = point.Z
            if self.binary:
                residual = (torch.sigmoid(Z[:, :, 0]) - self.y32)[:, :, None]
            else:
                residual = torch.softmax(Z, dim=2) - self.Y32
            R = residual * self.train_weight32[:, :, None]  # (n, k, outputs), float32
            weights = (R.reshape(len(R), -1).T @ self.X).double().view(self.k, self.outputs, -1)
            point.data_grad = torch.cat([weights, R.double().sum(dim=0)[:, :, None]], dim=2)
        return point.data_grad + penalty(point.V, l2)[1]

    def hessians(self, V: torch.Tensor, l2: float) -> torch.Tensor:
        """(k, P, P), P = outputs * width, from the evenly spread rows, in float32 products (an approximate Hessian
        already: its rounding changes the steps, not where they converge)."""
        k, out, width = V.shape
        X = self.H_rows32
        Z = (X.double() @ V[:, :, :-1].reshape(k * out, width - 1).T).view(len(X), k, out) + V[:, :, -1]
        if self.H_offsets is not None:
            Z = Z + self.H_offsets[:, :, None]
        P = torch.sigmoid(Z) if self.binary else torch.softmax(Z, dim=2)
        H = hessian_sum(X, P, self.H_train, dtype=torch.float32)
        if not self.binary:
            H = shift_ridge(H)
        return H + penalty_diagonal(out, width, l2)

    def validation(self, point: Point) -> torch.Tensor:
        """(k,) each fold's mean log-loss on its own rows."""
        return (point.losses * self.test_weight).sum(dim=0)


@dataclass
class Point:
    """Every fold's parameters ``V`` (k, outputs, width), their logits (n, k, outputs), each row's log-loss under each
    fold's model (n, k), and (once asked for) the log-loss part of the gradient."""

    V: torch.Tensor
    Z: torch.Tensor
    losses: torch.Tensor
    data_grad: torch.Tensor | None = None


def solve(folds: Folds, point: Point, l2: float, max_iterations: int = 100) -> Point:
    """Damped Newton from ``point``, every fold at once, each with its own step length and stop. Returns the optima."""
    loss = folds.objective(point, l2)
    grad = folds.grad(point, l2)
    active = torch.ones(folds.k, dtype=torch.bool)
    for _ in range(max_iterations):
        V = point.V
        H = folds.hessians(V, l2)
        try:
            step = torch.linalg.solve(H, -grad.reshape(folds.k, -1)).view_as(V)
        except RuntimeError:  # singular: no penalty and collinear columns
            step = torch.stack([newton_step(H[f], grad[f].ravel()).view_as(V[f]) for f in range(folds.k)])
        slope = (grad * step).sum(dim=(1, 2))
        active &= -slope / 2 > _TOLERANCE * loss.abs().clamp_min(1e-300)
        if not active.any():
            break
        t = torch.where(active, 1.0, 0.0).double()  # converged folds stay where they are
        for _ in range(40):  # Armijo backtracking, per fold
            candidate = folds.at(V + t[:, None, None] * step)
            value = folds.objective(candidate, l2)
            ok = torch.isfinite(value) & (value <= loss + _ARMIJO * t * slope)
            if bool(ok.all()):
                break
            t = torch.where(ok, t, t / 2)
        else:
            active &= ok  # no acceptable step for a fold: it stops where it is
            t = torch.where(ok, t, 0.0)
            candidate = folds.at(V + t[:, None, None] * step)
            value = folds.objective(candidate, l2)
        point, loss = candidate, value
        grad = folds.grad(point, l2)
    return point


def cross_validate(
    X: torch.Tensor,
    y: np.ndarray,
    *,
    binary: bool,
    n_classes: int,
    folds: int,
    seed: int,
    grid=GRID,
    weights: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
) -> tuple[float, list[dict], torch.Tensor]:
    """(best l2, path, start): for each value of ``grid`` the mean and spread (standard deviation over folds) of the
    validation log-loss; ``start``, the folds' mean parameters ``[W | b]`` at the best value, a warm start for the
    refit on every row. ``X``: standardized float32 training rows; ``weights``, ``offsets``: as :class:`Folds`
    takes them."""
    width = X.shape[1] + 1
    outputs = 1 if binary else n_classes
    check_auto("l2", "Newton", outputs * width, y, n_classes, folds)
    fold = stratified_folds(y, folds, seed)
    problem = Folds(X, y, fold, folds, binary, n_classes, weights, offsets)
    losses = np.empty((folds, len(grid)))
    point = problem.at(torch.zeros((folds, outputs, width), dtype=torch.float64))
    optima = []
    for g, l2 in enumerate(grid):
        point = solve(problem, point, l2)  # warm: starts at the previous value's optima, logits and losses
        losses[:, g] = problem.validation(point).numpy()
        optima.append(point.V.mean(dim=0))
    return chosen("l2", grid, losses, optima)


def check_auto(parameter: str, solver: str, n_params: int, y: np.ndarray, n_classes: int, folds: int) -> None:
    """``parameter="auto"``'s refusals, for a path of ``solver`` steps: too many parameters, or a class with fewer
    rows than folds."""
    if n_params > MAX_NEWTON_PARAMS:
        raise OptionError(
            parameter,
            f"auto is for models of at most {MAX_NEWTON_PARAMS} parameters ({solver} steps along the path); this "
            f"one has {n_params}: give a value",
        )
    counts = np.bincount(y, minlength=n_classes)
    if counts.min() < folds:
        raise OptionError(
            parameter,
            f"auto needs at least {folds} rows of every class ({folds} folds); the smallest class has "
            f"{counts.min()}: give a value, or fewer ",
            Setting("folds"),
        )


def chosen(
    parameter: str, grid, losses: np.ndarray, optima: list[torch.Tensor], **columns: np.ndarray
) -> tuple[float, list[dict], torch.Tensor]:
    """(best value, path, start) from each fold's validation log-loss ``losses`` (folds, values) along ``grid``:
    the value of lowest mean, each value's mean, spread (standard deviation over folds) and losses, plus each of
    ``columns`` (folds, values) as its mean over folds; ``start``, the folds' mean parameters at the best value."""
    mean, spread = losses.mean(axis=0), losses.std(axis=0)
    best = int(np.argmin(mean))
    path = [
        {
            parameter: float(value),
            "mean": float(m),
            "std": float(s),
            "folds": [float(v) for v in losses[:, g]],
            **{name: float(column[:, g].mean()) for name, column in columns.items()},
        }
        for g, (value, m, s) in enumerate(zip(grid, mean, spread, strict=True))
    ]
    if not math.isfinite(mean[best]):
        raise OptionError(parameter, "auto: every value of the path gave a non-finite validation log-loss")
    return float(grid[best]), path, optima[best]
