"""Proving a generated C header (exporter/c_code.py's ``model.h``, and the compiler the integer header uses too):
compile it with a harness that replays the test vectors, run it and compare each case by the vectors' own rule."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from logreg_onnx.runtime import contract

from .c_text import DEFAULT_PREFIX, c_string, renamed
from .replay_check import case_offsets, compare, parse_printed
from .steps import run_step

HEADER_NAME = "model.h"
parse_harness = parse_printed  # what harness() prints is what every language's harness prints


COMPILE_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def find_compiler() -> str | None:
    return next((found for name in ("cc", "gcc", "clang") if (found := shutil.which(name))), None)


def explain_outputs(testvectors: dict) -> list[str]:
    """The explain outputs (format 3) a test-vector document lists, in its order: what :func:`harness` prints."""
    return [name for name in testvectors.get("outputs", ()) if name not in contract.OUTPUT_NAMES]


def harness(
    header: str,
    cases: list[dict],
    n_categorical: int,
    outputs: list[str] | tuple[str, ...] = (),
    *,
    prefix: str = DEFAULT_PREFIX,
    offset: bool = False,
) -> str:
    """A C program that includes ``header`` and prints, per test-vector case, one line ``label p_0 .. p_K-1`` (%.9g)
    and then, for each explain output in ``outputs`` (see :func:`explain_outputs`), a line of its name and values
    (``contributions`` row-major [column][logit], as the vectors list them) from ``logreg_explain``. With ``offset``
    (a model with the offset input) each case's ``offset`` is passed too (0 where a case has none)."""
    rows, texts = [], []
    for case in cases:
        values = ", ".join("NAN" if v is None else f"{float(v):.17g}" for v in case["features"])
        rows.append("{" + (values or "0") + "}")  # C99 has no empty initializer: a text-only model's one 0
        if n_categorical:
            texts.append("{" + ", ".join(c_string(t) for t in case["categories"]) + "}")
    n_features = len(cases[0]["features"]) if cases else 0
    lines = [
        "#define LOGREG_IMPLEMENTATION",
        f'#include "{header}"',
        "#include <stdio.h>",
        "",
        f"static const float rows[{len(cases)}][{max(n_features, 1)}] = {{" + ", ".join(rows) + "};",
    ]
    if n_categorical:
        lines.append(f"static const char *const texts[{len(cases)}][{n_categorical}] = {{" + ", ".join(texts) + "};")
    inputs = "rows[i], texts[i]" if n_categorical else "rows[i]"
    if offset:
        values = ", ".join(f"{value:.17g}" for value in case_offsets(cases))
        lines.append(f"static const float offsets[{max(len(cases), 1)}] = {{{values or '0'}}};")
        inputs += ", offsets[i]"
    lines += ["", "int main(void)", "{", "    float p[LOGREG_N_CLASSES];"]
    if outputs:
        lines.append("    float logit[LOGREG_N_LOGITS], contributions[LOGREG_N_COLUMNS * LOGREG_N_LOGITS];")
        if contract.LOGIT_SE_OUTPUT in outputs:
            lines.append("    float logit_se[LOGREG_N_LOGITS];")
        if contract.PROBABILITY_LOWER_OUTPUT in outputs:
            lines.append("    float lower, upper;")
    lines += [
        "    int i, k;",
        f"    for (i = 0; i < {len(cases)}; i++) {{",
        f"        int label = logreg_predict({inputs}, p);",
        '        printf("%d", label);',
        '        for (k = 0; k < LOGREG_N_CLASSES; k++) printf(" %.9g", (double)p[k]);',
        '        printf("\\n");',
    ]
    if outputs:
        arguments = [inputs, "logit", "contributions"]
        if contract.LOGIT_SE_OUTPUT in outputs:
            arguments.append("logit_se")
        if contract.PROBABILITY_LOWER_OUTPUT in outputs:
            arguments += ["&lower", "&upper"]
        lines.append(f"        logreg_explain({', '.join(arguments)});")
        printed = {
            contract.LOGIT_OUTPUT: ("logit", "LOGREG_N_LOGITS"),
            contract.CONTRIBUTIONS_OUTPUT: ("contributions", "LOGREG_N_COLUMNS * LOGREG_N_LOGITS"),
            contract.LOGIT_SE_OUTPUT: ("logit_se", "LOGREG_N_LOGITS"),
            contract.PROBABILITY_LOWER_OUTPUT: ("&lower", "1"),
            contract.PROBABILITY_UPPER_OUTPUT: ("&upper", "1"),
        }
        for name in outputs:
            array, size = printed[name]
            lines.append(
                f'        printf("{name}"); for (k = 0; k < {size}; k++) printf(" %.9g", (double)({array})[k]);'
                ' printf("\\n");'
            )
    lines += ["    }", "    return 0;", "}", ""]
    return renamed("\n".join(lines), prefix)


