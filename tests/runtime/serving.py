"""Start ``logreg serve`` the real way (a subprocess on an ephemeral loopback port) for the server's tests."""

from __future__ import annotations

import atexit
import contextlib
import functools
import shutil
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
# the committed penguins model as it was in format 2 (label and probabilities only), frozen: format 2 still serves
PENGUINS_FORMAT2 = ROOT / "tests" / "runtime" / "data" / "penguins-format2.onnx"
FORMAT3_ROWS = 300


@functools.cache
def format3_model(kind: str) -> tuple[Path, list[dict]]:
    """A format 3 model exported here (torch needed; once a test process) and its training rows as JSON rows (None
    where missing). ``"binary"``: numeric columns ``a`` (with missing values, imputed) and ``b`` and a text column
    ``color``, fitted with l2=0, so with ``logit_se`` and the probability interval; ``"multinomial"``: the numeric
    columns only, three classes, penalized (the default l2), so without intervals."""
    import numpy as np
    import pandas as pd

    from logreg_onnx import trainer

    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=FORMAT3_ROWS),
            "b": rng.normal(5, 2, size=FORMAT3_ROWS),
            "color": rng.choice(["red", "green", "blue"], FORMAT3_ROWS),
        }
    )
    frame.loc[::13, "a"] = np.nan
    score = 0.8 * frame["a"].fillna(0) - 0.3 * (frame["b"] - 5) + 0.7 * (frame["color"] == "red")
    if kind == "binary":
        labels = np.where(rng.random(FORMAT3_ROWS) < 1 / (1 + np.exp(-score)), "yes", "no")
        options = {"l2": 0.0}
    elif kind == "multinomial":
        frame = frame.drop(columns="color")
        noisy = score + rng.normal(size=FORMAT3_ROWS)
        labels = np.where(noisy > 0.5, "high", np.where(noisy < -0.5, "low", "middle"))
        options = {}
    else:
        raise ValueError(f"kind is binary or multinomial, got {kind!r}")
    path = _format3_folder() / f"{kind}.onnx"
    trainer.fit(frame, pd.Series(labels), **options).export(path)
    rows = [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]
    return path, rows


@functools.cache
def two_versions() -> tuple[Path, Path]:
    """Two models of the same columns that answer differently (the binary data of :func:`format3_model`, fitted with
    l2 0.01 and 5): the versions of the repository tests. torch needed; once a test process."""
    import numpy as np
    import pandas as pd

    from logreg_onnx import trainer

    _, rows = format3_model("binary")
    frame = pd.DataFrame(rows)
    rng = np.random.default_rng(11)
    score = 0.8 * frame["a"].fillna(0) - 0.3 * (frame["b"] - 5) + 0.7 * (frame["color"] == "red")
    labels = pd.Series(np.where(rng.random(len(frame)) < 1 / (1 + np.exp(-score)), "yes", "no"))
    paths = []
    for version, l2 in ((1, 0.01), (2, 5.0)):
        target = _format3_folder() / f"version{version}" / "model.onnx"
        target.parent.mkdir(exist_ok=True)
        trainer.fit(frame, labels, l2=l2).export(target)
        paths.append(target)
    return paths[0], paths[1]


@functools.cache
def _format3_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="logreg-serve-format3-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


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
