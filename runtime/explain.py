"""Explanations from a format 3 model's own outputs: per row, the columns that pushed hardest toward and away from the
predicted class, and the interval. Nothing is recomputed here: the graph's ``contributions``, ``logit`` and intervals
(runtime/contract.py) are read and ranked.

Toward the predicted class means, for a binary model, along the logit of the second class when it was predicted and
against it when the first was; for a multinomial model, along the predicted class's logit centred over the classes
(``z_c - mean_k z_k``, the reference class's logit being 0): a column's contribution to it is its contribution to
class ``c``'s logit minus the mean of its contributions to every class's, so that the reference class is explained
like the others.
"""

from __future__ import annotations

import numpy as np

from . import contract
from .errors import InputError, ModelError

MAX_TOP = 1000


def check_top(top: object) -> int:
    """``top`` as the number of columns to name per direction, or :class:`InputError`."""
    if isinstance(top, bool) or not isinstance(top, int | np.integer) or not 1 <= top <= MAX_TOP:
        raise InputError(f"top must be a whole number from 1 to {MAX_TOP}, got {top!r}")
    return int(top)


def explainable(model) -> bool:
    """Whether ``model`` has the explain outputs (format 3)."""
    return contract.CONTRIBUTIONS_OUTPUT in {o.name for o in model.outputs}


def require_explain(model) -> None:
    if not explainable(model):
        raise ModelError(
            f"{model.path}: logreg-onnx format {model.metadata.get(contract.KEY_FORMAT)} has no explanations (its "
            "outputs are label and probabilities); export the model again to get format 3"
        )


def toward_predicted(labels: np.ndarray, contributions: np.ndarray, binary: bool) -> np.ndarray:
    """(n_rows, n_columns): each column's contribution toward each row's predicted class, in logit units (see the
    module's docstring). ``contributions``: the graph's output, (n_rows, n_columns, n_logits)."""
    if binary:
        sign = np.where(labels == 1, 1.0, -1.0).astype(np.float32)
        return contributions[:, :, 0] * sign[:, None]
    n_rows, n_columns, _ = contributions.shape
    every = np.concatenate([np.zeros((n_rows, n_columns, 1), dtype=contributions.dtype), contributions], axis=2)
    centred = every - every.mean(axis=2, keepdims=True)
    return np.take_along_axis(centred, labels.reshape(-1, 1, 1).astype(np.int64), axis=2)[:, :, 0]


def ranked(toward: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the column indices of the ``top`` largest contributions toward the predicted class (descending),
    and of the ``top`` most negative (ascending): stable, so ties keep the columns' order. The caller keeps the
    positive ones of the first and the negative ones of the second."""
    order = np.argsort(-toward, axis=1, kind="stable")
    k = min(top, toward.shape[1])
    return order[:, :k], order[:, ::-1][:, :k]


def explain_rows(
    model, numeric: np.ndarray, categories: np.ndarray, *, top: int = 3, offsets: np.ndarray | None = None
) -> list[dict]:
    """:meth:`runtime.Model.explain` on rows given as the graph's inputs (and a model's ``offset`` input)."""
    require_explain(model)
    top = check_top(top)
    names = [o.name for o in model.outputs]
    outputs = model.run_outputs(numeric, categories if model.categorical_names else None, names, offsets=offsets)
    labels = outputs[contract.LABEL_OUTPUT]
    probabilities = outputs[contract.PROBABILITIES_OUTPUT]
    logit = outputs[contract.LOGIT_OUTPUT]
    classes = model.classes
    binary = len(classes) == 2
    toward = toward_predicted(labels, outputs[contract.CONTRIBUTIONS_OUTPUT], binary)
    up, down = ranked(toward, top)
    columns = model.feature_names
    se = outputs.get(contract.LOGIT_SE_OUTPUT)
    z = contract.Z_95
    rows = []
    for i in range(len(labels)):
        row = {
            "label": classes[int(labels[i])],
            "probabilities": dict(zip(classes, probabilities[i].tolist(), strict=True)),
            "logit": dict(zip(classes[1:], logit[i].tolist(), strict=True)),
            "toward": [_named(columns, toward, i, j) for j in up[i].tolist() if toward[i, j] > 0],
            "away": [_named(columns, toward, i, j) for j in down[i].tolist() if toward[i, j] < 0],
        }
        if se is not None and binary:
            row["interval"] = {
                "p_lower": float(outputs[contract.PROBABILITY_LOWER_OUTPUT][i]),
                "p_upper": float(outputs[contract.PROBABILITY_UPPER_OUTPUT][i]),
                "logit_se": float(se[i, 0]),
            }
        elif se is not None:
            row["interval"] = {
                "logit_lower": {c: float(logit[i, k] - z * se[i, k]) for k, c in enumerate(classes[1:])},
                "logit_upper": {c: float(logit[i, k] + z * se[i, k]) for k, c in enumerate(classes[1:])},
                "logit_se": dict(zip(classes[1:], se[i].tolist(), strict=True)),
            }
        rows.append(row)
    return rows


def explain_column_names(model, top: int) -> list[str]:
    """The columns ``logreg predict --explain K`` adds: ``reason_1``, ``contribution_1``, ... (the ``top`` columns
    that pushed hardest toward the predicted class, and by how much), then ``p_lower``, ``p_upper`` (binary models
    with intervals)."""
    top = min(top, len(model.feature_names))
    names = [name for k in range(1, top + 1) for name in (f"reason_{k}", f"contribution_{k}")]
    if len(model.classes) == 2 and contract.PROBABILITY_LOWER_OUTPUT in {o.name for o in model.outputs}:
        names += ["p_lower", "p_upper"]
    return names


def explain_column_values(model, labels: np.ndarray, outputs: dict[str, np.ndarray], top: int) -> list[np.ndarray]:
    """The values of :func:`explain_column_names` for rows whose outputs (:meth:`Model.run_outputs`) are ``outputs`` and
    labels ``labels`` (after any threshold): reasons as an object array of names ("" past the last column that
    pushed toward the predicted class), contributions float32 (NaN there), the interval float32."""
    toward = toward_predicted(labels, outputs[contract.CONTRIBUTIONS_OUTPUT], len(model.classes) == 2)
    up, _ = ranked(toward, top)
    names = np.array(model.feature_names, dtype=object)
    rows = np.arange(len(labels))
    columns = []
    for k in range(up.shape[1]):
        values = toward[rows, up[:, k]]
        pushed = values > 0
        columns.append(np.where(pushed, names[up[:, k]], ""))
        columns.append(np.where(pushed, values, np.float32(np.nan)).astype(np.float32))
    if contract.PROBABILITY_LOWER_OUTPUT in outputs and len(model.classes) == 2:
        columns += [outputs[contract.PROBABILITY_LOWER_OUTPUT], outputs[contract.PROBABILITY_UPPER_OUTPUT]]
    return columns


def _named(columns: list[str], toward: np.ndarray, i: int, j: int) -> dict:
    return {"column": columns[j], "contribution": float(toward[i, j])}
