"""Proof of a format 3 file's explain outputs, in the steps of exporter/verify.py: probe rows -> the float64 reference
(:meth:`exporter.explain.Explainer.reference`) -> onnxruntime (``runtime.load``, the session users' explain calls run)
and onnx's ReferenceEvaluator -> compare each output, with the float32 error bound of
:meth:`~exporter.explain.Explainer.float32_error` besides ``atol`` and ``rtol``.

Two checks tie the outputs to the user's own object rather than to the canonical model alone: the ``logit`` output
equals ``log(p_k / p_0)`` of the probabilities the user's object computes (where both are large enough to carry
digits), and ``baseline_logit + contributions.sum(columns)`` equals ``logit`` (the decomposition is complete).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from logreg_onnx.runtime import contract

from logreg_onnx import runtime

from .errors import first_line
from .explain import EPS32, Explainer
from .parity import reference_outputs
from .source import Source
from .verify import Probes, make_probes

SPREAD_ROWS = 16  # rows also run one at a time
LOGIT_TOLERANCE = 1e-4  # relative, of log(p_k / p_0) from the user's object's probabilities
SMALLEST_PROBABILITY = 1e-6  # below it, a probability's own rounding says little about its logarithm
LOGIT_AGAINST_SOURCE = "logit~source"  # the logit output against log(p_k / p_0) of the user's object (the reference)


def verify_explanations(path: Path, source: Source, *, atol: float, rtol: float, reference: bool = True) -> list[dict]:
    """The explain outputs of the file at ``path`` against ``source``'s float64 reference and its own object; none
    for a file without them (format 1 or 2, checked by ``logreg verify``)."""
    try:
        outputs = {o.name for o in runtime.load(path).outputs}
    except runtime.ModelError:
        return []  # the load failure is reported by verify_file
    if contract.CONTRIBUTIONS_OUTPUT not in outputs:
        return []
    explainer = source.explainer
    probes = make_probes(source.model, source.sample, seed=2)
    _, probabilities = source.expected(probes)
    usable = np.isfinite(np.asarray(probabilities, dtype=np.float64)).all(axis=1) & np.isfinite(probes.design).all(
        axis=1
    )
    rows = np.flatnonzero(usable)
    probes, probabilities = probes.subset(rows), np.asarray(probabilities, dtype=np.float64)[rows]
    wanted = explainer.reference(probes.design, probes.offsets)
    bound = explainer.float32_error(probes.design, offsets=probes.offsets)
    runners = {"runtime.load (onnxruntime)": _runtime_runner(path, list(wanted))}
    if reference:
        runners["onnx.reference"] = reference_outputs(onnx.load_model_from_string(Path(path).read_bytes()))
    results = []
    spread = np.linspace(0, len(rows) - 1, min(SPREAD_ROWS, len(rows))).astype(int) if len(rows) else rows
    for name, runner in runners.items():
        for batch, batches in (
            (str(len(rows)), [np.arange(len(rows))]),
            ("1", [spread[i : i + 1] for i in range(len(spread))]),
        ):
            try:
                parts = [runner(probes.rows[b], probes.categories[b], probes.offsets_at(b)) for b in batches]
            except Exception as exc:  # the engine's own words are the evidence
                detail = f"{type(exc).__name__}: {first_line(exc)}"
                results.append(
                    {"runtime": name, "batch": batch, "output": "(explain)", "passed": False, "detail": detail}
                )
                continue
            chosen = np.concatenate(batches)
            got = {k: np.concatenate([p[k] for p in parts]) for k in wanted}
            for output in wanted:
                results.append(
                    _compare(
                        name,
                        batch,
                        output,
                        probes,
                        chosen,
                        got[output],
                        wanted[output][chosen],
                        bound[output][chosen],
                        atol,
                        rtol,
                    )
                )
            if batch != "1":
                results += _consistency(name, explainer, probes, got, bound, probabilities, atol)
    return results


def _compare(runner, batch, output, probes: Probes, chosen, got, wanted, bound, atol, rtol) -> dict:
    if got.shape != wanted.shape:
        detail = f"shape {list(got.shape)}, expected {list(wanted.shape)}"
        return {"runtime": runner, "batch": batch, "output": output, "passed": False, "detail": detail}
    difference = np.abs(got.astype(np.float64) - wanted)
    allowed = atol + rtol * np.abs(wanted) + 2.0 * bound
    return _entry(runner, batch, output, probes, chosen, difference, allowed, wanted)


def _consistency(runner, explainer: Explainer, probes, got, bound, probabilities, atol) -> list[dict]:
    """``logit`` against the user's object's probabilities, and the decomposition's sum against ``logit``."""
    chosen = np.arange(len(probes.rows))
    logit = got[contract.LOGIT_OUTPUT].astype(np.float64)
    error = bound[contract.LOGIT_OUTPUT]
    first, rest = probabilities[:, :1], probabilities[:, 1:]
    carried = (first >= SMALLEST_PROBABILITY) & (rest >= SMALLEST_PROBABILITY)
    with np.errstate(all="ignore"):  # rows past SMALLEST_PROBABILITY are not compared
        theirs = np.log(rest) - np.log(first)
        slack = 4.0 * EPS32 * (1.0 / first + 1.0 / rest)
    allowed = np.where(carried, LOGIT_TOLERANCE * (1.0 + np.abs(theirs)) + 2.0 * error + slack, np.inf)
    difference = np.where(carried, np.abs(logit - theirs), 0.0)
    batch = str(len(chosen))
    against = _entry(runner, batch, LOGIT_AGAINST_SOURCE, probes, chosen, difference, allowed, theirs)
    total = explainer.baseline_logit + got[contract.CONTRIBUTIONS_OUTPUT].astype(np.float64).sum(axis=1)
    if probes.offsets is not None:  # the offset is no column's contribution: the logit is the sum plus it
        total = total + probes.offsets.astype(np.float64)[:, None]
    budget = 2.0 * (error + bound[contract.CONTRIBUTIONS_OUTPUT].sum(axis=1)) + atol
    summed = _entry(runner, batch, "baseline+sum", probes, chosen, np.abs(total - logit), budget, logit)
    return [against, summed]


def _entry(runner, batch, output, probes: Probes, chosen, difference, allowed, wanted) -> dict:
    violations = difference > allowed
    flat = (difference - allowed).reshape(len(difference), -1)
    worst = int(np.argmax(flat.max(axis=1))) if flat.size else None
    meaningful = np.abs(wanted) >= 1e-6
    relative = np.where(meaningful, difference / np.maximum(np.abs(wanted), 1e-300), 0.0)
    return {
        "runtime": runner,
        "batch": batch,
        "output": output,
        "max_abs": float(difference.max(initial=0.0)),
        "max_rel": float(np.nan_to_num(relative).max(initial=0.0)),
        "worst_row": probes.describe_row(int(chosen[worst])) if worst is not None else None,
        "violations": int(violations.sum()),
        "passed": not violations.any(),
    }


def _runtime_runner(path: Path, names: list[str]):
    model = runtime.load(path)

    def run(rows: np.ndarray, categories: np.ndarray, offsets=None) -> dict[str, np.ndarray]:
        return model.run_outputs(rows, categories if model.categorical_names else None, names, offsets=offsets)

    return run
