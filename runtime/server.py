"""``logreg serve``: the Open Inference Protocol (KServe V2) REST endpoints over the runtime, on starlette + uvicorn.

Every error is JSON ``{"error": "..."}`` with a 4xx status (one table maps our exceptions to statuses); the server keeps
serving. A model is ready once it has replayed its own test vectors.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import contract, testvectors
from .errors import InputError
from .model import Model
from .v2 import HEADER_LENGTH, ProtocolError, decode, encode

logger = logging.getLogger(__name__)
SERVER_NAME = "logreg-onnx"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multiprocess mode, set by serve for --workers > 1
JSON = "application/json"
ACCEPTED_TYPES = ("", JSON, "application/octet-stream")


class HTTPError(Exception):
    """An answer other than 200: its status and what to tell the client."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


STATUS = {ProtocolError: 400, InputError: 400}  # our exceptions -> HTTP statuses


@dataclass
class Served:
    name: str
    model: Model
    ready: bool = False
    vectors: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 64 << 20
    max_rows: int = 100_000


def _json(document: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(document, separators=(",", ":")), status, headers=headers, media_type=JSON)


def create_app(models: dict[str, Model], limits: Limits | None = None) -> Starlette:
    """The ASGI app serving ``models`` (name -> loaded model)."""
    limits = limits or Limits()
    served = {name: Served(name, model) for name, model in models.items()}
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
        entry = lookup(request.path_params["name"])
        body = await _body(request, limits)
        header = request.headers.get(HEADER_LENGTH)
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
        )
        rows = len(next(iter(parsed.inputs.values())))
        _check_rows(rows, limits)
        request.state.rows = rows
        labels, probabilities = model.run_inputs(
            parsed.inputs.get(contract.INPUT_NAME, np.zeros((rows, 0), np.float32)),
            parsed.inputs.get(contract.CATEGORIES_INPUT),
        )
        content, head = encode(
            entry.name, parsed, {contract.LABEL_OUTPUT: labels, contract.PROBABILITIES_OUTPUT: probabilities}
        )
        if head is None:
            return Response(content, media_type=JSON)
        return Response(content, media_type="application/octet-stream", headers={HEADER_LENGTH: str(head)})

    async def predict(request: Request) -> Response:
        name = request.path_params.get("name")
        if name is None:
            if len(served) != 1:
                raise HTTPError(404, f"this server has {len(served)} models: use /v2/models/NAME/predict")
            name = next(iter(served))
        entry = lookup(name)
        body = await _body(request, limits)
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPError(400, f"the request is not valid JSON ({exc})") from None
        instances = document.get("instances") if isinstance(document, dict) else None
        if not isinstance(instances, list) or not instances:
            raise HTTPError(400, 'expected {"instances": [row, ...]}, rows as lists or as objects keyed by feature')
        _check_rows(len(instances), limits)
        request.state.rows = len(instances)
        model = entry.model
        labels, probabilities = model.run(instances)
        classes = model.classes
        return _json(
            {
                "model_name": entry.name,
                "predictions": [
                    {"label": classes[int(k)], "probabilities": dict(zip(classes, p, strict=True))}
                    for k, p in zip(labels.tolist(), probabilities.tolist(), strict=True)
                ],
            }
        )

    routes = [
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/models/{name}", model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/models/{name}/predict", predict, methods=["POST"]),
        Route("/predict", predict, methods=["POST"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPError):
            return _json({"error": exc.detail}, exc.status)
        if isinstance(exc, HTTPException):  # starlette's own: unknown route (404), wrong method (405)
            detail = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed here"}
            return _json({"error": detail.get(exc.status_code, str(exc.detail))}, exc.status_code, exc.headers)
        for kind, status in STATUS.items():
            if isinstance(exc, kind):
                return _json({"error": str(exc)}, status)
        # a bug of ours: logged with its traceback, answered as JSON like every other error
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _json({"error": f"internal error ({type(exc).__name__}); the server log has the details"}, 500)

    metrics = Metrics(served)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    document = openapi_document()

    async def openapi(request: Request) -> Response:
        return Response(document, media_type=JSON)

    routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    routes.append(Route("/openapi.json", openapi, methods=["GET"]))
    handlers = {HTTPError: http_error, HTTPException: http_error, ProtocolError: http_error, InputError: http_error}
    handlers[Exception] = http_error
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


class Metrics:
    """Prometheus metrics through prometheus_client, in a registry of this app's own: requests by endpoint, model and
    status, a latency histogram by endpoint, rows predicted by model."""

    def __init__(self, served: dict) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.content_type = CONTENT_TYPE_LATEST
        self.models = set(served)
        self.requests = Counter(
            "logreg_requests", "HTTP requests", ["endpoint", "model", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "logreg_request_seconds",
            "Request latency",
            ["endpoint"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.rows = Counter("logreg_rows_predicted", "Rows predicted", ["model"], registry=self.registry)

    def render(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest

        if not os.environ.get(MULTIPROCESS_ENV):
            return generate_latest(self.registry)
        # several worker processes (--workers N): each writes its counts to files there; a scrape sums them all
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)

    def endpoint(self, path: str) -> tuple[str, str]:
        """The route template and model name of a path (unknown paths pool under one label)."""
        parts = path.strip("/").split("/")
        if len(parts) >= 3 and parts[:2] == ["v2", "models"]:
            model = parts[2] if parts[2] in self.models else "unknown"
            return "/v2/models/{name}" + ("/" + "/".join(parts[3:]) if len(parts) > 3 else ""), model
        if path in ("/v2", "/v2/health/live", "/v2/health/ready", "/predict", "/metrics", "/openapi.json"):
            return path, ""
        return "(unknown)", ""


class MetricsMiddleware:
    """Counts every request with its final status and times it (pure ASGI, so errors answered by the exception
    handlers are counted with their 4xx)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def record(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            endpoint, model = self.metrics.endpoint(scope["path"])
            self.metrics.requests.labels(endpoint, model, str(status[0])).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
            rows = scope.get("state", {}).get("rows")
            if rows and status[0] == 200:
                self.metrics.rows.labels(model).inc(rows)


def openapi_document() -> bytes:
    """The OpenAPI document of these endpoints, kept beside this module (``runtime/openapi.json``)."""
    from importlib.resources import files

    return files(__package__).joinpath("openapi.json").read_bytes()


def describe(entry: Served) -> dict:
    """The V2 model metadata, with our feature and class names."""
    model = entry.model
    inputs = []
    if model.numeric_names:
        inputs.append({"name": contract.INPUT_NAME, "datatype": "FP32", "shape": [-1, len(model.numeric_names)]})
    if model.categorical_names:
        inputs.append(
            {"name": contract.CATEGORIES_INPUT, "datatype": "BYTES", "shape": [-1, len(model.categorical_names)]}
        )
    return {
        "name": entry.name,
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": inputs,
        "outputs": [
            {"name": contract.LABEL_OUTPUT, "datatype": "INT64", "shape": [-1]},
            {"name": contract.PROBABILITIES_OUTPUT, "datatype": "FP32", "shape": [-1, len(model.classes)]},
        ],
        "parameters": {
            "feature_names": model.feature_names,
            "numeric_features": model.numeric_names,
            "categorical_features": model.categorical_names,
            "class_names": model.classes,
            "sha256": model.sha256,
        },
    }


async def _body(request: Request, limits: Limits) -> bytes:
    """The body, refused with 413 before it is read whole when it is over the limit; 415 for a wrong content type."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ACCEPTED_TYPES:
        raise HTTPError(415, f"content type {kind!r} is not accepted; send application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise HTTPError(
            413, f"the body has {int(declared):,} bytes; this server takes at most {limits.max_body_bytes:,}"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise HTTPError(413, f"the body is over this server's limit of {limits.max_body_bytes:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_rows(rows: int, limits: Limits) -> None:
    if rows > limits.max_rows:
        raise HTTPError(
            413, f"{rows:,} rows in one request; this server takes at most {limits.max_rows:,} (--max-rows)"
        )
    if rows == 0:
        raise HTTPError(400, "the request has no rows")
