"""``logreg serve``: the Open Inference Protocol (KServe V2) REST endpoints over the runtime, on starlette + uvicorn.

Every error is JSON ``{"error": "..."}`` with a 4xx status (one table maps our exceptions to statuses); the server keeps
serving. A model is ready once it has replayed its own test vectors.
"""

from __future__ import annotations

import json
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

SERVER_NAME = "logreg-onnx"
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
            return _json({"error": detail.get(exc.status_code, str(exc.detail))}, exc.status_code)
        for kind, status in STATUS.items():
            if isinstance(exc, kind):
                return _json({"error": str(exc)}, status)
        return _json({"error": "internal error"}, 500)

    handlers = {HTTPError: http_error, HTTPException: http_error, ProtocolError: http_error, InputError: http_error}
    return Starlette(routes=routes, exception_handlers=handlers)


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
