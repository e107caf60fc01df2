"""Multi-process training on torch.distributed: ``logreg train --nproc 2`` really launches torchrun (gloo, loopback)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from logreg_onnx.trainer.data.dataset import load_dataset
from logreg_onnx.trainer.engine.model import load_model
from logreg_onnx.trainer.engine.training import fit_dataset
from logreg_onnx.trainer.options import FitOptions, ReadOptions

from tests.conftest import BREAST_CANCER, PENGUINS, write_csv

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the rank lookup reads /proc")


def _train(data: Path, out: Path, *args: str, env: dict | None = None, wait: bool = True):
    command = [sys.executable, "-m", "logreg_onnx", "train", str(data), "--out", str(out), "-q", *args]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def _parameters(run: Path) -> np.ndarray:
    model, _ = load_model(run / "model.pt")
    bias = model.linear.bias.detach().numpy().astype(np.float64)
    bias = bias - bias.mean() if len(bias) > 1 else bias  # a softmax model's biases: only differences count
    return np.concatenate([model.linear.weight.detach().numpy(), bias[:, None]], axis=1)


def _mixed_csv(folder: Path) -> Path:
    """3,000 rows with missing numbers and a text column whose level "late" appears only in the last chunks (the
    second rank's shard with 250-row chunks), so statistics must come from every shard."""
    rng = np.random.default_rng(3)
    n = 3000
    x = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, -3.0]
    group = np.where(np.arange(n) >= 2750, "late", rng.choice(["a", "b", "c"], size=n))
    logit = x[:, 0] - 0.1 * (x[:, 1] - 50) + 5 * (x[:, 2] + 3) + (group == "b") - 2 * (group == "late")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    cells = [[("" if rng.random() < 0.05 else repr(float(v))) for v in row] for row in x]
    return write_csv(
        folder / "mixed.csv",
        ["x0", "x1", "x2", "group", "y"],
        [[*c, g, t] for c, g, t in zip(cells, group, y, strict=True)],
    )


def test_two_processes_reach_the_single_process_optimum(tmp_path):
    """lbfgs on 2 ranks (each its own 250-row chunks) against 1 process and against the in-memory fit (Newton):
    the same statistics, log-loss to 1e-6 relative, weights to 1e-4."""
    data = _mixed_csv(tmp_path)
    common = ("--label", "y", "--chunk-rows", "250", "--val-fraction", "0")
    one = _train(data, tmp_path / "one", "--stream", *common)
    two = _train(data, tmp_path / "two", "--nproc", "2", *common)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    metrics = {name: json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("one", "two")}
    assert metrics["two"]["options"]["streamed"]["processes"] == 2
    assert metrics["two"]["data"]["columns"] == metrics["one"]["data"]["columns"]
    group = next(c for c in metrics["two"]["data"]["columns"] if c["name"] == "group")
    assert "late" in group["levels"]  # seen by the second rank only
    assert metrics["two"]["train"]["log_loss"] == pytest.approx(metrics["one"]["train"]["log_loss"], rel=1e-6)
    np.testing.assert_allclose(_parameters(tmp_path / "two"), _parameters(tmp_path / "one"), atol=1e-4)

    in_memory = fit_dataset(load_dataset(data, ReadOptions(label="y")), FitOptions(val_fraction=0.0))
    assert metrics["two"]["data"]["columns"] == in_memory.model.encoding.to_json()  # medians exact
    assert metrics["two"]["train"]["log_loss"] == pytest.approx(in_memory.metrics["train"]["log_loss"], rel=1e-6)
    assert metrics["two"]["train"]["n_rows"] == 3000


def test_two_processes_multiclass_with_a_validation_split(tmp_path):
    common = ("--label", "species", "--chunk-rows", "40")
    one = _train(PENGUINS, tmp_path / "one", "--stream", *common)
    two = _train(PENGUINS, tmp_path / "two", "--nproc", "2", "--export", "--report", *common)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert (tmp_path / "two" / "model.onnx").is_file() and (tmp_path / "two" / "report.html").is_file()
    assert "verified" in two.stdout  # the launcher exports (and verifies) once the ranks are done
    metrics = {name: json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("one", "two")}
    for split in ("train", "validation"):  # the same rows held out, metrics summed over both ranks
        assert metrics["two"][split]["n_rows"] == metrics["one"][split]["n_rows"]
        assert metrics["two"][split]["log_loss"] == pytest.approx(metrics["one"][split]["log_loss"], rel=1e-6)
        assert metrics["two"][split]["confusion_matrix"] == metrics["one"][split]["confusion_matrix"]
    np.testing.assert_allclose(_parameters(tmp_path / "two"), _parameters(tmp_path / "one"), atol=1e-4)


