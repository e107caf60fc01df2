"""Edge engines, each in its own venv built by make (``make engine-venvs``): tract and OpenVINO replay the test vectors
of the committed example and of freshly exported binary and multiclass models; a model with text columns is refused
for the reason we document (neither engine has string tensors)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ..conftest import REPO

REPLAY = REPO / "examples" / "engines" / "replay.py"
VENVS = {"tract": REPO / ".venv-tract", "openvino": REPO / ".venv-openvino"}


def _replay(engine: str, model: Path) -> dict:
    python = VENVS[engine] / "bin" / "python"
    if not python.exists():
        pytest.skip(f"{VENVS[engine].name} is missing: make engine-venvs (make test builds it)")
    out = subprocess.run([str(python), str(REPLAY), engine, str(model)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


OPENVINO_FOLDS = pytest.mark.xfail(
    strict=True,
    reason="OpenVINO folds the standardization (Sub, Div) into the linear layer's weights; in float32 that loses "
    "digits when a feature's mean is large against its spread (this synthetic model: mean 20, scale 0.01), and the "
    "probabilities miss the vectors' 1e-5 by about 3e-5 (folding them in numpy gives 1.2e-4)",
)


@pytest.mark.parametrize("engine", sorted(VENVS))
@pytest.mark.parametrize("which", ["committed example", "fresh binary", "fresh multiclass"])
def test_the_engine_reproduces_the_test_vectors(engine, which, binary_run_master, multiclass_run_master, request):
    if engine == "openvino" and which == "fresh multiclass":
        request.applymarker(OPENVINO_FOLDS)
    model = {
        "committed example": REPO / "artifacts" / "example" / "model.onnx",
        "fresh binary": binary_run_master / "model.onnx",
        "fresh multiclass": multiclass_run_master / "model.onnx",
    }[which]
    report = _replay(engine, model)
    assert report["passed"], report
    assert report["cases"] > 20 and report["max_abs_diff"] < 1e-5


@pytest.mark.parametrize("engine", sorted(VENVS))
def test_a_model_with_text_columns_is_not_run_and_says_why(engine):
    report = _replay(engine, REPO / "artifacts" / "example-penguins" / "model.onnx")
    assert not report["passed"]
    assert report["detail"] == "not run: the model has a string input (categorical columns), which this engine lacks"
