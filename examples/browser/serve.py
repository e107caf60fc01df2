"""Serve the browser example (examples/ as the site root, the page at /browser/) with the headers that enable WASM
threads (COOP/COEP: cross-origin isolation), and the models to try at /models/NAME.onnx (and the ES module
`logreg export --code js` wrote beside one at /models/NAME.mjs, for the page's ?scorer=module).

    python examples/browser/serve.py [--port 8080] [--model PATH ...] [--no-isolation]

Standard library only; loopback unless --host says otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import mimetypes
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

EXAMPLES = Path(__file__).resolve().parents[1]
REPO = EXAMPLES.parent
DEFAULT_MODELS = [REPO / "artifacts" / "example-penguins" / "model.onnx", REPO / "artifacts" / "example" / "model.onnx"]

mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("application/wasm", ".wasm")


def model_name(path: Path) -> str:
    return path.parent.name if path.stem == "model" else path.stem


class Handler(SimpleHTTPRequestHandler):
    models: ClassVar[dict[str, Path]] = {}  # set once by main(), read by every request
    isolation: ClassVar[bool] = True

    def end_headers(self) -> None:
        if self.isolation:
            # cross-origin isolation: SharedArrayBuffer, so onnxruntime-web may run WASM threads
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/":
            self.send_response(302)
            self.send_header("Location", "/browser/")
            self.end_headers()
            return
        if path == "/models/index.json":
            self._send(json.dumps(sorted(self.models)).encode(), "application/json")
            return
        if path.startswith("/models/") and path.endswith(".onnx"):
            found = self.models.get(path.removeprefix("/models/").removesuffix(".onnx"))
            if found is None:
                self.send_error(404, "no such model")
                return
            self._send(found.read_bytes(), "application/octet-stream")
            return
        if path.startswith("/models/") and path.endswith(".testvectors.json"):  # replay.html: the engine matrix
            found = self.models.get(path.removeprefix("/models/").removesuffix(".testvectors.json"))
            vectors = None if found is None else found.with_name(f"{found.stem}.testvectors.json")
            if vectors is None or not vectors.is_file():
                self.send_error(404, "no test vectors beside the model")
                return
            self._send(vectors.read_bytes(), "application/json")
            return
        if path.startswith("/models/") and path.endswith(".mjs"):  # the page's ?scorer=module
            found = self.models.get(path.removeprefix("/models/").removesuffix(".mjs"))
            scorer = None if found is None else found.with_suffix(".mjs")
            if scorer is None or not scorer.is_file():
                self.send_error(404, "no generated ES module beside the model: logreg export RUN --code js")
                return
            self._send(scorer.read_bytes(), "text/javascript")
            return
        super().do_GET()

    def _send(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # quiet: one line at start-up is enough
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--model", type=Path, action="append", help="a model to offer (repeatable)")
    parser.add_argument("--no-isolation", action="store_true", help="leave out COOP/COEP: one WASM thread")
    args = parser.parse_args()
    models = args.model or DEFAULT_MODELS
    missing = [str(p) for p in models if not p.is_file()]
    if missing:
        parser.error(f"no model file at {', '.join(missing)}")
    Handler.models = {model_name(p): p.resolve() for p in models}
    Handler.isolation = not args.no_isolation
    server = ThreadingHTTPServer((args.host, args.port), functools.partial(Handler, directory=str(EXAMPLES)))
    port = server.server_address[1]
    print(
        f"http://{args.host}:{port}/browser/ (models: {', '.join(Handler.models)}; "
        f"{'cross-origin isolated' if Handler.isolation else 'not isolated'}; Ctrl-C to stop)",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
