"""The proof of ``logreg export --c-fixed``'s header: a harness replays the test vectors and random rows, and each
probability must be within the header's stated bound of onnxruntime's (plus the float32 graph's own rounding). A
model with an offset gets each row's too: the vectors' own, and random ones (0 in a quarter of the rows)."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from logreg_onnx.runtime import contract

from .c_fixed_plan import (
    HEADER_NAME,
    PROBABILITY_BITS,
    SPAN,
    Plan,
    plan_of,
)
from .c_graph import LinearGraph, read_graph
from .c_proof import COMPILE_FLAGS, find_compiler
from .c_text import DEFAULT_PREFIX, check_prefix
from .replay_check import case_offsets
from .steps import run_step


# -- proof: compile a harness, replay the test vectors and random rows against onnxruntime -----------------------
@dataclass(frozen=True)
class FixedProof:
    compiler: str | None
    passed: bool | None  # None: no compiler found
    cases: int = 0  # test-vector rows replayed
    random_rows: int = 0
    skipped: tuple[str, ...] = ()  # test-vector rows not replayed, each with why (outside the inputs' range...)
    max_abs_diff: float = 0.0  # the probabilities', on the test vectors
    random_max_abs_diff: float = 0.0  # and on the random rows
    bound: float = 0.0  # the header's {PREFIX}_MAX_PROBABILITY_ERROR, as a probability
    detail: str = ""


@dataclass(frozen=True)
class _Rows:
    """Rows to replay: the floats the graph takes and the integers the header takes."""

    numeric: np.ndarray  # float32 (n, n_numeric), NaN missing
    categories: np.ndarray  # object (n, n_categorical), "" missing
    fixed: np.ndarray  # int (n, n_numeric), the header's MISSING where missing
    offset: np.ndarray  # float32 (n,): the offset the graph takes, 0 in a model without one
    fixed_offset: np.ndarray  # int (n,): the integer the header takes for it (not written without one)

    def joined(self, other: _Rows) -> _Rows:
        return _Rows(*(np.concatenate([a, b]) for a, b in zip(self.fields, other.fields, strict=True)))

    @property
    def fields(self) -> tuple[np.ndarray, ...]:
        return self.numeric, self.categories, self.fixed, self.offset, self.fixed_offset


def to_fixed(numeric: np.ndarray, shifts: list[int], bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``{PREFIX}_TO_FIXED`` of every value (NaN: ``{PREFIX}_MISSING``): ``(int)(x * 2^shift +- 0.5)`` in double
    precision, as the macro computes; and per value whether it fits the input integer (NaN counts as fitting)."""
    values = np.asarray(numeric, dtype=np.float64) * np.exp2(np.asarray(shifts, dtype=np.float64))
    top = 2 ** (bits - 1) - 1
    with np.errstate(invalid="ignore"):
        fits = np.isnan(values) | (np.abs(np.trunc(values + np.where(values < 0, -0.5, 0.5))) <= top)
        rounded = np.where(fits & ~np.isnan(values), np.trunc(values + np.where(values < 0, -0.5, 0.5)), 0)
    fixed = np.where(np.isnan(values), -top - 1, rounded).astype(np.int64)
    return fixed, fits


