"""``logreg export --c``: the verified ONNX graph as dependency-free C99 (``model.h``), and its proof.

The code is generated from the graph's own initializers (not from the PyTorch model), so it computes what the
verified file computes: imputation (``pre_medians``, ``pre_indicator_index``), one-hot levels (``pre_catJ_levels``,
``pre_catJ_kept``), standardization (``mean``, ``scale``), the linear layer (``linear.weight``, ``linear.bias``) and a
softmax that subtracts the largest logit first. Everything is float32, as in the graph; no dynamic memory.

``model.h`` is a single-header library: every file may include it for the declarations, and exactly one defines
``LOGREG_IMPLEMENTATION`` first to get the definitions (the stb convention), so no unused-static warning appears.
A model with categorical columns takes their texts (NUL-terminated, "" for a missing value) in a third argument; the
function compares them with the training levels, as the graph does (an unseen text counts as ``(other)`` when the
column has that level, else it sets no column).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from logreg_onnx.runtime import contract
from onnx import numpy_helper

HEADER_NAME = "model.h"


@dataclass(frozen=True)
class LinearGraph:
    """The numbers of an exported graph, read back from its initializers."""

    numeric_names: list[str]
    categorical_names: list[str]
    class_names: list[str]
    medians: np.ndarray | None  # float32 (n_numeric,), NaN where a column has no median
    indicator_index: list[int]
    levels: list[list[str]]  # per categorical column: the one-hot levels, in design order
    kept: list[list[str] | None]  # per categorical column: the known levels when it has an "(other)" column
    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray  # (n_classes, n_design)
    bias: np.ndarray
    threshold: float  # a binary model's decision threshold on the second class's probability


def read_graph(model_bytes: bytes) -> LinearGraph:
    """The weights of a graph written by this exporter (its node layout is checked, not assumed)."""
    proto = onnx.load_from_string(model_bytes)
    graph = proto.graph
    ops = [node.op_type for node in graph.node]
    label = "ArgMax" in ops or ("Greater" in ops and "Cast" in ops)  # argmax, or a threshold on the 2nd class
    if not ({"Gemm", "Softmax", "Sub", "Div"} <= set(ops) and label):
        raise ValueError(f"not a logreg-onnx linear graph: its operators are {ops}")
    gemm = next(node for node in graph.node if node.op_type == "Gemm")
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in gemm.attribute}
    if attributes.get("transB") != 1 or attributes.get("alpha", 1.0) != 1.0 or attributes.get("beta", 1.0) != 1.0:
        raise ValueError(f"unexpected Gemm attributes {attributes}")
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    metadata = {p.key: p.value for p in proto.metadata_props}
    columns = contract.columns_of(metadata)
    numeric = [c.name for c in columns if c.kind == "numeric"]
    categorical = [c.name for c in columns if c.kind == "categorical"]
    levels, kept = [], []
    for j in range(len(categorical)):
        found = values.get(f"pre_cat{j}_levels")
        levels.append([] if found is None else [_text(v) for v in found.tolist()])
        other = values.get(f"pre_cat{j}_kept")
        kept.append(None if other is None else [_text(v) for v in other.tolist()])
    medians = values.get("pre_medians")
    return LinearGraph(
        numeric_names=numeric,
        categorical_names=categorical,
        class_names=json.loads(metadata[contract.KEY_CLASS_NAMES]),
        medians=None if medians is None else medians.astype(np.float32),
        indicator_index=[int(v) for v in values.get("pre_indicator_index", np.zeros(0, np.int64)).tolist()],
        levels=levels,
        kept=kept,
        mean=values["mean"].astype(np.float32),
        scale=values["scale"].astype(np.float32),
        weight=values["linear.weight"].astype(np.float32),
        bias=values["linear.bias"].astype(np.float32),
        threshold=float(metadata.get(contract.KEY_THRESHOLD, "0.5")),
    )


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def generate(model_bytes: bytes) -> str:
    """``model.h`` for the graph in ``model_bytes``."""
    g = read_graph(model_bytes)
    n_numeric, n_categorical = len(g.numeric_names), len(g.categorical_names)
    n_design, n_classes = g.weight.shape[1], g.weight.shape[0]
    signature = _signature(n_categorical)
    headers = "<math.h> (expf) and <string.h> (strcmp)" if n_categorical else "<math.h> (expf)"
    if n_classes == 2 and g.threshold != 0.5:  # as the graph's label, and the code below
        decision = f"returns 1 (the second class) when probabilities[1] > {g.threshold!r}, else 0 (the threshold)."
    else:
        decision = "returns the index of the most probable class (the first on a tie)."
    lines = [
        f"/* model.h: generated by logreg-onnx from a verified ONNX graph. C99, no dynamic memory; {headers}.",
        f" * {n_numeric} numeric feature(s), {n_categorical} categorical, {n_classes} classes.",
        ' * In exactly one .c file: #define LOGREG_IMPLEMENTATION before #include "model.h". */',
        "#ifndef LOGREG_MODEL_H",
        "#define LOGREG_MODEL_H",
        "",
        f"#define LOGREG_N_FEATURES {n_numeric}  /* numeric, in LOGREG_FEATURE_NAMES order (NAN: missing) */",
        f"#define LOGREG_N_CATEGORICAL {n_categorical}  /* texts, in LOGREG_CATEGORICAL_NAMES order */",
        f"#define LOGREG_N_CLASSES {n_classes}",
        "",
        "extern const char *const LOGREG_FEATURE_NAMES[];",
        "extern const char *const LOGREG_CATEGORICAL_NAMES[];",
        "extern const char *const LOGREG_CLASS_NAMES[];",
        "",
        f"/* Fills probabilities[LOGREG_N_CLASSES]; {decision}",
        "   features: LOGREG_N_FEATURES floats, NAN for a missing value"
        + (" (imputed with the training median)." if g.medians is not None else "."),
    ]
    if n_categorical:
        lines.append('   categories: LOGREG_N_CATEGORICAL NUL-terminated UTF-8 texts, "" for a missing value.')
    lines[-1] += " */"
    lines += [f"{signature};", "", "#ifdef LOGREG_IMPLEMENTATION", "#include <math.h>"]
    if n_categorical:
        lines.append("#include <string.h>")
    lines += [
        "",
        f"const char *const LOGREG_FEATURE_NAMES[] = {_strings(g.numeric_names)};",
        f"const char *const LOGREG_CATEGORICAL_NAMES[] = {_strings(g.categorical_names)};",
        f"const char *const LOGREG_CLASS_NAMES[] = {_strings(g.class_names)};",
        "",
        f"static const float logreg_mean[{n_design}] = {_floats(g.mean)};",
        f"static const float logreg_scale[{n_design}] = {_floats(g.scale)};",
        f"static const float logreg_weight[{n_classes}][{n_design}] = {{",
        *[f"    {_floats(row)}," for row in g.weight],
        "};",
        f"static const float logreg_bias[{n_classes}] = {_floats(g.bias)};",
    ]
    if g.medians is not None and n_numeric:
        lines.append(f"static const float logreg_median[{n_numeric}] = {_floats(g.medians)};")
    for j, (levels, kept) in enumerate(zip(g.levels, g.kept, strict=True)):
        if levels:
            lines.append(f"static const char *const logreg_levels_{j}[{len(levels)}] = {_strings(levels)};")
        if kept is not None:
            lines.append(f"static const char *const logreg_kept_{j}[{len(kept)}] = {_strings(kept)};")
    lines += ["", f"{signature}", "{", f"    float design[{n_design}];", f"    float logits[{n_classes}];"]
    lines += ["    float largest, total;", "    int d = 0, k, best = 0;"]
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
                f"    for (k = 0; k < {len(levels)}; k++) {{  /* {_comment(g.categorical_names[j])}: one-hot */"
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
    lines += [
        f"    for (d = 0; d < {n_design}; d++) {{",
        "        design[d] = (design[d] - logreg_mean[d]) / logreg_scale[d];",
        "    }",
        f"    for (k = 0; k < {n_classes}; k++) {{",
        "        float sum = logreg_bias[k];",
        f"        for (d = 0; d < {n_design}; d++) {{",
        "            sum += logreg_weight[k][d] * design[d];",
        "        }",
        "        logits[k] = sum;",
        "    }",
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
        *(
            [f"    best = probabilities[1] > {g.threshold!r}f ? 1 : 0;  /* the model's decision threshold */"]
            if n_classes == 2 and g.threshold != 0.5
            else []
        ),
        "    return best;",
        "}",
        "#endif /* LOGREG_IMPLEMENTATION */",
        "#endif /* LOGREG_MODEL_H */",
        "",
    ]
    return "\n".join(lines)


def _signature(n_categorical: int) -> str:
    if n_categorical:
        return "int logreg_predict(const float *features, const char *const *categories, float *probabilities)"
    return "int logreg_predict(const float *features, float *probabilities)"


def _floats(values) -> str:
    """A C initializer of float32 values, each written with 9 significant digits (enough to round-trip float32)."""
    cells = []
    for value in np.asarray(values, dtype=np.float32).tolist():
        if math.isnan(value):
            cells.append("NAN")  # a median of a column without one: never read (such a column has no NaN imputed)
        else:
            cells.append(f"{value:.9g}f" if "." in f"{value:.9g}" or "e" in f"{value:.9g}" else f"{value:.9g}.0f")
    return "{" + ", ".join(cells) + "}" if cells else "{0}"


def _strings(texts: list[str]) -> str:
    return "{" + ", ".join(c_string(t) for t in texts) + "}" if texts else "{0}"


def c_string(text: str) -> str:
    """A C string literal of ``text``'s UTF-8 bytes: printable ASCII as is, every other byte as an octal escape
    (three digits, so a following digit is never read as part of it)."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\?':  # ? too: "??" starts a trigraph
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _comment(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_ .()-]", "?", text)[:60]


