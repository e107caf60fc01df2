"""The C header's ``logreg_explain``: its signature, macros, comment, constants and body, from a format 3 graph's
explain constants (exporter/c_graph.py), with the formulas of exporter/explain.py."""

from __future__ import annotations

import textwrap

import numpy as np
from logreg_onnx.runtime import contract

from .c_graph import LinearGraph
from .c_text import comment_text, float_literal, floats_literal, strings_literal

# the offset of a model trained with one, added where the graph adds it: to the logits before the sigmoid
OFFSET_LINE = "    logits[0] += offset;  /* the offset: a known term of the one logit, as the graph adds it */"


def explain_signature(g: LinearGraph) -> str:
    e = g.explain
    arguments = ["const float *features"]
    if g.categorical_names:
        arguments.append("const char *const *categories")
    if g.offset:
        arguments.append("float offset")
    arguments += ["float *logit", "float *contributions"]
    if e.intervals:
        arguments.append("float *logit_se")
    if e.z is not None:
        arguments += ["float *p_lower", "float *p_upper"]
    return f"void logreg_explain({', '.join(arguments)})"


def explain_macros(g: LinearGraph) -> list[str]:
    e = g.explain
    lines = [
        f"#define LOGREG_N_LOGITS {g.weight.shape[0] - 1}  /* log(p_l / p_0): the classes after the first, "
        "against LOGREG_CLASS_NAMES[0] */",
        f"#define LOGREG_N_COLUMNS {len(g.column_names)}  /* every input column, in LOGREG_COLUMN_NAMES order */",
        f"#define LOGREG_HAS_INTERVALS {int(e.intervals)}  /* logreg_explain takes logit_se (1) or not (0) */",
    ]
    if e.z is not None:
        lines.append(
            f"#define LOGREG_Z {float_literal(e.z)}  /* the probability interval's z (95%), as the graph holds it */"
        )
    return lines


def explain_comment(g: LinearGraph) -> list[str]:
    e = g.explain
    inputs, pronoun = ("features and categories", "them") if g.categorical_names else ("features", "it")
    if g.offset:
        inputs = "features, categories and offset" if g.categorical_names else "features and offset"
        pronoun = "them"
    lines = [
        f"/* Explains one row ({inputs}, as logreg_predict takes {pronoun}). Fills logit[LOGREG_N_LOGITS],",
        "   logit[l] = log(probabilities[l + 1] / probabilities[0]) from the same linear layer as logreg_predict, and",
        "   contributions[LOGREG_N_COLUMNS * LOGREG_N_LOGITS], row-major [column][logit], columns in",
        "   LOGREG_COLUMN_NAMES order: contributions[c * LOGREG_N_LOGITS + l] = sum over the column's design values",
        "   x_j (a number and its missing indicator, a text column's levels) of coefficient_jl * (x_j - baseline_j),",
        "   measured from the baseline design row, so that LOGREG_BASELINE_LOGIT[l] + sum_c contributions[c][l] ==",
        "   logit[l] to float32 rounding.",
    ]
    if g.offset:
        lines[-2:] = [
            "   measured from the baseline design row. The offset is in logit[0] (and the interval) but in no",
            "   column's contribution: LOGREG_BASELINE_LOGIT[0] + sum_c contributions[c][0] + offset == logit[0] to",
            "   float32 rounding.",
        ]
    if e.intervals:
        lines += [
            "   logit_se[LOGREG_N_LOGITS]: the delta method's standard error of each logit,",
            "   sqrt(sum_r (u . F_l[., r] + f_l[r])^2) over the standardized row u (F_l, f_l: a factor of the fit's",
            "   covariance of that logit's parameters).",
        ]
        if e.z is not None:
            lines += [
                "   *p_lower, *p_upper: the 95% interval of probabilities[1], 1 / (1 + expf(-(logit[0] -+ LOGREG_Z *",
                "   logit_se[0]))).",
            ]
        else:
            z = float(e.metadata.get("z", contract.Z_95))
            lines.append(f"   A 95% interval of logit l is logit[l] -+ {z:.6f} * logit_se[l] (no one interval of a")
            lines.append("   probability follows from one standard error when it depends on every logit).")
        lines += [
            "   Every output pointer may be NULL (0): that output is not written, and with all the interval",
            "   pointers NULL their work (LOGREG_N_LOGITS x design x rank multiplications) is skipped. Separate",
            "   pointers rather than a struct, as logreg_predict takes its output: each output goes where the caller",
            "   keeps it (a row of a batch buffer), and the signature holds exactly the outputs the model has. */",
        ]
    else:
        why = comment_text(e.metadata.get("intervals_note", "")).rstrip(".")
        note = f"No logit_se or probability interval: {why}."
        lines += [
            *textwrap.wrap(note, 112, initial_indent="   ", subsequent_indent="   ", break_on_hyphens=False),
            "   Either pointer may be NULL (0): that output is not written. Separate pointers rather than a struct, as",
            "   logreg_predict takes its output: each output goes where the caller keeps it (a row of a batch",
            "   buffer), and the signature holds exactly the outputs the model has. */",
        ]
    return lines


