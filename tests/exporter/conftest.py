"""Private copies of the runs trained once per session (tests/conftest.py), so that a test may break its own."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def binary_run(binary_run_master, tmp_path) -> Path:
    """A private copy, so a test may break it."""
    return Path(shutil.copytree(binary_run_master, tmp_path / "binary"))


@pytest.fixture
def multiclass_run(multiclass_run_master, tmp_path) -> Path:
    return Path(shutil.copytree(multiclass_run_master, tmp_path / "multiclass"))


@pytest.fixture
def penguins_run(penguins_run_master, tmp_path) -> Path:
    """Penguins: text columns, NA cells, format 3's explain outputs."""
    return Path(shutil.copytree(penguins_run_master, tmp_path / "penguins"))
