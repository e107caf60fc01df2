"""Benchmark for ``logreg serve`` (issue 9): HTTP throughput and tail latency under wrk, side by side in one run with

- MLServer 1.7.1 as shipped (mlserver-sklearn, default settings), serving the equivalent scikit-learn pipeline
  (StandardScaler + LogisticRegression fitted on the same data), from its own virtual environment (``make
  bench-serve-tools`` builds it and installs wrk);
- a bare starlette + uvicorn endpoint calling onnxruntime with no validation (bench/bare_server.py).

Every server gets the same V2 request for the example model (breast cancer, 30 features), asking for the
probabilities; the answers are checked against the Python runtime before any load. wrk runs one thread (the second
core is the server's), on loopback only; each case is the median of 3 runs of 5 s.

1. single row, 16 and 64 connections: requests/s, p50/p99 latency, errors;
2. a 1,000-row batch, JSON and Triton's binary tensors: rows/s;
3. ``--workers 2`` against 1 (single row and JSON batch): what a second process buys on this machine.

``--drift`` measures only what ``--drift-window 1000`` costs (issue 20): single-row V2 infer requests/s of two
servers of the same model, exported here with its training profile, one keeping the window and one not, their wrk
runs alternated; and the time of a /metrics scrape that computes the drift gauges. Its record:
bench/results/serve_drift.json.

    python bench/serve.py [--seconds 5] [--repeats 3] [--mlserver-python .venv-mlserver/bin/python] [--drift]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_record", HERE / "record.py")
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)

MODEL = REPO / "artifacts" / "example" / "model.onnx"
DATA = REPO / "examples" / "breast_cancer" / "breast_cancer.csv"
TARGETS = {"rps": 5000, "p99_16": 10.0, "vs_mlserver": 4.0, "p99_64": 25.0, "vs_bare": 0.75}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def started(command: list[str], ready, env: dict | None = None, cwd: Path | None = None, seconds: float = 90):
    """Run ``command`` in its own process group until ``ready()`` is true; stop the group with SIGTERM after."""
    log = tempfile.NamedTemporaryFile(prefix="bench-serve-", suffix=".log")  # noqa: SIM115
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    try:
        deadline = time.monotonic() + seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[:3]} exited: {Path(log.name).read_text()[-2000:]}")
            try:
                if ready():
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[:3]} not ready after {seconds} s: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.2)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def post(url: str, body: bytes, headers: dict) -> tuple[dict, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return dict(answer.headers), answer.read()


def v2_json(X: np.ndarray, output: str) -> bytes:
    tensor = {"name": "features", "shape": list(X.shape), "datatype": "FP32", "data": X.ravel().tolist()}
    return json.dumps({"inputs": [tensor], "outputs": [{"name": output}]}).encode()


def v2_binary(X: np.ndarray) -> tuple[bytes, int]:
    raw = np.ascontiguousarray(X, dtype="<f4").tobytes()
    tensor = {
        "name": "features",
        "shape": list(X.shape),
        "datatype": "FP32",
        "parameters": {"binary_data_size": len(raw)},
    }
    head = json.dumps(
        {"inputs": [tensor], "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}
    ).encode()
    return head + raw, len(head)


def probabilities_of(headers: dict, raw: bytes) -> np.ndarray:
    length = {k.lower(): v for k, v in headers.items()}.get("inference-header-content-length")
    head = json.loads(raw[: int(length)] if length else raw)
    output = head["outputs"][0]
    if "data" in output:
        return np.array(output["data"], dtype=np.float64).reshape(output["shape"])
    return np.frombuffer(raw[int(length) :], "<f4").reshape(output["shape"]).astype(np.float64)


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{extra}
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*a")
f:close()
"""


def wrk(url: str, body: bytes, seconds: int, connections: int, headers: dict | None = None) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        body_path = Path(folder) / "body"
        body_path.write_bytes(body)
        extra = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items())
        script = Path(folder) / "post.lua"
        script.write_text(WRK_SCRIPT.format(body=body_path, extra=extra))
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
        ]
        out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> dict:
    def duration(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]

    percentiles = {int(p): duration(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)", out, re.M)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": percentiles[50],
        "p99": percentiles[99],
        "requests": requests,
        "errors": errors + (int(non_2xx.group(1)) if non_2xx else 0),
    }


