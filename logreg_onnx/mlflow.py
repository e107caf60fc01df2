"""MLflow: an exported model logged as an MLflow model served by the torch-free runtime, and a training run logged.

:func:`log_model` logs ``model.onnx`` (with its test vectors, ``parity.json`` and the run's report files beside it)
as an MLflow model whose pyfunc flavor is :class:`RuntimeModel`: ``mlflow.pyfunc.load_model(uri).predict(df)``
scores through :func:`logreg_onnx.runtime.load`, needs numpy, onnxruntime and logreg-onnx (never torch), and returns
what ``logreg predict`` writes: ``label`` (a class name) and one ``p_<class>`` column per class. :func:`log_run` logs
a run directory of ``logreg train``: its options as params, its metrics, its history as per-epoch metrics, its plots
and report as artifacts, and its model when it was exported (``logreg train --mlflow``).

Needs the ``mlflow`` extra (``pip install '.[mlflow]'``): importing this module without it raises an
ImportError that says so. Nothing here imports torch or the exporter.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

try:
    import mlflow
    import pandas as pd
    from mlflow.pyfunc import PythonModel
except ImportError as exc:  # pragma: no cover - the test runs it in a subprocess with mlflow blocked
    raise ImportError(
        f"logreg_onnx.mlflow needs mlflow ({exc}); install the 'mlflow' extra: pip install '.[mlflow]' in the "
        "repository's folder"
    ) from exc

from logreg_onnx.runtime import contract
from logreg_onnx.runtime.output import output_columns
from logreg_onnx.trainer.rundir import schema
from logreg_onnx.trainer.rundir.report import REPORT_FILE

__all__ = ["RuntimeModel", "log_model", "log_run", "model_signature", "prediction_frame"]

PARITY_FILE = contract.PARITY_FILE
# the run's files that describe the model, logged beside it when present
REPORT_FILES = (schema.METRICS_FILE, schema.COEFFICIENTS_FILE, REPORT_FILE)
# what log_run logs as the run's own artifacts, when present
RUN_FILES = (
    schema.METRICS_FILE,
    schema.COEFFICIENTS_FILE,
    schema.HISTORY_FILE,
    schema.TRAINING_PLOT,
    schema.ROC_PLOT,
    REPORT_FILE,
)
MODEL_ARTIFACT = "model"  # the key of model.onnx in the pyfunc's artifacts


# The pyfunc is logged as "models from code" (MLflow's recommended form: the model is this code, not a pickle, which
# would run arbitrary code when loaded): the file below, with the file's digest in the model's config.
MODEL_CODE = '''"""A logreg-onnx model's pyfunc flavor (MLflow's models from code): logreg_onnx.mlflow.RuntimeModel."""

import mlflow

from logreg_onnx.mlflow import RuntimeModel

mlflow.models.set_model(RuntimeModel())
'''


class RuntimeModel(PythonModel):
    """The pyfunc flavor of a logreg-onnx model: :func:`logreg_onnx.runtime.load` on the logged ``model.onnx``.

    The model's config (``model_config``) holds the file's SHA-256, checked when MLflow loads it (the artifact is the
    file that was logged), and the runtime's ``unseen`` policy; the session is opened in :meth:`load_context`.
    """

    def __init__(self) -> None:
        self._model = None

    def load_context(self, context) -> None:
        from logreg_onnx import runtime

        config = context.model_config or {}
        self._model = runtime.load(
            context.artifacts[MODEL_ARTIFACT],
            expected_sha256=config.get("sha256"),
            unseen=config.get("unseen", "predict"),
        )

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Score ``model_input``, a pandas DataFrame with the model's columns (by name, in any order; others are
        ignored), as :meth:`logreg_onnx.runtime.Model.run` does. Returns a DataFrame of shape (n_rows, 1 + n_classes)
        with ``model_input``'s index: ``label`` (class name) and ``p_<class>`` (float32) per class."""
        labels, probabilities = self._model.run(model_input)
        return prediction_frame(labels, probabilities, self._model.classes, getattr(model_input, "index", None))


def prediction_frame(labels, probabilities, classes, index=None) -> pd.DataFrame:
    """What ``logreg predict`` writes, as a DataFrame: ``label`` (the class names of ``labels``, int of shape
    (n_rows,)) and one ``p_<class>`` column per class of ``probabilities`` (float32, (n_rows, n_classes))."""
    import numpy as np

    label, *probability_columns = output_columns((), classes)
    frame = {label: np.asarray(classes, dtype=object)[labels]}
    frame.update({name: probabilities[:, k] for k, name in enumerate(probability_columns)})
    return pd.DataFrame(frame, index=index)