@dataclass(frozen=True)
class CProof:
    compiler: str | None
    passed: bool | None  # None: no compiler found
    cases: int = 0
    max_abs_diff: float = 0.0  # the probabilities'
    object_bytes: int | None = None
    detail: str = ""
    explain_outputs: tuple[str, ...] = ()  # the explain outputs replayed (format 3 vectors)
    explain_max_diff: float | None = None  # their largest |got - expected| / max(1, |expected|); None: none replayed


def prove(header_text: str, testvectors: dict, compiler: str | None = None, *, prefix: str = DEFAULT_PREFIX) -> CProof:
    """Compile ``header_text`` with a harness replaying ``testvectors`` (each case's ``offset`` too, when the vectors'
    inputs list it) and check every case by the vectors' own rule (labels equal unless the top two are within
    2*atol; every probability within atol; every explain output the vectors list, through ``logreg_explain``, within
    atol * max(1, |expected|)). NaN never passes."""
    compiler = compiler or find_compiler()
    if compiler is None:
        return CProof(None, None, detail="no C compiler found (cc, gcc or clang)")
    cases = testvectors["cases"]
    atol = float(testvectors["atol"])
    outputs = explain_outputs(testvectors)
    n_categorical = len(cases[0].get("categories", [])) if cases else 0
    offset = contract.OFFSET_INPUT in testvectors.get("inputs", ())
    with tempfile.TemporaryDirectory(prefix="logreg-c-") as folder:
        work = Path(folder)
        (work / HEADER_NAME).write_text(header_text)
        (work / "harness.c").write_text(
            harness(HEADER_NAME, cases, n_categorical, outputs, prefix=prefix, offset=offset)
        )
        (work / "object.c").write_text(renamed(f'#define LOGREG_IMPLEMENTATION\n#include "{HEADER_NAME}"\n', prefix))
        build = run_step([compiler, *COMPILE_FLAGS, "-O2", "harness.c", "-o", "harness", "-lm"], cwd=work,
                         what="compiling")  # fmt: skip
        if not build.ok:
            return CProof(compiler, False, detail=build.detail)
        size = run_step([compiler, *COMPILE_FLAGS, "-Os", "-c", "object.c", "-o", "object.o"], cwd=work)
        object_bytes = _text_and_data(work / "object.o") if size.ok else None
        run = run_step([work / "harness"], cwd=work, timeout_s=60, what="the harness")
    if not run.ok:
        return CProof(compiler, False, detail=run.detail)
    try:
        printed = parse_printed(run.stdout, len(cases), outputs)
    except ValueError as exc:
        return CProof(compiler, False, detail=f"the harness's output is not readable: {exc}")
    checked = compare(cases, printed, atol, outputs)
    return CProof(
        compiler,
        checked.passed,
        cases=len(cases),
        max_abs_diff=checked.max_abs_diff,
        object_bytes=object_bytes,
        detail="; ".join(checked.failures[:3]),
        explain_outputs=tuple(outputs),
        explain_max_diff=checked.explain_max_diff if outputs else None,
    )


def _text_and_data(path: Path) -> int | None:
    """Code and constant bytes of an object file (``size``'s text + data + bss), or None without binutils."""
    tool = shutil.which("size")
    if tool is None:
        return None
    out = run_step([tool, path], timeout_s=60)
    if not out.ok:
        return None
    text, data, bss = (int(v) for v in out.stdout.splitlines()[1].split()[:3])
    return text + data + bss
