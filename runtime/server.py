"""``logreg serve``: the Open Inference Protocol (KServe V2) REST endpoints over the runtime, on starlette + uvicorn.

Every error is JSON ``{"error": "..."}`` with a 4xx status (one table maps our exceptions to statuses); the server keeps
serving. The models come from a :class:`~.repository.Repository` (single files, or a Triton-style folder with
versions, reloaded while serving); every model endpoint is also at ``/v2/models/NAME/versions/VERSION/...``, and a
version is ready once it has replayed its own test vectors. ``POST .../infer`` is answered by a plain ASGI app in
front of starlette (see :class:`InferFastPath`); starlette routes the rest. gRPC (runtime/serve_grpc.py) shares the
repository, the admission count and the model runs (runtime/serve_infer.py).

A format 3 model (runtime/contract.py) answers infer with any of its graph's outputs (all of them when a request names
none, as the protocol says) and ``/predict`` with ``"explain": K`` adds each row's explanation (runtime/explain.py).
Requests for label and probabilities only, and ``/predict`` without ``explain``, take the paths they always took.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import contract
from .errors import InputError
from .model import Model
from .repository import Repository, RepositoryError, Served, verified
from .serve_batch import Batcher
from .serve_drift import DriftCollector
from .serve_guard import BearerAuth, PayloadLog
from .serve_http import (
    BINARY,
    JSON,
    ClientGone,
    HTTPError,
    check_headers,
    error_answer,
    json_answer,
    optional_document,
    read_body,
)
from .serve_infer import Admission, Busy, Limits, TooManyRows, check_rows, run_model
from .serve_metrics import Metrics, MetricsMiddleware
from .serve_predict import answer_predict
from .v2 import HEADER_LENGTH, OUTPUT_TYPES, ProtocolError, decode, encode

logger = logging.getLogger(__name__)
SERVER_NAME = "logreg-onnx"
EXTENSIONS = ["binary_tensor_data", "model_repository", "statistics"]
__all__ = ["Limits", "Served", "answer_infer", "answer_predict", "create_app"]


def create_app(
    models: dict[str, Model] | Repository,
    limits: Limits | None = None,
    *,
    drift_window: int = 0,
    poll: float = 0.0,
    token: str | None = None,
    payloads: PayloadLog | None = None,
    grpc: dict | None = None,
):
    """The ASGI app serving ``models``: name -> loaded model (each served as version 1), or a repository (loaded
    here if it is not yet). ``drift_window``: rows kept per model version with a training profile, their drift from
    it the gauges of /metrics (runtime/serve_drift.py); 0 for none. ``poll``: seconds between scans of the
    repository for new or replaced versions (0: none). ``token``: the bearer token every request but the health
    endpoints needs. ``payloads``: where to log each infer and predict request. ``grpc``: the gRPC server's host,
    port and TLS (runtime/serve_grpc.py), started and stopped with the app."""
    limits = limits or Limits()
    repository = models if isinstance(models, Repository) else _of_models(models, drift_window)
    admission = Admission(limits.max_queue)
    if limits.max_batch_size > 1:
        repository.on_change = lambda entry: setattr(entry, "batcher", Batcher(entry, limits))
        for entry in repository.served():
            entry.batcher = Batcher(entry, limits)
    if not repository.slots:
        repository.load_now()

    def lookup(request: Request, *, ready: bool = True) -> Served:
        name, version = request.path_params["name"], request.path_params.get("version")
        return repository.resolve(name, version) if ready else repository.find(name, version)

    async def live(request: Request) -> Response:
        return json_answer({"live": True})

    async def ready(request: Request) -> Response:
        ok = repository.ready()
        return json_answer({"ready": ok}, 200 if ok else 503)

    async def server_metadata(request: Request) -> Response:
        from importlib import metadata

        try:
            version = metadata.version("logreg-onnx")
        except metadata.PackageNotFoundError:
            version = "unknown"
        return json_answer({"name": SERVER_NAME, "version": version, "extensions": EXTENSIONS})

    async def model_metadata(request: Request) -> Response:
        entry = lookup(request, ready=False)
        return json_answer(describe(entry, repository.versions(entry.name)))

    async def model_ready(request: Request) -> Response:
        try:
            entry = lookup(request, ready=False)
        except RepositoryError as exc:
            if exc.status != 503:
                raise
            return json_answer({"name": request.path_params["name"], "ready": False, "reason": exc.detail}, 503)
        return json_answer({"name": entry.name, "ready": entry.ready}, 200 if entry.ready else 503)

    async def infer(request: Request) -> Response:
        # InferFastPath answers every infer request before starlette; the route is here for the route table
        raise HTTPError(404, f"no route {request.url.path}")  # pragma: no cover

    async def predict(request: Request) -> Response:
        name = request.path_params.get("name")
        if name is None:
            names = [slot.name for slot in repository.slots.values() if not slot.unloaded]
            if len(names) != 1:
                raise HTTPError(404, f"this server has {len(names)} models: use /v2/models/NAME/predict")
            name = names[0]
        entry = repository.resolve(name, request.path_params.get("version"))
        check_headers(request.headers.get("content-type"), request.headers.get("content-length"), limits)
        await admission.enter()
        started = time.perf_counter_ns()
        ok, rows = False, 0
        try:
            body = await read_body(request.receive, limits)
            content, rows = answer_predict(entry, body, limits, started, payloads)
            ok = True
        finally:
            admission.leave()
            took = time.perf_counter_ns() - started
            entry.stats.request(ok, took, rows=rows, phases=(0, took, 0))
        request.state.rows = rows
        return Response(content, media_type=JSON)

    async def statistics(request: Request) -> Response:
        name = request.path_params.get("name")
        return json_answer({"model_stats": repository.statistics(name, request.path_params.get("version"))})

    async def repository_index(request: Request) -> Response:
        document = optional_document(await read_body(request.receive, limits))
        ready_only = document.get("ready", False)
        if not isinstance(ready_only, bool):
            raise HTTPError(400, f'"ready" must be true or false, got {json.dumps(ready_only)[:40]}')
        return json_answer(repository.index(ready_only))

    async def repository_load(request: Request) -> Response:
        optional_document(await read_body(request.receive, limits))
        await repository.load(request.path_params["name"])
        return json_answer({})

    async def repository_unload(request: Request) -> Response:
        optional_document(await read_body(request.receive, limits))
        await repository.unload(request.path_params["name"])
        return json_answer({})

    metrics = Metrics(repository, admission, DriftCollector(repository.served) if drift_window else None)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    document = openapi_document()

    async def openapi(request: Request) -> Response:
        return Response(document, media_type=JSON)

    model = "/v2/models/{name}"
    versioned = "/v2/models/{name}/versions/{version}"
    routes = [
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/models/stats", statistics, methods=["GET"]),
        Route("/v2/repository/index", repository_index, methods=["POST"]),
        Route("/v2/repository/models/{name}/load", repository_load, methods=["POST"]),
        Route("/v2/repository/models/{name}/unload", repository_unload, methods=["POST"]),
    ]
    for prefix in (model, versioned):
        routes += [
            Route(prefix, model_metadata, methods=["GET"]),
            Route(f"{prefix}/ready", model_ready, methods=["GET"]),
            Route(f"{prefix}/infer", infer, methods=["POST"]),
            Route(f"{prefix}/predict", predict, methods=["POST"]),
            Route(f"{prefix}/stats", statistics, methods=["GET"]),
        ]
    routes += [
        Route("/predict", predict, methods=["POST"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):  # starlette's own: unknown route (404), wrong method (405)
            detail = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed here"}
            return json_answer({"error": detail.get(exc.status_code, str(exc.detail))}, exc.status_code, exc.headers)
        status, content, headers = error_answer(exc, f"{request.method} {request.url.path}")
        return Response(content, status, headers=dict(headers), media_type=JSON)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        tasks, servers = [], []
        if poll:
            tasks.append(asyncio.create_task(_poll(repository, poll)))
        if grpc is not None:
            from .serve_grpc import grpc_server

            secret = token.encode() if token else None
            server = grpc_server(
                repository, limits, admission, token=secret, metrics=metrics, payloads=payloads, **grpc
            )
            await server.start()
            servers.append(server)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for server in servers:
                await server.stop(5)

    handlers = {HTTPError: http_error, HTTPException: http_error, ProtocolError: http_error, InputError: http_error}
    handlers[RepositoryError] = handlers[Busy] = handlers[TooManyRows] = http_error
    handlers[Exception] = http_error
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app = InferFastPath(app, repository, limits, metrics, admission, payloads)
    if token:
        app = BearerAuth(app, token)
    app.routes = routes  # for introspection (the OpenAPI test), as on a Starlette app
    app.repository, app.admission = repository, admission
    return app


def _of_models(models: dict[str, Model], drift_window: int) -> Repository:
    """Models already loaded (by the caller) as a repository of one version each."""
    repository = Repository(files={name: model.path for name, model in models.items()}, drift_window=drift_window)
    for name, model in models.items():
        repository.install(name, 1, verified(name, "1", model, drift_window))
    return repository


async def _poll(repository: Repository, seconds: float) -> None:
    """Scan the repository every ``seconds`` for new, replaced or removed versions, for the life of the server."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await repository.refresh()
        except Exception:  # a bug of ours must not stop the polling: logged, tried again next time
            logger.exception("polling the repository failed")


