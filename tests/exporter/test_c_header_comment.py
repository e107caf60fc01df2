"""``model.h``'s comments say what its code does: the decision rule ``logreg_predict`` returns (a binary model's
threshold, or the most probable class), what ``logreg_explain`` fills (and why a model has no intervals) and the
headers the file includes. Nothing is compiled here."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from logreg_onnx.exporter import c_code
from logreg_onnx.runtime import contract

from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import BREAST_CANCER, EXAMPLE_MODEL_DIR
from .test_c_code import export_spector


def _header(run: Path) -> str:
    return c_code.generate((run / "model.onnx").read_bytes())


def _doc_comment(header: str) -> str:
    """The comment above the declaration of logreg_predict."""
    return re.search(r"/\* Fills probabilities.*?\*/", header, re.S).group(0)


def _included(header: str) -> set[str]:
    return set(re.findall(r"^#include (<[a-z]+\.h>)", header, re.M))


def test_thresholded_binary_model_states_its_threshold(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["train", str(BREAST_CANCER), "--label", "diagnosis", "--threshold", "0.9", "--out", str(run), "-q"],
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["export", str(run), "-q"])
    assert result.exit_code == 0, result.output
    assert runtime.load(run / "model.onnx").threshold == 0.9  # the rule the graph's label follows
    header = _header(run)
    comment = _doc_comment(header)
    assert "returns 1 (the second class) when probabilities[1] > 0.9, else 0" in comment
    assert "most probable" not in comment
    assert "return probabilities[1] > 0.9f ? 1 : 0;" in header  # the code the comment describes
    assert "logreg_predict returns 1 (the second class) when probabilities[1] > 0.9" in header.split("*/")[0]


def test_multiclass_model_returns_the_most_probable_class(multiclass_run_master):
    header = _header(multiclass_run_master)
    comment = _doc_comment(header)
    assert "returns the index of the most probable class (the first on a tie)" in comment
    assert "probabilities[1] >" not in header


def test_first_line_names_exactly_the_headers_included(binary_run_master, penguins_run_master):
    numeric = _header(binary_run_master)
    assert _included(numeric) == {"<math.h>"}
    assert numeric.splitlines()[0].endswith("no dynamic memory; <math.h> (expf, fabsf).")  # a binary sigmoid
    text_columns = _header(penguins_run_master)
    assert _included(text_columns) == {"<math.h>", "<string.h>"}
    assert text_columns.splitlines()[0].endswith("no dynamic memory; <math.h> (expf) and <string.h> (strcmp).")


def explain_comment(header: str) -> str:
    """The comment above the declaration of logreg_explain."""
    return re.search(r"/\* Explains one row.*?\*/", header, re.S).group(0)


def _explain_declaration(header: str) -> str:
    return re.search(r"^void logreg_explain\(.*?\);$", header, re.M).group(0)


@pytest.fixture(scope="module")
def spector_model(tmp_path_factory) -> Path:
    return export_spector(tmp_path_factory.mktemp("spector"), c=False)


def test_a_format_1_model_has_no_explain_function():
    header = c_code.generate((EXAMPLE_MODEL_DIR / "model.onnx").read_bytes())
    assert "logreg_explain" not in header and "LOGREG_N_LOGITS" not in header
    assert header.splitlines()[0].endswith("no dynamic memory; <math.h> (expf, fabsf).")


def test_a_model_without_intervals_says_why_and_takes_no_interval_pointer(binary_run_master):
    header = _header(binary_run_master)
    comment = explain_comment(header)
    note = runtime.load(binary_run_master / "model.onnx").metadata["explain"]["intervals_note"]
    assert note and f"No logit_se or probability interval: {note.rstrip('.')}." in " ".join(comment.split())
    assert "row-major [column][logit]" in comment and "LOGREG_COLUMN_NAMES order" in comment
    assert _explain_declaration(header) == (
        "void logreg_explain(const float *features, float *logit, float *contributions);"
    )
    assert "#define LOGREG_HAS_INTERVALS 0" in header and "sqrtf" not in header
    assert "#define LOGREG_N_LOGITS 1 " in header and "#define LOGREG_N_COLUMNS 30 " in header


def test_a_model_with_intervals_documents_them_and_names_sqrtf(spector_model):
    header = c_code.generate(spector_model.read_bytes())
    comment = " ".join(explain_comment(header).split())
    assert "logit_se[LOGREG_N_LOGITS]: the delta method's standard error" in comment
    assert "*p_lower, *p_upper: the 95% interval of probabilities[1]" in comment
    assert "Every output pointer may be NULL (0)" in comment and "rather than a struct" in comment
    assert _explain_declaration(header) == (
        "void logreg_explain(const float *features, float *logit, float *contributions, float *logit_se, "
        "float *p_lower, float *p_upper);"
    )
    assert "#define LOGREG_HAS_INTERVALS 1" in header
    z = float(re.search(r"#define LOGREG_Z ([0-9.]+)f", header).group(1))
    assert np.float32(z) == np.float32(contract.Z_95)  # the graph's float32 z, written to round-trip
    assert "if (p_lower) *p_lower = 1.0f / (expf(-(z - reach)) + 1.0f);" in header  # the code the comment describes
    assert _included(header) == {"<math.h>"}
    assert header.splitlines()[0].endswith("no dynamic memory; <math.h> (expf, fabsf, sqrtf).")


def test_a_model_with_text_columns_takes_them_in_explain_too(penguins_run_master):
    header = _header(penguins_run_master)
    assert explain_comment(header).startswith("/* Explains one row (features and categories, as logreg_predict")
    assert _explain_declaration(header).startswith(
        "void logreg_explain(const float *features, const char *const *categories, float *logit,"
    )


def test_a_binary_model_stores_one_weight_row_and_no_division(binary_run_master):
    """The second class's logit minus the first's (the first row is zeros in a toolkit model): one row of weights,
    a sigmoid of one logit, and the standardization multiplied by stored reciprocals."""
    header = _header(binary_run_master)
    assert "static const float logreg_weight[1][30] = {" in header and "logreg_bias[1]" in header
    assert "* logreg_inv_scale[d]" in header and "/ logreg_scale" not in header
    assert "e = expf(-fabsf(logits[0]));" in header


def test_a_prefix_renames_every_name_but_not_the_users_texts(tmp_path):
    """--c-prefix: macros, functions, tables and the include guard; a level spelled like a default name stays as
    the user wrote it (its underscore is an octal escape of the same byte)."""
    import pandas
    from logreg_onnx.trainer import fit

    rng = np.random.default_rng(0)
    frame = pandas.DataFrame({"x": rng.normal(size=200), "kind": rng.choice(["logreg_a", "LOGREG_B", "c"], 200)})
    y = (frame["x"] + (frame["kind"] == "c") + rng.normal(size=200) > 0.5).astype(int)
    result = fit(frame, y, val_fraction=0)
    exported = result.export(tmp_path / "model.onnx", c=True, c_prefix="churn")
    header = exported.c_path.read_text()
    assert not re.search(r"LOGREG_|logreg_", header)
    assert "#ifndef CHURN_MODEL_H" in header and "int churn_predict(" in header
    assert '"logreg\\137a"' in header and '"LOGREG\\137B"' in header
    assert any("C99 model.h" in r["runtime"] and r["passed"] for r in exported.report.results)