def test_adam_through_distributed_data_parallel(tmp_path):
    """Mini-batches through DistributedDataParallel: the two ranks' model reaches the optimum's neighbourhood."""
    args = ("--label", "diagnosis", "--chunk-rows", "64", "--val-fraction", "0")
    exact = _train(BREAST_CANCER, tmp_path / "exact", "--stream", *args)
    adam = _train(
        BREAST_CANCER,
        tmp_path / "adam",
        "--nproc",
        "2",
        "--optimizer",
        "adam",
        "--batch-size",
        "16",
        "--epochs",
        "100",
        *args,
    )
    assert exact.returncode == 0 and adam.returncode == 0, exact.stderr + adam.stderr
    loss = {
        name: json.loads((tmp_path / name / "metrics.json").read_text())["train"]["objective"]
        for name in ("exact", "adam")
    }
    assert 0 <= loss["adam"] - loss["exact"] < 0.005


def test_bad_data_in_one_ranks_shard_stops_every_rank(tmp_path):
    lines = BREAST_CANCER.read_text().splitlines()
    lines[400] += ",1"  # line 401: in chunk 3 of 100 lines, the second rank's
    data = tmp_path / "bad.csv"
    data.write_text("\n".join(lines) + "\n")
    result = _train(data, tmp_path / "run", "--label", "diagnosis", "--nproc", "2", "--chunk-rows", "100")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"Error: {data}:401: expected 31 fields as in the header, got 32"]
    assert not (tmp_path / "run").exists()


def _rank_pid(marker: str, rank: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"LOGREG_TEST_MARK={marker}".encode() in environ and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


def test_a_killed_rank_stops_the_job_and_nothing_is_written(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "LOGREG_TEST_MARK": str(tmp_path)}
    job = _train(
        BREAST_CANCER,
        tmp_path / "run",
        "--label",
        "diagnosis",
        "--nproc",
        "2",
        "--optimizer",
        "sgd",
        "--epochs",
        "100000",
        "--batch-size",
        "8",
        "--chunk-rows",
        "100",
        env=env,
        wait=False,
    )
    deadline = time.monotonic() + 120
    pid = None
    while time.monotonic() < deadline and job.poll() is None:  # wait until rank 1 is training (its cache exists)
        pid = _rank_pid(str(tmp_path), 1)
        if pid is not None and list(scratch.glob("logreg-job-*/logreg-rank1-*/train.X")):
            break
        time.sleep(0.2)
    assert pid is not None and job.poll() is None, "rank 1 never started training"
    time.sleep(1.0)
    os.kill(pid, signal.SIGKILL)
    _, stderr = job.communicate(timeout=120)
    assert job.returncode == 1
    assert stderr.strip().splitlines()[-1] == (
        f"Error: rank 1 was killed by SIGKILL; the job stopped on every rank; nothing was written to {tmp_path / 'run'}"
    )
    assert not (tmp_path / "run").exists()
    assert not list(tmp_path.glob(".run.*"))
    # nothing left in the temporary folder: rank 0 ended through its finally blocks, and the launcher removes the job's
    # scratch folder whatever became of the ranks (under load rank 0 was seen to be killed before its clean-up)
    assert not list(scratch.glob("logreg-*"))


def test_the_readme_command_for_several_machines(tmp_path):
    """The README's several-hosts commands, both "hosts" on this one: two torchrun launchers (--nnodes 2, the c10d
    rendezvous on a loopback port), one process each, against one process."""
    from tests.runtime.serving import free_port

    endpoint = f"127.0.0.1:{free_port()}"
    args = ["train", str(PENGUINS), "--label", "species", "--chunk-rows", "40", "-q"]
    hosts = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc-per-node",
                "1",
                "--node-rank",
                str(node),
                "--rdzv-backend",
                "c10d",
                "--rdzv-endpoint",
                endpoint,
                "--rdzv-id",
                "job42",
                "-m",
                "logreg_onnx",
                *args,
                "--out",
                str(tmp_path / "two"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for node in (0, 1)
    ]
    outputs = [host.communicate(timeout=300)[0] for host in hosts]
    assert [host.returncode for host in hosts] == [0, 0], outputs
    one = _train(PENGUINS, tmp_path / "one", "--label", "species", "--chunk-rows", "40", "--stream")
    assert one.returncode == 0, one.stderr
    metrics = {name: json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("one", "two")}
    assert metrics["two"]["options"]["streamed"]["processes"] == 2
    assert metrics["two"]["train"]["log_loss"] == pytest.approx(metrics["one"]["train"]["log_loss"], rel=1e-6)
    np.testing.assert_allclose(_parameters(tmp_path / "two"), _parameters(tmp_path / "one"), atol=1e-4)
