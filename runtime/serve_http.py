"""The HTTP side of ``logreg serve`` that every REST route shares: errors as data (one exception, one table of
statuses), the checks made before a body is read (content type, declared length) and the reading of a body within
the size and time limits."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from starlette.responses import Response

from .errors import InputError
from .repository import RepositoryError
from .serve_infer import Busy, Limits, TooManyRows
from .v2 import ProtocolError

logger = logging.getLogger("logreg_onnx.runtime.server")  # one logger for the server's log lines
JSON = "application/json"
BINARY = "application/octet-stream"
ACCEPTED_TYPES = ("", JSON, BINARY)
RETRY_AFTER = "1"  # seconds, with a 503 for a busy server


def json_answer(document, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(document, separators=(",", ":")), status, headers=headers, media_type=JSON)


class HTTPError(Exception):
    """An answer other than 200: its status and what to tell the client."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


STATUS = {ProtocolError: 400, InputError: 400, Busy: 503, TooManyRows: 413}  # our exceptions -> HTTP statuses


class ClientGone(Exception):
    """The client disconnected before its request was read: nothing to answer."""


def error_answer(exc: Exception, what: str) -> tuple[int, bytes, tuple]:
    """The status, JSON body and extra headers for an exception raised while answering ``what``."""
    headers: tuple = ()
    if isinstance(exc, HTTPError | RepositoryError):
        status, message = exc.status, exc.detail
    else:
        status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
        message = str(exc)
    if isinstance(exc, Busy):
        headers = (("retry-after", RETRY_AFTER),)
    if status == 500:
        # a bug of ours: logged with its traceback, answered as JSON like every other error
        logger.error("%s failed", what, exc_info=exc)
        message = f"internal error ({type(exc).__name__}); the server log has the details"
    return status, json.dumps({"error": message}, separators=(",", ":")).encode(), headers


def optional_document(body: bytes) -> dict:
    """A repository request's body: nothing, or a JSON object whose ``parameters`` (if any) is an object; or a 400."""
    if not body.strip():
        return {}
    document = _document(body)
    if not isinstance(document.get("parameters", {}), dict):
        raise HTTPError(400, f'"parameters" must be an object, got {json.dumps(document["parameters"])[:40]}')
    return document


def _document(body: bytes) -> dict:
    """A JSON object request body, or a 400."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPError(400, f"the request is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise HTTPError(400, f"the request must be a JSON object, got {type(document).__name__}")
    return document


def check_headers(content_type: str | None, content_length: str | None, limits: Limits) -> None:
    """415 for a content type other than JSON (or binary); 413 for a declared length over the limit, before reading."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in ACCEPTED_TYPES:
        raise HTTPError(415, f"content type {kind!r} is not accepted; send application/json")
    if content_length is not None and content_length.isdigit() and int(content_length) > limits.max_body_bytes:
        raise HTTPError(
            413, f"the body has {int(content_length):,} bytes; this server takes at most {limits.max_body_bytes:,}"
        )


async def read_body(receive, limits: Limits) -> bytes:
    """The body from ASGI ``receive``, refused with 413 as soon as it passes the limit (without a declared length),
    and with 408 when it takes longer than ``--request-timeout`` to arrive (a client trickling it holds no slot)."""
    chunks, size = [], 0
    deadline = time.monotonic() + limits.request_timeout if limits.request_timeout else None
    while True:
        if deadline is None:
            message = await receive()
        else:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                raise HTTPError(
                    408, f"the body took over {limits.request_timeout:g} s to arrive (--request-timeout)"
                ) from None
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise HTTPError(413, f"the body is over this server's limit of {limits.max_body_bytes:,} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
