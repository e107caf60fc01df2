"""The browser page (examples/browser/), served on a loopback port the way `make web-demo` serves it and driven in
Debian's headless Chromium through playwright-core: the form's probabilities and the scored CSV equal the Python
runtime's (WASM float32 arithmetic: within 1e-6), with and without the cross-origin isolation that enables WASM threads.
For a format 3 model the page's explanation (the contribution bars, the interval) equals the Python runtime's
model.explain and the model's own test vectors; a format 1 or 2 model shows none. A screenshot of each run is kept
in build/test-artifacts/; with LOGREG_DOCS_IMAGES=FOLDER set, the contribution bars' one is also written there as
browser-contributions.png (the picture in docs/images/)."""

from __future__ import annotations

import json
import os
import shutil
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
from .conftest import ARTIFACTS, BROWSER_DIR, CHROMIUM, assert_same_explanations, browser_ready, csv_rows

Z_95 = 1.959963984540054


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


def _drive(driver: Path, url: str, row: dict, csv: Path, name: str, tmp_path: Path, *options: str) -> dict:
    (tmp_path / "row.json").write_text(json.dumps(row))
    screenshot = ARTIFACTS / f"browser-{name}.png"
    result = subprocess.run(
        ["node", str(driver), url, str(tmp_path / "row.json"), str(csv), str(screenshot), str(CHROMIUM), *options],
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


def assert_explanation_shown(seen: dict, model: runtime.Model, row: dict) -> None:
    """The page explained ``row`` (the form's, missing values None) as the Python runtime does, and drew it: one bar
    per column named, strongest toward the predicted class first, toward one colour and away the other, lengths in
    proportion; a model without explain outputs (format 1 or 2) shows no explanation at all."""
    if not any(o.name == "contributions" for o in model.outputs):
        assert seen["explain"] is None and seen["bars"] == [] and seen["csvToward"] == [], seen
        return
    expected = model.explain([row], top=len(model.feature_names))[0]
    assert_same_explanations([seen["explain"]], [expected])
    drawn = expected["toward"] + expected["away"][::-1]
    assert [b["column"] for b in seen["bars"]] == [c["column"] for c in drawn]
    np.testing.assert_allclose([b["contribution"] for b in seen["bars"]], [c["contribution"] for c in drawn], rtol=1e-6)
    assert [b["direction"] for b in seen["bars"]] == ["toward" if c["contribution"] > 0 else "away" for c in drawn]
    colours = {b["direction"]: b["colour"] for b in seen["bars"]}
    assert all(b["colour"] == colours[b["direction"]] for b in seen["bars"])
    assert len(set(colours.values())) == len(colours)  # toward and away in two colours
    widths = np.array([b["width"] for b in seen["bars"]])
    sizes = np.abs([c["contribution"] for c in drawn])
    np.testing.assert_allclose(widths / widths.max(), sizes / sizes.max(), atol=0.01)  # a pixel in 12rem
    if "interval" not in expected:
        assert seen["interval"]["text"] == f"No interval: {model.metadata['explain']['intervals_note']}."


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
    assert_explanation_shown(seen, model, row | {"sex": None})
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
    assert_explanation_shown(seen, model, row)
    python = _python_rows(model_path, csv)
    assert len(seen["csv"]) == len(python) == 40
    for (label, probabilities), reference in zip(seen["csv"], python, strict=True):
        assert label == reference["label"]
        np.testing.assert_allclose(probabilities, [reference[f"p_{c}"] for c in model.classes], atol=1e-6)


def test_the_page_draws_a_format_3_models_contributions_as_python_explains_them(driver, penguins_run_master, tmp_path):
    """The penguins run (what `make example` builds): text columns, three classes, a penalized fit (no interval).
    Its one-row section is the documentation's picture of the bars."""
    model_path = penguins_run_master / "model.onnx"
    shot = ARTIFACTS / "browser-contributions.png"
    process, base = _serve("--model", str(model_path))
    try:
        csv = tmp_path / "penguins-60.csv"
        csv.write_text("".join(PENGUINS.read_text().splitlines(keepends=True)[:61]))
        row = {"island": "Dream", "bill_length_mm": 46.0, "bill_depth_mm": None, "flipper_length_mm": 192}
        row |= {"body_mass_g": 3700, "sex": "", "year": 2008}
        url = f"{base}/browser/?model={model_path.parent.name}"  # serve.py names a model.onnx by its folder
        seen = _drive(driver, url, row, csv, "penguins-format-3", tmp_path, "--explain-shot", str(shot))
    finally:
        process.kill()
    model = runtime.load(model_path)
    assert seen["explain"] is not None and len(seen["bars"]) == len(model.feature_names)
    assert_explanation_shown(seen, model, row | {"sex": None})
    assert seen["explain"]["label"] == seen["formLabel"]
    # the CSV table: each row's column most toward its label, as Python's explain(top=1) names it
    python = model.explain(csv_rows(csv, "species"), top=1)
    assert len(seen["csvToward"]) == len(python) == 60
    for shown, reference in zip(seen["csvToward"], python, strict=True):
        assert shown[0] == reference["toward"][0]["column"]
        np.testing.assert_allclose(shown[1], reference["toward"][0]["contribution"], rtol=1e-6)
    assert shot.stat().st_size > 10_000
    if os.environ.get("LOGREG_DOCS_IMAGES"):
        folder = Path(os.environ["LOGREG_DOCS_IMAGES"])
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, folder / shot.name)


