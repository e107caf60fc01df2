"""``logreg serve``: the Open Inference Protocol (KServe V2) REST endpoints over the runtime, on starlette + uvicorn.

Every error is JSON ``{"error": "..."}`` with a 4xx status (one table maps our exceptions to statuses); the server keeps
serving. A model is ready once it has replayed its own test vectors. ``POST /v2/models/NAME/infer`` for the served
models is answered by a plain ASGI app in front of starlette (see :class:`InferFastPath`); starlette routes the rest.

A format 3 model (runtime/contract.py) answers infer with any of its graph's outputs (all of them when a request names
none, as the protocol says) and ``/predict`` with ``"explain": K`` adds each row's explanation (runtime/explain.py).
Requests for label and probabilities only, and ``/predict`` without ``explain``, take the paths they always took.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import contract, testvectors
from .drift import Profile
from .errors import InputError
from .explain import MAX_TOP, check_top, explain_rows, explainable
from .model import Model
from .serve_drift import DriftCollector, DriftWindow
from .serve_metrics import INFER, Metrics, MetricsMiddleware
from .v2 import HEADER_LENGTH, OUTPUT_TYPES, ProtocolError, decode, encode

logger = logging.getLogger(__name__)
SERVER_NAME = "logreg-onnx"
JSON = "application/json"
BINARY = "application/octet-stream"
ACCEPTED_TYPES = ("", JSON, BINARY)


class HTTPError(Exception):
    """An answer other than 200: its status and what to tell the client."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


STATUS = {ProtocolError: 400, InputError: 400}  # our exceptions -> HTTP statuses
PREDICTION_OUTPUTS = frozenset(contract.OUTPUT_NAMES)  # what the predict session answers (format 3: the pruned one)


@dataclass
class Served:
    name: str
    model: Model
    ready: bool = False
    vectors: dict = field(default_factory=dict)
    window: DriftWindow | None = None  # the last rows scored, with --drift-window and a model with a profile
    outputs: tuple[str, ...] = field(init=False)  # the graph's outputs, in its order
    explains: bool = field(init=False)  # format 3: the explain outputs are among them

    def __post_init__(self) -> None:
        self.outputs = tuple(o.name for o in self.model.outputs)
        self.explains = explainable(self.model)


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 64 << 20
    max_rows: int = 100_000


def _json(document: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(document, separators=(",", ":")), status, headers=headers, media_type=JSON)


