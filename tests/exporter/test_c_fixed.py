"""``logreg export --c-fixed``: the integer-only header has no floating type, compiles warning-free, and reproduces
onnxruntime within the bound it states (the test vectors and 10,000 random rows: missing values, unseen and folded
levels), for binary, thresholded, multiclass and categorical models and one trained with an offset (taken as an
integer after the inputs) at 16 and 32 bits; a wrong generator fails the proof; two prefixed headers link into one
program; on Cortex-M0 the example model fits 2 KB of flash."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd
import pytest
from click.testing import CliRunner
from logreg_onnx.exporter import c_code, c_fixed, c_fixed_plan, c_fixed_proof, c_size
from logreg_onnx.runtime import contract

from logreg_onnx.cli import main

from ..conftest import BREAST_CANCER, EXAMPLE_MODEL_DIR, PENGUINS

pytestmark = pytest.mark.skipif(c_code.find_compiler() is None, reason="no C compiler (cc, gcc or clang) installed")


def _train(folder: Path, data: Path, *args: str) -> Path:
    run = folder / "run"
    result = CliRunner().invoke(main, ["train", str(data), *args, "--out", str(run), "-q", "--export"])
    assert result.exit_code == 0, result.output
    return run


def _offset_data(folder: Path) -> Path:
    """Five of breast cancer's columns, a text column and a known offset column ``prior`` (seeded), as
    tests/exporter/test_offset_export.py trains with."""
    columns = ["mean_radius", "mean_texture", "mean_smoothness", "mean_symmetry", "mean_fractal_dimension"]
    frame = pd.read_csv(BREAST_CANCER)[[*columns, "diagnosis"]]
    rng = np.random.default_rng(5)
    frame["site"] = rng.choice(["left", "right", "both"], len(frame))
    frame["prior"] = np.round(rng.normal(0.0, 1.0, len(frame)), 4)
    frame.to_csv(folder / "offset.csv", index=False)
    return folder / "offset.csv"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, penguins_run_master, multiclass_run_master) -> dict[str, Path]:
    """Folders holding model.onnx and model.testvectors.json."""
    offset = tmp_path_factory.mktemp("offset")
    return {
        "binary": EXAMPLE_MODEL_DIR,
        "threshold": _train(
            tmp_path_factory.mktemp("threshold"), BREAST_CANCER, "--label", "diagnosis", "--threshold", "0.3"
        ),
        "penguins": penguins_run_master,
        "penguins-other": _train(
            tmp_path_factory.mktemp("other"), PENGUINS, "--label", "species", "--min-frequency", "60"
        ),
        "multiclass": multiclass_run_master,
        "offset": _train(offset, _offset_data(offset), "--label", "diagnosis", "--offset", "prior", "--l2", "0"),
    }


def _model(run: Path) -> tuple[bytes, dict]:
    return (run / "model.onnx").read_bytes(), json.loads((run / "model.testvectors.json").read_text())


def _compile(folder: Path, sources: list[str]) -> str:
    """Build the C files in ``folder`` the strict way and run the program: its output."""
    build = [c_code.find_compiler(), *c_code.COMPILE_FLAGS, "-O2", *sources, "-o", "program"]
    subprocess.run(build, cwd=folder, check=True)
    return subprocess.run([str(folder / "program")], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("bits", [32, 16])
@pytest.mark.parametrize("which", ["binary", "threshold", "penguins", "penguins-other", "multiclass", "offset"])
def test_fixed_header_matches_onnxruntime_within_its_bound(which, bits, runs):
    model_bytes, vectors = _model(runs[which])
    header = c_fixed.generate(model_bytes, bits=bits)
    proof = c_fixed.prove(header, vectors, model_bytes)
    assert proof.passed, proof.detail
    assert proof.random_rows == 10_000 and proof.cases + len(proof.skipped) == len(vectors["cases"])
    assert proof.cases >= len(vectors["cases"]) // 2  # the vectors' far-out groups (x1000, x10000) are skipped
    assert all("outside" in why for why in proof.skipped)
    assert f"#define LOGREG_MAX_PROBABILITY_ERROR {round(proof.bound * 65536)} " in header
    assert 0 < proof.max_abs_diff <= proof.bound and 0 < proof.random_max_abs_diff <= proof.bound
    n_classes = len(vectors["class_names"])
    if bits == 32:  # the target is 2e-3; the softmax's Q16 roundings are about n_classes + 3 units
        assert proof.bound <= (n_classes + 4) / 65536 < 2e-3
    elif which == "multiclass":  # a column of mean 20 and scale 0.01: 16 bits reaching 20 step 0.1 of its scale
        assert proof.bound <= 0.15
    else:
        assert proof.bound <= 1e-2


def test_the_bounds_of_the_example_models(runs):
    """The numbers the header states for the example and penguin models (a change of design shows here)."""
    bounds = {}
    for which in ("binary", "penguins"):
        model_bytes, _ = _model(runs[which])
        for bits in (32, 16):
            text = c_fixed.generate(model_bytes, bits=bits)
            bounds[which, bits] = int(re.search(r"MAX_PROBABILITY_ERROR (\d+)", text).group(1))
    assert bounds[("binary", 32)] <= 6 and bounds[("penguins", 32)] <= 7  # Q16 units: under 1e-4
    assert bounds[("binary", 16)] <= 200 and bounds[("penguins", 16)] <= 350


@pytest.mark.parametrize("which", ["binary", "penguins", "penguins-other", "offset"])
def test_no_floating_point_in_the_header(which, runs):
    model_bytes, _ = _model(runs[which])
    for bits in (16, 32):
        text = c_fixed.generate(model_bytes, bits=bits)
        assert not re.search(r"\b(float|double)\b|math\.h|\bexpf?\s*\(", text)
        assert set(re.findall(r"^#include (<[a-z]+\.h>)", text, re.M)) == (
            {"<stdint.h>", "<string.h>"} if which != "binary" else {"<stdint.h>"}
        )


def test_the_comment_states_the_decision_and_the_ranges(runs):
    model_bytes, _ = _model(runs["threshold"])
    text = c_fixed.generate(model_bytes)
    comment = text[: text.index("*/")]
    assert "returns 1 (the second class) when probabilities[1] > 19660 (the threshold 0.3 in Q16" in comment
    assert "best = probabilities[1] > 19660 ? 1 : 0;" in text  # floor(0.3 * 65536): p > 19660 is p > 0.3
    assert re.search(r"0 mean_radius: shift 23, \[-256, 256\], step 1\.19e-07", comment)
    assert "Q16" in comment and "LOGREG_MAX_PROBABILITY_ERROR / 65536" in comment
    multiclass = c_fixed.generate(_model(runs["penguins"])[0])
    assert "most probable class (the first on a tie)" in multiclass and "probabilities[1] >" not in multiclass


@pytest.mark.parametrize("bits", [32, 16])
def test_the_offset_is_an_integer_after_the_inputs_and_a_wrong_offset_term_fails(bits, runs):
    """The offset as round(offset * 2^LOGREG_OFFSET_SHIFT) (the shift fixed by the width), added to the one logit's
    sum; the proof replays every vector's offset (and random ones), so that the term dropped, or subtracted, fails
    it. A model without an offset has none of it."""
    model_bytes, vectors = _model(runs["offset"])
    header = c_fixed.generate(model_bytes, bits=bits)
    shift = {32: 24, 16: 10}[bits]
    assert f"const char *const *categories, int{bits}_t offset, int32_t *probabilities)" in header
    assert f"#define LOGREG_OFFSET_SHIFT {shift} " in header and "#define LOGREG_HAS_OFFSET 1 " in header
    assert f"#define LOGREG_OFFSET_TO_FIXED(x) ((int{bits}_t)((x) * 0x1p{shift} + " in header
    reach = 2 ** (bits - 1 - shift)
    assert "Offset (the training's offset column prior)" in header and f"shift {shift}, [-{reach}, " in header
    assert any(case["offset"] != 0 for case in vectors["cases"])
    term = re.search(r"^        sum \+= (.*offset.*);  /\* the offset.*$", header, re.M)
    for wrong in (
        header.replace(term.group(0), "        (void)offset;"),
        header.replace("sum += " + term[1], "sum -= " + term[1]),
    ):
        assert wrong != header
        proof = c_fixed.prove(wrong, vectors, model_bytes)
        assert proof.passed is False and "max difference" in proof.detail, proof.detail
    assert c_fixed.prove(header, vectors, model_bytes).passed
    assert "offset" not in c_fixed.generate(_model(runs["binary"])[0], bits=bits)


def _bias_off(text: str) -> str:
    """The (last) row's bias a 64th of a base-2 logit too large."""
    found = re.search(r"(_bias\[\d+\] = \{.*?)(-?\d+)\)?\}", text)
    exponent = int(re.search(r"summed at 2\^-(\d+)", text).group(1))
    value = int(found.group(2)) + 2 ** (exponent - 6)
    return text[: found.start(2)] + str(value) + text[found.end(2) :]


