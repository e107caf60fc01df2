"""Newton's method for the exact optimum of a small model (up to MAX_NEWTON_PARAMS parameters): a handful of
iterations, each costing about one pass over the data.

- A large data set starts from the optimum of HESSIAN_ROWS rows spread evenly through it (a few cheap iterations):
  that start is within the sampling noise of the optimum, so the full passes that follow are few.
- The gradient is exact (every row, float32 arithmetic); the Hessian comes from at most HESSIAN_ROWS rows spread
  evenly through the data, which costs little and, logistic losses being smooth averages, differs from the full one
  by a fraction of a percent: the iteration still converges fast, and the line search keeps every step a descent.
- When float32 can no longer see the objective fall, a float64 pass (a chunk of rows at a time, no float64 copy)
  measures the Newton decrement exactly, with the Hessian of every row (float32 blocks summed in float64); Newton
  steps with that Hessian finish the job. The last pass gives the logits the training metrics are computed from, and
  its Hessian is the coefficient table's observed information: at the optimum they are the same matrix (up to the
  penalty), so the table needs no pass of its own.
"""

from __future__ import annotations

import math

import torch

from ..stats.hessian import MAX_INFORMATION_WORK, hessian_sum
from .optim import Objective, penalty_diagonal, report_iterate

MAX_NEWTON_PARAMS = 1024  # beyond this the Hessian (params^2 memory, rows * params^2 work) costs more than L-BFGS
HESSIAN_ROWS = 65536
_ARMIJO = 1e-4
_FLOAT64_GAP = 1e-12  # relative gap to the optimum (half the squared Newton decrement) accepted as converged
_FLOAT32_GAP = 1e-10  # below this float32 sums cannot be trusted: hand over to float64
# with every row's Hessian in float64 the exact Newton steps converge quadratically: hand over sooner
_FLOAT32_GAP_EXACT = 1e-8
_FLOAT32_FLAT = 1e-7  # a relative decrease float32 cannot see
_SAMPLE_GAP = 1e-7  # the sample's optimum to this relative gap: far below its distance to the full optimum
_SAMPLE_ITERATIONS = 30


def hessian(objective: Objective, V: torch.Tensor, *, max_rows: int = HESSIAN_ROWS) -> torch.Tensor:
    """The objective's Hessian in float64, shape (params, params), parameters flattened row by row of ``V``,
    estimated from at most ``max_rows`` evenly spread rows (all of them when there are fewer)."""
    X, weights, rows = _hessian_rows(objective, max_rows)
    out, width = V.shape
    offsets = None if objective.offsets is None else objective.offsets[rows]
    return hessian_of_rows(objective, X, weights, V, offsets) + penalty_diagonal(out, width, objective.l2, V.device)


def hessian_of_rows(objective: Objective, X: torch.Tensor, weights, V: torch.Tensor, offsets=None) -> torch.Tensor:
    """The mean log-loss's Hessian (no penalty) on rows ``X`` (float32, standardized) with row ``weights`` (and a
    binary model's ``offsets`` on the logit)."""
    logits = torch.addmm(V[:, -1].to(X.dtype), X, V[:, :-1].to(X.dtype).T)
    if offsets is not None:
        logits = logits + offsets.to(X.dtype)[:, None]
    P = torch.sigmoid(logits) if objective.binary else torch.softmax(logits, dim=1)
    total = float(weights.sum()) if weights is not None else float(len(X))
    return hessian_sum(X, P, weights) / total


def _hessian_rows(objective: Objective, max_rows: int):
    """The rows the Hessian is estimated from: chosen once, kept."""
    cached = objective.hessian_rows
    if cached is None:
        n = objective.n_rows
        rows = slice(None) if n <= max_rows else torch.linspace(0, n - 1, max_rows, device=objective.X.device).long()
        X = objective.X[rows]
        weights = objective.weights[rows] if objective.weights is not None else None
        cached = objective.hessian_rows = (X, weights, rows)
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


def _centred(step: torch.Tensor, objective: Objective) -> torch.Tensor:
    """A softmax model's step without its mean over the classes where that mean is a null direction of the
    objective (the biases; the weights too without a penalty): adding one vector to every class changes no
    probability, so there the Hessian is zero up to its float32 rounding, which the pseudo-inverse would otherwise
    amplify into a large common shift (harmless to the probabilities, ruinous to float32 weights)."""
    if objective.binary:
        return step
    free = slice(None) if objective.l2 == 0 else slice(-1, None)
    step = step.clone()
    step[:, free] -= step[:, free].mean(dim=0, keepdim=True)
    return step


