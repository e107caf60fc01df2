"""``logreg export --c-fixed``: the verified graph as integer-only C99 for microcontrollers without an FPU; its proof.

The header computes what the float graph computes with integer arithmetic alone (no floating type, no ``<math.h>``):

- inputs: numeric column ``d`` as the integer ``round(x * 2^F_d)`` (``{PREFIX}_TO_FIXED``), ``F_d`` chosen from the
  column's training mean and scale so that ``mean +- K * scale`` fits the integer; ``{PREFIX}_MISSING`` for a missing
  value, imputed with the training median (and setting the missing indicator) as the graph does;
- standardization and the linear layer folded into one integer multiplier per column, applied to the centered input
  ``x_q - m_q`` (exact integer sums: no digits lost to cancellation), the logits carrying ``log2(e)`` so that the
  softmax needs powers of two only; a binary model keeps one row (the second logit minus the first);
- the softmax: the largest logit subtracted, ``2^-t`` as ``2^-n`` times a 33-entry table of ``2^(-i/32)``
  interpolated linearly, then one 32-bit reciprocal per row (no 64-bit division; on Cortex-M0, which has no divide
  instruction, 16 steps of long division: libgcc's division alone would be a quarter of the 2 KB);
- the offset of a binary model trained with ``--offset``: an integer like a numeric input, ``round(offset *
  2^F_o)`` (``{PREFIX}_OFFSET_TO_FIXED``) after the inputs, ``F_o`` fixed by the width (+-128 logits at 32 bits,
  +-32 at 16: exporter/c_fixed_plan.py's ``OFFSET_SPAN``), multiplied into the one logit's sum as a column of weight
  1 is; 0 for a row without one;
- an error bound against the model's exact arithmetic, derived from the constants (input quantisation, weight
  quantisation, the table's interpolation, every rounding and the division) and stated in the header; :func:`prove`
  replays the test vectors and random rows against onnxruntime within it.

bits=32 takes int32 inputs and accumulates int64 products under one exponent; bits=16 takes int16 inputs and uses
32-bit arithmetic only: there each product (17 bits of centered input times 15 bits of weight) is shifted to the
common exponent by its own shift, since unshifted products sharing one int32 would leave the weights 9 bits.
"""

from __future__ import annotations

from .c_fixed_plan import (
    CUT,
    HEADER_NAME,
    PROBABILITY_BITS,
    SPAN,
    TABLE_BITS,
    Plan,
    plan_of,
)
from .c_fixed_proof import FixedProof, prove, to_fixed
from .c_graph import LinearGraph, read_graph
from .c_text import DEFAULT_PREFIX, check_prefix, comment, comment_text, strings_literal


# -- the header -----------------------------------------------------------------------------------------------
def generate(model_bytes: bytes, *, prefix: str = DEFAULT_PREFIX, bits: int = 32) -> str:
    """``model_fixed.h`` for the graph in ``model_bytes``: integer-only C99, ``bits`` (16 or 32) the inputs' width.
    ``prefix`` (a C identifier) starts every function and table (``{prefix}_predict``) and, upper-cased, every macro
    and exported name (``{PREFIX}_IMPLEMENTATION``), so that several models link into one program."""
    check_prefix(prefix)
    g = read_graph(model_bytes)
    plan = plan_of(g, bits)
    upper = prefix.upper()
    n_categorical = len(g.categorical_names)
    lines = [*_comment(g, plan, upper), f"#ifndef {upper}_FIXED_H", f"#define {upper}_FIXED_H", ""]
    lines.append("#include <stdint.h>")
    lines += ["", *_macros(g, plan, upper), ""]
    lines += [
        f"extern const char *const {upper}_FEATURE_NAMES[];",
        f"extern const char *const {upper}_CATEGORICAL_NAMES[];",
        f"extern const char *const {upper}_CLASS_NAMES[];",
        f"extern const int8_t {upper}_INPUT_SHIFT[];  /* {upper}_INPUT_SHIFT_d as a table, for use at run time */",
        "",
        f"/* Fills probabilities[{upper}_N_CLASSES] (Q16) and returns the label; -1 (and zeros) for {upper}_MISSING"
        " in a column without imputation." + ("" if g.offset else " */"),
        *(
            [f"   offset: {upper}_OFFSET_TO_FIXED(x) of the row's offset x, 0 for none (see above). */"]
            if g.offset
            else []
        ),
        f"{_signature(prefix, bits, n_categorical, g.offset)};",
        "",
        f"#ifdef {upper}_IMPLEMENTATION",
    ]
    if n_categorical:
        lines.append("#include <string.h>")
    lines += [
        "",
        "/* >> of a negative value must be arithmetic (gcc, clang, armcc, IAR): another compiler fails here */",
        f"typedef char {prefix}_arithmetic_shift[(-1 >> 1) == -1 ? 1 : -1];",
        "",
        f"const char *const {upper}_FEATURE_NAMES[] = {strings_literal(g.numeric_names)};",
        f"const char *const {upper}_CATEGORICAL_NAMES[] = {strings_literal(g.categorical_names)};",
        f"const char *const {upper}_CLASS_NAMES[] = {strings_literal(g.class_names)};",
        f"const int8_t {upper}_INPUT_SHIFT[] = {_ints(plan.shifts)};",
        "",
        *_tables(g, plan, prefix),
        "",
        *_exp2_function(plan, prefix),
        "",
        *_predict_function(g, plan, prefix, upper),
        f"#endif /* {upper}_IMPLEMENTATION */",
        f"#endif /* {upper}_FIXED_H */",
        "",
    ]
    return "\n".join(lines)


