"""``--l1`` and ``--elastic-net``: the exact optimum of the mean log-loss plus ``l1 * ||W||_1`` (and the objective's own
``l2 / 2 * ||W||^2``, the elastic net's ridge part) by proximal Newton, for up to MAX_NEWTON_PARAMS parameters.

Why proximal Newton: the smooth part's gradient and Hessian are the Newton solver's (trainer/engine/newton.py), so
each outer step costs one float64 pass over the rows, as a Newton step does, and the steps converge as fast; only the
inner problem changes: ``min_d g'd + d'Hd/2 + l1 ||W + d||_1`` over the (params x params) quadratic model, solved by
cyclic coordinate descent with soft thresholding (the model is small: a sweep costs params^2, no pass over the rows).
A step-halving line search on the composite objective keeps each step a descent. Coefficients whose gradient stays
inside the penalty's subgradient are exactly 0, as coordinate descent on the rows (glmnet, glum) and saga find them;
the biases are not penalized.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..stats.hessian import MAX_INFORMATION_WORK, shift_ridge
from .newton import hessian
from .optim import Objective, penalty_diagonal, report_iterate

_GAP = 1e-13  # converged when the quadratic model predicts a decrease this small relative to the objective
_ARMIJO = 1e-4
_SWEEPS = 10_000
_SWEEP_TOLERANCE = 1e-15  # an inner sweep's largest change, relative to the largest step entry


def l1_norm(V: torch.Tensor) -> float:
    """``||W||_1`` of parameters ``V`` (out, width), the biases (last column) left out."""
    return float(V[:, :-1].abs().sum())


def run_proximal_newton(state, objective: Objective, V: torch.Tensor, callbacks, evaluate_validation, *, l1: float,
                        max_iterations: int):  # fmt: skip
    """Minimize ``objective(V) + l1 * ||W||_1`` from ``V``. Returns ``(V, converged, final)`` as
    :func:`trainer.engine.newton.run_newton` does, ``final`` the float64 ``(loss, grad, correct, logits, None)`` at
    the returned ``V``, the loss with the L1 term (what the history records), the gradient the smooth part's."""
    exact = objective.n_rows * float(V.numel()) ** 2 <= MAX_INFORMATION_WORK / 4
    penalized = torch.ones_like(V, dtype=torch.bool)
    penalized[:, -1] = False
    lam = (penalized.double() * l1).ravel().cpu().numpy()
    loss, grad, correct, logits = objective.loss_grad(V, float64=True, keep_logits=True, hessian=exact)
    value = loss + l1 * l1_norm(V)
    for _ in range(max_iterations):
        if state.epoch >= state.max_epochs or state.stop_training:
            return V, False, None
        H = objective.last_hessian / objective.total_weight if exact else hessian(objective, V)
        if exact:
            H = H + penalty_diagonal(*V.shape, objective.l2, V.device)
        if not objective.binary:  # the quadratic model strictly convex along the biases' common shift
            H = shift_ridge(H)
        step = (
            torch.from_numpy(
                coordinate_descent(H.cpu().numpy(), grad.ravel().cpu().numpy(), V.ravel().cpu().numpy(), lam)
            )
            .view_as(V)
            .to(V)
        )
        decrease = float(grad.ravel() @ step.ravel()) + l1 * (l1_norm(V + step) - l1_norm(V))  # <= 0
        if -decrease <= _GAP * max(abs(value), 1e-300):
            return V, True, (value, grad, correct, logits, None)
        t, accepted = 1.0, None
        for _ in range(50):
            candidate = V + t * step
            result = objective.loss_grad(candidate, float64=True, keep_logits=True, hessian=exact)
            candidate_value = result[0] + l1 * l1_norm(candidate)
            if math.isfinite(candidate_value) and candidate_value <= value + _ARMIJO * t * decrease:
                accepted = candidate, result, candidate_value
                break
            t /= 2
        if accepted is None:  # no lower objective representable along the step: the optimum at float64's precision
            return V, True, (value, grad, correct, logits, None)
        V, (loss, grad, correct, logits), value = accepted
        report_iterate(state, callbacks, objective, V, value, correct, evaluate_validation)
    return V, False, (value, grad, correct, logits, None)


def coordinate_descent(H: np.ndarray, g: np.ndarray, v: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """The step ``d`` minimizing ``g'd + d'Hd/2 + sum(lam * |v + d|)`` (``H`` positive definite on the parameters
    that move). Cyclic coordinate descent (each coordinate's minimum in closed form, soft thresholding) finds which
    coefficients are nonzero and their signs; on those the problem is a plain quadratic, solved exactly, and the
    solution is kept when it keeps the signs and every zero coefficient's optimality condition
    (``|g + Hd| <= lam``) holds. Coordinate descent alone converges slowly on correlated features."""
    n = len(g)
    d = np.zeros(n)
    Hd = np.zeros(n)
    diagonal = np.diag(H).copy()
    columns = [np.ascontiguousarray(H[:, j]) for j in range(n)]
    for sweep in range(_SWEEPS):
        largest_change, largest = 0.0, 0.0
        for j in range(n):
            a = diagonal[j]
            if a <= 0:
                continue
            current = v[j] + d[j]
            unpenalized = current - (g[j] + Hd[j]) / a
            threshold = lam[j] / a
            new = (
                unpenalized - threshold
                if unpenalized > threshold
                else unpenalized + threshold
                if unpenalized < -threshold
                else 0.0
            )
            change = new - current
            if change != 0.0:
                d[j] += change
                Hd += change * columns[j]
                largest_change = max(largest_change, abs(change))
            largest = max(largest, abs(d[j]))
        if largest_change <= _SWEEP_TOLERANCE * max(largest, 1e-300):
            return d
        if sweep % 5 == 4:
            exact = _on_the_active_set(H, g, v, lam, v + d)
            if exact is not None:
                return exact
    return d


def _on_the_active_set(H, g, v, lam, u) -> np.ndarray | None:
    """The exact minimizer if the nonzero coefficients of ``u = v + d`` and their signs are the optimum's: the
    quadratic's solution with the zero coefficients held at 0, or None when it breaks a sign or an optimality
    condition."""
    active = (u != 0) | (lam == 0)
    sign = np.sign(u) * (lam > 0)
    d = -v.copy()  # the zero coefficients' steps: to 0
    A = np.flatnonzero(active)
    d[A] = 0.0
    rhs = -(g[A] + lam[A] * sign[A] + H[np.ix_(A, np.flatnonzero(~active))] @ d[~active])
    try:
        d[A] = np.linalg.solve(H[np.ix_(A, A)], rhs)
    except np.linalg.LinAlgError:
        return None
    new = v + d
    penalized_active = A[lam[A] > 0]
    if (np.sign(new[penalized_active]) != sign[penalized_active]).any():
        return None
    residual = g + H @ d
    inactive = ~active
    if (np.abs(residual[inactive]) > lam[inactive] * (1 + 1e-12)).any():
        return None
    return d
