"""Reading a training run directory (model.pt + metrics.json) for export and verification."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from logreg_onnx.trainer.engine.model import LogisticModel, load_model
from logreg_onnx.trainer.errors import ModelFileError
from logreg_onnx.trainer.rundir.run import METRICS_FILE, MODEL_FILE

from .errors import RunDirError


@dataclass(frozen=True)
class Run:
    """A trained run, as the exporter needs it."""

    path: Path
    model: LogisticModel
    feature_names: list[str]
    class_names: list[str]
    metrics: dict
    model_sha256: str

    @property
    def threshold(self) -> float:
        """A binary model's decision threshold, as training picked it (``--threshold``); 0.5 for older runs."""
        return float((self.metrics.get("threshold") or {}).get("value", 0.5))

    def data_rows(self, limit: int = 20_000):
        """The training data's raw rows (a :class:`trainer.columns.Table`), when the file the run was trained on is
        still there unchanged.

        ``None`` otherwise (moved, edited, or an in-memory fit): verification then says it could not use them.
        """
        data = self.metrics.get("data") or {}
        path, digest = data.get("path"), data.get("sha256")
        if not path or not digest or not Path(path).is_file():
            return None
        from logreg_onnx.trainer.data.dataset import file_sha256, load_dataset
        from logreg_onnx.trainer.errors import TrainerError
        from logreg_onnx.trainer.options import DEFAULT_NA_VALUES, ReadOptions

        if file_sha256(path) != digest:
            return None
        options = self.metrics.get("options") or {}
        read = self.metrics.get("read") or {}
        encoding = self.model.encoding
        names = encoding.names if encoding is not None else self.feature_names
        try:
            dataset = load_dataset(
                path,
                ReadOptions(
                    label=data.get("label"),
                    features=tuple(names),
                    delimiter=read.get("delimiter", "auto"),
                    encoding=read.get("encoding", "utf-8"),
                ),
                missing=options.get("missing", "error"),
                na_values=tuple(options.get("na_values", DEFAULT_NA_VALUES)),
                categorical=tuple(c.name for c in encoding.categorical) if encoding is not None else (),
            )
        except TrainerError:
            return None
        table = dataset.table
        if table is None or table.numeric_names != [c.name for c in encoding.numeric]:
            return None
        return table.take(np.arange(min(limit, len(table))))


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Load ``run_dir``; raise :class:`RunDirError` naming what is missing or wrong."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunDirError(f"{path}: no such run directory (make one with: logreg train DATA --out {path})")
    missing = [name for name in (MODEL_FILE, METRICS_FILE) if not (path / name).is_file()]
    if missing:
        raise RunDirError(f"{path}: incomplete run directory, {' and '.join(missing)} missing; train again")
    try:
        model, payload = load_model(path / MODEL_FILE)
    except ModelFileError as exc:
        raise RunDirError(str(exc)) from None
    try:
        metrics = json.loads((path / METRICS_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path / METRICS_FILE}: not readable JSON ({exc})") from None
    model_sha256 = hashlib.sha256((path / MODEL_FILE).read_bytes()).hexdigest()
    if metrics.get("model_sha256") not in (None, model_sha256):
        raise RunDirError(f"{path}: metrics.json belongs to another model.pt (hash mismatch); train again")
    return Run(path, model, list(payload["feature_names"]), list(payload["class_names"]), metrics, model_sha256)