class InferFastPath:
    """``POST /v2/models/NAME[/versions/VERSION]/infer`` as a plain ASGI app, in front of starlette, which gets every
    other request. Measured here (bench/serve.py's notes in the README): starlette's request, routing and middleware
    layers cost about 80 us a request, as much as all the work of a one-row infer."""

    def __init__(self, app, repository: Repository, limits: Limits, metrics: Metrics, admission, payloads) -> None:
        self.app, self.repository, self.limits, self.metrics = app, repository, limits, metrics
        self.admission, self.payloads = admission, payloads

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path.startswith("/v2/models/") and path.endswith("/infer") and scope["method"] == "POST"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter_ns()
        rows, entry, body = 0, None, b""
        headers = {}
        for key, value in scope["headers"]:
            headers[key] = value.decode("latin-1")
        extra = ()
        try:
            name, version = _infer_target(path)
            entry = self.repository.resolve(name, version)
            check_headers(headers.get(b"content-type"), headers.get(b"content-length"), self.limits)
            await self.admission.enter()
            try:
                body = await read_body(receive, self.limits)
                content, media, head, rows = await answer_infer(
                    entry, body, headers.get(b"inference-header-content-length"), self.limits, started, self.payloads
                )
            finally:
                self.admission.leave()
            status = 200
        except ClientGone:
            return
        except Exception as exc:
            status, content, extra = error_answer(exc, f"POST {path}")
            media, head = JSON, None
            if entry is not None:
                entry.stats.request(False, time.perf_counter_ns() - started)
        answer_headers = [(b"content-type", media.encode()), (b"content-length", str(len(content)).encode())]
        if head is not None:
            answer_headers.append((b"inference-header-content-length", str(head).encode()))
        answer_headers += [(k.encode(), v.encode()) for k, v in extra]
        await send({"type": "http.response.start", "status": status, "headers": answer_headers})
        await send({"type": "http.response.body", "body": content})
        took = time.perf_counter_ns() - started
        model = entry.name if entry is not None else "unknown"
        self.metrics.observe(self.metrics.infer_endpoint(path), model, status, took / 1e9, rows)


