"""Verify a model file the way users run it: load it with ``runtime.load`` and compare its outputs, and those of onnx's
ReferenceEvaluator, with the PyTorch model's; report as data and as a table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
from logreg_onnx.runtime import contract
from logreg_onnx.trainer.engine.model import LogisticModel

from logreg_onnx import runtime

from .errors import BadModelFileError
from .verify import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    Probes,
    check_signature,
    compare,
    float32_slack,
    make_probes,
    torch_reference,
)

Runner = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
SMALL_BATCH_ROWS = 16  # rows run one at a time and two at a time, spread over every probe group
RUNTIME = "runtime.load (onnxruntime)"
REFERENCE = "onnx.reference"


def runtime_runner(model: runtime.Model) -> Runner:
    """The runtime's own path: one row goes through its IOBinding fast path, several through ``session.run``."""

    def run(rows: np.ndarray, categories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return model.run_inputs(rows, categories, check_finite=False)

    return run


def reference_runner(proto: onnx.ModelProto) -> Runner:
    """onnx.reference.ReferenceEvaluator: onnx's own numpy implementation of the operators, independent of both."""
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(proto)
    names = [o.name for o in proto.graph.output]
    input_names = [i.name for i in proto.graph.input]

    def run(rows: np.ndarray, categories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feed = {contract.INPUT_NAME: rows, contract.CATEGORIES_INPUT: categories}
        outputs = dict(zip(names, evaluator.run(None, {n: feed[n] for n in input_names}), strict=True))
        return np.asarray(outputs.get(contract.LABEL_OUTPUT)), np.asarray(outputs.get(contract.PROBABILITIES_OUTPUT))

    return run


def verify_file(
    path: str | Path,
    model: LogisticModel,
    *,
    data_rows=None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    seed: int = 0,
    reference: bool = True,
    label: str = RUNTIME,
    threshold: float = 0.5,
) -> dict:
    """Compare the model file at ``path`` with ``model`` in PyTorch: through ``runtime.load`` and (``reference``) onnx's
    ReferenceEvaluator. Returns the report; ``report["passed"]`` says whether every check passed.

    Raises :class:`~exporter.errors.BadModelFileError` for a file that is not an ONNX model at all, and
    :class:`~exporter.errors.SignatureMismatchError` for one made for other features or classes.
    """
    path = Path(path)
    runners: dict[str, Runner] = {}
    checks: list[dict] = []
    load_failure = None
    try:
        loaded = runtime.load(path)
    except runtime.ContractError as exc:
        checks, load_failure = [asdict(c) for c in exc.checks], str(exc)
    except runtime.IntegrityError as exc:
        checks, load_failure = [{"name": "integrity digest", "passed": False, "detail": str(exc)}], str(exc)
    except runtime.ModelError as exc:
        raise BadModelFileError(str(exc)) from None
    else:
        run_features = model.encoding.names if model.encoding is not None else loaded.feature_names
        check_signature(
            loaded.feature_names, len(loaded.classes), run_features=run_features, run_classes=model.n_classes
        )
        checks = [{"name": "integrity digest", "passed": True, "detail": "matches"}]
        checks += [asdict(c) for c in loaded.contract_checks]
        runners[label] = runtime_runner(loaded)
    if reference and path.suffix != ".ort":
        try:
            proto = onnx.load_model_from_string(path.read_bytes())
        except Exception as exc:  # onnx raises protobuf's DecodeError and others
            raise BadModelFileError(f"{path}: not a valid ONNX model ({exc})") from None
        runners[REFERENCE] = reference_runner(proto)

    probes = make_probes(model, data_rows, seed=seed)
    expected = torch_reference(model, probes, threshold)
    slack = float32_slack(model, probes.design, expected[1])
    results = []
    if load_failure is not None:
        results.append({"runtime": label, "batch": "-", "output": "(load)", "passed": False, "detail": load_failure})
    for name, runner in runners.items():
        results += _run_batches(name, runner, probes, slack, expected, atol=atol, rtol=rtol, threshold=threshold)
    return {
        "passed": all(c["passed"] for c in checks) and all(r["passed"] for r in results),
        "tolerance": {
            "atol": atol,
            "rtol": rtol,
            "rule": "|got - torch| <= atol + rtol*|torch| + slack, slack_k = "
            "p_k*((1-p_k)*e_k + sum_{m!=k} p_m*e_m), e_m = (sqrt(n_features)+2)*eps32*(sum_j |W_mj x_j| + "
            "|b_m|): float32 rounding of the logits carried through the softmax",
        },
        "contract": checks,
        "probes": _group_counts(probes),
        "results": results,
        "notes": probes.notes,
    }


def _run_batches(name, runner, probes, slack, expected, *, atol, rtol, threshold=0.5) -> list[dict]:
    """All probes at once, then a spread of rows one at a time and two at a time."""
    everything = np.arange(len(probes.rows))
    spread = np.linspace(0, len(probes.rows) - 1, SMALL_BATCH_ROWS).astype(int)
    batchings = {
        f"{len(everything)}": [everything],
        "1": [spread[i : i + 1] for i in range(len(spread))],
        "2": [spread[i : i + 2] for i in range(0, len(spread), 2)],
    }
    results = []
    for batch_name, batches in batchings.items():
        rows = np.concatenate(batches)
        try:
            outputs = [runner(np.ascontiguousarray(probes.rows[b]), probes.categories[b]) for b in batches]
        except Exception as exc:  # a fixed batch size, a broken graph: the engine's own words are the evidence
            message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            results.append(
                {
                    "runtime": name,
                    "batch": batch_name,
                    "output": "(run)",
                    "passed": False,
                    "detail": f"{type(exc).__name__}: {message}",
                }
            )
            continue
        got = (np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs]))
        for entry in compare(probes, slack, expected, got, atol=atol, rtol=rtol, rows=rows, threshold=threshold):
            results.append({"runtime": name, "batch": batch_name, **entry})
    return results


