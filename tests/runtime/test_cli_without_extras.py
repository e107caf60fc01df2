"""The base install (no torch, no onnx): ``logreg --help`` lists every command, each command's ``--help`` works, and
a command whose extra is missing says which one, exit 2, in one line.

Each command runs in a fresh interpreter with the 'train' extra's modules blocked in ``sys.modules``, so this tests
the base install both here and in ``.venv-runtime`` (``make test-runtime``), where they are not installed at all.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCKED = ("torch", "onnx", "onnxscript", "matplotlib")
COMMANDS = ("train", "export", "verify", "predict", "info", "serve", "report")
LOGREG_WITHOUT_TRAIN_EXTRA = f"""
import sys
for name in {BLOCKED!r}:
    sys.modules[name] = None  # `import torch` now raises ModuleNotFoundError, as in an install without it
sys.argv[0] = "logreg"
from logreg_onnx.cli import run
run()
"""


def logreg(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LOGREG_WITHOUT_TRAIN_EXTRA, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_help_lists_every_command():
    result = logreg("--help")
    assert result.returncode == 0, result.stderr
    assert "internal error" not in result.stdout + result.stderr
    listed = result.stdout.split("Commands:")[1].split()
    for name in COMMANDS:
        assert name in listed, (name, result.stdout)


@pytest.mark.parametrize(
    "command, usage, first_words",
    [
        ("export", "Usage: logreg export [OPTIONS] MODEL", "Export MODEL to ONNX and prove it"),
        ("verify", "Usage: logreg verify [OPTIONS] MODEL RUN_DIR", "Check that the ONNX file MODEL computes"),
        ("train", "Usage: logreg train [OPTIONS] DATA", "Fit a logistic-regression model to DATA"),
        ("report", "Usage: logreg report [OPTIONS] RUN", "Write one self-contained HTML report"),
    ],
)
def test_each_commands_help_works_without_its_extra(command, usage, first_words):
    result = logreg(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(usage), result.stdout
    assert first_words in " ".join(result.stdout.split()), result.stdout
    assert result.stderr == ""


def test_export_help_shows_the_exporters_defaults():
    text = " ".join(logreg("export", "--help").stdout.split())
    assert "[default: 18, or 19 for a model with categorical columns, 18 with --portable]" in text
    assert "--atol FLOAT Absolute tolerance on probabilities (16 float32 ulps of 0.5). [default: 1e-06]" in text


@pytest.mark.parametrize(
    "args, missing",
    [
        (["export", "RUN"], "torch"),
        (["verify", "model.onnx", "RUN"], "torch"),
        (["train", "data.csv", "--label", "y"], "torch"),
        (["report", "."], "matplotlib"),
    ],
)
def test_a_command_without_its_extra_names_it_and_exits_2(tmp_path, args, missing):
    (tmp_path / "model.onnx").write_bytes(b"not used")
    result = logreg(*args, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr == (
        f"Error: this command needs {missing}, which is not installed; install the 'train' extra: "
        "pip install '.[train]' in the repository's folder\n"
    )
    assert list(tmp_path.iterdir()) == [tmp_path / "model.onnx"]  # nothing written
