"""``logreg export --c``: the verified ONNX graph as dependency-free C99 (``model.h``), and its proof.

The code is generated from the graph's own initializers (not from the PyTorch model), so it computes what the verified
file computes: centering and imputation (``pre_centers``, ``pre_medians_centered``, ``pre_indicator_index``), one-hot
levels (``pre_catJ_levels``, ``pre_catJ_kept``), standardization, the linear layer and a softmax that subtracts the
largest logit first; a format 3 graph's explain outputs too (``logreg_explain``: logits, per-column contributions from
the baseline row, and with classical standard errors the delta method's ``logit_se`` and a binary model's probability
interval). Each constant is found through the node that consumes it (the Gemm's weights, the Sub and Div before it,
the Mul of the contributions...), not by its name alone: the exporter merges equal constants (a baseline equal to the
mean is one initializer), and a node layout other than exporter/graph.py's is refused rather than guessed. Everything
is float32, as in the graph; no dynamic memory. Standardization multiplies by the scale's reciprocal (stored, not
divided per call), and a binary model stores one weight row, the second class's logit minus the first's, so its
probabilities are a sigmoid of one logit.

``--c-prefix NAME`` renames every macro (``NAME_*``, upper case), function and table (``name_*``) and the include
guard, so that several models link into one program (exporter/c_text.py's :func:`renamed`).

``model.h`` is a single-header library: every file may include it for the declarations, and exactly one defines
``LOGREG_IMPLEMENTATION`` first to get the definitions (the stb convention), so no unused-static warning appears.
A model with categorical columns takes their texts (NUL-terminated, "" for a missing value) in a third argument; the
function compares them with the training levels, as the graph does (an unseen text counts as ``(other)`` when the
column has that level, else it sets no column). A binary model trained with ``--offset`` takes its offset (a float,
0 for a row without one) after them: added to the one logit before the sigmoid and in ``logreg_explain``'s logit and
interval, as the graph adds it (``LOGREG_HAS_OFFSET``); no contribution holds it.
"""

from __future__ import annotations

import numpy as np

from .c_explain import (
    OFFSET_LINE,
    design_arguments,
    explain_comment,
    explain_constants,
    explain_function,
    explain_macros,
    explain_signature,
)
from .c_graph import ExplainGraph, LinearGraph, read_graph
from .c_proof import COMPILE_FLAGS, HEADER_NAME, CProof, explain_outputs, find_compiler, harness, parse_harness, prove
from .c_text import DEFAULT_PREFIX, c_string, check_prefix, comment, floats_literal, renamed, strings_literal

# the proof lives in exporter/c_proof.py; its names are this module's too, as `logreg export --c` is one step
__all__ = [
    "COMPILE_FLAGS",
    "HEADER_NAME",
    "CProof",
    "ExplainGraph",
    "LinearGraph",
    "c_string",
    "explain_outputs",
    "find_compiler",
    "harness",
    "parse_harness",
    "prove",
    "read_graph",
]

OFFSET_MACRO = "#define LOGREG_HAS_OFFSET 1  /* logreg_predict (and logreg_explain) take the offset after the inputs */"


def generate(model_bytes: bytes, *, prefix: str = DEFAULT_PREFIX) -> str:
    """``model.h`` for the graph in ``model_bytes``, its names beginning with ``prefix`` (a C identifier)."""
    return header_of(read_graph(model_bytes), prefix=prefix)


def header_of(g: LinearGraph, *, prefix: str = DEFAULT_PREFIX) -> str:
    """``model.h`` for the constants ``g`` read from a graph (:func:`generate` without the reading)."""
    check_prefix(prefix)
    return renamed(_generate(g), prefix)


def linear_rows(g: LinearGraph) -> tuple[np.ndarray, np.ndarray]:
    """The weight rows and biases the header stores, in float32: :meth:`LinearGraph.rows`."""
    weight, bias = g.rows()
    return weight.astype(np.float32), bias.astype(np.float32)


