"""``logreg export`` and ``logreg verify`` as a user meets them: warnings in the command line's words, one line each
(never Python's warning format with a source line), and a file given where the run directory belongs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from logreg_onnx.cli import main

from ..conftest import write_csv

ROWNAMES_WARNING = (
    "warning: feature 'rownames' has a different value on every row and grows with the row number, like a row ID: "
    "the model would learn the file's order, which will not hold for new rows. Leave it out with --drop rownames "
    "unless it is a real feature"
)
RUN_IS = "the folder that logreg train writes, holding model.pt and metrics.json"


@pytest.fixture(scope="module")
def rownames_run(tmp_path_factory) -> Path:
    """A run trained on a CSV whose first column is R's row names (1..n), as R's write.csv writes it."""
    folder = tmp_path_factory.mktemp("rownames")
    rows = [[i + 1, round((7 * i % 11) / 3, 3), round((5 * i % 13) / 4, 3), (i * 7 % 11) % 2] for i in range(80)]
    data = write_csv(folder / "data.csv", ["rownames", "a", "b", "y"], rows)
    run = folder / "run"
    result = CliRunner().invoke(main, ["train", str(data), "--label", "y", "--out", str(run), "-q"])
    assert result.exit_code == 0, result.output
    return run


def logreg(*args: str) -> subprocess.CompletedProcess:
    """The real command in its own process: Python's warnings machinery prints to the real stderr there, as it would
    for a user (under pytest, pytest would catch a leaked warning before it was printed)."""
    return subprocess.run([sys.executable, "-m", "logreg_onnx", *args], capture_output=True, text=True, timeout=300)


def test_export_says_a_data_warning_in_flags_on_one_line(rownames_run, tmp_path):
    result = logreg("export", str(rownames_run), "--out", str(tmp_path / "m.onnx"), "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [ROWNAMES_WARNING]
    assert "DataWarning" not in result.stderr and "drop='rownames'" not in result.stderr
    assert (tmp_path / "m.onnx").is_file()


def test_verify_says_it_the_same_way(rownames_run, tmp_path):
    exported = logreg("export", str(rownames_run), "--out", str(tmp_path / "m.onnx"), "-q")
    assert exported.returncode == 0, exported.stderr
    result = logreg("verify", str(tmp_path / "m.onnx"), str(rownames_run), "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [ROWNAMES_WARNING]
    assert result.stdout.strip() == f"{tmp_path / 'm.onnx'}: verified against {rownames_run}"


def test_train_with_export_warns_once(rownames_run, tmp_path):
    """``train --export`` reads the data twice (to train, then to verify on its rows): one warning, not two."""
    data = rownames_run.parent / "data.csv"
    result = logreg("train", str(data), "--label", "y", "--out", str(tmp_path / "run"), "--export", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [ROWNAMES_WARNING]
    assert (tmp_path / "run" / "model.onnx").is_file()


@pytest.mark.parametrize("command", ["export", "verify"])
def test_a_model_file_of_a_run_is_answered_with_its_folder(rownames_run, command, tmp_path):
    model = rownames_run / "model.pt"
    args = [command, str(model)] if command == "export" else [command, str(_onnx_file(tmp_path)), str(model)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {model}: a file, not a run directory ({RUN_IS}); give its folder: {rownames_run}\n"


def test_other_files_and_missing_paths_say_what_a_run_directory_is(rownames_run, tmp_path):
    data = rownames_run.parent / "data.csv"
    result = CliRunner().invoke(main, ["export", str(data)])
    said = (
        f"Error: {data}: a file, not a run directory ({RUN_IS}), a .skops file or a PyTorch state_dict (torch.save)\n"
    )
    assert (result.exit_code, result.stderr) == (2, said)
    missing = tmp_path / "file.pt"
    result = CliRunner().invoke(main, ["export", str(missing)])
    said = f"Error: {missing}: no such run directory ({RUN_IS}) or model file (.skops, a PyTorch state_dict)\n"
    assert (result.exit_code, result.stderr) == (2, said)
    assert "--out" not in result.stderr  # it used to suggest `logreg train DATA --out file.pt`


def _onnx_file(folder: Path) -> Path:
    path = folder / "any.onnx"
    path.write_bytes(b"\x08\x07")  # never read: the run directory is refused first
    return path
