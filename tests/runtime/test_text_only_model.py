"""A model whose features are all text columns (issue 18, defect 2): it exported "verification PASSED", then
``logreg info`` exited 70, dict rows raised ``cannot reshape array of size 0``, ``logreg serve`` never became ready
and /predict answered 500."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import PENGUINS
from .serving import running_server

pytest.importorskip("torch")  # trained here
onnx = pytest.importorskip("onnx")

ROWS = [
    {"island": "Dream", "sex": "male"},
    {"island": "Biscoe", "sex": None},
    {"island": "Torgersen", "sex": "female"},
    {"island": "Atlantis", "sex": " male "},  # unseen, and untrimmed
]


@pytest.fixture(scope="module")
def text_only(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("text-only") / "run"
    args = ["train", str(PENGUINS), "--label", "species", "--features", "island,sex", "--out", str(run), "-q"]
    result = CliRunner().invoke(main, [*args, "--export"])
    assert result.exit_code == 0, result.output
    return run / "model.onnx"


def _reference(path: Path, rows: list[dict]) -> np.ndarray:
    from onnx.reference import ReferenceEvaluator

    categories = np.array(
        [["" if r[n] is None else r[n].strip() for n in ("island", "sex")] for r in rows], dtype=object
    )
    return np.asarray(
        ReferenceEvaluator(onnx.load(path)).run(["label", "probabilities"], {"categories": categories})[1]
    )


def test_dict_rows_are_scored(text_only):
    model = runtime.load(text_only)
    assert model.numeric_names == [] and model.categorical_names == ["island", "sex"]
    expected = _reference(text_only, ROWS)
    np.testing.assert_allclose(model.predict_proba(ROWS), expected, atol=1e-6)
    for row, p in zip(ROWS, expected, strict=True):
        np.testing.assert_allclose(model.predict_proba(row)[0], p, atol=1e-6)
        np.testing.assert_allclose([model.predict_one(row)[c] for c in model.classes], p, atol=1e-6)
    rows_as_lists = [[r["island"], r["sex"]] for r in ROWS]
    np.testing.assert_allclose(model.predict_proba(rows_as_lists), expected, atol=1e-6)


def test_info_passes(text_only):
    result = CliRunner().invoke(main, ["info", str(text_only)])
    assert result.exit_code == 0, result.output
    assert "test vectors PASSED" in result.stdout
    assert "input        categories: string [batch, 2]" in result.stdout


def test_the_export_checked_the_paths_users_run(text_only):
    report = json.loads(text_only.with_name("parity.json").read_text())
    runtimes = {r["runtime"] for r in report["results"]}
    assert {"runtime.run (dict rows)", "server /predict", "server V2 infer", "logreg info, server ready"} <= runtimes
    assert report["passed"] and all(r["passed"] for r in report["results"])


def test_serve_becomes_ready_and_predicts(text_only):
    pytest.importorskip("uvicorn")
    with running_server(str(text_only), "--name", "species") as (url, _):
        body = json.dumps({"instances": ROWS}).encode()
        request = urllib.request.Request(f"{url}/predict", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
            predictions = json.loads(answer.read())["predictions"]
    model = runtime.load(text_only)
    got = np.array([[p["probabilities"][c] for c in model.classes] for p in predictions])
    np.testing.assert_allclose(got, _reference(text_only, ROWS), atol=1e-6)
    assert [p["label"] for p in predictions] == model.predict(ROWS).tolist()