def _generate(g: LinearGraph) -> str:
    n_numeric, n_categorical = len(g.numeric_names), len(g.categorical_names)
    n_design, n_classes = g.weight.shape[1], g.weight.shape[0]
    weight, bias = linear_rows(g)
    n_rows = weight.shape[0]
    used = np.arange(n_design) if g.used is None else g.used  # the columns the linear layer reads
    n_used = len(used)
    signature = _signature(n_categorical, g.offset)
    # the binary sigmoid reads fabsf, the intervals' logit_se sqrtf
    intervals = g.explain is not None and g.explain.intervals
    functions = ", ".join(["expf", *(["fabsf"] if n_classes == 2 else []), *(["sqrtf"] if intervals else [])])
    headers = f"<math.h> ({functions}) and <string.h> (strcmp)" if n_categorical else f"<math.h> ({functions})"
    if n_classes == 2 and g.threshold != 0.5:  # as the graph's label, and the code below
        decision = f"returns 1 (the second class) when probabilities[1] > {g.threshold!r}, else 0 (the threshold)."
    else:
        decision = "returns the index of the most probable class (the first on a tie)."
    lines = [
        f"/* model.h: generated by logreg-onnx from a verified ONNX graph. C99, no dynamic memory; {headers}.",
        f" * {n_numeric} numeric feature(s), {n_categorical} categorical, {n_classes} classes.",
        f" * logreg_predict {decision}",
        ' * In exactly one .c file: #define LOGREG_IMPLEMENTATION before #include "model.h". */',
        "#ifndef LOGREG_MODEL_H",
        "#define LOGREG_MODEL_H",
        "",
        f"#define LOGREG_N_FEATURES {n_numeric}  /* numeric, in LOGREG_FEATURE_NAMES order (NAN: missing) */",
        f"#define LOGREG_N_CATEGORICAL {n_categorical}  /* texts, in LOGREG_CATEGORICAL_NAMES order */",
        f"#define LOGREG_N_CLASSES {n_classes}",
        *([OFFSET_MACRO] if g.offset else []),
        *(explain_macros(g) if g.explain is not None else []),
        "",
        "extern const char *const LOGREG_FEATURE_NAMES[];",
        "extern const char *const LOGREG_CATEGORICAL_NAMES[];",
        "extern const char *const LOGREG_CLASS_NAMES[];",
    ]
    if g.explain is not None:
        lines += [
            "extern const char *const LOGREG_COLUMN_NAMES[];  /* every input column: the rows of contributions */",
            "extern const float LOGREG_BASELINE_LOGIT[];  /* each logit at the baseline row (all contributions 0) */",
        ]
    lines += [
        "",
        f"/* Fills probabilities[LOGREG_N_CLASSES]; {decision}",
        "   features: LOGREG_N_FEATURES floats, NAN for a missing value"
        + (" (imputed with the training median)." if g.medians is not None else "."),
    ]
    if n_categorical:
        lines.append('   categories: LOGREG_N_CATEGORICAL NUL-terminated UTF-8 texts, "" for a missing value.')
    if g.offset:
        lines.append(
            f"   offset: added to the logit (the training's offset column {comment(g.offset_column)}); 0 for none."
        )
    lines[-1] += " */"
    lines.append(f"{signature};")
    if g.explain is not None:
        lines += ["", *explain_comment(g), f"{explain_signature(g)};"]
    lines += ["", "#ifdef LOGREG_IMPLEMENTATION", "#include <math.h>"]
    if n_categorical:
        lines.append("#include <string.h>")
    lines += [
        "",
        f"const char *const LOGREG_FEATURE_NAMES[] = {strings_literal(g.numeric_names)};",
        f"const char *const LOGREG_CATEGORICAL_NAMES[] = {strings_literal(g.categorical_names)};",
        f"const char *const LOGREG_CLASS_NAMES[] = {strings_literal(g.class_names)};",
        "",
        *_used_constant(g),
        f"static const float logreg_mean[{n_used}] = {floats_literal(g.mean[used])};",
        f"static const float logreg_inv_scale[{n_used}] = {floats_literal(1.0 / g.scale[used].astype(np.float64))};",
        f"static const float logreg_weight[{n_rows}][{n_used}] = {{"
        + ("  /* the second class's logit minus the first's */" if n_rows == 1 else ""),
        *[f"    {floats_literal(row)}," for row in weight[:, used]],
        "};",
        f"static const float logreg_bias[{n_rows}] = {floats_literal(bias)};",
    ]
    if g.medians is not None and n_numeric:
        lines.append(f"static const float logreg_median[{n_numeric}] = {floats_literal(g.medians)};")
    for j, (levels, kept) in enumerate(zip(g.levels, g.kept, strict=True)):
        if levels:
            lines.append(f"static const char *const logreg_levels_{j}[{len(levels)}] = {strings_literal(levels)};")
        if kept is not None:
            lines.append(f"static const char *const logreg_kept_{j}[{len(kept)}] = {strings_literal(kept)};")
    if g.explain is not None:
        lines += explain_constants(g)
    lines += ["", *_design_function(g), "", *_logits_function(g), ""]
    lines += [
        f"{signature}",
        "{",
        f"    float design[{n_design}], standardized[{n_design}], logits[{n_rows}];",
        *(_sigmoid_body(g) if n_rows == 1 else _softmax_body(n_classes, n_categorical)),
        "}",
    ]
    if g.explain is not None:
        lines += ["", *explain_function(g)]
    lines += ["#endif /* LOGREG_IMPLEMENTATION */", "#endif /* LOGREG_MODEL_H */", ""]
    return "\n".join(lines)


