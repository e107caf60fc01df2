"""Replay a logreg-onnx model's test vectors in another engine: tract or OpenVINO. Runs inside that engine's own
virtual environment (numpy and the engine only: no logreg-onnx), and prints one JSON line:
{"engine", "version", "passed", "cases", "max_abs_diff", "detail", "explain", "explain_passed"}.

    python replay.py tract|openvino MODEL.onnx [VECTORS.json]

The vectors' own rule: labels equal unless the top two expected probabilities are within 2*atol, and every
probability within atol. When the vectors list explain outputs (format 3: logit, contributions, and with intervals
logit_se, probability_lower, probability_upper), each is checked too, within atol * max(1, |expected|), and
``explain`` reports each by name: {"passed", "max_rel_diff", "detail"} and ``explain_passed`` all of them (both
null for vectors without them); ``passed`` stays the label and probabilities' result. Neither engine runs string
tensors: a portable model (``logreg export --portable``) takes its categorical columns as int64 codes, which each
case of its vectors holds (``category_codes``); a model with a string ``categories`` input is reported as not run,
with the engine's reason.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

PREDICTIONS = ("label", "probabilities")  # every format's outputs; the rest of a vectors' "outputs" is explain


def run_tract(path: Path, feeds: dict[str, np.ndarray], names: list[str]) -> tuple[str, dict[str, np.ndarray]]:
    import tract

    # no input fact: with the graph's symbolic batch dimension left as it is, tract infers every shape itself
    # (fixing the batch with set_input_fact makes its analysis of the Sub node fail, tract 0.23)
    model = tract.onnx().load(str(path)).into_model()
    # tract names its outputs after the nodes computing them ("node_softmax"), not the graph's output names; they
    # come in the graph's order, which is the contract's and the vectors' "outputs" list's
    if model.output_count() != len(names):
        raise ValueError(f"the graph has {model.output_count()} outputs, the vectors list {len(names)}: {names}")
    values = model.into_runnable().run(list(feeds.values()))  # the graph's inputs, in its order
    return tract.version(), {name: value.to_numpy() for name, value in zip(names, values, strict=True)}


def run_openvino(path: Path, feeds: dict[str, np.ndarray], names: list[str]) -> tuple[str, dict[str, np.ndarray]]:
    import openvino as ov

    # float32 inference: on CPUs with bfloat16 support OpenVINO's default precision is bf16 (off by ~1e-3)
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(feeds)
    del names  # OpenVINO keeps the graph's output names
    return ov.__version__, {output.get_any_name(): result[output] for output in compiled.outputs}


ENGINES = {"tract": run_tract, "openvino": run_openvino}


def check_explain(cases: list[dict], outputs: dict[str, np.ndarray], names: list[str], atol: float) -> dict:
    """Per explain output: whether every case is within atol * max(1, |expected|), the largest such difference
    (relative to max(1, |expected|)), and a detail line."""
    report = {}
    for name in names:
        expected = np.array([case[name] for case in cases], dtype=np.float64).reshape(len(cases), -1)
        if name not in outputs:
            report[name] = {"passed": False, "max_rel_diff": None, "detail": "the engine returned no such output"}
            continue
        got = np.asarray(outputs[name], dtype=np.float64)
        if got.size != expected.size:
            shape = list(got.shape)
            report[name] = {"passed": False, "max_rel_diff": None, "detail": f"shape {shape}, {expected.size} values"}
            continue
        relative = np.abs(got.reshape(expected.shape) - expected) / np.maximum(1.0, np.abs(expected))
        relative[np.isnan(relative)] = np.inf  # NaN never passes
        beyond = int((relative > atol).any(axis=1).sum())
        report[name] = {
            "passed": beyond == 0,
            "max_rel_diff": float(relative.max(initial=0.0)),
            "detail": f"{beyond} cases beyond {atol} * max(1, |expected|)",
        }
    return report


def main() -> None:
    engine, model = sys.argv[1], Path(sys.argv[2])
    vectors_path = Path(sys.argv[3]) if len(sys.argv) > 3 else model.with_name(model.stem + ".testvectors.json")
    vectors = json.loads(vectors_path.read_text())
    cases, atol = vectors["cases"], float(vectors["atol"])
    names = list(vectors.get("outputs", PREDICTIONS))  # format 1 vectors do not list them
    explain = [name for name in names if name not in PREDICTIONS]
    report = {"engine": engine, "version": None, "passed": False, "cases": len(cases), "max_abs_diff": None}
    report |= {"explain": None, "explain_passed": None}
    inputs = vectors.get("inputs", ["features"])
    # "category_codes": runtime/contract.py's CASE_CATEGORY_CODES (this script runs where logreg-onnx is not installed)
    if "categories" in inputs and not all("category_codes" in case for case in cases):
        report["detail"] = "not run: the model has a string input (categorical columns), which this engine lacks"
        print(json.dumps(report))
        return
    feeds = {}  # in the graph's order: features, categories, then offset
    if "features" in inputs:
        rows = [[np.nan if v is None else v for v in case["features"]] for case in cases]
        feeds["features"] = np.array(rows, dtype=np.float32)
    if "categories" in inputs:
        feeds["categories"] = np.array([case["category_codes"] for case in cases], dtype=np.int64)
    if "offset" in inputs:  # a model trained with an offset: each case's, one number per row
        feeds["offset"] = np.array([case["offset"] for case in cases], dtype=np.float32)
    try:
        report["version"], outputs = ENGINES[engine](model, feeds, names)
        labels, probabilities = outputs["label"], outputs["probabilities"]
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
    if explain:
        report["explain"] = check_explain(cases, outputs, explain, atol)
        report["explain_passed"] = all(entry["passed"] for entry in report["explain"].values())
    print(json.dumps(report))


if __name__ == "__main__":
    main()