def _weight_off(text: str) -> str:
    """One weight (the second row's or the first's, the first column) 2% off."""
    found = re.search(r"_weight\[\d+\]\[\d+\] = \{\n    \{(-?\d+),", text)
    return text[: found.start(1)] + str(int(int(found.group(1)) * 1.02)) + text[found.end(1) :]


def _table_off(text: str) -> str:
    """One entry of the 2^-x table 0.1% off."""
    found = re.search(r"_exp2_table\[33\] = \{(?:\d+, ){16}(\d+)", text)
    return text[: found.start(1)] + str(int(found.group(1)) + 64) + text[found.end(1) :]


def _garbage(text: str) -> str:
    """Probabilities twice what they are: above 1 for the largest."""
    return text.replace("(int32_t)((e[k] * inverse) >> 16)", "(int32_t)((e[k] * inverse) >> 15)")


def _bound_claimed_larger(text: str) -> str:
    return re.sub(r"(MAX_PROBABILITY_ERROR )(\d+)", lambda m: m.group(1) + str(int(m.group(2)) * 100), text, count=1)


@pytest.mark.parametrize(
    ("wrong", "why"),
    [
        (_bias_off, "max difference"),
        (_weight_off, "max difference"),
        (_table_off, "max difference"),
        (_garbage, "a probability outside [0, 1]"),
        (_bound_claimed_larger, "the header states bound"),
    ],
)
@pytest.mark.parametrize("which", ["binary", "penguins"])
def test_a_wrong_header_fails_the_proof(wrong, why, which, runs):
    model_bytes, vectors = _model(runs[which])
    right = c_fixed.generate(model_bytes)
    header = wrong(right)
    assert header != right
    proof = c_fixed.prove(header, vectors, model_bytes)
    assert proof.passed is False and why in proof.detail, proof.detail
    assert c_fixed.prove(right, vectors, model_bytes).passed


