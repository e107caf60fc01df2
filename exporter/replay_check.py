"""Checking what a generated scorer printed for the test vectors (the C header's harness, each language's) by the
vectors' own rule: one parser of the printed lines and one comparison, for every proof."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from logreg_onnx.runtime import contract


def case_offsets(cases: list[dict]) -> list[float]:
    """Each test-vector case's offset (0 where a case has none), for a harness to pass after its inputs."""
    return [float(case.get(contract.OFFSET_INPUT, 0.0)) for case in cases]


def parse_printed(stdout: str, n_cases: int, outputs: list[str] | tuple[str, ...] = ()) -> list[dict]:
    """Per case, the lines a harness printed: ``label p_0 .. p_K-1``, then one ``NAME v ...`` line per explain
    output in ``outputs``: ``label`` (int), ``probabilities`` and each output (float64 arrays). ValueError when the
    lines are not the ones expected (the harness crashed or printed something else)."""
    lines = stdout.split("\n")
    per_case = 1 + len(outputs)
    if len(lines) < n_cases * per_case:
        raise ValueError(f"the harness printed {len(lines)} lines, expected {n_cases * per_case}")
    parsed = []
    for i in range(n_cases):
        label, *probabilities = lines[i * per_case].split()
        case = {"label": int(label), contract.PROBABILITIES_OUTPUT: np.array([float(v) for v in probabilities])}
        for j, name in enumerate(outputs):
            printed, *values = lines[i * per_case + 1 + j].split()
            if printed != name:
                raise ValueError(f"case {i}: the harness printed {printed!r} where {name!r} was expected")
            case[name] = np.array([float(v) for v in values])
        parsed.append(case)
    return parsed


@dataclass
class Comparison:
    """The worst differences seen, and the cases that broke the rule (``passed`` when none did)."""

    max_abs_diff: float = 0.0  # the probabilities'
    explain_max_diff: float = 0.0  # the explain outputs', relative to max(1, |expected|)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def compare(cases: list[dict], printed: list[dict], atol: float, outputs: list[str] | tuple[str, ...] = ()):
    """Every case by the vectors' rule: labels equal unless the top two probabilities are within 2*atol; every
    probability within atol; every explain output in ``outputs`` within atol * max(1, |expected|). NaN never
    passes."""
    result = Comparison()
    for i, (case, got) in enumerate(zip(cases, printed, strict=True)):
        expected = np.array(case["probabilities"], dtype=np.float64)
        diff = largest(got[contract.PROBABILITIES_OUTPUT], expected, relative=False)
        result.max_abs_diff = max(result.max_abs_diff, diff)
        top = np.sort(expected)[-2:]
        tie = len(top) == 2 and top[1] - top[0] <= 2 * atol
        if not diff <= atol or (got["label"] != case["label"] and not tie):
            result.failures.append(
                f"case {i} ({case['group']}): label {got['label']} vs {case['label']}, max difference {diff:.2e}"
            )
        for name in outputs:
            off = largest(got[name], np.asarray(case[name], dtype=np.float64).reshape(-1), relative=True)
            result.explain_max_diff = max(result.explain_max_diff, off)
            if not off <= atol:
                result.failures.append(f"case {i} ({case['group']}): {name} off by {off:.2e} of max(1, |expected|)")
    return result


def largest(got: np.ndarray, expected: np.ndarray, *, relative: bool) -> float:
    """The largest ``|got - expected|`` (divided by ``max(1, |expected|)`` when ``relative``); infinity for a NaN
    or for a count of values other than expected's, so that neither passes a ``<= atol`` test."""
    if got.shape != expected.shape:
        return math.inf
    difference = np.abs(got - expected)
    if relative:
        difference /= np.maximum(1.0, np.abs(expected))
    return math.inf if np.isnan(difference).any() else float(difference.max(initial=0.0))