FIT = """
import json, sys
import joblib, numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

frame = pd.read_csv(sys.argv[1])
y = frame.pop("diagnosis")
pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(frame.to_numpy(np.float32), y)
joblib.dump(pipeline, sys.argv[2] + "/model.joblib")
settings = {"name": "example", "implementation": "mlserver_sklearn.SKLearnModel"}
settings["parameters"] = {"uri": "./model.joblib"}
with open(sys.argv[2] + "/model-settings.json", "w") as out:
    json.dump(settings, out)
"""


def fit_sklearn_pipeline(python: Path, folder: Path) -> None:
    """The equivalent scikit-learn model (standardized features, L-BFGS to convergence), fitted and pickled by
    MLServer's own environment so that the scikit-learn versions match."""
    subprocess.run([str(python), "-c", FIT, str(DATA), str(folder)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk run")
    parser.add_argument("--repeats", type=int, default=3, help="wrk runs a case; the median is kept")
    parser.add_argument("--mlserver-python", default=str(REPO / ".venv-mlserver" / "bin" / "python"))
    parser.add_argument(
        "--drift", action="store_true", help="only the cost of --drift-window 1000 (record serve_drift)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run `make bench-serve-tools` (Debian's wrk and MLServer's venv)")
    if args.drift:
        drift_cost(args.seconds, args.repeats)
        return
    mlserver = Path(args.mlserver_python)
    if not mlserver.exists():
        sys.exit(f"{mlserver} not found: run `make bench-serve-tools` (MLServer 1.7.1 in its own venv)")

    from logreg_onnx import runtime

    model = runtime.load(MODEL)
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    fit_sklearn_pipeline(mlserver, work)
    X_all = np.loadtxt(DATA, delimiter=",", skiprows=1, usecols=range(30), dtype=np.float32)
    row = X_all[:1]
    batch = X_all[np.random.default_rng(0).integers(0, len(X_all), 1000)]
    expected_row = model.predict_proba(row)
    expected_batch = model.predict_proba(batch)
    single = v2_json(row, "probabilities")
    batch_json = v2_json(batch, "probabilities")
    batch_binary, head_length = v2_binary(batch)
    results: dict = {}

    def measure(name: str, url: str, body: bytes, connections: int, headers: dict | None = None) -> None:
        # this machine is noisy (runs of one case differ by up to 30%): the median of several runs, by requests/s
        runs = sorted(
            (wrk(url, body, args.seconds, connections, headers) for _ in range(args.repeats)), key=lambda r: r["rps"]
        )
        results[name] = r = runs[len(runs) // 2]
        r["errors"] = sum(run["errors"] for run in runs)
        spread = ", ".join(f"{run['rps']:,.0f}" for run in runs)
        print(
            f"  {name}: {r['rps']:,.0f} req/s (runs: {spread}), p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, "
            f"errors {r['errors']}"
        )

    def health(base: str):
        def ready() -> bool:
            with urllib.request.urlopen(f"{base}/v2/health/ready", timeout=1) as answer:
                return answer.status == 200

        return ready

    def answers(url: str, body: bytes, headers: dict | None = None) -> np.ndarray:
        got_headers, raw = post(url, body, {"Content-Type": "application/json", **(headers or {})})
        return probabilities_of(got_headers, raw)

    def measure_server(tag: str, url: str) -> None:
        """The cases every server of the comparison runs (ours also runs the binary batch)."""
        measure(f"{tag}: single row, 16 conn", url, single, 16)
        measure(f"{tag}: single row, 64 conn", url, single, 64)
        measure(f"{tag}: 1,000-row JSON, 4 conn", url, batch_json, 4)

    binary_header = {"Inference-Header-Content-Length": str(head_length)}
    # logreg serve, 1 and 2 workers
    for workers in (1, 2):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "logreg_onnx", "serve", str(MODEL), "--port", str(port)]
        with started([*command, "--workers", str(workers)], health(base)):
            url = f"{base}/v2/models/example/infer"
            np.testing.assert_array_equal(answers(url, single), expected_row)
            np.testing.assert_array_equal(answers(url, batch_binary, binary_header), expected_batch)
            np.testing.assert_array_equal(answers(url, batch_json), expected_batch)
            print(f"logreg serve, {workers} worker(s): answers equal the Python runtime's")
            tag = "ours" if workers == 1 else "ours, 2 workers"
            measure_server(tag, url)
            measure(f"{tag}: 1,000-row binary, 4 conn", url, batch_binary, 4, binary_header)

    # the bare endpoint
    for workers in (1, 2):
        port = free_port()
        url = f"http://127.0.0.1:{port}/v2/models/example/infer"
        command = [sys.executable, str(HERE / "bare_server.py"), str(MODEL), str(port), str(workers)]
        with started(command, lambda url=url: post(url, single, {})):
            np.testing.assert_array_equal(answers(url, single), expected_row)
            np.testing.assert_array_equal(answers(url, batch_json), expected_batch)
            print(f"bare endpoint, {workers} worker(s): answers equal the Python runtime's")
            measure_server("bare" if workers == 1 else "bare, 2 workers", url)

    # MLServer as shipped, with its own ports
    port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    (work / "settings.json").write_text(
        json.dumps({"http_port": port, "grpc_port": grpc_port, "metrics_port": metrics_port, "host": "127.0.0.1"})
    )
    base = f"http://127.0.0.1:{port}"
    command = [str(Path(args.mlserver_python).parent / "mlserver"), "start", str(work)]
    with started(command, health(base), cwd=work):
        url = f"{base}/v2/models/example/infer"
        single_sk, batch_sk = v2_json(row, "predict_proba"), v2_json(batch, "predict_proba")
        # scikit-learn orders the classes by sorting them; our model keeps the order of its metadata
        order = [model.classes.index(c) for c in sorted(model.classes)]
        theirs, ours = answers(url, batch_sk), expected_batch[:, order]
        # the same kind of model, fitted by another solver with scikit-learn's default penalty (C=1): close, not equal
        agreement = (theirs.argmax(1) == ours.argmax(1)).mean()
        print(
            f"MLServer: the same label as ours for {agreement:.1%} of the batch rows (median probability difference "
            f"{np.median(np.abs(theirs - ours)):.1e})"
        )
        assert agreement > 0.95, agreement
        measure("MLServer: single row, 16 conn", url, single_sk, 16)
        measure("MLServer: single row, 64 conn", url, single_sk, 64)
        measure("MLServer: 1,000-row JSON, 4 conn", url, batch_sk, 4)

    shutil.rmtree(work, ignore_errors=True)
    report(results, args.seconds, args.repeats)


DRIFT_WINDOW = 1000


def drift_cost(seconds: int, repeats: int) -> None:
    """Single-row infer requests/s with ``--drift-window 1000`` against without (16 connections, runs alternated,
    medians), the answers checked equal first; then the time of a /metrics scrape over a full window."""
    import pandas as pd

    from logreg_onnx import runtime, trainer

    frame = pd.read_csv(DATA)
    labels = frame.pop(frame.columns[-1])
    work = Path(tempfile.mkdtemp(prefix="bench-serve-drift-"))
    path = work / "model.onnx"
    trainer.fit(frame, labels).export(path)  # with its training profile
    model = runtime.load(path)
    X = frame.to_numpy(np.float32)
    single = v2_json(X[:1], "probabilities")
    urls = {}
    with contextlib.ExitStack() as stack:
        for tag, extra in (("off", []), ("on", ["--drift-window", str(DRIFT_WINDOW)])):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            command = [sys.executable, "-m", "logreg_onnx", "serve", str(path), "--name", "example", "--port"]
            stack.enter_context(started([*command, str(port), *extra], _ready(base)))
            urls[tag] = base
            got_headers, raw = post(f"{base}/v2/models/example/infer", single, {"Content-Type": "application/json"})
            np.testing.assert_array_equal(probabilities_of(got_headers, raw), model.predict_proba(X[:1]))
        runs: dict[str, list[dict]] = {"off": [], "on": []}
        for _ in range(repeats):  # alternated, so that the machine's drifts in speed fall on both sides alike
            for tag in ("off", "on"):
                runs[tag].append(wrk(f"{urls[tag]}/v2/models/example/infer", single, seconds, 16))
        started_at = time.perf_counter()
        with urllib.request.urlopen(f"{urls['on']}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        scrape_ms = (time.perf_counter() - started_at) * 1000
    request_us = _request_path_us(model, single)
    gauges = [line for line in text.splitlines() if line.startswith(("logreg_drift_psi{", "logreg_score_psi{"))]
    median = {tag: sorted(r["rps"] for r in rs)[len(rs) // 2] for tag, rs in runs.items()}
    errors = sum(r["errors"] for rs in runs.values() for r in rs)
    for tag in ("off", "on"):
        spread = ", ".join(f"{r['rps']:,.0f}" for r in runs[tag])
        print(f"  --drift-window {'0' if tag == 'off' else DRIFT_WINDOW}: {median[tag]:,.0f} req/s (runs: {spread})")
    ratio = median["on"] / median["off"]
    print(
        f"the request path in process (answer_infer, one row, best of 5 x 2,000): {request_us['off']:.1f} us "
        f"without the window, {request_us['on']:.1f} us with it ({request_us['on'] / request_us['off']:.3f}x)"
    )
    print(
        f"with / without: {ratio:.3f} (target >= 0.95); errors {errors}; a /metrics scrape "
        f"over a full window of {DRIFT_WINDOW} rows: {scrape_ms:.1f} ms, {len(gauges)} drift gauges"
    )
    shutil.rmtree(work, ignore_errors=True)
    rows = [
        [
            f"--drift-window {'0' if tag == 'off' else DRIFT_WINDOW}",
            f"{median[tag]:,.0f}",
            ", ".join(f"{r['rps']:,.0f}" for r in runs[tag]),
            f"{median[tag] / median['off']:.2f}x",
        ]
        for tag in ("off", "on")
    ]
    tables = [
        record.table(
            f"What the drift window costs: single-row V2 infer, 16 connections, {repeats} alternated runs of "
            f"{seconds} s (medians)",
            ["server", "req/s", "runs", "against off"],
            rows,
            note=f"target: at least 0.95x ({'met' if ratio >= 0.95 else 'NOT met'}); errors {errors}; one /metrics "
            f"scrape over a full window of {DRIFT_WINDOW} rows computes {len(gauges)} drift gauges in "
            f"{scrape_ms:.1f} ms (the cost falls on the scrape, not on requests)",
        )
    ]
    tables.append(
        record.table(
            "The request path alone, in process: runtime.server.answer_infer on one row (best of 5 x 2,000 calls)",
            ["server", "us a request", "against off"],
            [
                [
                    f"--drift-window {'0' if tag == 'off' else DRIFT_WINDOW}",
                    f"{request_us[tag]:.1f}",
                    f"{request_us[tag] / request_us['off']:.3f}x",
                ]
                for tag in ("off", "on")
            ],
            note="no network and no wrk: what the window's append adds to the work of a request",
        )
    )
    record.show(tables)
    figures = {"ratio": ratio, "median_rps": median, "scrape_ms": scrape_ms, "errors": errors, "request_us": request_us}
    title = "Serving with a drift window (bench/serve.py --drift)"
    print(f"\nwrote {record.write_record('serve_drift', tables=tables, figures=figures, title=title)}")


def _request_path_us(model, body: bytes) -> dict[str, float]:
    """Microseconds per single-row V2 infer in process (``answer_infer``, what the route calls), without and with a
    drift window: the best of 5 rounds of 2,000 calls each, the two alternated."""
    from logreg_onnx.runtime.serve_drift import DriftWindow
    from logreg_onnx.runtime.server import Limits, Served, answer_infer

    window = DriftWindow(DRIFT_WINDOW, len(model.numeric_names), len(model.categorical_names), len(model.classes))
    entries = {"off": Served("example", model, ready=True), "on": Served("example", model, ready=True, window=window)}
    limits = Limits()
    best = {"off": float("inf"), "on": float("inf")}
    for _ in range(5):
        for tag, entry in entries.items():
            started_at = time.perf_counter()
            for _ in range(2000):
                answer_infer(entry, body, None, limits)
            best[tag] = min(best[tag], (time.perf_counter() - started_at) / 2000 * 1e6)
    return best


def _ready(base: str):
    def ready() -> bool:
        with urllib.request.urlopen(f"{base}/v2/health/ready", timeout=1) as answer:
            return answer.status == 200

    return ready


SERVERS = ("ours", "ours, 2 workers", "bare", "bare, 2 workers", "MLServer")


def report(results: dict, seconds: int, repeats: int) -> None:
    """Print the tables and write bench/results/serve.json."""
    how = f"wrk -t1 on loopback; each case the median of {repeats} runs of {seconds} s (errors: the sum)"
    single = []
    for name in SERVERS:
        for connections in (16, 64):
            r = results.get(f"{name}: single row, {connections} conn")
            if r:
                cells = [f"{r['rps']:,.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}", r["errors"]]
                single.append([name, connections, *cells])
    batch = []
    for name in SERVERS:
        for kind in ("JSON", "binary"):
            r = results.get(f"{name}: 1,000-row {kind}, 4 conn")
            if r:
                cells = [f"{r['rps'] * 1000:,.0f}", f"{r['p50']:.1f}", f"{r['p99']:.1f}", r["errors"]]
                batch.append([name, kind, *cells])

    def rps(name: str, connections: int = 16) -> float:
        return results[f"{name}: single row, {connections} conn"]["rps"]

    ours16, ours64 = results["ours: single row, 16 conn"], results["ours: single row, 64 conn"]
    two16 = results["ours, 2 workers: single row, 16 conn"]
    errors = sum(r["errors"] for name, r in results.items() if name.startswith("ours"))
    checks = [
        (f">= {TARGETS['rps']:,} req/s, 1 worker", ours16["rps"] >= TARGETS["rps"], f"{ours16['rps']:,.0f}"),
        (f">= {TARGETS['rps']:,} req/s, 2 workers", two16["rps"] >= TARGETS["rps"], f"{two16['rps']:,.0f}"),
        (f"p99 <= {TARGETS['p99_16']} ms, 1 worker", ours16["p99"] <= TARGETS["p99_16"], f"{ours16['p99']:.2f} ms"),
        (f"p99 <= {TARGETS['p99_16']} ms, 2 workers", two16["p99"] <= TARGETS["p99_16"], f"{two16['p99']:.2f} ms"),
        ("zero errors (every case of ours)", errors == 0, str(errors)),
        (
            f">= {TARGETS['vs_mlserver']}x MLServer as shipped",
            rps("ours") >= TARGETS["vs_mlserver"] * rps("MLServer"),
            f"{rps('ours') / rps('MLServer'):.2f}x",
        ),
        (
            f"p99 at 64 conn <= {TARGETS['p99_64']} ms, 1 worker",
            ours64["p99"] <= TARGETS["p99_64"],
            f"{ours64['p99']:.2f} ms",
        ),
        (
            f"p99 at 64 conn <= {TARGETS['p99_64']} ms, 2 workers",
            results["ours, 2 workers: single row, 64 conn"]["p99"] <= TARGETS["p99_64"],
            f"{results['ours, 2 workers: single row, 64 conn']['p99']:.2f} ms",
        ),
        (
            f">= {TARGETS['vs_bare']}x the bare endpoint, 1 worker",
            rps("ours") >= TARGETS["vs_bare"] * rps("bare"),
            f"{rps('ours') / rps('bare'):.2f}x",
        ),
        (
            f">= {TARGETS['vs_bare']}x the bare endpoint, 2 workers each",
            rps("ours, 2 workers") >= TARGETS["vs_bare"] * rps("bare, 2 workers"),
            f"{rps('ours, 2 workers') / rps('bare, 2 workers'):.2f}x",
        ),
    ]
    json_rows = results["ours: 1,000-row JSON, 4 conn"]["rps"]
    binary_rows = results["ours: 1,000-row binary, 4 conn"]["rps"]
    ratios = (
        f"Binary / JSON rows/s, 1,000-row batch, 1 worker: {binary_rows / json_rows:.1f}x. 2 workers / 1, single row "
        f"at 16 connections: {two16['rps'] / ours16['rps']:.2f}x; JSON batch: "
        f"{results['ours, 2 workers: 1,000-row JSON, 4 conn']['rps'] / json_rows:.2f}x."
    )
    tables = [
        record.table(
            f"Single-row V2 infer (JSON); {how}",
            ["server", "connections", "req/s", "p50 ms", "p99 ms", "errors"],
            single,
        ),
        record.table(
            "A 1,000-row request, 4 connections",
            ["server", "1,000-row request", "rows/s", "p50 ms", "p99 ms", "errors"],
            batch,
        ),
        record.table(
            "Targets",
            ["target (single row, 16 connections unless said)", "met", "measured"],
            [[t, "yes" if ok else "NO", m] for t, ok, m in checks],
            note=ratios,
        ),
    ]
    record.show(tables)
    figures = {"cases": results, "seconds": seconds, "repeats": repeats, "targets": TARGETS}
    title = "Serving (bench/serve.py)"
    print(f"\nwrote {record.write_record('serve', tables=tables, figures=figures, title=title)}")


if __name__ == "__main__":
    main()