def _signature(prefix: str, bits: int, n_categorical: int, offset: bool = False) -> str:
    texts = "const char *const *categories, " if n_categorical else ""
    offset_argument = f"int{bits}_t offset, " if offset else ""
    return f"int {prefix}_predict(const int{bits}_t *features, {texts}{offset_argument}int32_t *probabilities)"


def _ints(values) -> str:
    return "{" + ", ".join(str(int(v)) for v in values) + "}" if len(values) else "{0}"


def _int64s(values) -> str:
    return "{" + ", ".join(f"INT64_C({int(v)})" for v in values) + "}" if len(values) else "{0}"


def _comment(g: LinearGraph, plan: Plan, upper: str) -> list[str]:
    n_numeric, n_categorical, n_classes = len(g.numeric_names), len(g.categorical_names), g.weight.shape[0]
    accumulator = "int64" if plan.bits == 32 else "int32"
    includes = "<stdint.h> and <string.h> (strcmp)" if n_categorical else "<stdint.h>"
    one = 2**PROBABILITY_BITS
    if plan.threshold is not None:
        decision = (
            f"returns 1 (the second class) when probabilities[1] > {plan.threshold} (the threshold "
            f"{g.threshold!r} in Q16: exactly p1 > {g.threshold!r}), else 0."
        )
    else:
        decision = "returns the index of the most probable class (the first on a tie)."
    missing = "imputed with the training median, as the graph does" if all(plan.imputes) else "see below"
    lines = [
        f"/* {HEADER_NAME}: generated by logreg-onnx from a verified ONNX graph. Integer-only C99 for microcontrollers",
        f" * without an FPU; no dynamic memory; includes {includes} alone.",
        f" * {n_numeric} numeric feature(s), {n_categorical} categorical, {n_classes} classes; {plan.bits}-bit inputs,"
        f" an {accumulator} accumulator.",
        f' * In exactly one .c file: #define {upper}_IMPLEMENTATION before #include "{HEADER_NAME}".',
        " *",
        f" * Inputs: numeric column d as the int{plan.bits}_t round(x * 2^{upper}_INPUT_SHIFT_d): "
        f"{upper}_TO_FIXED(x, d)",
        " *   (d a literal or a macro expanding to one; it multiplies by a floating constant, so use it on the host or",
        " *   for constants the compiler folds), or an integer reading scaled by 2^shift; "
        f"{upper}_MISSING for a missing value ({missing}).",
        f" *   Shift, representable range ((int{plan.bits} range) / 2^shift; K = {SPAN[plan.bits]}: mean +- K * scale"
        " fits) and step:",
    ]
    for j, name in enumerate(g.numeric_names):
        step = 2.0 ** -plan.shifts[j]
        note = "" if plan.imputes[j] else f"; {upper}_MISSING not accepted (no median): returns -1"
        lines.append(
            f" *   {j:3d} {comment_text(name)[:40]}: shift {plan.shifts[j]}, [{-plan.top * step:.6g}, "
            f"{plan.top * step:.6g}], step {step:.3g}{note}"
        )
    if n_categorical:
        lines.append(
            ' * Text columns: NUL-terminated UTF-8, "" for a missing value, compared with the training levels'
            " (an unseen text is (other) where the column has that level)."
        )
    if plan.offset_shift is not None:
        step = 2.0**-plan.offset_shift
        lines += [
            f" * Offset (the training's offset column {comment_text(g.offset_column)[:40]}), after the inputs: the "
            f"int{plan.bits}_t round(offset * 2^{upper}_OFFSET_SHIFT),",
            f" *   {upper}_OFFSET_TO_FIXED(x) (0 for none), added to the one logit; shift {plan.offset_shift}, "
            f"[{-(plan.top + 1) * step:.6g}, {plan.top * step:.6g}], step {step:.3g}.",
        ]
    lines += [
        f" * Q formats: the logits in base 2 (log2-odds: the weights carry log2(e)) with {plan.logit_bits} fractional"
        f" bits, summed at 2^-{plan.exponent};",
        " *   2^-t as Q16 (2^-n times a table of 2^(-i/32), interpolated); probabilities Q16: "
        f"{upper}_PROBABILITY_ONE ({one}) is 1.",
        f" * Decision: {decision}",
        f" * Error bound: every probability within {upper}_MAX_PROBABILITY_ERROR / {one} = {plan.bound:.3g} of the",
        " *   model's exact arithmetic, for every representable input. Derived from the constants: "
        + ", ".join(f"{name} {value:.2g}" for name, value in plan.terms.items())
        + ".",
        " *   The ONNX graph, in float32, rounds too (some 1e-7): the proof allows for it. A label differs from the",
        " *   graph's only where its probabilities are that close to the decision boundary. */",
    ]
    return lines