def test_a_wrong_generator_constant_fails_the_proof(runs, monkeypatch):
    """log2(e) a thousandth off: the header and the bound agree with each other, not with onnxruntime."""
    model_bytes, vectors = _model(runs["penguins"])
    monkeypatch.setattr(c_fixed_plan, "LOG2E", c_fixed_plan.LOG2E * 1.001)
    proof = c_fixed.prove(c_fixed.generate(model_bytes), vectors, model_bytes)
    assert proof.passed is False and "max difference" in proof.detail


def test_the_divide_instruction_path_passes_too(runs):
    """Where ACLE says there is a divide instruction (Cortex-M3, M4) the reciprocal is one division: the same."""
    for which in ("binary", "penguins"):
        model_bytes, vectors = _model(runs[which])
        header = c_fixed.generate(model_bytes).replace("#ifdef __ARM_FEATURE_IDIV", "#if 1")
        assert "#if 1\n    return UINT32_C(0xFFFFFFFF) / total;" in header
        assert c_fixed.prove(header, vectors, model_bytes).passed


def test_without_a_compiler_the_proof_is_not_run(runs, monkeypatch):
    model_bytes, vectors = _model(runs["binary"])
    monkeypatch.setattr(c_fixed_proof, "find_compiler", lambda: None)
    proof = c_fixed.prove(c_fixed.generate(model_bytes), vectors, model_bytes)
    assert proof.passed is None and "no C compiler" in proof.detail