def _sigmoid_body(g: LinearGraph) -> list[str]:
    threshold = f"{g.threshold!r}f" if g.threshold != 0.5 else "0.5f"
    return [
        "    float e;",
        f"    logreg_design({design_arguments(len(g.categorical_names))});",
        "    logreg_logits(design, standardized, logits);",
        *([OFFSET_LINE] if g.offset else []),
        "    /* the sigmoid of the one logit: expf of minus its size, which never overflows */",
        "    e = expf(-fabsf(logits[0]));",
        "    probabilities[1] = logits[0] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);",
        "    probabilities[0] = logits[0] >= 0.0f ? e / (1.0f + e) : 1.0f / (1.0f + e);",
        f"    return probabilities[1] > {threshold} ? 1 : 0;"
        + ("  /* the model's decision threshold */" if g.threshold != 0.5 else ""),
    ]


def _softmax_body(n_classes: int, n_categorical: int) -> list[str]:
    return [
        "    float largest, total;",
        "    int k, best = 0;",
        f"    logreg_design({design_arguments(n_categorical)});",
        "    logreg_logits(design, standardized, logits);",
        "    /* softmax, stable: subtract the largest logit so that expf never overflows */",
        "    largest = logits[0];",
        f"    for (k = 1; k < {n_classes}; k++) {{",
        "        if (logits[k] > largest) largest = logits[k];",
        "    }",
        "    total = 0.0f;",
        f"    for (k = 0; k < {n_classes}; k++) {{",
        "        probabilities[k] = expf(logits[k] - largest);",
        "        total += probabilities[k];",
        "    }",
        f"    for (k = 0; k < {n_classes}; k++) {{",
        "        probabilities[k] /= total;",
        "        if (probabilities[k] > probabilities[best]) best = k;",
        "    }",
        "    return best;",
    ]


def _signature(n_categorical: int, offset: bool = False) -> str:
    arguments = ["const float *features"]
    if n_categorical:
        arguments.append("const char *const *categories")
    if offset:
        arguments.append("float offset")
    return f"int logreg_predict({', '.join([*arguments, 'float *probabilities'])})"