def _macros(g: LinearGraph, plan: Plan, upper: str) -> list[str]:
    n_numeric = len(g.numeric_names)
    integer = f"int{plan.bits}_t"
    lines = [
        f"#define {upper}_BITS {plan.bits}",
        f"#define {upper}_N_FEATURES {n_numeric}  /* numeric, {integer} each, in {upper}_FEATURE_NAMES order */",
        f"#define {upper}_N_CATEGORICAL {len(g.categorical_names)}  /* texts, in {upper}_CATEGORICAL_NAMES order */",
        f"#define {upper}_N_CLASSES {g.weight.shape[0]}",
        f"#define {upper}_PROBABILITY_ONE {2**PROBABILITY_BITS}  /* probabilities are Q16 */",
        f"#define {upper}_MAX_PROBABILITY_ERROR {plan.bound_units}  /* Q16 units: {plan.bound:.3g} */",
        f"#define {upper}_MISSING INT{plan.bits}_MIN  /* a missing numeric value */",
    ]
    for j in range(n_numeric):
        lines.append(f"#define {upper}_INPUT_SHIFT_{j} {plan.shifts[j]}  /* {comment(g.numeric_names[j])} */")
        lines.append(f"#define {upper}_INPUT_SCALE_{j} 0x1p{plan.shifts[j]}  /* 2^{upper}_INPUT_SHIFT_{j} */")
    lines += [
        "/* round(x * 2^shift), halves away from zero: x a number, d a column index (a literal, or a macro of one) */",
        f"#define {upper}_TO_FIXED(x, d) {upper}_TO_FIXED_(x, d)",
        f"#define {upper}_TO_FIXED_(x, d) (({integer})((x) * {upper}_INPUT_SCALE_##d + ((x) < 0 ? -0.5 : 0.5)))",
    ]
    if plan.offset_shift is not None:
        lines += [
            f"#define {upper}_HAS_OFFSET 1  /* the predict function takes the offset, after the inputs */",
            f"#define {upper}_OFFSET_SHIFT {plan.offset_shift}  /* the offset as round(offset * 2^shift) */",
            f"#define {upper}_OFFSET_TO_FIXED(x) (({integer})((x) * 0x1p{plan.offset_shift} + ((x) < 0 ? -0.5 : 0.5)))",
        ]
    return lines


def _hot_columns(g: LinearGraph) -> int:
    return sum(len(levels) + (kept is not None) for levels, kept in zip(g.levels, g.kept, strict=True))


