"""Replay a logreg-onnx model's test vectors in another engine: tract or OpenVINO. Runs inside that engine's own
virtual environment (numpy and the engine only: no logreg-onnx), and prints one JSON line:
{"engine", "version", "passed", "cases", "max_abs_diff", "detail"}.

    python replay.py tract|openvino MODEL.onnx [VECTORS.json]

The vectors' own rule: labels equal unless the top two expected probabilities are within 2*atol, and every
probability within atol. Neither engine runs string tensors, so a model with categorical columns (a ``categories``
input) is reported as not run, with the engine's reason.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def run_tract(path: Path, X: np.ndarray) -> tuple[str, np.ndarray, np.ndarray]:
    import tract

    # no input fact: with the graph's symbolic batch dimension left as it is, tract infers every shape itself
    # (fixing the batch with set_input_fact makes its analysis of the Sub node fail, tract 0.23)
    model = tract.onnx().load(str(path)).into_model().into_runnable()
    label, probabilities = model.run([X])
    return tract.version(), label.to_numpy(), probabilities.to_numpy()


def run_openvino(path: Path, X: np.ndarray) -> tuple[str, np.ndarray, np.ndarray]:
    import openvino as ov

    # float32 inference: on CPUs with bfloat16 support OpenVINO's default precision is bf16 (off by ~1e-3)
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled({"features": X})
    outputs = {output.get_any_name(): result[output] for output in compiled.outputs}
    return ov.__version__, outputs["label"], outputs["probabilities"]


ENGINES = {"tract": run_tract, "openvino": run_openvino}


def main() -> None:
    engine, model = sys.argv[1], Path(sys.argv[2])
    vectors_path = Path(sys.argv[3]) if len(sys.argv) > 3 else model.with_name(model.stem + ".testvectors.json")
    vectors = json.loads(vectors_path.read_text())
    cases, atol = vectors["cases"], float(vectors["atol"])
    report = {"engine": engine, "version": None, "passed": False, "cases": len(cases), "max_abs_diff": None}
    if "categories" in vectors.get("inputs", ["features"]):
        report["detail"] = "not run: the model has a string input (categorical columns), which this engine lacks"
        print(json.dumps(report))
        return
    X = np.array([[np.nan if v is None else v for v in case["features"]] for case in cases], dtype=np.float32)
    try:
        report["version"], labels, probabilities = ENGINES[engine](model, X)
    except Exception as exc:  # the engine's own failure is the result
        report["detail"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        print(json.dumps(report))
        return
    expected = np.array([case["probabilities"] for case in cases])
    difference = np.abs(probabilities.astype(np.float64) - expected)
    top = np.sort(expected, axis=1)[:, -2:]
    tie = top[:, 1] - top[:, 0] <= 2 * atol
    wrong_label = (labels.astype(np.int64) != np.array([case["label"] for case in cases])) & ~tie
    report["max_abs_diff"] = float(difference.max())
    report["passed"] = bool((difference <= atol).all() and not wrong_label.any())
    report["detail"] = (
        f"{int((difference > atol).any(axis=1).sum())} cases beyond {atol}, {int(wrong_label.sum())} labels"
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
