"""Requests to an ASGI app in process, for tests that check the server's answers without a socket or an HTTP client
(httpx, which starlette's TestClient needs, is not a dependency)."""

from __future__ import annotations

import asyncio
import json


def asgi(app, method: str, path: str, body: bytes = b"") -> tuple[int, dict]:
    """One request to an ASGI app in process (no sockets, no HTTP client): the status and the JSON answer."""
    return asyncio.run(request(app, method, path, body))


async def request(
    app, method: str, path: str, body: bytes = b"", answer_headers: list | None = None
) -> tuple[int, dict]:
    """:func:`asgi` on the running event loop, so that several can be in progress at once; ``answer_headers``: a list
    that gets the answer's headers."""
    sent, messages = False, []

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        messages.append(message)

    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    if answer_headers is not None:
        answer_headers.extend(start["headers"])
    return start["status"], json.loads(content)
