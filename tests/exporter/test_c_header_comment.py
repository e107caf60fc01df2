"""``model.h``'s comments say what its code does: the decision rule ``logreg_predict`` returns (a binary model's
threshold, or the most probable class) and the headers the file includes. Nothing is compiled here."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from logreg_onnx.exporter import c_code

from logreg_onnx import runtime
from logreg_onnx.cli import main

from ..conftest import BREAST_CANCER


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
    assert "best = probabilities[1] > 0.9f ? 1 : 0;" in header  # the code the comment describes


def test_multiclass_model_returns_the_most_probable_class(multiclass_run_master):
    header = _header(multiclass_run_master)
    comment = _doc_comment(header)
    assert "returns the index of the most probable class (the first on a tie)" in comment
    assert "probabilities[1] >" not in header


def test_first_line_names_exactly_the_headers_included(binary_run_master, penguins_run_master):
    numeric = _header(binary_run_master)
    assert _included(numeric) == {"<math.h>"}
    assert numeric.splitlines()[0].endswith("no dynamic memory; <math.h> (expf).")
    text_columns = _header(penguins_run_master)
    assert _included(text_columns) == {"<math.h>", "<string.h>"}
    assert text_columns.splitlines()[0].endswith("no dynamic memory; <math.h> (expf) and <string.h> (strcmp).")