def _tables(g: LinearGraph, plan: Plan, prefix: str) -> list[str]:
    n, rows, wide = len(g.numeric_names), plan.rows, plan.bits == 32
    accumulator = "int64_t" if wide else "int32_t"
    values = _int64s if wide else _ints
    lines = []
    if n:
        lines += [
            f"static const int{plan.bits}_t {prefix}_center[{n}] = {_ints(plan.centers)};  /* round(mean * 2^F) */",
            f"static const int{plan.bits}_t {prefix}_weight[{rows}][{n}] = {{",
            *[f"    {_ints(row)}," for row in plan.weights],
            "};",
        ]
        if plan.product_shifts is not None:
            lines += [f"static const uint8_t {prefix}_product_shift[{rows}][{n}] = {{"]
            lines += [f"    {_ints(row)}," for row in plan.product_shifts] + ["};"]
        if any(plan.imputes):
            lines += [f"static const {accumulator} {prefix}_missing[{rows}][{n}] = {{"]
            lines += [f"    {values(row)}," for row in plan.missing] + ["};"]
    lines.append(f"static const {accumulator} {prefix}_bias[{rows}] = {values(plan.bias)};")
    n_hot = _hot_columns(g)
    if n_hot:
        lines += [f"static const {accumulator} {prefix}_hot[{rows}][{n_hot}] = {{"]
        lines += [f"    {values(row)}," for row in plan.hot] + ["};"]
    for j, (levels, kept) in enumerate(zip(g.levels, g.kept, strict=True)):
        if levels:
            lines.append(f"static const char *const {prefix}_levels_{j}[{len(levels)}] = {strings_literal(levels)};")
        if kept is not None:
            lines.append(f"static const char *const {prefix}_kept_{j}[{len(kept)}] = {strings_literal(kept)};")
    table = [round(2 ** (16 - i / 2**TABLE_BITS)) - 32768 for i in range(2**TABLE_BITS + 1)]
    lines.append("/* 2^(-i/32) in Q16, minus 32768 (so that it fits 16 bits), i = 0..32 */")
    lines.append(f"static const uint16_t {prefix}_exp2_table[{len(table)}] = {_ints(table)};")
    return lines


def _exp2_function(plan: Plan, prefix: str) -> list[str]:
    L, low = plan.logit_bits, plan.logit_bits - TABLE_BITS
    return [
        f"/* 2^(-t / 2^{L}) in Q16 for 0 <= t < {CUT} * 2^{L}: 2^-n times the table's 2^-(i/32), interpolated */",
        f"static uint32_t {prefix}_exp2(uint32_t t)",
        "{",
        f"    uint32_t n = t >> {L}, i = (t >> {low}) & {2**TABLE_BITS - 1}, r = t & ((UINT32_C(1) << {low}) - 1);",
        f"    uint32_t high = UINT32_C(32768) + {prefix}_exp2_table[i];",
        f"    uint32_t low = UINT32_C(32768) + {prefix}_exp2_table[i + 1];",
        f"    uint32_t v = high - (((high - low) * r + (UINT32_C(1) << {low - 1})) >> {low});",
        "    return n ? (v + (UINT32_C(1) << (n - 1))) >> n : v;",
        "}",
        "",
        "/* floor((2^32 - 1) / total) for total >= 65536, a quotient under 2^16: the divide instruction where there is",
        "   one, else 16 steps of long division (Cortex-M0 has none, and libgcc's division is some 270 bytes) */",
        f"static uint32_t {prefix}_reciprocal(uint32_t total)",
        "{",
        "#ifdef __ARM_FEATURE_IDIV",
        "    return UINT32_C(0xFFFFFFFF) / total;",
        "#else",
        "    uint32_t rest = UINT32_C(0xFFFFFFFF), quotient = 0;",
        "    int b;",
        "    for (b = 15; b >= 0; b--) {",
        "        if ((rest >> b) >= total) {  /* total << b <= rest: no overflow */",
        "            rest -= total << b;",
        "            quotient |= UINT32_C(1) << b;",
        "        }",
        "    }",
        "    return quotient;",
        "#endif",
        "}",
    ]


