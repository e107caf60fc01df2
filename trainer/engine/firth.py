"""``penalty="firth"``: the fit loop's side of Firth's penalized likelihood (:mod:`trainer.stats.firth` holds the
likelihood, its maximization and the profile intervals): the options it allows, and the solver the fit runs on the
standardized training rows, in float64, with the hooks called once per step."""

from __future__ import annotations

import torch

from ..errors import OptionError
from ..stats.firth import FirthError, FirthLikelihood
from .callbacks import end_epoch


def check_firth_classes(n_classes: int) -> None:
    """OptionError unless the labels have two classes (the other combinations are refused by FitOptions)."""
    if n_classes != 2:
        raise OptionError(
            "penalty",
            f"firth is implemented for binary models (two classes); these labels have {n_classes}: use the l2 penalty",
        )


def run_firth(state, objective, V: torch.Tensor, callbacks, evaluate_validation, *, max_iterations: int):
    """Maximize the penalized likelihood from ``V`` (shape (1, width)) on ``objective``'s standardized rows and
    frequency weights. Returns ``(V, converged, final)`` as :func:`trainer.engine.newton.run_newton` does: ``final``
    is ``(loss, grad, correct, logits, information)``, the loss the negative penalized log-likelihood per unit of
    weight (what the history records), the information the unpenalized Fisher information at the optimum."""
    X = objective.X.double()
    Z = torch.cat([X, torch.ones((len(X), 1), dtype=torch.float64, device=X.device)], dim=1).cpu().numpy()
    weights = None if objective.weights is None else objective.weights.double().cpu().numpy()
    likelihood = FirthLikelihood(Z, objective.y.cpu().numpy(), weights)
    total = objective.total_weight

    def correct(point) -> int:
        return int((((Z @ point.beta) > 0) == (likelihood.y > 0.5)).sum())

    def on_step(point) -> None:
        if state.epoch >= state.max_epochs or state.stop_training:
            raise _Stopped(point)
        end_epoch(
            state,
            callbacks,
            train_loss=-point.value / total,
            train_accuracy=correct(point) / objective.n_rows,
            validation=lambda: evaluate_validation(torch.from_numpy(point.beta)[None, :].to(V)),
        )

    try:
        point, converged = likelihood.maximize(V[0].cpu().numpy(), max_iterations=max_iterations, on_step=on_step)
    except FirthError as error:
        raise OptionError("penalty", f"firth: {error}; drop one of the collinear columns") from None
    except _Stopped as stopped:
        return torch.from_numpy(stopped.point.beta)[None, :].to(V), False, None
    beta = torch.from_numpy(point.beta)[None, :].to(V)
    logits = torch.from_numpy(Z @ point.beta)[:, None]
    grad = -torch.from_numpy(point.score)[None, :] / total
    information = torch.from_numpy(point.information)
    return beta, converged, (-point.value / total, grad, correct(point), logits, information)


class _Stopped(Exception):
    """The hooks asked to stop (the iteration cap, or early stopping): the fit ends at ``point``."""

    def __init__(self, point):
        super().__init__("stopped")
        self.point = point
