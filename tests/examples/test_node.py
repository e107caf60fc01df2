"""The Node.js client (examples/node/), really run with node and onnxruntime-node: it checks itself against each
model's test vectors and predicts what the Python runtime predicts, on the committed models and on freshly exported
binary, multiclass and categorical ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from logreg_onnx import runtime

from ..conftest import BREAST_CANCER, PENGUINS, REPO
from .conftest import npm_install

NODE_DIR = REPO / "examples" / "node"


@pytest.fixture(scope="module")
def node_client() -> Path:
    npm_install(NODE_DIR)
    return NODE_DIR / "cli.js"


def _node(cli: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(cli), *map(str, args)], capture_output=True, text=True, input=stdin, timeout=120)


def _models(binary_run_master, multiclass_run_master, penguins_run_master) -> dict[str, tuple[Path, Path]]:
    """name -> (model, a CSV of rows for it)"""
    return {
        "committed example (format 1)": (REPO / "artifacts" / "example" / "model.onnx", BREAST_CANCER),
        "committed penguins (format 2)": (REPO / "artifacts" / "example-penguins" / "model.onnx", PENGUINS),
        "fresh binary": (binary_run_master / "model.onnx", BREAST_CANCER),
        "fresh multiclass": (multiclass_run_master / "model.onnx", multiclass_run_master.parent / "four.csv"),
        "fresh categorical": (penguins_run_master / "model.onnx", PENGUINS),
    }


@pytest.mark.parametrize(
    "which",
    [
        "committed example (format 1)",
        "committed penguins (format 2)",
        "fresh binary",
        "fresh multiclass",
        "fresh categorical",
    ],
)
def test_node_checks_the_test_vectors_and_predicts_as_python(
    which, node_client, binary_run_master, multiclass_run_master, penguins_run_master
):
    model_path, rows = _models(binary_run_master, multiclass_run_master, penguins_run_master)[which]
    check = _node(node_client, "check", model_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "cases passed (inputs and rows)" in check.stdout
    predicted = _node(node_client, "predict", model_path, rows)
    assert predicted.returncode == 0, predicted.stderr
    got = [json.loads(line) for line in predicted.stdout.splitlines()]
    reference = subprocess.run(
        [sys.executable, "-m", "logreg_onnx", "predict", str(model_path), str(rows), "--format", "jsonl"],
        capture_output=True,
        text=True,
        check=True,
    )
    expected = [json.loads(line) for line in reference.stdout.splitlines()]
    model = runtime.load(model_path)
    assert len(got) == len(expected) > 100
    for node_row, python_row in zip(got, expected, strict=True):
        assert node_row["label"] == python_row["label"]
        node_p = np.array([node_row["probabilities"][c] for c in model.classes], dtype=np.float32)
        python_p = np.array([python_row[f"p_{c}"] for c in model.classes], dtype=np.float32)
        np.testing.assert_array_equal(node_p, python_p)


def test_node_check_fails_on_a_vector_that_disagrees(node_client, tmp_path):
    vectors = json.loads((REPO / "artifacts" / "example-penguins" / "model.testvectors.json").read_text())
    vectors["cases"][3]["probabilities"][0] += 2e-5  # twice the tolerance
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(vectors))
    check = _node(node_client, "check", REPO / "artifacts" / "example-penguins" / "model.onnx", changed)
    assert check.returncode == 1
    assert "FAIL case 3" in check.stderr and "cases FAILED" in check.stdout


def test_node_names_a_bad_row(node_client):
    row = {"island": "Dream", "bill_length_mm": "heavy", "bill_depth_mm": None, "flipper_length_mm": 192}
    row |= {"body_mass_g": 3700, "sex": None, "year": 2008}
    result = _node(
        node_client,
        "predict",
        REPO / "artifacts" / "example-penguins" / "model.onnx",
        "-",
        stdin=json.dumps(row) + "\n",
    )
    assert result.returncode == 2
    assert result.stderr.strip() == 'Error: row 0, column 1 ("bill_length_mm"): "heavy" is not a finite number'