def create_app(models: dict[str, Model], limits: Limits | None = None, *, drift_window: int = 0):
    """The ASGI app serving ``models`` (name -> loaded model). ``drift_window``: rows kept per model with a
    training profile, their drift from it the gauges of /metrics (runtime/serve_drift.py); 0 for none."""
    limits = limits or Limits()
    served = {name: Served(name, model) for name, model in models.items()}
    drifting = {}
    for entry in served.values():
        profile = Profile.from_metadata(entry.model.metadata) if drift_window else None
        if profile is not None:
            model = entry.model
            entry.window = DriftWindow(
                drift_window, len(model.numeric_names), len(model.categorical_names), len(model.classes)
            )
            drifting[entry.name] = (profile, model.numeric_names, entry.window)
    for entry in served.values():
        report = testvectors.replay(entry.model)
        entry.vectors = report
        entry.ready = report["status"] in ("passed", "not found")

    def lookup(name: str) -> Served:
        try:
            return served[name]
        except KeyError:
            raise HTTPError(404, f"unknown model {name!r}; this server has {sorted(served)}") from None

    async def live(request: Request) -> Response:
        return _json({"live": True})

    async def ready(request: Request) -> Response:
        ok = all(entry.ready for entry in served.values())
        return _json({"ready": ok}, 200 if ok else 503)

    async def server_metadata(request: Request) -> Response:
        from importlib import metadata

        try:
            version = metadata.version("logreg-onnx")
        except metadata.PackageNotFoundError:
            version = "unknown"
        return _json({"name": SERVER_NAME, "version": version, "extensions": ["binary_tensor_data"]})

    async def model_metadata(request: Request) -> Response:
        entry = lookup(request.path_params["name"])
        return _json(describe(entry))

    async def model_ready(request: Request) -> Response:
        entry = lookup(request.path_params["name"])
        return _json({"name": entry.name, "ready": entry.ready}, 200 if entry.ready else 503)

    async def infer(request: Request) -> Response:
        # served models are answered by InferFastPath before starlette; this route answers the unknown names (404)
        entry = lookup(request.path_params["name"])
        check_headers(request.headers.get("content-type"), request.headers.get("content-length"), limits)
        body = await _read(request.receive, limits)
        content, media, head, request.state.rows = answer_infer(entry, body, request.headers.get(HEADER_LENGTH), limits)
        return Response(content, media_type=media, headers=None if head is None else {HEADER_LENGTH: str(head)})

    async def predict(request: Request) -> Response:
        name = request.path_params.get("name")
        if name is None:
            if len(served) != 1:
                raise HTTPError(404, f"this server has {len(served)} models: use /v2/models/NAME/predict")
            name = next(iter(served))
        entry = lookup(name)
        check_headers(request.headers.get("content-type"), request.headers.get("content-length"), limits)
        body = await _read(request.receive, limits)
        content, request.state.rows = answer_predict(entry, body, limits)
        return Response(content, media_type=JSON)

    metrics = Metrics(served, DriftCollector(drifting) if drifting else None)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    document = openapi_document()

    async def openapi(request: Request) -> Response:
        return Response(document, media_type=JSON)

    routes = [
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/models/{name}", model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/models/{name}/predict", predict, methods=["POST"]),
        Route("/predict", predict, methods=["POST"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):  # starlette's own: unknown route (404), wrong method (405)
            detail = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed here"}
            return _json({"error": detail.get(exc.status_code, str(exc.detail))}, exc.status_code, exc.headers)
        status, content = error_answer(exc, f"{request.method} {request.url.path}")
        return Response(content, status, media_type=JSON)

    handlers = {HTTPError: http_error, HTTPException: http_error, ProtocolError: http_error, InputError: http_error}
    handlers[Exception] = http_error
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app = InferFastPath(app, served, limits, metrics)
    app.routes = routes  # for introspection (the OpenAPI test), as on a Starlette app
    return app


class InferFastPath:
    """``POST /v2/models/NAME/infer`` of the served models as a plain ASGI app, in front of starlette, which gets every
    other request. Measured here (bench/serve.py's notes in the README): starlette's request, routing and middleware
    layers cost about 80 us a request, as much as all the work of a one-row infer. The answers, errors and metrics are
    the same as the starlette route's: both call :func:`answer_infer` and :func:`error_answer`."""

    def __init__(self, app, served: dict[str, Served], limits: Limits, metrics: Metrics) -> None:
        self.app, self.limits, self.metrics = app, limits, metrics
        self.paths = {f"/v2/models/{name}/infer": entry for name, entry in served.items()}

    async def __call__(self, scope, receive, send) -> None:
        entry = self.paths.get(scope.get("path")) if scope["type"] == "http" and scope["method"] == "POST" else None
        if entry is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rows = 0
        headers = {}
        for key, value in scope["headers"]:
            headers[key] = value.decode("latin-1")
        try:
            check_headers(headers.get(b"content-type"), headers.get(b"content-length"), self.limits)
            body = await _read(receive, self.limits)
            content, media, head, rows = answer_infer(
                entry, body, headers.get(b"inference-header-content-length"), self.limits
            )
            status = 200
        except ClientGone:
            return
        except Exception as exc:
            status, content = error_answer(exc, f"POST {scope['path']}")
            media, head = JSON, None
        answer_headers = [(b"content-type", media.encode()), (b"content-length", str(len(content)).encode())]
        if head is not None:
            answer_headers.append((b"inference-header-content-length", str(head).encode()))
        await send({"type": "http.response.start", "status": status, "headers": answer_headers})
        await send({"type": "http.response.body", "body": content})
        self.metrics.observe(INFER, entry.name, status, time.perf_counter() - started, rows)


class ClientGone(Exception):
    """The client disconnected before its request was read: nothing to answer."""


def answer_infer(entry: Served, body: bytes, header: str | None, limits: Limits) -> tuple[bytes, str, int | None, int]:
    """A V2 infer request's answer: (content, media type, JSON header length when some output is binary, rows)."""
    try:
        length = int(header) if header is not None else None
    except ValueError:
        raise HTTPError(400, f"{HEADER_LENGTH} must be an integer, got {header!r}") from None
    model = entry.model
    parsed = decode(
        body,
        length,
        numeric=len(model.numeric_names),
        categorical=len(model.categorical_names),
        imputes=model.imputes,
        outputs=entry.outputs,
    )
    rows = len(next(iter(parsed.inputs.values())))
    _check_rows(rows, limits)
    numeric = parsed.inputs.get(contract.INPUT_NAME)
    if numeric is None:  # a model with categorical columns only
        numeric = np.zeros((rows, 0), np.float32)
    categories = parsed.inputs.get(contract.CATEGORIES_INPUT)
    if entry.explains and any(name not in PREDICTION_OUTPUTS for name, _ in parsed.outputs):
        results = _explain_outputs(entry, numeric, categories, [name for name, _ in parsed.outputs])
    else:
        labels, probabilities = model.run_inputs(numeric, categories)
        if entry.window is not None:
            entry.window.append(numeric, categories, probabilities)
        results = {contract.LABEL_OUTPUT: labels, contract.PROBABILITIES_OUTPUT: probabilities}
    content, head = encode(entry.name, parsed, results)
    return content, JSON if head is None else BINARY, head, rows


def _explain_outputs(entry: Served, numeric: np.ndarray, categories, names: list[str]) -> dict[str, np.ndarray]:
    """The outputs ``names`` of a format 3 model, some of them explain outputs: one run of the whole graph (the
    probabilities too, for the drift window)."""
    if entry.window is not None:
        names = [*names, contract.PROBABILITIES_OUTPUT]
    results = entry.model.run_outputs(numeric, categories, list(dict.fromkeys(names)))
    if entry.window is not None:
        entry.window.append(numeric, categories, results[contract.PROBABILITIES_OUTPUT])
    return results


def answer_predict(entry: Served, body: bytes, limits: Limits) -> tuple[bytes, int]:
    """A ``/predict`` request's answer, ``{"instances": [row, ...]}`` scored through :meth:`Model.run` (the rows
    follow the runtime's input rules, docs/inputs.md), and with ``"explain": K`` (a format 3 model) each row's
    explanation as :meth:`Model.explain` gives it, ``K`` columns each way: (content, rows)."""
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
    _check_rows(len(instances), limits)
    top = document.get("explain")
    if top is not None:
        return _explained(entry, instances, _explain_top(entry, top)), len(instances)
    model = entry.model
    if entry.window is None:
        labels, probabilities = model.run(instances)
    else:  # the same answer through the graph's inputs, which the window keeps
        numeric, categories = model.graph_inputs(instances)
        labels, probabilities = model.run_inputs(numeric, categories if model.categorical_names else None)
        entry.window.append(numeric, categories, probabilities)
    classes = model.classes
    document = {
        "model_name": entry.name,
        "predictions": [
            {"label": classes[int(k)], "probabilities": dict(zip(classes, p, strict=True))}
            for k, p in zip(labels.tolist(), probabilities.tolist(), strict=True)
        ],
    }
    return json.dumps(document, separators=(",", ":")).encode(), len(instances)


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


def _explained(entry: Served, instances: list, top: int) -> bytes:
    """The /predict answer with each row's explanation: one run of the whole graph (runtime/explain.py)."""
    model = entry.model
    numeric, categories = model.graph_inputs(instances)
    rows = explain_rows(model, numeric, categories, top=top)
    if entry.window is not None:  # the probabilities as the graph gave them (float32 -> float -> float32 is exact)
        classes = model.classes
        probabilities = np.array([[row["probabilities"][c] for c in classes] for row in rows], dtype=np.float32)
        entry.window.append(numeric, categories, probabilities)
    predictions = [
        {"label": row.pop("label"), "probabilities": row.pop("probabilities"), "explain": row} for row in rows
    ]
    return json.dumps({"model_name": entry.name, "predictions": predictions}, separators=(",", ":")).encode()


def error_answer(exc: Exception, what: str) -> tuple[int, bytes]:
    """The status and JSON body for an exception raised while answering ``what``."""
    if isinstance(exc, HTTPError):
        status, message = exc.status, exc.detail
    else:
        status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
        message = str(exc)
    if status == 500:
        # a bug of ours: logged with its traceback, answered as JSON like every other error
        logger.error("%s failed", what, exc_info=exc)
        message = f"internal error ({type(exc).__name__}); the server log has the details"
    return status, json.dumps({"error": message}, separators=(",", ":")).encode()


def check_headers(content_type: str | None, content_length: str | None, limits: Limits) -> None:
    """415 for a content type other than JSON (or binary); 413 for a declared length over the limit, before reading."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in ACCEPTED_TYPES:
        raise HTTPError(415, f"content type {kind!r} is not accepted; send application/json")
    if content_length is not None and content_length.isdigit() and int(content_length) > limits.max_body_bytes:
        raise HTTPError(
            413, f"the body has {int(content_length):,} bytes; this server takes at most {limits.max_body_bytes:,}"
        )


async def _read(receive, limits: Limits) -> bytes:
    """The body from ASGI ``receive``, refused with 413 as soon as it passes the limit (without a declared length)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise HTTPError(413, f"the body is over this server's limit of {limits.max_body_bytes:,} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def openapi_document() -> bytes:
    """The OpenAPI document of these endpoints, kept beside this module (``runtime/openapi.json``)."""
    from importlib.resources import files

    return files(__package__).joinpath("openapi.json").read_bytes()


def describe(entry: Served) -> dict:
    """The V2 model metadata, with our feature and class names; every output of the graph (format 3: the explain
    outputs too, their shapes as the graph contract gives them, and the ``explain`` parameters that say what the
    logits are against)."""
    model = entry.model
    dims = contract.output_dims(len(model.classes), len(model.feature_names))
    inputs = []
    if model.numeric_names:
        inputs.append({"name": contract.INPUT_NAME, "datatype": "FP32", "shape": [-1, len(model.numeric_names)]})
    if model.categorical_names:
        inputs.append(
            {"name": contract.CATEGORIES_INPUT, "datatype": "BYTES", "shape": [-1, len(model.categorical_names)]}
        )
    parameters = {
        "feature_names": model.feature_names,
        "numeric_features": model.numeric_names,
        "categorical_features": model.categorical_names,
        "class_names": model.classes,
        "sha256": model.sha256,
    }
    if entry.explains:  # what the logits are against, and whether the interval outputs are there
        explain = model.metadata.get(contract.KEY_EXPLAIN)
        explain = explain if isinstance(explain, dict) else {}
        parameters["explain"] = {key: explain.get(key) for key in ("reference_class", "logits", "intervals", "level")}
    return {
        "name": entry.name,
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": inputs,
        "outputs": [
            {"name": name, "datatype": OUTPUT_TYPES[name], "shape": [-1, *dims[name]]} for name in entry.outputs
        ],
        "parameters": parameters,
    }


def _check_rows(rows: int, limits: Limits) -> None:
    if rows > limits.max_rows:
        raise HTTPError(
            413, f"{rows:,} rows in one request; this server takes at most {limits.max_rows:,} (--max-rows)"
        )
    if rows == 0:
        raise HTTPError(400, "the request has no rows")
