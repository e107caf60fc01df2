"""Newton's method for the exact optimum of a small model (up to MAX_NEWTON_PARAMS parameters): a handful of
iterations from zero, each costing about one pass over the data.

- The gradient is exact (every row, float32 arithmetic); the Hessian comes from at most HESSIAN_ROWS rows spread
  evenly through the data, which costs little and, logistic losses being smooth averages, differs from the full one
  by a fraction of a percent: the iteration still converges fast, and the line search keeps every step a descent.
- When float32 can no longer see the objective fall, one float64 pass (a chunk of rows at a time, no float64 copy)
  measures the Newton decrement exactly; if the optimum is not yet reached to float64 accuracy, float64 Newton steps
  finish the job. The same pass gives the logits the training metrics are computed from.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .optim import Objective, report_iterate

MAX_NEWTON_PARAMS = 1024  # beyond this the Hessian (params^2 memory, rows * params^2 work) costs more than L-BFGS
HESSIAN_ROWS = 65536
_ARMIJO = 1e-4
_FLOAT64_GAP = 1e-12  # relative gap to the optimum (half the squared Newton decrement) accepted as converged
_FLOAT32_GAP = 1e-10  # below this float32 sums cannot be trusted: hand over to float64
_FLOAT32_FLAT = 1e-7  # a relative decrease float32 cannot see


def hessian(objective: Objective, V: torch.Tensor, *, max_rows: int = HESSIAN_ROWS) -> torch.Tensor:
    """The objective's Hessian in float64, shape (params, params), parameters flattened row by row of ``V``,
    estimated from at most ``max_rows`` evenly spread rows (all of them when there are fewer)."""
    X, weights = _hessian_rows(objective, max_rows)
    logits = X @ V.to(torch.float32).T
    out, width = V.shape
    H = torch.zeros((out * width, out * width), dtype=torch.float64, device=V.device)
    if objective.binary:
        p = torch.sigmoid(logits[:, 0])
        curvature = [[p * (1 - p)]]
    else:
        P = torch.softmax(logits, dim=1)
        curvature = [[P[:, a] * ((1.0 if a == b else 0.0) - P[:, b]) for b in range(out)] for a in range(out)]
    total = float(weights.sum()) if weights is not None else float(len(X))
    for a in range(out):
        for b in range(a, out):
            s = curvature[a][b] if weights is None else curvature[a][b] * weights
            block = (X.T @ (s[:, None] * X)).double() / total
            H[a * width : (a + 1) * width, b * width : (b + 1) * width] = block
            if a != b:
                H[b * width : (b + 1) * width, a * width : (a + 1) * width] = block.T
    penalty = torch.full((out, width), objective.l2, dtype=torch.float64, device=V.device)
    penalty[:, -1] = 0.0
    return H + torch.diag(penalty.ravel())


def _hessian_rows(objective: Objective, max_rows: int):
    """The rows the Hessian is estimated from, with a constant column for the bias: chosen once, kept."""
    cached = objective.hessian_rows
    if cached is None:
        n = objective.n_rows
        rows = slice(None) if n <= max_rows else torch.linspace(0, n - 1, max_rows, device=objective.X.device).long()
        X = F.pad(objective.X[rows], (0, 1), value=1.0)
        weights = objective.weights[rows] if objective.weights is not None else None
        cached = objective.hessian_rows = (X, weights)
    return cached


def newton_step(H: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """The minimum-norm Newton direction ``-H^+ g``: a pseudo-inverse, since an unpenalized softmax model is
    over-parameterized (adding one vector to every class changes nothing) and its Hessian is singular."""
    eigenvalues, eigenvectors = torch.linalg.eigh(H)
    if eigenvalues[-1] <= 0:
        return torch.zeros_like(grad)
    keep = eigenvalues > eigenvalues[-1] * 1e-12
    coefficients = (eigenvectors[:, keep].T @ grad) / eigenvalues[keep]
    return -(eigenvectors[:, keep] @ coefficients)


def run_newton(state, objective: Objective, V: torch.Tensor, callbacks, evaluate_validation, *, max_iterations: int):
    """Damped Newton iterations from ``V``. Returns ``(V, converged, final)`` where ``final`` is the float64
    ``(loss, grad, correct, logits)`` at the returned ``V``, or None if training stopped early."""
    loss, grad, correct, _ = objective.loss_grad(V)
    for float64 in (False, True):
        if float64:
            loss, grad, correct, logits = objective.loss_grad(V, float64=True, keep_logits=True)
        for _ in range(max_iterations):
            if state.epoch >= state.max_epochs or state.stop_training:
                return V, False, None
            step = newton_step(hessian(objective, V), grad.ravel())
            slope = float(grad.ravel() @ step)  # = -(Newton decrement)^2: negative along a descent direction
            if -slope / 2 <= (_FLOAT64_GAP if float64 else _FLOAT32_GAP) * max(abs(loss), 1e-300):
                if float64:
                    return V, True, (loss, grad, correct, logits)
                break
            accepted = _line_search(objective, V, step.view_as(V), loss, slope, float64)
            if accepted is None:  # no lower objective representable along this direction at this precision
                if float64:
                    return V, True, (loss, grad, correct, logits)
                break
            previous = loss
            V, (loss, grad, correct, new_logits) = accepted
            if float64:
                logits = new_logits
            report_iterate(state, callbacks, objective, V, loss, correct, evaluate_validation)
            if not float64 and previous - loss <= _FLOAT32_FLAT * abs(loss):
                break  # float32 no longer sees progress: finish in float64
    return V, False, (loss, grad, correct, logits)


def _line_search(objective, V, step, loss, slope, float64):
    t = 1.0
    for _ in range(40):
        candidate = V + t * step
        result = objective.loss_grad(candidate, float64=float64, keep_logits=float64)
        if math.isfinite(result[0]) and result[0] <= loss + _ARMIJO * t * slope:
            return candidate, result
        t *= 0.5
    return None