def _infer_target(path: str) -> tuple[str, str | None]:
    """(name, version or None) of ``/v2/models/NAME[/versions/VERSION]/infer``."""
    middle = path[len("/v2/models/") : -len("/infer")]
    name, marker, version = middle.partition("/versions/")
    if not name or "/" in name or (marker and (not version or "/" in version)):
        raise HTTPError(404, f"no route {path}")
    return name, version if marker else None


async def answer_infer(
    entry: Served,
    body: bytes,
    header: str | None,
    limits: Limits,
    started: int | None = None,
    payloads: PayloadLog | None = None,
) -> tuple[bytes, str, int | None, int]:
    """A V2 infer request's answer: (content, media type, JSON header length when some output is binary, rows); its
    statistics recorded on ``entry`` (``started``: the request's perf_counter_ns), and its inputs and outputs in
    ``payloads`` when given."""
    started = started or time.perf_counter_ns()
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
        offset=model.offset_column is not None,
    )
    rows = len(next(iter(parsed.inputs.values())))
    check_rows(rows, limits)
    numeric = parsed.inputs.get(contract.INPUT_NAME)
    if numeric is None:  # a model with categorical columns only
        numeric = np.zeros((rows, 0), np.float32)
    categories = parsed.inputs.get(contract.CATEGORIES_INPUT)
    decoded = time.perf_counter_ns()
    names = [name for name, _ in parsed.outputs]
    offsets = parsed.inputs.get(contract.OFFSET_INPUT)
    results, queue_ns, infer_ns = await run_model(entry, numeric, categories, names, offsets)
    computed = time.perf_counter_ns()
    content, head = encode(entry.name, parsed, results, entry.version)
    done = time.perf_counter_ns()
    entry.stats.request(
        True, done - started, rows=rows, queue_ns=queue_ns, phases=(decoded - started, infer_ns, done - computed)
    )
    if payloads is not None:
        outputs = {name: results[name] for name, _ in parsed.outputs}
        payloads.write(entry, "infer", parsed.id, parsed.inputs, outputs, done - started)
    return content, JSON if head is None else BINARY, head, rows


def openapi_document() -> bytes:
    """The OpenAPI document of these endpoints, kept beside this module (``runtime/openapi.json``)."""
    from importlib.resources import files

    return files(__package__).joinpath("openapi.json").read_bytes()


def describe(entry: Served, versions: list[str] | None = None) -> dict:
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
        "versions": versions or [entry.version],
        "platform": "onnxruntime_onnx",
        "inputs": inputs,
        "outputs": [
            {"name": name, "datatype": OUTPUT_TYPES[name], "shape": [-1, *dims[name]]} for name in entry.outputs
        ],
        "parameters": parameters,
    }