@pytest.mark.parametrize("prefix", ["9lives", "a-b", "", "with space"])
def test_a_bad_prefix_is_refused(prefix, runs):
    model_bytes, vectors = _model(runs["binary"])
    with pytest.raises(ValueError, match="expected a C identifier"):
        c_fixed.generate(model_bytes, prefix=prefix)
    with pytest.raises(ValueError, match="expected a C identifier"):
        c_fixed.prove("", vectors, model_bytes, prefix=prefix)


def test_bits_other_than_16_or_32_are_refused(runs):
    with pytest.raises(ValueError, match="bits must be 16 or 32, got 8"):
        c_fixed.generate(_model(runs["binary"])[0], bits=8)


def _onnxruntime(model_bytes: bytes, numeric: list, texts: list | None) -> tuple[int, np.ndarray]:
    """The graph's label and probabilities for one row (None: a missing number)."""
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    feed = {contract.INPUT_NAME: np.array([[np.nan if v is None else v for v in numeric]], dtype=np.float32)}
    if texts is not None:
        feed[contract.CATEGORIES_INPUT] = np.array([texts], dtype=object)
    label, probabilities = session.run([contract.LABEL_OUTPUT, contract.PROBABILITIES_OUTPUT], feed)
    return int(label[0]), probabilities[0].astype(np.float64)


def _literal(value: float) -> str:
    """A C double literal of the float32 value onnxruntime is given."""
    return f"{float(np.float32(value)):.17g}"


