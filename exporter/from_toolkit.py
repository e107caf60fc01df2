"""The toolkit's own models as export sources: a run directory, a :class:`~trainer.engine.result.FitResult`, a fitted
:class:`~trainer.estimator.LogisticRegressionClassifier`. Their reference is the PyTorch model itself."""

from __future__ import annotations

import numpy as np
from logreg_onnx.trainer.data.columns import Encoding
from logreg_onnx.trainer.engine.result import FitResult
from logreg_onnx.trainer.options import FitOptions
from logreg_onnx.trainer.rundir.schema import threshold_of

from .errors import ExportOptionError
from .rundir import Run
from .source import Source, sample_table, torch_expected

TRAINING_MEANS = "the training means of the design (the model's standardization)"
SAMPLE_ROWS = 20_000  # of the training rows, the probes a FitResult's export verifies on besides the synthetic ones


def source_of_run(run: Run, *, threshold: float | None = None) -> Source:
    """A run directory: its model.pt, metrics.json and (when still there unchanged) its training rows; its
    threshold, or ``threshold``."""
    model = run.model
    chosen = run.threshold if threshold is None else float(threshold)
    if model.encoding is None:
        model.encoding = Encoding.numeric_only(run.feature_names)
    return Source(
        model=model,
        class_names=run.class_names,
        expected=torch_expected(model, chosen),
        origin=f"the run {run.path}",
        threshold=chosen,
        metrics=run.metrics,
        na_values=run.na_values,
        sample=run.data_rows(),
        facts={"run": str(run.path), "model_pt_sha256": run.model_sha256},
        model_sha256=run.model_sha256,
        baseline=model.mean.detach().double().numpy(),
        baseline_note=TRAINING_MEANS,
        covariance=run.covariance,
        intervals_note=_why_no_intervals(run.metrics.get("coefficients"), run.covariance),
    )


def source_of_fit(result: FitResult, *, sample: object = None, threshold: float | None = None) -> Source:
    """What :func:`trainer.fit` returned, verified on its own training rows (the first :data:`SAMPLE_ROWS`) and on
    ``sample`` when given."""
    model = result.model
    encoding = model.encoding or Encoding.numeric_only(result.feature_names)
    model.encoding = encoding
    na_values = list(result.options.get("na_values") or FitOptions().na_values)
    metrics = {k: v for k, v in result.metrics.items() if k in ("train", "validation", "threshold")}
    if result.coefficients is not None:
        metrics["coefficients"] = result.coefficients.to_json()
    chosen = threshold if threshold is not None else threshold_of(result.metrics)
    covariance = result.coefficients.covariance if result.coefficients is not None else None
    rows = sample_table(encoding, sample, na_values)
    if rows is None and result.dataset is not None and result.dataset.table is not None:
        table = result.dataset.table
        rows = table.take(np.arange(min(SAMPLE_ROWS, len(table))))
    return Source(
        model=model,
        class_names=list(result.class_names),
        expected=torch_expected(model, chosen),
        origin="a logreg-onnx FitResult",
        threshold=chosen,
        metrics=metrics,
        na_values=na_values,
        sample=rows,
        facts={"source": "logreg_onnx.trainer.FitResult"},
        baseline=model.mean.detach().double().numpy(),
        baseline_note=TRAINING_MEANS,
        covariance=covariance,
        intervals_note=_why_no_intervals(metrics.get("coefficients"), covariance, result.coefficients_absent),
    )


def source_of_estimator(estimator, *, sample: object = None, threshold: float | None = None) -> Source:
    """A fitted :class:`~trainer.estimator.LogisticRegressionClassifier` (its ``result_``)."""
    if not hasattr(estimator, "result_"):
        raise ExportOptionError("model", f"this {type(estimator).__name__} is not fitted yet; call fit(X, y) first")
    source = source_of_fit(estimator.result_, sample=sample, threshold=threshold)
    source.origin = f"a fitted {type(estimator).__name__}"
    source.facts = {"source": "logreg_onnx.trainer.LogisticRegressionClassifier"}
    return source


def _why_no_intervals(table: dict | None, covariance, absent: str = "") -> str:
    """Why a toolkit model has no interval outputs ("" when it has them)."""
    if covariance is not None:
        return ""
    if table is None:
        return absent or "the fit has no coefficient table, so no covariance"
    if not table.get("classical"):
        return table.get("note") or "the coefficient table has no classical standard errors"
    if any("not finite" in note for note in table.get("notes") or ()):
        return "some of the fit's standard errors are not finite (separated classes, or a term without variation)"
    return "the run's model.pt holds no covariance (trained before logreg-onnx kept it); train again for intervals"
