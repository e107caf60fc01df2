"""Writing a training run's directory: model.pt, metrics.json, coefficients.csv, history.csv, training.png, roc.png;
each written atomically. The layout and metrics.json's types are :mod:`trainer.rundir.schema`."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from logreg_onnx.runtime.files import write_text_atomic

from ..data.dataset import Dataset
from ..engine.model import COVARIANCE_KEY, TABLE_COVARIANCE_KEY, save_model
from ..engine.training import FitResult
from ..options import ReadOptions
from .plots import Renderer, plot_history, plot_roc
from .schema import (
    COEFFICIENTS_FILE,
    HISTORY_COLUMNS,
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
    ROC_PLOT,
    TRAINING_PLOT,
    ResolvedOptions,
    RunRecord,
    TrainedOn,
)


def versions() -> dict[str, str]:
    def version_of(distribution: str) -> str:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "logreg-onnx": version_of("logreg-onnx"),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def write_run(
    out_dir: str | os.PathLike[str],
    result: FitResult,
    dataset: Dataset,
    *,
    seconds: float,
    label: str | None = None,
    read: ReadOptions | None = None,
    renderer: Renderer | None = None,
) -> Path:
    """Write every file of the run into ``out_dir`` (created if needed); metrics.json last, as the sign of a
    complete run. Plots go through ``renderer`` (a helper process) when given. Returns the directory."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    draw = renderer.submit if renderer is not None else _call
    dataset = result.dataset or dataset  # the design matrix and its encoding, as trained on
    unit = "iteration" if result.options["optimizer"] == "lbfgs" else "epoch"
    draw(plot_history, result.history, out / TRAINING_PLOT, unit=unit)
    if len(result.class_names) == 2:
        split, rows = ("validation", result.val_indices) if len(result.val_indices) else ("train", result.train_indices)
        with torch.no_grad():
            probabilities = result.model(torch.from_numpy(dataset.X[rows])).numpy()
        draw(
            plot_roc,
            dataset.y[rows],
            probabilities[:, 1],
            out / ROC_PLOT,
            auc=result.metrics[split]["roc_auc"],
            positive_class=result.class_names[1],
            split=split,
        )
    write_text_atomic(out / HISTORY_FILE, _history_csv(result.history))
    covariance = result.coefficients.covariance if result.coefficients is not None else None
    table_covariance = result.coefficients.parameter_covariance if result.coefficients is not None else None
    model_sha256 = save_model(
        out / MODEL_FILE,
        result.model,
        feature_names=result.feature_names,
        class_names=result.class_names,
        extra={
            "options": json.dumps(result.options),
            "data_sha256": dataset.sha256 or "",
            **({COVARIANCE_KEY: torch.from_numpy(covariance)} if covariance is not None else {}),
            **({TABLE_COVARIANCE_KEY: torch.from_numpy(table_covariance)} if table_covariance is not None else {}),
        },
    )
    if result.coefficients is not None:
        write_text_atomic(out / COEFFICIENTS_FILE, result.coefficients.to_csv())
    summary = {
        "n_rows": len(dataset.y),
        "n_features": len(dataset.feature_names),
        "columns": dataset.encoding.to_json() if dataset.encoding is not None else None,
        "class_counts": dict(
            zip(
                dataset.class_names,
                np.bincount(dataset.y, minlength=len(dataset.class_names)).tolist(),
                strict=True,
            )
        ),
        "notes": dataset.notes,
        "missing": _missing_counts(dataset),
    }
    trained_on = TrainedOn.from_json(
        {
            # resolved, so that a later `logreg export` from another folder can still find the rows to verify on
            "path": str(Path(dataset.source).resolve()) if dataset.source != "<array>" else None,
            "label": label,
            "sha256": dataset.sha256,
            **summary,
        }
        | (result.data_summary or {})
    )
    record = RunRecord(
        metrics=result.metrics,
        class_names=list(result.class_names),
        feature_names=list(result.feature_names),
        options=ResolvedOptions.from_json(result.options),
        read=read,
        training={
            "solver": result.options.get("solver"),
            "stop_reason": result.stop_reason,
            "separated_classes": result.separated_classes,
            "converged": result.converged,
            "iterations" if unit == "iteration" else "epochs": len(result.history),
            "interrupted": result.interrupted,
            "seconds": round(seconds, 3),
        },
        data=trained_on,
        coefficients=result.coefficients.to_json() if result.coefficients is not None else None,
        model_sha256=model_sha256,
        versions=versions(),
    )
    text = json.dumps(record.to_json(), indent=2) + "\n"  # made while the plots are drawn
    if renderer is not None:
        renderer.wait()  # the plots are complete before metrics.json says the run is
    write_text_atomic(out / METRICS_FILE, text)
    return out


def _missing_counts(dataset: Dataset) -> dict[str, int]:
    """Missing cells per raw column (after rows with a missing label were dropped)."""
    table = dataset.table
    if table is None:
        return {}
    counts = dict(zip(table.numeric_names, np.isnan(table.numeric).sum(axis=0).tolist(), strict=True))
    counts |= dict(zip(table.categorical_names, (table.categories == "").sum(axis=0).tolist(), strict=True))
    return {name: int(counts[name]) for name in table.names}


def _call(function, /, *args, **kwargs) -> None:
    function(*args, **kwargs)


def _history_csv(history: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for record in history:
        writer.writerow(["" if record.get(c) is None else repr(record[c]) for c in HISTORY_COLUMNS])
    return buffer.getvalue()


def write_run_staged(out_dir: str | os.PathLike[str], result: FitResult, dataset: Dataset, **kwargs) -> Path:
    """:func:`write_run` into a hidden folder beside ``out_dir``, renamed into place once complete: a job stopped
    midway (a distributed rank failing, SIGTERM) leaves ``out_dir`` as it was, never half-written."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.parent / f".{out.name}.partial-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    try:
        write_run(stage, result, dataset, **kwargs)
        if out.exists():
            os.replace(out, old)
        os.replace(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return out