def test_two_prefixed_headers_link_into_one_program(runs, tmp_path):
    """The breast-cancer model as ``cancer`` (32 bits) and the penguins as ``penguin`` (16 bits): main.c includes
    both headers' declarations, models.c both implementations; rows written with each header's TO_FIXED macro
    (compile-time constants) and MISSING; each answer is its own model's, by onnxruntime, within its bound."""
    cancer_bytes, cancer_vectors = _model(runs["binary"])
    penguin_bytes, _ = _model(runs["penguins"])
    (tmp_path / "cancer.h").write_text(c_fixed.generate(cancer_bytes, prefix="cancer", bits=32))
    (tmp_path / "penguin.h").write_text(c_fixed.generate(penguin_bytes, prefix="penguin", bits=16))
    cancer_row = next(c for c in cancer_vectors["cases"] if c["group"] == "training data")["features"]
    penguin_rows = [
        ([39.1, 18.7, 181.0, 3750.0, 2007.0], ["Torgersen", "male"]),
        ([46.5, None, 210.0, None, 2009.0], ["Biscoe", ""]),  # missing numbers, a missing text
        ([50.0, 15.0, 220.0, 5200.0, None], ["Atlantis", "unknown"]),  # unseen texts
    ]
    lines = ['#include "cancer.h"', '#include "penguin.h"', "#include <stdio.h>", ""]
    values = ", ".join(f"CANCER_TO_FIXED({_literal(v)}, {j})" for j, v in enumerate(cancer_row))
    lines.append(f"static const int32_t cancer_row[CANCER_N_FEATURES] = {{{values}}};")
    lines.append("static int32_t cancer_missing[CANCER_N_FEATURES];")
    for i, (numbers, texts) in enumerate(penguin_rows):
        cells = ", ".join(
            "PENGUIN_MISSING" if v is None else f"PENGUIN_TO_FIXED({_literal(v)}, {j})" for j, v in enumerate(numbers)
        )
        lines.append(f"static const int16_t penguin_row_{i}[PENGUIN_N_FEATURES] = {{{cells}}};")
        lines.append(
            f"static const char *const penguin_texts_{i}[2] = {{{', '.join(c_code.c_string(t) for t in texts)}}};"
        )
    lines += [
        "",
        "static void show(int label, const int32_t *p, int n)",
        "{",
        "    int k;",
        '    printf("%d", label);',
        '    for (k = 0; k < n; k++) printf(" %ld", (long)p[k]);',
        '    printf("\\n");',
        "}",
        "",
        "int main(void)",
        "{",
        "    int32_t p[3];",
        "    int d;",
        "    for (d = 0; d < CANCER_N_FEATURES; d++) cancer_missing[d] = cancer_row[d];",
        "    cancer_missing[2] = CANCER_MISSING;  /* the cancer model does not impute */",
        "    show(cancer_predict(cancer_row, p), p, CANCER_N_CLASSES);",
        "    show(cancer_predict(cancer_missing, p), p, CANCER_N_CLASSES);",
        *[
            f"    show(penguin_predict(penguin_row_{i}, penguin_texts_{i}, p), p, PENGUIN_N_CLASSES);"
            for i in range(len(penguin_rows))
        ],
        "    return 0;",
        "}",
        "",
    ]
    (tmp_path / "main.c").write_text("\n".join(lines))
    models = (
        '#define CANCER_IMPLEMENTATION\n#include "cancer.h"\n#define PENGUIN_IMPLEMENTATION\n#include "penguin.h"\n'
    )
    (tmp_path / "models.c").write_text(models)
    printed = [[int(v) for v in line.split()] for line in _compile(tmp_path, ["main.c", "models.c"]).splitlines()]
    assert printed[1] == [-1, 0, 0]  # a missing value where there is no median: refused, not guessed

    cancer_bound = int(re.search(r"CANCER_MAX_PROBABILITY_ERROR (\d+)", (tmp_path / "cancer.h").read_text())[1])
    penguin_bound = int(re.search(r"PENGUIN_MAX_PROBABILITY_ERROR (\d+)", (tmp_path / "penguin.h").read_text())[1])
    expected = [(*_onnxruntime(cancer_bytes, cancer_row, None), cancer_bound)]
    expected += [(*_onnxruntime(penguin_bytes, numbers, texts), penguin_bound) for numbers, texts in penguin_rows]
    for got, (label, probabilities, bound) in zip([printed[0], *printed[2:]], expected, strict=True):
        assert got[0] == label
        assert np.abs(np.array(got[1:]) / 65536 - probabilities).max() <= bound / 65536 + 1e-6  # float32's own


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc installed")
def test_the_example_model_fits_2_kb_of_flash_on_cortex_m0():
    model_bytes = (EXAMPLE_MODEL_DIR / "model.onnx").read_bytes()
    shape = {"prefix": "logreg", "n_categorical": 0, "n_features": 30}
    fixed = c_size.size_report(c_fixed.generate(model_bytes), fixed=True, **shape)
    floating = c_size.size_report(c_code.generate(model_bytes), fixed=False, **shape)
    rows = {(r["target"], r["header"]): r for r in fixed + floating}
    assert set(rows) == {(t, h) for t in c_size.TARGETS for h in ("fixed", "float", "baseline")}

    def flash(row: dict) -> int:
        return row["program_text"] + row["program_data"]

    for target in c_size.TARGETS:
        assert flash(rows[target, "fixed"]) < flash(rows[target, "float"])
        assert rows[target, "baseline"]["function_text"] == 0 < rows[target, "fixed"]["function_text"]
        assert flash(rows[target, "baseline"]) < flash(rows[target, "fixed"])
    assert flash(rows["cortex-m0", "fixed"]) <= 2048  # the target, newlib-nano's start-up code included
    assert flash(rows["cortex-m0", "float"]) > 6000  # soft-float and expf


def test_without_the_arm_compiler_there_is_no_size_report(monkeypatch):
    monkeypatch.setattr(c_size.shutil, "which", lambda name: None)
    report = c_size.size_report("", prefix="logreg", fixed=True, n_categorical=0, n_features=1)
    assert report is None


