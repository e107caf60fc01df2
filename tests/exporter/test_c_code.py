"""``logreg export --c``: the generated C99 compiles warning-free and reproduces onnxruntime on the test vectors and on
fresh rows (missing values, unseen and folded levels), for binary, multiclass and categorical models."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.exporter import c_code

from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import REPO as ROOT

PENGUINS = ROOT / "examples" / "penguins" / "penguins.csv"

pytestmark = pytest.mark.skipif(c_code.find_compiler() is None, reason="no C compiler (cc, gcc or clang) installed")


def _export_c(run: Path) -> Path:
    result = CliRunner().invoke(main, ["export", str(run), "--c"])
    assert result.exit_code == 0, result.output
    assert "C99 model.h" in result.output and "pass" in result.output
    header = run / "model.h"
    assert header.exists() and f"wrote {run / 'model.onnx'}, {header}" in result.output
    return header


@pytest.fixture(scope="module")
def penguin_runs(tmp_path_factory) -> dict[str, Path]:
    runs = {}
    for name, extra in (("penguins", []), ("penguins-other", ["--min-frequency", "60"])):
        run = tmp_path_factory.mktemp(name) / "run"
        result = CliRunner().invoke(
            main, ["train", str(PENGUINS), "--label", "species", "--out", str(run), "-q", *extra]
        )
        assert result.exit_code == 0, result.output
        runs[name] = run
    return runs


def _compile_and_run(header: Path, cases: list[dict], n_categorical: int, folder: Path) -> np.ndarray:
    """Our harness, compiled the strict way; its printed probabilities (one row per case)."""
    (folder / "harness.c").write_text(c_code.harness(str(header), cases, n_categorical))
    compiler = c_code.find_compiler()
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
    subprocess.run([compiler, *flags, "harness.c", "-o", "harness", "-lm"], cwd=folder, check=True)
    out = subprocess.run([str(folder / "harness")], capture_output=True, text=True, check=True).stdout
    return np.array([[float(v) for v in line.split()[1:]] for line in out.splitlines()])


def _fresh_cases(model: runtime.Model, seed: int) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Rows the test vectors do not hold: random numbers around the training range with some NaN, and texts that
    are known levels, unseen ones, empty (missing) and non-ASCII."""
    rng = np.random.default_rng(seed)
    n = 200
    numeric = rng.normal(0, 1, size=(n, len(model.numeric_names))).astype(np.float32)
    scale = np.array([float(c.median or 1.0) for c in model.columns if c.kind == "numeric"], dtype=np.float32)
    numeric = numeric * np.abs(scale) * 0.3 + scale if len(scale) else numeric
    if model.imputes:
        numeric[rng.random(numeric.shape) < 0.1] = np.nan
    pool = {c.name: [*c.levels, "", "unseen", 'Ünïcode ?? \\ "q"'] for c in model.columns if c.kind == "categorical"}
    categories = np.array(
        [[pool[name][rng.integers(len(pool[name]))] for name in model.categorical_names] for _ in range(n)],
        dtype=object,
    ).reshape(n, len(model.categorical_names))
    cases = [
        {"features": [None if v != v else float(v) for v in row], "categories": list(texts)}
        for row, texts in zip(numeric.tolist(), categories.tolist(), strict=True)
    ]
    return cases, numeric, categories


@pytest.mark.parametrize("which", ["binary", "multiclass", "penguins", "penguins-other"])
def test_generated_c_matches_onnxruntime(which, binary_run, multiclass_run, penguin_runs, tmp_path):
    run = {"binary": binary_run, "multiclass": multiclass_run, **penguin_runs}[which]
    header = _export_c(run)
    model = runtime.load(run / "model.onnx")
    n_categorical = len(model.categorical_names)
    cases, numeric, categories = _fresh_cases(model, seed=len(which))
    got = _compile_and_run(header, cases, n_categorical, tmp_path)
    _, expected = model.run_inputs(numeric, categories if n_categorical else None)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert np.abs(got - expected).max() < 1e-5


def test_the_export_fails_closed_when_the_c_code_is_wrong(binary_run, monkeypatch):
    """A generator bug (here: one weight's sign flipped) fails the export and writes no model."""
    real = c_code.generate

    def broken(model_bytes: bytes) -> str:
        text = real(model_bytes)
        return text.replace("static const float logreg_bias[2] = {", "static const float logreg_bias[2] = {1.0f + ", 1)

    monkeypatch.setattr(c_code, "generate", broken)
    (binary_run / "model.onnx").unlink()
    result = CliRunner().invoke(main, ["export", str(binary_run), "--c"])
    assert result.exit_code == 1, result.output
    assert "C99 model.h" in result.output and "FAIL" in result.output
    assert not (binary_run / "model.onnx").exists() and not (binary_run / "model.h").exists()


def test_without_a_compiler_the_header_is_written_and_the_export_says_it_is_unverified(binary_run, monkeypatch):
    monkeypatch.setattr(c_code, "find_compiler", lambda: None)
    result = CliRunner().invoke(main, ["export", str(binary_run), "--c"])
    assert result.exit_code == 0, result.output
    assert "model.h not compiled: no C compiler found (cc, gcc or clang); it is written unverified" in result.output
    assert (binary_run / "model.h").exists()


def test_object_size_of_the_example_model(tmp_path):
    """The committed example (30 features, 2 classes): the number the README quotes, compiled with -Os."""
    import json

    example = ROOT / "artifacts" / "example"
    proof = c_code.prove(
        c_code.generate((example / "model.onnx").read_bytes()),
        json.loads((example / "model.testvectors.json").read_text()),
    )
    assert proof.passed, proof.detail
    if shutil.which("size"):
        assert proof.object_bytes is not None and 0 < proof.object_bytes < 4096
