"""Runs trained once per session: the bundled binary data and a synthetic 4-class problem, each exported."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from runtime.cli import main

from ..conftest import BREAST_CANCER, synthetic


def _train_and_export(folder: Path, data: Path, *args: str) -> Path:
    run = folder / "run"
    result = CliRunner().invoke(main, ["train", str(data), *args, "--out", str(run), "-q", "--export"])
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="session")
def binary_run_master(tmp_path_factory) -> Path:
    return _train_and_export(tmp_path_factory.mktemp("binary"), BREAST_CANCER, "--label", "diagnosis")


@pytest.fixture(scope="session")
def multiclass_run_master(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("multiclass")
    X, y = synthetic(1500, 6, 4, seed=21, offset=20.0)
    np.savez(folder / "four.npz", X=X, y=np.array(["w", "x", "y", "z"])[y])
    return _train_and_export(folder, folder / "four.npz")


@pytest.fixture
def binary_run(binary_run_master, tmp_path) -> Path:
    """A private copy, so a test may break it."""
    return Path(shutil.copytree(binary_run_master, tmp_path / "binary"))


@pytest.fixture
def multiclass_run(multiclass_run_master, tmp_path) -> Path:
    return Path(shutil.copytree(multiclass_run_master, tmp_path / "multiclass"))
