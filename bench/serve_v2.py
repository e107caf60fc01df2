"""Benchmark for serving v2 (issue 21): gRPC against REST, adaptive batching, overload control, hot reload under
load and a soak; side by side in one run with MLServer 1.7.1 as shipped (REST and its gRPC).

Load clients, all on loopback and bounded in time: wrk for REST throughput against gRPC (as bench/serve.py), and
h2load (Debian's nghttp2-client, C like wrk) for gRPC (HTTP/2) and for the REST cases where answers must be told apart
by status or a request rate offered (HTTP/1.1): one request in flight per connection, its per-request log giving each
status and latency, so that the 503s of ``--max-queue`` are counted apart from errors and the p99 is that of the
answered requests. One core is
the server's, the other the client's. The example model (breast cancer, 30 features); every server's answers are
checked against the Python runtime before any load.

1. gRPC single row (16 connections) and a 1,000-row batch (4 connections) against REST (wrk, JSON and binary), ours
   and MLServer's; gRPC outcomes read from the server's own metrics (h2load sees HTTP 200 for every gRPC status).
2. Batching off and on (``--max-batch-size 32 --max-batch-delay-us 500``) at 1, 16, 64 and 256 connections, and at
   256 with ``--max-queue 32``.
3. Past capacity: twice the requests/s one worker answered at 64 connections, offered over 256 connections to a
   server with ``--max-queue 32``.
4. A hot reload every second for a minute under load (``--repository``, ``--poll 0.25``; two models alternated).
5. A soak at 80% of capacity (10 minutes by default): the server's resident memory sampled every 5 s.

    python bench/serve_v2.py [--seconds 5] [--repeats 3] [--soak-seconds 600] [--mlserver-python PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_serve", HERE / "serve.py")
serve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(serve)
record = serve.record

GRPC_INFER = "/inference.GRPCInferenceService/ModelInfer"
MAX_QUEUE = 32
BATCHING = ["--max-batch-size", "32", "--max-batch-delay-us", "500"]
TARGETS = {"grpc_vs_rest": 1.3, "p99_ms": 25.0, "rss_growth": 0.05}


def grpc_message(X: np.ndarray, output: str, name: str = "example") -> bytes:
    """One ModelInfer request (raw_input_contents, what tritonclient sends) framed as gRPC sends it on the wire."""
    from logreg_onnx.runtime.grpc import inference_pb2 as pb

    request = pb.ModelInferRequest(model_name=name)
    request.inputs.add(name="features", datatype="FP32", shape=list(X.shape))
    request.outputs.add(name=output)
    request.raw_input_contents.append(np.ascontiguousarray(X, "<f4").tobytes())
    message = request.SerializeToString()
    return b"\x00" + len(message).to_bytes(4, "big") + message


def h2load(
    url: str, body: bytes, seconds: int, connections: int, *, grpc: bool = False, rate: float = 0, headers=()
) -> dict:
    """h2load against ``url`` for ``seconds``: HTTP/1.1 (or gRPC over HTTP/2), one request in flight per connection,
    as fast as answers come or ``rate`` requests/s over all connections. From its per-request log: the answers by HTTP
    status, requests/s and latencies of the 200s; errors are requests that failed, errored or timed out (a gRPC
    status travels in trailers under an HTTP 200: see :func:`grpc_outcomes`)."""
    with tempfile.TemporaryDirectory() as folder:
        data, log = Path(folder) / "body", Path(folder) / "log"
        data.write_bytes(body)
        command = ["h2load", f"-c{connections}", "-m1", "-t1", f"-D{seconds}", "-N10s", "-d", str(data)]
        command.append(f"--log-file={log}")  # -N10s: a connection silent for 10 s times out, as wrk's --timeout
        if grpc:
            headers = ["content-type: application/grpc", "te: trailers", *headers]
        else:
            command.append("--h1")
            headers = ["content-type: application/json", *headers]
        if rate:
            command.append(f"--rps={max(rate / connections, 0.1):g}")
        for header in headers:
            command += ["-H", header]
        out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
        columns = np.loadtxt(log, dtype=np.int64, ndmin=2) if log.stat().st_size else np.zeros((0, 3), np.int64)
    done = re.search(r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    failed, timeouts = int(done.group(1)), int(done.group(3))  # failed: every answer not 2xx/3xx, errored, timed out
    statuses, counts = np.unique(columns[:, 1], return_counts=True)
    statuses = {str(k): int(n) for k, n in zip(statuses, counts, strict=True)}
    ok = np.sort(columns[columns[:, 1] == 200, 2]) / 1000  # ms
    shed = statuses.get("503", 0)
    return {
        "rps": len(ok) / seconds,
        "p50": float(np.percentile(ok, 50)) if len(ok) else float("nan"),
        "p99": float(np.percentile(ok, 99)) if len(ok) else float("nan"),
        "max": float(ok[-1]) if len(ok) else float("nan"),
        "requests": len(columns),
        "sent_rps": len(columns) / seconds,  # what was answered, any status: with -m1, at most what was sent
        "statuses": statuses,
        "shed": shed,
        "timeouts": timeouts,
        "errors": failed - shed,  # what is neither a 2xx nor a 503 of --max-queue (the sheds are counted apart)
    }


def grpc_outcomes(base: str) -> dict[str, float]:
    """The server's count of ModelInfer calls by gRPC status, from its /metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found = re.findall(r'logreg_requests_total\{endpoint="grpc ModelInfer",model="[^"]*",status="(\w+)"\} (\S+)', text)
    outcomes: dict[str, float] = {}
    for status, value in found:
        outcomes[status] = outcomes.get(status, 0) + float(value)
    return outcomes


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid``'s process group (the server and any process it started)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pid:  # the process group
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total


