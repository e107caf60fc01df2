"""The browser page (examples/browser/), served on a loopback port the way `make web-demo` serves it and driven in
Debian's headless Chromium through playwright-core: the form's probabilities and the scored CSV equal the Python
runtime's (WASM float32 arithmetic: within 1e-6), with and without the cross-origin isolation that enables WASM threads.
A screenshot of each run is kept in build/test-artifacts/."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from logreg_onnx import runtime

from ..conftest import BREAST_CANCER, PENGUINS, REPO
from ..runtime.serving import free_port
from .conftest import ARTIFACTS, BROWSER_DIR, CHROMIUM, browser_ready


@pytest.fixture(scope="module")
def driver() -> Path:
    return browser_ready() / "drive.mjs"


def _serve(*arguments: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(BROWSER_DIR / "serve.py"), "--port", str(port), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{base}/models/index.json", timeout=1)
            return process, base
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the page server did not start: {process.stderr.read().decode()}")


def _drive(driver: Path, url: str, row: dict, csv: Path, name: str, tmp_path: Path) -> dict:
    (tmp_path / "row.json").write_text(json.dumps(row))
    screenshot = ARTIFACTS / f"browser-{name}.png"
    result = subprocess.run(
        ["node", str(driver), url, str(tmp_path / "row.json"), str(csv), str(screenshot), str(CHROMIUM)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert screenshot.stat().st_size > 10_000
    assert seen["ready"] == "true", seen["status"]
    assert seen["console"] == [] and seen["pageErrors"] == [], seen
    return seen


def _python_rows(model_path: Path, csv: Path) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "logreg_onnx", "predict", str(model_path), str(csv), "--format", "jsonl"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_the_page_predicts_as_python_with_text_columns_and_wasm_threads(driver, tmp_path):
    model_path = REPO / "artifacts" / "example-penguins" / "model.onnx"
    process, base = _serve()
    try:
        csv = tmp_path / "penguins-60.csv"
        csv.write_text("".join(PENGUINS.read_text().splitlines(keepends=True)[:61]))
        row = {"island": "Dream", "bill_length_mm": 46.0, "bill_depth_mm": None, "flipper_length_mm": 192}
        row |= {"body_mass_g": 3700, "sex": "", "year": 2008}
        seen = _drive(driver, f"{base}/browser/?model=example-penguins", row, csv, "penguins", tmp_path)
    finally:
        process.kill()
    assert "cross-origin isolated" in seen["status"] and "1 WASM thread " not in seen["status"]
    model = runtime.load(model_path)
    expected = model.predict_one(row | {"sex": None})
    shown = dict(seen["form"])
    assert list(shown) == model.classes
    np.testing.assert_allclose([shown[c] for c in model.classes], [expected[c] for c in model.classes], atol=1e-6)
    assert seen["formLabel"] == max(expected, key=expected.get)
    python = _python_rows(model_path, csv)
    assert seen["csvStatus"] == "penguins-60.csv: 60 rows scored" and len(seen["csv"]) == len(python) == 60
    for (label, probabilities), reference in zip(seen["csv"], python, strict=True):
        assert label == reference["label"]
        np.testing.assert_allclose(probabilities, [reference[f"p_{c}"] for c in model.classes], atol=1e-6)


def test_the_page_works_without_cross_origin_isolation(driver, tmp_path):
    model_path = REPO / "artifacts" / "example" / "model.onnx"
    process, base = _serve("--no-isolation")
    try:
        csv = tmp_path / "breast-40.csv"
        csv.write_text("".join(BREAST_CANCER.read_text().splitlines(keepends=True)[:41]))
        model = runtime.load(model_path)
        row = dict(
            zip(
                model.feature_names,
                np.loadtxt(BREAST_CANCER, delimiter=",", skiprows=3, max_rows=1, usecols=range(30)).tolist(),
                strict=True,
            )
        )
        seen = _drive(driver, f"{base}/browser/?model=example", row, csv, "example-not-isolated", tmp_path)
    finally:
        process.kill()
    assert "1 WASM thread (not isolated)" in seen["status"]
    expected = model.predict_one(row)
    shown = dict(seen["form"])
    np.testing.assert_allclose([shown[c] for c in model.classes], [expected[c] for c in model.classes], atol=1e-6)
    python = _python_rows(model_path, csv)
    assert len(seen["csv"]) == len(python) == 40
    for (label, probabilities), reference in zip(seen["csv"], python, strict=True):
        assert label == reference["label"]
        np.testing.assert_allclose(probabilities, [reference[f"p_{c}"] for c in model.classes], atol=1e-6)
