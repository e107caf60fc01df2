"""Newton's method in float64 for the last digits of the optimum, where L-BFGS crawls on ill-conditioned problems."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .callbacks import end_epoch
from .optim import Objective

# Parameters above which the Hessian (params^2 memory, rows * params^2 work) costs more than L-BFGS saves.
MAX_NEWTON_PARAMS = 1024
_ARMIJO = 1e-4


def newton_terms(objective: Objective, V: torch.Tensor, chunk_rows: int, *, hessian: bool):
    """Objective, gradient, Hessian (or None) and correct count at augmented weights ``V`` of shape (out, d + 1).

    Column ``d`` of ``V`` is the bias. Flattened parameters are ``V`` row by row. Everything is float64; the data
    are cast one chunk at a time.
    """
    out, width = V.shape
    n = len(objective.y)
    loss = torch.zeros((), dtype=torch.float64, device=V.device)
    grad = torch.zeros_like(V)
    H = torch.zeros((out * width, out * width), dtype=torch.float64, device=V.device) if hessian else None
    correct = 0
    for start in range(0, n, chunk_rows):
        rows = slice(start, min(start + chunk_rows, n))
        Xa = F.pad(objective.X[rows].double(), (0, 1), value=1.0)
        y = objective.y[rows]
        w = objective.weights[rows].double() if objective.weights is not None else None
        Z = Xa @ V.T
        loss += (objective.row_losses(Z, y) * w).sum() if w is not None else objective.row_losses(Z, y).sum()
        if objective.binary:
            p = torch.sigmoid(Z[:, 0])
            residual = (p - y.double())[:, None]
            curvature = p * (1 - p)
            correct += int(((Z[:, 0] > 0).long() == y).sum())
        else:
            P = torch.softmax(Z, dim=1)
            residual = P - F.one_hot(y, out).double()
            correct += int((Z.argmax(dim=1) == y).sum())
        if w is not None:
            residual = residual * w[:, None]
        grad += residual.T @ Xa
        if hessian:
            if objective.binary:
                s = curvature * w if w is not None else curvature
                H += Xa.T @ (s[:, None] * Xa)
            else:
                for a in range(out):
                    for b in range(a, out):
                        s = P[:, a] * ((1.0 if a == b else 0.0) - P[:, b])
                        if w is not None:
                            s = s * w
                        block = Xa.T @ (s[:, None] * Xa)
                        H[a * width : (a + 1) * width, b * width : (b + 1) * width] += block
                        if a != b:
                            H[b * width : (b + 1) * width, a * width : (a + 1) * width] += block.T
    total = objective.total_weight
    loss, grad = loss / total, grad / total
    weights_only = V[:, :-1]
    loss = loss + 0.5 * objective.l2 * (weights_only**2).sum()
    grad[:, :-1] += objective.l2 * weights_only
    if hessian:
        H /= total
        penalty_diagonal = torch.full((out, width), objective.l2, dtype=torch.float64, device=V.device)
        penalty_diagonal[:, -1] = 0.0
        H += torch.diag(penalty_diagonal.ravel())
    return float(loss), grad.ravel(), H, correct


def newton_step(H: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """The minimum-norm Newton direction ``-H^+ g``: a pseudo-inverse, since an unpenalized softmax model is
    over-parameterized (adding one vector to every class changes nothing) and its Hessian is singular."""
    eigenvalues, eigenvectors = torch.linalg.eigh(H)
    if eigenvalues[-1] <= 0:
        return torch.zeros_like(grad)
    keep = eigenvalues > eigenvalues[-1] * 1e-12
    coefficients = (eigenvectors[:, keep].T @ grad) / eigenvalues[keep]
    return -(eigenvectors[:, keep] @ coefficients)


def run_newton(
    state,
    objective: Objective,
    linear: torch.nn.Linear,
    callbacks,
    evaluate_validation,
    *,
    chunk_rows: int,
    max_iterations: int,
    on_update,
) -> bool:
    """Damped Newton iterations from ``linear``'s current weights; returns whether it converged.

    Stops when the Newton decrement says the objective is within 1e-13 (relative) of its minimum, or when float64
    cannot find a lower objective along the Newton direction.
    """
    V = torch.cat([linear.weight.detach(), linear.bias.detach()[:, None]], dim=1).double()
    loss, grad, H, correct = newton_terms(objective, V, chunk_rows, hessian=True)
    for _ in range(max_iterations):
        if state.epoch >= state.max_epochs or state.stop_training:
            return False
        step = newton_step(H, grad)
        slope = float(grad @ step)  # = -(Newton decrement)^2, negative along a descent direction
        if -slope / 2 <= 1e-13 * max(abs(loss), 1e-300):
            return True
        t, accepted = 1.0, False
        for _ in range(40):
            candidate = V + t * step.view_as(V)
            candidate_loss = newton_terms(objective, candidate, chunk_rows, hessian=False)[0]
            if math.isfinite(candidate_loss) and candidate_loss <= loss + _ARMIJO * t * slope:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            return True  # no lower objective is representable along this direction: float64's limit
        V = candidate
        on_update(V)
        loss, grad, H, correct = newton_terms(objective, V, chunk_rows, hessian=True)
        end_epoch(
            state, callbacks, train_loss=loss, train_accuracy=correct / len(objective.y), validation=evaluate_validation
        )
    return False
