"""The clients in other languages need their npm packages: installed by the tests themselves, into node_modules/
folders that git ignores. Also the format 3 models with intervals the clients explain, and the comparison of two
explanations."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ..conftest import _train_and_export, synthetic, write_csv

REPO = Path(__file__).resolve().parents[2]
BROWSER_DIR = REPO / "examples" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "build" / "test-artifacts"  # screenshots the browser tests keep


def npm_install(folder: Path) -> None:
    """``npm ci`` into ``folder/node_modules`` when it is missing or older than the lock file; skips the test, with
    the reason, when Node.js is not installed. --ignore-scripts: onnxruntime-node's install script downloads from a
    host this project cannot reach, and its npm package already carries the CPU binaries."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js (node and npm) is not installed: apt-get install nodejs npm")
    stamp = folder / "node_modules" / ".package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= (folder / "package-lock.json").stat().st_mtime:
        return
    result = subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=folder, capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(f"npm ci failed in {folder}: {result.stderr[-2000:]}")


def browser_ready() -> Path:
    """The folder of the page scripts, with playwright-core installed; skips, saying why, without Debian's chromium.
    Also makes :data:`ARTIFACTS` for the screenshots."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium (make test tries)")
    npm_install(BROWSER_DIR)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return BROWSER_DIR


@pytest.fixture(scope="session")
def interval_runs_master(tmp_path_factory) -> dict[str, Path]:
    """Runs fitted by plain maximum likelihood (``--l2 0``), so their format 3 files have the interval outputs:
    "binary" (probability_lower/upper) and "multiclass" (per-logit), each on seeded data with four numeric columns
    (3% missing, imputed) and one text column; name -> the run folder, its data beside it as data.csv."""
    runs = {}
    for name, n_classes, seed in (("binary", 2, 31), ("multiclass", 3, 32)):
        folder = tmp_path_factory.mktemp(f"interval-{name}")
        X, y = synthetic(900, 4, n_classes, seed=seed, noise=0.5)
        rng = np.random.default_rng(seed)
        region = rng.choice(["north", "south", "east"], size=len(y))
        X[rng.random(X.shape) < 0.03] = np.nan
        cells = [["" if math.isnan(v) else repr(v) for v in row] for row in X.tolist()]
        rows = [[*row, r, f"c{label}"] for row, r, label in zip(cells, region, y, strict=True)]
        data = write_csv(folder / "data.csv", ["x0", "x1", "x2", "x3", "region", "y"], rows)
        runs[name] = _train_and_export(folder, data, "--label", "y", "--l2", "0")
    return runs


def csv_rows(path: Path, label: str | None = None) -> list[dict]:
    """A CSV's rows as the dicts a user would pass (missing cells None), without the ``label`` column."""
    import pandas as pd

    frame = pd.read_csv(path)
    if label is not None:
        frame = frame.drop(columns=[label])
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def assert_same_explanations(got: list[dict], expected: list[dict], *, rtol: float = 1e-6) -> None:
    """Two clients' explanations of the same rows agree: labels, the columns named toward and away in the same order,
    and every number (probabilities, logits, contributions, intervals) within ``rtol`` of the reference's, which is
    float32 rounding: both read the same graph outputs."""
    assert len(got) == len(expected) > 0
    for i, (mine, reference) in enumerate(zip(got, expected, strict=True)):
        assert mine.keys() == reference.keys(), (i, mine.keys(), reference.keys())
        assert mine["label"] == reference["label"], i
        for way in ("toward", "away"):
            assert [c["column"] for c in mine[way]] == [c["column"] for c in reference[way]], (i, way, mine, reference)
            np.testing.assert_allclose(
                [c["contribution"] for c in mine[way]], [c["contribution"] for c in reference[way]], rtol=rtol, atol=0
            )
        for key in ("probabilities", "logit"):
            assert list(mine[key]) == list(reference[key]), (i, key)
            np.testing.assert_allclose(list(mine[key].values()), list(reference[key].values()), rtol=rtol, atol=1e-12)
        if "interval" in reference:
            assert mine["interval"].keys() == reference["interval"].keys()
            for key, value in reference["interval"].items():
                mine_value = mine["interval"][key]
                if isinstance(value, dict):
                    assert list(mine_value) == list(value), (i, key)
                    mine_value, value = list(mine_value.values()), list(value.values())
                np.testing.assert_allclose(mine_value, value, rtol=rtol, atol=1e-12, err_msg=f"row {i} {key}")
