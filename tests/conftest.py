"""Shared fixtures: the bundled dataset, seeded synthetic data, and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BREAST_CANCER = REPO / "examples" / "breast_cancer" / "breast_cancer.csv"
EXAMPLE_MODEL_DIR = REPO / "artifacts" / "example"


def synthetic(n: int, n_features: int, n_classes: int, *, seed: int, noise: float = 1.0, offset: float = 0.0):
    """Seeded, non-separable data from a known logistic model: features with mixed scales and one offset."""
    rng = np.random.default_rng(seed)
    scales = np.geomspace(0.01, 100, n_features)
    X = rng.normal(size=(n, n_features)) * scales + offset
    W = rng.normal(size=(n_classes, n_features)) / scales
    logits = (X - offset) @ W.T * noise
    logits -= logits.max(axis=1, keepdims=True)
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(n_classes, p=p) for p in P])
    return X, y


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def breast_cancer_csv() -> Path:
    return BREAST_CANCER