def _design_function(g: LinearGraph) -> list[str]:
    """``logreg_design``: the raw row as the graph's design row (imputed numbers, missing indicators, one-hot)."""
    n_numeric, n_categorical = len(g.numeric_names), len(g.categorical_names)
    texts = ", const char *const *categories" if n_categorical else ""
    loops = n_numeric > 0 or any(g.levels) or any(kept is not None for kept in g.kept)
    lines = [f"static void logreg_design(const float *features{texts}, float *design)", "{"]
    lines.append("    int d = 0" + (", k;" if loops else ";"))
    if not n_numeric:
        lines.append("    (void)features;  /* no numeric column */")
    if n_numeric:
        lines += [f"    for (k = 0; k < {n_numeric}; k++) {{"]
        if g.medians is not None:
            lines += ["        /* NaN is the only value not equal to itself */"]
            lines += ["        design[d++] = features[k] != features[k] ? logreg_median[k] : features[k];"]
        else:
            lines += ["        design[d++] = features[k];"]
        lines += ["    }"]
    for j in g.indicator_index:
        lines.append(f"    design[d++] = features[{j}] != features[{j}] ? 1.0f : 0.0f;  /* missing indicator */")
    for j, (levels, kept) in enumerate(zip(g.levels, g.kept, strict=True)):
        if levels:
            lines.append(
                f"    for (k = 0; k < {len(levels)}; k++) {{  /* {comment(g.categorical_names[j])}: one-hot */"
            )
            lines.append(f"        design[d++] = strcmp(categories[{j}], logreg_levels_{j}[k]) == 0 ? 1.0f : 0.0f;")
            lines.append("    }")
        if kept is not None:
            lines.append("    {  /* (other): none of the kept levels */")
            lines.append("        float seen = 0.0f;")
            lines.append(f"        for (k = 0; k < {len(kept)}; k++) {{")
            lines.append(f"            seen += strcmp(categories[{j}], logreg_kept_{j}[k]) == 0 ? 1.0f : 0.0f;")
            lines.append("        }")
            lines.append("        design[d++] = 1.0f - seen;")
            lines.append("    }")
    if not any(g.levels) and not any(kept is not None for kept in g.kept) and n_categorical:
        lines.append("    (void)categories;  /* no level has a design column */")
    lines += ["    (void)d;", "}"] if not loops else ["}"]
    return lines


def _used_constant(g: LinearGraph) -> list[str]:
    """``logreg_used``, the design columns a weight is not 0 for, when the graph drops the others (its Gather)."""
    if g.used is None:
        return []
    return [
        f"static const int logreg_used[{len(g.used)}] = {{{', '.join(str(int(d)) for d in g.used)}}};"
        f"  /* the {g.weight.shape[1] - len(g.used)} other design columns' weights are all 0: dropped */"
    ]


def _logits_function(g: LinearGraph) -> list[str]:
    """``logreg_logits``: standardization and the linear layer, the graph's Sub, Div (here a multiplication by the
    reciprocal) and Gemm; one logit for a binary model. Of a sparse graph's ``used`` columns only (its Gather),
    ``standardized[u]`` being design column ``logreg_used[u]``'s."""
    n_design, n_classes = g.weight.shape[1], linear_rows(g)[0].shape[0]
    column = "d" if g.used is None else "logreg_used[d]"
    lines = [
        "static void logreg_logits(const float *design, float *standardized, float *logits)",
        "{",
        "    int d, k;",
    ]
    if g.used is not None:  # the graph's guard: 0 * the row's sum, NaN when a value is not finite, else 0
        lines += [
            "    float unread = 0.0f;  /* a non-finite value in a column not read still makes the row NaN, as the",
            "                             graph's 0 * sum of the design row does */",
            f"    for (d = 0; d < {n_design}; d++) {{",
            "        unread += design[d];",
            "    }",
            "    unread *= 0.0f;",
        ]
    n_read = n_design if g.used is None else len(g.used)
    return [
        *lines,
        f"    for (d = 0; d < {n_read}; d++) {{",
        f"        standardized[d] = (design[{column}] - logreg_mean[d]) * logreg_inv_scale[d];",
        "    }",
        f"    for (k = 0; k < {n_classes}; k++) {{",
        "        float sum = logreg_bias[k];",
        f"        for (d = 0; d < {n_read}; d++) {{",
        "            sum += logreg_weight[k][d] * standardized[d];",
        "        }",
        "        logits[k] = sum;" if g.used is None else "        logits[k] = sum + unread;",
        "    }",
        "}",
    ]