def model_signature(model) -> mlflow.models.ModelSignature:
    """The MLflow signature of a loaded :class:`~logreg_onnx.runtime.Model`: its input columns by name, and the output
    columns of ``logreg predict`` (``label`` string, one ``p_<class>`` float per class).

    Categorical columns are ``string``; numeric columns are ``any``, not ``double``, because MLflow's schema
    enforcement refuses to cast int64 to float64 ("Can not safely convert int64 to float64"), so a ``double``
    signature would refuse the training file itself as pandas reads it (the penguins' ``year``). The runtime checks
    every cell anyway, naming a bad one by row and column."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    inputs = Schema(
        [ColSpec("string" if column.kind == "categorical" else AnyType(), column.name) for column in model.columns]
    )
    label, *probability_columns = output_columns((), model.classes)
    outputs = Schema([ColSpec("string", label), *(ColSpec("float", name) for name in probability_columns)])
    return ModelSignature(inputs=inputs, outputs=outputs)


def requirements() -> list[str]:
    """What the logged model needs to be loaded and scored: the runtime's own dependencies and pandas (the pyfunc
    input), never torch. MLflow adds itself."""
    own = metadata.version("logreg-onnx")
    needs = [f"logreg-onnx=={own}", f"numpy>={_major_minor('numpy')}", f"onnxruntime>={_major_minor('onnxruntime')}"]
    return [*needs, f"pandas>={_major_minor('pandas')}"]


def _major_minor(package: str) -> str:
    return ".".join(metadata.version(package).split(".")[:2])


def log_model(
    model_path: str | os.PathLike[str],
    name: str = "model",
    *,
    registered_model_name: str | None = None,
    signature: bool = True,
    unseen: str = "predict",
    tags: Mapping[str, Any] | None = None,
) -> mlflow.models.model.ModelInfo:
    """Log an exported model (a ``model.onnx`` written by ``logreg export``) as an MLflow model.

    Parameters
    ----------
    model_path : the ``.onnx`` file; ``<stem>.testvectors.json`` beside it is logged with it (the exporter writes
        it; a model without one is refused), and so are ``parity.json`` and the run's ``metrics.json``,
        ``coefficients.csv`` and ``report.html`` when present
    name : the model's name in the run (MLflow's ``name``)
    registered_model_name : also register the model under this name in the model registry
    signature : attach the signature of :func:`model_signature` (the columns metadata as MLflow types)
    unseen : the runtime's policy for categorical values never seen in training (:func:`logreg_onnx.runtime.load`)
    tags : tags of the logged model

    Returns MLflow's ``ModelInfo`` (``model_uri`` loads it with ``mlflow.pyfunc.load_model``). Logs into the active
    run, or into a new one that it ends; raises :class:`logreg_onnx.runtime.ModelError` for a file that the runtime
    does not load, and FileNotFoundError for missing test vectors.
    """
    from logreg_onnx import runtime
    from logreg_onnx.runtime.testvectors import path_for

    model_path = Path(model_path)
    model = runtime.load(model_path, unseen=unseen)  # the file is checked before anything is logged
    vectors = path_for(model_path)
    if not vectors.is_file():
        raise FileNotFoundError(
            f"{vectors}: not found; log_model logs a model with the test vectors `logreg export` writes beside it"
        )
    artifacts = {MODEL_ARTIFACT: str(model_path), "testvectors": str(vectors)}
    for file_name in (PARITY_FILE, *REPORT_FILES):
        if (model_path.parent / file_name).is_file():
            artifacts[Path(file_name).stem] = str(model_path.parent / file_name)
    model_tags = {"logreg_onnx.sha256": model.sha256, "logreg_onnx.classes": ",".join(model.classes)}
    with tempfile.TemporaryDirectory(prefix="logreg-mlflow-") as folder, _active_run():
        code = Path(folder) / "logreg_onnx_model.py"
        code.write_text(MODEL_CODE, encoding="utf-8")
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(code),
            model_config={"sha256": model.sha256, "unseen": unseen},
            artifacts=artifacts,
            pip_requirements=requirements(),
            signature=model_signature(model) if signature else None,
            input_example=input_example(vectors, model.feature_names),
            registered_model_name=registered_model_name,
            tags={**model_tags, **(tags or {})},
        )


def input_example(vectors: Path, feature_names: list[str], n_rows: int = 3) -> pd.DataFrame:
    """The first rows of a model's test vectors as a DataFrame of raw values by column name (text, and None for a
    missing value): MLflow stores it beside the model and scores it when logging, a proof that the model loads."""
    document = json.loads(vectors.read_text(encoding="utf-8"))
    cases = document["cases"][:n_rows]
    rows = [case.get("row") or dict(zip(feature_names, case["features"], strict=True)) for case in cases]
    return pd.DataFrame(rows, columns=feature_names)


def log_run(
    run_dir: str | os.PathLike[str],
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    model_name: str = "model",
    registered_model_name: str | None = None,
) -> str:
    """Log a run directory of ``logreg train`` to MLflow as one MLflow run; returns its run id.

    Logged: the options (metrics.json's ``options`` and ``read``, nested keys joined with ``.``, lists as
    comma-separated text) as params; every number of its metric blocks as a metric named by its path
    (``validation.log_loss``, ``train.calibration.brier``, ``threshold.value``) and ``training.seconds``,
    ``training.iterations``; history.csv as per-epoch metrics named by its columns (``train_loss``, ``val_loss``...,
    step = epoch); the plots, metrics.json, coefficients.csv, history.csv and report.html as artifacts; and, when
    the run was exported (``model.onnx`` is there), the model through :func:`log_model`. Tags: the data file's path
    and SHA-256, the label, the versions.

    ``tracking_uri``: None for MLflow's own choice (``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``);
    ``experiment``: None for MLflow's (``MLFLOW_EXPERIMENT_NAME``, else its default experiment).
    """
    run_dir = Path(run_dir)
    metrics_path = run_dir / schema.METRICS_FILE
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{metrics_path}: not found; give a run directory written by logreg train")
    document = json.loads(metrics_path.read_text(encoding="utf-8"))
    record = schema.RunRecord.from_json(document)
    if tracking_uri is not None:
        mlflow.set_tracking_uri(tracking_uri)
    if experiment is not None:
        mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_dir.resolve().name) as run:
        mlflow.log_params(dict(_params(document)))
        mlflow.log_metrics(dict(_metrics(record)))
        for step, values in _history(run_dir / schema.HISTORY_FILE):
            mlflow.log_metrics(values, step=step)
        mlflow.set_tags(_tags(record))
        for file_name in RUN_FILES:
            if (run_dir / file_name).is_file():
                mlflow.log_artifact(str(run_dir / file_name))
        if (run_dir / "model.onnx").is_file():
            log_model(run_dir / "model.onnx", model_name, registered_model_name=registered_model_name)
        return run.info.run_id


def param_text(value: object) -> str:
    """A param's value as logged: a list as comma-separated text (as its flag takes it), anything else ``str()``."""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def _params(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for block in ("options", "read"):
        yield from ((name, param_text(value)) for name, value in _leaves(document.get(block) or {}, ""))


