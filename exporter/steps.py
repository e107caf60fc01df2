"""Running a proof's build and run steps (compilers, harnesses, size tools): one place that turns a timeout, a program
that cannot start or a non-zero exit into a sentence, so that a proof fails with its reason, never a traceback."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Step:
    ok: bool
    stdout: str
    detail: str  # why it failed ("" when ok)


def run_step(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout_s: float = 300,
    env: Mapping[str, str] | None = None,
    what: str | None = None,
) -> Step:
    """Run ``command``; ``what`` names it in the failure's sentence (by default the command line)."""
    name = what or " ".join(str(part) for part in command)
    try:
        done = subprocess.run(
            [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=timeout_s, env=env
        )
    except subprocess.TimeoutExpired:
        return Step(False, "", f"{name} ran past {timeout_s:g} s")
    except OSError as exc:
        return Step(False, "", f"{name} could not start: {exc.strerror or exc}")
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip()[:2000]
        return Step(False, done.stdout, f"{name} exited {done.returncode}" + (f": {why}" if why else ""))
    return Step(True, done.stdout, "")
