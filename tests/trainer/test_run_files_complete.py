"""A cold `logreg train` (the console script, which ends without interpreter teardown) leaves every file it promises
complete, and the plotting helper behind the plots reports its failures and never outlives its block."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from logreg_onnx.trainer.engine.model import load_model
from logreg_onnx.trainer.rundir import plots
from PIL import Image

LOGREG = Path(sys.executable).with_name("logreg")
FILES = ["coefficients.csv", "history.csv", "metrics.json", "model.pt", "roc.png", "training.png"]


@pytest.mark.skipif(not LOGREG.is_file(), reason="the logreg console script is not installed beside this Python")
def test_console_script_exits_with_every_file_complete(tmp_path, breast_cancer_csv):
    out = tmp_path / "run"
    done = subprocess.run(
        [str(LOGREG), "train", str(breast_cancer_csv), "--label", "diagnosis", "-q", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    listed = "model.pt, metrics.json, coefficients.csv, history.csv, training.png, roc.png"
    assert done.stdout == f"wrote {out}/ ({listed})\n"
    assert sorted(p.name for p in out.iterdir()) == FILES  # and no temporary file left behind

    record = json.loads((out / "metrics.json").read_text())
    assert record["model_sha256"] == hashlib.sha256((out / "model.pt").read_bytes()).hexdigest()
    model, _ = load_model(out / "model.pt")
    assert model.linear.weight.shape == (1, 30)
    with open(out / "coefficients.csv", newline="") as handle:
        terms = [row["term"] for row in csv.DictReader(handle)]
    assert set(terms) >= set(record["feature_names"])
    with open(out / "history.csv", newline="") as handle:
        history = list(csv.DictReader(handle))
    assert len(history) == record["training"]["iterations"] > 0

    # decoded by Pillow, an independent PNG reader: whole (load() reads every row), the promised size, not blank
    for name, size in (("training.png", (1100, 418)), ("roc.png", (506, 484))):
        with Image.open(out / name) as image:
            image.load()
            assert image.format == "PNG" and image.size == size
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 50


def test_renderer_reports_a_failed_plot_and_stops_its_helper(tmp_path):
    failed = pytest.raises(RuntimeError, match=r"^plotting failed: KeyError: 'train_loss'$")
    history = [{"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.9, "val_loss": None, "val_accuracy": None}]
    with failed, plots.Renderer() as renderer:
        renderer.submit(plots.plot_history, history, tmp_path / "good.png")  # the first worker's
        renderer.submit(plots.plot_history, [{"epoch": 1}], tmp_path / "training.png")  # its twin's
    assert renderer._process.poll() is not None
    assert [p.name for p in tmp_path.iterdir()] == ["good.png"]  # the failed plot left no file, not even a temporary


def test_renderer_says_when_its_helper_died(tmp_path):
    died = pytest.raises(RuntimeError, match=r"^the plotting helper process died$")
    with died, plots.Renderer() as renderer:
        renderer.submit(os._exit, 3)
        renderer.wait()
    assert renderer._process.returncode == 3  # its own exit, not the kill on leaving the block


def test_renderer_draws_in_the_callers_order(tmp_path):
    history = [
        {"epoch": e, "train_loss": 0.5 / e, "train_accuracy": 0.9, "val_loss": None, "val_accuracy": None}
        for e in (1, 2, 3)
    ]
    with plots.Renderer() as renderer:
        renderer.submit(plots.plot_history, history, tmp_path / "a.png", unit="iteration")
        renderer.submit(plots.plot_history, history, tmp_path / "b.png")
        renderer.wait()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]
    assert renderer._process.poll() is not None


def test_helper_serves_both_pipes_in_turn_when_it_cannot_fork(tmp_path):
    """serve()'s fallback: with os.fork failing, the one helper takes the jobs dealt to its twin as well."""
    from multiprocessing.connection import Connection

    ends = [os.pipe() for _ in range(4)]
    theirs = [ends[0][0], ends[1][1], ends[2][0], ends[3][1]]
    program = (
        "import os, sys\n"
        "from multiprocessing.connection import Connection\n"
        "from logreg_onnx.trainer.rundir import plots\n"
        "def no_fork():\n"
        "    raise OSError('no fork here')\n"
        "os.fork = no_fork\n"
        "fds = [int(fd) for fd in sys.argv[1:]]\n"
        "pairs = [(Connection(fds[0], writable=False), Connection(fds[1], readable=False)),\n"
        "         (Connection(fds[2], writable=False), Connection(fds[3], readable=False))]\n"
        "plots.serve(pairs)\n"
    )
    helper = subprocess.Popen([sys.executable, "-c", program, *map(str, theirs)], pass_fds=theirs)
    for fd in theirs:
        os.close(fd)
    jobs = [Connection(ends[0][1], readable=False), Connection(ends[2][1], readable=False)]
    results = [Connection(ends[1][0], writable=False), Connection(ends[3][0], writable=False)]
    history = [{"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.9, "val_loss": None, "val_accuracy": None}]
    try:
        jobs[0].send((plots.plot_history, (history, tmp_path / "first.png"), {}))
        jobs[1].send((plots.plot_history, ([{"epoch": 1}], tmp_path / "second.png"), {}))
        assert results[0].recv() is None
        assert results[1].recv() == "KeyError: 'train_loss'"
        for connection in jobs:
            connection.close()
        assert helper.wait(timeout=60) == 0  # the caller's end closed: the helper exits
    finally:
        helper.kill()
        helper.wait()
    assert [p.name for p in tmp_path.iterdir()] == ["first.png"]
