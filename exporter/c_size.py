"""Flash and RAM of a generated C header on Cortex-M0 and Cortex-M4F (``arm-none-eabi-gcc``, newlib-nano).

Two measures per target: ``{prefix}_predict`` with the tables it uses (the header's object, partially linked with
``--gc-sections`` from that one symbol: the names tables it does not read fall away; library routines are not
counted), and a minimal linked program whose ``main`` calls it on a static row (``nano.specs`` and ``nosys.specs``,
``--gc-sections``), which does count them: on Cortex-M0 the float header pulls in soft-float and ``expf``. A
``baseline`` row is the same program with a ``main`` that does nothing, so that a model's share is the difference.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .c_text import check_prefix
from .steps import run_step

TARGETS = {
    "cortex-m0": ["-mcpu=cortex-m0", "-mthumb"],
    "cortex-m4f": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
}
COMPILE = ["-Os", "-std=c99", "-ffunction-sections", "-fdata-sections"]
LINK = ["-Wl,--gc-sections", "--specs=nano.specs", "--specs=nosys.specs"]
HEADER_NAME = "model.h"


def size_report(
    header_text: str, *, prefix: str, fixed: bool, n_categorical: int, n_features: int
) -> list[dict] | None:
    """Per target, a row for the header (``"fixed"`` or ``"float"``) and a ``"baseline"`` row:
    ``{"target", "header", "function_text", "function_data", "function_bss", "program_text", "program_data",
    "program_bss"}`` in bytes (flash is text + data). None when ``arm-none-eabi-gcc`` is not on PATH.
    :class:`SizeReportError` with the compiler's words when the header does not build."""
    check_prefix(prefix)
    tools = {name: shutil.which(f"arm-none-eabi-{name}") for name in ("gcc", "ld", "size")}
    if None in tools.values():
        return None
    upper = prefix.upper()
    rows = []
    with tempfile.TemporaryDirectory(prefix="logreg-c-size-") as folder:
        work = Path(folder)
        (work / HEADER_NAME).write_text(header_text)
        (work / "model.c").write_text(f'#define {upper}_IMPLEMENTATION\n#include "{HEADER_NAME}"\n')
        (work / "main.c").write_text(_main_source(prefix, fixed, n_categorical, n_features))
        (work / "baseline.c").write_text("int main(void)\n{\n    return 0;\n}\n")
        for target, flags in TARGETS.items():
            gcc = [tools["gcc"], *flags, *COMPILE]
            _build(work, [*gcc, "-c", "model.c", "-o", "model.o"])
            _build(work, [tools["ld"], "-r", "--gc-sections", "-u", f"{prefix}_predict", "-e", f"{prefix}_predict",
                          "model.o", "-o", "predict.o"])  # fmt: skip
            _build(work, [*gcc, "main.c", "model.o", *LINK, "-o", "program.elf", "-lm"])
            _build(work, [*gcc, "baseline.c", *LINK, "-o", "baseline.elf"])
            function = _sizes(work / "predict.o", tools["size"])
            program = _sizes(work / "program.elf", tools["size"])
            baseline = _sizes(work / "baseline.elf", tools["size"])
            rows.append(_row(target, "fixed" if fixed else "float", function, program))
            rows.append(_row(target, "baseline", (0, 0, 0), baseline))
    return rows


def _row(target: str, header: str, function: tuple[int, int, int], program: tuple[int, int, int]) -> dict:
    return {
        "target": target,
        "header": header,
        "function_text": function[0],
        "function_data": function[1],
        "function_bss": function[2],
        "program_text": program[0],
        "program_data": program[1],
        "program_bss": program[2],
    }


def _main_source(prefix: str, fixed: bool, n_categorical: int, n_features: int) -> str:
    """A main calling ``{prefix}_predict`` on a static row (zeros; "" texts): in its own file, so that the compiler
    cannot fold the model into it."""
    upper = prefix.upper()
    lines = [f'#include "{HEADER_NAME}"', "#include <stdint.h>", ""]
    if fixed:
        lines += [
            f"#if {upper}_BITS == 16",
            f"static int16_t row[{max(n_features, 1)}];",
            "#else",
            f"static int32_t row[{max(n_features, 1)}];",
            "#endif",
            f"static int32_t probabilities[{upper}_N_CLASSES];",
        ]
    else:
        lines += [f"static float row[{max(n_features, 1)}];", f"static float probabilities[{upper}_N_CLASSES];"]
    texts = ""
    if n_categorical:
        missing = ", ".join(['""'] * n_categorical)
        lines.append(f"static const char *const texts[{n_categorical}] = {{{missing}}};")
        texts = "texts, "
    lines += [
        "volatile int label;",
        "",
        "int main(void)",
        "{",
        f"#ifdef {upper}_HAS_OFFSET",
        f"    label = {prefix}_predict(row, {texts}0, probabilities);  /* a model trained with an offset: 0 */",
        "#else",
        f"    label = {prefix}_predict(row, {texts}probabilities);",
        "#endif",
        "    return 0;",
        "}",
        "",
    ]
    return "\n".join(lines)


class SizeReportError(RuntimeError):
    """A step of the size report failed (the header verified on the host, so a cross-compiler's own trouble)."""


def _build(work: Path, command: list[str]) -> None:
    done = run_step(command, cwd=work, timeout_s=120, what=Path(command[0]).name)
    if not done.ok:
        raise SizeReportError(done.detail)


def _sizes(path: Path, tool: str) -> tuple[int, int, int]:
    """``size``'s text, data and bss (Berkeley format: read-only data counts as text, as it lives in flash)."""
    out = run_step([tool, path], timeout_s=60, what=Path(tool).name)
    try:
        text, data, bss = (int(v) for v in out.stdout.splitlines()[1].split()[:3])
    except (IndexError, ValueError):
        raise SizeReportError(out.detail or f"{Path(tool).name} printed no sizes for {path.name}") from None
    return text, data, bss