def _predict_function(g: LinearGraph, plan: Plan, prefix: str, upper: str) -> list[str]:
    n, n_classes, rows = len(g.numeric_names), g.weight.shape[0], plan.rows
    wide = plan.bits == 32
    accumulator = "int64_t" if wide else "int32_t"
    n_hot = _hot_columns(g)
    lines = [
        _signature(prefix, plan.bits, len(g.categorical_names), g.offset),
        "{",
        f"    {accumulator} logit[{n_classes}], largest;",
        f"    uint32_t e[{n_classes}], total = 0, inverse;",
    ]
    if n_hot:
        lines.append(f"    unsigned char hot[{n_hot}];")
    lines.append("    int k, d, best = 0;" if n or n_hot else "    int k, best = 0;")
    if not n:
        lines.append("    (void)features;  /* no numeric column */")
    refused = [j for j in range(n) if not plan.imputes[j]]
    if refused:
        if len(refused) == n:
            lines += [f"    for (d = 0; d < {n}; d++) {{", f"        if (features[d] == {upper}_MISSING) {{"]
        else:
            test = " || ".join(f"features[{j}] == {upper}_MISSING" for j in refused)
            lines += ["    {", f"        if ({test}) {{"]
        lines += [
            f"            for (k = 0; k < {n_classes}; k++) probabilities[k] = 0;",
            "            return -1;  /* a missing value in a column the model does not impute */",
            "        }",
            "    }",
        ]
    if n_hot:
        lines.append("    k = 0;  /* the one-hot row: which level (and (other)) columns are 1 */")
        for j, (levels, kept) in enumerate(zip(g.levels, g.kept, strict=True)):
            if levels:
                lines.append(
                    f"    for (d = 0; d < {len(levels)}; d++) hot[k++] = "
                    f"strcmp(categories[{j}], {prefix}_levels_{j}[d]) == 0;  /* {comment(g.categorical_names[j])} */"
                )
            if kept is not None:
                lines += [
                    "    hot[k] = 1;  /* (other): none of the kept levels */",
                    f"    for (d = 0; d < {len(kept)}; d++) {{",
                    f"        if (strcmp(categories[{j}], {prefix}_kept_{j}[d]) == 0) hot[k] = 0;",
                    "    }",
                    "    k++;",
                ]
    elif g.categorical_names:
        lines.append("    (void)categories;  /* no level has a design column */")
    first = 1 if n_classes == 2 else 0
    if first:
        lines.append("    logit[0] = 0;  /* a binary model keeps one row: the second logit minus the first */")
    lines += [f"    for (k = 0; k < {rows}; k++) {{", f"        {accumulator} sum = {prefix}_bias[k];"]
    if n:
        if wide:
            product = f"(int64_t){prefix}_weight[k][d] * ((int64_t)features[d] - {prefix}_center[d])"
        else:
            product = (
                f"((int32_t){prefix}_weight[k][d] * ((int32_t)features[d] - {prefix}_center[d])) >> "
                f"{prefix}_product_shift[k][d]"
            )
        lines.append(f"        for (d = 0; d < {n}; d++) {{")
        if any(plan.imputes):
            lines += [
                f"            if (features[d] == {upper}_MISSING) sum += {prefix}_missing[k][d];  /* the median */",
                f"            else sum += {product};",
            ]
        else:
            lines.append(f"            sum += {product};")
        lines.append("        }")
    if n_hot:
        lines.append(f"        for (d = 0; d < {n_hot}; d++) {{")
        lines.append(f"            if (hot[d]) sum += {prefix}_hot[k][d];")
        lines.append("        }")
    if plan.offset_shift is not None:
        lines.append(_offset_term(plan))
    shift = plan.exponent - plan.logit_bits
    lines.append(f"        logit[k + {first}] = sum >> {shift};" if shift else f"        logit[k + {first}] = sum;")
    cut = f"INT64_C({CUT}) << {plan.logit_bits}" if wide else f"INT32_C({CUT}) << {plan.logit_bits}"
    lines += [
        "    }",
        "    /* softmax: 2^-(largest - logit), then one division */",
        "    largest = logit[0];",
        f"    for (k = 1; k < {n_classes}; k++) {{",
        "        if (logit[k] > largest) largest = logit[k];",
        "    }",
        f"    for (k = 0; k < {n_classes}; k++) {{",
        f"        {accumulator} t = largest - logit[k];",
        f"        e[k] = t < ({cut}) ? {prefix}_exp2((uint32_t)t) : 0;",
        "        total += e[k];",
        "    }",
        f"    inverse = {prefix}_reciprocal(total);  /* total >= 65536: the largest's 2^0 */",
        f"    for (k = 0; k < {n_classes}; k++) {{",
        "        probabilities[k] = (int32_t)((e[k] * inverse) >> 16);  /* e[k] <= total: the product fits */",
        "        if (probabilities[k] > probabilities[best]) best = k;",
        "    }",
    ]
    if plan.threshold is not None:
        lines.append(f"    best = probabilities[1] > {plan.threshold} ? 1 : 0;  /* the model's decision threshold */")
    lines += ["    return best;", "}"]
    return lines


def _offset_term(plan: Plan) -> str:
    """The offset's term of the one row's sum: its integer times log2(e) at the sum's exponent, as a column's (at 16
    bits the product shifted right to the common exponent by its own shift)."""
    if plan.bits == 32:
        term = f"(int64_t){plan.offset_weight} * offset"
    else:
        term = f"((int32_t){plan.offset_weight} * (int32_t)offset) >> {plan.offset_product_shift}"
    return f"        sum += {term};  /* the offset: a known term of the one logit, as the graph adds it */"


__all__ = ["HEADER_NAME", "FixedProof", "generate", "prove", "to_fixed"]