def _group_counts(probes: Probes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for group in probes.groups:
        counts[group] = counts.get(group, 0) + 1
    return counts


def format_report(report: dict) -> str:
    """The human table: contract checks that failed, then one line per runtime, batch size and output."""
    lines = []
    probes = ", ".join(f"{name} {count}" for name, count in report["probes"].items())
    lines.append(f"probe rows: {probes}")
    for note in report["notes"]:
        lines.append(f"note: {note}")
    for check in report["contract"]:
        if not check["passed"]:
            lines.append(f"FAIL contract: {check['name']}: {check['detail']}")
    header = (
        f"{'runtime':<28}{'batch':>6}  {'output':<14}{'max abs':>10}{'max rel':>10}  {'label diff':>10}  "
        f"{'result':<6} worst row / detail"
    )
    lines += ["", header, "-" * len(header)]
    for r in report["results"]:
        result = "pass" if r["passed"] else "FAIL"
        if "detail" in r:
            lines.append(
                f"{r['runtime']:<28}{r['batch']:>6}  {r['output']:<14}{'':>10}{'':>10}  {'':>10}  {result:<6} "
                f"{r['detail']}"
            )
        elif r["output"] == contract.LABEL_OUTPUT:
            diff = f"{r['disagreements']} ({r['disagreements_off_boundary']} off)"
            lines.append(
                f"{r['runtime']:<28}{r['batch']:>6}  {r['output']:<14}{'':>10}{'':>10}  {diff:>10}  "
                f"{result:<6} {r['worst_row'] or ''}"
            )
        else:
            extra = []
            if not r["in_unit_interval"]:
                extra.append("probabilities outside [0, 1]")
            if not r["rows_sum_to_one"]:
                extra.append("rows do not sum to 1")
            if r["violations"]:
                extra.append(f"{r['violations']} values beyond tolerance")
            lines.append(
                f"{r['runtime']:<28}{r['batch']:>6}  {r['output']:<14}{r['max_abs']:>10.2e}{r['max_rel']:>10.2e}"
                f"  {'':>10}  {result:<6} {r['worst_row'] or ''} {'; '.join(extra)}".rstrip()
            )
    tolerance = report["tolerance"]
    lines += [
        "",
        f"tolerance: atol {tolerance['atol']:g}, rtol {tolerance['rtol']:g}, plus float32 slack per row",
        f"verification {'PASSED' if report['passed'] else 'FAILED'}",
    ]
    return "\n".join(lines)
