"""``logreg serve``: load the models, check them, and run the V2 server with uvicorn (the ``serve`` extra)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

import click

from . import BadInput, require_extra

MODELS_ENV = "LOGREG_SERVE_MODELS"  # name=path;... for worker processes, which build the app themselves
LIMITS_ENV = "LOGREG_SERVE_LIMITS"
DRIFT_ENV = "LOGREG_SERVE_DRIFT_WINDOW"


@click.command()
@click.argument("model_path", metavar="[MODEL]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--name", help="Name of MODEL in the URLs. [default: the file's stem, or its folder's name for model.onnx]"
)
@click.option(
    "--model", "extra_models", multiple=True, metavar="NAME=PATH", help="Another model to serve (repeatable)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; loopback unless you say so.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Server processes.")
@click.option("--max-body-bytes", default=64 << 20, show_default=True, type=click.IntRange(min=1))
@click.option("--max-rows", default=100_000, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--drift-window",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="N",
    help="Keep each model's last N rows scored; /metrics then has their PSI against the training profile "
    "(logreg_drift_psi, logreg_score_psi). 0: off. With --workers, each process keeps its own window.",
)
def serve(model_path, name, extra_models, host, port, workers, max_body_bytes, max_rows, drift_window) -> None:
    """Serve MODEL over HTTP with the Open Inference Protocol (KServe V2): /v2/health/live, /v2/health/ready, /v2,
    /v2/models/NAME, /v2/models/NAME/ready, POST /v2/models/NAME/infer (JSON and Triton's binary tensors), and
    POST /v2/models/NAME/predict (or /predict) with {"instances": [...]}. Ctrl-C or SIGTERM: requests in flight finish.

    \b
    Example:
      logreg serve artifacts/example/model.onnx --port 8000
      curl -s localhost:8000/v2/models/example
    """
    require_extra("serve", "uvicorn", "starlette", "orjson")
    models = {}
    if model_path is not None:
        models[name or _default_name(model_path)] = model_path
    for spec in extra_models:
        key, sep, value = spec.partition("=")
        if not sep or not key or not value:
            raise BadInput(f"--model {spec!r}: expected NAME=PATH")
        if key in models:
            raise BadInput(f"--model {spec!r}: the name {key!r} is taken")
        models[key] = Path(value)
    if not models:
        raise BadInput("no model to serve: give MODEL or --model NAME=PATH")
    loaded = _load_all(models)  # fail now, in one line, rather than in a worker
    if drift_window:
        from logreg_onnx.runtime.drift import Profile

        for key, model in loaded.items():
            if Profile.from_metadata(model.metadata) is None:
                click.echo(
                    f"{key}: no training profile in {model.path} (exported without training rows): no drift gauges "
                    "for it; export it again from its run to have them",
                    err=True,
                )
    import uvicorn

    os.environ[MODELS_ENV] = ";".join(f"{k}={v}" for k, v in models.items())
    os.environ[LIMITS_ENV] = f"{max_body_bytes},{max_rows}"
    os.environ[DRIFT_ENV] = str(drift_window)
    click.echo(f"serving {', '.join(loaded)} on http://{host}:{port} (Ctrl-C to stop)", err=True)
    # uvicorn finishes the requests in flight on SIGTERM or Ctrl-C, then raises the signal again under the handler
    # that was there before it: with these, that second raise is a no-op and the command exits 0
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    with _metrics_shared_by(workers):
        uvicorn.run(
            "logreg_onnx.cli.serve:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # nothing here reads the client's address: skip the per-request middleware
            timeout_graceful_shutdown=10,
        )
    click.echo("stopped", err=True)


@contextlib.contextmanager
def _metrics_shared_by(workers: int):
    """With several worker processes, /metrics (answered by any one of them) must count all of them: prometheus_client's
    multiprocess mode, in a folder made for this server (or the one the environment names) and removed after it."""
    from logreg_onnx.runtime.serve_metrics import MULTIPROCESS_ENV

    if workers == 1 or os.environ.get(MULTIPROCESS_ENV):
        yield
        return
    folder = tempfile.mkdtemp(prefix="logreg-serve-metrics-")
    os.environ[MULTIPROCESS_ENV] = folder
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_ENV]
        shutil.rmtree(folder, ignore_errors=True)


def _default_name(path: Path) -> str:
    return path.parent.name if path.stem == "model" and path.parent.name else path.stem


def _load_all(models: dict[str, Path]) -> dict:
    from logreg_onnx.runtime.errors import ModelError
    from logreg_onnx.runtime.model import load

    loaded = {}
    for key, path in models.items():
        try:
            loaded[key] = load(path)
        except ModelError as exc:
            raise BadInput(str(exc)) from None
    return loaded


def app_from_environment():
    """The app of one server process, from the models and limits ``serve`` put in the environment."""
    from logreg_onnx.runtime.server import Limits, create_app

    models = dict(item.split("=", 1) for item in os.environ[MODELS_ENV].split(";"))
    body, rows = (int(v) for v in os.environ[LIMITS_ENV].split(","))
    drift_window = int(os.environ.get(DRIFT_ENV) or 0)
    return create_app(_load_all({k: Path(v) for k, v in models.items()}), Limits(body, rows), drift_window=drift_window)