def prove(
    header_text: str,
    testvectors: dict,
    model_bytes: bytes,
    *,
    prefix: str = DEFAULT_PREFIX,
    compiler: str | None = None,
    random_rows: int = 10_000,
    seed: int = 0,
) -> FixedProof:
    """Compile ``header_text`` with a harness and replay (a) the test vectors' rows against their probabilities and
    (b) ``random_rows`` seeded rows (around the training mean at a few scales, missing values where the model
    imputes, known, unseen and missing levels) against onnxruntime's. Passes when every probability is within the
    header's bound (plus the float32 reference's own rounding, a few 1e-7) and every label equals, except where the
    reference's probabilities are within that of the decision boundary. A test-vector row the inputs cannot
    represent is skipped and listed, not replayed."""
    check_prefix(prefix)
    compiler = compiler or find_compiler()
    if compiler is None:
        return FixedProof(None, None, detail="no C compiler found (cc, gcc or clang)")
    upper = prefix.upper()
    g = read_graph(model_bytes)
    facts = _header_facts(header_text, upper, len(g.numeric_names), g.offset)
    if isinstance(facts, str):
        return FixedProof(compiler, False, detail=facts)
    bits, shifts, bound_units = facts
    plan = plan_of(g, bits)
    bound = bound_units / 2**PROBABILITY_BITS
    derived = plan.shifts if plan.offset_shift is None else [*plan.shifts, plan.offset_shift]
    if bound_units != plan.bound_units or shifts != derived:
        return FixedProof(
            compiler,
            False,
            bound=bound,
            detail=f"the header states bound {bound_units} and shifts {shifts}; the "
            f"model's derivation gives {plan.bound_units} and {derived}",
        )
    cases = testvectors["cases"]
    vectors, replayed, skipped = _vector_rows(cases, g, plan)
    fresh = _random_rows(g, plan, random_rows, seed)
    reference_labels, reference = _onnxruntime(model_bytes, fresh, g)
    rows = vectors.joined(fresh)
    printed = _run_harness(header_text, rows, g, bits, upper, prefix, compiler)
    if isinstance(printed, str):
        return FixedProof(compiler, False, len(replayed), random_rows, tuple(skipped), bound=bound, detail=printed)
    labels, probabilities = printed
    tolerance = bound + _reference_slack(g, rows)
    n = len(replayed)
    on_vectors = _judge(
        probabilities[:n],
        labels[:n],
        np.array([cases[i]["probabilities"] for i in replayed], dtype=np.float64).reshape(n, -1),
        np.array([cases[i]["label"] for i in replayed], dtype=np.int64),
        tolerance[:n],
        plan.threshold,
    )
    on_random = _judge(probabilities[n:], labels[n:], reference, reference_labels, tolerance[n:], plan.threshold)
    failures = [f"case {replayed[i]}: {why}" for i, why in on_vectors[1]]
    failures += [f"random row {i}: {why}" for i, why in on_random[1]]
    return FixedProof(
        compiler,
        not failures,
        cases=n,
        random_rows=random_rows,
        skipped=tuple(skipped),
        max_abs_diff=on_vectors[0],
        random_max_abs_diff=on_random[0],
        bound=bound,
        detail="; ".join(failures[:4]),
    )


def _judge(
    q16: np.ndarray, labels: np.ndarray, want: np.ndarray, want_labels: np.ndarray, tolerance, threshold: int | None
) -> tuple[float, list[tuple[int, str]]]:
    """The largest |probability - wanted| and the first rows off: a probability beyond the tolerance, or a label
    other than the wanted one where the wanted probabilities are not that close to the decision boundary."""
    got = q16 / 2**PROBABILITY_BITS
    diff = np.abs(got - want).max(axis=1, initial=0.0) if len(got) else np.zeros(0)
    close = _near_boundary(want, tolerance, threshold)
    bad = ~(diff <= tolerance) | ((labels != want_labels) & ~close)
    why = [
        (int(i), f"label {labels[i]} vs {want_labels[i]}, max difference {diff[i]:.2e} (bound {tolerance[i]:.2e})")
        for i in np.flatnonzero(bad)[:3]
    ]
    return float(diff.max(initial=0.0)), why


def _header_facts(text: str, upper: str, n_numeric: int, offset: bool) -> tuple[int, list[int], int] | str:
    """The header's bits, input shifts (the offset's last, in a model with one) and bound, as it defines them (the
    inputs are converted by its own shifts)."""

    def define(name: str) -> int | None:
        found = re.search(rf"^#define {upper}_{name} (-?\d+)\b", text, re.M)
        return None if found is None else int(found.group(1))

    bits, bound = define("BITS"), define("MAX_PROBABILITY_ERROR")
    shifts = [define(f"INPUT_SHIFT_{j}") for j in range(n_numeric)]
    if offset:
        shifts.append(define("OFFSET_SHIFT"))
    if bits not in SPAN or bound is None or None in shifts:
        return f"the header does not define {upper}_BITS (16 or 32), {upper}_MAX_PROBABILITY_ERROR and every shift"
    return bits, shifts, bound