@pytest.mark.parametrize("which", ["binary", "multiclass"])
def test_the_page_shows_the_interval_and_contributions_its_test_vectors_hold(
    driver, interval_runs_master, tmp_path, which
):
    """A model fitted without a penalty has intervals: the page shows a test-vector case's logit, contributions and
    interval as the exporter computed them (its float64 reference, written in the vectors), by the vectors' rule."""
    model_path = interval_runs_master[which] / "model.onnx"
    vectors = json.loads(model_path.with_suffix(".testvectors.json").read_text())
    case = next(c for c in vectors["cases"] if c["group"] == "training data" and None not in c["row"].values())
    csv = tmp_path / "data-40.csv"
    csv.write_text(
        "".join((interval_runs_master[which].parent / "data.csv").read_text().splitlines(keepends=True)[:41])
    )
    process, base = _serve("--model", str(model_path))
    try:
        url = f"{base}/browser/?model={model_path.parent.name}"
        seen = _drive(driver, url, case["row"], csv, f"interval-{which}", tmp_path)
    finally:
        process.kill()
    model = runtime.load(model_path)
    assert_explanation_shown(seen, model, case["row"])
    shown, atol = seen["explain"], vectors["atol"]

    def close(got, expected, scale=1.0):
        np.testing.assert_array_less(np.abs(np.subtract(got, expected)), atol * scale * np.maximum(1, np.abs(expected)))

    classes = model.classes
    assert classes.index(shown["label"]) == case["label"]
    close([shown["logit"][c] for c in classes[1:]], case["logit"])
    # each column toward the case's class, from the vectors' contributions alone
    contributions = np.array(case["contributions"])  # (columns, logits)
    if which == "binary":
        toward = contributions[:, 0] * (1 if case["label"] == 1 else -1)
    else:
        every = np.concatenate([np.zeros((len(contributions), 1)), contributions], axis=1)
        toward = (every - every.mean(axis=1, keepdims=True))[:, case["label"]]
    by_column = dict(zip(model.feature_names, toward, strict=True))
    close([b["contribution"] for b in seen["bars"]], [by_column[b["column"]] for b in seen["bars"]], scale=2)
    interval = shown["interval"]
    if which == "binary":
        assert [seen["interval"]["pLower"], seen["interval"]["pUpper"]] == [interval["p_lower"], interval["p_upper"]]
        close([interval["p_lower"], interval["p_upper"]], [case["probability_lower"], case["probability_upper"]])
        assert seen["interval"]["text"].startswith(f"p({classes[1]}) ") and "95% interval" in seen["interval"]["text"]
    else:
        logit, se = np.array(case["logit"]), np.array(case["logit_se"])
        for name, sign in (("logit_lower", -1), ("logit_upper", 1)):
            close([interval[name][c] for c in classes[1:]], logit + sign * Z_95 * se, scale=1 + Z_95)
        assert seen["interval"]["text"].count("95% interval") == len(classes) - 1