def _metrics(record: schema.RunRecord) -> Iterator[tuple[str, float]]:
    blocks = {**record.metrics, "training": record.training}
    for name, value in _leaves(blocks, ""):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            yield name, float(value)


def _leaves(tree: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every leaf of nested dicts; a list is a leaf."""
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _history(path: Path) -> Iterator[tuple[int, dict[str, float]]]:
    if not path.is_file():
        return
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            step = int(row.pop(schema.HISTORY_COLUMNS[0]))
            values = {name: float(text) for name, text in row.items() if text not in ("", None)}
            yield step, {name: value for name, value in values.items() if math.isfinite(value)}


def _tags(record: schema.RunRecord) -> dict[str, str]:
    tags = {f"logreg_onnx.version.{name}": version for name, version in record.versions.items()}
    facts = {"data.path": record.data.path, "data.sha256": record.data.sha256, "label": record.data.label}
    facts["model_sha256"] = record.model_sha256
    tags.update({f"logreg_onnx.{name}": str(value) for name, value in facts.items() if value is not None})
    tags["logreg_onnx.classes"] = ",".join(record.class_names)
    return tags


@contextlib.contextmanager
def _active_run() -> Iterator[None]:
    """The active MLflow run, or a new one ended on exit (so that a model logged alone still belongs to a run)."""
    if mlflow.active_run() is not None:
        yield
        return
    with mlflow.start_run():
        yield
