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