def explain_constants(g: LinearGraph) -> list[str]:
    e = g.explain
    n_design, n_logits = e.coefficients.shape
    lines = [
        "",
        f"const char *const LOGREG_COLUMN_NAMES[] = {strings_literal(g.column_names)};",
        f"const float LOGREG_BASELINE_LOGIT[{n_logits}] = {floats_literal(baseline_logit(g))};",
        f"static const float logreg_baseline[{n_design}] = {floats_literal(e.baseline)};",
        f"static const float logreg_coefficients[{n_design}][{n_logits}] = {{",
        *[f"    {floats_literal(row)}," for row in e.coefficients],
        "};",
        f"static const int logreg_column_of[{n_design}] = {{{', '.join(str(int(c)) for c in e.groups)}}};",
    ]
    if e.intervals:
        rank = e.factor_w.shape[2]
        lines.append(f"static const float logreg_factor_w[{n_logits}][{n_design}][{rank}] = {{")
        for block in e.factor_w:
            lines += ["    {", *[f"        {floats_literal(row)}," for row in block], "    },"]
        lines += ["};", f"static const float logreg_factor_b[{n_logits}][{rank}] = {{"]
        lines += [*[f"    {floats_literal(row)}," for row in e.factor_b], "};"]
    return lines


def baseline_logit(g: LinearGraph) -> np.ndarray:
    """Each logit at the baseline row, in float64 from the graph's own float32 constants."""
    e = g.explain
    standardized = (e.baseline.astype(np.float64) - g.mean) / g.scale.astype(np.float64)
    logits = g.weight.astype(np.float64) @ standardized + g.bias
    return logits[1:] - logits[0]


def explain_function(g: LinearGraph) -> list[str]:
    e = g.explain
    n_design, n_logits = e.coefficients.shape
    n_classes, n_columns = g.weight.shape[0], len(g.column_names)
    lines = [
        explain_signature(g),
        "{",
        f"    float design[{n_design}], standardized[{n_design}], logits[{1 if n_classes == 2 else n_classes}];",
        "    int d, l;",
        f"    logreg_design({design_arguments(len(g.categorical_names))});",
        "    logreg_logits(design, standardized, logits);",
        *([OFFSET_LINE] if g.offset else []),
        "    if (logit) {",
        "        logit[0] = logits[0];  /* a binary model's one logit */"
        if n_classes == 2
        else f"        for (l = 0; l < {n_logits}; l++) logit[l] = logits[l + 1] - logits[0];",
        "    }",
        "    if (contributions) {",
        f"        for (l = 0; l < {n_columns * n_logits}; l++) contributions[l] = 0.0f;",
        f"        for (d = 0; d < {n_design}; d++) {{",
        "            float shifted = design[d] - logreg_baseline[d];",
        f"            for (l = 0; l < {n_logits}; l++) {{",
        f"                contributions[logreg_column_of[d] * {n_logits} + l] += shifted * logreg_coefficients[d][l];",
        "            }",
        "        }",
        "    }",
    ]
    if e.intervals:
        rank = e.factor_w.shape[2]
        wanted = "logit_se" + (" || p_lower || p_upper" if e.z is not None else "")
        lines += [
            f"    if ({wanted}) {{",
            f"        float se[{n_logits}];",
            "        int r;",
            f"        for (l = 0; l < {n_logits}; l++) {{",
            "            float squares = 0.0f;",
            f"            for (r = 0; r < {rank}; r++) {{",
            "                float projected = 0.0f;",
            f"                for (d = 0; d < {n_design}; d++) {{",
            "                    projected += standardized[d] * logreg_factor_w[l][d][r];",
            "                }",
            "                projected += logreg_factor_b[l][r];",
            "                squares += projected * projected;",
            "            }",
            "            se[l] = sqrtf(squares);",
            "            if (logit_se) logit_se[l] = se[l];",
            "        }",
        ]
        if e.z is not None:
            lines += [
                "        {  /* 1 / (exp(-t) + 1): exp overflowing to infinity gives 0, as it should */",
                "            float z = logits[0], reach = LOGREG_Z * se[0];",
                "            if (p_lower) *p_lower = 1.0f / (expf(-(z - reach)) + 1.0f);",
                "            if (p_upper) *p_upper = 1.0f / (expf(-(z + reach)) + 1.0f);",
                "        }",
            ]
        lines.append("    }")
    lines.append("}")
    return lines


def design_arguments(n_categorical: int) -> str:
    return "features, categories, design" if n_categorical else "features, design"
