"""Reading a model's test vectors (format: runtime.contract.TESTVECTORS_SCHEMA) and replaying them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import contract
from .model import Model


def path_for(model_path: Path) -> Path:
    """Where the exporter writes a model's test vectors: beside it, ``<stem>.testvectors.json``."""
    return model_path.with_name(model_path.stem + contract.TESTVECTORS_SUFFIX)


def read(path: Path, n_features: int) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """The document, the case features (float32), expected probabilities (float64) and labels; ValueError if the file
    does not follow the schema's shape."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("format") != contract.TESTVECTORS_FORMAT:
        raise ValueError(f"not a {contract.TESTVECTORS_FORMAT} file")
    cases = document["cases"]
    X = np.array([case["features"] for case in cases], dtype=np.float32).reshape(len(cases), n_features)
    expected = np.array([case["probabilities"] for case in cases], dtype=np.float64)
    labels = np.array([case["label"] for case in cases], dtype=np.int64)
    float(document["atol"])
    return document, X, expected, labels


def replay(model: Model, path: str | Path | None = None) -> dict:
    """Run ``model`` on its test vectors. Returns ``{"status": "passed" | "failed" | "not found" | "unreadable", ...}``
    with the case count, the largest probability difference and the failing cases."""
    path = Path(path) if path is not None else path_for(model.path)
    if not path.is_file():
        return {"status": "not found", "path": str(path)}
    try:
        document, X, expected, expected_labels = read(path, model.n_features)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {"status": "unreadable", "path": str(path), "error": str(exc)}
    atol = float(document["atol"])
    labels, probabilities = model.run(X, check_finite=False)
    if probabilities.shape != expected.shape:
        return {"status": "unreadable", "path": str(path), "error": "cases do not match the model's classes"}
    difference = np.abs(probabilities.astype(np.float64) - expected)
    top_two = np.sort(expected, axis=1)[:, -2:]
    tie = top_two[:, 1] - top_two[:, 0] <= 2 * atol
    failing = np.flatnonzero((difference > atol).any(axis=1) | ((labels != expected_labels) & ~tie))
    return {
        "status": "failed" if len(failing) else "passed",
        "path": str(path),
        "cases": len(X),
        "max_abs": float(difference.max(initial=0.0)),
        "atol": atol,
        "failing_cases": failing.tolist()[:20],
        "file_sha256_matches": document.get("model_sha256") in (None, model.sha256),
    }
