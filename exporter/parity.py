"""Run a candidate ONNX model in onnxruntime and onnx's ReferenceEvaluator against PyTorch; report, as data and as
a table."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx

from runtime import contract
from trainer.model import LogisticModel

from .verify import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    Probes,
    check_signature,
    compare,
    contract_checks,
    float32_slack,
    make_probes,
    torch_reference,
)

Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
SMALL_BATCH_ROWS = 16  # rows run one at a time and two at a time, spread over every probe group


def onnxruntime_runner(model: bytes | str) -> Runner:
    """onnxruntime on the CPU provider, pinned: the reference platform every other runtime is compared with."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs = dict(zip(names, session.run(None, {session.get_inputs()[0].name: rows}), strict=True))
        return outputs[contract.LABEL_OUTPUT], outputs[contract.PROBABILITIES_OUTPUT]

    return run


def reference_runner(proto: onnx.ModelProto) -> Runner:
    """onnx.reference.ReferenceEvaluator: onnx's own numpy implementation of the operators, independent of both."""
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(proto)
    names = [o.name for o in proto.graph.output]
    input_name = next(i.name for i in proto.graph.input)

    def run(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs = dict(zip(names, evaluator.run(None, {input_name: rows}), strict=True))
        return np.asarray(outputs[contract.LABEL_OUTPUT]), np.asarray(outputs[contract.PROBABILITIES_OUTPUT])

    return run


def verify_model(
    proto: onnx.ModelProto,
    model: LogisticModel,
    *,
    data_rows: np.ndarray | None = None,
    runners: dict[str, Runner] | None = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    seed: int = 0,
) -> dict:
    """Compare ``proto`` (run by each of ``runners``; default onnxruntime and the reference evaluator) with
    ``model`` in PyTorch. Returns the report; ``report["passed"]`` says whether every check passed.

    Raises :class:`~exporter.errors.SignatureMismatchError` when the file is for other features or classes.
    """
    check_signature(proto, model.n_features, model.n_classes)
    probes = make_probes(model, data_rows, seed=seed)
    expected = torch_reference(model, probes.rows)
    slack = float32_slack(model, probes.rows, expected[1])
    if runners is None:
        runners = {
            "onnxruntime": onnxruntime_runner(proto.SerializeToString()),
            "onnx.reference": reference_runner(proto),
        }
    everything = np.arange(len(probes.rows))
    spread = np.linspace(0, len(probes.rows) - 1, SMALL_BATCH_ROWS).astype(int)
    batchings = {
        f"{len(everything)}": [everything],
        "1": [spread[i : i + 1] for i in range(len(spread))],
        "2": [spread[i : i + 2] for i in range(0, len(spread), 2)],
    }
    results = []
    for runtime_name, runner in runners.items():
        for batch_name, batches in batchings.items():
            rows = np.concatenate(batches)
            try:
                outputs = [runner(np.ascontiguousarray(probes.rows[b])) for b in batches]
            except Exception as exc:  # a fixed batch size, a broken graph: the runtime's own words are the evidence
                message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
                results.append(
                    {
                        "runtime": runtime_name,
                        "batch": batch_name,
                        "output": "(run)",
                        "passed": False,
                        "detail": f"{type(exc).__name__}: {message}",
                    }
                )
                continue
            got = (np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs]))
            for entry in compare(probes, slack, expected, got, atol=atol, rtol=rtol, rows=rows):
                results.append({"runtime": runtime_name, "batch": batch_name, **entry})
    checks = contract_checks(proto)
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
            lines.append(f"FAIL contract: {check['check']}: {check['detail']}")
    header = (
        f"{'runtime':<22}{'batch':>6}  {'output':<14}{'max abs':>10}{'max rel':>10}  {'label diff':>10}  "
        f"{'result':<6} worst row / detail"
    )
    lines += ["", header, "-" * len(header)]
    for r in report["results"]:
        result = "pass" if r["passed"] else "FAIL"
        if "detail" in r:
            lines.append(
                f"{r['runtime']:<22}{r['batch']:>6}  {r['output']:<14}{'':>10}{'':>10}  {'':>10}  {result:<6} "
                f"{r['detail']}"
            )
        elif r["output"] == contract.LABEL_OUTPUT:
            diff = f"{r['disagreements']} ({r['disagreements_off_boundary']} off)"
            lines.append(
                f"{r['runtime']:<22}{r['batch']:>6}  {r['output']:<14}{'':>10}{'':>10}  {diff:>10}  "
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
                f"{r['runtime']:<22}{r['batch']:>6}  {r['output']:<14}{r['max_abs']:>10.2e}{r['max_rel']:>10.2e}"
                f"  {'':>10}  {result:<6} {r['worst_row'] or ''} {'; '.join(extra)}".rstrip()
            )
    tolerance = report["tolerance"]
    lines += [
        "",
        f"tolerance: atol {tolerance['atol']:g}, rtol {tolerance['rtol']:g}, plus float32 slack per row",
        f"verification {'PASSED' if report['passed'] else 'FAILED'}",
    ]
    return "\n".join(lines)