def _vector_rows(cases: list[dict], g: LinearGraph, plan: Plan) -> tuple[_Rows, list[int], list[str]]:
    """The test vectors' rows the inputs can represent, their indices, and why each other one is skipped."""
    n = len(g.numeric_names)
    numeric = np.array(
        [[np.nan if v is None else v for v in case["features"]] for case in cases], dtype=np.float32
    ).reshape(len(cases), n)
    categories = np.array([list(case.get("categories", [])) for case in cases], dtype=object).reshape(
        len(cases), len(g.categorical_names)
    )
    fixed, fits = to_fixed(numeric, plan.shifts, plan.bits)
    offset = np.array(case_offsets(cases), dtype=np.float32)
    fixed_offset, offset_fits = _offset_to_fixed(offset, plan)
    kept, skipped = [], []
    for i, case in enumerate(cases):
        outside = [j for j in range(n) if not fits[i, j]]
        refused = [j for j in range(n) if np.isnan(numeric[i, j]) and not plan.imputes[j]]
        if not offset_fits[i]:
            step = 2.0**-plan.offset_shift
            skipped.append(
                f"case {i} ({case.get('group', '')}): the offset {float(offset[i]):.6g} outside "
                f"[{-plan.top * step:.6g}, {plan.top * step:.6g}]"
            )
        elif outside:
            j, step = outside[0], 2.0 ** -plan.shifts[outside[0]]
            skipped.append(
                f"case {i} ({case.get('group', '')}): {g.numeric_names[j]} = {float(numeric[i, j]):.6g} outside "
                f"[{-plan.top * step:.6g}, {plan.top * step:.6g}]"
                + (f" (and {len(outside) - 1} more column(s))" if len(outside) > 1 else "")
            )
        elif refused:
            skipped.append(f"case {i}: {g.numeric_names[refused[0]]} missing, which the model does not impute")
        else:
            kept.append(i)
    rows = _Rows(numeric[kept], categories[kept], fixed[kept], offset[kept], fixed_offset[kept])
    return rows, kept, skipped


