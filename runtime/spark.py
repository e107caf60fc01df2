"""Scoring a Spark DataFrame with a logreg-onnx model: mapInPandas over Arrow batches, one session per executor process.

``predict(df, "model.onnx")`` returns ``df``'s columns plus what ``logreg predict`` writes: ``label`` (a class name)
and one ``p_<class>`` column per class. The model is loaded once on the driver (its columns are checked against
``df``'s before a job starts) and once in each executor's Python worker, cached here by path and SHA-256, so every
batch of every task that worker runs reuses one onnxruntime session, and a worker that finds another file at the path
refuses it (:class:`~logreg_onnx.runtime.ModelError`). The path must be readable where the executors run (a local
session, or a shared filesystem).

Needs the ``spark`` extra (``pip install '.[spark]'``: pyspark, pyarrow, pandas); pyspark and pandas are
imported when :func:`predict` is called, so the runtime itself still imports only numpy and onnxruntime.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import InputError
from .model import Model, load
from .output import output_columns

__all__ = ["predict"]

# (path, sha256, threads, unseen) -> the model of this Python process: an executor's worker keeps its session for
# every task it runs (Spark reuses Python workers by default, spark.python.worker.reuse)
_MODELS: dict[tuple[str, str, int | None, str], Model] = {}
_MODELS_LOCK = threading.Lock()


def predict(
    df,
    model_path: str | os.PathLike[str],
    *,
    probabilities: bool = True,
    threads: int | None = 1,
    unseen: str = "predict",
):
    """Score a Spark DataFrame; returns a new DataFrame (lazy, as every Spark transformation).

    Parameters
    ----------
    df : pyspark.sql.DataFrame with the model's columns by name (in any order; other columns are passed through).
        Numeric columns may be any Spark numeric type, categorical ones strings; nulls are missing values. A model
        trained with an offset reads it from its offset column when ``df`` has one (0 otherwise)
    model_path : the ``.onnx`` file written by ``logreg export``, readable by the driver and by every executor
    probabilities : also return one ``p_<class>`` float column per class (else ``label`` alone)
    threads : onnxruntime threads of each executor's session; 1 by default, as Spark already runs a task per core
        (``None``: onnxruntime's default, one per physical core, for executors with one task slot)
    unseen : categorical values never seen in training (:func:`logreg_onnx.runtime.load`)

    Returns ``df``'s columns followed by ``label`` (string) and, with ``probabilities``, ``p_<class>`` (float) per
    class: shape (n_rows, n_columns + 1 + n_classes). A row the runtime refuses (a text in a numeric column, NaN in
    a column the model does not impute) fails the job with the runtime's message, naming the column.
    """
    try:
        from pyspark.sql.types import FloatType, StringType, StructField, StructType
    except ImportError as exc:
        raise ImportError(
            f"logreg_onnx.runtime.spark needs pyspark ({exc}); install the 'spark' extra: pip install '.[spark]'"
        ) from exc
    path = str(Path(model_path).resolve())
    model = load(path, threads=threads, unseen=unseen)  # on the driver: the file is checked before any job
    names = [column.name for column in model.columns]
    missing = [name for name in names if name not in df.columns]
    if missing:
        raise InputError(
            f"the DataFrame has no column {missing[0]!r}; the model reads {', '.join(names)} (got columns: "
            f"{', '.join(df.columns)})"
        )
    if model.offset_column is not None and model.offset_column in df.columns:
        names.append(model.offset_column)  # the offset input, read from its column (0 in a DataFrame without it)
    added = output_columns((), model.classes)[: None if probabilities else 1]
    clashes = [name for name in added if name in df.columns]
    if clashes:
        raise InputError(
            f"the DataFrame already has a column {clashes[0]!r}, which predict adds; rename or drop it first "
            f"(df.withColumnRenamed({clashes[0]!r}, ...))"
        )
    fields = [StructField(added[0], StringType(), nullable=False)]
    fields += [StructField(name, FloatType(), nullable=False) for name in added[1:]]
    schema = StructType([*df.schema.fields, *fields])
    key = (path, model.sha256, threads, unseen)

    def score(batches):
        return score_batches(batches, key, names, probabilities)

    return df.mapInPandas(score, schema)


def score_batches(batches: Iterator, key: tuple[str, str, int | None, str], names: list[str], probabilities: bool):
    """What each executor runs: for every pandas batch (Arrow), the model's outputs appended as columns."""
    model = cached_model(*key)
    classes = np.asarray(model.classes, dtype=object)
    label, *probability_columns = output_columns((), model.classes)
    for batch in batches:
        if len(batch) == 0:
            labels, scores = np.zeros(0, dtype=np.int64), np.zeros((0, len(classes)), dtype=np.float32)
        else:
            labels, scores = model.run(batch[names])
        batch[label] = classes[labels]
        if probabilities:
            for k, name in enumerate(probability_columns):
                batch[name] = scores[:, k]
        yield batch


def cached_model(path: str, sha256: str, threads: int | None, unseen: str) -> Model:
    """This process's model for ``path``, loaded once and checked against the driver's SHA-256."""
    key = (path, sha256, threads, unseen)
    model = _MODELS.get(key)
    if model is None:
        with _MODELS_LOCK:
            model = _MODELS.get(key)
            if model is None:
                model = _MODELS[key] = load(path, threads=threads, expected_sha256=sha256, unseen=unseen)
    return model