# -- proof: compile with a harness that replays the test vectors ---------------------------------------------
COMPILE_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def find_compiler() -> str | None:
    return next((found for name in ("cc", "gcc", "clang") if (found := shutil.which(name))), None)


def harness(header: str, cases: list[dict], n_categorical: int) -> str:
    """A C program that includes ``header`` and prints one line of probabilities (%.9g) per test-vector case."""
    rows, texts = [], []
    for case in cases:
        rows.append("{" + ", ".join("NAN" if v is None else f"{float(v):.17g}" for v in case["features"]) + "}")
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
    call = "logreg_predict(rows[i], texts[i], p)" if n_categorical else "logreg_predict(rows[i], p)"
    lines += [
        "",
        "int main(void)",
        "{",
        "    float p[LOGREG_N_CLASSES];",
        "    int i, k;",
        f"    for (i = 0; i < {len(cases)}; i++) {{",
        f"        int label = {call};",
        '        printf("%d", label);',
        '        for (k = 0; k < LOGREG_N_CLASSES; k++) printf(" %.9g", (double)p[k]);',
        '        printf("\\n");',
        "    }",
        "    return 0;",
        "}",
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class CProof:
    compiler: str | None
    passed: bool | None  # None: no compiler found
    cases: int = 0
    max_abs_diff: float = 0.0
    object_bytes: int | None = None
    detail: str = ""


def prove(header_text: str, testvectors: dict, compiler: str | None = None) -> CProof:
    """Compile ``header_text`` with a harness replaying ``testvectors`` and check every case by the vectors' own rule
    (labels equal unless the top two are within 2*atol; every probability within atol)."""
    compiler = compiler or find_compiler()
    if compiler is None:
        return CProof(None, None, detail="no C compiler found (cc, gcc or clang)")
    cases = testvectors["cases"]
    atol = float(testvectors["atol"])
    n_categorical = len(cases[0].get("categories", [])) if cases else 0
    with tempfile.TemporaryDirectory(prefix="logreg-c-") as folder:
        work = Path(folder)
        (work / HEADER_NAME).write_text(header_text)
        (work / "harness.c").write_text(harness(HEADER_NAME, cases, n_categorical))
        (work / "object.c").write_text(f'#define LOGREG_IMPLEMENTATION\n#include "{HEADER_NAME}"\n')
        build = subprocess.run(
            [compiler, *COMPILE_FLAGS, "-O2", "harness.c", "-o", "harness", "-lm"],
            cwd=work,
            capture_output=True,
            text=True,
        )
        if build.returncode != 0:
            return CProof(compiler, False, detail=f"compiling failed: {build.stderr.strip()[:2000]}")
        size = subprocess.run(
            [compiler, *COMPILE_FLAGS, "-Os", "-c", "object.c", "-o", "object.o"], cwd=work, capture_output=True
        )
        object_bytes = _text_and_data(work / "object.o") if size.returncode == 0 else None
        run = subprocess.run([str(work / "harness")], capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        return CProof(compiler, False, detail=f"the harness exited with {run.returncode}")
    worst, failures = 0.0, []
    outputs = run.stdout.split("\n")
    for i, case in enumerate(cases):
        label, *probabilities = outputs[i].split()
        got = np.array([float(v) for v in probabilities])
        expected = np.array(case["probabilities"])
        diff = float(np.abs(got - expected).max())
        worst = max(worst, diff)
        top = np.sort(expected)[-2:]
        tie = len(top) == 2 and top[1] - top[0] <= 2 * atol
        if diff > atol or (int(label) != case["label"] and not tie):
            failures.append(f"case {i} ({case['group']}): label {label} vs {case['label']}, max difference {diff:.2e}")
    return CProof(
        compiler,
        not failures,
        cases=len(cases),
        max_abs_diff=worst,
        object_bytes=object_bytes,
        detail="; ".join(failures[:3]),
    )


def _text_and_data(path: Path) -> int | None:
    """Code and constant bytes of an object file (``size``'s text + data + bss), or None without binutils."""
    tool = shutil.which("size")
    if tool is None:
        return None
    out = subprocess.run([tool, str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    text, data, bss = (int(v) for v in out.stdout.splitlines()[1].split()[:3])
    return text + data + bss