def _offset_to_fixed(offset: np.ndarray, plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """``{PREFIX}_OFFSET_TO_FIXED`` of each row's offset, and whether it fits (every row, in a model without one)."""
    if plan.offset_shift is None:
        return np.zeros(len(offset), dtype=np.int64), np.ones(len(offset), dtype=bool)
    fixed, fits = to_fixed(offset.reshape(-1, 1), [plan.offset_shift], plan.bits)
    return fixed.reshape(-1), fits.reshape(-1) & np.isfinite(offset)


def _random_rows(g: LinearGraph, plan: Plan, n_rows: int, seed: int) -> _Rows:
    """Numbers around the training mean at 1/4, 1 and 3 of its scale (clipped to the inputs' range), a tenth
    missing where the model imputes; texts drawn from the levels, "", an unseen and a non-ASCII one."""
    rng = np.random.default_rng(seed)
    n = len(g.numeric_names)
    mean, scale = g.mean[:n].astype(np.float64), g.scale[:n].astype(np.float64)
    spread = rng.choice([0.25, 1.0, 3.0], size=(n_rows, 1))
    values = mean + scale * spread * rng.normal(size=(n_rows, n))
    reach = plan.top * np.exp2(-np.array(plan.shifts, dtype=np.float64)) * (1 - 1e-6)  # float32 rounding inside
    numeric = np.clip(values, -reach, reach).astype(np.float32)
    missing = (rng.random((n_rows, n)) < 0.1) & np.array(plan.imputes, dtype=bool)
    numeric[missing] = np.nan
    pools = [
        list(dict.fromkeys([*levels, *(kept or []), "", "unseen", 'Ünïcode ?? \\ "q"']))
        for levels, kept in zip(g.levels, g.kept, strict=True)
    ]
    categories = np.array(
        [[pool[rng.integers(len(pool))] for pool in pools] for _ in range(n_rows)], dtype=object
    ).reshape(n_rows, len(pools))
    fixed, fits = to_fixed(numeric, plan.shifts, plan.bits)
    offset = np.zeros(n_rows, dtype=np.float32)
    if plan.offset_shift is not None:  # drawn last: a model without one replays the same rows as before
        offset = _random_offsets(rng, n_rows, plan)
    fixed_offset, offset_fits = _offset_to_fixed(offset, plan)
    if not (fits.all() and offset_fits.all()):
        raise RuntimeError("a random row outside the inputs' range: the clipping above is wrong")
    return _Rows(numeric, categories, fixed, offset, fixed_offset)


def _random_offsets(rng: np.random.Generator, n_rows: int, plan: Plan) -> np.ndarray:
    """Offsets of 0 (a quarter of the rows: a row without one), of a logit's size (scales 0.5, 3 and 20: some
    outweigh the model's own logit, which they then cancel or push past saturation) and the range's two ends."""
    reach = plan.top * 2.0**-plan.offset_shift * (1 - 1e-6)  # float32 rounding inside
    offset = rng.choice([0.5, 3.0, 20.0], size=n_rows) * rng.normal(size=n_rows)
    offset[rng.random(n_rows) < 0.25] = 0.0
    offset[:2] = [-reach, reach]
    return np.clip(offset, -reach, reach).astype(np.float32)


def _onnxruntime(model_bytes: bytes, rows: _Rows, g: LinearGraph) -> tuple[np.ndarray, np.ndarray]:
    import onnxruntime
    from logreg_onnx.runtime.categorical import graph_texts

    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    feed = {contract.INPUT_NAME: rows.numeric} if g.numeric_names else {}
    if g.categorical_names:
        metadata = session.get_modelmeta().custom_metadata_map
        feed[contract.CATEGORIES_INPUT] = graph_texts(metadata, rows.categories)  # a portable graph's codes
    if g.offset:
        feed[contract.OFFSET_INPUT] = rows.offset
    labels, probabilities = session.run([contract.LABEL_OUTPUT, contract.PROBABILITIES_OUTPUT], feed)
    return labels.astype(np.int64), probabilities.astype(np.float64)


def _reference_slack(g: LinearGraph, rows: _Rows) -> np.ndarray:
    """Per row, how far the float32 graph itself may be from exact arithmetic: (n + 3) * 2^-24 of each logit's
    sum of |terms| through the softmax's slope of 1/2, and a few units of the softmax's own float32 rounding."""
    n = len(g.numeric_names)
    numeric = rows.numeric.astype(np.float64)
    medians = g.medians.astype(np.float64) if g.medians is not None else np.full(n, np.nan)
    columns = [np.where(np.isnan(numeric), medians, numeric)]
    columns += [np.isnan(numeric[:, [j]]).astype(np.float64) for j in g.indicator_index]
    for j, (levels, kept) in enumerate(zip(g.levels, g.kept, strict=True)):
        texts = rows.categories[:, j] if len(rows.categories) else np.zeros(0, dtype=object)
        columns += [(texts == level).astype(np.float64)[:, None] for level in levels]
        if kept is not None:
            columns.append((~np.isin(texts, kept)).astype(np.float64)[:, None])
    design = np.concatenate([c.reshape(len(numeric), -1) for c in columns], axis=1)
    standardized = np.abs((design - g.mean.astype(np.float64)) / g.scale.astype(np.float64))
    size = standardized @ np.abs(g.weight.astype(np.float64)).T + np.abs(g.bias.astype(np.float64))
    unit = 2.0**-24
    return 0.5 * (design.shape[1] + 3) * unit * np.nan_to_num(size, nan=0.0).max(axis=1) + 16 * unit  # NaN fails


def _near_boundary(probabilities: np.ndarray, tolerance: np.ndarray, threshold: int | None) -> np.ndarray:
    """Rows whose label may differ within the tolerance: p1 within it of the threshold (the Q16 one is the
    threshold floored: a unit more), or the top two within twice it (each may move by it)."""
    if threshold is not None:
        return np.abs(probabilities[:, 1] - threshold / 2**PROBABILITY_BITS) <= tolerance + 2.0**-PROBABILITY_BITS
    top = np.sort(probabilities, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0] <= 2 * tolerance


def _run_harness(header_text, rows: _Rows, g, bits, upper, prefix, compiler) -> tuple[np.ndarray, np.ndarray] | str:
    """Labels and Q16 probabilities the compiled header gives for ``rows``, or why there are none."""
    n_rows, n, n_categorical = len(rows.fixed), len(g.numeric_names), len(g.categorical_names)
    with tempfile.TemporaryDirectory(prefix="logreg-c-fixed-") as folder:
        work = Path(folder)
        (work / HEADER_NAME).write_text(header_text)
        (work / "harness.c").write_text(_harness_source(upper, prefix, bits, n, n_categorical, offset=g.offset))
        _write_rows(work / "rows.bin", rows, bits, g.offset)
        build = run_step([compiler, *COMPILE_FLAGS, "-O2", "harness.c", "-o", "harness"], cwd=work, what="compiling")
        if not build.ok:
            return build.detail
        run = run_step([work / "harness", "rows.bin"], cwd=work, timeout_s=120, what="the harness")
    if not run.ok:
        return run.detail
    try:
        table = np.array([[int(v) for v in line.split()] for line in run.stdout.splitlines()], dtype=np.int64)
    except ValueError:
        return "the harness's output is not readable"
    if table.shape != (n_rows, 1 + g.weight.shape[0]):
        return f"the harness printed {table.shape}, expected {(n_rows, 1 + g.weight.shape[0])}"
    probabilities = table[:, 1:]
    if ((probabilities < 0) | (probabilities > 2**PROBABILITY_BITS)).any():
        return "a probability outside [0, 1]"
    return table[:, 0], probabilities.astype(np.float64)


def _write_rows(path: Path, rows: _Rows, bits: int, offset: bool) -> None:
    """A count (int32), then per row its integers (the offset's after them, with ``offset``) and, per text, a uint16
    length and its UTF-8 bytes (native order)."""
    integer = np.int32 if bits == 32 else np.int16
    parts = [np.array([len(rows.fixed)], dtype=np.int32).tobytes()]
    features = rows.fixed.astype(integer)
    offsets = rows.fixed_offset.astype(integer)
    for i in range(len(features)):
        parts.append(features[i].tobytes())
        if offset:
            parts.append(offsets[i : i + 1].tobytes())
        for text in rows.categories[i]:
            data = str(text).encode("utf-8")
            parts.append(np.array([len(data)], dtype=np.uint16).tobytes() + data)
    path.write_bytes(b"".join(parts))


def _harness_source(upper: str, prefix: str, bits: int, n: int, n_categorical: int, *, offset: bool = False) -> str:
    texts = "categories, " if n_categorical else ""
    if offset:
        texts += "offset, "
    lines = [
        f"#define {upper}_IMPLEMENTATION",
        f'#include "{HEADER_NAME}"',
        "#include <stdio.h>",
        "",
        "int main(int argc, char **argv)",
        "{",
        f"    static char texts[{max(n_categorical, 1)}][1024];",
        f"    const char *categories[{max(n_categorical, 1)}];",
        f"    int{bits}_t features[{max(n, 1)}];",
        *([f"    int{bits}_t offset;"] if offset else []),
        f"    int32_t p[{upper}_N_CLASSES];",
        "    int32_t rows, i;",
        "    uint16_t length;",
        "    int j, k;",
        "    FILE *in;",
        '    if (argc != 2 || (in = fopen(argv[1], "rb")) == NULL) return 2;',
        "    if (fread(&rows, sizeof rows, 1, in) != 1) return 3;",
        "    for (i = 0; i < rows; i++) {",
        f"        if (fread(features, sizeof features[0], {n}, in) != {n}) return 3;",
        *(["        if (fread(&offset, sizeof offset, 1, in) != 1) return 3;"] if offset else []),
        f"        for (j = 0; j < {n_categorical}; j++) {{",
        "            if (fread(&length, sizeof length, 1, in) != 1 || length >= sizeof texts[j]) return 3;",
        "            if (fread(texts[j], 1, length, in) != length) return 3;",
        "            texts[j][length] = '\\0';",
        "            categories[j] = texts[j];",
        "        }",
        f'        printf("%d", {prefix}_predict(features, {texts}p));',
        f'        for (k = 0; k < {upper}_N_CLASSES; k++) printf(" %ld", (long)p[k]);',
        '        printf("\\n");',
        "    }",
        "    (void)categories;",
        "    fclose(in);",
        "    return 0;",
        "}",
        "",
    ]
    return "\n".join(lines)
