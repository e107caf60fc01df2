"""Proving a generated scorer: build it with its language's toolchain, run a harness replaying the test vectors,
and compare what it printed by the vectors' rule (exporter/replay_check.py)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from logreg_onnx.runtime import contract

from ..replay_check import compare, parse_printed
from ..steps import run_step
from .languages import LANGUAGES
from .scorer import Scorer

EXPLAINED = (contract.LOGIT_OUTPUT, contract.CONTRIBUTIONS_OUTPUT)  # the explain outputs every language computes
TIMEOUT_S = 300  # a first Go build compiles its standard library


@dataclass(frozen=True)
class CodeProof:
    language: str
    passed: bool | None  # None: its toolchain is not installed
    cases: int = 0
    max_abs_diff: float = 0.0
    explain_outputs: tuple[str, ...] = ()
    explain_max_diff: float | None = None
    detail: str = ""


def prove(key: str, s: Scorer, stem: str, testvectors: dict) -> CodeProof:
    """Build and run ``key``'s scorer for ``s`` against ``testvectors`` (every case; ``logit`` and
    ``contributions`` too when the vectors list them)."""
    language = LANGUAGES[key]
    missing = language.missing_tools()
    if missing:
        return CodeProof(
            key, None, detail=f"{', '.join(missing)} not found (Debian: apt-get install {language.install})"
        )
    cases = testvectors["cases"]
    outputs = tuple(name for name in EXPLAINED if name in testvectors.get("outputs", ()))
    name = language.name_of(stem)
    with tempfile.TemporaryDirectory(prefix=f"logreg-{key}-") as folder:
        work = Path(folder)
        source = work / language.layout(name)
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(language.generate(s, name))
        (work / language.harness_file).write_text(language.harness(s, name, cases, bool(outputs)))
        if key == "go":
            (work / "go.mod").write_text("module harness\n\ngo 1.19\n")
        environment = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local"}
        if not os.environ.get("HOME") and "GOCACHE" not in os.environ:
            environment["GOCACHE"] = str(work / "go-cache")  # go refuses to build without a cache folder
        for command in language.commands(name):
            step = run_step(command, cwd=work, timeout_s=TIMEOUT_S, env=environment)
            if not step.ok:
                return CodeProof(key, False, detail=step.detail)
        stdout = step.stdout
    try:
        printed = parse_printed(stdout, len(cases), outputs)
    except ValueError as exc:
        return CodeProof(key, False, detail=f"the harness's output is not readable: {exc}")
    checked = compare(cases, printed, float(testvectors["atol"]), outputs)
    return CodeProof(
        key,
        checked.passed,
        cases=len(cases),
        max_abs_diff=checked.max_abs_diff,
        explain_outputs=outputs,
        explain_max_diff=checked.explain_max_diff if outputs else None,
        detail="; ".join(checked.failures[:3]),
    )
