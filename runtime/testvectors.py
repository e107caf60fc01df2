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


def read(path: Path, n_numeric: int, n_categorical: int = 0):
    """The document, the case inputs (numeric float32 with NaN for null, categories as an object array of str, and
    the offsets, float32, or None when the file's inputs have no ``offset``), expected probabilities (float64) and
    labels; ValueError if the file does not follow the schema's shape."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("format") != contract.TESTVECTORS_FORMAT:
        raise ValueError(f"not a {contract.TESTVECTORS_FORMAT} file")
    if document.get("format_version") not in contract.TESTVECTORS_READABLE:
        raise ValueError(f"test-vector format version {document.get('format_version')!r} is not one this runtime reads")
    cases = document["cases"]
    X = np.array([[np.nan if v is None else v for v in case["features"]] for case in cases], dtype=np.float32).reshape(
        len(cases), n_numeric
    )
    categories = np.array([case.get("categories", []) for case in cases], dtype=object).reshape(
        len(cases), n_categorical
    )
    offsets = None
    if contract.OFFSET_INPUT in document.get("inputs", ()):
        offsets = np.array([case[contract.OFFSET_INPUT] for case in cases], dtype=np.float32)
    expected = np.array([case["probabilities"] for case in cases], dtype=np.float64)
    labels = np.array([case["label"] for case in cases], dtype=np.int64)
    float(document["atol"])
    return document, (X, categories, offsets), expected, labels


def replay(model: Model, path: str | Path | None = None) -> dict:
    """Run ``model`` on its test vectors, through the graph's inputs and through the raw rows (``Model.run``).

    Returns ``{"status": "passed" | "failed" | "not found" | "unreadable", "path": ...}``; a replayed file (passed or
    failed) also has the case count, the largest probability difference, ``failing_cases`` (the first 20),
    ``failing_count`` and ``error`` (why the raw rows could not be scored, or None); the other two have ``error``."""
    path = Path(path) if path is not None else path_for(model.path)
    if not path.is_file():
        return {"status": "not found", "path": str(path)}
    try:
        document, (X, categories, offsets), expected, expected_labels = read(
            path, len(model.numeric_names), len(model.categorical_names)
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {"status": "unreadable", "path": str(path), "error": str(exc)}
    atol = float(document["atol"])
    if (offsets is not None) != (model.offset_column is not None):
        return {
            "status": "unreadable",
            "path": str(path),
            "error": "the cases' offset input does not match the model's",
        }
    labels, probabilities = model.run_inputs(X, categories, offsets=offsets, check_finite=False)
    if probabilities.shape != expected.shape:
        return {"status": "unreadable", "path": str(path), "error": "cases do not match the model's classes"}
    failing = _failing(labels, probabilities, expected_labels, expected, atol)
    difference = np.abs(probabilities.astype(np.float64) - expected)
    error = None
    extra = [n for n in document.get("outputs", ()) if n not in contract.OUTPUT_NAMES]
    if extra:  # format 3's explain outputs, through the graph's inputs
        missing = [n for n in extra if n not in {o.name for o in model.outputs}]
        if missing:
            return {"status": "unreadable", "path": str(path), "error": f"the model has no output {missing[0]!r}"}
        rows_ok = np.isfinite(expected).all(axis=1)
        categorical = categories[rows_ok] if model.categorical_names else None
        chosen = None if offsets is None else offsets[rows_ok]
        got = model.run_outputs(X[rows_ok], categorical, extra, offsets=chosen, check_finite=False)
        for name in extra:
            try:
                wanted = np.array(
                    [case[name] for case, ok in zip(document["cases"], rows_ok, strict=True) if ok], dtype=np.float64
                )
            except (KeyError, ValueError, TypeError) as exc:
                error = f"a case has no readable {name!r} ({type(exc).__name__}: {exc})"
                return {"status": "unreadable", "path": str(path), "error": error}
            if wanted.shape != got[name].shape:
                error = f"{name!r}: cases of shape {wanted.shape[1:]}, the model's {got[name].shape[1:]}"
                return {"status": "unreadable", "path": str(path), "error": error}
            off = explain_mismatch(got[name], wanted, atol)
            failing = np.union1d(failing, np.flatnonzero(rows_ok)[off.reshape(len(wanted), -1).any(axis=1)])
    rows = [case["row"] for case in document["cases"] if "row" in case]
    if len(rows) == len(X):  # the raw rows, through the runtime's own input conversion (what users call)
        try:
            raw_labels, raw_probabilities = model.run(rows, check_finite=False)
        except ValueError as exc:
            error = f"the raw rows cannot be scored: {exc}"
            failing = np.arange(len(X))
        else:
            failing = np.union1d(failing, _failing(raw_labels, raw_probabilities, expected_labels, expected, atol))
            difference = np.maximum(difference, np.abs(raw_probabilities.astype(np.float64) - expected))
    return {
        "status": "failed" if len(failing) else "passed",
        "path": str(path),
        "cases": len(X),
        "max_abs": float(difference.max(initial=0.0)),
        "atol": atol,
        "failing_cases": failing.tolist()[:20],
        "failing_count": len(failing),
        "error": error,
        "file_sha256_matches": document.get("model_sha256") in (None, model.sha256),
    }


def explain_mismatch(got: np.ndarray, expected: np.ndarray, atol: float) -> np.ndarray:
    """Where an explain output misses the test vectors' rule, ``|got - expected| <= atol * max(1, |expected|)``
    (NaN never meets it); the one rule every replay of them uses (runtime/contract.py TESTVECTORS_RULE)."""
    got = np.asarray(got, dtype=np.float64)
    return ~(np.abs(got - expected) <= atol * np.maximum(1.0, np.abs(expected)))


def _failing(labels, probabilities, expected_labels, expected, atol: float) -> np.ndarray:
    difference = np.abs(probabilities.astype(np.float64) - expected)
    top_two = np.sort(expected, axis=1)[:, -2:]
    tie = top_two[:, 1] - top_two[:, 0] <= 2 * atol
    return np.flatnonzero((difference > atol).any(axis=1) | ((labels != expected_labels) & ~tie))
