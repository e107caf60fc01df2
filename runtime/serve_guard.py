"""Who may call ``logreg serve`` (``--token-file``: a bearer token) and what it keeps of its calls (``--log-payloads``:
JSON lines of each request's inputs and outputs, rotated by size)."""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import threading
import time
import uuid
from pathlib import Path

import numpy as np

logger = logging.getLogger("logreg_onnx.runtime.server")
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})  # what load balancers probe: no token
REALM = b'Bearer realm="logreg-onnx"'


def read_token(path: Path) -> str:
    """The token in ``path`` (its first line, stripped), or ValueError saying what is wrong with the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--token-file {path}: cannot read it ({exc})") from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(token) < 16 or any(c.isspace() for c in token):
        raise ValueError(
            f"--token-file {path}: expected one token of at least 16 characters without spaces, got "
            f"{len(token)} characters; make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return token


class BearerAuth:
    """Every HTTP request but the health endpoints needs ``Authorization: Bearer <token>`` (compared in constant
    time); a 401 with ``WWW-Authenticate`` otherwise."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.expected = b"Bearer " + token.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = next((value for key, value in scope["headers"] if key == b"authorization"), b"")
        if hmac.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        why = "missing" if not given else "wrong"
        body = json.dumps({"error": f"unauthorized: the Authorization header is {why}; send Bearer <token>"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers.append((b"www-authenticate", REALM))
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class PayloadLog:
    """JSON lines, one per answered request (REST infer and predict, gRPC ModelInfer): request id, time, model,
    version, endpoint, the inputs and outputs as decoded (each tensor a nested list, whatever encoding it came in:
    JSON, binary tensors or gRPC), latency in ms. When the file passes ``max_bytes`` it is renamed ``FILE.1``
    (``FILE.2``... up to ``backups``) and a new one is started. With several worker processes, each writes its own
    file, ``FILE`` suffixed with its pid."""

    def __init__(self, path: Path, max_bytes: int = 100 << 20, backups: int = 3) -> None:
        self.path = Path(path)
        self.max_bytes, self.backups = max_bytes, backups
        self._lock = threading.Lock()
        self._file = None

    def write(self, entry, endpoint: str, request_id: str | None, inputs: dict, outputs: dict, took_ns: int) -> None:
        """One line for a request to ``entry`` (a served version): ``inputs`` and ``outputs`` map tensor names to
        arrays (or JSON values, as /predict's instances and predictions); ``request_id`` the client's, or None for
        a new one. The request was answered: a line that cannot be written is logged, never the request's failure."""
        try:
            self._write(entry, endpoint, request_id, inputs, outputs, took_ns)
        except Exception:
            logger.exception("--log-payloads: the line of a request to %s could not be written", entry.name)

    def _write(self, entry, endpoint: str, request_id, inputs: dict, outputs: dict, took_ns: int) -> None:
        record = {
            "request_id": request_id if request_id else uuid.uuid4().hex,
            "time": time.time(),
            "model": entry.name,
            "version": entry.version,
            "endpoint": endpoint,
            "inputs": {name: _plain(value) for name, value in inputs.items()},
            "outputs": {name: _plain(value) for name, value in outputs.items()},
            "latency_ms": round(took_ns / 1e6, 3),
        }
        line = (json.dumps(record, separators=(",", ":"), allow_nan=False, default=str) + "\n").encode()
        with self._lock:
            if self._file is None:
                self._file = open(self.path, "ab")  # noqa: SIM115 (kept open for the life of the server)
            self._file.write(line)
            self._file.flush()
            if self._file.tell() >= self.max_bytes:
                self._rotate()

    def _rotate(self) -> None:
        self._file.close()
        self._file = None
        for k in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{k}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{k + 1}"))
        if self.backups:
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _plain(value):
    """A tensor (or a JSON value) as strict JSON: numbers as numbers, a missing or non-finite value as null, text as
    text."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            value = np.where(np.isfinite(value), value.astype(object), None)
        value = value.tolist()
    return _text(value)


def _text(value):
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _text(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