def test_the_page_scores_with_the_generated_module_and_loads_no_runtime(driver, penguins_run_master, tmp_path):
    """?scorer=module: the ES module `logreg export --code js` wrote, through the same form, bars and CSV table:
    equal to the Python runtime (float64 arithmetic on the float32 inputs), and neither onnxruntime-web nor
    protobufjs is fetched."""
    from click.testing import CliRunner

    from logreg_onnx.cli import main

    run = Path(shutil.copytree(penguins_run_master, tmp_path / "penguins"))
    result = CliRunner().invoke(main, ["export", str(run), "--code", "js", "-q"])
    assert result.exit_code == 0, result.output
    model_path = run / "model.onnx"
    process, base = _serve("--model", str(model_path))
    try:
        csv = tmp_path / "penguins-60.csv"
        csv.write_text("".join(PENGUINS.read_text().splitlines(keepends=True)[:61]))
        row = {"island": "Dream", "bill_length_mm": 46.0, "bill_depth_mm": None, "flipper_length_mm": 192}
        row |= {"body_mass_g": 3700, "sex": "", "year": 2008}
        url = f"{base}/browser/?model=penguins&scorer=module"
        seen = _drive(driver, url, row, csv, "penguins-module", tmp_path)
    finally:
        process.kill()
    assert "the generated ES module (logreg export --code js), no runtime" in seen["status"]
    loaded = [r["name"] for r in seen["resources"]]
    assert "/models/penguins.mjs" in loaded and not any("onnxruntime" in n or "protobuf" in n for n in loaded), loaded
    model = runtime.load(model_path)
    expected = model.predict_one(row | {"sex": None})
    shown = dict(seen["form"])
    np.testing.assert_allclose([shown[c] for c in model.classes], [expected[c] for c in model.classes], atol=1e-6)
    assert_explanation_shown(seen, model, row | {"sex": None})
    python = _python_rows(model_path, csv)
    assert seen["csvStatus"] == "penguins-60.csv: 60 rows scored" and len(seen["csv"]) == 60
    for (label, probabilities), reference in zip(seen["csv"], python, strict=True):
        assert label == reference["label"]
        np.testing.assert_allclose(probabilities, [reference[f"p_{c}"] for c in model.classes], atol=1e-6)


def test_onnxruntime_web_replays_the_vectors_of_a_string_and_a_portable_model(penguins_run_master, tmp_path):
    """examples/browser/replay.html (the engine matrix's browser cell): the penguins model's test vectors through
    contract.js in onnxruntime-web (WASM), as exported (string input) and with --portable (int64 codes)."""
    from click.testing import CliRunner

    from logreg_onnx.cli import main

    browser_ready()
    portable = tmp_path / "portable" / "model.onnx"
    portable.parent.mkdir()
    result = CliRunner().invoke(main, ["export", str(penguins_run_master), "--out", str(portable), "--portable", "-q"])
    assert result.exit_code == 0, result.output
    process, base = _serve("--model", str(penguins_run_master / "model.onnx"), "--model", str(portable))
    try:
        for name in (penguins_run_master.name, "portable"):
            out = subprocess.run(
                ["node", str(BROWSER_DIR / "replay.mjs"), base, name, str(CHROMIUM)],
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert out.returncode == 0, out.stderr[-2000:]
            report = json.loads(out.stdout.strip().splitlines()[-1])
            assert report["passed"] and report["cases"] > 20 and report["maxAbsDiff"] < 1e-5, report
    finally:
        process.kill()