@pytest.mark.parametrize("bits", ["32", "16"])
def test_the_export_writes_the_integer_only_header_and_its_size_report(bits, binary_run):
    result = CliRunner().invoke(main, ["export", str(binary_run), "--c-fixed", "--c-bits", bits])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith(f"C99 int{bits} model_fixed.h"))
    assert "pass" in row and "10,000 random rows" in row and "within its stated bound" in row, row
    header = (binary_run / "model_fixed.h").read_text()
    assert f"#define LOGREG_BITS {bits}" in header and not re.search(r"\b(float|double)\b", header)
    if shutil.which("arm-none-eabi-gcc"):
        assert "cortex-m0, integer-only header (arm-none-eabi-gcc -Os): logreg_predict" in result.output


def test_the_export_fails_closed_when_the_integer_header_is_wrong(binary_run, monkeypatch):
    real = c_fixed.generate

    def broken(model_bytes, **options):
        text = real(model_bytes, **options)
        bias = re.compile(r"(logreg_bias\[1\] = \{INT64_C\()(-?\d+)")  # the one logit's bias, moved by 2^-8 of a logit
        wrong = bias.sub(lambda m: m.group(1) + str(int(m.group(2)) + 2**40), text)
        assert wrong != text
        return wrong

    monkeypatch.setattr(c_fixed, "generate", broken)
    (binary_run / "model.onnx").unlink()
    result = CliRunner().invoke(main, ["export", str(binary_run), "--c-fixed"])
    assert result.exit_code == 1, result.output
    assert "C99 int32 model_fixed.h" in result.output and "FAIL" in result.output
    assert not (binary_run / "model.onnx").exists() and not (binary_run / "model_fixed.h").exists()


def test_a_model_the_integers_cannot_hold_fails_closed_in_one_line(binary_run, monkeypatch):
    """A plan that cannot be made (c_fixed_plan.FixedPointError: logits too large for 16 bits) is a failed check
    of the export, said in the table, not a traceback: nothing is written."""

    def too_large(g, bits):
        raise c_fixed_plan.FixedPointError("the model's logits are too large for 16-bit integers; --c-bits 32 has room")

    monkeypatch.setattr(c_fixed, "plan_of", too_large)
    (binary_run / "model.onnx").unlink(missing_ok=True)
    result = CliRunner().invoke(main, ["export", str(binary_run), "--c-fixed", "--c-bits", "16"])
    assert result.exit_code == 1, result.output
    assert "the integer-only header cannot be made: the model's logits are too large" in result.output
    assert "Traceback" not in result.output and not (binary_run / "model.onnx").exists()


def test_a_size_report_that_cannot_be_made_is_a_note(binary_run, monkeypatch):
    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc is not installed (make test-deps installs it)")

    def failing(work, command):
        raise c_size.SizeReportError("arm-none-eabi-ld exited 1: out of memory")

    monkeypatch.setattr(c_size, "_build", failing)
    result = CliRunner().invoke(main, ["export", str(binary_run), "--c-fixed"])
    assert result.exit_code == 0, result.output
    assert "no Cortex-M size report for the integer-only header: arm-none-eabi-ld exited 1" in result.output
    assert (binary_run / "model_fixed.h").is_file()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--c-prefix", "churn"], "'churn' names the C headers' symbols, and none is asked for: add --c or --c-fixed"),
        (["--c-bits", "16"], "16 is the integer-only header's width, which is not asked for: add --c-fixed"),
        (["--c", "--c-prefix", "_churn"], "starting with a letter: C reserves a leading _"),
        (["--c", "--c-prefix", "LogReg"], "'LogReg' gives the default header's macros and include guard (LOGREG_*)"),
    ],
)
def test_a_header_option_without_its_header_or_a_colliding_prefix_is_refused(args, said, binary_run):
    result = CliRunner().invoke(main, ["export", str(binary_run), *args])
    assert result.exit_code == 2, result.output
    assert said in result.output and "Traceback" not in result.output
