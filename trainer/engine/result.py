"""What a fit returns, and the one function that assembles it from the solver's outcome, in memory or streamed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..data.dataset import Dataset
from ..stats.calibration import decide
from ..stats.coefficients import CoefficientTable
from .callbacks import TrainingState
from .model import LogisticModel


@dataclass
class FitResult:
    """What :func:`trainer.fit` and a streamed fit return.

    Attributes
    ----------
    model : LogisticModel, on the CPU, in eval mode
    metrics : dict with "train" and (when a validation split exists) "validation" blocks
    history : list of dict, one per epoch or solver iteration
    feature_names, class_names : list of str
    options : dict, the resolved options (optimizer, epochs, lr filled in)
    converged : bool, the solver met its convergence test (never for separated classes with l2=0)
    stop_reason : str, why training ended
    interrupted : bool, ended by Ctrl-C
    separated_classes : list of str, classes perfectly separated from the others (l2=0 only)
    train_indices, val_indices : ndarray of int, the rows of the input in each split
    dataset : Dataset, the data as trained on: ``X`` is the design matrix, ``encoding`` how raw columns become it
    coefficients : CoefficientTable of the training rows (see :mod:`trainer.stats.coefficients`), or None
    coefficients_absent : str, why there is no coefficient table ("" when there is one)
    data_summary : dict, a streamed fit's counts over all its rows (``dataset`` holds a sample), else None
    """

    model: LogisticModel
    metrics: dict
    history: list[dict]
    feature_names: list[str]
    class_names: list[str]
    options: dict
    converged: bool
    stop_reason: str
    interrupted: bool = False
    separated_classes: list[str] = field(default_factory=list)
    train_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    dataset: Dataset | None = None
    coefficients: CoefficientTable | None = None
    coefficients_absent: str = ""
    data_summary: dict | None = None

    def wald_test(self, hypotheses: str):
        """The Wald test of ``hypotheses`` on the coefficient table ("x1 = 0, x2 = x3"; see
        :mod:`trainer.stats.wald`), with the fit's covariance (``se``). Raises ``HypothesisError``."""
        from ..stats.wald import HypothesisError

        if self.coefficients is None:
            raise HypothesisError(f"this fit has no coefficient table ({self.coefficients_absent or 'none computed'})")
        return self.coefficients.wald_test(hypotheses)

    def export(self, path, **kwargs):
        """Export this model to the ONNX file ``path``, verified against it: :func:`logreg_onnx.exporter.export`
        (keyword arguments ``sample``, ``threshold``, ``opset``, ``ort``, ``c``). Returns its ``ExportResult``."""
        from logreg_onnx.exporter.api import export

        return export(self, path, **kwargs)


def fit_result(
    *,
    model: LogisticModel,
    metrics: dict,
    probabilities_of: Callable[[np.ndarray], np.ndarray],
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    dataset: Dataset,
    plan,
    state: TrainingState,
    outcome: dict,
    coefficients: CoefficientTable | None,
    coefficients_absent: str = "",
    separated: Sequence[str] = (),
    penalty_path: dict | None = None,
    data_summary: dict | None = None,
) -> FitResult:
    """The :class:`FitResult` of a finished fit: ``metrics`` (each split's block) completed by the threshold and
    calibration decision (:func:`trainer.stats.calibration.decide`, on ``dataset.y[rows]`` with the probabilities
    ``probabilities_of(rows)``) and the ``penalty_path`` of ``l2="auto"`` or ``l1="auto"`` (``{"l2": path}``,
    kept as the metrics' ``l2_path``, or ``{"l1": path}``, as ``l1_path``); the solver's ``outcome`` (see
    :func:`trainer.engine.training.optimize`) and ``state`` give the history, convergence and stop reason; classes
    ``separated`` (l2=0) mean no convergence. ``plan``: the :class:`~trainer.engine.plan.FitPlan` it ran."""
    decide(metrics, dataset.y, probabilities_of, train_rows, val_rows, plan.options)
    for name, path in (penalty_path or {}).items():
        metrics[f"{name}_path"] = path
    stop_reason = outcome["stop_reason"]
    if separated:
        stop_reason = f"stopped after {state.epoch} iterations where floating-point precision ends (separated classes)"
    return FitResult(
        model=model,
        metrics=metrics,
        history=state.history,
        feature_names=list(dataset.feature_names),
        class_names=list(dataset.class_names),
        options=plan.resolved(),
        converged=outcome["converged"] and not separated,
        stop_reason=stop_reason,
        interrupted=outcome["interrupted"],
        separated_classes=list(separated),
        train_indices=train_rows,
        val_indices=val_rows,
        dataset=dataset,
        coefficients=coefficients,
        coefficients_absent="" if coefficients is not None else coefficients_absent,
        data_summary=data_summary,
    )
