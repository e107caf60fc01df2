"""``logreg test RUN "x1 = 0, x2 = x3"``: a run's coefficient table (metrics.json) and its estimates' covariance
(model.pt, which metrics.json names by hash), for :func:`trainer.stats.wald.wald_test`."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from ..engine.model import TABLE_COVARIANCE_KEY, load_model
from ..stats.wald import HypothesisError, WaldTest, wald_test
from .schema import METRICS_FILE, MODEL_FILE


def test_run(run_dir: str | os.PathLike[str], hypotheses: str) -> WaldTest:
    """The Wald test of ``hypotheses`` on the run in ``run_dir``. Raises :class:`HypothesisError` (a bad hypothesis,
    a table without standard errors, a run written before Wald tests) or ``ModelFileError``."""
    path = Path(run_dir)
    model_path, metrics_path = path / MODEL_FILE, path / METRICS_FILE
    if not model_path.is_file() or not metrics_path.is_file():
        raise HypothesisError(f"{path}: not a complete run directory (model.pt and metrics.json); train first")
    _, payload = load_model(model_path)
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, ValueError) as exc:
        raise HypothesisError(f"{metrics_path}: not readable JSON ({exc}); train again") from None
    if metrics.get("model_sha256") not in (None, hashlib.sha256(model_path.read_bytes()).hexdigest()):
        raise HypothesisError(f"{path}: metrics.json belongs to another model.pt (hash mismatch); train again")
    table = metrics.get("coefficients")
    if not table:
        raise HypothesisError(f"{path}: the run has no coefficient table; train with --l2 0 for standard errors")
    covariance = (payload.get("extra") or {}).get(TABLE_COVARIANCE_KEY)
    if table.get("classical") and not isinstance(covariance, torch.Tensor):
        raise HypothesisError(f"{path}: the run was written before Wald tests kept its covariance; train it again")
    matrix = covariance.double().numpy() if isinstance(covariance, torch.Tensor) else None
    if matrix is not None and matrix.shape != (len(table["rows"]),) * 2:
        raise HypothesisError(f"{path}: model.pt's covariance does not fit its table ({matrix.shape}); train again")
    return wald_test(table, matrix, hypotheses)
