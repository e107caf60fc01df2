"""Start ``logreg serve`` the real way (a subprocess on an ephemeral loopback port) for the server's tests."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "artifacts" / "example" / "model.onnx"
PENGUINS = ROOT / "artifacts" / "example-penguins" / "model.onnx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(
    *arguments: str, env: dict | None = None, prelude: str = ""
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``logreg serve ARGUMENTS --port P`` until it is ready; yields (base URL, process); stops it with SIGTERM.
    ``prelude``: Python run in the server's process before the CLI (to block modules, say)."""
    port = free_port()
    # the server's log goes to a file (a pipe nobody reads would block the server once full); read it with log()
    log = tempfile.NamedTemporaryFile(prefix="logreg-serve-", suffix=".log")  # noqa: SIM115 (closed below)
    code = f"import sys\n{prelude}\nfrom logreg_onnx.cli import run\nrun()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "serve", *arguments, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    process.log = lambda: Path(log.name).read_text(errors="replace")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def wait_ready(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {_log(process)}")
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the server was not ready in {seconds} s: {_log(process)}")


def _log(process: subprocess.Popen) -> str:
    if hasattr(process, "log"):
        return process.log()[-3000:]
    return process.stderr.read().decode() if process.stderr else ""


def scrape(url: str) -> dict:
    """The /metrics samples as {(name, sorted labels): value}, parsed by prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_by_status(samples: dict) -> dict[str, float]:
    counts: dict[str, float] = {}
    for (name, labels), value in samples.items():
        if name == "logreg_requests_total":
            status = dict(labels)["status"]
            counts[status] = counts.get(status, 0) + value
    return counts


def infer_requests(samples: dict) -> float:
    """Successful infer requests counted by /metrics (health probes and scrapes left out: their timing is racy)."""
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "logreg_requests_total" and "infer" in dict(labels)["endpoint"] and dict(labels)["status"] == "200"
    )
