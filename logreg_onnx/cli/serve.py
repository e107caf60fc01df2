"""``logreg serve``: load the models, check them, and run the V2 server with uvicorn (the ``serve`` extra)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

import click

from . import BadInput, require_extra

CONFIG_ENV = "LOGREG_SERVE_CONFIG"  # JSON: what each worker process needs to build its app (create_app's arguments)
LOOPBACK = ("localhost",)


@click.command()
@click.argument("model_path", metavar="[MODEL]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--name", help="Name of MODEL in the URLs. [default: the file's stem, or its folder's name for model.onnx]"
)
@click.option(
    "--model", "extra_models", multiple=True, metavar="NAME=PATH", help="Another model to serve (repeatable)."
)
@click.option(
    "--repository",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Serve a model repository: DIR/NAME/VERSION/model.onnx (VERSION a positive integer), Triton's layout. "
    "Instead of MODEL and --model.",
)
@click.option(
    "--versions",
    "version_policy",
    default="latest",
    show_default=True,
    metavar="latest|all|N,M",
    help="Which versions of each repository model to serve; an unversioned request gets the latest ready one.",
)
@click.option(
    "--poll",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Scan the files every SECONDS: a new version or a replaced file is loaded, verified and swapped in while "
    "serving (requests in flight finish on their version); a file that fails is refused and the old one serves. "
    "0: off.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; loopback unless you say so.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--grpc-port",
    type=click.IntRange(1, 65535),
    metavar="N",
    help="Also serve the protocol's gRPC service (inference.GRPCInferenceService) on port N. [default: no gRPC]",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Server processes.")
@click.option("--max-body-bytes", default=64 << 20, show_default=True, type=click.IntRange(min=1))
@click.option("--max-rows", default=100_000, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--max-queue",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="N",
    help="Requests in progress at once, per process; past it, an immediate 503 with Retry-After (gRPC: "
    "UNAVAILABLE) instead of a growing wait. 0: no limit.",
)
@click.option(
    "--request-timeout",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="A request that waits longer for its batch is answered 503, and a body that takes longer to arrive 408. "
    "0: no limit.",
)
@click.option(
    "--max-batch-size",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    metavar="N",
    help="Coalesce concurrent infer requests of one model into one run of at most N rows (1: off; see "
    "docs/serving.md for when it helps).",
)
@click.option(
    "--max-batch-delay-us",
    default=500,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="T",
    help="How long the first request of a batch waits for others, in microseconds.",
)
@click.option(
    "--drift-window",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="N",
    help="Keep each model's last N rows scored; /metrics then has their PSI against the training profile "
    "(logreg_drift_psi, logreg_score_psi). 0: off. With --workers, each process keeps its own window.",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Every request but /v2/health/* needs 'Authorization: Bearer TOKEN', TOKEN the file's first line (REST "
    "and gRPC); 401 (UNAUTHENTICATED) otherwise.",
)
@click.option(
    "--allow-unauthenticated",
    is_flag=True,
    help="Bind a non-loopback --host without --token-file (refused otherwise: anyone who reaches it could call it).",
)
@click.option(
    "--ssl-certfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="PATH",
    help="TLS certificate (PEM) for REST and gRPC; with --ssl-keyfile.",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="PATH",
    help="TLS private key (PEM).",
)
@click.option(
    "--log-payloads",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Append one JSON line per answered infer/predict request, REST or gRPC (id, model, version, the inputs and "
    "outputs as decoded, latency) to FILE, "
    "rotated at --log-payloads-max-bytes (FILE.1, FILE.2, FILE.3). With --workers: FILE.PID per process. "
    "Off by default.",
)
@click.option(
    "--log-payloads-max-bytes", default=100 << 20, show_default=True, type=click.IntRange(min=1024), metavar="N"
)
def serve(**options) -> None:
    """Serve models over HTTP (and gRPC) with the Open Inference Protocol (KServe V2): /v2/health/live,
    /v2/health/ready, /v2, /v2/models/NAME[/versions/V] (metadata), .../ready, POST .../infer (JSON and Triton's
    binary tensors), POST .../predict (or /predict) with {"instances": [...]}, GET .../stats, and the repository
    extension (POST /v2/repository/index, /v2/repository/models/NAME/load and /unload). Ctrl-C or SIGTERM: requests
    in flight finish.

    \b
    Examples:
      logreg serve artifacts/example/model.onnx --port 8000
      curl -s localhost:8000/v2/models/example
      logreg serve --repository models/ --poll 2 --grpc-port 8001
    """
    require_extra("serve", "uvicorn", "starlette", "orjson")
    config = _config(options)
    loaded = _check(config)  # fail now, in one line, rather than in a worker
    if config["drift_window"]:
        from logreg_onnx.runtime.drift import Profile

        for key, model in loaded.items():
            if model is not None and Profile.from_metadata(model.metadata) is None:
                click.echo(
                    f"{key}: no training profile in {model.path} (exported without training rows): no drift gauges "
                    "for it; export it again from its run to have them",
                    err=True,
                )
    import uvicorn

    os.environ[CONFIG_ENV] = json.dumps(config)
    host, port, scheme = options["host"], options["port"], "https" if options["ssl_certfile"] else "http"
    grpc = f" and grpc on {host}:{options['grpc_port']}" if options["grpc_port"] else ""
    click.echo(f"serving {', '.join(loaded)} on {scheme}://{host}:{port}{grpc} (Ctrl-C to stop)", err=True)
    # uvicorn finishes the requests in flight on SIGTERM or Ctrl-C, then raises the signal again under the handler
    # that was there before it: with these, that second raise is a no-op and the command exits 0
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    ssl = {}
    if options["ssl_certfile"]:
        ssl = {"ssl_certfile": str(options["ssl_certfile"]), "ssl_keyfile": str(options["ssl_keyfile"])}
    with _metrics_shared_by(options["workers"]):
        uvicorn.run(
            "logreg_onnx.cli.serve:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=options["workers"],
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # nothing here reads the client's address: skip the per-request middleware
            timeout_graceful_shutdown=10,
            **ssl,
        )
    click.echo("stopped", err=True)


def _config(options: dict) -> dict:
    """The options as the worker processes get them (JSON), checked: every mistake is one line, before serving."""
    models = {}
    if options["model_path"] is not None:
        models[options["name"] or _default_name(options["model_path"])] = str(options["model_path"])
    for spec in options["extra_models"]:
        key, sep, value = spec.partition("=")
        if not sep or not key or not value:
            raise BadInput(f"--model {spec!r}: expected NAME=PATH")
        if key in models:
            raise BadInput(f"--model {spec!r}: the name {key!r} is taken")
        models[key] = value
    repository = options["repository"]
    if repository is not None and models:
        raise BadInput("give either --repository DIR or model files (MODEL, --model NAME=PATH), not both")
    if repository is None and not models:
        raise BadInput("no model to serve: give MODEL, --model NAME=PATH or --repository DIR")
    from logreg_onnx.runtime.repository import VersionPolicy

    try:
        VersionPolicy.parse(options["version_policy"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--versions") from None
    if (options["ssl_certfile"] is None) != (options["ssl_keyfile"] is None):
        raise BadInput("TLS needs both --ssl-certfile and --ssl-keyfile")
    if options["token_file"] is not None:
        from logreg_onnx.runtime.serve_guard import read_token

        try:
            read_token(options["token_file"])
        except ValueError as exc:
            raise BadInput(str(exc)) from None
    elif not _loopback(options["host"]) and not options["allow_unauthenticated"]:
        raise BadInput(
            f"--host {options['host']} is reachable from other machines and there is no --token-file: anyone who "
            "reaches it could call it; give --token-file PATH (and TLS), or --allow-unauthenticated"
        )
    if options["grpc_port"] is not None and options["workers"] > 1:
        raise BadInput(
            f"--grpc-port with --workers {options['workers']}: the gRPC service runs in one process; use --workers 1 "
            "(or run one server per port)"
        )
    if options["grpc_port"] is not None and options["grpc_port"] == options["port"]:
        raise BadInput(f"--grpc-port {options['grpc_port']} is --port too; give gRPC a port of its own")
    keys = ("version_policy", "poll", "host", "grpc_port", "drift_window", "log_payloads_max_bytes")
    limits = ("max_body_bytes", "max_rows", "max_queue", "request_timeout", "max_batch_size", "max_batch_delay_us")
    paths = ("token_file", "ssl_certfile", "ssl_keyfile", "log_payloads")
    return {
        "models": models,
        "repository": None if repository is None else str(repository),
        "limits": {key: options[key] for key in limits},
        "workers": options["workers"],
        **{key: options[key] for key in keys},
        **{key: None if options[key] is None else str(Path(options[key]).resolve()) for key in paths},
    }


def _loopback(host: str) -> bool:
    import ipaddress

    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check(config: dict) -> dict:
    """The models as they load now (name -> Model; for a repository, name -> None), or BadInput in one line."""
    if config["repository"] is None:
        return _load_all({k: Path(v) for k, v in config["models"].items()})
    from logreg_onnx.runtime.repository import check_root

    try:
        found = check_root(Path(config["repository"]))
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    return dict.fromkeys(found)  # their versions load in the server, each verified before it is ready


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
    """The app of one server process, from the options ``serve`` put in the environment."""
    from logreg_onnx.runtime.repository import Repository, VersionPolicy
    from logreg_onnx.runtime.serve_guard import PayloadLog, read_token
    from logreg_onnx.runtime.server import Limits, create_app

    config = json.loads(os.environ[CONFIG_ENV])
    drift_window = config["drift_window"]
    if config["repository"] is None:
        models = _load_all({k: Path(v) for k, v in config["models"].items()})
    else:
        policy = VersionPolicy.parse(config["version_policy"])
        models = Repository(root=Path(config["repository"]), policy=policy, drift_window=drift_window)
    payloads = None
    if config["log_payloads"]:
        path = Path(config["log_payloads"])
        if config["workers"] > 1:
            path = path.with_name(f"{path.name}.{os.getpid()}")
        payloads = PayloadLog(path, config["log_payloads_max_bytes"])
    grpc = None
    if config["grpc_port"]:
        grpc = {"host": config["host"], "port": config["grpc_port"]}
        if config["ssl_certfile"]:
            grpc["ssl"] = (Path(config["ssl_keyfile"]).read_bytes(), Path(config["ssl_certfile"]).read_bytes())
    return create_app(
        models,
        Limits(**config["limits"]),
        drift_window=drift_window,
        poll=config["poll"],
        token=read_token(Path(config["token_file"])) if config["token_file"] else None,
        payloads=payloads,
        grpc=grpc,
    )
