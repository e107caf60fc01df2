"""``POST /v2/models/NAME/predict`` (and ``/predict``): rows as JSON objects keyed by feature, scored through the
runtime's input rules, with each row's explanation when asked (a format 3 model)."""

from __future__ import annotations

import json
import time

import numpy as np

from . import contract
from .errors import InputError
from .explain import MAX_TOP, check_top, explain_rows
from .repository import Served
from .serve_guard import PayloadLog
from .serve_http import HTTPError
from .serve_infer import Limits, check_rows


def answer_predict(
    entry: Served, body: bytes, limits: Limits, started: int | None = None, payloads: PayloadLog | None = None
) -> tuple[bytes, int]:
    """A ``/predict`` request's answer, ``{"instances": [row, ...]}`` scored through :meth:`Model.run` (the rows
    follow the runtime's input rules, docs/inputs.md), and with ``"explain": K`` (a format 3 model) each row's
    explanation as :meth:`Model.explain` gives it, ``K`` columns each way: (content, rows). The rows and the
    predictions go to ``payloads`` when given (``started``: the request's perf_counter_ns)."""
    started = started or time.perf_counter_ns()
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPError(400, f"the request is not valid JSON ({exc})") from None
    if not isinstance(document, dict) or "instances" not in document:
        got = f"an object with keys {sorted(document)[:5]}" if isinstance(document, dict) else type(document).__name__
        raise HTTPError(400, f'expected {{"instances": [row, ...]}}, got {got}; rows are objects keyed by feature')
    instances = document["instances"]
    if not isinstance(instances, list):
        raise HTTPError(400, f'"instances" must be a list of rows, got {type(instances).__name__}')
    if not instances:
        raise HTTPError(400, '"instances" is an empty list; send at least one row: {"instances": [{"feature": value}]}')
    check_rows(len(instances), limits)
    top = document.get("explain")
    if top is not None:
        predictions = _explained(entry, instances, _explain_top(entry, top))
    else:
        predictions = _predicted(entry, instances)
    content = json.dumps({"model_name": entry.name, "predictions": predictions}, separators=(",", ":")).encode()
    if payloads is not None:
        given = document.get("id")
        request_id = given if isinstance(given, str) else None
        took = time.perf_counter_ns() - started
        payloads.write(entry, "predict", request_id, {"instances": instances}, {"predictions": predictions}, took)
    return content, len(instances)


def _predicted(entry: Served, instances: list) -> list[dict]:
    """Each row's label and probabilities."""
    model = entry.model
    if entry.window is None:
        labels, probabilities = model.run(instances)
    else:  # the same answer through the graph's inputs, which the window keeps
        numeric, categories = model.graph_inputs(instances)
        offsets = model.offsets_of(instances, None, len(numeric))
        labels, probabilities = model.run_inputs(
            numeric, categories if model.categorical_names else None, offsets=offsets
        )
        entry.window.append(numeric, categories, probabilities)
    classes = model.classes
    return [
        {"label": classes[int(k)], "probabilities": dict(zip(classes, p, strict=True))}
        for k, p in zip(labels.tolist(), probabilities.tolist(), strict=True)
    ]


def _explain_top(entry: Served, top: object) -> int:
    """The ``explain`` field of a /predict request as the number of columns to name each way, or a 400."""
    if not entry.explains:
        version = entry.model.metadata.get(contract.KEY_FORMAT)
        raise HTTPError(
            400,
            f"model {entry.name!r} has no explanations: its file is logreg-onnx format {version}, whose outputs are "
            'label and probabilities; export the model again (format 3) to explain, or leave out "explain"',
        )
    try:
        return check_top(top)
    except InputError:
        raise HTTPError(
            400,
            f'"explain" must be a whole number from 1 to {MAX_TOP} (the columns to name toward and away from each '
            f"prediction), got {json.dumps(top)[:40]}",
        ) from None


def _explained(entry: Served, instances: list, top: int) -> list[dict]:
    """Each row's label, probabilities and explanation: one run of the whole graph (runtime/explain.py)."""
    model = entry.model
    numeric, categories = model.graph_inputs(instances)
    rows = explain_rows(model, numeric, categories, top=top, offsets=model.offsets_of(instances, None, len(numeric)))
    if entry.window is not None:  # the probabilities as the graph gave them (float32 -> float -> float32 is exact)
        classes = model.classes
        probabilities = np.array([[row["probabilities"][c] for c in classes] for row in rows], dtype=np.float32)
        entry.window.append(numeric, categories, probabilities)
    return [{"label": row.pop("label"), "probabilities": row.pop("probabilities"), "explain": row} for row in rows]