def run_newton(state, objective: Objective, V: torch.Tensor, callbacks, evaluate_validation, *, max_iterations: int):
    """Damped Newton iterations from ``V``. Returns ``(V, converged, final)`` where ``final`` is the float64
    ``(loss, grad, correct, logits, information)`` at the returned ``V``, or None if training stopped early;
    ``information`` is the sum over every row of the log-loss's Hessian there (weighted, no penalty; see
    :func:`trainer.stats.hessian.hessian_sum`), or None when that costs more than ``MAX_INFORMATION_WORK``."""
    V, (loss, grad, correct, _) = _start(objective, V)
    exact = objective.n_rows * float(V.numel()) ** 2 <= MAX_INFORMATION_WORK
    logits = information = None
    for float64 in (False, True):
        if float64:
            loss, grad, correct, logits = objective.loss_grad(V, float64=True, keep_logits=True, hessian=exact)
            information = objective.last_hessian
        for _ in range(max_iterations):
            if state.epoch >= state.max_epochs or state.stop_training:
                return V, False, None
            if float64 and information is not None:  # every row's Hessian, from the pass that gave the gradient
                H = information / objective.total_weight + penalty_diagonal(*V.shape, objective.l2, V.device)
            else:
                H = hessian(objective, V)
            step = _centred(newton_step(H, grad.ravel()).view_as(V), objective).ravel()
            slope = float(grad.ravel() @ step)  # = -(Newton decrement)^2: negative along a descent direction
            gap = _FLOAT64_GAP if float64 else _FLOAT32_GAP_EXACT if exact else _FLOAT32_GAP
            if -slope / 2 <= gap * max(abs(loss), 1e-300):
                if float64:
                    return V, True, (loss, grad, correct, logits, information)
                break
            accepted = _line_search(objective, V, step.view_as(V), loss, slope, float64, exact)
            if accepted is None:  # no lower objective representable along this direction at this precision
                if float64:
                    return V, True, (loss, grad, correct, logits, information)
                break
            previous = loss
            V, (loss, grad, correct, new_logits) = accepted
            if float64:  # the information at the new point: the table's standard errors are those of the optimum
                logits, information = new_logits, objective.last_hessian
            report_iterate(state, callbacks, objective, V, loss, correct, evaluate_validation)
            if not float64 and previous - loss <= _FLOAT32_FLAT * abs(loss):
                break  # float32 no longer sees progress: finish in float64
    return V, False, (loss, grad, correct, logits, information)


def _start(objective: Objective, V: torch.Tensor):
    """``(start, objective.loss_grad(start))``. For many rows and a start at zero, the start is the optimum on the
    evenly spread Hessian rows, found with their exact Hessian (a sixteenth of a pass or less an iteration), kept
    only if the full objective is lower there than at zero (a sample can be separable when the data are not)."""
    if objective.n_rows < 4 * HESSIAN_ROWS or bool(V.any()):
        return V, objective.loss_grad(V)
    X, weights, rows = _hessian_rows(objective, HESSIAN_ROWS)
    offsets = None if objective.offsets is None else objective.offsets[rows]
    sample = Objective(X, objective.y[rows], weights, binary=objective.binary, l2=objective.l2, offsets=offsets)
    loss, grad, _, _ = sample.loss_grad(V)
    start = V
    for _ in range(_SAMPLE_ITERATIONS):
        H = hessian_of_rows(sample, X, weights, start, offsets) + penalty_diagonal(*V.shape, sample.l2, V.device)
        step = _centred(newton_step(H, grad.ravel()).view_as(V), sample).ravel()
        slope = float(grad.ravel() @ step)
        if -slope / 2 <= _SAMPLE_GAP * max(abs(loss), 1e-300):
            break
        accepted = _line_search(sample, start, step.view_as(V), loss, slope, False, False)
        if accepted is None:
            break
        start, (loss, grad, _, _) = accepted
    first = objective.loss_grad(start)
    # at zero every class is equally likely: the (weighted) mean loss is log(classes), and the penalty 0 (with
    # offsets the loss at zero is measured)
    at_zero = objective.loss_grad(V) if objective.offsets is not None else None
    zero_loss = at_zero[0] if at_zero is not None else math.log(2 if objective.binary else V.shape[0])
    if math.isfinite(first[0]) and first[0] < zero_loss:
        return start, first
    return V, at_zero if at_zero is not None else objective.loss_grad(V)


def _line_search(objective, V, step, loss, slope, float64, hessian):
    t = 1.0
    for _ in range(40):
        candidate = V + t * step
        result = objective.loss_grad(candidate, float64=float64, keep_logits=float64, hessian=float64 and hessian)
        if math.isfinite(result[0]) and result[0] <= loss + _ARMIJO * t * slope:
            return candidate, result
        t *= 0.5
    return None
