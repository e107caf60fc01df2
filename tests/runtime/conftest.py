"""The committed example model and its test vectors: the runtime's tests need no training, torch or onnx."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "artifacts" / "example"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def example_path() -> Path:
    return EXAMPLE_DIR / "model.onnx"


@pytest.fixture(scope="session")
def vectors() -> dict:
    """PyTorch's outputs for the example model, written at export: the reference the runtime is checked against."""
    document = json.loads((EXAMPLE_DIR / "model.testvectors.json").read_text())
    document["X"] = np.array([c["features"] for c in document["cases"]], dtype=np.float32)
    document["P"] = np.array([c["probabilities"] for c in document["cases"]])
    document["labels"] = np.array([c["label"] for c in document["cases"]])
    return document


@pytest.fixture(scope="session")
def model(example_path):
    from logreg_onnx import runtime

    return runtime.load(example_path)
