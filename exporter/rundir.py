"""Reading a training run directory (model.pt + metrics.json) for export and verification.

metrics.json is read as :class:`trainer.rundir.schema.RunRecord`, the type its writer writes: the options the run
was trained with come back as the trainer's own option classes, with their declared defaults for older runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from logreg_onnx.trainer.engine.model import COVARIANCE_KEY, LogisticModel, load_model
from logreg_onnx.trainer.errors import ModelFileError, TrainerError
from logreg_onnx.trainer.rundir.schema import METRICS_FILE, MODEL_FILE, RunRecord

from .errors import RunDirError

WHAT_A_RUN_IS = f"the folder that logreg train writes, holding {MODEL_FILE} and {METRICS_FILE}"


@dataclass(frozen=True)
class Run:
    """A trained run, as the exporter needs it. ``metrics``: metrics.json as written; ``record``: the same, typed."""

    path: Path
    model: LogisticModel
    feature_names: list[str]
    class_names: list[str]
    metrics: dict
    record: RunRecord
    model_sha256: str
    covariance: np.ndarray | None = None  # the fit's, when its coefficient table is classical (see CoefficientTable)

    @property
    def threshold(self) -> float:
        """A binary model's decision threshold, as training picked it (``threshold``)."""
        return self.record.threshold

    @property
    def na_values(self) -> list[str]:
        """The cell texts that meant a missing value in training."""
        return list(self.record.options.fit.na_values)

    def data_rows(self, limit: int = 20_000):
        """The training data's raw rows (a :class:`trainer.data.table.Table`), when the file the run was trained on
        is still there unchanged, read as training read it.

        ``None`` otherwise (moved, edited, or an in-memory fit): verification then says it could not use them.
        """
        data = self.record.data
        if not data.path or not data.sha256 or not Path(data.path).is_file():
            return None
        from dataclasses import replace

        from logreg_onnx.trainer.data.dataset import file_sha256, load_dataset

        if file_sha256(data.path) != data.sha256:
            return None
        fit = self.record.options.fit
        encoding = self.model.encoding
        names = encoding.names if encoding is not None else self.feature_names
        try:
            read = replace(self.record.read_options(), label=data.label, features=tuple(names), drop=())
            dataset = load_dataset(
                data.path,
                read,
                missing=fit.missing,
                na_values=fit.na_values,
                categorical=tuple(c.name for c in encoding.categorical) if encoding is not None else (),
            )
        except TrainerError:
            return None
        table = dataset.table
        numeric = [c.name for c in encoding.numeric] if encoding is not None else list(self.feature_names)
        if table is None or table.numeric_names != numeric:
            return None
        return table.take(np.arange(min(limit, len(table))))


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Load ``run_dir``; raise :class:`RunDirError` naming what is missing or wrong."""
    path = Path(run_dir)
    if path.is_file():
        raise RunDirError(_not_a_folder(path))
    if not path.is_dir():
        raise RunDirError(f"{path}: no such run directory ({WHAT_A_RUN_IS})")
    missing = [name for name in (MODEL_FILE, METRICS_FILE) if not (path / name).is_file()]
    if missing:
        raise RunDirError(f"{path}: incomplete run directory, {' and '.join(missing)} missing; train again")
    try:
        model, payload = load_model(path / MODEL_FILE)
    except ModelFileError as exc:
        raise RunDirError(*exc.args) from None  # its words, Setting parts included
    try:
        metrics = json.loads((path / METRICS_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path / METRICS_FILE}: not readable JSON ({exc})") from None
    if not isinstance(metrics, dict):
        raise RunDirError(f"{path / METRICS_FILE}: expected a JSON object, got {type(metrics).__name__}; train again")
    try:
        record = RunRecord.from_json(metrics)
    except TrainerError as exc:
        raise RunDirError(f"{path / METRICS_FILE}: the options it records are not valid ({exc}); train again") from None
    model_sha256 = hashlib.sha256((path / MODEL_FILE).read_bytes()).hexdigest()
    if record.model_sha256 not in (None, model_sha256):
        raise RunDirError(f"{path}: metrics.json belongs to another model.pt (hash mismatch); train again")
    feature_names, class_names = list(payload["feature_names"]), list(payload["class_names"])
    covariance = (payload.get("extra") or {}).get(COVARIANCE_KEY)
    covariance = covariance.numpy() if isinstance(covariance, torch.Tensor) else None
    return Run(path, model, feature_names, class_names, metrics, record, model_sha256, covariance)


def _not_a_folder(path: Path) -> str:
    """What to say for a file given where a run directory belongs (``logreg export model.pt``)."""
    message = f"{path}: a file, not a run directory ({WHAT_A_RUN_IS})"
    if path.name in (MODEL_FILE, METRICS_FILE) and (path.parent / MODEL_FILE).is_file():
        return f"{message}; give its folder: {path.parent}"
    return message
