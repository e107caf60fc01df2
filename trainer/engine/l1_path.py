"""``--l1 auto``: the L1 strength chosen by stratified k-fold cross-validated log-loss over a path of values, from the
smallest that makes every weight 0 (``alpha_max``) down to a thousandth of it, each fold's fit starting where the
previous value's ended, as ``--l2 auto`` does (trainer/engine/penalty.py: the same folds, the same evaluation of every
fold in one product over the rows). Each fit is proximal Newton (trainer/engine/proximal.py's coordinate descent on
the quadratic model) with the folds' sampled Hessians. glum's ``GeneralizedLinearRegressorCV`` and scikit-learn's
``LogisticRegressionCV(penalty="l1", solver="saga")`` on the same standardized rows, folds and grid choose the same
value (tests/trainer/test_l1_auto.py)."""

from __future__ import annotations

import math

import numpy as np
import torch

from .penalty import Folds, Point, check_auto, chosen, stratified_folds
from .proximal import coordinate_descent

N_VALUES = 20
SMALLEST = 1e-3  # the path's last value, relative to alpha_max
_TOLERANCE = 1e-7  # the quadratic model's predicted decrease, relative to the objective: below the folds' noise
_ARMIJO = 1e-4


def l1_grid(
    X: torch.Tensor,
    y: np.ndarray,
    *,
    binary: bool,
    n_classes: int,
    share: float,
    weights: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
) -> np.ndarray:
    """The path: ``alpha_max`` (every weight 0 at the optimum: the largest |gradient| of the (weighted) mean log-loss
    in a weight at the intercepts-only optimum, over the L1 ``share``) down to ``SMALLEST * alpha_max``, N_VALUES
    log-spaced."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    targets = np.eye(n_classes)[y]
    if offsets is None:
        p = np.broadcast_to((w @ targets) / w.sum(), targets.shape)  # the intercepts-only model's probabilities
    else:  # binary: the intercept that, with the offsets, makes the weighted mean probability the observed one
        p1 = _intercept_only(y, np.asarray(offsets, dtype=np.float64), w)
        p = np.stack([1.0 - p1, p1], axis=1)
    residual = torch.from_numpy(((p - targets)[:, 1:] if binary else p - targets) * w[:, None])
    gradient = (residual.T @ X.double()) / w.sum()  # (outputs, features)
    alpha_max = float(gradient.abs().max()) / share
    return alpha_max * np.logspace(0.0, math.log10(SMALLEST), N_VALUES)


def _intercept_only(y: np.ndarray, offsets: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Each row's probability under the binary intercept-only model with ``offsets`` (Newton in the intercept)."""
    target = (y == 1).astype(np.float64)
    b = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(b + offsets)))
        step = float(w @ (target - p)) / max(float(w @ (p * (1.0 - p))), 1e-300)
        b += step
        if abs(step) < 1e-12:
            break
    return 1.0 / (1.0 + np.exp(-(b + offsets)))


def solve(folds: Folds, point: Point, l1: float, l2: float, max_iterations: int = 100) -> Point:
    """Proximal Newton from ``point``, every fold at once, each with its own step length and stop: the optima of
    each fold's mean log-loss plus ``l2 / 2 ||W||^2 + l1 ||W||_1`` (the biases unpenalized)."""
    k, out, width = point.V.shape
    lam = np.zeros((out, width))
    lam[:, :-1] = l1
    lam = lam.ravel()

    def composite(p: Point) -> torch.Tensor:
        return folds.objective(p, l2) + l1 * p.V[:, :, :-1].abs().sum(dim=(1, 2))

    value = composite(point)
    active = torch.ones(k, dtype=torch.bool)
    for _ in range(max_iterations):
        V = point.V
        H = folds.hessians(V, l2).numpy()
        grad = folds.grad(point, l2)
        step = torch.zeros_like(V)
        for f in np.flatnonzero(active.numpy()).tolist():
            d = coordinate_descent(H[f], grad[f].ravel().numpy(), V[f].ravel().numpy(), lam)
            step[f] = torch.from_numpy(d).view(out, width)
        norm = V[:, :, :-1].abs().sum(dim=(1, 2))
        decrease = (grad * step).sum(dim=(1, 2)) + l1 * ((V + step)[:, :, :-1].abs().sum(dim=(1, 2)) - norm)
        active &= -decrease > _TOLERANCE * value.abs().clamp_min(1e-300)
        if not active.any():
            break
        t = torch.where(active, 1.0, 0.0).double()  # converged folds stay where they are
        for _ in range(40):  # Armijo backtracking on the composite objective, per fold
            candidate = folds.at(V + t[:, None, None] * step)
            candidate_value = composite(candidate)
            ok = torch.isfinite(candidate_value) & (candidate_value <= value + _ARMIJO * t * decrease)
            if bool(ok.all()):
                break
            t = torch.where(ok, t, t / 2)
        else:
            active &= ok  # no acceptable step for a fold: it stops where it is
            t = torch.where(ok, t, 0.0)
            candidate = folds.at(V + t[:, None, None] * step)
            candidate_value = composite(candidate)
        point, value = candidate, candidate_value
    return point


def cross_validate(
    X: torch.Tensor,
    y: np.ndarray,
    *,
    binary: bool,
    n_classes: int,
    folds: int,
    seed: int,
    share: float = 1.0,
    grid: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
) -> tuple[float, list[dict], torch.Tensor]:
    """(best l1, path, start) as :func:`trainer.engine.penalty.cross_validate` gives them for l2, over ``grid``
    (default :func:`l1_grid`): the L1 strength ``l1`` of the penalty ``l1 * (share ||W||_1 + (1 - share) / 2
    ||W||^2)``. ``X``: standardized float32 training rows; ``weights``, ``offsets``: as :class:`Folds` takes them."""
    width = X.shape[1] + 1
    outputs = 1 if binary else n_classes
    check_auto("l1", "proximal Newton", outputs * width, y, n_classes, folds)
    if grid is None:
        grid = l1_grid(X, y, binary=binary, n_classes=n_classes, share=share, weights=weights, offsets=offsets)
    grid = np.asarray(grid)
    fold = stratified_folds(y, folds, seed)
    problem = Folds(X, y, fold, folds, binary, n_classes, weights, offsets)
    losses = np.empty((folds, len(grid)))
    zeros = np.empty((folds, len(grid)), dtype=np.int64)
    point = problem.at(torch.zeros((folds, outputs, width), dtype=torch.float64))
    optima = []
    for g, strength in enumerate(grid):
        l1, l2 = float(strength) * share, float(strength) * (1.0 - share)
        point = solve(problem, point, l1, l2)  # warm: starts at the previous value's optima
        losses[:, g] = problem.validation(point).numpy()
        zeros[:, g] = (point.V[:, :, :-1] == 0).sum(dim=(1, 2)).numpy()
        optima.append(point.V.mean(dim=0))
    return chosen("l1", grid, losses, optima, zero_weights=zeros)
