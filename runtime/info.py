"""What ``logreg info`` reports: a model's signature, names, metadata, size, hash, and its own test vectors' verdict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import contract
from .model import Model
from .protobuf import WireFormatError, opset_imports


def check_test_vectors(model: Model, path: str | Path | None = None) -> dict:
    """Run the model on the test vectors written beside it at export (``<stem>.testvectors.json``).

    Returns ``{"status": "passed" | "failed" | "not found" | "unreadable", ...}`` with the case count, the largest
    probability difference and the failing cases.
    """
    path = Path(path) if path is not None else model.path.with_name(model.path.stem + contract.TESTVECTORS_SUFFIX)
    if not path.is_file():
        return {"status": "not found", "path": str(path)}
    try:
        vectors = json.loads(path.read_text())
        cases = vectors["cases"]
        atol = float(vectors["atol"])
        X = np.array([case["features"] for case in cases], dtype=np.float32).reshape(len(cases), model.n_features)
        expected = np.array([case["probabilities"] for case in cases], dtype=np.float64)
        expected_labels = np.array([case["label"] for case in cases], dtype=np.int64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {"status": "unreadable", "path": str(path), "error": str(exc)}
    labels, probabilities = model.run(X, check_finite=False)
    difference = np.abs(probabilities.astype(np.float64) - expected)
    top_two = np.sort(expected, axis=1)[:, -2:]
    tie = top_two[:, 1] - top_two[:, 0] <= 2 * atol
    failing = np.flatnonzero((difference > atol).any(axis=1) | ((labels != expected_labels) & ~tie))
    return {
        "status": "failed" if len(failing) else "passed",
        "path": str(path),
        "cases": len(cases),
        "max_abs": float(difference.max(initial=0.0)),
        "atol": atol,
        "failing_cases": failing.tolist()[:20],
        "file_sha256_matches": vectors.get("model_sha256") in (None, model.sha256),
    }


def model_info(model: Model) -> dict:
    """Everything ``logreg info`` prints, as JSON-ready data."""
    session = model._session  # facts only: inputs and outputs as onnxruntime sees them
    data = model.path.read_bytes()
    try:
        opsets = opset_imports(data)
    except WireFormatError:
        opsets = {}  # an .ort file
    meta = session.get_modelmeta()
    return {
        "path": str(model.path),
        "bytes": len(data),
        "sha256": model.sha256,
        "producer": meta.producer_name or None,
        "opset": opsets.get("", opsets.get("ai.onnx")),
        "inputs": [{"name": i.name, "type": i.type, "shape": i.shape} for i in session.get_inputs()],
        "outputs": [{"name": o.name, "type": o.type, "shape": o.shape} for o in session.get_outputs()],
        "feature_names": list(model.feature_names),
        "classes": list(model.classes),
        "threshold": model.threshold,
        "metadata": dict(model.metadata),
        "description": meta.description,
        "test_vectors": check_test_vectors(model),
    }


def format_info(info: dict) -> str:
    def shape(value: dict) -> str:
        dims = ", ".join(str(d) for d in value["shape"])
        element = value["type"].replace("tensor(", "").rstrip(")")
        return f"{value['name']}: {'float32' if element == 'float' else element} [{dims}]"

    lines = [
        f"model        {info['path']} ({info['bytes']:,} bytes)",
        f"sha256       {info['sha256']}",
        f"format       logreg-onnx {info['metadata'].get(contract.KEY_FORMAT)}, ONNX opset {info['opset']}",
        f"input        {'; '.join(shape(i) for i in info['inputs'])}",
        f"outputs      {'; '.join(shape(o) for o in info['outputs'])}",
        f"features     ({len(info['feature_names'])}) {', '.join(info['feature_names'])}",
        f"classes      ({len(info['classes'])}) {', '.join(info['classes'])}",
        f"threshold    {info['threshold']:g}",
    ]
    metrics = info["metadata"].get(contract.KEY_METRICS)
    if isinstance(metrics, dict):
        for split, values in metrics.items():
            shown = ", ".join(
                f"{k} {values[k]:.4f}"
                for k in ("log_loss", "accuracy", "roc_auc", "f1")
                if isinstance(values.get(k), float)
            )
            lines.append(f"{'metrics':<13}{split}: {shown} ({values.get('n_rows')} rows)")
    versions = info["metadata"].get(contract.KEY_VERSIONS)
    if isinstance(versions, dict):
        lines.append(f"written by   {', '.join(f'{k} {v}' for k, v in versions.items())}")
    lines.append(f"model.pt     sha256 {info['metadata'].get(contract.KEY_MODEL_SHA256, 'unknown')}")
    vectors = info["test_vectors"]
    if vectors["status"] in ("passed", "failed"):
        lines.append(
            f"test vectors {vectors['status'].upper()}: {vectors['cases'] - len(vectors['failing_cases'])}/"
            f"{vectors['cases']} cases within {vectors['atol']:g} (max difference {vectors['max_abs']:.2e}), "
            f"{Path(vectors['path']).name}"
        )
    else:
        lines.append(f"test vectors {vectors['status']}: {vectors['path']}")
    lines.append(f"description  {info['description']}")
    return "\n".join(lines)