def sha256_of(base: str) -> str:
    with urllib.request.urlopen(f"{base}/v2/models/example", timeout=10) as answer:
        return json.loads(answer.read())["parameters"]["sha256"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one load run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of a throughput case; the median is kept")
    parser.add_argument("--soak-seconds", type=int, default=600, help="length of the soak at 80%% of capacity")
    parser.add_argument("--reload-seconds", type=int, default=60, help="how long the model is swapped every second")
    parser.add_argument("--mlserver-python", default=str(REPO / ".venv-mlserver" / "bin" / "python"))
    args = parser.parse_args()
    missing = [tool for tool in ("wrk", "h2load") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"{' and '.join(missing)} not installed: run `make bench-serve-tools` (Debian's wrk, nghttp2-client)")
    mlserver = Path(args.mlserver_python)
    if not mlserver.exists():
        sys.exit(f"{mlserver} not found: run `make bench-serve-tools` (MLServer 1.7.1 in its own venv)")

    from logreg_onnx import runtime

    model = runtime.load(serve.MODEL)
    work = Path(tempfile.mkdtemp(prefix="bench-serve-v2-"))
    X_all = np.loadtxt(serve.DATA, delimiter=",", skiprows=1, usecols=range(30), dtype=np.float32)
    row, batch = X_all[:1], X_all[np.random.default_rng(0).integers(0, len(X_all), 1000)]
    expected_row, expected_batch = model.predict_proba(row), model.predict_proba(batch)
    single = serve.v2_json(row, "probabilities")
    batch_json = serve.v2_json(batch, "probabilities")
    batch_binary, head_length = serve.v2_binary(batch)
    binary_header = {"Inference-Header-Content-Length": str(head_length)}
    results: dict = {}

    def median_of(runs: list[dict]) -> dict:
        runs = sorted(runs, key=lambda r: r["rps"])
        middle = dict(runs[len(runs) // 2])
        middle["errors"] = sum(r.get("errors", 0) for r in runs)
        middle["runs"] = [round(r["rps"]) for r in runs]
        return middle

    def show(name: str, r: dict) -> None:
        extra = f", statuses {r['statuses']}, timeouts {r['timeouts']}" if "statuses" in r else ""
        print(
            f"  {name}: {r['rps']:,.0f} req/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, "
            f"errors {r['errors']}{extra}"
        )

    def measure(name: str, run) -> dict:
        results[name] = r = median_of([run() for _ in range(args.repeats)])
        show(name, r)
        return r

    def measure_grpc(tag: str, url: str, output: str = "probabilities") -> None:
        """The gRPC cases: one row on 16 connections, 1,000 rows on 4."""
        for case, X, connections in (("single row, 16 conn", row, 16), ("1,000-row, 4 conn", batch, 4)):
            message = grpc_message(X, output)
            measure(f"{tag}: {case}", lambda m=message, c=connections: h2load(url, m, args.seconds, c, grpc=True))

    def ours(*extra: str, port: int | None = None, target: list[str] | None = None):
        port = port or serve.free_port()
        command = [sys.executable, "-m", "logreg_onnx", "serve", *(target or [str(serve.MODEL)]), "--port", str(port)]
        return serve.started([*command, *extra], serve._ready(f"http://127.0.0.1:{port}")), port

    # 1. gRPC against REST, ours
    grpc_port = serve.free_port()
    server, port = ours("--grpc-port", str(grpc_port))
    with server:
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/v2/models/example/infer"
        check_grpc(grpc_port, row, batch, expected_row, expected_batch)
        np.testing.assert_array_equal(serve.probabilities_of(*serve.post(url, single, _json_type())), expected_row)
        print("logreg serve --grpc-port: gRPC and REST answers equal the Python runtime's")
        grpc_url = f"http://127.0.0.1:{grpc_port}{GRPC_INFER}"
        before = grpc_outcomes(base)
        measure("ours REST: single row, 16 conn", lambda: serve.wrk(url, single, args.seconds, 16))
        measure("ours REST: 1,000-row JSON, 4 conn", lambda: serve.wrk(url, batch_json, args.seconds, 4))
        measure(
            "ours REST: 1,000-row binary, 4 conn",
            lambda: serve.wrk(url, batch_binary, args.seconds, 4, binary_header),
        )
        measure_grpc("ours gRPC", grpc_url)
        after = grpc_outcomes(base)
        grpc_not_ok = {k: after.get(k, 0) - before.get(k, 0) for k in after if k != "OK"}
        print(
            f"  gRPC outcomes by the server's metrics: OK {after.get('OK', 0) - before.get('OK', 0):,.0f}, "
            f"other {grpc_not_ok}"
        )
        results["ours gRPC: not OK"] = sum(grpc_not_ok.values())

    # the bare gRPC endpoint: grpcio's asyncio server around onnxruntime, no checks
    port = serve.free_port()
    with serve.started(
        [sys.executable, str(HERE / "bare_grpc_server.py"), str(serve.MODEL), str(port)], _listening(port)
    ):
        check_grpc(port, row, batch, expected_row, expected_batch)
        print("bare gRPC endpoint: answers equal the Python runtime's")
        bare_url = f"http://127.0.0.1:{port}{GRPC_INFER}"
        measure_grpc("bare gRPC", bare_url)

    # MLServer as shipped: REST and gRPC
    serve.fit_sklearn_pipeline(mlserver, work)
    port, mlserver_grpc, metrics_port = serve.free_port(), serve.free_port(), serve.free_port()
    (work / "settings.json").write_text(
        json.dumps({"http_port": port, "grpc_port": mlserver_grpc, "metrics_port": metrics_port, "host": "127.0.0.1"})
    )
    base = f"http://127.0.0.1:{port}"
    with serve.started([str(mlserver.parent / "mlserver"), "start", str(work)], serve._ready(base), cwd=work):
        order = [model.classes.index(c) for c in sorted(model.classes)]  # scikit-learn sorts its classes
        theirs = check_grpc(mlserver_grpc, row, batch, None, None, output="predict_proba")
        agreement = (theirs.argmax(1) == expected_batch[:, order].argmax(1)).mean()
        print(f"MLServer gRPC: the same label as ours for {agreement:.1%} of the batch rows")
        assert agreement > 0.95, agreement
        theirs_url = f"http://127.0.0.1:{mlserver_grpc}{GRPC_INFER}"
        url = f"{base}/v2/models/example/infer"
        measure(
            "MLServer REST: single row, 16 conn",
            lambda: serve.wrk(url, serve.v2_json(row, "predict_proba"), args.seconds, 16),
        )
        measure_grpc("MLServer gRPC", theirs_url, "predict_proba")

    # 2. batching off and on; 3. past capacity
    for tag, extra in (("off", []), ("on", BATCHING)):
        server, port = ours(*extra)
        with server:
            url = f"http://127.0.0.1:{port}/v2/models/example/infer"
            np.testing.assert_array_equal(serve.probabilities_of(*serve.post(url, single, _json_type())), expected_row)
            for connections in (1, 16, 64, 256):
                measure(
                    f"batching {tag}: {connections} conn",
                    lambda c=connections, u=url: h2load(u, single, args.seconds, c),
                )
        server, port = ours(*extra, "--max-queue", str(MAX_QUEUE))
        with server:
            url = f"http://127.0.0.1:{port}/v2/models/example/infer"
            measure(
                f"batching {tag}, --max-queue {MAX_QUEUE}: 256 conn", lambda u=url: h2load(u, single, args.seconds, 256)
            )
            if tag == "off":
                capacity = results["batching off: 64 conn"]["rps"]
                results["capacity"] = capacity
                name = f"past capacity: {2 * capacity:,.0f} req/s offered, 256 conn, --max-queue {MAX_QUEUE}"
                results["past capacity"] = r = h2load(url, single, 2 * args.seconds, 256, rate=2 * capacity)
                show(name, r)

    # 4. hot reload under load
    results["hot reload"] = hot_reload(work, single, args.reload_seconds)
    # 5. soak
    results["soak"] = soak(single, 0.8 * results["capacity"], args.soak_seconds)
    shutil.rmtree(work, ignore_errors=True)
    report(results, args)


def _listening(port: int):
    def ready() -> bool:
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    return ready


def _json_type() -> dict:
    return {"Content-Type": "application/json"}


def check_grpc(port: int, row, batch, expected_row, expected_batch, output: str = "probabilities") -> np.ndarray:
    """The gRPC answers of a server through a stub of our generated code: equal to ``expected_*`` (ours), or returned
    (MLServer's, compared by label)."""
    import grpc
    from logreg_onnx.runtime.grpc import inference_pb2 as pb
    from logreg_onnx.runtime.grpc import inference_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
        answers = []
        for X in (row, batch):
            request = pb.ModelInferRequest()
            request.ParseFromString(grpc_message(X, output)[5:])
            response = stub.ModelInfer(request, timeout=30)
            shape = list(response.outputs[0].shape)
            if response.raw_output_contents:
                values = np.frombuffer(response.raw_output_contents[0], _dtype(response.outputs[0].datatype))
            else:
                contents = response.outputs[0].contents
                values = np.array(contents.fp32_contents or contents.fp64_contents)
            answers.append(values.reshape(shape).astype(np.float64))
    if expected_row is not None:
        np.testing.assert_array_equal(answers[0], expected_row)
        np.testing.assert_array_equal(answers[1], expected_batch)
    return answers[1]


def _dtype(datatype: str) -> str:
    return {"FP32": "<f4", "FP64": "<f8"}[datatype]


def hot_reload(work: Path, single: bytes, seconds: int) -> dict:
    """A repository whose model file is replaced every second (two models alternated, written atomically) while
    h2load sends requests on 16 connections: every answer's status, the p99, and how many swaps were served."""
    import pandas as pd

    from logreg_onnx import trainer

    frame = pd.read_csv(serve.DATA)
    labels = frame.pop(frame.columns[-1])
    models = []
    for k, l2 in enumerate((0.01, 5.0)):
        path = work / f"model-{k}.onnx"
        trainer.fit(frame, labels, l2=l2).export(path)
        models.append(path.read_bytes())
    folder = work / "repository" / "example" / "1"
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(models[0])
    port = serve.free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "logreg_onnx", "serve", "--repository", str(work / "repository")]
    command += ["--poll", "0.25", "--port", str(port)]
    import hashlib

    digests = [hashlib.sha256(m).hexdigest() for m in models]
    served, swaps = [], 0
    stop = threading.Event()

    def swapper() -> None:
        nonlocal swaps
        k, started = 0, time.monotonic()
        while not stop.wait(max(started + swaps + 1 - time.monotonic(), 0)):  # once a second
            k = 1 - k
            temporary = folder / "model.onnx.tmp"
            temporary.write_bytes(models[k])
            os.replace(temporary, folder / "model.onnx")
            swaps += 1
            if stop.wait(0.9):
                break
            served.append(sha256_of(base) == digests[k])  # in service before the next replacement

    with serve.started(command, serve._ready(base)) as process:
        assert sha256_of(base) == digests[0]
        rss_before = rss_bytes(process.pid)
        thread = threading.Thread(target=swapper)
        thread.start()
        try:
            r = h2load(f"{base}/v2/models/example/infer", single, seconds, 16)
        finally:
            stop.set()
            thread.join()
        r["rss_growth"] = rss_bytes(process.pid) / rss_before - 1
    r["swaps"], r["swaps_served"] = swaps, sum(served)
    print(
        f"  hot reload: {swaps} replacements in {seconds} s, {sum(served)} of them serving 0.9 s after; "
        f"{r['rps']:,.0f} req/s, p99 {r['p99']:.2f} ms, statuses {r['statuses']}, errors {r['errors']}"
    )
    return r


def soak(single: bytes, rate: float, seconds: int) -> dict:
    """``rate`` requests/s for ``seconds`` on 64 connections; the server's resident memory every 5 s."""
    port = serve.free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "logreg_onnx", "serve", str(serve.MODEL), "--port", str(port)]
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    with serve.started(command, serve._ready(base)) as process:
        idle = rss_bytes(process.pid)

        def sample() -> None:
            started = time.monotonic()
            while not stop.wait(5.0):
                samples.append((time.monotonic() - started, rss_bytes(process.pid)))

        thread = threading.Thread(target=sample)
        thread.start()
        try:
            r = h2load(f"{base}/v2/models/example/infer", single, seconds, 64, rate=rate)
        finally:
            stop.set()
            thread.join()
    # the first minute under load fills the allocator's arenas and the caches: growth is measured from there
    if not samples:
        raise SystemExit(f"--soak-seconds {seconds}: too short for one memory sample (every 5 s); give 30 or more")
    settled = next((rss for t, rss in samples if t >= min(60, seconds / 4)), samples[0][1])
    r.update(
        rate=rate,
        rss_idle=idle,
        rss_settled=settled,
        rss_end=samples[-1][1],
        rss_max=max(rss for _, rss in samples),
        rss_growth=samples[-1][1] / settled - 1,
        samples=len(samples),
    )
    print(
        f"  soak: {rate:,.0f} req/s offered for {seconds} s: {r['rps']:,.0f} answered, p99 {r['p99']:.2f} ms, errors "
        f"{r['errors']}; RSS idle {idle / 2**20:.1f} MiB, after the first minute {settled / 2**20:.1f} MiB, at the end "
        f"{r['rss_end'] / 2**20:.1f} MiB ({r['rss_growth']:+.1%})"
    )
    return r


def report(results: dict, args) -> None:
    """Print the tables and write bench/results/serve_v2.json."""

    def cells(r: dict, rows: int = 1) -> list:
        return [f"{r['rps'] * rows:,.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}", r["errors"]]

    how = f"each case the median of {args.repeats} runs of {args.seconds} s (errors: the sum)"
    protocol = [
        [name.split(":")[0], name.split(": ")[1], *cells(results[name], 1000 if "1,000" in name else 1)]
        for name in (
            "ours REST: single row, 16 conn",
            "ours gRPC: single row, 16 conn",
            "bare gRPC: single row, 16 conn",
            "MLServer REST: single row, 16 conn",
            "MLServer gRPC: single row, 16 conn",
            "ours REST: 1,000-row JSON, 4 conn",
            "ours REST: 1,000-row binary, 4 conn",
            "ours gRPC: 1,000-row, 4 conn",
            "bare gRPC: 1,000-row, 4 conn",
            "MLServer gRPC: 1,000-row, 4 conn",
        )
    ]
    batching = []
    for tag in ("off", "on"):
        for connections in (1, 16, 64, 256):
            r = results[f"batching {tag}: {connections} conn"]
            batching.append([tag, connections, "none", *cells(r), r["shed"], r["timeouts"]])
        r = results[f"batching {tag}, --max-queue {MAX_QUEUE}: 256 conn"]
        batching.append([tag, 256, MAX_QUEUE, *cells(r), r["shed"], r["timeouts"]])
    past, reload, soaked = results["past capacity"], results["hot reload"], results["soak"]
    rest_rps = results["ours REST: single row, 16 conn"]["rps"]
    grpc_ratio = results["ours gRPC: single row, 16 conn"]["rps"] / rest_rps
    queue256 = results[f"batching off, --max-queue {MAX_QUEUE}: 256 conn"]
    best256 = min(
        (results[f"batching {t}, --max-queue {MAX_QUEUE}: 256 conn"] for t in ("off", "on")), key=lambda r: r["p99"]
    )
    checks = [
        (
            f"gRPC single row >= {TARGETS['grpc_vs_rest']}x our REST",
            grpc_ratio >= TARGETS["grpc_vs_rest"],
            f"{grpc_ratio:.2f}x",
        ),
        (
            "gRPC: every call OK (the server's count)",
            results["ours gRPC: not OK"] == 0,
            f"{results['ours gRPC: not OK']:.0f} not OK",
        ),
        (
            f"256 conn, --max-queue {MAX_QUEUE}: zero errors, p99 <= {TARGETS['p99_ms']:g} ms (off/on)",
            best256["errors"] == 0 and best256["p99"] <= TARGETS["p99_ms"],
            f"errors {best256['errors']}, p99 {best256['p99']:.2f} ms (off: {queue256['p99']:.2f} ms), shed "
            f"{best256['shed']:,}",
        ),
        (
            f"past capacity: answered p99 <= {TARGETS['p99_ms']:g} ms, the rest 503, no timeout",
            past["p99"] <= TARGETS["p99_ms"] and past["errors"] == 0 and past["timeouts"] == 0,
            f"p99 {past['p99']:.2f} ms, {past['rps']:,.0f} req/s answered, {past['shed']:,} shed, errors "
            f"{past['errors']}, timeouts {past['timeouts']}",
        ),
        (
            "hot reload every second: zero failed requests",
            reload["errors"] == 0 and reload["shed"] == 0,
            f"{reload['statuses']}; {reload['swaps_served']} of {reload['swaps']} swaps in service 0.9 s after; p99 "
            f"{reload['p99']:.2f} ms",
        ),
        (
            f"soak at 80%: RSS growth <= {TARGETS['rss_growth']:.0%}, zero errors",
            soaked["rss_growth"] <= TARGETS["rss_growth"] and soaked["errors"] == 0,
            f"{soaked['rss_growth']:+.2%}, errors {soaked['errors']}",
        ),
    ]
    tables = [
        record.table(
            f"gRPC and REST, single row and a 1,000-row request; {how}; rows/s for the 1,000-row cases",
            ["server", "case", "req/s (rows/s)", "p50 ms", "p99 ms", "errors"],
            protocol,
            note="REST by wrk (HTTP/1.1), gRPC by h2load (HTTP/2, one call in flight per connection); the same "
            f"connections either way. The bare gRPC endpoint (grpcio's asyncio server, no checks) answers "
            f"{results['bare gRPC: single row, 16 conn']['rps'] / rest_rps:.2f}x our REST's single-row requests/s: "
            f"grpcio's ceiling on this machine; ours {grpc_ratio:.2f}x.",
        ),
        record.table(
            f"Batching off and on (--max-batch-size 32 --max-batch-delay-us 500), single row, h2load; {how}",
            [
                "batching",
                "connections",
                "--max-queue",
                "req/s answered",
                "p50 ms",
                "p99 ms",
                "errors",
                "shed (503)",
                "timeouts",
            ],
            batching,
            note="p50/p99: of the requests answered 200; errors: anything but a 200 or a 503 of --max-queue",
        ),
        record.table(
            "Overload, hot reload and soak (single row, h2load)",
            ["case", "offered", "req/s answered", "p50 ms", "p99 ms", "errors", "shed (503)", "timeouts"],
            [
                [
                    f"past capacity, --max-queue {MAX_QUEUE}, 256 conn",
                    f"{past_rate(results):,.0f} req/s asked (2x capacity), {past['sent_rps']:,.0f} sent",
                    *cells(past),
                    past["shed"],
                    past["timeouts"],
                ],
                [
                    f"hot reload every second for {args.reload_seconds} s, 16 conn",
                    "as fast as answered",
                    *cells(reload),
                    reload["shed"],
                    reload["timeouts"],
                ],
                [
                    f"soak {args.soak_seconds} s, 64 conn",
                    f"{soaked['rate']:,.0f} req/s (80%)",
                    *cells(soaked),
                    soaked["shed"],
                    soaked["timeouts"],
                ],
            ],
            note=f"capacity: {results['capacity']:,.0f} req/s (batching off, 64 connections, this run). Soak: RSS "
            f"{soaked['rss_idle'] / 2**20:.1f} MiB idle, {soaked['rss_settled'] / 2**20:.1f} MiB after the first "
            f"minute, {soaked['rss_end'] / 2**20:.1f} MiB at the end, {soaked['rss_max'] / 2**20:.1f} MiB at most "
            f"({soaked['samples']} samples)",
        ),
        record.table(
            "Targets",
            ["target", "met", "measured"],
            [[t, "yes" if ok else "NO", m] for t, ok, m in checks],
        ),
    ]
    record.show(tables)
    figures = {"cases": results, "seconds": args.seconds, "repeats": args.repeats, "targets": TARGETS}
    title = "Serving v2: gRPC, batching, overload, hot reload, soak (bench/serve_v2.py)"
    print(f"\nwrote {record.write_record('serve_v2', tables=tables, figures=figures, title=title)}")


def past_rate(results: dict) -> float:
    return 2 * results["capacity"]


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
